"""LaTeX of layer matrices: entries against sympy's LaTeX of the matrix that
torch-checked tests pin down, a hand-written example, block lines, elision,
and compilation with pdflatex where it is installed."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import sympy
import torch
from reference import probe_matrix

from symtoe import ConvSpec, symbolic_matrix
from symtoe.present.latex import to_latex


def cells(tex):
    """The array's rows as lists of cell strings (rule lines dropped)."""
    rows = [line[: -len(r" \\")] for line in tex.splitlines() if line.endswith(r" \\")]
    return [[c.strip() for c in row.split(" & ")] for row in rows]


def sympy_cell(value):
    return "0" if value == 0 else sympy.latex(value).replace("{w}_", "w_")


SPECS = {
    "1d-valid": ConvSpec(1, 1, 3, input_size=5),
    "1d-stride-dilation": ConvSpec(1, 1, 3, input_size=9, stride=2, dilation=2, padding=1),
    "1d-reflect-folds": ConvSpec(1, 1, 3, input_size=3, padding=2, padding_mode="reflect"),
    "2d-channels": ConvSpec(2, 3, (2, 3), input_size=(3, 4), padding=(0, 1)),
    "2d-groups": ConvSpec(4, 2, 2, input_size=(3, 3), groups=2),
    "2d-circular": ConvSpec(1, 2, 3, input_size=(3, 3), padding=1, padding_mode="circular"),
    "1d-transposed-groups": ConvSpec(4, 2, 3, input_size=3, stride=2, groups=2,
                                     transposed=True),
    "2d-flip-same": ConvSpec(1, 1, 2, input_size=(3, 3), padding="same", flip=True),
    "3d": ConvSpec(1, 1, 2, input_size=(2, 2, 3)),
}


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_entries_equal_sympy_latex_of_the_matrix(spec):
    T = symbolic_matrix(spec)
    got = cells(to_latex(spec, max_rows=200, max_cols=200, blocks=False))
    expected = [[sympy_cell(T[r, c]) for c in range(T.cols)] for r in range(T.rows)]
    assert got == expected


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_nonzero_cells_are_where_torch_has_nonzeros(spec):
    g = torch.Generator().manual_seed(3)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
    torch_nonzero = (probe_matrix(spec, w) != 0).numpy()
    got = np.array(cells(to_latex(spec, max_rows=200, max_cols=200, blocks=False))) != "0"
    np.testing.assert_array_equal(got, torch_nonzero)


def test_hand_written_example():
    tex = to_latex(ConvSpec(1, 1, 3, input_size=4))
    assert tex == (
        "\\left(\\begin{array}{cccc}\n"
        "w_{0} & w_{1} & w_{2} & 0 \\\\\n"
        "0 & w_{0} & w_{1} & w_{2} \\\\\n"
        "\\end{array}\\right)"
    )


def test_channel_and_spatial_block_lines():
    spec = ConvSpec(2, 2, 2, input_size=(2, 3))  # rows 2 x (1 x 2), cols 2 x (2 x 3)
    tex = to_latex(spec)
    colspec = re.search(r"\\begin\{array\}\{([^}]*)\}", tex).group(1)
    assert colspec == "ccc|ccc||ccc|ccc"
    lines = tex.splitlines()
    assert lines.count(r"\hline\hline") == 1  # between the output channels
    assert lines.count(r"\hline") == 0  # each output channel has one spatial row block
    assert "|" not in to_latex(spec, blocks=False).splitlines()[0]


def test_elision_keeps_corners_of_a_big_matrix():
    spec = ConvSpec(2, 2, 3, input_size=(6, 6), padding=1)  # 72 x 72
    T = symbolic_matrix(spec)
    rows = cells(to_latex(spec, max_rows=7, max_cols=9, blocks=False))
    assert len(rows) == 7 and all(len(r) == 9 for r in rows)
    head_r, head_c = 3, 4  # shown: rows 0..2, gap, 69..71; cols 0..3, gap, 68..71
    assert rows[head_r] == [r"\vdots"] * head_c + [r"\ddots"] + [r"\vdots"] * 4
    assert all(r[head_c] == r"\cdots" for i, r in enumerate(rows) if i != head_r)
    shown_r = [0, 1, 2, None, 69, 70, 71]
    shown_c = [0, 1, 2, 3, None, 68, 69, 70, 71]
    for i, r in enumerate(shown_r):
        for j, c in enumerate(shown_c):
            if r is not None and c is not None:
                assert rows[i][j] == sympy_cell(T[r, c])


def test_huge_layer_prints_instantly():
    tex = to_latex(ConvSpec(64, 64, 3, input_size=(224, 224), padding=1))
    rows = cells(tex)
    assert len(rows) == 32 and rows[0][:3] == ["w_{0,0,1,1}", "w_{0,0,1,2}", "0"]


@pytest.mark.parametrize(
    "spec", [ConvSpec(1, 1, 3, input_size=6), ConvSpec(1, 1, 3, input_size=(5, 5))],
    ids=["1d-seed-4x6", "2d-seed-9x25"],
)
def test_defaults_print_the_seed_matrices_whole(spec):
    T = symbolic_matrix(spec)
    tex = to_latex(spec)
    assert r"\cdots" not in tex and r"\vdots" not in tex
    got = [[c for c in row] for row in cells(tex)]
    assert got == [[sympy_cell(T[r, c]) for c in range(T.cols)] for r in range(T.rows)]


def test_values_instead_of_symbols_and_plain_matrices():
    spec = ConvSpec(1, 1, 2, input_size=3)
    tex = to_latex(spec, [[[sympy.Rational(1, 2), 3]]])
    assert cells(tex) == [[r"\frac{1}{2}", "3", "0"], ["0", r"\frac{1}{2}", "3"]]
    assert cells(to_latex(np.array([[1, 0], [0, 2]]))) == [["1", "0"], ["0", "2"]]
    assert cells(to_latex(sympy.Matrix([[sympy.Symbol("a")]]))) == [["a"]]


def compile_tex(tmp_path, name, text):
    """pdflatex ``text``; returns the log (the run must succeed)."""
    (tmp_path / f"{name}.tex").write_text(text)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    return (tmp_path / f"{name}.log").read_text(errors="replace")


PRINTED = {
    "2d-seed": ConvSpec(1, 1, 3, input_size=(5, 5)),
    "2d-reflect-sums": ConvSpec(1, 1, 3, input_size=(4, 4), padding=1, padding_mode="reflect"),
    "channels-wide": ConvSpec(2, 3, 3, input_size=(4, 4), padding=1),
    "imagenet-elided": ConvSpec(512, 512, 3, input_size=(224, 224), padding=1),
}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_standalone_documents_compile_without_overfull_boxes(tmp_path):
    for name, spec in PRINTED.items():
        log = compile_tex(tmp_path, name, to_latex(spec, standalone=True))
        assert "Overfull \\hbox" not in log and "Overfull \\vbox" not in log, name


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_fit_scales_a_wide_matrix_to_the_text_width_of_any_document(tmp_path):
    spec = PRINTED["channels-wide"]  # 32 columns of w_{o,i,r,s}: far wider than the text
    preamble = "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{adjustbox}\n"
    fitted = compile_tex(tmp_path, "fitted", preamble + "\\begin{document}\n\\noindent\n"
                         + to_latex(spec, fit=True) + "\n\\end{document}\n")
    assert "Overfull \\hbox" not in fitted
    bare = compile_tex(tmp_path, "bare", preamble + "\\begin{document}\n\\[\n"
                       + to_latex(spec) + "\n\\]\n\\end{document}\n")
    assert "Overfull \\hbox" in bare  # what fit prevents: the check can fail


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((ConvSpec(1, 1, 3, input_size=5),), {"max_rows": 2}, "max_rows must be an integer >= 3"),
        ((ConvSpec(1, 1, 3, input_size=5),), {"max_cols": 2.5}, "max_cols must be"),
        ((np.eye(2), [1, 2]), {}, "weight must be None unless"),
        (([1, 2, 3],), {}, "spec_or_matrix must be a ConvSpec or a 2-D matrix"),
        ((ConvSpec(1, 1, 3, input_size=5), [1, 2]), {}, "weight must have shape"),
        ((ConvSpec(1, 1, 3, input_size=5),), {"fit": "yes"}, "fit must be True or False, but got 'yes'"),
        ((ConvSpec(1, 1, 3, input_size=5),), {"standalone": 1}, "standalone must be True or False"),
    ],
    ids=["max-rows", "max-cols", "weight-with-matrix", "list", "weight-shape", "fit", "standalone"],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_latex(*args, **kwargs)
