"""Structure detection, recovery and circulant eigenvalues against outside references:
scipy.linalg.toeplitz / circulant, layer matrices probed from torch, random matrices,
and sympy's exact arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import sympy
import torch
from reference import probe_matrix, torch_forward

from symtoe import ConvSpec, symbolic_matrix
from symtoe.analysis.structure import (
    circulant_eigenvalues,
    is_block_toeplitz,
    is_circulant,
    is_toeplitz,
    recover_convolution,
    toeplitz_levels,
)


def layer_matrix(spec, kind, seed=0):
    """The layer's matrix as sympy (symbolic kernel) or torch (probed from F.conv*)."""
    if kind == "sympy":
        return symbolic_matrix(spec)
    gen = torch.Generator().manual_seed(seed)
    return probe_matrix(spec, torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64))


KINDS = ["sympy", "torch"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(ConvSpec(1, 1, 3, input_size=7), id="valid"),
        pytest.param(ConvSpec(1, 1, 3, input_size=7, padding=2, dilation=2), id="dilated-same"),
        pytest.param(ConvSpec(1, 1, 4, input_size=5, padding="full"), id="full"),
        pytest.param(ConvSpec(1, 1, 3, input_size=5, stride=2, padding=1, transposed=True), id="transposed-s2"),
    ],
)
def test_toeplitz_true_on_stride_one_layers(spec, kind):
    if spec.transposed:  # a strided transposed layer is not Toeplitz: its rows repeat by s
        assert not is_toeplitz(layer_matrix(spec, kind))
        return
    assert is_toeplitz(layer_matrix(spec, kind))


@pytest.mark.parametrize("kind", KINDS)
def test_toeplitz_false_on_strided_and_random(kind):
    assert not is_toeplitz(layer_matrix(ConvSpec(1, 1, 3, input_size=8, stride=2), kind))
    rng = np.random.default_rng(31)
    random = rng.standard_normal((5, 6))
    assert not is_toeplitz(random) and not is_toeplitz(torch.as_tensor(random))
    assert not is_toeplitz(sympy.Matrix(rng.integers(0, 9, (4, 4)).tolist()))


def test_toeplitz_and_circulant_on_scipy_matrices():
    rng = np.random.default_rng(5)
    c, r = rng.standard_normal(5), rng.standard_normal(7)
    T = scipy.linalg.toeplitz(c, r)
    assert is_toeplitz(T) and is_toeplitz(torch.as_tensor(T)) and not is_circulant(T)
    C = scipy.linalg.circulant(rng.standard_normal(6))
    assert is_circulant(C) and is_toeplitz(C)
    assert is_circulant(torch.as_tensor(C).to_sparse())
    noisy = C + 1e-12 * rng.standard_normal(C.shape)
    assert not is_circulant(noisy) and is_circulant(noisy, atol=1e-9)
    x = sympy.symbols("a:4")
    assert is_circulant(sympy.Matrix(4, 4, lambda i, j: x[(j - i) % 4]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel_size, dilation", [(3, 1), (2, 2), (4, 1)])
def test_circulant_on_circular_layers_only(kind, kernel_size, dilation):
    total = dilation * (kernel_size - 1)
    spec = ConvSpec(1, 1, kernel_size, input_size=6, dilation=dilation,
                    padding=((total // 2, total - total // 2),), padding_mode="circular")
    assert is_circulant(layer_matrix(spec, kind))
    assert not is_circulant(layer_matrix(spec.replace(padding_mode="zeros"), kind))
    assert not is_circulant(layer_matrix(spec.replace(stride=2), kind))


@pytest.mark.parametrize("kind", KINDS)
def test_block_toeplitz_on_2d_layers(kind):
    spec = ConvSpec(1, 1, (2, 3), input_size=(4, 5), padding=(1, 1))
    o1, o2 = spec.output_size
    M = layer_matrix(spec, kind)
    assert is_block_toeplitz(M, (o2, 5))
    assert not is_toeplitz(M)
    assert not is_block_toeplitz(M, (o1, 4))  # the wrong level order
    strided = layer_matrix(spec.replace(stride=(1, 2)), kind)
    assert not is_block_toeplitz(strided, (spec.replace(stride=(1, 2)).output_size[1], 5))


def test_block_toeplitz_built_from_scipy_blocks():
    rng = np.random.default_rng(12)
    blocks = {k: scipy.linalg.toeplitz(rng.standard_normal(3), rng.standard_normal(2))
              for k in range(-2, 4)}
    M = np.block([[blocks[i - j] for j in range(3)] for i in range(4)])
    assert is_block_toeplitz(M, (3, 2))
    broken = M.copy()
    broken[3:6, 0:2] = blocks[0]  # block (1, 0) should be blocks[1]
    assert not is_block_toeplitz(broken, (3, 2))
    assert not is_block_toeplitz(rng.standard_normal((12, 6)), (3, 2))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "spec, expected",
    [
        pytest.param(ConvSpec(1, 1, 3, input_size=(4, 5), padding=1), ((1, 1), ((4, 4), (5, 5))), id="2d-same"),
        pytest.param(ConvSpec(1, 1, 3, input_size=(3, 4, 3), padding=1), ((1, 1), ((3, 3), (4, 4), (3, 3))), id="3d-same"),
        pytest.param(ConvSpec(2, 3, 3, input_size=(3, 4), padding=1), ((3, 2), ((3, 3), (4, 4))), id="2d-2to3"),
        pytest.param(ConvSpec(1, 1, 2, input_size=6, padding=1), ((1, 1), ((7, 6),)), id="1d"),
    ],
)
def test_toeplitz_levels_found_by_themselves(spec, expected, kind):
    levels = toeplitz_levels(layer_matrix(spec, kind))
    assert (levels.blocks, levels.levels) == expected


def test_toeplitz_levels_none_on_random():
    rng = np.random.default_rng(2)
    assert toeplitz_levels(rng.standard_normal((6, 8))) is None
    assert toeplitz_levels(torch.as_tensor(rng.standard_normal((4, 4)))) is None


RECOVER = [
    pytest.param(ConvSpec(1, 1, 3, input_size=7, padding=1), id="1d-same"),
    pytest.param(ConvSpec(1, 1, 2, input_size=8, stride=2, dilation=2, padding=((1, 0),)), id="1d-s2-d2"),
    pytest.param(ConvSpec(2, 4, 3, input_size=6, padding=1, groups=2), id="1d-groups"),
    pytest.param(ConvSpec(1, 1, 3, input_size=5, padding=1, padding_mode="circular"), id="1d-circular"),
    pytest.param(ConvSpec(1, 1, 3, input_size=5, padding=1, padding_mode="replicate"), id="1d-replicate"),
    pytest.param(ConvSpec(1, 2, (2, 3), input_size=(4, 5), padding=(0, 1), stride=(1, 2)), id="2d-s12"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec", RECOVER)
def test_recovered_layer_reproduces_the_matrix_through_torch(spec, kind):
    M = layer_matrix(spec, kind, seed=4)
    found = recover_convolution(M, spec.input_size)
    assert found, found.reason
    rng = np.random.default_rng(8)
    x = torch.as_tensor(rng.standard_normal((3, spec.in_channels, *spec.input_size)))
    if kind == "sympy":  # substitute numbers for the symbols of both kernels alike
        values = dict(zip(sorted(M.free_symbols, key=str), rng.standard_normal(len(M.free_symbols))))
        M = torch.as_tensor(np.array(M.subs(values).tolist(), dtype=float))
        weight = torch.as_tensor(
            np.array([sympy.sympify(v).subs(values) for v in found.weight.ravel()], dtype=float)
        ).reshape(found.spec.weight_shape)
    else:
        weight = found.weight
    y = torch_forward(found.spec, x, weight).reshape(3, -1)
    torch.testing.assert_close(y, x.reshape(3, -1) @ M.T)
    assert found.spec.output_size == spec.output_size


@pytest.mark.parametrize(
    "M, kwargs, match",
    [
        pytest.param(np.ones((3, 5)), dict(input_size=2), "not a multiple of prod\\(input_size\\) = 2", id="columns"),
        pytest.param(np.array([[1.0, 2, 0], [0, 1, 3]]), dict(input_size=3, out_channels=1, stride=1), "share a weight differ", id="values"),
        pytest.param(np.array([[1.0, 1, 1], [0, 1, 0]]), dict(input_size=3, out_channels=1, stride=1), "no per-axis geometry of axis 0", id="pattern"),
        pytest.param(np.zeros((2, 3)), dict(input_size=3), "M is zero", id="zero"),
        pytest.param(np.ones((3, 3)), dict(input_size=3, out_channels=2), "not a multiple of out_channels = 2", id="out-channels"),
    ],
)
def test_recovery_says_why_none_exists(M, kwargs, match):
    found = recover_convolution(M, **kwargs)
    assert not found and found.spec is None
    assert match.replace("\\", "") in found.reason or pytest.fail(found.reason)


def test_recovery_without_constraints_finds_a_dense_layer():
    # every matrix is some layer's: here one output channel per row, kernel = input
    found = recover_convolution(sympy.Matrix(3, 3, range(1, 10)), 3)
    assert found.spec.out_channels == 3 and found.spec.kernel_size == (3,)
    assert symbolic_matrix(found.spec, found.weight) == sympy.Matrix(3, 3, range(1, 10))


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular"), id="n4-k3"),
        pytest.param(ConvSpec(1, 1, 2, input_size=5, padding=((0, 2),), dilation=2, padding_mode="circular"), id="n5-d2-asym"),
        pytest.param(ConvSpec(1, 1, (2, 3), input_size=(3, 4), padding=((1, 0), (1, 1)), padding_mode="circular"), id="2d"),
        pytest.param(ConvSpec(1, 1, 3, input_size=5, padding=1, padding_mode="circular", flip=True), id="flip"),
    ],
)
def test_circulant_eigenvalues_exact_in_sympy(spec):
    T = symbolic_matrix(spec)
    eig = circulant_eigenvalues(spec)
    for f in np.ndindex(*spec.input_size):
        v = sympy.Matrix([
            sympy.prod(sympy.exp(2 * sympy.pi * sympy.I * fa * ma / na)
                       for fa, ma, na in zip(f, m, spec.input_size))
            for m in np.ndindex(*spec.input_size)
        ])
        residual = (T * v - eig[f] * v).applyfunc(lambda e: sympy.simplify(sympy.expand(e)))
        assert residual == sympy.zeros(*v.shape), f


def test_circulant_eigenvalues_match_theory_and_numpy():
    a, b, c = sympy.symbols("a b c")
    n = 6
    spec = ConvSpec(1, 1, 3, input_size=n, padding=1, padding_mode="circular")
    eig = circulant_eigenvalues(spec, [[[a, b, c]]])
    omega = sympy.exp(2 * sympy.pi * sympy.I / n)
    for k in range(n):  # THEORY: lambda_k = a w^-k + b + c w^k
        assert sympy.simplify(eig[k] - (a * omega**-k + b + c * omega**k)) == 0
    rng = np.random.default_rng(3)
    w = rng.standard_normal(3)
    numeric = np.array([complex(e.subs({a: w[0], b: w[1], c: w[2]})) for e in eig])
    M = probe_matrix(spec, torch.as_tensor(w).reshape(1, 1, 3)).numpy()
    expected = np.linalg.eigvals(M)
    np.testing.assert_allclose(np.sort_complex(numeric), np.sort_complex(expected), atol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(lambda: is_block_toeplitz(np.zeros((6, 6)), (4, 2)), r"block_shape must divide the matrix shape \(6, 6\), but got \(4, 2\)", id="block-divide"),
        pytest.param(lambda: is_block_toeplitz(np.zeros((6, 6)), 2), r"block_shape must be two positive integers, but got 2", id="block-shape"),
        pytest.param(lambda: is_toeplitz(np.zeros(4)), r"M must be a 2-D matrix, but got shape \(4,\)", id="not-2d"),
        pytest.param(lambda: is_toeplitz(np.zeros((2, 2)), atol=-1), r"atol must be a non-negative number, but got -1", id="atol"),
        pytest.param(lambda: circulant_eigenvalues(ConvSpec(1, 1, 3, input_size=4, padding=1)), r"spec must be circulant \(padding_mode='circular'", id="eig-zeros"),
        pytest.param(lambda: circulant_eigenvalues(ConvSpec(2, 1, 3, input_size=4, padding=1, padding_mode="circular")), r"spec must have one input and one output channel", id="eig-channels"),
        pytest.param(lambda: recover_convolution(np.eye(3), 3, padding_modes=("mirror",)), r"padding_modes must be one of", id="recover-mode"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
