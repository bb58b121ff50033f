"""The public surface: every exported name resolves, ``import symtoe`` stays
light, and the names static tools see are the names that load lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import symtoe


def test_every_exported_name_resolves_once():
    assert len(symtoe.__all__) == len(set(symtoe.__all__))
    for name in symtoe.__all__:
        assert getattr(symtoe, name) is not None, name
    assert set(symtoe.__all__) <= set(dir(symtoe))


def test_import_loads_no_heavy_dependency():
    code = (
        "import sys, symtoe\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'networkx', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_static_imports_are_the_lazy_names():
    """The ``TYPE_CHECKING`` block (what IDEs see) names exactly ``_LAZY``."""
    tree = ast.parse(Path(symtoe.__file__).read_text())
    block = next(
        node for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    static = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert static == symtoe._LAZY
    assert set(static) <= set(symtoe.__all__)
