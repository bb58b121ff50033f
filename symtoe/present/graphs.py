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

from ..core.counts import count_parameters
from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec

__all__ = ["sharing_graph", "connectivity_graph", "input_ancestors"]

#: Refuse graphs with more edges than this (networkx holds each in a dict).
MAX_EDGES = 2_000_000


def _check_size(edges: int, what: str) -> None:
    if edges > MAX_EDGES:
        raise ValueError(
            f"{what} would have {edges} edges, more than the {MAX_EDGES} a networkx graph "
            "holds usefully; use a smaller input_size or fewer channels"
        )


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
    _check_size(count_parameters(spec).macs, "the sharing graph")  # one edge per tap use
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
    specs = [layers] if isinstance(layers, ConvSpec) else list(layers)
    if not specs or not all(isinstance(s, ConvSpec) for s in specs):
        raise ValueError(f"layers must be a ConvSpec or a list of ConvSpecs, but got {layers!r}")
    if not channels:
        specs = [s.replace(in_channels=1, out_channels=1, groups=1, bias=False) for s in specs]
    for a, (s, t) in enumerate(zip(specs, specs[1:], strict=False)):
        if s.output_size != t.input_size or s.out_channels != t.in_channels:
            raise ValueError(
                f"layers must chain, but layer {a} gives {s.out_channels} channels of "
                f"{s.output_size} and layer {a + 1} takes {t.in_channels} of {t.input_size}"
            )
    _check_size(sum(count_parameters(s).nonzeros for s in specs), "the connectivity graph")
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
    """Flat indices of the level-0 (input) nodes that ``node`` depends on."""
    return {i for level, i in nx.ancestors(graph, node) if level == 0}
