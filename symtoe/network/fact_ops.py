"""The certificates of single layer facts: each fact of
:mod:`symtoe.network.facts`, resolved on its input size, as an operator that
gives its own commutation with a shift (``own``), its read windows (per-axis
index tables) for backward propagation, and its output shift.  The graph of
:mod:`symtoe.network.certificate` composes them.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..analysis.aliasing import (
    _per_axis,
    binomial_filter,
    blurpool,
)
from ..analysis.shifts import shift_indices
from ..core.pattern import axis_patterns, fold_positions
from ..core.spec import ConvSpec, is_int
from ..core.validate import boolean
from . import facts

#: Entries of a fixed layer's integer matrices stay below this (exact int64 products).
MAX_FIXED_ENTRY = 1 << 30


# ============================================================ small helpers
def _axis_src(n: int, t: int, mode: str) -> np.ndarray:
    """1-D source positions of the shift ``S_t`` on ``n`` points (-1: filled)."""
    return shift_indices(n, (t,), mode)


def _outer(parts, op, rank):
    """Combine per-axis 1-D arrays into an N-D array with ``op`` (and / or)."""
    out = None
    for a, v in enumerate(parts):
        shape = [1] * rank
        shape[a] = len(v)
        v = v.reshape(shape)
        out = v if out is None else op(out, v)
    return out


def _filled(size, shift) -> np.ndarray:
    """Positions a zero-fill shift fills: some axis reads from outside the grid."""
    inside = [(np.arange(n) - u >= 0) & (np.arange(n) - u < n) for n, u in zip(size, shift)]
    return ~np.broadcast_to(_outer(inside, np.logical_and, len(size)), size)


def _tables(matrix: np.ndarray):
    """A boolean (rows, cols) incidence as per-row index tables ``(cols, valid)``."""
    width = max(int(matrix.sum(axis=1).max(initial=0)), 1)
    cols = np.argsort(~matrix, axis=1, kind="stable")[:, :width]
    valid = np.take_along_axis(matrix, cols, axis=1)
    return cols, valid


def _all_read(exact_in: np.ndarray, reads) -> np.ndarray:
    """``out[r] = all(exact_in[q] for q in window(r))``, axis by axis (windows are
    products of per-axis sets; an empty window is vacuously exact)."""
    out = exact_in
    for a, (cols, valid) in enumerate(reads):
        gathered = np.take(out, cols, axis=a)  # (..., o_a, w, ...)
        shape = [1] * gathered.ndim
        shape[a], shape[a + 1] = valid.shape
        out = (gathered | ~valid.reshape(shape)).all(axis=a + 1)
    return out


def _any_read(mask_out: np.ndarray, reads, size_in) -> np.ndarray:
    """The input positions some output in ``mask_out`` reads (for explanations)."""
    out = mask_out.astype(np.int64)
    for a, ((cols, valid), n) in enumerate(zip(reads, size_in)):
        rows = np.broadcast_to(np.arange(len(cols))[:, None], cols.shape)[valid]
        incidence = np.zeros((n, len(cols)), dtype=np.int64)
        incidence[cols[valid], rows] = 1
        out = np.moveaxis(np.tensordot(incidence, np.moveaxis(out, a, 0), axes=1), 0, a)
        out = (out > 0).astype(np.int64)
    return out > 0


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's ``pooling_output_shape``."""
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _side(pos, size) -> str:
    return "left" if pos < (size - 1) / 2 else "right"


# ============================================================ resolved ops
class _Op:
    """A fact resolved for its input sizes: output size, scale, reads, own map."""

    kind = ""
    size: tuple[int, ...]
    factor: tuple[Fraction, ...] | None = None  # input pixels per output pixel
    reads = None  # per-axis (cols, valid) tables over the (fused) input grid
    inputs: tuple[str, ...] = ()

    def out_shift(self, shifts):
        """The output shift from the inputs' shifts, or None."""
        u = shifts[0]
        if u is None:
            return None
        out = tuple(v / f for v, f in zip(u, self.factor))
        if any(o.denominator != 1 for o in out):
            return None
        return tuple(int(o) for o in out)

    def own(self, shifts, out, mode):  # pragma: no cover - every op overrides it
        raise NotImplementedError

    def exact(self, exacts, shifts, out, mode):
        own = self.own(shifts, out, mode)
        return own, own & _all_read(exacts[0], self.reads)

    def zero(self, zeros):
        """Positions identically 0 on the shifted input, from the inputs' ones:
        every value read is 0 (a linear map without bias, a max, a pad)."""
        return _all_read(zeros[0], self.reads)

    def why(self, position, shifts, out, mode) -> str:
        return "the layer does not commute there"


def _tap_columns(ap) -> np.ndarray:
    """Per-axis ``(rows, kernel)`` table: the column tap ``j`` of row ``r`` reads
    (each tap reads at most one column per row), -1 where it reads none."""
    out = np.full((ap.n_rows, ap.kernel), -1, dtype=np.int64)
    r, w, m = np.nonzero((ap.taps >= 0) & ap.valid[:, :, None])
    out[r, ap.taps[r, w, m]] = ap.cols[r, w]
    return out


@lru_cache(maxsize=256)
def _conv_own(spec: ConvSpec, shift: tuple[int, ...], out: tuple[int, ...], mode: str
              ) -> np.ndarray:
    """:func:`symtoe.check_shift`'s ``exact`` of a one-channel spec, axis by axis.

    Row ``r`` of ``T S_in - S_out T`` vanishes for every kernel iff every tap
    ``j`` fills the same column (or none) on both sides.  On axis ``a`` tap
    ``j_a`` of row ``r_a`` reads ``L_a = S_in(c_a(r_a, j_a))`` on the left and
    ``R_a = c_a(S_out(r_a), j_a)`` on the right (``c_a``: the axis pattern's
    column, -1 for none), and the N-D tap is present on a side iff every axis
    is.  A tap is wrong iff its columns differ on some axis while it is present
    on at least one side, so row ``r`` fails iff, for some axis ``a``, some tap
    present on the left (right) differs there and every other axis has a tap
    present on the left (right): ``O(sum_a o_a k_a)`` instead of the whole
    pattern (equal to ``check_shift(spec, shift, mode).exact``: tested).
    Cached: networks repeat layers.
    """
    rank = spec.rank
    parts = []
    for ap, t, u in zip(axis_patterns(spec), shift, out):
        c = _tap_columns(ap)
        src_in, src_out = _axis_src(ap.n_cols, t, mode), _axis_src(ap.n_rows, u, mode)
        left = np.where(c >= 0, src_in[np.maximum(c, 0)], -1)
        right = np.where((src_out >= 0)[:, None], c[np.maximum(src_out, 0)], -1)
        differ = left != right
        parts.append(((differ & (left >= 0)).any(axis=1), (left >= 0).any(axis=1),
                      (differ & (right >= 0)).any(axis=1), (right >= 0).any(axis=1)))
    bad = np.zeros((1,) * rank, dtype=bool)
    for side in (0, 2):
        for a in range(rank):
            vecs = [p[side] if b == a else p[side + 1] for b, p in enumerate(parts)]
            bad = bad | _outer(vecs, np.logical_and, rank)
    exact = np.broadcast_to(~bad, spec.output_size).copy()
    exact.flags.writeable = False
    return exact


class _ConvOp(_Op):
    kind = "conv"

    def __init__(self, spec: ConvSpec, inputs):
        self.spec = spec
        self.small = spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)
        self.size = spec.output_size
        self.factor = tuple(
            Fraction(1, s) if spec.transposed else Fraction(s) for s in spec.stride
        )
        self.reads = [(ap.cols, ap.valid) for ap in axis_patterns(self.small)]
        self.inputs = tuple(inputs)

    def own(self, shifts, out, mode):
        own = _conv_own(self.small, shifts[0], out, mode)
        if self.spec.bias and mode == "zero":
            own = own & ~_filled(self.size, out)
        return own

    def zero(self, zeros):
        if self.spec.bias:
            return np.zeros(self.size, dtype=bool)
        return super().zero(zeros)

    def why(self, position, shifts, out, mode):
        from .. import check_shift

        text = check_shift(self.small, shifts[0], mode).explain(position)
        if self.spec.bias and mode == "zero" and _filled(self.size, out)[position]:
            text += "\n  and its bias lands on a zero-filled output position"
        return text


class _MaxOp(_Op):
    """Max pooling by per-axis windows: ``W_a[r, m]`` marks the real inputs
    row ``r`` reads on axis ``a``, ``Z_a[r]`` a constant zero it reads there
    (a fused zero ``F.pad``); max pool padding is -inf and is in neither.

    Row ``r`` sees the set of values ``prod_a W_a(r_a)`` (generic inputs),
    plus 0 when some element of its window is zero.  A max is the same
    function of generic inputs iff these sets are equal, so, with ``L_a`` the
    sources the shifted input puts in ``W_a(r_a)`` and ``R_a = W_a(r'_a)``
    (``r' = r - u``): reals agree iff every ``L_a == R_a`` or both products
    are empty, and zeros agree iff both or neither side has a 0 (a
    nonnegative input makes the 0 irrelevant); when ``r'`` is zero-filled the
    left side must see no real value at all.
    """

    kind = "max pool"

    def __init__(self, windows, factor, inputs, nonnegative=False, zeros=None):
        self.nonnegative = nonnegative  # a zero never wins the max of such a map
        self.windows = windows
        self.zeros = zeros or [np.zeros(len(w), dtype=bool) for w in windows]
        self.size = tuple(w.shape[0] for w in windows)
        self.factor = factor
        self.reads = [_tables(w) for w in windows]
        self.inputs = tuple(inputs)

    def _parts(self, shifts, out, mode):
        """Per axis: on, L == R, L empty, R empty, Z(r), Z(r'), marker, W(r) nonempty."""
        parts = []
        for W, Z, ui, uo in zip(self.windows, self.zeros, shifts[0], out):
            o, n = W.shape
            src_in, src_out = _axis_src(n, ui, mode), _axis_src(o, uo, mode)
            keep = src_in >= 0
            left = np.zeros((o, n), dtype=bool)  # sources the window sees in S y
            left[:, src_in[keep]] = W[:, keep]
            on = src_out >= 0
            rp = np.maximum(src_out, 0)
            right = np.where(on[:, None], W[rp], False)
            parts.append((
                on, (left == right).all(axis=1), ~left.any(axis=1), ~right.any(axis=1),
                Z, Z[rp] & on, (W & ~keep).any(axis=1), W.any(axis=1),
            ))
        return parts

    def _maps(self, shifts, out, mode):
        rank = len(self.size)
        parts = self._parts(shifts, out, mode)

        def all_(i):
            return _outer([p[i] for p in parts], np.logical_and, rank)

        def any_(i):
            return _outer([p[i] for p in parts], np.logical_or, rank)

        on = all_(0)
        reals = all_(1) | (any_(2) & any_(3))
        zero_left = any_(4) | (all_(7) & any_(6))
        zeros = (zero_left == any_(5)) | self.nonnegative
        return on, reals, zeros, any_(2)

    def own(self, shifts, out, mode):
        on, reals, zeros, empty = self._maps(shifts, out, mode)
        return np.broadcast_to(np.where(on, reals & zeros, empty), self.size)

    def why(self, position, shifts, out, mode):
        on, reals, zeros, _ = (np.broadcast_to(m, self.size)[position]
                               for m in self._maps(shifts, out, mode))
        if not on:
            return ("the shifted output is zero-filled there, but the max pool window still "
                    "reads shifted content")
        if not reals:
            axes = [a for a, (p, i) in enumerate(zip(self._parts(shifts, out, mode), position))
                    if not p[1][i]]
            return (f"on axis {', '.join(map(str, axes))} the window reads padding (-inf) "
                    "or the grid's end on one side and real inputs on the other")
        return ("the window reads a zero (zero-filled or padded) on one side only: the max "
                "sees a 0 that the other side does not")


class _LinearOp(_Op):
    """A fixed separable linear map ``A_1 x ... x A_N`` (integer matrices, exact)."""

    kind = "fixed linear"

    def __init__(self, mats, factor, inputs, kind=None):
        mats = [np.asarray(m, dtype=np.int64) for m in mats]
        for m in mats:
            if np.abs(m).max(initial=0) >= MAX_FIXED_ENTRY:
                raise ValueError(
                    f"fixed weights must be small rationals (integer numerators below "
                    f"{MAX_FIXED_ENTRY} over a common denominator per axis), but got "
                    f"{int(np.abs(m).max())}"
                )
        self.mats = mats
        self.size = tuple(m.shape[0] for m in mats)
        self.factor = factor
        self.reads = [_tables(m != 0) for m in mats]
        self.inputs = tuple(inputs)
        if kind:
            self.kind = kind

    def _parts(self, shifts, out, mode):
        parts = []
        for A, ui, uo in zip(self.mats, shifts[0], out):
            o, n = A.shape
            src_in, src_out = _axis_src(n, ui, mode), _axis_src(o, uo, mode)
            keep = src_in >= 0
            alpha = np.zeros((o, n), dtype=np.int64)  # rows of A S
            alpha[:, src_in[keep]] = A[:, keep]
            beta = np.where((src_out >= 0)[:, None], A[np.maximum(src_out, 0)], 0)  # S' A
            za, zb = ~alpha.any(axis=1), ~beta.any(axis=1)
            i0 = np.argmax(beta != 0, axis=1)
            rows = np.arange(o)
            num, den = alpha[rows, i0], beta[rows, i0]
            par = ~za & ~zb & (alpha * den[:, None] == beta * num[:, None]).all(axis=1)
            g = np.gcd(num, den)
            g[g == 0] = 1
            sign = np.where(den < 0, -1, 1)
            parts.append((za, zb, par, num // g * sign, den // g * sign))
        return parts

    def own(self, shifts, out, mode):
        rank = len(self.size)
        parts = self._parts(shifts, out, mode)
        both_zero = _outer([p[0] for p in parts], np.logical_or, rank) & _outer(
            [p[1] for p in parts], np.logical_or, rank
        )
        par = _outer([p[2] for p in parts], np.logical_and, rank)
        big = math.prod(int(np.abs(p[3]).max(initial=1)) + int(np.abs(p[4]).max(initial=1))
                        for p in parts) >= 1 << 62
        dtype = object if big else np.int64
        num = _outer([p[3].astype(dtype) for p in parts], np.multiply, rank)
        den = _outer([p[4].astype(dtype) for p in parts], np.multiply, rank)
        own = both_zero | (par & (num == den))
        return np.broadcast_to(own, self.size)

    def why(self, position, shifts, out, mode):
        parts = self._parts(shifts, out, mode)
        bad = [a for a, (p, i) in enumerate(zip(parts, position))
               if not (p[2][i] and p[3][i] == p[4][i])]
        axes = ", ".join(map(str, bad)) or "all"
        return (
            f"row ({', '.join(map(str, position))}) of the fixed filter's commutator "
            f"A S_in - S_out A is not zero (axis {axes}: the shifted input meets other "
            "weights, zero fill or padding than the shifted output)"
        )


class _PointOp(_Op):
    kind = "pointwise"

    def __init__(self, fact: facts.Pointwise, size, inputs):
        self.fact = fact
        self.size = size
        self.factor = (Fraction(1),) * len(size)
        self.inputs = tuple(inputs)

    def out_shift(self, shifts):
        return shifts[0]

    def own(self, shifts, out, mode):
        if mode == "cyclic" or self.fact.maps_zero_to_zero or not self.size:
            return np.ones(self.size, dtype=bool)
        return ~_filled(self.size, out)

    def exact(self, exacts, shifts, out, mode):
        own = self.own(shifts, out, mode)
        return own, own & exacts[0]

    def zero(self, zeros):
        if self.fact.maps_zero_to_zero:
            return zeros[0]
        return np.zeros(self.size, dtype=bool)

    def why(self, position, shifts, out, mode):
        return "f(0) != 0 (a bias, a BatchNorm offset) on a zero-filled position"


class _MergeOp(_Op):
    def __init__(self, fact, sizes, inputs):
        self.fact = fact
        self.kind = type(fact).__name__.lower()
        spatial = {s for s in sizes if s}
        if len(spatial) > 1:
            raise ValueError(
                f"inputs of a {type(fact).__name__} must share one spatial size, but got "
                f"{sorted(spatial)}"
            )
        if isinstance(fact, facts.Concat) and any(not s for s in sizes) and spatial:
            raise ValueError("inputs of a Concat must all be spatial maps or all be vectors")
        self.size = next(iter(spatial)) if spatial else ()
        self.sizes = tuple(sizes)
        self.inputs = tuple(inputs)
        self.factor = (Fraction(1),) * len(self.size)

    def out_shift(self, shifts):
        if any(u is None for u in shifts):
            return None
        spatial = {u for u, s in zip(shifts, self.sizes) if s}
        if len(spatial) > 1:
            return None
        return next(iter(spatial)) if spatial else ()

    def own(self, shifts, out, mode):
        # A vector summand is a constant over space, which would break zero-filled
        # positions; but a vector is invariant under a zero-fill shift only when
        # the shift is 0 (nothing filled), so the intersection already says it.
        return np.ones(self.size, dtype=bool)

    def exact(self, exacts, shifts, out, mode):
        own = self.own(shifts, out, mode)
        result = own
        for e in exacts:
            result = result & e
        return own, np.broadcast_to(result, self.size)

    def zero(self, zeros):
        spatial = [z for z, s in zip(zeros, self.sizes) if s]
        if isinstance(self.fact, facts.Multiply):
            return np.broadcast_to(np.logical_or.reduce(spatial), self.size) if spatial else (
                np.zeros(self.size, dtype=bool))
        if len(spatial) < len(zeros):  # a vector summand (or a concatenated vector)
            return np.zeros(self.size, dtype=bool)
        return np.broadcast_to(np.logical_and.reduce(spatial), self.size)


class _GlobalOp(_Op):
    """Global pooling, flatten, linear: rank-0 outputs (invariance)."""

    def __init__(self, fact, size_in, inputs):
        self.fact = fact
        self.kind = type(fact).__name__
        self.size = ()
        self.size_in = size_in
        self.inputs = tuple(inputs)
        self.factor = ()

    def out_shift(self, shifts):
        return None if shifts[0] is None else ()

    def own(self, shifts, out, mode):
        if not self.size_in:
            return np.ones((), dtype=bool)
        if isinstance(self.fact, facts.GlobalPool):
            ok = mode == "cyclic" or not any(shifts[0])
        else:
            ok = not any(shifts[0])
        return np.array(ok)

    def exact(self, exacts, shifts, out, mode):
        own = self.own(shifts, out, mode)
        return own, own & np.asarray(exacts[0]).all()

    def zero(self, zeros):
        return np.asarray(zeros[0]).all() & isinstance(self.fact, (facts.GlobalPool, facts.Flatten))

    def why(self, position, shifts, out, mode):
        if isinstance(self.fact, facts.GlobalPool):
            return (
                "zero-fill shifts drop content that the global pool counts: it is invariant "
                "only under cyclic shifts"
            )
        return (
            f"{self.kind.lower()} of a spatial map mixes all positions: it is not "
            "shift-equivariant (invariant only under the zero shift)"
        )


# ===================================================================== resolve
def _pad_matrices(pairs, mode, size_in):
    """Per-axis 0/1 matrices of ``F.pad`` (rows: padded positions)."""
    mats = []
    for (pl, pr), n in zip(pairs, size_in):
        m = np.arange(-pl, n + pr)
        col, valid = fold_positions(m, n, "zeros" if mode == "constant" else mode)
        A = np.zeros((len(m), n), dtype=np.int64)
        A[np.flatnonzero(valid), col[valid]] = 1
        mats.append(A)
    return mats


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _resolve_pad(fact: facts.Pad, size):
    rank = len(size)
    p = fact.padding
    if is_int(p):
        pairs = ((int(p), int(p)),) * rank
    elif isinstance(p, (tuple, list)) and 1 <= len(p) <= rank and all(
        isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(x) and x >= 0 for x in v)
        for v in p
    ):
        pairs = ((0, 0),) * (rank - len(p)) + tuple((int(a), int(b)) for a, b in p)
    else:
        raise ValueError(
            f"padding must be a non-negative int or up to {rank} (left, right) pairs (for "
            f"the last axes), but got {p!r}"
        )
    if fact.mode not in _PAD_MODES:
        raise ValueError(f"mode must be one of {_PAD_MODES}, but got {fact.mode!r}")
    for (pl, pr), n in zip(pairs, size):
        if fact.mode == "reflect" and max(pl, pr) >= n:
            raise ValueError(
                f"padding must be smaller than the input size for mode='reflect', but got "
                f"{pairs} for size {size}"
            )
        if fact.mode == "circular" and max(pl, pr) > n:
            raise ValueError(
                f"padding must be at most the input size for mode='circular', but got "
                f"{pairs} for size {size}"
            )
    return pairs


def _pool_windows(fact, size, name):
    rank = len(size)
    k = _per_axis(fact.kernel_size, rank, "kernel_size")
    s = _per_axis(k if fact.stride is None else fact.stride, rank, "stride")
    p = _per_axis(fact.padding, rank, "padding", minimum=0)
    d = _per_axis(getattr(fact, "dilation", 1), rank, "dilation")
    ceil_mode = boolean(fact.ceil_mode, "ceil_mode")
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise ValueError(
                f"padding must be at most half the kernel size (torch's rule), but got "
                f"padding={p} with kernel_size={k}"
            )
    windows = []
    for n, kk, ss, pp, dd in zip(size, k, s, p, d):
        o = _pool_size(n, kk, ss, pp, dd, ceil_mode)
        if o < 1:
            raise ValueError(f"{name} leaves no output: kernel_size={k} on input size {size}")
        start = np.arange(o) * ss - pp
        windows.append((start, kk, dd, n))
    return windows, s


def _max_op(fact: facts.MaxPool, size, inputs):
    windows, s = _pool_windows(fact, size, "MaxPool")
    mats = []
    for start, k, d, n in windows:
        m = start[:, None] + np.arange(k) * d
        W = np.zeros((len(start), n), dtype=bool)
        r, j = np.nonzero((m >= 0) & (m < n))
        W[r, m[r, j]] = True
        mats.append(W)
    return _MaxOp(mats, tuple(Fraction(v) for v in s), inputs)


def _avg_op(fact: facts.AvgPool, size, inputs):
    windows, s = _pool_windows(fact, size, "AvgPool")
    boolean(fact.count_include_pad, "count_include_pad")
    if fact.divisor_override is not None and (
        not is_int(fact.divisor_override) or fact.divisor_override < 1
    ):
        raise ValueError(
            f"divisor_override must be a positive integer or None, but got "
            f"{fact.divisor_override!r}"
        )
    rank = len(size)
    p = _per_axis(fact.padding, rank, "padding", minimum=0)
    mats = []
    for (start, k, _, n), pp in zip(windows, p):
        end = np.minimum(start + k, n + pp)
        pool = end - start  # torch's divisor with count_include_pad, per axis
        lo, hi = np.maximum(start, 0), np.minimum(end, n)
        div = pool if fact.count_include_pad else np.maximum(hi - lo, 1)
        if fact.divisor_override is not None:
            div = np.ones_like(div)
        scale = math.lcm(*(int(v) for v in div)) if len(div) else 1
        m = np.arange(n)
        A = ((m >= lo[:, None]) & (m < hi[:, None])) * (scale // div)[:, None]
        mats.append(A)
    return _LinearOp(mats, tuple(Fraction(v) for v in s), inputs, "avg pool")


def _exact_ints(values, name):
    """Fractions or numbers -> integer numerators over one common denominator."""
    try:
        fr = [Fraction(v) for v in np.asarray(values, dtype=object).ravel().tolist()]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold real numbers or Fractions, but got {values!r}"
        ) from None
    den = math.lcm(*(f.denominator for f in fr)) if fr else 1
    return np.array([int(f * den) for f in fr], dtype=object)


def _fixed_conv_op(fact: facts.FixedConv, size, inputs, kind="fixed conv"):
    spec = fact.spec
    if not isinstance(spec, ConvSpec):
        raise ValueError(f"spec must be a ConvSpec, but got {type(spec).__name__}")
    rank = spec.rank
    taps = fact.taps
    if not isinstance(taps, (tuple, list)) or not taps:
        raise ValueError(f"taps must be a 1-D filter or one per axis, but got {taps!r}")
    if not isinstance(taps[0], (tuple, list, np.ndarray)):
        taps = (taps,) * rank
    if len(taps) != rank:
        raise ValueError(f"taps must hold one 1-D filter per axis ({rank}), but got {len(taps)}")
    mats = []
    for a, (ap, h, k) in enumerate(zip(axis_patterns(spec), taps, spec.kernel_size)):
        h = _exact_ints(h, f"taps[{a}]")
        if len(h) != k:
            raise ValueError(f"taps[{a}] must have kernel_size[{a}] = {k} values, but got {len(h)}")
        if any(abs(v) >= MAX_FIXED_ENTRY for v in h):
            raise ValueError(f"taps[{a}] must be small rationals, but got {fact.taps[a]!r}")
        h_ext = np.append(h.astype(np.int64), 0)  # index -1: no tap
        weights = h_ext[ap.taps].sum(axis=2)
        A = np.zeros((ap.n_rows, ap.n_cols), dtype=np.int64)
        r, w = np.nonzero(ap.valid)
        A[r, ap.cols[r, w]] = weights[r, w]
        mats.append(A)
    factor = tuple(Fraction(1, s) if spec.transposed else Fraction(s) for s in spec.stride)
    return _LinearOp(mats, factor, inputs, kind)


def _blur_op(fact: facts.Blur, size, inputs):
    bp = blurpool(1, size, fact.filt_size, fact.stride, fact.pad_type)
    taps = (list(binomial_filter(fact.filt_size)),) * len(size)
    return _fixed_conv_op(facts.FixedConv(bp.spec, taps), size, inputs, "blur")


_UPSAMPLE = {"nearest": 0, "nearest-exact": 0, "linear": 1, "bilinear": 2, "trilinear": 3}


def _upsample_op(fact: facts.Upsample, size, inputs):
    rank = len(size)
    f = _per_axis(fact.scale_factor, rank, "scale_factor")
    if fact.mode not in _UPSAMPLE:
        raise ValueError(f"mode must be one of {tuple(_UPSAMPLE)}, but got {fact.mode!r}")
    if _UPSAMPLE[fact.mode] not in (0, rank):
        raise ValueError(
            f"mode={fact.mode!r} needs a rank-{_UPSAMPLE[fact.mode]} map (as in torch), "
            f"but got rank {rank}"
        )
    align = boolean(fact.align_corners, "align_corners")
    mats = []
    for n, ff in zip(size, f):
        o = n * ff
        r = np.arange(o)
        A = np.zeros((o, n), dtype=np.int64)
        if _UPSAMPLE[fact.mode] == 0:
            A[r, np.minimum(r // ff, n - 1)] = 1
        else:
            if align:  # source = r (n - 1) / (o - 1)
                num, den = r * (n - 1), max(o - 1, 1)
            else:  # source = max((r + 1/2) / f - 1/2, 0) = (2r + 1 - f) / (2f)
                num, den = np.maximum(2 * r + 1 - ff, 0), 2 * ff
            i0 = num // den
            frac = num - i0 * den
            i1 = np.minimum(i0 + 1, n - 1)
            np.add.at(A, (r, i0), den - frac)
            np.add.at(A, (r, i1), frac)
        mats.append(A)
    return _LinearOp(mats, tuple(Fraction(1, v) for v in f), inputs, f"upsample ({fact.mode})")


def _fuse_conv(spec: ConvSpec, pairs, mode, size_in):
    """The ConvSpec of ``F.pad(pairs, mode)`` then ``spec``, or None."""
    mode = "zeros" if mode == "constant" else mode
    own = spec.padding
    if any(p for pair in own for p in pair):
        if not (mode == "zeros" and spec.padding_mode == "zeros"):
            return None
        pairs = tuple((a + c, b + d) for (a, b), (c, d) in zip(pairs, own))
    try:
        return spec.replace(input_size=size_in, padding=pairs, padding_mode=mode)
    except ValueError:
        return None
