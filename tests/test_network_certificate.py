"""Network shift certificates against the networks run by torch on shifted inputs.

Every case builds a CertificateGraph and the same computation in float64 torch
(``network_models.Net``), then: positions the certificate calls exact agree
with the shifted model to 1e-12 (relative) for three weight draws; sampled
non-exact positions (up to 20) differ for at least one of five draws; with
no output shift, no integer output shift matches the shifted output.
Targets are pre-activation maps (a conv, a sum), so a ReLU cannot hide a
difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from network_models import Net, compare

from symtoe import ConvSpec, check_shift
from symtoe.analysis.aliasing import shift_subgroup
from symtoe.network.certificate import CertificateGraph
from symtoe.network.facts import (
    MAPS_ZERO_TO_ZERO,
    NONNEGATIVE,
    Conv,
    FixedConv,
    GlobalPool,
    Linear,
    MaxPool,
    Pad,
    Pointwise,
    Sum,
)

MODES = ("zeros", "circular", "reflect", "replicate")



def assert_certified(net, shift, mode, node=None):
    cert, sampled, differ = compare(net, shift, mode, node)
    assert differ == sampled, f"only {differ} of {sampled} non-exact positions differ"
    return cert


# ------------------------------------------------------------------ chains
def chain(rank, padding_mode, stride, dilation, bias=False):
    size = {1: (11,), 2: (9, 8), 3: (6, 5, 6)}[rank]
    net = Net(size, channels=2)
    net.conv("c1", 3, 3, padding=dilation, padding_mode=padding_mode, dilation=dilation,
             bias=bias)
    net.pointwise("r1", "relu")
    net.conv("c2", 2, 2 if stride > 1 else 3, stride=stride, padding=1,
             padding_mode=padding_mode)
    return net


CHAIN_CASES = [
    pytest.param(rank, pm, s, d, id=f"{rank}d-{pm}-s{s}-d{d}")
    for rank in (1, 2)
    for pm in MODES
    for s, d in ((1, 1), (2, 1), (1, 2))
] + [pytest.param(3, pm, s, 1, id=f"3d-{pm}-s{s}") for pm in MODES for s in (1, 2)]


@pytest.mark.parametrize("rank, padding_mode, stride, dilation", CHAIN_CASES)
def test_conv_chains(rank, padding_mode, stride, dilation):
    net = chain(rank, padding_mode, stride, dilation)
    for shift_mode in ("zero", "cyclic"):
        for t in (1, 2, -4):
            assert_certified(net, (t,) + (0,) * (rank - 1), shift_mode)
        assert_certified(net, (2,) * rank, shift_mode)


@pytest.mark.parametrize("kind", ["bias", "bn", "scale", "sigmoid", "tanh"])
def test_pointwise_offsets_fail_only_on_zero_filled_positions(kind):
    net = Net((10,), channels=2)
    net.pointwise("p", kind)
    net.conv("c2", 2, 3, padding=1, padding_mode="circular")
    zero = assert_certified(net, (2,), "zero")
    assert_certified(net, (2,), "cyclic")
    maps_zero = kind in ("scale", "tanh")
    assert bool(zero.at("p").exact[0]) is maps_zero  # position 0 is zero-filled
    assert net.graph.check_shift((2,), "cyclic").at("p").exact.all()


def test_conv_bias_is_not_exact_on_zero_filled_positions():
    net = Net((8, 8), channels=2)
    net.conv("c", 2, 1, bias=True)
    cert = assert_certified(net, (2, 0), "zero")
    assert not cert.exact[:2].any() and cert.exact[2:].all()
    assert "bias lands on a zero-filled" in cert.explain((0, 3))


# ----------------------------------------------------------------- blocks
def basic_block(size, padding_mode="zeros", stride=2):
    """ResNet basic block with a 1x1 downsample branch."""
    net = Net(size, channels=3)
    net.conv("conv1", 4, 3, stride=stride, padding=1, padding_mode=padding_mode)
    net.pointwise("bn1", "bn")
    net.pointwise("relu1", "relu")
    net.conv("conv2", 4, 3, padding=1, padding_mode=padding_mode)
    net.pointwise("bn2", "bn")
    net.conv("down", 4, 1, stride=stride, inputs=["input"])
    net.sum("sum", ["bn2", "down"])
    return net


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_resnet_basic_block(padding_mode, shift_mode):
    net = basic_block((10, 12), padding_mode)
    for t in ((2, 0), (2, -4), (1, 0), (0, 3)):
        cert = assert_certified(net, t, shift_mode)
    if padding_mode == "circular" and shift_mode == "cyclic":
        assert net.graph.check_shift((2, 4), "cyclic").commutes
    assert cert.output_shift is None  # (0, 3): stride 2 does not divide 3


def inverted_residual(size, padding_mode="zeros"):
    """MobileNetV2 inverted residual: expand 1x1, depthwise 3x3, project 1x1, sum."""
    net = Net(size, channels=3)
    net.conv("expand", 6, 1)
    net.pointwise("bn1", "bn")
    net.pointwise("relu1", "relu")
    net.conv("dw", 6, 3, padding=1, groups=6, padding_mode=padding_mode)
    net.pointwise("bn2", "bn")
    net.pointwise("relu2", "relu")
    net.conv("project", 3, 1)
    net.sum("sum", ["project", "input"])
    return net


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
def test_mobilenet_inverted_residual(shift_mode):
    net = inverted_residual((9, 9))
    for t in ((1, 0), (-2, 3)):
        assert_certified(net, t, shift_mode)


def unet(size, padding_mode="zeros"):
    """Two-level UNet: skip concatenation, ConvTranspose upsampling."""
    net = Net(size, channels=2)
    net.conv("enc", 3, 3, padding=1, padding_mode=padding_mode)
    net.pointwise("relu", "relu")
    net.maxpool("pool", 2)
    net.conv("mid", 4, 3, padding=1, padding_mode=padding_mode)
    net.conv("up", 3, 2, stride=2, transposed=True)
    net.concat("cat", ["up", "relu"])
    net.conv("dec", 2, 3, padding=1, padding_mode=padding_mode)
    return net


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_unet_with_transposed_conv_and_concat(padding_mode, shift_mode):
    net = unet((8, 10), padding_mode)
    for t in ((2, 0), (2, -2), (1, 1)):
        cert = assert_certified(net, t, shift_mode)
    assert cert.output_shift is None
    assert net.graph.nodes["up"].stride == (1, 1)


@pytest.mark.parametrize(
    "rank, kernel_size, stride, padding, output_padding",
    [(1, 3, 2, 1, 1), (1, 4, 2, 1, 0), (2, 3, 2, 1, 1), (2, (4, 3), (2, 3), (1, 0), (0, 2)),
     (2, 2, 2, 0, 0)],
    ids=["1d-k3s2p1op1", "1d-k4s2p1", "2d-k3s2p1op1", "2d-mixed", "2d-k2s2"],
)
def test_transposed_convs(rank, kernel_size, stride, padding, output_padding):
    size = {1: (7,), 2: (5, 6)}[rank]
    net = Net(size, channels=2)
    net.conv("c1", 2, 3, padding=1)
    net.conv("up", 3, kernel_size, stride=stride, padding=padding,
             output_padding=output_padding, transposed=True)
    net.conv("c2", 2, 3, padding=1, padding_mode="circular")
    for mode in ("zero", "cyclic"):
        for t in ((1,), (-2,), (3,)):
            cert = assert_certified(net, t + (0,) * (rank - 1), mode)
            first = stride[0] if isinstance(stride, tuple) else stride
            assert cert.output_shift[0] == t[0] * first  # a transposed layer multiplies


def test_transposed_conv_with_gaps_is_sound():
    """k < s leaves output rows that no input reaches (identically 0): the
    certificate stays sound there; it may call some of them non-exact."""
    net = Net((6,), channels=2)
    net.conv("up", 2, 1, stride=2, transposed=True)
    net.conv("c2", 2, 3, padding=1)
    for mode in ("zero", "cyclic"):
        compare(net, (1,), mode)  # asserts the exact positions; returns the rest


# ------------------------------------------------------------------ pools
POOL_CASES = [
    pytest.param(lambda n: n.maxpool("p", 2), id="max-2"),
    pytest.param(lambda n: n.maxpool("p", 3, 2, 1), id="max-3-s2-p1"),
    pytest.param(lambda n: n.maxpool("p", 3, 2, 1, ceil_mode=True), id="max-ceil"),
    pytest.param(lambda n: n.maxpool("p", 2, 1, 0, 2), id="max-dilated"),
    pytest.param(lambda n: n.avgpool("p", 2), id="avg-2"),
    pytest.param(lambda n: n.avgpool("p", 3, 2, 1), id="avg-3-s2-p1"),
    pytest.param(lambda n: n.avgpool("p", 3, 2, 1, count_include_pad=False), id="avg-exclude-pad"),
    pytest.param(lambda n: n.avgpool("p", 3, 2, 1, ceil_mode=True), id="avg-ceil"),
    pytest.param(lambda n: n.avgpool("p", 3, 2, 1, ceil_mode=True, count_include_pad=False),
                 id="avg-ceil-exclude"),
    pytest.param(lambda n: n.blur("p", 3), id="blur-3-reflect"),
    pytest.param(lambda n: n.blur("p", 4, pad_type="repl"), id="blur-4-repl"),
    pytest.param(lambda n: n.blur("p", 5, pad_type="zero"), id="blur-5-zero"),
    pytest.param(lambda n: n.blur("p", 1), id="blur-1"),
    pytest.param(lambda n: n.pad("pp", (1, 1), "circular").maxpool("p", 3, 2), id="circpad-max"),
    pytest.param(lambda n: n.pad("pp", (1, 0), "reflect").maxpool("p", 2), id="reflpad-max"),
    pytest.param(lambda n: n.pad("pp", (1, 1)).maxpool("p", 3, 2), id="zeropad-max"),
    pytest.param(lambda n: n.pad("pp", (2, 1), "replicate").avgpool("p", 2), id="replpad-avg"),
]


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("pool", POOL_CASES)
def test_pools_and_fixed_filters(pool, shift_mode):
    """On the input itself (exact everywhere: the pool's own certificate shows),
    after a ReLU (nonnegative: a zero-filled value never wins a max), after a conv."""
    for before in ("input", "relu", "conv"):
        net = Net((12,), channels=3)
        if before == "conv":
            net.conv("c1", 3, 3, padding=1, padding_mode="circular")
        if before == "relu":
            net.pointwise("r", "relu")
        pool(net)
        net.conv("c2", 2, 3, padding=1, padding_mode="circular")
        for t in (2, -2, 4, 1):
            assert_certified(net, (t,), shift_mode, node="p")
            assert_certified(net, (t,), shift_mode)


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
def test_pools_2d(shift_mode):
    net = Net((8, 10), channels=2)
    net.conv("c1", 3, 3, padding=1)
    net.pointwise("r", "relu")
    net.maxpool("m", 3, 2, 1)
    net.blur("b", 3, stride=1)
    net.avgpool("a", 2, count_include_pad=False)
    net.pad("last", (1, 1))  # F.pad of the last axis only
    net.conv("c2", 2, 3, padding=(1, 0))
    for t in ((2, 0), (-4, 4), (4, 2)):
        assert_certified(net, t, shift_mode)


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
def test_zero_pad_then_max_pool_2d(shift_mode):
    """Windows that read only the pad's zeros on one axis (a zero F.pad fused into
    the max pool: the zeros are values, not -inf)."""
    net = Net((6, 6), channels=2)
    net.pad("pp", (2, 2, 0, 2))
    net.maxpool("p", 2)
    for t in ((2, 0), (0, 2), (2, -2), (4, 4)):
        assert_certified(net, t, shift_mode)


def test_circular_pad_then_max_pool_is_cyclic_exact():
    """The stem of a circular ResNet: F.pad(circular) fused into the max pool."""
    net = Net((8, 8), channels=2)
    net.conv("c", 2, 3, padding=1, padding_mode="circular")
    net.pointwise("r", "relu")
    net.pad("pp", (1, 1, 1, 1), "circular")
    net.maxpool("p", 3, 2)
    net.conv("c2", 2, 3, padding=1, padding_mode="circular")
    cert = assert_certified(net, (2, -2), "cyclic")
    assert cert.commutes and net.graph.nodes["p"].fused == ("pp",)


# -------------------------------------------------------------- upsampling
@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize(
    "rank, mode, align, factor",
    [
        (1, "nearest", False, 2), (1, "linear", False, 2), (1, "linear", True, 3),
        (2, "nearest", False, (2, 3)), (2, "bilinear", False, 2), (2, "bilinear", True, 2),
        (2, "nearest-exact", False, 2), (3, "trilinear", False, 2),
    ],
    ids=lambda v: str(v),
)
def test_upsampling(rank, mode, align, factor, shift_mode):
    size = {1: (7,), 2: (5, 6), 3: (4, 3, 4)}[rank]
    net = Net(size, channels=2)
    net.conv("c1", 2, 3, padding=1, padding_mode="circular")
    net.upsample("up", factor, mode, align)
    net.conv("c2", 2, 3, padding=1, padding_mode="circular")
    for t in (1, -2):
        assert_certified(net, (t,) + (0,) * (rank - 1), shift_mode)
    assert_certified(net, (1,) * rank, shift_mode)


# ----------------------------------------------------- invariance and heads
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pooling_is_invariant_only_for_cyclic_exact_maps(kind):
    net = Net((8, 8), channels=2)
    net.conv("c1", 3, 3, padding=1, padding_mode="circular")
    net.pointwise("r", "relu")
    net.conv("c2", 3, 3, stride=2, padding=1, padding_mode="circular")
    net.global_pool("gap", kind)
    net.linear("fc", 4)
    cyc = assert_certified(net, (2, 4), "cyclic")
    assert cyc.exact.shape == () and cyc.exact and cyc.output_shift == ()
    zero = assert_certified(net, (2, 4), "zero")
    assert not zero.exact
    assert zero.explain().endswith("also broken at: 'c2', 'gap'")
    net.global_pool("direct", kind, inputs=["input"])  # the input map is exact everywhere
    assert "only under cyclic shifts" in assert_certified(net, (1, 0), "zero").explain()
    assert_certified(net, (1, 0), "cyclic")  # aliasing: no invariance


def test_flatten_linear_is_not_equivariant():
    net = Net((6, 6), channels=2)
    net.conv("c1", 2, 3, padding=1, padding_mode="circular")
    net.linear("fc", 3)
    cert = assert_certified(net, (1, 0), "cyclic")
    assert not cert.exact and "not shift-equivariant" in cert.explain()
    assert net.graph.check_shift((0, 0), "cyclic").exact
    net.flatten("flat", inputs=["c1"])
    assert not assert_certified(net, (2, 0), "cyclic", node="flat").exact


def test_squeeze_excitation_gate_keeps_exactness():
    net = Net((8, 8), channels=3)
    net.conv("c1", 3, 3, padding=1, padding_mode="circular")
    net.global_pool("gap")
    net.linear("fc", 3)
    net.pointwise("gate", "sigmoid")
    net.multiply("scaled", ["c1", "gate"])
    net.sum("plus", ["scaled", "fc"])  # a broadcast summand
    assert assert_certified(net, (2, 1), "cyclic").commutes
    zero = assert_certified(net, (2, 1), "zero")
    assert not zero.exact[0].any()


# --------------------------------------------------------------- hypothesis
# 25 examples: each runs a residual net with pooling 10 times through torch
# (about 0.1 s); more would add seconds without new geometry.
@settings(max_examples=25, deadline=None)
@given(
    n1=st.integers(6, 11),
    n2=st.integers(6, 11),
    t1=st.integers(-5, 5),
    t2=st.integers(-5, 5),
    mode=st.sampled_from(["zero", "cyclic"]),
    padding_mode=st.sampled_from(MODES),
)
def test_residual_net_hypothesis(n1, n2, t1, t2, mode, padding_mode):
    net = basic_block((n1, n2), padding_mode, stride=1)
    net.pointwise("relu", "relu")
    net.maxpool("pool", 2, ceil_mode=True)
    net.conv("head", 2, 3, padding=1, padding_mode=padding_mode)
    assert_certified(net, (t1, t2), mode)


# ------------------------------------------------------ layer certificate
@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize(
    "geometry",
    [
        dict(kernel_size=(3, 2), input_size=(7, 6), padding=1),
        dict(kernel_size=3, input_size=(8, 6), padding=1, stride=2),  # circulant when circular
        dict(kernel_size=(3, 1), input_size=(6, 6), padding=((2, 0), (0, 0)), dilation=(1, 3)),
        dict(kernel_size=1, input_size=(8, 8), stride=2),
    ],
    ids=["k3x2", "k3-s2", "k3x1-left", "k1-s2"],
)
def test_single_conv_node_is_the_layer_certificate(geometry, padding_mode, shift_mode):
    spec = ConvSpec(2, 3, padding_mode=padding_mode, **geometry)
    g = CertificateGraph(spec.input_size)
    g.add("c", spec)
    for t in ((1, 0), (-2, 3), (2, 4), (4, -2)):
        layer = check_shift(spec, t, shift_mode)
        net = g.check_shift(t, shift_mode)
        np.testing.assert_array_equal(net.exact, layer.exact)
        assert net.output_shift == layer.output_shift


def test_identically_zero_positions_are_exact_where_the_shift_fills():
    """Replicate padding next to the zero fill reads only zeros: avg pool output 2 is
    0 where S_u expects x[0] (not exact), and the conv output 1 that reads it is 0
    on both sides, although neither the conv nor its inputs commute there."""
    net = Net((12,), channels=2)
    net.pad("pp", (2, 1), "replicate")
    net.avgpool("p", 2)
    net.conv("c2", 2, 3, padding=1, padding_mode="circular")
    cert = assert_certified(net, (4,), "zero")
    assert cert.exact[1] and not cert.at("p").exact[2]
    assert "identically 0 there" in cert.explain(1)


# 200 examples: each compares two certificates of one small layer (milliseconds);
# the grid of ranks, modes and strides is wide, so the budget is the largest here.
@settings(max_examples=200, deadline=None)
@given(
    rank=st.integers(1, 3),
    data=st.data(),
    padding_mode=st.sampled_from(MODES),
    transposed=st.booleans(),
    flip=st.booleans(),
    mode=st.sampled_from(["zero", "cyclic"]),
)
def test_axis_by_axis_layer_certificate_is_check_shift(rank, data, padding_mode, transposed,
                                                       flip, mode):
    ints = st.integers
    size = data.draw(st.tuples(*[ints(2, 7)] * rank))
    kernel = data.draw(st.tuples(*[ints(1, 4)] * rank))
    stride = data.draw(st.tuples(*[ints(1, 3)] * rank))
    dilation = data.draw(st.tuples(*[ints(1, 2)] * rank))
    pads = data.draw(st.tuples(*[st.tuples(ints(0, 3), ints(0, 3))] * rank))
    if transposed:
        pads, padding_mode = tuple((a, a) for a, _ in pads), "zeros"
    try:
        spec = ConvSpec(1, 1, kernel, input_size=size, stride=stride, dilation=dilation,
                        padding=pads, padding_mode=padding_mode, transposed=transposed,
                        flip=flip)
    except ValueError:
        return  # not a layer torch can build
    shift = data.draw(st.tuples(*[ints(-8, 8)] * rank))
    g = CertificateGraph(size)
    g.add("c", spec)
    layer = check_shift(spec, shift, mode)
    net = g.check_shift(shift, mode)
    assert net.output_shift == layer.output_shift
    np.testing.assert_array_equal(net.exact, layer.exact)


def test_exact_set_is_not_a_product_of_axis_sets():
    """A residual sum of branches with different windows: an L-shaped exact set."""
    net = Net((8, 8), channels=2)
    net.conv("a", 2, (5, 1), padding=(2, 0))
    net.conv("b", 2, (1, 5), padding=(0, 2), inputs=["input"])
    net.sum("s", ["a", "b"])
    cert = assert_certified(net, (1, 1), "zero")
    rows, cols = cert.exact.any(axis=1), cert.exact.any(axis=0)
    assert not np.array_equal(cert.exact, np.outer(rows, cols))
    assert cert.explain((3, 3)).endswith("every input it reads is exact")


# --------------------------------------------------------------- subgroup
def test_shift_subgroup_matches_the_output_shift():
    net = unet((8, 8))
    net.conv("down", 2, 2, stride=2)
    net.maxpool("p", 2)
    sub = net.graph.shift_subgroup()
    assert sub.period == (4, 4)
    for t in [(a, b) for a in range(-5, 6) for b in (0, 2, 3, 4)]:
        assert (net.graph.check_shift(t).output_shift is None) == (sub.output_shift(t) is None)
    specs = [ConvSpec(1, 1, 2, input_size=8, stride=2), ConvSpec(1, 1, 2, input_size=4, stride=2)]
    assert shift_subgroup(specs).period == (4,)


def test_branches_with_different_strides_only_commute_with_zero():
    g = CertificateGraph(8)
    g.add("s2", ConvSpec(1, 1, 2, input_size=8, stride=2))
    g.add("v", ConvSpec(1, 1, 5, input_size=8), inputs=["input"])
    g.add("sum", Sum(), inputs=["s2", "v"])
    assert g.nodes["sum"].stride is None and g.shift_subgroup().period == (0,)
    cert = g.check_shift(2)
    assert cert.output_shift is None
    assert "shift differently" in cert.explain(0)
    assert g.check_shift(0).commutes


# ----------------------------------------------------------------- explain
def test_explain_names_first_layer_and_boundary():
    g = CertificateGraph((8, 8))
    g.add("c1", ConvSpec(1, 2, 3, input_size=(8, 8), padding=1))
    g.add("r", Pointwise(nonnegative=True))
    g.add("c2", ConvSpec(2, 2, 3, input_size=(8, 8), padding=1, padding_mode="circular"))
    cert = g.check_shift((0, 1), "zero")
    text = cert.explain((4, 1))
    assert text.startswith("'c2' at (4, 1) is not exact")
    assert "broken first at 'c1'" in text and "left edge of axis 1" in text
    assert "at (3, 0)" in text  # the first failing position c2's window reads
    assert cert.explain((4, 4)).endswith("every input it reads is exact")
    alias = g.check_shift((0, 1)).at("c1")
    assert alias.exact_maps.keys() == {"input", "c1"}
    g.add("p", MaxPool(2))
    assert "does not divide the shift (0, 1)" in g.check_shift((0, 1)).explain((0, 0))


def test_pointwise_tables_match_torch():
    neg = torch.linspace(-50, 50, 101).reshape(1, 1, 1, -1)
    shapes = {"Dropout1d": (1, 1, 1), "Dropout3d": (1, 1, 1, 1, 1)}
    for name, maps_zero in MAPS_ZERO_TO_ZERO.items():
        module = getattr(torch.nn, name)().eval()
        zero = torch.zeros(shapes.get(name, (1, 1, 1, 1)))
        assert bool(module(zero).item() == 0) is maps_zero, name
    for name in NONNEGATIVE:
        assert (getattr(torch.nn, name)()(neg) >= 0).all(), name


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "build, match",
    [
        (lambda g: g.add("c", ConvSpec(1, 1, 3, input_size=7)), r"spec.input_size must equal"),
        (lambda g: g.add("input", Pointwise()), r"name must be new"),
        (lambda g: g.add("x", Pointwise(), inputs=["nope"]), r"must be existing nodes"),
        (lambda g: g.add("x", "relu"), r"fact of 'x' must be a ConvSpec"),
        (lambda g: g.add("x", Pointwise(), inputs=["input", "input"]), r"must be one node"),
        (lambda g: g.add("x", MaxPool(3, padding=2)), r"at most half the kernel"),
        (lambda g: g.add("x", MaxPool(0)), r"kernel_size must be a positive integer"),
        (lambda g: g.add("x", Pad(8, "reflect")), r"smaller than the input size"),
        (lambda g: g.add("x", Pad(1, "edge")), r"mode must be one of"),
        (lambda g: g.add("x", FixedConv(ConvSpec(1, 1, 3, input_size=8), [1, 2])),
         r"taps\[0\] must have kernel_size"),
        (lambda g: (g.add("x", Linear()), g.add("y", GlobalPool())), r"needs a spatial input"),
        (lambda g: g.add("x", GlobalPool(kind="median")), r"kind must be"),
        (lambda g: g.check_shift((1, 2)), r"shift must have one value per axis"),
        (lambda g: g.check_shift(1, "roll"), r"mode must be one of"),
        (lambda g: g.check_shift(1, node="nope"), r"node must be one of"),
        (lambda g: g.check_shift(1).explain(8), r"position must lie in the grid"),
        (lambda g: Pointwise("yes"), r"maps_zero_to_zero must be True or False"),
        (lambda g: Pad.from_torch((1, 1), value=1.0), r"value must be 0"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_input_is_refused(build, match):
    g = CertificateGraph(8)
    with pytest.raises(ValueError, match=match):
        build(g)


def test_conv_fact_and_spec_are_the_same_node():
    spec = ConvSpec(1, 1, 3, input_size=8, padding=1)
    a, b = CertificateGraph(8), CertificateGraph(8)
    a.add("c", spec)
    b.add("c", Conv(spec))
    np.testing.assert_array_equal(a.check_shift(1).exact, b.check_shift(1).exact)


def test_channels_do_not_change_the_certificate():
    """Channels never reach the engine (timings: benchmarks/bench_certificate.py)."""
    def net(c):
        g = CertificateGraph((64, 64))
        g.add("a", ConvSpec(3, c, 3, input_size=(64, 64), padding=1))
        g.add("b", ConvSpec(c, c, 3, input_size=(64, 64), padding=1, stride=2, groups=c))
        return g

    for mode in ("zero", "cyclic"):
        small, wide = net(1).check_shift((2, 2), mode), net(4096).check_shift((2, 2), mode)
        np.testing.assert_array_equal(small.exact, wide.exact)


# ------------------------------------------------------------- ResNet-18
def test_resnet18_layout_at_224():
    """The benchmark's ResNet-18 graph: zero padding keeps interior bands early and
    nothing from layer 3 on (receptive field 435 px > 224); circular padding with a
    circular F.pad before the max pool commutes everywhere under cyclic shifts that
    32 divides, and global pooling is invariant."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_certificate import resnet18_graph

    zero = resnet18_graph().check_shift((32, 32))
    counts = {n: int(zero.exact_maps[n].sum()) for n in ("conv1", "layer2.1.sum", "layer3.1.sum")}
    assert counts == {"conv1": 12160, "layer2.1.sum": 144, "layer3.1.sum": 0}
    assert zero.output_shift == () and not zero.exact
    assert zero.at("layer4.1.sum").output_shift == (1, 1)
    assert resnet18_graph().shift_subgroup().period == (32, 32)
    assert resnet18_graph().check_shift((16, 0)).output_shift is None
    circular = resnet18_graph(padding_mode="circular", circular_pool=True)
    cert = circular.check_shift((32, 64), "cyclic")
    assert all(m.all() for m in cert.exact_maps.values())
    assert circular.nodes["maxpool"].fused == ("maxpool.pad",)
    blur = resnet18_graph(blur=True).check_shift((32, 32))
    assert not blur.exact_maps["layer4.1.sum"].any()
