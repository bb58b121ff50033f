r"""LaTeX of a layer's matrix: ``w_{o,i,r,s}`` entries, block lines, elision.

The rows of a layer's matrix are ``(c_out, *output position)`` and its columns
``(c_in, *input position)`` (row-major).  The matrix is a block matrix over
channel pairs, and inside each block a multilevel block-Toeplitz matrix over
the spatial axes.  :func:`to_latex` draws channel blocks with double lines and
the outermost spatial level (blocks of ``prod(size[1:])`` rows / columns) with
single lines; large matrices keep their first and last rows and columns with
``\vdots``, ``\cdots`` and ``\ddots`` between.  Only the shown entries are
built, from the per-axis patterns, so a 64-channel ImageNet layer prints at once.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from ..core.spec import ConvSpec
from ..core.symbolic import as_sympy_array, entry_values

__all__ = ["to_latex"]

#: Default ``max_rows`` / ``max_cols``: the seed matrices (4 x 6, 9 x 25) print whole.
MAX_ROWS = MAX_COLS = 32

_FIT = r"""\begin{adjustbox}{max width=\linewidth, max totalheight=0.92\textheight}
$\displaystyle
%s
$
\end{adjustbox}"""

_DOCUMENT = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{adjustbox}
\usepackage[a4paper,margin=2cm]{geometry}
\pagestyle{empty}
\begin{document}
\begin{center}
%s
\end{center}
\end{document}
"""


def _shown(n: int, limit: int) -> tuple[np.ndarray, int | None]:
    """Indices kept of ``n`` and the position of the elision mark (or None)."""
    if n <= limit:
        return np.arange(n), None
    head = (limit - 1 + 1) // 2
    tail = limit - 1 - head
    return np.concatenate([np.arange(head), np.arange(n - tail, n)]), head


def _boundaries(index: np.ndarray, gap, channel: int, level: int | None) -> list[str]:
    """Separator after each shown index: '' , '|' (spatial level) or '||' (channel)."""
    sep = [""] * len(index)
    for a in range(len(index) - 1):
        if gap is not None and a + 1 == gap:
            continue
        lo, hi = index[a], index[a + 1]
        if channel and lo // channel != hi // channel:
            sep[a] = "||"
        elif level and lo // level != hi // level:
            sep[a] = "|"
    return sep


def _entries_from_spec(spec: ConvSpec, rows, cols, weight, name: str) -> dict:
    """LaTeX of the nonzero entries ``(rows[a], cols[b])`` of the spec's matrix."""
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    values = entry_values(spec, r, c, weight, name=name)
    return {
        (int(i), int(j)): sympy.latex(v) for i, j, v in zip(r, c, values, strict=True) if v != 0
    }


def _entries_from_matrix(matrix, rows: np.ndarray, cols: np.ndarray):
    out = {}
    for a in rows.tolist():
        for b in cols.tolist():
            value = matrix[a, b]
            if value != 0:
                out[(a, b)] = sympy.latex(sympy.sympify(value))
    return out


def to_latex(
    spec_or_matrix,
    weight=None,
    *,
    max_rows: int = MAX_ROWS,
    max_cols: int = MAX_COLS,
    blocks: bool = True,
    zero: str = "0",
    name: str = "w",
    fit: bool = False,
    standalone: bool = False,
) -> str:
    r"""LaTeX of a layer's matrix (or of any matrix), with block lines and elision.

    Parameters
    ----------
    spec_or_matrix : ConvSpec, sympy Matrix or 2-D array
        A spec prints its symbolic matrix (``w_{o,i,r,s}`` entries, channel
        indices dropped for a single-channel layer, folded taps summed as in
        :func:`~symtoe.core.symbolic.symbolic_matrix`).
    weight : array-like of shape ``spec.weight_shape``, optional
        Values for the weights (sympy expressions or exact numbers) instead of
        symbols; only with a spec.
    max_rows, max_cols : int
        Larger matrices keep their first and last rows / columns with
        ``\vdots`` / ``\cdots`` (and ``\ddots``) in between.  The defaults
        (:data:`MAX_ROWS`, :data:`MAX_COLS`: 32) print the textbook matrices
        whole (the 2-D seed's 9 x 25).
    blocks : bool
        For a spec, separate channel blocks (double lines) and the outermost
        spatial blocks (single lines).
    zero : str
        What to print for structural zeros (``"0"``, ``""`` or ``"\cdot"``).
    name : str
        The weight symbol's name.
    fit : bool
        Wrap the matrix in ``\begin{adjustbox}{max width=\linewidth, ...}``
        (text mode, ``\usepackage{adjustbox}``): a matrix wider than the text
        is scaled down to the text width (a narrower one is left as it is),
        instead of the bare math-mode ``array``.
    standalone : bool
        A complete A4 ``article`` (amsmath, adjustbox, geometry) that
        ``pdflatex`` compiles alone, the matrix fitted to the text width.

    Examples
    --------
    >>> print(to_latex(ConvSpec(1, 1, 2, input_size=3)))
    \left(\begin{array}{ccc}
    w_{0} & w_{1} & 0 \\
    0 & w_{0} & w_{1} \\
    \end{array}\right)
    >>> print(to_latex(ConvSpec(1, 1, 2, input_size=(2, 3)), zero=""))
    \left(\begin{array}{ccc|ccc}
    w_{0,0} & w_{0,1} &  & w_{1,0} & w_{1,1} &  \\
     & w_{0,0} & w_{0,1} &  & w_{1,0} & w_{1,1} \\
    \end{array}\right)
    """
    for label, value in (("max_rows", max_rows), ("max_cols", max_cols)):
        if not isinstance(value, int) or value < 3:
            raise ValueError(f"{label} must be an integer >= 3, but got {value!r}")
    for label, value in (("blocks", blocks), ("fit", fit), ("standalone", standalone)):
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be True or False, but got {value!r}")
    if isinstance(spec_or_matrix, ConvSpec):
        spec = spec_or_matrix
        n_rows, n_cols = spec.matrix_shape
    else:
        if weight is not None:
            raise ValueError("weight must be None unless spec_or_matrix is a ConvSpec")
        spec = None
        matrix = spec_or_matrix
        if not hasattr(matrix, "shape") or len(matrix.shape) != 2:
            raise ValueError(
                "spec_or_matrix must be a ConvSpec or a 2-D matrix, but got "
                f"{type(matrix).__name__}"
            )
        n_rows, n_cols = matrix.shape

    rows, row_gap = _shown(n_rows, max_rows)
    cols, col_gap = _shown(n_cols, max_cols)
    if spec is not None:
        if weight is not None:
            weight = as_sympy_array(weight, spec.weight_shape, "weight")
        entries = _entries_from_spec(spec, rows, cols, weight, name)
        if blocks:
            out_sp, in_sp = math.prod(spec.output_size), math.prod(spec.input_size)
            row_sep = _boundaries(
                rows, row_gap, out_sp if spec.out_channels > 1 else 0,
                math.prod(spec.output_size[1:]) if spec.rank > 1 else None,
            )
            col_sep = _boundaries(
                cols, col_gap, in_sp if spec.in_channels > 1 else 0,
                math.prod(spec.input_size[1:]) if spec.rank > 1 else None,
            )
        else:
            row_sep, col_sep = [""] * len(rows), [""] * len(cols)
    else:
        entries = _entries_from_matrix(matrix, rows, cols)
        row_sep, col_sep = [""] * len(rows), [""] * len(cols)

    # column spec, with the elision column
    colspec, cells_of = "", []
    for b, sep in enumerate(col_sep):
        if col_gap is not None and b == col_gap:
            colspec += "c"
            cells_of.append(None)
        colspec += "c" + sep
        cells_of.append(b)

    def line(a):
        cells = [
            (r"\cdots" if row_gap is None or a != "gap" else r"\ddots") if b is None
            else (r"\vdots" if a == "gap" else entries.get((rows[a], cols[b]), zero))
            for b in cells_of
        ]
        return " & ".join(cells) + r" \\"

    body = [rf"\left(\begin{{array}}{{{colspec}}}"]
    for a, sep in enumerate(row_sep):
        if row_gap is not None and a == row_gap:
            body.append(line("gap"))
        body.append(line(a))
        if sep:
            body.append(r"\hline\hline" if sep == "||" else r"\hline")
    body.append(r"\end{array}\right)")
    text = "\n".join(body)
    if fit or standalone:
        text = _FIT % text
    return _DOCUMENT % text if standalone else text
