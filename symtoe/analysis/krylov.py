"""Matrix-free layer operators and a block eigensolver for ``T^T T``.

:func:`layer_operators` applies a layer and its adjoint with torch's own
convolutions (``F.conv*`` after ``F.pad``, and ``F.conv_transpose*``), never
forming the matrix.  :func:`top_eigenpairs` finds the largest eigenvalues of
``A = T^T T`` by Chebyshev-filtered block subspace iteration (Zhou & Saad,
"A Chebyshev-Davidson algorithm", 2007; Saad, *Numerical methods for large
eigenvalue problems*, 2011, sec. 7.4): each cycle applies to the current
block ``X`` the Chebyshev polynomial ``T_d`` of degree ``d`` of ``A`` mapped
so that ``[0, cut]`` becomes ``[-1, 1]`` (``cut`` = the smallest Ritz value of
the block), which leaves the unwanted part of the spectrum bounded while the
top grows like ``exp(2 d sqrt(gap / cut))``; then Rayleigh-Ritz on the
filtered block.  The block lives in the span of the Krylov blocks
``[X, A X, ..., A^d X]``: it is a block Krylov method with a fixed polynomial,
chosen for its small overhead (three block vectors per cycle, not ``d``).

Every Ritz value ``theta`` is the Rayleigh quotient of an explicit vector, so
``sqrt(theta) <= ||T||`` up to rounding; its residual ``r = A y - theta y``
says how far it is from an eigenvalue.  Products may run in float32 (about
ten times faster than float64, relative error about ``1e-6``); Gram and
Rayleigh-Ritz matrices are always float64.

torch is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.spec import ConvSpec

__all__ = ["Ritz", "gram_operator", "layer_operators", "orthonormal_rows", "top_eigenpairs"]


def layer_operators(spec: ConvSpec, w: torch.Tensor):
    """``(forward, adjoint)``: ``x -> T x`` and ``y -> T^T y`` on batches.

    ``x`` has shape ``(b, C_in, *input_size)``, ``y`` ``(b, C_out,
    *output_size)``; ``w`` is torch's cross-correlation kernel (already
    flipped for ``spec.flip``) in the dtype to compute in.
    """
    rank = spec.rank
    conv = getattr(F, f"conv{rank}d")
    conv_t = getattr(F, f"conv_transpose{rank}d")
    kw = {"stride": spec.stride, "dilation": spec.dilation, "groups": spec.groups}
    if spec.transposed:
        pad = tuple(p for p, _ in spec.padding)
        crop = (Ellipsis, *(slice(0, n) for n in spec.input_size))

        def forward(x):
            return conv_t(x, w, padding=pad, output_padding=spec.output_padding, **kw)

        def adjoint(y):
            return conv(y, w, padding=pad, **kw)[crop]

        return forward, adjoint

    pads = spec.torch_padding
    mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
    padded = [n + pl + pr for n, (pl, pr) in zip(spec.input_size, spec.padding)]
    reach = [
        (o - 1) * s + d * (k - 1) + 1
        for o, s, d, k in zip(spec.output_size, spec.stride, spec.dilation, spec.kernel_size)
    ]
    # conv_transpose covers the first `reach` padded positions; zeros after that
    tail = tuple(x for q, r in zip(reversed(padded), reversed(reach)) for x in (0, q - r))

    def forward(x):
        return conv(F.pad(x, pads, mode=mode) if any(pads) else x, w, **kw)

    if spec.padding_mode == "zeros":

        def unpad(z):  # adjoint of zero padding: crop
            return F.pad(z, tuple(-p for p in pads))

    else:  # adjoint of the copy map F.pad(mode): scatter-add, read off autograd

        def unpad(z):
            x0 = z.new_zeros(z.shape[0], spec.in_channels, *spec.input_size)
            return torch.func.vjp(lambda x: F.pad(x, pads, mode=mode), x0)[1](z)[0]

    def adjoint(y):
        return unpad(F.pad(conv_t(y, w, **kw), tail) if any(tail) else conv_t(y, w, **kw))

    return forward, adjoint


def orthonormal_rows(w: torch.Tensor, basis: torch.Tensor | None = None) -> torch.Tensor:
    """Orthonormal rows spanning ``w``'s rows minus their part in ``basis``'s
    (orthonormal) rows, by Householder QR in float64.  Directions that keep
    less than ``sqrt(eps)`` of their length are dropped: rounding decides
    them, not ``w``."""
    w = w.double()
    scale = float(w.norm(dim=1).max()) if w.numel() else 0.0
    if not scale > 0.0 or not math.isfinite(scale):
        return w[:0]
    w = w / scale
    for _ in range(2):  # twice is enough (Kahan, Parlett)
        if basis is not None and basis.shape[0]:
            w = w - (w @ basis.T) @ basis
    q, r = torch.linalg.qr(w.T)
    return q.T[r.diagonal().abs() > math.sqrt(torch.finfo(torch.float64).eps)]


@dataclass
class Ritz:
    """Ritz pairs of ``A`` on a subspace: ``A vectors[i] ~ values[i] vectors[i]``.

    ``values`` descending (float64); ``vectors`` orthonormal float64 rows;
    ``images`` is ``A vectors`` as computed; ``residuals[i] = ||A y_i -
    theta_i y_i||``; ``matvecs`` counts applications of ``A`` to one vector.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    images: torch.Tensor
    residuals: torch.Tensor
    matvecs: int


def rayleigh_ritz(apply, x: torch.Tensor, matvecs: int = 0) -> Ritz:
    """Orthonormalise the rows of ``x``, apply ``A`` once, Rayleigh-Ritz."""
    q = orthonormal_rows(x)
    aq = apply(q).double()
    h = q @ aq.T
    theta, s = torch.linalg.eigh((h + h.T) / 2)
    order = torch.argsort(theta, descending=True)
    theta, s = theta[order], s[:, order]
    y, ay = s.T @ q, s.T @ aq
    res = (ay - theta[:, None] * y).norm(dim=1)
    return Ritz(theta, y, ay, res, matvecs + q.shape[0])


def chebyshev_filter(apply, x: torch.Tensor, cut: float, degree: int) -> torch.Tensor:
    """``T_degree((A - cut/2) / (cut/2)) x``: bounded by ``|x|`` on ``[0, cut]``,
    growing fast above ``cut`` (three-term recurrence, rows normalised)."""
    half = cut / 2
    t0, t1 = x, (apply(x) - half * x) / half
    for _ in range(degree - 1):
        t0, t1 = t1, 2 * (apply(t1) - half * t1) / half - t0
    return t1 / t1.norm(dim=1, keepdim=True).clamp(min=1e-300)


def top_eigenpairs(apply, ritz: Ritz, *, degree: int, max_matvecs: int, done) -> Ritz:
    """Chebyshev-filtered block subspace iteration for the top of ``A``.

    From ``ritz`` (a block of Ritz pairs), filter with the cut at the
    block's smallest Ritz value, Rayleigh-Ritz, repeat until ``done(ritz)`` or
    the budget of ``max_matvecs`` products is spent.  ``apply`` maps rows to
    rows in its own dtype.
    """
    b = ritz.vectors.shape[0]
    dtype = apply.dtype
    while not done(ritz) and ritz.matvecs + b * (degree + 1) <= max_matvecs:
        cut = float(ritz.values[-1])
        if cut <= 0:
            cut = float(ritz.values[0]) * 1e-3
        x = chebyshev_filter(apply, ritz.vectors.to(dtype), cut, degree)
        new = rayleigh_ritz(apply, x, ritz.matvecs + b * degree)
        if new.vectors.shape[0] < b:  # the filter merged directions: keep the old block
            ritz.matvecs = new.matvecs
            break
        ritz = new
    return ritz


class gram_operator:  # noqa: N801 - a function with a dtype attribute
    """``X -> (T^T T X^T)^T`` on rows of flattened inputs, in ``dtype``
    (float32 or float64).  Rows go through torch's CPU convolutions one at a
    time on large grids and four at a time on grids of at most 32 x 32
    points, which is fastest per vector for each (measured in
    ``benchmarks/bench_spectrum.py``'s layers)."""

    def __init__(self, spec: ConvSpec, w: torch.Tensor, *, dtype: torch.dtype = torch.float64):
        self.dtype = dtype
        self.forward, self.adjoint = layer_operators(spec, w.to(dtype))
        self.shape = (spec.in_channels, *spec.input_size)
        self.batch = 4 if math.prod(spec.input_size) <= 1024 else 1

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if not x.shape[0]:
            return x.clone()
        rows = [self.adjoint(self.forward(v.reshape(-1, *self.shape))).reshape(v.shape[0], -1)
                for v in x.split(self.batch)]
        return torch.cat(rows)
