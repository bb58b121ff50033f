"""The sharing pattern: which weight fills which matrix entry.

A convolution's matrix is linear in its weights, ``T(w) = sum_p w[p] E_p``, so
the whole layer is the set of integer triples ``(row, col, p)``: "weight ``p``
(an index into ``weight.flatten()``) contributes to entry ``(row, col)``".
Rows are ``(c_out, *output position)`` and columns ``(c_in, *input position)``,
row-major like ``x.flatten()`` of one sample.  Every reading of a layer
(symbolic, numeric, counts, structure, equivariance, plots) evaluates or reads
these triples.

The pattern is separable, and it is built that way:

1. **One axis** (:func:`axis_pattern`).  For output position ``i`` and tap
   ``j`` the forward layer reads padded position ``m = i*s - p_left + j*d``;
   the padding mode maps ``m`` to a real input column (zeros drops it,
   circular wraps it, reflect and replicate fold it back).  A transposed layer
   writes ``x[i]`` to output ``m``, so its rows are the forward columns.  Each
   row's entries are sorted by column and taps that fold onto the same column
   are kept together as one entry with several taps (its value is their sum).
   The result is a small table ``(rows, slots)`` of columns, a validity mask
   and a ``(rows, slots, multiplicity)`` table of taps.
2. **Space** (:class:`SharingPattern`).  The N axes combine by broadcasting:
   the entry at spatial row ``(r_1, ..., r_N)`` and slots ``(w_1, ..., w_N)``
   has column ``ravel(cols_a[r_a, w_a])`` and tap ``ravel(taps_a[r_a, w_a])``;
   it exists iff every axis's slot is valid.  Flattened in the order
   ``(r_1..r_N, w_1..w_N)`` the entries come out sorted by row and then by
   column: compressed sparse row order, with no sort.
3. **Channels.**  Output channel ``o`` in group ``g`` reads the ``C_in/groups``
   input channels of its group.  Every channel pair repeats the spatial
   pattern, so the full pattern is a *template* of length
   ``L = (C_in/groups) * nnz_spatial`` per output channel (ordered
   ``(spatial row, input channel, entry)``) plus a per-channel column offset.
   Gathering ``W2[o, template]`` from the weight laid out as
   ``W2[o, c*K + tap]`` gives the CSR values of all rows directly.

Nothing here loops over matrix entries; per-axis tables are ``O(n k)`` and the
combination is numpy broadcasting.  Sizes are known before anything is built
(:mod:`symtoe.core.sizes`, in closed form), and :mod:`symtoe.core.limits`
refuses a pattern that would not fit before it is built; built patterns are
cached within a byte budget.  Single entries are read without any table
(:func:`entry_weights`), so a corner of any layer costs ``O(entries * k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .limits import ENTRY_CELLS, byte_cache, check_axis, check_budget, check_pattern
from .spec import PADDING_MODES, ConvSpec, check_spec, output_length
from .validate import SymtoeError, SymtoeTypeError, boolean, choice, integer, is_int

__all__ = [
    "AxisPattern",
    "SharingPattern",
    "axis_pattern",
    "axis_patterns",
    "entry_weights",
    "fold_positions",
    "sharing_pattern",
]


@dataclass(frozen=True, eq=False)
class AxisPattern:
    """The 1-D sharing pattern of one spatial axis.

    Entry ``(row, cols[row, w])`` exists where ``valid[row, w]``; its value is
    ``sum(w[t] for t in taps[row, w] if t >= 0)``.  Valid slots of a row are
    sorted by column and hold distinct columns.

    Attributes
    ----------
    n_rows, n_cols, kernel : int
        Rows (output positions), columns (input positions), taps.
    cols : ndarray of int64, shape (n_rows, slots)
    valid : ndarray of bool, shape (n_rows, slots)
    taps : ndarray of int64, shape (n_rows, slots, multiplicity); -1 = none
    """

    n_rows: int
    n_cols: int
    kernel: int
    cols: np.ndarray
    valid: np.ndarray
    taps: np.ndarray

    @property
    def nonzeros(self) -> int:
        """Distinct ``(row, col)`` entries."""
        return int(self.valid.sum())

    @property
    def contributions(self) -> int:
        """``(row, tap)`` pairs that read a real input: multiply-adds per axis."""
        return int((self.taps >= 0).sum())

    @property
    def live_taps(self) -> np.ndarray:
        """Bool array of length ``kernel``: taps that appear in the matrix."""
        live = np.zeros(self.kernel, dtype=bool)
        live[self.taps[self.taps >= 0]] = True
        return live

    def column_counts(self) -> np.ndarray:
        """Nonzero entries per column (how many outputs read each input)."""
        return np.bincount(self.cols[self.valid], minlength=self.n_cols)

    @property
    def nbytes(self) -> int:
        return self.cols.nbytes + self.valid.nbytes + self.taps.nbytes


def fold_positions(m: np.ndarray, n: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Map padded positions ``m`` to real input positions: ``(column, valid)``.

    The one fold of symtoe (torch's ``F.pad`` modes on a grid of ``n``):
    zeros drops positions outside ``[0, n)`` (``valid`` False), circular
    wraps them (``m mod n``), reflect mirrors them about the end points
    without repeating them (``-m``, ``2(n-1) - m``; padding ``< n``) and
    replicate clamps them.

    >>> [c.tolist() for c in fold_positions(np.arange(-2, 6), 4, "reflect")]
    [[2, 1, 0, 1, 2, 3, 2, 1], [True, True, True, True, True, True, True, True]]
    """
    integer(n, "n", minimum=1)
    if mode == "zeros":
        valid = (m >= 0) & (m < n)
        return np.where(valid, m, 0), valid
    if mode == "circular":
        col = m % n
    elif mode == "reflect":
        col = np.abs(m)
        col = np.where(col >= n, 2 * (n - 1) - col, col)
    elif mode == "replicate":
        col = np.clip(m, 0, n - 1)
    else:
        choice(mode, "mode", PADDING_MODES)
    return col, np.ones(np.shape(m), dtype=bool)


def axis_pattern(
    n: int,
    k: int,
    s: int,
    padding: tuple[int, int],
    d: int,
    mode: str = "zeros",
    transposed: bool = False,
    output_padding: int = 0,
    flip: bool = False,
) -> AxisPattern:
    """The sharing pattern of one axis (see :class:`AxisPattern`).

    Forward: ``T[i, fold(i*s - p_left + j*d)] += w[j]``.  Transposed:
    ``T[i*s - p_left + j*d, i] += w[j]`` for output rows in range.  With
    ``flip`` the tap index is ``k-1-j``.  The arguments are those of a 1-D
    :class:`~symtoe.core.spec.ConvSpec` and are validated like them; the
    table is ``O(n k)`` and refused when it cannot fit in memory.

    >>> ap = axis_pattern(6, 3, 1, (0, 0), 1)
    >>> ap.cols[0], ap.taps[0, :, 0]
    (array([0, 1, 2]), array([0, 1, 2]))
    """
    if not (isinstance(padding, (tuple, list)) and len(padding) == 2):
        raise SymtoeError(f"padding must be a (left, right) pair, but got {padding!r}")
    choice(mode, "mode", PADDING_MODES)
    spec = ConvSpec(  # validates every argument with ConvSpec's rules and words
        1, 1, k, input_size=n, stride=s, padding=(tuple(padding),), dilation=d,
        padding_mode=mode, transposed=boolean(transposed, "transposed"),
        output_padding=output_padding, flip=boolean(flip, "flip"),
    )
    return axis_patterns(spec)[0]


@byte_cache("axis")
def _axis_pattern(n, k, s, padding, d, mode, transposed, output_padding, flip) -> AxisPattern:
    check_axis(n, k, s, padding, d, transposed, output_padding)
    pl, pr = padding
    j = np.arange(k)
    n_rows = output_length(n, k, s, padding, d, transposed=transposed,
                           output_padding=output_padding)
    if transposed:
        m = np.arange(n_rows)[:, None] + pl - j * d  # = i * s for the input i read
        col = m // s
        valid = (m % s == 0) & (col >= 0) & (col < n)
        col = np.where(valid, col, 0)
    else:
        m = np.arange(n_rows)[:, None] * s - pl + j * d
        col, valid = fold_positions(m, n, mode)
    tap = np.broadcast_to(k - 1 - j if flip else j, col.shape)

    # Sort each row by column (invalid last), then merge equal columns.
    key = np.where(valid, col, n)
    order = np.argsort(key, axis=1, kind="stable")
    col_s = np.take_along_axis(key, order, axis=1)
    tap_s = np.take_along_axis(tap, order, axis=1)
    valid_s = col_s < n
    first = valid_s.copy()
    first[:, 1:] &= col_s[:, 1:] != col_s[:, :-1]
    slot = np.cumsum(first, axis=1) - 1
    idx = np.broadcast_to(j, col.shape)
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
    within = idx - start

    width = int(first.sum(axis=1).max(initial=0))
    mult = int(within[valid_s].max(initial=0)) + 1
    rows = np.broadcast_to(np.arange(n_rows)[:, None], col.shape)[valid_s]
    cols = np.zeros((n_rows, width), dtype=np.int64)
    ok = np.zeros((n_rows, width), dtype=bool)
    taps = np.full((n_rows, width, mult), -1, dtype=np.int64)
    cols[rows, slot[valid_s]] = col_s[valid_s]
    ok[rows, slot[valid_s]] = True
    taps[rows, slot[valid_s], within[valid_s]] = tap_s[valid_s]
    for a in (cols, ok, taps):
        a.flags.writeable = False
    return AxisPattern(n_rows, n, k, cols, ok, taps)


def axis_patterns(spec: ConvSpec) -> tuple[AxisPattern, ...]:
    """The per-axis patterns of a spec, one per spatial axis (cached)."""
    check_spec(spec)
    return tuple(
        _axis_pattern(n, k, s, pad, d, spec.padding_mode, spec.transposed, op, spec.flip)
        for n, k, s, pad, d, op in spec.axes()
    )


def _entry_indices(values, name: str, size: int) -> np.ndarray:
    """Row or column indices as a 1-D int64 array, each in ``range(-size, size)``
    (negative ones count from the end, as in numpy)."""
    array = np.atleast_1d(np.asarray(values))
    if array.ndim > 1 or not (array.dtype.kind in "iu" or (
        array.dtype == object and all(is_int(v) for v in array.tolist())
    )):
        raise SymtoeTypeError(f"{name} must be integers, but got {values!r}")
    if array.size and not (-size <= array.min() and array.max() < size):
        bad = array.min() if array.min() < -size else array.max()
        raise SymtoeError(f"{name} must lie in range(-{size}, {size}), but got {bad}")
    return array.astype(np.int64) % size


def entry_weights(spec: ConvSpec, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """Which weights fill the entries ``(rows[a], cols[a])``: arrays ``(a, p)``.

    ``p`` indexes ``weight.flatten()``; an entry filled by folded taps gives
    one pair per tap, an entry that is zero gives none.  No table is built:
    per axis, output position ``i`` and input position ``m`` meet at the taps
    ``j`` with ``fold(i*s - p_left + j*d) == m`` (a transposed layer: ``m*s -
    p_left + j*d == i``), found among the ``k`` taps of each requested entry.
    So it costs ``O(len(rows) * prod(kernel_size))`` whatever the size of
    the layer: this is how a corner of an ImageNet-size matrix is read.

    >>> spec = ConvSpec(1, 1, 3, input_size=5)
    >>> [a.tolist() for a in entry_weights(spec, [0, 0, 1], [1, 4, 1])]
    [[0, 2], [1, 0]]
    """
    check_spec(spec)
    n_rows, n_cols = spec.matrix_shape
    k_total = math.prod(spec.kernel_size)
    count = np.size(rows) if isinstance(rows, np.ndarray) else len(np.atleast_1d(rows))
    check_budget(count * k_total, ENTRY_CELLS, f"reading {count:,} entries",
                 "(entry, tap) cells", "read fewer entries at a time")
    rows = _entry_indices(rows, "rows", n_rows)
    cols = _entry_indices(cols, "cols", n_cols)
    if rows.shape != cols.shape:
        raise SymtoeError(
            f"rows and cols must have one index per entry, but got {len(rows)} and {len(cols)}"
        )
    out_sp, in_sp = spec.output_size, spec.input_size
    o, r_flat = np.divmod(rows, math.prod(out_sp))
    c, m_flat = np.divmod(cols, math.prod(in_sp))
    cog, cg = spec.out_channels // spec.groups, spec.in_channels // spec.groups
    hit = (o // cog == c // cg)[:, None]  # (entries, taps so far), taps row-major
    axes = zip(np.unravel_index(r_flat, out_sp), np.unravel_index(m_flat, in_sp), spec.axes())
    for r, m, (n, k, s, (pl, _), d, _) in axes:
        j = np.arange(k)
        if spec.transposed:  # input m writes output m*s - pl + j*d
            match = m[:, None] * s - pl + j * d == r[:, None]
        else:
            col, valid = fold_positions(r[:, None] * s - pl + j * d, n, spec.padding_mode)
            match = valid & (col == m[:, None])
        if spec.flip:  # position j holds tap k-1-j
            match = match[:, ::-1]
        hit = (hit[:, :, None] & match[:, None, :]).reshape(len(rows), -1)
    entry, tap = np.nonzero(hit)
    if spec.transposed:
        p = (c[entry] * cog + o[entry] % cog) * k_total + tap
    else:
        p = (o[entry] * cg + c[entry] % cg) * k_total + tap
    return entry, p


def _outer(arrays: list[np.ndarray], strides: list[int], rank: int) -> np.ndarray:
    """``sum_a arrays[a][r_a, w_a] * strides[a]`` broadcast to (r_1..r_N, w_1..w_N)."""
    total = 0
    for a, (arr, stride) in enumerate(zip(arrays, strides)):
        shape = [1] * (2 * rank)
        shape[a], shape[rank + a] = arr.shape
        total = total + arr.reshape(shape) * stride
    return np.asarray(total)


def _strides(sizes) -> list[int]:
    return [math.prod(sizes[a + 1 :]) for a in range(len(sizes))]


class SharingPattern:
    """The whole layer's sharing pattern, in compressed sparse row order.

    Use :func:`sharing_pattern` (cached per spec) rather than the constructor.

    The matrix entry of template position ``q`` in output channel ``o`` is
    ``(o * R + template_row[q], col_offset[o] + template_col[q])`` with value
    ``sum_m W2ext[o, template_weight[m, q]]``, where ``R = prod(output_size)``,
    ``W2[o, c*K + tap]`` is the weight of output channel ``o``, input channel
    ``c`` of its group and flat tap ``tap`` (:meth:`weight_matrix`), and
    ``W2ext`` appends a zero column (index ``Cg*K``) that absent taps point to.

    Attributes
    ----------
    spec : ConvSpec
    axes : tuple of AxisPattern
    template_row, template_col : ndarray of int64, shape (L,)
    template_weight : ndarray of int64, shape (multiplicity, L)
    row_ptr : ndarray of int64, shape (R + 1,)
        Start of each spatial row within the template.
    """

    def __init__(self, spec: ConvSpec):
        self.spec = spec
        self.axes = axis_patterns(spec)
        rank = spec.rank
        rows = [ap.n_rows for ap in self.axes]
        cols = [ap.n_cols for ap in self.axes]
        ks = list(spec.kernel_size)
        mults = [ap.taps.shape[2] for ap in self.axes]

        r_total = math.prod(rows)
        valid = _outer([ap.valid.astype(np.int8) for ap in self.axes], [1] * rank, rank) == rank
        valid = valid.reshape(r_total, 1, -1)  # (spatial row, 1, slots)
        col = _outer([ap.cols for ap in self.axes], _strides(cols), rank).reshape(r_total, 1, -1)
        taps = []  # one flat tap table per fold combination (m_1..m_N); -1 = none
        for combo in np.ndindex(*mults):
            parts = [ap.taps[:, :, m] for ap, m in zip(self.axes, combo)]
            absent = _outer([(p < 0).astype(np.int8) for p in parts], [1] * rank, rank) > 0
            tap = np.where(absent, -1, _outer(parts, _strides(ks), rank))
            taps.append(tap.reshape(r_total, 1, -1))

        # Template over (spatial row, input channel of the group, slot): with
        # the channel axis between row and slot, compressing the valid slots
        # gives compressed-sparse-row order directly.
        cg = spec.in_channels // spec.groups
        n_total, k_total = math.prod(cols), math.prod(ks)
        ci = np.arange(cg)[None, :, None]
        mask = np.broadcast_to(valid, (r_total, cg, valid.shape[2]))
        self.template_row = np.broadcast_to(np.arange(r_total)[:, None, None], mask.shape)[mask]
        self.template_col = (ci * n_total + col)[mask]
        self.template_weight = np.stack(
            [np.where(tap >= 0, ci * k_total + tap, cg * k_total)[mask] for tap in taps]
        )
        self.row_ptr = np.concatenate([[0], np.cumsum(cg * valid.sum(axis=2).ravel())])
        for a in (self.template_row, self.template_col, self.template_weight, self.row_ptr):
            a.flags.writeable = False

    # ----------------------------------------------------------------- sizes
    @property
    def shape(self) -> tuple[int, int]:
        return self.spec.matrix_shape

    @property
    def template_length(self) -> int:
        """Entries per output channel."""
        return len(self.template_col)

    @property
    def nnz(self) -> int:
        """Structural nonzeros of the matrix."""
        return self.spec.out_channels * self.template_length

    @property
    def multiplicity(self) -> int:
        """Most taps folded onto one entry (1 under zero padding)."""
        return self.template_weight.shape[0]

    # --------------------------------------------------------------- indices
    @cached_property
    def col_offset(self) -> np.ndarray:
        """First column of each output channel's group, shape (C_out,)."""
        spec = self.spec
        cog = spec.out_channels // spec.groups
        group = np.arange(spec.out_channels) // cog
        return group * (spec.in_channels // spec.groups) * math.prod(spec.input_size)

    def crow_indices(self, dtype=np.int64) -> np.ndarray:
        """CSR row pointers, shape (rows + 1,)."""
        c_out, length = self.spec.out_channels, self.template_length
        starts = np.arange(c_out, dtype=dtype)[:, None] * length + self.row_ptr[:-1].astype(dtype)
        return np.append(starts.ravel(), np.asarray(c_out * length, dtype=dtype))

    def col_indices(self, dtype=np.int64) -> np.ndarray:
        """CSR / COO column indices, shape (C_out, L) (flatten for nnz)."""
        return self.col_offset.astype(dtype)[:, None] + self.template_col.astype(dtype)

    def row_indices(self, dtype=np.int64) -> np.ndarray:
        """COO row indices, shape (C_out, L)."""
        r_total = math.prod(self.spec.output_size)
        return np.arange(self.spec.out_channels, dtype=dtype)[:, None] * r_total + (
            self.template_row.astype(dtype)
        )

    def weight_indices(self) -> np.ndarray:
        """Index into ``weight.flatten()`` per entry and fold, shape (mult, C_out, L).

        Absent folds point to ``weight.numel()`` (append a zero to gather).
        """
        spec = self.spec
        cg = spec.in_channels // spec.groups
        k_total = math.prod(spec.kernel_size)
        numel = math.prod(spec.weight_shape)
        t = self.template_weight
        c, tap = t // k_total, t % k_total
        o = np.arange(spec.out_channels)[:, None, None]
        if spec.transposed:
            cog = spec.out_channels // spec.groups
            g, oc = o // cog, o % cog
            flat = ((g * cg + c[None]) * cog + oc) * k_total + tap[None]
        else:
            flat = (o * cg + c[None]) * k_total + tap[None]
        flat = np.where(t[None] == cg * k_total, numel, flat)
        return np.moveaxis(flat, 0, 1)

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All ``(row, col, p)`` triples: weight ``p`` of ``weight.flatten()``
        contributes to entry ``(row, col)``.  Folded entries give one triple
        per tap.  Sorted by row, then column.

        >>> spec = ConvSpec(1, 1, 2, input_size=3)
        >>> [a.tolist() for a in sharing_pattern(spec).triples()]
        [[0, 0, 1, 1], [0, 1, 1, 2], [0, 1, 0, 1]]
        """
        w = np.moveaxis(self.weight_indices(), 0, -1)  # (C_out, L, mult): sorted
        keep = w != math.prod(self.spec.weight_shape)
        rows = np.broadcast_to(self.row_indices()[..., None], w.shape)[keep]
        cols = np.broadcast_to(self.col_indices()[..., None], w.shape)[keep]
        return rows, cols, w[keep]

    # ----------------------------------------------------------------- weights
    def weight_matrix(self, weight):
        """Lay a weight (numpy or torch, leading batch dims allowed) out as
        ``W2[..., o, c*K + tap]`` for output channel ``o`` and input channel
        ``c`` of its group."""
        spec = self.spec
        batch = tuple(weight.shape[: weight.ndim - len(spec.weight_shape)])
        cg = spec.in_channels // spec.groups
        k_total = math.prod(spec.kernel_size)
        if spec.transposed:
            cog = spec.out_channels // spec.groups
            w = weight.reshape(*batch, spec.groups, cg, cog, k_total)
            w = w.swapaxes(-3, -2) if isinstance(w, np.ndarray) else w.transpose(-3, -2)
            return w.reshape(*batch, spec.out_channels, cg * k_total)
        return weight.reshape(*batch, spec.out_channels, cg * k_total)

    @property
    def nbytes(self) -> int:
        """Bytes held by the template (the per-axis patterns are cached apart)."""
        return sum(a.nbytes for a in (
            self.template_row, self.template_col, self.template_weight, self.row_ptr
        ))

    def __repr__(self) -> str:
        return f"SharingPattern({self.spec!r}, nnz={self.nnz})"


def sharing_pattern(spec: ConvSpec) -> SharingPattern:
    """The :class:`SharingPattern` of a spec: cached within a byte budget, and
    refused (:class:`~symtoe.core.validate.SizeLimitError`) before it is
    built when it would not fit in memory."""
    check_spec(spec)
    return _sharing_pattern(spec)


@byte_cache("pattern")
def _sharing_pattern(spec: ConvSpec) -> SharingPattern:
    check_pattern(spec)
    return SharingPattern(spec)


# the caches, as functools.lru_cache exposes them
sharing_pattern.cache_info, sharing_pattern.cache_clear = (
    _sharing_pattern.cache_info, _sharing_pattern.cache_clear
)
axis_pattern.cache_info, axis_pattern.cache_clear = (
    _axis_pattern.cache_info, _axis_pattern.cache_clear
)
