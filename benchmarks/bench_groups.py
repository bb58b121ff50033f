"""Timing: exact group sharing (issue 15).

* kernel spaces: the orbit basis (cold, cache cleared) and the closed-form
  dimension, for the largest spaces the tests use;
* certificates: ``check_rotation`` on the integer pattern of a p4 / p4m layer
  (cold: the sharing pattern built too) against the brute force it replaces
  (the layer applied to every rotated one-hot input with torch, one field
  pair), with the ratio;
* torch lowering: ``tied_kernel(spec, w)`` (the basis expansion, once per
  weight update) against the ``F.conv2d`` it feeds.

Run ``python benchmarks/bench_groups.py [--quick]``; it prints one row per
case (median seconds over repeats).  Timings on a shared machine are noisy:
rerun on a quiet one for figures to quote.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from symtoe import GroupConvSpec, check_rotation, kernel_space_dimension, tied_kernel
from symtoe.analysis import groups
from symtoe.core.pattern import sharing_pattern


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cold_orbits(group, k, rep):
    groups._orbits.cache_clear()
    return groups.kernel_orbits(group, k, rep, rep)


def _cold_check(spec):
    sharing_pattern.cache_clear()
    return check_rotation(spec)


def _probe(spec: GroupConvSpec, weight) -> torch.Tensor:
    """Brute force: T R e_j - R T e_j for every one-hot input e_j (one field pair)."""
    c, n = spec.conv.in_channels, spec.input_size[0]
    eye = torch.eye(c * n * n, dtype=torch.float64).reshape(-1, c, n, n)
    kernel = tied_kernel(spec, weight)
    pad = spec.conv.padding[0][0]
    turned_in = torch.roll(torch.rot90(eye, 1, (-2, -1)).reshape(-1, c // 4, 4, n, n), 1, 2)
    lhs = F.conv2d(turned_in.reshape(eye.shape), kernel, padding=pad)
    out = F.conv2d(eye, kernel, padding=pad)
    rhs = torch.roll(torch.rot90(out, 1, (-2, -1)).reshape(len(eye), -1, 4, *out.shape[-2:]), 1, 2)
    return (lhs - rhs.reshape(lhs.shape)).abs().amax(dim=(0, 1))


def run(quick: bool) -> list[dict]:
    repeats = 3 if quick else 7
    rows = []
    for group, k, rep in [("D4", 7, "regular"), ("O", 3 if quick else 5, "regular")]:
        seconds = _median(lambda g=group, k=k, r=rep: _cold_orbits(g, k, r), repeats)
        dim = kernel_space_dimension(group, k, rep, rep)
        case = f"orbit basis {group} {rep} k={k} (dim {dim}), cold"
        rows.append({"case": case, "median_s": seconds})
        seconds = _median(lambda g=group, k=k, r=rep: kernel_space_dimension(g, k, r, r), repeats)
        rows.append({"case": f"closed-form dimension {group} k={k}", "median_s": seconds})

    n = 16 if quick else 32
    spec = GroupConvSpec("C4", "regular", "regular", 1, 1, 3, input_size=n, padding=1)
    weight = torch.randn(spec.weight_shape, dtype=torch.float64)
    cert = _median(lambda: _cold_check(spec), repeats)
    brute = _median(lambda: _probe(spec, weight), max(1, repeats // 2))
    assert bool((_probe(spec, weight) < 1e-9).all()) == check_rotation(spec).holds
    case = f"p4 regular->regular 3x3 at {n}x{n}"
    rows.append({"case": f"check_rotation {case} (cold)", "median_s": cert, "ratio": 1.0})
    rows.append({"case": f"torch brute force {case}", "median_s": brute, "ratio": brute / cert})

    big = GroupConvSpec("D4", "regular", "regular", 8, 8, 3, input_size=32, padding=1)
    w = torch.randn(big.weight_shape)
    x = torch.randn(8, big.conv.in_channels, 32, 32)
    expand = _median(lambda: tied_kernel(big, w), repeats)
    conv = _median(lambda: F.conv2d(x, tied_kernel(big, w), padding=1), repeats)
    rows.append({"case": "tied_kernel p4m 8->8 fields 3x3 (float32)", "median_s": expand})
    rows.append({"case": "tied_kernel + F.conv2d, batch 8 at 32x32", "median_s": conv,
                 "ratio": conv / expand})
    check = _median(lambda: _cold_check(big), repeats)
    rows.append({"case": "check_rotation p4m 8->8 fields at 32x32 (cold)", "median_s": check})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        ratio = f"  ratio {row['ratio']:.1f}" if "ratio" in row else ""
        print(f"{row['case']:52} {row['median_s'] * 1e3:10.2f} ms{ratio}")
