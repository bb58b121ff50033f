"""Sizes first: ImageNet-and-beyond layers are counted, refused and read in
corners without building anything, and caches are bounded by bytes.

References: corners of the huge layers are compared with the same corners of
small layers probed from torch (the entries near a corner depend only on the
geometry there), counts with formulas and torch's FlopCounterMode
(tests/test_counts.py).  Speed is in ``benchmarks/run.py``; here memory is
measured with ``tracemalloc`` (numpy's allocations are traced).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import sympy
import torch
from reference import probe_matrix

import symtoe.core.limits as limits
from symtoe import ConvSpec, count_parameters, sharing_pattern, symbolic_matrix
from symtoe.analysis.equivariance import check_shift
from symtoe.core.lazy import lazy_symbolic_matrix
from symtoe.core.numeric import _lowering, numeric_matrix
from symtoe.core.symbolic import WeightSymbol
from symtoe.core.validate import SizeLimitError

BIG = ConvSpec(1, 1, 3, input_size=10**9, padding=1, padding_mode="reflect")
WIDE = ConvSpec(512, 512, 3, input_size=(4096, 4096), padding=1)


def probed(spec, kernel):
    return probe_matrix(spec, torch.as_tensor(kernel, dtype=torch.float64)).numpy()


def values(entries, names) -> np.ndarray:
    """Entries (sums of weight symbols) with numbers put in for the symbols."""
    return np.array([float(sympy.sympify(e).subs(names)) for e in entries])


def test_billion_input_corners_equal_torch_on_a_small_input():
    """Rows and columns near either end of a reflect-padded layer on 10**9 inputs
    are those of the same layer on 6 inputs (probed from torch)."""
    kernel = np.array([[[2.0, 3.0, 5.0]]])
    small = probed(BIG.replace(input_size=6), kernel)
    names = {WeightSymbol("w", (j,)): kernel[0, 0, j] for j in range(3)}
    lazy = lazy_symbolic_matrix(BIG)
    np.testing.assert_array_equal(values(lazy[:3, :4].as_explicit(), names), small[:3, :4].ravel())
    np.testing.assert_array_equal(values(lazy[-3:, -4:].as_explicit(), names),
                                  small[-3:, -4:].ravel())
    assert lazy[10**8, 10**8 + 1] == WeightSymbol("w", (2,))  # the interior: one tap each


def test_wide_layer_corners_equal_torch_on_a_small_input():
    """Channel (0, 0) and (511, 511) corners of 512 -> 512 at 4096x4096: the
    same entries as a 1 -> 1 layer at 6x6 (probed), by position in the grid."""
    kernel = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    small = probed(ConvSpec(1, 1, 3, input_size=(6, 6), padding=1), kernel)
    lazy = lazy_symbolic_matrix(WIDE)
    n = 4096 * 4096
    for o in (0, 511):
        names = {WeightSymbol("w", (o, o, i, j)): kernel[0, 0, i, j]
                 for i in range(3) for j in range(3)}
        # output (0, x) against input (y, x'): flat index y * 4096 + x' in the big grid
        rows = o * n + np.array([0, 1, 4096])
        cols = o * n + np.array([0, 1, 2, 4096, 4097])
        small_rows, small_cols = np.array([0, 1, 6]), np.array([0, 1, 2, 6, 7])
        got = values([lazy[r, c] for r in rows for c in cols], names)
        np.testing.assert_array_equal(got, small[np.ix_(small_rows, small_cols)].ravel())
    assert lazy[0, n] == WeightSymbol("w", (0, 1, 1, 1))  # input channel 1, same position
    assert lazy[0, 2] == 0 and lazy[-1, -1] == WeightSymbol("w", (511, 511, 1, 1))


@pytest.mark.parametrize("spec", [BIG, WIDE], ids=["1e9-inputs", "512ch-4096x4096"])
def test_huge_layers_cost_little_memory(spec):
    """Counts, refusals and corners of huge layers stay under 50 MB (traced)."""
    tracemalloc.start()
    try:
        count_parameters(spec)
        lazy = lazy_symbolic_matrix(spec)
        lazy[:4, :6].as_explicit()
        lazy[-4:, -6:].as_explicit()
        for refused in (
            lambda: symbolic_matrix(spec),
            lambda: sharing_pattern(spec),
            lambda: numeric_matrix(spec, torch.zeros(1).expand(spec.weight_shape)),
            lambda: numeric_matrix(spec, torch.zeros(1).expand(spec.weight_shape), layout="csr"),
            lambda: lazy.as_explicit(),
        ):
            with pytest.raises(SizeLimitError):
                refused()
        if spec is BIG:
            with pytest.raises(SizeLimitError, match="zero_padding_interior"):
                check_shift(spec, 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.1f} MiB"


def test_pattern_cache_is_bounded_by_bytes(monkeypatch):
    monkeypatch.setitem(limits.CACHE_BYTES, "pattern", 2**20)
    sharing_pattern.cache_clear()
    specs = [ConvSpec(4, 4, 3, input_size=(n, n), padding=1) for n in range(8, 20)]
    sizes = [sharing_pattern(spec).nbytes for spec in specs]
    info = sharing_pattern.cache_info()
    assert sum(sizes) > 2**20 >= info.nbytes > 0 and info.entries < len(specs)
    assert info.nbytes == sum(sizes[-info.entries:])  # the most recent ones are kept
    big = ConvSpec(8, 8, 3, input_size=(64, 64), padding=1)
    assert sharing_pattern(big).nbytes > 2**20  # larger than the whole budget: not kept
    misses = sharing_pattern.cache_info().misses
    sharing_pattern(big)
    assert sharing_pattern.cache_info().misses == misses + 1
    sharing_pattern.cache_clear()


def test_lowering_cache_is_bounded_by_bytes(monkeypatch):
    monkeypatch.setitem(limits.CACHE_BYTES, "lowering", 2**20)
    _lowering.cache_clear()
    for n in range(8, 24):
        spec = ConvSpec(4, 4, 3, input_size=(n, n), padding=1)
        numeric_matrix(spec, torch.zeros(spec.weight_shape), layout="csr")
    info = _lowering.cache_info()
    assert 0 < info.nbytes <= 2**20 and info.entries < 16
    _lowering.cache_clear()
