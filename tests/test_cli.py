"""The ``symtoe`` command, run the way a user runs it: a subprocess."""

import json
import subprocess
import sys
import textwrap

import matplotlib.image
import pytest
from torch import nn

SUBCOMMANDS = ["matrix", "count", "shift", "plot", "report", "demo"]


def symtoe(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symtoe", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_help_lists_every_subcommand():
    run = symtoe("--help")
    assert run.returncode == 0
    assert all(name in run.stdout for name in SUBCOMMANDS)
    assert "symtoe report models.py:lenet --input-size 1 32 32" in run.stdout


@pytest.mark.parametrize("name", ["matrix", "plot"])
def test_subcommand_help_has_torch_option_names(name):
    run = symtoe(name, "--help")
    assert run.returncode == 0
    for option in ["--in-channels", "--out-channels", "--kernel-size", "--input-size",
                   "--stride", "--padding", "--dilation", "--groups", "--padding-mode",
                   "--bias", "--flip", "--transposed"]:
        assert option in run.stdout


def test_matrix_prints_the_textbook_matrix():
    run = symtoe("matrix", "--kernel-size", "3", "--input-size", "5")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("[") and "w" in line]
    assert [line.split() for line in rows] == [
        ["[w[0]", "w[1]", "w[2]", "0", "0", "]"],
        ["[", "0", "w[0]", "w[1]", "w[2]", "0", "]"],
        ["[", "0", "0", "w[0]", "w[1]", "w[2]]"],
    ]


def test_matrix_latex_has_channel_blocks():
    run = symtoe("matrix", "--latex", "--in-channels", "2", "--kernel-size", "2",
                 "--input-size", "2", "3")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(r"\left(\begin{array}{ccc|ccc||ccc|ccc}")
    assert "w_{0,1,1,1}" in run.stdout


def test_count_json_matches_torch_parameter_count():
    run = symtoe("count", "--json", "--in-channels", "3", "--out-channels", "8",
                 "--kernel-size", "3", "--input-size", "8", "8", "--padding", "1", "--bias")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert data["shared"] == conv.weight.numel() and data["bias"] == conv.bias.numel()
    assert data["dense"] == (8 * 64) * (3 * 64)
    assert data["nonzeros"] == 8 * 3 * 22 * 22  # per axis: 8 outputs x 3 taps - 2 in padding


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "sharing.png"
    run = symtoe("plot", "--kernel-size", "3", "--input-size", "4", "4", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape[0] > 100
    assert f"wrote {out}" in run.stderr  # progress on stderr


def test_shift_prints_the_exactness_map():
    pytest.importorskip("symtoe.analysis.equivariance")
    run = symtoe("shift", "--kernel-size", "3", "--input-size", "6", "--padding", "1",
                 "--shift", "1")
    assert run.returncode == 0, run.stderr
    # zero padding, shift 1: outputs 0 and 5 see the boundary (THEORY.md)
    assert run.stdout.splitlines()[-1] == ".####."


def test_report_of_a_model_file(tmp_path):
    (tmp_path / "models.py").write_text(textwrap.dedent("""
        from torch import nn

        def lenet():
            return nn.Sequential(
                nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
                nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
                nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                nn.Linear(84, 10))
    """))
    run = symtoe("report", "models.py:lenet", "--input-size", "1", "32", "32",
                 "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["totals"]["parameters"] == 61_706 and len(data["rows"]) == 12
    assert "forward pass" in run.stderr


def test_demo_still_works():
    run = symtoe("demo")
    assert run.returncode == 0, run.stderr
    assert "F.conv2d" in run.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["count", "--in-channels", "3", "--groups", "2", "--kernel-size", "3",
          "--input-size", "5"], "in_channels must be divisible by groups"),
        (["matrix", "--kernel-size", "3", "--input-size", "100", "100"], "use --latex"),
        (["report", "nowhere.py:model", "--input-size", "3", "8", "8"], "must exist"),
        (["report", "torch.nn:Conv2d", "--input-size", "3", "8", "8"], "must build"),  # module:
        (["report", "lenet", "--input-size", "3"], "module:callable"),
    ],
    ids=["groups", "matrix-too-big", "no-file", "needs-args", "no-colon"],
)
def test_bad_input_exits_with_message_and_no_traceback(args, message, tmp_path):
    run = symtoe(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_argparse_rejects_bad_padding_word():
    run = symtoe("count", "--kernel-size", "3", "--input-size", "5", "--padding", "half")
    assert run.returncode == 2 and "valid, same, full" in run.stderr
    assert "Traceback" not in run.stderr
