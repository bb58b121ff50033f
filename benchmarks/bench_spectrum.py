"""Timing: singular values by FFT (Sedghi, Gupta & Long) vs dense SVD.

The layer is circular, 16 -> 16 channels, 3x3 kernel, padding 1, so its matrix
is block circulant and both methods give the same ``min(rows, cols)`` values.
``run(quick)`` returns one row per (case, method) with the median wall time
over repeats and the dense / fft ratio; ``benchmarks/run.py`` prints them.
The full case is 32x32 (a 16384 x 16384 float64 matrix, 2 GiB: its dense SVD
is O(N^3) and takes tens of minutes on two cores, so it runs once);
``quick=True`` uses 8x8 (1024 x 1024) instead.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from symtoe import ConvSpec
from symtoe.spectrum import singular_values


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(quick: bool) -> list[dict]:
    """Median seconds of ``singular_values(method="fft")`` and ``"dense"``."""
    size = 8 if quick else 32
    spec = ConvSpec(16, 16, 3, input_size=(size, size), padding=1, padding_mode="circular")
    weight = torch.randn(spec.weight_shape, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    case = f"16->16 3x3 circular {size}x{size} (matrix {spec.matrix_shape[0]}^2)"
    fft_s, fft_values = _median_time(
        lambda: singular_values(spec, weight, method="fft"), 5 if quick else 20
    )
    dense_s, dense_values = _median_time(
        lambda: singular_values(spec, weight, method="dense"), 3 if quick else 1
    )
    error = float(np.max(np.abs(fft_values - dense_values)))
    return [
        {"case": case, "method": "fft", "median_s": fft_s, "ratio": 1.0,
         "max_abs_diff": error},
        {"case": case, "method": "dense", "median_s": dense_s, "ratio": dense_s / fft_s,
         "max_abs_diff": error},
    ]


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
