"""ConvSpec: the geometry of one convolution layer, validated once.

A :class:`ConvSpec` holds everything that decides a layer's matrix except the
weights: channels, groups, kernel, input size, stride, padding (and its mode),
dilation, transposition and orientation (``flip``).  It is immutable and
hashable, so derived objects (the sharing pattern, counts) are cached per spec.

Conventions (torch's, see ``../shared/THEORY.md``), per spatial axis with input
size ``n``, kernel ``k``, stride ``s``, dilation ``d``, padding
``(p_left, p_right)``:

* forward: ``o = (n + p_left + p_right - d*(k-1) - 1) // s + 1`` and
  ``y[i] = sum_j w[j] * xpad[i*s + j*d]``;
* transposed: ``o = (n-1)*s - p_left - p_right + d*(k-1) + output_padding + 1``
  and ``y[i*s - p_left + j*d] += w[j] * x[i]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral

__all__ = ["ConvSpec", "PADDING_MODES", "PADDING_STRINGS", "check_spec"]

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")
PADDING_STRINGS = ("valid", "same", "full")


def _per_axis(name: str, value, rank: int, *, minimum: int) -> tuple[int, ...]:
    """Normalise an int or per-axis tuple to a tuple of ``rank`` ints >= minimum."""
    rule = "a positive integer" if minimum == 1 else "a non-negative integer"
    if is_int(value):
        values = (int(value),) * rank
    elif isinstance(value, (tuple, list)) and all(is_int(v) for v in value):
        values = tuple(int(v) for v in value)
        if len(values) != rank:
            raise ValueError(
                f"{name} must have one value per axis of input_size ({rank}), "
                f"but got {tuple(value)!r}"
            )
    else:
        raise ValueError(f"{name} must be {rule} or a tuple of them, but got {value!r}")
    for v in values:
        if v < minimum:
            raise ValueError(f"{name} must be {rule}, but got {v}")
    return values


def is_int(value) -> bool:
    """An integer (Python or numpy), but not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _pairs(value, rank: int) -> tuple[tuple[int, int], ...]:
    """Normalise numeric padding to per-axis ``(left, right)`` pairs."""
    if is_int(value) or (
        isinstance(value, (tuple, list)) and all(is_int(v) for v in value)
    ):
        return tuple((p, p) for p in _per_axis("padding", value, rank, minimum=0))
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(u) for u in v)
        for v in value
    ):
        if len(value) != rank:
            raise ValueError(
                f"padding must have one (left, right) pair per axis of input_size "
                f"({rank}), but got {tuple(value)!r}"
            )
        pairs = tuple((int(a), int(b)) for a, b in value)
        for pair in pairs:
            if min(pair) < 0:
                raise ValueError(
                    f"padding must be non-negative, but got {pair} in {tuple(value)!r}"
                )
        return pairs
    raise ValueError(
        "padding must be an int, a per-axis tuple, per-axis (left, right) pairs, "
        f"or one of {PADDING_STRINGS}, but got {value!r}"
    )


@dataclass(frozen=True, init=False)
class ConvSpec:
    """The geometry of a convolution layer, as ``torch.nn.ConvNd`` describes it.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the layer's input and output.
    kernel_size : int or tuple of int
        Kernel extent per spatial axis.
    input_size : int or tuple of int
        Spatial size of one input sample; its length is the rank (1, 2 or 3).
    stride, dilation : int or tuple of int
        As in torch.
    padding : int, tuple, tuple of (left, right) pairs, or str
        ``"valid"`` (0), ``"same"`` (output size equals input size; stride 1
        only; torch's split ``left = total // 2`` of ``total = d*(k-1)``, or
        scipy's mirrored split when ``flip=True``) or ``"full"``
        (``d*(k-1)`` on each side).  Transposed layers take integers only.
    groups : int
        Blocked channel connections, as in torch.
    bias : bool
        Whether the layer has a bias (counts and augmented matrices).
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        torch's padding modes (``F.pad`` then the convolution).
    transposed : bool
        ``F.conv_transposeNd`` semantics; weight shape ``(in, out/groups, *k)``.
    output_padding : int or tuple of int
        Extra output rows of a transposed layer, ``< max(stride, dilation)``.
    flip : bool
        True convolution (scipy.signal's convention): the kernel reversed
        along every spatial axis.

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=6)
    >>> spec.output_size, spec.matrix_shape, spec.weight_shape
    ((4,), (4, 6), (1, 1, 3))
    >>> ConvSpec(3, 16, 2, input_size=(4, 4), stride=2, padding=1).output_size
    (3, 3)
    """

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    input_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool
    padding_mode: str
    transposed: bool
    output_padding: tuple[int, ...]
    flip: bool

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        input_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = False,
        padding_mode: str = "zeros",
        transposed: bool = False,
        output_padding=0,
        flip: bool = False,
    ):
        set_ = object.__setattr__
        if is_int(input_size):
            input_size = (input_size,)
        if not isinstance(input_size, (tuple, list)) or not 1 <= len(input_size) <= 3:
            raise ValueError(
                "input_size must be an int or a tuple of 1 to 3 spatial sizes, "
                f"but got {input_size!r}"
            )
        rank = len(input_size)
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, but got {value!r}")
        for name in ("in_channels", "out_channels"):
            channels = locals()[name]
            if channels % groups:
                raise ValueError(
                    f"{name} must be divisible by groups, but {groups} does not "
                    f"divide {channels}"
                )
        for name, value in (("bias", bias), ("transposed", transposed), ("flip", flip)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, but got {value!r}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {PADDING_MODES}, but got {padding_mode!r}"
            )
        if transposed and padding_mode != "zeros":
            raise ValueError(
                "padding_mode must be 'zeros' when transposed=True (as in torch's "
                f"ConvTransposeNd), but got {padding_mode!r}"
            )

        n = _per_axis("input_size", tuple(input_size), rank, minimum=1)
        k = _per_axis("kernel_size", kernel_size, rank, minimum=1)
        s = _per_axis("stride", stride, rank, minimum=1)
        d = _per_axis("dilation", dilation, rank, minimum=1)
        op = _per_axis("output_padding", output_padding, rank, minimum=0)
        span = tuple(di * (ki - 1) for di, ki in zip(d, k))

        if isinstance(padding, str):
            if padding not in PADDING_STRINGS:
                raise ValueError(
                    f"padding must be one of {PADDING_STRINGS} or integers, "
                    f"but got {padding!r}"
                )
            if transposed:
                raise ValueError(
                    "padding must be integers when transposed=True (as in torch's "
                    f"ConvTransposeNd), but got {padding!r}"
                )
            if padding == "valid":
                pads = ((0, 0),) * rank
            elif padding == "full":
                pads = tuple((t, t) for t in span)
            else:  # "same"
                if any(si != 1 for si in s):
                    raise ValueError(
                        "padding='same' needs stride 1 (as in torch), but got "
                        f"stride={s}"
                    )
                # torch puts the odd extra element on the right; scipy's
                # convolve(mode="same") on a flipped kernel puts it on the left.
                pads = tuple(
                    (t - t // 2, t // 2) if flip else (t // 2, t - t // 2) for t in span
                )
        else:
            pads = _pairs(padding, rank)
            if transposed and any(a != b for a, b in pads):
                raise ValueError(
                    "padding must be symmetric when transposed=True (as in torch's "
                    f"ConvTransposeNd), but got {padding!r}"
                )

        if transposed:
            for o_pad, si, di in zip(op, s, d):
                if o_pad >= max(si, di):
                    raise ValueError(
                        "output_padding must be smaller than max(stride, dilation), "
                        f"but got output_padding={op} with stride={s}, dilation={d}"
                    )
        elif any(op):
            raise ValueError(
                f"output_padding must be 0 unless transposed=True, but got {op}"
            )

        if not transposed:
            for ni, (pl, pr), sp in zip(n, pads, span):
                if sp + 1 > ni + pl + pr:
                    raise ValueError(
                        "kernel_size must fit the padded input: the dilated kernel "
                        f"spans {sp + 1} > padded input {ni + pl + pr} "
                        f"(kernel_size={k}, dilation={d}, input_size={n}, "
                        f"padding={pads})"
                    )
            if padding_mode == "reflect":
                for ni, pair in zip(n, pads):
                    if max(pair) >= ni:
                        raise ValueError(
                            "padding must be smaller than input_size for "
                            f"padding_mode='reflect' (torch's limit), but got "
                            f"padding={pads} with input_size={n}"
                        )
            if padding_mode == "circular":
                for ni, pair in zip(n, pads):
                    if max(pair) > ni:
                        raise ValueError(
                            "padding must be at most input_size for "
                            f"padding_mode='circular' (torch's limit), but got "
                            f"padding={pads} with input_size={n}"
                        )
        else:
            for ni, (pl, pr), sp, si, o_pad in zip(n, pads, span, s, op):
                if (ni - 1) * si - pl - pr + sp + o_pad + 1 < 1:
                    raise ValueError(
                        "padding must leave a positive output size for a transposed "
                        f"layer, but got padding={pads} with input_size={n}, "
                        f"kernel_size={k}, stride={s}, dilation={d}"
                    )

        for name, value in (
            ("in_channels", int(in_channels)),
            ("out_channels", int(out_channels)),
            ("kernel_size", k),
            ("input_size", n),
            ("stride", s),
            ("padding", pads),
            ("dilation", d),
            ("groups", int(groups)),
            ("bias", bias),
            ("padding_mode", padding_mode),
            ("transposed", transposed),
            ("output_padding", op),
            ("flip", flip),
        ):
            set_(self, name, value)

    # ------------------------------------------------------------------ derived
    @property
    def rank(self) -> int:
        """Number of spatial axes (1, 2 or 3)."""
        return len(self.input_size)

    @cached_property
    def output_size(self) -> tuple[int, ...]:
        """Spatial size of one output sample."""
        if self.transposed:
            return tuple(
                (n - 1) * s - pl - pr + d * (k - 1) + op + 1
                for n, s, (pl, pr), d, k, op in zip(
                    self.input_size,
                    self.stride,
                    self.padding,
                    self.dilation,
                    self.kernel_size,
                    self.output_padding,
                )
            )
        return tuple(
            (n + pl + pr - d * (k - 1) - 1) // s + 1
            for n, (pl, pr), d, k, s in zip(
                self.input_size, self.padding, self.dilation, self.kernel_size, self.stride
            )
        )

    @cached_property
    def weight_shape(self) -> tuple[int, ...]:
        """torch's weight shape: ``(out, in/groups, *k)``, transposed ``(in, out/groups, *k)``."""
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    @property
    def bias_shape(self) -> tuple[int, ...]:
        """``(out_channels,)``."""
        return (self.out_channels,)

    @cached_property
    def matrix_shape(self) -> tuple[int, int]:
        """``(out_channels * prod(output_size), in_channels * prod(input_size))``."""
        return (
            self.out_channels * math.prod(self.output_size),
            self.in_channels * math.prod(self.input_size),
        )

    @property
    def torch_padding(self) -> tuple[int, ...]:
        """Padding in ``F.pad``'s order: last axis first, ``(left, right)`` each."""
        return tuple(p for pair in reversed(self.padding) for p in pair)

    def replace(self, **changes) -> ConvSpec:
        """A copy with some arguments changed (validated again)."""
        args = {
            "input_size": self.input_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "bias": self.bias,
            "padding_mode": self.padding_mode,
            "transposed": self.transposed,
            "output_padding": self.output_padding,
            "flip": self.flip,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
        }
        args.update(changes)
        return ConvSpec(
            args.pop("in_channels"), args.pop("out_channels"), args.pop("kernel_size"), **args
        )

    @classmethod
    def from_module(cls, module, input_size) -> ConvSpec:
        """The spec of a ``torch.nn.Conv{1,2,3}d`` or ``ConvTranspose{1,2,3}d``.

        ``input_size`` is the spatial size of one input sample (no batch, no
        channels).

        >>> import torch
        >>> ConvSpec.from_module(torch.nn.Conv2d(3, 8, 3, padding=1), (5, 5)).output_size
        (5, 5)
        """
        from torch import nn

        if not isinstance(module, nn.modules.conv._ConvNd):
            raise ValueError(
                "module must be a torch.nn.ConvNd or ConvTransposeNd, but got "
                f"{type(module).__name__}"
            )
        if is_int(input_size):
            input_size = (input_size,)
        rank = len(module.kernel_size)
        if len(tuple(input_size)) != rank:
            raise ValueError(
                f"input_size must have {rank} spatial sizes for {type(module).__name__} "
                f"(no batch or channel dimension), but got {tuple(input_size)!r}"
            )
        transposed = bool(module.transposed)
        return cls(
            module.in_channels,
            module.out_channels,
            tuple(module.kernel_size),
            input_size=tuple(input_size),
            stride=tuple(module.stride),
            padding=module.padding if isinstance(module.padding, str) else tuple(module.padding),
            dilation=tuple(module.dilation),
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            transposed=transposed,
            output_padding=tuple(module.output_padding) if transposed else 0,
        )


def check_spec(spec, name: str = "spec") -> ConvSpec:
    """``spec`` itself if it is a :class:`ConvSpec`, else a ValueError naming ``name``."""
    if not isinstance(spec, ConvSpec):
        raise ValueError(f"{name} must be a ConvSpec, but got {type(spec).__name__}")
    return spec
