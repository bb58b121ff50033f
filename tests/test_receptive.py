"""Receptive fields against the closed forms of Araujo et al. (Distill 2019),
published numbers (VGG-16), networkx reachability, scipy boolean matrix
products and torch autograd supports."""

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from reference import probe_matrix
from torch import nn

from symtoe import ConvSpec
from symtoe.network.receptive import (
    column_coverage,
    layer_specs,
    reachable_inputs,
    receptive_field,
)
from symtoe.present.graphs import connectivity_graph, input_ancestors

# Stacks of 1-D layers as (kernel, stride, left padding, dilation).
STACKS = {
    "one-conv": [(3, 1, 0, 1)],
    "two-3x3": [(3, 1, 1, 1), (3, 1, 1, 1)],
    "conv-pool-conv": [(3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1)],
    "strided": [(5, 2, 2, 1), (3, 2, 1, 1), (3, 1, 0, 1)],
    "dilated": [(3, 1, 0, 2), (3, 1, 2, 2), (3, 1, 0, 1)],
    "pool-first": [(3, 3, 0, 1), (2, 1, 0, 1)],
}


def closed_form(stack):
    """THEORY.md: r = 1 + sum (k_l - 1) prod_{i<l} s_i, P = sum p_l prod_{i<l} s_i."""
    k = [d * (k0 - 1) + 1 for k0, _, _, d in stack]
    s = [st for _, st, _, _ in stack]
    p = [pl for _, _, pl, _ in stack]
    size = 1 + sum((k[i] - 1) * math.prod(s[:i]) for i in range(len(stack)))
    padding = sum(p[i] * math.prod(s[:i]) for i in range(len(stack)))
    return size, math.prod(s), padding


def chain(stack, n):
    specs = []
    for k, s, p, d in stack:
        specs.append(ConvSpec(1, 1, k, input_size=n, stride=s, padding=p, dilation=d))
        n = specs[-1].output_size[0]
    return specs


@pytest.mark.parametrize("stack", STACKS.values(), ids=STACKS.keys())
def test_closed_forms(stack):
    field = receptive_field(chain(stack, 40))
    size, stride, padding = closed_form(stack)
    assert (field.size, field.stride, field.padding) == ((size,), (stride,), (padding,))


def backward_recursion(stack):
    """Araujo's recursion r_{l-1} = s r_l + (k - s), S_{l-1} = s S_l, P_{l-1} = s P_l + p."""
    r, S, P = 1, 1, 0
    for k0, s, p, d in reversed(stack):
        k = d * (k0 - 1) + 1
        r, S, P = s * r + (k - s), s * S, s * P + p
    return r, S, P


@pytest.mark.parametrize("stack", STACKS.values(), ids=STACKS.keys())
def test_closed_form_equals_backward_recursion(stack):
    assert closed_form(stack) == backward_recursion(stack)


@pytest.mark.parametrize("stack", STACKS.values(), ids=STACKS.keys())
def test_field_agrees_with_networkx_reachability(stack):
    specs = chain(stack, 40)
    field = receptive_field(specs)
    graph = connectivity_graph(specs)
    (n_in,), (n_out,) = specs[0].input_size, specs[-1].output_size
    dense = all(d == 1 for *_, d in stack)
    for i in range(n_out):
        reached = input_ancestors(graph, (len(specs), i))
        ((start, stop),) = field.region(i)
        assert reached == set(np.flatnonzero(reachable_inputs(specs, i)))
        if 0 <= start and stop <= n_in:  # the field lies inside the input
            assert min(reached) == start and max(reached) == stop - 1
            if dense:
                assert reached == set(range(start, stop))
        else:  # clipped by the input's border
            assert reached <= set(range(max(start, 0), min(stop, n_in)))


def test_2d_field_agrees_with_scipy_boolean_matrix_products():
    specs = [
        ConvSpec(1, 1, (3, 5), input_size=(20, 21), padding=(1, 2)),
        ConvSpec(1, 1, 2, input_size=(20, 21), stride=2),
        ConvSpec(1, 1, 3, input_size=(10, 10), stride=(1, 2), dilation=(2, 1)),
    ]
    product = None
    g = torch.Generator().manual_seed(7)
    for spec in specs:  # 0/1 matrices read off torch, composed by scipy
        w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
        T = sp.csr_matrix((probe_matrix(spec, w) != 0).numpy().astype(np.int64))
        product = T if product is None else T @ product
    field = receptive_field(specs)
    assert field.size == (1 + 2 + 1 + 2 * 4, 1 + 4 + 1 + 2 * 2)
    assert field.stride == (2, 4) and field.padding == (1, 2)
    out = specs[-1].output_size
    for position in [(2, 1), (1, 2)]:
        row = np.ravel_multi_index(position, out)
        reached = product[row].toarray().reshape(specs[0].input_size) != 0
        np.testing.assert_array_equal(reached, reachable_inputs(specs, position))
        (r0, r1), (c0, c1) = field.region(position)
        rows, cols = np.nonzero(reached)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (r0, r1 - 1, c0, c1 - 1)


def vgg16_features():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


def test_vgg16_published_numbers():
    # Araujo et al. (Distill 2019), table of common CNNs: VGG-16 r=212, S=32, P=90.
    field = receptive_field(vgg16_features())
    assert field == receptive_field(list(vgg16_features()))
    assert (field.size, field.stride, field.padding) == ((212, 212), (32, 32), (90, 90))
    conv5_3 = receptive_field(list(vgg16_features())[:-2])
    assert conv5_3.size == (196, 196)


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block, stride 2, 1x1 projection shortcut."""

    def __init__(self, c_in=4, c_out=8):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=2, bias=False)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def torch_support(model, input_size, position):
    """Inputs with a nonzero gradient of one output unit: ones weights, average
    pools, positive input, so nothing cancels (reference: torch autograd)."""
    for p in model.parameters():
        torch.nn.init.ones_(p)
    model.eval()
    x = torch.ones(1, *input_size, dtype=torch.float64, requires_grad=True)
    y = model.double()(x)
    y[(0, 0, *position)].backward()
    return (x.grad[0] != 0).any(0).numpy()


def test_residual_block_field_agrees_with_torch_autograd():
    field = receptive_field(BasicBlock(), (4, 16, 16))
    # main path: conv 3/2/1 then conv 3/1/1 -> r = 1 + 2 + 2*2, P = 1 + 1*2
    assert (field.size, field.stride, field.padding) == ((7, 7), (2, 2), (3, 3))
    support = torch_support(BasicBlock(), (4, 16, 16), (3, 4))
    (r0, r1), (c0, c1) = field.region((3, 4))
    expected = np.zeros((16, 16), dtype=bool)
    expected[r0:r1, c0:c1] = True
    np.testing.assert_array_equal(support, expected)


def test_chain_agrees_with_torch_autograd_and_layer_specs():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(3, 2, 3, dilation=2), nn.ReLU())
    specs = layer_specs(model, (14, 14))
    assert [s.output_size for s in specs] == [(14, 14), (7, 7), (3, 3)]
    for position in [(0, 0), (1, 2), (2, 2)]:
        support = torch_support(model, (2, 14, 14), position)
        np.testing.assert_array_equal(support, reachable_inputs(specs, position))
    field = receptive_field(model, (2, 14, 14))
    assert field == receptive_field(specs) == receptive_field(model)
    assert field.size == (1 + 2 + 1 + 4 * 2,) * 2


def test_layers_after_flatten_are_not_part_of_the_field():
    model = nn.Sequential(nn.Conv1d(1, 2, 5), nn.MaxPool1d(3), nn.Flatten(), nn.Linear(16, 2))
    field = receptive_field(model, (1, 28))
    assert field.size == (7,) and field.stride == (3,) and field.at == "1"


def test_column_coverage_against_torch_gradient():
    # taps meeting each input = d/dx sum(conv(x)) with ones weights (F.pad folds included)
    for spec in [ConvSpec(1, 1, (3, 2), input_size=(6, 5), padding=1),
                 ConvSpec(1, 1, 3, input_size=(5, 6), padding=2, padding_mode="reflect"),
                 ConvSpec(1, 1, 3, input_size=7, stride=2, dilation=2, padding="full")]:
        from reference import torch_forward

        x = torch.zeros(1, 1, *spec.input_size, dtype=torch.float64, requires_grad=True)
        torch_forward(spec, x, torch.ones(spec.weight_shape, dtype=torch.float64)).sum().backward()
        np.testing.assert_array_equal(column_coverage(spec), x.grad[0, 0].numpy())


def test_full_padding_covers_every_input_equally():
    # Kayhan & van Gemert (CVPR 2020)
    cov = column_coverage(ConvSpec(1, 1, (3, 4), input_size=(6, 7), padding="full"))
    assert (cov == 12).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: receptive_field("conv"), "model_or_specs must be"),
        (lambda: receptive_field(BasicBlock()), "input_size must be given"),
        (lambda: receptive_field(BasicBlock(), (16, 16)), "fit the model"),
        (lambda: receptive_field([ConvSpec(1, 1, 3, input_size=5),
                                  ConvSpec(1, 1, 3, input_size=(5, 5))]), "spatial axes"),
        (lambda: receptive_field([nn.LSTM(2, 2)]), "layers must be ConvSpecs"),
        (lambda: receptive_field([nn.ConvTranspose1d(1, 1, 3)]), "transposed"),
        (lambda: reachable_inputs([ConvSpec(1, 1, 3, input_size=5)], 3), "position must"),
        (lambda: reachable_inputs([ConvSpec(1, 1, 3, input_size=5),
                                   ConvSpec(1, 1, 3, input_size=5)], 0), "specs must chain"),
        (lambda: column_coverage((3, 5)), "spec must be a ConvSpec"),
    ],
    ids=["not-a-model", "no-input-size", "wrong-input-size", "mixed-rank", "lstm",
         "transposed", "position", "chain", "coverage-spec"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_networkx_is_used_for_reachability():
    graph = connectivity_graph([ConvSpec(1, 1, 3, input_size=5)])
    assert nx.is_directed_acyclic_graph(graph)
