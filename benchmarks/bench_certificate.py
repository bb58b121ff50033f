"""Timing: exact shift certificates of a ResNet-18-shaped network.

``resnet18_graph`` builds torchvision's ResNet-18 layout (7x7 stem with stride
2, max pool, four stages of two basic blocks, 1x1 downsample branches, global
pool, fc) as a :class:`~symtoe.network.certificate.CertificateGraph`: zero or
circular padding, the max pool padded by itself or by a circular ``F.pad``,
and optionally antialiased-cnns' BlurPool layout (stride-1 convs followed by
a blur of stride 2; the stem max pool of size 2, stride 1, then a blur).

``run(quick)`` times the graph's construction and ``check_shift`` for shifts
that are multiples of 32 (zero-fill and cyclic), a shift of 1 (aliasing),
"cold" (the first call, which certifies each distinct layer, axis by axis) and
"warm" (layer certificates cached; networks repeat layers),
and the same network with 1 channel everywhere instead of 64-512: channels
never reach the engine, so the two times agree up to noise.

``run_models(quick)`` times the same certificates of the torch model
(``tests/models.py``'s ``resnet18``, on meta tensors, widths 64 and 1): the
trace (:func:`~symtoe.network.trace.trace_model`), reading it as a graph
(:func:`~symtoe.network.model_certificate.model_graph`), the shift certificate
of every map, all three together, and the rotation certificate (at 225 x 225,
where a quarter turn maps every strided grid onto itself).

Figures are medians of repeated runs on whatever machine runs them; a loaded
machine inflates them.  ``python benchmarks/bench_certificate.py [--quick]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from symtoe import ConvSpec  # noqa: E402
from symtoe.network.certificate import CertificateGraph  # noqa: E402
from symtoe.network.facts import (  # noqa: E402
    Blur,
    GlobalPool,
    Linear,
    MaxPool,
    Pad,
    Pointwise,
    Sum,
)

BN = Pointwise(maps_zero_to_zero=False)  # eval BatchNorm: an offset
RELU = Pointwise(maps_zero_to_zero=True, nonnegative=True)


def resnet18_graph(size: int = 224, *, padding_mode: str = "zeros", width: int = 64,
                   circular_pool: bool = False, blur: bool = False) -> CertificateGraph:
    """ResNet-18's layout as a CertificateGraph (channels ``width * 1, 2, 4, 8``)."""
    g = CertificateGraph((size, size))

    def conv(name, cin, cout, k, stride, inputs=None):
        src = inputs[0] if inputs else g.output
        spec = ConvSpec(cin, cout, k, input_size=g.size(src), stride=stride, padding=k // 2,
                        padding_mode=padding_mode)
        g.add(name, spec, inputs)

    conv("conv1", 3, width, 7, 2)
    g.add("bn1", BN)
    g.add("relu", RELU)
    if blur:
        g.add("maxpool", MaxPool(2, 1))
        g.add("maxpool.blur", Blur(3, 2))
    elif circular_pool:
        g.add("maxpool.pad", Pad(1, "circular"))
        g.add("maxpool", MaxPool(3, 2))
    else:
        g.add("maxpool", MaxPool(3, 2, 1))
    cin = width
    for stage, (cout, stride) in enumerate(zip([width * m for m in (1, 2, 4, 8)], (1, 2, 2, 2))):
        for block in range(2):
            s = stride if block == 0 else 1
            x, name = g.output, f"layer{stage + 1}.{block}"
            conv(f"{name}.conv1", cin, cout, 3, 1 if blur else s, [x])
            g.add(f"{name}.bn1", BN)
            g.add(f"{name}.relu1", RELU)
            if blur and s > 1:
                g.add(f"{name}.blur", Blur(3, s))
            conv(f"{name}.conv2", cout, cout, 3, 1)
            g.add(f"{name}.bn2", BN)
            skip = x
            if s > 1 or cin != cout:
                if blur:
                    g.add(f"{name}.down.blur", Blur(3, s), [x])
                    conv(f"{name}.down", cin, cout, 1, 1)
                else:
                    conv(f"{name}.down", cin, cout, 1, s, [x])
                g.add(f"{name}.down.bn", BN)
                skip = g.output
            g.add(f"{name}.sum", Sum(), [f"{name}.bn2", skip])
            g.add(f"{name}.relu2", RELU)
            cin = cout
    g.add("avgpool", GlobalPool())
    g.add("fc", Linear())
    return g


def _median(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def run(quick: bool = False) -> list[dict]:
    repeats = 3 if quick else 7
    rows = []
    cases = [
        ("zero padding", dict(), (32, 32), "zero"),
        ("zero padding", dict(), (1, 1), "zero"),
        ("zero padding", dict(), (32, 32), "cyclic"),
        ("circular + circular F.pad", dict(padding_mode="circular", circular_pool=True),
         (32, 64), "cyclic"),
        ("BlurPool (antialiased-cnns)", dict(blur=True), (32, 32), "zero"),
    ]
    for label, kw, shift, mode in cases:
        build_s, g = _median(lambda kw=kw: resnet18_graph(**kw), repeats)
        def certify(graph, shift=shift, mode=mode):
            return graph.check_shift(shift, mode)

        cold_s, _ = _median(lambda g=g: certify(g), 1)  # the layer cache is cold
        warm_s, cert = _median(lambda g=g: certify(g), repeats)
        thin = resnet18_graph(width=1, **kw)
        thin_s, _ = _median(lambda g=thin: certify(g), repeats)
        maps = cert.exact_maps
        rows.append({
            "network": label, "shift": shift, "mode": mode, "build_s": build_s,
            "cold_s": cold_s, "warm_s": warm_s, "width1_s": thin_s,
            "output_shift": cert.at("layer4.1.sum").output_shift,
            "exact_layer4": int(maps["layer4.1.sum"].sum()), "invariant": bool(cert.exact),
        })
    return rows


def run_models(quick: bool = False) -> list[dict]:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from models import circular, resnet18

    from symtoe.network.model_certificate import model_graph, model_shift_check
    from symtoe.network.model_symmetry import model_rotation_check
    from symtoe.network.trace import trace_model

    repeats = 3 if quick else 7
    rows = []
    for label, variant, shift, mode in (("zero padding", None, (32, 32), "zero"),
                                        ("circular + circular F.pad", circular, (32, 64),
                                         "cyclic")):
        for width in (64, 1):
            with torch.device("meta"):
                model = resnet18(width=width)
            if variant is not None:
                variant(model)
            trace_s, trace = _median(lambda m=model: trace_model(m, (3, 224, 224)), repeats)
            read_s, graph = _median(lambda t=trace: model_graph(t), repeats)
            check_s, cert = _median(
                lambda g=graph, t=shift, m=mode: model_shift_check(g, t, mode=m), repeats)
            total_s, _ = _median(lambda m=model, t=shift, mo=mode: model_shift_check(
                m, t, input_size=(3, 224, 224), mode=mo), repeats)
            rotation_s, rot = _median(lambda m=model: model_rotation_check(
                m, input_size=(3, 225, 225)), repeats)
            rows.append({
                "network": label, "width": width, "shift": shift, "mode": mode,
                "trace_s": trace_s, "read_s": read_s, "check_s": check_s, "total_s": total_s,
                "rotation_s": rotation_s, "invariant": bool(cert.exact),
                "rotation_holds": rot.holds,
            })
    return rows


def main(argv=None) -> None:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    rows = run(quick)
    print("ResNet-18 shape at 224x224: certificate of every feature map (median seconds)\n")
    print("| network | shift | mode | build | check (cold) | check | check, width 1 | "
          "output shift at layer4 | exact of 7x7 | invariant |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['shift']} | {r['mode']} | {r['build_s']:.3f} | "
              f"{r['cold_s']:.3f} | {r['warm_s']:.3f} | {r['width1_s']:.3f} | "
              f"{r['output_shift']} | {r['exact_layer4']}/49 | {r['invariant']} |")
    print("\nThe torch model (tests/models.py resnet18 on meta tensors) at 224x224: trace, "
          "graph, shift certificate of every map, all three (median seconds); rotation "
          "certificate at 225x225\n")
    print("| network | width | shift | mode | trace | graph | check | total | invariant | "
          "rotation (225) | rotation holds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in run_models(quick):
        print(f"| {r['network']} | {r['width']} | {r['shift']} | {r['mode']} | "
              f"{r['trace_s']:.3f} | {r['read_s']:.3f} | {r['check_s']:.3f} | "
              f"{r['total_s']:.3f} | {r['invariant']} | {r['rotation_s']:.3f} | "
              f"{r['rotation_holds']} |")


if __name__ == "__main__":
    main()
