"""A lazy symbolic view of a layer's matrix: entries computed on demand.

:func:`lazy_symbolic_matrix` returns a sympy ``MatrixExpr`` whose entry
``(row, col)`` is worked out from the spec's per-axis patterns
(:func:`symtoe.core.pattern.axis_patterns`, each ``O(n k)``) when it is asked for.
Nothing of the size of the matrix is built (nor of the weight, with the
default symbols), so a corner of an ImageNet-size layer prints at once:

>>> from symtoe import ConvSpec
>>> big = lazy_symbolic_matrix(ConvSpec(512, 512, 3, input_size=(224, 224), padding=1))
>>> big.shape
(25690112, 25690112)
>>> big[0, :3].as_explicit()
Matrix([[w[0, 0, 1, 1], w[0, 0, 1, 2], 0]])
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy
from sympy.core.symbol import Str
from sympy.matrices.expressions.matexpr import MatrixElement, MatrixExpr
from sympy.matrices.expressions.slice import MatrixSlice

from .limits import EXPLICIT_ENTRIES, SYMBOLS, check_budget
from .spec import ConvSpec, check_spec
from .symbolic import (
    WeightSymbol,
    as_sympy_array,
    entry_values,
    symbolic_matrix,
    weight_symbols,
)
from .validate import name_string

__all__ = [
    "LayerGeometry",
    "LazyConvMatrix",
    "LazySlice",
    "lazy_symbolic_matrix",
]


def _check_explicit(rows: int, cols: int) -> None:
    check_budget(
        rows * cols, EXPLICIT_ENTRIES, f"the explicit {rows} x {cols} matrix", "entries",
        "print a corner (M[:4, :6].as_explicit()) or use symbolic_matrix(spec) (sparse)",
    )


class LayerGeometry(sympy.Atom):
    """A :class:`~symtoe.core.spec.ConvSpec` as a sympy atom, so that a lazy
    matrix can keep it in its ``args`` (equality, hashing, ``func(*args)``)."""

    def __new__(cls, spec: ConvSpec):
        obj = sympy.Atom.__new__(cls)
        obj.spec = check_spec(spec)
        return obj

    def __getnewargs__(self):
        return (self.spec,)

    def _hashable_content(self):
        return (self.spec,)

    def _sympystr(self, printer):
        return repr(self.spec)


class LazyConvMatrix(MatrixExpr):
    """The matrix of a convolution layer as a sympy matrix expression.

    Use :func:`lazy_symbolic_matrix`.  The state is in ``args``:
    ``(LayerGeometry(spec), weights)``, with ``weights`` the name of the
    default symbols (a ``Str``) or an exact ``ImmutableDenseNDimArray``; so
    equal layers with equal weights are equal, hash alike, and ``subs``
    substitutes into the weights.  Indexing with integers gives the exact
    entry; slicing gives a ``MatrixSlice`` whose ``as_explicit()`` evaluates
    only the sliced entries.  ``as_explicit()`` of the whole matrix is refused
    above :data:`symtoe.core.limits.EXPLICIT_ENTRIES` entries.
    """

    def __new__(cls, geometry: LayerGeometry, weights):
        return MatrixExpr.__new__(cls, geometry, weights)

    @property
    def spec(self) -> ConvSpec:
        return self.args[0].spec

    @cached_property
    def _weight(self):
        """None for the default symbols, else the exact object array."""
        weights = self.args[1]
        return None if isinstance(weights, Str) else np.array(weights.tolist(), dtype=object)

    @property
    def _name(self) -> str:
        weights = self.args[1]
        return weights.name if isinstance(weights, Str) else "w"

    @property
    def shape(self):
        rows, cols = self.spec.matrix_shape
        return (sympy.Integer(rows), sympy.Integer(cols))

    def doit(self, **hints):
        return self

    def __getitem__(self, key):
        item = super().__getitem__(key)
        if type(item) is MatrixSlice:  # slices evaluate their entries at once
            return LazySlice(item.parent, item.rowslice, item.colslice)
        return item

    def _entry(self, i, j, **kwargs):
        i, j = sympy.sympify(i), sympy.sympify(j)
        if not (i.is_Integer and j.is_Integer):
            return MatrixElement(self, i, j)
        rows, cols = self.spec.matrix_shape
        return entry_values(self.spec, [int(i) % rows], [int(j) % cols], self._weight,
                            name=self._name)[0]

    def _eval_subs(self, old, new):
        """Substituting a default weight symbol gives explicit weights first."""
        weights = self.args[1]
        if not (isinstance(weights, Str) and isinstance(old, WeightSymbol)
                and old.base == weights.name):
            return None
        check_budget(
            int(np.prod(self.spec.weight_shape)), SYMBOLS,
            "substituting into the default symbols of the layer", "weights",
            "pass explicit weights to lazy_symbolic_matrix instead",
        )
        explicit = sympy.ImmutableDenseNDimArray(weight_symbols(self.spec, weights.name).tolist())
        return type(self)(self.args[0], explicit.subs(old, new))

    def as_explicit(self):
        _check_explicit(*self.spec.matrix_shape)
        weight = self._weight
        if weight is None:
            weight = weight_symbols(self.spec, self._name)
        return symbolic_matrix(self.spec, weight).as_immutable()

    def _sympystr(self, printer):
        return f"LazyConvMatrix({self.spec!r})"

    def _latex(self, printer):
        return r"T"


class LazySlice(MatrixSlice):
    """A slice of a :class:`LazyConvMatrix`: ``as_explicit()`` reads all its
    entries at once (one :func:`~symtoe.core.symbolic.entry_values` call),
    after checking their number against :data:`~symtoe.core.limits.EXPLICIT_ENTRIES`."""

    def __getitem__(self, key):
        item = super().__getitem__(key)
        if type(item) is MatrixSlice and isinstance(item.parent, LazyConvMatrix):
            return LazySlice(item.parent, item.rowslice, item.colslice)
        return item

    def as_explicit(self):
        parent = self.parent
        rows = np.arange(*(int(v) for v in self.rowslice))
        cols = np.arange(*(int(v) for v in self.colslice))
        _check_explicit(len(rows), len(cols))
        r, c = np.meshgrid(rows, cols, indexing="ij")
        values = entry_values(parent.spec, r.ravel(), c.ravel(), parent._weight,
                              name=parent._name)
        return sympy.ImmutableMatrix(len(rows), len(cols), values)


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
        numpy / object arrays, nested lists or torch tensors, converted
        exactly once (:func:`~symtoe.core.symbolic.exact`).  Default: the
        symbols of :func:`symtoe.weight_symbols` (``w[o, i, r, s]``), created
        one at a time as entries are read.
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
    name_string(name)
    if weight is None:
        return LazyConvMatrix(LayerGeometry(spec), Str(name))
    weight = as_sympy_array(weight, spec.weight_shape, "weight")
    return LazyConvMatrix(LayerGeometry(spec), sympy.ImmutableDenseNDimArray(weight.tolist()))
