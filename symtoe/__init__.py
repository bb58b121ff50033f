"""symtoe: what a convolution layer is, exactly, as a matrix.

A kernel of sympy symbols becomes the layer's Toeplitz / multilevel
block-Toeplitz matrix; the same sharing pattern gives torch matrices (dense,
COO, CSR) equal to ``F.conv*``, parameter counts, and exact analyses.
"""

from .compose import Composition, compose, composed_matrix
from .counts import ParameterCounts, count_parameters
from .equivariance import (
    NumericEquivariance,
    ReflectionCheck,
    ShiftCheck,
    boundary_map,
    check_reflection,
    check_shift,
    equivariance_error,
    matching_output_shift,
    reflection_error,
    zero_padding_interior,
)
from .latex import to_latex
from .pattern import SharingPattern, axis_pattern, sharing_pattern
from .receptive import (
    ReceptiveField,
    column_coverage,
    layer_specs,
    reachable_inputs,
    receptive_field,
)
from .report import LayerRow, ParameterReport, parameter_report
from .shifts import (
    apply_reflection,
    apply_shift,
    reflection_indices,
    reflection_matrix,
    shift_indices,
    shift_matrix,
)
from .spec import ConvSpec
from .structure import (
    Recovery,
    ToeplitzLevels,
    circulant_eigenvalues,
    is_block_toeplitz,
    is_circulant,
    is_toeplitz,
    recover_convolution,
    toeplitz_levels,
)
from .symbolic import bias_symbols, symbolic_matrix, weight_symbols

__all__ = [
    "apply_reflection",
    "apply_shift",
    "axis_pattern",
    "bias_symbols",
    "boundary_map",
    "check_reflection",
    "check_shift",
    "circulant_eigenvalues",
    "column_coverage",
    "compose",
    "composed_matrix",
    "Composition",
    "connectivity_graph",
    "ConvSpec",
    "count_parameters",
    "equivariance_error",
    "fft_rule",
    "input_ancestors",
    "is_block_toeplitz",
    "is_circulant",
    "is_toeplitz",
    "layer_specs",
    "LayerRow",
    "lazy_symbolic_matrix",
    "LazyConvMatrix",
    "matching_output_shift",
    "numeric_matrix",
    "NumericEquivariance",
    "operator_norm",
    "OperatorNorm",
    "parameter_report",
    "ParameterCounts",
    "ParameterReport",
    "plot_boundary_map",
    "plot_coverage",
    "plot_receptive_field",
    "plot_sharing",
    "plot_sparsity",
    "reachable_inputs",
    "receptive_field",
    "ReceptiveField",
    "recover_convolution",
    "Recovery",
    "reflection_error",
    "reflection_indices",
    "reflection_matrix",
    "ReflectionCheck",
    "sharing_graph",
    "sharing_pattern",
    "SharingPattern",
    "shift_indices",
    "shift_matrix",
    "ShiftCheck",
    "singular_values",
    "symbolic_matrix",
    "to_latex",
    "toeplitz_levels",
    "ToeplitzLevels",
    "weight_symbols",
    "zero_padding_interior",
]

__version__ = "0.1.0"


# Heavy dependencies load on first use, so ``import symtoe`` stays light.
_LAZY = {
    "numeric_matrix": "numeric",
    "connectivity_graph": "graphs",
    "input_ancestors": "graphs",
    "sharing_graph": "graphs",
    "plot_boundary_map": "plot",
    "plot_coverage": "plot",
    "plot_receptive_field": "plot",
    "plot_sharing": "plot",
    "plot_sparsity": "plot",
    "OperatorNorm": "spectrum",
    "fft_rule": "spectrum",
    "operator_norm": "spectrum",
    "singular_values": "spectrum",
    "lazy_symbolic_matrix": "lazy",
    "LazyConvMatrix": "lazy",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'symtoe' has no attribute {name!r}")
