"""Exact eigenvalues of a circulant layer: the DFT of its kernel, in sympy."""

from __future__ import annotations

import math

import numpy as np
import sympy

from ..core.limits import EIGENVALUE_TERMS, check_budget, sizes_of
from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec
from ..core.symbolic import as_sympy_array, weight_symbols
from ..core.validate import SymtoeError

__all__ = ["circulant_eigenvalues"]


def circulant_eigenvalues(spec: ConvSpec, weight=None) -> np.ndarray:
    """Exact eigenvalues of a circulant layer: the DFT of its kernel.

    For circular padding, stride 1, total padding ``d(k-1)`` per axis and one
    input and output channel, ``T v_f = lambda_f v_f`` with eigenvectors
    ``v_f[m] = prod_a omega_a^(f_a m_a)``, ``omega_a = exp(2 pi i / n_a)``,
    and

        lambda_f = sum over row 0's entries (0, c, p) of w[p] * prod_a omega_a^(f_a c_a),

    i.e. ``sum_j w[j] omega^(f (j d - p_left))`` in 1-D: for ``w = [a, b,
    c]`` with padding 1, ``lambda_f = a omega^-f + b + c omega^f``.  Returns
    an object array of shape ``input_size`` (index ``f``) of sympy numbers
    with exact roots of unity; ``numpy.fft.fft`` of the matrix's first
    column gives the same values numerically.

    >>> spec = ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="circular")
    >>> circulant_eigenvalues(spec).tolist()
    [w[0] + w[1] + w[2], -I*w[0] + w[1] + I*w[2], -w[0] + w[1] - w[2], I*w[0] + w[1] - I*w[2]]
    """
    check_spec(spec)
    if (
        spec.padding_mode != "circular"
        or spec.transposed
        or any(s != 1 for s in spec.stride)
        or spec.output_size != spec.input_size
    ):
        raise SymtoeError(
            "spec must be circulant (padding_mode='circular', stride 1, total padding "
            f"d(k-1) per axis), but got padding_mode={spec.padding_mode!r}, "
            f"stride={spec.stride}, output_size={spec.output_size} for "
            f"input_size={spec.input_size}"
        )
    if spec.in_channels != 1 or spec.out_channels != 1:
        raise SymtoeError(
            "spec must have one input and one output channel for scalar eigenvalues, "
            f"but got {spec.in_channels} -> {spec.out_channels}"
        )
    terms = math.prod(spec.input_size) * sizes_of(spec).spatial // math.prod(spec.output_size)
    check_budget(
        terms, EIGENVALUE_TERMS, f"the exact eigenvalues of {spec}", "sympy terms",
        "use numpy.fft.fftn of the kernel zero-padded to input_size (numbers), or "
        "symtoe.analysis.spectrum.singular_values",
    )
    w = weight_symbols(spec) if weight is None else as_sympy_array(
        weight, spec.weight_shape, "weight"
    )
    rows, cols, ps = sharing_pattern(spec).triples()
    first = rows == 0
    coords = np.unravel_index(cols[first], spec.input_size)  # per axis, row 0's columns
    weights = w.ravel()[ps[first]]
    freqs = np.indices(spec.input_size).reshape(spec.rank, -1)
    # exponent of each (frequency, entry) as a fraction of a full turn
    turns = sum(
        sympy.Rational(1, n) * ((f[:, None] * c[None, :]) % n).astype(object)
        for f, c, n in zip(freqs, coords, spec.input_size)
    )
    roots = np.vectorize(lambda q: sympy.exp(2 * sympy.pi * sympy.I * q), otypes=[object])(turns)
    values = (roots * weights[None, :]).sum(axis=1)
    out = np.empty(len(values), dtype=object)
    out[:] = [sympy.expand(v) for v in values]
    return out.reshape(spec.input_size)
