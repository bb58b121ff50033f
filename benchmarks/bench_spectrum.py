"""Timing: singular values by FFT (Sedghi, Gupta & Long) vs dense SVD.

The layer is circular, 16 -> 16 channels, 3x3 kernel, padding 1, so its matrix
is block circulant and both methods give the same ``min(rows, cols)`` values.
``run(quick)`` returns one row per (case, method) with the median wall time
over repeats and the dense / fft ratio; ``benchmarks/run.py`` prints them.
The issue's case is 32x32: a 16384 x 16384 float64 matrix whose dense SVD is
O(N^3) and takes about 40 minutes on two cores.  ``run(quick=False)`` times
the FFT at 16x16 and 32x32 and the dense SVD at 16x16, and gives the 32x32
dense time as the cubic extrapolation of the 16x16 one (marked "estimated");
``dense_32=True`` (``benchmarks/run.py --spectrum-dense-32``) times it for
real, once.  ``quick=True`` uses 8x8 (1024 x 1024) only.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from symtoe import ConvSpec
from symtoe.analysis.spectrum import singular_values


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _case(size: int, fft_repeats: int, dense_repeats: int) -> list[dict]:
    spec = ConvSpec(16, 16, 3, input_size=(size, size), padding=1, padding_mode="circular")
    weight = torch.randn(spec.weight_shape, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    case = f"16->16 3x3 circular {size}x{size} (matrix {spec.matrix_shape[0]}^2)"
    fft_s, fft_values = _median_time(
        lambda: singular_values(spec, weight, method="fft"), fft_repeats
    )
    rows = [{"case": case, "method": "fft", "median_s": fft_s, "ratio": 1.0}]
    if dense_repeats:
        dense_s, dense_values = _median_time(
            lambda: singular_values(spec, weight, method="dense"), dense_repeats
        )
        error = float(np.max(np.abs(fft_values - dense_values)))
        rows.append({"case": case, "method": "dense", "median_s": dense_s,
                     "ratio": dense_s / fft_s, "max_abs_diff": error})
    return rows


def run(quick: bool, dense_32: bool = False) -> list[dict]:
    """Median seconds of ``singular_values(method="fft")`` and ``"dense"``."""
    if quick:
        return _case(8, 5, 3)
    rows = _case(16, 20, 1) + _case(32, 20, 1 if dense_32 else 0)
    if not dense_32:
        dense_16, fft_32 = rows[1]["median_s"], rows[2]["median_s"]
        estimate = dense_16 * 4**3  # N = 4x as many rows: O(N^3)
        rows.append({"case": rows[2]["case"], "method": "dense (estimated, O(N^3) from 16x16)",
                     "median_s": estimate, "ratio": estimate / fft_32})
    return rows


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv, dense_32="--spectrum-dense-32" in sys.argv):
        print(row)
