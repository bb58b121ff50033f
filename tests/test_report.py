"""Parameter reports against hand-computed LeNet-5 counts, torch's parameter
counts and torch's own FLOP counter (FlopCounterMode: 2 FLOPs per MAC)."""

import csv
import io
import json
import shutil
import subprocess

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from symtoe.network.report import LayerRow, ParameterReport, parameter_report


def lenet5():
    """LeNet-5 (LeCun et al. 1998) on 1x32x32, with a dense C5 (Linear 400 -> 120)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def torch_macs(model, input_size):
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_size))
    return counter.get_total_flops() // 2


def test_lenet5_hand_computed_counts():
    report = parameter_report(lenet5(), (1, 32, 32))
    rows = {r.name: r for r in report.rows}
    # C1: 6 5x5 kernels; 6*28*28 outputs x 32*32 inputs; 25 taps per output
    assert rows["0"] == LayerRow("0", "Conv2d", (1, 32, 32), (6, 28, 28), shared=150, bias=6,
                                 used=150, dense=4704 * 1024, nonzeros=4704 * 25,
                                 macs=117_600)
    # C3: 16 x 6 x 5x5; 1600 outputs x 6*14*14 = 1176 inputs; 150 taps per output
    assert (rows["3"].shared, rows["3"].dense, rows["3"].nonzeros) == (2400, 1_881_600, 240_000)
    assert rows["3"].ratio == pytest.approx(1_881_600 / 2400)
    assert [rows[k].shared for k in ("7", "9", "11")] == [48_000, 10_080, 840]
    assert rows["2"].kind == "AvgPool2d" and rows["2"].shared == 0 and rows["2"].dense is None
    assert rows["6"].output_shape == (400,)
    assert report.totals["parameters"] == 61_706  # LeNet-5's well-known count
    assert report.totals["macs"] == 117_600 + 240_000 + 48_000 + 10_080 + 840


@pytest.mark.parametrize("make, size", [(lenet5, (1, 32, 32)), (BasicBlock, (16, 8, 8))],
                         ids=["lenet5", "resnet-block"])
def test_parameters_equal_torch_numel(make, size):
    model = make()
    report = parameter_report(model, size)
    assert report.totals["parameters"] == sum(p.numel() for p in model.parameters())


def test_valid_convolutions_reconcile_with_torch_flop_counter():
    # no tap meets padding: nonzeros == MACs == what MAC counters print
    report = parameter_report(lenet5(), (1, 32, 32))
    assert report.totals["nonzeros"] == report.totals["macs"] == torch_macs(lenet5(), (1, 32, 32))


def test_padded_convolutions_count_fewer_macs_than_flop_counter():
    # MAC counters also multiply the zero padding: out.numel() * weight[0].numel()
    model = BasicBlock()
    report = parameter_report(model, (16, 8, 8))
    convs = [r for r in report.rows if r.kind == "Conv2d"]
    counter = torch_macs(model, (16, 8, 8))
    assert counter == sum(16 * 8 * 8 * 16 * 9 for _ in convs)
    # zero padding: per axis 8 outputs x 3 taps minus the 2 that meet padding = 22
    assert all(r.nonzeros == r.macs == 16 * 16 * 22 * 22 for r in convs)
    assert report.totals["macs"] < counter


def test_repeated_module_counted_once():
    report = parameter_report(BasicBlock(), (16, 8, 8))
    names = [r.name for r in report.rows]
    assert names == ["conv1", "bn1", "relu", "conv2", "bn2", "relu (call 2)"]
    assert report.rows[1].shared == 16 and report.rows[1].bias == 16  # BatchNorm gamma, beta


def test_linear_on_sequences_repeats_per_position():
    report = parameter_report(nn.Linear(4, 3), (5, 4))
    (row,) = report.rows
    assert (row.shared, row.bias, row.macs) == (12, 3, 60)
    assert row.macs == torch_macs(nn.Linear(4, 3), (5, 4))


def test_forward_pass_leaves_the_model_unchanged():
    model = BasicBlock()
    model.train()
    stats = model.bn1.running_mean.clone()
    parameter_report(model, (16, 8, 8))
    assert model.training and model.bn1.training
    assert torch.equal(model.bn1.running_mean, stats)


def test_json_round_trip_and_csv():
    report = parameter_report(lenet5(), (1, 32, 32))
    again = ParameterReport.from_json(report.to_json())
    assert again == report and again.totals == report.totals
    data = json.loads(report.to_json())
    assert data["totals"]["parameters"] == 61_706
    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(table) == 12 and table[0]["input_shape"] == "1x32x32"
    assert int(table[3]["nonzeros"]) == 240_000 and table[1]["dense"] == ""


def test_markdown_and_text():
    report = parameter_report(lenet5(), (1, 32, 32))
    lines = report.to_markdown().splitlines()
    assert len(lines) == 2 + 12 + 1
    assert all(line.startswith("| ") and line.count(" | ") == 10 for line in lines[2:])
    assert lines[2].split(" | ")[:2] == ["| 0", "Conv2d"]
    assert "**61,470**" in lines[-1]
    text = str(report)
    assert "61,706 parameters" in text.splitlines()[0]
    assert len({len(line) for line in text.splitlines()[1:3]}) == 1  # aligned columns


def test_latex_tabular_structure():
    tex = parameter_report(lenet5(), (1, 32, 32)).to_latex()
    assert tex.startswith(r"\begin{tabular}{llrrrrrrrrr}") and tex.endswith(r"\end{tabular}")
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 1 + 12 + 1 and all(line.count("&") == 10 for line in body)
    assert r"4{,}816{,}896" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_tabular_compiles(tmp_path):
    model = nn.Sequential()
    model.add_module("conv_1", nn.Conv2d(1, 2, 3))  # an underscore to escape
    tex = parameter_report(model, (1, 5, 5)).to_latex()
    doc = tmp_path / "table.tex"
    doc.write_text("\\documentclass{article}\\begin{document}\n" + tex + "\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "table.pdf").exists()


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
