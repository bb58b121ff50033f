"""The exact commutator certificate shared by shift and reflection checks.

``T(w) = sum_p w[p] E_p`` is linear in the weights, so a commutator
``C(w) = T S_in - S_out T'`` (``T'``: ``T`` with weight ``p`` renamed
``p_map[p]``) vanishes in row ``r`` for every ``w`` iff, for every weight
``p``, the columns ``p`` fills in row ``r`` of ``T S_in`` and of ``S_out T'``
agree as multisets.  Both are index relabellings of the integer sharing
pattern ``(row, col, p)``: :func:`commutator_terms` compares them with
integer keys (``np.unique``): exact, no floats, no sympy.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.limits import check_work, sizes_of
from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec
from ..core.validate import SymtoeError
from .shifts import normalize_shift

__all__ = ["check_certificate", "check_keys", "commutator_terms", "exact_rows", "spatial"]


def spatial(spec: ConvSpec) -> ConvSpec:
    """The one-channel layer with the same spatial geometry."""
    return spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)


def check_certificate(spec: ConvSpec, what: str) -> None:
    """Refuse a certificate whose integer tables would not fit in memory:
    about a dozen int64 arrays per triple of the (one-channel) pattern."""
    sizes = sizes_of(spec)
    check_work(
        100 * sizes.nonzeros * sizes.multiplicity,
        f"{what} of {spec} ({sizes.nonzeros:,} nonzeros)",
        "use zero_padding_interior(spec, shift) (closed form) under zero padding, or a "
        "smaller input_size",
    )


def check_keys(shape: tuple[int, int], n_p: int) -> None:
    """Refuse a layer whose ``(row, col, weight)`` triples do not fit one int64 key."""
    n_rows, n_cols = shape
    if n_rows * n_cols * max(n_p, 1) >= 2**62:
        raise SymtoeError(
            f"the layer is too large for one int64 key per entry ({n_rows} x {n_cols} "
            f"entries, {n_p} weights)"
        )


def _keys(rows, cols, ps, n_cols: int, n_p: int) -> np.ndarray:
    """One int64 key per triple, ``(row * n_cols + col) * n_p + p``."""
    return (rows * n_cols + cols) * n_p + ps


def commutator_terms(
    triples, shape, n_p: int, src_in: np.ndarray, src_out: np.ndarray, p_map=None
):
    """Per-weight coefficients of ``T S_in - S_out T'`` that are not zero.

    ``triples`` = (row, col, p) of ``T`` sorted by row; ``T'`` is ``T`` with
    weight ``p`` renamed ``p_map[p]`` (identity by default).  ``S_in`` and
    ``S_out`` are index maps (``(S x)[i] = x[src[i]]``, -1 = zero).  Returns
    ``(row, col, p, coefficient)`` int64 arrays, sorted by row, col, p.
    """
    rows, cols, ps = triples
    n_rows, n_cols = shape
    check_keys(shape, n_p)
    # T S_in: (T S)[r, c'] = T[r, c] where src_in[c] == c'.
    col_a = src_in[cols]
    keep = col_a >= 0
    key_a = _keys(rows[keep], col_a[keep], ps[keep], n_cols, n_p)
    # S_out T': row r of it is row src_out[r] of T'.
    ptr = np.searchsorted(rows, np.arange(n_rows + 1))
    out_rows = np.flatnonzero(src_out >= 0)
    start = ptr[src_out[out_rows]]
    counts = ptr[src_out[out_rows] + 1] - start
    total = int(counts.sum())
    offsets = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(total)
    ps_b = ps[offsets] if p_map is None else p_map[ps[offsets]]
    key_b = _keys(np.repeat(out_rows, counts), cols[offsets], ps_b, n_cols, n_p)

    keys, inverse = np.unique(np.concatenate([key_a, key_b]), return_inverse=True)
    inverse = inverse.ravel()
    coef = np.bincount(inverse[: len(key_a)], minlength=len(keys)) - np.bincount(
        inverse[len(key_a) :], minlength=len(keys)
    )
    nz = coef != 0
    keys, coef = keys[nz], coef[nz].astype(np.int64)
    entry, p = np.divmod(keys, n_p)
    r, c = np.divmod(entry, n_cols)
    return r, c, p, coef


def exact_rows(spec: ConvSpec, src_in: np.ndarray, src_out: np.ndarray, p_map=None):
    """``(exact, terms)`` of the one-channel commutator of ``spec`` with the
    index maps ``src_in`` and ``src_out``: ``exact`` (shape
    ``spec.output_size``) is True where the row vanishes for every kernel.
    Callers ask :func:`check_certificate` first, before making the maps."""
    terms = commutator_terms(
        sharing_pattern(spec).triples(), spec.matrix_shape, math.prod(spec.kernel_size),
        src_in, src_out, p_map,
    )
    exact = np.ones(spec.matrix_shape[0], dtype=bool)
    exact[terms[0]] = False
    return exact.reshape(spec.output_size), terms


def as_position(position, size: tuple[int, ...]) -> tuple[int, ...]:
    position = normalize_shift(position, len(size), "position")
    if not all(0 <= i < n for i, n in zip(position, size)):
        raise SymtoeError(
            f"position must lie in the output grid {size}, but got {position!r}"
        )
    return position


def fmt(index) -> str:
    return ", ".join(str(int(i)) for i in index)


def describe_terms(terms, spec: ConvSpec, row: int, lhs: str, rhs: str) -> list[str]:
    r, c, p, coef = terms
    sel = r == row
    lines = []
    for col, tap, k in zip(c[sel], p[sel], coef[sel]):
        where = lhs if k > 0 else rhs
        other = rhs if k > 0 else lhs
        times = f" ({abs(k)} times)" if abs(k) > 1 else ""
        lines.append(
            f"  w[{fmt(np.unravel_index(tap, spec.kernel_size))}] * "
            f"x[{fmt(np.unravel_index(col, spec.input_size))}] is in {where}{times} "
            f"but not in {other}"
        )
    return lines
