"""Exact shift / reflection certificates against brute force through torch.

The reference commutator is read off torch: the layer (``torch_forward``)
applied to a shifted identity basis minus the shifted layer output, with the
shifts done by ``torch.roll`` or zero-fill slicing written here.  A random
float64 kernel makes a row of it zero only where it is zero for every kernel
(with probability one; the seeds are fixed).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import torch_forward
from test_shifts import sliced_shift

from symtoe import ConvSpec, symbolic_matrix
from symtoe.analysis.equivariance import (
    boundary_map,
    check_reflection,
    check_shift,
    equivariance_error,
    matching_output_shift,
    reflection_error,
    zero_padding_interior,
)

TOL = 1e-9


def random_weight(spec, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)


def identity_batch(spec):
    cols = spec.matrix_shape[1]
    return torch.eye(cols, dtype=torch.float64).reshape(cols, spec.in_channels, *spec.input_size)


def brute_exact(spec, shift, mode, out_shift, seeds=(1,)):
    """Rows of T S_in - S_out T that are zero (numerically, for random kernels),
    reduced over output channels to the spatial grid."""
    eye = identity_batch(spec)
    ok = np.ones(spec.output_size, dtype=bool)
    for seed in seeds:
        w = random_weight(spec, seed)
        lhs = torch_forward(spec, sliced_shift(eye, shift, mode), w)
        rhs = sliced_shift(torch_forward(spec, eye, w), out_shift, mode)
        err = (lhs - rhs).abs().amax(dim=(0, 1)).numpy()
        ok &= err < TOL
    return ok


def brute_reflection(spec, axes, seeds=(1,)):
    eye = identity_batch(spec)
    dims = tuple(2 + a for a in axes)
    ok = np.ones(spec.output_size, dtype=bool)
    for seed in seeds:
        w = random_weight(spec, seed)
        lhs = torch_forward(spec, eye.flip(dims), w)
        rhs = torch_forward(spec, eye, w.flip(dims)).flip(dims)
        ok &= ((lhs - rhs).abs().amax(dim=(0, 1)) < TOL).numpy()
    return ok


MODES = ["zeros", "circular", "reflect", "replicate"]

GEOMETRIES_1D = [
    pytest.param(dict(input_size=7, kernel_size=3, padding=1), id="n7-k3-p1"),
    pytest.param(dict(input_size=8, kernel_size=3, padding=1, stride=2), id="n8-k3-p1-s2"),
    pytest.param(dict(input_size=9, kernel_size=2, padding=((1, 2),), dilation=2), id="n9-k2-p12-d2"),
    pytest.param(dict(input_size=9, kernel_size=3, padding=2, stride=3, dilation=2), id="n9-k3-p2-s3-d2"),
    pytest.param(dict(input_size=3, kernel_size=5, padding=2), id="n3-k5-p2-folds"),
    pytest.param(dict(input_size=6, kernel_size=3), id="n6-k3-valid"),
]
GEOMETRIES_2D = [
    pytest.param(dict(input_size=(5, 6), kernel_size=3, padding=1), id="5x6-k3-p1"),
    pytest.param(
        dict(input_size=(6, 5), kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2), padding=((1, 1), (0, 1))),
        id="6x5-k3x2-s21-d12-pasym",
    ),
    pytest.param(dict(input_size=(4, 6), kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)), id="4x6-k2x3-s12"),
]


def shifts_for(spec):
    """Positive and negative shifts, multiples of the stride, some past the edge."""
    s = spec.stride
    if spec.rank == 1:
        return [(s[0],), (-s[0],), (2 * s[0],), (-3 * s[0],)]
    return [(s[0], 0), (0, -s[1]), (-s[0], 2 * s[1]), (2 * s[0], s[1])]


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES_1D + GEOMETRIES_2D)
def test_certificate_agrees_with_torch_brute_force(geometry, padding_mode, shift_mode):
    spec = ConvSpec(1, 1, **geometry, padding_mode=padding_mode)
    for shift in shifts_for(spec):
        check = check_shift(spec, shift, shift_mode)
        assert check.output_shift == tuple(t // s for t, s in zip(shift, spec.stride))
        expected = brute_exact(spec, shift, shift_mode, check.output_shift)
        np.testing.assert_array_equal(check.exact, expected, err_msg=f"shift {shift}")
        assert check.commutes == bool(expected.all())


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(ConvSpec(4, 6, 3, input_size=(5, 4), padding=1, groups=2), id="groups2-zeros"),
        pytest.param(ConvSpec(2, 3, 3, input_size=6, padding=1, padding_mode="reflect"), id="2to3-reflect"),
        pytest.param(ConvSpec(2, 2, 3, input_size=5, stride=2, padding=1, output_padding=1, transposed=True), id="transposed-s2"),
        pytest.param(ConvSpec(1, 2, 2, input_size=(3, 4), stride=2, dilation=2, transposed=True, groups=1), id="transposed-2d-d2"),
        pytest.param(ConvSpec(3, 3, 3, input_size=7, padding=1, flip=True, groups=3), id="flip-depthwise"),
    ],
)
def test_channels_groups_transposed_flip(spec, shift_mode):
    """The certificate runs on one channel; brute force uses every channel."""
    for t in (1, -1, 2):
        shift = (t,) * spec.rank
        check = check_shift(spec, shift, shift_mode)
        if spec.transposed:
            assert check.output_shift == tuple(t * s for s in spec.stride)
        if check.output_shift is None:
            continue
        expected = brute_exact(spec, shift, shift_mode, check.output_shift)
        np.testing.assert_array_equal(check.exact, expected, err_msg=f"shift {shift}")


def test_explicit_output_shift_is_checked_too():
    spec = ConvSpec(1, 1, 3, input_size=8, padding=1)
    check = check_shift(spec, (2,), output_shift=(1,))
    np.testing.assert_array_equal(check.exact, brute_exact(spec, (2,), "zero", (1,)))
    assert check.exact.tolist() == [True] + [False] * 7  # row 0: both sides read only zeros


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [3, 6])
def test_circular_stride_one_commutes_with_every_cyclic_shift(n, kernel_size, dilation):
    total = dilation * (kernel_size - 1)
    if total > 2 * n:  # torch's circular padding needs p <= n per side
        pytest.skip("padding larger than the input")
    lefts = [p for p in sorted({0, total // 2, total}) if max(p, total - p) <= n]
    for left in lefts:
        spec = ConvSpec(
            1, 1, kernel_size, input_size=n, dilation=dilation,
            padding=((left, total - left),), padding_mode="circular",
        )
        assert spec.output_size == (n,)
        for t in range(-n - 1, n + 2):
            assert check_shift(spec, (t,), "cyclic").commutes, (left, t)
    # and brute force agrees on one of them
    assert brute_exact(spec, (1,), "cyclic", (1,)).all()


# Budget: 25 random 2-D circular geometries; each example probes torch once.
@settings(max_examples=25, deadline=None)
@given(
    n=st.tuples(st.integers(2, 5), st.integers(2, 5)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    t=st.tuples(st.integers(-6, 6), st.integers(-6, 6)),
    split=st.floats(0, 1),
)
def test_circular_2d_commutes_hypothesis(n, k, t, split):
    pads = tuple((int(split * (ki - 1)), ki - 1 - int(split * (ki - 1))) for ki in k)
    spec = ConvSpec(2, 2, k, input_size=n, padding=pads, padding_mode="circular")
    check = check_shift(spec, t, "cyclic")
    assert check.commutes
    assert brute_exact(spec, t, "cyclic", t, seeds=(3,)).all()


@pytest.mark.parametrize("shift_mode", ["zero", "cyclic"])
@pytest.mark.parametrize("stride", [2, 3])
def test_stride_commutes_only_with_multiples(stride, shift_mode):
    n = 4 * stride
    spec = ConvSpec(1, 1, 3, input_size=n, stride=stride, padding=1, padding_mode="circular")
    o = spec.output_size[0]
    for t in [-n, -stride - 1, -stride, -1, 0, 1, stride, stride + 1, 2 * stride, n]:
        check = check_shift(spec, (t,), shift_mode)
        if t % stride:
            assert check.output_shift is None and not check.commutes
            assert "not a multiple of stride" in check.explain((0,))
            # brute force: no output shift at all makes the rows vanish
            for u in range(-o, o + 1):
                assert not brute_exact(spec, (t,), shift_mode, (u,), seeds=(5,)).all(), u
        else:
            assert check.output_shift == (t // stride,)
            expected = brute_exact(spec, (t,), shift_mode, (t // stride,), seeds=(5,))
            assert check.commutes == expected.all()
            assert check.commutes or shift_mode == "zero"  # circular: every multiple commutes


@pytest.mark.parametrize(
    "geometry",
    [
        dict(input_size=8, kernel_size=3, padding=1),
        dict(input_size=8, kernel_size=3, padding=1, stride=2),
        dict(input_size=10, kernel_size=3, padding=((2, 0),), dilation=2),
        dict(input_size=9, kernel_size=2, padding=((0, 3),), stride=3, dilation=3),
        dict(input_size=7, kernel_size=4, padding=3),
        dict(input_size=6, kernel_size=6, padding=((1, 4),), stride=2),
        dict(input_size=(6, 5), kernel_size=(3, 2), stride=(2, 1), padding=((1, 0), (1, 1))),
        dict(input_size=(5, 7), kernel_size=3, dilation=(2, 1), padding=(2, 3)),
    ],
    ids=lambda g: "-".join(f"{k[:3]}{v}" for k, v in g.items()),
)
def test_zero_padding_interior_closed_form_against_brute_force(geometry):
    spec = ConvSpec(1, 1, **geometry)
    rank = spec.rank
    multiples = range(-3, 4) if rank == 1 else (-2, -1, 1, 2)
    for m in itertools.product(multiples, repeat=rank):
        shift = tuple(mi * s for mi, s in zip(m, spec.stride))
        expected = brute_exact(spec, shift, "zero", tuple(m), seeds=(4,))
        np.testing.assert_array_equal(zero_padding_interior(spec, shift), expected, err_msg=str(shift))


def test_boundary_map_compares_padding_modes():
    spec = ConvSpec(1, 1, 3, input_size=6, padding=1)
    shifts = [(1,), (-1,), (2,)]
    maps = {
        mode: boundary_map(spec.replace(padding_mode=mode), shifts, "zero" if mode == "zeros" else "cyclic")
        for mode in MODES
    }
    assert maps["zeros"].shape == (3, 6)
    for mode, m in maps.items():
        sm = "zero" if mode == "zeros" else "cyclic"
        for i, t in enumerate(shifts):
            np.testing.assert_array_equal(m[i], brute_exact(spec.replace(padding_mode=mode), t, sm, t))
    assert maps["circular"].all()
    # zero padding, by hand: t = 1 breaks rows 0 and 5; t = 2 breaks rows 1 and 5
    # (row 0 then reads only zeros on both sides, so it is exact)
    assert maps["zeros"].astype(int).tolist() == [
        [0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0], [1, 0, 1, 1, 1, 0]
    ]


def test_explain_names_the_taps_that_meet_the_zero_fill():
    spec = ConvSpec(1, 1, 3, input_size=5, padding=1)
    check = check_shift(spec, (1,))
    text = check.explain((0,))
    # by hand: (T S x)[0] = w0*0 + w1*0 + w2*x[0] (x shifted right, zero-filled, padded),
    # while (S T x)[0] = 0: only w[2] * x[0] differs, and nothing else is listed
    lines = text.splitlines()
    assert lines[1] == "  S_out T: row (0) comes from row (-1), outside the output: zero"
    assert lines[2:] == ["  w[2] * x[0] is in T S_in but not in S_out T"]
    # output 4 (the last): S_out T reads row 3, which reads x[2..4]; T S_in reads x[3], x[4]
    # through taps 0 and 1 (tap 2 falls in the padding): w[2] * x[4] is on the right only
    assert check.explain((4,)).splitlines()[1:] == ["  w[2] * x[4] is in S_out T but not in T S_in"]
    assert "is exact" in check.explain((2,)) and check.exact[2]
    assert check.failing().tolist() == [[0], [4]]


@pytest.mark.parametrize(
    "spec, shift",
    [
        pytest.param(ConvSpec(1, 1, 2, input_size=4, padding=1), (1,), id="1d-zeros"),
        pytest.param(ConvSpec(2, 1, 2, input_size=(3, 3), padding_mode="reflect", padding=1), (0, -1), id="2d-reflect-2ch"),
        pytest.param(ConvSpec(1, 2, 3, input_size=4, stride=2, padding=1), (2,), id="stride2"),
    ],
)
@pytest.mark.parametrize("mode", ["zero", "cyclic"])
def test_commutator_is_the_sympy_product(spec, shift, mode):
    check = check_shift(spec, shift, mode)
    t, u = shift, check.output_shift

    def by_hand(size, channels, sh):  # S[(c, m), (c, m - t)] = 1, written out here
        idx = list(itertools.product(range(channels), *(range(n) for n in size)))
        mat = sympy.zeros(len(idx), len(idx))
        for i, (c, *m) in enumerate(idx):
            src = [mi - ti for mi, ti in zip(m, sh)]
            if mode == "cyclic":
                src = [si % n for si, n in zip(src, size)]
            if all(0 <= si < n for si, n in zip(src, size)):
                mat[i, idx.index((c, *src))] = 1
        return mat

    s_in = by_hand(spec.input_size, spec.in_channels, t)
    s_out = by_hand(spec.output_size, spec.out_channels, u)
    T = symbolic_matrix(spec)
    expected = T * s_in - s_out * T
    got = check.commutator()
    assert (got - expected).applyfunc(sympy.expand) == sympy.zeros(*spec.matrix_shape)
    # rows of the symbolic commutator vanish exactly where the certificate says
    rows = np.array([any(e != 0 for e in expected.row(r)) for r in range(expected.rows)])
    nonzero = rows.reshape(spec.out_channels, *spec.output_size).any(axis=0)
    np.testing.assert_array_equal(~nonzero, check.exact)


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize(
    "geometry",
    [
        pytest.param(dict(input_size=6, kernel_size=3, padding=1), id="a0-sym"),
        pytest.param(dict(input_size=6, kernel_size=3, padding=1, stride=2), id="a1-s2"),
        pytest.param(dict(input_size=7, kernel_size=3, padding=1, stride=2), id="a0-s2"),
        pytest.param(dict(input_size=7, kernel_size=2, padding=((0, 1),)), id="a0-asym"),
        pytest.param(dict(input_size=8, kernel_size=3, padding=((1, 2),), stride=2), id="a1-asym-ok"),
        pytest.param(dict(input_size=9, kernel_size=2, padding=2, dilation=3, stride=3), id="a1-d3"),
        pytest.param(dict(input_size=(6, 7), kernel_size=(3, 2), padding=((1, 1), (0, 1)), stride=(2, 1)), id="2d-a1-a0"),
        pytest.param(dict(input_size=(5, 7), kernel_size=3, padding=1, stride=2), id="2d-a0-a0"),
    ],
)
def test_reflection_certificate_and_condition_against_brute_force(geometry, padding_mode):
    spec = ConvSpec(1, 1, **geometry, padding_mode=padding_mode)
    axes_options = [None] + ([(0,), (1,)] if spec.rank == 2 else [])
    for axes in axes_options:
        check = check_reflection(spec, axes)
        axes_t = tuple(range(spec.rank)) if axes is None else axes
        np.testing.assert_array_equal(check.exact, brute_reflection(spec, axes_t))
        assert check.holds == check.condition, check.reason


@pytest.mark.parametrize("output_padding", [0, 1])
def test_reflection_transposed_needs_zero_output_padding(output_padding):
    spec = ConvSpec(1, 1, 3, input_size=4, stride=2, padding=1, transposed=True,
                    output_padding=output_padding)
    check = check_reflection(spec)
    np.testing.assert_array_equal(check.exact, brute_reflection(spec, (0,)))
    assert check.holds == (output_padding == 0) == check.condition


def test_reflection_reason_reports_a():
    check = check_reflection(ConvSpec(1, 1, 3, input_size=6, padding=1, stride=2))
    assert not check.holds
    assert "mod 2 = 1" in check.reason and "fails" in check.reason
    assert "is not exact" in check.explain(np.argwhere(~check.exact)[0].tolist())


# ------------------------------------------------------------------- numeric
def reference_error(f, x, shift, u, mode):
    with torch.no_grad():
        a = f(sliced_shift(x, shift, mode))
        b = sliced_shift(f(x), u, mode)
    return (a - b).abs().amax(dim=(0, 1))


def test_numeric_error_map_matches_certificate_on_a_conv():
    gen = torch.Generator().manual_seed(11)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False).double()
    x = torch.randn(4, 2, 7, 6, generator=gen, dtype=torch.float64)
    spec = ConvSpec.from_module(conv, (7, 6))
    for shift in [(1, 0), (-2, 1)]:
        result = equivariance_error(conv, x, shift)
        assert result.output_shift == shift
        torch.testing.assert_close(result.error, reference_error(conv, x, shift, shift, "zero"))
        exact = check_shift(spec, shift).exact
        assert (result.error.numpy()[exact] < 1e-12).all()
        assert (result.error.numpy()[~exact] > 1e-6).all()  # random input: every failing row shows


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(lambda: torch.nn.Conv1d(1, 2, 3, stride=2, padding=1, padding_mode="circular"), id="conv-s2"),
        pytest.param(lambda: torch.nn.MaxPool1d(2), id="maxpool2"),
        pytest.param(lambda: torch.nn.AvgPool1d(2), id="avgpool2"),
    ],
)
def test_stride_and_pooling_break_shifts_that_are_not_multiples(layer):
    f = layer().double()
    x = torch.randn(3, 1, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    even = equivariance_error(f, x, (2,), "cyclic")
    assert even.output_shift == (1,) and even.max < 1e-12
    odd = equivariance_error(f, x, (1,), "cyclic")
    assert odd.max > 0.1 * odd.scale
    # no output shift at all fixes it (brute force over every candidate)
    for u in range(-8, 9):
        assert reference_error(f, x, (1,), (u,), "cyclic").max() > 0.1 * odd.scale


def test_small_cnn_circular_is_cyclic_equivariant_and_pooled_invariant():
    gen = torch.Generator().manual_seed(5)
    body = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2, padding_mode="circular"),
        torch.nn.Tanh(),
    ).double()
    with torch.no_grad():
        for p in body.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(2, 1, 8, 8, generator=gen, dtype=torch.float64)
    assert equivariance_error(body, x, (3, -5), "cyclic").max < 1e-10
    pooled = torch.nn.Sequential(body, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    inv = equivariance_error(pooled, x, (1, 2), "cyclic")
    assert inv.error.ndim == 0 and inv.max < 1e-10
    zero_pad = torch.nn.Conv2d(1, 1, 3, padding=1).double()
    assert equivariance_error(zero_pad, x, (1, 0), "cyclic").max > 1e-3


def test_reflection_error_numeric():
    gen = torch.Generator().manual_seed(9)
    w = torch.randn(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 1, 7, 7, generator=gen, dtype=torch.float64)
    f = lambda v: torch.nn.functional.conv2d(v, w, padding=1)
    g = lambda v: torch.nn.functional.conv2d(v, w.flip(-1), padding=1)
    assert reflection_error(f, x, axes=(1,), g=g).max < 1e-12
    assert reflection_error(f, x, axes=(1,)).max > 1e-3  # a non-symmetric kernel is not
    f2 = lambda v: torch.nn.functional.conv2d(v, w, padding=1, stride=2)
    g2 = lambda v: torch.nn.functional.conv2d(v, w.flip(-1, -2), padding=1, stride=2)
    assert reflection_error(f2, x, g=g2).max < 1e-12  # n = 7: a = 0
    x8 = torch.randn(1, 1, 8, 8, generator=gen, dtype=torch.float64)
    assert reflection_error(f2, x8, g=g2).max > 1e-3  # n = 8: a = 1


def test_check_shift_on_a_real_layer_is_channel_free():
    """64 channels: the certificate runs on the one-channel pattern (timed in
    benchmarks/run.py, not here) and agrees with torch and the closed form."""
    spec = ConvSpec(64, 64, 3, input_size=(32, 32), padding=1)
    check = check_shift(spec, (1, -2))
    one_channel = spec.replace(in_channels=1, out_channels=1)
    np.testing.assert_array_equal(check.exact, brute_exact(one_channel, (1, -2), "zero", (1, -2)))
    np.testing.assert_array_equal(check.exact, zero_padding_interior(spec, (1, -2)))


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(lambda: check_shift(ConvSpec(1, 1, 3, input_size=(5, 5)), (1, 2, 3)), r"shift must have one value per axis \(2\), but got \(1, 2, 3\)", id="shift-length"),
        pytest.param(lambda: check_shift(ConvSpec(1, 1, 3, input_size=5), (1,), "roll"), r"mode must be one of \('zero', 'cyclic'\), but got 'roll'", id="mode"),
        pytest.param(lambda: check_shift("conv", (1,)), r"spec must be a ConvSpec, but got str", id="spec"),
        pytest.param(lambda: check_shift(ConvSpec(1, 1, 3, input_size=5), (1,)).explain((3,)), r"position must lie in the output grid \(3,\), but got \(3,\)", id="position"),
        pytest.param(lambda: check_shift(ConvSpec(1, 1, 3, input_size=5, stride=2), (1,)).commutator(), r"shift must be a multiple of the stride \(2,\) for a commutator to exist, but got \(1,\)", id="commutator-stride"),
        pytest.param(lambda: zero_padding_interior(ConvSpec(1, 1, 3, input_size=5, padding=1, padding_mode="reflect"), (1,)), r"spec must be a forward layer with padding_mode='zeros'", id="interior-mode"),
        pytest.param(lambda: zero_padding_interior(ConvSpec(1, 1, 3, input_size=5, stride=2), (1,)), r"shift must be a multiple of the stride \(2,\), but got \(1,\)", id="interior-stride"),
        pytest.param(lambda: check_reflection(ConvSpec(1, 1, 3, input_size=(5, 5)), axes=(3,)), r"axes must be spatial axes in range\(-2, 2\), but got \(3,\)", id="reflection-axes"),
        pytest.param(lambda: boundary_map(ConvSpec(1, 1, 3, input_size=5), []), r"shifts must be a non-empty list of shifts, but got \[\]", id="boundary-empty"),
        pytest.param(lambda: equivariance_error(torch.nn.Identity(), np.zeros((1, 1, 4)), (1,)), r"x must be a torch.Tensor, but got ndarray", id="numeric-x"),
        pytest.param(lambda: equivariance_error(torch.nn.Identity(), torch.zeros(4), (1,)), r"x must have a batch dimension before its 1 spatial axes, but got shape \(4,\)", id="numeric-batch"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_matching_output_shift_rules():
    fwd = ConvSpec(1, 1, 3, input_size=(9, 9), stride=(3, 1))
    assert matching_output_shift(fwd, (-6, 5)) == (-2, 5)
    assert matching_output_shift(fwd, (4, 0)) is None
    tr = ConvSpec(1, 1, 3, input_size=4, stride=3, transposed=True)
    assert matching_output_shift(tr, (-2,)) == (-6,)
    # an aliasing shift: nothing is certified, and torch agrees that neither output
    # shift next to t / s = 4/3 commutes with the layer (Azulay & Weiss 2019)
    aliased = check_shift(fwd, (4, 0))
    assert aliased.output_shift is None and not aliased.exact.any() and not aliased.commutes
    assert "not a multiple of stride" in aliased.explain((1, 1))
    for u in ((1, 0), (2, 0)):
        assert not brute_exact(fwd, (4, 0), "zero", u).all()
