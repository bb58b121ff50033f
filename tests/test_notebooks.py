"""Every notebook in ``notebooks/`` is a test: it is executed top to bottom.

The notebooks ``assert`` their comparisons with torch and scipy, so a failed
comparison (or any other error) in any cell fails the test named after the
notebook file.  Notebooks are found by glob, so every ``notebooks/*.ipynb`` is
run, whoever added it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython tracebacks


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch):
    # The kernel inherits this environment: no GUI backend for matplotlib.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        failure = ANSI_ESCAPE.sub("", str(error))
    if failure is not None:  # outside the except block: report the cell once
        pytest.fail(f"notebook {path.name} failed:\n{failure}", pytrace=False)
