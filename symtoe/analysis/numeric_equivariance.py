"""Numeric equivariance of any torch callable: ``f(G x)`` against ``G' f(x)``.

The exact certificates (:mod:`symtoe.analysis.shift_certificate`,
:mod:`symtoe.analysis.reflection_certificate`) speak of one layer and every
kernel; these checks measure, per output position, how far a concrete
callable (a stack, a pooling, a nonlinearity) is from the law on an input.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..core.validate import SymtoeError, SymtoeTypeError, function, integer
from .shifts import (
    apply_reflection,
    apply_shift,
    normalize_axes,
    normalize_mode,
    normalize_shift,
    shift_rank,
)

__all__ = ["NumericEquivariance", "equivariance_error", "reflection_error"]


@dataclass(frozen=True, eq=False)
class NumericEquivariance:
    """A numeric equivariance check of a torch callable.

    Attributes
    ----------
    error : torch.Tensor
        Per output position (the output's trailing spatial shape; a scalar
        for outputs without spatial axes): ``max |f(G x) - G' f(x)|`` over
        batch and channels.
    output_shift : tuple of int or None
        The output shift used (None for reflections and invariant outputs).
    scale : float
        ``max |f(x)|``, to read the error relative to the output.
    """

    error: object
    output_shift: tuple[int, ...] | None
    scale: float

    @property
    def max(self) -> float:
        """The largest error over all positions."""
        return float(self.error.max()) if self.error.numel() else 0.0


def _check_input(x) -> None:
    """``x`` must be a dense torch tensor of finite numbers."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise SymtoeTypeError(f"x must be a torch.Tensor, but got {type(x).__name__}")
    if x.is_meta or x.layout != torch.strided:
        raise SymtoeError(f"x must be a dense tensor with values, but got one on "
                          f"{x.device} with layout {x.layout}")
    if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
        raise SymtoeError("x must be finite, but it holds NaN or infinite values")


def _error_map(a, b, rank_out: int):
    diff = (a - b).abs()
    keep = diff.ndim - rank_out
    return diff.amax(dim=tuple(range(keep))) if keep else diff


def _outputs(f, g, x, transform, rank: int):
    """``g(x)``, ``f(transform(x))``, the output's spatial rank and ``max |g(x)|``."""
    import torch

    with torch.no_grad():
        y = g(x)
        y_transformed = f(transform(x))
    return y, y_transformed, _out_rank(y, x, rank), float(y.abs().max()) if y.numel() else 0.0


def _out_rank(y, x, rank: int) -> int:
    return max(min(y.ndim - (x.ndim - rank), rank), 0)


def equivariance_error(f, x, shift, mode: str = "zero", *, output_shift=None):
    """Per-position error of ``f(S_t x) = S_u f(x)`` for any torch callable.

    ``f`` maps a batch ``x`` of shape ``(N, C, *spatial)`` to ``(N, C',
    *spatial')`` (a module, a stack, pooling, a nonlinearity, a lambda) or to
    ``(N, C')`` (then the law checked is invariance, ``f(S_t x) = f(x)``).
    ``shift`` acts on the trailing ``len(shift)`` axes, zero-fill or cyclic
    (``torch.roll``).  The output shift ``u`` is ``output_shift`` if given;
    otherwise, with ``s = round(n / n')`` per axis, ``t / s`` when ``s``
    divides ``t``, else whichever of ``floor(t / s)`` and ``ceil(t / s)``
    gives the smaller mean error (so a large error shows that *no* output
    shift works: a stride or a max-pool aliases the shift).  An output larger
    than the input (upsampling) uses ``u = t * round(n' / n)``.

    Returns
    -------
    NumericEquivariance
        ``.error`` (tensor over output positions), ``.output_shift``,
        ``.scale``, ``.max``.

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    >>> x = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(0))
    >>> equivariance_error(conv, x, (3,), "cyclic").max < 1e-6
    True
    >>> pool = torch.nn.MaxPool1d(2)
    >>> equivariance_error(pool, x, (1,), "cyclic").max > 0.1
    True
    """
    function(f, "f")
    mode = normalize_mode(mode)
    _check_input(x)
    rank = shift_rank(shift)
    shift = normalize_shift(shift, rank)
    if x.ndim < rank + 1:
        raise SymtoeError(
            f"x must have a batch dimension before its {rank} spatial axes, but got "
            f"shape {tuple(x.shape)}"
        )
    y, y_shifted, rank_out, scale = _outputs(f, f, x, lambda v: apply_shift(v, shift, mode), rank)
    if rank_out == 0:
        return NumericEquivariance(_error_map(y_shifted, y, 0).amax(), None, scale)
    if rank_out != rank:
        raise SymtoeError(
            f"f must keep {rank} spatial axes or none, but maps shape {tuple(x.shape)} "
            f"to {tuple(y.shape)}"
        )
    if output_shift is not None:
        candidates = [normalize_shift(output_shift, rank, "output_shift")]
    else:
        per_axis = []
        for t, n, o in zip(shift, x.shape[-rank:], y.shape[-rank:]):
            if o >= n:
                per_axis.append({t * max(round(o / n), 1)})
            else:
                s = max(round(n / o), 1)
                per_axis.append({t // s, -(-t // s)})
        candidates = list(itertools.product(*map(sorted, per_axis)))
    best = None
    for u in candidates:
        err = _error_map(y_shifted, apply_shift(y, u, mode), rank)
        if best is None or float(err.mean()) < float(best[0].mean()):
            best = (err, u)
    return NumericEquivariance(best[0], best[1], scale)


def reflection_error(f, x, axes=None, *, g=None, rank: int | None = None):
    """Per-position error of ``f(J x) = J g(x)`` (``g`` defaults to ``f``).

    ``J`` is ``torch.flip`` of the reflected spatial axes (``axes`` among the
    ``rank`` trailing axes, default all, ``rank`` default ``x.ndim - 2``).
    For a convolution ``T_w``, pass ``g`` = the layer with the flipped kernel
    to check ``T_w J = J T_flip(w)``; a layer with a symmetric kernel needs no
    ``g``.

    >>> import torch
    >>> conv = torch.nn.Conv1d(1, 1, 3, padding=1, bias=False)
    >>> x = torch.randn(1, 1, 6, generator=torch.Generator().manual_seed(0))
    >>> flipped = lambda v: torch.nn.functional.conv1d(v, conv.weight.flip(-1), padding=1)
    >>> reflection_error(conv, x, g=flipped).max < 1e-6
    True
    """
    function(f, "f")
    g = f if g is None else function(g, "g")
    _check_input(x)
    rank = x.ndim - 2 if rank is None else integer(rank, "rank", minimum=1)
    if not 1 <= rank < x.ndim:
        raise SymtoeError(
            f"rank must leave a batch dimension before the spatial axes of x (shape "
            f"{tuple(x.shape)}), but got {rank}"
        )
    axes = normalize_axes(axes, rank)
    y, y_reflected, rank_out, scale = _outputs(
        f, g, x, lambda v: apply_reflection(v, axes, rank), rank
    )
    if rank_out == 0:
        return NumericEquivariance(_error_map(y_reflected, y, 0).amax(), None, scale)
    err = _error_map(y_reflected, apply_reflection(y, axes, rank_out), rank_out)
    return NumericEquivariance(err, None, scale)
