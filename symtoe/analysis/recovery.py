"""Recovering the convolution behind a matrix, or saying why there is none.

The search reads the layer off the matrix's sparsity: output channels and
groups from which ``(o, c)`` blocks are nonzero, the output grid and each
axis's geometry (kernel, stride, dilation, padding, padding mode) from the
support of that axis, then the kernel from entries that hold a single
weight; a candidate is accepted only if its whole matrix equals the given one.
Per axis, the first output row's support depends only on the kernel,
dilation and left padding, so those are tried first and the right padding
and stride (solved from the output size) only for the few that fit.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..core.limits import RECOVERY_CELLS, check_budget
from ..core.pattern import fold_positions, sharing_pattern
from ..core.sizes import axis_sizes
from ..core.spec import PADDING_MODES, ConvSpec, _per_axis, output_length
from ..core.validate import SymtoeTypeError, choice, integer, is_int, real
from .toeplitz import divisors, matrix_entries

__all__ = ["Recovery", "recover_convolution"]


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


def _max_pad(n: int, mode: str) -> int:
    return n if mode in ("zeros", "circular") else n - 1


def _first_rows(first: np.ndarray, n: int, mode: str, widest: int):
    """``(k, d, p_left)`` whose first output row reads exactly the inputs
    ``first`` (a bool row of ``n``): all left paddings of one ``(k, d)`` are
    tried in one numpy step."""
    mp = _max_pad(n, mode)
    for k in range(max(widest, 1), 2 * n + 1):
        for d in range(1, n + 1) if k > 1 else (1,):
            span = d * (k - 1)  # the kernel must fit: span + 1 <= n + pl + pr, pr <= mp
            pls = np.arange(max(0, span + 1 - n - mp), min(span, mp) + 1)
            col, valid = fold_positions(np.arange(k) * d - pls[:, None], n, mode)
            mask = np.zeros((len(pls), n), dtype=bool)
            mask[np.broadcast_to(np.arange(len(pls))[:, None], col.shape)[valid], col[valid]] = True
            for pl in pls[(mask == first).all(axis=1)].tolist():
                yield k, d, pl


def _work(n: int, mode: str) -> int:
    """Cells :func:`_first_rows` looks at on an axis of ``n`` inputs: the sum
    over ``(k, d)`` of ``(left paddings) * (k + n)``, counted in O(n)."""
    mp, total = _max_pad(n, mode), n + 1  # k = 1: d = 1, pl = 0
    for k in range(2, 2 * n + 1):
        cut = min(n, mp // (k - 1))  # d <= cut: d(k-1) + 1 paddings, else mp + 1
        total += (cut * (cut + 1) // 2 * (k - 1) + cut + (n - cut) * (mp + 1)) * (k + n)
    return total


def _support(n, o, k, s, pads, d, mode) -> np.ndarray:
    """The ``(o, n)`` support of one axis's matrix, computed directly."""
    m = np.arange(o)[:, None] * s - pads[0] + np.arange(k) * d
    col, valid = fold_positions(m, n, mode)
    mask = np.zeros((o, n), dtype=bool)
    mask[np.broadcast_to(np.arange(o)[:, None], m.shape)[valid], col[valid]] = True
    return mask


def _strides(n, o, k, pads, d, stride):
    """Strides that give ``o`` outputs (``o = (n + p - d(k-1) - 1) // s + 1``)."""
    x = n + pads[0] + pads[1] - d * (k - 1) - 1
    if x < 0:
        return []
    if stride is not None:
        return [stride] if x // stride + 1 == o else []
    if o == 1:  # every s > x gives the one row
        return [x + 1]
    return list(range(x // o + 1, x // (o - 1) + 1))


def _axis_candidates(support: np.ndarray, n: int, mode: str, limit: int, stride=None):
    """Per-axis geometries ``(k, s, d, (pl, pr))`` whose support equals ``support``."""
    o = support.shape[0]
    widest = int(support.sum(axis=1).max(initial=0))
    found = []
    for k, d, pl in _first_rows(support[0], n, mode, widest):
        for pr in range(min(d * (k - 1), _max_pad(n, mode)) + 1):
            for s in _strides(n, o, k, (pl, pr), d, stride):
                if (
                    output_length(n, k, s, (pl, pr), d) == o
                    and axis_sizes(n, k, s, (pl, pr), d, mode).live == k
                    and np.array_equal(_support(n, o, k, s, (pl, pr), d, mode), support)
                ):
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


def _grouped(nonzero: np.ndarray, c_out: int, c_in: int) -> list[int]:
    """Group counts (largest first) whose block-diagonal channel mask is
    exactly the nonzero ``(o, c)`` blocks of the matrix."""
    r_s = nonzero.shape[0] // c_out
    mask = nonzero.reshape(c_out, r_s, c_in, -1).any(axis=(1, 3))
    return [
        g for g in divisors(math.gcd(c_out, c_in))[::-1]
        if np.array_equal(mask, np.kron(np.eye(g, dtype=bool),
                                        np.ones((c_out // g, c_in // g), dtype=bool)))
    ]


def _rebuilds(spec: ConvSpec, array: np.ndarray, atol: float, M):
    """The kernel of ``spec`` read off ``array``, if ``spec`` with it gives
    ``array`` back; else a reason (str)."""
    flat = _solve_weight(spec, array)
    if flat is None:
        return f"{spec}: some weight only appears folded"
    weight = flat.reshape(spec.weight_shape)
    if array.dtype == object:
        from ..core.symbolic import symbolic_matrix

        same = bool(np.all(matrix_entries(symbolic_matrix(spec, weight)) == array))
    else:
        from ..core.numeric import numeric_matrix

        rebuilt = numeric_matrix(spec, weight).numpy()
        same = bool(np.all(np.abs(rebuilt - array) <= atol)) if atol else bool(
            np.array_equal(rebuilt, array)
        )
    if not same:
        return "the nonzero pattern fits a convolution but entries that would share a weight differ"
    if hasattr(M, "detach"):
        import torch

        weight = torch.as_tensor(weight, dtype=M.dtype)
    return weight


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
    meaningful.  The number of per-axis geometries the search may try is
    counted first and refused above
    :data:`symtoe.core.limits.RECOVERY_CELLS` (the message says how many).

    >>> from symtoe import ConvSpec, symbolic_matrix
    >>> found = recover_convolution(symbolic_matrix(ConvSpec(1, 1, 3, input_size=6, stride=2)), 6)
    >>> found.spec.kernel_size, found.spec.stride, found.weight.ravel().tolist()
    ((3,), (2,), [w[0], w[1], w[2]])
    >>> import sympy
    >>> M = sympy.Matrix([[1, 2, 0], [0, 1, 3]])
    >>> recover_convolution(M, 3, out_channels=1, stride=1).reason
    'the nonzero pattern fits a convolution but entries that would share a weight differ'
    """
    array = matrix_entries(M)
    atol = real(atol, "atol", minimum=0)
    max_candidates = integer(max_candidates, "max_candidates", minimum=1)
    if is_int(input_size):
        input_size = (input_size,)
    if not isinstance(input_size, (tuple, list)) or not 1 <= len(input_size) <= 3:
        raise SymtoeTypeError(
            f"input_size must be an int or a tuple of 1 to 3 spatial sizes, but got {input_size!r}"
        )
    n = _per_axis("input_size", tuple(input_size), len(input_size), minimum=1)
    rank = len(n)
    if not isinstance(padding_modes, (tuple, list)) or not padding_modes:
        raise SymtoeTypeError(
            f"padding_modes must be a non-empty tuple among {PADDING_MODES}, but got "
            f"{padding_modes!r}"
        )
    for mode in padding_modes:
        choice(mode, "padding_modes", PADDING_MODES)
    if out_channels is not None:
        out_channels = integer(out_channels, "out_channels", minimum=1)
    if stride is not None:
        stride = _per_axis("stride", stride, rank, minimum=1)
    if output_size is not None:
        output_size = _per_axis("output_size", output_size, rank, minimum=1)
    R, C = array.shape
    N = math.prod(n)
    if C % N:
        return Recovery(
            None, None, f"M has {C} columns, not a multiple of prod(input_size) = {N}"
        )
    if out_channels is not None and R % out_channels:
        return Recovery(
            None, None, f"M has {R} rows, not a multiple of out_channels = {out_channels}"
        )
    c_in = C // N
    symbolic = array.dtype == object
    nonzero = (array != 0) if symbolic or not atol else (np.abs(array) > atol)
    nonzero = np.asarray(nonzero, dtype=bool)
    if not nonzero.any():
        return Recovery(
            None, None, "M is zero: every kernel of zeros gives it, no geometry is determined"
        )
    reasons, plan = [], []  # plan: (c_out, groups, output grid) to search
    for c_out in divisors(R) if out_channels is None else [out_channels]:
        groups = _grouped(nonzero, c_out, c_in)
        if not groups:
            reasons.append(f"C_out={c_out}: the nonzero channel blocks are not grouped")
            continue
        grids = _factorizations(R // c_out, rank)
        if output_size is not None:
            grids = [o for o in grids if o == output_size]
            if not grids:
                reasons.append(f"C_out={c_out}: {R // c_out} rows per channel do not fit "
                               f"output_size={output_size}")
        plan += [(c_out, groups[0], o) for o in grids]
    check_budget(
        len(plan) * sum(_work(size, mode) for size in n for mode in padding_modes),
        RECOVERY_CELLS, f"recover_convolution of a {R} x {C} matrix", "support cells to compare",
        "pin out_channels, output_size, stride or padding_modes",
    )
    for (c_out, groups, o), mode in itertools.product(plan, padding_modes):
        support = nonzero.reshape(c_out, -1, c_in, N).any(axis=(0, 2)).reshape(*o, *n)
        per_axis = []
        for a in range(rank):
            other = tuple(x for x in range(2 * rank) if x not in (a, rank + a))
            found = _axis_candidates(support.any(axis=other), n[a], mode, max_candidates,
                                     None if stride is None else stride[a])
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
                spec = ConvSpec(c_in, c_out, k, input_size=n, stride=s, dilation=d,
                                padding=pads, groups=groups, padding_mode=mode)
                result = _rebuilds(spec, array, atol, M)
                if not isinstance(result, str):
                    return Recovery(spec, result, None)
                reasons.append(result)
    reason = reasons[0] if reasons else "no output grid fits the rows of M"
    if any("share a weight" in r for r in reasons):
        reason = next(r for r in reasons if "share a weight" in r)
    return Recovery(None, None, reason)


def _factorizations(total: int, rank: int) -> list[tuple[int, ...]]:
    if rank == 1:
        return [(total,)]
    return [
        (d, *rest) for d in divisors(total) for rest in _factorizations(total // d, rank - 1)
    ]
