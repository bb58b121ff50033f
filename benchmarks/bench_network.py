"""Timing: one model trace and its readings, against torch's FlopCounterMode.

For ResNet-18 / ResNet-50 (torchvision's layouts, ``tests/models.py``) at
224x224 on the ``meta`` device (shapes only, as a user reports an ImageNet
model) and a small ViT on CPU tensors, the median wall time of:

* ``FlopCounterMode``: one forward pass under torch's own counter (reference);
* ``trace_model``: one forward pass under symtoe's recorder;
* ``parameter_report`` and ``receptive_field`` read from that trace.

Run ``python benchmarks/bench_network.py [--quick]``; the machine's load
disturbs the figures, so compare ratios on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_spectrum import _median_time as _median  # noqa: E402
from models import ViT, resnet18, resnet50  # noqa: E402

from symtoe.network.receptive import receptive_field  # noqa: E402
from symtoe.network.report import parameter_report  # noqa: E402
from symtoe.network.trace import trace_model  # noqa: E402


def run(quick: bool = False) -> list[dict]:
    repeats = 1 if quick else 5
    cases = [("ViT 32x32, 2 blocks (CPU)", ViT(32, 8, 64, 2, 4), (3, 32, 32), "cpu", None),
             ("ResNet-18 224x224 (meta)", resnet18(), (3, 224, 224), "meta", "layer4")]
    if not quick:
        cases.append(("ResNet-50 224x224 (meta)", resnet50(), (3, 224, 224), "meta", "layer4"))
    rows = []
    for name, model, size, device, at in cases:
        model = model.to(device).eval()
        x = torch.zeros(1, *size, device=device)

        def counted(model=model, x=x):
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x)
            return counter.get_total_flops()

        trace_model(model, size)  # warm up the dispatcher
        t_count, flops = _median(counted, repeats)
        t_trace, trace = _median(lambda model=model, size=size: trace_model(model, size), repeats)
        t_report, report = _median(lambda trace=trace: parameter_report(trace), repeats)
        t_field, field = _median(lambda trace=trace, at=at: receptive_field(trace, at=at), repeats)
        assert report.totals["macs_padded"] >= flops // 2
        rows.append({"model": name, "ops": len(trace.ops), "FlopCounterMode": t_count,
                     "trace_model": t_trace, "parameter_report": t_report,
                     "receptive_field": t_field, "field": field.size})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, no ResNet-50")
    args = parser.parse_args(argv)
    print("| model | ops | FlopCounterMode | trace_model | ratio | parameter_report | "
          "receptive_field | field |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in run(args.quick):
        print(f"| {r['model']} | {r['ops']} | {1e3 * r['FlopCounterMode']:.1f} ms | "
              f"{1e3 * r['trace_model']:.1f} ms | "
              f"{r['trace_model'] / r['FlopCounterMode']:.2f} | "
              f"{1e3 * r['parameter_report']:.1f} ms | {1e3 * r['receptive_field']:.1f} ms | "
              f"{r['field']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
