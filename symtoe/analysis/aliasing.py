"""Aliasing of strided layers, exactly: which shifts commute, what the others
become, how much an anti-aliasing filter leaves, and when APS is invariant.

Conventions are :mod:`symtoe.analysis.shifts`'s: ``(S_t x)[m] = x[m - t]``
(zero-fill or cyclic).  ``D_s`` keeps every ``s``-th sample, ``(D_s y)[i] =
y[s i]``, and ``D_s^(q)`` keeps phase ``q``, ``(D_s^(q) y)[i] = y[s i + q]``.
A strided layer is ``D_s C`` with ``C`` the same layer at stride 1 (THEORY.md:
"A stride-s layer's matrix is rows 0, s, 2s, ... of the stride-1 layer's").

**Which shifts commute** (:func:`shift_subgroup`).  A forward layer of stride
``s`` maps an input shift ``v`` to the output shift ``v / s`` and has none
when ``s`` does not divide ``v``; a transposed layer multiplies by ``s``.  So
the input shifts with an output shift form the subgroup ``g Z`` per axis,
``g = lcm`` over the forward layers ``l`` of the numerator of the stride
accumulated up to and including ``l`` (a Fraction when transposed layers came
first); for forward stacks ``g`` is the product of the strides (Azulay & Weiss
2019; Zhang 2019).

**What the other shifts become** (:func:`polyphase_shift`).  On a cyclic grid
with ``S | n`` (or away from the boundary) ``D_S S_t = S_v D_S^(q)`` with
``q = (-t) mod S`` and ``v = ceil(t / S)``: the strided output of a shifted
input is phase ``q`` of the stride-1 output, shifted by ``v``.  Only ``q = 0``
(``S | t``) gives a shift of the same output.  In polyphase form ``D_S C_W x =
sum_p W_p * x_p``: the shift makes input phase ``p`` meet the kernel phase
that met input phase ``(p + t) mod S`` before.

**Anti-aliasing gains** (:func:`aliasing_gain`): the exact
``min_u ||D_s C_h S_t - S_u D_s C_h||_2`` on a cyclic grid, in closed form
from the polyphase components of the filter (derivation in the docstring).

**Adaptive polyphase sampling** (:func:`aps_select`, :func:`check_aps`;
Chaman & Dokmanic, CVPR 2021): keeping the largest-norm phase instead of phase
0 is exactly equivariant under cyclic shifts when ``s`` divides the grid, for
every input whose largest-norm phase is unique.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..core.spec import ConvSpec, is_int
from .shifts import normalize_mode, normalize_shift, normalize_size

__all__ = [
    "APSCheck",
    "AliasingGain",
    "PolyphaseShift",
    "ShiftSubgroup",
    "aliasing_gain",
    "aps_select",
    "binomial_filter",
    "blurpool",
    "check_aps",
    "polyphase_shift",
    "shift_subgroup",
]

#: The most complex numbers :func:`aliasing_gain` holds at once (chunks over ``u``).
CHUNK_ELEMENTS = 1 << 22
#: The largest ``(output grid)^2 * prod(stride)`` :func:`aliasing_gain` evaluates.
MAX_GAIN_WORK = 1 << 27


def _per_axis(value, rank: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    if is_int(value):
        value = (value,) * rank
    if (
        not isinstance(value, (tuple, list))
        or len(value) != rank
        or not all(is_int(v) and v >= minimum for v in value)
    ):
        rule = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(
            f"{name} must be {rule} or a tuple of {rank} of them, but got {value!r}"
        )
    return tuple(int(v) for v in value)


# ------------------------------------------------------------ commuting shifts
@dataclass(frozen=True)
class ShiftSubgroup:
    """The input shifts that have an output shift, per axis: multiples of ``period``.

    Attributes
    ----------
    period : tuple of int
        ``t`` has an output shift iff ``period[a]`` divides ``t[a]`` on every
        axis (``0``: only ``t[a] = 0``, where branches of different strides meet).
    stride : tuple of Fraction or None
        Input pixels per output pixel (``Fraction(1, 2)`` after a stride-2
        transposed layer); the output shift is ``t / stride``.  ``()`` for a
        vector (after global pooling), None where strides of branches differ.
    """

    period: tuple[int, ...]
    stride: tuple[Fraction, ...] | None

    def output_shift(self, shift) -> tuple[int, ...] | None:
        """``t / stride`` if ``t`` is in the subgroup, else None (aliasing).

        >>> ShiftSubgroup((4,), (Fraction(4),)).output_shift(8)
        (2,)
        """
        shift = normalize_shift(shift, len(self.period))
        if any(t % g if g else t for t, g in zip(shift, self.period)):
            return None
        if self.stride is None:
            return (0,) * len(shift)
        return tuple(int(t / s) for t, s in zip(shift, self.stride))


def stride_step(period: tuple[int, ...], stride: tuple[Fraction, ...], factor):
    """The subgroup after one more layer of per-axis scale ``factor`` (its
    stride; ``1/stride`` for a transposed layer): the shift a layer sees is
    ``t / P`` (``P``: the stride accumulated so far), an integer iff
    ``numerator(P) | t``, so the period takes the lcm with it."""
    new_stride = tuple(s * Fraction(f) for s, f in zip(stride, factor))
    period = tuple(math.lcm(g, s.numerator) for g, s in zip(period, new_stride))
    return period, new_stride


def shift_subgroup(specs) -> ShiftSubgroup:
    """The subgroup of input shifts that a stack of layers maps to an output shift.

    ``specs`` is a ConvSpec or a sequence of them, applied first to last.
    A forward layer of stride ``s`` needs ``s | v`` of the shift ``v`` it
    receives, a transposed one multiplies ``v`` by ``s``; so ``t`` works iff
    ``numerator(P_l) | t`` for every forward layer ``l``, where ``P_l`` is the
    stride accumulated up to and including ``l``.

    >>> s2 = ConvSpec(1, 1, 3, input_size=16, stride=2, padding=1)
    >>> shift_subgroup([s2, s2.replace(input_size=8)]).period
    (4,)
    >>> up = ConvSpec(1, 1, 2, input_size=4, stride=2, transposed=True)
    >>> shift_subgroup([up, ConvSpec(1, 1, 2, input_size=8, stride=4)])
    ShiftSubgroup(period=(2,), stride=(Fraction(2, 1),))
    """
    if isinstance(specs, ConvSpec):
        specs = [specs]
    specs = list(specs)
    if not specs or not all(isinstance(s, ConvSpec) for s in specs):
        raise ValueError(f"specs must be a ConvSpec or a non-empty list of them, but got {specs!r}")
    rank = specs[0].rank
    period, stride = (1,) * rank, (Fraction(1),) * rank
    for spec in specs:
        if spec.rank != rank:
            raise ValueError(f"specs must all have rank {rank}, but got a rank-{spec.rank} spec")
        factor = tuple(Fraction(1, s) if spec.transposed else Fraction(s) for s in spec.stride)
        period, stride = stride_step(period, stride, factor)
    return ShiftSubgroup(period, stride)


# -------------------------------------------------------------- polyphase view
@dataclass(frozen=True)
class PolyphaseShift:
    """What a strided output becomes when its input shifts (see :func:`polyphase_shift`).

    Attributes
    ----------
    stride : tuple of int
        The total stride ``S`` per axis.
    shift : tuple of int
        The input shift ``t``.
    phase : tuple of int
        ``q = (-t) mod S``: the strided output of ``S_t x`` is phase ``q`` of
        the stride-1 output, ``D_S S_t = S_v D_S^(q)``.
    output_shift : tuple of int
        ``v = ceil(t / S)``.
    """

    stride: tuple[int, ...]
    shift: tuple[int, ...]
    phase: tuple[int, ...]
    output_shift: tuple[int, ...]

    @property
    def commutes(self) -> bool:
        """Whether the shifted output is a shift of the same phase (``S | t``)."""
        return not any(self.phase)

    def kernel_phases(self, axis: int = 0) -> np.ndarray:
        """Per input phase ``p`` of ``axis``: the kernel phase (counted as
        before the shift) that reads it after the shift, ``(p + t) mod S``.

        >>> polyphase_shift(4, 1).kernel_phases().tolist()
        [1, 2, 3, 0]
        """
        s = self.stride[axis]
        return (np.arange(s) + self.shift[axis]) % s


def polyphase_shift(stride, shift) -> PolyphaseShift:
    """The exact polyphase form of a strided layer (or stack) under an input shift.

    Law: ``D_S S_t = S_v D_S^(q)`` with ``q = (-t) mod S`` and ``v =
    ceil(t / S)``, because ``(D_S S_t y)[i] = y[S i - t] = y[S (i - v) + q]``.
    For a layer ``T = D_S C`` (``C``: the layer at stride 1; for a stack of
    forward layers ``S`` is the product of the strides and ``C`` the stack at
    stride 1, every later layer dilated by the strides before it) this gives
    ``T S_t x = S_v D_S^(q) C x`` on a cyclic grid with ``S | n`` and
    circular padding, and away from the boundary otherwise.

    ``stride`` is an int or tuple, a ConvSpec, or a list of forward ConvSpecs.

    >>> p = polyphase_shift(2, 3)
    >>> p.phase, p.output_shift, p.commutes
    ((1,), (2,), False)
    >>> polyphase_shift((2, 2), (4, -2)).commutes
    True

    Numerically: ``conv(roll(x, t))`` (stride ``S``, circular) equals
    ``roll(conv_stride1(x)[..., q::S], v)``.
    """
    if isinstance(stride, ConvSpec):
        stride = [stride]
    if isinstance(stride, (list, tuple)) and stride and all(
        isinstance(s, ConvSpec) for s in stride
    ):
        if any(s.transposed for s in stride):
            raise ValueError("stride must list forward layers only, but got a transposed layer")
        strides = [s.stride for s in stride]
        stride = tuple(math.prod(axis) for axis in zip(*strides))
    rank = len(stride) if isinstance(stride, (tuple, list)) else 1
    stride = _per_axis(stride, rank, "stride")
    shift = normalize_shift(shift, rank)
    phase = tuple((-t) % s for t, s in zip(shift, stride))
    out = tuple(-((-t) // s) for t, s in zip(shift, stride))
    return PolyphaseShift(stride, shift, phase, out)


# ------------------------------------------------------------------ filters
def binomial_filter(size: int, rank: int = 1) -> np.ndarray:
    """Zhang's (ICML 2019) binomial blur filter of ``size`` taps, exactly.

    ``a = [C(size-1, j)]`` normalised to sum 1 (``[1, 2, 1] / 4`` for size
    3), and for ``rank > 1`` its outer product with itself, as
    antialiased-cnns' ``Downsample`` builds ``filt = a[:, None] * a[None, :]``.
    Returned as an object array of ``fractions.Fraction`` (exact; the values
    are dyadic, so ``np.asarray(h, float)`` is exact too).

    >>> [str(v) for v in binomial_filter(3)]
    ['1/4', '1/2', '1/4']
    >>> binomial_filter(2, rank=2).tolist()
    [[Fraction(1, 4), Fraction(1, 4)], [Fraction(1, 4), Fraction(1, 4)]]
    """
    if not is_int(size) or not 1 <= size <= 7:
        raise ValueError(f"size must be an integer from 1 to 7 (Zhang's filters), but got {size!r}")
    if not is_int(rank) or not 1 <= rank <= 3:
        raise ValueError(f"rank must be 1, 2 or 3, but got {rank!r}")
    one = np.array([Fraction(math.comb(size - 1, j), 2 ** (size - 1)) for j in range(size)],
                   dtype=object)
    out = one
    for _ in range(rank - 1):
        out = np.multiply.outer(out, one)
    return out


_PAD_TYPES = {"reflect": "reflect", "refl": "reflect", "repl": "replicate",
              "replicate": "replicate", "zero": "zeros", "zeros": "zeros"}


@dataclass(frozen=True)
class BlurPool:
    """antialiased-cnns' ``Downsample`` as a layer: ``spec`` (depthwise) and
    its fixed exact ``weight`` (object array of Fractions, ``spec.weight_shape``)."""

    spec: ConvSpec
    weight: np.ndarray


def blurpool(channels: int, input_size, filt_size: int = 3, stride: int = 2,
             pad_type: str = "reflect") -> BlurPool:
    """antialiased-cnns' ``Downsample(pad_type, filt_size, stride, channels)`` as a ConvSpec.

    That module pads by ``((filt_size-1)//2, ceil((filt_size-1)/2))`` per
    axis (``pad_type`` "reflect", "repl" or "zero") and runs
    ``F.conv2d(pad(x), filt, stride=stride, groups=channels)`` with the
    binomial ``filt`` (:func:`binomial_filter`); so it is the depthwise
    layer returned here.  ``input_size`` fixes the rank (1, 2 or 3).

    >>> bp = blurpool(1, 8)
    >>> bp.spec.padding, bp.spec.padding_mode, bp.spec.output_size
    (((1, 1),), 'reflect', (4,))
    """
    if pad_type not in _PAD_TYPES:
        raise ValueError(f"pad_type must be one of {sorted(_PAD_TYPES)}, but got {pad_type!r}")
    input_size = normalize_size(input_size, "input_size")
    rank = len(input_size)
    h = binomial_filter(filt_size, rank)
    pad = ((filt_size - 1) // 2, filt_size // 2)
    spec = ConvSpec(channels, channels, filt_size, input_size=input_size, stride=stride,
                    padding=(pad,) * rank, groups=channels, padding_mode=_PAD_TYPES[pad_type])
    weight = np.empty(spec.weight_shape, dtype=object)
    weight[:, 0] = h
    return BlurPool(spec, weight)


# --------------------------------------------------------------- gain
@dataclass(frozen=True, eq=False)
class AliasingGain:
    """The exact aliasing gain of ``D_s C_h`` for one shift (see :func:`aliasing_gain`).

    Attributes
    ----------
    gain : float
        ``min_u ||D_s C_h S_t - S_u D_s C_h||_2``.
    output_shift : tuple of int
        A minimising ``u`` (the one closest to ``t / s``).
    norms : ndarray, shape ``size // stride``
        ``||D_s C_h S_t - S_u D_s C_h||_2`` for every output shift ``u``
        (indexed by ``u`` mod the output grid).
    """

    gain: float
    output_shift: tuple[int, ...]
    norms: np.ndarray


def aliasing_gain(filter, stride, shift, size) -> AliasingGain:
    """Exact worst-case aliasing of "filter, then subsample" under a shift.

    On a cyclic grid of ``size`` (``N`` per axis, ``s | N``, ``M = N / s``)
    with ``C_h`` the circular convolution by ``filter`` and ``D_s`` the
    subsampling, this is ``min_u ||D_s C_h S_t - S_u D_s C_h||_2``: how far
    the best output shift is from commuting, for the worst unit input.

    **Derivation.**  ``C_h`` commutes with ``S_t`` and ``S_u D_s = D_s
    S_{su}``, so ``E_u = D_s C_h S_t - S_u D_s C_h = D_s S_{su} C_g`` with
    ``g = S_r h - h`` and ``r = t - s u``; ``S_u`` on the left is unitary,
    so ``||E_u|| = ||D_s C_g||``.  Split ``g`` (and ``x``) into its ``s``
    polyphase components ``g_p[k] = g[s k + p]`` (``p`` per axis): ``D_s C_g``
    is the block row ``[C_{g_p}]`` of ``M``-point circulants, each acting on
    one input phase, and circulants share the Fourier basis, so
    ``||D_s C_g||^2 = max_w sum_p |G_p(w)|^2`` (``G_p``: the ``M``-point DFT
    of ``g_p``).  The components of the shifted filter are shifted components
    of ``h``: ``(S_r h)_p = S_{-c} h_q`` with ``q = (p - r) mod s``, ``c =
    floor((p - r) / s)``.  Hence, with ``H_p`` the DFT of ``h_p``,

        ||E_u||^2 = max_w  sum_p | exp(2 pi i w.c / M) H_q(w) - H_p(w) |^2 ,

    and the gain is the square root of its minimum over ``u`` (only ``t mod
    s`` matters: the ``r`` reached are the residues ``t + s Z``).  It
    depends on ``|H|`` only, so delays, flips and the padding offset of the
    filter do not change it.  ``t = 0 (mod s)`` gives 0.  Equivalently
    ``sum_p |G_p(w)|^2 = (1/s) sum_l |G(w + l M)|^2``, ``|G(f)| = 2
    |sin(pi f.r / N)| |H(f)|``.

    Parameters
    ----------
    filter : array-like
        The filter, with one axis per spatial axis (``len(size)``); numbers or
        Fractions (:func:`binomial_filter`), at most ``N`` taps per axis.
    stride, shift, size : int or tuple of int
        ``s``, ``t`` and ``N`` per axis.

    Returns
    -------
    AliasingGain
        ``.gain``, ``.output_shift`` (a minimiser), ``.norms`` (per ``u``).

    Examples
    --------
    Zhang's ``[1, 2, 1] / 4`` leaves ``1/sqrt(2)`` of an odd shift; no filter
    leaves ``sqrt(2)``:

    >>> round(aliasing_gain(binomial_filter(3), 2, 1, 16).gain, 12)
    0.707106781187
    >>> round(aliasing_gain([1], 2, 1, 16).gain, 12)
    1.414213562373
    >>> aliasing_gain(binomial_filter(3), 2, 4, 16).gain
    0.0

    The dense check is ``scipy.linalg.svdvals(A @ S_t - S_u @ A)[0]`` with
    ``A = D_s C_h`` built as a matrix.
    """
    h = np.asarray(filter, dtype=object)
    if h.dtype == object:
        try:
            h = np.array(h.tolist(), dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"filter must hold real numbers, but got {filter!r}") from None
    size = normalize_size(size)
    rank = len(size)
    if h.ndim != rank or h.size == 0:
        raise ValueError(
            f"filter must have one axis per spatial axis of size ({rank}), but got shape {h.shape}"
        )
    stride = _per_axis(stride, rank, "stride")
    shift = normalize_shift(shift, rank)
    if any(n % s for n, s in zip(size, stride)):
        raise ValueError(
            f"size must be divisible by stride on every axis (cyclic subsampling), but got "
            f"size={size}, stride={stride}"
        )
    if any(k > n for k, n in zip(h.shape, size)):
        raise ValueError(f"filter must fit the grid {size}, but has shape {h.shape}")
    out = tuple(n // s for n, s in zip(size, stride))
    n_u = math.prod(out)
    if n_u * n_u * math.prod(stride) > MAX_GAIN_WORK:
        raise ValueError(
            f"size must give at most {MAX_GAIN_WORK} terms (output grid^2 * stride), but "
            f"size={size}, stride={stride} gives {n_u * n_u * math.prod(stride)}"
        )
    grid = np.zeros(size)
    grid[tuple(slice(0, k) for k in h.shape)] = h
    # H[p_0, .., p_d, w_0, .., w_d]: the M-point DFT of polyphase component p.
    phases = grid.reshape(tuple(v for m, s in zip(out, stride) for v in (m, s)))
    phases = phases.transpose(*range(1, 2 * rank, 2), *range(0, 2 * rank, 2))
    H = np.fft.fftn(phases, axes=tuple(range(rank, 2 * rank)))

    u_all = np.indices(out).reshape(rank, -1).T  # every output shift
    per = max(1, CHUNK_ELEMENTS // (math.prod(stride) * n_u))
    norms = np.empty(n_u)
    for lo in range(0, n_u, per):  # chunks of output shifts, bounded memory
        u = u_all[lo:lo + per]
        q_idx, expo = [], 0
        for a in range(rank):
            s, n, m = stride[a], size[a], out[a]
            r = (shift[a] - s * u[:, a]) % n  # (U,)
            p = np.arange(s)
            q = (p[None, :] - r[:, None]) % s  # (U, s_a)
            c = (p[None, :] - r[:, None]) // s
            w = np.arange(m)
            shape_q = [len(u)] + [1] * rank
            shape_q[1 + a] = s
            q_idx.append(q.reshape(shape_q))
            shape_e = [len(u)] + [1] * (2 * rank)
            shape_e[1 + a], shape_e[1 + rank + a] = s, m
            # exponent in units of 1/M_a, reduced mod M_a before the float step
            expo = expo + (((c[:, :, None] * w[None, None, :]) % m) / m).reshape(shape_e)
        Hq = H[tuple(q_idx)]  # (U, s..., M...)
        G = np.exp(2j * np.pi * expo) * Hq - H[None]
        lam = (np.abs(G) ** 2).sum(axis=tuple(range(1, 1 + rank)))
        norms[lo:lo + per] = lam.reshape(len(u), -1).max(axis=1)
    norms = np.sqrt(norms).reshape(out)
    best = norms.min()
    ties = np.argwhere(np.isclose(norms, best, rtol=1e-12, atol=1e-15))
    # among ties, the output shift closest (cyclically) to t / s
    target = np.array([t / s for t, s in zip(shift, stride)])
    wrap = (ties - target + np.array(out) / 2) % np.array(out) - np.array(out) / 2
    pick = ties[np.argmin(np.abs(wrap).sum(axis=1))]
    u_best = tuple(  # the representative of u (mod M) nearest to t / s
        int(v + m * round((t / s - v) / m)) for v, m, t, s in zip(pick, out, shift, stride)
    )
    return AliasingGain(float(best), u_best, norms)


# ------------------------------------------------------------------ APS
def aps_select(x, stride, *, p: float = 2) -> tuple[np.ndarray, tuple[int, ...]]:
    """Adaptive polyphase sampling (Chaman & Dokmanic 2021): the phase of
    largest ``l_p`` norm.

    ``x`` is a numpy array whose last ``len(stride)`` axes are spatial (the
    norm runs over all other axes too: channels); each axis must be divisible
    by its stride.  Returns ``(x[..., q0::s0, q1::s1], q)`` with ``q`` the
    first phase (row-major) of largest norm, as ``argmax`` picks it.

    >>> y, q = aps_select(np.array([0., 5., 1., 4.]), 2)
    >>> y.tolist(), q
    ([5.0, 4.0], (1,))
    """
    x = np.asarray(x)
    rank = len(stride) if isinstance(stride, (tuple, list)) else 1
    stride = _per_axis(stride, rank, "stride")
    if x.ndim < rank:
        raise ValueError(f"x must have at least {rank} axes, but got shape {x.shape}")
    spatial = x.shape[x.ndim - rank:]
    if any(n % s for n, s in zip(spatial, stride)):
        raise ValueError(
            f"x's spatial shape {spatial} must be divisible by stride {stride} for "
            "polyphase components of equal size"
        )
    phases = list(np.ndindex(*stride))
    lead = (slice(None),) * (x.ndim - rank)
    comps = [x[lead + tuple(slice(q, None, s) for q, s in zip(ph, stride))] for ph in phases]
    norms = [np.linalg.norm(c.ravel(), ord=p) for c in comps]
    best = int(np.argmax(norms))
    return comps[best], phases[best]


@dataclass(frozen=True)
class APSCheck:
    """When APS commutes with a shift (see :func:`check_aps`).

    Attributes
    ----------
    size, stride, shift : tuple of int
    mode : {"zero", "cyclic"}
    equivariant : bool
        ``APS(S_t x) = S_v APS(x)`` with ``v = output_shift(q)`` for every
        ``x`` whose largest-norm phase ``q`` is unique; a global pool after it
        is then invariant.
    reason : str
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    shift: tuple[int, ...]
    mode: str
    equivariant: bool
    reason: str

    def phase_after(self, phase) -> tuple[int, ...]:
        """The phase APS picks for ``S_t x`` when it picked ``phase`` for ``x``:
        ``(q + t) mod s``."""
        phase = normalize_shift(phase, len(self.stride), "phase")
        return tuple((q + t) % s for q, t, s in zip(phase, self.shift, self.stride))

    def output_shift(self, phase) -> tuple[int, ...]:
        """``v = floor((q + t) / s)``: ``APS(S_t x) = S_v APS(x)``, which
        depends on the input through ``q``."""
        phase = normalize_shift(phase, len(self.stride), "phase")
        return tuple((q + t) // s for q, t, s in zip(phase, self.shift, self.stride))


def check_aps(size, stride, shift, mode: str = "cyclic") -> APSCheck:
    """Exactly when adaptive polyphase sampling commutes with a shift.

    A cyclic shift permutes the polyphase components when ``s | n``: phase
    ``p`` of ``S_t x`` is phase ``(p - t) mod s`` of ``x``, cyclically shifted
    by ``-floor((p - t) / s)``.  Norms are permuted with them, so if ``x`` has
    a unique largest-norm phase ``q``, APS picks ``(q + t) mod s`` for
    ``S_t x`` and returns ``S_v APS(x)`` with ``v = floor((q + t) / s)``:
    equivariant with an input-dependent output shift, and invariant after
    global pooling, for any stride (the implementation's limit to stride 2,
    truly_shift_invariant_cnns #10, is not a mathematical one).  It fails

    * for zero-fill shifts (content leaves the grid and norms change),
    * when ``s`` does not divide ``n`` (the components differ in length and a
      cyclic shift does not permute them),
    * on ties: with two largest-norm phases of different content, ``argmax``
      keeps the first in index order, which a shift reorders.

    >>> check_aps(8, 2, 3).equivariant
    True
    >>> check_aps(8, 2, 3).output_shift(1)
    (2,)
    >>> print(check_aps(7, 2, 1).reason)
    stride (2) does not divide size (7): a cyclic shift does not permute the polyphase components
    """
    size = normalize_size(size)
    rank = len(size)
    stride = _per_axis(stride, rank, "stride")
    shift = normalize_shift(shift, rank)
    mode = normalize_mode(mode)
    trivial = all(t % n == 0 for t, n in zip(shift, size)) if mode == "cyclic" else not any(shift)
    if trivial:
        ok, reason = True, "the shift is the identity on this grid"
    elif mode == "zero":
        ok, reason = False, (
            "zero-fill shifts drop content, so the phases' norms change and APS may pick "
            "another phase"
        )
    elif any(n % s for n, s in zip(size, stride)):
        ok, reason = False, (
            f"stride ({', '.join(map(str, stride))}) does not divide size "
            f"({', '.join(map(str, size))}): a cyclic shift does not permute the "
            "polyphase components"
        )
    else:
        ok, reason = True, (
            "a cyclic shift permutes the polyphase components and their norms: APS picks "
            "phase (q + t) mod s, exact whenever the largest-norm phase q is unique"
        )
    return APSCheck(size, stride, shift, mode, ok, reason)
