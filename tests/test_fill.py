"""Fill plans (symtoe.core.fill): the strided-copy rebuild against torch, at every depth."""

import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import torch_forward
from test_matrices import specs

import symtoe.core.numeric as numeric
from symtoe import ConvSpec, numeric_matrix, sharing_pattern
from symtoe.core.fill import fill_plan


@pytest.fixture
def force_depth(monkeypatch):
    """Make numeric_matrix follow the fill plan of a given depth (fresh caches)."""

    def force(depth):
        monkeypatch.setattr(numeric, "fill_plan", functools.partial(fill_plan, depth=depth))
        numeric._lowering.cache_clear()

    yield force
    numeric._lowering.cache_clear()


def rebuilds_match_torch(spec, seed, layouts=("csr", "dense"), batch=()):
    """Build three times (the first gathers, the later ones follow the plan),
    each with a new weight, and compare every build with torch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, spec.in_channels, *spec.input_size, generator=g, dtype=torch.float64)
    for layout in layouts:
        for _ in range(3):
            w = torch.randn(*batch, *spec.weight_shape, generator=g, dtype=torch.float64)
            T = numeric_matrix(spec, w, layout=layout)
            for b in np.ndindex(*batch):
                expected = torch_forward(spec, x, w[b]).reshape(2, -1)
                got = ((T[b] if b else T) @ x.reshape(2, -1).T).T
                torch.testing.assert_close(got, expected, rtol=0, atol=1e-10,
                                           msg=f"{layout}, batch index {b}: {spec}")


# Sides up to 9 so that strided and transposed layers have periodic middles.
@pytest.mark.slow  # ~15 s: the named geometries below check every depth in the fast loop
@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(spec=specs(largest=9), seed=st.integers(0, 2**31), data=st.data())
def test_every_depth_equals_torch(force_depth, spec, seed, data):
    depth = data.draw(st.integers(0, spec.rank), label="depth")
    force_depth(depth)
    rebuilds_match_torch(spec, seed)


GEOMETRIES = {
    "3-16-32x32-p1": dict(in_channels=3, out_channels=16, kernel_size=3, input_size=(12, 12), padding=1),
    "k5-p2-s2": dict(in_channels=2, out_channels=3, kernel_size=5, input_size=(13, 11), stride=2, padding=2),
    "transposed-s3-d2": dict(in_channels=2, out_channels=4, kernel_size=3, input_size=(7, 6), stride=3,
                             dilation=2, padding=1, transposed=True, output_padding=1),
    "reflect-3d": dict(in_channels=2, out_channels=2, kernel_size=3, input_size=(6, 7, 5), padding=2,
                       padding_mode="reflect"),
    "circular-groups": dict(in_channels=4, out_channels=6, kernel_size=(3, 4), input_size=(9, 8),
                            padding=(1, 2), padding_mode="circular", groups=2),
    "replicate-flip-dil": dict(in_channels=1, out_channels=2, kernel_size=3, input_size=(10, 9),
                               padding=2, dilation=2, padding_mode="replicate", flip=True),
    "1d-valid": dict(in_channels=1, out_channels=1, kernel_size=5, input_size=(40,)),
}


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_geometries_every_depth_and_batch(force_depth, name, depth):
    spec = ConvSpec(**GEOMETRIES[name])
    if depth > spec.rank:
        pytest.skip("no such depth")
    force_depth(depth)
    rebuilds_match_torch(spec, seed=depth, layouts=("csr", "coo", "dense"))
    numeric._lowering.cache_clear()
    rebuilds_match_torch(spec, seed=depth + 10, layouts=("csr",), batch=(2, 3))


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_each_value_is_written_once(name):
    """Structural check of every depth: the copies tile the template exactly."""
    pattern = sharing_pattern(ConvSpec(**GEOMETRIES[name]))
    length = pattern.template_length
    for depth in range(pattern.spec.rank + 1):
        plan = fill_plan(pattern, depth)
        written = np.zeros(length, dtype=np.int64)
        read = np.zeros(length, dtype=np.int64)
        positions = np.arange(length)
        for dst, shape, dst_strides, src, src_strides in plan.copies:
            view = np.lib.stride_tricks.as_strided(
                positions[dst:], shape, [8 * s for s in dst_strides], writeable=False)
            np.add.at(written, view.ravel(), 1)
            leaf = np.lib.stride_tricks.as_strided(
                np.arange(plan.leaf_weight.shape[1])[src:], shape,
                [8 * s for s in src_strides], writeable=False)
            # the leaf a position reads carries that position's taps
            np.testing.assert_array_equal(
                plan.leaf_weight[:, leaf.ravel()], pattern.template_weight[:, view.ravel()])
            read[view.ravel()] += 1
        np.testing.assert_array_equal(written, 1, err_msg=f"depth {depth}")


def test_benchmark_layers_choose_few_copies():
    """The cost model's choices on two benchmark layers (see benchmarks/README.md)."""
    d = fill_plan(sharing_pattern(ConvSpec(3, 16, 3, input_size=(32, 32), padding=1)))
    e = fill_plan(sharing_pattern(ConvSpec(16, 16, 3, input_size=(32, 32), padding=1)))
    assert (d.depth, len(d.copies)) == (1, 2)
    assert (e.depth, len(e.copies)) == (2, 4)
    assert e.leaf_weight.shape[1] == 784  # the nine kinds of rows: 4*64 + 4*96 + 144


def test_complex_and_integer_rebuilds_match_torch():
    spec = ConvSpec(2, 3, 3, input_size=(10, 10), padding=1)
    numeric._lowering.cache_clear()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 10, 10, generator=g, dtype=torch.complex128)
    for _ in range(3):
        w = torch.randn(spec.weight_shape, generator=g, dtype=torch.complex128)
        got = numeric_matrix(spec, w, layout="csr") @ x.reshape(-1)
        torch.testing.assert_close(got, torch_forward(spec, x, w).reshape(-1))
    xi = torch.randint(-5, 5, (1, 2, 10, 10), generator=g)
    for _ in range(3):
        wi = torch.randint(-5, 5, spec.weight_shape, generator=g)
        got = numeric_matrix(spec, wi) @ xi.reshape(-1)
        assert torch.equal(got, torch_forward(spec, xi.double(), wi.double()).reshape(-1).long())


def test_depth_out_of_range():
    pattern = sharing_pattern(ConvSpec(1, 1, 3, input_size=(8, 8)))
    with pytest.raises(ValueError, match=r"depth must be between 0 and 2, but got 3"):
        fill_plan(pattern, 3)
