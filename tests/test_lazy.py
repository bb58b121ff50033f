"""The lazy symbolic view against the explicit symbolic matrix and torch probing."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch

import symtoe.core.pattern
from symtoe import ConvSpec, symbolic_matrix
from symtoe.core.lazy import LazyConvMatrix, lazy_symbolic_matrix
from symtoe.core.symbolic import WeightSymbol, weight_symbols
from tests.reference import probe_matrix

SPECS = [
    dict(in_channels=1, out_channels=1, kernel_size=3, input_size=5),
    dict(in_channels=2, out_channels=3, kernel_size=3, input_size=6, stride=2, padding=1),
    dict(in_channels=2, out_channels=2, kernel_size=3, input_size=7, dilation=2, padding=2),
    dict(in_channels=4, out_channels=2, kernel_size=3, input_size=5, groups=2, padding=1),
    dict(in_channels=1, out_channels=2, kernel_size=3, input_size=4, padding=2,
         padding_mode="circular"),
    dict(in_channels=1, out_channels=1, kernel_size=5, input_size=3, padding=2,
         padding_mode="circular"),  # kernel longer than the input: folded taps
    dict(in_channels=2, out_channels=1, kernel_size=3, input_size=4, padding=2,
         padding_mode="reflect"),
    dict(in_channels=1, out_channels=2, kernel_size=4, input_size=3, padding=((3, 1),),
         padding_mode="replicate"),
    dict(in_channels=2, out_channels=2, kernel_size=3, input_size=5, padding=1, flip=True),
    dict(in_channels=2, out_channels=3, kernel_size=3, input_size=4, stride=2, padding=1,
         output_padding=1, transposed=True),
    dict(in_channels=4, out_channels=2, kernel_size=2, input_size=3, stride=2, dilation=2,
         groups=2, transposed=True, flip=True),
    dict(in_channels=2, out_channels=2, kernel_size=(2, 3), input_size=(4, 5), stride=(2, 1),
         padding=1, padding_mode="reflect"),
    dict(in_channels=2, out_channels=4, kernel_size=3, input_size=(3, 4), padding=1,
         groups=2, dilation=(1, 2), padding_mode="circular"),
    dict(in_channels=2, out_channels=2, kernel_size=2, input_size=(3, 3), stride=2,
         padding=1, transposed=True, output_padding=1, groups=2),
    dict(in_channels=1, out_channels=1, kernel_size=(1, 2, 2), input_size=(2, 3, 3),
         padding=(0, 1, 1), padding_mode="replicate"),
]
IDS = [f"spec{k}" for k in range(len(SPECS))]


def entrywise(matrix) -> sympy.Matrix:
    """Every entry read through ``matrix[i, j]`` (not through ``as_explicit``)."""
    rows, cols = (int(n) for n in matrix.shape)
    return sympy.Matrix(rows, cols, lambda i, j: matrix[i, j])


@pytest.mark.parametrize("kwargs", SPECS, ids=IDS)
def test_entries_equal_symbolic_matrix(kwargs):
    spec = ConvSpec(**kwargs)
    lazy = lazy_symbolic_matrix(spec)
    assert lazy.shape == spec.matrix_shape
    assert entrywise(lazy) == symbolic_matrix(spec).as_mutable()


@pytest.mark.parametrize("kwargs", SPECS, ids=IDS)
def test_slices_equal_torch_probing(kwargs):
    """A slice reads its entries at once (one vectorised call): equal to torch's matrix."""
    spec = ConvSpec(**kwargs)
    weight = np.random.default_rng(8).integers(-5, 6, size=spec.weight_shape)
    probed = probe_matrix(spec, torch.tensor(weight, dtype=torch.float64)).numpy().astype(np.int64)
    lazy = lazy_symbolic_matrix(spec, weight)
    for rows, cols in [(slice(None), slice(None)), (slice(1, None, 2), slice(None, -1)),
                       (slice(-2, None), slice(0, None, 3))]:
        got = lazy[rows, cols].as_explicit()
        assert np.array_equal(np.array(got.tolist(), dtype=np.int64), probed[rows, cols])
    assert lazy[1:, :][0:1, 0:2].as_explicit().tolist() == [probed[1, 0:2].tolist()]


@pytest.mark.parametrize("kwargs", SPECS, ids=IDS)
def test_integer_weights_equal_torch_probing(kwargs):
    spec = ConvSpec(**kwargs)
    rng = np.random.default_rng(283592436523456)
    weight = rng.integers(-5, 6, size=spec.weight_shape)
    lazy = entrywise(lazy_symbolic_matrix(spec, weight))
    assert all(isinstance(v, sympy.Integer) for v in lazy)  # exact stays exact
    probed = probe_matrix(spec, torch.tensor(weight, dtype=torch.float64)).numpy()
    assert np.array_equal(probed, np.round(probed))  # integer-valued: exact comparison
    assert np.array_equal(np.array(lazy.tolist(), dtype=np.int64), probed.astype(np.int64))


def test_exact_rational_weights_and_torch_weights():
    spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="reflect")
    weight = [[[Fraction(1, 3), sympy.Rational(2, 7), "x"]]]
    lazy = lazy_symbolic_matrix(spec, weight)
    assert entrywise(lazy) == symbolic_matrix(spec, weight).as_mutable()
    assert lazy[0, 1] == sympy.Rational(1, 3) + sympy.Symbol("x")  # reflect folds taps 0 and 2
    integer = lazy_symbolic_matrix(spec, torch.tensor([[[1, 2, 3]]]))
    assert integer[0, 1] == 4 and isinstance(integer[0, 1], sympy.Integer)


def test_huge_layer_corner_without_full_pattern():
    spec = ConvSpec(512, 512, 3, input_size=(224, 224), padding=1)
    misses = symtoe.core.pattern.sharing_pattern.cache_info().misses
    lazy = lazy_symbolic_matrix(spec)
    corner = lazy[:4, :6].as_explicit()
    w = lambda *index: WeightSymbol("w", index)  # noqa: E731
    assert corner[0, :] == sympy.Matrix([[w(0, 0, 1, 1), w(0, 0, 1, 2), 0, 0, 0, 0]])
    assert corner[1, 0] == w(0, 0, 1, 0)
    # row (o=3, 0, 0) against column (c=7, 1, 1): centre-right-bottom tap
    n = 224 * 224
    assert lazy[3 * n, 7 * n + 224 + 1] == w(3, 7, 2, 2)
    assert lazy[-1, -1] == w(511, 511, 1, 1)
    assert symtoe.core.pattern.sharing_pattern.cache_info().misses == misses  # never built
    with pytest.raises(ValueError, match=r"explicit 25690112 x 25690112 matrix would have 659,981,854,572,544 entries, more than the limit"):
        lazy.as_explicit()


def test_matrix_expression_behaviour():
    spec = ConvSpec(2, 2, 3, input_size=5, groups=2)
    lazy = lazy_symbolic_matrix(spec)
    i, j = sympy.symbols("i j", integer=True)
    assert isinstance(lazy[i, j], sympy.matrices.expressions.matexpr.MatrixElement)
    assert lazy.T[4, 1] == lazy[1, 4]
    assert lazy[0, 5] == 0  # other group
    assert lazy.as_explicit() == symbolic_matrix(spec).as_immutable()
    assert lazy == lazy_symbolic_matrix(spec) and lazy != lazy_symbolic_matrix(spec.replace(groups=1))
    assert hash(lazy) == hash(lazy_symbolic_matrix(spec))
    assert lazy.func(*lazy.args) == lazy and isinstance(lazy, LazyConvMatrix)
    assert sympy.latex(lazy) == "T"


def test_errors():
    spec = ConvSpec(1, 2, 3, input_size=5)
    with pytest.raises(ValueError, match=r"weight must have shape \(2, 1, 3\), but got"):
        lazy_symbolic_matrix(spec, np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="spec must be a ConvSpec"):
        lazy_symbolic_matrix((1, 2, 3))


def test_state_in_args_equal_weights_subs_and_names():
    """Equal layers with equal weights are equal; subs and names reach the weights."""
    spec = ConvSpec(1, 2, 3, input_size=5, padding=1, padding_mode="reflect")
    values = np.arange(6).reshape(spec.weight_shape)
    a, b = lazy_symbolic_matrix(spec, values), lazy_symbolic_matrix(spec, values.tolist())
    assert a == b and hash(a) == hash(b)
    assert a != lazy_symbolic_matrix(spec, values + 1)
    v = lazy_symbolic_matrix(spec, name="v")
    assert v.as_explicit() == symbolic_matrix(spec, weight_symbols(spec, "v")).as_immutable()
    assert v[0, 1] == WeightSymbol("v", (0, 0, 0)) + WeightSymbol("v", (0, 0, 2))  # reflect fold
    # substituting every default symbol gives the matrix of those values: torch's
    symbols = weight_symbols(spec).ravel()
    lazy = lazy_symbolic_matrix(spec).subs(dict(zip(symbols, values.ravel().tolist())))
    probed = probe_matrix(spec, torch.tensor(values, dtype=torch.float64)).numpy()
    assert np.array_equal(np.array(entrywise(lazy).tolist(), dtype=np.int64), probed.astype(np.int64))
    assert lazy == a
