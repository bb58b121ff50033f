"""Every bad input is a clear error, fast, before any work: one table, one line per case.

Each case must raise ``ValueError`` or ``TypeError`` (symtoe's own
``SymtoeError`` / ``SymtoeTypeError`` / ``SizeLimitError`` are both or the
first) whose message names the argument (``match=``), return nothing, and
refuse within 100 ms of CPU time (``time.process_time``: this process only,
so the load of other processes does not count; after one warm-up call that
pays first-use imports) and under 100 MB of traced peak memory
(``tracemalloc``, which sees numpy's allocations).
"""

from __future__ import annotations

import time
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch
from torch import nn

from symtoe import ConvSpec, count_parameters, symbolic_matrix, weight_symbols
from symtoe.analysis.compose import compose, composed_matrix
from symtoe.analysis.equivariance import (
    boundary_map,
    check_reflection,
    check_shift,
    equivariance_error,
    matching_output_shift,
    reflection_error,
    zero_padding_interior,
)
from symtoe.analysis.shifts import (
    apply_reflection,
    apply_shift,
    reflection_indices,
    reflection_matrix,
    shift_indices,
    shift_matrix,
)
from symtoe.analysis.structure import (
    circulant_eigenvalues,
    is_block_toeplitz,
    is_circulant,
    is_toeplitz,
    recover_convolution,
    toeplitz_levels,
)
from symtoe.analysis.toeplitz import divisors
from symtoe.core.fill import fill_plan
from symtoe.core.lazy import lazy_symbolic_matrix
from symtoe.core.numeric import numeric_matrix
from symtoe.core.pattern import axis_pattern, entry_weights, fold_positions, sharing_pattern
from symtoe.core.sizes import axis_sizes, layer_sizes
from symtoe.core.spec import output_length
from symtoe.core.symbolic import WeightSymbol, bias_symbols, entry_values, exact
from symtoe.core.validate import SizeLimitError, SymtoeError, SymtoeTypeError
from symtoe.present.graphs import connectivity_graph, input_ancestors, sharing_graph

S = ConvSpec(1, 2, 3, input_size=5)  # a small layer; weight (2, 1, 3)
S1 = ConvSpec(1, 1, 3, input_size=5)
W = torch.zeros(2, 1, 3)
BIG = ConvSpec(1, 1, 3, input_size=10**9)  # 1-D, a billion inputs
WIDE = ConvSpec(512, 512, 3, input_size=(4096, 4096), padding=1)
CIRC = ConvSpec(1, 1, 3, input_size=6, padding=1, padding_mode="circular")
X = torch.zeros(1, 1, 6)


def spec(**changes):
    """ConvSpec(2, 2, 3, input_size=(5, 5)) with some arguments changed."""
    args = dict(in_channels=2, out_channels=2, kernel_size=3, input_size=(5, 5)) | changes
    return ConvSpec(args.pop("in_channels"), args.pop("out_channels"), args.pop("kernel_size"),
                    **args)


def nan_tensor():
    return torch.full((1, 1, 6), float("nan"))


def lazy_conv():
    return nn.LazyConv1d(4, 3)


V, T = ValueError, TypeError
CASES = [
    # ------------------------------------------------------------ ConvSpec
    ("spec-in-float", lambda: spec(in_channels=2.0), T, "in_channels must be an integer, but got 2.0"),
    ("spec-in-bool", lambda: spec(in_channels=True), T, "in_channels must be an integer, but got True"),
    ("spec-in-zero", lambda: spec(in_channels=0), V, "in_channels must be a positive integer, but got 0"),
    ("spec-out-str", lambda: spec(out_channels="2"), T, "out_channels must be an integer"),
    ("spec-out-huge", lambda: spec(out_channels=2**70), V, "out_channels must be at most"),
    ("spec-groups-bool", lambda: spec(groups=True), T, "groups must be an integer, but got True"),
    ("spec-groups-zero", lambda: spec(groups=0), V, "groups must be a positive integer"),
    ("spec-groups-divide", lambda: spec(groups=3, in_channels=3), V, "out_channels must be divisible by groups"),
    ("spec-kernel-none", lambda: spec(kernel_size=None), T, "kernel_size must be a positive integer or a tuple"),
    ("spec-kernel-float", lambda: spec(kernel_size=(3, 2.5)), T, "kernel_size must be a positive integer or a tuple"),
    ("spec-kernel-bool", lambda: spec(kernel_size=(3, True)), T, "kernel_size must be a positive integer or a tuple"),
    ("spec-kernel-empty", lambda: spec(kernel_size=()), T, "kernel_size must be a positive integer or a tuple"),
    ("spec-kernel-fit", lambda: spec(kernel_size=9), V, "kernel_size must fit the padded input"),
    ("spec-input-none", lambda: spec(input_size=None), T, "input_size must be an int or a tuple of 1 to 3"),
    ("spec-input-str", lambda: spec(input_size="55"), T, "input_size must be an int or a tuple of 1 to 3"),
    ("spec-input-rank0", lambda: spec(input_size=()), T, "input_size must be an int or a tuple of 1 to 3"),
    ("spec-input-negative", lambda: spec(input_size=(5, -1)), V, "input_size must be a positive integer, but got -1"),
    ("spec-input-huge", lambda: spec(input_size=(10**30, 5)), V, "input_size must be at most"),
    ("spec-matrix-huge", lambda: spec(input_size=(2**40, 2**40)), V, "the layer's matrix must have fewer than 2\\*\\*62 rows"),
    ("spec-stride-float", lambda: spec(stride=1.0), T, "stride must be a positive integer or a tuple"),
    ("spec-stride-zero", lambda: spec(stride=(1, 0)), V, "stride must be a positive integer, but got 0"),
    ("spec-stride-huge", lambda: spec(stride=10**30), V, "stride must be at most"),
    ("spec-dilation-zero", lambda: spec(dilation=0), V, "dilation must be a positive integer"),
    ("spec-padding-float", lambda: spec(padding=0.5), T, "padding must be an int, a per-axis tuple"),
    ("spec-padding-none", lambda: spec(padding=None), T, "padding must be an int, a per-axis tuple"),
    ("spec-padding-word", lambda: spec(padding="half"), V, "padding must be one of \\('valid', 'same', 'full'\\)"),
    ("spec-padding-pair-neg", lambda: spec(padding=((0, -1), (0, 0))), V, "padding must be non-negative"),
    ("spec-padding-pairs-len", lambda: spec(padding=((1, 1),)), V, "padding must have one \\(left, right\\) pair per axis"),
    ("spec-padding-same-stride", lambda: spec(padding="same", stride=2), V, "padding='same' needs stride 1"),
    ("spec-padding-reflect", lambda: spec(padding=5, padding_mode="reflect"), V, "padding must be smaller than input_size"),
    ("spec-padding-circular", lambda: spec(padding=6, padding_mode="circular"), V, "padding must be at most input_size"),
    ("spec-mode-bogus", lambda: spec(padding_mode="bogus"), V, "padding_mode must be one of"),
    ("spec-mode-none", lambda: spec(padding_mode=None), V, "padding_mode must be one of"),
    ("spec-mode-list", lambda: spec(padding_mode=["zeros"]), V, "padding_mode must be one of"),
    ("spec-bias-int", lambda: spec(bias=1), T, "bias must be True or False, but got 1"),
    ("spec-transposed-str", lambda: spec(transposed="yes"), T, "transposed must be True or False"),
    ("spec-flip-none", lambda: spec(flip=None), T, "flip must be True or False"),
    ("spec-transposed-mode", lambda: spec(transposed=True, padding_mode="circular"), V, "padding_mode must be 'zeros' when transposed"),
    ("spec-output-padding", lambda: spec(output_padding=1), V, "output_padding must be 0 unless transposed"),
    ("spec-output-padding-limit", lambda: spec(transposed=True, output_padding=1), V, "output_padding must be smaller than max\\(stride, dilation\\)"),
    ("spec-transposed-size", lambda: spec(transposed=True, kernel_size=1, padding=5), V, "padding must leave a positive output size"),
    ("spec-replace-unknown", lambda: S.replace(kernel=3), T, "replace\\(\\) takes ConvSpec's arguments"),
    ("spec-replace-bad", lambda: S.replace(stride=-1), V, "stride must be a positive integer, but got -1"),
    ("from-module-lazy", lambda: ConvSpec.from_module(lazy_conv(), 9), V, "module must be initialised"),
    ("from-module-linear", lambda: ConvSpec.from_module(nn.Linear(2, 2), 9), T, "module must be a torch.nn.ConvNd"),
    ("from-module-size", lambda: ConvSpec.from_module(nn.Conv2d(1, 1, 3), 9), V, "input_size must have 2 spatial sizes"),
    ("from-module-size-str", lambda: ConvSpec.from_module(nn.Conv1d(1, 1, 3), "9"), V, "input_size must have 1 spatial sizes"),
    # ----------------------------------------------------- pattern and counts
    ("axis-mode-bogus", lambda: axis_pattern(6, 3, 1, (0, 0), 1, mode="bogus"), V, "mode must be one of"),
    ("axis-n-zero", lambda: axis_pattern(0, 3, 1, (0, 0), 1), V, "input_size must be a positive integer"),
    ("axis-k-float", lambda: axis_pattern(6, 3.0, 1, (0, 0), 1), T, "kernel_size must be a positive integer"),
    ("axis-padding-int", lambda: axis_pattern(6, 3, 1, 1, 1), V, "padding must be a \\(left, right\\) pair"),
    ("axis-transposed-int", lambda: axis_pattern(6, 3, 1, (0, 0), 1, transposed=1), T, "transposed must be True or False"),
    ("axis-huge", lambda: axis_pattern(10**9, 3, 1, (0, 0), 1), V, "the per-axis pattern of n=1000000000"),
    ("axis-sizes-mode", lambda: axis_sizes(6, 3, 1, (0, 0), 1, "bogus"), V, "padding_mode must be one of"),
    ("axis-sizes-fit", lambda: axis_sizes(2, 5, 1, (0, 0), 1), V, "kernel_size must fit the padded input"),
    ("axis-sizes-padding", lambda: axis_sizes(6, 3, 1, 1, 1), V, "padding must be a \\(left, right\\) pair"),
    ("layer-sizes-spec", lambda: layer_sizes([1]), T, "spec must be a ConvSpec, but got list"),
    ("output-length-stride", lambda: output_length(5, 3, 0, (0, 0), 1), V, "s must be a positive integer, but got 0"),
    ("output-length-padding", lambda: output_length(5, 3, 1, 1, 1), T, "padding must be a \\(left, right\\) pair"),
    ("fold-n-zero", lambda: fold_positions(np.arange(3), 0, "circular"), V, "n must be a positive integer, but got 0"),
    ("divisors-zero", lambda: divisors(0), V, "n must be a positive integer, but got 0"),
    ("fold-mode-bogus", lambda: fold_positions(np.arange(3), 4, "mirror"), V, "mode must be one of"),
    ("pattern-none", lambda: sharing_pattern(None), T, "spec must be a ConvSpec, but got NoneType"),
    ("pattern-huge", lambda: sharing_pattern(BIG), V, "the sharing pattern of ConvSpec\\(1 -> 1"),
    ("pattern-wide", lambda: sharing_pattern(WIDE), V, "the sharing pattern of ConvSpec\\(512 -> 512"),
    ("entries-float", lambda: entry_weights(S, [0.5], [0]), T, "rows must be integers"),
    ("entries-range", lambda: entry_weights(S, [0], [5]), V, "cols must lie in range\\(-5, 5\\), but got 5"),
    ("entries-lengths", lambda: entry_weights(S, [0, 1], [0]), V, "rows and cols must have one index per entry"),
    ("entries-many", lambda: entry_weights(WIDE, *[np.broadcast_to(np.int64(0), (10**7,))] * 2), V, "reading 10,000,000 entries would have 90,000,000 \\(entry, tap\\) cells"),
    ("count-tuple", lambda: count_parameters((1, 1, 3)), T, "spec must be a ConvSpec, but got tuple"),
    ("count-none", lambda: count_parameters(None), T, "spec must be a ConvSpec"),
    # ---------------------------------------------------------------- symbolic
    ("symbolic-none-weight", lambda: symbolic_matrix(S1, [[[None, 2, 3]]]), T, "weight must hold numbers or sympy expressions, but got None"),
    ("symbolic-bool-weight", lambda: symbolic_matrix(S1, [[[True, 2, 3]]]), T, "weight must hold numbers .* but got True"),
    ("symbolic-nan-weight", lambda: symbolic_matrix(S1, [[[float("nan"), 2, 3]]]), V, "weight must hold finite values, but got nan"),
    ("symbolic-inf-weight", lambda: symbolic_matrix(S1, np.array([[[np.inf, 2, 3]]])), V, "weight must hold finite values"),
    ("symbolic-zoo-weight", lambda: symbolic_matrix(S1, [[[sympy.zoo, 2, 3]]]), V, "weight must hold finite values"),
    ("symbolic-bad-string", lambda: symbolic_matrix(S1, [[["1 +", 2, 3]]]), T, "weight must hold numbers or sympy expressions"),
    ("symbolic-object-weight", lambda: symbolic_matrix(S1, [[[object(), 2, 3]]]), T, "weight must hold numbers"),
    ("symbolic-shape", lambda: symbolic_matrix(S1, [1, 2, 3]), V, "weight must have shape \\(1, 1, 3\\), but got \\(3,\\)"),
    ("symbolic-ragged", lambda: symbolic_matrix(S1, [[[1, 2], [3]]]), V, "weight must have shape \\(1, 1, 3\\), but got \\(1, 2\\)"),
    ("symbolic-weight-str", lambda: symbolic_matrix(S1, "w"), T, "weight must be an array of shape"),
    ("symbolic-augmented-2", lambda: symbolic_matrix(S1, augmented=2), T, "augmented must be True or False, but got 2"),
    ("symbolic-augmented-yes", lambda: symbolic_matrix(S1, augmented="yes"), T, "augmented must be True or False"),
    ("symbolic-augmented-none", lambda: symbolic_matrix(S1, augmented=None), T, "augmented must be True or False"),
    ("symbolic-bias-unused", lambda: symbolic_matrix(S1, bias=[1]), V, "bias is only part of the augmented matrix"),
    ("symbolic-bias-shape", lambda: symbolic_matrix(S, bias=[1, 2, 3], augmented=True), V, "bias must have shape \\(2,\\)"),
    ("symbolic-bias-complex-inf", lambda: symbolic_matrix(S1, bias=[complex("inf")], augmented=True), V, "bias must hold finite values"),
    ("symbolic-huge", lambda: symbolic_matrix(BIG), V, "the explicit sympy matrix of ConvSpec.* would have 2,999,999,994 nonzeros"),
    ("symbolic-wide", lambda: symbolic_matrix(WIDE, augmented=True), V, "the explicit sympy matrix of ConvSpec\\(512 -> 512"),
    ("symbols-name-int", lambda: weight_symbols(S, name=3), T, "name must be a non-empty string, but got 3"),
    ("symbols-name-empty", lambda: weight_symbols(S, name=""), T, "name must be a non-empty string"),
    ("symbols-spec", lambda: weight_symbols("spec"), T, "spec must be a ConvSpec, but got str"),
    ("symbols-huge", lambda: weight_symbols(WIDE), V, "weight_symbols\\(spec\\) would have 2,359,296 sympy symbols"),
    ("bias-symbols-name", lambda: bias_symbols(S, name=None), T, "name must be a non-empty string"),
    ("bias-symbols-huge", lambda: bias_symbols(ConvSpec(1, 2**21, 1, input_size=1)), V, "bias_symbols\\(spec\\) would have 2,097,152 sympy symbols"),
    ("weight-symbol-name", lambda: WeightSymbol(None, (0,)), T, "name must be a non-empty string"),
    ("weight-symbol-index", lambda: WeightSymbol("w", (1.5,)), T, "index must be a tuple of integers"),
    ("exact-none", lambda: exact(None, "weight"), T, "weight must hold numbers or sympy expressions, but got None"),
    ("exact-nan-complex", lambda: exact(complex("nan"), "bias"), V, "bias must hold finite values"),
    ("exact-list", lambda: exact([1, 2], "weight"), T, "weight must hold numbers"),
    ("entry-values-shape", lambda: entry_values(S, [0], [0], np.zeros(3)), V, "weight must have shape \\(2, 1, 3\\), but got \\(3,\\)"),
    ("entry-values-name", lambda: entry_values(S, [0], [0], name=""), T, "name must be a non-empty string"),
    ("entry-values-meta", lambda: entry_values(S, [0], [0], torch.empty(2, 1, 3, device="meta")), V, "weight must hold values, but got a tensor on the meta device"),
    # ----------------------------------------------------------------- numeric
    ("numeric-none", lambda: numeric_matrix(S, None), T, "weight must be a torch tensor or an array of numbers, but got NoneType"),
    ("numeric-str", lambda: numeric_matrix(S, "w"), T, "weight must be a torch tensor or an array of numbers"),
    ("numeric-object", lambda: numeric_matrix(S, weight_symbols(S)), T, "weight must be a torch tensor .* of objects"),
    ("numeric-ragged", lambda: numeric_matrix(S, [[[1, 2, 3]], [[1]]]), T, "weight must be a torch tensor or an array of numbers"),
    ("numeric-bool", lambda: numeric_matrix(S, torch.ones(2, 1, 3, dtype=torch.bool)), T, "weight must hold numbers, but got a bool tensor"),
    ("numeric-meta", lambda: numeric_matrix(S, torch.empty(2, 1, 3, device="meta")), V, "weight must hold values, but got a tensor on the meta device"),
    ("numeric-sparse", lambda: numeric_matrix(S, W.to_sparse()), V, "weight must be a dense \\(strided\\) tensor"),
    ("numeric-shape", lambda: numeric_matrix(S, torch.zeros(3)), V, "weight must have shape \\(2, 1, 3\\)"),
    ("numeric-layout", lambda: numeric_matrix(S, W, layout="bsr"), V, "layout must be one of \\('dense', 'coo', 'csr'\\), but got 'bsr'"),
    ("numeric-layout-none", lambda: numeric_matrix(S, W, layout=None), V, "layout must be one of"),
    ("numeric-augmented-2", lambda: numeric_matrix(S, W, augmented=2), T, "augmented must be True or False, but got 2"),
    ("numeric-bias-unused", lambda: numeric_matrix(S, W, bias=torch.zeros(2)), V, "bias is only part of the augmented matrix"),
    ("numeric-bias-missing", lambda: numeric_matrix(S.replace(bias=True), W, augmented=True), V, "bias must be given when spec.bias is True"),
    ("numeric-bias-shape", lambda: numeric_matrix(S, W, bias=torch.zeros(3), augmented=True), V, "bias must have shape \\(2,\\)"),
    ("numeric-bias-batch", lambda: numeric_matrix(S, W, bias=torch.zeros(4, 2), augmented=True), V, "bias must have shape \\(2,\\) \\(the weight's batch\\)"),
    ("numeric-bias-meta", lambda: numeric_matrix(S, W, bias=torch.empty(2, device="meta"), augmented=True), V, "bias must hold values"),
    ("numeric-spec", lambda: numeric_matrix({}, W), T, "spec must be a ConvSpec, but got dict"),
    ("numeric-dense-huge", lambda: numeric_matrix(BIG, torch.zeros(1, 1, 3)), V, "the dense 999999998 x 1000000000 matrix would need"),
    ("numeric-csr-huge", lambda: numeric_matrix(WIDE, torch.zeros(1).expand(512, 512, 3, 3), layout="csr"), V, "the csr matrix with 39569534746624 nonzeros would need"),
    # -------------------------------------------------------------------- lazy
    ("lazy-name", lambda: lazy_symbolic_matrix(S, name=3), T, "name must be a non-empty string, but got 3"),
    ("lazy-spec", lambda: lazy_symbolic_matrix((1, 2, 3)), T, "spec must be a ConvSpec"),
    ("lazy-weight-shape", lambda: lazy_symbolic_matrix(S, np.zeros((1, 1, 3))), V, "weight must have shape \\(2, 1, 3\\)"),
    ("lazy-weight-nan", lambda: lazy_symbolic_matrix(S, np.full((2, 1, 3), np.nan)), V, "weight must hold finite values"),
    ("lazy-explicit-huge", lambda: lazy_symbolic_matrix(BIG).as_explicit(), V, "the explicit 999999998 x 1000000000 matrix would have"),
    ("lazy-slice-huge", lambda: lazy_symbolic_matrix(WIDE)[:3000, :3000].as_explicit(), V, "the explicit 3000 x 3000 matrix would have 9,000,000 entries"),
    ("lazy-subs-huge", lambda: lazy_symbolic_matrix(WIDE).subs(WeightSymbol("w", (0, 0, 0, 0)), 1), V, "substituting into the default symbols of the layer would have 2,359,296 weights"),
    # -------------------------------------------------------------------- fill
    ("fill-pattern", lambda: fill_plan(S), T, "pattern must be a SharingPattern, but got ConvSpec"),
    ("fill-depth-range", lambda: fill_plan(sharing_pattern(S), depth=5), V, "depth must be between 0 and 1, but got 5"),
    ("fill-depth-float", lambda: fill_plan(sharing_pattern(S), depth=0.5), T, "depth must be an integer"),
    # ------------------------------------------------------------------ shifts
    ("shift-indices-size", lambda: shift_indices((0, 3), (1, 1)), V, "size must be a positive integer or a tuple"),
    ("shift-indices-size-float", lambda: shift_indices(4.0, (1,)), T, "size must be a positive integer or a tuple"),
    ("shift-indices-shift-float", lambda: shift_indices(4, (1.5,)), T, "shift must be an integer or a tuple of integers"),
    ("shift-indices-shift-bool", lambda: shift_indices(4, True), T, "shift must be an integer or a tuple of integers"),
    ("shift-indices-shift-len", lambda: shift_indices((4, 4), 1), V, "shift must have one value per axis \\(2\\)"),
    ("shift-indices-huge-shift", lambda: shift_indices(4, 10**30), V, "shift must be integers between -2\\*\\*62 and 2\\*\\*62"),
    ("shift-indices-mode", lambda: shift_indices(4, 1, "zeros"), V, "mode must be one of \\('zero', 'cyclic'\\), but got 'zeros'"),
    ("shift-indices-channels", lambda: shift_indices(4, 1, channels=0), V, "channels must be a positive integer"),
    ("shift-indices-channels-bool", lambda: shift_indices(4, 1, channels=True), T, "channels must be an integer"),
    ("shift-indices-huge", lambda: shift_indices(10**12, 1), V, "the index map of 1 x \\(1000000000000,\\) points would need"),
    ("reflection-indices-axes", lambda: reflection_indices((3, 3), axes=(2,)), V, "axes must be spatial axes in range\\(-2, 2\\), but got \\(2,\\)"),
    ("reflection-indices-axes-empty", lambda: reflection_indices((3, 3), axes=()), V, "axes must be spatial axes"),
    ("reflection-indices-axes-str", lambda: reflection_indices((3, 3), axes="x"), T, "axes must be an integer or a tuple"),
    ("shift-matrix-backend", lambda: shift_matrix(3, 1, backend="scipy"), V, "backend must be one of"),
    ("shift-matrix-dense-huge", lambda: shift_matrix(10**6, 1, backend="numpy"), V, "the dense 1000000 x 1000000 numpy matrix would need 7.28 TiB"),
    ("shift-matrix-sympy-huge", lambda: shift_matrix(10**7, 1), V, "the sympy 10000000 x 10000000 matrix would have 10,000,000 nonzeros"),
    ("reflection-matrix-backend", lambda: reflection_matrix(3, backend=None), V, "backend must be one of"),
    ("apply-shift-list", lambda: apply_shift([1, 2, 3], 1), T, "x must be a numpy array or a torch tensor, but got list"),
    ("apply-shift-empty", lambda: apply_shift(np.zeros(3), ()), T, "shift must be an integer or a non-empty tuple"),
    ("apply-shift-rank", lambda: apply_shift(np.zeros(3), (1, 1)), V, "x must have at least 2 dimensions"),
    ("apply-shift-float", lambda: apply_shift(np.zeros(3), 1.5), T, "shift must be an integer or a non-empty tuple"),
    ("apply-shift-mode", lambda: apply_shift(np.zeros(3), 1, "roll"), V, "mode must be one of"),
    ("apply-shift-huge", lambda: apply_shift(np.zeros(3), 10**30), V, "shift must be integers between"),
    ("apply-reflection-list", lambda: apply_reflection([[1, 2]]), T, "x must be a numpy array or a torch tensor"),
    ("apply-reflection-rank", lambda: apply_reflection(np.zeros((1, 1, 3)), rank=0), V, "rank must be a positive number of spatial axes"),
    ("apply-reflection-rank-big", lambda: apply_reflection(np.zeros((1, 1, 3)), rank=4), V, "x must have at least 4 dimensions"),
    ("apply-reflection-axes", lambda: apply_reflection(np.zeros((1, 1, 3)), axes=(1,)), V, "axes must be spatial axes in range\\(-1, 1\\)"),
    # ------------------------------------------------------------ certificates
    ("check-shift-spec", lambda: check_shift("conv", 1), T, "spec must be a ConvSpec, but got str"),
    ("check-shift-huge-value", lambda: check_shift(S, 10**30), V, "shift must be integers between -2\\*\\*62 and 2\\*\\*62"),
    ("check-shift-len", lambda: check_shift(S, (1, 2)), V, "shift must have one value per axis \\(1\\)"),
    ("check-shift-float", lambda: check_shift(S, 0.5), T, "shift must be an integer or a tuple"),
    ("check-shift-mode", lambda: check_shift(S, 1, "roll"), V, "mode must be one of"),
    ("check-shift-output-shift", lambda: check_shift(S, 1, output_shift=(1, 1)), V, "output_shift must have one value per axis"),
    ("check-shift-huge", lambda: check_shift(BIG, 1), V, "the shift certificate of ConvSpec\\(1 -> 1.*would need"),
    ("check-shift-wide", lambda: check_shift(WIDE, (1, 1)), V, "the shift certificate of ConvSpec\\(1 -> 1, kernel_size=\\(3, 3\\), input_size=\\(4096, 4096\\).* would need .* of working memory"),
    ("explain-position", lambda: check_shift(S, 1).explain((3,)), V, "position must lie in the output grid \\(3,\\), but got \\(3,\\)"),
    ("explain-position-float", lambda: check_shift(S, 1).explain(0.5), T, "position must be an integer or a tuple"),
    ("commutator-stride", lambda: check_shift(S.replace(stride=2), 1).commutator(), V, "shift must be a multiple of the stride \\(2,\\) for a commutator"),
    ("commutator-huge", lambda: check_shift(ConvSpec(64, 64, 3, input_size=(8, 8)), (1, 1)).commutator(), V, "the sympy commutator of ConvSpec\\(64 -> 64.* would have 1,327,104 nonzeros"),
    ("commutator-weight", lambda: check_shift(S, 1).commutator(np.zeros(3)), V, "weight must have shape \\(2, 1, 3\\)"),
    ("matching-shift-float", lambda: matching_output_shift(S, 1.0), T, "shift must be an integer or a tuple"),
    ("boundary-empty", lambda: boundary_map(S, []), V, "shifts must be a non-empty list of shifts"),
    ("boundary-str", lambda: boundary_map(S, "ab"), V, "shifts must be a non-empty list of shifts"),
    ("boundary-float", lambda: boundary_map(S, [1, 0.5]), T, "shifts\\[1\\] must be an integer or a tuple"),
    ("boundary-mode", lambda: boundary_map(S, [1], mode="zeros"), V, "mode must be one of"),
    ("interior-mode", lambda: zero_padding_interior(CIRC, 1), V, "spec must be a forward layer with padding_mode='zeros'"),
    ("interior-stride", lambda: zero_padding_interior(S.replace(stride=2), 1), V, "shift must be a multiple of the stride"),
    ("interior-huge", lambda: zero_padding_interior(ConvSpec(1, 1, 3, input_size=(2**30, 2**30)), (1, 1)), V, "the exactness map of ConvSpec"),
    ("reflection-axes", lambda: check_reflection(S, axes=(1,)), V, "axes must be spatial axes in range\\(-1, 1\\)"),
    ("reflection-spec", lambda: check_reflection(None), T, "spec must be a ConvSpec, but got NoneType"),
    ("reflection-huge", lambda: check_reflection(BIG), V, "the reflection certificate of ConvSpec"),
    ("equivariance-f", lambda: equivariance_error(3, X, 1), T, "f must be callable, but got int"),
    ("equivariance-x-array", lambda: equivariance_error(nn.Identity(), np.zeros((1, 1, 4)), 1), T, "x must be a torch.Tensor, but got ndarray"),
    ("equivariance-x-meta", lambda: equivariance_error(nn.Identity(), torch.empty(1, 1, 4, device="meta"), 1), V, "x must be a dense tensor with values"),
    ("equivariance-x-nan", lambda: equivariance_error(nn.Identity(), nan_tensor(), 1), V, "x must be finite"),
    ("equivariance-shift-empty", lambda: equivariance_error(nn.Identity(), X, ()), T, "shift must be an integer or a non-empty tuple"),
    ("equivariance-shift-huge", lambda: equivariance_error(nn.Identity(), X, 10**30), V, "shift must be integers between"),
    ("equivariance-batch", lambda: equivariance_error(nn.Identity(), torch.zeros(4), 1), V, "x must have a batch dimension"),
    ("equivariance-mode", lambda: equivariance_error(nn.Identity(), X, 1, "roll"), V, "mode must be one of"),
    ("equivariance-output-shift", lambda: equivariance_error(nn.Identity(), X, 1, output_shift=(1, 2)), V, "output_shift must have one value per axis"),
    ("reflection-error-f", lambda: reflection_error(None, X), T, "f must be callable, but got NoneType"),
    ("reflection-error-g", lambda: reflection_error(nn.Identity(), X, g=3), T, "g must be callable"),
    ("reflection-error-x", lambda: reflection_error(nn.Identity(), [[1.0]]), T, "x must be a torch.Tensor"),
    ("reflection-error-rank", lambda: reflection_error(nn.Identity(), X, rank=3), V, "rank must leave a batch dimension"),
    ("reflection-error-rank-bool", lambda: reflection_error(nn.Identity(), X, rank=True), T, "rank must be an integer"),
    ("reflection-error-axes", lambda: reflection_error(nn.Identity(), X, axes=(2,)), V, "axes must be spatial axes"),
    # --------------------------------------------------------------- structure
    ("toeplitz-1d", lambda: is_toeplitz(np.zeros(4)), V, "M must be a 2-D matrix, but got shape \\(4,\\)"),
    ("toeplitz-none", lambda: is_toeplitz(None), T, "M must be a matrix, but got NoneType"),
    ("toeplitz-str", lambda: is_toeplitz("abc"), T, "M must be a matrix, but got str"),
    ("toeplitz-nan", lambda: is_toeplitz(np.full((2, 2), np.nan)), V, "M must be finite"),
    ("toeplitz-ragged", lambda: is_toeplitz([[1, 2], [3]]), V, "M must be a 2-D matrix, but got a ragged nesting"),
    ("toeplitz-meta", lambda: is_toeplitz(torch.empty(2, 2, device="meta")), V, "M must hold values"),
    ("toeplitz-atol-neg", lambda: is_toeplitz(np.zeros((2, 2)), atol=-1), V, "atol must be a non-negative number, but got -1"),
    ("toeplitz-atol-nan", lambda: is_toeplitz(np.zeros((2, 2)), atol=float("nan")), V, "atol must be a finite number"),
    ("toeplitz-atol-str", lambda: is_toeplitz(np.zeros((2, 2)), atol="0"), T, "atol must be a real number"),
    ("toeplitz-sympy-huge", lambda: is_toeplitz(sympy.SparseMatrix(3000, 3000, {})), V, "M as a dense array would have 9,000,000 entries"),
    ("circulant-atol", lambda: is_circulant(np.zeros((2, 2)), atol=True), T, "atol must be a real number"),
    ("block-shape-int", lambda: is_block_toeplitz(np.zeros((6, 6)), 2), T, "block_shape must be two positive integers"),
    ("block-shape-divide", lambda: is_block_toeplitz(np.zeros((6, 6)), (4, 2)), V, "block_shape must divide the matrix shape \\(6, 6\\)"),
    ("block-shape-zero", lambda: is_block_toeplitz(np.zeros((6, 6)), (0, 2)), V, "block_shape must be a positive integer"),
    ("block-shape-float", lambda: is_block_toeplitz(np.zeros((6, 6)), (1.5, 2)), T, "block_shape must be an integer"),
    ("levels-zero", lambda: toeplitz_levels(np.zeros((4, 4)), max_levels=0), V, "max_levels must be a positive integer, but got 0"),
    ("levels-bool", lambda: toeplitz_levels(np.zeros((4, 4)), max_levels=True), T, "max_levels must be an integer"),
    ("levels-float", lambda: toeplitz_levels(np.zeros((4, 4)), max_levels=2.0), T, "max_levels must be an integer"),
    ("recover-input-zero", lambda: recover_convolution(np.eye(3), 0), V, "input_size must be a positive integer"),
    ("recover-input-str", lambda: recover_convolution(np.eye(3), "3"), T, "input_size must be an int or a tuple"),
    ("recover-modes", lambda: recover_convolution(np.eye(3), 3, padding_modes=("mirror",)), V, "padding_modes must be one of"),
    ("recover-modes-str", lambda: recover_convolution(np.eye(3), 3, padding_modes="zeros"), T, "padding_modes must be a non-empty tuple"),
    ("recover-modes-empty", lambda: recover_convolution(np.eye(3), 3, padding_modes=()), T, "padding_modes must be a non-empty tuple"),
    ("recover-candidates", lambda: recover_convolution(np.eye(3), 3, max_candidates=0), V, "max_candidates must be a positive integer"),
    ("recover-out-channels", lambda: recover_convolution(np.eye(3), 3, out_channels=0), V, "out_channels must be a positive integer"),
    ("recover-stride", lambda: recover_convolution(np.eye(3), 3, stride=0), V, "stride must be a positive integer"),
    ("recover-output-size", lambda: recover_convolution(np.eye(3), 3, output_size=(1, 1)), V, "output_size must have one value per axis"),
    ("recover-atol", lambda: recover_convolution(np.eye(3), 3, atol=-0.5), V, "atol must be a non-negative number"),
    ("recover-nan", lambda: recover_convolution(np.full((3, 3), np.nan), 3), V, "M must be finite"),
    ("recover-budget", lambda: recover_convolution(np.eye(96), 96), V, "recover_convolution of a 96 x 96 matrix would have .* support cells"),
    ("eigen-zeros", lambda: circulant_eigenvalues(S1), V, "spec must be circulant \\(padding_mode='circular'"),
    ("eigen-channels", lambda: circulant_eigenvalues(CIRC.replace(out_channels=2)), V, "spec must have one input and one output channel"),
    ("eigen-weight", lambda: circulant_eigenvalues(CIRC, [1, 2, 3]), V, "weight must have shape \\(1, 1, 3\\)"),
    ("eigen-huge", lambda: circulant_eigenvalues(CIRC.replace(input_size=20000)), V, "the exact eigenvalues of ConvSpec.* would have 60,000 sympy terms"),
    # ----------------------------------------------------------------- compose
    ("compose-spec1", lambda: compose(S, None), T, "spec1 must be a ConvSpec, but got NoneType"),
    ("compose-spec2", lambda: compose("x", S), T, "spec2 must be a ConvSpec, but got str"),
    ("compose-strict", lambda: compose(ConvSpec(2, 1, 1, input_size=3), S, strict="yes"), T, "strict must be True or False"),
    ("compose-channels", lambda: compose(ConvSpec(3, 1, 1, input_size=3), S), V, "spec2.in_channels must equal spec1.out_channels"),
    ("compose-size", lambda: compose(ConvSpec(2, 1, 1, input_size=4), S), V, "spec2.input_size must equal spec1.output_size"),
    ("compose-transposed", lambda: compose(ConvSpec(2, 1, 1, input_size=3, transposed=True), S), V, "spec2.transposed must be False"),
    ("compose-bias", lambda: compose(ConvSpec(2, 1, 1, input_size=3, bias=True), S), V, "spec2.bias must be False"),
    ("compose-weight-shape", lambda: compose(ConvSpec(2, 1, 1, input_size=3), S, [[[1], [2]]], [1, 2]), V, "weight1 must have shape \\(2, 1, 3\\)"),
    ("compose-torch-none", lambda: compose(ConvSpec(2, 1, 1, input_size=3), S, torch.ones(1, 2, 1)), V, "weight1 and weight2 must both be given"),
    ("compose-weight-nan", lambda: compose(ConvSpec(2, 1, 1, input_size=3), S, [[[1], [2]]], [[[Fraction(1), 2, float("nan")]], [[1, 2, 3]]]), V, "weight1 must hold finite values"),
    ("compose-same-same", lambda: compose(ConvSpec(1, 1, 3, input_size=5, padding="same"), ConvSpec(1, 1, 3, input_size=5, padding="same")), V, "spec2 after spec1 must be one layer for compose\\(strict=True\\)"),
    ("compose-huge", lambda: compose(ConvSpec(1, 1, 3, input_size=10**9 - 2), ConvSpec(1, 1, 3, input_size=10**9)), V, "comparing the boundaries of the two layers would need"),
    ("composed-matrix-huge", lambda: composed_matrix(ConvSpec(1, 1, 3, input_size=10**7 - 2), ConvSpec(1, 1, 3, input_size=10**7)), V, "the product T2 @ T1 would have .* products of entries"),
    # ------------------------------------------------------------------ graphs
    ("sharing-graph-spec", lambda: sharing_graph((3, 5)), T, "spec must be a ConvSpec, but got tuple"),
    ("sharing-graph-huge", lambda: sharing_graph(ConvSpec(64, 64, 3, input_size=(32, 32))), V, "the sharing graph would have .* nodes and edges"),
    ("connectivity-empty", lambda: connectivity_graph([]), T, "layers must be a ConvSpec or a list of ConvSpecs"),
    ("connectivity-str", lambda: connectivity_graph("conv"), T, "layers must be a ConvSpec or a list of ConvSpecs"),
    ("connectivity-channels", lambda: connectivity_graph(S, channels="yes"), T, "channels must be True or False"),
    ("connectivity-chain", lambda: connectivity_graph([S, S]), V, "layers must chain"),
    ("connectivity-huge", lambda: connectivity_graph(BIG), V, "the connectivity graph would have"),
    ("ancestors-graph", lambda: input_ancestors(None, (1, 0)), T, "graph must be a networkx.DiGraph"),
    ("ancestors-node", lambda: input_ancestors(connectivity_graph(S1), (5, 0)), V, "node must be a \\(level, index\\) node of the graph, but got \\(5, 0\\)"),
    ("ancestors-node-unhashable", lambda: input_ancestors(connectivity_graph(S1), [1, 0]), V, "node must be a \\(level, index\\) node"),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_fast_and_small(call, error, match):
    with pytest.raises(error, match=match) as caught:  # warm-up: first-use imports
        call()
    assert isinstance(caught.value, (SymtoeError, ValueError, TypeError))
    start = time.process_time()
    with pytest.raises(error, match=match):
        call()
    cpu = time.process_time() - start
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cpu < 0.1, f"refused after {cpu * 1e3:.0f} ms of CPU"
    assert peak < 100 * 2**20, f"refused after a peak of {peak / 2**20:.0f} MiB"


def test_errors_are_one_family():
    """Type errors are symtoe's ``SymtoeTypeError``: caught as ``TypeError`` and,
    as symtoe's errors always were, as ``ValueError``; size refusals are
    ``SizeLimitError``."""
    with pytest.raises(SymtoeTypeError) as caught:
        ConvSpec(1, 1, 3.0, input_size=5)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    with pytest.raises(SizeLimitError):
        symbolic_matrix(BIG)
    assert len(CASES) == len({c[0] for c in CASES}) >= 200
