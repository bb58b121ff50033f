"""Parameter reports against torch: ``sum(p.numel())``, torch's FLOP counter
(FlopCounterMode, 2 FLOPs per multiply-add; total and per module), a ones
probe through every layer, hand-computed LeNet-5 counts and pdflatex."""

import copy
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from models import MODELS, ViT, build, lenet5, resnet18, resnet50
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from symtoe.network.report import LayerRow, ParameterReport, parameter_report
from symtoe.network.trace import trace_model


def forward(model, size, inputs):
    if inputs is None:
        return model(torch.zeros(1, *size))
    return model(*inputs) if isinstance(inputs, tuple) else model(inputs)


def flop_counter(model, size, inputs, *, fused=True):
    """FlopCounterMode on the model as torch runs it in eval mode (``fused``:
    no grad, so nn.MultiheadAttention takes its fused kernel) or with every
    attention kernel decomposed into matmuls (grad on, math SDPA backend)."""
    model.eval()
    if fused:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward(model, size, inputs)
    else:
        with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as counter:
            forward(model, size, inputs)
    return counter


def fused_attention_macs(name, model):
    """Published formula (two matmuls of the attention core, plus the in / out
    projections inside _native_multi_head_attention) for the kernels that
    FlopCounterMode counts as 0 on this CPU; read from the model's own sizes."""
    if name in ("vit", "mha"):
        mhas = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
        length = 17 if name == "vit" else 5
        return sum(4 * length * m.embed_dim**2 + 2 * length**2 * m.embed_dim for m in mhas)
    if name == "functional":  # F.scaled_dot_product_attention, 2 heads of dim 2, 16 tokens
        return model.heads * 2 * 16 * 16 * (model.mix.shape[0] // model.heads)
    return 0


def ones_through(module, call, trace):
    """A ones input through the layer with a ones kernel and zero bias: the
    output's sum counts the (output, tap) pairs that read a real input."""
    module = copy.deepcopy(module).double()
    x = torch.ones(trace.calls[call].inputs[0].shape, dtype=torch.float64)
    with torch.no_grad():
        weight = torch.ones_like(module.weight)
        bias = None if module.bias is None else torch.zeros_like(module.bias)
        if isinstance(module, nn.Linear):
            y = nn.functional.linear(x, weight, bias)
        elif module.transposed:
            module.weight.copy_(weight)
            if bias is not None:
                module.bias.zero_()
            out = trace.calls[call].outputs[0].shape
            y = module(x, output_size=out[2:])
        else:  # the base class's forward: subclasses may change the weight
            y = module._conv_forward(x, weight, bias)
    return int(y.sum())


@pytest.mark.parametrize("name", MODELS)
def test_every_parameter_and_multiply_add_reconciles_with_torch(name):
    model, size, inputs = build(name)
    trace = trace_model(model, size, example_inputs=inputs)
    report = parameter_report(trace)
    t = report.totals
    assert t["parameters"] == sum(p.numel() for p in model.parameters())
    assert t["parameters"] == sum(r.shared + r.bias for r in report.rows)
    fused, attention = flop_counter(model, size, inputs), fused_attention_macs(name, model)
    assert t["macs_padded"] == fused.get_total_flops() // 2 + attention
    if attention:  # FlopCounterMode on the same model with attention run as matmuls
        assert t["macs_padded"] == flop_counter(model, size, inputs, fused=False) \
            .get_total_flops() // 2
    assert t["macs"] <= t["macs_padded"]
    # per row: FlopCounterMode's per-module figure (calls summed), a ones probe
    rows, per_module, checked = {r.name: r for r in report.rows}, fused.get_flop_counts(), 0
    for call in trace.calls:
        if not isinstance(call.module, nn.modules.conv._ConvNd | nn.Linear):
            continue
        assert rows[call.label].macs == ones_through(call.module, call.index, trace)
        summed = sum(r.macs_padded for r in report.rows if r.module == call.name)
        assert summed == sum(per_module[f"{trace.model}.{call.name}"].values()) // 2
        checked += 1
    assert checked or name in ("mha", "functional")


def test_lenet5_hand_computed_counts():
    report = parameter_report(lenet5(), (1, 32, 32))
    rows = {r.name: r for r in report.rows}
    # C1: 6 5x5 kernels; 6*28*28 outputs x 32*32 inputs; 25 taps per output
    assert rows["0"] == LayerRow("0", "Conv2d", (1, 32, 32), (6, 28, 28), shared=150, bias=6,
                                 used=150, dense=4704 * 1024, nonzeros=4704 * 25,
                                 macs=117_600, macs_padded=117_600, weights=150, module="0",
                                 depth=1)
    # C3: 16 x 6 x 5x5; 1600 outputs x 6*14*14 = 1176 inputs; 150 taps per output
    assert (rows["3"].shared, rows["3"].dense, rows["3"].nonzeros) == (2400, 1_881_600, 240_000)
    assert rows["3"].ratio == pytest.approx(1_881_600 / 2400)
    assert [rows[k].shared for k in ("7", "9", "11")] == [48_000, 10_080, 840]
    # S2 is a fixed-weight depthwise convolution: 6*14*14 outputs of 4 taps, no parameter
    assert (rows["2"].kind, rows["2"].shared, rows["2"].nonzeros, rows["2"].macs) == \
        ("AvgPool2d", 0, 6 * 14 * 14 * 4, 0)
    assert rows["6"].output_shape == (400,)
    assert report.totals["parameters"] == 61_706  # LeNet-5's well-known count
    assert report.totals["macs"] == report.totals["macs_padded"] == 416_520


def test_padding_taps_make_the_two_conventions_differ():
    # THEORY.md: Conv2d(64, 64, 3, padding=1) at 56x56: 115,605,504 vs 112,869,376
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).to("meta")
    (row,) = parameter_report(conv, (64, 56, 56)).rows
    assert (row.macs_padded, row.macs, row.nonzeros) == (115_605_504, 112_869_376, 112_869_376)
    # reflect: every tap reads a real value, two fold onto one entry at the border
    reflect = nn.Conv1d(1, 1, 3, padding=1, padding_mode="reflect", bias=False)
    (row,) = parameter_report(reflect, (1, 6)).rows
    assert (row.macs, row.macs_padded, row.nonzeros) == (18, 18, 16)


def test_resnet18_at_imagenet_size_on_meta_tensors():
    report = parameter_report(resnet18().to("meta"), (3, 224, 224))
    assert report.totals["parameters"] == 11_689_512
    assert (report.totals["macs"], report.totals["macs_padded"]) == \
        (1_680_390_912, 1_814_073_344)
    names = [r.name for r in report.rows if r.module == "layer1.0.relu"]
    assert names == ["layer1.0.relu (call 1 of 2)", "layer1.0.relu (call 2 of 2)"]


def test_every_parameter_has_a_row():
    report = parameter_report(ViT(), (3, 16, 16))
    rows = {r.name: r for r in report.rows}
    assert rows["class_token"].kind == rows["encoder.pos_embedding"].kind == "parameter"
    assert rows["encoder.pos_embedding"].note == "read by aten.add in encoder"
    attention = rows["encoder.layers.0.self_attention"]
    assert (attention.shared, attention.bias) == (4 * 16 * 16, 4 * 16)  # in_proj + out_proj
    model, size, _ = build("inception")  # the aux head does not run in eval mode
    aux = [r for r in parameter_report(model, size).rows if r.name.startswith("aux.")]
    assert sum(r.parameters for r in aux) == sum(p.numel() for p in model.aux.parameters())
    assert {r.kind for r in aux} == {"parameter"}
    assert {r.note for r in aux} == {"not read: its module did not run"}
    scaled = parameter_report(*build("scaled-conv")[:2])
    assert [(r.name, r.kind, r.parameters) for r in scaled.rows] == [
        ("conv", "Conv2d", 224), ("scale", "parameter", 8)]


def test_tied_weights_and_repeated_modules_are_counted_once():
    tied = parameter_report(*build("tied")[:2])
    a, b = tied.rows
    assert (tied.totals["parameters"], a.parameters, b.parameters) == (87, 84, 3)
    assert a.note == "a.weight is also b.weight" and b.note == "a.weight counted in a"
    assert b.weights == 81 and b.ratio == b.dense / 81
    twice = parameter_report(*build("called-twice")[:2])
    first, second = twice.rows
    assert (first.name, second.name) == ("conv (call 1 of 2)", "conv (call 2 of 2)")
    assert (first.shared, second.shared, second.used) == (81, 0, 81)
    assert twice.totals["used"] == twice.totals["shared"] == 81  # not 162
    assert twice.totals["macs"] == first.macs + second.macs == 3 * 3 * 9 * (49 + 25)


def test_filters_and_subtotals():
    model, size, _ = build("resnet-basic")
    report = parameter_report(model, size)
    convs = report.filter("Conv2d")
    assert {r.kind for r in convs.rows} == {"Conv2d"}
    assert convs.totals["parameters"] == sum(r.shared for r in convs.rows)
    layers = report.filter(["Conv2d", "Linear"])  # only these multiply
    assert layers.totals["macs_padded"] == report.totals["macs_padded"]
    assert layers.totals["macs"] == report.totals["macs"] > convs.totals["macs"]
    assert all(r.depth <= 1 for r in report.filter(max_depth=1).rows)
    sub = report.subtotals()
    assert sum(s["parameters"] for s in sub.values()) == report.totals["parameters"]
    assert sub["BatchNorm2d"]["macs"] == 0 and sub["Conv2d"]["rows"] == 6


def test_pandas_and_notebook_display():
    report = parameter_report(lenet5(), (1, 32, 32))
    frame = report.to_pandas()
    assert len(frame) == 12 and frame["shared"].sum() + frame["bias"].sum() == 61_706
    assert frame.attrs["totals"]["macs"] == 416_520
    assert report._repr_markdown_().splitlines()[2] == report.to_markdown().splitlines()[0]


def test_json_round_trip_and_csv():
    report = parameter_report(*build("tied")[:2])
    again = ParameterReport.from_json(report.to_json())
    assert again == report and again.totals == report.totals
    assert json.loads(report.to_json())["totals"]["parameters"] == 87
    lenet = parameter_report(lenet5(), (1, 32, 32))
    table = list(csv.DictReader(io.StringIO(lenet.to_csv())))
    assert len(table) == 12 and table[0]["input_shape"] == "1x32x32"
    assert int(table[3]["nonzeros"]) == 240_000 and table[1]["dense"] == ""


def test_markdown_and_text():
    report = parameter_report(lenet5(), (1, 32, 32))
    lines = report.to_markdown().splitlines()
    assert len(lines) == 2 + 12 + 1
    assert all(line.startswith("| ") and line.count(" | ") == 11 for line in lines[2:])
    assert lines[2].split(" | ")[:2] == ["| 0", "Conv2d"]
    assert "**61,470**" in lines[-1] and "**416,520**" in lines[-1]
    assert "MACs (padded)" not in report.to_markdown(macs="real")
    text = str(report)
    assert "61,706 parameters" in text.splitlines()[0]
    assert len({len(line) for line in text.splitlines()[1:3]}) == 1  # aligned columns
    with pytest.raises(ValueError, match="macs must be one of"):
        report.to_text(macs="flops")


def test_latex_longtable_structure():
    tex = parameter_report(lenet5(), (1, 32, 32)).to_latex()
    assert r"\begin{longtable}{@{}lllrrrr@{}}" in tex and r"\toprule" in tex
    body = [line for line in tex.splitlines() if line.endswith(r"\\") and "&" in line
            and "multicolumn" not in line]
    assert len(body) == 2 + 12 + 1 and all(line.count("&") == 6 for line in body)
    assert r"\multicolumn{2}{c}{MACs}" in tex and r"\cmidrule(l){6-7}" in tex
    assert r"4{,}816{,}896" in tex and r"6$\times$28$\times$28" in tex
    with pytest.raises(ValueError, match="columns must be among"):
        parameter_report(lenet5(), (1, 32, 32)).to_latex(columns=["flops"])


def compile_latex(tex, path):
    """pdflatex twice (longtable aligns its pages from the .aux file)."""
    doc = path / "table.tex"
    doc.write_text(tex)
    for _ in range(2):
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                              doc.name], cwd=path, capture_output=True, text=True, timeout=120)
    return run, (path / "table.log").read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("make", [resnet50, resnet18], ids=["resnet50", "resnet18"])
def test_latex_table_compiles_and_fits_the_page(make, tmp_path):
    report = parameter_report(make().to("meta"), (3, 224, 224), name=make.__name__)
    run, log = compile_latex(report.to_latex(standalone=True), tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "Overfull \\hbox" not in log
    pages = int(log.split("Output written on table.pdf (")[1].split(" page")[0])
    assert pages == (3 if make is resnet50 else 1)
    if shutil.which("mutool"):  # a picture of page 1, for a person to look at
        subprocess.run(["mutool", "draw", "-r", "60", "-o", str(tmp_path / "page%d.png"),
                        str(tmp_path / "table.pdf"), "1"], check=True, capture_output=True)
        assert (tmp_path / "page1.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "model, size, match",
    [
        ("lenet", (1, 32, 32), "model must be a torch.nn.Module"),
        (nn.Conv2d(1, 2, 3), 32, "input_size must be one sample's shape"),
        (nn.Conv2d(1, 2, 3), (1, 0, 5), "input_size must be one sample's shape"),
        (nn.Conv2d(1, 2, 3), (3, 8, 8), r"input_size \(3, 8, 8\) must fit the model"),
    ],
    ids=["not-a-module", "int-size", "zero-size", "wrong-channels"],
)
def test_bad_input(model, size, match):
    with pytest.raises(ValueError, match=match):
        parameter_report(model, size)


def test_pandas_missing_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="to_pandas needs pandas"):
        parameter_report(lenet5(), (1, 32, 32)).to_pandas()


@pytest.mark.slow
def test_network_benchmark_runs():
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_network.py"),
                          "--quick"], capture_output=True, text=True, timeout=300, cwd=root)
    assert run.returncode == 0, run.stderr
    assert "| ResNet-18 224x224 (meta) | 90 |" in run.stdout and "(435, 435)" in run.stdout
