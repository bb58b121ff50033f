"""``symtoe report`` and ``symtoe --version`` run as a user runs them: subprocesses."""

import json
import subprocess
import sys
import textwrap

import pytest

from symtoe import __version__

pytestmark = pytest.mark.slow

MODELS = textwrap.dedent("""
    import torch
    from torch import nn

    def lenet():
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
            nn.Linear(84, 10))

    def padded():
        return nn.Conv2d(2, 2, 3, padding=1)

    def text():
        return nn.Sequential(nn.Embedding(10, 4))

    def tokens():
        return torch.zeros(1, 7, dtype=torch.long)

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("the user's forward fails\\nwith a second line")
""")


def symtoe(*args, cwd):
    """``-P``: the current directory is not on the path (as for the ``symtoe`` script)."""
    return subprocess.run([sys.executable, "-P", "-m", "symtoe", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture()
def folder(tmp_path):
    (tmp_path / "mymodels.py").write_text(MODELS)
    return tmp_path


def test_version(folder):
    run = symtoe("--version", cwd=folder)
    assert run.returncode == 0 and run.stdout.strip() == f"symtoe {__version__}"


def test_module_in_the_current_directory_and_both_conventions(folder):
    run = symtoe("report", "mymodels:lenet", "--input-size", "1", "32", "32", "--format", "json",
                 cwd=folder)
    assert run.returncode == 0, run.stderr
    totals = json.loads(run.stdout)["totals"]
    assert totals["parameters"] == 61_706 and totals["macs"] == totals["macs_padded"] == 416_520
    real = symtoe("report", "mymodels:padded", "--input-size", "2", "4", "4", "--macs", "real",
                  cwd=folder)
    padded = symtoe("report", "mymodels:padded", "--input-size", "2", "4", "4", "--macs",
                    "padded", "--format", "markdown", cwd=folder)
    assert real.returncode == padded.returncode == 0, real.stderr + padded.stderr
    # 2 x 2 channel pairs, per axis 4 outputs x 3 taps, 2 of them on padding
    assert real.stdout.splitlines()[-1].split()[-1] == f"{4 * 10 * 10:,}"
    assert "MACs (padded)" not in real.stdout
    assert padded.stdout.splitlines()[-1].split("|")[-2].strip() == f"**{4 * 16 * 9:,}**"


def test_example_inputs_and_output_file(folder):
    run = symtoe("report", "mymodels:text", "--example-inputs", "mymodels:tokens",
                 "--format", "latex", "-o", "table.tex", cwd=folder)
    assert run.returncode == 0, run.stderr
    tex = (folder / "table.tex").read_text()
    assert r"\begin{longtable}" in tex and "Embedding" in tex and "7$\\times$4" in tex


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "mymodels:Broken", "--input-size", "3", "8", "8"],
         "input_size (3, 8, 8) must fit the model, but its forward pass failed: RuntimeError: "
         "the user's forward fails"),
        (["report", "mymodels:lenet", "--input-size", "1", "32", "32", "-o",
          "no/such/folder/table.txt"], "FileNotFoundError: "),
        (["plot", "--kernel-size", "3", "--input-size", "4", "-o", "no/such/folder/p.png"],
         "FileNotFoundError: "),
        (["report", "mymodels:lenet", "--example-inputs", "mymodels:nothing"],
         "must name an attribute"),
        (["report", "nomodule:lenet", "--input-size", "1", "8"], "must be importable"),
    ],
    ids=["forward-raises", "unwritable-report", "unwritable-plot", "bad-inputs", "no-module"],
)
def test_failures_are_one_line_and_exit_2(folder, args, message):
    run = symtoe(*args, cwd=folder)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("symtoe: error")]
    assert len(errors) == 1 and message in errors[0], run.stderr
    assert "Traceback" not in run.stderr


def test_input_size_and_example_inputs_exclude_each_other(folder):
    run = symtoe("report", "mymodels:text", "--input-size", "7", "--example-inputs",
                 "mymodels:tokens", cwd=folder)
    assert run.returncode == 2 and "not allowed with argument" in run.stderr
