"""symtoe: what a convolution layer is, exactly, as a matrix.

A kernel of sympy symbols becomes the layer's Toeplitz / multilevel
block-Toeplitz matrix; the same sharing pattern gives torch matrices (dense,
COO, CSR) equal to ``F.conv*``, parameter counts, and exact analyses.

The package is layered (``../shared/DESIGN.md``): :mod:`symtoe.core` (the
spec, the sharing pattern and its evaluations), :mod:`symtoe.analysis` (shifts,
certificates, structure, spectra, composition), :mod:`symtoe.network` (whole
models) and :mod:`symtoe.present` (LaTeX, pictures, graphs).  This module
exports the names a user needs; lower-level names (result classes, per-axis
patterns, index maps) are imported from their modules.

``import symtoe`` imports neither torch, matplotlib nor networkx: the names
that need them load their module on first use.
"""

from typing import TYPE_CHECKING

from .analysis.aliasing import (
    aliasing_gain,
    aps_select,
    binomial_filter,
    blurpool,
    check_aps,
    polyphase_shift,
    shift_subgroup,
)
from .analysis.compose import compose, composed_matrix
from .analysis.equivariance import (
    boundary_map,
    check_reflection,
    check_shift,
    equivariance_error,
    matching_output_shift,
    reflection_error,
    zero_padding_interior,
)
from .analysis.group_conv import GroupConvSpec, count_group_parameters, tied_kernel
from .analysis.groups import (
    apply_group_element,
    equivariant_kernel_basis,
    kernel_space_dimension,
)
from .analysis.shifts import apply_reflection, apply_shift, reflection_matrix, shift_matrix
from .analysis.structure import (
    circulant_eigenvalues,
    is_block_toeplitz,
    is_circulant,
    is_toeplitz,
    recover_convolution,
    toeplitz_levels,
)
from .analysis.symmetry import check_rotation, check_symmetry
from .core.counts import ParameterCounts, count_parameters
from .core.pattern import SharingPattern, sharing_pattern
from .core.spec import ConvSpec
from .core.symbolic import bias_symbols, symbolic_matrix, weight_symbols
from .core.validate import SizeLimitError, SymtoeError, SymtoeTypeError
from .network.certificate import CertificateGraph
from .network.model_certificate import model_boundary_map, model_graph, model_shift_check
from .network.model_symmetry import model_rotation_check, model_symmetry_check
from .network.receptive import column_coverage, layer_specs, reachable_inputs, receptive_field
from .network.report import parameter_report
from .network.trace import trace_model
from .present.latex import to_latex

if TYPE_CHECKING:  # static tools see these; at run time they load on first use
    from .analysis.norms import operator_norm
    from .analysis.regularize import norm_bound, project_norm
    from .analysis.spectrum import singular_values
    from .core.lazy import lazy_symbolic_matrix
    from .core.numeric import numeric_matrix
    from .network.spectral import spectral_report
    from .present.animate import animate, to_gif, window_frames
    from .present.graphs import connectivity_graph, input_ancestors, sharing_graph
    from .present.network_plot import plot_network_boundary_map
    from .present.plot import (
        nonzero_counts,
        plot_boundary_map,
        plot_coverage,
        plot_receptive_field,
        plot_sharing,
        plot_sparsity,
        tap_coverage,
        weight_colours,
    )

__all__ = [
    # one layer: geometry, pattern, matrices, counts
    "ConvSpec",
    "sharing_pattern",
    "SharingPattern",
    "symbolic_matrix",
    "numeric_matrix",
    "lazy_symbolic_matrix",
    "weight_symbols",
    "bias_symbols",
    "count_parameters",
    "ParameterCounts",
    # shifts, reflections and exact certificates
    "apply_shift",
    "apply_reflection",
    "shift_matrix",
    "reflection_matrix",
    "check_shift",
    "check_reflection",
    "boundary_map",
    "zero_padding_interior",
    "matching_output_shift",
    "equivariance_error",
    "reflection_error",
    # rotations and reflections: exact group sharing on the pixel grid
    "equivariant_kernel_basis",
    "kernel_space_dimension",
    "GroupConvSpec",
    "tied_kernel",
    "count_group_parameters",
    "apply_group_element",
    "check_rotation",
    "check_symmetry",
    # aliasing of strided layers
    "shift_subgroup",
    "polyphase_shift",
    "aliasing_gain",
    "binomial_filter",
    "blurpool",
    "aps_select",
    "check_aps",
    # structure of a matrix
    "is_toeplitz",
    "is_circulant",
    "is_block_toeplitz",
    "toeplitz_levels",
    "recover_convolution",
    "circulant_eigenvalues",
    # spectra and composition
    "singular_values",
    "operator_norm",
    "norm_bound",
    "project_norm",
    "compose",
    "composed_matrix",
    # whole models
    "trace_model",
    "parameter_report",
    "CertificateGraph",
    "model_graph",
    "model_shift_check",
    "model_boundary_map",
    "model_symmetry_check",
    "model_rotation_check",
    "spectral_report",
    "receptive_field",
    "column_coverage",
    "layer_specs",
    "reachable_inputs",
    # for people
    "to_latex",
    "plot_sharing",
    "plot_sparsity",
    "plot_coverage",
    "plot_boundary_map",
    "plot_network_boundary_map",
    "plot_receptive_field",
    "weight_colours",
    "nonzero_counts",
    "tap_coverage",
    "animate",
    "window_frames",
    "to_gif",
    "sharing_graph",
    "connectivity_graph",
    "input_ancestors",
    # errors: bad arguments (a ValueError; a TypeError too for wrong types) and
    # requests over a size limit
    "SymtoeError",
    "SymtoeTypeError",
    "SizeLimitError",
]

__version__ = "0.1.0"

# name -> module of the names above that need torch, matplotlib or networkx
_LAZY = {
    "numeric_matrix": "core.numeric",
    "lazy_symbolic_matrix": "core.lazy",
    "operator_norm": "analysis.norms",
    "norm_bound": "analysis.regularize",
    "project_norm": "analysis.regularize",
    "singular_values": "analysis.spectrum",
    "spectral_report": "network.spectral",
    "connectivity_graph": "present.graphs",
    "input_ancestors": "present.graphs",
    "sharing_graph": "present.graphs",
    "plot_boundary_map": "present.plot",
    "plot_network_boundary_map": "present.network_plot",
    "plot_coverage": "present.plot",
    "plot_receptive_field": "present.plot",
    "plot_sharing": "present.plot",
    "plot_sparsity": "present.plot",
    "weight_colours": "present.plot",
    "nonzero_counts": "present.plot",
    "tap_coverage": "present.plot",
    "animate": "present.animate",
    "window_frames": "present.animate",
    "to_gif": "present.animate",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'symtoe' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
