"""Shift and reflection operators against torch.roll, slicing and torch.flip."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from symtoe.analysis.shifts import (
    apply_reflection,
    apply_shift,
    reflection_indices,
    reflection_matrix,
    shift_indices,
    shift_matrix,
)


def sliced_shift(x: torch.Tensor, shift, mode: str) -> torch.Tensor:
    """Reference shift of the trailing axes: torch.roll, or zero fill by slicing."""
    dims = tuple(range(x.ndim - len(shift), x.ndim))
    if mode == "cyclic":
        return torch.roll(x, shifts=tuple(shift), dims=dims)
    out = torch.zeros_like(x)
    src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    for dim, t in zip(dims, shift):
        n = x.shape[dim]
        if t >= 0:
            dst[dim], src[dim] = slice(min(t, n), n), slice(0, max(n - t, 0))
        else:
            dst[dim], src[dim] = slice(0, max(n + t, 0)), slice(min(-t, n), n)
    out[tuple(dst)] = x[tuple(src)]
    return out


GRIDS = [
    pytest.param((7,), 1, id="1d"),
    pytest.param((4, 5), 3, id="2d-3ch"),
    pytest.param((3, 2, 4), 2, id="3d-2ch"),
]
SHIFTS = {
    1: [(0,), (1,), (-2,), (6,), (-9,)],
    2: [(1, 0), (0, -1), (-2, 3), (4, -5)],
    3: [(1, 0, -1), (0, 2, 3), (-3, -1, 0)],
}


@pytest.mark.parametrize("mode", ["zero", "cyclic"])
@pytest.mark.parametrize("size, channels", GRIDS)
def test_index_map_and_matrices_match_torch(size, channels, mode):
    rng = np.random.default_rng(20240611)
    x = torch.as_tensor(rng.standard_normal((channels, *size)))
    for shift in SHIFTS[len(size)]:
        expected = sliced_shift(x, shift, mode)
        src = shift_indices(size, shift, mode, channels)
        flat = x.flatten()
        got = torch.where(torch.as_tensor(src) >= 0, flat[torch.as_tensor(src).clamp(min=0)], 0.0)
        torch.testing.assert_close(got, expected.flatten(), rtol=0, atol=0)
        dense = shift_matrix(size, shift, mode, channels, backend="torch").double()
        torch.testing.assert_close(dense @ flat, expected.flatten(), rtol=0, atol=0)
        torch.testing.assert_close(apply_shift(x, shift, mode), expected, rtol=0, atol=0)
        np.testing.assert_array_equal(apply_shift(x.numpy(), shift, mode), expected.numpy())


@pytest.mark.parametrize("mode", ["zero", "cyclic"])
def test_sympy_shift_matrix_is_exact(mode):
    x = sympy.Matrix(sympy.symbols("x0:6"))
    got = shift_matrix((2, 3), (0, -1), mode) * x
    # by hand: rows of the 2x3 grid shift left by one column
    last = [0, 0] if mode == "zero" else [x[3], x[0]]
    expected = sympy.Matrix([x[1], x[2], last[1], x[4], x[5], last[0]])
    assert got == expected
    assert shift_matrix(3, 1, mode).is_square


@pytest.mark.parametrize("size, channels", GRIDS)
def test_reflection_matches_torch_flip(size, channels):
    rng = np.random.default_rng(7)
    x = torch.as_tensor(rng.standard_normal((channels, *size)))
    rank = len(size)
    for axes in [None, (0,), (rank - 1,), tuple(range(rank))]:
        dims = tuple(1 + a for a in (range(rank) if axes is None else axes))
        expected = x.flip(dims)
        src = reflection_indices(size, axes, channels)
        torch.testing.assert_close(x.flatten()[torch.as_tensor(src)], expected.flatten())
        mat = reflection_matrix(size, axes, channels, backend="numpy")
        np.testing.assert_array_equal(mat @ x.flatten().numpy(), expected.flatten().numpy())
        torch.testing.assert_close(apply_reflection(x[None], axes), expected[None])


def test_shift_and_its_inverse_cancel_cyclic_only():
    s = shift_matrix((3, 3), (1, -2), "cyclic")
    s_inv = shift_matrix((3, 3), (-1, 2), "cyclic")
    assert s * s_inv == sympy.eye(9)
    z = shift_matrix((3, 3), (1, 0)) * shift_matrix((3, 3), (-1, 0))
    assert z != sympy.eye(9) and z.rank() == 6  # the zero fill loses one row of 3


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(lambda: shift_indices((4, 4), (1, 2, 3)), r"shift must have one value per axis \(2\), but got \(1, 2, 3\)", id="shift-length"),
        pytest.param(lambda: shift_indices((4, 4), 1), r"shift must have one value per axis \(2\), but got \(1,\)", id="bare-int-2d"),
        pytest.param(lambda: shift_indices(4, (1.5,)), r"shift must be an integer or a tuple of integers, but got \(1.5,\)", id="float-shift"),
        pytest.param(lambda: shift_indices(4, (1,), "zeros"), r"mode must be one of \('zero', 'cyclic'\), but got 'zeros'", id="mode"),
        pytest.param(lambda: shift_indices((0, 3), (1, 1)), r"size must be a positive integer or a tuple of them, but got \(0, 3\)", id="size"),
        pytest.param(lambda: shift_indices(4, (1,), channels=0), r"channels must be a positive integer, but got 0", id="channels"),
        pytest.param(lambda: reflection_indices((3, 3), axes=(2,)), r"axes must be spatial axes in range\(-2, 2\), but got \(2,\)", id="axes"),
        pytest.param(lambda: shift_matrix(3, 1, backend="scipy"), r"backend must be one of", id="backend"),
        pytest.param(lambda: apply_shift(np.zeros(3), (1, 1)), r"x must have at least 2 dimensions", id="x-rank"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
