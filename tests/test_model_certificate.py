"""Certificates of torch models (read from their traces) against the models run by torch.

Shifts: every position a model's certificate calls exact agrees with the model
run on the shifted input to 1e-12 (relative, float64) for three random weight
draws, in every feature map; up to 20 sampled non-exact positions of
pre-activation maps differ for one of five draws; maps without an output
shift match no integer output shift (``network_models.compare_model``).
Rotations and mirrors: the same against the model on ``torch.rot90`` /
``torch.flip`` inputs with its conv kernels turned along
(``network_models.compare_model_symmetry``).  The models are those of
``tests/models.py``; the ResNet-18 case studies at 224 x 224 are checked
against the hand-built graphs of ``benchmarks/bench_certificate.py``.
"""

from __future__ import annotations

import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from models import (
    AudioNet,
    BasicBlock,
    BlurPool,
    MobileNetV2,
    ResNet,
    TextCNN,
    UNet,
    VideoStem,
    antialias,
    build,
    circular,
    resnet18,
    seeded,
)
from network_models import (
    compare_model,
    compare_model_symmetry,
    randomize,
)
from torch import nn

from symtoe import ConvSpec, boundary_map, check_rotation, check_shift, check_symmetry
from symtoe.network.facts import (
    Concat,
    FixedConv,
    Flatten,
    GlobalPool,
    Linear,
    MaxPool,
    Multiply,
    Pointwise,
    Sum,
)
from symtoe.network.model_certificate import model_boundary_map, model_graph, model_shift_check
from symtoe.network.model_symmetry import model_rotation_check, model_symmetry_check

ROOT = Path(__file__).resolve().parents[1]


def small_resnet():
    return ResNet(BasicBlock, (1, 1), width=4, num_classes=5)


def facts(graph):
    return {name: node.fact for name, node in graph.graph.nodes.items()}


# ---------------------------------------------------------- shifts, torch
def shifts(rank, stride, small):
    """Shifts that the total stride divides, or any small shift."""
    multiple = st.integers(-2, 2).map(lambda k: k * stride)
    return st.tuples(*[st.one_of(multiple, st.integers(-small, small))] * rank)


# name -> (builder, input size strategy, shift strategy); sizes keep the models
# small (each example runs a model ten times in float64).
MODEL_CASES = {
    "resnet-basic": (small_resnet, st.tuples(st.just(3), st.integers(17, 36), st.integers(17, 36)),
                     shifts(2, 8, 9)),
    "resnet-circular": (lambda: circular(small_resnet()),
                        st.tuples(st.just(3), st.sampled_from([16, 24, 32]),
                                  st.sampled_from([16, 32])), shifts(2, 8, 9)),
    "mobilenetv2": (lambda: MobileNetV2(width=4), st.tuples(st.just(3), st.integers(12, 26),
                                                            st.integers(12, 26)), shifts(2, 4, 5)),
    "unet": (lambda: UNet(width=2), st.tuples(st.just(1), st.integers(8, 20),
                                              st.integers(8, 20)), shifts(2, 4, 5)),
    "audio": (lambda: AudioNet(width=4), st.tuples(st.just(1), st.integers(500, 900)),
              shifts(1, 64, 8)),
    "video": (lambda: VideoStem(width=4), st.tuples(st.just(3), st.integers(2, 4),
                                                    st.integers(8, 13), st.integers(8, 13)),
              st.tuples(st.integers(-1, 1), st.integers(-4, 4), st.integers(-4, 4))),
}
SAMPLED = {}  # case -> (sampled, differing), for the record


# 4 examples per model: each traces the model and runs it ten times; the
# geometry varies per model, and the fixed grids below add the edge cases.
@pytest.mark.parametrize("case", list(MODEL_CASES))
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_models_against_torch_on_shifted_inputs(case, data):
    make, sizes, shift_strategy = MODEL_CASES[case]
    size = data.draw(sizes, label="input_size")
    shift = data.draw(shift_strategy, label="shift")
    mode = data.draw(st.sampled_from(["zero", "cyclic"]), label="mode")
    with seeded(0):
        model = make()
    graph, sampled, differ = compare_model(model, size, shift, mode)
    old = SAMPLED.get(case, (0, 0))
    SAMPLED[case] = (old[0] + sampled, old[1] + differ)
    assert differ == sampled, f"only {differ} of {sampled} non-exact positions differ"


@pytest.mark.parametrize("name", ["convnext", "densenet", "inception", "padding-modes",
                                  "scaled-conv", "lenet5", "called-twice"])
def test_other_test_models_against_torch(name):
    model, size, _ = build(name)
    for shift, mode in (((4, 4), "zero"), ((2, -4), "cyclic")):
        _, sampled, differ = compare_model(model, size, shift, mode)
        assert differ == sampled


def test_circular_resnet_commutes_with_cyclic_shifts_of_its_stride():
    model = circular(small_resnet())
    graph, sampled, differ = compare_model(model, (3, 16, 24), (8, -16), "cyclic")
    cert = model_shift_check(graph, (8, -16), mode="cyclic")
    assert cert.commutes and cert.output_shift == ()
    assert differ == sampled  # the circular F.pad's own grid is not periodic


@pytest.mark.parametrize("shift", [(16, 1), (-20, 3), (0, 16), (16, 0)], ids=str)
def test_a_zero_fill_shift_that_empties_the_input(shift):
    """|t| >= n in zero mode: the shifted input is 0.  The output shift keeps
    its definition, t over the accumulated stride or "none" (as for one
    layer), and torch agrees wherever the certificate says exact."""
    with seeded(0):
        model = circular(small_resnet())
    graph, sampled, differ = compare_model(model, (3, 16, 16), shift, "zero")
    assert differ == sampled
    cert = model_shift_check(graph, shift, mode="zero", at="layer1")  # stride 4
    divisible = all(t % 4 == 0 for t in shift)
    assert cert.output_shift == (tuple(t // 4 for t in shift) if divisible else None)


def test_antialiased_resnet_against_torch():
    """BlurPool's buffer filter becomes a FixedConv (exact for its taps)."""
    model = antialias(ResNet(BasicBlock, (1, 1), width=2, num_classes=3))
    graph, sampled, differ = compare_model(model, (3, 20, 24), (4, 8), "zero")
    assert differ == sampled
    assert isinstance(facts(graph)["maxpool.1"], FixedConv)
    assert facts(graph)["maxpool.1"].taps[1] == (0.25, 0.5, 0.25)


# ------------------------------------------------- ResNet-18 case studies
@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_certificate

    return bench_certificate


def _counts(cert):
    return [int(v.sum()) for v in cert.exact_maps.values()]


@pytest.mark.parametrize("variant", ["zeros", "circular", "blur"])
def test_resnet18_at_224_is_the_hand_built_graph(variant, bench):
    """The traced ResNet-18 (meta tensors; width 2 where BlurPool's filter must be
    read) gives the benchmark's hand-built graph's certificate, map by map."""
    if variant == "blur":
        model = randomize(antialias(resnet18(width=2)), 0)  # BatchNorm offsets nonzero
    else:
        with torch.device("meta"):
            model = resnet18()
        if variant == "circular":
            circular(model)
    graph = model_graph(model, (3, 224, 224))
    hand = bench.resnet18_graph(padding_mode="circular" if variant == "circular" else "zeros",
                                circular_pool=variant == "circular", blur=variant == "blur")
    shift, mode = ((32, 64), "cyclic") if variant == "circular" else ((32, 32), "zero")
    cert, ref = model_shift_check(graph, shift, mode=mode), hand.check_shift(shift, mode)
    assert _counts(cert) == _counts(ref)
    assert cert.output_shift == () and bool(cert.exact) == (variant == "circular")
    if variant == "zeros":
        maps = model_boundary_map(graph, shift)
        assert int(maps["conv1"].sum()) == 12160 and int(maps["layer2.1:add"].sum()) == 144
        assert not maps["layer3.1:add"].any() and not maps["layer4.1:add"].any()
        assert maps["avgpool"].shape == () and not maps["avgpool"]
        for t in (1, 8, 16, 31):  # aliasing: the total stride is 32
            assert model_shift_check(graph, (t, 0), at="layer4").output_shift is None
        assert "bn1" in graph.notes  # meta tensors: offsets unread, treated as nonzero
        why = model_shift_check(graph, shift, at="bn1").explain((0, 0))
        assert "broken first at 'bn1'" in why and "note: the BatchNorm offset" in why


def test_resnet18_certificate_does_not_depend_on_channels():
    with torch.device("meta"):
        wide, thin = resnet18(), resnet18(width=1)
    for shift, mode in (((32, 32), "zero"), ((64, 32), "cyclic"), ((3, 0), "zero")):
        a = model_shift_check(wide, shift, input_size=(3, 224, 224), mode=mode)
        b = model_shift_check(thin, shift, input_size=(3, 224, 224), mode=mode)
        assert _counts(a) == _counts(b)


# --------------------------------------------------------- explanations
def test_pytorch_71154_in_three_lines():
    """pytorch #71154: "Conv2d is not translation-equivariant" (zero padding)."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    cert = check_shift(conv, (0, 1), input_size=(1, 5, 5))
    lines = cert.explain((2, 0)).splitlines()
    assert lines[0].startswith("'Conv2d' at (2, 0) is not exact for shift (0, 1) (zero)")
    assert lines[1].endswith("at (2, 0): the left edge of axis 1")
    assert "w[0, 2] * x[1, 0] is in T S_in but not in S_out T" in lines[4]
    x = torch.randn(1, 1, 5, 5, dtype=torch.float64)
    conv.double()
    shifted = F.pad(x, (1, 0))[..., :5]
    with torch.no_grad():
        diff = (conv(shifted) - F.pad(conv(x), (1, 0))[..., :5]).abs()[0, 0]
    np.testing.assert_array_equal(diff.numpy() > 1e-12, ~cert.exact)


def test_named_maps_and_explanations():
    model = randomize(small_resnet(), 0)
    graph = model_graph(model, (3, 32, 32))
    cert = model_shift_check(graph, (8, 8), at="layer1")
    assert cert.node == "layer1.0.relu (call 2 of 2)" and cert.exact.shape == (8, 8)
    assert model_shift_check(graph, (8, 8), at="layer1.0:add").node == "layer1.0:add"
    assert isinstance(facts(graph)["layer1.0:add"], Sum)
    text = model_shift_check(graph, (8, 8)).explain()
    assert text.startswith("'fc' at () is not exact") and "broken first at 'conv1'" in text
    with pytest.raises(ValueError, match=r"at must name a module that ran .* but got 'layer9'"):
        model_shift_check(graph, (8, 8), at="layer9")
    with pytest.raises(ValueError, match=r"input_size must be given for a model"):
        model_shift_check(small_resnet(), (8, 8))
    with pytest.raises(ValueError, match=r"mode must be one of \('zero', 'cyclic'\), but got 'roll'"):
        model_shift_check(graph, (8, 8), mode="roll")
    with pytest.raises(ValueError, match=r"shift must have one value per axis \(2\)"):
        model_shift_check(graph, (8, 8, 8))
    with pytest.raises(ValueError, match=r"model must be a torch.nn.Module, but got str"):
        model_graph("resnet", (3, 8, 8))
    with pytest.raises(ValueError, match=r"quarter_turns must be an integer, but got 1.5"):
        model_rotation_check(graph, 1.5)
    with pytest.raises(ValueError, match=r"element must be a 2x2 signed permutation matrix"):
        model_symmetry_check(graph, [[1, 1], [0, 1]])


# ------------------------------------------------------ facts from values
def test_batchnorm_offset_is_read_from_its_statistics():
    """An eval BatchNorm maps 0 to beta - mean gamma / sqrt(var + eps): zero at
    torch's initialisation (zero-filled positions stay exact), not after."""
    model = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1, bias=False),
                          nn.BatchNorm1d(2)).double().eval()
    graph = model_graph(model, (1, 8))
    assert facts(graph)["1"] == Pointwise(True) and not graph.notes
    exact = model_shift_check(graph, 2).exact
    x = torch.randn(3, 1, 8, dtype=torch.float64)
    with torch.no_grad():
        y, ys = model(x), model(F.pad(x, (2, 0))[..., :8])
        np.testing.assert_array_equal((ys - F.pad(y, (2, 0))[..., :8]).abs().amax((0, 1)) < 1e-12,
                                      exact)
        assert exact[0]  # both sides are 0 there
        model[1].running_mean.fill_(0.5)
    assert facts(model_graph(model, (1, 8)))["1"] == Pointwise(False)
    with torch.device("meta"):
        meta = nn.Sequential(nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2))
    graph = model_graph(meta, (1, 8))
    assert facts(graph)["1"] == Pointwise(False)
    assert "1.running_mean" in graph.notes["1"] and "cannot be read" in graph.notes["1"]


def test_pointwise_ops_decide_zero_from_the_op():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Hardswish(), nn.Sigmoid(), nn.ReLU6(),
                          nn.Softplus(), nn.GELU())
    got = {n: (f.maps_zero_to_zero, f.nonnegative) for n, f in facts(model_graph(
        model, (1, 4, 4))).items() if isinstance(f, Pointwise)}
    assert got == {"1": (True, False), "2": (False, True), "3": (True, True),
                   "4": (False, True), "5": (True, False)}


def test_text_embedding_maps_token_zero_to_its_row():
    model = TextCNN()
    tokens = torch.randint(0, 50, (1, 20), generator=torch.Generator().manual_seed(1))
    graph = model_graph(model, example_inputs=tokens)
    assert facts(graph)["embedding"] == Pointwise(False)  # row 0 of the table is not 0
    with torch.no_grad():
        model.embedding.weight[0] = 0
    assert facts(model_graph(model, example_inputs=tokens))["embedding"] == Pointwise(True)


def test_fixed_filters_and_free_weights():
    class Fixed(nn.Module):
        def __init__(self, kernel):
            super().__init__()
            self.register_buffer("k", kernel.expand(2, 1, 3, 3).clone())

        def forward(self, x):
            return F.conv2d(x, self.k, padding=1, groups=2)

    box = facts(model_graph(Fixed(torch.ones(3, 3) / 8), (2, 6, 6)))["Fixed"]
    assert box.taps == ((Fraction(3, 8),) * 3, (Fraction(1, 3),) * 3)
    laplace = Fixed(torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]))
    graph = model_graph(laplace, (2, 6, 6))
    assert not isinstance(facts(graph)["Fixed"], FixedConv)  # not separable: free weights
    assert "not a separable filter" in graph.notes["Fixed"]
    blur = model_graph(BlurPool(3), (3, 8, 8))
    assert facts(blur)["BlurPool"].spec.padding_mode == "reflect"


# --------------------------------------------------- what maps to what
def test_heads_pools_and_merges():
    lenet = facts(model_graph(build("lenet5")[0], (1, 32, 32)))
    assert isinstance(lenet["7:addmm:flatten"], Flatten) and isinstance(lenet["7"], Linear)
    se = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), SqueezeExcite(4), nn.AdaptiveMaxPool2d(2),
                       nn.Upsample(scale_factor=2, mode="bilinear"), nn.AdaptiveAvgPool2d(1))
    got = facts(model_graph(se, (2, 8, 8)))
    assert isinstance(got["1"], Multiply) and got["1.fc"] == Linear()
    assert got["2"] == MaxPool((4, 4)) and got["4"] == GlobalPool("avg")
    assert got["3"].mode == "bilinear" and got["3"].scale_factor == (2, 2)
    unet = facts(model_graph(UNet(), (1, 18, 18)))
    assert isinstance(unet["UNet:cat"], Concat) and unet["up2"].spec.transposed


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): x * sigmoid(fc(mean(x)))."""

    def __init__(self, c):
        super().__init__()
        self.fc = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


def test_squeeze_excitation_and_upsampling_against_torch():
    se = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), SqueezeExcite(4), nn.MaxPool2d(2),
                       nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(4, 2, 3, padding=1))
    for shift, mode in (((2, 4), "cyclic"), ((2, -2), "zero")):
        _, sampled, differ = compare_model(se, (2, 8, 12), shift, mode)
        assert differ == sampled


class Crop(nn.Module):
    def forward(self, x):
        return x[..., 1:-1, :]


class Stack(nn.Module):
    def forward(self, x):
        return torch.stack([x, x], 1)


@pytest.mark.parametrize(
    "model, match",
    [
        (build("vit")[0], r"aten.cat in ViT \(the model\): it concatenates a tensor of shape "
                          r"\(1, 1, 16\) that does not depend on the input"),
        (build("functional")[0], r"_scaled_dot_product.* attention mixes every position"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4)), r"module '1': it normalises "
                                                                  r"with statistics over positions"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4)), r"statistics over positions"),
        (nn.AdaptiveAvgPool2d(3), r"adaptive pooling from \(8, 8\) to \(3, 3\) has windows of "
                                  r"unequal sizes"),
        (nn.Upsample(scale_factor=1.5), r"upsampling from 8 to 12 .* not by an integer factor"),
        (nn.Upsample(scale_factor=2, mode="bicubic"), r"bicubic upsampling is not certified"),
        (Crop(), r"aten.slice in Crop \(the model\): it takes part of the positions"),
        (nn.ConstantPad2d(1, 1.0), r"a constant pad of value 1.0 is affine"),
        (Stack(), r"stacking maps along a new axis"),
    ],
    ids=["vit", "attention", "instance-norm", "group-norm", "adaptive-3", "upsample-1.5",
         "bicubic", "crop", "pad-value", "stack"],
)
def test_ops_that_cannot_be_certified_are_named(model, match):
    size = (3, 16, 16) if isinstance(model, nn.Module) and model._get_name() in (
        "ViT", "Functional") else (3, 8, 8)
    with pytest.raises(ValueError, match=match):
        model_shift_check(model, (1, 1), input_size=size)
    with pytest.warns(UserWarning, match="some maps of the model have no certificate"):
        model_boundary_map(model, (1, 1), input_size=size)


def test_position_dependent_inputs_are_named():
    model, _, inputs = build("two-inputs")
    with pytest.raises(ValueError, match=r"combines the map with input 1 of shape \(1, 4, 6, 6\)"):
        model_shift_check(model, (1, 1), example_inputs=inputs)


def test_boundary_map_lists_every_map_in_order():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = model_boundary_map(UNet(), (2, 2), input_size=(1, 12, 12))
    assert list(maps)[:3] == ["enc1.0", "enc1.1", "enc1.2"] and list(maps)[-1] == "out"
    assert all(m.dtype == bool for m in maps.values())
    assert maps["out"].shape == (12, 12) and maps["bottleneck.0"].shape == (3, 3)


# ------------------------------------------------------ rotations, mirrors
ROTATION_CASES = {
    # odd sizes all the way down for stride 2 with k = 3, p = 1 (and k = 7, p = 3)
    "resnet": (small_resnet, st.tuples(st.just(3), st.integers(15, 34)).map(
        lambda s: (s[0], s[1], s[1])), {}),
    "resnet-circular": (lambda: circular(small_resnet()), st.sampled_from([16, 17, 33]).map(
        lambda n: (3, n, n)), {"quarter_turns": 2}),
    "mobilenetv2": (lambda: MobileNetV2(width=4), st.integers(11, 26).map(
        lambda n: (3, n, n)), {"quarter_turns": 2}),
    "unet": (lambda: UNet(width=2), st.integers(8, 21).map(lambda n: (1, n, n)),
             {"quarter_turns": 3}),
    "video": (lambda: VideoStem(width=4), st.tuples(st.integers(2, 4), st.integers(8, 13)).map(
        lambda s: (3, s[0], s[1], s[1])), {"axes": (1, 2)}),
    "audio-mirror": (lambda: AudioNet(width=4), st.integers(500, 900).map(lambda n: (1, n)),
                     {"flip_axes": (0,)}),
    "resnet-mirror": (small_resnet, st.tuples(st.integers(15, 30), st.integers(15, 30)).map(
        lambda s: (3, *s)), {"flip_axes": (1,)}),
}


# 4 examples per model: each runs the model and its turned copy five times;
# the sizes cover both parities of every strided layer's grid.
@pytest.mark.parametrize("case", list(ROTATION_CASES))
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_models_against_torch_on_turned_inputs(case, data):
    make, sizes, kw = ROTATION_CASES[case]
    size = data.draw(sizes, label="input_size")
    with seeded(0):
        model = make()
    cert, sampled, differ = compare_model_symmetry(model, size, **kw)
    assert differ == sampled, f"only {differ} of {sampled} non-exact positions differ"


def test_rotation_holds_at_odd_sizes_only():
    """(n + 2p - d(k-1) - 1) mod s == 0 at every strided layer: 33 -> 17 -> 9 -> 5."""
    model = small_resnet()
    assert model_rotation_check(model, input_size=(3, 33, 33)).holds
    even = check_rotation(model, 1, input_size=(3, 32, 32))  # the layer API dispatches
    assert not even.holds and not even.at("conv1").exact.any()
    assert "a = (n + p_left + p_right - d(k-1) - 1) mod s" in even.explain()
    flip = check_symmetry(model, [[1, 0], [0, -1]], input_size=(3, 32, 33), at="layer1")
    assert flip.holds and flip.node == "layer1.0.relu (call 2 of 2)"


def test_rotation_refuses_ops_it_does_not_understand():
    with pytest.raises(ValueError, match=r"does not understand a Linear on a flattened map"):
        model_rotation_check(build("lenet5")[0], input_size=(1, 32, 32))
    with pytest.raises(ValueError, match=r"does not understand Upsample"):
        model_rotation_check(nn.Upsample(scale_factor=2), input_size=(1, 4, 4))
    with pytest.raises(ValueError, match=r"at least 2 spatial axes"):
        model_rotation_check(AudioNet(), input_size=(1, 800))
    with pytest.raises(ValueError, match=r"the same input_size"):
        model_rotation_check(small_resnet(), input_size=(3, 33, 35))
    fixed = model_symmetry_check(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2)),
                                 [[0, 1], [1, 0]], input_size=(1, 10, 10))
    assert fixed.holds  # the transpose reverses no axis


class Skewed(nn.Module):
    """A fixed separable filter that a quarter turn does not map onto itself,
    after an asymmetric pad."""

    def __init__(self):
        super().__init__()
        self.register_buffer("k", torch.tensor([[1.0, 3.0], [2.0, 6.0]])[None, None])

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), self.k)


def test_rotation_of_fixed_filters_and_pads_against_torch():
    cert = model_rotation_check(Skewed(), input_size=(1, 6, 6))
    assert not cert.exact.any() and "a fixed filter that M does not map onto itself" in \
        cert.explain((2, 2))
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    model = Skewed().double()
    err = (model(torch.rot90(x, 1, (-2, -1))) - torch.rot90(model(x), 1, (-2, -1))).abs()
    assert (err.amax((0, 1)) > 1e-9).all()
    pad = model_symmetry_check(nn.ReplicationPad2d((1, 0, 0, 0)), [[1, 0], [0, -1]],
                               input_size=(1, 4, 4))
    assert not pad.exact.any() and "not the same on both sides" in pad.explain((0, 0))
    assert model_symmetry_check(nn.ReplicationPad2d((2, 2, 0, 0)), [[1, 0], [0, -1]],
                                input_size=(1, 4, 4)).holds


# ------------------------------------------------------------- picture
def test_boundary_map_picture():
    from symtoe.present.network_plot import plot_network_boundary_map

    maps = model_boundary_map(small_resnet(), (8, 8), input_size=(3, 32, 32))
    fig = plot_network_boundary_map(maps, names=["conv1", "maxpool", "layer2.0.conv1",
                                                 "avgpool"], columns=2)
    assert len([ax for ax in fig.axes if ax.axison]) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("conv1\n16 x 16: ") and "vector: 0/1 exact" in titles[-1]
    with pytest.raises(ValueError, match=r"names must be maps of the network, but got \['x'\]"):
        plot_network_boundary_map(maps, names=["x"])
    with pytest.raises(ValueError, match=r"maps must be a non-empty dict"):
        plot_network_boundary_map({})
    import matplotlib.pyplot as plt

    plt.close("all")


def test_check_shift_and_boundary_map_take_models():
    """The layer functions dispatch a model to its trace's certificate; the
    model's one-layer certificate is the layer's own."""
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=2, bias=False)
    spec = ConvSpec.from_module(conv, (9, 9))
    for shift, mode in (((2, 4), "zero"), ((2, -2), "cyclic"), ((1, 0), "zero")):
        model = check_shift(conv, shift, mode, input_size=(2, 9, 9))
        layer = check_shift(spec, shift, mode)
        assert model.output_shift == layer.output_shift
        np.testing.assert_array_equal(model.exact, layer.exact)
    maps = boundary_map(conv, (2, 4), input_size=(2, 9, 9))
    np.testing.assert_array_equal(list(maps.values())[-1], boundary_map(spec, [(2, 4)])[0])
    with pytest.raises(ValueError, match="output_shift must be None for a model"):
        check_shift(conv, (2, 2), input_size=(2, 9, 9), output_shift=(1, 1))
    with pytest.raises(ValueError, match="input_size must be None for a ConvSpec"):
        check_shift(spec, (2, 2), input_size=(2, 9, 9))
    with pytest.raises(ValueError, match="at must be None for a ConvSpec"):
        check_shift(spec, (2, 2), at="layer1")
