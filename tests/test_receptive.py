"""Receptive fields against the closed forms of Araujo et al. (Distill 2019),
published numbers (VGG-16), networkx reachability, scipy boolean matrix
products and torch autograd supports."""

import copy
import math
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from models import build, resnet18
from reference import probe_matrix
from torch import nn

from symtoe import ConvSpec
from symtoe.network.receptive import (
    column_coverage,
    layer_specs,
    reachable_inputs,
    receptive_field,
)
from symtoe.network.trace import trace_model
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
    features = vgg16_features().to("meta")
    field = receptive_field(features, (3, 224, 224))
    assert field == receptive_field(list(features), (3, 224, 224))
    assert (field.size, field.stride, field.padding) == ((212, 212), (32, 32), (90, 90))
    assert receptive_field(features, (3, 224, 224), at="28").size == (196, 196)  # conv5_3
    specs = layer_specs(list(features), (224, 224))
    assert receptive_field(specs) == field


def test_resnet18_field_at_imagenet_size():
    # THEORY.md / the shift-certificate issue: ResNet-18's last map sees 435 px
    model = resnet18().to("meta")
    field = receptive_field(model, (3, 224, 224), at="layer4")
    assert (field.size, field.stride, field.padding) == ((435, 435), (32, 32), (217, 217))
    out = receptive_field(model, (3, 224, 224))
    assert out.is_global and out.size == (224, 224) and "global" in str(out)


def positive(model, seed=0):
    """The model in float64 with positive weights (so no gradient cancels) and
    max pools replaced by average pools of the same windows (a max passes
    gradient to its argmax only)."""
    model = copy.deepcopy(model).double().eval()
    swaps = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) in swaps:
                setattr(module, name, swaps[type(child)](child.kernel_size, child.stride,
                                                         child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool1d | nn.AdaptiveMaxPool2d):
                kind = nn.AdaptiveAvgPool1d if isinstance(child, nn.AdaptiveMaxPool1d) \
                    else nn.AdaptiveAvgPool2d
                setattr(module, name, kind(child.output_size))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # ~1 per layer: no tanh or ReLU6 saturates
            scale = p[0].numel() if p.dim() > 1 else 10
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) + 0.5) / scale)
    return model


def gradient_support(model, size, inputs, at, position):
    """Inputs with a nonzero gradient of one output position (all channels):
    the field by torch autograd.  Token ids: the gradient at the embedding."""
    model = positive(model)
    seen = {}
    target = model if at is None else model.get_submodule(at)
    target.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    if inputs is None:
        g = torch.Generator().manual_seed(1)
        x = (torch.rand(1, *size, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
        model(x)
    else:
        def keep(m, i, o):
            o.retain_grad()
            seen["x"] = o
        model.embedding.register_forward_hook(keep)
        model(inputs)
    seen["out"][(0, slice(None), *position)].sum().backward()
    if inputs is None:
        return (x.grad[0] != 0).any(0).numpy()
    return (seen["x"].grad[0] != 0).any(-1).numpy()


# model -> (input size or None for its example, module whose output to read, or None)
FIELDS = {
    "lenet5": (None, "4"),
    "resnet-basic": ((3, 72, 72), "layer2"),
    "resnet-bottleneck": (None, "layer2"),
    "mobilenetv2": (None, "head"),
    "densenet": ((3, 24, 24), "features"),
    "inception": ((3, 45, 45), "mixed_2"),
    "vit": (None, "conv_proj"),
    "convnext": ((3, 96, 96), "stages"),
    "unet": ((1, 50, 50), None),
    "audio": (None, "features"),
    "video": ((3, 9, 36, 36), "conv2"),
    "text": (None, "conv2"),
    "padding-modes": ((2, 24, 24), None),
    "tied": (None, None),
    "called-twice": (None, None),
    "scaled-conv": (None, None),
    "upsampling": ((2, 12, 12), None),
}


class Upsampling(nn.Module):
    """Transposed convolutions (fractional stride) and bilinear upsampling."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(3, 3, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(3, 2, 4, stride=3, padding=2)

    def forward(self, x):
        y = self.up2(self.up(torch.relu(self.down(x))))
        return nn.functional.interpolate(y, scale_factor=0.5, mode="bilinear")


@pytest.mark.parametrize("name", FIELDS)
def test_field_is_the_support_of_the_input_gradient(name):
    if name == "upsampling":
        model, size, inputs = Upsampling(), None, None
    else:
        model, size, inputs = build(name)
    size, at = FIELDS[name][0] or size, FIELDS[name][1]
    field = receptive_field(model, size, example_inputs=inputs, at=at)
    trace = trace_model(model, size, example_inputs=inputs)
    out = trace.module_output(at) if at else trace.outputs[0]
    position = tuple(n // 2 for n in out.shape[2:])
    region = field.region(position)
    grid = tuple(trace.inputs[0].shape[2 if inputs is None else 1:])
    assert all(0 <= a and b <= n for (a, b), n in zip(region, grid)), (region, grid)
    expected = np.zeros(grid, dtype=bool)
    expected[tuple(slice(a, b) for a, b in region)] = True
    np.testing.assert_array_equal(gradient_support(model, size, inputs, at, position), expected)
    # Araujo's closed form where no layer upsamples: start = i*S - P
    if name not in ("unet", "upsampling"):
        assert [a for a, _ in region] == [i * s - p for i, s, p in
                                          zip(position, field.stride, field.padding)]


@pytest.mark.parametrize("name", ["resnet-basic", "mobilenetv2", "densenet", "inception", "vit",
                                  "convnext", "audio", "video", "text", "functional"])
def test_global_after_pooling_attention_or_flatten(name):
    model, size, inputs = build(name)
    field = receptive_field(model, size, example_inputs=inputs)
    assert field.is_global and field.stride == (0,) * field.rank
    grid = (inputs.shape[1:] if inputs is not None else size[1:])
    assert field.size == tuple(grid)
    if name in ("resnet-basic", "densenet", "convnext", "video"):  # no max pooling
        assert gradient_support(model, size, inputs, None, ()).all()


def test_fractional_strides_of_transposed_convolutions():
    field = receptive_field(Upsampling(), (2, 12, 12), at="up")
    # stride 2 then 1/2: one unit per input pixel, windows alternate in length
    assert field.stride == (1, 1) and field.size == (5, 5)
    up2 = receptive_field(Upsampling(), (2, 12, 12), at="up2")
    assert up2.stride == (Fraction(1, 3),) * 2


@pytest.mark.parametrize(
    "model, size, at, match",
    [
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), (1, 6, 6), None, "flattened together"),
        (nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(0)), (1, 8), None,
         "flattened together|not defined"),
        (nn.LSTM(4, 4, batch_first=True), (5, 4), None, "does not know how aten"),
    ],
    ids=["flatten", "flatten-batch", "lstm"],
)
def test_undefined_fields_say_why(model, size, at, match):
    with pytest.raises(ValueError, match=f"receptive field of .* is not defined: .*({match})"):
        receptive_field(model, size, at=at)


def test_chain_agrees_with_torch_autograd_and_layer_specs():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(3, 2, 3, dilation=2), nn.ReLU())
    specs = layer_specs(model, (14, 14))
    assert [s.output_size for s in specs] == [(14, 14), (7, 7), (3, 3)]
    for position in [(0, 0), (1, 2), (2, 2)]:
        support = gradient_support(model, (2, 14, 14), None, None, position)
        np.testing.assert_array_equal(support, reachable_inputs(specs, position))
    field = receptive_field(model, (2, 14, 14))
    assert field == receptive_field(specs)
    assert field.size == (1 + 2 + 1 + 4 * 2,) * 2


def test_layer_specs_of_pools_with_ceil_mode():
    specs = layer_specs([nn.MaxPool1d(3, stride=2, ceil_mode=True)], (8,))
    assert specs[0].output_size == (4,) and specs[0].padding == ((0, 1),)
    assert torch.nn.functional.max_pool1d(torch.ones(1, 1, 8), 3, 2, ceil_mode=True).shape[-1] == 4


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
        (lambda: receptive_field(nn.Conv2d(3, 4, 3)), "input_size must be given"),
        (lambda: receptive_field(nn.Conv2d(3, 4, 3), (16, 16)), "fit the model"),
        (lambda: receptive_field([ConvSpec(1, 1, 3, input_size=5),
                                  ConvSpec(1, 1, 3, input_size=(5, 5))]), "spatial axes"),
        (lambda: receptive_field([nn.LSTM(2, 2)]), "input_size must be given"),
        (lambda: receptive_field([ConvSpec(1, 1, 3, input_size=5, transposed=True)]),
         "transposed"),
        (lambda: reachable_inputs([ConvSpec(1, 1, 3, input_size=5)], 3), "position must"),
        (lambda: reachable_inputs([ConvSpec(1, 1, 3, input_size=5),
                                   ConvSpec(1, 1, 3, input_size=5)], 0), "specs must chain"),
        (lambda: column_coverage((3, 5)), "spec must be a ConvSpec"),
    ],
    ids=["not-a-model", "no-input-size", "wrong-input-size", "mixed-rank", "modules-without-size",
         "transposed", "position", "chain", "coverage-spec"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_networkx_is_used_for_reachability():
    graph = connectivity_graph([ConvSpec(1, 1, 3, input_size=5)])
    assert nx.is_directed_acyclic_graph(graph)
