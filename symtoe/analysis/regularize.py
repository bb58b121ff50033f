"""The layer norm as a differentiable function, and projection onto a norm ball.

:func:`norm_bound` is the exact norm of circulant layers and the circulant
embedding bound of all others (:mod:`symtoe.analysis.norms`), as a torch
scalar with a gradient in the weight: usable as a regulariser.

:func:`project_norm` projects a circulant layer onto ``{||T||_2 <= bound}``
(Sedghi, Gupta & Long, ICLR 2019): clipping the singular values of every DFT
block at ``bound`` is the Frobenius-nearest block-circulant matrix of norm at
most ``bound``, but its kernel fills the whole grid.  With
``support="kernel"`` (default) the kernel's own support is restored by
Dykstra's alternating projections between the ball and the subspace of
kernels on the original taps (both convex; the iterates converge to the
Frobenius-nearest layer in their intersection, Boyle & Dykstra 1986), and
the result is finally scaled down if its norm still exceeds ``bound * (1 +
tol)``: **the returned layer's norm is never above ``bound * (1 + tol)``**
(up to float64 rounding).  With ``support="full"`` the clipped layer itself
is returned, with its full-size kernel and the spec that reads it.

torch is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.spec import ConvSpec, check_spec
from .spectrum import Circulant, _unflip, check_weight, circulant_of, fft_rule

__all__ = ["Projection", "norm_bound", "project_norm"]


def _majorant_circulant(spec: ConvSpec, w: torch.Tensor) -> tuple[Circulant, int]:
    from .norms import majorants

    circ = circulant_of(spec, w)
    if circ is not None:
        return circ, 1
    maj = majorants(spec, w, grids=1)[0]
    return maj.circulant, maj.factor


def norm_bound(spec: ConvSpec, weight) -> torch.Tensor:
    """``||T||_2`` for circulant layers, else its circulant-embedding upper
    bound ``sqrt(m) ||C||_2`` (see :mod:`symtoe.analysis.norms`), as a
    differentiable float64 torch scalar.

    The largest singular value over the DFT blocks is found without autograd,
    then that one block is rebuilt from ``weight`` and differentiated
    (``torch.linalg.matrix_norm(ord=2)``): the gradient is ``Re(u^H dB v)``
    for the block's top singular pair, as for any maximum of smooth
    functions away from ties.

    Examples
    --------
    >>> import torch
    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> w = torch.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    >>> value = norm_bound(spec, w)
    >>> value.backward()
    >>> float(value.detach()), w.grad       # |1 + 2 + 3|: every tap counts once
    (6.0, tensor([[[1., 1., 1.]]]))
    """
    check_spec(spec)
    w = check_weight(spec, weight, detach=False)
    circ, factor = _majorant_circulant(spec, w.detach())
    _, modes = circ.top(1)
    f, g, j, _ = modes[0]
    block = circ.blocks(f[:, None], weight=w)[0, g]
    return math.sqrt(factor) * torch.linalg.matrix_norm(block, ord=2)


@dataclass(frozen=True, eq=False)
class Projection:
    """The result of :func:`project_norm`.

    Attributes
    ----------
    weight : torch.Tensor
        The projected kernel (float64), in ``spec``'s layout.
    spec : ConvSpec
        The layer that reads it (the input spec, or for ``support="full"``
        the full-kernel circular layer).
    norm : float
        Its exact operator norm (DFT blocks, float64).
    iterations : int
        Dykstra iterations run (0 when nothing had to change).
    converged : bool
        The iterates met ``tol`` before ``max_iter``.
    scaled : bool
        The final rescaling was needed to bring the norm to ``bound``.
    """

    weight: torch.Tensor
    spec: ConvSpec
    norm: float
    iterations: int
    converged: bool
    scaled: bool


def _positions(circ: Circulant) -> np.ndarray:
    """Flat index of each tap in the ``(read phase, *M)`` polyphase kernel."""
    u, phase = circ.taps
    m = circ.phases_grid
    return phase * math.prod(m) + np.ravel_multi_index(tuple(u), m)


def _to_kappa(circ: Circulant, w: torch.Tensor) -> torch.Tensor:
    """The polyphase kernel ``(groups, C_out/g, C_in/g, phases, *M)`` of ``w``."""
    g, co, _ = circ.block_shape
    c_out, c_in_g = w.shape[:2]
    p, m = circ.read_phases, circ.phases_grid
    kappa = w.new_zeros(c_out, c_in_g, p * math.prod(m))
    kappa.index_add_(2, torch.from_numpy(_positions(circ)), w.reshape(c_out, c_in_g, -1))
    return kappa.reshape(g, co, c_in_g, p, *m)


def _from_kappa(circ: Circulant, kappa: torch.Tensor, shape) -> torch.Tensor:
    """The kernel on the original taps whose polyphase kernel is ``kappa``
    restricted to them (taps that share a position share its value)."""
    pos = torch.from_numpy(_positions(circ))
    hits = torch.bincount(pos, minlength=kappa[0, 0, 0].numel()).to(kappa.dtype)
    flat = kappa.reshape(shape[0], shape[1], -1)
    return (flat[..., pos] / hits[pos]).reshape(shape)


def _restrict(circ: Circulant, kappa: torch.Tensor, shape) -> torch.Tensor:
    return _to_kappa(circ, _from_kappa(circ, kappa, shape))


def _clip(kappa: torch.Tensor, bound: float) -> tuple[torch.Tensor, float]:
    """Clip every DFT block's singular values at ``bound``: the Frobenius-nearest
    polyphase circulant with norm ``<= bound``; also the norm before clipping."""
    rank = kappa.ndim - 4
    dims = tuple(range(4, 4 + rank))
    hat = torch.fft.rfftn(kappa, dim=dims)
    blocks = hat.permute(*dims, 0, 1, 2, 3)
    shape = blocks.shape
    blocks = blocks.reshape(*shape[:-2], -1)  # (*freq, g, co, ci * phases)
    u, s, vh = torch.linalg.svd(blocks, full_matrices=False)
    norm = float(s.max()) if s.numel() else 0.0
    clipped = (u * s.clamp(max=bound)[..., None, :]) @ vh
    hat = clipped.reshape(shape).permute(rank, rank + 1, rank + 2, rank + 3, *range(rank))
    return torch.fft.irfftn(hat, s=kappa.shape[4:], dim=dims), norm


def _norm(kappa: torch.Tensor) -> float:
    rank = kappa.ndim - 4
    dims = tuple(range(4, 4 + rank))
    hat = torch.fft.rfftn(kappa, dim=dims).permute(*dims, 0, 1, 2, 3)
    blocks = hat.reshape(*hat.shape[:-2], -1)
    return float(torch.linalg.matrix_norm(blocks, ord=2).max()) if blocks.numel() else 0.0


def project_norm(
    spec: ConvSpec,
    weight,
    bound: float,
    *,
    support: str = "kernel",
    tol: float = 1e-6,
    max_iter: int = 500,
) -> Projection:
    """Project a circulant layer onto the operator-norm ball ``||T||_2 <= bound``.

    ``support="kernel"``: Dykstra's alternating projections between the ball
    (clip the DFT blocks' singular values, Sedghi et al. 2019) and the
    kernels on ``spec``'s taps, then a final scaling if needed: the result
    has ``spec``'s shape and norm at most ``bound * (1 + tol)``.
    ``support="full"``: the clipped layer, kernel on the whole grid
    (``Projection.spec`` is the circular layer with that kernel).  A layer
    already inside the ball is returned unchanged (a float64 copy).

    Only for layers :func:`symtoe.analysis.spectrum.fft_rule` accepts.

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=8, padding=1, padding_mode="circular")
    >>> p = project_norm(spec, [[[1.0, 2.0, 3.0]]], 3.0)
    >>> p.norm <= 3.0 * (1 + 1e-6), tuple(p.weight.shape)
    (True, (1, 1, 3))
    """
    check_spec(spec)
    rule = fft_rule(spec)
    if rule is not None:
        raise ValueError(f"spec must be a circulant layer to project onto a norm ball: {rule}")
    if isinstance(bound, bool) or not isinstance(bound, (int, float, np.floating, np.integer)) \
            or not (0 < bound < math.inf):
        raise ValueError(f"bound must be a positive finite number, but got {bound!r}")
    if support not in ("kernel", "full"):
        raise ValueError(f"support must be 'kernel' or 'full', but got {support!r}")
    if support == "full" and spec.transposed:
        raise ValueError("support='full' needs a forward layer, but got transposed=True")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number with 0 < tol < 1, but got {tol!r}")
    from .spectrum import check_int

    max_iter = check_int(max_iter, "max_iter", minimum=1)
    bound = float(bound)
    w = check_weight(spec, weight)
    circ = circulant_of(spec, w)
    kappa = _to_kappa(circ, w)
    if _norm(kappa) <= bound:
        return Projection(_unflip(spec, w).clone(), spec, _norm(kappa), 0, True, False)

    if support == "full":
        clipped, _ = _clip(kappa, bound)
        return _full(spec, circ, clipped)

    # Dykstra: ball B (with correction p), subspace S (no correction needed)
    y, p = kappa, torch.zeros_like(kappa)
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported
        z, _ = _clip(y + p, bound)
        p = y + p - z
        new = _restrict(circ, z, w.shape)
        step = float((new - y).norm())
        y = new
        if step <= tol * float(y.norm()) and _norm(y) <= bound * (1 + tol):
            converged = True
            break
    norm = _norm(y)
    scaled = norm > bound * (1 + tol)
    if scaled:
        y = y * (bound / norm)
        norm = _norm(y)
    out = _from_kappa(circ, y, w.shape)
    return Projection(_unflip(spec, out), spec, norm, it, converged, scaled)


def _full(spec: ConvSpec, circ: Circulant, kappa: torch.Tensor) -> Projection:
    """The polyphase kernel as an ordinary kernel on the whole grid, and its layer."""
    g, co, ci, p = kappa.shape[:4]
    m, stride, grid = circ.phases_grid, circ.stride, circ.grid
    full = kappa.new_zeros(g * co, ci, *grid)
    offsets = circ.phase_offsets
    for q in range(p):  # place each read phase on its sub-grid
        sl = (slice(None), slice(None)) + tuple(
            slice(int(ph), None, s) for ph, s in zip(offsets[:, q], stride)
        )
        full[sl] = kappa[:, :, :, q].reshape(g * co, ci, *m)
    new_spec = ConvSpec(
        spec.in_channels, spec.out_channels, grid, input_size=grid, stride=stride,
        padding=tuple((0, n - 1) for n in grid), groups=spec.groups,
        padding_mode="circular", flip=False,
    )
    norm = _norm(_to_kappa(circulant_of(new_spec, full), full))
    return Projection(full, new_spec, norm, 1, True, False)
