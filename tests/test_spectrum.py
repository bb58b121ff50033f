"""Singular values and operator norms against references nobody here wrote.

References: numpy's SVD / 2-norm of the matrix read off torch by one-hot
probing (``reference.probe_matrix``: torch's ``F.conv*`` after ``F.pad``, so no
symtoe matrix is involved), and the exact DFT formula in sympy.
"""

import numpy as np
import pytest
import sympy
import torch
from reference import probe_matrix

import symtoe.core.numeric
from symtoe import ConvSpec
from symtoe.analysis.spectrum import fft_rule, singular_values
from symtoe.analysis.norms import operator_norm


def random_weight(spec, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)


def reference_svd(spec, w):
    return np.linalg.svd(probe_matrix(spec, w).numpy(), compute_uv=False)


def circ(cin, cout, k, n, **kw):
    return ConvSpec(cin, cout, k, input_size=n, padding_mode="circular", **kw)


# Circular layers the FFT path covers (output_size * stride == input_size).
FFT_GRID = {
    "1d-same": circ(1, 1, 3, 8, padding=1),
    "1d-even-kernel-asym": circ(3, 5, 4, 7, padding=((2, 1),)),
    "1d-dilated-asym": circ(2, 2, 3, 9, padding=((1, 3),), dilation=2),
    "1d-kernel-wraps": circ(2, 3, 5, 3, padding=((2, 2),)),
    "1d-stride2": circ(2, 3, 3, 8, padding=1, stride=2),
    "1d-stride3-short-pad": circ(1, 4, 5, 9, padding=((2, 1),), stride=3),
    "2d-nonsquare-kernel": circ(2, 3, (3, 2), (5, 6), padding=((1, 1), (0, 1))),
    "2d-wide-channels": circ(5, 2, 3, (4, 4), padding=1),
    "2d-groups": circ(4, 6, 3, (4, 5), padding=1, groups=2),
    "2d-depthwise-stride2": circ(4, 4, 3, (4, 6), padding=1, stride=2, groups=4),
    "2d-stride-2x1": circ(2, 3, 3, (6, 5), padding=1, stride=(2, 1)),
    "2d-stride2-fat": circ(3, 2, 2, (4, 6), padding=((1, 0), (0, 1)), stride=2),
    "2d-flip-same": circ(2, 2, (2, 3), (5, 4), padding="same", flip=True),
    "3d": circ(2, 2, 2, (3, 4, 2), padding=((1, 0), (0, 1), (1, 0))),
}


@pytest.mark.parametrize("spec", FFT_GRID.values(), ids=FFT_GRID.keys())
@pytest.mark.parametrize("seed", [0, 1])
def test_fft_equals_svd_of_torch_matrix(spec, seed):
    w = random_weight(spec, seed)
    ref = reference_svd(spec, w)
    got = singular_values(spec, w, method="fft")
    assert got.shape == (min(spec.matrix_shape),)
    assert np.all(np.diff(got) <= 0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * max(1.0, ref[0]))
    np.testing.assert_allclose(singular_values(spec, w), ref, rtol=0, atol=1e-9 * ref[0])


DENSE_GRID = {
    "1d-zeros": ConvSpec(2, 3, 3, input_size=7, padding=1),
    "2d-reflect-stride": ConvSpec(2, 2, 3, input_size=(5, 4), padding=1, stride=2,
                                  padding_mode="reflect"),
    "1d-circular-valid": circ(2, 2, 3, 6),
    "1d-circular-stride-not-dividing": circ(1, 2, 3, 7, padding=1, stride=2),
    "2d-transposed": ConvSpec(2, 3, 3, input_size=(3, 4), stride=2, padding=1,
                              transposed=True, output_padding=1),
}


@pytest.mark.parametrize("spec", DENSE_GRID.values(), ids=DENSE_GRID.keys())
def test_auto_and_dense_equal_svd_of_torch_matrix(spec):
    w = random_weight(spec, 7)
    ref = reference_svd(spec, w)
    assert fft_rule(spec) is not None
    for method in ("auto", "dense"):
        got = singular_values(spec, w, method=method)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * ref[0])


@pytest.mark.parametrize("n, left", [(5, 1), (6, 2), (4, 0)], ids=["n5", "n6-left2", "n4-left0"])
def test_circulant_eigenvalues_are_exact_dft_of_kernel(n, left):
    """sympy, exactly: for every z with z**n == 1, e[m] = z**m is an eigenvector
    of the matrix torch computes, with eigenvalue sum_j k[j] z**(j - left)
    (an identity in Z[z] / (z**n - 1)); z = exp(2 pi i f / n) gives the DFT."""
    kernel = [2, -1, 3]
    spec = circ(1, 1, 3, n, padding=((left, 2 - left),))
    w = torch.tensor([[kernel]], dtype=torch.float64)
    M = sympy.Matrix(probe_matrix(spec, w).numpy().astype(int).tolist())  # torch's, exactly
    z = sympy.Symbol("z")
    lam = sum(k * z ** ((j - left) % n) for j, k in enumerate(kernel))
    e = sympy.Matrix([z**m for m in range(n)])
    for entry in M * e - lam * e:
        assert sympy.rem(sympy.expand(entry), z**n - 1, z) == 0
    omega = sympy.exp(2 * sympy.pi * sympy.I / n)
    moduli = [abs(complex(lam.subs(z, omega**f).evalf(30))) for f in range(n)]
    got = singular_values(spec, w, method="fft")
    np.testing.assert_allclose(got, sorted(moduli, reverse=True), rtol=0, atol=1e-12)


def test_float32_weight_is_computed_in_float64():
    spec = FFT_GRID["2d-groups"]
    w = random_weight(spec, 3)
    np.testing.assert_allclose(
        singular_values(spec, w.float()), reference_svd(spec, w.float().double()),
        rtol=0, atol=1e-9,
    )


# ------------------------------------------------------------ operator norm
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
    "1d-circular-stride-not-dividing": circ(2, 2, 3, 7, padding=1, stride=2),
    "1d-circular-extra-pad": circ(1, 1, 3, 5, padding=2),
    "1d-transposed": ConvSpec(2, 3, 3, input_size=5, stride=2, padding=1, transposed=True,
                              output_padding=1),
    "2d-transposed-dilated": ConvSpec(2, 2, 2, input_size=(3, 4), stride=1, dilation=2,
                                      transposed=True, output_padding=1),
    "3d-zeros": ConvSpec(1, 2, 2, input_size=(3, 3, 2), padding=1),
}


@pytest.mark.parametrize("spec", NORM_GRID.values(), ids=NORM_GRID.keys())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_norm_bound_and_power_iteration(spec, seed):
    w = random_weight(spec, seed)
    true = np.linalg.norm(probe_matrix(spec, w).numpy(), 2)
    norm = operator_norm(spec, w)
    assert not norm.exact
    assert norm.upper >= true * (1 - 1e-12)
    assert norm.estimate <= true * (1 + 1e-12)
    assert abs(norm.estimate - true) <= 1e-6


def test_zero_padding_bound_is_the_circular_norm_on_the_embedding_grid():
    """For a stride-1 'same' layer the bound is the exact norm of the circular
    layer (same kernel) on the grid n + 1, checked against that layer's SVD."""
    spec = ConvSpec(2, 3, 3, input_size=(6, 5), padding=1)
    w = random_weight(spec, 4)
    norm = operator_norm(spec, w)
    assert norm.grid == (7, 6)
    embedding = spec.replace(input_size=norm.grid, padding_mode="circular")
    assert norm.upper == pytest.approx(reference_svd(embedding, w)[0], abs=1e-9)


@pytest.mark.parametrize("spec", list(FFT_GRID.values())[:8], ids=list(FFT_GRID)[:8])
def test_circular_norm_is_exact(spec):
    w = random_weight(spec, 5)
    norm = operator_norm(spec, w)
    assert norm.exact and norm.iterations == 0
    true = np.linalg.norm(probe_matrix(spec, w).numpy(), 2)
    assert norm.value == norm.upper == norm.estimate
    assert abs(norm.value - true) <= 1e-9 * true


def test_operator_norm_never_builds_the_matrix(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("operator_norm must stay matrix-free")

    monkeypatch.setattr(symtoe.core.numeric, "numeric_matrix", refuse)
    spec = NORM_GRID["2d-zeros-same"]
    w = random_weight(spec, 0)
    assert operator_norm(spec, w).estimate > 0


# ------------------------------------------------------------------ errors
def test_errors():
    zeros = ConvSpec(1, 1, 3, input_size=8, padding=1)
    w = torch.ones(1, 1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="method='fft' needs .*padding_mode must be 'circular'"):
        singular_values(zeros, w, method="fft")
    valid = circ(1, 1, 3, 8)
    with pytest.raises(ValueError, match=r"output_size \* stride must equal input_size.*\(6,\)"):
        singular_values(valid, w, method="fft")
    with pytest.raises(ValueError, match=r"method must be one of .* but got 'svd'"):
        singular_values(zeros, w, method="svd")
    with pytest.raises(ValueError, match=r"weight must have shape .*\(1, 1, 3\), but got \(3,\)"):
        singular_values(zeros, torch.ones(3))
    with pytest.raises(ValueError, match="weight must be a real numeric tensor or array"):
        singular_values(zeros, np.array([[[sympy.Symbol("a"), 1, 2]]], dtype=object))
    with pytest.raises(ValueError, match="weight must be real"):
        singular_values(zeros, w.to(torch.complex128))
    with pytest.raises(ValueError, match="spec must be a ConvSpec"):
        operator_norm("conv", w)
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, but got -1"):
        operator_norm(zeros, w, iterations=-1)
    with pytest.raises(ValueError, match="tol must be non-negative"):
        operator_norm(zeros, w, tol=-1.0)
