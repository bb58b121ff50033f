"""A lazy symbolic view of a layer's matrix: entries computed on demand.

:func:`lazy_symbolic_matrix` returns a sympy ``MatrixExpr`` whose entry
``(row, col)`` is worked out from the spec's per-axis patterns
(:func:`symtoe.core.pattern.axis_patterns`, each ``O(n k)``) when it is asked for.
Nothing of the size of the matrix, nor of the weight, is built, so a corner of
an ImageNet-size layer prints at once:

>>> from symtoe import ConvSpec
>>> big = lazy_symbolic_matrix(ConvSpec(512, 512, 3, input_size=(224, 224), padding=1))
>>> big.shape
(25690112, 25690112)
>>> big[0, :3].as_explicit()
Matrix([[w[0, 0, 1, 1], w[0, 0, 1, 2], 0]])
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy
from sympy.matrices.expressions.matexpr import MatrixElement, MatrixExpr

from .pattern import axis_patterns
from .spec import ConvSpec, check_spec
from .symbolic import symbolic_matrix

__all__ = ["LazyConvMatrix", "lazy_symbolic_matrix", "MAX_EXPLICIT_ENTRIES"]

#: ``as_explicit()`` of the whole matrix is refused above this many entries.
MAX_EXPLICIT_ENTRIES = 4_000_000


def _unravel(index: int, sizes: tuple[int, ...]) -> list[int]:
    """Row-major multi-index of ``index`` in a grid of ``sizes`` (one entry's worth)."""
    out = []
    for size in reversed(sizes):
        index, rest = divmod(index, size)
        out.append(rest)
    return out[::-1]


class LazyConvMatrix(MatrixExpr):
    """The matrix of a convolution layer as a sympy matrix expression.

    Use :func:`lazy_symbolic_matrix`.  Indexing with integers gives the exact
    entry; slicing gives a ``MatrixSlice`` whose ``as_explicit()`` evaluates
    only the sliced entries.  ``as_explicit()`` of the whole matrix is refused
    with a ValueError above :data:`MAX_EXPLICIT_ENTRIES` entries.
    """

    def __new__(cls, spec: ConvSpec, weight=None, name: str = "w"):
        obj = MatrixExpr.__new__(cls)
        obj._spec = spec
        obj._axes = axis_patterns(spec)
        obj._base = sympy.IndexedBase(name)
        obj._weight = weight
        obj._key = ("symbols", name) if weight is None else ("weight", id(weight))
        return obj

    # The spec and weight are not sympy objects, so they are not ``args``:
    # equality and hashing go through ``_hashable_content`` instead.
    def _hashable_content(self):
        return (self._spec, self._key)

    def doit(self, **hints):
        return self

    @property
    def spec(self) -> ConvSpec:
        return self._spec

    @property
    def shape(self):
        rows, cols = self._spec.matrix_shape
        return (sympy.Integer(rows), sympy.Integer(cols))

    def _weight_entry(self, index: tuple[int, ...]):
        if self._weight is None:
            skip = 2 if self._spec.weight_shape[:2] == (1, 1) else 0
            return self._base[index[skip:]]
        value = self._weight[index]
        if hasattr(value, "item") and not isinstance(value, sympy.Basic):
            value = value.item()  # numpy / torch scalar -> exact Python number
        return sympy.sympify(value)

    def _entry(self, i, j, **kwargs):
        i, j = sympy.sympify(i), sympy.sympify(j)
        if not (i.is_Integer and j.is_Integer):
            return MatrixElement(self, i, j)
        spec = self._spec
        n_rows, n_cols = spec.matrix_shape
        i, j = int(i) % n_rows, int(j) % n_cols
        c_out, out_pos = divmod(i, math.prod(spec.output_size))
        c_in, in_pos = divmod(j, math.prod(spec.input_size))
        cog = spec.out_channels // spec.groups
        cg = spec.in_channels // spec.groups
        if c_in // cg != c_out // cog:  # channels of different groups
            return sympy.S.Zero
        taps = []
        rows = _unravel(out_pos, spec.output_size)
        cols = _unravel(in_pos, spec.input_size)
        for ap, r, m in zip(self._axes, rows, cols, strict=True):
            slot = np.flatnonzero(ap.valid[r] & (ap.cols[r] == m))
            if len(slot) == 0:
                return sympy.S.Zero
            taps.append([int(t) for t in ap.taps[r, slot[0]] if t >= 0])
        lead = (c_in, c_out % cog) if spec.transposed else (c_out, c_in % cg)
        return sympy.Add(*(self._weight_entry(lead + tap) for tap in itertools.product(*taps)))

    def as_explicit(self):
        rows, cols = self._spec.matrix_shape
        if rows * cols > MAX_EXPLICIT_ENTRIES:
            raise ValueError(
                f"the explicit matrix must have at most {MAX_EXPLICIT_ENTRIES} entries, but "
                f"{rows} x {cols} has {rows * cols}; print a corner "
                "(M[:4, :6].as_explicit()) or use symbolic_matrix(spec) (sparse)"
            )
        return symbolic_matrix(self._spec, self._weight).as_immutable()

    def _sympystr(self, printer):
        return f"LazyConvMatrix({self._spec!r})"

    def _latex(self, printer):
        return r"T"


def lazy_symbolic_matrix(spec: ConvSpec, weight=None, *, name: str = "w") -> LazyConvMatrix:
    """The layer's matrix as a lazy sympy ``MatrixExpr``: entries on demand.

    Entry rule as :func:`symtoe.symbolic_matrix` (whose explicit matrix it
    equals entry by entry): ``T[(o, *i), (c, *m)]`` is the sum of the weights
    ``w[o, c, *j]`` (``w[c, o, *j]`` for a transposed layer, channels within
    the group) over the taps ``j`` with ``m = fold(i*s - p_left + j*d)`` per
    axis.  ``T @ x.flatten()`` equals ``F.conv{1,2,3}d(x, w, ...)``.

    Each entry decodes its row into ``(c_out, *output position)`` and its
    column into ``(c_in, *input position)``, looks up the one slot of each
    axis's pattern whose column matches, and sums the taps there.  Only the
    per-axis patterns are built, never the full pattern or a weight array.

    Parameters
    ----------
    spec : ConvSpec
    weight : array-like of shape ``spec.weight_shape``, optional
        numpy / object arrays, nested lists or torch tensors; entries are
        sympified when read (exact numbers stay exact).  Default: the symbols
        of :func:`symtoe.weight_symbols` (``w[o, i, r, s]``), created one at a
        time as entries are read.
    name : str
        Name of the default weight symbols.

    Examples
    --------
    >>> from symtoe import ConvSpec
    >>> T = lazy_symbolic_matrix(ConvSpec(1, 1, 3, input_size=5))
    >>> T[:, :4].as_explicit()
    Matrix([
    [w[0], w[1], w[2],    0],
    [   0, w[0], w[1], w[2]],
    [   0,    0, w[0], w[1]]])
    >>> T[2, 4]
    w[2]
    """
    check_spec(spec)
    if weight is not None:
        if isinstance(weight, (sympy.NDimArray, sympy.MatrixBase)):
            weight = np.array(weight.tolist(), dtype=object)
        elif not hasattr(weight, "shape"):
            weight = np.array(weight, dtype=object)
        if tuple(weight.shape) != tuple(spec.weight_shape):
            raise ValueError(
                f"weight must have shape {tuple(spec.weight_shape)}, but got "
                f"{tuple(weight.shape)}"
            )
    return LazyConvMatrix(spec, weight, name)
