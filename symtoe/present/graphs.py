"""networkx views of the sharing pattern: who shares, and who sees whom.

* :func:`sharing_graph`: bipartite, weights on one side and matrix entries on
  the other, an edge where a weight contributes to an entry.  A weight's
  degree is the number of entries it fills (``T = sum_p w[p] E_p``: the
  number of ones in ``E_p``); an entry's degree is 1, or more where taps fold.
* :func:`connectivity_graph`: the input -> output graph of a layer or a chain
  of layers (edge where the matrix entry is nonzero).  The ancestors of an
  output node in the input layer are its receptive field, which
  :func:`symtoe.network.receptive.receptive_field` gives in closed form.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from ..core.limits import GRAPH_EDGES, check_budget, sizes_of
from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec
from ..core.validate import SymtoeError, SymtoeTypeError, boolean

__all__ = ["sharing_graph", "connectivity_graph", "input_ancestors"]


def _check_size(items: int, what: str) -> None:
    """networkx holds every node and edge in a dict: refuse big graphs first."""
    check_budget(items, GRAPH_EDGES, what, "nodes and edges",
                 "use a smaller input_size or fewer channels (counts: count_parameters)")


def sharing_graph(spec: ConvSpec) -> nx.Graph:
    """Bipartite graph: weight nodes ``("w", p)`` (``p`` indexes
    ``weight.flatten()``, attribute ``index``: the weight's multi-index) and
    entry nodes ``("T", row, col)``; attribute ``bipartite`` is 0 / 1.

    Every weight is a node, also one that never meets a real input (degree 0).

    >>> g = sharing_graph(ConvSpec(1, 1, 3, input_size=5))
    >>> [g.degree(("w", p)) for p in range(3)]
    [3, 3, 3]
    """
    check_spec(spec)
    sizes = sizes_of(spec)  # an edge per (entry, tap), a node per weight and entry
    _check_size(sizes.macs + sizes.nonzeros + math.prod(spec.weight_shape), "the sharing graph")
    rows, cols, p = sharing_pattern(spec).triples()
    shape = spec.weight_shape
    graph = nx.Graph(spec=spec)
    index = np.stack(np.unravel_index(np.arange(math.prod(shape)), shape), axis=1)
    graph.add_nodes_from(
        (("w", q), {"bipartite": 0, "index": tuple(i)}) for q, i in enumerate(index.tolist())
    )
    entries = list(zip(["T"] * len(rows), rows.tolist(), cols.tolist(), strict=False))
    graph.add_nodes_from(entries, bipartite=1)
    graph.add_edges_from(zip(zip(["w"] * len(p), p.tolist(), strict=False), entries, strict=False))
    return graph


def connectivity_graph(layers, *, channels: bool = True) -> nx.DiGraph:
    """Directed graph from each layer's inputs to its outputs.

    Parameters
    ----------
    layers : ConvSpec or sequence of ConvSpecs
        A chain: each ``output_size`` (and, with ``channels``, output channel
        count) is the next ``input_size`` (input channels).
    channels : bool
        Nodes per (channel, position), or per spatial position only (every
        layer taken with one input and one output channel).

    Returns
    -------
    networkx.DiGraph
        Nodes ``(level, index)``: level 0 is the first input, level ``l`` the
        output of layer ``l``; ``index`` is the flat (row-major) position, the
        matrix's row / column index; attribute ``position`` is the unravelled
        ``(c, *pos)`` (or ``pos``).  Edge ``(l-1, col) -> (l, row)`` where
        layer ``l``'s matrix has a nonzero at ``(row, col)``.

    >>> g = connectivity_graph([ConvSpec(1, 1, 3, input_size=7)] * 1)
    >>> sorted(i for _, i in g.predecessors((1, 0)))
    [0, 1, 2]
    """
    specs = [layers] if isinstance(layers, ConvSpec) else layers
    if not isinstance(specs, (list, tuple)) or not specs or not all(
        isinstance(s, ConvSpec) for s in specs
    ):
        raise SymtoeTypeError(
            f"layers must be a ConvSpec or a list of ConvSpecs, but got {layers!r}"
        )
    specs = list(specs)
    if not boolean(channels, "channels"):
        specs = [s.replace(in_channels=1, out_channels=1, groups=1, bias=False) for s in specs]
    for a, (s, t) in enumerate(zip(specs, specs[1:], strict=False)):
        if s.output_size != t.input_size or s.out_channels != t.in_channels:
            raise SymtoeError(
                f"layers must chain, but layer {a} gives {s.out_channels} channels of "
                f"{s.output_size} and layer {a + 1} takes {t.in_channels} of {t.input_size}"
            )
    _check_size(
        sum(sizes_of(s).nonzeros + s.matrix_shape[0] for s in specs) + specs[0].matrix_shape[1],
        "the connectivity graph",
    )
    graph = nx.DiGraph()
    grids = [(specs[0].in_channels, *specs[0].input_size)]
    grids += [(s.out_channels, *s.output_size) for s in specs]
    for level, grid in enumerate(grids):
        shape = grid if channels else grid[1:]
        position = np.stack(np.unravel_index(np.arange(math.prod(shape)), shape), axis=1)
        graph.add_nodes_from(
            ((level, i), {"level": level, "position": tuple(pos)})
            for i, pos in enumerate(position.tolist())
        )
    for level, spec in enumerate(specs, start=1):
        pattern = sharing_pattern(spec)
        rows = pattern.row_indices().ravel().tolist()
        cols = pattern.col_indices().ravel().tolist()
        sources = zip([level - 1] * len(cols), cols, strict=True)
        targets = zip([level] * len(rows), rows, strict=True)
        graph.add_edges_from(zip(sources, targets, strict=True))
    return graph


def input_ancestors(graph: nx.DiGraph, node) -> set[int]:
    """Flat indices of the level-0 (input) nodes that ``node`` depends on
    (``node`` is ``(level, index)`` of :func:`connectivity_graph`).

    >>> g = connectivity_graph([ConvSpec(1, 1, 3, input_size=7), ConvSpec(1, 1, 3, input_size=5)])
    >>> sorted(input_ancestors(g, (2, 0)))
    [0, 1, 2, 3, 4]
    """
    if not isinstance(graph, nx.DiGraph):
        raise SymtoeTypeError(
            f"graph must be a networkx.DiGraph of connectivity_graph, but got "
            f"{type(graph).__name__}"
        )
    try:
        ok = node in graph
    except TypeError:  # unhashable
        ok = False
    if not ok:
        raise SymtoeError(f"node must be a (level, index) node of the graph, but got {node!r}")
    return {i for level, i in nx.ancestors(graph, node) if level == 0}
