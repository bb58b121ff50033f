"""Parameter counts of a layer, in closed form.

Every count is a product over spatial axes of a 1-D count
(:func:`symtoe.core.sizes.axis_sizes`, ``O(k)`` arithmetic per axis) times
the number of connected channel pairs ``C_out * C_in / groups``, so nothing
of the size of the matrix, nor of an axis, is ever built: a 512 -> 512, 3x3
layer at 4096x4096, or a 1-D layer on ``10**9`` inputs, is counted in
microseconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .limits import sizes_of
from .spec import ConvSpec, check_spec

__all__ = ["ParameterCounts", "count_parameters"]


@dataclass(frozen=True)
class ParameterCounts:
    """Counts of one layer (bias excluded from all but ``bias``).

    Attributes
    ----------
    dense : int
        Entries of the dense-equivalent matrix, ``rows * cols``.
    shared : int
        Weights of the layer (``weight.numel()``).
    used : int
        Weights that appear in the matrix (dead taps under zero padding,
        which only ever meet padding, do not).
    bias : int
        Bias parameters (``out_channels`` or 0).
    nonzeros : int
        Structural nonzero entries of the matrix.
    macs : int
        Multiply-adds per sample (bias excluded).  Equals ``nonzeros`` under
        zero padding; larger where taps fold onto one entry (reflect,
        replicate, circular with a kernel longer than the input).
    """

    dense: int
    shared: int
    used: int
    bias: int
    nonzeros: int
    macs: int

    @property
    def ratio(self) -> float:
        """Dense-equivalent entries per shared weight, ``dense / shared``."""
        return self.dense / self.shared

    def as_dict(self) -> dict:
        return asdict(self)


def count_parameters(spec: ConvSpec) -> ParameterCounts:
    """Dense-equivalent, shared, used and nonzero counts of a layer.

    Closed form: with ``P = out_channels * in_channels / groups`` connected
    channel pairs and, per axis, ``nnz_a`` distinct entries, ``live_a`` taps
    that read a real input and ``mac_a`` (row, tap) pairs that do (each in
    ``O(k)`` arithmetic, :mod:`symtoe.core.sizes`)::

        nonzeros = P * prod(nnz_a),  used = P * prod(live_a),  macs = P * prod(mac_a)

    >>> count_parameters(ConvSpec(1, 1, 3, input_size=6))
    ParameterCounts(dense=24, shared=3, used=3, bias=0, nonzeros=12, macs=12)
    """
    check_spec(spec)
    sizes = sizes_of(spec)
    return ParameterCounts(
        dense=sizes.rows * sizes.cols,
        shared=math.prod(spec.weight_shape),
        used=sizes.used,
        bias=spec.out_channels if spec.bias else 0,
        nonzeros=sizes.nonzeros,
        macs=sizes.macs,
    )
