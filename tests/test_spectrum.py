"""Singular values against references nobody here wrote.

References: numpy's SVD of the matrix read off torch by one-hot probing
(``reference.probe_matrix``: torch's ``F.conv*`` after ``F.pad``, so no symtoe
matrix is involved), numpy's FFT of the zero-padded kernel (Sedghi, Gupta &
Long's published recipe), Sedghi et al.'s published test values, and the
exact DFT formula in sympy.
"""

import numpy as np
import pytest
import sympy
import torch
from reference import probe_matrix

import symtoe.analysis.spectrum as spectrum
import symtoe.core.numeric
from symtoe import ConvSpec
from symtoe.analysis.spectrum import Circulant, fft_rule, singular_values


def random_weight(spec, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)


def reference_svd(spec, w):
    return np.linalg.svd(probe_matrix(spec, w).numpy(), compute_uv=False)


def circ(cin, cout, k, n, **kw):
    return ConvSpec(cin, cout, k, input_size=n, padding_mode="circular", **kw)


# Circulant layers (fft_rule is None): circular with output_size * stride ==
# input_size, and the new fast paths: no padding in any mode (1x1, patchify),
# transposed without padding.
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
    # new fast paths
    "1d-1x1-stride2-zeros": ConvSpec(3, 4, 1, input_size=8, stride=2),
    "2d-1x1-stride2-zeros": ConvSpec(4, 6, 1, input_size=(6, 4), stride=2),
    "2d-1x1-grouped": ConvSpec(4, 6, 1, input_size=(3, 5), groups=2),
    "2d-patchify-reflect": ConvSpec(3, 5, 2, input_size=(6, 4), stride=2, padding_mode="reflect"),
    "2d-patchify-replicate-3": ConvSpec(2, 4, 3, input_size=(6, 9), stride=3,
                                        padding_mode="replicate"),
    "1d-1x1-dilated": ConvSpec(2, 3, 1, input_size=6, dilation=3),
    "1d-transposed-patchify": ConvSpec(4, 3, 2, input_size=5, stride=2, transposed=True),
    "2d-transposed-1x1-stride2": ConvSpec(6, 4, 1, input_size=(3, 2), stride=2, transposed=True,
                                          output_padding=1),
    "2d-transposed-patchify-groups": ConvSpec(4, 6, 2, input_size=(2, 3), stride=2, groups=2,
                                              transposed=True),
}


@pytest.mark.parametrize("spec", FFT_GRID.values(), ids=FFT_GRID.keys())
@pytest.mark.parametrize("seed", [0, 1])
def test_fft_equals_svd_of_torch_matrix(spec, seed):
    assert fft_rule(spec) is None
    w = random_weight(spec, seed)
    ref = reference_svd(spec, w)
    got = singular_values(spec, w, method="fft")
    assert got.shape == (min(spec.matrix_shape),)
    assert np.all(np.diff(got) <= 0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * max(1.0, ref[0]))
    np.testing.assert_allclose(singular_values(spec, w), ref, rtol=0, atol=1e-9 * ref[0])
    top = singular_values(spec, w, top=3)
    np.testing.assert_allclose(top, ref[:3], rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["2d-groups", "2d-stride2-fat", "2d-patchify-reflect", "3d"])
def test_chunked_blocks_equal_unchunked(name, monkeypatch):
    """With chunks of one frequency at a time the values are the same (and
    still those of the torch matrix)."""
    spec = FFT_GRID[name]
    w = random_weight(spec, 5)
    monkeypatch.setattr(spectrum, "CHUNK_BYTES", 1)
    ref = reference_svd(spec, w)
    np.testing.assert_allclose(singular_values(spec, w), ref, rtol=0, atol=1e-9 * ref[0])
    np.testing.assert_allclose(singular_values(spec, w, top=2), ref[:2], rtol=1e-9)


def test_rank_deficient_blocks_are_exact():
    """Blocks with zero singular values (identical output channels) are redone
    with svdvals: the zeros come out as zeros, not as square roots of rounding."""
    spec = circ(3, 4, 3, (5, 5), padding=1)
    w = random_weight(spec, 0)
    w[1] = w[0]
    w[3] = 2 * w[2]
    ref = reference_svd(spec, w)
    got = singular_values(spec, w)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * ref[0])
    assert np.sum(got < 1e-9 * got[0]) == np.sum(ref < 1e-9 * ref[0]) > 0


def _sedghi_reference(kernel, grid):
    """numpy's FFT of the kernel zero-padded to the grid and numpy's SVD of
    every frequency's block (Sedghi et al.'s recipe), all values descending."""
    blocks = np.fft.fft2(kernel, s=grid, axes=(2, 3)).transpose(2, 3, 0, 1)
    return np.sort(np.linalg.svd(blocks, compute_uv=False).ravel())[::-1]


@pytest.mark.parametrize("count", [1, 7, 40], ids=lambda c: f"top{c}")
@pytest.mark.parametrize("chunk", [1, None], ids=["one-frequency-chunks", "default-chunks"])
def test_top_prunes_blocks_and_matches_sedghi_recipe(count, chunk, monkeypatch):
    """64 channels on a 12 x 11 grid: Circulant.top decomposes only the blocks
    a Cholesky test cannot exclude, and its values are numpy's."""
    rng = np.random.default_rng(20240605)
    kernel = rng.standard_normal((64, 64, 3, 3)) / 24
    if chunk is not None:
        monkeypatch.setattr(spectrum, "CHUNK_BYTES", chunk)
    circulant = Circulant(torch.from_numpy(kernel), 1, (12, 11), (1, 1), (0, 0), (1, 1))
    seen = []
    block_values = Circulant.block_values
    monkeypatch.setattr(Circulant, "block_values",
                        lambda self, f, *args: seen.append(f.shape[1]) or block_values(self, f, *args))
    values, modes = circulant.top(count)
    np.testing.assert_allclose(values, _sedghi_reference(kernel, (12, 11))[:count], rtol=1e-12)
    assert sum(m[3] for m in modes) >= count
    if count == 1 and chunk == 1:
        assert sum(seen) < 12 * 6 / 4  # of the 72 blocks of the half spectrum


def test_many_top_values_are_sorted_from_all(monkeypatch):
    """Above TOP_BY_PRUNING values, singular_values(top=...) sorts the whole
    spectrum instead of keeping a row per value: the same numbers."""
    spec = circ(3, 4, 3, (6, 5), padding=1)
    w = random_weight(spec, 2)
    ref = reference_svd(spec, w)
    monkeypatch.setattr(spectrum, "TOP_BY_PRUNING", 10)
    np.testing.assert_allclose(singular_values(spec, w, top=50), ref[:50], rtol=0,
                               atol=1e-9 * ref[0])


def test_top_with_every_block_alike():
    """A one-tap kernel: every frequency's block is the same matrix, so no block
    can be excluded (Cholesky at the top value fails on all of them, ties)."""
    rng = np.random.default_rng(3)
    kernel = np.zeros((5, 4, 3, 3))
    kernel[:, :, 1, 2] = rng.standard_normal((5, 4))
    circulant = Circulant(torch.from_numpy(kernel), 1, (6, 5), (1, 1), (0, 0), (1, 1))
    ref = _sedghi_reference(kernel, (6, 5))
    for count in (1, 29, 31, 120):
        np.testing.assert_allclose(circulant.top(count)[0], ref[:count], rtol=1e-12)


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


@pytest.mark.parametrize(
    "spec, kernel, published",
    [
        (circ(1, 1, 3, 20, padding=1), [[[2.0, 7.0, -1.0]]], 8.005634),
        (circ(1, 1, 3, (20, 20), padding=1),
         [[[[2.0, 7.0, -1.0], [1.0, 3.0, -8.0], [5.0, -3.0, 1.0]]]], 22.912213),
    ],
    ids=["1d-n20", "2d-20x20"],
)
def test_sedghi_published_values(spec, kernel, published):
    """Sedghi, Gupta & Long (ICLR 2019), test values of their conv_sv code."""
    assert round(float(singular_values(spec, kernel, top=1)[0]), 6) == published


def test_float32_weight_is_computed_in_float64():
    spec = FFT_GRID["2d-groups"]
    w = random_weight(spec, 3)
    np.testing.assert_allclose(
        singular_values(spec, w.float()), reference_svd(spec, w.float().double()),
        rtol=0, atol=1e-9,
    )


DENSE_GRID = {
    "1d-zeros": ConvSpec(2, 3, 3, input_size=7, padding=1),
    "2d-reflect-stride": ConvSpec(2, 2, 3, input_size=(5, 4), padding=1, stride=2,
                                  padding_mode="reflect"),
    "1d-circular-valid": circ(2, 2, 3, 6),
    "1d-circular-stride-not-dividing": circ(1, 2, 3, 7, padding=1, stride=2),
    "2d-transposed": ConvSpec(2, 3, 3, input_size=(3, 4), stride=2, padding=1,
                              transposed=True, output_padding=1),
    "1d-patchify-extra-column": ConvSpec(1, 2, 2, input_size=7, stride=2),
}


@pytest.mark.parametrize("spec", DENSE_GRID.values(), ids=DENSE_GRID.keys())
def test_auto_and_dense_equal_svd_of_torch_matrix(spec):
    w = random_weight(spec, 7)
    ref = reference_svd(spec, w)
    assert fft_rule(spec) is not None
    for method in ("auto", "dense"):
        got = singular_values(spec, w, method=method)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * ref[0])
    np.testing.assert_allclose(singular_values(spec, w, top=2), ref[:2], rtol=1e-9)


def test_dense_svd_refused_from_sizes_before_building(monkeypatch):
    """A 120 x 120 zero-padded layer would be a 14400 x 14400 dense SVD: refused
    with its cost and the alternative, before any matrix is built."""

    def refuse(*args, **kwargs):
        raise AssertionError("the matrix must not be built")

    monkeypatch.setattr(symtoe.core.numeric, "numeric_matrix", refuse)
    spec = ConvSpec(1, 1, 3, input_size=(120, 120), padding=1)
    w = torch.ones(spec.weight_shape)
    with pytest.raises(ValueError, match=r"14400 x 14400 .*GiB.*dense_limit=4096.*operator_norm"):
        singular_values(spec, w)
    with pytest.raises(ValueError, match=r"dense_limit=4096.*pass dense_limit=14400"):
        singular_values(spec, w, method="dense")


@pytest.mark.parametrize("share", [0.0, np.inf], ids=["zherk-grams", "tap-grams"])
@pytest.mark.parametrize("spec", FFT_GRID.values(), ids=FFT_GRID.keys())
def test_fft_through_scipy_blas_paths(spec, share, monkeypatch):
    """Every block through scipy's BLAS / LAPACK (BLAS_SIDE=1: zherk or tap
    products, zpotrf, eigvalsh one block at a time), in chunks of one
    frequency: all values and the top ones are those of the torch matrix."""
    monkeypatch.setattr(spectrum, "BLAS_SIDE", 1)
    monkeypatch.setattr(spectrum, "TAP_GRAM_SHARE", share)
    monkeypatch.setattr(spectrum, "CHUNK_BYTES", 1)
    w = random_weight(spec, 3)
    ref = reference_svd(spec, w)
    np.testing.assert_allclose(singular_values(spec, w), ref, rtol=0, atol=1e-9 * ref[0])
    for count in (1, 4):
        np.testing.assert_allclose(singular_values(spec, w, top=count), ref[:count], rtol=1e-9)


def test_tap_products_over_their_memory_budget_fall_back_to_blocks(monkeypatch):
    """Tap products are not chunked: above TAP_GRAM_BYTES the Gram matrices
    come from the blocks, with the same values."""
    spec = circ(32, 32, 3, (6, 6), padding=1, stride=2)
    w = random_weight(spec, 4)
    monkeypatch.setattr(spectrum, "TAP_GRAM_SHARE", np.inf)
    assert spectrum.circulant_of(spec, w).tap_grams is not None
    monkeypatch.setattr(spectrum, "TAP_GRAM_BYTES", 2 * 8 * 9 * 32 * 32 - 1)  # 9 offsets
    assert spectrum.circulant_of(spec, w).tap_grams is None
    ref = reference_svd(spec, w)
    np.testing.assert_allclose(singular_values(spec, w, top=2), ref[:2], rtol=1e-12)


@pytest.mark.parametrize("share", [0.0, np.inf], ids=["zherk-grams", "tap-grams"])
@pytest.mark.parametrize("stride", [1, 2])
def test_top_keeps_tied_frequencies(stride, share, monkeypatch):
    """A kernel symmetric under swapping its two axes, on a square grid: the
    blocks at (f1, f2) and (f2, f1) have the same values, so values come tied
    from different frequencies (stride 1: the 3rd to 6th largest).  The
    Cholesky test at one block's value must not exclude its twin."""
    monkeypatch.setattr(spectrum, "BLAS_SIDE", 1)
    monkeypatch.setattr(spectrum, "TAP_GRAM_SHARE", share)
    rng = np.random.default_rng(11)
    kernel = rng.standard_normal((6, 6, 3, 3))
    kernel = kernel + kernel.transpose(0, 1, 3, 2)
    spec = circ(6, 6, 3, (8, 8), padding=1, stride=stride)
    circulant = spectrum.circulant_of(spec, torch.from_numpy(kernel))
    assert (circulant.tap_grams is not None) == (share == np.inf)
    ref = reference_svd(spec, torch.from_numpy(kernel))
    for count in (1, 2, 3, 5):
        np.testing.assert_allclose(circulant.top(count)[0], ref[:count], rtol=1e-12)


@pytest.mark.parametrize("side", [1, 5, 40])
def test_lanczos_lower_bound_is_below_the_largest_eigenvalue(side):
    """The pruning bound of top(1): a Ritz value, never above numpy's largest
    eigenvalue, and equal to it once the Krylov space is the whole space.
    Only the lower triangle is read (the upper one is garbage here)."""
    rng = np.random.default_rng(side)
    b = rng.standard_normal((side, side + 3)) + 1j * rng.standard_normal((side, side + 3))
    gram = b @ b.conj().T
    top = np.linalg.eigvalsh(gram)[-1]
    garbage = np.tril(gram) + np.triu(rng.standard_normal((side, side)), 1)
    for steps in (1, 3, side):
        assert spectrum._lanczos_lower(garbage, steps) <= top * (1 + 1e-14)
    assert spectrum._lanczos_lower(garbage, side) == pytest.approx(top, rel=1e-10)
    assert spectrum._lanczos_lower(np.zeros((side, side), dtype=complex)) == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_weight_is_refused(bad):
    spec = circ(1, 1, 3, 4, padding=1)
    with pytest.raises(ValueError, match="weight must be finite, but it has NaN or infinite"):
        singular_values(spec, [[[1.0, bad, 3.0]]])


def test_huge_finite_weight_whose_sum_overflows_is_accepted():
    """check_weight sums the weight first; an overflowing sum of finite values
    falls back to the entrywise test instead of refusing the weight."""
    spec = circ(1, 1, 2, 2, padding=((1, 0),))
    huge = [[[1e308, 1e308]]]
    assert np.isinf(float(torch.tensor(huge, dtype=torch.float64).sum()))
    np.testing.assert_array_equal(spectrum.check_weight(spec, huge).numpy(), huge)
