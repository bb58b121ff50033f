"""Rotation and mirror certificates of torch models, read from the model trace.

:func:`model_symmetry_check` and :func:`model_rotation_check` certify the
graph that :func:`~symtoe.network.model_certificate.model_graph` reads off a
model's trace for a quarter turn or a mirror of the grid: the law
``N_W(G x) = G N_(W o g)(x)`` of :mod:`symtoe.analysis.symmetry` (the model on
the turned input equals the turned output of the model with every free kernel
turned along), composed backwards through each op's read windows as the shift
certificate is.  Ops it does not understand are named in the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.commutator import fmt as _fmt
from ..core.spec import ConvSpec
from . import facts
from .certificate import NetworkShiftCheck
from .fact_ops import _all_read, _any_read, _pad_matrices, _pool_size, _resolve_pad, _tables
from .model_certificate import (
    ModelGraph,
    model_graph,
)

__all__ = ["ModelSymmetryCheck", "model_rotation_check", "model_symmetry_check"]


def _pool_spec(fact, size) -> ConvSpec:
    """A pool's window as a one-channel ConvSpec (``ceil_mode``'s extra windows
    as right padding), as the trace writes it."""
    from ..analysis.aliasing import _per_axis

    rank = len(size)
    k = _per_axis(fact.kernel_size, rank, "kernel_size")
    s = _per_axis(k if fact.stride is None else fact.stride, rank, "stride")
    p = _per_axis(fact.padding, rank, "padding", minimum=0)
    d = _per_axis(getattr(fact, "dilation", 1), rank, "dilation")
    o = [_pool_size(*v, fact.ceil_mode) for v in zip(size, k, s, p, d)]
    extra = [max(0, (oo - 1) * ss + dd * (kk - 1) + 1 - (n + 2 * pp))
             for oo, ss, dd, kk, n, pp in zip(o, s, d, k, size, p)]
    if isinstance(fact, facts.AvgPool) and fact.count_include_pad and any(extra):
        raise ValueError("an average pool with ceil_mode and count_include_pad divides its "
                         "last windows differently: not certified")
    return ConvSpec(1, 1, k, input_size=size, stride=s,
                    padding=tuple((pp, pp + e) for pp, e in zip(p, extra)), dilation=d)


@dataclass(frozen=True, eq=False)
class ModelSymmetryCheck:
    """The exact certificate of a grid symmetry ``G`` for a model's feature maps.

    Law: ``N_W(G x) = G N_(W o g)(x)``: the model on the turned (mirrored)
    input equals the turned output of the same model with every free
    convolution kernel turned along, ``(w o g)[j] = w[g j]`` (in torch
    ``rot90(w, -q)`` for ``rot90(x, q)``, ``flip(w, dims)`` for ``flip(x,
    dims)``); pools and fixed filters are not turned (they must be symmetric).
    Position ``r`` of a map is exact when the law holds there for every input
    and every weight: its layer's own law holds at ``r``
    (:func:`symtoe.check_symmetry` of the one-channel layer) and every
    position it reads is exact.

    Attributes
    ----------
    graph : ModelGraph
    node : str
    matrix : ndarray of int64
        ``M`` on centred positions (:func:`~symtoe.analysis.symmetry.rotation_matrix`).
    exact_maps : dict
        Node -> bool map, for this node and every node it reads.
    own : dict
        Node -> where its own layer's law holds.
    layers : dict
        Node -> its layer's :class:`~symtoe.analysis.symmetry.SymmetryCheck`
        (convolutions and pools).
    """

    graph: ModelGraph = field(repr=False)
    node: str
    matrix: np.ndarray
    exact_maps: dict = field(repr=False)
    own: dict = field(repr=False)
    layers: dict = field(repr=False)

    @property
    def exact(self) -> np.ndarray:
        return self.exact_maps[self.node]

    @property
    def holds(self) -> bool:
        """The law holds at every position of this map."""
        return bool(self.exact.all())

    def failing(self) -> np.ndarray:
        return np.argwhere(~self.exact)

    def at(self, name: str) -> ModelSymmetryCheck:
        """The certificate of a map this one reads."""
        if name not in self.exact_maps:
            raise ValueError(f"name must be {self.node!r} or a node it reads, but got {name!r}")
        keep = _upstream(self.graph.graph, name)
        return ModelSymmetryCheck(self.graph, name, self.matrix,
                                  {n: self.exact_maps[n] for n in keep}, self.own, self.layers)

    def explain(self, position=()) -> str:
        """The first layer (graph order) whose own law fails in the backward
        window of ``position``, and why."""

        g = self.graph.graph
        size = g.size(self.node)
        position = NetworkShiftCheck._position(position, size)
        head = f"{self.node!r} at ({_fmt(position)}) is {{}}exact for M = {self.matrix.tolist()}"
        if self.exact[position]:
            return head.format("") + ": every layer's law holds on its window"
        cone = {self.node: np.zeros(size, dtype=bool)}
        cone[self.node][position] = True
        found = None
        for name in reversed(list(self.exact_maps)):
            if name not in cone or name == g.input_name:
                continue
            bad = cone[name] & ~self.exact_maps[name]
            own_bad = bad & ~self.own[name]
            if own_bad.any():
                found = (name, tuple(int(i) for i in np.argwhere(own_bad)[0]))
            node = g.nodes[name]
            reads = _symmetry_reads(node, g)
            for i in node.inputs:
                if reads is not None:
                    reach = _any_read(bad, reads, g.size(i))
                elif g.size(i) == bad.shape:  # pointwise, merges
                    reach = bad
                else:  # a vector read by a map, or a map pooled into a vector
                    reach = np.full(g.size(i), bad.any())
                reach = reach & ~self.exact_maps[i]
                cone[i] = reach if i not in cone else cone[i] | reach
        name, where = found
        layer = self.layers.get(name)
        if layer is not None:
            why = layer.reason
        elif isinstance(g.nodes[name].fact, facts.Pad):
            why = "its padding is not the same on both sides of an axis that M reverses"
        else:
            why = "a fixed filter that M does not map onto itself"
        return "\n".join([head.format("not ") + f": broken first at {name!r}",
                          f"  {name!r} at ({_fmt(where)}): {why}"])

    def __repr__(self) -> str:
        count = f"{int(self.exact.sum())}/{self.exact.size}"
        return (f"ModelSymmetryCheck(node={self.node!r}, matrix={self.matrix.tolist()}, "
                f"holds={self.holds}, exact={count})")


def _upstream(g, name) -> list[str]:
    """``name`` and the nodes it reads, through their declared inputs (a fused
    pad included), in graph order."""
    keep, stack = set(), [name]
    while stack:
        v = stack.pop()
        if v not in keep:
            keep.add(v)
            stack.extend(g.nodes[v].inputs)
    return [v for v in g.nodes if v in keep]


def _symmetry_reads(node, g):
    """Per-axis read tables of a node's layer on its input (None: pointwise)."""
    from ..core.pattern import axis_patterns

    fact = node.fact
    if isinstance(fact, (facts.Conv, facts.FixedConv)):
        spec = fact.spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)
        return [(ap.cols, ap.valid) for ap in axis_patterns(spec)]
    if isinstance(fact, (facts.MaxPool, facts.AvgPool)):
        spec = _pool_spec(fact, g.size(node.inputs[0]))
        return [(ap.cols, ap.valid) for ap in axis_patterns(spec)]
    if isinstance(fact, facts.Pad):
        size = g.size(node.inputs[0])
        mats = _pad_matrices(_resolve_pad(fact, size), fact.mode, size)
        return [_tables(m != 0) for m in mats]
    return None


def _own_symmetry(node, g, matrix):
    """``(own, layer certificate or None)`` of one node, or a ValueError."""
    from ..analysis.groups import position_action
    from ..analysis.symmetry import check_symmetry

    fact, size = node.fact, node.size
    if isinstance(fact, (facts.Conv, facts.FixedConv)):
        spec = fact.spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)
        layer = check_symmetry(spec, matrix)
        own = layer.exact
        if isinstance(fact, facts.FixedConv):
            taps = fact.taps
            if not isinstance(taps[0], (tuple, list, np.ndarray)):
                taps = (taps,) * len(size)
            kernel = np.array(taps[0], dtype=object)
            for t in taps[1:]:
                kernel = np.multiply.outer(kernel, np.array(t, dtype=object))
            turned = position_action(matrix[None], spec.kernel_size)[0]
            if not (kernel.ravel()[turned] == kernel.ravel()).all():
                return np.zeros(size, dtype=bool), None
        return own, layer
    if isinstance(fact, (facts.MaxPool, facts.AvgPool)):
        layer = check_symmetry(_pool_spec(fact, g.size(node.inputs[0])), matrix)
        return layer.exact, layer
    if isinstance(fact, facts.Pad):
        pairs = _resolve_pad(fact, g.size(node.inputs[0]))
        moved = np.abs(matrix).argmax(axis=0)
        reversed_axes = (matrix < 0).any(axis=0)
        ok = all(pairs[a] == pairs[b] for a, b in enumerate(moved)) and all(
            pl == pr for (pl, pr), rev in zip(pairs, reversed_axes) if rev)
        return np.full(size, ok), None
    passes = (facts.Pointwise, facts.Sum, facts.Multiply, facts.Concat, facts.GlobalPool)
    if isinstance(fact, passes) or (isinstance(fact, facts.Linear) and not g.size(node.inputs[0])):
        return np.ones(size, dtype=bool), None
    what = "a Linear on a flattened map" if isinstance(fact, (facts.Linear, facts.Flatten)) else \
        type(fact).__name__
    raise ValueError(f"the rotation certificate does not understand {what} (node "
                     f"{node.name!r}): it certifies convolutions, pointwise maps, pools, "
                     "pads, sums, concatenations and global pooling")


def model_symmetry_check(model, element, *, input_size=None, example_inputs=None,
                         at: str | None = None) -> ModelSymmetryCheck:
    """Certify, for every weight at once, where a model commutes with a symmetry
    of the grid (law: ``N_W(G x) = G N_(W o g)(x)``, see :class:`ModelSymmetryCheck`).

    Parameters
    ----------
    model : torch.nn.Module, ModelTrace or ModelGraph
    element : array_like
        A signed permutation matrix ``M`` of the spatial axes
        (:func:`~symtoe.analysis.symmetry.rotation_matrix`; ``[[1, 0], [0, -1]]``
        for ``torch.flip(x, (-1,))``, ``[[-1]]`` for a 1-D flip).
    input_size, example_inputs : as for :func:`model_shift_check`
    at : str, optional
        A module's qualified name or a node's name (default: the output).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv1d(1, 2, 4, stride=2), nn.ReLU(), nn.Conv1d(2, 2, 3))
    >>> model_symmetry_check(net, [[-1]], input_size=(1, 10)).holds
    True
    >>> model_symmetry_check(net, [[-1]], input_size=(1, 11)).exact.astype(int).tolist()
    [0, 0]
    """
    from ..analysis.symmetry import _as_matrix

    graph = model_graph(model, input_size, example_inputs=example_inputs)
    g = graph.graph
    matrix = _as_matrix(element, g.rank)
    target = graph.node(at)
    exact, own, layers = {}, {}, {}
    for name in _upstream(g, target):
        node = g.nodes[name]
        if node.fact is None:
            exact[name] = own[name] = np.ones(node.size, dtype=bool)
            continue
        try:
            mine, layer = _own_symmetry(node, g, matrix)
        except ValueError as error:
            raise ValueError(f"node {name!r}: {error}") from None
        own[name] = mine
        if layer is not None:
            layers[name] = layer
        reads = _symmetry_reads(node, g)
        ins = [exact[i] for i in node.inputs]
        if not node.size:  # global pooling, a Linear on a vector
            exact[name] = mine & all(bool(e.all()) for e in ins)
        elif reads is not None:
            exact[name] = mine & _all_read(ins[0], reads)
        else:
            exact[name] = np.broadcast_to(np.logical_and.reduce(
                [mine, *(e if e.ndim else np.full(node.size, bool(e)) for e in ins)]),
                node.size)
    return ModelSymmetryCheck(graph, target, matrix, exact, own, layers)


def model_rotation_check(model, quarter_turns: int = 1, *, axes=(0, 1), input_size=None,
                         example_inputs=None, at: str | None = None) -> ModelSymmetryCheck:
    """:func:`model_symmetry_check` for ``torch.rot90(x, quarter_turns, dims)`` of
    the spatial axes ``axes`` (``(0, 1)``: ``dims=(-2, -1)`` of an image batch;
    ``(1, 2)`` for the last two axes of a video).

    With symmetric padding the law holds iff every layer's sampled grid is
    centred, ``(n + 2p - d(k-1) - 1) mod s == 0``: a ResNet at 33 x 33 (odd
    sizes all the way down), not at 32 x 32.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(),
    ...                     nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1))
    >>> model_rotation_check(net, input_size=(1, 9, 9)).holds
    True
    >>> cert = model_rotation_check(net, input_size=(1, 8, 8))
    >>> cert.holds, int(cert.at("0").exact.sum())
    (False, 0)
    """
    from ..analysis.symmetry import rotation_matrix

    graph = model_graph(model, input_size, example_inputs=example_inputs)
    if graph.graph.rank < 2:
        raise ValueError(f"the model must have at least 2 spatial axes to rotate, but has "
                         f"{graph.graph.rank}")
    return model_symmetry_check(graph, rotation_matrix(quarter_turns, axes, graph.graph.rank),
                                at=at)
