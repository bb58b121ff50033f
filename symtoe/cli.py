"""The ``symtoe`` command (also ``python -m symtoe``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symtoe",
        description="What a convolution layer is, exactly, as a matrix.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the seed 1-D and 2-D examples, checked against torch")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"symtoe: error: {error}", file=sys.stderr)
        return 2
