"""The model trace: one run of a torch model, recorded as a graph of aten ops.

:func:`trace_model` runs a model once (eval mode, no grad, training flags
restored afterwards) under module hooks and a
``torch.utils._python_dispatch.TorchDispatchMode`` (the mechanism of
``torch.utils.flop_counter.FlopCounterMode``), so functional calls, matmuls and
fused kernels are seen exactly as torch executes them.  Every model-level
reading of symtoe reads this one graph: the parameter report
(:mod:`symtoe.network.report`), the receptive field
(:mod:`symtoe.network.receptive`), shift certificates and spectral reports of
models.

The graph
---------
:class:`ModelTrace` holds

* ``ops``: every aten op in execution order, each an :class:`Op`:
  ``op.name`` (``"aten.convolution"``, the overload packet), ``op.args`` (the
  op's arguments by schema name, tensors replaced by :class:`TensorRef`),
  ``op.inputs`` (the tensor arguments, in order), ``op.outputs`` (one
  :class:`TensorRef` per output leaf, ``None`` for a non-tensor leaf),
  ``op.call`` (index into ``calls`` of the innermost module call that ran
  it), ``op.category`` and ``op.fact``;
* ``calls``: every module call, each a :class:`ModuleCall` (qualified
  ``name``, class ``kind``, ``call`` k of ``calls`` N, ``parent`` call, tensor
  ``inputs`` / ``outputs``, and the range ``first_op``..``stop_op`` of ops that
  ran inside it, children included);
* ``inputs`` / ``outputs``: the model's tensor inputs and outputs (leaves of
  the example inputs and of the returned structure);
* ``parameters``: one :class:`ParameterInfo` per parameter *tensor* (tied
  tensors once, with all their qualified names and owning modules, and the
  ops that read them directly or through views).

A :class:`TensorRef` names one tensor *value*: ``source`` is ``"op"``
(``index`` = the op, ``output`` = which output leaf), ``"input"``,
``"parameter"``, ``"buffer"`` or ``"constant"`` (``name`` = its qualified name
or input name); it carries ``shape`` and ``dtype``.  An in-place op (``relu_``,
``add_``) reads the old value and produces a new one, so values never change.
Walk the graph backwards from an output with :meth:`ModelTrace.producer`::

    stack = [trace.outputs[0]]
    while stack:
        op = trace.producer(stack.pop())     # None for inputs, parameters, ...
        if op is not None:
            stack.extend(op.inputs)          # plus op.after: writes through aliases

:meth:`ModelTrace.backward` does this once per op, outputs first.

Facts
-----
For the ops symtoe knows, ``op.fact`` is a small frozen dataclass with a
``kind`` and the op's multiply-adds for the inputs given (batch included) in
two conventions: ``macs`` (taps that read a real input value) and
``macs_padded`` (every tap, padding included: ``FlopCounterMode``'s
convention, ``get_total_flops() / 2``).

* :class:`ConvFact` (``kind "conv"``): ``aten.convolution`` of modules,
  functional calls and subclasses, as a :class:`~symtoe.core.spec.ConvSpec`.
  An ``F.pad`` that only feeds the convolution (the reflect / replicate /
  circular padding modes of conv modules, an asymmetric ``padding="same"``)
  is folded into the spec: the pad op gets ``folded_into`` (the conv's
  index) and the conv's first input becomes the unpadded tensor.
* :class:`MatmulFact` (``"matmul"``): ``mm, addmm, bmm, baddbmm, mv, addmv,
  dot`` (``matmul``, ``einsum`` and ``Linear`` reach the dispatcher as these);
  ``weight`` names a parameter operand.
* :class:`AttentionFact` (``"attention"``): the fused kernels
  ``_scaled_dot_product_*attention*``, ``_native_multi_head_attention``,
  ``_transformer_encoder_layer_fwd``.
* :class:`PoolFact` (``"pool"``): max / average pooling, the window as a
  depthwise ConvSpec (``ceil_mode`` as right padding).
* :class:`AdaptivePoolFact` (``"adaptive_pool"``), :class:`UpsampleFact`
  (``"upsample"``), :class:`PadFact` (``"pad"``; circular padding's slices and
  copies grouped into one op), :class:`NormFact` (``"norm"``),
  :class:`EmbeddingFact` (``"embedding"``).

``op.category`` sorts every op: the fact kinds above, and ``"pointwise"``
(torch's ``Tag.pointwise``: activations, ``add``, ``mul``, ...),
``"reduction"`` (``mean``, ``sum``, ``amax``, ...), ``"view"`` (aliases and
reshapes: ``view``, ``permute``, ``slice``, ``expand``, ...), ``"copy"``,
``"cat"`` (``cat``, ``stack``), ``"creation"`` (no tensor input), ``"misc"``
(known ops of no multiply-add: ``softmax``, ``gather``, ...) or ``"other"``
(an op symtoe does not know: :attr:`ModelTrace.unknown_ops`; the report
counts it as 0 with a warning).

Examples
--------
>>> import torch
>>> from torch import nn
>>> trace = trace_model(nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ReLU()), (1, 6))
>>> [(op.name, op.category, trace.calls[op.call].name) for op in trace.ops]
[('aten.convolution', 'conv', '0'), ('aten.relu', 'pointwise', '1')]
>>> conv = trace.ops[0].fact
>>> conv.spec.padding, conv.macs, conv.macs_padded
(((1, 1),), 32, 36)
>>> trace.producer(trace.outputs[0]).name
'aten.relu'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..core.counts import count_parameters
from ..core.spec import ConvSpec

__all__ = [
    "AdaptivePoolFact",
    "AttentionFact",
    "ConvFact",
    "EmbeddingFact",
    "MatmulFact",
    "ModelTrace",
    "ModuleCall",
    "NormFact",
    "Op",
    "PadFact",
    "ParameterInfo",
    "PoolFact",
    "TensorRef",
    "UpsampleFact",
    "trace_model",
]


# ------------------------------------------------------------------------- records
@dataclass(frozen=True)
class TensorRef:
    """One tensor value of a trace.

    ``source`` is ``"op"`` (``index`` the op, ``output`` which output leaf),
    ``"input"`` (``index`` the position among the model's input leaves),
    ``"parameter"``, ``"buffer"`` (``name`` the first qualified name) or
    ``"constant"`` (any other tensor that existed before the run).
    """

    source: str
    index: int = -1
    output: int = 0
    name: str = ""
    shape: tuple[int, ...] = ()
    dtype: str = ""


@dataclass
class Op:
    """One aten op of a trace (see the module docstring)."""

    index: int
    name: str
    overload: str
    call: int
    args: dict[str, Any]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef | None, ...]
    category: str = "other"
    fact: Any = None
    parameters: tuple[str, ...] = ()
    after: tuple[int, ...] = ()
    folded_into: int | None = None

    @property
    def output(self) -> TensorRef | None:
        """The first output (most ops have one)."""
        return self.outputs[0] if self.outputs else None

    @property
    def macs(self) -> int:
        return self.fact.macs if self.fact is not None else 0

    @property
    def macs_padded(self) -> int:
        return self.fact.macs_padded if self.fact is not None else 0


@dataclass
class ModuleCall:
    """One call of one module: ops ``first_op <= i < stop_op`` ran inside it."""

    index: int
    name: str
    kind: str
    module: Any = field(repr=False)
    call: int
    calls: int
    parent: int | None
    inputs: tuple[TensorRef | None, ...]
    outputs: tuple[TensorRef | None, ...] = ()
    first_op: int = 0
    stop_op: int = 0

    @property
    def label(self) -> str:
        """``name``, or ``name (call k of N)`` for a module called N > 1 times."""
        name = self.name or self.kind
        return name if self.calls == 1 else f"{name} (call {self.call} of {self.calls})"

    @property
    def depth(self) -> int:
        """0 for the model, 1 for its children, ..."""
        return 0 if not self.name else self.name.count(".") + 1


@dataclass
class ParameterInfo:
    """One parameter tensor: every qualified name it has (``aliases``: tied
    tensors have several), the modules holding it (``owners``, by the
    modules' first qualified names, ``""`` for the model) and the ops that
    read it (``reads``: directly or through views such as ``t`` or ``expand``)."""

    name: str
    aliases: tuple[str, ...]
    owners: tuple[str, ...]
    shape: tuple[int, ...]
    numel: int
    tensor: Any = field(repr=False)
    reads: tuple[int, ...] = ()

    @property
    def is_bias(self) -> bool:
        """Named ``bias`` or ``*_bias`` (``in_proj_bias``)."""
        last = self.name.rpartition(".")[2]
        return last == "bias" or last.endswith("_bias")


# --------------------------------------------------------------------------- facts
@dataclass(frozen=True)
class ConvFact:
    """A convolution: its :class:`ConvSpec`, batch and operands."""

    spec: ConvSpec
    batch: int
    weight: TensorRef
    bias: TensorRef | None = None
    kind = "conv"

    @property
    def macs(self) -> int:
        """``batch * count_parameters(spec).macs``: taps that read a real input."""
        return self.batch * count_parameters(self.spec).macs

    @property
    def macs_padded(self) -> int:
        """Every tap (FlopCounterMode): ``batch * prod(weight_shape) * prod(grid)``,
        the grid being the output (the input for a transposed convolution)."""
        s = self.spec
        grid = s.input_size if s.transposed else s.output_size
        return self.batch * math.prod(s.weight_shape) * math.prod(grid)


@dataclass(frozen=True)
class MatmulFact:
    """``batch`` products of ``(m, k) @ (k, n)``; ``weight`` names the parameter
    operand (a ``Linear``), if any."""

    op: str
    batch: int
    m: int
    k: int
    n: int
    weight: str | None = None
    kind = "matmul"

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.k * self.n

    macs_padded = macs


@dataclass(frozen=True)
class AttentionFact:
    """A fused attention kernel: the core ``softmax(Q K^T) V`` is its two matmuls,
    ``batch * heads * q_len * kv_len * (head_dim + value_dim)`` multiply-adds;
    ``projection_macs`` adds the input / output projections (and feed-forward)
    that ``_native_multi_head_attention`` / ``_transformer_encoder_layer_fwd``
    run inside the kernel."""

    op: str
    batch: int
    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    value_dim: int
    projection_macs: int = 0
    kind = "attention"

    @property
    def core_macs(self) -> int:
        return self.batch * self.heads * self.q_len * self.kv_len * (
            self.head_dim + self.value_dim
        )

    @property
    def macs(self) -> int:
        return self.core_macs + self.projection_macs

    macs_padded = macs


@dataclass(frozen=True)
class _NoMacs:
    macs = 0
    macs_padded = 0


@dataclass(frozen=True)
class PoolFact(_NoMacs):
    """Max / average / power pooling.  ``spec`` is the window as a depthwise
    :class:`ConvSpec` (``groups = channels``; ``ceil_mode``'s extra windows as
    right padding), so an average pool is that fixed-weight convolution."""

    mode: str
    spec: ConvSpec
    ceil_mode: bool = False
    kind = "pool"


@dataclass(frozen=True)
class AdaptivePoolFact(_NoMacs):
    """Adaptive pooling from ``input_size`` to ``output_size`` (spatial)."""

    mode: str
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    kind = "adaptive_pool"

    @property
    def is_global(self) -> bool:
        return all(o == 1 for o in self.output_size)


@dataclass(frozen=True)
class UpsampleFact(_NoMacs):
    """Interpolation: ``mode`` ``nearest``, ``nearest-exact``, ``linear``,
    ``bilinear``, ``bicubic``, ``trilinear``; ``scales`` as torch uses them
    (input / output per axis; ``None`` when torch derives it from the sizes)."""

    mode: str
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    scales: tuple[float | None, ...]
    align_corners: bool | None = None
    kind = "upsample"


@dataclass(frozen=True)
class PadFact(_NoMacs):
    """``F.pad``: ``padding`` ``(left, right)`` per padded axis, first axis
    first (the last ``len(padding)`` axes of the tensor)."""

    mode: str
    padding: tuple[tuple[int, int], ...]
    value: float = 0.0
    kind = "pad"


@dataclass(frozen=True)
class NormFact(_NoMacs):
    """Normalisation: ``op`` ``batch`` (eval: a per-channel affine map),
    ``batch_stats`` (statistics of the input itself: instance norm, training),
    ``layer`` (over the last ``len(normalized_shape)`` axes) or ``group``."""

    op: str
    normalized_shape: tuple[int, ...] = ()
    groups: int = 0
    kind = "norm"


@dataclass(frozen=True)
class EmbeddingFact(_NoMacs):
    num_embeddings: int
    embedding_dim: int
    kind = "embedding"


# ---------------------------------------------------------------------- op tables
_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot", "vdot"}
_SDPA = {
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
}
_POOL = {
    "max_pool1d": "max", "max_pool2d": "max", "max_pool3d": "max",
    "max_pool1d_with_indices": "max", "max_pool2d_with_indices": "max",
    "max_pool3d_with_indices": "max", "avg_pool1d": "avg", "avg_pool2d": "avg",
    "avg_pool3d": "avg",
}
_ADAPTIVE = {
    "_adaptive_avg_pool2d": "avg", "_adaptive_avg_pool3d": "avg",
    "adaptive_avg_pool1d": "avg", "adaptive_max_pool1d": "max",
    "adaptive_max_pool2d": "max", "adaptive_max_pool3d": "max",
}
_UPSAMPLE = {
    "upsample_nearest1d": "nearest", "upsample_nearest2d": "nearest",
    "upsample_nearest3d": "nearest", "_upsample_nearest_exact1d": "nearest-exact",
    "_upsample_nearest_exact2d": "nearest-exact", "_upsample_nearest_exact3d": "nearest-exact",
    "upsample_linear1d": "linear", "upsample_bilinear2d": "bilinear",
    "_upsample_bilinear2d_aa": "bilinear", "upsample_bicubic2d": "bicubic",
    "_upsample_bicubic2d_aa": "bicubic", "upsample_trilinear3d": "trilinear",
}
_PAD = {
    "constant_pad_nd": "zeros", "reflection_pad1d": "reflect", "reflection_pad2d": "reflect",
    "reflection_pad3d": "reflect", "replication_pad1d": "replicate",
    "replication_pad2d": "replicate", "replication_pad3d": "replicate",
    "_pad_circular": "circular",
}
_NORM = {
    "_native_batch_norm_legit_no_training": "batch", "native_batch_norm": "batch",
    "_native_batch_norm_legit": "batch", "batch_norm": "batch",
    "native_layer_norm": "layer", "native_group_norm": "group",
}
#: Ops that move or copy data without arithmetic (besides schema-declared views).
_VIEW_LIKE = {"_unsafe_view", "view", "reshape", "detach", "alias", "_reshape_alias",
              "expand_copy", "view_copy", "permute_copy", "t_copy", "transpose_copy",
              "unsqueeze_copy", "squeeze_copy", "slice_copy", "select_copy"}
_COPY = {"clone", "_to_copy", "contiguous", "lift_fresh", "lift_fresh_copy", "copy", "copy_"}
_CAT = {"cat", "stack", "concat", "concatenate"}
#: Known ops of no multiply-add (FlopCounterMode counts none of them either).
_ZERO_MACS = {"_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax",
              "native_dropout",
              "gather", "index", "index_select", "scatter", "scatter_add", "sort",
              "topk", "cumsum", "cumprod", "flip", "roll", "repeat", "tril", "triu",
              "argmax", "argmin", "index_put", "index_put_", "fill_", "zero_", "one_hot",
              "_prelu_kernel", "prelu", "max", "min", "embedding_bag", "_embedding_bag",
              "new_empty", "new_zeros", "new_ones", "new_full", "empty_like", "zeros_like",
              "ones_like", "full_like", "rand_like", "randn_like", "pixel_shuffle",
              "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "im2col",
              "col2im", "_local_scalar_dense", "bernoulli_", "uniform_", "normal_", "set_",
              "resize_", "_assert_async", "nonzero", "equal"}


def _packet(func) -> tuple[str, str]:
    """``("aten.convolution", "default")`` of an OpOverload."""
    packet = func.overloadpacket
    namespace = getattr(packet, "__module__", "").rpartition(".")[2] or "aten"
    name = getattr(packet, "__name__", str(packet))
    return f"{namespace}.{name}", func._overloadname


def _bind(func, args, kwargs) -> dict:
    """The op's arguments by schema name (defaults filled in)."""
    bound = {}
    for position, argument in enumerate(func._schema.arguments):
        if position < len(args) and not argument.kwarg_only:
            bound[argument.name] = args[position]
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
        else:
            bound[argument.name] = None
    return bound


def _category(func, name: str, has_tensor_input: bool) -> str:
    import torch

    short = name.rpartition(".")[2]
    for table, category in ((_MATMUL, "matmul"), (_SDPA, "attention"), (_POOL, "pool"),
                            (_ADAPTIVE, "adaptive_pool"), (_UPSAMPLE, "upsample"),
                            (_PAD, "pad"), (_NORM, "norm"), (_CAT, "cat")):
        if short in table:
            return category
    if short in ("convolution", "_convolution", "convolution_overrideable"):
        return "conv"
    if short in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd"):
        return "attention"
    if short == "embedding":
        return "embedding"
    tags = func.tags
    if torch.Tag.pointwise in tags:
        return "pointwise"
    if torch.Tag.reduction in tags or short in ("mean", "sum", "amax", "amin", "var", "std",
                                                "var_mean", "std_mean", "logsumexp",
                                                "prod", "norm", "linalg_vector_norm"):
        return "reduction"
    if short in _COPY:
        return "copy"
    returns = func._schema.returns
    if short in _VIEW_LIKE or (returns and returns[0].alias_info is not None
                               and not returns[0].alias_info.is_write):
        return "view"
    if not has_tensor_input:
        return "creation"
    if short in _ZERO_MACS:
        return "misc"
    return "other"


def _ints(value, rank: int) -> tuple[int, ...]:
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value) if len(value) == rank else (int(value[0]),) * rank
    return (int(value),) * rank


def _conv_fact(a: dict) -> ConvFact:
    x, w, b = a["input"], a["weight"], a["bias"]
    rank = len(w.shape) - 2
    batched = len(x.shape) == rank + 2
    transposed = bool(a["transposed"])
    groups = int(a["groups"])
    c_in = x.shape[1 if batched else 0]
    c_out = w.shape[1] * groups if transposed else w.shape[0]
    spec = ConvSpec(
        c_in, c_out, tuple(w.shape[2:]), input_size=tuple(x.shape[-rank:]),
        stride=_ints(a["stride"], rank), padding=_ints(a["padding"], rank),
        dilation=_ints(a["dilation"], rank), groups=groups, bias=b is not None,
        transposed=transposed,
        output_padding=_ints(a["output_padding"], rank) if transposed else 0,
    )
    return ConvFact(spec, x.shape[0] if batched else 1, w, b)


def _matmul_fact(short: str, a: dict, origins) -> MatmulFact:
    if short in ("mm", "addmm"):
        x, y = a["mat1" if short == "addmm" else "self"], a["mat2"]
        batch, (m, k), n = 1, x.shape, y.shape[1]
    elif short in ("bmm", "baddbmm"):
        x, y = (a["batch1"], a["batch2"]) if short == "baddbmm" else (a["self"], a["mat2"])
        (batch, m, k), n = x.shape, y.shape[2]
    elif short in ("mv", "addmv"):
        x, y = a["mat" if short == "addmv" else "self"], a["vec"]
        batch, (m, k), n = 1, x.shape, 1
    else:  # dot, vdot
        x, y = a["self"], a["tensor"]
        batch, m, k, n = 1, 1, x.shape[0], 1
    weight = None
    for operand in (y, x):
        names = origins.get(operand, ())
        if names:
            weight = names[0]
            break
    return MatmulFact(short, batch, m, k, n, weight)


def _attention_fact(short: str, a: dict) -> AttentionFact:
    if short in _SDPA:
        q, k, v = a["query"], a["key"], a["value"]
        lead = q.shape[:-3] if len(q.shape) > 3 else ()
        batch = math.prod(lead) if lead else 1
        heads = q.shape[-3] if len(q.shape) >= 3 else 1
        return AttentionFact(short, batch, heads, q.shape[-2], k.shape[-2], q.shape[-1],
                             v.shape[-1])
    source = a["query"] if short == "_native_multi_head_attention" else a["src"]
    key = a["key"] if short == "_native_multi_head_attention" else source
    embed, heads = int(a["embed_dim"]), int(a["num_heads" if "num_heads" in a else "num_head"])
    batch = source.shape[0] if len(source.shape) == 3 else 1
    q_len, kv_len = source.shape[-2], key.shape[-2]
    projections = batch * embed * embed * (2 * q_len + 2 * kv_len)
    if short == "_transformer_encoder_layer_fwd":
        projections += batch * q_len * 2 * embed * a["ffn_weight_1"].shape[0]
    head_dim = embed // heads
    return AttentionFact(short, batch, heads, q_len, kv_len, head_dim, head_dim, projections)


def _pool_fact(short: str, a: dict, out_shape) -> PoolFact:
    x = a["self"]
    rank = int(short.split("_pool")[1][0])
    kernel = _ints(a["kernel_size"], rank)
    stride = _ints(a.get("stride"), rank) or kernel
    padding = _ints(a.get("padding", 0), rank)
    dilation = _ints(a.get("dilation", 1), rank) or (1,) * rank
    size, out = tuple(x.shape[-rank:]), tuple(out_shape[-rank:])
    extra = tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
                  for o, s, d, k, n, p in zip(out, stride, dilation, kernel, size, padding))
    channels = x.shape[-rank - 1] if len(x.shape) > rank else 1
    spec = ConvSpec(channels, channels, kernel, input_size=size, stride=stride,
                    padding=tuple((p, p + e) for p, e in zip(padding, extra)),
                    dilation=dilation, groups=channels)
    if spec.output_size != out:  # pragma: no cover - torch's own arithmetic
        raise ValueError(f"pool window {spec} must give torch's output {out}")
    return PoolFact(_POOL[short], spec, bool(a.get("ceil_mode", False)))


def _upsample_fact(short: str, a: dict, out_shape) -> UpsampleFact:
    x = a["input"] if "input" in a else a["self"]
    rank = int(short[-2])
    size, out = tuple(x.shape[-rank:]), tuple(out_shape[-rank:])
    given = a.get("scale_factors")
    if given is None:
        names = {1: ("scales",), 2: ("scales_h", "scales_w"),
                 3: ("scales_d", "scales_h", "scales_w")}[rank]
        given = [a.get(n) for n in names]
    scales = tuple(1.0 / float(g) if g else None for g in given)
    return UpsampleFact(_UPSAMPLE[short], size, out, scales, a.get("align_corners"))


def _norm_fact(short: str, a: dict) -> NormFact:
    op = _NORM[short]
    if short in ("_native_batch_norm_legit", "native_batch_norm") and a.get("training"):
        op = "batch_stats"
    if op == "layer":
        return NormFact(op, tuple(int(v) for v in a["normalized_shape"]))
    if op == "group":
        return NormFact(op, groups=int(a["group"]))
    return NormFact(op)


def _fact(short: str, category: str, a: dict, out_shape, origins):
    if category == "conv":
        return _conv_fact(a)
    if category == "matmul":
        return _matmul_fact(short, a, origins)
    if category == "attention":
        return _attention_fact(short, a)
    if category == "pool":
        return _pool_fact(short, a, out_shape)
    if category == "adaptive_pool":
        rank = len(a["output_size"])
        return AdaptivePoolFact(_ADAPTIVE[short], tuple(a["self"].shape[-rank:]),
                                tuple(out_shape[-rank:]))
    if category == "upsample":
        return _upsample_fact(short, a, out_shape)
    if category == "pad" and short in _PAD:
        pads = [int(p) for p in a["pad"] if p is not None] if "pad" in a else \
            [int(p) for p in a["padding"]]
        pairs = tuple(reversed([(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)]))
        return PadFact(_PAD[short], pairs, float(a.get("value") or 0.0))
    if category == "norm":
        return _norm_fact(short, a)
    if category == "embedding":
        return EmbeddingFact(*a["weight"].shape)
    return None


# --------------------------------------------------------------------------- trace
@dataclass
class ModelTrace:
    """A recorded run of a model (see the module docstring)."""

    model: str
    ops: tuple[Op, ...]
    calls: tuple[ModuleCall, ...]
    inputs: tuple[TensorRef, ...]
    outputs: tuple[TensorRef | None, ...]
    parameters: dict[str, ParameterInfo]
    buffers: dict[str, tuple[int, ...]]

    def producer(self, ref: TensorRef | None) -> Op | None:
        """The op whose output ``ref`` is (``None`` for inputs, parameters, ...)."""
        if ref is None or ref.source != "op":
            return None
        return self.ops[ref.index]

    def consumers(self, ref: TensorRef) -> list[Op]:
        """The ops that read ``ref`` (in execution order)."""
        return [op for op in self.ops if ref in op.inputs]

    def backward(self, refs=None):
        """The ops that the values ``refs`` (default: the outputs) depend on,
        each once, latest first: every op comes before the ops producing its
        inputs (the order to compose facts from the output back to the input).
        Follows ``op.after`` (writes through aliases) too."""
        refs = [r for r in (self.outputs if refs is None else refs) if r is not None]
        needed = {r.index for r in refs if r.source == "op"}
        for op in reversed(self.ops):
            if op.index in needed:
                yield op
                needed.update(r.index for r in op.inputs if r.source == "op")
                needed.update(op.after)

    def ops_of(self, call: int) -> list[Op]:
        """Ops run directly by module call ``call`` (not by its children)."""
        c = self.calls[call]
        return [op for op in self.ops[c.first_op:c.stop_op] if op.call == call]

    def module_output(self, name: str, call: int | None = None) -> TensorRef:
        """The first output of module ``name`` (its last call, or call ``call``, 1-based)."""
        matches = [c for c in self.calls if c.name == name]
        if not matches:
            known = ", ".join(repr(c.name) for c in self.calls[1:6])
            raise ValueError(f"at must name a module that ran, such as {known}, but got {name!r}")
        chosen = matches[-1] if call is None else matches[call - 1]
        ref = next((r for r in chosen.outputs if r is not None), None)
        if ref is None:
            raise ValueError(f"module {name!r} must return a tensor to be read, but returned none")
        return ref

    @property
    def unknown_ops(self) -> dict[str, int]:
        """Ops symtoe does not know (counted as 0 multiply-adds): name -> calls."""
        counts: dict[str, int] = {}
        for op in self.ops:
            if op.category == "other":
                counts[op.name] = counts.get(op.name, 0) + 1
        return counts


class _Recorder:
    """The state of one trace run: tensor identities, the module stack, the ops."""

    def __init__(self, model):
        self.values: dict[int, tuple[Any, TensorRef]] = {}
        self.origins: dict[TensorRef, tuple[str, ...]] = {}  # value -> parameters it views
        self.writes: dict[int, list[int]] = {}  # storage -> ops that wrote into it
        self.ops: list[Op] = []
        self.calls: list[ModuleCall] = []
        self.stack: list[int] = []
        self.counts: dict[int, int] = {}
        self.constants = 0
        self.names = {}
        for name, module in model.named_modules(remove_duplicate=False):
            self.names.setdefault(id(module), name)
        owners: dict[int, list[str]] = {}
        for module in dict.fromkeys(model.modules()):
            for p in module.parameters(recurse=False):
                owners.setdefault(id(p), []).append(self.names[id(module)])
        self.parameters: dict[str, ParameterInfo] = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            if id(p) in self.values:
                first = self.values[id(p)][1].name
                self.parameters[first].aliases += (name,)
                continue
            ref = TensorRef("parameter", name=name, shape=tuple(p.shape), dtype=str(p.dtype))
            self.values[id(p)] = (p, ref)
            self.origins[ref] = (name,)
            self.parameters[name] = ParameterInfo(
                name, (name,), tuple(dict.fromkeys(owners.get(id(p), ()))), tuple(p.shape),
                p.numel(), p)
        self.buffers = {}
        for name, b in model.named_buffers(remove_duplicate=False):
            if id(b) not in self.values:
                self.values[id(b)] = (b, TensorRef("buffer", name=name, shape=tuple(b.shape),
                                                   dtype=str(b.dtype)))
                self.buffers[name] = tuple(b.shape)

    # ---------------------------------------------------------------- values
    def ref(self, tensor) -> TensorRef:
        entry = self.values.get(id(tensor))
        if entry is not None and entry[0] is tensor:
            return entry[1]
        ref = TensorRef("constant", self.constants, shape=tuple(tensor.shape),
                        dtype=str(tensor.dtype))
        self.constants += 1
        self.values[id(tensor)] = (tensor, ref)
        return ref

    def register(self, tensor, ref: TensorRef) -> None:
        self.values[id(tensor)] = (tensor, ref)

    @staticmethod
    def storage(tensor):
        try:
            return tensor.untyped_storage()._cdata
        except Exception:  # sparse, nested or other storage-less tensors
            return None

    # -------------------------------------------------------------- modules
    def _refs(self, value) -> tuple[TensorRef | None, ...]:
        import torch
        from torch.utils._pytree import tree_leaves

        return tuple(self.ref(v) if isinstance(v, torch.Tensor) else None
                     for v in tree_leaves(value))

    def pre_hook(self, module, args, kwargs):
        key = id(module)
        self.counts[key] = self.counts.get(key, 0) + 1
        index = len(self.calls)
        self.calls.append(ModuleCall(
            index, self.names.get(key, ""), type(module).__name__, module, self.counts[key], 0,
            self.stack[-1] if self.stack else None,
            tuple(r for r in self._refs((args, kwargs)) if r is not None),
            first_op=len(self.ops),
        ))
        self.stack.append(index)

    def post_hook(self, module, args, kwargs, output):
        index = self.stack.pop()
        call = self.calls[index]
        call.outputs = self._refs(output)
        call.stop_op = len(self.ops)

    # ------------------------------------------------------------------ ops
    def record(self, func, args, kwargs, out) -> None:
        import torch
        from torch.utils._pytree import tree_leaves, tree_map

        name, overload = _packet(func)
        index = len(self.ops)
        bound = _bind(func, args, kwargs)
        tensors = [v for v in tree_leaves(bound) if isinstance(v, torch.Tensor)]
        inputs = tuple(self.ref(t) for t in tensors)
        after = set()
        for t, r in zip(tensors, inputs):
            key = self.storage(t)
            made = r.index if r.source == "op" else -1
            after.update(w for w in self.writes.get(key, ()) if w > made)
        refs = {id(t): r for t, r in zip(tensors, inputs)}
        arguments = tree_map(lambda v: refs[id(v)] if isinstance(v, torch.Tensor) else v, bound)
        short = name.rpartition(".")[2]
        category = _category(func, name, bool(tensors))
        for argument in func._schema.arguments:
            info = argument.alias_info
            value = bound.get(argument.name)
            if info is not None and info.is_write and isinstance(value, torch.Tensor):
                self.writes.setdefault(self.storage(value), []).append(index)
        outputs = []
        for slot, leaf in enumerate(tree_leaves(out)):
            if not isinstance(leaf, torch.Tensor):
                outputs.append(None)
                continue
            ref = TensorRef("op", index, slot, shape=tuple(leaf.shape), dtype=str(leaf.dtype))
            self.register(leaf, ref)
            outputs.append(ref)
        read = tuple(dict.fromkeys(n for r in inputs for n in self.origins.get(r, ())))
        if category in ("view", "copy") and read:
            for ref in outputs:
                if ref is not None:
                    self.origins[ref] = read
        first_out = next((r for r in outputs if r is not None), None)
        fact = _fact(short, category, arguments, first_out.shape if first_out else (),
                     self.origins)
        self.ops.append(Op(index, name, overload, self.stack[-1] if self.stack else -1,
                           arguments, inputs, tuple(outputs), category, fact, read,
                           tuple(sorted(after))))



class _Dispatch:
    """Builds the TorchDispatchMode that hands every op to a recorder."""

    def __new__(cls, recorder: _Recorder):
        from torch.utils._python_dispatch import TorchDispatchMode

        class Dispatch(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                recorder.record(func, args, kwargs, out)
                return out

        return Dispatch()


# ------------------------------------------------------------------------ folding
def _slices(ops: list[Op], ref: TensorRef):
    """The tensor a chain of ``slice`` ops starts from, and each axis's start."""
    starts = {}
    while ref.source == "op" and ops[ref.index].name == "aten.slice":
        a = ops[ref.index].args
        starts[int(a["dim"]) % len(ref.shape)] = int(a["start"] or 0)
        ref = ops[ref.index].inputs[0]
    return ref, starts


def _fold_circular(ops: list[Op]) -> None:
    """Group ``F.pad(mode="circular")`` into one op.

    torch runs it (``_pad_circular``) as ``new_empty``, slices of the new
    buffer and of the input, and ``copy_`` into the slices.  The first copy
    puts the input into the buffer's interior: its two slice chains give each
    axis's left padding.  The ``new_empty`` op becomes the pad (reading the
    input, producing the buffer); the slices and copies get ``folded_into``.
    """
    for e in ops:
        if e.name != "aten.new_empty" or e.folded_into is not None:
            continue
        x, buffer = e.inputs[0], e.output
        if len(x.shape) != len(buffer.shape):
            continue
        derived, group, copies = {buffer: "out", x: "in"}, [], []
        for op in ops[e.index + 1:]:
            short = op.name.rpartition(".")[2]
            if short not in ("slice", "copy_") or not all(r in derived for r in op.inputs):
                break
            group.append(op)
            if short == "slice":
                derived[op.output] = derived[op.inputs[0]]
            else:
                copies.append(op)
        if not copies:
            continue

        (dst, out_starts), (src, in_starts) = (_slices(ops, copies[0].inputs[0]),
                                               _slices(ops, copies[0].inputs[1]))
        if dst != buffer or src != x or set(out_starts) != set(in_starts) or not out_starts:
            continue
        first = min(out_starts)
        if any(x.shape[d] != buffer.shape[d] for d in range(first)):
            continue
        pairs = []
        for d in range(first, len(x.shape)):
            left = out_starts.get(d, 0) - in_starts.get(d, 0)
            pairs.append((left, buffer.shape[d] - x.shape[d] - left))
        e.name, e.category = "aten._pad_circular", "pad"
        e.fact = PadFact("circular", tuple(pairs))
        e.args = {"self": x, "pad": [p for pair in reversed(pairs) for p in pair]}
        folded = {op.index for op in group}
        for op in group:
            op.folded_into = e.index
        for op in ops[e.index + 1:]:
            if op.after:
                op.after = tuple(a for a in op.after if a not in folded)


def _fold_pads(ops: list[Op], consumers: dict[TensorRef, int]) -> None:
    """Fold an ``F.pad`` that only feeds a convolution into the conv's spec."""
    for op in ops:
        if not isinstance(op.fact, ConvFact) or op.fact.spec.transposed:
            continue
        pad = ops[op.inputs[0].index] if op.inputs[0].source == "op" else None
        if pad is None or not isinstance(pad.fact, PadFact) or consumers[pad.output] != 1:
            continue
        spec, fact = op.fact.spec, pad.fact
        if len(fact.padding) != spec.rank or any(min(p) < 0 for p in fact.padding):
            continue
        if fact.mode == "zeros":
            if fact.value != 0.0:
                continue
            padding = tuple((a + c, b + d) for (a, b), (c, d) in zip(fact.padding, spec.padding))
        elif any(p != (0, 0) for p in spec.padding):
            continue
        else:
            padding = fact.padding
        source = pad.inputs[0]
        try:
            folded = spec.replace(input_size=tuple(source.shape[-spec.rank:]), padding=padding,
                                  padding_mode=fact.mode)
        except ValueError:  # e.g. reflect padding wider than torch's limit: keep both ops
            continue
        op.fact = ConvFact(folded, op.fact.batch, op.fact.weight, op.fact.bias)
        op.inputs = (source, *op.inputs[1:])
        op.args = {**op.args, "input": source}
        pad.folded_into = op.index


def _example(model, input_size, example_inputs):
    import torch

    if input_size is not None and example_inputs is not None:
        raise ValueError(
            "input_size and example_inputs must not both be given, but got "
            f"input_size={tuple(input_size)!r} and example_inputs"
        )
    if example_inputs is None:
        if input_size is None:
            raise ValueError(
                "input_size (one sample's shape, e.g. (3, 32, 32)) or example_inputs must be "
                "given, but got neither"
            )
        if isinstance(input_size, int) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size
        ):
            raise ValueError(
                "input_size must be one sample's shape without batch, a tuple of positive ints "
                f"such as (3, 32, 32), but got {input_size!r}"
            )
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        device = p.device if p is not None else "cpu"
        return (torch.zeros(1, *input_size, dtype=dtype, device=device),), {}
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    raise TypeError(
        "example_inputs must be a tensor, a tuple of positional inputs or a dict of keyword "
        f"inputs, but got {type(example_inputs).__name__}"
    )


def trace_model(model, input_size=None, *, example_inputs=None) -> ModelTrace:
    """Run ``model`` once and record every aten op (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        Run in eval mode under ``torch.no_grad()``; its training flags are
        restored afterwards and nothing is learned (BatchNorm statistics stay).
    input_size : tuple of int, optional
        One sample's shape without batch, e.g. ``(3, 32, 32)``: the model runs
        on ``torch.zeros(1, *input_size)`` (the parameters' dtype and device;
        meta tensors work, so large shapes cost nothing).
    example_inputs : tensor, tuple or dict, optional
        The model's inputs instead (any dtype: token ids, masks): a tensor, a
        tuple of positional inputs or a dict of keyword inputs.

    Returns
    -------
    ModelTrace
    """
    import torch
    from torch import nn
    from torch.utils._pytree import tree_leaves

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, but got {type(model).__name__}")
    args, kwargs = _example(model, input_size, example_inputs)
    recorder = _Recorder(model)
    inputs = []
    for position, leaf in enumerate(tree_leaves((args, kwargs))):
        if isinstance(leaf, torch.Tensor):
            if id(leaf) not in recorder.values:
                name = "input" if position == 0 else f"input {position}"
                recorder.register(leaf, TensorRef("input", len(inputs), name=name,
                                                  shape=tuple(leaf.shape), dtype=str(leaf.dtype)))
            inputs.append(recorder.values[id(leaf)][1])
    modules = list(dict.fromkeys(model.modules()))
    handles = []
    for module in modules:
        handles.append(module.register_forward_pre_hook(recorder.pre_hook, with_kwargs=True))
        handles.append(module.register_forward_hook(recorder.post_hook, with_kwargs=True,
                                                    always_call=True))
    training = [m.training for m in modules]
    model.eval()
    what = f"input_size {tuple(input_size)}" if input_size is not None else "example_inputs"
    try:
        with torch.no_grad(), _Dispatch(recorder):
            output = model(*args, **kwargs)
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(
            f"{what} must fit the model, but its forward pass failed: "
            f"{type(error).__name__}: {first}"
        ) from error
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(modules, training):
            m.training = flag

    ops = recorder.ops
    for call in recorder.calls:
        call.calls = recorder.counts[id(call.module)]
    _fold_circular(ops)
    consumers: dict[TensorRef, int] = {}
    for op in ops:
        for r in op.inputs if op.folded_into is None else ():
            consumers[r] = consumers.get(r, 0) + 1
    _fold_pads(ops, consumers)
    reads: dict[str, list[int]] = {}
    for op in ops:
        for name in op.parameters:
            reads.setdefault(name, []).append(op.index)
    for name, info in recorder.parameters.items():
        info.reads = tuple(reads.get(name, ()))
    outputs = recorder._refs(output)
    return ModelTrace(type(model).__name__, tuple(ops), tuple(recorder.calls), tuple(inputs),
                      outputs, recorder.parameters, recorder.buffers)
