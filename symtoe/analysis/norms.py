"""Certified operator norms of convolution layers: ``lower <= ||T||_2 <= upper``.

**Exact layers.**  Layers whose matrix is (polyphase) block circulant
(:func:`symtoe.analysis.spectrum.fft_rule`) have their norm exactly: the
largest singular value of the DFT blocks (Sedghi, Gupta & Long, ICLR 2019).

**Lower bound.**  ``lower = ||T v||`` for an explicit unit vector ``v``
(:attr:`OperatorNorm.vector`), evaluated in float64 with torch's own
convolutions.  ``v`` is the top Ritz vector of a block Krylov method on
``A = T^T T`` (:mod:`symtoe.analysis.krylov`), matrix-free, started from the
top singular vectors of the circulant majorant below (restricted to the
layer's input), run in float32 and then corrected in mixed precision (float64
residuals, float32 correction spaces) until the bracket closes.

**Small layers** (at most :data:`FULL_SPACE` inputs) are solved on their
whole input space: ``T^T T`` applied to every unit vector, Rayleigh-Ritz on
all of them, so the Ritz values are the eigenvalues (up to the eigensolver's
backward error, added to ``upper``).

**Upper bounds.**  Every other non-circulant layer has a *circulant majorant*: a
block-circulant ``C`` with computable singular values and a factor ``m``
such that ``sigma_i(T)^2 <= m sigma_i(C)^2`` for every ``i``:

* zero padding, stride ``s``: ``T`` is a submatrix of the circular layer with
  the same taps on any grid ``N >= n + max(p_left, p_right)`` per axis that
  is a multiple of ``s`` with ``N/s >= output_size``: a padded read
  ``m = i*s - p_left + j*d`` lies in ``[-p_left, n - 1 + p_right]``, so
  ``m mod N`` is a real input only when ``m`` is, and rows ``i < output_size``
  are rows of the polyphase circulant.  Singular values of a submatrix are at
  most those of the matrix (Horn & Johnson, *Topics*, Cor. 3.1.3); ``m = 1``.
* circular padding that is not circulant (rows of the circulant dropped or
  repeated): ``T = R K`` with ``K`` the (polyphase) circulant on the input
  grid and ``R`` a row selection; ``T^T T = K^T R^T R K <= m K^T K`` (Loewner)
  with ``m`` the largest row multiplicity, so ``lambda_i(T^T T) <= m
  lambda_i(K^T K)`` (Weyl monotonicity).
* reflect / replicate: ``T = V P`` with ``P = F.pad(., mode)`` the copy map and
  ``V`` the unpadded layer on the padded grid (a submatrix of a circulant as
  above); ``sigma_i(V P) <= ||P|| sigma_i(V)`` and ``||P||^2`` is the most
  copies of one input (:func:`symtoe.analysis.spectrum.copies`).
* transposed: ``T`` is the transpose of the first rows of the forward layer
  on the transposed layer's output grid: its singular values are at most
  that layer's, whose majorant is above.

Two certified upper bounds follow, and ``upper`` is the smaller:

1. **Embedding**: ``||T|| <= sqrt(m) ||C||`` (Sedghi et al. 2019 for zero padding).
2. **Lehmann bound** (Lehmann 1949; Maehly 1952), sharper by orders of
   magnitude when it applies.  *Theorem.*  Let ``A`` be symmetric,
   ``rho >= lambda_{k+1}(A)``, and ``Y`` an ``n x k`` matrix of full rank with
   ``M1 = Y^T (A - rho) Y`` positive definite.  Then ``lambda_1(A) <= rho +
   tau`` with ``tau`` the largest eigenvalue of ``M1^-1 M2``,
   ``M2 = Y^T (A - rho)^2 Y``.  *Proof.*  Let ``B = A - rho`` (assume ``rho``
   is not an eigenvalue; the general case follows by continuity in ``rho``).
   ``B`` has at most ``k`` positive eigenvalues, since ``lambda_{k+1}(A) <=
   rho``.  On ``W = B range(Y)`` (dimension ``k``, as ``M1`` is definite),
   ``<w, B^-1 w> / <w, w> = x^T M1 x / x^T M2 x`` for ``w = B Y x``, which is
   positive, with minimum ``1/tau``.  By Courant-Fischer the minimum of the
   Rayleigh quotient of ``B^-1`` over a ``k``-dimensional space is at most the
   ``k``-th largest eigenvalue of ``B^-1``; it is positive, so ``B^-1`` has
   ``k`` positive eigenvalues ``1/beta_1 <= ... <= 1/beta_k`` and the ``k``-th
   largest is ``1/beta_1`` with ``beta_1 = lambda_1(A) - rho``.  Hence ``1/tau
   <= 1/beta_1``, i.e. ``lambda_1(A) <= rho + tau``.  []
   Here ``A = T^T T``, ``rho = m sigma_{k+1}(C)^2`` (certified by the majorant)
   and ``Y`` the top ``k`` Ritz vectors; with Ritz values ``theta_i`` and
   residuals ``R`` the bound is about ``theta_1 + ||R||^2 / (theta_k - rho)``:
   it closes quadratically as the Krylov method converges.  It applies when
   the layer's ``k``-th singular value exceeds the majorant's ``(k+1)``-th for
   some ``k`` within the block: true on large grids (several majorant grids
   are tried), rarely on grids of a few pixels, where the embedding bound
   stays.

Rounding: every quantity entering an upper bound is computed in float64 and
the bound is raised by a relative :data:`ROUNDING` (``1e-12``), far above the
backward errors of the float64 eigensolvers and DFTs involved (about
``dimension * 1.1e-16``).

torch is imported here.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.counts import count_parameters
from ..core.spec import ConvSpec, check_spec
from .krylov import Ritz, gram_operator, orthonormal_rows, rayleigh_ritz, top_eigenpairs
from .spectrum import (
    Circulant,
    _forward_of,
    check_int,
    check_weight,
    circulant_of,
    copies,
)

__all__ = [
    "NormRow", "OperatorNorm", "majorants", "norm_row", "operator_norm", "reshaped_kernel_norm",
]

#: Relative margin added to every certified upper bound for float64 rounding.
ROUNDING = 1e-12
#: Layers with at most this many inputs are solved on the whole input space:
#: ``T^T T`` applied to every unit vector, Rayleigh-Ritz on all of them.
FULL_SPACE = 256
#: Largest Krylov block: the Lehmann bound may use up to this many vectors.
KMAX = 12
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Majorant:
    """A block circulant ``C`` and factor ``m`` with ``sigma_i(T)^2 <= m
    sigma_i(C)^2`` for all ``i`` (see the module docstring).

    ``side`` says which of ``C``'s singular vectors live in the layer's input
    space (``"right"``: ``C``'s input grid, the layer's input starting at
    ``offset``; ``"left"``: ``C``'s output grid, for transposed layers).
    """

    circulant: Circulant
    factor: int
    side: str
    offset: tuple[int, ...]
    reason: str


def _ceil_to(x: int, s: int) -> int:
    return s * -(-x // s)


def majorants(spec: ConvSpec, w: torch.Tensor, *, grids: int = 2) -> list[Majorant]:
    """The circulant majorants of a non-circulant layer (``grids`` embedding
    grids where the grid is free).  ``w`` is :func:`check_weight`'s kernel."""
    rank, side = spec.rank, "right"
    if spec.transposed:
        spec, side = _forward_of(spec), "left"
    left = tuple(p for p, _ in spec.padding)
    zero = (0,) * rank
    if spec.padding_mode == "circular":
        strides, factor = [], 1
        for n, o, s in zip(spec.input_size, spec.output_size, spec.stride):
            step = s if n % s == 0 else 1
            rows = (np.arange(o) * s // step) % (n // step)
            strides.append(step)
            factor *= int(np.bincount(rows).max())
        circ = Circulant(w, spec.groups, spec.input_size, tuple(strides), left, spec.dilation)
        reason = "rows of the circulant on the input grid" + (
            f", repeated: factor {factor}" if factor > 1 else "")
        return [Majorant(circ, factor, side, zero, reason)]
    if spec.padding_mode == "zeros":
        need = [n + max(pl, pr) for n, (pl, pr) in zip(spec.input_size, spec.padding)]
        factor, offset, reason = 1, zero, "submatrix of the circular layer on grid {}"
    else:  # reflect / replicate: the unpadded layer on the padded grid, after the copy map
        need = [n + pl + pr for n, (pl, pr) in zip(spec.input_size, spec.padding)]
        factor, offset, left = copies(spec), left, zero
        reason = (f"copy map (||P||^2 = {factor}) then a submatrix of the circular layer "
                  "on grid {}")
    base = [
        _ceil_to(max(x, o * s), s) for x, o, s in zip(need, spec.output_size, spec.stride)
    ]
    out = []
    for extra in range(grids):
        grid = tuple(b + extra * s for b, s in zip(base, spec.stride))
        circ = Circulant(w, spec.groups, grid, spec.stride, left, spec.dilation)
        out.append(Majorant(circ, factor, side, offset, reason.format(grid)))
    return out


@dataclass(frozen=True)
class OperatorNorm:
    """The spectral norm ``||T||_2`` of a layer, bracketed: ``lower <= ||T||_2 <= upper``.

    Attributes
    ----------
    lower : float
        ``||T v||`` for the unit vector :attr:`vector` (float64).
    upper : float
        A certified upper bound (see :mod:`symtoe.analysis.norms`).
    exact : bool
        ``True`` for circulant layers: ``lower == upper`` is the norm.
    converged : bool
        The bracket met ``rtol`` (:attr:`certified`), or the lower bound met
        it by its Krylov residual (``min(r, r^2 / gap) <= 2 rtol theta`` for
        the top Ritz pair of ``T^T T``).
    certified : bool
        ``upper - lower <= rtol * upper``: the norm is known to ``rtol``.
    vector : torch.Tensor
        Unit float64 input (shape ``(C_in, *input_size)``) attaining ``lower``.
    bound : str
        How ``upper`` was proven: ``"circulant"`` (exact), ``"lehmann"`` or
        ``"embedding"``, and the majorant used.
    grid : tuple of int
        The grid of the circulant behind ``upper``.
    matvecs : int
        Products with ``T^T T`` (one vector each; float32 and float64).
    """

    lower: float
    upper: float
    exact: bool
    converged: bool
    certified: bool
    vector: torch.Tensor = field(repr=False, compare=False)
    bound: str = ""
    grid: tuple[int, ...] = ()
    matvecs: int = 0

    @property
    def estimate(self) -> float:
        """Alias of :attr:`lower`."""
        return self.lower

    @property
    def value(self) -> float:
        """The norm when exact, otherwise :attr:`lower`."""
        return self.upper if self.exact else self.lower

    @property
    def width(self) -> float:
        """``(upper - lower) / upper`` (0 when exact)."""
        return (self.upper - self.lower) / self.upper if self.upper else 0.0


# ------------------------------------------------------------------- helpers
def _to_input(maj: Majorant, spec: ConvSpec, vectors: torch.Tensor) -> torch.Tensor:
    """Restrict the majorant's mode vectors to the layer's input, flattened rows."""
    sizes = spec.input_size
    crop = (slice(None), slice(None)) + tuple(
        slice(o, o + n) for o, n in zip(maj.offset, sizes)
    )
    return vectors[crop].reshape(vectors.shape[0], -1)


def _lehmann(ritz: Ritz, tops, k_max: int) -> tuple[float, str, tuple[int, ...]] | None:
    """The best Lehmann bound on ``lambda_1(T^T T)`` over majorants and ``k``."""
    theta = ritz.values
    best = None
    for maj, values in tops:
        for k in range(1, min(k_max, len(values) - 1, len(theta)) + 1):
            mu = float(values[k]) ** 2
            dim = max(maj.circulant.block_shape[1:])
            rho = maj.factor * (mu + 16 * dim * _EPS * float(values[0]) ** 2)
            gap = float(theta[k - 1]) - rho
            if gap <= 1e-9 * float(theta[0]):
                continue
            y, ay = ritz.vectors[:k], ritz.images[:k]
            m1 = y @ ay.T - rho * (y @ y.T)
            m1 = (m1 + m1.T) / 2
            d = ay - rho * y
            m2 = d @ d.T
            try:
                chol = torch.linalg.cholesky(m1)
            except RuntimeError:  # not definite after rounding: skip this k
                continue
            inv = torch.linalg.solve_triangular(chol, torch.eye(k, dtype=m1.dtype), upper=False)
            tau = float(torch.linalg.eigvalsh(inv @ m2 @ inv.T)[-1])
            # rounding of M1, M2 (float64) as the bound sees it
            slack = 64 * _EPS * float(theta[0]) * (1 + (float(theta[0]) - rho) / gap)
            bound = rho + tau + slack
            if best is None or bound < best[0]:
                best = (bound, f"lehmann (k={k}; {maj.reason})", maj.circulant.grid)
    return best


def _full_space(spec: ConvSpec, w: torch.Tensor, rtol: float) -> OperatorNorm:
    """Rayleigh-Ritz on the whole input space (``Y = I``): ``H = T^T T`` itself,
    so ``lambda_1(H)`` is ``||T||^2`` up to the eigensolver's backward error
    (at most ``16 n eps ||H||``, added to the upper bound)."""
    size = spec.in_channels * math.prod(spec.input_size)
    apply64 = gram_operator(spec, w)
    ritz = rayleigh_ritz(apply64, torch.eye(size, dtype=torch.float64))
    theta = max(float(ritz.values[0]), 0.0)
    v = ritz.vectors[0] / ritz.vectors[0].norm()
    vector = v.reshape(1, spec.in_channels, *spec.input_size)
    lower = float(torch.linalg.vector_norm(apply64.forward(vector)))
    upper = max(math.sqrt(theta * (1 + 16 * size * _EPS)) * (1 + ROUNDING), lower)
    return OperatorNorm(lower, upper, False, True, upper - lower <= rtol * upper, vector[0],
                        f"full space (Rayleigh-Ritz on all {size} input directions)", (), size + 1)


def _exact(spec: ConvSpec, w: torch.Tensor) -> OperatorNorm:
    circ = circulant_of(spec, w)
    values, modes = circ.top(1)
    value = float(values[0])
    side = "left" if spec.transposed else "right"
    x = circ.mode_vectors(modes[:1], side)[0] if value > 0 else None
    if x is None:
        x = torch.zeros(spec.in_channels, *spec.input_size, dtype=torch.float64)
        x.view(-1)[0] = 1
    x = x / x.norm()
    return OperatorNorm(value, value, True, True, True, x, "circulant", circ.grid, 0)


# ---------------------------------------------------------------- the bracket
def operator_norm(
    spec: ConvSpec,
    weight,
    *,
    rtol: float = 1e-8,
    seed: int = 0,
    max_matvecs: int = 5000,
    block: int = 4,
) -> OperatorNorm:
    """The largest singular value of the layer's matrix, bracketed and certified.

    Circulant layers (:func:`symtoe.analysis.spectrum.fft_rule`) are exact,
    layers with at most :data:`FULL_SPACE` inputs are solved on their whole
    input space.  For every other layer (zero / circular / reflect / replicate padding,
    stride, groups, dilation, transposed, 1-3-D) ``lower <= ||T||_2 <=
    upper`` with ``lower`` attained by an explicit vector and ``upper`` proven
    (embedding or Lehmann bound; proofs in :mod:`symtoe.analysis.norms`).
    Work stops when ``upper - lower <= rtol * upper``, when the lower bound
    has converged to ``rtol`` by its Krylov residual and no sharper upper
    bound is in reach, or after ``max_matvecs`` products.  The matrix is never
    formed: the layer is applied with ``F.conv*`` / ``F.conv_transpose*``.

    Parameters
    ----------
    spec : ConvSpec
    weight : tensor or array-like of shape ``spec.weight_shape``
        Real and finite.
    rtol : float
        Target relative width of the bracket, ``0 <= rtol < 1``.
    seed : int
        Seed of the random vectors that complete the start block.
    max_matvecs : int
        Budget of products with ``T^T T`` (one vector each).
    block : int
        Krylov block size (at least 2).

    Returns
    -------
    OperatorNorm

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=8, padding=1)
    >>> norm = operator_norm(spec, [[[1.0, 2.0, 3.0]]])
    >>> norm.exact, norm.converged, norm.upper - norm.lower <= 1e-8 * norm.upper
    (False, True, True)
    >>> round(norm.lower, 6)    # numpy.linalg.norm(M, 2) of the 8 x 8 matrix
    5.794433
    >>> operator_norm(spec.replace(padding_mode="circular"), [[[1.0, 2.0, 3.0]]]).value
    6.0...
    """
    check_spec(spec)
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating)) or not (
        0 <= rtol < 1
    ):
        raise ValueError(f"rtol must be a number with 0 <= rtol < 1, but got {rtol!r}")
    seed = check_int(seed, "seed", minimum=0)
    max_matvecs = check_int(max_matvecs, "max_matvecs", minimum=1)
    block = check_int(block, "block", minimum=2)
    w = check_weight(spec, weight)
    if circulant_of(spec, w) is not None:
        return _exact(spec, w)
    with _threads_for(spec):
        return _bracket(spec, w, rtol, seed, max_matvecs, block)


@contextmanager
def _threads_for(spec: ConvSpec):
    """One torch thread for small layers: for convolutions of a few hundred
    thousand multiply-adds the thread pool costs more than it saves (ten
    times more on a loaded machine).  The setting is restored afterwards."""
    macs = count_parameters(spec).nonzeros
    before = torch.get_num_threads()
    if macs < 2**20 and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bracket(spec: ConvSpec, w: torch.Tensor, rtol: float, seed: int, max_matvecs: int,
             block: int) -> OperatorNorm:
    """The bracket of a non-circulant layer (see :func:`operator_norm`)."""

    size = spec.in_channels * math.prod(spec.input_size)
    if size <= FULL_SPACE:
        return _full_space(spec, w, rtol)

    # ------------------------------------------------------ majorants, bounds
    b = min(block, size)
    majs = majorants(spec, w)
    # big blocks (C >= 256: small grids, where the Lehmann bound rarely
    # applies) keep the block as given, and compute other grids only if in reach
    big = min(majs[0].circulant.block_shape[1:]) >= 256
    kmax = min(b if big else max(b, KMAX), size - 1)
    values0, modes = majs[0].circulant.top(kmax + 1)
    tops = [(majs[0], values0)]
    if values0[0] == 0:
        x = torch.zeros(size, dtype=torch.float64)
        x[0] = 1
        return OperatorNorm(0.0, 0.0, True, True, True,
                            x.reshape(spec.in_channels, *spec.input_size),
                            "embedding (zero kernel)", majs[0].circulant.grid, 0)
    # other grids may give a smaller rho for the Lehmann bound
    if not big:
        tops += [(m, m.circulant.top(kmax + 1)[0]) for m in majs[1:]]

    def needed(theta: float) -> int | None:
        """The least k for which some majorant's (k+1)-th value is below the top
        Ritz value (the Lehmann bound needs k vectors above it); None if no
        k <= kmax (with 2% to spare where other grids are not computed yet)."""
        slack = 1.02 if len(tops) < len(majs) else 1.0
        for k in range(1, kmax + 1):
            if rho(k) < theta / slack:
                return k
        return None

    def rho(k: int) -> float:
        """The smallest certified bound on lambda_{k+1}(T^T T) among the majorants."""
        return min((m.factor * float(v[k]) ** 2 for m, v in tops if len(v) > k),
                   default=math.inf)

    def hopeless(r: Ritz) -> bool:
        """No Lehmann bound in reach: none of k <= kmax is (see ``needed``), or
        the block is wide enough, its values have settled (residual below 1e-4,
        values to about 1e-8) and none of its k has theta_k > rho(k)."""
        theta = r.values
        k = needed(float(theta[0]))
        if k is None:
            return True
        settled_values = float(r.residuals.max() / theta[0]) < 1e-4
        return k < theta.numel() and settled_values and not any(
            float(theta[j - 1]) > rho(j) for j in range(k, theta.numel()))

    # ------------------------------------------------------------ start block
    maj = majs[0]
    pool = orthonormal_rows(_to_input(maj, spec, maj.circulant.mode_vectors(modes, maj.side)))
    if pool.shape[0] < kmax + 1:  # restricted modes can coincide: complete at random
        gen = torch.Generator().manual_seed(seed)
        extra = torch.randn(kmax + 1, size, generator=gen, dtype=torch.float64)
        pool = torch.cat([pool, orthonormal_rows(extra, pool)[: kmax + 1 - pool.shape[0]]])

    # ------------------- phase 1: float32 convolutions, float64 linear algebra
    apply32 = gram_operator(spec, w, dtype=torch.float32)
    apply64 = gram_operator(spec, w)
    history: list[float] = []

    def settled(r: Ritz) -> bool:
        if not float(r.values[0]) > 0:  # T^T T vanishes on the block: nothing to refine
            return True
        history.append(float(r.residuals[: max(1, r.values.numel() // 2)].max() / r.values[0]))
        stalled = len(history) > 2 and history[-1] > 0.8 * min(history[:-2])
        # no Lehmann bound in reach: stop as soon as the lower bound has converged
        theta, r1 = float(r.values[0]), float(r.residuals[0])
        gap = theta - float(r.values[-1])
        err = min(r1, r1 * r1 / gap) if gap > 0 else r1
        return history[-1] < 3e-6 or stalled or (hopeless(r) and err <= 0.5 * rtol * theta)

    ritz = rayleigh_ritz(apply32, pool[:b])
    k = needed(float(ritz.values[0]))  # from the start block: usually about right
    if k is not None and k >= b:
        ritz = rayleigh_ritz(apply32, pool[: min(k + 2, kmax + 1)], ritz.matvecs)
    b = ritz.vectors.shape[0]
    ritz = top_eigenpairs(apply32, ritz, degree=16, max_matvecs=max_matvecs, done=settled)
    if len(tops) < len(majs) and needed(float(ritz.values[0])) is not None:
        tops += [(m, m.circulant.top(kmax + 1)[0]) for m in majs[1:]]
    k = needed(float(ritz.values[0]))
    if k is not None and k >= b and ritz.matvecs < max_matvecs:
        # the Lehmann bound needs more vectors than the block has: widen it
        # with the majorant's next modes and go on
        b = min(k + 2, kmax + 1)
        wider = torch.cat([ritz.vectors, orthonormal_rows(pool, ritz.vectors)])[:b]
        history.clear()
        ritz = rayleigh_ritz(apply32, wider, ritz.matvecs)
        ritz = top_eigenpairs(apply32, ritz, degree=16, max_matvecs=max_matvecs, done=settled)
    embed_maj, embed_values = min(tops, key=lambda t: t[0].factor * float(t[1][0]) ** 2)
    embed = math.sqrt(embed_maj.factor) * float(embed_values[0]) * (1 + ROUNDING)

    # ------------------- phase 2: float64 products, certify as we go
    found: dict = {}

    def certify(r: Ritz) -> bool:
        lehmann = _lehmann(r, tops, b)
        upper, bound, grid = embed, f"embedding ({embed_maj.reason})", embed_maj.circulant.grid
        if lehmann is not None and math.sqrt(lehmann[0]) * (1 + ROUNDING) < upper:
            upper = math.sqrt(lehmann[0]) * (1 + ROUNDING)
            bound, grid = lehmann[1], lehmann[2]
        theta, r1 = float(r.values[0]), float(r.residuals[0])
        lower = math.sqrt(max(theta, 0.0))
        gap = theta - float(r.values[-1])
        err = min(r1, r1 * r1 / gap) if gap > 0 else r1
        certified = upper - lower <= rtol * upper
        by_residual = err <= 2 * rtol * theta
        found.update(ritz=r, upper=upper, bound=bound, grid=grid,
                     converged=certified or by_residual)
        history.append(r1 / theta if theta > 0 else 0.0)
        stalled = len(history) > 3 and history[-1] > 0.5 * min(history[:-3])
        return certified or (by_residual and lehmann is None) or stalled or theta <= 0

    history.clear()
    ritz = rayleigh_ritz(apply64, ritz.vectors, ritz.matvecs)
    ritz = top_eigenpairs(apply64, ritz, degree=8, max_matvecs=max_matvecs, done=certify)
    certify(ritz)
    v = found["ritz"].vectors[0]
    vector = (v / v.norm()).reshape(1, spec.in_channels, *spec.input_size)
    lower = float(torch.linalg.vector_norm(apply64.forward(vector)))  # ||T v||, float64
    upper = max(found["upper"], lower)
    return OperatorNorm(
        lower, upper, False, found["converged"], upper - lower <= rtol * upper, vector[0],
        found["bound"], found["grid"], ritz.matvecs + 1,
    )


# ------------------------------------------------------------ report rows
def reshaped_kernel_norm(weight, *, transposed: bool = False) -> float:
    """``||W.reshape(W.shape[dim], -1)||_2`` (float64), ``dim = 1`` for a
    transposed layer's weight and ``0`` otherwise: the value that
    ``torch.nn.utils.spectral_norm`` (and
    ``torch.nn.utils.parametrizations.spectral_norm``) divides a weight by,
    once its power iteration has converged.  For a convolution it is *not*
    the layer's norm (pytorch issue #99149).

    >>> reshaped_kernel_norm([[[3.0, 4.0]]])   # one output channel: the kernel's length
    5.0
    """
    if isinstance(transposed, bool) is False:
        raise TypeError(f"transposed must be True or False, but got {transposed!r}")
    w = weight.detach() if isinstance(weight, torch.Tensor) else torch.as_tensor(
        np.asarray(weight, dtype=np.float64))
    if w.ndim < 2:
        raise ValueError(f"weight must have at least 2 dimensions, but got shape {tuple(w.shape)}")
    if w.is_complex() or not bool(torch.isfinite(w).all()):
        raise ValueError("weight must be real and finite")
    w = w.to(torch.float64)
    if transposed:
        w = w.transpose(0, 1)
    return float(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2))


@dataclass(frozen=True)
class NormRow:
    """One layer's norms, side by side (the per-layer core of a spectral report).

    Attributes
    ----------
    kind : str
        ``"conv"`` or ``"linear"``.
    lower, upper : float
        The certified bracket of :func:`operator_norm` (equal for linear
        layers and circulant convolutions).
    exact, converged : bool
    bound : str
        How ``upper`` was proven.
    circular : float or None
        The exact norm of the same kernel with circular padding
        (``spec.replace(padding_mode="circular")``), where that layer is
        circulant; ``None`` where it is not (or for linear layers).
    reshaped : float
        :func:`reshaped_kernel_norm`: what ``torch.nn.utils.spectral_norm`` uses.
    """

    kind: str
    lower: float
    upper: float
    exact: bool
    converged: bool
    bound: str
    circular: float | None
    reshaped: float


def norm_row(spec: ConvSpec | None, weight, *, rtol: float = 1e-8) -> NormRow:
    """The norms of one layer: a convolution (``spec``) or, with ``spec=None``,
    a linear layer whose ``weight`` is ``(out_features, in_features)``.

    >>> row = norm_row(ConvSpec(1, 1, 3, input_size=8, padding=1), [[[1.0, 2.0, 3.0]]])
    >>> row.lower <= row.upper, row.circular, round(row.reshaped, 4)
    (True, 6.0, 3.7417)
    >>> norm_row(None, [[3.0, 0.0], [0.0, 4.0]]).upper
    4.0
    """
    if spec is None:
        w = weight.detach() if isinstance(weight, torch.Tensor) else torch.as_tensor(
            np.asarray(weight, dtype=np.float64))
        if w.ndim != 2:
            raise ValueError(
                f"weight must be (out_features, in_features) for a linear layer, but got shape "
                f"{tuple(w.shape)}"
            )
        if w.is_complex() or not bool(torch.isfinite(w).all()):
            raise ValueError("weight must be real and finite")
        value = float(torch.linalg.matrix_norm(w.to(torch.float64), ord=2))
        return NormRow("linear", value, value, True, True, "singular value", None, value)
    check_spec(spec)
    norm = operator_norm(spec, weight, rtol=rtol)
    circular = None
    if spec.padding_mode == "circular":
        circular = norm.upper if norm.exact else None
    elif not spec.transposed:
        try:
            other = spec.replace(padding_mode="circular")
        except ValueError:  # padding larger than the input: torch refuses it too
            other = None
        if other is not None and circulant_of(other, check_weight(other, weight)) is not None:
            circular = operator_norm(other, weight).upper
    reshaped = reshaped_kernel_norm(weight, transposed=spec.transposed)
    return NormRow("conv", norm.lower, norm.upper, norm.exact, norm.converged, norm.bound,
                   circular, reshaped)
