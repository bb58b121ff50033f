"""The ``symtoe`` command (also ``python -m symtoe``).

Subcommands: ``matrix`` (the symbolic matrix, ``--latex``), ``count``
(``--json``), ``shift`` (the exactness map of a shift), ``plot`` (``-o
FILE.png``), ``report`` (a model's parameter-count table) and ``demo``.  Layer
options mirror ``torch.nn.ConvNd``'s arguments.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main", "build_parser"]

#: ``matrix`` prints at most this many cells in plain text (use --latex beyond).
MAX_TEXT_CELLS = 4096


def _progress(message: str) -> None:
    print(f"symtoe: {message}", file=sys.stderr, flush=True)


def _demo(args) -> int:
    import sympy
    import torch
    import torch.nn.functional as F

    from . import ConvSpec, count_parameters, numeric_matrix, symbolic_matrix

    print("1-D valid convolution, N=6, K=3 (torch: F.conv1d)")
    spec = ConvSpec(1, 1, 3, input_size=6)
    sympy.pprint(symbolic_matrix(spec), use_unicode=False, wrap_line=False)
    counts = count_parameters(spec)
    print(f"dense-equivalent {counts.dense} vs shared {counts.shared} parameters\n")

    print("2-D, 5x5 input, 3x3 kernel, valid (torch: F.conv2d): first 3 rows")
    spec2 = ConvSpec(1, 1, 3, input_size=(5, 5))
    T = symbolic_matrix(spec2)
    sympy.pprint(T[:3, :], use_unicode=False, wrap_line=False)
    counts = count_parameters(spec2)
    print(f"{T.shape[0]}x{T.shape[1]} matrix: dense-equivalent {counts.dense} vs "
          f"shared {counts.shared} parameters\n")

    print("check against torch (float64, random kernel and input):")
    g = torch.Generator().manual_seed(0)
    for s in (spec, spec2):
        w = torch.randn(s.weight_shape, generator=g, dtype=torch.float64)
        x = torch.randn(1, 1, *s.input_size, generator=g, dtype=torch.float64)
        conv = F.conv1d if s.rank == 1 else F.conv2d
        err = (numeric_matrix(s, w) @ x.flatten() - conv(x, w).flatten()).abs().max()
        print(f"  {s.rank}-D: max |T @ x - F.conv{s.rank}d(x, w)| = {float(err):.1e}")
    return 0


# ------------------------------------------------------------------- spec options
def _padding_arg(text: str):
    if text in ("valid", "same", "full"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer or one of valid, same, full, but got {text!r}"
        ) from None


def _add_spec_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("layer (as torch.nn.ConvNd)")
    g.add_argument("--in-channels", type=int, default=1, metavar="C", help="default 1")
    g.add_argument("--out-channels", type=int, default=1, metavar="C", help="default 1")
    g.add_argument("--kernel-size", type=int, nargs="+", required=True, metavar="K",
                   help="one value, or one per axis")
    g.add_argument("--input-size", type=int, nargs="+", required=True, metavar="N",
                   help="spatial size, one value per axis (its length is the rank)")
    g.add_argument("--stride", type=int, nargs="+", default=[1], metavar="S")
    g.add_argument("--padding", type=_padding_arg, nargs="+", default=[0], metavar="P",
                   help="integers (one, or one per axis) or valid / same / full")
    g.add_argument("--dilation", type=int, nargs="+", default=[1], metavar="D")
    g.add_argument("--groups", type=int, default=1)
    g.add_argument("--padding-mode", default="zeros",
                   choices=("zeros", "circular", "reflect", "replicate"))
    g.add_argument("--bias", action="store_true", help="the layer has a bias")
    g.add_argument("--flip", action="store_true",
                   help="true convolution (scipy's convention) instead of torch's correlation")
    g.add_argument("--transposed", action="store_true", help="ConvTranspose semantics")
    g.add_argument("--output-padding", type=int, nargs="+", default=[0], metavar="A",
                   help="extra output rows of a transposed layer")


def _one_or_tuple(values):
    return values[0] if len(values) == 1 else tuple(values)


def _spec(args):
    from .core.spec import ConvSpec

    padding = args.padding
    if any(isinstance(p, str) for p in padding):
        if len(padding) != 1:
            raise ValueError(f"padding must be one word or integers, but got {padding}")
        padding = padding[0]
    else:
        padding = _one_or_tuple(padding)
    return ConvSpec(
        args.in_channels,
        args.out_channels,
        _one_or_tuple(args.kernel_size),
        input_size=tuple(args.input_size),
        stride=_one_or_tuple(args.stride),
        padding=padding,
        dilation=_one_or_tuple(args.dilation),
        groups=args.groups,
        bias=args.bias,
        padding_mode=args.padding_mode,
        transposed=args.transposed,
        output_padding=_one_or_tuple(args.output_padding),
        flip=args.flip,
    )


# -------------------------------------------------------------------- subcommands
def _matrix(args) -> int:
    spec = _spec(args)
    rows, cols = spec.matrix_shape
    if args.latex:
        from .present.latex import to_latex

        print(to_latex(spec, max_rows=args.max_rows, max_cols=args.max_cols,
                       standalone=args.standalone))
        return 0
    if rows * cols > MAX_TEXT_CELLS:
        raise ValueError(
            f"the matrix must have at most {MAX_TEXT_CELLS} cells to print as text, but it "
            f"is {rows} x {cols}; use --latex (elided) or the count subcommand"
        )
    import sympy

    from .core.symbolic import symbolic_matrix

    print(f"{rows} x {cols} matrix of {spec}")
    sympy.pprint(symbolic_matrix(spec), use_unicode=False, wrap_line=False)
    return 0


def _count(args) -> int:
    import json

    from .core.counts import count_parameters

    spec = _spec(args)
    counts = count_parameters(spec)
    data = counts.as_dict() | {"ratio": counts.ratio}
    if args.json:
        print(json.dumps(data))
        return 0
    rows, cols = spec.matrix_shape
    print(f"matrix {rows:,} x {cols:,}; output size {spec.output_size}")
    for key in ("shared", "bias", "used", "dense", "nonzeros", "macs"):
        print(f"  {key:<10}{data[key]:>18,}")
    print(f"  {'ratio':<10}{counts.ratio:>18,.1f}  (dense / shared)")
    return 0


def _shift_values(values):
    return values[0] if len(values) == 1 else tuple(values)


def _shift(args) -> int:
    import numpy as np

    from .analysis.equivariance import check_shift

    spec = _spec(args)
    result = check_shift(spec, _shift_values(args.shift), mode=args.mode)
    exact = np.asarray(result.exact, dtype=bool)
    print(f"shift {tuple(args.shift)} ({args.mode}) on {spec}")
    print(f"commutes for every kernel: {bool(result.commutes)}; "
          f"exact outputs {int(exact.sum())} of {exact.size} ('#' exact, '.' not)")
    grid = exact.reshape(-1, exact.shape[-1]) if exact.ndim > 1 else exact[None]
    for line in grid:
        print("".join(np.where(line, "#", ".")))
    return 0


def _plot(args) -> int:
    spec = _spec(args)
    _progress("loading matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from .present import plot

    kind = args.kind
    if kind == "auto":
        rows, cols = spec.matrix_shape
        kind = "sharing" if rows * cols <= plot.MAX_SHARING_CELLS else "sparsity"
    if kind == "boundary":
        if args.shift is None:
            raise ValueError("--shift must be given for --kind boundary, but got none")
        fig = plot.plot_boundary_map(spec, _shift_values(args.shift), mode=args.mode)
    elif kind == "receptive":
        fig = plot.plot_receptive_field([spec])
    else:
        fig = {"sharing": plot.plot_sharing, "sparsity": plot.plot_sparsity,
               "coverage": plot.plot_coverage}[kind](spec)
    fig.savefig(args.output, dpi=args.dpi)
    _progress(f"wrote {args.output}")
    return 0


def _split_target(target: str) -> tuple[str, str]:
    """Check ``module:callable`` / ``path.py:callable`` before anything is imported."""
    from pathlib import Path

    source, sep, attribute = target.rpartition(":")
    if not sep or not source or not attribute:
        raise ValueError(
            f"model must be written module:callable or path.py:callable, but got {target!r}"
        )
    if source.endswith(".py") and not Path(source).is_file():
        raise ValueError(f"model file must exist, but {source!r} does not")
    return source, attribute


def _load_model(target: str, what: str = "model"):
    """Call ``module:callable`` or ``path.py:callable`` and return the model
    (``what="example_inputs"``: whatever the callable returns)."""
    import importlib
    import importlib.util
    from pathlib import Path

    source, attribute = _split_target(target)
    if source.endswith(".py"):
        path = Path(source)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # the user's file: report it, no traceback
            raise ValueError(
                f"model file {source!r} must run, but raised {type(error).__name__}: {error}"
            ) from None
        finally:
            sys.path.pop(0)
    else:
        sys.path.insert(0, str(Path.cwd()))  # mymodels:lenet finds ./mymodels.py
        try:
            module = importlib.import_module(source)
        except ImportError as error:
            raise ValueError(f"model module must be importable, but {error}") from None
        except Exception as error:  # the user's module: report it, no traceback
            raise ValueError(
                f"model module {source!r} must import, but raised {type(error).__name__}: "
                f"{error}"
            ) from None
        finally:
            sys.path.pop(0)
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"model {target!r} must name an attribute, but {part!r} is missing")
        obj = getattr(obj, part)
    from torch import nn

    if isinstance(obj, nn.Module) or (what != "model" and not callable(obj)):
        return obj
    try:
        model = obj()
    except Exception as error:  # the user's code: report it, no traceback
        raise ValueError(
            f"{what} {target!r} must build with no arguments, but raised "
            f"{type(error).__name__}: {error}"
        ) from None
    if what == "model" and not isinstance(model, nn.Module):
        raise ValueError(
            f"model {target!r} must return a torch.nn.Module, but returned "
            f"{type(model).__name__}"
        )
    return model


def _report(args) -> int:
    start = time.perf_counter()
    _split_target(args.model)
    _progress("loading torch")
    import torch  # noqa: F401  (slow import, before the model's own)

    from .network.report import parameter_report

    _progress(f"building {args.model}")
    model = _load_model(args.model)
    size = tuple(args.input_size) if args.input_size else None
    inputs = _load_model(args.example_inputs, "example_inputs") if args.example_inputs else None
    _progress(f"running one forward pass on "
              f"{f'input {size}' if size else args.example_inputs}")
    report = parameter_report(model, size, example_inputs=inputs, name=args.model)
    macs = args.macs or "both"
    text = {
        "text": lambda r: r.to_text(macs),
        "markdown": lambda r: r.to_markdown(macs),
        "latex": lambda r: r.to_latex(macs),
        "csv": lambda r: r.to_csv().rstrip("\n"),
        "json": lambda r: r.to_json(indent=1),
    }[args.format](report)
    if args.output:
        with open(args.output, "w") as out:
            out.write(text + "\n")
        _progress(f"wrote {args.output}")
    else:
        print(text)
    _progress(f"done in {time.perf_counter() - start:.1f} s")
    return 0


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symtoe",
        description="What a convolution layer is, exactly, as a matrix.",
        epilog="examples:\n"
               "  symtoe matrix --kernel-size 3 --input-size 5\n"
               "  symtoe count --in-channels 64 --out-channels 64 --kernel-size 3 "
               "--input-size 224 224 --padding 1 --json\n"
               "  symtoe shift --kernel-size 3 --input-size 8 --shift 1\n"
               "  symtoe plot --kernel-size 3 --input-size 4 4 -o sharing.png\n"
               "  symtoe report models.py:lenet --input-size 1 32 32",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"symtoe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the seed 1-D and 2-D examples, checked against torch")
    demo.set_defaults(func=_demo)

    matrix = sub.add_parser("matrix", help="print the layer's symbolic matrix",
                            description="Print the layer's matrix with symbolic weights "
                                        "w[o, i, r, s] (plain text, or LaTeX with --latex).")
    _add_spec_options(matrix)
    matrix.add_argument("--latex", action="store_true",
                        help="LaTeX array with block lines; large matrices elided")
    matrix.add_argument("--standalone", action="store_true",
                        help="with --latex: a complete document for pdflatex")
    matrix.add_argument("--max-rows", type=int, default=24, help="with --latex (default 24)")
    matrix.add_argument("--max-cols", type=int, default=24, help="with --latex (default 24)")
    matrix.set_defaults(func=_matrix)

    count = sub.add_parser("count", help="dense-equivalent vs shared parameter counts",
                           description="Count the layer's parameters in closed form: "
                                       "shared, bias, used, dense, nonzeros, MACs.")
    _add_spec_options(count)
    count.add_argument("--json", action="store_true", help="print one JSON object")
    count.set_defaults(func=_count)

    shift = sub.add_parser("shift", help="which outputs commute exactly with an input shift",
                           description="The exactness map: outputs where the shifted "
                                       "layer equals the layer of the shifted input, for "
                                       "every kernel.")
    _add_spec_options(shift)
    shift.add_argument("--shift", type=int, nargs="+", required=True, metavar="T",
                       help="input shift, one value or one per axis")
    shift.add_argument("--mode", choices=("zero", "cyclic"), default="zero")
    shift.set_defaults(func=_shift)

    plot = sub.add_parser("plot", help="draw the layer to a PNG (or PDF, SVG) file",
                          description="Draw the sharing pattern, sparsity, column "
                                      "coverage, a shift's boundary map or a receptive "
                                      "field.")
    _add_spec_options(plot)
    plot.add_argument("-o", "--output", required=True, metavar="FILE.png",
                      help="output file (format from its extension)")
    plot.add_argument("--kind", default="auto",
                      choices=("auto", "sharing", "sparsity", "coverage", "boundary",
                               "receptive"),
                      help="auto: sharing for small matrices, sparsity for large")
    plot.add_argument("--shift", type=int, nargs="+", metavar="T", help="for --kind boundary")
    plot.add_argument("--mode", choices=("zero", "cyclic"), default="zero")
    plot.add_argument("--dpi", type=int, default=120)
    plot.set_defaults(func=_plot)

    report = sub.add_parser("report", help="parameter-count table of a torch model",
                            description="Run a model once and tabulate, per layer, shared "
                                        "vs dense-equivalent parameters, nonzeros and MACs.")
    report.add_argument("model", help="module:callable or path.py:callable returning an "
                                      "nn.Module (or naming one)")
    given = report.add_mutually_exclusive_group(required=True)
    given.add_argument("--input-size", type=int, nargs="+", metavar="N",
                       help="one sample's shape without batch, e.g. 3 32 32")
    given.add_argument("--example-inputs", metavar="MODULE:CALLABLE",
                       help="the model's inputs instead (token ids, several tensors): "
                            "module:callable or path.py:callable returning a tensor, a tuple "
                            "or a dict of keyword inputs")
    report.add_argument("--format", default="text",
                        choices=("text", "markdown", "latex", "csv", "json"))
    report.add_argument("--macs", choices=("real", "padded"),
                        help="show one convention: taps on real inputs, or every tap as "
                             "FlopCounterMode / fvcore count (default: both)")
    report.add_argument("-o", "--output", metavar="FILE", help="write the table to FILE")
    report.set_defaults(func=_report)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as error:  # user code, unwritable paths: one line, never a traceback
        first = (str(error).strip().splitlines() or [""])[0]
        kind = "" if isinstance(error, ValueError) else f"{type(error).__name__}: "
        print(f"symtoe: error: {kind}{first}", file=sys.stderr)
        return 2
