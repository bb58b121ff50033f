"""Singular values of convolution layers, from their structure.

**Circulant law** (Sedghi, Gupta & Long, ICLR 2019, "The Singular Values of
Convolutional Layers").  A circular layer whose output grid is the input grid
(stride 1, total padding ``d*(k-1)`` per axis) is block circulant: with the
kernel wrapped onto the ``n``-grid,
``kappa[o, c, t] = sum_j w[o, c, j] [t == j*d - p_left (mod n)]``, its matrix
is ``T[(o, i), (c, m)] = kappa[o, c, m - i]`` and the DFT block-diagonalises
it.  Its singular values are the union over frequencies ``f`` of the singular
values of the ``C_out x C_in`` matrices ``kappa_hat[:, :, f]``.  One channel:
the eigenvalues are the DFT of the kernel, ``lambda_f = sum_t kappa[t]
w^(f t)``, ``w = exp(2 pi i / n)``.

**Strided circular layers** (polyphase).  With stride ``s`` and
``output_size * s == n`` the rows are every ``s``-th row of that circulant,
``T[i, u*s + ph] = kappa[(u - i)*s + ph]``: splitting the columns by phase
``ph`` gives ``s`` circulants side by side, and the singular values are the
union over the ``n/s`` frequencies of those of ``C_out x (C_in * s)`` blocks
(``C_in * prod(s)`` in N-D).  Phases that no tap reads are zero columns of
the matrix: they are left out of the blocks and give zero singular values.
**Groups**: the matrix is block diagonal over groups; the spectrum is the
union of the groups' spectra.

**Which layers are circulant** (:func:`fft_rule`): on every axis
``output_size * stride == input_size``, and either ``padding_mode="circular"``
or no padding at all (then no tap wraps, whatever the mode: 1x1 layers, a
patchify layer with kernel = stride).  A transposed layer without padding is
the transpose of such a layer when its forward layer is.

**How the blocks are computed.**  Each tap ``j`` lands on one polyphase
position ``u_j`` and phase ``ph_j`` of the grid, so the block at frequency
``f`` is ``B(f)[o, (c, ph)] = sum_{j: ph_j = ph} w[o, c, j]
exp(-2 pi i f . u_j / M)`` (``M = n / s``): one complex matrix product of
``(frequencies x taps)`` phases with the ``(taps x C_out C_in)`` kernel,
chunked over frequencies so that memory stays bounded (no ``n``-sized
kernel array is ever formed).  For a real kernel ``B(-f) = conj(B(f))``,
so only half the frequencies of the last axis are computed and the others
counted twice.  Each block's values come from ``eigvalsh`` of its smaller
Gram matrix; blocks with a singular value below ``1e-4`` of their largest
(where the Gram matrix would lose digits) are redone with ``svdvals``.
Where it is cheaper, the Gram matrices come straight from products of
pairs of taps (:attr:`Circulant.tap_grams`), without the blocks.  For the
``top`` largest values only, a Cholesky factorisation proves most blocks
too small to matter, and only the others are decomposed
(:meth:`Circulant.top`).

Blocks of side :data:`BLAS_SIDE` or more go one by one through scipy's BLAS
and LAPACK (``zherk``, ``zpotrf``, ``eigvalsh``; their threads follow
``OPENBLAS_NUM_THREADS``, not ``torch.set_num_threads``); smaller ones are
batched in torch.  torch is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..core.pattern import fold_positions
from ..core.spec import ConvSpec, check_spec, is_int

__all__ = [
    "DENSE_LIMIT",
    "Circulant",
    "circulant_of",
    "fft_rule",
    "singular_values",
]

METHODS = ("auto", "fft", "dense")
#: Largest matrix side (rows or columns) for which ``singular_values`` runs a
#: dense SVD without being asked for a bigger budget (``dense_limit=``).
DENSE_LIMIT = 4096
#: Bytes of DFT blocks computed at once.
CHUNK_BYTES = 32 * 2**20
#: Most values that ``singular_values(top=...)`` finds by pruning blocks
#: (:meth:`Circulant.top`, which keeps a row per value); more are sorted from all.
TOP_BY_PRUNING = 4096
#: Smallest block side for which Gram matrices and Cholesky tests run block
#: by block through scipy's BLAS / LAPACK (``zherk``, ``zpotrf``) instead of
#: batched through torch.
BLAS_SIDE = 24
#: Gram matrices come from tap products (:attr:`Circulant.tap_grams`) when
#: those take less than this share of the flops of a ``zherk`` per block.
TAP_GRAM_SHARE = 0.5
#: Most bytes that the tap products ``Q_d`` may hold (they are not chunked).
TAP_GRAM_BYTES = 256 * 2**20
#: Blocks with a squared singular value below this fraction of their largest
#: one are redone with svdvals (the Gram matrix loses digits there).
_GRAM_FLOOR = 1e-8


# ------------------------------------------------------------------- weights
def check_weight(spec: ConvSpec, weight, *, name: str = "weight", detach: bool = True):
    """``weight`` as a float64 torch tensor of ``spec.weight_shape``, validated.

    Real, finite, of the right shape; reversed along the spatial axes when
    ``spec.flip`` (so that the result is torch's cross-correlation kernel).
    With ``detach=False`` a tensor keeps its autograd graph.
    """
    if isinstance(weight, torch.Tensor):
        w = weight.detach() if detach else weight
    else:
        try:
            w = torch.as_tensor(np.asarray(weight))
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name} must be a real numeric tensor or array, but got {type(weight).__name__}"
                f" of {np.asarray(weight, dtype=object).dtype}"
            ) from None
    if w.is_complex() or w.dtype == torch.bool or not (w.is_floating_point() or w.dtype in (
        torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{name} must be a real float or integer tensor, but got dtype {w.dtype}")
    if w.layout != torch.strided or w.device.type == "meta":
        raise TypeError(
            f"{name} must be a dense tensor with values, but got layout {w.layout} "
            f"on {w.device}"
        )
    if tuple(w.shape) != tuple(spec.weight_shape):
        raise ValueError(
            f"{name} must have shape spec.weight_shape={tuple(spec.weight_shape)}, "
            f"but got {tuple(w.shape)}"
        )
    w = w.to("cpu", torch.float64)
    if not math.isfinite(float(w.detach().sum())) and not bool(torch.isfinite(w).all()):
        raise ValueError(f"{name} must be finite, but it has NaN or infinite entries")
    if spec.flip:
        w = w.flip(tuple(range(2, 2 + spec.rank)))
    return w


def check_int(value, name: str, *, minimum: int = 0) -> int:
    """``value`` as an int (numpy integers accepted, bools refused) ``>= minimum``."""
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, but got {value!r}")
    if value < minimum:
        rule = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{name} must be {rule}, but got {value!r}")
    return int(value)


# ----------------------------------------------------------------- circulants
@dataclass(frozen=True)
class Circulant:
    """A polyphase block-circulant layer: the circular convolution on ``grid``
    whose output ``i`` reads ``(i*s + j*d - left) mod grid`` with stride ``s``
    dividing the grid.  ``weight`` is torch's forward kernel ``(C_out,
    C_in/groups, *k)`` (float64).  Its matrix has ``C_out * prod(grid / s)``
    rows and ``C_in * prod(grid)`` columns.
    """

    weight: torch.Tensor
    groups: int
    grid: tuple[int, ...]
    stride: tuple[int, ...]
    left: tuple[int, ...]
    dilation: tuple[int, ...]

    def __post_init__(self):
        for n, s in zip(self.grid, self.stride):
            if n % s:
                raise ValueError(
                    f"grid must be a multiple of stride, but got {self.grid}, {self.stride}"
                )

    @property
    def rank(self) -> int:
        return len(self.grid)

    @property
    def phases_grid(self) -> tuple[int, ...]:
        """``M = grid / stride``: the frequencies per axis."""
        return tuple(n // s for n, s in zip(self.grid, self.stride))

    @cached_property
    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(u, phase)``: per flat tap, its polyphase position (rank, K) and
        its flat phase among the phases that some tap reads (K,)."""
        us, phs = [], []
        for k, d, left, n, s in zip(
            self.weight.shape[2:], self.dilation, self.left, self.grid, self.stride
        ):
            t = (np.arange(k) * d - left) % n
            us.append(t // s)
            phs.append(t % s)
        mesh_u = np.meshgrid(*us, indexing="ij")
        mesh_p = np.meshgrid(*phs, indexing="ij")
        u = np.stack([m.ravel() for m in mesh_u])
        flat = np.ravel_multi_index(tuple(m.ravel() for m in mesh_p), self.stride)
        _, phase = np.unique(flat, return_inverse=True)
        return u, phase.reshape(-1)

    @property
    def read_phases(self) -> int:
        return int(self.taps[1].max()) + 1

    @property
    def block_shape(self) -> tuple[int, int, int]:
        """``(groups, C_out/groups, (C_in/groups) * read phases)``."""
        c_out, c_in_g = self.weight.shape[:2]
        return self.groups, c_out // self.groups, c_in_g * self.read_phases

    @property
    def shape(self) -> tuple[int, int]:
        c_out, c_in_g = self.weight.shape[:2]
        return c_out * math.prod(self.phases_grid), c_in_g * self.groups * math.prod(self.grid)

    @cached_property
    def phase_offsets(self) -> np.ndarray:
        """Per-axis phase (rank, read phases) of each read phase, in block order."""
        phs = [
            (np.arange(k) * d - left) % n % s
            for k, d, left, n, s in zip(
                self.weight.shape[2:], self.dilation, self.left, self.grid, self.stride
            )
        ]
        flat = np.ravel_multi_index(
            tuple(m.ravel() for m in np.meshgrid(*phs, indexing="ij")), self.stride
        )
        return np.stack(np.unravel_index(np.unique(flat), self.stride))

    def frequencies(self, half: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(f, count)``: frequencies (rank, F) and how many frequencies each
        stands for (2 for one of a conjugate pair, when ``half``).  A
        one-tap kernel (a 1x1 layer, strided or not) has the same block at
        every frequency up to a unit phase: frequency 0 stands for all."""
        m = self.phases_grid
        if math.prod(self.weight.shape[2:]) == 1:
            return np.zeros((len(m), 1), dtype=np.int64), np.array([math.prod(m)])
        last = m[-1] // 2 + 1 if half else m[-1]
        axes = [np.arange(x) for x in m[:-1]] + [np.arange(last)]
        f = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")])
        count = np.ones(f.shape[1], dtype=np.int64)
        if half:
            paired = (f[-1] > 0) & (2 * f[-1] != m[-1])
            count[paired] = 2
        return f, count

    def kernel_matrix(self, weight=None) -> torch.Tensor:
        """The kernel laid out as ``(taps, groups, C_out/g, (C_in/g) * phases)``."""
        w = self.weight if weight is None else weight
        c_out, c_in_g = w.shape[:2]
        k = math.prod(w.shape[2:])
        phase = torch.from_numpy(self.taps[1])
        p = self.read_phases
        out = w.new_zeros(k, c_out, c_in_g, p)
        taps = torch.arange(k)
        out[taps, :, :, phase] = w.reshape(c_out, c_in_g, k).permute(2, 0, 1)
        g, co, ci = self.block_shape
        return out.reshape(k, g, co, ci)

    def phases(self, f: np.ndarray, dtype=torch.complex128, u: np.ndarray | None = None
               ) -> torch.Tensor:
        """``exp(-2 pi i f . u_j / M)``, shape (F, taps), exact integer angles
        (``u``: other integer offsets than the taps', shape (rank, J))."""
        u = self.taps[0] if u is None else u
        turns = np.zeros((f.shape[1], u.shape[1]))
        for a, m in enumerate(self.phases_grid):
            turns = turns + ((f[a][:, None] * u[a][None, :]) % m) / m
        angle = torch.from_numpy(-2 * np.pi * turns)
        return torch.polar(torch.ones_like(angle), angle).to(dtype)

    def blocks(self, f: np.ndarray, weight=None) -> torch.Tensor:
        """The DFT blocks at frequencies ``f``: shape (F, groups, C_out/g, C_in/g * phases).

        Differentiable in ``weight`` (default: ``self.weight``)."""
        if weight is None and min(self.block_shape[1:]) >= BLAS_SIDE:
            out = torch.from_numpy(_complex_times_real(self.phases(f).numpy(), self._tap_matrix))
        else:
            flat = self._complex_kernel if weight is None else self._flat(weight)
            out = self.phases(f, flat.dtype) @ flat
        return out.reshape(f.shape[1], *self.block_shape)

    @cached_property
    def _tap_matrix(self) -> np.ndarray:
        """:meth:`kernel_matrix` transposed, real, shape (block entries, taps):
        a view of the weight when every tap is in one phase."""
        if self.read_phases == 1:
            return self.weight.detach().reshape(-1, self.taps[0].shape[1]).numpy()
        return np.ascontiguousarray(
            self.kernel_matrix().detach().reshape(self.taps[0].shape[1], -1).numpy().T)

    def _flat(self, weight) -> torch.Tensor:
        kernel = self.kernel_matrix(weight)
        dtype = torch.complex128 if kernel.dtype == torch.float64 else torch.complex64
        return kernel.reshape(kernel.shape[0], -1).to(dtype)

    @cached_property
    def _complex_kernel(self) -> torch.Tensor:
        """:meth:`kernel_matrix` of ``self.weight``, flat and complex, made once."""
        return self._flat(self.weight)

    def chunks(self, f=None, count=None):
        """Yield ``(f, count)`` in chunks of at most :data:`CHUNK_BYTES` of
        blocks and Gram matrices (default: the half spectrum,
        :meth:`frequencies`)."""
        if f is None:
            f, count = self.frequencies()
        g, co, ci = self.block_shape
        held = 2 * min(co, ci) ** 2 if self.tap_grams is not None else co * ci + min(co, ci) ** 2
        per = 16 * g * held  # complex entries per frequency, with workspace
        size = max(1, CHUNK_BYTES // max(per, 1))
        for start in range(0, f.shape[1], size):
            yield f[:, start:start + size], count[start:start + size]

    def block_values(self, f: np.ndarray, top: int | None = None,
                     grams: torch.Tensor | None = None) -> torch.Tensor:
        """Singular values of the blocks at frequencies ``f``, descending,
        shape (F, groups, r) with ``r = min(block sides)`` (or ``top`` of
        them); ``grams``: their :meth:`grams_at` when already made."""
        grams = self.grams_at(f) if grams is None else grams
        r = grams.shape[-1]
        keep = r if top is None else min(top, r)
        if r < BLAS_SIDE:
            ev = torch.linalg.eigvalsh(grams).flip(-1)[..., :keep]
        else:
            from scipy.linalg import eigvalsh

            subset = None if keep == r else [r - keep, r - 1]
            ev = torch.from_numpy(np.stack([
                eigvalsh(g, check_finite=False, subset_by_index=subset)[::-1]
                for g in grams.reshape(-1, r, r).numpy()
            ])).reshape(*grams.shape[:-2], keep)
        ev = ev.clamp(min=0)
        low = ev[..., -1] < _GRAM_FLOOR * ev[..., 0]
        if bool(low.any()):
            ev[low] = torch.linalg.svdvals(self.blocks(f)[low])[..., :keep] ** 2
        return ev.sqrt()

    def grams(self, blocks: torch.Tensor) -> torch.Tensor:
        """Per block, a Hermitian matrix whose eigenvalues are the block's
        squared singular values: the smaller Gram matrix (``B B^H`` or ``B^H
        B``) or its conjugate.  Only the lower triangle is guaranteed (the
        BLAS path leaves the upper one zero): all that ``eigvalsh`` and
        ``cholesky`` read.  Blocks with a side of at
        least :data:`BLAS_SIDE` go one by one through BLAS ``zherk`` (half
        the work of a product), smaller ones batched through torch."""
        a, b = blocks.shape[-2:]
        if min(a, b) < BLAS_SIDE:
            return blocks @ blocks.mH if a <= b else blocks.mH @ blocks
        from scipy.linalg.blas import zherk

        flat = blocks.detach().reshape(-1, a, b).contiguous().numpy()
        out = np.empty((flat.shape[0], min(a, b), min(a, b)), dtype=np.complex128)
        for i, block in enumerate(flat):  # block.T is Fortran-ordered: no copy
            out[i] = zherk(1.0, block.T, trans=2 if a <= b else 0, lower=1)
        return torch.from_numpy(out).reshape(*blocks.shape[:-2], *out.shape[1:])

    @staticmethod
    def below(grams: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Whether a Cholesky factorisation of ``shift I - G`` succeeds, per
        Gram matrix ``G`` (lower triangle read) and shift (broadcast): proof,
        up to the rounding that the caller's margin covers, that ``lambda_1(G)
        < shift``.  Large matrices go one by one through LAPACK ``zpotrf``."""
        shift = shift.expand(grams.shape[:-2])
        side = grams.shape[-1]
        if side < BLAS_SIDE:
            eye = torch.eye(side, dtype=grams.dtype)
            return torch.linalg.cholesky_ex(shift[..., None, None] * eye - grams).info == 0
        from scipy.linalg.lapack import zpotrf

        flat = grams.reshape(-1, side, side).numpy()
        ok = np.empty(flat.shape[0], dtype=bool)
        diagonal = np.arange(side)
        for i, (gram, s) in enumerate(zip(flat, shift.reshape(-1).tolist())):
            m = -gram.T  # Fortran order: LAPACK works in place
            m[diagonal, diagonal] += s
            ok[i] = zpotrf(m, lower=0, overwrite_a=1, clean=0)[1] == 0
        return torch.from_numpy(ok).reshape(shift.shape)

    def grams_at(self, f: np.ndarray) -> torch.Tensor:
        """:meth:`grams` of the blocks at frequencies ``f``, from the tap
        products (:attr:`tap_grams`) when that is cheaper than the blocks."""
        terms = self.tap_grams
        if terms is None:
            return self.grams(self.blocks(f))
        offsets, q = terms[:2]
        out = _complex_times_real(self.phases(f, u=offsets).numpy(), q.reshape(-1, q.shape[-1]))
        return torch.from_numpy(out).reshape(f.shape[1], *q.shape[:-1])

    @cached_property
    def tap_grams(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """The Gram matrices ``B(f) B(f)^H`` as trigonometric polynomials in
        ``f``, or ``None`` where forming the blocks is cheaper, where the
        products would hold more than :data:`TAP_GRAM_BYTES`, or where ``B^H
        B`` is the smaller Gram matrix.

        ``B(f) = sum_j W_j exp(-2 pi i f . u_j / M)`` with tap ``j`` in the
        columns of its phase, so ``B(f) B(f)^H = sum_d exp(-2 pi i f . d / M)
        Q_d`` with ``Q_d = sum W_j W_j'^T`` over the taps of one phase with
        ``u_j - u_j' = d (mod M)``: a real product per pair of taps, once,
        instead of a complex Gram matrix per frequency (about 10x less work
        for a 3x3 stride-2 layer, 3x for a stride-1 layer at 14 x 14).

        Returns ``(d, Q, bound, terms)``: offsets (rank, D), ``Q`` (groups,
        r, r, D), per group ``|| sum_p A_p A_p^T ||_2 <= sum_p
        ||A_p||_F^2`` with ``A_p`` the sum of ``|W_j|`` over phase ``p``'s
        taps, and the count of products behind an entry of ``Q``-sums:
        every entry of the computed ``G(f)`` is a sum of at most ``terms``
        products of kernel entries and unit phases, so ``|fl(G) - G| <=
        gamma_terms sum_p A_p A_p^T`` entrywise.
        """
        g_count, co, ci = self.block_shape
        if co > ci or co < BLAS_SIDE or math.prod(self.weight.shape[2:]) == 1:
            return None
        u, phase = self.taps
        taps = u.shape[1]
        c_in_g = self.weight.shape[1]
        j1, j2 = np.nonzero(phase[:, None] == phase[None, :])
        m = np.array(self.phases_grid)[:, None]
        offsets, which = np.unique((u[:, j1] - u[:, j2]) % m, axis=1, return_inverse=True)
        which = which.reshape(-1)
        freqs = self.frequencies()[0].shape[1]
        by_taps = (len(j1) + taps) * co * co * c_in_g + 4 * offsets.shape[1] * freqs * co * co
        if by_taps >= TAP_GRAM_SHARE * 4 * freqs * co * co * ci:  # zherk of every block
            return None
        if 2 * 8 * offsets.shape[1] * g_count * co * co > TAP_GRAM_BYTES:  # Q and its transposes
            return None
        from scipy.linalg.blas import dgemm

        w = np.ascontiguousarray(
            self.weight.detach().reshape(g_count, co, c_in_g, taps).permute(3, 0, 1, 2).numpy())
        offset_of = dict(zip(zip(j1.tolist(), j2.tolist()), which.tolist()))
        q = np.zeros((offsets.shape[1], g_count, co, co))
        q_t = np.zeros_like(q)  # the transposed terms, added once at the end
        for g in range(g_count):
            for j in range(taps):  # W_j' W_j^T for the j' >= j of j's phase, stacked
                mates = j2[(j1 == j) & (j2 >= j)]
                stack = np.ascontiguousarray(w[mates, g]).reshape(-1, c_in_g)
                prod = dgemm(1.0, w[j, g].T, stack.T, trans_a=1).T.reshape(len(mates), co, co)
                for k, mate in enumerate(mates.tolist()):
                    q[offset_of[mate, j], g] += prod[k]
                    if mate != j:  # W_j W_j'^T is its transpose
                        q_t[offset_of[j, mate], g] += prod[k]
        q += q_t.swapaxes(-1, -2)
        q = np.ascontiguousarray(np.moveaxis(q, 0, -1))
        a = np.zeros((self.read_phases, g_count, co, c_in_g))
        np.add.at(a, phase, np.abs(w))
        bound = (a ** 2).sum(axis=(0, 2, 3))
        return offsets, q, bound, c_in_g + taps * taps + offsets.shape[1] + 4

    def top(self, count: int) -> tuple[np.ndarray, list[tuple[np.ndarray, int, int, int]]]:
        """The ``count`` largest singular values (descending, a conjugate pair
        counted twice) and the modes ``(f, group, index, multiplicity)`` they
        come from (the ``index``-th singular value of group ``g``'s block at
        frequency ``f``).

        Only the blocks that can hold one of them are decomposed
        (``eigvalsh``), the frequencies taken in a fixed shuffle.  Once
        ``count`` values are known, their smallest, ``tau``, is at most the
        ``count``-th largest value of the layer, and a further block is
        decomposed only if a Cholesky factorisation of ``(tau - margin) I -
        G`` of its Gram matrix ``G`` fails (``tau`` rises with what it
        finds): one that succeeds proves ``lambda_1(G) < tau``, so the block
        holds none of the ``count`` largest.  Large blocks go one frequency
        at a time, so only new largest values (about ``log F`` of ``F``
        frequencies in a shuffle) are decomposed; for ``count == 1`` not even
        those: the sweep tests against the largest Lanczos lower bound
        (a Ritz value) of the blocks that failed so far, and at the end only
        those of them that the final bound cannot exclude are decomposed
        (usually one).  Small blocks go a chunk at a time, seeded with the
        blocks of largest ``x^H G x`` after a few power steps.  ``margin``
        covers the rounding of the Gram matrix (from the
        blocks: ``|fl(G) - G| <= gamma_c |B|^H |B|``, whose norm is at most
        ``gamma_c trace(G)``; from tap products: :attr:`tap_grams`) and of
        the factorisation (Higham, *Accuracy and Stability of Numerical
        Algorithms*, Thm. 10.5: ``R^H R = A + dA``, ``|dA| <= gamma_(r+1)
        |R^H| |R|``, norm at most ``r gamma_(r+1) ||A||``).

        Values are float64 ``eigvalsh`` of the Gram matrices (``svdvals``
        where a block is ill-conditioned), as for :meth:`singular_values`.
        """
        f_all, mult_all = self.frequencies()
        # a fixed shuffle: neighbouring frequencies have close values, so a
        # sweep in order would meet a new largest value (a decomposition) often
        order = np.random.default_rng(0).permutation(f_all.shape[1])
        f_all, mult_all = f_all[:, order], mult_all[order]
        g_count, co, ci = self.block_shape
        eps = np.finfo(np.float64).eps
        r_side, c_side = sorted((co, ci))
        rows: list = []
        tau = 0.0  # 0 until count values are known

        def take(f, mult, grams):
            nonlocal rows, tau
            v = self.block_values(f, count, grams).numpy()  # (F, G, r)
            flat = v.reshape(-1)
            idx = np.argpartition(flat, flat.size - min(count, flat.size))[-count:]
            fi, g, j = np.unravel_index(idx, v.shape)
            rows = _largest(rows + [(float(flat[i]), f[:, a], int(b), int(c), int(mult[a]))
                                    for i, a, b, c in zip(idx, fi, g, j)], count)
            found = np.repeat([r[0] for r in rows], [r[4] for r in rows])
            tau = found[count - 1] ** 2 if len(found) >= count else 0.0

        terms = self.tap_grams

        def shift(grams, tau):
            """``tau - margin`` per Gram matrix."""
            trace = grams.diagonal(dim1=-2, dim2=-1).real.sum(-1).numpy()
            rounding = (c_side + 2) * trace if terms is None else (terms[3] + 2) * terms[2]
            return torch.from_numpy(
                tau - 4 * eps * ((r_side + 2) ** 2 * (tau + trace) + rounding))

        pending = []  # count == 1: (lower bound, f, mult) of the blocks not yet excluded
        lower = 0.0  # count == 1: the largest lower bound so far
        for f, mult in self.chunks(f_all, mult_all):
            grams = self.grams_at(f)
            if r_side >= BLAS_SIDE:  # one frequency at a time
                for i in range(f.shape[1]):
                    if count > 1:  # decompose the new records
                        if tau == 0 or not self.below(grams[i], shift(grams[i], tau)).all():
                            take(f[:, i:i + 1], mult[i:i + 1], grams[i:i + 1])
                    elif lower == 0 or not self.below(grams[i], shift(grams[i], lower)).all():
                        bound = max(_lanczos_lower(g) for g in grams[i].numpy())
                        pending.append((bound, f[:, i:i + 1], mult[i:i + 1]))
                        lower = max(lower, bound)
                continue
            todo = np.ones(f.shape[1], dtype=bool)
            if tau == 0:  # seed: the blocks of largest lower bound that cover count
                x = torch.ones(*grams.shape[:-1], 1, dtype=grams.dtype)
                for _ in range(4):
                    x = grams @ x
                    x = x / torch.linalg.vector_norm(x, dim=-2, keepdim=True).clamp(min=1e-300)
                estimate = (x.mH @ grams @ x).real.reshape(f.shape[1], -1).amax(1).numpy()
                order = np.argsort(-estimate, kind="stable")
                cover = np.cumsum(mult[order] * g_count * r_side)
                first = np.sort(order[: int(np.searchsorted(cover, count)) + 1])
                take(f[:, first], mult[first], grams[first])
                todo[first] = False
            if tau > 0 and todo.any():
                todo &= ~self.below(grams, shift(grams, tau)).all(-1).numpy()
            if todo.any():
                take(f[:, todo], mult[todo], grams[todo])
        # count == 1: the pending blocks, best first, against the final bound
        for _, f, mult in sorted(pending, key=lambda p: -p[0]):
            grams = self.grams_at(f)
            if tau == 0 or not self.below(grams[0], shift(grams[0], max(tau, lower))).all():
                take(f, mult, grams)
        values = np.repeat([r[0] for r in rows], [r[4] for r in rows])[:count]
        return values, [r[1:] for r in rows]

    def mode_vectors(self, modes, side: str = "right") -> torch.Tensor:
        """Real vectors (Re and Im) of the singular vectors of ``modes``, on
        the circulant's input grid (``side="right"``: shape (2m, C_in, *grid))
        or output grid (``"left"``: (2m, C_out, *grid/stride))."""
        m = self.phases_grid
        c_out, c_in_g = self.weight.shape[:2]
        g_count, co, ci = self.block_shape
        out = []
        svds: dict = {}
        for f, g, j, _ in modes:
            key = (tuple(int(x) for x in f), g)
            if key not in svds:  # one SVD per block, however many of its values are wanted
                svds[key] = torch.linalg.svd(self.blocks(f[:, None])[0, g], full_matrices=False)
            u, _, vh = svds[key]
            waves = [torch.polar(torch.ones(x, dtype=torch.float64),
                                 torch.arange(x, dtype=torch.float64) * (-2 * math.pi * fa / x))
                     for x, fa in zip(m, f)]
            wave = waves[0]
            for w_a in waves[1:]:
                wave = wave[..., None] * w_a
            if side == "left":
                x = torch.zeros(c_out, *m, dtype=torch.complex128)
                x[g * co:(g + 1) * co] = u[:, j].reshape(co, *([1] * len(m))) * wave
            else:
                z = vh[j].conj().reshape(c_in_g, -1)
                x = torch.zeros(c_in_g * g_count, *self.grid, dtype=torch.complex128)
                part = x[g * c_in_g:(g + 1) * c_in_g]
                for p in range(z.shape[1]):
                    offsets = self.phase_offsets[:, p]
                    sl = (slice(None),) + tuple(
                        slice(int(ph), None, s) for ph, s in zip(offsets, self.stride)
                    )
                    part[sl] = z[:, p].reshape(c_in_g, *([1] * len(m))) * wave
            scale = float(x.abs().max())
            out += [part for part in (x.real, x.imag) if float(part.abs().max()) > 1e-8 * scale]
        return torch.stack(out)

    def singular_values(self, top: int | None = None) -> np.ndarray:
        """All (or the ``top`` largest, by :meth:`top` when there are at most
        :data:`TOP_BY_PRUNING` of them) singular values, descending, with the
        zeros of never-read phases.  Exact up to rounding (float64)."""
        rows, cols = self.shape
        want = min(rows, cols) if top is None else min(top, rows, cols)
        if top is not None and want <= TOP_BY_PRUNING:
            values = self.top(want)[0]
        else:
            parts = [np.repeat(self.block_values(f).reshape(len(count), -1).numpy(),
                               count, axis=0).ravel() for f, count in self.chunks()]
            values = np.sort(np.concatenate(parts))[::-1]
        return np.concatenate([values[:want], np.zeros(max(0, want - len(values)))])


def _complex_times_real(waves: np.ndarray, real: np.ndarray) -> np.ndarray:
    """``waves @ real.T``, complex (F, N), from a complex (F, J) and a real
    C-ordered (N, J) array: two real BLAS products (``real`` is read as the
    Fortran-ordered J x N matrix, without a copy).  scipy's BLAS, the one
    that the Gram and Cholesky steps use, so no two thread pools compete."""
    from scipy.linalg.blas import dgemm

    out = np.empty((waves.shape[0], real.shape[0]), dtype=np.complex128)
    out.real = dgemm(1.0, real.T, waves.real.T, trans_a=1).T
    out.imag = dgemm(1.0, real.T, waves.imag.T, trans_a=1).T
    return out


def _lanczos_lower(gram: np.ndarray, steps: int = 12) -> float:
    """A lower bound on the largest eigenvalue of the Hermitian matrix whose
    lower triangle ``gram`` holds: the largest Ritz value of ``steps``
    Lanczos steps (a Rayleigh quotient, so never above it, up to rounding)."""
    from scipy.linalg import eigvalsh_tridiagonal
    from scipy.linalg.blas import zhemv

    side = gram.shape[0]
    upper = gram.T  # Fortran order; its upper triangle holds conj(G): the same eigenvalues
    x = np.random.default_rng(side).standard_normal(side).astype(np.complex128)
    x /= np.linalg.norm(x)
    previous, beta = np.zeros_like(x), 0.0
    alphas, betas = [], []
    for _ in range(min(steps, side)):
        y = zhemv(1.0, upper, x, lower=0)
        alphas.append(float(np.vdot(x, y).real))
        y -= alphas[-1] * x + beta * previous
        beta = float(np.linalg.norm(y))
        if beta <= 1e-12 * max(abs(alphas[-1]), 1e-300):
            break
        betas.append(beta)
        previous, x = x, y / beta
    return float(eigvalsh_tridiagonal(np.array(alphas), np.array(betas[: len(alphas) - 1]))[-1])


def _largest(rows: list, count: int) -> list:
    """The rows ``(value, ..., multiplicity)`` of largest value that cover ``count``."""
    rows = sorted(rows, key=lambda r: -r[0])
    cover = np.cumsum([r[-1] for r in rows])
    return rows[: int(np.searchsorted(cover, count)) + 1]


def circulant_of(spec: ConvSpec, weight: torch.Tensor) -> Circulant | None:
    """The :class:`Circulant` whose matrix is ``spec``'s (transposed, for a
    transposed spec), or ``None`` when :func:`fft_rule` says there is none."""
    if fft_rule(spec) is not None:
        return None
    if spec.transposed:
        spec = _forward_of(spec)
    return Circulant(
        weight, spec.groups, spec.input_size, spec.stride,
        tuple(p for p, _ in spec.padding), spec.dilation,
    )


def _forward_of(spec: ConvSpec) -> ConvSpec:
    """The forward layer whose matrix's first rows, transposed, are a
    transposed layer's matrix: input size = the transposed layer's output."""
    return ConvSpec(
        spec.out_channels, spec.in_channels, spec.kernel_size,
        input_size=spec.output_size, stride=spec.stride, padding=spec.padding,
        dilation=spec.dilation, groups=spec.groups,
    )


def fft_rule(spec: ConvSpec) -> str | None:
    """``None`` when ``spec``'s matrix is (polyphase) block circulant, else the
    rule it breaks (see the module docstring).

    >>> fft_rule(ConvSpec(2, 3, 3, input_size=8, padding=1, padding_mode="circular"))
    >>> fft_rule(ConvSpec(4, 8, 1, input_size=8, stride=2))   # 1x1 stride 2: any mode
    >>> fft_rule(ConvSpec(1, 1, 3, input_size=8, padding=1))
    "padding_mode must be 'circular' (or the padding 0), but got 'zeros' with padding ((1, 1),)"
    """
    check_spec(spec)
    padded = any(p for pair in spec.padding for p in pair)
    if spec.transposed:
        if padded:
            return (
                "a transposed layer is circulant only without padding, but got "
                f"padding={spec.padding}"
            )
        forward = _forward_of(spec)
        if forward.output_size != spec.input_size:
            return (
                "output_padding must not add rows that the forward layer never "
                f"writes, but got output_padding={spec.output_padding}"
            )
        rule = fft_rule(forward)
        return None if rule is None else f"its forward layer is not circulant: {rule}"
    if spec.padding_mode != "circular" and padded:
        return (
            "padding_mode must be 'circular' (or the padding 0), but got "
            f"{spec.padding_mode!r} with padding {spec.padding}"
        )
    for n, o, s in zip(spec.input_size, spec.output_size, spec.stride):
        if o * s != n:
            return (
                "output_size * stride must equal input_size on every axis (a circulant, "
                "or its polyphase rows), but got output_size="
                f"{spec.output_size}, stride={spec.stride}, input_size={spec.input_size}"
            )
    return None


def copies(spec: ConvSpec) -> int:
    """``||P||^2`` of the copy map ``x -> F.pad(x, mode)`` of a reflect /
    replicate / circular layer: the most padded positions one input feeds,
    multiplied over the axes (one fold: :func:`symtoe.core.pattern.fold_positions`)."""
    total = 1
    for n, (pl, pr) in zip(spec.input_size, spec.padding):
        col, _ = fold_positions(np.arange(-pl, n + pr), n, spec.padding_mode)
        total *= int(np.bincount(col, minlength=n).max())
    return total


# ------------------------------------------------------------ singular values
def _dense_cost(rows: int, cols: int) -> str:
    small, large = sorted((rows, cols))
    gib = rows * cols * 8 / 2**30
    flops = 4 * large * small**2 + 8 * small**3 / 3
    return f"a dense SVD of the {rows} x {cols} matrix ({gib:.3g} GiB, about {flops:.2g} flops)"


def singular_values(
    spec: ConvSpec,
    weight,
    method: str = "auto",
    *,
    top: int | None = None,
    dense_limit: int = DENSE_LIMIT,
) -> np.ndarray:
    """Singular values of the layer's matrix, in descending order.

    ``method="fft"``: the union over frequencies of the singular values of the
    layer's DFT blocks (Sedghi, Gupta & Long, ICLR 2019; polyphase blocks for
    stride ``s``; a union over groups), for the layers :func:`fft_rule`
    accepts; otherwise ValueError.  ``method="dense"``:
    ``torch.linalg.svdvals`` of :func:`symtoe.numeric_matrix`, for matrices
    with at most ``dense_limit`` rows and columns (refused from the sizes
    before anything is built).  ``method="auto"``: fft where it applies,
    dense otherwise.

    Parameters
    ----------
    spec : ConvSpec
    weight : tensor or array-like of shape ``spec.weight_shape``
        Real and finite; computed in float64.
    method : {"auto", "fft", "dense"}
    top : int, optional
        Only the ``top`` largest values.  The FFT path then decomposes only
        the blocks that can hold one of them (a Cholesky test excludes the
        others, :meth:`Circulant.top`) and never holds the whole spectrum.
    dense_limit : int
        Largest matrix side for the dense SVD (default :data:`DENSE_LIMIT`).

    Returns
    -------
    ndarray of float64, length ``min(*spec.matrix_shape)`` (or ``top``)
        Equal to ``scipy.linalg.svdvals(M)`` of the matrix ``M`` whose
        columns are the layer (``F.conv*`` after ``F.pad``) applied to one-hot
        inputs.

    Examples
    --------
    One channel, kernel ``[1, 2, 3]`` centred on 4 points: the eigenvalues are
    ``lambda_f = 1 w^-f + 2 + 3 w^f`` with ``w = i``, i.e. ``6, 2+2i, -2, 2-2i``
    (moduli ``6, 2.83, 2, 2.83``).

    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> singular_values(spec, [[[1.0, 2.0, 3.0]]]).round(4)
    array([6.    , 2.8284, 2.8284, 2.    ])
    >>> singular_values(spec, [[[1.0, 2.0, 3.0]]], top=1)
    array([6.])
    >>> np.allclose(singular_values(spec, [[[1.0, 2.0, 3.0]]], method="dense"),
    ...             [6, 8 ** 0.5, 8 ** 0.5, 2])
    True
    """
    check_spec(spec)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, but got {method!r}")
    rows, cols = spec.matrix_shape
    if top is not None:
        top = check_int(top, "top", minimum=1)
        if top > min(rows, cols):
            raise ValueError(
                f"top must be at most min(rows, cols) = {min(rows, cols)}, but got {top}"
            )
    dense_limit = check_int(dense_limit, "dense_limit", minimum=1)
    w = check_weight(spec, weight)
    rule = fft_rule(spec)
    if method == "fft" and rule is not None:
        raise ValueError(f"method='fft' needs a circulant layer: {rule}")
    if method == "dense" or rule is not None:
        if max(rows, cols) > dense_limit:
            why = "" if method == "dense" else f" (no FFT path: {rule})"
            raise ValueError(
                f"{_dense_cost(rows, cols)} is above dense_limit={dense_limit}{why}; use "
                "operator_norm(spec, weight) for a certified bracket of the largest singular "
                f"value, or pass dense_limit={max(rows, cols)} to run it"
            )
        from ..core.numeric import numeric_matrix

        values = torch.linalg.svdvals(numeric_matrix(spec, _unflip(spec, w))).numpy()
        values = np.sort(values)[::-1]
        return (values if top is None else values[:top]).copy()
    return circulant_of(spec, w).singular_values(top)


def _unflip(spec: ConvSpec, w: torch.Tensor) -> torch.Tensor:
    """Undo the flip applied by :func:`check_weight` (numeric_matrix applies it)."""
    return w.flip(tuple(range(2, 2 + spec.rank))) if spec.flip else w
