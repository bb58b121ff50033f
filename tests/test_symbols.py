"""Weight symbols are sympy Symbols: free symbols count the used weights, and
substituting values gives torch's matrix exactly."""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import probe_matrix
from test_matrices import specs

from symtoe import (
    ConvSpec,
    bias_symbols,
    count_parameters,
    numeric_matrix,
    symbolic_matrix,
    weight_symbols,
)
from symtoe.core.symbolic import WeightSymbol, exact


# Each example builds one small symbolic matrix and one probed torch matrix
# (a few ms); 150 examples cover every rank, padding mode and form, transposed
# and flip several times.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(spec=specs(), seed=st.integers(0, 2**31), bias=st.booleans())
def test_free_symbols_count_used_weights_and_subs_equals_torch(spec, seed, bias):
    spec = spec.replace(bias=bias)
    T = symbolic_matrix(spec)
    counts = count_parameters(spec)
    assert len(T.free_symbols) == counts.used
    assert all(isinstance(s, WeightSymbol) for s in T.free_symbols)
    augmented = symbolic_matrix(spec, augmented=True)
    assert len(augmented.free_symbols) == counts.used + counts.bias

    rng = np.random.default_rng(seed)
    values = rng.integers(-9, 10, size=spec.weight_shape)
    substituted = T.subs(dict(zip(weight_symbols(spec).ravel(), values.ravel().tolist())))
    probed = probe_matrix(spec, torch.tensor(values, dtype=torch.float64)).numpy()
    assert np.array_equal(np.array(substituted.tolist(), dtype=np.int64), probed.astype(np.int64))
    lowered = numeric_matrix(spec, torch.tensor(values))  # the torch lowering agrees exactly
    assert np.array_equal(lowered.numpy(), probed.astype(np.int64))


def test_symbols_print_compare_pickle_and_lambdify():
    spec = ConvSpec(2, 3, (2, 2), input_size=(3, 3))
    w = weight_symbols(spec)
    s = w[2, 1, 0, 1]
    assert (str(s), sympy.latex(s), s.base, s.index) == ("w[2, 1, 0, 1]", "w_{2,1,0,1}", "w", (2, 1, 0, 1))
    assert s == weight_symbols(spec)[2, 1, 0, 1] and s is WeightSymbol("w", (2, 1, 0, 1))
    assert s != sympy.Symbol("w[2, 1, 0, 1]")  # a plain Symbol of that name is another symbol
    assert sympy.srepr(s) == "WeightSymbol('w', (2, 1, 0, 1))"
    T = symbolic_matrix(spec)
    assert pickle.loads(pickle.dumps(T)) == T
    symbols = w.ravel().tolist()
    f = sympy.lambdify(symbols, T, "numpy")
    g = torch.Generator().manual_seed(7)
    values = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)
    probed = probe_matrix(spec, values).numpy()
    np.testing.assert_allclose(f(*values.flatten().tolist()), probed, rtol=0, atol=1e-12)
    assert sympy.latex(bias_symbols(spec)[1]) == "b_{1}"
    assert str(WeightSymbol("alpha", (0,))) == "alpha[0]" and sympy.latex(WeightSymbol("alpha", (0,))) == r"\alpha_{0}"


def test_indexed_weights_still_work():
    spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="reflect")
    w = sympy.IndexedBase("w")
    T = symbolic_matrix(spec, [[[w[0], w[1], w[2]]]])
    assert T[0, 1] == w[0] + w[2]  # reflect folds taps 0 and 2 onto x1
    assert T.subs({w[0]: 1, w[1]: 2, w[2]: 3})[0, :].tolist() == [[2, 4, 0, 0]]


@pytest.mark.parametrize(
    "value, expected",
    [
        (2**53 + 1, sympy.Integer(2**53 + 1)),
        (np.int64(-3), sympy.Integer(-3)),
        (Fraction(1, 3), sympy.Rational(1, 3)),
        (1 + 2j, 1 + 2 * sympy.I),
        (np.complex128(3 - 1j), 3 - sympy.I),
        ("x / 2", sympy.Symbol("x") / 2),
    ],
    ids=["big-int", "numpy-int", "fraction", "complex", "numpy-complex", "string"],
)
def test_exact_values(value, expected):
    assert exact(value, "weight") == expected
    spec = ConvSpec(1, 1, 1, input_size=1)
    assert symbolic_matrix(spec, [[[value]]])[0, 0] == expected


def test_non_integral_complex_keeps_float_parts():
    value = exact(0.5 + 1j, "weight")
    assert value == sympy.Float(0.5) + sympy.I and value.has(sympy.Float)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: symbolic_matrix(s, [[[None, 2]]]), r"weight must hold numbers or sympy expressions, but got None"),
        (lambda s: symbolic_matrix(s, [[[True, 2]]]), r"weight must hold numbers .* but got True"),
        (lambda s: symbolic_matrix(s, augmented=2), r"augmented must be True or False, but got 2"),
        (lambda s: symbolic_matrix(s, augmented="yes"), r"augmented must be True or False, but got 'yes'"),
        (lambda s: symbolic_matrix(s, augmented=None), r"augmented must be True or False, but got None"),
        (lambda s: weight_symbols(s, name=3), r"name must be a non-empty string, but got 3"),
        (lambda s: weight_symbols(s, name=""), r"name must be a non-empty string, but got ''"),
        (lambda s: WeightSymbol(None, (0,)), r"name must be a non-empty string, but got None"),
    ],
    ids=["none-weight", "bool-weight", "augmented-int", "augmented-str", "augmented-none",
         "name-int", "name-empty", "symbol-name-none"],
)
def test_bad_symbolic_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(ConvSpec(1, 1, 2, input_size=3))
