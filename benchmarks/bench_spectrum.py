"""Spectra benchmark: every conv layer of ResNet-18 at 224 x 224, and lip4conv's layer.

    python benchmarks/bench_spectrum.py            # full run (several minutes)
    python benchmarks/bench_spectrum.py --quick    # a subset, about a minute
    options: --threads N (default 1), --json PATH, --power-seconds S

For each layer (zero padding, random Kaiming-normal weights with a fixed seed:
torchvision is not available here, so no trained weights) it prints value and
CPU time of

* ``symtoe``: :func:`symtoe.analysis.norms.operator_norm`, the certified
  bracket ``lower <= ||T|| <= upper`` (relative width, which bound proved
  ``upper``, products with ``T^T T``);
* ``power``: the block power iteration symtoe used before (kept below as
  :func:`power_iteration`), stopped after ``--power-seconds`` of CPU;
* ``gram``: Gram iteration (Delattre, Barthelemy & Allauzen, ICML 2023) on the
  DFT blocks of the kernel zero-padded to the input grid, as lip4conv does
  (a bound for circular padding, *not* for zero padding), and on the blocks of
  the circulant embedding (a certified bound for zero padding); polyphase
  blocks for strided layers (an extension: lip4conv has no stride);
* ``embedding``: the exact norm of the circulant embedding (Sedghi et al.'s
  bound for zero padding);
* ``singla``: Singla & Feizi (ICLR 2021), ``sqrt(h w) min(||R||, ||S||, ||T||,
  ||U||)`` over four reshapes of the kernel (exact 2-norms here);
* ``reshaped``: ``||W.reshape(C_out, -1)||_2``, what
  ``torch.nn.utils.spectral_norm`` normalises (pytorch #99149);
* ``dense``: numpy's SVD of the matrix where it fits (lip4conv's layer, full run).

Then the FFT singular values (``singular_values``) of the circular version of
every layer: all of them, and the largest only.  Delattre et al. 2024's
zero-padding bound (about 11% loose in their paper) is not reimplemented.

Timings are CPU seconds of this process (``time.process_time``) with
``torch.set_num_threads(--threads)`` and as many BLAS threads for scipy's
OpenBLAS (through threadpoolctl): on a machine shared with other jobs,
wall time says more about the neighbours than about the code.  ``--clock
wall`` times wall seconds instead, the figure that matters with ``--threads 2``
on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from symtoe import ConvSpec  # noqa: E402
from symtoe.analysis.krylov import layer_operators  # noqa: E402
from symtoe.analysis.norms import majorants, operator_norm, reshaped_kernel_norm  # noqa: E402
from symtoe.analysis.spectrum import Circulant, check_weight, singular_values  # noqa: E402

SEED = 20240605


# ------------------------------------------------------------------ layers
def resnet18_convs() -> list[tuple[str, ConvSpec]]:
    """The 20 convolutions of torchvision's ResNet-18 at a 224 x 224 input."""
    layers = [("conv1", ConvSpec(3, 64, 7, input_size=(224, 224), stride=2, padding=3))]
    n, c = 56, 64
    for stage, (out, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
        for block in range(2):
            s, cin = (stride, c) if block == 0 else (1, out)
            name = f"layer{stage}.{block}"
            layers.append((f"{name}.conv1", ConvSpec(cin, out, 3, input_size=(n, n), stride=s,
                                                     padding=1)))
            layers.append((f"{name}.conv2", ConvSpec(out, out, 3, input_size=(n // s, n // s),
                                                     padding=1)))
            if block == 0 and (s != 1 or cin != out):
                layers.append((f"{name}.downsample", ConvSpec(cin, out, 1, input_size=(n, n),
                                                              stride=s)))
            n //= s
        c = out
    return layers


LIP4CONV = ("lip4conv 64->64 5x5 12x12", ConvSpec(64, 64, 5, input_size=(12, 12), padding=2))


def kaiming(spec: ConvSpec, gen: torch.Generator) -> torch.Tensor:
    fan_in = spec.weight_shape[1] * math.prod(spec.kernel_size)
    return torch.randn(spec.weight_shape, generator=gen, dtype=torch.float64) * math.sqrt(
        2 / fan_in)


CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCK["cpu"]  # set by --clock


def timed(fn):
    """``(fn(), seconds)`` on the clock chosen by ``--clock`` (CPU by default)."""
    start = clock()
    out = fn()
    return out, clock() - start


def _median_time(fn, repeats: int) -> tuple[float, object]:
    """Median wall seconds of ``fn()`` over ``repeats`` runs, and its last result
    (also used by ``bench_network.py``)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# -------------------------------------------------------------- baselines
def power_iteration(spec, w, iterations=2000, tol=1e-13, seed=0, block=8, seconds=math.inf):
    """symtoe's operator-norm estimate before issue 12 (block power iteration
    on ``T^T T`` with Rayleigh-Ritz, float64), kept as the baseline; stops
    after ``seconds`` of CPU.  Returns ``(estimate, iterations)``."""
    forward, adjoint = layer_operators(spec, w)
    size = spec.in_channels * math.prod(spec.input_size)
    b = min(block, size)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(size, b, generator=gen, dtype=w.dtype)
    sigma, start = 0.0, time.process_time()
    for step in range(1, iterations + 1):
        q = torch.linalg.qr(v).Q
        u = forward(q.T.reshape(b, spec.in_channels, *spec.input_size)).reshape(b, -1)
        new = float(torch.linalg.eigvalsh(u @ u.T)[-1].clamp(min=0).sqrt())
        if new == 0 or abs(new - sigma) <= tol * new or time.process_time() - start > seconds:
            return max(new, sigma), step
        sigma = new
        v = adjoint(u.reshape(b, spec.out_channels, *spec.output_size)).reshape(b, -1).T
    return sigma, iterations


def gram_iteration(circ: Circulant, iterations: int = 6) -> float:
    """Delattre et al. (2023): ``||B||_2 <= ||G_t||_F^(1/2^t)``, ``G_{t+1} =
    G_t^H G_t``, with rescaling, per DFT block; the max over blocks."""
    best = 0.0
    for f, _ in circ.chunks():
        g = circ.blocks(f).flatten(0, 1)  # (blocks, co, ci)
        if g.shape[-2] < g.shape[-1]:
            g = g.mH
        log_scale = torch.zeros(g.shape[0], dtype=torch.float64)
        for _ in range(iterations):
            norm = torch.linalg.matrix_norm(g).clamp(min=1e-300)
            g = g / norm[:, None, None]
            log_scale = 2 * (log_scale + norm.log())
            g = g.mH @ g
        bound = (torch.linalg.matrix_norm(g).log() + log_scale) / 2**iterations
        best = max(best, float(bound.exp().max()))
    return best


def singla_feizi(w: torch.Tensor) -> float:
    """Singla & Feizi (2021): ``sqrt(h w) min(||R||, ||S||, ||T||, ||U||)``."""
    co, ci, h, k = w.shape
    mats = [
        w.permute(0, 2, 1, 3).reshape(co * h, ci * k),
        w.permute(0, 3, 1, 2).reshape(co * k, ci * h),
        w.reshape(co, ci * h * k),
        w.permute(1, 0, 2, 3).reshape(ci, co * h * k),
    ]
    return math.sqrt(h * k) * min(float(torch.linalg.matrix_norm(m, ord=2)) for m in mats)


def circulant_at(spec: ConvSpec, w: torch.Tensor, grid) -> Circulant:
    return Circulant(w, spec.groups, tuple(grid), spec.stride,
                     tuple(p for p, _ in spec.padding), spec.dilation)


# ---------------------------------------------------------------- one layer
def layer_row(name, spec, w, *, power_seconds, dense):
    row = {"layer": name, "shape": f"{spec.in_channels}->{spec.out_channels} "
           f"k{spec.kernel_size[0]} s{spec.stride[0]} {spec.input_size[0]}x{spec.input_size[1]}"}
    norm, t = timed(lambda: operator_norm(spec, w))
    row.update(lower=norm.lower, upper=norm.upper, width=norm.width,
               bound=norm.bound.split(" (")[0], matvecs=norm.matvecs,
               converged=norm.converged, t_symtoe=t)
    if power_seconds > 0 and not norm.exact:
        (est, steps), t = timed(lambda: power_iteration(spec, w, seconds=power_seconds))
        row.update(power=est, power_steps=steps, t_power=t)
    w64 = check_weight(spec, w)
    if spec.stride == (1, 1) or all(n % s == 0 for n, s in zip(spec.input_size, spec.stride)):
        row["gram_n"], row["t_gram_n"] = timed(lambda: gram_iteration(circulant_at(spec, w64,
                                                                                   spec.input_size)))
    maj = majorants(spec, w64, grids=1)[0]
    (values, _), t = timed(lambda: maj.circulant.top(1))
    row.update(embedding=float(values[0]), t_embedding=t)
    row["gram_embedding"], row["t_gram_embedding"] = timed(lambda: gram_iteration(maj.circulant))
    row["singla"], row["t_singla"] = timed(lambda: singla_feizi(w64))
    row["reshaped"], row["t_reshaped"] = timed(lambda: reshaped_kernel_norm(w64))
    if dense:
        sv, t = timed(lambda: singular_values(spec, w, top=1, dense_limit=10**5)[0])
        row.update(dense=float(sv), t_dense=t)
    return row


def fft_rows(layers, weights, *, full: bool):
    """FFT singular values of the circular version of every layer."""
    rows = []
    for (name, spec), w in zip(layers, weights):
        circ = spec.replace(padding_mode="circular") if any(
            p for pair in spec.padding for p in pair) else spec
        row = {"layer": name}
        row["top"], row["t_top"] = timed(lambda c=circ, w=w: float(singular_values(c, w, top=1)[0]))
        if full:
            values, row["t_all"] = timed(lambda c=circ, w=w: singular_values(c, w))
            row["count"] = len(values)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- printing
def fmt(x, digits=10):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def print_tables(rows, fft, lip):
    print("\n| layer | shape | lower | upper | width | bound | products | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows + lip:
        print(f"| {r['layer']} | {r['shape']} | {r['lower']:.10f} | {r['upper']:.10f} | "
              f"{r['width']:.1e} | {r['bound']} | {r['matvecs']} | {r['t_symtoe']:.2f} |")
    total = sum(r["t_symtoe"] for r in rows)
    print(f"\nsymtoe bracket, all {len(rows)} ResNet-18 layers: {total:.1f} s; "
          f"widths <= 1e-8: {sum(r['width'] <= 1e-8 for r in rows)}, <= 1e-6: "
          f"{sum(r['width'] <= 1e-6 for r in rows)}")

    print("\nRatios to symtoe's lower bound (upper bounds: >= 1 is sound, closer is sharper):\n")
    cols = ["upper", "embedding", "gram_embedding", "gram_n", "singla", "reshaped", "power",
            "dense"]
    print("| layer | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in rows + lip:
        cells = [f"{r[c] / r['lower']:.6f}" if r.get(c) is not None else "-" for c in cols]
        print(f"| {r['layer']} | " + " | ".join(cells) + " |")
    print("\nSeconds per method:\n")
    tcols = ["t_symtoe", "t_embedding", "t_gram_embedding", "t_gram_n", "t_singla",
             "t_reshaped", "t_power", "t_dense"]
    print("| layer | " + " | ".join(c[2:] for c in tcols) + " | power iterations |")
    print("|---|" + "---|" * (len(tcols) + 1))
    for r in rows + lip:
        cells = [f"{r[c]:.3g}" if r.get(c) is not None else "-" for c in tcols]
        print(f"| {r['layer']} | " + " | ".join(cells) + f" | {r.get('power_steps', '-')} |")
    if fft:
        print("\nFFT singular values of the circular layers (s):\n")
        print("| layer | largest | t largest | all values | t all |")
        print("|---|---|---|---|---|")
        for r in fft:
            print(f"| {r['layer']} | {r['top']:.10f} | {r['t_top']:.3f} | "
                  f"{r.get('count', '-')} | {fmt(r.get('t_all'), 3)} |")
        print(f"\ntotal: largest {sum(r['t_top'] for r in fft):.2f} s"
              + (f", all values {sum(r['t_all'] for r in fft):.2f} s"
                 if all('t_all' in r for r in fft) else ""))


# ---------------------------------------------------------------- entry points
def run(quick: bool, dense_32: bool = False) -> list[dict]:
    """Rows for ``benchmarks/run.py``: symtoe's bracket and the FFT on a few
    layers, CPU seconds in ``median_s``."""
    del dense_32  # kept for run.py's call signature
    gen = torch.Generator().manual_seed(SEED)
    layers = resnet18_convs()
    pick = [layers[14]] if quick else [layers[-1], layers[3], LIP4CONV]
    rows = []
    for name, spec in pick:
        w = kaiming(spec, gen)
        times = [timed(lambda s=spec, w=w: operator_norm(s, w))[1]
                 for _ in range(1 if quick else 3)]
        rows.append({"case": name, "method": "operator_norm (certified bracket)",
                     "median_s": statistics.median(times), "ratio": 1.0})
        circ = spec.replace(padding_mode="circular")
        times = [timed(lambda c=circ, w=w: singular_values(c, w, top=1))[1]
                 for _ in range(1 if quick else 3)]
        rows.append({"case": name + " circular", "method": "singular_values(top=1)",
                     "median_s": statistics.median(times), "ratio": 1.0})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of layers, about a minute")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (default 1)")
    parser.add_argument("--power-seconds", type=float, default=None,
                        help="CPU budget of the old power iteration per layer "
                        "(default 20, quick 0)")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="cpu",
                        help="time CPU seconds of this process (default) or wall seconds")
    parser.add_argument("--json", help="write the rows as JSON to this path")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCK[args.clock]
    torch.set_num_threads(args.threads)
    try:  # scipy's OpenBLAS, which symtoe's FFT path uses, keeps its own threads
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:
        print("threadpoolctl is not installed: scipy's BLAS uses its default threads",
              file=sys.stderr)
    power = args.power_seconds if args.power_seconds is not None else (0 if args.quick else 20)
    cpu_name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name")), "unknown CPU")
    print(f"bench_spectrum ({'quick' if args.quick else 'full'}): torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {cpu_name}, {args.clock} seconds; "
          f"GPU: {'available' if torch.cuda.is_available() else 'none'}")
    gen = torch.Generator().manual_seed(SEED)
    layers = resnet18_convs()
    weights = [kaiming(spec, gen) for _, spec in layers]
    chosen = [i for i, (name, _) in enumerate(layers)
              if not args.quick or name.startswith(("layer3.1", "layer4"))]
    rows = []
    for i in chosen:
        name, spec = layers[i]
        rows.append(layer_row(name, spec, weights[i], power_seconds=power, dense=False))
        print(f"  {name}: width {rows[-1]['width']:.1e} in {rows[-1]['t_symtoe']:.1f} s",
              file=sys.stderr, flush=True)
    name, spec = LIP4CONV
    lip = [layer_row(name, spec, kaiming(spec, gen), power_seconds=power, dense=not args.quick)]
    fft = fft_rows(layers, weights, full=not args.quick)
    print_tables(rows, fft, lip)
    if args.json:
        Path(args.json).write_text(json.dumps({"layers": rows, "lip4conv": lip, "fft": fft},
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
