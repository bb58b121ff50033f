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
from dataclasses import dataclass, fields
from functools import cached_property

from .validate import MAX_INDEX, SymtoeError, SymtoeTypeError, boolean, choice, integer, is_int

__all__ = ["ConvSpec", "PADDING_MODES", "PADDING_STRINGS", "check_spec", "output_length"]

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")
PADDING_STRINGS = ("valid", "same", "full")


def output_length(
    n: int, k: int, s: int, padding: tuple[int, int], d: int, *,
    transposed: bool = False, output_padding: int = 0,
) -> int:
    """Output size of one axis: the one formula every module uses.

    Forward ``(n + p_left + p_right - d*(k-1) - 1) // s + 1``; transposed
    ``(n-1)*s - p_left - p_right + d*(k-1) + output_padding + 1`` (torch's).

    >>> output_length(224, 3, 2, (1, 1), 1), output_length(4, 3, 2, (1, 1), 1, transposed=True)
    (112, 7)
    """
    for name, value, least in (("n", n, 1), ("k", k, 1), ("s", s, 1), ("d", d, 1),
                               ("output_padding", output_padding, 0)):
        integer(value, name, minimum=least)
    if not (isinstance(padding, (tuple, list)) and len(padding) == 2):
        raise SymtoeTypeError(f"padding must be a (left, right) pair, but got {padding!r}")
    pl, pr = (integer(p, "padding", minimum=0) for p in padding)
    if transposed:
        return (n - 1) * s - pl - pr + d * (k - 1) + output_padding + 1
    return (n + pl + pr - d * (k - 1) - 1) // s + 1


def _per_axis(name: str, value, rank: int, *, minimum: int) -> tuple[int, ...]:
    """Normalise an int or per-axis tuple to a tuple of ``rank`` ints >= minimum."""
    if is_int(value):
        value = (value,) * rank
    elif not (isinstance(value, (tuple, list)) and value and all(is_int(v) for v in value)):
        rule = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise SymtoeTypeError(f"{name} must be {rule} or a tuple of them, but got {value!r}")
    if len(value) != rank:
        raise SymtoeError(
            f"{name} must have one value per axis of input_size ({rank}), "
            f"but got {tuple(value)!r}"
        )
    return tuple(integer(v, name, minimum=minimum, maximum=MAX_INDEX) for v in value)


def _pairs(value, rank: int) -> tuple[tuple[int, int], ...]:
    """Normalise numeric padding to per-axis ``(left, right)`` pairs."""
    if is_int(value) or (
        isinstance(value, (tuple, list)) and all(is_int(v) for v in value)
    ):
        return tuple((p, p) for p in _per_axis("padding", value, rank, minimum=0))
    if isinstance(value, (tuple, list)) and value and all(
        isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(u) for u in v)
        for v in value
    ):
        if len(value) != rank:
            raise SymtoeError(
                f"padding must have one (left, right) pair per axis of input_size "
                f"({rank}), but got {tuple(value)!r}"
            )
        for pair in value:
            if min(pair) < 0:
                raise SymtoeError(
                    f"padding must be non-negative, but got {tuple(pair)} in {tuple(value)!r}"
                )
        return tuple(
            (integer(a, "padding", maximum=MAX_INDEX), integer(b, "padding", maximum=MAX_INDEX))
            for a, b in value
        )
    raise SymtoeTypeError(
        "padding must be an int, a per-axis tuple, per-axis (left, right) pairs, "
        f"or one of {PADDING_STRINGS}, but got {value!r}"
    )


def resolve_padding(padding, rank: int, span, stride, *, flip: bool, transposed: bool):
    """``padding`` (a word or numbers) as per-axis ``(left, right)`` pairs.

    ``span`` is ``d*(k-1)`` per axis.  "valid" is 0, "full" is ``span`` on
    each side, "same" splits ``span`` as torch does (``left = span // 2``;
    scipy's mirror image when ``flip``: see ``../shared/THEORY.md``).
    """
    if not isinstance(padding, str):
        pads = _pairs(padding, rank)
        if transposed and any(a != b for a, b in pads):
            raise SymtoeError(
                "padding must be symmetric when transposed=True (as in torch's "
                f"ConvTransposeNd), but got {padding!r}"
            )
        return pads
    if padding not in PADDING_STRINGS:
        raise SymtoeError(
            f"padding must be one of {PADDING_STRINGS} or integers, but got {padding!r}"
        )
    if transposed:
        raise SymtoeError(
            "padding must be integers when transposed=True (as in torch's "
            f"ConvTransposeNd), but got {padding!r}"
        )
    if padding == "valid":
        return ((0, 0),) * rank
    if padding == "full":
        return tuple((t, t) for t in span)
    if any(si != 1 for si in stride):
        raise SymtoeError(f"padding='same' needs stride 1 (as in torch), but got stride={stride}")
    # torch puts the odd extra element on the right; scipy's convolve(mode="same")
    # on a flipped kernel puts it on the left.
    return tuple((t - t // 2, t // 2) if flip else (t // 2, t - t // 2) for t in span)


def _check_geometry(n, k, s, pads, d, op, *, mode: str, transposed: bool) -> None:
    """torch's limits on a resolved geometry, and sizes that fit int64 indices."""
    where = f"kernel_size={k}, dilation={d}, input_size={n}, padding={pads}"
    if transposed:
        for o_pad, si, di in zip(op, s, d):
            if o_pad >= max(si, di):
                raise SymtoeError(
                    "output_padding must be smaller than max(stride, dilation), "
                    f"but got output_padding={op} with stride={s}, dilation={d}"
                )
    elif any(op):
        raise SymtoeError(f"output_padding must be 0 unless transposed=True, but got {op}")
    for axis in zip(n, k, s, pads, d, op):
        ni, ki, si, (pl, pr), di, o_pad = axis
        if transposed:
            if output_length(ni, ki, si, (pl, pr), di, transposed=True, output_padding=o_pad) < 1:
                raise SymtoeError(
                    "padding must leave a positive output size for a transposed "
                    f"layer, but got padding={pads} with input_size={n}, "
                    f"kernel_size={k}, stride={s}, dilation={d}"
                )
            continue
        if di * (ki - 1) + 1 > ni + pl + pr:
            raise SymtoeError(
                "kernel_size must fit the padded input: the dilated kernel "
                f"spans {di * (ki - 1) + 1} > padded input {ni + pl + pr} ({where})"
            )
        if mode == "reflect" and max(pl, pr) >= ni:
            raise SymtoeError(
                "padding must be smaller than input_size for padding_mode='reflect' "
                f"(torch's limit), but got padding={pads} with input_size={n}"
            )
        if mode == "circular" and max(pl, pr) > ni:
            raise SymtoeError(
                "padding must be at most input_size for padding_mode='circular' "
                f"(torch's limit), but got padding={pads} with input_size={n}"
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
        if is_int(input_size):
            input_size = (input_size,)
        if not isinstance(input_size, (tuple, list)) or not 1 <= len(input_size) <= 3:
            raise SymtoeTypeError(
                "input_size must be an int or a tuple of 1 to 3 spatial sizes, "
                f"but got {input_size!r}"
            )
        rank = len(input_size)
        c_in = integer(in_channels, "in_channels", minimum=1, maximum=MAX_INDEX)
        c_out = integer(out_channels, "out_channels", minimum=1, maximum=MAX_INDEX)
        groups = integer(groups, "groups", minimum=1)
        for name, channels in (("in_channels", c_in), ("out_channels", c_out)):
            if channels % groups:
                raise SymtoeError(
                    f"{name} must be divisible by groups, but {groups} does not "
                    f"divide {channels}"
                )
        bias, transposed, flip = (
            boolean(bias, "bias"), boolean(transposed, "transposed"), boolean(flip, "flip")
        )
        choice(padding_mode, "padding_mode", PADDING_MODES)
        if transposed and padding_mode != "zeros":
            raise SymtoeError(
                "padding_mode must be 'zeros' when transposed=True (as in torch's "
                f"ConvTransposeNd), but got {padding_mode!r}"
            )
        n = _per_axis("input_size", tuple(input_size), rank, minimum=1)
        k = _per_axis("kernel_size", kernel_size, rank, minimum=1)
        s = _per_axis("stride", stride, rank, minimum=1)
        d = _per_axis("dilation", dilation, rank, minimum=1)
        op = _per_axis("output_padding", output_padding, rank, minimum=0)
        span = tuple(di * (ki - 1) for di, ki in zip(d, k))
        pads = resolve_padding(padding, rank, span, s, flip=flip, transposed=transposed)
        _check_geometry(n, k, s, pads, d, op, mode=padding_mode, transposed=transposed)

        values = dict(
            in_channels=c_in, out_channels=c_out, kernel_size=k, input_size=n, stride=s,
            padding=pads, dilation=d, groups=groups, bias=bias, padding_mode=padding_mode,
            transposed=transposed, output_padding=op, flip=flip,
        )
        for name, value in values.items():
            object.__setattr__(self, name, value)
        rows, cols = self.matrix_shape
        if max(rows, cols) >= MAX_INDEX:
            raise SymtoeError(
                f"the layer's matrix must have fewer than 2**62 rows and columns (int64 "
                f"indices), but {c_out} x {self.output_size} by {c_in} x {n} gives "
                f"{rows} x {cols}"
            )

    # ------------------------------------------------------------------ derived
    @property
    def rank(self) -> int:
        """Number of spatial axes (1, 2 or 3)."""
        return len(self.input_size)

    @cached_property
    def output_size(self) -> tuple[int, ...]:
        """Spatial size of one output sample (:func:`output_length` per axis)."""
        return tuple(
            output_length(n, k, s, pad, d, transposed=self.transposed, output_padding=op)
            for n, k, s, pad, d, op in self.axes()
        )

    def axes(self) -> tuple[tuple, ...]:
        """Per spatial axis: ``(n, k, s, (p_left, p_right), d, output_padding)``."""
        return tuple(zip(
            self.input_size, self.kernel_size, self.stride, self.padding, self.dilation,
            self.output_padding,
        ))

    def __str__(self) -> str:
        """Short form: the channels, then the arguments that differ from the defaults.

        >>> print(ConvSpec(3, 8, 3, input_size=(32, 32), padding=1))
        ConvSpec(3 -> 8, kernel_size=(3, 3), input_size=(32, 32), padding=((1, 1), (1, 1)))
        """
        defaults = ConvSpec(1, 1, 1, input_size=(1,) * self.rank)
        shown = [
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
            if f.name in ("kernel_size", "input_size")
            or (f.name not in ("in_channels", "out_channels")
                and getattr(self, f.name) != getattr(defaults, f.name))
        ]
        return f"ConvSpec({self.in_channels} -> {self.out_channels}, {', '.join(shown)})"

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
        names = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise SymtoeTypeError(
                f"replace() takes ConvSpec's arguments {tuple(names)}, but got {unknown}"
            )
        args = {name: getattr(self, name) for name in names} | changes
        return ConvSpec(
            args.pop("in_channels"), args.pop("out_channels"), args.pop("kernel_size"), **args
        )

    @classmethod
    def from_module(cls, module, input_size) -> ConvSpec:
        """The spec of a ``torch.nn.Conv{1,2,3}d`` or ``ConvTranspose{1,2,3}d``.

        The one reader of torch's convolution modules.  ``input_size`` is the
        spatial size of one input sample (no batch, no channels).

        >>> import torch
        >>> ConvSpec.from_module(torch.nn.Conv2d(3, 8, 3, padding=1), (5, 5)).output_size
        (5, 5)
        """
        from torch import nn

        if not isinstance(module, nn.modules.conv._ConvNd):
            raise SymtoeTypeError(
                "module must be a torch.nn.ConvNd or ConvTransposeNd, but got "
                f"{type(module).__name__}"
            )
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and (
            module.has_uninitialized_params()
        ):
            raise SymtoeError(
                f"module must be initialised, but {type(module).__name__} has not seen an "
                "input yet (its in_channels are unknown): run it once first"
            )
        rank = len(module.kernel_size)
        if is_int(input_size):
            input_size = (input_size,)
        if not isinstance(input_size, (tuple, list)) or len(input_size) != rank:
            raise SymtoeError(
                f"input_size must have {rank} spatial sizes for {type(module).__name__} "
                f"(no batch or channel dimension), but got {input_size!r}"
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
        raise SymtoeTypeError(f"{name} must be a ConvSpec, but got {type(spec).__name__}")
    return spec
