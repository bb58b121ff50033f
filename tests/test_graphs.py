"""networkx graphs against torch: weight degrees are autograd counts, edges are
the nonzeros of torch's Jacobian."""

import numpy as np
import pytest
import torch
from networkx.algorithms import bipartite
from reference import probe_matrix, torch_forward

from symtoe import ConvSpec
from symtoe.present.graphs import connectivity_graph, input_ancestors, sharing_graph

SPECS = {
    "1d-valid": ConvSpec(1, 1, 3, input_size=6),
    "1d-padded-stride": ConvSpec(2, 3, 4, input_size=7, stride=2, padding=2),
    "2d-groups-dilation": ConvSpec(4, 2, 2, input_size=(4, 5), groups=2, dilation=(1, 2)),
    "2d-reflect": ConvSpec(1, 2, 3, input_size=(3, 4), padding=2, padding_mode="reflect"),
    "1d-transposed": ConvSpec(2, 2, 3, input_size=4, stride=2, padding=1, transposed=True),
    "1d-dead-taps": ConvSpec(1, 1, 5, input_size=3, padding=1),
}


def weight_use_counts(spec):
    """How many outputs multiply each weight by a real input: d/dw sum(layer(1))."""
    w = torch.zeros(spec.weight_shape, dtype=torch.float64, requires_grad=True)
    x = torch.ones(1, spec.in_channels, *spec.input_size, dtype=torch.float64)
    torch_forward(spec, x, w).sum().backward()
    return w.grad.flatten().numpy()


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_weight_degree_is_torch_use_count(spec):
    graph = sharing_graph(spec)
    degrees = [graph.degree(("w", p)) for p in range(np.prod(spec.weight_shape))]
    np.testing.assert_array_equal(degrees, weight_use_counts(spec))


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_entry_nodes_are_torch_nonzeros(spec):
    g = torch.Generator().manual_seed(11)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
    rows, cols = np.nonzero(probe_matrix(spec, w).numpy())
    graph = sharing_graph(spec)
    weights, entries = bipartite.sets(graph, top_nodes=[n for n in graph if n[0] == "w"])
    assert {(r, c) for _, r, c in entries} == set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert all(graph.nodes[n]["bipartite"] == 1 for n in entries)
    assert graph.nodes[("w", 0)]["index"] == (0,) * len(spec.weight_shape)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_connectivity_edges_are_torch_jacobian_nonzeros(spec):
    g = torch.Generator().manual_seed(5)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
    rows, cols = np.nonzero(probe_matrix(spec, w).numpy())
    graph = connectivity_graph(spec)
    edges = {(u[1], v[1]) for u, v in graph.edges}
    assert edges == set(zip(cols.tolist(), rows.tolist(), strict=True))
    assert graph.number_of_nodes() == sum(spec.matrix_shape)


def test_stack_ancestors_equal_torch_jacobian_support():
    specs = [ConvSpec(2, 3, 3, input_size=9, padding=1),
             ConvSpec(3, 2, 2, input_size=9, stride=2),
             ConvSpec(2, 1, 3, input_size=4, dilation=1)]
    graph = connectivity_graph(specs)
    g = torch.Generator().manual_seed(2)
    weights = [torch.rand(s.weight_shape, generator=g, dtype=torch.float64) + 1 for s in specs]
    # one edge per nonzero of each layer's matrix read off torch
    assert graph.number_of_edges() == sum(
        int((probe_matrix(s, w) != 0).sum()) for s, w in zip(specs, weights, strict=True)
    )

    def net(x):
        for s, w in zip(specs, weights, strict=True):
            x = torch_forward(s, x, w)
        return x.flatten()

    jac = torch.autograd.functional.jacobian(net, torch.ones(1, 2, 9, dtype=torch.float64))
    jac = jac.reshape(len(net(torch.ones(1, 2, 9, dtype=torch.float64))), -1)
    for out in range(jac.shape[0]):
        expected = set(np.flatnonzero(jac[out].numpy()).tolist())
        assert input_ancestors(graph, (3, out)) == expected


def test_spatial_connectivity_drops_channels():
    graph = connectivity_graph([ConvSpec(3, 4, 3, input_size=(4, 4))], channels=False)
    assert graph.number_of_nodes() == 16 + 4
    assert graph.in_degree((1, 0)) == 9
    assert graph.nodes[(0, 5)]["position"] == (1, 1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sharing_graph((3, 5)), "spec must be a ConvSpec"),
        (lambda: connectivity_graph([ConvSpec(1, 2, 3, input_size=5),
                                     ConvSpec(1, 1, 3, input_size=3)]), "layers must chain"),
        (lambda: connectivity_graph([]), "layers must be a ConvSpec"),
        (lambda: sharing_graph(ConvSpec(64, 64, 3, input_size=(32, 32))), "edges, more than"),
    ],
    ids=["not-a-spec", "channels-mismatch", "empty", "too-big"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
