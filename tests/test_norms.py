"""Certified operator norms against dense SVD of the matrix torch computes.

Reference: ``numpy.linalg.norm(M, 2)`` of ``reference.probe_matrix`` (one-hot
inputs through ``F.conv*`` / ``F.conv_transpose*`` after ``F.pad``), float64.
The claims under test: ``lower <= ||T||_2 <= upper`` for every layer kind,
``lower = ||T v||`` for the returned unit vector, ``upper - lower <= rtol *
upper`` where the result says it is certified, and exact values for
circulant layers.
"""

import math
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import probe_matrix, torch_forward

import symtoe.analysis.norms as norms
import symtoe.core.numeric
from symtoe import ConvSpec
from symtoe.analysis.norms import norm_row, operator_norm, reshaped_kernel_norm
from symtoe.analysis.spectrum import singular_values
from symtoe.core.spec import PADDING_MODES

RTOL = 1e-8
SLACK = 1e-12  # float64 rounding of the reference and of ||T v||


def random_weight(spec, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)


def true_norm(spec, w):
    return float(np.linalg.norm(probe_matrix(spec, w).numpy(), 2))


def check_bracket(spec, w, norm, true):
    assert norm.lower <= true * (1 + SLACK) + 1e-300
    assert norm.upper >= true * (1 - SLACK)
    # lower is attained by the returned unit vector (torch's forward, float64)
    assert abs(float(norm.vector.norm()) - 1) < 1e-12
    image = torch_forward(spec, norm.vector[None], w)
    assert float(image.norm()) == pytest.approx(norm.lower, rel=1e-12, abs=1e-300)
    if norm.certified:
        assert norm.upper - norm.lower <= RTOL * norm.upper


# --------------------------------------------------------- hypothesis grid
def kernels(spec, kind, seed):
    """Random kernels and adversarial ones whose top singular value is degenerate."""
    w = random_weight(spec, seed)
    if kind == "identity-channels":  # T = I (x) T_h: every value has multiplicity C
        h = w[0, 0].clone()
        w.zero_()
        for o in range(min(w.shape[0], w.shape[1])):
            w[o, o] = h
    elif kind == "delta":  # a shift per channel pair: many singular values exactly equal
        w.zero_()
        w.view(w.shape[0], -1)[:, 0] = 1.0
    elif kind == "symmetric":  # real DFT: conjugate frequencies pair up
        w = w + w.flip(tuple(range(2, w.ndim)))
    return w


@st.composite
def layers(draw):
    rank = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    mode = "zeros" if transposed else draw(st.sampled_from(PADDING_MODES))
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    top = {1: 9, 2: 5, 3: 3}[rank]
    n = tuple(draw(st.integers(2, top)) for _ in range(rank))
    k = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    s = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    d = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    if transposed:
        pad = tuple(draw(st.integers(0, 1)) for _ in range(rank))
        op = tuple(draw(st.integers(0, max(a, b) - 1)) for a, b in zip(s, d))
        kw = dict(padding=pad, output_padding=op)
    else:
        kw = dict(padding=tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                for _ in range(rank)))
    try:
        spec = ConvSpec(cin, cout, k, input_size=n, stride=s, dilation=d, groups=groups,
                        padding_mode=mode, transposed=transposed,
                        flip=draw(st.booleans()), **kw)
    except ValueError:
        spec = ConvSpec(cin, cout, 1, input_size=n, groups=groups)
    kind = draw(st.sampled_from(["random", "random", "identity-channels", "delta", "symmetric"]))
    return spec, kernels(spec, kind, draw(st.integers(0, 2**16)))


# Each example runs one operator_norm (~100 products on a tiny layer) and one
# dense SVD: 60 examples cover rank x mode x transposed x kernel kind in ~10 s.
# FULL_SPACE = 0: tiny layers go through the majorants and the block method
# too (by default they are solved on their whole input space, tested below).
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_bracket_contains_the_norm(layer):
    spec, w = layer
    with mock.patch.object(norms, "FULL_SPACE", 0):
        norm = operator_norm(spec, w, rtol=RTOL)
    check_bracket(spec, w, norm, true_norm(spec, w))


# 30 examples: the whole-input-space path is one Rayleigh-Ritz, exact to 1e-12.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_small_layers_are_solved_on_their_whole_input_space(layer):
    spec, w = layer
    norm = operator_norm(spec, w, rtol=RTOL)
    true = true_norm(spec, w)
    check_bracket(spec, w, norm, true)
    assert norm.exact or norm.bound.startswith("full space")
    assert norm.upper - norm.lower <= 1e-11 * max(true, 1e-300)


# ------------------------------------------------------------ named grid
NORM_GRID = {
    "1d-zeros-same": ConvSpec(1, 1, 3, input_size=8, padding=1),
    "1d-zeros-asym-dilated": ConvSpec(2, 3, 3, input_size=9, padding=((3, 1),), dilation=2),
    "1d-zeros-stride3": ConvSpec(2, 2, 4, input_size=10, padding=2, stride=3),
    "1d-zeros-full": ConvSpec(1, 2, 4, input_size=6, padding="full"),
    "1d-valid": ConvSpec(3, 2, 3, input_size=7),
    "2d-zeros-same": ConvSpec(2, 3, 3, input_size=(5, 6), padding=1),
    "2d-zeros-stride2-groups": ConvSpec(4, 4, 3, input_size=(6, 5), padding=1, stride=2,
                                        groups=2),
    "2d-zeros-nonsquare-flip": ConvSpec(2, 2, (2, 3), input_size=(4, 5), padding="same",
                                        flip=True),
    "2d-reflect": ConvSpec(2, 2, 3, input_size=(5, 4), padding=1, padding_mode="reflect"),
    "1d-replicate-asym": ConvSpec(1, 2, 3, input_size=6, padding=((2, 1),),
                                  padding_mode="replicate"),
    "1d-circular-stride-not-dividing": ConvSpec(2, 2, 3, input_size=7, padding=1, stride=2,
                                                padding_mode="circular"),
    "1d-circular-extra-pad": ConvSpec(1, 1, 3, input_size=5, padding=2, padding_mode="circular"),
    "1d-transposed": ConvSpec(2, 3, 3, input_size=5, stride=2, padding=1, transposed=True,
                              output_padding=1),
    "2d-transposed-dilated": ConvSpec(2, 2, 2, input_size=(3, 4), stride=1, dilation=2,
                                      transposed=True, output_padding=1),
    "3d-zeros": ConvSpec(1, 2, 2, input_size=(3, 3, 2), padding=1),
    "2d-zeros-16x16": ConvSpec(3, 3, 3, input_size=(16, 16), padding=1),
}


@pytest.mark.parametrize("spec", NORM_GRID.values(), ids=NORM_GRID.keys())
@pytest.mark.parametrize("seed", [0, 1])
def test_bracket_on_named_layers(spec, seed):
    w = random_weight(spec, seed)
    true = true_norm(spec, w)
    with mock.patch.object(norms, "FULL_SPACE", 0):
        norm = operator_norm(spec, w)
    assert not norm.exact
    check_bracket(spec, w, norm, true)
    assert norm.converged
    assert abs(norm.lower - true) <= 1e-7 * true


@pytest.mark.parametrize(
    "name, seed",
    [("1d-zeros-same", 0), ("2d-zeros-same", 1), ("1d-transposed", 0), ("1d-valid", 3),
     ("1d-circular-extra-pad", 0), ("2d-zeros-16x16", 0)],
)
def test_lehmann_bound_certifies_to_rtol(name, seed):
    """Where the layer's top singular values rise above the majorant's next
    one, the Lehmann bound closes the bracket to rtol (embedding: 1e-3..1e-1)."""
    spec = NORM_GRID[name]
    w = random_weight(spec, seed)
    with mock.patch.object(norms, "FULL_SPACE", 0):
        norm = operator_norm(spec, w, rtol=RTOL)
    assert norm.bound.startswith("lehmann") and norm.certified
    check_bracket(spec, w, norm, true_norm(spec, w))


def test_pruned_majorant_with_64_channels():
    """64 channels: the majorant's top values come from blocks pruned by
    Cholesky tests; the bracket still holds against dense SVD (576 x 576)."""
    spec = ConvSpec(64, 64, 3, input_size=(3, 3), padding=1)
    w = random_weight(spec, 3) / 24
    check_bracket(spec, w, operator_norm(spec, w), true_norm(spec, w))


def test_embedding_bound_is_the_circular_norm_on_the_larger_grid():
    """The embedding bound of a stride-1 'same' layer is the exact norm of the
    circular layer with the same kernel on a grid of n + 1 or more (dense SVD)."""
    spec = ConvSpec(2, 3, 3, input_size=(6, 5), padding=1)
    w = random_weight(spec, 4)
    with mock.patch.object(norms, "FULL_SPACE", 0):
        norm = operator_norm(spec, w, rtol=0.5)  # loose: the embedding bound suffices
    assert norm.bound.startswith("embedding") and norm.grid in ((7, 6), (8, 7))
    embedding = spec.replace(input_size=norm.grid, padding_mode="circular")
    ref = np.linalg.norm(probe_matrix(embedding, w).numpy(), 2)
    assert norm.upper == pytest.approx(ref, rel=1e-11)


CIRCULANT = {
    "1d-same": ConvSpec(2, 3, 3, input_size=8, padding=1, padding_mode="circular"),
    "2d-stride2": ConvSpec(3, 2, 3, input_size=(6, 4), padding=1, stride=2,
                           padding_mode="circular"),
    "2d-1x1-stride2-zeros": ConvSpec(4, 6, 1, input_size=(6, 4), stride=2),
    "1d-transposed-patchify": ConvSpec(4, 3, 2, input_size=5, stride=2, transposed=True),
}


@pytest.mark.parametrize("spec", CIRCULANT.values(), ids=CIRCULANT.keys())
def test_circulant_norm_is_exact(spec):
    w = random_weight(spec, 5)
    norm = operator_norm(spec, w)
    true = true_norm(spec, w)
    assert norm.exact and norm.matvecs == 0
    assert norm.value == norm.upper == norm.lower == norm.estimate
    assert abs(norm.value - true) <= 1e-12 * true
    check_bracket(spec, w, norm, true)


def test_operator_norm_never_builds_the_matrix(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("operator_norm must stay matrix-free")

    monkeypatch.setattr(symtoe.core.numeric, "numeric_matrix", refuse)
    spec = NORM_GRID["2d-zeros-16x16"]
    assert operator_norm(spec, random_weight(spec, 0)).lower > 0


@pytest.mark.parametrize("name", ["2d-zeros-same", "2d-zeros-16x16"])
def test_zero_kernel(name):
    spec = NORM_GRID[name]
    norm = operator_norm(spec, torch.zeros(spec.weight_shape))
    assert norm.lower == norm.upper == 0.0 and norm.certified


# ------------------------------------------------------------- report rows
def test_norm_row_of_a_zero_padded_conv():
    spec = ConvSpec(2, 3, 3, input_size=(6, 6), padding=1)
    w = random_weight(spec, 8)
    row = norm_row(spec, w)
    true = true_norm(spec, w)
    assert row.kind == "conv" and row.lower <= true * (1 + SLACK) <= row.upper * (1 + 2 * SLACK)
    circular = spec.replace(padding_mode="circular")
    assert row.circular == pytest.approx(true_norm(circular, w), rel=1e-12)
    assert row.reshaped == pytest.approx(np.linalg.norm(w.reshape(3, -1).numpy(), 2), rel=1e-12)


def test_norm_row_of_a_linear_layer_and_of_a_transposed_conv():
    w = random_weight(ConvSpec(1, 1, 1, input_size=1), 0).new_tensor(
        np.random.default_rng(5).standard_normal((7, 4)))
    row = norm_row(None, w)
    assert row.kind == "linear" and row.exact
    assert row.upper == pytest.approx(np.linalg.svd(w.numpy(), compute_uv=False)[0], rel=1e-12)
    spec = NORM_GRID["1d-transposed"]
    t = random_weight(spec, 1)
    assert norm_row(spec, t).circular is None


def test_reshaped_kernel_norm_is_what_torch_spectral_norm_divides_by():
    """torch.nn.utils.parametrizations.spectral_norm: after enough power
    iterations (one per forward in training mode) the weight it uses is
    W / sigma; sigma equals reshaped_kernel_norm (dim 1 for ConvTranspose)."""
    for make, transposed in ((lambda: torch.nn.Conv2d(3, 5, 3), False),
                             (lambda: torch.nn.ConvTranspose2d(3, 5, 3), True)):
        # the initialiser and spectral_norm's start vectors draw from the
        # global generator: seed it for this block only
        with torch.random.fork_rng():
            torch.manual_seed(0)
            module = make().double()
            original = module.weight.detach().clone()
            sn = torch.nn.utils.parametrizations.spectral_norm(module, n_power_iterations=50)
        sn.train()
        for _ in range(20):
            sn.parametrizations.weight.original  # noqa: B018 - touch
            _ = sn.weight
        sigma = float(original.norm() / sn.weight.detach().norm())
        assert reshaped_kernel_norm(original, transposed=transposed) == pytest.approx(
            sigma, rel=1e-9)
        spec = ConvSpec.from_module(module, (6, 6))
        layer = singular_values(spec, original, top=1)[0] if not transposed else None
        if layer is not None:  # the reshaped value is not the layer's norm
            assert abs(layer - sigma) > 1e-3 * sigma


def test_norm_of_a_larger_layer_stays_below_budget():
    """An 8 -> 8 layer at 24 x 24 (4608 x 4608, above the dense limit): the
    bracket closes to rtol with a Lehmann bound, without the matrix."""
    spec = ConvSpec(8, 8, 3, input_size=(24, 24), padding=1)
    w = random_weight(spec, 0) * math.sqrt(2 / 72)
    norm = operator_norm(spec, w)
    assert norm.certified and norm.width <= RTOL and norm.matvecs <= 5000
