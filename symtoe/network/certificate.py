"""Shift certificates of whole networks: exact layer facts composed over a graph.

A network is described as a graph of feature maps, each produced by one
**layer fact** from the maps named as its inputs.  For an input shift ``t``
(zero-fill or cyclic, :mod:`symtoe.analysis.shifts`) the certificate of a map
``y`` gives its output shift ``u`` (``t / stride``; None when a stride does
not divide the shift it receives: aliasing) and the boolean map ``exact`` of
the positions ``r`` where ``y(S_t x)[r] == (S_u y(x))[r]`` holds for every
input and every weight setting (all channels at once: channels never matter).

**Composition law** (THEORY.md, "Shift certificates of networks").  With
``y' = L(z')`` and ``z'`` the input map on the shifted input: if every input
position ``q`` that output ``r`` reads is exact (``z'[q] = (S_v z)[q]``) and
the layer itself commutes at ``r`` (``(L S_v z)[r] = (S_u L z)[r]`` for all
``z``), then ``r`` is exact.  So exactness propagates backwards through each
layer's read window, ``exact_out = own & all(exact_in over the window)``;
windows are products of per-axis sets, so this runs axis by axis (boolean
maps and index tables, no loop over positions) and is independent of the
channel counts, while the exact set itself need not be a product.

The law alone is sufficient, not necessary; two refinements make it exact:

* **zeros.**  A position whose value on the shifted input is identically 0
  (it reads only zero-filled values: ``zero`` below) is exact where ``S_u``
  fills the output, although the layer and its inputs fail there: replicate
  padding beside the zero fill, then a pool and a conv, does this;
* **nonnegative maps.**  A zero-filled value is a real 0 for a max pool, but
  after a ReLU (or a sigmoid) it never wins the max.

With them, every position called non-exact differs for generic weights in
every network the tests run through torch, with two known exceptions where
the certificate is sound but may be conservative: fixed filters (equal taps
can cancel differences that come from earlier layers), and maps with
positions that are identically 0 in the unshifted network too (a transposed
convolution with a kernel smaller than its stride, an unfused zero pad),
which the layer certificates treat as live inputs.

**Layer facts** and their own commutation (``own``):

========================  ==============================================================
fact                      own commutation at output ``r``
========================  ==============================================================
``Input``                 the map of ``S_t x``: exact everywhere, shift ``t``
``Conv(spec)`` / spec     :func:`symtoe.check_shift`'s ``exact`` of the one-channel
                          layer, computed axis by axis; with ``spec.bias``
                          zero-filled positions fail under zero-fill shifts
``Pointwise(maps_zero)``  everywhere for cyclic shifts; for zero-fill shifts only where
                          nothing was filled, unless the op maps 0 to 0
``MaxPool(...)``          exact set equality of the values the window sees (a
                          zero-filled value is a real 0 for the max, padding is -inf)
``AvgPool``, ``Blur``,    fixed separable linear maps ``A = A_1 x ... x A_N``: row ``r``
``FixedConv``,            of ``A S - S' A`` is ``(x) alpha_a - (x) beta_a``, zero iff some
``Upsample``, ``Pad``     ``alpha_a`` and some ``beta_b`` vanish or every ``alpha_a =
                          c_a beta_a`` with ``prod c_a = 1``; exact for the given weights
``Sum``, ``Concat``,      intersection of the inputs' exact maps (rank-0 inputs
``Multiply``              broadcast); the inputs' shifts must agree
``GlobalPool``            rank 0 (invariance): exact iff every position is exact and the
                          shift is cyclic (or zero)
``Linear``, ``Flatten``   on a spatial map: not shift-equivariant (exact only for the
                          zero shift); on a rank-0 map: passes exactness through
========================  ==============================================================

A ``Pad`` read by a ``Conv`` without padding of its own (or zero padding
after a zero pad), a ``MaxPool`` or a fixed linear layer is fused into it: the
consumer reads the pad's input through the padding mode, as ``F.pad`` then the
layer does (a zero pad's zeros are values for a max, not -inf).  A padded
grid is not periodic with the right period, so certifying the pad on its own
grid would lose exactness under cyclic shifts.

**Graph API** (what a trace adapter produces)::

    g = CertificateGraph(input_size=(32, 32))        # node "input": spatial size only
    g.add("conv1", ConvSpec(3, 8, 3, input_size=(32, 32), padding=1))  # reads "input"
    g.add("relu1", Pointwise(maps_zero_to_zero=True))                   # reads "conv1"
    g.add("pool1", MaxPool(2))
    g.add("conv2", ConvSpec(8, 8, 3, input_size=(16, 16), padding=1))
    g.add("sum", Sum(), inputs=["pool1", "conv2"])
    cert = g.check_shift((2, 2), mode="zero")        # the last node's certificate
    cert.output_shift, cert.exact, cert.explain((0, 0)), cert.exact_maps["conv1"]
    cert.at("conv1")                                 # any named node

``add(name, fact, inputs=None)``: ``name`` unique, ``inputs`` the producers'
names in order (default: the node added last), ``fact`` one of the classes
above or a :class:`~symtoe.ConvSpec` (whose ``input_size`` must equal its
producer's size).  Sizes are spatial only (no batch, no channels); each node's
size follows from its fact.  Facts mirror torch's argument names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..analysis.aliasing import (
    ShiftSubgroup,
    _per_axis,
    binomial_filter,
    blurpool,
    stride_step,
)
from ..analysis.shifts import normalize_mode, normalize_shift, normalize_size, shift_indices
from ..core.pattern import axis_patterns, fold_positions
from ..core.spec import ConvSpec, is_int

__all__ = [
    "AvgPool",
    "Blur",
    "CertificateGraph",
    "Concat",
    "Conv",
    "FixedConv",
    "Flatten",
    "GlobalPool",
    "Linear",
    "MAPS_ZERO_TO_ZERO",
    "MaxPool",
    "Multiply",
    "NONNEGATIVE",
    "NetworkShiftCheck",
    "Pad",
    "Pointwise",
    "Sum",
    "Upsample",
]

#: Whether torch's pointwise modules map 0 to 0 (``f(0) == 0``): those that do
#: stay exact on zero-filled positions.  BatchNorm in eval maps 0 to
#: ``beta - mean * gamma / sqrt(var + eps)``: decide from its buffers.
MAPS_ZERO_TO_ZERO = {
    "Identity": True, "ReLU": True, "ReLU6": True, "LeakyReLU": True, "PReLU": True,
    "ELU": True, "SELU": True, "CELU": True, "GELU": True, "SiLU": True, "Mish": True,
    "Tanh": True, "Hardtanh": True, "Hardswish": True, "Softsign": True, "Tanhshrink": True,
    "Softshrink": True, "Hardshrink": True, "Dropout": True, "Dropout1d": True,
    "Dropout2d": True, "Dropout3d": True, "AlphaDropout": True,
    "Sigmoid": False, "Hardsigmoid": False, "Softplus": False, "LogSigmoid": False,
}

#: torch's pointwise modules whose outputs are never negative.
NONNEGATIVE = frozenset({"ReLU", "ReLU6", "Sigmoid", "Hardsigmoid", "Softplus"})

#: Entries of a fixed layer's integer matrices stay below this (exact int64 products).
MAX_FIXED_ENTRY = 1 << 30


# ===================================================================== facts
@dataclass(frozen=True)
class Conv:
    """A convolution or transposed convolution with free weights (a ConvSpec)."""

    spec: ConvSpec


@dataclass(frozen=True)
class Pointwise:
    """An elementwise op: activation, eval BatchNorm, dropout in eval, bias, scale.

    ``maps_zero_to_zero``: whether ``f(0) == 0`` (:data:`MAPS_ZERO_TO_ZERO`);
    ``nonnegative``: whether ``f >= 0`` everywhere (:data:`NONNEGATIVE`: ReLU,
    Sigmoid, ...), which makes a zero-filled value invisible to a later max.
    """

    maps_zero_to_zero: bool = True
    nonnegative: bool = False

    def __post_init__(self):
        _bool(self.maps_zero_to_zero, "maps_zero_to_zero")
        _bool(self.nonnegative, "nonnegative")


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPoolNd(kernel_size, stride, padding, dilation, ceil_mode)``."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False


@dataclass(frozen=True)
class AvgPool:
    """``nn.AvgPoolNd(kernel_size, stride, padding, ceil_mode, count_include_pad,
    divisor_override)``, exactly (the per-window divisors included)."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None


@dataclass(frozen=True)
class FixedConv:
    """A depthwise convolution with a fixed separable kernel.

    ``spec`` gives the geometry (its channels are ignored; transposed allowed);
    ``taps`` one 1-D filter per axis (or one for every axis) of numbers or
    Fractions; the kernel is their outer product.
    """

    spec: ConvSpec
    taps: tuple


@dataclass(frozen=True)
class Blur:
    """antialiased-cnns' ``Downsample(pad_type, filt_size, stride)`` (BlurPool):
    the binomial filter, padded ``((k-1)//2, k//2)`` per axis, then subsampled."""

    filt_size: int = 3
    stride: int = 2
    pad_type: str = "reflect"


@dataclass(frozen=True)
class Upsample:
    """``nn.Upsample(scale_factor=..., mode=..., align_corners=...)`` with
    integer scale factors; modes "nearest", "nearest-exact", "linear",
    "bilinear", "trilinear"."""

    scale_factor: object
    mode: str = "nearest"
    align_corners: bool = False


@dataclass(frozen=True)
class Pad:
    """``F.pad`` with per-axis ``(left, right)`` pairs (or one int for all; fewer
    pairs than axes pad the last axes) and mode "constant" (value 0),
    "reflect", "replicate" or "circular".  :meth:`from_torch` reads
    ``F.pad``'s flat, last-axis-first tuple."""

    padding: object
    mode: str = "constant"

    @classmethod
    def from_torch(cls, pad, mode: str = "constant", value: float = 0.0) -> Pad:
        """The fact of ``F.pad(x, pad, mode, value)``.

        >>> Pad.from_torch((1, 2, 3, 4), "circular").padding
        ((3, 4), (1, 2))
        """
        if value != 0:
            raise ValueError(
                f"value must be 0 (a constant pad of another value is affine), but got {value!r}"
            )
        pad = tuple(pad)
        if len(pad) % 2 or not pad:
            raise ValueError(f"pad must hold (left, right) pairs, but got {pad!r}")
        pairs = tuple((pad[i], pad[i + 1]) for i in range(0, len(pad), 2))
        return cls(tuple(reversed(pairs)), mode)


@dataclass(frozen=True)
class Sum:
    """A residual sum (rank-0 inputs broadcast, as a per-channel vector does)."""


@dataclass(frozen=True)
class Multiply:
    """An elementwise product (e.g. squeeze-and-excitation gating)."""


@dataclass(frozen=True)
class Concat:
    """A channel concatenation of maps of one spatial size."""


@dataclass(frozen=True)
class GlobalPool:
    """Pooling over every spatial position (``AdaptiveAvgPool2d(1)``, a mean, a max)."""

    kind: str = "avg"


@dataclass(frozen=True)
class Flatten:
    """``torch.flatten(x, 1)`` of a spatial map: a vector, no spatial axes."""


@dataclass(frozen=True)
class Linear:
    """``nn.Linear`` on a vector (after global pooling), or on a flattened map."""


_FACTS = (Conv, Pointwise, MaxPool, AvgPool, FixedConv, Blur, Upsample, Pad, Sum, Multiply,
          Concat, GlobalPool, Flatten, Linear)


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


def _bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, but got {value!r}")
    return value


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

    def __init__(self, fact: Pointwise, size, inputs):
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
        if isinstance(fact, Concat) and any(not s for s in sizes) and spatial:
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
        if isinstance(self.fact, Multiply):
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
        if isinstance(self.fact, GlobalPool):
            ok = mode == "cyclic" or not any(shifts[0])
        else:
            ok = not any(shifts[0])
        return np.array(ok)

    def exact(self, exacts, shifts, out, mode):
        own = self.own(shifts, out, mode)
        return own, own & np.asarray(exacts[0]).all()

    def zero(self, zeros):
        return np.asarray(zeros[0]).all() & isinstance(self.fact, (GlobalPool, Flatten))

    def why(self, position, shifts, out, mode):
        if isinstance(self.fact, GlobalPool):
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


def _resolve_pad(fact: Pad, size):
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
    ceil_mode = _bool(fact.ceil_mode, "ceil_mode")
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


def _max_op(fact: MaxPool, size, inputs):
    windows, s = _pool_windows(fact, size, "MaxPool")
    mats = []
    for start, k, d, n in windows:
        m = start[:, None] + np.arange(k) * d
        W = np.zeros((len(start), n), dtype=bool)
        r, j = np.nonzero((m >= 0) & (m < n))
        W[r, m[r, j]] = True
        mats.append(W)
    return _MaxOp(mats, tuple(Fraction(v) for v in s), inputs)


def _avg_op(fact: AvgPool, size, inputs):
    windows, s = _pool_windows(fact, size, "AvgPool")
    _bool(fact.count_include_pad, "count_include_pad")
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


def _fixed_conv_op(fact: FixedConv, size, inputs, kind="fixed conv"):
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


def _blur_op(fact: Blur, size, inputs):
    bp = blurpool(1, size, fact.filt_size, fact.stride, fact.pad_type)
    taps = (list(binomial_filter(fact.filt_size)),) * len(size)
    return _fixed_conv_op(FixedConv(bp.spec, taps), size, inputs, "blur")


_UPSAMPLE = {"nearest": 0, "nearest-exact": 0, "linear": 1, "bilinear": 2, "trilinear": 3}


def _upsample_op(fact: Upsample, size, inputs):
    rank = len(size)
    f = _per_axis(fact.scale_factor, rank, "scale_factor")
    if fact.mode not in _UPSAMPLE:
        raise ValueError(f"mode must be one of {tuple(_UPSAMPLE)}, but got {fact.mode!r}")
    if _UPSAMPLE[fact.mode] not in (0, rank):
        raise ValueError(
            f"mode={fact.mode!r} needs a rank-{_UPSAMPLE[fact.mode]} map (as in torch), "
            f"but got rank {rank}"
        )
    align = _bool(fact.align_corners, "align_corners")
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


# ===================================================================== graph
@dataclass(frozen=True)
class GraphNode:
    """One feature map of a :class:`CertificateGraph`.

    Attributes
    ----------
    name : str
    fact : object
        The layer fact that produces it (None for the input).
    inputs : tuple of str
        Producers, in order.
    size : tuple of int
        Spatial size (``()`` for a vector).
    stride : tuple of Fraction or None
        Input pixels per pixel of this map (None where branches of different
        strides meet).
    period : tuple of int
        Input shifts with an output shift here: multiples of ``period``
        (0: only the zero shift).
    fused : tuple of str
        The ``Pad`` nodes folded into this layer, if any.
    nonnegative : bool
        Whether the map is never negative (after a ReLU, through pools, pads,
        sums and concatenations of such maps).
    note : str
        A caveat on the fact (e.g. from a trace adapter: values it could not
        read), repeated by ``explain``.
    """

    name: str
    fact: object
    inputs: tuple[str, ...]
    size: tuple[int, ...]
    stride: tuple[Fraction, ...] | None
    period: tuple[int, ...]
    fused: tuple[str, ...] = ()
    nonnegative: bool = False
    note: str = ""


class CertificateGraph:
    """A network as a graph of layer facts, for exact shift certificates.

    See the module docstring for the facts and the law.

    Parameters
    ----------
    input_size : int or tuple of int
        Spatial size of the input (no batch, no channels).
    input_name : str
        Name of the input node.

    Examples
    --------
    >>> g = CertificateGraph(8)
    >>> g.add("conv", ConvSpec(1, 4, 3, input_size=8, padding=1))
    'conv'
    >>> g.add("relu", Pointwise())
    'relu'
    >>> cert = g.check_shift(1)
    >>> cert.output_shift, cert.exact.astype(int).tolist()
    ((1,), [0, 1, 1, 1, 1, 1, 1, 0])
    """

    def __init__(self, input_size, *, input_name: str = "input"):
        size = normalize_size(input_size, "input_size")
        if not isinstance(input_name, str) or not input_name:
            raise ValueError(f"input_name must be a non-empty string, but got {input_name!r}")
        self.input_name = input_name
        self.rank = len(size)
        self._nodes: dict[str, GraphNode] = {}
        self._ops: dict[str, _Op | None] = {}
        self._nodes[input_name] = GraphNode(
            input_name, None, (), size, (Fraction(1),) * len(size), (1,) * len(size)
        )
        self._ops[input_name] = None

    # ------------------------------------------------------------- building
    @property
    def nodes(self) -> dict[str, GraphNode]:
        """The nodes, in the order they were added (a topological order)."""
        return dict(self._nodes)

    @property
    def output(self) -> str:
        """The name of the node added last."""
        return next(reversed(self._nodes))

    def add(self, name: str, fact, inputs=None, *, note: str = "") -> str:
        """Add the map ``name`` produced by ``fact`` from ``inputs`` (default:
        the last node); returns ``name``.  ``note``: a caveat on the fact,
        repeated by explanations."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, but got {name!r}")
        if name in self._nodes:
            raise ValueError(f"name must be new, but {name!r} is already a node")
        if inputs is None:
            inputs = [self.output]
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)) or not inputs:
            raise ValueError(f"inputs must be a non-empty list of node names, but got {inputs!r}")
        for i in inputs:
            if i not in self._nodes:
                raise ValueError(f"inputs of {name!r} must be existing nodes, but {i!r} is not")
        if isinstance(fact, ConvSpec):
            fact = Conv(fact)
        if not isinstance(fact, _FACTS):
            raise ValueError(
                f"fact of {name!r} must be a ConvSpec or one of "
                f"{', '.join(f.__name__ for f in _FACTS)}, but got {type(fact).__name__}"
            )
        many = isinstance(fact, (Sum, Multiply, Concat))
        if not many and len(inputs) != 1:
            raise ValueError(
                f"inputs of {name!r} must be one node for a {type(fact).__name__}, but got "
                f"{list(inputs)}"
            )
        try:
            op, fused = self._resolve(fact, tuple(inputs))
        except ValueError as err:
            raise ValueError(f"node {name!r}: {err}") from None
        strides = [self._nodes[i].stride for i in op.inputs if self._nodes[i].size]
        periods = [self._nodes[i].period for i in op.inputs]
        if not op.size:
            stride, period = (), periods[0] if len(periods) == 1 else ()
            if len(periods) > 1:  # rank-0 merge: the subgroup common to all inputs
                period = tuple(math.lcm(*ps) for ps in zip(*(p for p in periods if p)))
        elif any(s is None for s in strides) or len(set(strides)) > 1:
            stride, period = None, (0,) * len(op.size)
        else:
            period = tuple(math.lcm(*ps) for ps in zip(*periods))
            period, stride = stride_step(period, strides[0], op.factor)
        if isinstance(fact, Pointwise):
            nonneg = fact.nonnegative
        else:
            keeps = (MaxPool, AvgPool, Blur, Upsample, Pad, GlobalPool, Sum, Multiply, Concat,
                     Flatten)
            nonneg = isinstance(fact, keeps) and all(self._nodes[i].nonnegative for i in inputs)
        self._nodes[name] = GraphNode(
            name, fact, tuple(inputs), op.size, stride, period, fused, nonneg, str(note)
        )
        self._ops[name] = op
        return name

    def _resolve(self, fact, inputs):
        nodes = [self._nodes[i] for i in inputs]
        size = nodes[0].size
        if isinstance(fact, (Sum, Multiply, Concat)):
            return _MergeOp(fact, [n.size for n in nodes], inputs), ()
        if isinstance(fact, (GlobalPool, Flatten, Linear)):
            if isinstance(fact, GlobalPool):
                if fact.kind not in ("avg", "max", "min", "sum"):
                    raise ValueError(
                        f"kind must be 'avg', 'max', 'min' or 'sum', but got {fact.kind!r}")
                if not size:
                    raise ValueError("a GlobalPool needs a spatial input, but got a vector")
            return _GlobalOp(fact, size, inputs), ()
        if isinstance(fact, Pointwise):
            return _PointOp(fact, size, inputs), ()
        if not size:
            raise ValueError(f"a {type(fact).__name__} needs a spatial input, but got a vector")
        if isinstance(fact, Conv):
            spec = fact.spec
            if not isinstance(spec, ConvSpec):
                raise ValueError(f"spec must be a ConvSpec, but got {type(spec).__name__}")
            if spec.input_size != size:
                raise ValueError(
                    f"spec.input_size must equal the size of {inputs[0]!r}, {size}, but got "
                    f"{spec.input_size}"
                )
        elif isinstance(fact, FixedConv):
            if isinstance(fact.spec, ConvSpec) and fact.spec.input_size != size:
                raise ValueError(
                    f"spec.input_size must equal the size of {inputs[0]!r}, {size}, but got "
                    f"{fact.spec.input_size}"
                )
        if isinstance(fact, Pad):
            pairs = _resolve_pad(fact, size)
            return _LinearOp(_pad_matrices(pairs, fact.mode, size), (Fraction(1),) * len(size),
                             inputs, f"pad ({fact.mode})"), ()
        op = self._layer(fact, size, inputs)
        if isinstance(op, _MaxOp):
            op.nonnegative = self._nodes[inputs[0]].nonnegative
        # fold a Pad producer into the layer (see the module docstring)
        src = self._nodes[inputs[0]]
        if isinstance(src.fact, Pad):
            pad_in = src.inputs
            in_size = self._nodes[pad_in[0]].size
            pairs = _resolve_pad(src.fact, in_size)
            if isinstance(op, _ConvOp):
                spec = _fuse_conv(fact.spec, pairs, src.fact.mode, in_size)
                if spec is not None:
                    return _ConvOp(spec, pad_in), (src.name,)
            elif isinstance(op, _MaxOp):
                pads = _pad_matrices(pairs, src.fact.mode, in_size)
                mats = [(W.astype(np.int64) @ P) > 0 for W, P in zip(op.windows, pads)]
                zeros = [(W & ~P.any(axis=1)).any(axis=1) for W, P in zip(op.windows, pads)]
                return _MaxOp(mats, op.factor, pad_in, op.nonnegative, zeros), (src.name,)
            elif isinstance(op, _LinearOp):
                pads = _pad_matrices(pairs, src.fact.mode, in_size)
                mats = [A @ P for A, P in zip(op.mats, pads)]
                return _LinearOp(mats, op.factor, pad_in, op.kind), (src.name,)
        return op, ()

    @staticmethod
    def _layer(fact, size, inputs):
        if isinstance(fact, Conv):
            return _ConvOp(fact.spec, inputs)
        if isinstance(fact, MaxPool):
            return _max_op(fact, size, inputs)
        if isinstance(fact, AvgPool):
            return _avg_op(fact, size, inputs)
        if isinstance(fact, FixedConv):
            return _fixed_conv_op(fact, size, inputs)
        if isinstance(fact, Blur):
            return _blur_op(fact, size, inputs)
        return _upsample_op(fact, size, inputs)

    def size(self, name: str) -> tuple[int, ...]:
        """The spatial size of node ``name``."""
        return self._node(name).size

    def _node(self, name) -> GraphNode:
        if name not in self._nodes:
            raise ValueError(f"node must be one of the graph's nodes, but got {name!r}")
        return self._nodes[name]

    def shift_subgroup(self, node: str | None = None) -> ShiftSubgroup:
        """Input shifts that have an output shift at ``node``: multiples of
        ``period`` per axis (see :func:`symtoe.analysis.aliasing.shift_subgroup`).

        >>> g = CertificateGraph(16)
        >>> g.add("a", ConvSpec(1, 1, 3, input_size=16, stride=2, padding=1))
        'a'
        >>> g.add("b", MaxPool(2))
        'b'
        >>> g.shift_subgroup().period
        (4,)
        """
        n = self._node(self.output if node is None else node)
        return ShiftSubgroup(n.period, n.stride)

    def _ancestors(self, node: str) -> list[str]:
        keep, stack = set(), [node]
        while stack:
            v = stack.pop()
            if v not in keep:
                keep.add(v)
                op = self._ops[v]
                stack.extend(op.inputs if op is not None else ())
        return [v for v in self._nodes if v in keep]

    # ------------------------------------------------------------ certifying
    def check_shift(self, shift, mode: str = "zero", *, node: str | None = None
                    ) -> NetworkShiftCheck:
        """The exact shift certificate of ``node`` (default: the last one).

        Parameters
        ----------
        shift : int or tuple of int
            The input shift ``t``, one value per spatial axis of the input.
        mode : {"zero", "cyclic"}
        node : str, optional

        Returns
        -------
        NetworkShiftCheck
            ``.output_shift``, ``.exact``, ``.commutes``, ``.explain(position)``,
            ``.exact_maps`` (every node it depends on), ``.at(name)``.
        """
        shift = normalize_shift(shift, self.rank)
        mode = normalize_mode(mode)
        target = self.output if node is None else self._node(node).name
        states: dict[str, _State] = {}
        for name in self._ancestors(target):
            op = self._ops[name]
            size = self._nodes[name].size
            if op is None:
                full = np.ones(size, dtype=bool)
                filled = _filled(size, shift) if mode == "zero" else ~full
                states[name] = _State(shift, full, full, filled)
                continue
            ins = [states[i] for i in op.inputs]
            out = op.out_shift([s.shift for s in ins])
            if out is None:
                none = np.zeros(size, dtype=bool)
                states[name] = _State(None, none, none, none)
                continue
            own, exact = op.exact([s.exact for s in ins], [s.shift for s in ins], out, mode)
            zero = np.asarray(op.zero([s.zero for s in ins]))
            if mode == "zero" and size:  # identically 0 where S_u fills: exact too
                exact = exact | (zero & _filled(size, out))
            states[name] = _State(out, np.asarray(own), np.asarray(exact), zero)
        return NetworkShiftCheck(self, target, shift, mode, states)

    def __repr__(self) -> str:
        lines = [f"CertificateGraph(input_size={self._nodes[self.input_name].size}):"]
        for n in self._nodes.values():
            if n.fact is None:
                continue
            fused = f" (fused {', '.join(n.fused)})" if n.fused else ""
            note = f" [{n.note}]" if n.note else ""
            lines.append(f"  {n.name} <- {', '.join(n.inputs)}: {_describe(n.fact)} -> "
                         f"{n.size}{fused}{note}")
        return "\n".join(lines)


def _describe(fact) -> str:
    if isinstance(fact, Conv):
        s = fact.spec
        kind = "ConvTranspose" if s.transposed else "Conv"
        return (f"{kind}(k={s.kernel_size}, s={s.stride}, p={s.padding}, d={s.dilation}, "
                f"{s.padding_mode}{', bias' if s.bias else ''})")
    return repr(fact)


@dataclass(frozen=True)
class _State:
    shift: tuple[int, ...] | None
    own: np.ndarray  # the layer's own commutation
    exact: np.ndarray
    zero: np.ndarray  # identically 0 on the shifted input


@dataclass(frozen=True, eq=False)
class NetworkShiftCheck:
    """The exact shift certificate of one node of a :class:`CertificateGraph`.

    Attributes
    ----------
    node : str
    shift : tuple of int
        The input shift ``t``.
    mode : {"zero", "cyclic"}
    output_shift : tuple of int or None
        ``t / stride`` at this node (``()`` for a vector: invariance); None
        when some stride on the way does not divide the shift (aliasing) or
        merged branches shift differently.
    exact : ndarray of bool, shape ``size`` (``()`` for a vector)
        Positions where the node's map of ``S_t x`` equals ``S_u`` of its map
        of ``x`` for every input and every weight setting.
    stride : tuple of Fraction or None
        Input pixels per pixel of this map.
    """

    graph: CertificateGraph = field(repr=False)
    node: str
    shift: tuple[int, ...]
    mode: str
    _states: dict = field(repr=False)

    @property
    def output_shift(self):
        return self._states[self.node].shift

    @property
    def exact(self) -> np.ndarray:
        return self._states[self.node].exact

    @property
    def stride(self):
        return self.graph.nodes[self.node].stride

    @property
    def commutes(self) -> bool:
        """Exact at every position (and an output shift exists)."""
        return self.output_shift is not None and bool(self.exact.all())

    @property
    def exact_maps(self) -> dict[str, np.ndarray]:
        """Node name -> its exact map, for this node and every node it reads."""
        return {name: state.exact for name, state in self._states.items()}

    def at(self, name: str) -> NetworkShiftCheck:
        """The certificate of another node this one depends on."""
        if name not in self._states:
            raise ValueError(
                f"name must be {self.node!r} or a node it reads, but got {name!r}"
            )
        keep = self.graph._ancestors(name)
        states = {v: self._states[v] for v in keep}
        return NetworkShiftCheck(self.graph, name, self.shift, self.mode, states)

    def failing(self) -> np.ndarray:
        """Positions that are not exact, shape (count, rank)."""
        return np.argwhere(~self.exact)

    def explain(self, position=()) -> str:
        """Why ``position`` of this node is (not) exact: the first layer (in
        graph order) whose own commutation fails inside the position's
        backward window of non-exact maps, the boundary it fails at, and that
        layer's reason.

        >>> g = CertificateGraph(6)
        >>> g.add("c1", ConvSpec(1, 1, 3, input_size=6, padding=1))
        'c1'
        >>> g.add("c2", ConvSpec(1, 1, 3, input_size=6, padding=1))
        'c2'
        >>> print(g.check_shift(1).explain(1).splitlines()[0])
        'c2' at (1) is not exact for shift (1) (zero), output shift (1): broken first at 'c1'
        """
        size = self.graph.nodes[self.node].size
        position = self._position(position, size)
        order = list(self._states)
        head = (
            f"{self.node!r} at ({_fmt(position)}) is {{}}exact for shift ({_fmt(self.shift)}) "
            f"({self.mode}), output shift "
        )
        if self.output_shift is None:
            return head.format("not ") + "none: " + self._alias_reason(order)
        head += f"({_fmt(self.output_shift)})" if self.output_shift else "() (invariance)"
        if self.exact[position]:
            state = self._states[self.node]
            if state.zero[position] and not (state.own[position] and self._reads_exact(position)):
                return head.format("") + (
                    ": the map of the shifted input is identically 0 there, and S_u fills it "
                    "with 0"
                )
            return head.format("") + (
                ": every layer commutes on its window and every input it reads is exact"
            )
        culprits = self._culprits(position, order)
        first, where = culprits[0]
        node = self.graph.nodes[first]
        op = self.graph._ops[first]
        ins = [self._states[i] for i in op.inputs]
        reason = op.why(where, [s.shift for s in ins], self._states[first].shift, self.mode)
        lines = [
            head.format("not ") + f": broken first at {first!r}",
            f"  {first!r} = {_describe(node.fact)}, at ({_fmt(where)}): "
            + self._boundary(first, where),
        ]
        lines += ["  " + line for line in reason.splitlines()]
        if node.note:
            lines.append(f"  note: {node.note}")
        others = [repr(c) for c, _ in culprits[1:]]
        if len(others) > 6:
            others = others[:5] + [f"... ({len(others) - 5} more)"]
        if others:
            lines.append("  also broken at: " + ", ".join(others))
        return "\n".join(lines)

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _position(position, size):
        if not size:
            if position not in ((), None):
                raise ValueError(f"position must be () for a vector node, but got {position!r}")
            return ()
        position = normalize_shift(position, len(size), "position")
        if not all(0 <= i < n for i, n in zip(position, size)):
            raise ValueError(f"position must lie in the grid {size}, but got {position!r}")
        return position

    def _alias_reason(self, order) -> str:
        for name in order:
            op = self.graph._ops[name]
            if op is None or self._states[name].shift is not None:
                continue
            shifts = [self._states[i].shift for i in op.inputs]
            if any(s is None for s in shifts):
                continue
            node = self.graph.nodes[name]
            if isinstance(op, _MergeOp):
                return (f"the branches merged at {name!r} shift differently: "
                        + ", ".join(f"{i!r} by ({_fmt(s)})" for i, s in zip(op.inputs, shifts)))
            stride = ", ".join(str(f) for f in op.factor)
            return (
                f"{name!r} ({_describe(node.fact)}) has stride ({stride}), which does not "
                f"divide the shift ({_fmt(shifts[0])}) it receives: the shift aliases"
            )
        return "no output shift"  # pragma: no cover - some node always explains it

    def _reads_exact(self, position) -> bool:
        """Whether every input position that ``position`` reads is exact."""
        op = self.graph._ops[self.node]
        if op is None:
            return True
        mask = np.zeros(self.graph.nodes[self.node].size, dtype=bool)
        mask[position] = True
        for i in op.inputs:
            size_in = self.graph.nodes[i].size
            reach = _any_read(mask, op.reads, size_in) if op.reads is not None else (
                mask if size_in == mask.shape else np.ones(size_in, dtype=bool))
            if (reach & ~self._states[i].exact).any():
                return False
        return True

    def _culprits(self, position, order):
        """(node, position) of every layer whose own commutation fails in the
        backward cone of non-exact maps, first in graph order."""
        cones = {self.node: np.zeros(self.graph.nodes[self.node].size, dtype=bool)}
        cones[self.node][position] = True
        found = []
        for name in reversed(order):
            cone = cones.get(name)
            op = self.graph._ops[name]
            if cone is None or op is None:
                continue
            state = self._states[name]
            bad = cone & ~state.exact
            own_bad = bad & ~state.own
            if own_bad.any():
                found.append((name, tuple(int(i) for i in np.argwhere(own_bad)[0])))
            if not bad.any():
                continue
            for i in op.inputs:
                node_in = self.graph.nodes[i]
                exact_in = self._states[i].exact
                if op.reads is not None:
                    reach = _any_read(bad, op.reads, node_in.size)
                elif not node_in.size or not op.size:
                    reach = np.ones(node_in.size, dtype=bool)
                else:
                    reach = bad
                reach = reach & ~exact_in
                cones[i] = reach if i not in cones else cones[i] | reach
        found.reverse()
        return found

    def _boundary(self, name, where) -> str:
        """The edges whose nearness breaks the layer at ``where``: the axes along
        which moving ``where`` to the middle of the grid makes the layer commute."""
        size = self.graph.nodes[name].size
        if not size:
            return "a vector (no boundary)"
        own = self._states[name].own
        edges = []
        for a, (i, n) in enumerate(zip(where, size)):
            moved = list(where)
            moved[a] = n // 2
            if own[tuple(moved)]:
                edges.append(f"the {_side(i, n)} edge of axis {a}")
        if edges:
            return " and ".join(edges)
        every = [f"the {_side(i, n)} edge of axis {a}" for a, (i, n) in enumerate(zip(where, size))]
        return "a corner: " + " and ".join(every)

    def __repr__(self) -> str:
        count = f"{int(self.exact.sum())}/{self.exact.size}"
        return (
            f"NetworkShiftCheck(node={self.node!r}, shift={self.shift}, mode={self.mode!r}, "
            f"output_shift={self.output_shift}, commutes={self.commutes}, exact={count})"
        )


def _fmt(index) -> str:
    return ", ".join(str(int(i)) for i in index)
