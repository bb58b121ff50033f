"""Receptive fields of stacks of convolutions and pools (Araujo et al., Distill 2019).

Per spatial axis, a layer with (effective) kernel ``k = d*(k0-1) + 1``, stride
``s`` and left padding ``p`` maps the field of the layers after it by the
backward recursion ``r_{l-1} = s*r_l + (k - s)``, ``S_{l-1} = s*S_l``,
``P_{l-1} = s*P_l + p``, whose closed forms are::

    r = 1 + sum_l (k_l - 1) prod_{i<l} s_i        (size)
    S = prod_l s_l                                 (stride)
    P = sum_l p_l prod_{i<l} s_i                   (padding)

Output unit ``i`` of the last layer then sees input positions
``i*S - P, ..., i*S - P + r - 1`` (clipped to the input; with dilation some of
them are skipped).  Pooling layers count like convolutions; pointwise layers
(activations, batch norm, dropout) do not change the field.

:func:`reachable_inputs` composes the layers' sharing patterns instead (which
inputs a given output reads through the whole stack): the exact set, that the
closed form bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec

__all__ = [
    "ReceptiveField", "column_coverage", "layer_specs", "reachable_inputs", "receptive_field",
]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one feature map, per spatial axis, in input pixels.

    Attributes
    ----------
    size : tuple of int
        ``r``: the extent of input positions one output unit depends on.
    stride : tuple of int
        ``S``: input positions between neighbouring output units.
    padding : tuple of int
        ``P``: output unit 0's field starts at input position ``-P``.
    at : str
        The layer whose output the field belongs to (``""`` for the input);
        not compared by ``==``.
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    at: str = dataclasses.field(default="", compare=False)

    @property
    def rank(self) -> int:
        return len(self.size)

    def region(self, position) -> tuple[tuple[int, int], ...]:
        """Per axis ``(start, stop)`` (stop exclusive, unclipped) of the field
        of output unit ``position``: ``start = i*S - P``, ``stop = start + r``.

        >>> ReceptiveField((5,), (2,), (1,)).region(3)
        ((5, 10),)
        """
        if isinstance(position, (int, np.integer)):
            position = (int(position),)
        if len(position) != self.rank:
            raise ValueError(
                f"position must have one index per axis ({self.rank}), but got {position!r}"
            )
        return tuple(
            (i * s - p, i * s - p + r)
            for i, s, p, r in zip(position, self.stride, self.padding, self.size, strict=False)
        )

    def _then(self, kernel, stride, padding, at: str = "") -> ReceptiveField:
        """The field after one more layer (forward form of Araujo's recursion)."""
        return ReceptiveField(
            tuple(r + (k - 1) * S for r, k, S in zip(self.size, kernel, self.stride, strict=False)),
            tuple(S * s for S, s in zip(self.stride, stride, strict=False)),
            tuple(P + p * S for P, p, S in zip(self.padding, padding, self.stride, strict=False)),
            at,
        )

    @staticmethod
    def _union(fields, at: str = "") -> ReceptiveField:
        """The field of a sum / concatenation of feature maps (multi-path)."""
        strides = {f.stride for f in fields}
        if len(strides) > 1:
            raise ValueError(
                f"inputs of {at or 'a merge'} must have one receptive-field stride, "
                f"but got {sorted(strides)}"
            )
        padding = tuple(max(ps) for ps in zip(*(f.padding for f in fields), strict=False))
        stops = [tuple(r - p for r, p in zip(f.size, f.padding, strict=True)) for f in fields]
        stop = tuple(max(axis) for axis in zip(*stops, strict=True))
        size = tuple(e + p for e, p in zip(stop, padding, strict=False))
        return ReceptiveField(size, fields[0].stride, padding, at)

    def __str__(self) -> str:
        return f"receptive field size {self.size}, stride {self.stride}, padding {self.padding}"


# ------------------------------------------------------------------ layers
_POINTWISE = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
    "Sigmoid", "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Identity",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "GroupNorm", "LocalResponseNorm",
)
_POOLS = ("MaxPool", "AvgPool", "LPPool")


def _geometry(layer, rank_hint=None):
    """``(kernel, stride, left padding, dilation)`` per axis of a ConvSpec or
    torch conv / pool module; ``None`` for a pointwise module."""
    if isinstance(layer, ConvSpec):
        if layer.transposed:
            raise ValueError("layers must not be transposed convolutions (no Araujo field), "
                             f"but got {layer!r}")
        return (layer.kernel_size, layer.stride, tuple(p for p, _ in layer.padding),
                layer.dilation)
    name = type(layer).__name__
    if name in _POINTWISE:
        return None
    from torch import nn

    if isinstance(layer, nn.modules.conv._ConvNd):
        if layer.transposed:
            raise ValueError(
                f"layers must not be transposed convolutions, but got {name}"
            )
        k, d = tuple(layer.kernel_size), tuple(layer.dilation)
        if layer.padding == "same":
            pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d, strict=False))
        elif layer.padding == "valid":
            pad = (0,) * len(k)
        else:
            pad = tuple(layer.padding)
        return k, tuple(layer.stride), pad, d
    if name[:-2] in _POOLS and name[-2:] in ("1d", "2d", "3d"):
        rank = int(name[-2])

        def axes(value, default):
            value = default if value is None else value
            return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * rank

        k = axes(layer.kernel_size, None)
        s = axes(getattr(layer, "stride", None) or k, None)  # torch: stride defaults to k
        p = axes(getattr(layer, "padding", 0), 0)
        d = axes(getattr(layer, "dilation", 1), 1)
        return k, s, p, d
    raise ValueError(
        "layers must be ConvSpecs, convolutions, pools or pointwise modules, "
        f"but got {name}"
    )


def _effective(kernel, dilation):
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=False))


def _is_spatial_end(layer) -> bool:
    name = type(layer).__name__
    return name in ("Flatten", "Linear", "LazyLinear", "Bilinear") or name.startswith("Adaptive")


def _chain(layers, rank=None) -> ReceptiveField:
    field = None
    for index, layer in enumerate(layers):
        if not isinstance(layer, ConvSpec) and _is_spatial_end(layer):
            break
        geometry = _geometry(layer)
        if geometry is None:
            continue
        kernel, stride, pad, dil = geometry
        if field is None:
            field = ReceptiveField((1,) * len(kernel), (1,) * len(kernel), (0,) * len(kernel))
        if len(kernel) != field.rank:
            raise ValueError(
                f"layers must all have {field.rank} spatial axes, but layer {index} "
                f"has {len(kernel)}"
            )
        field = field._then(_effective(kernel, dil), stride, pad, at=str(index))
    if field is None:
        if rank is None:
            raise ValueError("layers must contain at least one convolution or pool")
        return ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank)
    return field


def _traced(model, input_size) -> ReceptiveField:
    """Receptive field of a torch model with branches, through torch.fx."""
    import torch
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        graph_module = fx.symbolic_trace(model)
    except Exception as error:  # fx raises many kinds of errors on dynamic code
        raise ValueError(
            f"model must be traceable by torch.fx to follow its branches ({error}); "
            "pass its list of layers instead"
        ) from None
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else "cpu"
    example = torch.zeros(1, *input_size, dtype=dtype, device=device)
    was_training = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            ShapeProp(graph_module).propagate(example)
    except Exception as error:
        raise ValueError(
            f"input_size {tuple(input_size)} does not fit the model: {error}"
        ) from None
    finally:
        for m, flag in zip(model.modules(), was_training, strict=False):
            m.training = flag

    rank = len(input_size) - 1
    modules = dict(graph_module.named_modules())
    fields, last = {}, None

    def spatial(node):
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        return None if shape is None or len(shape) != rank + 2 else tuple(shape[2:])

    for node in graph_module.graph.nodes:
        inputs = [n for n in node.all_input_nodes if n in fields]
        if node.op == "placeholder":
            fields[node] = ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank)
            continue
        if node.op == "output" or not inputs or spatial(node) is None:
            continue
        name = str(node.target)
        if node.op == "call_module":
            module = modules[node.target]
            if _is_spatial_end(module):
                continue
            geometry = _geometry(module)
            if geometry is not None:
                kernel, stride, pad, dil = geometry
                fields[node] = fields[inputs[0]]._then(
                    _effective(kernel, dil), stride, pad, at=name
                )
                last = node
                continue
        else:
            target = getattr(node.target, "__name__", str(node.target))
            if any(word in target for word in ("conv", "pool", "interpolate", "upsample")):
                raise ValueError(
                    f"model must use torch.nn modules for convolutions and pools to have "
                    f"its receptive field read, but calls {target} as a function"
                )
        if any(spatial(n) != spatial(node) for n in inputs):
            raise ValueError(
                f"layer {name} changes the spatial size without being a convolution or "
                "pool; its receptive field is unknown"
            )
        fields[node] = ReceptiveField._union([fields[n] for n in inputs], at=name)
        last = node
    if last is None:
        return ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank)
    return fields[last]


def receptive_field(model_or_specs, input_size=None) -> ReceptiveField:
    """Receptive field (Araujo et al., Distill 2019) of a model's last feature map.

    Parameters
    ----------
    model_or_specs : torch.nn.Module, ConvSpec, or sequence of ConvSpecs / modules
        A sequence is composed in order (a chain).  A module is traced with
        ``torch.fx`` and needs ``input_size``; branches (residual sums,
        concatenations) take the union of their inputs' fields.  The field is
        that of the last spatial feature map: layers from the first
        ``Flatten``, ``Linear`` or adaptive pool on are not part of it.
    input_size : tuple of int, optional
        One sample's shape without batch, ``(C, *spatial)``, as for
        :func:`~symtoe.network.report.parameter_report`; needed for a module.

    Returns
    -------
    ReceptiveField
        ``size`` ``r = 1 + sum_l (k_l - 1) prod_{i<l} s_i``, ``stride``
        ``S = prod_l s_l`` and ``padding`` ``P = sum_l p_l prod_{i<l} s_i``
        per spatial axis (``k_l`` the dilated kernel extent, ``p_l`` the left
        padding).

    Examples
    --------
    Two 3-tap convolutions with a stride-2 pool between them:

    >>> specs = [ConvSpec(1, 1, 3, input_size=16, padding=1),
    ...          ConvSpec(1, 1, 2, input_size=16, stride=2),
    ...          ConvSpec(1, 1, 3, input_size=8, padding=1)]
    >>> receptive_field(specs)
    ReceptiveField(size=(8,), stride=(2,), padding=(3,), at='2')
    """
    if isinstance(model_or_specs, ConvSpec):
        return _chain([model_or_specs])
    if isinstance(model_or_specs, (list, tuple)):
        return _chain(list(model_or_specs))
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency
        nn = None
    if nn is None or not isinstance(model_or_specs, nn.Module):
        raise ValueError(
            "model_or_specs must be a torch.nn.Module, a ConvSpec or a list of them, "
            f"but got {type(model_or_specs).__name__}"
        )
    if input_size is None:
        if isinstance(model_or_specs, nn.Sequential):
            return _chain(list(model_or_specs))
        raise ValueError("input_size must be given for a model, as (C, *spatial), but got None")
    input_size = _check_input_size(input_size)
    if not list(model_or_specs.children()):
        return _chain([model_or_specs], rank=len(input_size) - 1)
    return _traced(model_or_specs, input_size)


def _check_input_size(input_size) -> tuple[int, ...]:
    if isinstance(input_size, (int, np.integer)) or not all(
        isinstance(v, (int, np.integer)) and v > 0 for v in input_size
    ):
        raise ValueError(
            "input_size must be one sample's shape (C, *spatial) of positive ints, "
            f"but got {input_size!r}"
        )
    input_size = tuple(int(v) for v in input_size)
    if not 2 <= len(input_size) <= 4:
        raise ValueError(
            "input_size must be (C, *spatial) with 1 to 3 spatial axes, "
            f"but got {input_size!r}"
        )
    return input_size


def layer_specs(layers, input_size) -> list[ConvSpec]:
    """Single-channel spatial ConvSpecs of a chain of convolutions and pools.

    ``input_size`` is the spatial size of the first layer's input; pointwise
    modules are skipped, and each spec's input is the previous one's output.

    >>> from torch import nn
    >>> [s.output_size for s in layer_specs([nn.Conv2d(1, 4, 3), nn.ReLU(),
    ...                                      nn.MaxPool2d(2)], (8, 8))]
    [(6, 6), (3, 3)]
    """
    size = (input_size,) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
    specs = []
    for layer in layers:
        if isinstance(layer, ConvSpec):
            spec = layer.replace(in_channels=1, out_channels=1, groups=1, bias=False,
                                 input_size=size)
        else:
            if getattr(layer, "ceil_mode", False):
                raise ValueError(f"layers must not use ceil_mode=True, but got {layer}")
            geometry = _geometry(layer)
            if geometry is None:
                continue
            kernel, stride, pad, dil = geometry
            padding = getattr(layer, "padding", 0)
            if isinstance(padding, str):
                pad = padding
            spec = ConvSpec(1, 1, kernel, input_size=size, stride=stride, padding=pad,
                            dilation=dil)
        specs.append(spec)
        size = spec.output_size
    return specs


def reachable_inputs(specs, position) -> np.ndarray:
    """Boolean mask over the first input's spatial grid: the inputs that output
    ``position`` of the last spec reads through the whole chain.

    Composes the layers' sharing patterns backwards (a boolean row of the
    product of the layers' 0/1 matrices), using single-channel spatial
    patterns; consecutive specs must chain (``output_size`` = next
    ``input_size``).

    >>> reachable_inputs([ConvSpec(1, 1, 3, input_size=6)], 1).astype(int)
    array([0, 1, 1, 1, 0, 0])
    """
    specs = [specs] if isinstance(specs, ConvSpec) else list(specs)
    if not specs:
        raise ValueError("specs must hold at least one ConvSpec, but got none")
    for a, b in zip(specs, specs[1:], strict=False):
        if a.output_size != b.input_size:
            raise ValueError(
                "specs must chain (output_size = next input_size), but got "
                f"{a.output_size} then {b.input_size}"
            )
    last = specs[-1].output_size
    position = (position,) if isinstance(position, (int, np.integer)) else tuple(position)
    if len(position) != len(last) or not all(
        0 <= i < n for i, n in zip(position, last, strict=True)
    ):
        raise ValueError(f"position must index the output grid {last}, but got {position}")
    mask = np.zeros(math.prod(last), dtype=bool)
    mask[np.ravel_multi_index(position, last)] = True
    for spec in reversed(specs):
        single = spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)
        pattern = sharing_pattern(single)
        rows, cols = pattern.row_indices().ravel(), pattern.col_indices().ravel()
        reached = np.zeros(math.prod(single.input_size), dtype=bool)
        reached[cols[mask[rows]]] = True
        mask = reached
    return mask.reshape(specs[0].input_size)


def column_coverage(spec: ConvSpec) -> np.ndarray:
    """How many (output, tap) pairs read each input position, for one channel
    pair: an array of ``spec.input_size``.

    The product over axes of the per-axis counts (the pattern is separable).
    Under zero padding it is the number of nonzeros in each column of one
    channel block.  Kayhan & van Gemert (CVPR 2020): with valid or same
    padding, border inputs meet fewer taps than interior ones; with full
    padding every input meets every tap.

    >>> column_coverage(ConvSpec(1, 1, 3, input_size=6)).tolist()
    [1, 2, 3, 3, 2, 1]
    >>> column_coverage(ConvSpec(1, 1, 3, input_size=6, padding="full")).tolist()
    [3, 3, 3, 3, 3, 3]
    """
    from ..core.pattern import axis_patterns

    check_spec(spec)
    counts = np.ones((), dtype=np.int64)
    for ap in axis_patterns(spec):
        taps = (ap.taps >= 0).sum(axis=2)
        axis = np.bincount(ap.cols[ap.valid], weights=taps[ap.valid], minlength=ap.n_cols)
        counts = np.multiply.outer(counts, axis.astype(np.int64))
    return counts
