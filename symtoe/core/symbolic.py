"""Sympy evaluation of the sharing pattern: exact symbolic matrices.

Entry rule (1-D, stride ``s``, dilation ``d``, left padding ``p``, zero
padding)::

    T[(o, i), (c, m)] = w[o, c, j]   where   m = i*s - p + j*d,

with folded taps summed under reflect / replicate / circular padding, ``j``
replaced by ``k-1-j`` when ``flip=True``, and rows and columns swapped for a
transposed layer.  ``symbolic_matrix(spec, w) @ x.flatten()`` equals torch's
``F.conv{1,2,3}d`` (or ``F.conv_transpose{1,2,3}d``) on ``x``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from .limits import SYMBOLIC_NONZEROS, SYMBOLS, check_budget, sizes_of
from .pattern import entry_weights, sharing_pattern
from .spec import ConvSpec, check_spec
from .validate import SymtoeError, SymtoeTypeError, boolean, is_int, name_string

__all__ = [
    "WeightSymbol",
    "as_sympy_array",
    "bias_symbols",
    "entry_values",
    "exact",
    "symbol_index",
    "symbolic_matrix",
    "weight_symbol",
    "weight_symbols",
]


class WeightSymbol(sympy.Symbol):
    """One weight of a layer: a plain ``sympy.Symbol`` named ``w[0, 1]``.

    ``base`` is the weight's name (``"w"``) and ``index`` its integer index
    tuple; the symbol prints ``w[0, 1]`` as text and ``w_{0,1}`` in LaTeX.
    Being a Symbol, it is one free symbol per weight (``T.free_symbols``
    counts the weights a matrix uses), and it works with ``subs``,
    ``lambdify`` and pickling.  Equal name and index give the same symbol.

    >>> w = WeightSymbol("w", (0, 1))
    >>> w, sympy.latex(2 * w), w == WeightSymbol("w", (0, 1)), w.index
    (w[0, 1], '2 w_{0,1}', True, (0, 1))
    """

    __slots__ = ("base", "index")

    def __new__(cls, base: str, index=(), **assumptions):
        name_string(base)
        if not (isinstance(index, (tuple, list)) and all(is_int(i) for i in index)):
            raise SymtoeTypeError(f"index must be a tuple of integers, but got {index!r}")
        index = tuple(int(i) for i in index)
        obj = super().__new__(cls, f"{base}[{', '.join(map(str, index))}]", **assumptions)
        obj.base, obj.index = base, index
        return obj

    def __getnewargs_ex__(self):
        return (self.base, self.index), self._assumptions_orig

    def _latex(self, printer):
        base = printer._print(sympy.Symbol(self.base))
        return f"{base}_{{{','.join(map(str, self.index))}}}"

    def _sympyrepr(self, printer):
        return f"WeightSymbol({self.base!r}, {self.index!r})"


def symbol_index(spec: ConvSpec, index: tuple[int, ...]) -> tuple[int, ...]:
    """The index a weight's symbol shows: the full weight index, without the
    two channel indices when the layer has one output and one input channel
    per group (``w[r, s]``, as in textbook examples)."""
    return tuple(index[2:]) if spec.weight_shape[:2] == (1, 1) else tuple(index)


def weight_symbol(spec: ConvSpec, index: tuple[int, ...], name: str = "w") -> WeightSymbol:
    """The :class:`WeightSymbol` of weight ``index`` (a tuple into ``spec.weight_shape``).

    >>> weight_symbol(ConvSpec(2, 3, 3, input_size=5), (1, 0, 2))
    w[1, 0, 2]
    """
    return WeightSymbol(name, symbol_index(spec, index))


def weight_symbols(spec: ConvSpec, name: str = "w") -> np.ndarray:
    """Default weights: an object array of ``spec.weight_shape`` holding one
    :class:`WeightSymbol` per weight, ``w[o, i, r, s]`` (LaTeX ``w_{o,i,r,s}``).

    When the layer has one output and one input channel per group the channel
    indices are left out (``w[r, s]``), as in textbook examples.

    >>> weight_symbols(ConvSpec(1, 1, 3, input_size=5)).ravel().tolist()
    [w[0], w[1], w[2]]
    """
    check_spec(spec)
    name_string(name)
    _check_symbols(math.prod(spec.weight_shape), "weight_symbols(spec)")
    out = np.empty(spec.weight_shape, dtype=object)
    for index in np.ndindex(*spec.weight_shape):  # one symbol per weight, not per entry
        out[index] = weight_symbol(spec, index, name)
    return out


def bias_symbols(spec: ConvSpec, name: str = "b") -> np.ndarray:
    """Default bias: one :class:`WeightSymbol` ``b[o]`` per output channel.

    >>> bias_symbols(ConvSpec(1, 2, 3, input_size=5)).tolist()
    [b[0], b[1]]
    """
    check_spec(spec)
    name_string(name)
    _check_symbols(spec.out_channels, "bias_symbols(spec)")
    out = np.empty(spec.out_channels, dtype=object)
    out[:] = [WeightSymbol(name, (o,)) for o in range(spec.out_channels)]
    return out


def _check_symbols(count: int, what: str) -> None:
    check_budget(count, SYMBOLS, what, "sympy symbols",
                 "read entries through lazy_symbolic_matrix(spec), which makes symbols "
                 "only for the entries it shows")


def exact(value, name: str):
    """One value as an exact sympy number or expression.

    Integers (Python, numpy) become ``Integer``, ``fractions.Fraction``
    ``Rational``, strings are parsed, sympy objects pass through, and a Python
    or numpy complex becomes ``a + b*I`` with Integer parts where they are
    integral (other parts stay Floats, as floats do).  ``None``, booleans and
    other objects are refused with a TypeError naming ``name``, NaN and
    infinities with a ValueError.

    >>> exact(2**53 + 1, "weight"), exact(3 + 4j, "weight"), exact(0.5j, "weight")
    (9007199254740993, 3 + 4*I, 0.5*I)
    """
    if isinstance(value, sympy.Basic):
        if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            raise SymtoeError(f"{name} must hold finite values, but got {value}")
        return value
    if value is None or isinstance(value, (bool, np.bool_)):
        raise SymtoeTypeError(
            f"{name} must hold numbers or sympy expressions, but got {value!r}"
        )
    if isinstance(value, (complex, np.complexfloating)):
        parts = []
        for part in (value.real, value.imag):
            part = float(part)
            if not math.isfinite(part):
                raise SymtoeError(f"{name} must hold finite values, but got {value!r}")
            parts.append(sympy.Integer(int(part)) if part.is_integer() else sympy.Float(part))
        return parts[0] + parts[1] * sympy.I
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise SymtoeError(f"{name} must hold finite values, but got {value!r}")
    try:
        out = sympy.sympify(value, strict=not isinstance(value, str))
    except (sympy.SympifyError, TypeError, ValueError, SyntaxError):
        raise SymtoeTypeError(
            f"{name} must hold numbers or sympy expressions, but got {value!r}"
        ) from None
    if not isinstance(out, sympy.Basic):  # e.g. a list, which sympify maps elementwise
        raise SymtoeTypeError(
            f"{name} must hold numbers or sympy expressions, but got {value!r}"
        )
    return exact(out, name) if isinstance(value, str) else out


def as_sympy_array(values, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``values`` as an object array of sympy expressions of ``shape``, exactly
    (see :func:`exact`: ints stay Integers, Fractions become Rationals,
    strings are parsed, integral complex numbers get exact parts)."""
    _check_symbols(math.prod(shape), f"{name} as exact sympy values")
    if hasattr(values, "detach"):  # torch tensor
        values = _plain_tensor(values, name).detach().cpu().tolist()
    elif isinstance(values, (sympy.NDimArray, sympy.MatrixBase)):
        values = values.tolist()
    elif values is None or isinstance(values, (str, bytes, dict, set)):
        raise SymtoeTypeError(f"{name} must be an array of shape {tuple(shape)}, but got "
                              f"{type(values).__name__}")
    try:
        given = np.array(values, dtype=object)
    except ValueError:  # ragged nesting
        given = None
    if given is None or given.shape != tuple(shape):
        got = "a ragged nesting" if given is None else given.shape
        raise SymtoeError(f"{name} must have shape {tuple(shape)}, but got {got}")
    out = np.empty(given.shape, dtype=object)
    out.ravel()[:] = [exact(v, name) for v in given.ravel().tolist()]  # one per weight
    return out


def _plain_tensor(tensor, name: str):
    """A torch tensor whose values can be read: not on the meta device, dense."""
    import torch

    if tensor.is_meta:
        raise SymtoeError(f"{name} must hold values, but got a tensor on the meta device")
    if tensor.layout != torch.strided:
        raise SymtoeError(f"{name} must be a dense (strided) tensor, but got layout "
                          f"{tensor.layout}; pass {name}.to_dense()")
    return tensor


def _shape(values):
    try:
        return tuple(np.shape(values))
    except ValueError:
        return "a ragged nesting"


def entry_values(spec: ConvSpec, rows, cols, weight=None, *, name: str = "w") -> list:
    """Exact values of the entries ``(rows[a], cols[a])`` of the layer's matrix.

    The one reader of single entries (:func:`~symtoe.core.pattern.entry_weights`
    on the per-axis patterns, then a sum of the weights found), used by the
    lazy matrix and by LaTeX: it costs ``O(len(rows))`` whatever the layer's
    size.  ``weight`` (any array of ``spec.weight_shape``: an object array,
    numpy, torch) is read only where an entry needs it and converted with
    :func:`exact`; by default the entries hold :func:`weight_symbol` symbols.

    >>> entry_values(ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="reflect"),
    ...              [0, 0], [1, 3])
    [w[0] + w[2], 0]
    """
    entry, p = entry_weights(spec, rows, cols)
    name_string(name)
    if weight is not None and _shape(weight) != spec.weight_shape:
        raise SymtoeError(f"weight must have shape {spec.weight_shape}, but got {_shape(weight)}")
    if weight is None:
        index = np.stack(np.unravel_index(p, spec.weight_shape), axis=1).tolist()
        terms = [weight_symbol(spec, i, name) for i in index]
    elif hasattr(weight, "detach"):  # torch: read the needed weights only
        import torch

        flat = _plain_tensor(weight, "weight").detach().reshape(-1)
        flat = flat[torch.as_tensor(p, device=weight.device)]
        terms = [exact(v, "weight") for v in flat.cpu().tolist()]
    else:
        terms = [exact(v, "weight") for v in np.asarray(weight, dtype=object).ravel()[p].tolist()]
    values = [[] for _ in range(len(np.atleast_1d(rows)))]
    for a, term in zip(entry.tolist(), terms, strict=True):  # the requested entries only
        values[a].append(term)
    return [sympy.Add(*v) for v in values]


def _values(spec: ConvSpec, weight: np.ndarray) -> np.ndarray:
    """Values of every template entry, shape (C_out, L), summing folded taps."""
    pattern = sharing_pattern(spec)
    w2 = pattern.weight_matrix(weight)
    w2 = np.concatenate([w2, np.full((spec.out_channels, 1), sympy.S.Zero, dtype=object)], 1)
    values = w2[:, pattern.template_weight[0]]
    for extra in pattern.template_weight[1:]:
        values = values + w2[:, extra]
    return values


def symbolic_matrix(
    spec: ConvSpec, weight=None, *, bias=None, augmented: bool = False
) -> sympy.SparseMatrix:
    """The layer's matrix as a ``sympy.SparseMatrix``.

    Entry rule: ``T[(o, *i), (c, *m)] = sum of w[o, c', *j]`` over the taps
    ``j`` with ``m = fold(i*s - p_left + j*d)`` per axis (see
    :mod:`symtoe.core.pattern`); rows ``(c_out, *output position)`` and columns
    ``(c_in, *input position)`` are flattened row-major like ``x.flatten()``.

    Parameters
    ----------
    spec : ConvSpec
    weight : array-like of shape ``spec.weight_shape``, optional
        sympy expressions or exact numbers (kept exact); default
        :func:`weight_symbols`.
    bias : array-like of shape ``(out_channels,)``, optional
        Used with ``augmented=True``; default :func:`bias_symbols` when
        ``spec.bias`` and zero otherwise.
    augmented : bool
        Return the homogeneous matrix ``[[T, b], [0, 1]]`` of the affine map
        ``x -> T x + b`` (``b`` repeated over each channel's positions).

    Examples
    --------
    >>> symbolic_matrix(ConvSpec(1, 1, 3, input_size=5))
    Matrix([
    [w[0], w[1], w[2],    0,    0],
    [   0, w[0], w[1], w[2],    0],
    [   0,    0, w[0], w[1], w[2]]])

    ``symbolic_matrix(spec, w) @ x.flatten()`` equals
    ``F.conv1d(x, w, stride=..., padding=..., dilation=..., groups=...)``
    (after ``F.pad(x, spec.torch_padding, mode)`` for a non-zero
    ``padding_mode``; ``F.conv_transpose1d`` when ``spec.transposed``).
    """
    check_spec(spec)
    augmented = boolean(augmented, "augmented")
    if bias is not None and not augmented:
        raise SymtoeError(
            "bias is only part of the augmented matrix: pass augmented=True, "
            "or add the bias vector to T @ x yourself"
        )
    check_budget(  # closed form: refuse before building anything
        sizes_of(spec).nonzeros, SYMBOLIC_NONZEROS,
        f"the explicit sympy matrix of {spec}", "nonzeros",
        "use lazy_symbolic_matrix(spec) for its entries, numeric_matrix(..., "
        "layout='csr') for numbers, or count_parameters(spec)",
    )
    pattern = sharing_pattern(spec)
    w = weight_symbols(spec) if weight is None else as_sympy_array(
        weight, spec.weight_shape, "weight"
    )
    values = _values(spec, w).ravel().tolist()
    rows = pattern.row_indices().ravel().tolist()
    cols = pattern.col_indices().ravel().tolist()
    entries = dict(zip(zip(rows, cols), values))
    n_rows, n_cols = spec.matrix_shape
    if augmented:
        if bias is None:
            b = bias_symbols(spec) if spec.bias else np.full(spec.out_channels, sympy.S.Zero)
        else:
            b = as_sympy_array(bias, spec.bias_shape, "bias")
        column = np.repeat(b, math.prod(spec.output_size)).tolist()
        entries.update(zip(zip(range(n_rows), [n_cols] * n_rows), column))
        entries[(n_rows, n_cols)] = sympy.S.One
        n_rows, n_cols = n_rows + 1, n_cols + 1
    return sympy.SparseMatrix(n_rows, n_cols, entries)
