"""symtoe: what a convolution layer is, exactly, as a matrix.

A kernel of sympy symbols becomes the layer's Toeplitz / multilevel
block-Toeplitz matrix; the same sharing pattern gives torch matrices (dense,
COO, CSR) equal to ``F.conv*``, parameter counts, and exact analyses.
"""

from .counts import ParameterCounts, count_parameters
from .pattern import SharingPattern, axis_pattern, sharing_pattern
from .spec import ConvSpec
from .symbolic import bias_symbols, symbolic_matrix, weight_symbols

__all__ = [
    "ConvSpec",
    "ParameterCounts",
    "SharingPattern",
    "axis_pattern",
    "bias_symbols",
    "count_parameters",
    "numeric_matrix",
    "sharing_pattern",
    "symbolic_matrix",
    "weight_symbols",
]

__version__ = "0.1.0"


def __getattr__(name):
    # torch is heavy: load the numeric layer on first use.
    if name == "numeric_matrix":
        from .numeric import numeric_matrix

        return numeric_matrix
    raise AttributeError(f"module 'symtoe' has no attribute {name!r}")
