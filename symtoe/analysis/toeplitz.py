"""Toeplitz structure of a matrix: Toeplitz, circulant, (multilevel) block Toeplitz.

Every check accepts a ``sympy`` matrix, a torch tensor (dense or sparse) or a
numpy array.  Sympy entries are compared exactly (structural equality after
sympy's automatic canonicalisation, e.g. ``w[0] + w[1]``); numeric entries
exactly by default, or within ``atol``.  The checks are numpy slicing of the
whole matrix at once:

* Toeplitz: ``M[i+1, j+1] == M[i, j]`` (entries depend on ``i - j`` only);
* circulant: square and ``M[i+1, :] == roll(M[i, :], 1)``;
* block Toeplitz with blocks ``(b_r, b_c)``: viewed as ``A[I, i, J, j]``,
  ``A[I+1, :, J+1, :] == A[I, :, J, :]`` and every block Toeplitz;
* multilevel: with rows ``(P, m_1..m_L)`` and columns ``(Q, n_1..n_L)`` the
  level-``l`` condition shifts the ``m_l`` and ``n_l`` indices together.
  ``(P, Q)`` is a general (non-Toeplitz) outer block grid: the channels of a
  multi-channel layer.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..core.limits import EXPLICIT_ENTRIES, STRUCTURE_COMPARISONS, check_budget, check_memory
from ..core.validate import SizeLimitError, SymtoeError, SymtoeTypeError, integer, real

__all__ = [
    "ToeplitzLevels",
    "is_block_toeplitz",
    "is_circulant",
    "is_toeplitz",
    "divisors",
    "matrix_entries",
    "toeplitz_levels",
]


# ------------------------------------------------------------- conversion
def matrix_entries(M, name: str = "M") -> np.ndarray:
    """``M`` (sympy, torch dense or sparse, numpy, nested lists) as a 2-D numpy
    array: object for sympy entries, else numeric and finite."""
    import sympy

    if isinstance(M, sympy.MatrixBase):
        check_budget(M.rows * M.cols, EXPLICIT_ENTRIES, f"{name} as a dense array", "entries",
                     "check a smaller matrix")
        out = np.empty(M.shape, dtype=object)
        out[...] = sympy.S.Zero
        if M.rows and M.cols:
            out[...] = np.array(M.tolist(), dtype=object).reshape(M.shape)
        return out
    if type(M).__module__.split(".")[0] == "torch":
        import torch

        if M.is_meta:
            raise SymtoeError(f"{name} must hold values, but got a tensor on the meta device")
        if M.ndim != 2:
            raise SymtoeError(f"{name} must be a 2-D matrix, but got shape {tuple(M.shape)}")
        if M.layout != torch.strided:
            check_memory(M.shape[0] * M.shape[1] * M.element_size(), f"{name} made dense",
                         "check a smaller matrix")
            M = M.to_dense()
        M = M.detach().cpu().numpy()
    if M is None or isinstance(M, (str, bytes, dict, set)):
        raise SymtoeTypeError(f"{name} must be a matrix, but got {type(M).__name__}")
    try:
        array = np.asarray(M)
    except ValueError:
        raise SymtoeError(f"{name} must be a 2-D matrix, but got a ragged nesting") from None
    if array.ndim != 2:
        raise SymtoeError(f"{name} must be a 2-D matrix, but got shape {array.shape}")
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise SymtoeError(f"{name} must be finite, but it holds NaN or infinite values")
    if array.dtype == object:
        return matrix_entries(sympy.Matrix(array.tolist()), name) if array.size else array
    return array


def _comparable(M, atol) -> tuple[np.ndarray, float]:
    """Integer codes for object entries (exact), else the numeric array."""
    atol = real(atol, "atol", minimum=0)
    array = matrix_entries(M)
    if array.dtype == object:
        table: dict = {0: 0}
        flat = array.ravel().tolist()
        codes = [table.setdefault(v, len(table)) for v in flat]  # intern each entry once
        return np.array(codes, dtype=np.int64).reshape(array.shape), 0
    return array, atol


def _equal(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    if atol:
        return bool(np.all(np.abs(a - b) <= atol))
    return bool(np.array_equal(a, b))


def _shift_equal(A: np.ndarray, row_axis: int, col_axis: int, atol: float) -> bool:
    """``A[.., i+1, .., j+1, ..] == A[.., i, .., j, ..]`` along two axes."""
    hi = [slice(None)] * A.ndim
    lo = [slice(None)] * A.ndim
    hi[row_axis] = hi[col_axis] = slice(1, None)
    lo[row_axis] = lo[col_axis] = slice(None, -1)
    return _equal(A[tuple(hi)], A[tuple(lo)], atol)


# ---------------------------------------------------------------- checks
def is_toeplitz(M, *, atol: float = 0) -> bool:
    """Whether ``M[i, j]`` depends only on ``i - j`` (any shape).

    The matrix of a stride-1, single-channel 1-D convolution under zero
    padding is Toeplitz.

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> is_toeplitz(symbolic_matrix(ConvSpec(1, 1, 3, input_size=5, padding=1)))
    True
    >>> is_toeplitz(symbolic_matrix(ConvSpec(1, 1, 3, input_size=5, stride=2)))
    False
    """
    A, atol = _comparable(M, atol)
    return _shift_equal(A, 0, 1, atol)


def is_circulant(M, *, atol: float = 0) -> bool:
    """Whether ``M`` is square and each row is the previous one rolled right by one.

    ``M[i, j] = c[(j - i) mod n]``; circular padding with stride 1 and total
    padding ``d(k-1)`` gives one.

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> zeros = spec.replace(padding_mode="zeros")
    >>> is_circulant(symbolic_matrix(spec)), is_circulant(symbolic_matrix(zeros))
    (True, False)
    """
    A, atol = _comparable(M, atol)
    if A.shape[0] != A.shape[1]:
        return False
    return _equal(A[1:], np.roll(A[:-1], 1, axis=1), atol)


def _block_shape(block_shape, shape) -> tuple[int, int]:
    if not (isinstance(block_shape, (tuple, list)) and len(block_shape) == 2):
        raise SymtoeTypeError(
            f"block_shape must be two positive integers, but got {block_shape!r}"
        )
    for b in block_shape:
        integer(b, "block_shape", minimum=1)
    if shape[0] % block_shape[0] or shape[1] % block_shape[1]:
        raise SymtoeError(
            f"block_shape must divide the matrix shape {tuple(shape)}, but got "
            f"{tuple(block_shape)}"
        )
    return int(block_shape[0]), int(block_shape[1])


def is_block_toeplitz(M, block_shape, *, atol: float = 0) -> bool:
    """Whether ``M`` is block Toeplitz with Toeplitz blocks of ``block_shape``.

    Viewed as ``A[I, i, J, j]`` (block row ``I``, block column ``J``) the
    blocks depend only on ``I - J`` and every block is Toeplitz.  A
    single-channel 2-D convolution at stride 1 with zero padding, input
    ``(n1, n2)`` and output ``(o1, o2)``, is block Toeplitz with blocks
    ``(o2, n2)``.

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> M = symbolic_matrix(ConvSpec(1, 1, 2, input_size=(3, 3)))
    >>> is_block_toeplitz(M, (2, 3)), is_toeplitz(M)
    (True, False)
    """
    A, atol = _comparable(M, atol)
    br, bc = _block_shape(block_shape, A.shape)
    A4 = A.reshape(A.shape[0] // br, br, A.shape[1] // bc, bc)
    return _shift_equal(A4, 0, 2, atol) and _shift_equal(A4, 1, 3, atol)


@dataclass(frozen=True)
class ToeplitzLevels:
    """A multilevel block-Toeplitz decomposition (see :func:`toeplitz_levels`).

    Attributes
    ----------
    blocks : (int, int)
        ``(P, Q)``: the outer grid of general blocks (``(1, 1)`` when the whole
        matrix is multilevel Toeplitz; ``(C_out, C_in)`` for a multi-channel
        layer).
    levels : tuple of (int, int)
        ``(m_l, n_l)`` from the outermost level to the innermost: at level
        ``l`` the matrix is an ``m_l x n_l`` Toeplitz arrangement of the
        blocks of the next level.
    """

    blocks: tuple[int, int]
    levels: tuple[tuple[int, int], ...]


def divisors(n: int) -> list[int]:
    """The divisors of ``n``, ascending (``O(sqrt n)``)."""
    n = integer(n, "n", minimum=1)
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def _levels_for(A: np.ndarray, blocks, max_levels: int, atol: float, work: list):
    """The fewest Toeplitz levels inside the outer ``blocks`` grid, or None.
    ``work[0]`` is the number of entry comparisons left (shared by calls)."""
    P, Q = blocks
    r, c = A.shape[0] // P, A.shape[1] // Q
    cache: dict = {}

    def level_ok(pre_r, m, pre_c, n):
        key = (pre_r, m, pre_c, n)
        if key not in cache:
            work[0] -= A.size
            if work[0] < 0:
                raise SizeLimitError(
                    f"toeplitz_levels of a {A.shape[0]} x {A.shape[1]} matrix would need "
                    f"more than {STRUCTURE_COMPARISONS:,} entry comparisons; pass a smaller "
                    "max_levels or check given block shapes with is_block_toeplitz"
                )
            view = A.reshape(P, pre_r, m, r // (pre_r * m), Q, pre_c, n, c // (pre_c * n))
            cache[key] = _shift_equal(view, 2, 6, atol)
        return cache[key]

    def search(pre_r, pre_c, depth):
        rest_r, rest_c = r // pre_r, c // pre_c
        if depth == 1:
            return [(rest_r, rest_c)] if level_ok(pre_r, rest_r, pre_c, rest_c) else None
        for m in divisors(rest_r)[1:-1]:
            for n in divisors(rest_c)[1:-1]:
                if level_ok(pre_r, m, pre_c, n):
                    found = search(pre_r * m, pre_c * n, depth - 1)
                    if found is not None:
                        return [(m, n)] + found
        return None

    for depth in range(1, max_levels + 1):
        found = search(1, 1, depth)
        if found is not None and any(m >= 2 and n >= 2 for m, n in found):
            return tuple(found)
    return None


def toeplitz_levels(M, *, max_levels: int = 4, atol: float = 0) -> ToeplitzLevels | None:
    """Find the levels of a multilevel block-Toeplitz matrix by itself.

    Searches the outer general block grid ``(P, Q)`` (fewest blocks first)
    and, for it, the fewest Toeplitz levels ``(m_1, n_1), ..., (m_L, n_L)``
    (``m_1 ... m_L = rows / P``, ``n_1 ... n_L = cols / Q``) such that every
    level's condition holds; every level but the innermost must have
    ``m_l, n_l >= 2`` (a 1-row arrangement says nothing).  Returns ``None``
    when no level carries any Toeplitz structure.

    A ``C_out -> C_in`` layer on an ``(n1, n2)`` input with output
    ``(o1, o2)`` at stride 1 gives ``blocks=(C_out, C_in)`` and ``levels=((o1,
    n1), (o2, n2))``.

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> toeplitz_levels(symbolic_matrix(ConvSpec(2, 3, 3, input_size=(3, 4), padding=1)))
    ToeplitzLevels(blocks=(3, 2), levels=((3, 3), (4, 4)))

    The search compares whole arrays; it stops with a
    :class:`~symtoe.core.validate.SizeLimitError` after
    :data:`symtoe.core.limits.STRUCTURE_COMPARISONS` entry comparisons.

    Decompositions need not be unique: under valid padding a channel block's
    band can continue into its neighbour's, and ``(C_out, 1)`` outer blocks
    with a wider first level are then found (fewer outer blocks come first);
    both are true decompositions.
    """
    max_levels = integer(max_levels, "max_levels", minimum=1)
    A, atol = _comparable(M, atol)
    R, C = A.shape
    pairs = sorted(
        itertools.product(divisors(R), divisors(C)), key=lambda pq: (pq[0] * pq[1], pq)
    )
    work = [STRUCTURE_COMPARISONS]
    for P, Q in pairs:
        if R * C == P * Q:
            continue
        levels = _levels_for(A, (P, Q), max_levels, atol, work)
        if levels is not None:
            return ToeplitzLevels((P, Q), levels)
    return None
