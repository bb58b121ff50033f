"""Closed-form counts against counts read off torch."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import probe_matrix, torch_forward
from test_matrices import specs
from torch.utils.flop_counter import FlopCounterMode

from symtoe import ConvSpec, count_parameters
from symtoe.core.pattern import axis_pattern
from symtoe.core.sizes import axis_sizes


def counts_from_torch(spec):
    """nonzeros, used weights and matrix size read off torch by probing."""
    g = torch.Generator().manual_seed(0)
    w = (torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1).requires_grad_()
    T = probe_matrix(spec, w)  # positive weights: no cancellation, folds stay nonzero
    (grad,) = torch.autograd.grad(T.sum(), w)
    return dict(dense=T.numel(), nonzeros=int((T != 0).sum()), used=int((grad != 0).sum()),
                shared=w.numel())


def torch_macs(spec):
    """Multiply-adds torch performs on the padded input (F.pad, then a valid conv)."""
    x = torch.zeros(1, spec.in_channels, *spec.input_size)
    mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
    x = F.pad(x, spec.torch_padding, mode=mode)
    with FlopCounterMode(display=False) as counter:
        valid = spec.replace(padding=0, padding_mode="zeros", input_size=tuple(x.shape[2:]))
        torch_forward(valid, x, torch.zeros(spec.weight_shape))
    return counter.get_total_flops() // 2


# 150 examples over the same geometry space as the matrix tests (~3-13 s): slow;
# the closed forms are checked axis by axis below, and against torch on named layers.
@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=specs())
def test_closed_form_counts_equal_counts_read_off_torch(spec):
    counts = count_parameters(spec)
    expected = counts_from_torch(spec)
    assert {k: getattr(counts, k) for k in expected} == expected
    if spec.padding_mode == "zeros":
        assert counts.macs == counts.nonzeros
    else:  # every tap reads a real input: the MACs of a conv on the padded input
        assert counts.macs == torch_macs(spec) >= counts.nonzeros


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_folding_makes_nonzeros_fewer_than_macs(mode):
    spec = ConvSpec(1, 1, 3, input_size=2, padding=1, padding_mode=mode)
    counts = count_parameters(spec)
    assert counts.macs == torch_macs(spec) == 2 * 3
    assert counts.nonzeros == counts_from_torch(spec)["nonzeros"] < counts.macs


def test_dead_taps_are_not_used():
    # one output, taps 0 and 4 only ever meet zero padding
    spec = ConvSpec(2, 3, 5, input_size=3, padding=1)
    counts = count_parameters(spec)
    assert spec.output_size == (1,)
    assert (counts.shared, counts.used) == (30, 18)
    assert counts.used == counts_from_torch(spec)["used"]
    assert count_parameters(spec.replace(padding_mode="replicate")).used == 30


def test_bias_counts_like_torch_module():
    module = torch.nn.Conv2d(4, 6, 3, groups=2, bias=True)
    spec = ConvSpec.from_module(module, (8, 8))
    counts = count_parameters(spec)
    assert counts.shared == module.weight.numel() and counts.bias == module.bias.numel()
    assert counts.ratio == counts.dense / counts.shared


def test_imagenet_size_layer_closed_form():
    """512 -> 512, 3x3, padding 1 at 224x224: each axis has 3*224 - 2 entries."""
    counts = count_parameters(ConvSpec(512, 512, 3, input_size=(224, 224), padding=1, bias=True))
    assert counts.nonzeros == counts.macs == 512 * 512 * (3 * 224 - 2) ** 2
    assert counts.dense == (512 * 224 * 224) ** 2
    assert counts.shared == counts.used == 512 * 512 * 9
    assert counts.bias == 512
    # torch's own FLOP count of the same conv (2 per MAC) includes the taps on
    # zero padding; the difference is exactly the padded taps.
    with FlopCounterMode(display=False) as counter:
        F.conv2d(torch.empty(1, 512, 224, 224, device="meta"),
                 torch.empty(512, 512, 3, 3, device="meta"), padding=1)
    assert counter.get_total_flops() // 2 == 512 * 512 * 9 * 224 * 224
    assert counts.as_dict()["nonzeros"] == counts.nonzeros


def test_count_requires_a_spec():
    with pytest.raises(ValueError, match="spec must be a ConvSpec, but got tuple"):
        count_parameters((1, 1, 3))


def test_seed_examples():
    one_d = count_parameters(ConvSpec(1, 1, 3, input_size=6))
    assert (one_d.dense, one_d.shared) == (24, 3)
    two_d = count_parameters(ConvSpec(1, 1, 3, input_size=(5, 5)))
    assert (two_d.dense, two_d.shared) == (225, 9)
    assert math.isclose(two_d.ratio, 25.0)


# ------------------------------------------------- closed forms, axis by axis
@st.composite
def axes(draw):
    """One axis of any valid geometry: paddings up to far beyond the kernel,
    large dilations, strides and kernels longer than the input (every fold)."""
    n, k = draw(st.integers(1, 24)), draw(st.integers(1, 16))
    s, d = draw(st.integers(1, 6)), draw(st.integers(1, 9))
    mode = draw(st.sampled_from(["zeros", "circular", "reflect", "replicate", "transposed"]))
    transposed = mode == "transposed"
    pads = (draw(st.integers(0, 30)), draw(st.integers(0, 30)))
    if transposed:
        mode, pads = "zeros", (pads[0], pads[0])
    op = draw(st.integers(0, max(s, d) - 1)) if transposed else 0
    try:
        ConvSpec(1, 1, k, input_size=n, stride=s, padding=(pads,), dilation=d,
                 padding_mode=mode, transposed=transposed, output_padding=op)
    except ValueError:
        from hypothesis import reject

        reject()
    return n, k, s, pads, d, mode, transposed, op


# 400 examples (a few seconds): the closed forms have many branches (reflect pairs
# below / inside / above the input and triples, replicate end columns, circular
# periods); 30,000 random geometries agreed when the forms were written.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(axis=axes())
def test_axis_sizes_equal_the_explicit_axis_pattern(axis):
    """The O(k) closed forms against the O(n k) table they replace."""
    ap = axis_pattern(*axis)
    got = axis_sizes(*axis)
    assert (got.rows, got.nonzeros, got.macs, got.live, got.multiplicity) == (
        ap.n_rows, ap.nonzeros, ap.contributions, int(ap.live_taps.sum()), ap.taps.shape[2])


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "replicate"])
def test_billion_inputs_by_formula(mode):
    """n = 10**9, k = 3, padding 1: every row has 3 taps; under zeros the first and
    last lose one to the padding; reflect and replicate fold one onto another
    there; circular wraps it to a distinct column (THEORY.md)."""
    n = 10**9
    counts = count_parameters(ConvSpec(1, 1, 3, input_size=n, padding=1, padding_mode=mode))
    assert counts.macs == (3 * n - 2 if mode == "zeros" else 3 * n)
    assert counts.nonzeros == (3 * n if mode == "circular" else 3 * n - 2)
    assert counts.dense == n * n and counts.used == 3


def test_wide_layer_against_torch_flop_counter():
    """512 -> 512 at 4096x4096: torch counts every tap (FlopCounterMode on meta
    tensors); the taps on the zero padding are exactly 2 per axis row."""
    spec = ConvSpec(512, 512, 3, input_size=(4096, 4096), padding=1)
    counts = count_parameters(spec)
    with FlopCounterMode(display=False) as counter:
        F.conv2d(torch.empty(1, 512, 4096, 4096, device="meta"),
                 torch.empty(512, 512, 3, 3, device="meta"), padding=1)
    assert counter.get_total_flops() // 2 == 512 * 512 * (3 * 4096) ** 2
    assert counts.macs == counts.nonzeros == 512 * 512 * (3 * 4096 - 2) ** 2
