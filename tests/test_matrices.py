"""Symbolic and numeric matrices against torch, scipy and a naive oracle."""

import itertools
import zlib
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import naive_matrix, probe_matrix, torch_forward

from symtoe import ConvSpec, bias_symbols, numeric_matrix, symbolic_matrix, weight_symbols
from symtoe.core.pattern import sharing_pattern
from symtoe.core.symbolic import WeightSymbol

LAYOUTS = ["dense", "coo", "csr"]


def apply(T, x):
    """``T @ x`` for a (possibly sparse) matrix and a batch of flattened inputs."""
    return (T @ x.reshape(x.shape[0], -1).T).T


def check_against_torch(spec, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)
    x = torch.randn(3, spec.in_channels, *spec.input_size, generator=g, dtype=torch.float64)
    expected = torch_forward(spec, x, w).reshape(3, -1)
    for layout in LAYOUTS:
        got = apply(numeric_matrix(spec, w, layout=layout), x)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10, msg=f"{layout}: {spec}")


@st.composite
def specs(draw, rank=None, largest=None):
    """Valid layer geometries over every argument ConvSpec takes (input sides
    up to ``largest``, by default 6, or 4 in 3-D)."""
    rank = draw(st.integers(1, 3)) if rank is None else rank
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2]))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    small = largest or (6 if rank < 3 else 4)
    n = tuple(draw(st.integers(1, small)) for _ in range(rank))
    k = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    s = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    d = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    mode = "zeros" if transposed else draw(st.sampled_from(
        ["zeros", "zeros", "circular", "reflect", "replicate"]))
    form = draw(st.sampled_from(["int", "tuple", "pairs", "valid", "same", "full"]))
    if transposed and form in ("pairs", "valid", "same", "full"):
        form = "tuple"
    if form == "int":
        padding = draw(st.integers(0, 3))
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(rank))
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(rank))
    else:
        padding = form
        if form == "same":
            s = (1,) * rank
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d)) if transposed else 0
    try:
        return ConvSpec(in_channels, out_channels, k, input_size=n, stride=s, padding=padding,
                        dilation=d, groups=groups, padding_mode=mode, transposed=transposed,
                        output_padding=op, flip=draw(st.booleans()))
    except ValueError:
        from hypothesis import reject

        reject()


# 300 examples cover every (rank, mode, padding form, transposed, flip) pair
# several times; each costs a few ms, so this test runs in ~5-15 s: slow (the
# grid below covers the same space deterministically in the fast loop).
@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=specs(), seed=st.integers(0, 2**31))
def test_numeric_matrix_equals_torch_property(spec, seed):
    check_against_torch(spec, seed)


GRID = [
    dict(rank=rank, mode=mode, transposed=tr, k=k, s=s, d=d, p=p)
    for rank in (1, 2)
    for mode in ("zeros", "circular", "reflect", "replicate")
    for tr in (False, True)
    for k, s, d, p in itertools.product((1, 2, 3), (1, 2), (1, 2), (0, 1, 2))
    if not (tr and mode != "zeros")
]


def _grid_id(c):
    return f"{c['rank']}d-{c['mode']}-{'T' if c['transposed'] else 'F'}-k{c['k']}s{c['s']}d{c['d']}p{c['p']}"


@pytest.mark.parametrize("case", GRID, ids=[_grid_id(c) for c in GRID])
def test_numeric_matrix_equals_torch_grid(case):
    size = (6,) if case["rank"] == 1 else (5, 4)
    op = (case["s"] - 1) if case["transposed"] else 0
    try:
        spec = ConvSpec(2, 4, case["k"], input_size=size, stride=case["s"], dilation=case["d"],
                        padding=case["p"], padding_mode=case["mode"], groups=2,
                        transposed=case["transposed"], output_padding=op)
    except ValueError:
        pytest.skip("geometry torch refuses too (see test_spec)")
    check_against_torch(spec, seed=len(_grid_id(case)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=specs(rank=2), seed=st.integers(0, 2**31))
def test_matrix_equals_naive_oracle(spec, seed):
    # 60 examples: the loop oracle is slow, and the torch property test above
    # already covers the geometry space; this checks the entries one by one.
    w = np.random.default_rng(seed).integers(-5, 6, spec.weight_shape).astype(np.float64)
    np.testing.assert_array_equal(numeric_matrix(spec, torch.from_numpy(w)).numpy(),
                                  naive_matrix(spec, w))


# ----------------------------------------------------------- symbolic == exact
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=specs(), seed=st.integers(0, 2**31))
def test_symbolic_with_integers_equals_torch_exactly(spec, seed):
    # Integer weights make torch's float64 arithmetic exact, so the symbolic
    # matrix must equal the matrix probed from torch entry for entry.
    w = np.random.default_rng(seed).integers(-9, 10, spec.weight_shape)
    S = symbolic_matrix(spec, w)
    probed = probe_matrix(spec, torch.from_numpy(w).double()).numpy()
    assert np.array_equal(np.array(S.tolist(), dtype=np.float64), probed)
    assert all(isinstance(v, sympy.Integer) for v in S.values())
    numeric = numeric_matrix(spec, torch.from_numpy(w))
    assert numeric.dtype == torch.int64
    assert np.array_equal(np.array(S.tolist(), dtype=np.int64), numeric.numpy())


def test_symbolic_default_symbols_print_as_indices():
    spec = ConvSpec(1, 1, 3, input_size=5)
    assert symbolic_matrix(spec)[1, :].tolist() == [[0, *weight_symbols(spec).ravel(), 0]]
    spec2 = ConvSpec(2, 3, (2, 2), input_size=(3, 3))
    assert sympy.latex(weight_symbols(spec2)[2, 1, 0, 1]) == "w_{2,1,0,1}"
    assert weight_symbols(spec2)[2, 1, 0, 1] == WeightSymbol("w", (2, 1, 0, 1))
    assert str(weight_symbols(spec2)[2, 1, 0, 1]) == "w[2, 1, 0, 1]"


def test_symbolic_reflect_folds_two_taps_into_one_entry():
    # reflect with padding 1 on n=3: row 0 reads (x1, x0, x1), so entry (0, 1) is w0 + w2
    spec = ConvSpec(1, 1, 3, input_size=3, padding=1, padding_mode="reflect")
    w0, w1, w2 = weight_symbols(spec).ravel()
    assert symbolic_matrix(spec) == sympy.Matrix([[w1, w0 + w2, 0], [w0, w1, w2], [0, w0 + w2, w1]])


def test_rationals_and_complex_stay_exact():
    spec = ConvSpec(1, 1, (2, 2), input_size=(3, 3), padding=1, padding_mode="replicate")
    w = [[[[Fraction(1, 3), Fraction(-2, 7)], [sympy.Rational(5, 2), 1 + 2 * sympy.I]]]]
    S = symbolic_matrix(spec, w)
    assert S.free_symbols == set()
    assert not S.has(sympy.Float)
    assert sympy.Rational(1, 3) + sympy.Rational(-2, 7) + sympy.Rational(5, 2) + 1 + 2 * sympy.I in S.values()
    wc = torch.tensor([[[[1 / 3, -2 / 7], [5 / 2, 1 + 2j]]]], dtype=torch.complex128)
    np.testing.assert_allclose(np.array(S.evalf().tolist(), dtype=complex),
                               probe_matrix(spec, wc).numpy(), atol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_complex_weights_match_torch(layout):
    spec = ConvSpec(2, 2, 3, input_size=(4, 5), padding=(1, 2), padding_mode="circular")
    g = torch.Generator().manual_seed(3)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.complex128)
    x = torch.randn(2, 2, 4, 5, generator=g, dtype=torch.complex128)
    T = numeric_matrix(spec, w, layout=layout)
    assert T.dtype == torch.complex128
    torch.testing.assert_close(apply(T, x), torch_forward(spec, x, w).reshape(2, -1), rtol=0, atol=1e-12)


# ------------------------------------------------------------ flip vs scipy
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("shape,kshape", [((7,), (3,)), ((8,), (4,)), ((6, 7), (3, 2)),
                                          ((5, 6), (4, 4)), ((4, 5, 4), (2, 3, 2))],
                         ids=["1d-odd", "1d-even", "2d", "2d-even", "3d"])
def test_flip_equals_scipy_convolve(mode, shape, kshape):
    rng = np.random.default_rng(zlib.crc32(f"{mode}{shape}".encode()))  # stable across runs
    x = rng.standard_normal(shape)
    a = rng.standard_normal(kshape)
    spec = ConvSpec(1, 1, kshape, input_size=shape, padding=mode, flip=True)
    T = numeric_matrix(spec, torch.from_numpy(a).reshape(spec.weight_shape)).numpy()
    expected = scipy.signal.convolve(x, a, mode=mode, method="direct")
    assert spec.output_size == expected.shape
    np.testing.assert_allclose(T @ x.ravel(), expected.ravel(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("m,n", [(3, 6), (4, 9), (1, 5), (5, 5)])
def test_flip_equals_scipy_convolution_matrix(mode, m, n):
    a = np.arange(1, m + 1, dtype=np.float64) * (-1) ** np.arange(m)
    spec = ConvSpec(1, 1, m, input_size=n, padding=mode, flip=True)
    T = numeric_matrix(spec, torch.from_numpy(a).reshape(1, 1, m)).numpy()
    np.testing.assert_array_equal(T, scipy.linalg.convolution_matrix(a, n, mode=mode))


def test_flip_correlate2d_is_torch_default():
    rng = np.random.default_rng(11)
    x, a = rng.standard_normal((5, 6)), rng.standard_normal((3, 2))
    spec = ConvSpec(1, 1, (3, 2), input_size=(5, 6))
    T = numeric_matrix(spec, torch.from_numpy(a)[None, None]).numpy()
    np.testing.assert_allclose(T @ x.ravel(), scipy.signal.correlate2d(x, a, mode="valid").ravel(),
                               atol=1e-12)


# ----------------------------------------------------- published structure facts
@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_strided_matrix_is_every_sth_row(s, mode):
    spec1 = ConvSpec(1, 1, 3, input_size=(7, 6), padding=1, padding_mode=mode)
    spec_s = spec1.replace(stride=(s, 1))
    w = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    rows = torch.arange(7 * 6).reshape(7, 6)[::s].flatten()
    torch.testing.assert_close(numeric_matrix(spec_s, w), numeric_matrix(spec1, w)[rows])


@pytest.mark.parametrize("n,k,s,p,d", [(7, 3, 2, 1, 1), (8, 3, 2, 1, 1), (9, 4, 3, 2, 1), (6, 2, 1, 0, 2),
                                       (10, 3, 3, 0, 2)])
def test_transposed_with_matching_output_padding_is_the_transpose(n, k, s, p, d):
    fwd = ConvSpec(2, 3, k, input_size=n, stride=s, padding=p, dilation=d)
    op = (n + 2 * p - d * (k - 1) - 1) % s
    tr = ConvSpec(3, 2, k, input_size=fwd.output_size, stride=s, padding=p, dilation=d,
                  transposed=True, output_padding=op)
    assert tr.output_size == (n,)
    w = torch.randn(fwd.weight_shape, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    torch.testing.assert_close(numeric_matrix(tr, w), numeric_matrix(fwd, w).T)


# ------------------------------------------------------ batched, augmented, autograd
@pytest.mark.parametrize("layout", LAYOUTS)
def test_batched_per_example_kernels(layout):
    spec = ConvSpec(2, 3, (2, 3), input_size=(4, 5), padding=1, padding_mode="reflect")
    g = torch.Generator().manual_seed(5)
    w = torch.randn(4, *spec.weight_shape, generator=g, dtype=torch.float64)
    x = torch.randn(4, 2, 4, 5, generator=g, dtype=torch.float64)
    T = numeric_matrix(spec, w, layout=layout)
    assert T.shape == (4, *spec.matrix_shape)
    dense = T.to_dense() if layout != "dense" else T
    for b in range(4):
        torch.testing.assert_close(dense[b] @ x[b].flatten(),
                                   torch_forward(spec, x[b:b + 1], w[b]).flatten(), rtol=0, atol=1e-12)
    if layout == "coo":  # torch multiplies batched COO with bmm
        got = torch.bmm(T, x.reshape(4, -1, 1))[..., 0]
        expected = torch.cat([torch_forward(spec, x[b:b + 1], w[b]) for b in range(4)]).reshape(4, -1)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_augmented_includes_bias_like_torch(layout):
    spec = ConvSpec(2, 4, 3, input_size=(5, 5), stride=2, padding=1, groups=2, bias=True)
    g = torch.Generator().manual_seed(9)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    x = torch.randn(1, 2, 5, 5, generator=g, dtype=torch.float64)
    T = numeric_matrix(spec, w, bias=b, augmented=True, layout=layout)
    got = T @ torch.cat([x.flatten(), torch.ones(1, dtype=torch.float64)])
    torch.testing.assert_close(got[:-1], torch_forward(spec, x, w, b).flatten(), rtol=0, atol=1e-12)
    assert got[-1] == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_complex_bias_with_real_weight_stays_complex(layout):
    """The matrix takes the promoted dtype of weight and bias (torch's rule), so a
    complex bias is not cast to real: the layer of torch on complex tensors."""
    spec = ConvSpec(1, 2, 3, input_size=5, padding=1, bias=True)
    w = torch.arange(6.0, dtype=torch.float64).reshape(spec.weight_shape)
    b = torch.tensor([1j, 2 - 1j], dtype=torch.complex128)
    T = numeric_matrix(spec, w, bias=b, augmented=True, layout=layout)
    assert T.dtype == torch.complex128
    x = torch.randn(1, 1, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    got = (T @ torch.cat([x.flatten(), torch.ones(1)]).to(torch.complex128))[:-1]
    expected = torch_forward(spec, x.to(torch.complex128), w.to(torch.complex128), b).flatten()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_symbolic_augmented_has_bias_column():
    spec = ConvSpec(1, 2, 2, input_size=3, bias=True)
    S = symbolic_matrix(spec, augmented=True)
    b = bias_symbols(spec)
    assert S.shape == (5, 4)
    assert S[:, 3].T.tolist() == [[b[0], b[0], b[1], b[1], 1]]
    assert [str(v) for v in b] == ["b[0]", "b[1]"]
    exact = symbolic_matrix(spec, [[[1, 2]], [[3, 4]]], bias=[sympy.Rational(1, 2), -1], augmented=True)
    x = torch.tensor([[[1.0, -2.0, 5.0]]], dtype=torch.float64)
    y = torch_forward(spec, x, torch.tensor([[[1.0, 2]], [[3, 4]]], dtype=torch.float64),
                      torch.tensor([0.5, -1.0], dtype=torch.float64))
    assert list(exact @ sympy.Matrix([1, -2, 5, 1]))[:-1] == [sympy.nsimplify(v) for v in y.flatten().tolist()]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradient_matches_torch_conv(layout):
    spec = ConvSpec(2, 3, 3, input_size=(5, 4), stride=(1, 2), padding=1, padding_mode="replicate",
                    bias=True)
    g = torch.Generator().manual_seed(2)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1, 2, 5, 4, generator=g, dtype=torch.float64)
    target = torch.randn(spec.matrix_shape[0], generator=g, dtype=torch.float64)
    T = numeric_matrix(spec, w, bias=b, augmented=True, layout=layout)
    y = (T @ torch.cat([x.flatten(), torch.ones(1, dtype=torch.float64)]))[:-1]
    grads = torch.autograd.grad((y * target).sum(), (w, b))
    expected = torch.autograd.grad((torch_forward(spec, x, w, b).flatten() * target).sum(), (w, b))
    for got, ref in zip(grads, expected):
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


def test_float32_keeps_dtype_and_csr_uses_int32_indices():
    spec = ConvSpec(3, 4, 3, input_size=(6, 6), padding=1)
    w = torch.randn(spec.weight_shape, generator=torch.Generator().manual_seed(0))
    T = numeric_matrix(spec, w, layout="csr")
    assert T.dtype == torch.float32 and T.col_indices().dtype == torch.int32
    assert T._nnz() == sharing_pattern(spec).nnz
    coo = numeric_matrix(spec, w, layout="coo")
    assert coo.is_coalesced()
    torch.testing.assert_close(coo.to_dense(), T.to_dense())
