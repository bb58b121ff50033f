"""Singular values and operator norms of convolution layers, from their structure.

**Circulant law** (Sedghi, Gupta & Long, ICLR 2019, "The Singular Values of
Convolutional Layers").  A circular layer whose output grid is the input grid
(stride 1, total padding ``d*(k-1)`` per axis) is block circulant: with the
kernel wrapped onto the ``n``-grid,
``kappa[o, c, t] = sum_j w[o, c, j] [t == j*d - p_left (mod n)]``, its matrix
is ``T[(o, i), (c, m)] = kappa[o, c, m - i]`` and the DFT block-diagonalises
it.  Its singular values are the union over frequencies ``f`` of the singular
values of the ``C_out x C_in`` matrices ``kappa_hat[:, :, f]``
(``kappa_hat = fftn(kappa)`` over the spatial axes).  One channel: the
eigenvalues are the DFT of the kernel, ``lambda_f = sum_t kappa[t] w^(f t)``,
``w = exp(2 pi i / n)``.

**Strided circular layers** (polyphase).  With stride ``s`` dividing ``n`` and
``output_size * s == n`` the rows are every ``s``-th row of that circulant, so
``T[i, u*s + ph] = kappa[(u - i)*s + ph]``: splitting the columns by phase
``ph`` gives ``s`` circulants side by side, and the singular values are the
union over the ``n/s`` frequencies of those of ``C_out x (C_in * s)`` blocks.

**Groups**: the matrix is block diagonal over groups; the spectrum is the
union of the groups' spectra.

**Which geometries the FFT path covers**: ``padding_mode="circular"``,
``transposed=False`` and, on every axis, ``output_size * stride ==
input_size``.  For stride 1 that is "output size equals input size" (total
padding ``d*(k-1)``, e.g. ``padding="same"``); for stride ``s`` it needs ``s``
to divide ``n`` and a total padding between ``d*(k-1) - s + 1`` and
``d*(k-1)``.  Other circular layers (a circulant with rows dropped or
repeated) and all other padding modes use the dense SVD.

**Zero padding** (operator norm only).  The zero-padded layer is a submatrix
of the circular layer with the same taps on a grid of ``N >= n + max(p_left,
p_right)`` (a multiple of the stride): no tap can wrap onto a real input, so
the circular norm is a certified upper bound.  Reflect / replicate layers are
a valid convolution after a copy map ``P`` (one 1 per row), so their norm is
at most the valid layer's bound times ``||P|| = prod_axes sqrt(max copies)``.

torch is imported here (layers are applied with ``torch.nn.functional``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.spec import ConvSpec, check_spec

__all__ = ["OperatorNorm", "fft_rule", "operator_norm", "singular_values"]

METHODS = ("auto", "fft", "dense")


# ------------------------------------------------------------------- helpers

def _weight64(spec: ConvSpec, weight) -> torch.Tensor:
    """``weight`` as a detached float64 tensor of ``spec.weight_shape``,
    reversed along the spatial axes when ``spec.flip`` (cross-correlation)."""
    try:
        w = torch.as_tensor(weight.detach() if hasattr(weight, "detach") else np.asarray(weight))
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"weight must be a real numeric tensor or array, but got {type(weight).__name__}"
            f" of {np.asarray(weight, dtype=object).dtype}"
        ) from None
    if w.is_complex():
        raise ValueError(f"weight must be real, but got dtype {w.dtype}")
    if tuple(w.shape) != tuple(spec.weight_shape):
        raise ValueError(
            f"weight must have shape spec.weight_shape={tuple(spec.weight_shape)}, "
            f"but got {tuple(w.shape)}"
        )
    w = w.to("cpu", torch.float64)
    if spec.flip:
        w = w.flip(tuple(range(2, 2 + spec.rank)))
    return w


def fft_rule(spec: ConvSpec) -> str | None:
    """``None`` when the FFT path applies to ``spec``, else the rule it breaks.

    >>> fft_rule(ConvSpec(2, 3, 3, input_size=8, padding=1, padding_mode="circular"))
    >>> fft_rule(ConvSpec(1, 1, 3, input_size=8, padding=1))
    "padding_mode must be 'circular', but got 'zeros'"
    """
    check_spec(spec)
    if spec.padding_mode != "circular":
        return f"padding_mode must be 'circular', but got {spec.padding_mode!r}"
    # (transposed layers cannot be circular in ConvSpec, as in torch)
    for n, o, s in zip(spec.input_size, spec.output_size, spec.stride):
        if o * s != n:
            return (
                "output_size * stride must equal input_size on every axis (a circulant, "
                "or its polyphase rows), but got output_size="
                f"{spec.output_size}, stride={spec.stride}, input_size={spec.input_size}"
            )
    return None


def _blocks(w, groups, grid, stride, left, dilation) -> torch.Tensor:
    """Polyphase DFT blocks of the circular layer on ``grid``.

    Rows ``i`` read inputs ``(i*s + j*d - left) mod N``; returns the blocks of
    shape ``(groups, *grid // stride, C_out/groups, (C_in/groups) * prod(stride))``.
    """
    c_out, c_in_g = w.shape[:2]
    k = w.shape[2:]
    rank = len(k)
    co = c_out // groups
    # wrapped tap offsets, one small table per axis, combined by broadcasting
    flat = np.zeros((), dtype=np.int64)
    for a in range(rank):
        t = (np.arange(k[a]) * dilation[a] - left[a]) % grid[a]
        flat = flat[..., None] * grid[a] + t
    kappa = w.new_zeros(c_out, c_in_g, math.prod(grid))
    kappa.index_add_(2, torch.from_numpy(flat.reshape(-1)), w.reshape(c_out, c_in_g, -1))
    phases = [g // s for g, s in zip(grid, stride)]
    split = [x for m, s in zip(phases, stride) for x in (m, s)]
    kappa = kappa.reshape(groups, co, c_in_g, *split)
    u_dims = tuple(3 + 2 * a for a in range(rank))
    ph_dims = tuple(4 + 2 * a for a in range(rank))
    hat = torch.fft.fftn(kappa, dim=u_dims)
    hat = hat.permute(0, *u_dims, 1, 2, *ph_dims)
    return hat.reshape(groups, *phases, co, c_in_g * math.prod(stride))


def _fft_singular_values(spec: ConvSpec, w: torch.Tensor) -> torch.Tensor:
    left = tuple(p for p, _ in spec.padding)
    blocks = _blocks(w, spec.groups, spec.input_size, spec.stride, left, spec.dilation)
    return torch.linalg.svdvals(blocks).reshape(-1)


def _circular_norm(w, groups, grid, stride, left, dilation) -> float:
    blocks = _blocks(w, groups, grid, stride, left, dilation)
    return float(torch.linalg.matrix_norm(blocks, ord=2).max())


# ------------------------------------------------------------ singular values
def singular_values(spec: ConvSpec, weight, method: str = "auto") -> np.ndarray:
    """Singular values of the layer's matrix, in descending order.

    ``method="fft"``: the union over frequencies of the singular values of the
    ``C_out x C_in`` DFT blocks of the wrapped kernel (Sedghi, Gupta & Long,
    ICLR 2019; polyphase blocks ``C_out x C_in*s`` for stride ``s``; a union
    over groups).  It applies to circular layers with ``output_size * stride
    == input_size`` on every axis (see :func:`fft_rule`); otherwise it raises
    ValueError.  ``method="dense"``: ``torch.linalg.svdvals`` of
    :func:`symtoe.numeric_matrix`.  ``method="auto"``: fft where it applies,
    dense otherwise.

    Parameters
    ----------
    spec : ConvSpec
    weight : tensor or array-like of shape ``spec.weight_shape`` (real)
        Computed in float64.
    method : {"auto", "fft", "dense"}

    Returns
    -------
    ndarray of float64, length ``min(*spec.matrix_shape)``
        Equal to ``numpy.linalg.svd(M, compute_uv=False)`` of the matrix ``M``
        whose columns are the layer (``F.conv*`` after circular ``F.pad``)
        applied to one-hot inputs.

    Examples
    --------
    One channel, kernel ``[1, 2, 3]`` centred on 4 points: the eigenvalues are
    ``lambda_f = 1 w^-f + 2 + 3 w^f`` with ``w = i``, i.e. ``6, 2+2i, -2, 2-2i``
    (moduli ``6, 2.83, 2, 2.83``).

    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> singular_values(spec, [[[1.0, 2.0, 3.0]]]).round(4)
    array([6.    , 2.8284, 2.8284, 2.    ])
    >>> np.allclose(singular_values(spec, [[[1.0, 2.0, 3.0]]], method="dense"),
    ...             [6, 8 ** 0.5, 8 ** 0.5, 2])
    True
    """
    check_spec(spec)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, but got {method!r}")
    w = _weight64(spec, weight)
    rule = fft_rule(spec)
    if method == "fft" and rule is not None:
        raise ValueError(f"method='fft' needs a circulant layer: {rule}")
    if method == "dense" or rule is not None:
        from ..core.numeric import numeric_matrix

        values = torch.linalg.svdvals(numeric_matrix(spec, _unflip(spec, w)))
    else:
        values = _fft_singular_values(spec, w)
    values = np.sort(values.numpy())[::-1].copy()
    return values


def _unflip(spec: ConvSpec, w: torch.Tensor) -> torch.Tensor:
    """Undo the flip applied by ``_weight64`` (numeric_matrix applies it)."""
    return w.flip(tuple(range(2, 2 + spec.rank))) if spec.flip else w


# --------------------------------------------------------------- norm bounds
def _zero_grid(spec: ConvSpec) -> tuple[int, ...]:
    """Smallest grid (a multiple of the stride) holding the zero-padded layer
    as a submatrix of a circular one: ``N >= n + max(p_left, p_right)`` and
    ``N / s >= output_size``."""
    return tuple(
        s * -(-max(n + max(pl, pr), o * s) // s)
        for n, (pl, pr), o, s in zip(spec.input_size, spec.padding, spec.output_size, spec.stride)
    )


def _copies(n: int, pl: int, pr: int, mode: str) -> int:
    """Largest number of padded positions that copy one input position."""
    m = np.arange(-pl, n + pr)
    if mode == "replicate":
        src = np.clip(m, 0, n - 1)
    elif mode == "reflect":
        src = np.abs(m)
        src = np.where(src >= n, 2 * (n - 1) - src, src)
    else:  # circular
        src = m % n
    return int(np.bincount(src, minlength=n).max())


def _upper_bound(spec: ConvSpec, w: torch.Tensor) -> tuple[float, tuple[int, ...]]:
    """A certified upper bound on ``||T||_2`` and the circular grid it used."""
    if spec.transposed:
        # T is the transpose of the first rows of the forward layer on the
        # transposed layer's output grid: its norm is at most that layer's.
        forward = ConvSpec(
            spec.out_channels, spec.in_channels, spec.kernel_size,
            input_size=spec.output_size, stride=spec.stride, padding=spec.padding,
            dilation=spec.dilation, groups=spec.groups,
        )
        return _upper_bound(forward, w)
    left = tuple(p for p, _ in spec.padding)
    if spec.padding_mode == "zeros":
        grid = _zero_grid(spec)
        return _circular_norm(w, spec.groups, grid, spec.stride, left, spec.dilation), grid
    if spec.padding_mode == "circular":
        # rows (i*s - p_left) mod n of the stride-1 circulant K: T = R K with
        # ||R|| = sqrt(largest row multiplicity)
        grid = spec.input_size
        ones = (1,) * spec.rank
        norm = _circular_norm(w, spec.groups, grid, ones, left, spec.dilation)
        rows = 1
        for n, o, s, pl in zip(grid, spec.output_size, spec.stride, left):
            rows *= int(np.bincount((np.arange(o) * s - pl) % n, minlength=n).max())
        return norm * math.sqrt(rows), grid
    # reflect / replicate: a valid layer on the padded input after a copy map
    padded = tuple(n + pl + pr for n, (pl, pr) in zip(spec.input_size, spec.padding))
    valid = spec.replace(input_size=padded, padding=0, padding_mode="zeros", flip=False)
    norm, grid = _upper_bound(valid, w)
    copies = math.prod(
        _copies(n, pl, pr, spec.padding_mode) for n, (pl, pr) in zip(spec.input_size, spec.padding)
    )
    return norm * math.sqrt(copies), grid


# ---------------------------------------------------------- power iteration
def _operators(spec: ConvSpec, w: torch.Tensor):
    """Matrix-free ``x -> T x`` and ``y -> T^T y`` with torch's convolutions."""
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
        return unpad(F.pad(conv_t(y, w, **kw), tail))

    return forward, adjoint


def _power_iteration(spec, w, iterations, tol, seed, block=8) -> tuple[float, int]:
    """Block power (subspace) iteration on ``T^T T`` with Rayleigh-Ritz.

    The estimate is ``max ||T v||`` over unit ``v`` in the current subspace, so
    it never exceeds ``||T||`` (up to rounding); a block of vectors rides in
    torch's batch dimension and converges like ``(sigma_{b+1}/sigma_1)^2``.
    """
    forward, adjoint = _operators(spec, w)
    size = spec.in_channels * math.prod(spec.input_size)
    b = min(block, size)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(size, b, generator=gen, dtype=w.dtype)
    sigma = 0.0
    for step in range(1, iterations + 1):
        q = torch.linalg.qr(v).Q  # orthonormal basis of the subspace, (size, b)
        u = forward(q.T.reshape(b, spec.in_channels, *spec.input_size)).reshape(b, -1)
        new = float(torch.linalg.eigvalsh(u @ u.T)[-1].clamp(min=0).sqrt())
        if new == 0 or abs(new - sigma) <= tol * new:
            return max(new, sigma), step
        sigma = new
        v = adjoint(u.reshape(b, spec.out_channels, *spec.output_size)).reshape(b, -1).T
    return sigma, iterations


@dataclass(frozen=True)
class OperatorNorm:
    """The spectral norm ``||T||_2`` of a layer, bracketed.

    Attributes
    ----------
    upper : float
        Certified upper bound (exact for FFT-covered circular layers).
    estimate : float
        Power iteration ``||T v||`` with ``||v|| = 1``: a lower bound up to
        rounding (equal to ``upper`` when ``exact``).
    exact : bool
        ``True`` when ``upper`` is the norm itself (circulant layers).
    grid : tuple of int
        The circular grid used for ``upper``.
    iterations : int
        Power iterations run (0 when exact).
    """

    upper: float
    estimate: float
    exact: bool
    grid: tuple[int, ...]
    iterations: int

    @property
    def value(self) -> float:
        """The norm when exact, otherwise the power-iteration estimate."""
        return self.upper if self.exact else self.estimate


def operator_norm(
    spec: ConvSpec, weight, *, iterations: int = 2000, tol: float = 1e-13, seed: int = 0
) -> OperatorNorm:
    """The largest singular value of the layer's matrix, never forming it.

    * circular layers covered by :func:`fft_rule`: exact, the largest
      singular value of the DFT blocks (Sedghi, Gupta & Long, ICLR 2019);
    * otherwise ``upper``: the norm of a circular layer on a larger grid of
      which the layer is a submatrix (see the module docstring) and
      ``estimate``: power iteration on ``T^T T`` applied with ``F.conv*`` and
      ``F.conv_transpose*`` (``estimate <= ||T|| <= upper``).

    Parameters
    ----------
    spec : ConvSpec
    weight : tensor or array-like of shape ``spec.weight_shape`` (real)
    iterations : int
        Most power iterations.
    tol : float
        Stop when the estimate changes by at most ``tol`` times itself.
    seed : int
        Seed of the power iteration's start vector.

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=8, padding=1)
    >>> norm = operator_norm(spec, [[[1.0, 2.0, 3.0]]])
    >>> norm.exact, round(norm.upper, 6)   # |1 + 2 + 3| on the 9-point grid
    (False, 6.0)
    >>> bool(norm.estimate <= norm.upper)
    True
    >>> operator_norm(spec.replace(padding_mode="circular"), [[[1.0, 2.0, 3.0]]]).value
    6.0...

    ``estimate`` equals ``numpy.linalg.norm(M, 2)`` of the one-hot-probed
    matrix ``M`` to the power iteration's tolerance.
    """
    check_spec(spec)
    for name, value in (("iterations", iterations), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, but got {value!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, but got {tol!r}")
    w = _weight64(spec, weight)
    if fft_rule(spec) is None:
        value = float(_fft_singular_values(spec, w).max())
        return OperatorNorm(value, value, True, spec.input_size, 0)
    upper, grid = _upper_bound(spec, w)
    estimate, steps = _power_iteration(spec, w, iterations, tol, seed)
    return OperatorNorm(upper, estimate, False, grid, steps)
