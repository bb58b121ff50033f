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

from .counts import count_parameters
from .pattern import sharing_pattern
from .spec import ConvSpec, check_spec

__all__ = ["symbolic_matrix", "weight_symbols", "bias_symbols", "as_sympy_array"]

#: Refuse explicit symbolic matrices with more nonzeros than this.
MAX_SYMBOLIC_NONZEROS = 5_000_000


def weight_symbols(spec: ConvSpec, name: str = "w") -> np.ndarray:
    """Default weights: an object array of ``spec.weight_shape`` holding
    ``sympy.Indexed`` symbols ``w[o, i, r, s]`` (LaTeX ``{w}_{o,i,r,s}``, which
    renders as :math:`w_{o,i,r,s}`), equal to ``sympy.IndexedBase('w')[o, i, r, s]``.

    When the layer has one output and one input channel per group the channel
    indices are left out (``w[r, s]``), as in textbook examples.

    >>> weight_symbols(ConvSpec(1, 1, 3, input_size=5)).ravel().tolist()
    [w[0], w[1], w[2]]
    """
    base = sympy.IndexedBase(name)
    shape = spec.weight_shape
    skip = 2 if shape[:2] == (1, 1) else 0
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):  # one symbol per weight, not per entry
        out[index] = base[index[skip:]]
    return out


def bias_symbols(spec: ConvSpec, name: str = "b") -> np.ndarray:
    """Default bias: ``b[o]`` for each output channel."""
    base = sympy.IndexedBase(name)
    out = np.empty(spec.out_channels, dtype=object)
    out[:] = [base[o] for o in range(spec.out_channels)]
    return out


def as_sympy_array(values, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``values`` as an object array of sympy expressions of ``shape``, exactly:
    ints become Integers, ``fractions.Fraction`` Rationals, strings are parsed."""
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().tolist()
    elif isinstance(values, (sympy.NDimArray, sympy.MatrixBase)):
        values = values.tolist()
    try:
        given = np.array(values, dtype=object)
    except ValueError:  # ragged nesting
        given = None
    if given is None or given.shape != tuple(shape):
        got = "a ragged nesting" if given is None else given.shape
        raise ValueError(f"{name} must have shape {tuple(shape)}, but got {got}")
    return np.vectorize(sympy.sympify, otypes=[object])(given)


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
    if bias is not None and not augmented:
        raise ValueError(
            "bias is only part of the augmented matrix: pass augmented=True, "
            "or add the bias vector to T @ x yourself"
        )
    nnz = count_parameters(spec).nonzeros  # closed form: refuse before building
    if nnz > MAX_SYMBOLIC_NONZEROS:
        raise ValueError(
            f"spec has {nnz} nonzeros, more than the {MAX_SYMBOLIC_NONZEROS} "
            "an explicit sympy matrix can hold usefully; use numeric_matrix(..., "
            "layout='csr') or count_parameters(spec)"
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
