"""Composition of two layers against torch and scipy.

References: torch applying both layers (``reference.torch_forward`` twice),
the product of the matrices read off torch by one-hot probing, and
``scipy.signal.convolve`` for the combined kernel.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import scipy.signal
import sympy
import torch
from reference import probe_matrix, torch_forward

from symtoe import ConvSpec, symbolic_matrix
from symtoe.analysis.compose import compose, composed_matrix


def weights(spec2, spec1, seed):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(spec1.weight_shape, generator=g, dtype=torch.float64)
    w2 = torch.randn(spec2.weight_shape, generator=g, dtype=torch.float64)
    return w2, w1


def stacked_equals_one_layer(spec2, spec1, c, w2, w1, seed=0):
    """Whether torch's layer 2 after layer 1 equals torch running c.spec with
    c.weight, on random inputs and as probed matrices."""
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(3, spec1.in_channels, *spec1.input_size, generator=g, dtype=torch.float64)
    two = torch_forward(spec2, torch_forward(spec1, x, w1), w2)
    one = torch_forward(c.spec, x, c.weight)
    product = probe_matrix(spec2, w2) @ probe_matrix(spec1, w1)
    return (
        one.shape == two.shape
        and torch.allclose(one, two, rtol=0, atol=1e-10)
        and torch.allclose(probe_matrix(c.spec, c.weight), product, rtol=0, atol=1e-10)
    )


def conv_spec(cin, cout, k, n, **kw):
    return ConvSpec(cin, cout, k, input_size=n, **kw)


def pair(first, second_args, second_kw=None):
    """(spec2, spec1) with spec2 reading spec1's output."""
    cin2, k2 = second_args
    cout2 = second_kw.pop("out") if second_kw and "out" in second_kw else cin2
    spec2 = conv_spec(first.out_channels, cout2, k2, first.output_size, **(second_kw or {}))
    return spec2, first


EXACT = {
    "1d-valid-valid": pair(conv_spec(1, 1, 3, 9), (1, 2)),
    "2d-valid-valid-channels": pair(conv_spec(2, 3, (3, 2), (6, 5)), (3, (2, 3)), {"out": 4}),
    "1d-full-then-same": pair(conv_spec(2, 2, 3, 6, padding="full"), (2, 3),
                              {"padding": "same", "out": 3}),
    "2d-same-then-valid": pair(conv_spec(2, 3, 3, (5, 5), padding=1), (3, 3), {"out": 2}),
    "2d-1x1-then-same": pair(conv_spec(3, 2, 1, (4, 5)), (2, 3), {"padding": 1, "out": 2}),
    "1d-stride2-then-valid": pair(conv_spec(1, 2, 3, 11, stride=2), (2, 3), {"out": 1}),
    "1d-valid-then-stride3": pair(conv_spec(2, 2, 2, 12), (2, 3), {"stride": 3}),
    "1d-dilated-both": pair(conv_spec(1, 2, 3, 12, dilation=2), (2, 2), {"dilation": 2}),
    "1d-mixed-dilation": pair(conv_spec(1, 1, 2, 12, dilation=1), (1, 3), {"dilation": 2}),
    "2d-groups-both": pair(conv_spec(4, 4, 3, (5, 5), groups=2), (4, 2),
                           {"groups": 2, "out": 6}),
    "2d-depthwise-pointwise": pair(conv_spec(3, 3, 3, (6, 6), groups=3), (3, 1), {"out": 4}),
    "2d-circular-circular": pair(conv_spec(2, 3, 3, (5, 6), padding=1, padding_mode="circular"),
                                 (3, (2, 3)), {"padding": "same", "padding_mode": "circular"}),
    "1d-circular-stride2-then-circular": pair(
        conv_spec(2, 2, 3, 8, padding=1, stride=2, padding_mode="circular"),
        (2, 3), {"padding": 1, "padding_mode": "circular"}),
    "2d-reflect-then-valid": pair(conv_spec(1, 2, 3, (5, 6), padding=1, padding_mode="reflect"),
                                  (2, 2)),
    "1d-flip-both": pair(conv_spec(1, 1, 3, 8, flip=True), (1, 2), {"flip": True}),
    "1d-flip-one": pair(conv_spec(2, 2, 2, 8, flip=True), (2, 3)),
    "3d-valid-valid": pair(conv_spec(1, 2, 2, (4, 3, 4)), (2, 2), {"out": 1}),
}


@pytest.mark.parametrize("specs", EXACT.values(), ids=EXACT.keys())
def test_exact_compositions_equal_torch(specs):
    spec2, spec1 = specs
    w2, w1 = weights(spec2, spec1, 0)
    c = compose(spec2, spec1, w2, w1)
    assert c.exact and c.reason is None
    assert isinstance(c.weight, torch.Tensor) and c.weight.shape == c.spec.weight_shape
    assert stacked_equals_one_layer(spec2, spec1, c, w2, w1)


@pytest.mark.parametrize("ids", ["1d-valid-valid", "2d-valid-valid-channels", "3d-valid-valid"])
def test_stride1_kernel_is_full_convolution_of_kernels(ids):
    """W[o, c] = sum_m convolve(w2[o, m], w1[m, c]) for true convolutions (flip),
    i.e. the cross-correlation kernel is the same law with both kernels reversed."""
    spec2, spec1 = EXACT[ids]
    w2, w1 = weights(spec2, spec1, 3)
    c = compose(spec2, spec1, w2.numpy(), w1.numpy())
    a2, a1 = w2.numpy(), w1.numpy()
    ref = np.zeros(c.spec.weight_shape)
    for o, m, ch in itertools.product(range(a2.shape[0]), range(a2.shape[1]), range(a1.shape[1])):
        ref[o, ch] += scipy.signal.convolve(a2[o, m], a1[m, ch], mode="full")
    assert c.spec.kernel_size == tuple(k1 + k2 - 1 for k1, k2 in zip(
        spec1.kernel_size, spec2.kernel_size))
    np.testing.assert_allclose(c.weight, ref, rtol=0, atol=1e-12)


def test_symbolic_product_and_exact_weights():
    spec1 = conv_spec(2, 2, 2, 5)
    spec2 = conv_spec(2, 1, 3, 4)
    c = compose(spec2, spec1)
    product = composed_matrix(spec2, spec1)
    difference = (product - symbolic_matrix(c.spec, c.weight)).applyfunc(sympy.expand)
    assert difference.is_zero_matrix
    # exact numbers stay exact, and agree with torch on the same values
    w1 = [[[Fraction(1, 3), 2], [-1, Fraction(1, 2)]], [[0, 1], [3, Fraction(-2, 7)]]]
    w2 = [[[1, Fraction(1, 5), 2], [Fraction(2, 3), 0, -1]]]
    exact = compose(spec2, spec1, w2, w1)
    assert all(isinstance(v, sympy.Rational) for v in exact.weight.ravel())
    as_float = torch.tensor(np.array(exact.weight, dtype=float))
    t2 = torch.tensor(np.array(w2, dtype=float))
    t1 = torch.tensor(np.array(w1, dtype=float))
    assert stacked_equals_one_layer(
        spec2, spec1, type(exact)(exact.spec, as_float, True, None), t2, t1
    )


@pytest.mark.parametrize(
    "kind", ["int-lists", "numpy-int64", "big-ints", "fractions", "sympy"],
)
def test_integer_and_rational_weights_compose_exactly(kind):
    """Integer, Fraction and sympy kernels never pass through float64: the
    kernel is the full convolution of the kernels (stride 1, valid after valid),
    computed here with np.convolve on Python objects; 2**53 + 1 is not a float."""
    big = 2**53 + 1
    w2, w1 = [[[big, 3]]], [[[1, -2, 2**10]]]
    if kind == "numpy-int64":
        w2, w1 = np.array(w2, dtype=np.int64), np.array(w1, dtype=np.int64)
    elif kind == "big-ints":
        w2, w1 = [[[2**70 + 1, 3]]], [[[1, -2, 2**64]]]
    elif kind == "fractions":
        w2, w1 = [[[Fraction(big, 3), 3]]], [[[1, Fraction(-2, 5), 2**10]]]
    elif kind == "sympy":
        w2, w1 = [[[sympy.Integer(big), sympy.Rational(1, 3)]]], [[[1, -2, sympy.sqrt(2)]]]
    spec1, spec2 = conv_spec(1, 1, 3, 8), conv_spec(1, 1, 2, 6)
    c = compose(spec2, spec1, w2, w1)
    # one channel (see test_stride1_kernel_is_full_convolution_of_kernels): np.convolve
    expected = np.convolve(np.array(w2, dtype=object).ravel(), np.array(w1, dtype=object).ravel())
    assert [sympy.nsimplify(v) for v in c.weight.ravel()] == [sympy.sympify(v) for v in expected]
    assert not any(sympy.sympify(v).has(sympy.Float) for v in c.weight.ravel())


def test_torch_weights_promote_instead_of_truncating():
    """An int64 tensor after a float one: the kernel is float (torch's promotion), as
    torch's own stacked layers compute it."""
    spec1, spec2 = conv_spec(1, 1, 3, 8), conv_spec(1, 1, 2, 6)
    w1 = torch.tensor([[[1, 2, 3]]])
    w2 = torch.tensor([[[0.5, -1.5]]], dtype=torch.float64)
    c = compose(spec2, spec1, w2, w1)
    assert c.weight.dtype == torch.float64
    assert stacked_equals_one_layer(spec2, spec1, c, w2, w1.double())


NOT_EXACT = {
    "1d-same-same": (conv_spec(1, 1, 3, 7, padding="same"),) * 2,
    "2d-same-same-channels": pair(conv_spec(2, 3, 3, (5, 4), padding=1), (3, 3),
                                  {"padding": 1, "out": 2}),
    "1d-valid-then-same": pair(conv_spec(1, 1, 3, 8), (1, 3), {"padding": 1}),
    "1d-circular-after-zeros": pair(conv_spec(1, 1, 3, 7, padding=1), (1, 3),
                                    {"padding": 1, "padding_mode": "circular"}),
    "1d-reflect-reflect": pair(conv_spec(1, 1, 3, 7, padding=1, padding_mode="reflect"), (1, 3),
                               {"padding": 1, "padding_mode": "reflect"}),
    "1d-circular-after-valid": pair(conv_spec(1, 1, 3, 8), (1, 3),
                                    {"padding": 1, "padding_mode": "circular"}),
}


@pytest.mark.parametrize("specs", NOT_EXACT.values(), ids=NOT_EXACT.keys())
def test_not_one_layer_is_explained_and_torch_agrees(specs):
    spec2, spec1 = specs
    w2, w1 = weights(spec2, spec1, 1)
    with pytest.raises(ValueError, match="must be one layer .* boundary of axis"):
        compose(spec2, spec1, w2, w1)
    c = compose(spec2, spec1, w2, w1, strict=False)
    assert not c.exact and "boundary" in c.reason
    assert not stacked_equals_one_layer(spec2, spec1, c, w2, w1)


def random_spec_pairs(count):
    """Seeded random 1-D pairs over modes, paddings, strides, dilations."""
    rng = np.random.default_rng(283592436523456)
    modes = ["zeros", "circular", "reflect", "replicate"]
    out = []
    while len(out) < count:
        n = int(rng.integers(5, 12))
        specs = []
        for _ in range(2):
            k, s, d = (int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            pads = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
            try:
                specs.append(conv_spec(1, 1, k, n, stride=s, dilation=d, padding=(pads,),
                                       padding_mode=str(rng.choice(modes))))
            except ValueError:
                break
            n = specs[-1].output_size[0]
        if len(specs) == 2:
            out.append((specs[1], specs[0]))
    return out


@pytest.mark.slow  # ~15 s: the named EXACT / NOT_EXACT pairs run in the fast loop
def test_exact_flag_agrees_with_torch_on_random_pairs():
    """The index-table criterion is exactly right, both ways: compose says
    exact iff torch's stacked layers equal the one layer."""
    seen = {True: 0, False: 0}
    for number, (spec2, spec1) in enumerate(random_spec_pairs(150)):
        w2, w1 = weights(spec2, spec1, number)
        try:
            c = compose(spec2, spec1, w2, w1, strict=False)
        except ValueError as err:  # no candidate layer at all (torch's padding limits)
            assert "is not one layer" in str(err)
            continue
        assert stacked_equals_one_layer(spec2, spec1, c, w2, w1, number) == c.exact, (
            spec2, spec1, c)
        seen[c.exact] += 1
    assert seen[True] > 20 and seen[False] > 20


def test_errors():
    s1 = conv_spec(2, 3, 3, 8)
    with pytest.raises(ValueError, match="spec2.in_channels must equal spec1.out_channels, "
                                         "but got 2 and 3"):
        compose(conv_spec(2, 2, 3, 6), s1)
    with pytest.raises(ValueError, match=r"spec2.input_size must equal spec1.output_size, "
                                         r"but got \(7,\) and \(6,\)"):
        compose(conv_spec(3, 2, 3, 7), s1)
    with pytest.raises(ValueError, match="spec1.transposed must be False"):
        compose(conv_spec(3, 1, 3, 10), conv_spec(2, 3, 3, 8, transposed=True))
    with pytest.raises(ValueError, match="spec2.bias must be False"):
        compose(conv_spec(3, 1, 3, 6, bias=True), s1)
    with pytest.raises(ValueError, match=r"weight1 must have shape \(3, 2, 3\), but got \(3,\)"):
        compose(conv_spec(3, 1, 3, 6), s1, torch.ones(1, 3, 3), torch.ones(3))
    with pytest.raises(ValueError, match="spec1 must be a ConvSpec"):
        compose(s1, "conv")
    with pytest.raises(ValueError, match="strict must be True or False"):
        compose(conv_spec(3, 1, 3, 6), s1, strict="yes")
