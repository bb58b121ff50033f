"""Benchmarks of symtoe against the usual ways of getting a layer's matrix.

Run ``python benchmarks/run.py`` (a few minutes) or ``--quick`` (under a
minute).  Every figure is a median over repeated runs after one warm-up run;
every ratio compares figures measured in the same run.  Peak memory is read
in a fresh child process (``ru_maxrss`` after the build minus ``ru_maxrss``
after imports and weight creation), because torch's allocations are invisible
to ``tracemalloc``.

The memory-write bound of a result is its bytes divided by the bandwidth of
``torch.empty(n).fill_(1)`` on fresh memory (page faults included, as a real
build pays them), measured at the start of the run.

Options: ``--quick``, ``--cases A,D`` (a subset), ``--json PATH`` (dump the
rows), ``--no-peak`` (skip the child processes), ``--profile CASE:LAYOUT``
(cProfile one cold build and exit).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import math
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import symtoe.core.limits as limits  # noqa: E402
import symtoe.core.numeric as numeric  # noqa: E402
import symtoe.core.pattern as pattern  # noqa: E402
from symtoe import ConvSpec, count_parameters, sharing_pattern, symbolic_matrix  # noqa: E402
from symtoe.analysis.equivariance import check_shift  # noqa: E402
from symtoe.core.lazy import lazy_symbolic_matrix  # noqa: E402
from symtoe.core.numeric import numeric_matrix  # noqa: E402
from symtoe.core.validate import SizeLimitError  # noqa: E402

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

DTYPE = torch.float32
SEED = 20240605

#: name -> (ConvSpec arguments, description)
CASES = {
    "A": (dict(in_channels=1, out_channels=1, kernel_size=3, input_size=(5, 5)), "1->1 5x5 k3 p0"),
    "B": (
        dict(in_channels=3, out_channels=16, kernel_size=2, input_size=(3, 3), stride=2,
             padding=1),
        "3->16 3x3 k2 s2 p1",
    ),
    "C": (dict(in_channels=1, out_channels=1, kernel_size=3, input_size=(28, 28), padding=1),
          "1->1 28x28"),
    "D": (dict(in_channels=3, out_channels=16, kernel_size=3, input_size=(32, 32), padding=1),
          "3->16 32x32"),
    "E": (dict(in_channels=16, out_channels=16, kernel_size=3, input_size=(32, 32), padding=1),
          "16->16 32x32"),
    "F": (dict(in_channels=64, out_channels=64, kernel_size=3, input_size=(32, 32), padding=1),
          "64->64 32x32"),
    "1-D": (dict(in_channels=1, out_channels=1, kernel_size=5, input_size=(1000,), padding=1),
            "1->1 N=1000 k5"),
    "G": (dict(in_channels=1, out_channels=1, kernel_size=3, input_size=(64, 64), padding=1),
          "1->1 64x64"),
}
IMAGENET = dict(in_channels=512, out_channels=512, kernel_size=3, input_size=(224, 224),
                padding=1)
#: layers nobody can build: counted, refused and read in corners from closed forms
HUGE = {
    "1e9": ConvSpec(1, 1, 3, input_size=10**9, padding=1, padding_mode="reflect"),
    "4096^2": ConvSpec(512, 512, 3, input_size=(4096, 4096), padding=1),
}
HUGE_DESC = {"1e9": "1->1 N=10^9 k3 reflect", "4096^2": "512->512 4096x4096"}
SHIFT = dict(in_channels=64, out_channels=64, kernel_size=3, input_size=(32, 32), padding=1)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class Settings:
    def __init__(self, quick: bool):
        self.quick = quick
        self.min_repeats = 3 if quick else 5
        self.max_repeats = 5 if quick else 21
        self.budget_s = 0.3 if quick else 1.5  # per method, after the minimum repeats
        # one-hot probing / jacobians build a dense matrix (and a dense basis)
        self.dense_baseline_bytes = (48 if quick else 1200) * 2**20
        self.loop_max_s = 0.5 if quick else 30.0
        self.dense_max_bytes = 256 * 2**20 if quick else 2**62  # and 1/4 of free memory
        self.symbolic_max_nnz = 40_000 if quick else 500_000
        self.peak_cases = ("D",) if quick else ("D", "E", "F", "G")


# --------------------------------------------------------------------------- timing
def median_time(fn, settings, setup=None, repeats=None, warmup=True):
    """Median wall time of ``fn()`` after one warm-up; ``setup()`` runs untimed first.

    Repeats stop after ``settings.max_repeats``, or after the minimum once the
    time budget is spent; calls that take seconds are repeated less (one
    timed call when the warm-up took over 2 s, three over 0.3 s).
    """
    times = []
    if warmup:
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        if repeats is None and first > 2.0:
            repeats = 1
        elif repeats is None and first > 0.3:
            repeats = min(3, settings.min_repeats)
    start = time.perf_counter()
    while True:
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        n = len(times)
        if repeats is not None:
            if n >= repeats:
                break
            continue
        if n >= settings.max_repeats:
            break
        if n >= settings.min_repeats and time.perf_counter() - start > settings.budget_s:
            break
    return statistics.median(times), len(times)


def clear_caches():
    pattern.sharing_pattern.cache_clear()
    pattern.axis_pattern.cache_clear()
    numeric._lowering.cache_clear()


def write_bandwidth(settings) -> float:
    """Bytes per second of ``torch.empty(n).fill_(1)`` on fresh memory."""
    n = 2**25 if settings.quick else 2**26  # 128 / 256 MiB of float32
    t, _ = median_time(lambda: torch.empty(n, dtype=DTYPE).fill_(1.0), settings)
    return n * 4 / t


def warm_bandwidth(settings) -> float:
    """Bytes per second of ``fill_`` into memory already touched (context only)."""
    n = 2**25 if settings.quick else 2**26
    buffer = torch.empty(n, dtype=DTYPE).fill_(0.0)
    t, _ = median_time(lambda: buffer.fill_(1.0), settings)
    return n * 4 / t


def fill_time(numel: int, settings) -> float:
    """Median time to allocate and fill ``numel`` floats (fresh memory)."""
    return median_time(lambda: torch.empty(numel, dtype=DTYPE).fill_(1.0), settings)[0]


# ----------------------------------------------------------------------- baselines
def make_weight(spec: ConvSpec, seed: int = SEED) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=gen, dtype=DTYPE)


def loop_matrix(spec: ConvSpec, weight: torch.Tensor):
    """The per-entry Python loop of the seed notebooks (zero padding, groups 1)."""
    rows, cols = spec.matrix_shape
    out = torch.zeros(rows, cols, dtype=weight.dtype)
    w = weight.tolist()
    o_size, n_size = spec.output_size, spec.input_size
    r_total, n_total = math.prod(o_size), math.prod(n_size)
    for o in range(spec.out_channels):
        for i_flat, i in enumerate(itertools.product(*(range(n) for n in o_size))):
            r = o * r_total + i_flat
            for c in range(spec.in_channels):
                for tap in itertools.product(*(range(k) for k in spec.kernel_size)):
                    col = c * n_total
                    ok = True
                    for a in range(spec.rank):
                        m = i[a] * spec.stride[a] - spec.padding[a][0] + tap[a] * spec.dilation[a]
                        if not 0 <= m < n_size[a]:
                            ok = False
                            break
                        col += m * math.prod(n_size[a + 1:])
                    if ok:
                        value = w[o][c]
                        for t in tap:
                            value = value[t]
                        out[r, col] += value
    return out


def conv(spec: ConvSpec, x, weight):
    return CONV[spec.rank](x, weight, stride=spec.stride,
                           padding=tuple(p for p, _ in spec.padding), dilation=spec.dilation,
                           groups=spec.groups)


def probe(spec: ConvSpec, weight):
    """One-hot probing: the layer applied to every basis vector."""
    rows, cols = spec.matrix_shape
    eye = torch.eye(cols, dtype=weight.dtype).reshape(cols, spec.in_channels, *spec.input_size)
    return conv(spec, eye, weight).reshape(cols, rows).T


def jacobian(spec: ConvSpec, weight, mode: str):
    cols = spec.matrix_shape[1]
    f = lambda x: conv(spec, x.reshape(1, spec.in_channels, *spec.input_size), weight).reshape(-1)
    jac = torch.func.jacrev if mode == "jacrev" else torch.func.jacfwd
    return jac(f)(torch.zeros(cols, dtype=weight.dtype))


def build(spec, weight, method):
    """One build by ``method`` (used by the timings and the peak-memory child)."""
    if method in ("dense", "coo", "csr"):
        return numeric_matrix(spec, weight, layout=method)
    if method == "probe":
        return probe(spec, weight)
    if method in ("jacrev", "jacfwd"):
        return jacobian(spec, weight, method)
    raise ValueError(f"method must be a build method, but got {method!r}")


# -------------------------------------------------------------------- peak memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def peak_child(case: str, method: str) -> None:
    """Child process: print the extra peak RSS (bytes) of one cold build.

    The baseline is the resident set after imports and weight creation.  The
    high-water mark is reset (``/proc/self/clear_refs``) first where Linux
    allows it: ``ru_maxrss`` alone also carries the peak of whatever the
    process was forked or exec'd from, and the import spike.
    """
    spec = ConvSpec(**CASES[case][0])
    weight = make_weight(spec)
    tiny = ConvSpec(1, 1, 3, input_size=(4, 4))
    build(tiny, make_weight(tiny), method)  # one-time costs of first calls, not the build's
    try:
        base = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        high = lambda: _status_kib("VmHWM")  # noqa: E731
        how = "VmHWM"
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        high = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
        how = "ru_maxrss"
    result = build(spec, weight, method)
    peak = high()
    print(json.dumps({"peak_bytes": (peak - base) * 1024, "how": how, "ok": result is not None}))


def peak_memory(case: str, method: str) -> int | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case, method],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]


# --------------------------------------------------------------------------- runs
def result_bytes(spec: ConvSpec, layout: str) -> int:
    rows, cols = spec.matrix_shape
    nnz = count_parameters(spec).nonzeros
    item = torch.empty((), dtype=DTYPE).element_size()
    if layout == "dense":
        return rows * cols * item
    if layout == "coo":
        return nnz * (item + 16)
    index = 4 if nnz < 2**31 and cols < 2**31 else 8
    return nnz * (item + index) + (rows + 1) * index


def run_case(name, settings, bandwidth, rows_out):
    kwargs, desc = CASES[name]
    spec = ConvSpec(**kwargs)
    counts = count_parameters(spec)
    nnz, (n_rows, n_cols) = counts.nonzeros, spec.matrix_shape
    weights = [make_weight(spec, SEED + k) for k in range(4)]
    cycle = itertools.cycle(weights)
    dense_bytes = n_rows * n_cols * 4
    dense_limit = min(settings.dense_max_bytes,
                      limits.available_memory() / 4)

    def add(method, t, n=None, bound=None, note="", peak=None, ref=None):
        print(f"  {name} {method}: {fmt_s(t)} {note}", file=sys.stderr, flush=True)
        rows_out.append(dict(case=name, desc=desc, method=method, median_s=t, n=n, bound_s=bound,
                             x_bound=(t / bound if (t is not None and bound) else None),
                             ref=ref, peak_bytes=peak, note=note))

    # symtoe builds, cold (every cache cleared before each call)
    csr_t = None
    for layout in ("csr", "coo", "dense"):
        if layout == "dense" and dense_bytes > dense_limit:
            add(layout + " cold", None, note=f"skipped: dense is {dense_bytes / 2**30:.2g} GiB")
            continue
        t, n = median_time(lambda layout=layout: numeric_matrix(spec, weights[0], layout=layout),
                           settings, setup=clear_caches)
        bound = result_bytes(spec, layout) / bandwidth
        add(layout + " cold", t, n, bound)
        if layout == "csr":
            csr_t = t
        if layout == "dense":
            fill = fill_time(n_rows * n_cols, settings)
            add("dense alloc+fill", fill, ref="dense cold / this")

    # time splits of the cold CSR build
    t, n = median_time(lambda: sharing_pattern(spec), settings, setup=clear_caches)
    add("csr split: pattern", t, n)

    def only_indices():
        numeric._lowering.cache_clear()

    t, n = median_time(lambda: numeric._lowering(spec, torch.device("cpu"), False, "csr"),
                       settings, setup=only_indices)
    add("csr split: indices", t, n)

    # rebuild with the pattern cached: new weights only
    numeric_matrix(spec, weights[0], layout="csr")
    values_t = fill_time(nnz, settings)
    add("values alloc+fill", values_t)
    for layout in ("csr", "dense"):
        if layout == "dense" and dense_bytes > dense_limit:
            continue
        numeric_matrix(spec, weights[0], layout=layout)
        t, n = median_time(lambda layout=layout: numeric_matrix(spec, next(cycle), layout=layout),
                           settings)
        add(f"{layout} rebuild", t, n, result_bytes(spec, layout) / bandwidth,
            ref="rebuild / values" if layout == "csr" else None)

    # baselines
    macs = counts.macs
    per_mac = settings.loop_per_mac
    estimate = macs * per_mac if per_mac else 0.0
    if estimate > settings.loop_max_s or dense_bytes > settings.dense_baseline_bytes * 4:
        add("python loop", None, note=f"skipped: ~{estimate:.0f} s estimated")
    else:
        t, n = median_time(lambda: loop_matrix(spec, weights[0]), settings,
                           repeats=1 if estimate > 1 else None, warmup=estimate <= 1)
        settings.loop_per_mac = max(per_mac or 0.0, t / macs)
        add("python loop", t, n, ref="this / csr cold")
    for method in ("probe", "jacrev", "jacfwd"):
        if dense_bytes > settings.dense_baseline_bytes:
            need = 3 * dense_bytes / 2**30
            add(method, None, note=f"skipped: needs ~{need:.1f} GiB (dense + basis)")
            continue
        t, n = median_time(lambda method=method: build(spec, weights[0], method), settings)
        add(method, t, n, ref="this / csr cold")

    # symbolic
    if nnz <= settings.symbolic_max_nnz:
        t, n = median_time(lambda: symbolic_matrix(spec), settings)
        add("symbolic_matrix", t, n, note=f"{nnz} nonzeros")
    else:
        add("symbolic_matrix", None, note=f"skipped: {nnz} nonzeros")
    t, n = median_time(lambda: count_parameters(spec), settings)
    add("count_parameters", t, n)

    # applying the matrix: CSR @ X vs F.conv
    matrix = numeric_matrix(spec, weights[0], layout="csr")
    gen = torch.Generator().manual_seed(SEED)
    for batch in (1, 64):
        x = torch.randn(batch, spec.in_channels, *spec.input_size, generator=gen, dtype=DTYPE)
        xt = x.reshape(batch, -1).T.contiguous()
        t_mm, n = median_time(lambda xt=xt: matrix @ xt, settings)
        t_cv, _ = median_time(lambda x=x: conv(spec, x, weights[0]), settings)
        add(f"csr @ X (batch {batch})", t_mm, n, ref=f"this / F.conv ({t_cv * 1e3:.3g} ms)",
            note=f"F.conv {t_cv:.3g} s")
        rows_out[-1]["conv_s"] = t_cv

    # peak memory in child processes
    if name in settings.peak_cases and settings.peak:
        for method in ("csr", "dense", "probe", "jacfwd"):
            if method == "dense" and name == "F":
                continue
            if method in ("probe", "jacfwd") and dense_bytes > settings.dense_baseline_bytes:
                continue
            peak = peak_memory(name, method)
            for row in rows_out:
                if row["case"] == name and row["method"] in (method, method + " cold"):
                    row["peak_bytes"] = peak
    return csr_t


def traced_peak(fn) -> int:
    """Peak bytes ``tracemalloc`` sees during ``fn()`` (numpy's allocations
    are traced; these calls allocate nothing in torch)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(fn):
    """``fn`` that must refuse with a SizeLimitError (anything else is a bug)."""
    def call():
        try:
            fn()
        except SizeLimitError:
            return
        raise AssertionError("not refused")
    return call


def run_huge(settings, rows_out):
    """Counts, refusals and lazy corners of layers nobody can build: all from
    closed forms or single entries (a few ms, a few MB)."""
    for case, spec in HUGE.items():
        for method, (fn, setup) in _huge_calls(spec).items():
            t, n = median_time(fn, settings, setup=setup)
            if setup:
                setup()
            rows_out.append(dict(case=case, desc=HUGE_DESC[case], method=method, median_s=t, n=n,
                                 peak_bytes=traced_peak(fn), note="tracemalloc peak"))


def _huge_calls(spec):
    """name -> (call, setup) of the huge-layer rows."""
    weight = torch.zeros(1).expand(spec.weight_shape)  # a view: nothing allocated
    lazy = lazy_symbolic_matrix(spec)
    return {
        "count_parameters cold": (lambda: count_parameters(spec), limits._sizes.cache_clear),
        "count_parameters warm": (lambda: count_parameters(spec), None),
        "symbolic_matrix refused": (refused(lambda: symbolic_matrix(spec)), None),
        "numeric dense refused": (refused(lambda: numeric_matrix(spec, weight)), None),
        "numeric csr refused": (refused(lambda: numeric_matrix(spec, weight, layout="csr")), None),
        "sharing_pattern refused": (refused(lambda: sharing_pattern(spec)), None),
        "check_shift refused": (refused(lambda: check_shift(spec, (1,) * spec.rank)), None),
        "lazy T[:4, :6] corner": (lambda: lazy[:4, :6].as_explicit(), None),
        "lazy T[-1, -1] entry": (lambda: lazy[-1, -1], None),
    }


def run_extras(settings, rows_out):
    spec = ConvSpec(**IMAGENET)

    def cold():
        limits._sizes.cache_clear()

    t, n = median_time(lambda: count_parameters(spec), settings, setup=cold)
    rows_out.append(dict(case="ImageNet", desc="512->512 224x224", method="count_parameters cold",
                         median_s=t, n=n))
    t, n = median_time(lambda: count_parameters(spec), settings)
    rows_out.append(dict(case="ImageNet", desc="512->512 224x224", method="count_parameters warm",
                         median_s=t, n=n))
    spec = ConvSpec(**SHIFT)
    for mode in ("zero", "cyclic"):
        try:
            t, n = median_time(lambda mode=mode: check_shift(spec, (1, 1), mode=mode), settings)
            note = ""
        except Exception as exc:  # report, do not hide: the row says what failed
            t, n, note = None, None, f"failed: {type(exc).__name__}: {exc}"[:60]
        rows_out.append(dict(case="shift", desc="64->64 32x32", method=f"check_shift {mode}",
                             median_s=t, n=n, note=note))


# ------------------------------------------------------------------------ output
def fmt_s(t):
    if t is None:
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


def fmt_x(x):
    return "-" if x is None else f"{x:.3g}x"


HEADER = "| case | geometry | method | median | n | bound | x bound | ratio | peak MiB | note |"


def fill_ratios(rows):
    by = {(r["case"], r["method"]): r for r in rows}
    for r in rows:
        ref = r.get("ref")
        t = r.get("median_s")
        r["ratio"] = None
        if not ref or t is None:
            continue
        case = r["case"]
        if ref == "this / csr cold":
            base = by.get((case, "csr cold"), {}).get("median_s")
            r["ratio"] = t / base if base else None
        elif ref == "dense cold / this":
            base = by.get((case, "dense cold"), {}).get("median_s")
            r["ratio"] = base / t if base else None
        elif ref == "rebuild / values":
            base = by.get((case, "values alloc+fill"), {}).get("median_s")
            r["ratio"] = t / base if base else None
        elif ref.startswith("this / F.conv"):
            r["ratio"] = t / r["conv_s"]


def print_table(rows):
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for r in rows:
        peak = r.get("peak_bytes")
        print(
            f"| {r['case']} | {r.get('desc', '')} | {r['method']} | {fmt_s(r.get('median_s'))} "
            f"| {r.get('n') or '-'} | {fmt_s(r.get('bound_s'))} | {fmt_x(r.get('x_bound'))} "
            f"| {fmt_x(r.get('ratio'))} | {'-' if peak is None else f'{peak / 2**20:.0f}'} "
            f"| {r.get('note', '')} |"
        )


def targets(rows):
    by = {(r["case"], r["method"]): r for r in rows}
    get = lambda c, m: by.get((c, m), {}).get("median_s")  # noqa: E731
    out = []

    def check(name, value, limit, ok, shown):
        out.append((name, shown, limit, None if value is None else ("PASS" if ok else "FAIL")))

    csr_d = get("D", "csr cold")
    for method in ("probe", "jacfwd"):
        base = get("D", method)
        speed = base / csr_d if (base and csr_d) else None
        check(f"D: csr cold vs {method}", speed, ">= 100x", speed and speed >= 100,
              fmt_x(speed))
    for case in ("D", "E", "F"):
        x = by.get((case, "csr cold"), {}).get("x_bound")
        check(f"{case}: csr cold / write bound", x, "<= 4x", x is not None and x <= 4, fmt_x(x))
    t_f = get("F", "csr cold")
    check("F: csr cold time", t_f, "< 1 s", t_f is not None and t_f < 1, fmt_s(t_f))
    peak = by.get(("F", "csr cold"), {}).get("peak_bytes")
    check("F: csr cold peak", peak, "< 1024 MiB", peak is not None and peak < 2**30,
          "-" if peak is None else f"{peak / 2**20:.0f} MiB")
    for case in ("D", "E", "F"):
        p = by.get((case, "csr cold"), {}).get("peak_bytes")
        if p is not None:
            spec = ConvSpec(**CASES[case][0])
            own = result_bytes(spec, "csr")
            check(f"{case}: csr peak / csr bytes", p, "<= ~2x", p <= 2 * own,
                  fmt_x(p / own))
    for case in ("D", "E", "F"):
        r = by.get((case, "csr rebuild"), {}).get("ratio")
        check(f"{case}: csr rebuild / values fill", r, "<= 2x", r is not None and r <= 2,
              fmt_x(r))
    for case in ("D", "E"):
        r = by.get((case, "dense alloc+fill"), {}).get("ratio")
        check(f"{case}: dense cold / alloc+fill", r, "<= 2x", r is not None and r <= 2, fmt_x(r))
    t_g = get("G", "symbolic_matrix")
    check("G: symbolic_matrix", t_g, "well under 1 s", t_g is not None and t_g < 0.5, fmt_s(t_g))
    for m in ("count_parameters cold", "count_parameters warm"):
        t = get("ImageNet", m)
        check(f"512->512 224x224: {m}", t, "< 1 ms", t is not None and t < 1e-3, fmt_s(t))
    for case in HUGE:
        huge = [r for r in rows if r["case"] == case]
        slowest = max((r["median_s"] for r in huge), default=None)
        check(f"{HUGE_DESC[case]}: counts, refusals, corners (slowest)", slowest, "< 5 ms",
              slowest is not None and slowest < 5e-3, fmt_s(slowest))
        peak = max((r["peak_bytes"] for r in huge), default=None)
        check(f"{HUGE_DESC[case]}: traced peak (largest)", peak, "< 50 MiB",
              peak is not None and peak < 50 * 2**20,
              "-" if peak is None else f"{peak / 2**20:.1f} MiB")
    print("\n| target | measured | limit | result |")
    print("|---|---|---|---|")
    for name, shown, limit, res in out:
        print(f"| {name} | {shown} | {limit} | {res or 'not measured'} |")
    return out


def spectrum_rows(quick, dense_32=False):
    try:
        from benchmarks import bench_spectrum  # noqa: F401
    except ImportError:
        try:
            sys.path.insert(0, str(Path(__file__).parent))
            import bench_spectrum  # type: ignore[no-redef]
        except ImportError:
            return None
    return bench_spectrum.run(quick, dense_32)


def profile(target: str) -> None:
    case, layout = target.split(":")
    spec = ConvSpec(**CASES[case][0])
    weight = make_weight(spec)
    numeric_matrix(spec, weight, layout=layout)  # import / first-call costs
    clear_caches()
    prof = cProfile.Profile()
    prof.enable()
    numeric_matrix(spec, weight, layout=layout)
    prof.disable()
    stream = io.StringIO()
    pstats.Stats(prof, stream=stream).sort_stats("tottime").print_stats(15)
    print(stream.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small repeats, under a minute")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--json", help="write the rows as JSON to this path")
    parser.add_argument("--no-peak", action="store_true", help="skip peak-memory children")
    parser.add_argument("--profile", help="CASE:LAYOUT, cProfile one cold build and exit")
    parser.add_argument("--spectrum-dense-32", action="store_true",
                        help="time the 32x32 dense SVD for real (about 40 min on 2 cores)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        peak_child(*args.child)
        return 0
    if args.profile:
        profile(args.profile)
        return 0
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"--cases must name cases of {list(CASES)}, but got {unknown}")

    settings = Settings(args.quick)
    settings.peak = not args.no_peak
    settings.loop_per_mac = None
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"symtoe benchmarks ({'quick' if args.quick else 'full'}): torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores, {cpu}, float32")
    bandwidth = write_bandwidth(settings)
    warm = warm_bandwidth(settings)
    print(f"write bandwidth (torch.empty(n).fill_, fresh memory): {bandwidth / 2**30:.2f} GiB/s; "
          f"into touched memory: {warm / 2**30:.2f} GiB/s\n")

    rows: list[dict] = []
    for name in cases:
        run_case(name, settings, bandwidth, rows)
    run_extras(settings, rows)
    run_huge(settings, rows)
    fill_ratios(rows)
    print_table(rows)
    print("\nbound: result bytes / write bandwidth; x bound: median / bound; ratio: see README "
          "(baselines: this / csr cold; rebuild: / values alloc+fill; dense alloc+fill: "
          "dense cold / this; csr @ X: / F.conv)")
    results = targets(rows)
    spectrum = spectrum_rows(args.quick, args.spectrum_dense_32)
    if spectrum is not None:
        print("\n| case | method | median | ratio |\n|---|---|---|---|")
        for r in spectrum:
            print(f"| {r.get('case')} | {r.get('method')} | {fmt_s(r.get('median_s'))} "
                  f"| {fmt_x(r.get('ratio'))} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "targets": results}, indent=1,
                                              default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
