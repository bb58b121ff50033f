"""Closed-form sizes of a layer's matrix, per axis, without building anything.

For one spatial axis (input ``n``, output ``o``, kernel ``k``, stride ``s``,
dilation ``d``, padding ``(p_l, p_r)``) output ``i`` reads the padded position
``m = i*s - p_l + j*d`` with tap ``j`` (a transposed layer writes input ``i``
to output ``m``).  The padding mode maps ``m`` to a column (see
:func:`symtoe.core.pattern.fold_positions`).  :func:`axis_sizes` counts, in
``O(k)`` arithmetic on tap indices and never ``O(n)``:

* ``nonzeros``: distinct ``(row, column)`` entries;
* ``macs``: ``(row, tap)`` pairs that read a real input (multiply-adds);
* ``live``: taps that appear in the matrix;
* ``multiplicity``: the most taps folded onto one entry.

**Zero padding** (and transposed layers): no folds.  Tap ``j`` reads a real
input from the rows ``i`` with ``0 <= i*s - p_l + j*d < n``, an interval of
``i`` per tap, so ``nonzeros = macs = sum_j |rows of j|`` and ``live`` counts
the taps with a non-empty interval.

**Circular**: the columns ``(b + j*d) mod n`` of a row take
``P = n / gcd(d, n)`` values whatever ``b``, so every row has ``min(k, P)``
entries and ``ceil(k / P)`` taps at most on one.

**Replicate**: taps below 0 all land on column 0 and taps above ``n-1`` on
column ``n-1``.  A row has its inside taps, plus one entry for the taps
below unless a tap lands on 0 exactly, plus one for the taps above unless one
lands on ``n-1``.  The rows with taps below (or above) are an interval, and a
tap lands exactly on 0 (``n-1``) in at most one row per tap.

**Reflect** (``p < n``, one reflection): a tap below (``m < 0``) lands on
``-m``, a tap above on ``2(n-1) - m``.  Two taps ``j < j'`` of one row meet
on one column iff ``2b + (j + j') d = 0`` (below and inside), ``2b + (j +
j') d = 2(n-1)`` (inside and above) or ``(j' - j) d = 2(n-1)`` (below and
above), with ``b = i*s - p_l``.  The first two pick one row per tap sum
``j + j'``, the third an interval of rows per tap, so the colliding pairs are
counted per tap sum and per tap; a column met by three taps (below, inside
and above) has three pairs and two extra taps.  ``nonzeros = o*k - pairs +
triples``.

Every count is checked against the explicit per-axis pattern on a grid of
geometries (``tests/test_counts.py``).

>>> axis_sizes(6, 3, 1, (1, 1), 1, "zeros")
AxisSizes(rows=6, nonzeros=16, macs=16, live=3, multiplicity=1)
>>> axis_sizes(10**9, 3, 1, (1, 1), 1, "reflect").nonzeros
2999999998
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .spec import ConvSpec, check_spec, output_length
from .validate import SymtoeError

__all__ = ["AxisSizes", "LayerSizes", "axis_sizes", "layer_sizes"]

_CHUNK = 1 << 16  # taps (or tap sums) handled per numpy call: bounded memory


class AxisSizes(NamedTuple):
    """Closed-form sizes of one axis's pattern (see the module docstring)."""

    rows: int
    nonzeros: int
    macs: int
    live: int
    multiplicity: int


class LayerSizes(NamedTuple):
    """Closed-form sizes of a whole layer's matrix.

    ``nonzeros``, ``macs`` and ``used`` count all channel pairs; ``spatial``
    is the nonzeros of one channel pair and ``multiplicity`` the most taps
    on one entry.
    """

    rows: int
    cols: int
    nonzeros: int
    macs: int
    used: int
    spatial: int
    multiplicity: int
    axes: tuple[AxisSizes, ...]


def _cdiv(a, b):
    return -((-a) // b)


def _chunks(start: int, stop: int, big: bool):
    """Integer arrays covering ``range(start, stop)``, int64 or (for huge
    values) Python ints in object arrays, so no arithmetic overflows."""
    for lo in range(start, stop, _CHUNK):
        hi = min(lo + _CHUNK, stop)
        yield np.array(range(lo, hi), dtype=object) if big else np.arange(lo, hi, dtype=np.int64)


def _clip_count(lo, hi, rows: int):
    """Size of the integer interval ``[lo, hi]`` intersected with ``[0, rows)``."""
    lo = np.where(lo > 0, lo, 0)
    hi = np.where(hi < rows - 1, hi, rows - 1)
    return np.where(hi >= lo, hi - lo + 1, 0)


def _exact_rows(target, s: int, rows: int):
    """Whether ``i = target / s`` is an integer row in ``[0, rows)``."""
    return (target >= 0) & (target % s == 0) & (target // s < rows)


def _inside(rows: int, s: int, pl: int, k: int, d: int, n: int, big: bool) -> tuple[int, int]:
    """``(pairs, live)``: ``(i, j)`` with ``0 <= i*s - pl + j*d < n``, and the
    taps ``j`` with at least one such ``i``."""
    pairs = live = 0
    for j in _chunks(0, k, big):
        count = _clip_count(_cdiv(pl - j * d, s), (n - 1 + pl - j * d) // s, rows)
        pairs += int(count.sum())
        live += int((count > 0).sum())
    return pairs, live


def _replicate(o, n, k, s, pl, d, inside, big) -> tuple[int, int]:
    """``(nonzeros, multiplicity)`` under replicate padding."""
    if n == 1:  # every tap lands on the one column
        return o, k
    below = min(o, _cdiv(pl, s))  # rows i with i*s - pl < 0
    above = o - min(o, max(0, (n - 1 + pl - (k - 1) * d) // s + 1))  # last tap > n-1
    at_first = at_last = 0
    for j in _chunks(0, k, big):
        at_first += int((_exact_rows(pl - j * d, s, o) & (j >= 1)).sum())  # tap j on 0
        at_last += int((_exact_rows(n - 1 + pl - j * d, s, o) & (j <= k - 2)).sum())
    first = min(k, pl // d + 1)  # taps on column 0 in row 0
    j_last = max(0, _cdiv(n - 1 - (o - 1) * s + pl, d))  # first tap on n-1 in the last row
    return inside + below - at_first + above - at_last, max(1, first, k - j_last)


def _reflect(o, n, k, s, pl, d, big) -> tuple[int, int]:
    """``(nonzeros, multiplicity)`` under reflect padding."""
    pairs = triples = 0
    delta = 2 * (n - 1) // d if n > 1 and 2 * (n - 1) % d == 0 else 0  # below-above gap
    for sigma in _chunks(1, 2 * k - 2, big):  # tap sums j + j'
        per_sum = np.where(sigma % 2 == 0, sigma // 2, (sigma + 1) // 2) - np.where(
            sigma - k + 1 > 0, sigma - k + 1, 0
        )  # pairs j < j' <= k-1 with j + j' = sigma
        per_sum = np.where(per_sum > 0, per_sum, 0)
        even = sigma * d % 2 == 0
        half = sigma * d // 2
        low = even & _exact_rows(pl - half, s, o)  # 2b = -sigma*d
        high = even & _exact_rows(n - 1 - half + pl, s, o)  # 2b = 2(n-1) - sigma*d
        pairs += int((per_sum * low).sum() + (per_sum * high).sum())
        if delta and delta <= k - 1:  # and the below tap's partner above lands there too
            j_lo = np.where(sigma - k + 1 > 0, sigma - k + 1, 0)
            j_lo = np.where(j_lo > (sigma * d - 2 * (n - 1)) // (2 * d) + 1, j_lo,
                            (sigma * d - 2 * (n - 1)) // (2 * d) + 1)
            j_hi = np.where((sigma + 1) // 2 - 1 < k - 1 - delta, (sigma + 1) // 2 - 1,
                            k - 1 - delta)
            triples += int((np.where(j_hi >= j_lo, j_hi - j_lo + 1, 0) * low).sum())
    if delta and delta <= k - 1:
        for j in _chunks(0, k - delta, big):  # rows with tap j below and j + delta above
            lo = _cdiv(pl - (n - 1) - j * d + 1, s)
            pairs += int(_clip_count(lo, (pl - j * d - 1) // s, o).sum())
    multiplicity = 3 if triples else 2 if pairs else 1
    return o * k - pairs + triples, multiplicity


def axis_sizes(
    n: int, k: int, s: int, padding: tuple[int, int], d: int, mode: str = "zeros",
    transposed: bool = False, output_padding: int = 0,
) -> AxisSizes:
    """Closed-form sizes of one axis's sharing pattern (see the module docstring).

    Equals what :func:`symtoe.core.pattern.axis_pattern` (same arguments,
    validated like a 1-D :class:`~symtoe.core.spec.ConvSpec`) holds:
    ``nonzeros``, ``contributions`` (``macs``), ``live_taps.sum()`` and the
    multiplicity of its tap table.
    """
    if not (isinstance(padding, (tuple, list)) and len(padding) == 2):
        raise SymtoeError(f"padding must be a (left, right) pair, but got {padding!r}")
    (axis,) = ConvSpec(  # validates every argument with ConvSpec's rules and words
        1, 1, k, input_size=n, stride=s, padding=(tuple(padding),), dilation=d,
        padding_mode=mode, transposed=transposed, output_padding=output_padding,
    ).axes()
    return _axis_sizes(*axis[:5], mode, transposed, axis[5])


def _axis_sizes(n, k, s, padding, d, mode, transposed, output_padding) -> AxisSizes:
    pl, pr = padding
    o = output_length(n, k, s, padding, d, transposed=transposed, output_padding=output_padding)
    big = max(n, o, pl + pr, k * d, o * s, n * s) >= 2**61
    if transposed:  # input i writes output i*s - pl + j*d: no folds
        pairs, live = _inside(n, s, pl, k, d, o, big)
        return AxisSizes(o, pairs, pairs, live, 1)
    if mode == "zeros":
        pairs, live = _inside(o, s, pl, k, d, n, big)
        return AxisSizes(o, pairs, pairs, live, 1)
    if mode == "circular":
        period = n // math.gcd(d, n)
        return AxisSizes(o, o * min(k, period), o * k, k, _cdiv(k, period))
    if mode == "replicate":
        inside, _ = _inside(o, s, pl, k, d, n, big)
        nonzeros, multiplicity = _replicate(o, n, k, s, pl, d, inside, big)
    else:
        nonzeros, multiplicity = _reflect(o, n, k, s, pl, d, big)
    return AxisSizes(o, nonzeros, o * k, k, multiplicity)


def layer_sizes(spec: ConvSpec) -> LayerSizes:
    """Closed-form sizes of a layer's matrix: the per-axis sizes times the
    ``C_out * C_in / groups`` connected channel pairs.

    >>> layer_sizes(ConvSpec(512, 512, 3, input_size=(4096, 4096), padding=1)).nonzeros
    39569534746624
    """
    check_spec(spec)
    axes = tuple(
        _axis_sizes(n, k, s, pad, d, spec.padding_mode, spec.transposed, op)
        for n, k, s, pad, d, op in spec.axes()
    )
    pairs = spec.out_channels * spec.in_channels // spec.groups
    spatial = math.prod(a.nonzeros for a in axes)
    return LayerSizes(
        *spec.matrix_shape,
        nonzeros=pairs * spatial,
        macs=pairs * math.prod(a.macs for a in axes),
        used=pairs * math.prod(a.live for a in axes),
        spatial=spatial,
        multiplicity=math.prod(a.multiplicity for a in axes),
        axes=axes,
    )
