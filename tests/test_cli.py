"""The ``symtoe`` command: in process through ``main()`` (fast), and the way a
user runs it, as a subprocess (``slow``: each starts Python and imports torch)."""

import json
import subprocess
import sys
import textwrap

import matplotlib.image
import pytest
from torch import nn

from symtoe import ConvSpec, count_parameters
from symtoe.cli import main

SUBCOMMANDS = ["matrix", "count", "shift", "plot", "report", "demo"]


def symtoe(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symtoe", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def run(capsys, *args):
    """``symtoe ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- in process
def test_count_of_a_billion_inputs_is_the_closed_form(capsys):
    code, out, _ = run(capsys, "count", "--json", "--kernel-size", "3", "--input-size",
                       "1000000000", "--padding", "1", "--padding-mode", "reflect")
    data = json.loads(out)
    # per axis: 10**9 rows of 3 taps; the first and last rows fold two taps onto one entry
    assert code == 0 and data["macs"] == 3 * 10**9 and data["nonzeros"] == 3 * 10**9 - 2
    assert data == count_parameters(ConvSpec(1, 1, 3, input_size=10**9, padding=1,
                                             padding_mode="reflect")).as_dict() | {
        "ratio": data["ratio"]}


def test_plot_writes_the_file_it_names(capsys, tmp_path):
    out = tmp_path / "picture"  # no suffix: PNG under this very name, and it says so
    code, _, err = run(capsys, "plot", "--kernel-size", "3", "--input-size", "4", "4",
                       "-o", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out} (png: the name has no suffix)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture"]
    svg = tmp_path / "picture.svg"
    assert run(capsys, "plot", "--kernel-size", "3", "--input-size", "4", "-o", str(svg))[0] == 0
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "args, message",
    [
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "/nonexistent/x.png"],
         "FileNotFoundError: --output must be in an existing directory, but /nonexistent does "
         "not exist"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.png", "--dpi", "100000"],
         "--dpi must be between 1 and 2400, but got 100000"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.png", "--dpi", "2400"],
         "--dpi must keep the image within 40,000,000 pixels, but 2400 gives"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.docx"],
         "--output must end in a format matplotlib writes"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}"],
         "IsADirectoryError: --output must name a file"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.png", "--shift", "1"],
         "--shift must be used with --kind boundary"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.png", "--mode", "cyclic"],
         "--mode must be used with --kind boundary"),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "{tmp}/x.png", "--kind", "boundary"],
         "--shift must be given for --kind boundary"),
        (["matrix", "--kernel-size", "3", "--input-size", "5", "--standalone"],
         "--standalone must be used with --latex"),
        (["matrix", "--kernel-size", "3", "--input-size", "5", "--max-rows", "4"],
         "--max-rows must be used with --latex"),
        (["matrix", "--kernel-size", "3", "--input-size", "100", "100"], "use --latex"),
        (["count", "--kernel-size", "3", "--input-size", "10" * 12], "input_size must be at most"),
        (["shift", "--kernel-size", "3", "--input-size", "8", "--shift", "1" + "0" * 30],
         "shift must be integers between -2**62 and 2**62"),
        (["shift", "--kernel-size", "3", "--input-size", "1000000000", "--shift", "1"],
         "the shift certificate of ConvSpec(1 -> 1, kernel_size=(3,), input_size=(1000000000,))"),
        (["count", "--in-channels", "3", "--groups", "2", "--kernel-size", "3", "--input-size", "5"],
         "in_channels must be divisible by groups"),
    ],
    ids=["no-directory", "dpi-range", "dpi-pixels", "unknown-suffix", "directory", "shift-unused",
         "mode-unused", "boundary-needs-shift", "standalone-unused", "max-rows-unused",
         "matrix-too-big", "huge-size", "huge-shift", "huge-certificate", "groups"],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, args, message):
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    last = err.splitlines()[-1]  # after an optional progress line: the one error line
    assert code == 2 and last.startswith("symtoe: error: ") and message in last
    assert not list(tmp_path.glob("x.*"))  # nothing written


def test_any_failure_is_one_line_exit_2(capsys, monkeypatch):
    import symtoe.cli

    def broken(args):
        raise KeyError("oops")

    monkeypatch.setattr(symtoe.cli, "_count", broken)  # build_parser reads it when run
    code, _, err = run(capsys, "count", "--kernel-size", "3", "--input-size", "5")
    assert code == 2 and err == "symtoe: error: KeyError: 'oops'\n"


def test_in_process_shift_map_matches_theory(capsys):
    code, out, _ = run(capsys, "shift", "--kernel-size", "3", "--input-size", "6", "--padding",
                       "1", "--shift", "1")
    # zero padding, shift 1: outputs 0 and 5 see the boundary (THEORY.md)
    assert code == 0 and out.splitlines()[-1] == ".####."


# -------------------------------------------------------------- as a subprocess


@pytest.mark.slow
def test_help_lists_every_subcommand():
    run = symtoe("--help")
    assert run.returncode == 0
    assert all(name in run.stdout for name in SUBCOMMANDS)
    assert "symtoe report models.py:lenet --input-size 1 32 32" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["matrix", "plot"])
def test_subcommand_help_has_torch_option_names(name):
    run = symtoe(name, "--help")
    assert run.returncode == 0
    for option in ["--in-channels", "--out-channels", "--kernel-size", "--input-size",
                   "--stride", "--padding", "--dilation", "--groups", "--padding-mode",
                   "--bias", "--flip", "--transposed"]:
        assert option in run.stdout


@pytest.mark.slow
def test_matrix_prints_the_textbook_matrix():
    run = symtoe("matrix", "--kernel-size", "3", "--input-size", "5")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("[") and "w" in line]
    assert [line.split() for line in rows] == [
        ["[w[0]", "w[1]", "w[2]", "0", "0", "]"],
        ["[", "0", "w[0]", "w[1]", "w[2]", "0", "]"],
        ["[", "0", "0", "w[0]", "w[1]", "w[2]]"],
    ]


@pytest.mark.slow
def test_matrix_latex_has_channel_blocks():
    run = symtoe("matrix", "--latex", "--in-channels", "2", "--kernel-size", "2",
                 "--input-size", "2", "3")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(r"\left(\begin{array}{ccc|ccc||ccc|ccc}")
    assert "w_{0,1,1,1}" in run.stdout


@pytest.mark.slow
def test_count_json_matches_torch_parameter_count():
    run = symtoe("count", "--json", "--in-channels", "3", "--out-channels", "8",
                 "--kernel-size", "3", "--input-size", "8", "8", "--padding", "1", "--bias")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert data["shared"] == conv.weight.numel() and data["bias"] == conv.bias.numel()
    assert data["dense"] == (8 * 64) * (3 * 64)
    assert data["nonzeros"] == 8 * 3 * 22 * 22  # per axis: 8 outputs x 3 taps - 2 in padding


@pytest.mark.slow
def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "sharing.png"
    run = symtoe("plot", "--kernel-size", "3", "--input-size", "4", "4", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape[0] > 100
    assert f"wrote {out}" in run.stderr  # progress on stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_demo_still_works():
    run = symtoe("demo")
    assert run.returncode == 0, run.stderr
    assert "F.conv2d" in run.stdout


@pytest.mark.slow
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


@pytest.mark.slow
def test_argparse_rejects_bad_padding_word():
    run = symtoe("count", "--kernel-size", "3", "--input-size", "5", "--padding", "half")
    assert run.returncode == 2 and "valid, same, full" in run.stderr
    assert "Traceback" not in run.stderr
