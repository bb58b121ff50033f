"""Layer facts of a :class:`~symtoe.network.certificate.CertificateGraph`:
small frozen records, one per kind of layer, named as torch names its arguments.

**Layer facts** and their own commutation (``own``):

========================  ==============================================================
fact                      own commutation at output ``r``
========================  ==============================================================
``Input``                 the map of ``S_t x``: exact everywhere, shift ``t``
``Conv(spec)`` / spec     :func:`symtoe.check_shift`'s ``exact`` of the one-channel
                          layer, computed axis by axis; with ``spec.bias``
                          zero-filled positions fail under zero-fill shifts
``Pointwise(maps_zero)``  everywhere for cyclic shifts; for zero-fill shifts only where
                          nothing was filled, unless the op maps 0 to 0
``MaxPool(...)``          exact set equality of the values the window sees (a
                          zero-filled value is a real 0 for the max, padding is -inf)
``AvgPool``, ``Blur``,    fixed separable linear maps ``A = A_1 x ... x A_N``: row ``r``
``FixedConv``,            of ``A S - S' A`` is ``(x) alpha_a - (x) beta_a``, zero iff some
``Upsample``, ``Pad``     ``alpha_a`` and some ``beta_b`` vanish or every ``alpha_a =
                          c_a beta_a`` with ``prod c_a = 1``; exact for the given weights
``Sum``, ``Concat``,      intersection of the inputs' exact maps (rank-0 inputs
``Multiply``              broadcast); the inputs' shifts must agree
``GlobalPool``            rank 0 (invariance): exact iff every position is exact and the
                          shift is cyclic (or zero)
``Linear``, ``Flatten``   on a spatial map: not shift-equivariant (exact only for the
                          zero shift); on a rank-0 map: passes exactness through
========================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.spec import ConvSpec
from ..core.validate import boolean

__all__ = [
    "AvgPool",
    "Blur",
    "Concat",
    "Conv",
    "FixedConv",
    "Flatten",
    "GlobalPool",
    "Linear",
    "MAPS_ZERO_TO_ZERO",
    "MaxPool",
    "Multiply",
    "NONNEGATIVE",
    "Pad",
    "Pointwise",
    "Sum",
    "Upsample",
]

#: Whether torch's pointwise modules map 0 to 0 (``f(0) == 0``): those that do
#: stay exact on zero-filled positions.  BatchNorm in eval maps 0 to
#: ``beta - mean * gamma / sqrt(var + eps)``: decide from its buffers.
MAPS_ZERO_TO_ZERO = {
    "Identity": True, "ReLU": True, "ReLU6": True, "LeakyReLU": True, "PReLU": True,
    "ELU": True, "SELU": True, "CELU": True, "GELU": True, "SiLU": True, "Mish": True,
    "Tanh": True, "Hardtanh": True, "Hardswish": True, "Softsign": True, "Tanhshrink": True,
    "Softshrink": True, "Hardshrink": True, "Dropout": True, "Dropout1d": True,
    "Dropout2d": True, "Dropout3d": True, "AlphaDropout": True,
    "Sigmoid": False, "Hardsigmoid": False, "Softplus": False, "LogSigmoid": False,
}

#: torch's pointwise modules whose outputs are never negative.
NONNEGATIVE = frozenset({"ReLU", "ReLU6", "Sigmoid", "Hardsigmoid", "Softplus"})



# ===================================================================== facts
@dataclass(frozen=True)
class Conv:
    """A convolution or transposed convolution with free weights (a ConvSpec)."""

    spec: ConvSpec


@dataclass(frozen=True)
class Pointwise:
    """An elementwise op: activation, eval BatchNorm, dropout in eval, bias, scale.

    ``maps_zero_to_zero``: whether ``f(0) == 0`` (:data:`MAPS_ZERO_TO_ZERO`);
    ``nonnegative``: whether ``f >= 0`` everywhere (:data:`NONNEGATIVE`: ReLU,
    Sigmoid, ...), which makes a zero-filled value invisible to a later max.
    """

    maps_zero_to_zero: bool = True
    nonnegative: bool = False

    def __post_init__(self):
        boolean(self.maps_zero_to_zero, "maps_zero_to_zero")
        boolean(self.nonnegative, "nonnegative")


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPoolNd(kernel_size, stride, padding, dilation, ceil_mode)``."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False


@dataclass(frozen=True)
class AvgPool:
    """``nn.AvgPoolNd(kernel_size, stride, padding, ceil_mode, count_include_pad,
    divisor_override)``, exactly (the per-window divisors included)."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None


@dataclass(frozen=True)
class FixedConv:
    """A depthwise convolution with a fixed separable kernel.

    ``spec`` gives the geometry (its channels are ignored; transposed allowed);
    ``taps`` one 1-D filter per axis (or one for every axis) of numbers or
    Fractions; the kernel is their outer product.
    """

    spec: ConvSpec
    taps: tuple


@dataclass(frozen=True)
class Blur:
    """antialiased-cnns' ``Downsample(pad_type, filt_size, stride)`` (BlurPool):
    the binomial filter, padded ``((k-1)//2, k//2)`` per axis, then subsampled."""

    filt_size: int = 3
    stride: int = 2
    pad_type: str = "reflect"


@dataclass(frozen=True)
class Upsample:
    """``nn.Upsample(scale_factor=..., mode=..., align_corners=...)`` with
    integer scale factors; modes "nearest", "nearest-exact", "linear",
    "bilinear", "trilinear"."""

    scale_factor: object
    mode: str = "nearest"
    align_corners: bool = False


@dataclass(frozen=True)
class Pad:
    """``F.pad`` with per-axis ``(left, right)`` pairs (or one int for all; fewer
    pairs than axes pad the last axes) and mode "constant" (value 0),
    "reflect", "replicate" or "circular".  :meth:`from_torch` reads
    ``F.pad``'s flat, last-axis-first tuple."""

    padding: object
    mode: str = "constant"

    @classmethod
    def from_torch(cls, pad, mode: str = "constant", value: float = 0.0) -> Pad:
        """The fact of ``F.pad(x, pad, mode, value)``.

        >>> Pad.from_torch((1, 2, 3, 4), "circular").padding
        ((3, 4), (1, 2))
        """
        if value != 0:
            raise ValueError(
                f"value must be 0 (a constant pad of another value is affine), but got {value!r}"
            )
        pad = tuple(pad)
        if len(pad) % 2 or not pad:
            raise ValueError(f"pad must hold (left, right) pairs, but got {pad!r}")
        pairs = tuple((pad[i], pad[i + 1]) for i in range(0, len(pad), 2))
        return cls(tuple(reversed(pairs)), mode)


@dataclass(frozen=True)
class Sum:
    """A residual sum (rank-0 inputs broadcast, as a per-channel vector does)."""


@dataclass(frozen=True)
class Multiply:
    """An elementwise product (e.g. squeeze-and-excitation gating)."""


@dataclass(frozen=True)
class Concat:
    """A channel concatenation of maps of one spatial size."""


@dataclass(frozen=True)
class GlobalPool:
    """Pooling over every spatial position (``AdaptiveAvgPool2d(1)``, a mean, a max)."""

    kind: str = "avg"


@dataclass(frozen=True)
class Flatten:
    """``torch.flatten(x, 1)`` of a spatial map: a vector, no spatial axes."""


@dataclass(frozen=True)
class Linear:
    """``nn.Linear`` on a vector (after global pooling), or on a flattened map."""


_FACTS = (Conv, Pointwise, MaxPool, AvgPool, FixedConv, Blur, Upsample, Pad, Sum, Multiply,
          Concat, GlobalPool, Flatten, Linear)
