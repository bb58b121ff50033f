"""Timing of the pictures: sparsity of any size, labelled sharing plots, GIFs.

Prints one markdown table (median wall time over repeats, and ratios):

* ``plot_sparsity`` of a 512 -> 512, 3x3 layer at 224 x 224 (a 25.7M x 25.7M
  matrix, 1.2e11 nonzeros): seconds and the peak of Python-traced memory
  (``tracemalloc``; numpy reports its buffers to it);
* the binned nonzero counts of a 16 -> 16, 3x3 layer at 32 x 32 from the
  per-level prefix counts (:func:`symtoe.present.plot.nonzero_counts`) vs
  binning the full pattern's indices (the former ``plot_sparsity``);
* ``plot_sharing`` of the 2-D reflect layer (16 x 16, folded sums in the cells);
* the 2-D seed's window animation (9 frames) as a GIF: ``to_gif`` (still
  parts drawn once, moving artists blitted) vs matplotlib's
  ``anim.save(..., writer="pillow")`` (two full redraws per frame).

Run ``python benchmarks/bench_present.py [--quick]``; timings on a shared
machine are noisy, rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from symtoe import ConvSpec, SharingPattern  # noqa: E402
from symtoe.present.animate import animate, to_gif  # noqa: E402
from symtoe.present.plot import _edges, nonzero_counts, plot_sharing, plot_sparsity  # noqa: E402


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        plt.close("all")
    return statistics.median(times)


def _pattern_bins(spec: ConvSpec, bins: int) -> np.ndarray:
    """The former way: every nonzero's (row, col) from the full pattern, binned."""
    pattern = SharingPattern(spec)  # uncached: the cost of building it
    n_rows, n_cols = spec.matrix_shape
    re = _edges(n_rows, int(np.prod(spec.output_size)), bins)
    ce = _edges(n_cols, int(np.prod(spec.input_size)), bins)
    r = np.searchsorted(re, pattern.row_indices().ravel(), "right") - 1
    c = np.searchsorted(ce, pattern.col_indices().ravel(), "right") - 1
    counts = np.bincount(r * (len(ce) - 1) + c, minlength=(len(re) - 1) * (len(ce) - 1))
    return counts.reshape(len(re) - 1, len(ce) - 1)


def run(quick: bool) -> list[tuple[str, str, str]]:
    repeats = 1 if quick else 3
    rows = []

    imagenet = ConvSpec(512, 512, 3, input_size=(224, 224), padding=1)
    seconds = _median(lambda: plot_sparsity(imagenet), repeats)
    tracemalloc.start()
    plot_sparsity(imagenet)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    plt.close("all")
    rows.append(("plot_sparsity 512->512 3x3 @224 (1.2e11 nonzeros)",
                 f"{seconds:.2f} s", f"peak traced {peak / 1e6:.0f} MB"))

    mid = ConvSpec(16, 16, 3, input_size=(16, 16) if quick else (32, 32), padding=1)
    n_rows, n_cols = mid.matrix_shape
    re = _edges(n_rows, int(np.prod(mid.output_size)), 400)
    ce = _edges(n_cols, int(np.prod(mid.input_size)), 400)
    closed = _median(lambda: nonzero_counts(mid, re, ce), repeats)
    full = _median(lambda: _pattern_bins(mid, 400), repeats)
    assert np.array_equal(nonzero_counts(mid, re, ce), _pattern_bins(mid, 400))
    rows.append((f"binned nonzeros 16->16 3x3 @{mid.input_size[0]} "
                 f"({n_rows:,} x {n_cols:,}): prefix counts vs full pattern",
                 f"{closed * 1e3:.1f} ms vs {full * 1e3:.1f} ms", f"{full / closed:.1f}x"))

    reflect = ConvSpec(1, 1, 3, input_size=(4, 4), padding=1, padding_mode="reflect")
    rows.append(("plot_sharing 2-D reflect 16 x 16, labelled",
                 f"{_median(lambda: plot_sharing(reflect), repeats):.2f} s", ""))

    seed = ConvSpec(1, 1, 3, input_size=(5, 5))
    blitted = _median(lambda: to_gif(animate(seed), dpi=80), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        def pillow():
            anim = animate(seed)
            anim._fig.set_dpi(80)
            anim.save(Path(tmp) / "seed.gif", writer="pillow", dpi=80)

        mpl = _median(pillow, repeats)
    rows.append(("2-D seed window, 9-frame GIF: to_gif vs anim.save(writer='pillow')",
                 f"{blitted:.2f} s vs {mpl:.2f} s", f"{mpl / blitted:.1f}x"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, a smaller mid layer")
    args = parser.parse_args(argv)
    print("| picture | time | note |")
    print("|---|---|---|")
    for row in run(args.quick):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
