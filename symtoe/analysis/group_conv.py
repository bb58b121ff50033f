"""Group convolutions as symtoe layers: a ConvSpec whose kernel is tied.

A :class:`GroupConvSpec` maps ``in_fields`` fields of ``in_rep`` (each
``dim_in`` channels) to ``out_fields`` fields of ``out_rep`` with a kernel
from the exact equivariant space of :mod:`symtoe.analysis.groups`.  Lifting
(``Z^2 -> p4``) is ``"trivial" -> "regular"``; group-to-group convolution is
``"regular" -> "regular"``.  As a matrix it is the ordinary convolution
``spec.conv`` (channels ``fields * dim``, field-major) evaluated at the
**tied kernel**

    W[(f_o, o), (f_i, i), *tap] = sign[o, i, tap] * w[f_o, f_i, orbit[o, i, tap]]

(:class:`~symtoe.analysis.groups.KernelOrbits`): one free weight per field
pair and basis kernel, repeated with signs along each orbit, 0 on orbits that
the constraint forces to zero.  So ``symbolic_matrix(spec.conv,
tied_kernel(spec))`` shows the extra sharing and ``numeric_matrix(spec.conv,
tied_kernel(spec, w))`` is the torch lowering; for a ``"regular"`` output it
equals ``F.conv2d`` on the stack of turned (and channel-rolled) copies of one
filter, Cohen & Welling's p4 / p4m convolution.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from ..core.counts import count_parameters
from ..core.spec import ConvSpec, is_int
from ..core.symbolic import WeightSymbol, as_sympy_array
from .groups import (
    KernelOrbits,
    PixelGroup,
    Representation,
    check_kernel,
    kernel_orbits,
    pixel_group,
    representation,
)

__all__ = [
    "GroupConvSpec",
    "GroupParameterCounts",
    "count_group_parameters",
    "tied_kernel",
]


@dataclass(frozen=True, init=False)
class GroupConvSpec:
    """A group convolution: fields of ``in_rep`` to fields of ``out_rep`` of ``group``.

    Parameters
    ----------
    group : {"C2", "C4", "D1", "D2", "D4", "O"}
    in_rep, out_rep : str or Representation
        ``"trivial"``, ``"regular"``, ``"sign"``, ``"det"``, ``"quotient:H"``.
    in_fields, out_fields : int
        Fields of each side; channels are ``fields * dim``, field-major.
    kernel_size : int or tuple of int
    input_size, stride, padding, dilation, padding_mode
        As in :class:`~symtoe.core.spec.ConvSpec` (2 spatial axes, 3 for ``"O"``).

    Attributes
    ----------
    conv : ConvSpec
        The ordinary convolution the layer is (``conv.weight_shape`` is the
        tied kernel's shape).
    weight_shape : tuple of int
        ``(out_fields, in_fields, basis dimension)``: the free weights.

    Examples
    --------
    >>> lift = GroupConvSpec("C4", "trivial", "regular", 3, 8, 3, input_size=32, padding=1)
    >>> lift.conv.weight_shape, lift.weight_shape
    ((32, 3, 3, 3), (8, 3, 9))
    >>> GroupConvSpec("D4", "regular", "regular", 8, 8, 3, input_size=32).weight_shape
    (8, 8, 72)
    """

    group: str
    in_rep: str
    out_rep: str
    in_fields: int
    out_fields: int
    conv: ConvSpec

    def __init__(self, group, in_rep, out_rep, in_fields, out_fields, kernel_size, *,
                 input_size, stride=1, padding=0, dilation=1, padding_mode="zeros"):
        G = pixel_group(group)
        rho_in, rho_out = representation(G, in_rep), representation(G, out_rep)
        for name, value in (("in_fields", in_fields), ("out_fields", out_fields)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, but got {value!r}")
        if is_int(input_size):
            input_size = (input_size,) * G.rank
        if not isinstance(input_size, (tuple, list)) or len(input_size) != G.rank:
            raise ValueError(
                f"input_size must be an int or a tuple of {G.rank} spatial sizes for "
                f"group {G.name!r}, but got {input_size!r}"
            )
        conv = ConvSpec(
            in_fields * rho_in.dim, out_fields * rho_out.dim, kernel_size,
            input_size=tuple(input_size), stride=stride, padding=padding,
            dilation=dilation, padding_mode=padding_mode,
        )
        check_kernel(G, conv.kernel_size, conv.dilation)
        kernel_orbits(G, conv.kernel_size, rho_in, rho_out)  # refuses oversized spaces
        for name, value in (
            ("group", G.name), ("in_rep", rho_in.name), ("out_rep", rho_out.name),
            ("in_fields", int(in_fields)), ("out_fields", int(out_fields)), ("conv", conv),
        ):
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------- derived
    @property
    def G(self) -> PixelGroup:
        return pixel_group(self.group)

    @property
    def rho_in(self) -> Representation:
        return representation(self.group, self.in_rep)

    @property
    def rho_out(self) -> Representation:
        return representation(self.group, self.out_rep)

    @property
    def orbits(self) -> KernelOrbits:
        """The tied kernel of one field pair."""
        return kernel_orbits(self.group, self.conv.kernel_size, self.in_rep, self.out_rep)

    @property
    def basis_dimension(self) -> int:
        return self.orbits.dimension

    @cached_property
    def weight_shape(self) -> tuple[int, int, int]:
        return (self.out_fields, self.in_fields, self.basis_dimension)

    @property
    def input_size(self) -> tuple[int, ...]:
        return self.conv.input_size

    @property
    def output_size(self) -> tuple[int, ...]:
        return self.conv.output_size

    def replace(self, **changes) -> GroupConvSpec:
        """A copy with some arguments changed (validated again)."""
        conv = self.conv
        args = dict(
            group=self.group, in_rep=self.in_rep, out_rep=self.out_rep,
            in_fields=self.in_fields, out_fields=self.out_fields,
            kernel_size=conv.kernel_size, input_size=conv.input_size, stride=conv.stride,
            padding=conv.padding, dilation=conv.dilation, padding_mode=conv.padding_mode,
        )
        args.update(changes)
        head = [args.pop(k) for k in ("group", "in_rep", "out_rep", "in_fields",
                                      "out_fields", "kernel_size")]
        return GroupConvSpec(*head, **args)

    def __repr__(self) -> str:
        c = self.conv
        return (
            f"GroupConvSpec({self.group!r}, {self.in_rep!r} x {self.in_fields} -> "
            f"{self.out_rep!r} x {self.out_fields}, kernel_size={c.kernel_size}, "
            f"input_size={c.input_size}, stride={c.stride}, padding={c.padding}, "
            f"dilation={c.dilation})"
        )


def check_group_spec(spec, name: str = "spec") -> GroupConvSpec:
    if not isinstance(spec, GroupConvSpec):
        raise ValueError(f"{name} must be a GroupConvSpec, but got {type(spec).__name__}")
    return spec


def tied_kernel(spec: GroupConvSpec, weight=None, *, name: str = "w"):
    """The convolution kernel of a group convolution, from its free weights.

    Entry rule (see the module doc): ``W[(f_o, o), (f_i, i), *tap] =
    sign[o, i, tap] * w[f_o, f_i, orbit[o, i, tap]]``, shape
    ``spec.conv.weight_shape``.

    Parameters
    ----------
    spec : GroupConvSpec
    weight : array-like or torch.Tensor of shape ``spec.weight_shape``, optional
        Default: one :class:`~symtoe.core.symbolic.WeightSymbol` per free
        weight, ``w[f_o, f_i, b]`` (``w[b]`` for one field on each side).
        sympy expressions and exact numbers stay exact (an object array comes
        back); a torch tensor gives a torch tensor (differentiable), to use
        with ``F.conv2d`` or :func:`symtoe.numeric_matrix`.

    Examples
    --------
    >>> spec = GroupConvSpec("C4", "trivial", "trivial", 1, 1, 3, input_size=5, padding=1)
    >>> tied_kernel(spec)[0, 0]
    array([[w[0], w[1], w[0]],
           [w[1], w[2], w[1]],
           [w[0], w[1], w[0]]], dtype=object)
    >>> lift = GroupConvSpec("C4", "trivial", "regular", 1, 1, 2, input_size=4)
    >>> for h in tied_kernel(lift)[:, 0]:       # one filter, turned by r^0..r^3
    ...     print(h.tolist())
    [[w[0], w[1]], [w[2], w[3]]]
    [[w[1], w[3]], [w[0], w[2]]]
    [[w[3], w[2]], [w[1], w[0]]]
    [[w[2], w[0]], [w[3], w[1]]]

    ``F.conv2d(x, tied_kernel(spec, w), stride=..., padding=..., dilation=...)``
    is the group convolution; ``symbolic_matrix(spec.conv, tied_kernel(spec))``
    its matrix.
    """
    spec = check_group_spec(spec)
    orbits = spec.orbits
    d = spec.basis_dimension
    index = np.where(orbits.orbit >= 0, orbits.orbit, d)  # d: the appended zero
    f_o, f_i = spec.out_fields, spec.in_fields
    d_o, d_i = orbits.shape[:2]
    kernel = orbits.shape[2:]
    if hasattr(weight, "detach"):  # torch
        import torch

        if tuple(weight.shape) != spec.weight_shape:
            raise ValueError(
                f"weight must have shape {spec.weight_shape}, but got {tuple(weight.shape)}"
            )
        padded = torch.cat([weight, weight.new_zeros(f_o, f_i, 1)], dim=2)
        sign = torch.as_tensor(orbits.sign.copy(), device=weight.device).to(weight.dtype)
        full = padded[:, :, torch.as_tensor(index, device=weight.device)] * sign
    else:
        if weight is None:
            w = np.empty(spec.weight_shape, dtype=object)
            WeightSymbol(name)  # validates the name once
            for f, g, b in np.ndindex(*spec.weight_shape):  # one symbol per free weight
                w[f, g, b] = WeightSymbol(name, (b,) if (f_o, f_i) == (1, 1) else (f, g, b))
        else:
            w = as_sympy_array(weight, spec.weight_shape, "weight")
        import sympy

        padded = np.concatenate([w, np.full((f_o, f_i, 1), sympy.S.Zero, dtype=object)], 2)
        full = padded[:, :, index] * orbits.sign.astype(object)
    full = full.reshape(f_o, f_i, d_o, d_i, *kernel)
    order = (0, 2, 1, 3, *range(4, 4 + len(kernel)))
    full = full.permute(order) if hasattr(full, "permute") else full.transpose(order)
    return full.reshape(spec.conv.weight_shape)


@dataclass(frozen=True)
class GroupParameterCounts:
    """Dense vs translation-shared vs group-shared weights of a group convolution.

    Attributes
    ----------
    dense : int
        Entries of the dense matrix, ``rows * cols``.
    translation : int
        Weights of the ordinary convolution with the same channels
        (``spec.conv``: ``C_out * C_in * prod(k)``).
    group : int
        Free weights of the group convolution, ``out_fields * in_fields * dim``.
    """

    dense: int
    translation: int
    group: int

    @property
    def ratio(self) -> float:
        """Translation-shared weights per group-shared weight."""
        return self.translation / self.group

    def as_dict(self) -> dict:
        return asdict(self)


def count_group_parameters(spec: GroupConvSpec) -> GroupParameterCounts:
    """Counts of a group convolution, in closed form.

    ``translation = C_out C_in prod(k)`` (:func:`symtoe.count_parameters` of
    ``spec.conv``) and ``group = out_fields * in_fields * dim``, with ``dim``
    from :func:`~symtoe.analysis.groups.kernel_space_dimension`: about
    ``|G|`` times fewer for regular fields (C4 regular -> regular, 3x3: 144
    vs 36 per field pair).

    >>> spec = GroupConvSpec("C4", "regular", "regular", 16, 16, 3, input_size=8, padding=1)
    >>> count_group_parameters(spec)
    GroupParameterCounts(dense=16777216, translation=36864, group=9216)
    """
    spec = check_group_spec(spec)
    counts = count_parameters(spec.conv)
    return GroupParameterCounts(counts.dense, counts.shared, math.prod(spec.weight_shape))
