"""Aliasing, exactly: gains against dense SVD sweeps, polyphase laws and APS
against torch / numpy, BlurPool against antialiased-cnns' own construction,
and antialiased-cnns #7 settled with ``compose``.

References: ``scipy.linalg.circulant`` and ``scipy.linalg.svdvals`` (dense
operators on cyclic grids), ``scipy.signal.convolve2d(boundary="wrap")``,
``torch.nn.functional`` convolutions, ``torch.roll``, numpy slicing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import torch_forward
from scipy import linalg, signal

from symtoe import ConvSpec, compose, composed_matrix, weight_symbols
from symtoe.analysis.aliasing import (
    aliasing_gain,
    aps_select,
    binomial_filter,
    blurpool,
    check_aps,
    polyphase_shift,
    shift_subgroup,
)

TOL = 1e-12



# ------------------------------------------------------------ dense sweep
def cyclic_shift(n: int, t: int) -> np.ndarray:
    """(S_t x)[m] = x[m - t] on a cyclic grid, as a matrix (np.roll of the identity)."""
    return np.roll(np.eye(n), t, axis=0)


def dense_norms_1d(h, s, t, n):
    """||D_s C_h S_t - S_u D_s C_h||_2 for every u, from dense matrices."""
    col = np.zeros(n)
    col[: len(h)] = h
    A = linalg.circulant(col)[::s]  # D_s C_h
    m = n // s
    return np.array([
        linalg.svdvals(A @ cyclic_shift(n, t) - cyclic_shift(m, u) @ A)[0] for u in range(m)
    ])


def dense_norms_2d(h, s, t, n):
    """The same in 2-D: C_h from scipy.signal.convolve2d with wrap-around."""
    basis = np.eye(n[0] * n[1]).reshape(-1, *n)
    C = np.stack([signal.convolve2d(e, h, mode="same", boundary="wrap").ravel() for e in basis],
                 axis=1)
    rows = np.ravel_multi_index(np.ix_(range(0, n[0], s[0]), range(0, n[1], s[1])), n).ravel()
    A = C[rows]
    m = (n[0] // s[0], n[1] // s[1])
    shift_in = np.kron(cyclic_shift(n[0], t[0]), cyclic_shift(n[1], t[1]))
    out = np.empty(m)
    for u in np.ndindex(*m):
        shift_out = np.kron(cyclic_shift(m[0], u[0]), cyclic_shift(m[1], u[1]))
        out[u] = linalg.svdvals(A @ shift_in - shift_out @ A)[0]
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("n", [12, 16])
def test_binomial_gains_equal_dense_sweep(size, n):
    h = np.asarray(binomial_filter(size), dtype=float)
    for t in (0, 1, 2, 3, -1, 7):
        gain = aliasing_gain(binomial_filter(size), 2, t, n)
        dense = dense_norms_1d(h, 2, t, n)
        np.testing.assert_allclose(gain.norms, dense, rtol=0, atol=TOL)
        assert abs(gain.gain - dense.min()) < TOL
        assert abs(dense[gain.output_shift[0] % (n // 2)] - dense.min()) < TOL


@pytest.mark.parametrize("stride, n", [(3, 12), (3, 15), (4, 16)])
def test_random_filter_gains_equal_dense_sweep(stride, n):
    rng = np.random.default_rng(20260512)
    for k in (2, 5, 6):
        h = rng.normal(size=k)
        for t in range(-stride, stride + 2):
            gain = aliasing_gain(h, stride, t, n)
            np.testing.assert_allclose(gain.norms, dense_norms_1d(h, stride, t, n), atol=TOL)


@pytest.mark.parametrize(
    "h, stride, size",
    [
        (binomial_filter(3, rank=2), (2, 2), (8, 8)),
        (binomial_filter(4, rank=2), (2, 2), (6, 8)),
        (np.random.default_rng(7).normal(size=(3, 2)), (2, 3), (6, 6)),
    ],
    ids=["binomial-3", "binomial-4", "random-2x3"],
)
def test_2d_gains_equal_dense_sweep(h, stride, size):
    h_float = np.asarray(h, dtype=float)
    for t in ((1, 0), (1, 1), (2, 3), (0, 2)):
        gain = aliasing_gain(h, stride, t, size)
        np.testing.assert_allclose(gain.norms, dense_norms_2d(h_float, stride, t, size), atol=TOL)


@pytest.mark.parametrize("n", [8, 12, 16, 24, 32, 40])
def test_stride_two_binomial_gain_formula(n):
    """Odd shifts, best alignment r = t - 2u = +-1, |H|^2 = cos^(2K-2)(phi/2):
    gain^2 = max over the grid of 2x(1-x)((1-x)^(K-2) + x^(K-2)), x = sin^2(phi/2)."""
    x = np.sin(np.pi * np.arange(n // 2) / n) ** 2
    for size in range(2, 8):
        expected = (2 * x * (1 - x) * ((1 - x) ** (size - 2) + x ** (size - 2))).max()
        for t in (1, 3, -5):
            assert abs(aliasing_gain(binomial_filter(size), 2, t, n).gain ** 2 - expected) < TOL
    assert abs(aliasing_gain([1], 2, 1, n).gain - math.sqrt(2)) < TOL


def test_gains_fall_with_filter_size_and_vanish_on_the_subgroup():
    gains = [aliasing_gain(binomial_filter(k), 2, 1, 32).gain for k in range(1, 8)]
    assert all(a > b for a, b in zip(gains, gains[1:]))
    np.testing.assert_allclose(gains[:4], [math.sqrt(2), 1, math.sqrt(0.5), 0.5], atol=TOL)
    assert aliasing_gain(binomial_filter(5), 2, -6, 32).gain == 0
    assert aliasing_gain(binomial_filter(5), 2, -6, 32).output_shift == (-3,)


# ---------------------------------------------------------- polyphase laws
@pytest.mark.parametrize("stride", [2, 3, 4])
def test_polyphase_shift_of_one_strided_layer_against_torch(stride):
    """conv(roll(x, t)) == roll(conv_stride1(x)[q::S], v) with circular padding."""
    gen = torch.Generator().manual_seed(3)
    n = 4 * stride * 3
    spec = ConvSpec(2, 3, 5, input_size=n, stride=stride, padding=2, padding_mode="circular")
    dense = spec.replace(stride=1)
    w = torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 2, n, generator=gen, dtype=torch.float64)
    z = torch_forward(dense, x, w)
    for t in range(-2 * stride, 2 * stride + 1):
        p = polyphase_shift(spec, t)
        lhs = torch_forward(spec, torch.roll(x, t, -1), w)
        rhs = torch.roll(z[..., p.phase[0]::stride], p.output_shift[0], -1)
        assert (lhs - rhs).abs().max() < TOL
        assert p.commutes == (t % stride == 0)


def test_polyphase_shift_of_a_stack_uses_the_dilated_dense_stack():
    """Two stride-2 layers: stride 4 overall; the dense stack dilates layer 2 by 2."""
    gen = torch.Generator().manual_seed(4)
    s1 = ConvSpec(1, 2, 3, input_size=16, stride=2, padding=1, padding_mode="circular")
    s2 = ConvSpec(2, 2, 3, input_size=8, stride=2, padding=1, padding_mode="circular")
    d1 = s1.replace(stride=1)
    d2 = ConvSpec(2, 2, 3, input_size=16, dilation=2, padding=2, padding_mode="circular")
    w1 = torch.randn(s1.weight_shape, generator=gen, dtype=torch.float64)
    w2 = torch.randn(s2.weight_shape, generator=gen, dtype=torch.float64)
    x = torch.randn(1, 1, 16, generator=gen, dtype=torch.float64)
    dense = torch_forward(d2, torch_forward(d1, x, w1), w2)
    for t in range(-5, 9):
        p = polyphase_shift([s1, s2], t)
        assert p.stride == (4,)
        lhs = torch_forward(s2, torch_forward(s1, torch.roll(x, t, -1), w1), w2)
        rhs = torch.roll(dense[..., p.phase[0]::4], p.output_shift[0], -1)
        assert (lhs - rhs).abs().max() < TOL


def test_kernel_phases_rotate_with_the_shift():
    """y'[i] = sum_j w[j] x[i S + j - t]: tap j reads input phase (j - t) mod S, so
    input phase p is read by the taps that read phase (p + t) mod S before."""
    S, k, n = 3, 7, 12
    rng = np.random.default_rng(5)
    w, x = rng.normal(size=k), rng.normal(size=n)
    for t in range(-4, 6):
        table = polyphase_shift(S, t).kernel_phases()
        shifted = np.roll(x, t)
        for p in range(S):
            taps = [j for j in range(k) if j % S == table[p]]
            # the part of y'[0] = sum_j w[j] shifted[j] that reads phase p of x
            part = sum(w[j] * shifted[j] for j in range(k) if (j - t) % S == p)
            assert np.isclose(part, sum(w[j] * x[(j - t) % n] for j in taps))


def brute_period(specs, shift_range=range(-24, 25)):
    """Smallest positive t whose shift survives every layer (forward: s | v, then v / s;
    transposed: v * s)."""
    for t in shift_range:
        if t <= 0:
            continue
        v = t
        for spec in specs:
            s = spec.stride[0]
            if spec.transposed:
                v *= s
            elif v % s:
                break
            else:
                v //= s
        else:
            return t
    return None


@pytest.mark.parametrize(
    "layers",
    [
        [("f", 2), ("f", 2), ("f", 3)],
        [("t", 2), ("f", 4)],
        [("f", 2), ("t", 2), ("f", 4)],
        [("t", 3), ("f", 2), ("f", 3)],
    ],
    ids=lambda v: "-".join(f"{k}{s}" for k, s in v),
)
def test_shift_subgroup_against_brute_force(layers):
    n, specs = 72, []
    for kind, s in layers:
        if kind == "f":
            spec = ConvSpec(1, 1, s, input_size=n, stride=s)
        else:
            spec = ConvSpec(1, 1, s, input_size=n, stride=s, transposed=True)
        specs.append(spec)
        n = spec.output_size[0]
    assert shift_subgroup(specs).period == (brute_period(specs),)


# ------------------------------------------------------------------- APS
@settings(max_examples=30, deadline=None)  # 30 grids x shifts: fast numpy checks
@given(
    m1=st.integers(1, 4), m2=st.integers(1, 4), s1=st.integers(1, 3), s2=st.integers(1, 3),
    t1=st.integers(-7, 7), t2=st.integers(-7, 7), seed=st.integers(0, 2**16),
)
def test_aps_is_cyclic_equivariant_with_an_input_dependent_shift(m1, m2, s1, s2, t1, t2, seed):
    x = np.random.default_rng(seed).normal(size=(2, m1 * s1, m2 * s2))
    check = check_aps(x.shape[1:], (s1, s2), (t1, t2))
    assert check.equivariant
    y, q = aps_select(x, (s1, s2))
    y_shifted, q_shifted = aps_select(np.roll(x, (t1, t2), axis=(1, 2)), (s1, s2))
    assert q_shifted == check.phase_after(q)
    np.testing.assert_array_equal(y_shifted, np.roll(y, check.output_shift(q), axis=(1, 2)))


def test_aps_fails_on_ties_zero_fill_and_indivisible_grids():
    x = np.array([3.0, 0.0, 4.0, 5.0])  # phases (3, 4) and (0, 5): equal norms, other content
    y, q = aps_select(x, 2)
    check = check_aps(4, 2, 1)
    y_shifted, _ = aps_select(np.roll(x, 1), 2)
    assert check.equivariant and q == (0,)
    assert not np.array_equal(y_shifted, np.roll(y, check.output_shift(q)))

    x = np.array([10.0, 1.0, 0.0, 2.0])  # zero fill drops the winning content
    zero = check_aps(4, 2, -2, "zero")
    assert not zero.equivariant and "zero-fill" in zero.reason
    y, q = aps_select(x, 2)
    y_shifted, _ = aps_select(np.array([0.0, 2.0, 0.0, 0.0]), 2)
    assert not np.array_equal(y_shifted, np.array([0.0, 0.0]))  # S_-1 y = [0, 0]

    odd = check_aps(7, 2, 1)
    assert not odd.equivariant and "does not divide" in odd.reason
    assert check_aps(7, 2, 7).equivariant  # the identity on this grid
    with pytest.raises(ValueError, match="divisible by stride"):
        aps_select(np.arange(7.0), 2)


# --------------------------------------------------------------- BlurPool
@pytest.mark.parametrize("pad_type", ["reflect", "repl", "zero"])
@pytest.mark.parametrize("filt_size", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("rank", [1, 2])
def test_blurpool_is_antialiased_cnns_downsample(rank, filt_size, pad_type):
    """antialiased-cnns' Downsample: F.pad then a depthwise conv with the
    binomial filter (a[:, None] * a[None, :] / sum), or x[::s] for size 1."""
    channels, n = 3, (13,) * rank
    bp = blurpool(channels, n, filt_size, 2, pad_type)
    x = torch.randn(2, channels, *n, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    a = torch.tensor([math.comb(filt_size - 1, j) for j in range(filt_size)], dtype=torch.float64)
    filt = a if rank == 1 else a[:, None] * a[None, :]
    filt = (filt / filt.sum()).expand(channels, 1, *filt.shape)
    pads = [(filt_size - 1) // 2, math.ceil((filt_size - 1) / 2)] * rank
    mode = {"reflect": "reflect", "repl": "replicate", "zero": "constant"}[pad_type]
    conv = F.conv1d if rank == 1 else F.conv2d
    if filt_size == 1:
        expected = x[(...,) + (slice(None, None, 2),) * rank]
    else:
        expected = conv(F.pad(x, pads, mode=mode), filt, stride=2, groups=channels)
    got = torch_forward(bp.spec, x, torch.tensor(bp.weight.astype(float)))
    assert got.shape == expected.shape and (got - expected).abs().max() < TOL
    assert sum(bp.weight[0, 0].ravel()) == 1


# ------------------------------------------------------- antialiased-cnns #7
def test_conv_then_blurpool_vs_blur_then_strided_conv():
    """"Conv(s1) -> BlurPool(s2)" equals "Blur(s1) -> Conv(s2)" in the interior
    (one layer, kernel h * w, for both) and differs exactly on the boundary rows."""
    n = 10
    conv1 = ConvSpec(1, 1, 3, input_size=n, padding=1)
    blur2 = blurpool(1, n, 3, 2)
    blur1 = blurpool(1, n, 3, 1)
    conv2 = conv1.replace(stride=2)
    w = weight_symbols(conv1, "w")
    a = compose(blur2.spec, conv1, blur2.weight, w, strict=False)
    b = compose(conv2, blur1.spec, w, blur1.weight, strict=False)
    same_geometry = a.spec.replace(padding_mode="zeros") == b.spec.replace(padding_mode="zeros")
    assert same_geometry and not a.exact and not b.exact
    assert all(sympy.expand(p - q) == 0 for p, q in zip(a.weight.ravel(), b.weight.ravel()))
    assert "boundary" in a.reason and "boundary" in b.reason

    diff = composed_matrix(blur2.spec, conv1, blur2.weight, w) - composed_matrix(
        conv2, blur1.spec, w, blur1.weight)
    differing = [r for r in range(diff.rows) if any(sympy.expand(v) != 0 for v in diff.row(r))]
    assert differing == [0, 4]

    # torch agrees: only rows 0 and 4 differ between the two orders
    gen = torch.Generator().manual_seed(2)
    wt = torch.randn(conv1.weight_shape, generator=gen, dtype=torch.float64)
    x = torch.randn(5, 1, n, generator=gen, dtype=torch.float64)
    h1 = torch.tensor(blur1.weight.astype(float))
    first = torch_forward(blur2.spec, torch_forward(conv1, x, wt), h1)
    second = torch_forward(conv2, torch_forward(blur1.spec, x, h1), wt)
    rows = np.flatnonzero(((first - second).abs().amax(dim=(0, 1)) > 1e-9).numpy())
    assert rows.tolist() == differing


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: aliasing_gain([1, 2, 1], 2, 1, 9), r"size must be divisible by stride"),
        (lambda: aliasing_gain([1] * 9, 2, 1, 8), r"filter must fit the grid"),
        (lambda: aliasing_gain([[1, 1]], 2, 1, 8), r"one axis per spatial axis"),
        (lambda: aliasing_gain(["a"], 2, 1, 8), r"filter must hold real numbers"),
        (lambda: aliasing_gain([1], 0, 1, 8), r"stride must be a positive integer"),
        (lambda: aliasing_gain([1], 2, 1, 4096 * 8), r"at most"),
        (lambda: binomial_filter(8), r"size must be an integer from 1 to 7"),
        (lambda: blurpool(1, 8, pad_type="edge"), r"pad_type must be one of"),
        (lambda: shift_subgroup([]), r"non-empty list"),
        (lambda: polyphase_shift(2, (1, 2)), r"shift must have one value per axis"),
        (lambda: check_aps(8, 2, 1, "roll"), r"mode must be one of"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
