"""Structure of a matrix: Toeplitz, circulant, (multilevel) block Toeplitz,
recovering the convolution behind a matrix, and exact circulant eigenvalues.

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

from ..core.pattern import axis_pattern, sharing_pattern
from ..core.spec import PADDING_MODES, ConvSpec, check_spec

__all__ = [
    "Recovery",
    "ToeplitzLevels",
    "circulant_eigenvalues",
    "is_block_toeplitz",
    "is_circulant",
    "is_toeplitz",
    "recover_convolution",
    "toeplitz_levels",
]


# ------------------------------------------------------------- conversion
def _entries(M) -> np.ndarray:
    """M as a 2-D numpy array: object (sympy entries) or numeric."""
    try:
        import sympy
    except ImportError:  # pragma: no cover - sympy is a dependency
        sympy = None
    if sympy is not None and isinstance(M, sympy.MatrixBase):
        out = np.empty(M.shape, dtype=object)
        out[...] = sympy.S.Zero
        if M.rows and M.cols:
            out[...] = np.array(M.tolist(), dtype=object).reshape(M.shape)
        return out
    if hasattr(M, "detach"):  # torch
        if M.layout != _torch_strided():
            M = M.to_dense()
        M = M.detach().cpu().numpy()
    array = np.asarray(M)
    if array.ndim != 2:
        raise ValueError(f"M must be a 2-D matrix, but got shape {array.shape}")
    return array


def _torch_strided():
    import torch

    return torch.strided


def _comparable(M, atol: float) -> tuple[np.ndarray, float]:
    """Integer codes for object entries (exact), else the numeric array."""
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ValueError(f"atol must be a non-negative number, but got {atol!r}")
    array = _entries(M)
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
    ok = (
        isinstance(block_shape, (tuple, list))
        and len(block_shape) == 2
        and all(isinstance(b, (int, np.integer)) and b >= 1 for b in block_shape)
    )
    if not ok:
        raise ValueError(f"block_shape must be two positive integers, but got {block_shape!r}")
    if shape[0] % block_shape[0] or shape[1] % block_shape[1]:
        raise ValueError(
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


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _levels_for(A: np.ndarray, blocks, max_levels: int, atol: float):
    """The fewest Toeplitz levels inside the outer ``blocks`` grid, or None."""
    P, Q = blocks
    r, c = A.shape[0] // P, A.shape[1] // Q
    cache: dict = {}

    def level_ok(pre_r, m, pre_c, n):
        key = (pre_r, m, pre_c, n)
        if key not in cache:
            view = A.reshape(P, pre_r, m, r // (pre_r * m), Q, pre_c, n, c // (pre_c * n))
            cache[key] = _shift_equal(view, 2, 6, atol)
        return cache[key]

    def search(pre_r, pre_c, depth):
        rest_r, rest_c = r // pre_r, c // pre_c
        if depth == 1:
            return [(rest_r, rest_c)] if level_ok(pre_r, rest_r, pre_c, rest_c) else None
        for m in _divisors(rest_r)[1:-1]:
            for n in _divisors(rest_c)[1:-1]:
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

    Decompositions need not be unique: under valid padding a channel block's
    band can continue into its neighbour's, and ``(C_out, 1)`` outer blocks
    with a wider first level are then found (fewer outer blocks come first);
    both are true decompositions.
    """
    A, atol = _comparable(M, atol)
    R, C = A.shape
    pairs = sorted(
        itertools.product(_divisors(R), _divisors(C)), key=lambda pq: (pq[0] * pq[1], pq)
    )
    for P, Q in pairs:
        if R * C == P * Q:
            continue
        levels = _levels_for(A, (P, Q), max_levels, atol)
        if levels is not None:
            return ToeplitzLevels((P, Q), levels)
    return None


# --------------------------------------------------------------- recovery
@dataclass(frozen=True, eq=False)
class Recovery:
    """The result of :func:`recover_convolution`.

    Attributes
    ----------
    spec : ConvSpec or None
        A layer whose matrix is ``M`` (None when none was found).
    weight : object array of sympy expressions, torch.Tensor, or None
        Its kernel (sympy for a sympy ``M``, else a tensor of ``M``'s dtype).
    reason : str or None
        Why no convolution produces ``M`` (None when one does).
    """

    spec: ConvSpec | None
    weight: object
    reason: str | None

    def __bool__(self) -> bool:
        return self.spec is not None


def _axis_candidates(support: np.ndarray, n: int, mode: str, limit: int, stride=None):
    """Per-axis geometries (k, s, d, (pl, pr)) whose 1-D support equals ``support``."""
    o = support.shape[0]
    widest = int(support.sum(axis=1).max(initial=0))
    max_pad = n if mode in ("zeros", "circular") else n - 1
    found = []
    for k in range(max(widest, 1), 2 * n + 1):
        for d in range(1, n + 1) if k > 1 else (1,):
            span = d * (k - 1)
            for pl in range(0, min(span, max_pad) + 1):
                for pr in range(0, min(span, max_pad) + 1):
                    if span + 1 > n + pl + pr:
                        continue
                    for s in range(1, n + pl + pr + 1) if stride is None else (stride,):
                        if (n + pl + pr - span - 1) // s + 1 != o:
                            continue
                        ap = axis_pattern(n, k, s, (pl, pr), d, mode)
                        mask = np.zeros((o, n), dtype=bool)
                        rows = np.broadcast_to(np.arange(o)[:, None], ap.cols.shape)
                        mask[rows[ap.valid], ap.cols[ap.valid]] = True
                        if np.array_equal(mask, support) and ap.live_taps.all():
                            found.append((k, s, d, (pl, pr)))
                            if len(found) >= limit:
                                return found
    return found


def _solve_weight(spec: ConvSpec, values: np.ndarray):
    """The weight whose matrix has ``values`` at the pattern's single-tap
    entries, as (flat weight array, ok)."""
    pattern = sharing_pattern(spec)
    rows, cols, ps = pattern.triples()
    key = rows * spec.matrix_shape[1] + cols
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    single = counts[inverse.ravel()] == 1
    numel = math.prod(spec.weight_shape)
    have = np.zeros(numel, dtype=bool)
    first = np.full(numel, -1, dtype=np.int64)
    idx = np.flatnonzero(single)
    first[ps[idx][::-1]] = idx[::-1]  # the first single entry of each weight
    have[ps[idx]] = True
    if not have[np.unique(ps)].all():
        return None
    flat = np.zeros(numel, dtype=values.dtype)
    sel = first >= 0
    flat[sel] = values[rows[first[sel]], cols[first[sel]]]
    return flat


def recover_convolution(
    M,
    input_size,
    *,
    out_channels=None,
    output_size=None,
    stride=None,
    padding_modes=PADDING_MODES,
    atol: float = 0,
    max_candidates: int = 6,
) -> Recovery:
    """Find a convolution (spec and kernel) whose matrix is ``M``, or say why none is.

    ``input_size`` is the spatial size of one input sample, so ``M``'s
    columns give ``C_in = cols / prod(input_size)``.  The search reads the
    layer off ``M``'s sparsity: output channels and groups from which
    ``(o, c)`` blocks are nonzero, the output grid and per-axis geometry
    (kernel, stride, dilation, padding, padding mode) from the support of each
    axis, assuming a generic kernel (no zero weights); each candidate's kernel
    is read from entries that hold a single weight and accepted only if the
    layer's whole matrix then equals ``M`` (exactly for sympy, within
    ``atol`` for numbers).  Forward layers with ``flip=False`` are searched (a
    transposed or flipped layer is found as an equal forward one when one
    exists).

    Every matrix is *some* layer's (one output channel per row, a kernel as
    wide as the input), so the search prefers few output channels, then
    small kernels, and searches padding up to the input size per side and
    kernels up to twice the input size.  Pin ``out_channels``,
    ``output_size`` or ``stride`` to ask a sharper question; "none" is then
    meaningful.

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> found = recover_convolution(symbolic_matrix(ConvSpec(1, 1, 3, input_size=6, stride=2)), 6)
    >>> found.spec.kernel_size, found.spec.stride, found.weight.ravel().tolist()
    ((3,), (2,), [w[0], w[1], w[2]])
    >>> import sympy
    >>> M = sympy.Matrix([[1, 2, 0], [0, 1, 3]])
    >>> recover_convolution(M, 3, out_channels=1, stride=1).reason
    'the nonzero pattern fits a convolution but entries that would share a weight differ'
    """
    from ..core.spec import _per_axis

    array = _entries(M)
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ValueError(f"atol must be a non-negative number, but got {atol!r}")
    if isinstance(input_size, (int, np.integer)):
        input_size = (int(input_size),)
    n = _per_axis("input_size", tuple(input_size), len(tuple(input_size)), minimum=1)
    for mode in padding_modes:
        if mode not in PADDING_MODES:
            raise ValueError(f"padding_modes must be among {PADDING_MODES}, but got {mode!r}")
    R, C = array.shape
    N = math.prod(n)
    if C % N:
        return Recovery(
            None, None, f"M has {C} columns, not a multiple of prod(input_size) = {N}"
        )
    c_in = C // N
    symbolic = array.dtype == object
    nonzero = (array != 0) if symbolic or not atol else (np.abs(array) > atol)
    nonzero = np.asarray(nonzero, dtype=bool)
    if not nonzero.any():
        return Recovery(
            None, None, "M is zero: every kernel of zeros gives it, no geometry is determined"
        )
    reasons = []
    rank = len(n)
    if stride is not None:
        stride = _per_axis("stride", stride, rank, minimum=1)
    if output_size is not None:
        output_size = _per_axis("output_size", output_size, rank, minimum=1)
    for c_out in _divisors(R) if out_channels is None else [out_channels]:
        if R % c_out:
            return Recovery(
                None, None, f"M has {R} rows, not a multiple of out_channels = {c_out}"
            )
        r_s = R // c_out
        blocks = nonzero.reshape(c_out, r_s, c_in, N)
        mask = blocks.any(axis=(1, 3))
        groups = [
            g for g in _divisors(math.gcd(c_out, c_in))[::-1]
            if np.array_equal(mask, np.kron(np.eye(g, dtype=bool),
                                            np.ones((c_out // g, c_in // g), dtype=bool)))
        ]
        if not groups:
            reasons.append(f"C_out={c_out}: the nonzero channel blocks are not grouped")
            continue
        support = blocks.any(axis=(0, 2))  # (r_s, N)
        grids = _factorizations(r_s, rank)
        if output_size is not None:
            grids = [o for o in grids if o == output_size]
            if not grids:
                reasons.append(
                    f"C_out={c_out}: {r_s} rows per channel do not fit output_size={output_size}"
                )
        for o in grids:
            grid = support.reshape(*o, *n)
            for mode in padding_modes:
                per_axis = []
                for a in range(rank):
                    other = tuple(x for x in range(2 * rank) if x not in (a, rank + a))
                    axis_support = grid.any(axis=other)
                    found = _axis_candidates(
                        axis_support, n[a], mode, max_candidates,
                        None if stride is None else stride[a],
                    )
                    if not found:
                        reasons.append(
                            f"no per-axis geometry of axis {a} (input {n[a]}, output {o[a]}) "
                            "matches the nonzero pattern of M"
                        )
                        break
                    per_axis.append(found)
                else:
                    for combo in itertools.product(*per_axis):
                        k, s, d, pads = zip(*combo)
                        spec = ConvSpec(
                            c_in, c_out, k, input_size=n, stride=s, dilation=d,
                            padding=pads, groups=groups[0], padding_mode=mode,
                        )
                        flat = _solve_weight(spec, array)
                        if flat is None:
                            reasons.append(f"{spec}: some weight only appears folded")
                            continue
                        weight = flat.reshape(spec.weight_shape)
                        if symbolic:
                            from ..core.symbolic import symbolic_matrix

                            rebuilt = _entries(symbolic_matrix(spec, weight))
                            same = bool(np.all(rebuilt == array))
                        else:
                            from ..core.numeric import numeric_matrix

                            rebuilt = numeric_matrix(spec, weight).numpy()
                            same = _equal(rebuilt, array, atol)
                        if same:
                            if not symbolic and hasattr(M, "detach"):
                                import torch

                                weight = torch.as_tensor(weight, dtype=M.dtype)
                            return Recovery(spec, weight, None)
                        reasons.append(
                            "the nonzero pattern fits a convolution but entries that "
                            "would share a weight differ"
                        )
    reason = reasons[0] if reasons else "no output grid fits the rows of M"
    if any("share a weight" in r for r in reasons):
        reason = next(r for r in reasons if "share a weight" in r)
    return Recovery(None, None, reason)


def _factorizations(total: int, rank: int) -> list[tuple[int, ...]]:
    if rank == 1:
        return [(total,)]
    return [
        (d, *rest) for d in _divisors(total) for rest in _factorizations(total // d, rank - 1)
    ]


# ------------------------------------------------------------- eigenvalues
def circulant_eigenvalues(spec: ConvSpec, weight=None) -> np.ndarray:
    """Exact eigenvalues of a circulant layer: the DFT of its kernel.

    For circular padding, stride 1, total padding ``d(k-1)`` per axis and one
    input and output channel, ``T v_f = lambda_f v_f`` with eigenvectors
    ``v_f[m] = prod_a omega_a^(f_a m_a)``, ``omega_a = exp(2 pi i / n_a)``,
    and

        lambda_f = sum over row 0's entries (0, c, p) of w[p] * prod_a omega_a^(f_a c_a),

    i.e. ``sum_j w[j] omega^(f (j d - p_left))`` in 1-D: for ``w = [a, b,
    c]`` with padding 1, ``lambda_f = a omega^-f + b + c omega^f``.  Returns
    an object array of shape ``input_size`` (index ``f``) of sympy numbers
    with exact roots of unity; ``numpy.fft.fft`` of the matrix's first
    column gives the same values numerically.

    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> circulant_eigenvalues(spec).tolist()
    [w[0] + w[1] + w[2], -I*w[0] + w[1] + I*w[2], -w[0] + w[1] - w[2], I*w[0] + w[1] - I*w[2]]
    """
    import sympy

    from ..core.symbolic import as_sympy_array, weight_symbols

    check_spec(spec)
    if (
        spec.padding_mode != "circular"
        or spec.transposed
        or any(s != 1 for s in spec.stride)
        or spec.output_size != spec.input_size
    ):
        raise ValueError(
            "spec must be circulant (padding_mode='circular', stride 1, total padding "
            f"d(k-1) per axis), but got padding_mode={spec.padding_mode!r}, "
            f"stride={spec.stride}, output_size={spec.output_size} for "
            f"input_size={spec.input_size}"
        )
    if spec.in_channels != 1 or spec.out_channels != 1:
        raise ValueError(
            "spec must have one input and one output channel for scalar eigenvalues, "
            f"but got {spec.in_channels} -> {spec.out_channels}"
        )
    w = weight_symbols(spec) if weight is None else as_sympy_array(
        weight, spec.weight_shape, "weight"
    )
    rows, cols, ps = sharing_pattern(spec).triples()
    first = rows == 0
    coords = np.unravel_index(cols[first], spec.input_size)  # per axis, row 0's columns
    weights = w.ravel()[ps[first]]
    freqs = np.indices(spec.input_size).reshape(spec.rank, -1)
    # exponent of each (frequency, entry) as a fraction of a full turn
    turns = sum(
        sympy.Rational(1, n) * ((f[:, None] * c[None, :]) % n).astype(object)
        for f, c, n in zip(freqs, coords, spec.input_size)
    )
    roots = np.vectorize(lambda q: sympy.exp(2 * sympy.pi * sympy.I * q), otypes=[object])(turns)
    values = (roots * weights[None, :]).sum(axis=1)
    out = np.empty(len(values), dtype=object)
    out[:] = [sympy.expand(v) for v in values]
    return out.reshape(spec.input_size)
