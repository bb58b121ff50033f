"""Shift and reflection operators on multi-channel N-D grids.

A shift by ``t = (t_1, ..., t_N)`` acts on every channel of a grid of spatial
size ``n = (n_1, ..., n_N)`` as

    (S_t x)[c, m] = x[c, m - t]

where ``m - t`` is read per axis: a **zero** shift fills positions whose
source ``m_a - t_a`` lies outside ``[0, n_a)`` with zeros, a **cyclic** shift
reads ``(m_a - t_a) mod n_a`` (``torch.roll``).  A reflection of axes ``A``
reads ``(J x)[c, m] = x[c, m']`` with ``m'_a = n_a - 1 - m_a`` for ``a`` in
``A`` (``torch.flip``).

All of them are *index maps*: an int64 array ``src`` with one entry per grid
point, flattened row-major over ``(channel, *position)`` exactly like
``x.flatten()`` and like the rows and columns of a convolution matrix, with
``(P x)[i] = x[src[i]]`` and ``src[i] = -1`` meaning "zero".  The matrix of
the map is ``P[i, src[i]] = 1``.  The same map is available as a pattern
(:func:`shift_indices`, :func:`reflection_indices`), as a sympy or torch
matrix (:func:`shift_matrix`, :func:`reflection_matrix`), and applied directly
to numpy arrays or torch tensors (:func:`apply_shift`, :func:`apply_reflection`).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.limits import SYMBOLIC_NONZEROS, check_budget, check_memory, check_work
from ..core.validate import (
    MAX_INDEX,
    SymtoeError,
    SymtoeTypeError,
    choice,
    integer,
    is_int,
)

__all__ = [
    "SHIFT_MODES",
    "apply_reflection",
    "apply_shift",
    "reflection_indices",
    "reflection_matrix",
    "shift_indices",
    "shift_matrix",
]

SHIFT_MODES = ("zero", "cyclic")
BACKENDS = ("sympy", "torch", "numpy")


def normalize_size(size, name: str = "size") -> tuple[int, ...]:
    """A spatial size as a tuple of positive ints."""
    if is_int(size):
        size = (size,)
    if not isinstance(size, (tuple, list)) or not size or not all(is_int(v) for v in size):
        raise SymtoeTypeError(
            f"{name} must be a positive integer or a tuple of them, but got {size!r}"
        )
    if not all(1 <= v <= MAX_INDEX for v in size):
        raise SymtoeError(
            f"{name} must be a positive integer or a tuple of them, but got {size!r}"
        )
    return tuple(int(v) for v in size)


def normalize_shift(shift, rank: int, name: str = "shift") -> tuple[int, ...]:
    """A shift as a tuple of ``rank`` ints (a bare int only when ``rank == 1``),
    each at most ``2**62`` in absolute value (int64 index arithmetic)."""
    if is_int(shift):
        shift = (shift,)
    if not isinstance(shift, (tuple, list)) or not all(is_int(v) for v in shift):
        raise SymtoeTypeError(
            f"{name} must be an integer or a tuple of integers, but got {shift!r}"
        )
    if len(shift) != rank:
        raise SymtoeError(
            f"{name} must have one value per axis ({rank}), but got {tuple(shift)!r}"
        )
    for v in shift:
        if abs(v) > MAX_INDEX:
            raise SymtoeError(
                f"{name} must be integers between -2**62 and 2**62, but got {v}"
            )
    return tuple(int(v) for v in shift)


def shift_rank(shift, name: str = "shift") -> int:
    """How many trailing axes a shift given on its own acts on."""
    if is_int(shift):
        return 1
    if isinstance(shift, (tuple, list)) and shift:
        return len(shift)
    raise SymtoeTypeError(
        f"{name} must be an integer or a non-empty tuple of integers, but got {shift!r}"
    )


def normalize_mode(mode) -> str:
    return choice(mode, "mode", SHIFT_MODES)


def normalize_axes(axes, rank: int) -> tuple[int, ...]:
    """Reflected axes as sorted spatial axis numbers (default: all)."""
    if axes is None:
        return tuple(range(rank))
    if is_int(axes):
        axes = (axes,)
    if not isinstance(axes, (tuple, list)) or not all(is_int(a) for a in axes):
        raise SymtoeTypeError(
            f"axes must be an integer or a tuple of integers, but got {axes!r}"
        )
    if not axes or not all(-rank <= a < rank for a in axes):
        raise SymtoeError(
            f"axes must be spatial axes in range(-{rank}, {rank}), but got {tuple(axes)!r}"
        )
    return tuple(sorted({int(a) % rank for a in axes}))


def _axis_source(n: int, t: int, mode: str) -> np.ndarray:
    """1-D source positions of ``S_t`` (``-1`` = zero)."""
    m = np.arange(n) - t
    if mode == "cyclic":
        return m % n
    return np.where((m >= 0) & (m < n), m, -1)


def _combine(sources: list[np.ndarray], size: tuple[int, ...], channels: int) -> np.ndarray:
    """Ravel per-axis source maps into one map over ``(channel, *position)``."""
    rank = len(size)
    strides = [math.prod(size[a + 1 :]) for a in range(rank)]
    flat = np.zeros((1,) * rank, dtype=np.int64)
    dead = np.zeros((1,) * rank, dtype=bool)
    for a, (src, stride) in enumerate(zip(sources, strides)):
        shape = [1] * rank
        shape[a] = size[a]
        src = src.reshape(shape)
        flat = flat + src * stride
        dead = dead | (src < 0)
    flat = np.where(dead, -1, flat).ravel()
    offsets = np.arange(channels, dtype=np.int64)[:, None] * math.prod(size)
    return np.where(flat >= 0, flat + offsets, -1).ravel()


def shift_indices(size, shift, mode: str = "zero", channels: int = 1) -> np.ndarray:
    """The index map of ``S_t`` on ``channels`` channels of a grid of ``size``.

    ``src[i] = j`` means ``(S_t x)[i] = x[j]`` (flat, row-major over
    ``(channel, *position)``); ``src[i] = -1`` means ``(S_t x)[i] = 0``.
    Entry rule: ``S_t[(c, m), (c, m - t)] = 1`` when ``m - t`` is inside the
    grid (zero) or always, with ``m - t`` taken mod ``n`` (cyclic).

    >>> shift_indices(4, (1,)).tolist()           # zero fill: x -> [0, x0, x1, x2]
    [-1, 0, 1, 2]
    >>> shift_indices(4, (-1,), "cyclic").tolist()   # torch.roll(x, -1)
    [1, 2, 3, 0]
    >>> shift_indices((2, 2), (0, 1), channels=2).tolist()
    [-1, 0, -1, 2, -1, 4, -1, 6]
    """
    size = normalize_size(size)
    shift = normalize_shift(shift, len(size))
    mode = normalize_mode(mode)
    channels = _channels(channels, size)
    return _combine([_axis_source(n, t, mode) for n, t in zip(size, shift)], size, channels)


def reflection_indices(size, axes=None, channels: int = 1) -> np.ndarray:
    """The index map of the reflection ``J`` of ``axes`` (default: all).

    ``(J x)[c, m] = x[c, m']`` with ``m'_a = n_a - 1 - m_a`` on reflected axes.

    >>> reflection_indices((2, 3), axes=(1,)).tolist()
    [2, 1, 0, 5, 4, 3]
    """
    size = normalize_size(size)
    axes = normalize_axes(axes, len(size))
    channels = _channels(channels, size)
    sources = [
        np.arange(n)[::-1].copy() if a in axes else np.arange(n) for a, n in enumerate(size)
    ]
    return _combine(sources, size, channels)


def _channels(channels, size) -> int:
    """The channel count, once the index map it gives is known to fit."""
    channels = integer(channels, "channels", minimum=1, maximum=MAX_INDEX)
    check_work(
        16 * channels * math.prod(size), f"the index map of {channels} x {size} points",
        "apply_shift / apply_reflection act on an array without any map",
    )
    return channels


def _check_matrix(size, channels, backend: str) -> None:
    """Refuse the matrix of an index map on ``channels`` x ``size`` points
    before the map is made (``channels`` itself is checked by the map)."""
    choice(backend, "backend", BACKENDS)
    _check_backend(channels * math.prod(size) if is_int(channels) else 1, backend)


def _check_backend(n: int, backend: str) -> None:
    if backend == "sympy":
        check_budget(n, SYMBOLIC_NONZEROS, f"the sympy {n} x {n} matrix", "nonzeros",
                     "use backend='torch' or apply_shift / apply_reflection")
    else:
        check_memory(n * n * 8, f"the dense {n} x {n} {backend} matrix",
                     "use backend='sympy' (sparse) or apply_shift / apply_reflection")


def index_map_matrix(src: np.ndarray, backend: str = "sympy"):
    """The 0/1 matrix ``P[i, src[i]] = 1`` of an index map (square)."""
    choice(backend, "backend", BACKENDS)
    n = len(src)
    _check_backend(n, backend)
    rows = np.flatnonzero(src >= 0)
    cols = src[rows]
    if backend == "sympy":
        import sympy

        return sympy.SparseMatrix(
            n, n, dict(zip(zip(rows.tolist(), cols.tolist()), [sympy.S.One] * len(rows)))
        )
    if backend == "numpy":
        out = np.zeros((n, n), dtype=np.int64)
        out[rows, cols] = 1
        return out
    import torch

    out = torch.zeros(n, n)
    out[torch.as_tensor(rows), torch.as_tensor(cols)] = 1.0
    return out


def shift_matrix(size, shift, mode: str = "zero", channels: int = 1, *, backend="sympy"):
    """The matrix of ``S_t`` in the row/column layout of a convolution matrix.

    Entry rule: ``S[(c, m), (c, m - t)] = 1`` (``m - t`` inside the grid for a
    zero shift, taken mod ``n`` for a cyclic one), all other entries 0.  So
    ``S @ x.flatten()`` equals ``torch.roll(x, t, dims)`` (cyclic) or the
    zero-filled shift ``apply_shift(x, t)``, and ``T @ S_in`` is the layer
    applied to a shifted input.

    Parameters
    ----------
    size : int or tuple of int
        Spatial size ``n`` of the grid.
    shift : int or tuple of int
        ``t``, one value per axis (positive moves content to higher indices).
    mode : {"zero", "cyclic"}
    channels : int
        The shift acts on every channel alike (block diagonal).
    backend : {"sympy", "torch", "numpy"}
        ``sympy.SparseMatrix`` (exact), dense ``torch.Tensor`` or dense int
        numpy array.

    Examples
    --------
    >>> shift_matrix(3, 1)
    Matrix([
    [0, 0, 0],
    [1, 0, 0],
    [0, 1, 0]])
    >>> shift_matrix(3, 1, "cyclic", backend="numpy").tolist()
    [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    """
    _check_matrix(normalize_size(size), channels, backend)
    return index_map_matrix(shift_indices(size, shift, mode, channels), backend)


def reflection_matrix(size, axes=None, channels: int = 1, *, backend="sympy"):
    """The matrix of the reflection ``J``: ``J[(c, m), (c, m')] = 1`` with
    ``m'_a = n_a - 1 - m_a`` on the reflected axes; equals ``torch.flip``.

    >>> reflection_matrix(2)
    Matrix([
    [0, 1],
    [1, 0]])
    """
    _check_matrix(normalize_size(size), channels, backend)
    return index_map_matrix(reflection_indices(size, axes, channels), backend)


def _spatial_dims(x, rank: int) -> list[int]:
    if not isinstance(x, np.ndarray) and type(x).__module__.split(".")[0] != "torch":
        raise SymtoeTypeError(
            f"x must be a numpy array or a torch tensor, but got {type(x).__name__}"
        )
    if x.ndim < rank:
        raise SymtoeError(
            f"x must have at least {rank} dimensions (the last {rank} are spatial), "
            f"but got shape {tuple(x.shape)}"
        )
    return list(range(x.ndim - rank, x.ndim))


def apply_shift(x, shift, mode: str = "zero"):
    """``S_t`` applied to the last ``len(shift)`` axes of a numpy array or torch tensor.

    ``(S_t x)[..., m] = x[..., m - t]``; cyclic equals ``torch.roll(x, t,
    dims)``, zero fills the ``|t|`` vacated positions of each axis with 0.

    >>> apply_shift(np.arange(1, 5), (1,)).tolist()
    [0, 1, 2, 3]
    >>> apply_shift(np.arange(1, 5), (-1,), "cyclic").tolist()
    [2, 3, 4, 1]
    """
    mode = normalize_mode(mode)
    shift = normalize_shift(shift, shift_rank(shift))
    dims = _spatial_dims(x, len(shift))
    for dim, t in zip(dims, shift):
        n = x.shape[dim]
        src = _axis_source(n, t, mode)
        keep = src >= 0
        index = np.where(keep, src, 0)
        shape = [1] * x.ndim
        shape[dim] = n
        if isinstance(x, np.ndarray):
            x = np.take(x, index, axis=dim) * keep.reshape(shape).astype(x.dtype)
        else:
            import torch

            idx = torch.as_tensor(index, device=x.device)
            mask = torch.as_tensor(keep, device=x.device).reshape(shape)
            gathered = x.index_select(dim, idx)
            x = torch.where(mask, gathered, gathered.new_zeros(()))
    return x


def apply_reflection(x, axes=None, rank: int | None = None):
    """``J`` applied to numpy arrays or torch tensors: ``torch.flip`` of the
    reflected spatial axes.  ``rank`` is the number of trailing spatial axes
    (default: ``x.ndim - 2``, a batch of ``(N, C, *spatial)``); ``axes``
    counts among them (default: all).

    >>> apply_reflection(np.arange(6).reshape(1, 1, 2, 3), axes=(1,)).ravel().tolist()
    [2, 1, 0, 5, 4, 3]
    """
    _spatial_dims(x, 0)  # x is an array
    if rank is None:
        rank = x.ndim - 2
    if not is_int(rank) or rank < 1:
        raise SymtoeError(
            f"rank must be a positive number of spatial axes, but got {rank!r} "
            f"for x of shape {tuple(x.shape)}"
        )
    dims = _spatial_dims(x, rank)
    flip = tuple(dims[a] for a in normalize_axes(axes, rank))
    if isinstance(x, np.ndarray):
        return np.flip(x, axis=flip).copy()
    return x.flip(flip)
