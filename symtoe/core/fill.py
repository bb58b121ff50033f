"""Writing a layer's values with a few strided copies instead of a gather.

The values of one output channel are ``W2ext[o, template]`` (see
:class:`~symtoe.core.pattern.SharingPattern`): a gather of ``L`` entries, which a
CPU does at about one entry per cycle.  But the template repeats itself.
Along each axis the rows have a few *classes* (the taps a row reads, and
which of them are valid), and away from the borders the classes are periodic
(period 1 for a forward layer, the stride for a transposed one).  Rows are
laid out axis by axis, so the whole block of rows below a prefix
``(i_1, ..., i_a)`` depends only on the class of ``i_a`` given the prefix,
and a run of ``R`` identical periods is ``R`` copies of one block at a fixed
distance.

A :class:`FillPlan` cuts the template at a depth ``delta``: the blocks of
rows below prefixes of length ``delta`` that are not repeats of an earlier
period are *leaves*.  The leaves are gathered once into a small buffer ``V``
(all of them together are a few rows of the layer), and each leaf is then
broadcast into every place it repeats by one strided copy, whose repeated
dimensions have source stride 0.  ``delta = 0`` is the plain gather;
``delta = rank`` copies single rows; the depth is chosen by a cost model
(a gathered entry costs about 15 written ones, a copy call a few
microseconds).

>>> from symtoe import ConvSpec, sharing_pattern
>>> plan = fill_plan(sharing_pattern(ConvSpec(3, 16, 3, input_size=(32, 32), padding=1)))
>>> plan.depth, plan.leaf_weight.shape[1], [copy[1] for copy in plan.copies]
(1, 1974, [(2, 564), (30, 846)])

Here the 1974 gathered values per output channel are the first, the second
and the last row of outputs (564 + 846 + 564); one copy writes the first and
the last, one broadcasts the second to all 30 interior rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .pattern import SharingPattern
from .validate import SymtoeError, SymtoeTypeError, integer

__all__ = ["FillPlan", "fill_plan"]

# Rough costs on a CPU, in nanoseconds: what decides between plans, not a promise.
_GATHER_NS = 0.45  # one gathered entry
_WRITE_NS = 0.03  # one entry written by a strided copy ...
_RUN_NS = 1.5  # ... plus this per contiguous run of the copy
_CALL_NS = 4000.0  # one copy call (dispatch, views)
_MAX_LEAVES = 4096  # stop looking deeper when a depth has this many leaves


@dataclass(frozen=True)
class FillPlan:
    """How to write the ``L`` values of one output channel.

    Attributes
    ----------
    depth : int
        Row-prefix depth of the leaves (0: one leaf, the whole template).
    leaf_weight : ndarray of int64, shape (multiplicity, n_leaf)
        ``V = sum_m W2ext[..., leaf_weight[m]]`` gathers every leaf.
    copies : tuple of (dst_offset, shape, dst_strides, src_offset, src_strides)
        Each copy writes ``V`` (viewed with ``src_*``) into the values of one
        channel (viewed with ``dst_*``); together they write every value once.
    """

    depth: int
    leaf_weight: np.ndarray
    copies: tuple

    @property
    def is_gather(self) -> bool:
        """True when the plan is the plain gather (nothing repeats)."""
        return self.depth == 0


def _classes(axis) -> np.ndarray:
    """Class id of each row of an AxisPattern: rows with equal taps and validity."""
    n = axis.n_rows
    key = np.concatenate([axis.valid.reshape(n, -1), axis.taps.reshape(n, -1)], axis=1)
    return np.unique(key, axis=0, return_inverse=True)[1].ravel()


def _period(classes: np.ndarray, max_period: int) -> tuple[int, int, int] | None:
    """``(start, period, repeats)`` of the longest periodic run of classes
    (``repeats >= 2`` whole periods), or None."""
    best = None
    n = len(classes)
    for p in range(1, min(max_period, n // 2) + 1):
        same = np.concatenate([[0], classes[p:] == classes[:-p], [0]]).astype(np.int8)
        edges = np.diff(same)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if not len(starts):
            continue
        k = int(np.argmax(ends - starts))
        repeats = (int(ends[k] - starts[k]) + p) // p
        if repeats >= 2 and (best is None or repeats * p > best[1] * best[2]):
            best = (int(starts[k]), p, repeats)
    return best


def _leaves(pattern, depth: int, periods, limit: bool = True) -> list[tuple] | None:
    """Leaves at ``depth``: ``(start, stop, repeats)`` in template offsets, with
    ``repeats`` the ``(count, distance)`` of every enclosing periodic run.
    None when there are more than ``_MAX_LEAVES`` (and ``limit``)."""
    sizes = [axis.n_rows for axis in pattern.axes]
    row_ptr = pattern.row_ptr
    spans = [math.prod(sizes[a:]) for a in range(len(sizes) + 1)]
    leaves = []
    todo = [(0, 0, ())]  # (axis, first row of the block, repeats)
    while todo:
        axis, row, repeats = todo.pop()
        if axis == depth:
            leaves.append((int(row_ptr[row]), int(row_ptr[row + spans[axis]]), repeats))
            if limit and len(leaves) > _MAX_LEAVES:
                return None
            continue
        step = spans[axis + 1]
        n = sizes[axis]
        if periods[axis] is None:
            children = [(axis + 1, row + i * step, repeats) for i in range(n)]
        else:  # the first period stands for the whole periodic run
            start, p, count = periods[axis]
            distance = int(row_ptr[row + (start + p) * step] - row_ptr[row + start * step])
            inner = repeats + ((count, distance),)
            children = (
                [(axis + 1, row + i * step, repeats) for i in range(start)]
                + [(axis + 1, row + i * step, inner) for i in range(start, start + p)]
                + [(axis + 1, row + i * step, repeats) for i in range(start + p * count, n)]
            )
        todo.extend(reversed(children))  # depth first, in template order
    return leaves


def _merge(copies: list[tuple]) -> list[tuple]:
    """Fold copies of one shape whose offsets step evenly into one copy with a
    new leading dimension (e.g. the four corners of a 2-D layer), until none
    fold.  The copies write disjoint places, so the folded one does too."""
    while True:
        groups: dict[tuple, list[tuple]] = {}
        for copy in copies:
            groups.setdefault((copy[1], copy[2], copy[4]), []).append(copy)
        merged = []
        for group in groups.values():
            group.sort()
            i = 0
            while i < len(group):
                j = i + 1
                if j < len(group):
                    step = (group[j][0] - group[i][0], group[j][3] - group[i][3])
                    while j + 1 < len(group) and (
                        group[j + 1][0] - group[j][0], group[j + 1][3] - group[j][3]
                    ) == step:
                        j += 1
                    dst, shape, dst_strides, src, src_strides = group[i]
                    merged.append((
                        dst, (j - i + 1, *shape), (step[0], *dst_strides),
                        src, (step[1], *src_strides),
                    ))
                else:
                    merged.append(group[i])
                i = j + 1
        if len(merged) == len(copies):
            return sorted(merged)
        copies = merged


def _build(pattern, depth: int, leaves) -> tuple[FillPlan, float]:
    """The plan of a list of leaves and its estimated cost in nanoseconds."""
    copies, index, offset = [], [], 0
    for start, stop, repeats in leaves:
        if start == stop:
            continue
        if copies and copies[-1][0] + copies[-1][1][-1] == start and copies[-1][5] == repeats:
            dst, shape, dst_strides, src, src_strides, _ = copies.pop()
            shape = (*shape[:-1], shape[-1] + stop - start)  # neighbours: one leaf
        else:
            dst, src = start, offset
            shape = (*(count for count, _ in repeats), stop - start)
            dst_strides = (*(distance for _, distance in repeats), 1)
            src_strides = (0,) * len(repeats) + (1,)
        copies.append((dst, shape, dst_strides, src, src_strides, repeats))
        index.append(np.arange(start, stop))
        offset += stop - start
    copies = _merge([copy[:5] for copy in copies])
    channels = pattern.spec.out_channels
    leaf_weight = pattern.template_weight[:, np.concatenate([[], *index]).astype(np.int64)]
    cost = _CALL_NS + channels * leaf_weight.size * _GATHER_NS
    for _, shape, _, _, _ in copies:
        written = math.prod(shape)
        cost += _CALL_NS + channels * written * (_WRITE_NS + _RUN_NS / shape[-1])
    return FillPlan(depth, leaf_weight, tuple(copies)), cost


def fill_plan(pattern, depth: int | None = None) -> FillPlan:
    """The cheapest :class:`FillPlan` of a :class:`~symtoe.core.pattern.SharingPattern`.

    ``depth`` forces the depth of the leaves (0 to ``spec.rank``; for tests
    and benchmarks); by default the cost model picks it.  Every plan writes
    each value exactly once, from the gathered leaf it repeats, so all depths
    give the same values (``tests/test_fill.py`` checks each against torch).
    """
    if not isinstance(pattern, SharingPattern):
        raise SymtoeTypeError(
            f"pattern must be a SharingPattern, but got {type(pattern).__name__}"
        )
    rank = pattern.spec.rank
    if depth is not None and integer(depth, "depth") not in range(rank + 1):
        raise SymtoeError(f"depth must be between 0 and {rank}, but got {depth}")
    length = pattern.template_length
    best = FillPlan(0, pattern.template_weight, ((0, (length,), (1,), 0, (1,)),))
    best_cost = _CALL_NS + pattern.spec.out_channels * pattern.template_weight.size * _GATHER_NS
    if depth == 0:
        return best
    max_period = max(pattern.spec.stride)
    periods = [_period(_classes(axis), max_period) for axis in pattern.axes]
    for d in range(1, rank + 1) if depth is None else (depth,):
        leaves = _leaves(pattern, d, periods, limit=depth is None)
        if leaves is None:
            break
        plan, cost = _build(pattern, d, leaves)
        if cost < best_cost or depth is not None:
            best, best_cost = plan, cost
    return best
