"""Shift and rotation certificates of torch models, read from the model trace.

:func:`model_graph` reads a model's trace (:func:`~symtoe.network.trace.trace_model`)
as a :class:`~symtoe.network.certificate.CertificateGraph`: one node per recorded
op that computes a feature map from the model's first input, named after the
module call that ran it.  :func:`model_shift_check` and
:func:`model_boundary_map` certify it for a shift (the law and its refinements
are those of :mod:`symtoe.network.certificate`); :mod:`symtoe.network.model_symmetry`
certifies the same graph for a quarter turn or a mirror of the grid.

Where positions go
------------------
Every tensor's axes are followed op by op with the receptive-field reading's
positional rules (:mod:`symtoe.network.receptive`: views, permutes, reshapes,
squeezes, slices, concatenations), so the adapter knows, for each value,
which tensor axis carries which spatial axis of the input.  A value is a
**map** (every spatial axis carried, alone or flattened with others) or a
**vector** (every spatial axis mixed away, e.g. after global pooling); views
and copies pass a value's node on; anything else is not certified (below).

Ops and their facts
-------------------
=====================================  ===================================================
recorded op                            fact
=====================================  ===================================================
``aten.convolution``                   ``ConvSpec`` (bias flag included; transposed too);
                                       weights that read no parameter (a buffer: BlurPool)
                                       and are one separable depthwise filter:
                                       ``FixedConv`` (exact for those weights); on a
                                       vector (1x1 maps): ``Linear``
``F.pad`` (not folded into a conv)     ``Pad`` (a constant pad of a nonzero value: not
                                       certified)
max / average pooling                  ``MaxPool`` / ``AvgPool``; a window covering the
                                       whole map: ``GlobalPool``
adaptive pooling                       to size 1: ``GlobalPool``; to a size that divides
                                       the input: the equal ``MaxPool`` / ``AvgPool``;
                                       otherwise not certified (windows of unequal sizes)
upsampling                             ``Upsample`` for integer factors (nearest, linear
                                       modes); otherwise not certified
eval BatchNorm, LayerNorm over         ``Pointwise``: ``maps_zero_to_zero`` is ``f(0) == 0``
channels, activations, ``+ c``,        evaluated with the op itself on zeros and the
``* c``, softmax over channels,        recorded parameters and buffers (a BatchNorm maps
``Linear`` over channels               0 to ``beta - mean gamma / sqrt(var + eps)``);
                                       values that cannot be read (meta tensors) count as
                                       nonzero, with a note; ``nonnegative`` for ReLU,
                                       sigmoid, ReLU6, ...
``add`` / ``sub``, ``mul``, other      ``Sum``, ``Multiply``; ``Sum`` then ``Pointwise``
elementwise ops of several maps        (``f(0, ..., 0) == 0``)
``cat`` along channels                 ``Concat``
``mean`` / ``sum`` / ``amax`` /        ``GlobalPool`` (over every spatial axis); over
``amin`` over positions                channels only: ``Pointwise``
a flattened map into ``Linear``        ``Flatten`` then ``Linear`` (not equivariant)
``Linear`` on a vector                 ``Linear`` (passes exactness)
=====================================  ===================================================

Not certified, with the reason (op and module) in the error that asks for a
map depending on it: attention (it mixes all positions with data-dependent
weights: permutation-equivariant without position embeddings, which symtoe
does not certify), norms with statistics over positions (instance / group
norm), tensors that vary over positions added, multiplied or concatenated
(position embeddings, masks, class tokens, coordinate channels), crops and
slices of positions, reductions over some spatial axes only, products of two
maps that mix positions, and any op symtoe does not know.  An op that cannot
be certified never disappears: a map that depends on it has no certificate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..core.spec import ConvSpec
from . import facts
from .certificate import CertificateGraph, NetworkShiftCheck
from .trace import _ints

__all__ = [
    "ModelGraph",
    "model_boundary_map",
    "model_graph",
    "model_shift_check",
]

#: aten ops (short names, trailing ``_`` dropped) whose outputs are never negative.
NONNEGATIVE_OPS = frozenset({"relu", "sigmoid", "hardsigmoid", "softplus", "exp", "abs",
                             "softmax", "_softmax", "_safe_softmax"})
#: Lower-bound arguments that make a clamp nonnegative when they are >= 0 (ReLU6).
_LOWER = {"hardtanh": "min_val", "clamp": "min", "clamp_min": "min"}
#: Ops replayed to read a value computed from parameters and buffers.
_REPLAY = frozenset({"view", "copy", "pointwise", "reduction", "cat", "matmul", "conv"})
_CREATE = frozenset({"zeros", "ones", "full", "arange", "scalar_tensor"})
#: Views and copies that move no position (or move them as the receptive
#: reading follows them).
_PASS = frozenset({
    "view", "_unsafe_view", "reshape", "_reshape_alias", "alias", "detach", "permute",
    "transpose", "t", "expand", "squeeze", "unsqueeze", "flatten", "unflatten", "view_as",
    "expand_copy", "view_copy", "permute_copy", "t_copy", "transpose_copy", "unsqueeze_copy",
    "squeeze_copy", "clone", "_to_copy", "contiguous", "lift_fresh", "lift_fresh_copy",
    "slice", "select", "split", "split_with_sizes", "unbind", "narrow", "slice_copy",
    "select_copy",
})
_PART = frozenset({"slice", "select", "split", "split_with_sizes", "unbind", "narrow",
                   "slice_copy", "select_copy"})
#: Elementwise ops that torch does not tag ``pointwise`` (softmax: over its ``dim``).
_ELEMENTWISE = frozenset({"_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax",
                          "hardswish",
                          "hardswish_", "_prelu_kernel", "prelu", "log_sigmoid_forward"})
_REDUCE = {"mean": "avg", "sum": "sum", "amax": "max", "max": "max", "amin": "min",
           "min": "min"}
_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


class _Block(Exception):
    """An op the certificate cannot map: the message says why."""


@dataclass(frozen=True, eq=False)
class ModelGraph:
    """A traced model read as a :class:`CertificateGraph`.

    Attributes
    ----------
    graph : CertificateGraph
        One node per recorded op that computes a feature map from the model's
        first input (``"input"``), named after the module call that ran it
        (``label`` for the op that produces the call's output, else
        ``label:op``).
    trace : ModelTrace
    nodes : dict
        Value (:class:`~symtoe.network.trace.TensorRef`) -> the node it holds
        (views of a map hold its node).
    refs : dict
        Node -> the value it was made from (auxiliary nodes, ``label:op:flatten``
        and ``label:op:inputs``, have none).
    blocked : dict
        Value -> why it has no certificate (the first op on its way that
        cannot be certified, named with its module).
    notes : dict
        Node -> a caveat on its fact (values that could not be read).
    """

    graph: CertificateGraph
    trace: object = field(repr=False)
    nodes: dict = field(repr=False)
    refs: dict = field(repr=False)
    blocked: dict = field(repr=False)
    notes: dict = field(repr=False)
    layouts: dict = field(repr=False, default_factory=dict)

    def as_map(self, node: str, value):
        """A node's value (a tensor of a run on the traced input shape) as
        ``(batch, channels, *size)`` (``(batch, features)`` for a vector):
        flattened and permuted axes undone, size-1 axes dropped.

        >>> import torch
        >>> from torch import nn
        >>> g = model_graph(nn.Conv2d(2, 3, 1), (2, 4, 5))
        >>> g.as_map("Conv2d", torch.ones(1, 4, 5, 3).permute(0, 3, 1, 2)).shape
        torch.Size([1, 3, 4, 5])
        """
        from .receptive import _Opaque

        layout = self.layouts[node]
        sizes, axes = [], []
        for d, state in enumerate(layout.dims):
            if state is None or isinstance(state, _Opaque):
                sizes.append(value.shape[d])
                axes.append(None)
            else:
                sizes += [size for size, _ in state]
                axes += [None if m is None else m.axis for _, m in state]
        value = value.reshape(sizes)
        spatial = [axes.index(a) for a in range(self.graph.rank) if a in axes]
        rest = [i for i in range(len(sizes)) if i not in spatial]
        value = value.permute(*rest, *spatial)
        return value.reshape(sizes[rest[0]] if rest else 1, -1,
                             *(sizes[i] for i in spatial))

    @property
    def output(self):
        """The model's first tensor output."""
        return next((r for r in self.trace.outputs if r is not None), None)

    @property
    def unsupported(self) -> tuple[str, ...]:
        """Every distinct reason why a value that the model's output depends on
        has no certificate."""
        used = {r for op in self.trace.backward() for r in op.inputs}
        used.update(r for r in self.trace.outputs if r is not None)
        return tuple(dict.fromkeys(why for r, why in self.blocked.items() if r in used))

    def node(self, at: str | None = None) -> str:
        """The node of the model's output (``at=None``), of module ``at``'s
        output (its last call), or the node named ``at``; a ValueError says
        why a map has no certificate."""
        if at is None:
            ref, what = self.output, f"the output of {self.trace.model}"
            if ref is None:
                raise ValueError("the model must return a tensor to be certified, but "
                                 "returned none")
        elif any(c.name == at for c in self.trace.calls):
            ref, what = self.trace.module_output(at), f"module {at!r}"
        elif at in self.graph.nodes:
            return at
        else:
            known = ", ".join(repr(c.name) for c in self.trace.calls[1:6])
            raise ValueError(
                f"at must name a module that ran (such as {known}) or a node of the "
                f"certificate graph, but got {at!r}"
            )
        if ref in self.nodes:
            return self.nodes[ref]
        if ref in self.blocked:
            raise ValueError(f"the shift certificate of {what} is not defined: "
                             f"{self.blocked[ref]}")
        raise ValueError(f"the shift certificate of {what} is not defined: it is not "
                         "computed from the model's first input")


# ---------------------------------------------------------------- helpers
def _short(op) -> str:
    return op.name.rpartition(".")[2]


def _dtype(name: str):
    import torch

    return getattr(torch, name.rpartition(".")[2], torch.float32)


def _separable(kernel: np.ndarray):
    """Per-axis Fraction taps whose outer product is ``kernel`` exactly, or None."""
    fr = np.array([Fraction(float(v)) for v in kernel.ravel()], dtype=object).reshape(
        kernel.shape)
    if not fr.any():
        return None
    pivot = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    scale = fr[pivot]
    taps = []
    for a in range(fr.ndim):
        index = list(pivot)
        index[a] = slice(None)
        taps.append(fr[tuple(index)])
    taps[0] = taps[0] / scale ** (fr.ndim - 1)
    outer = taps[0]
    for t in taps[1:]:
        outer = np.multiply.outer(outer, t)
    if not (outer == fr).all():
        return None
    for a in range(1, fr.ndim):  # axes after the first sum to 1 where they can
        total = taps[a].sum()
        if total:
            taps[a], taps[0] = taps[a] / total, taps[0] * total
    return tuple(tuple(t.tolist()) for t in taps)


class _Reader:
    """Reads a trace into a CertificateGraph (see the module docstring)."""

    def __init__(self, trace):
        from .receptive import _input_layout

        self.trace = trace
        self.root = trace.calls[0].module if trace.calls else None
        first = trace.inputs[0] if trace.inputs else None
        if first is None:
            raise ValueError("the model must take a tensor input to be certified, but got none")
        layout, size = _input_layout(first)
        self.rank = len(size)
        self.graph = CertificateGraph(size)
        self.layouts = {first: layout}
        self.nodes = {first: "input"}
        self.refs = {"input": first}
        self.blocked: dict = {}
        self.notes: dict = {}
        self.values: dict = {}
        self.free: dict = {}
        self.names: set = {"input"}
        self.node_layouts = {"input": layout}
        self.owned = self._owned()

    # ------------------------------------------------------------- values
    def value(self, ref):
        """The recorded value of a tensor that does not depend on the input
        (parameters, buffers, ops on them), or None when it cannot be read."""
        import torch

        if ref in self.values:
            return self.values[ref]
        out = None
        if ref.source == "parameter":
            out = self.trace.parameters[ref.name].tensor.detach()
        elif ref.source == "buffer" and self.root is not None:
            try:
                out = self.root.get_buffer(ref.name)
            except AttributeError:
                out = None
        elif ref.source == "op":
            out = self._replay(self.trace.ops[ref.index], ref.output)
        if out is not None and (out.is_meta or not isinstance(out, torch.Tensor)):
            out = None
        self.values[ref] = out
        return out

    def _replay(self, op, output: int):
        from torch.utils._pytree import tree_leaves, tree_map

        from .trace import TensorRef

        if not (op.category in _REPLAY or _short(op) in _CREATE) or op.after or any(
                r in self.nodes or r in self.blocked for r in op.inputs):
            return None
        tensors = {r: self.value(r) for r in op.inputs}
        if any(v is None for v in tensors.values()):
            return None
        args = tree_map(lambda v: tensors[v] if isinstance(v, TensorRef) else v, op.args)
        try:
            result = self._func(op)(**args)
        except Exception:  # an op that cannot run again on its own: unknown
            return None
        leaves = tree_leaves(result)
        return leaves[output] if output < len(leaves) else None

    @staticmethod
    def _func(op):
        import torch

        namespace, _, short = op.name.partition(".")
        return getattr(getattr(getattr(torch.ops, namespace), short), op.overload)

    def reads_parameter(self, ref) -> bool:
        """Whether a value depends on a parameter (free weights)."""
        if ref in self.free:
            return self.free[ref]
        if ref.source == "parameter":
            out = True
        elif ref.source == "op":
            out = any(self.reads_parameter(r) for r in self.trace.ops[ref.index].inputs)
        else:
            out = False
        self.free[ref] = out
        return out

    def maps_zero(self, op, what: str) -> tuple[bool, str]:
        """``(f(0, ..., 0) == 0, note)``: the op run on zeros for the input's
        maps and the recorded values of everything else."""
        import torch
        from torch.utils._pytree import tree_leaves, tree_map

        from .trace import TensorRef

        unknown = []

        def fill(v):
            if not isinstance(v, TensorRef):
                return v
            if v in self.nodes:
                shape = [1 if self._carries(v, d) else n for d, n in enumerate(v.shape)]
                return torch.zeros(shape, dtype=_dtype(v.dtype))
            value = self.value(v)
            if value is None:
                unknown.append(v.name or v.source)
                return None
            return value.detach().to("cpu")

        args = tree_map(fill, op.args)
        note = ""
        if not unknown:
            try:
                out = tree_leaves(self._func(op)(**args))[0]
                return bool((out == 0).all()), ""
            except Exception as error:  # noqa: BLE001 - say so in the note
                note = f"f(0) could not be evaluated ({type(error).__name__})"
        else:
            note = f"the values of {', '.join(dict.fromkeys(unknown))} cannot be read"
        return False, f"{what}: {note}; treated as not mapping 0 to 0 (sound)"

    # ------------------------------------------------------------ layouts
    def _carries(self, ref, d) -> bool:
        state = self.layouts[ref].dims[d] if ref in self.layouts else None
        return isinstance(state, tuple) and any(m is not None for _, m in state)

    def kind(self, ref):
        """``("map" | "vector", {axis: dim}, merged)`` of a value of the graph."""
        from .receptive import _Opaque

        layout = self.layouts.get(ref)
        if layout is None:
            raise _Block("symtoe lost track of its positions")
        if layout.lost:
            raise _Block(f"symtoe lost track of its positions ({layout.lost})")
        carriers, merged = {}, False
        for d, state in enumerate(layout.dims):
            if state is None:
                continue
            if isinstance(state, _Opaque):
                raise _Block(f"its positions are lost in {state.why}")
            axes = [m.axis for _, m in state if m is not None]
            for a in axes:
                if a in carriers:
                    raise _Block(f"spatial axis {a} is carried by two tensor axes")
                carriers[a] = d
            if axes and sum(size > 1 for size, _ in state) > 1:
                merged = True
        if not carriers:  # (layout.mixed: positions some value read, e.g. SE gating)
            return "vector", {}, False
        if len(carriers) == self.rank:
            return "map", carriers, merged
        raise _Block("it mixes positions along some spatial axes but not all")

    def spatial(self, ref, shape_out, op_rank: int, what: str):
        """The op axes (of the last ``op_rank`` tensor axes) that carry the
        map's spatial axes, in order, or ``[]`` for a vector; other op axes
        must have size 1 in and out."""
        kind, carriers, merged = self.kind(ref)
        ndim = len(ref.shape)
        first = ndim - op_rank
        if kind == "vector":
            keep = []
        else:
            if merged:
                raise _Block(f"{what} reads a map whose spatial axes are flattened together")
            dims = [carriers[a] for a in range(self.rank)]
            if dims != sorted(dims) or dims[0] < first:
                raise _Block(f"{what} runs over tensor axes {list(range(first, ndim))}, but "
                             f"the spatial axes are tensor axes {dims}")
            keep = [d - first for d in dims]
        for k in range(op_rank):
            if k not in keep and (ref.shape[first + k] != 1 or shape_out[first + k] != 1):
                raise _Block(f"{what} runs over a tensor axis that carries no position "
                             f"(size {ref.shape[first + k]})")
        return keep

    # --------------------------------------------------------------- nodes
    def _owned(self) -> set:
        """Ops whose output, through views and copies, is the output of the
        module call that ran them: their nodes take the call's label."""
        owned = set()
        for call in self.trace.calls:
            op = self.trace.producer(next((r for r in call.outputs if r is not None), None))
            while op is not None and op.category in ("view", "copy") and op.inputs:
                op = self.trace.producer(op.inputs[0])
            if op is not None and op.call == call.index:
                owned.add(op.index)
        return owned

    def name(self, op, suffix: str = "") -> str:
        call = self.trace.calls[op.call] if op.call >= 0 else None
        label = (call.label or call.kind) if call is not None else self.trace.model
        short = _short(op).rstrip("_")
        if not suffix and op.index in self.owned and label not in self.names:
            base = label
        else:
            base = f"{label}:{short}{suffix}"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}#{k}"
        self.names.add(name)
        return name

    def add(self, op, fact, inputs, *, suffix: str = "", note: str = "") -> str:
        name = self.name(op, suffix)
        try:
            self.graph.add(name, fact, [self.nodes[i] if not isinstance(i, str) else i
                                        for i in inputs], note=note)
        except ValueError as error:
            raise _Block(str(error)) from None
        if not suffix:
            self.nodes[op.outputs[0]] = name
            self.refs[name] = op.outputs[0]
            self.node_layouts[name] = self.layouts[op.outputs[0]]
        if note:
            self.notes[name] = note
        return name

    # ---------------------------------------------------------------- ops
    def read(self):
        from .receptive import _step

        for op in self.trace.ops:
            if op.folded_into is not None:
                continue
            self.layouts.update(_step(op, self.trace, self.layouts))
            bad = next((self.blocked[r] for r in op.inputs if r in self.blocked), None)
            graph_in = [r for r in op.inputs if r in self.nodes]
            outs = [r for r in op.outputs if r is not None]
            if bad is not None:
                self.blocked.update({r: bad for r in outs})
                continue
            if not graph_in or not outs:
                continue
            where = self.where(op)
            try:
                if op.after:
                    raise _Block("in-place writes through a view reach it")
                self.op(op, graph_in)
            except _Block as reason:
                self.blocked.update({r: f"{op.name} in {where}: {reason}" for r in outs
                                     if r not in self.nodes})
                continue
            for r in outs[1:]:
                if r not in self.nodes:
                    self.blocked[r] = (f"{op.name} in {where}: output {op.outputs.index(r)} "
                                       "(indices or statistics) is not a feature map")
        return ModelGraph(self.graph, self.trace, self.nodes, self.refs, self.blocked,
                          self.notes, self.node_layouts)

    def where(self, op) -> str:
        if op.call < 0:
            return "the model"
        call = self.trace.calls[op.call]
        return f"module {call.label!r}" if call.name else f"{call.kind} (the model)"

    def op(self, op, graph_in):
        category, short = op.category, _short(op)
        fact = op.fact
        if category == "conv" and fact is not None:
            return self.conv(op, fact)
        if category == "pool" and fact is not None:
            return self.pool(op, fact)
        if category == "adaptive_pool" and fact is not None:
            return self.adaptive(op, fact)
        if category == "upsample" and fact is not None:
            return self.upsample(op, fact)
        if category == "pad" and fact is not None:
            return self.pad(op, fact)
        if category == "norm" and fact is not None:
            return self.norm(op, fact)
        if category == "matmul":
            return self.matmul(op, graph_in)
        if category == "attention":
            raise _Block("attention mixes every position with weights computed from the "
                         "input; it is permutation-equivariant without position embeddings, "
                         "which symtoe does not certify")
        if category == "embedding":
            zero, note = self.maps_zero(op, "the embedding of index 0")
            return self.add(op, facts.Pointwise(zero), [op.args["indices"]], note=note)
        if category == "pointwise":
            return self.pointwise(op, graph_in)
        if category == "reduction":
            return self.reduction(op)
        if category in ("view", "copy"):
            return self.view(op, graph_in)
        if category == "cat":
            return self.cat(op)
        if short in _ELEMENTWISE:
            x = op.inputs[0]
            if "dim" in op.args and self._carries(x, int(op.args["dim"]) % len(x.shape)):
                raise _Block(f"{short} over a spatial axis mixes positions")
            if self.layouts[op.outputs[0]].lost:  # the receptive reading does not know it
                self.layouts[op.outputs[0]] = self.layouts[x]
            return self.unary(op, x)
        if short.endswith("_like") or short.startswith("new_"):
            return None  # a tensor of the input's shape only: not a feature map
        raise _Block("symtoe's certificate does not know this op")

    # ------------------------------------------------------ spatial layers
    def conv(self, op, fact):
        x = op.args["input"]
        if x not in self.nodes:
            raise _Block("its weights are computed from the input")
        weight, bias = op.args["weight"], op.args.get("bias")
        if weight in self.nodes or bias in self.nodes:
            raise _Block("its weights are computed from the input")
        spec = fact.spec
        keep = self.spatial(x, op.outputs[0].shape, spec.rank, "the convolution")
        if not keep:
            return self.add(op, facts.Linear(), [x])
        pick = lambda values: tuple(values[k] for k in keep)  # noqa: E731
        spec = ConvSpec(spec.in_channels, spec.out_channels, pick(spec.kernel_size),
                        input_size=pick(spec.input_size), stride=pick(spec.stride),
                        padding=pick(spec.padding), dilation=pick(spec.dilation),
                        groups=spec.groups, bias=spec.bias, padding_mode=spec.padding_mode,
                        transposed=spec.transposed, output_padding=pick(spec.output_padding))
        if self.reads_parameter(weight):
            return self.add(op, spec, [x])
        fixed, note = self.fixed(weight, spec, keep)
        return self.add(op, fixed, [x], note=note)

    def fixed(self, weight, spec, keep):
        """A FixedConv for weights that read no parameter, or the spec (free
        weights: sound for any fixed weights) with a note why not."""
        value = self.value(weight)
        what = "weights that read no parameter"
        if value is None:
            return spec, f"{what} whose values cannot be read: certified as free weights"
        w = value.detach().to("cpu").double().numpy()
        depthwise = spec.groups == spec.in_channels == spec.out_channels and w.shape[1] == 1
        if not depthwise or not (w == w[:1]).all():
            return spec, (f"{what}, but not one filter for every channel: certified as "
                          "free weights")
        kernel = w[0, 0].reshape(tuple(w.shape[2 + k] for k in keep))
        taps = _separable(kernel)
        if taps is None:
            return spec, f"{what}, but not a separable filter: certified as free weights"
        return facts.FixedConv(spec, taps), ""

    def pool(self, op, fact):
        x = op.inputs[0]
        a = op.args
        rank = fact.spec.rank
        keep = self.spatial(x, op.outputs[0].shape, rank, "the pool")
        if not keep:
            return self.alias(op, x)
        kernel = _ints(a["kernel_size"], rank)
        stride = _ints(a.get("stride"), rank) or kernel
        padding = _ints(a.get("padding", 0), rank) or (0,) * rank
        dilation = _ints(a.get("dilation", 1), rank) or (1,) * rank
        size = fact.spec.input_size
        if all(kernel[k] == size[k] and padding[k] == 0 and dilation[k] == 1 for k in keep):
            return self.add(op, facts.GlobalPool(fact.mode), [x])
        pick = lambda values: tuple(values[k] for k in keep)  # noqa: E731
        ceil_mode = bool(a.get("ceil_mode", False))
        if fact.mode == "max":
            layer = facts.MaxPool(pick(kernel), pick(stride), pick(padding), pick(dilation),
                                  ceil_mode)
        elif fact.mode == "avg":
            override = a.get("divisor_override")
            layer = facts.AvgPool(pick(kernel), pick(stride), pick(padding), ceil_mode,
                            bool(a.get("count_include_pad", True)),
                            int(override) if override else None)
        else:
            raise _Block(f"{fact.mode} pooling is not certified")
        return self.add(op, layer, [x])

    def adaptive(self, op, fact):
        x = op.inputs[0]
        rank = len(fact.output_size)
        keep = self.spatial(x, op.outputs[0].shape, rank, "the adaptive pool")
        if not keep:
            return self.alias(op, x)
        n = [fact.input_size[k] for k in keep]
        o = [fact.output_size[k] for k in keep]
        if all(v == 1 for v in o):
            return self.add(op, facts.GlobalPool(fact.mode), [x])
        if any(a % b for a, b in zip(n, o)):
            raise _Block(f"adaptive pooling from {tuple(n)} to {tuple(o)} has windows of "
                         "unequal sizes (the output size does not divide the input size)")
        k = tuple(a // b for a, b in zip(n, o))
        layer = facts.MaxPool(k) if fact.mode == "max" else facts.AvgPool(k)
        return self.add(op, layer, [x])

    def upsample(self, op, fact):
        x = op.inputs[0]
        rank = len(fact.output_size)
        keep = self.spatial(x, op.outputs[0].shape, rank, "the upsampling")
        if not keep:
            return self.alias(op, x)
        factors = []
        for k in keep:
            n, o, scale = fact.input_size[k], fact.output_size[k], fact.scales[k]
            f = o // n
            if o % n or (scale is not None and abs(scale * f - 1) > 1e-12):
                raise _Block(f"upsampling from {n} to {o} (scale {scale}) is not by an "
                             "integer factor")
            factors.append(f)
        mode = fact.mode
        if mode in ("linear", "bilinear", "trilinear"):
            mode = _LINEAR_MODES[len(keep)]
        elif mode not in ("nearest", "nearest-exact"):
            raise _Block(f"{mode} upsampling is not certified")
        return self.add(op, facts.Upsample(tuple(factors), mode, bool(fact.align_corners)), [x])

    def pad(self, op, fact):
        x = op.inputs[0]
        mode = {"zeros": "constant"}.get(fact.mode, fact.mode)
        if mode == "constant" and fact.value != 0:
            raise _Block(f"a constant pad of value {fact.value} is affine")
        kind, carriers, merged = self.kind(x)
        first = len(x.shape) - len(fact.padding)
        pairs = [(0, 0)] * self.rank
        by_dim = {d: a for a, d in carriers.items()}
        for d, pair in enumerate(fact.padding, start=first):
            if min(pair) < 0:
                raise _Block("a negative pad crops positions")
            if d in by_dim and not merged:
                pairs[by_dim[d]] = tuple(pair)
            elif tuple(pair) != (0, 0):
                raise _Block(f"it pads tensor axis {d}, which carries no single position axis")
        if kind == "vector":
            return self.alias(op, x)
        return self.add(op, facts.Pad(tuple(pairs), mode), [x])

    # ---------------------------------------------------- pointwise layers
    def norm(self, op, fact):
        x = op.inputs[0]
        if fact.op in ("batch_stats", "group"):
            raise _Block("it normalises with statistics over positions (instance / group "
                         "norm, or batch norm in training)")
        if fact.op == "layer":
            dims = range(len(x.shape) - len(fact.normalized_shape), len(x.shape))
        else:
            dims = [1]
        if any(self._carries(x, d) for d in dims):
            raise _Block("it normalises over positions")
        what = "the BatchNorm offset beta - mean gamma / sqrt(var + eps)" if fact.op == "batch" \
            else "the LayerNorm offset"
        zero, note = self.maps_zero(op, what)
        return self.add(op, facts.Pointwise(zero), [x], note=note)

    def _constant_positions(self, op, graph_in):
        """Refuse tensors that do not depend on the input but vary over positions
        (or spread a vector over them), and maps laid out differently."""
        import math

        from .trace import TensorRef

        out = op.outputs[0]
        if math.prod(out.shape) > max(math.prod(r.shape) for r in graph_in):
            raise _Block("a tensor that does not depend on the input spreads it over more "
                         f"elements ({out.shape})")
        layouts = set()
        for r in graph_in:
            kind, carriers, merged = self.kind(r)
            shift = len(out.shape) - len(r.shape)
            if kind == "map":
                layouts.add((merged, tuple(sorted((a, d + shift) for a, d in carriers.items()))))
        if len(layouts) > 1:
            raise _Block("it combines maps whose spatial axes are laid out differently")
        spatial = [d for d in range(len(out.shape)) if self._carries(out, d)]
        for r in op.inputs:
            if r in self.nodes or not isinstance(r, TensorRef):
                continue
            lead = len(out.shape) - len(r.shape)
            if any(d >= lead and r.shape[d - lead] > 1 for d in spatial):
                what = r.name or "a tensor"
                raise _Block(f"it combines the map with {what} of shape {r.shape}, which does "
                             "not depend on the input and varies over positions")

    def unary(self, op, x):
        short = _short(op).rstrip("_")
        zero, note = self.maps_zero(op, f"{short}(0)")
        lower = _LOWER.get(short)
        nonneg = short in NONNEGATIVE_OPS or (
            lower is not None and isinstance(op.args.get(lower), (int, float))
            and op.args[lower] >= 0)
        return self.add(op, facts.Pointwise(zero, nonnegative=nonneg), [x], note=note)

    def pointwise(self, op, graph_in):
        self._constant_positions(op, graph_in)
        short = _short(op).rstrip("_")
        if len(graph_in) == 1:
            return self.unary(op, graph_in[0])
        constants = any(r not in self.nodes for r in op.inputs)
        alpha = op.args.get("alpha", 1)
        if short == "add" and alpha == 1 and not constants:
            return self.add(op, facts.Sum(), graph_in)
        if short == "mul" and not constants:
            return self.add(op, facts.Multiply(), graph_in)
        merged = self.add(op, facts.Sum(), graph_in, suffix=":inputs")
        zero, note = self.maps_zero(op, f"{short}(0, ..., 0)")
        return self.add(op, facts.Pointwise(zero), [merged], note=note)

    def reduction(self, op):
        x = op.inputs[0]
        short = _short(op)
        kind, carriers, merged = self.kind(x)
        dims = op.args.get("dim")
        ndim = len(x.shape)
        if dims is None or (isinstance(dims, (list, tuple)) and not dims):
            dims = range(ndim)
        dims = {int(d) % ndim for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
        spatial = set(carriers.values())
        if kind == "vector" or not spatial & dims:
            return self.unary(op, x)
        if merged or not spatial <= dims:
            raise _Block("it reduces over some spatial axes but not all")
        if short not in _REDUCE:
            raise _Block(f"a {short} over positions is not certified (mean, sum, max, min are)")
        return self.add(op, facts.GlobalPool(_REDUCE[short]), [x])

    def matmul(self, op, graph_in):
        short = _short(op)
        operands = {"mm": ("self", "mat2"), "addmm": ("mat1", "mat2"), "bmm": ("self", "mat2"),
                    "baddbmm": ("batch1", "batch2"), "mv": ("self", "vec"),
                    "addmv": ("mat", "vec"), "dot": ("self", "tensor"),
                    "vdot": ("self", "tensor")}[short]
        contracted = {"mm": (1, 0), "addmm": (1, 0), "bmm": (2, 1), "baddbmm": (2, 1),
                      "mv": (1, 0), "addmv": (1, 0), "dot": (0, 0), "vdot": (0, 0)}[short]
        ins = [op.args[n] for n in operands]
        if all(r in self.nodes for r in ins):
            raise _Block("a product of two maps (as in attention) mixes positions with "
                         "weights computed from the input")
        if short in ("addmm", "baddbmm", "addmv") and op.args["self"] in self.nodes:
            raise _Block("its bias is computed from the input")
        side = 0 if ins[0] in self.nodes else 1
        x = ins[side]
        kind, carriers, _ = self.kind(x)
        if kind == "vector":
            return self.add(op, facts.Linear(), [x])
        inside = {a for a, d in carriers.items() if d == contracted[side]}
        if not inside:
            zero, note = self.maps_zero(op, "the Linear's bias")
            return self.add(op, facts.Pointwise(zero), [x], note=note)
        if len(inside) < self.rank:
            raise _Block("it mixes positions along some spatial axes but not all")
        flat = self.add(op, facts.Flatten(), [x], suffix=":flatten")
        return self.add(op, facts.Linear(), [flat])

    # ------------------------------------------------------------- moves
    def alias(self, op, x):
        self.nodes[op.outputs[0]] = self.nodes[x]

    def view(self, op, graph_in):
        short = _short(op)
        if short not in _PASS and short != "copy_":
            raise _Block(f"symtoe's certificate does not know how {short} moves positions")
        if short == "copy_":
            src = op.args["src"]
            if src not in self.nodes or src.shape != op.outputs[0].shape:
                raise _Block("a copy into a buffer is not certified")
            return self.alias(op, src)
        x = op.inputs[0]
        if short in _PART:
            dim = int(op.args.get("dim", 0)) % len(x.shape)
            if self._carries(x, dim):
                whole = short in ("slice", "slice_copy") and (op.args.get("step") or 1) == 1 \
                    and op.outputs[0].shape == x.shape
                if not whole:
                    raise _Block("it takes part of the positions (a crop)")
        for r in op.outputs:
            if r is not None:
                self.nodes[r] = self.nodes[x]
        self.kind(op.outputs[0])  # the layout must stay readable

    def cat(self, op):
        tensors = [t for t in op.args["tensors"] if t is not None]
        if _short(op) != "cat":
            raise _Block("stacking maps along a new axis is not certified")
        dim = int(op.args.get("dim", 0)) % len(op.outputs[0].shape)
        if any(t not in self.nodes for t in tensors):
            shapes = [t.shape for t in tensors if t not in self.nodes]
            raise _Block(f"it concatenates a tensor of shape {shapes[0]} that does not depend "
                         "on the input (a class token, coordinate channels)")
        if any(self._carries(t, dim) for t in tensors):
            raise _Block("it concatenates along positions")
        return self.add(op, facts.Concat(), tensors)


# ------------------------------------------------------------- public API
def model_graph(model, input_size=None, *, example_inputs=None) -> ModelGraph:
    """A torch model (or its trace) read as a certificate graph.

    Parameters
    ----------
    model : torch.nn.Module or ModelTrace
    input_size : tuple of int, optional
        One sample's shape ``(C, *spatial)`` (the model runs on zeros of it;
        meta tensors work, so large shapes cost nothing).
    example_inputs : tensor, tuple or dict, optional
        The model's inputs instead; the certificate is over the first one's
        spatial axes.

    Returns
    -------
    ModelGraph
        ``.graph`` (a :class:`CertificateGraph`), ``.node(at)``, ``.blocked``,
        ``.notes``.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.Sigmoid(), nn.AdaptiveAvgPool1d(1),
    ...                     nn.Flatten(), nn.Linear(4, 2))
    >>> print(model_graph(net, (1, 8)).graph)
    CertificateGraph(input_size=(8,)):
      0 <- input: Conv(k=(3,), s=(1,), p=((1, 1),), d=(1,), zeros, bias) -> (8,)
      1 <- 0: Pointwise(maps_zero_to_zero=False, nonnegative=True) -> (8,)
      2 <- 1: GlobalPool(kind='avg') -> ()
      4 <- 2: Linear() -> ()
    """
    from .trace import ModelTrace, trace_model

    if isinstance(model, ModelGraph):
        return model
    if isinstance(model, ModelTrace):
        trace = model
    else:
        if input_size is None and example_inputs is None:
            raise ValueError("input_size must be given for a model, as (C, *spatial), "
                             "but got None")
        trace = trace_model(model, input_size, example_inputs=example_inputs)
    return _Reader(trace).read()


def model_shift_check(model, shift, *, input_size=None, example_inputs=None,
                      mode: str = "zero", at: str | None = None) -> NetworkShiftCheck:
    """The exact shift certificate of a torch model's output (or of module ``at``).

    The model's trace is read as a :class:`CertificateGraph` (:func:`model_graph`,
    the table of ops in the module docstring) and certified: position ``r``
    of a map ``y`` is exact when ``y(S_t x)[r] == (S_u y(x))[r]`` for every
    input and every weight setting (BatchNorm offsets and fixed filters as
    recorded), ``u = t / stride``.

    Parameters
    ----------
    model : torch.nn.Module, ModelTrace or ModelGraph
    shift : int or tuple of int
        The input shift ``t``, one value per spatial axis.
    input_size : tuple of int, optional
        ``(C, *spatial)`` of one sample.
    example_inputs : tensor, tuple or dict, optional
    mode : {"zero", "cyclic"}
    at : str, optional
        A module's qualified name (its output, last call) or a node's name.

    Returns
    -------
    NetworkShiftCheck
        ``.output_shift`` (None: aliasing), ``.exact`` (shape ``()`` after
        global pooling: invariance), ``.exact_maps`` (every map it reads),
        ``.explain(position)``, ``.at(name)``.  A ValueError names the op and
        module when the map depends on an op that cannot be certified.

    Examples
    --------
    pytorch #71154 ("Conv2d is not translation-equivariant"): zero padding.

    >>> from torch import nn
    >>> conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    >>> cert = model_shift_check(conv, (0, 1), input_size=(1, 5, 5))
    >>> print(cert.exact.astype(int))
    [[0 1 1 1 0]
     [0 1 1 1 0]
     [0 1 1 1 0]
     [0 1 1 1 0]
     [0 1 1 1 0]]
    """
    graph = model_graph(model, input_size, example_inputs=example_inputs)
    return graph.graph.check_shift(shift, mode, node=graph.node(at))


def model_boundary_map(model, shift, *, input_size=None, example_inputs=None,
                       mode: str = "zero") -> dict[str, np.ndarray]:
    """Every feature map's exact positions for one shift: node name -> bool map.

    In graph order (the order torch ran the ops), fused pads included (certified
    on their own padded grids); a vector's map has shape ``()`` (invariance).
    Maps that cannot be certified are left out with a warning that names them
    and the reason.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv1d(2, 2, 3))
    >>> for name, exact in model_boundary_map(net, 1, input_size=(1, 8)).items():
    ...     print(name, exact.astype(int).tolist())
    0 [0, 1, 1, 1, 1, 1, 1, 0]
    1 [0, 1, 1, 1, 1, 1, 1, 0]
    2 [0, 1, 1, 1, 1, 0]
    """
    graph = model_graph(model, input_size, example_inputs=example_inputs)
    g = graph.graph
    maps: dict[str, np.ndarray] = {}
    for name in reversed(list(g.nodes)):  # the last maps first: they read most others
        if name not in maps:
            maps.update(g.check_shift(shift, mode, node=name).exact_maps)
    maps.pop(g.input_name, None)
    if graph.unsupported:
        warnings.warn("some maps of the model have no certificate: "
                      + "; ".join(graph.unsupported), stacklevel=2)
    return {n: maps[n] for n in g.nodes if n in maps}
