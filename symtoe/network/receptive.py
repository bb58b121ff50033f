"""Receptive fields of layer stacks and of whole torch models (Araujo et al., Distill 2019).

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

Models are read from their trace (:func:`~symtoe.network.trace.trace_model`):
each tensor axis that follows an input axis carries its exact window map
(output index interval -> input interval), composed op by op: convolutions
and pools by their windows, transposed convolutions by their fractional
stride ``1/s``, upsampling and adaptive pooling by torch's index formulas,
padding and slicing by offsets, sums and concatenations of branches by the
union of the windows.  An op that mixes a whole axis (global pooling, a mean,
attention, a norm over positions, a Linear after a flatten) makes the field
**global** on the input axes that axis carried: ``is_global``, with ``size``
the input size.  Where the field is not defined (an axis flattened into
features and never mixed, an op symtoe does not know, branches with
different strides) :func:`receptive_field` says why in one line.

:func:`reachable_inputs` composes the layers' sharing patterns instead (which
inputs a given output reads through a chain): the exact set, that the
closed form bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

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
        ``r``: the extent of input positions one output unit depends on (the
        largest, where it varies with the position; the input size on a
        global axis).
    stride : tuple of int or Fraction
        ``S``: input positions between neighbouring output units (a
        ``Fraction`` after transposed convolutions or upsampling; 0 on a
        global axis).
    padding : tuple of int
        ``P``: output unit 0's field starts at input position ``-P``.
    at : str
        The layer whose output the field belongs to; not compared by ``==``.
    is_global : bool
        Every output unit depends on the whole input (after global pooling,
        attention, a flatten followed by a Linear).
    """

    size: tuple[int, ...]
    stride: tuple
    padding: tuple[int, ...]
    at: str = dataclasses.field(default="", compare=False)
    is_global: bool = False
    _maps: tuple | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def rank(self) -> int:
        return len(self.size)

    def region(self, position) -> tuple[tuple[int, int], ...]:
        """Per axis ``(start, stop)`` (stop exclusive, unclipped) of the field
        of output unit ``position``: ``start = i*S - P``, ``stop = start + r``
        for a chain; for a model the exact window, whatever the layers.

        >>> ReceptiveField((5,), (2,), (1,)).region(3)
        ((5, 10),)
        """
        if isinstance(position, (int, np.integer)):
            position = (int(position),)
        if len(position) != self.rank:
            raise ValueError(
                f"position must have one index per axis ({self.rank}), but got {position!r}"
            )
        if self._maps is not None:
            return tuple(m(int(i), int(i)) for m, i in zip(self._maps, position))
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

    def __str__(self) -> str:
        if self.is_global:
            return f"global receptive field: every output reads the whole input {self.size}"
        stride = tuple(str(s) for s in self.stride)
        return (f"receptive field size {self.size}, stride ({', '.join(stride)}), "
                f"padding {self.padding}")


# ------------------------------------------------------------------ chains of specs
def _chain(specs) -> ReceptiveField:
    field = None
    for index, spec in enumerate(specs):
        if not isinstance(spec, ConvSpec):
            raise ValueError(
                "layers must be ConvSpecs (torch modules need input_size), but got "
                f"{type(spec).__name__} at position {index}"
            )
        if spec.transposed:
            raise ValueError("layers must not be transposed convolutions (no Araujo field), "
                             f"but got {spec!r}")
        if field is None:
            field = ReceptiveField((1,) * spec.rank, (1,) * spec.rank, (0,) * spec.rank)
        if spec.rank != field.rank:
            raise ValueError(
                f"layers must all have {field.rank} spatial axes, but layer {index} "
                f"has {spec.rank}"
            )
        kernel = tuple(d * (k - 1) + 1 for k, d in zip(spec.kernel_size, spec.dilation))
        field = field._then(kernel, spec.stride, tuple(p for p, _ in spec.padding), str(index))
    if field is None:
        raise ValueError("layers must contain at least one ConvSpec, but got none")
    return field


# ------------------------------------------------------------------- window maps
class _Map:
    """The exact window of one tensor axis on one input axis: an index interval
    ``[lo, hi]`` of the tensor maps to the input interval ``self(lo, hi)``
    (monotone, unclipped).  ``stride`` is input positions per index step
    (``None`` where branches of different strides meet).  Results are
    cached, so a union of many residual branches costs one evaluation per
    branch, not one per path."""

    __slots__ = ("axis", "extent", "stride", "_fn", "_cache")

    def __init__(self, axis: int, extent: int, stride, fn):
        self.axis, self.extent, self.stride, self._fn, self._cache = axis, extent, stride, fn, {}

    def __call__(self, lo: int, hi: int) -> tuple[int, int]:
        key = (lo, hi)
        if key not in self._cache:
            self._cache[key] = self._fn(lo, hi)
        return self._cache[key]

    def then(self, window, factor) -> _Map:
        """This map after an op whose own window is ``window`` (output -> input
        of the op) with stride ``factor``."""
        stride = None if self.stride is None else self.stride * factor
        return _Map(self.axis, self.extent, stride, lambda lo, hi: self(*window(lo, hi)))

    def covers(self, index: int) -> bool:
        """Whether unit ``index`` reads the whole input axis."""
        lo, hi = self(index, index)
        return lo <= 0 and hi >= self.extent - 1

    @staticmethod
    def union(maps) -> _Map:
        strides = {m.stride for m in maps}
        stride = strides.pop() if len(strides) == 1 else None

        def fn(lo, hi):
            intervals = [m(lo, hi) for m in maps]
            return min(a for a, _ in intervals), max(b for _, b in intervals)

        return _Map(maps[0].axis, maps[0].extent, stride, fn)


@dataclass(frozen=True)
class _Opaque:
    """A tensor axis that depends on input axes in a way not tracked (a
    reshape that cuts an axis, a concatenation along it)."""

    axes: frozenset
    why: str


@dataclass(frozen=True)
class _Layout:
    """How one tensor's axes follow the input's spatial axes.

    ``dims[d]`` is ``None`` (no spatial dependence along axis d), a tuple of
    ``(size, _Map or None)`` factors (row-major: several after a flatten), or
    an :class:`_Opaque`; ``mixed`` holds the input axes every element reads
    entirely; ``lost`` says why nothing is known any more.
    """

    dims: tuple
    mixed: frozenset = frozenset()
    lost: str = ""

    @property
    def empty(self) -> bool:
        return not self.mixed and not self.lost and all(d is None for d in self.dims)


def _axes(dim) -> set:
    if dim is None:
        return set()
    if isinstance(dim, _Opaque):
        return set(dim.axes)
    return {m.axis for _, m in dim if m is not None}


def _plain(shape, mixed=frozenset(), lost="") -> _Layout:
    return _Layout((None,) * len(shape), frozenset(mixed), lost)


def _mix(layout: _Layout, dims, shape=None) -> _Layout:
    """Every element reads all of axes ``dims`` (dropped when ``shape`` is shorter)."""
    dims = {d % len(layout.dims) for d in dims} if layout.dims else set()
    mixed = set(layout.mixed).union(*(_axes(layout.dims[d]) for d in dims))
    kept = tuple(None if d in dims else v for d, v in enumerate(layout.dims))
    if shape is not None and len(shape) < len(kept):
        kept = tuple(v for d, v in enumerate(kept) if d not in dims)
    return _Layout(kept, frozenset(mixed), layout.lost)


def _merge(dims, why: str):
    """The union of several states of one axis (branches meeting)."""
    dims = [d for d in dims if d is not None]
    if not dims:
        return None
    if len(dims) == 1:
        return dims[0]
    if any(isinstance(d, _Opaque) for d in dims) or len({tuple(
            (size, None if m is None else m.axis) for size, m in d) for d in dims}) > 1:
        return _Opaque(frozenset().union(*map(_axes, dims)), why)
    return tuple(
        (size, None if maps[0] is None else _Map.union(maps))
        for (size, _), maps in zip(dims[0], zip(*[[m for _, m in d] for d in dims]))
    )


def _broadcast(layouts, shape, why: str) -> _Layout:
    """Union of inputs broadcast to ``shape`` (pointwise ops, sums of branches)."""
    dims = []
    for d in range(len(shape)):
        states = []
        for layout, s in layouts:
            k = d - (len(shape) - len(s))
            if k >= 0 and s[k] == shape[d]:
                states.append(layout.dims[k])
        dims.append(_merge(states, why))
    return _Layout(tuple(dims), frozenset().union(*(lay.mixed for lay, _ in layouts)),
                   next((lay.lost for lay, _ in layouts if lay.lost), ""))


def _reshape(layout: _Layout, old, new, why: str) -> _Layout:
    """Group axes by equal products and carry the factors over.  A size-1 axis
    is dropped: its one unit's window becomes global if it covers the input."""
    dims, i, j, dropped = [None] * len(new), 0, 0, set()
    while i < len(old) or j < len(new):
        gi, gj = [i] if i < len(old) else [], [j] if j < len(new) else []
        a = old[i] if gi else 1
        b = new[j] if gj else 1
        i, j = i + bool(gi), j + bool(gj)
        while a != b:
            if a < b:
                gi.append(i)
                a *= old[i]
                i += 1
            else:
                gj.append(j)
                b *= new[j]
                j += 1
        factors = []
        for k in gi:
            state = layout.dims[k]
            if isinstance(state, _Opaque):
                for m in gj:
                    dims[m] = _merge([dims[m], state], why)
                factors = None
                break
            if old[k] == 1:
                dropped.update(m.axis for _, m in state or () if m is not None and m.covers(0))
                continue
            factors.extend(state if state is not None else [(old[k], None)])
        if factors is None:
            continue
        for m in gj:
            if new[m] == 1:
                continue
            take, size = [], 1
            while factors and size < new[m]:
                take.append(factors.pop(0))
                size *= take[-1][0]
            if size != new[m]:  # the cut falls inside a factor
                axes = frozenset().union(*(_axes(layout.dims[k]) for k in gi))
                for n in gj:
                    dims[n] = _Opaque(axes, why) if axes else None
                break
            dims[m] = None if all(f[1] is None for f in take) else tuple(take)
    return _Layout(tuple(dims), layout.mixed | dropped, layout.lost)


def _window(layout: _Layout, axis: int, maps, size: int, why: str) -> _Layout:
    """Compose axis ``axis`` with an op's window ``(lo, hi) -> (lo, hi)``."""
    dims = list(layout.dims)
    state = dims[axis]
    if state is None:
        dims[axis] = None
    elif isinstance(state, _Opaque) or len(state) != 1 or state[0][1] is None:
        dims[axis] = _Opaque(frozenset(_axes(state)), why) if _axes(state) else None
    else:
        window, factor = maps
        dims[axis] = ((size, state[0][1].then(window, factor)),)
    return _Layout(tuple(dims), layout.mixed, layout.lost)


def _conv_window(k, s, p, d, transposed=False):
    e = d * (k - 1)
    if not transposed:
        return (lambda lo, hi: (s * lo - p, s * hi - p + e)), Fraction(s)
    return (lambda lo, hi: (-((e - p - lo) // s), (hi + p) // s)), Fraction(1, s)


def _upsample_window(mode, n, o, scale, align_corners):
    """torch's source index of output ``i`` (ATen UpSample.h), as an interval."""
    if align_corners and mode != "nearest" and mode != "nearest-exact":
        r = Fraction(n - 1, o - 1) if o > 1 else Fraction(0)
        return (lambda lo, hi: (math.floor(r * lo), math.ceil(r * hi)) if mode != "bicubic"
                else (math.floor(r * lo) - 1, math.ceil(r * hi) + 2)), r
    r = Fraction(scale).limit_denominator(1 << 20) if scale else Fraction(n, o)
    if mode == "nearest":
        return (lambda lo, hi: (math.floor(lo * r), math.floor(hi * r))), r
    if mode == "nearest-exact":
        return (lambda lo, hi: (math.floor((lo + Fraction(1, 2)) * r),
                                math.floor((hi + Fraction(1, 2)) * r))), r
    reach = (1, 2) if mode == "bicubic" else (0, 1)
    return (lambda lo, hi: (math.floor((lo + Fraction(1, 2)) * r - Fraction(1, 2)) - reach[0],
                            math.floor((hi + Fraction(1, 2)) * r - Fraction(1, 2)) + reach[1])), r


def _dims_arg(value, ndim):
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return list(range(ndim))
    return [int(v) % ndim for v in (value if isinstance(value, (list, tuple)) else [value])]


def _step(op, trace, layouts):
    """The layouts of ``op``'s outputs from those of its inputs."""
    from .trace import TensorRef

    where = f"{op.name} in {trace.calls[op.call].label}" if op.call >= 0 else op.name
    ins = [layouts.get(r) or _plain(r.shape) for r in op.inputs]
    outs = [r for r in op.outputs if r is not None]
    if not outs:
        return {}
    shape = outs[0].shape
    if all(lay.empty for lay in ins):
        return {r: _plain(r.shape) for r in outs}
    lost = next((lay.lost for lay in ins if lay.lost), "")
    if op.after:
        lost = lost or f"in-place writes through a view reach {where}"
    if lost:
        mixed = frozenset().union(*(lay.mixed for lay in ins))
        return {r: _plain(r.shape, mixed, lost) for r in outs}
    a, short, fact = op.args, op.name.rpartition(".")[2], op.fact
    x = ins[0]

    def of(name):
        value = a.get(name)
        return layouts.get(value) or _plain(value.shape) if isinstance(value, TensorRef) \
            else None

    if op.category == "conv" and fact is not None:
        s, x = fact.spec, of("input")
        params = _broadcast([(lay, r.shape) for lay, r in zip(ins[1:], op.inputs[1:])],
                            (), where)
        out = _mix(x, [len(x.dims) - s.rank - 1])  # channels mix
        for k in range(s.rank):
            out = _window(out, len(shape) - s.rank + k, _conv_window(
                s.kernel_size[k], s.stride[k], s.padding[k][0], s.dilation[k], s.transposed),
                shape[len(shape) - s.rank + k], where)
        out = _Layout(out.dims, out.mixed | params.mixed, "")
        return {r: out for r in outs}
    if op.category == "pool" and fact is not None:
        s, out = fact.spec, x
        for k in range(s.rank):
            out = _window(out, len(shape) - s.rank + k, _conv_window(
                s.kernel_size[k], s.stride[k], s.padding[k][0], s.dilation[k]),
                shape[len(shape) - s.rank + k], where)
        return {r: out if r.shape == shape else _plain(r.shape, out.mixed) for r in outs}
    if op.category in ("adaptive_pool", "upsample") and fact is not None:
        rank, out = len(fact.output_size), x
        if op.category == "adaptive_pool" and fact.is_global:
            out = _mix(x, range(len(shape) - rank, len(shape)))
        for k in range(rank if out is x else 0):
            n, o = fact.input_size[k], fact.output_size[k]
            if op.category == "adaptive_pool":
                maps = (lambda lo, hi, n=n, o=o: (lo * n // o, -(-(hi + 1) * n // o) - 1),
                        Fraction(n, o))
            else:
                maps = _upsample_window(fact.mode, n, o, fact.scales[k], fact.align_corners)
            out = _window(out, len(shape) - rank + k, maps, o, where)
        return {r: out if r.shape == shape else _plain(r.shape, out.mixed) for r in outs}
    if op.category == "pad" and fact is not None:
        out = x
        for k, (left, _) in enumerate(fact.padding):
            axis = len(shape) - len(fact.padding) + k
            out = _window(out, axis, ((lambda lo, hi, p=left: (lo - p, hi - p)), Fraction(1)),
                          shape[axis], where)
        return {outs[0]: out}
    if op.category == "norm" and fact is not None:
        if fact.op == "batch":
            out = x
        elif fact.op == "layer":
            out = _mix(x, range(len(shape) - len(fact.normalized_shape), len(shape)))
        elif fact.op == "group":
            out = _mix(x, range(1, len(shape)))
        else:  # statistics over the batch and the positions
            out = _mix(x, [0, *range(2, len(shape))])
        return {r: out if r.shape == shape else _plain(r.shape, out.mixed) for r in outs}
    if op.category == "embedding":
        indices = of("indices")
        return {outs[0]: _Layout((*indices.dims, None), indices.mixed, indices.lost)}
    if op.category == "matmul":
        if short in ("mm", "addmm", "bmm", "baddbmm"):
            left = of("mat1" if short == "addmm" else "batch1" if short == "baddbmm" else "self")
            right = of("mat2" if short in ("mm", "addmm", "bmm") else "batch2")
            lead = len(shape) - 2
            mixed = _mix(left, [lead + 1]).mixed | _mix(right, [lead]).mixed
            dims = tuple(_merge([left.dims[k], right.dims[k]], where) for k in range(lead))
            out = _Layout((*dims, left.dims[lead], right.dims[lead + 1]), mixed)
            if short in ("addmm", "baddbmm"):
                out = _broadcast([(out, shape), (of("self"), a["self"].shape)], shape, where)
            return {outs[0]: out}
        mixed = frozenset().union(*(_mix(lay, range(len(lay.dims))).mixed for lay in ins))
        return {r: _plain(r.shape, mixed) for r in outs}
    if op.category == "attention":
        if short in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd"):
            query = of("query") if "query" in a else of("src")
            mixed = frozenset().union(*(_mix(lay, range(len(lay.dims))).mixed for lay in ins))
            out = _Layout((*query.dims[:-1], None), mixed)
        else:
            query = of("query")
            kv = [of("key"), of("value")]
            mixed = frozenset().union(*(_mix(lay, range(len(lay.dims))).mixed for lay in kv))
            mixed |= _mix(query, [-1]).mixed
            out = _Layout((*query.dims[:-1], None), mixed)
        return {r: out if r.shape == shape else _plain(r.shape, out.mixed) for r in outs}
    if op.category == "pointwise":
        return {r: _broadcast([(lay, i.shape) for lay, i in zip(ins, op.inputs)], r.shape, where)
                for r in outs}
    if op.category == "reduction":
        dims = _dims_arg(a.get("dim"), len(x.dims))
        out = _mix(x, dims, shape)
        return {r: out for r in outs}
    if short in ("_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax", "cumsum",
                 "cumprod"):
        return {outs[0]: _mix(x, [int(a["dim"])])}
    if op.category in ("view", "copy"):
        if short in ("permute",):
            return {outs[0]: _Layout(tuple(x.dims[int(d) % len(x.dims)] for d in a["dims"]),
                                     x.mixed)}
        if short in ("transpose", "t"):
            d0, d1 = (int(a["dim0"]), int(a["dim1"])) if short == "transpose" else (0, 1)
            dims = list(x.dims)
            if dims:
                d0, d1 = d0 % len(dims), d1 % len(dims)
                dims[d0], dims[d1] = dims[d1], dims[d0]
            return {outs[0]: _Layout(tuple(dims), x.mixed)}
        if short == "expand":
            return {outs[0]: _broadcast([(x, op.inputs[0].shape)], shape, where)}
        if short in ("slice", "split", "split_with_sizes"):
            dim = int(a.get("dim", 0)) % len(x.dims)
            n = op.inputs[0].shape[dim]
            result, offset = {}, 0
            for r in outs:
                if short == "slice":
                    step = int(a.get("step") or 1)
                    start = int(a.get("start") or 0)
                    start = min(max(start + n if start < 0 else start, 0), n)
                else:
                    step, start = 1, offset
                    offset += r.shape[dim]
                result[r] = _window(x, dim, ((lambda lo, hi, s=start, t=step:
                                              (s + t * lo, s + t * hi)), Fraction(step)),
                                    r.shape[dim], where)
            return result
        if short in ("select", "unbind"):
            dim = int(a.get("dim", 0)) % len(x.dims)
            dims = tuple(v for d, v in enumerate(x.dims) if d != dim)
            state = x.dims[dim]
            result = {}
            for k, r in enumerate(outs):
                index = int(a["index"]) % op.inputs[0].shape[dim] if short == "select" else k
                whole = {m.axis for _, m in state if m is not None and m.covers(index)} \
                    if isinstance(state, tuple) and len(state) == 1 else set()
                result[r] = _Layout(dims, x.mixed | whole)
            return result
        if short == "copy_":
            return {outs[0]: _broadcast([(of("src"), a["src"].shape)], shape, where)}
        old = op.inputs[0].shape
        if math.prod(old) == math.prod(shape):
            return {r: _reshape(x, old, r.shape, where) for r in outs}
    if op.category == "cat":
        tensors = [t for t in a["tensors"] if t is not None]
        dim = int(a.get("dim", 0))
        if short == "stack":
            dim = dim % (len(shape))
            parts = [(layouts.get(t) or _plain(t.shape), t.shape) for t in tensors]
            grown = [_Layout((*lay.dims[:dim], None, *lay.dims[dim:]), lay.mixed, lay.lost)
                     for lay, _ in parts]
            return {outs[0]: _broadcast([(g, shape) for g in grown], shape, where)}
        dim %= len(shape)
        parts = [(layouts.get(t) or _plain(t.shape), t.shape) for t in tensors
                 if len(t.shape) == len(shape)]
        along = set().union(*(_axes(lay.dims[dim]) for lay, _ in parts))
        trimmed = [(_Layout((*lay.dims[:dim], None, *lay.dims[dim + 1:]), lay.mixed, lay.lost),
                    (*s[:dim], shape[dim], *s[dim + 1:])) for lay, s in parts]
        out = _broadcast(trimmed, shape, where)
        if along:
            dims = list(out.dims)
            dims[dim] = _Opaque(frozenset(along), f"concatenation along it ({where})")
            out = _Layout(tuple(dims), out.mixed, out.lost)
        return {outs[0]: out}
    mixed = frozenset().union(*(lay.mixed for lay in ins))
    return {r: _plain(r.shape, mixed, f"symtoe does not know how {where} moves positions")
            for r in outs}


def _input_layout(ref) -> tuple[_Layout, tuple[int, ...]]:
    """Spatial axes of the model's first input: ``(N, C, *spatial)`` for
    floating-point inputs, ``(N, L)`` for token ids (integers)."""
    integer = "int" in ref.dtype or "bool" in ref.dtype
    first = 1 if integer else 2
    if len(ref.shape) <= first:
        raise ValueError(
            "the model's first input must have spatial axes, (N, C, *spatial) or token ids "
            f"(N, L), but has shape {ref.shape}"
        )
    dims = [None] * len(ref.shape)
    for axis, d in enumerate(range(first, len(ref.shape))):
        identity = _Map(axis, ref.shape[d], Fraction(1), lambda lo, hi: (lo, hi))
        dims[d] = ((ref.shape[d], identity),)
    return _Layout(tuple(dims)), tuple(ref.shape[first:])


def _field_of(trace, ref, at: str) -> ReceptiveField:
    first, size = _input_layout(trace.inputs[0])
    layouts = {trace.inputs[0]: first}
    needed = {op.index for op in trace.backward([ref])}
    for op in trace.ops:
        if op.index in needed and op.folded_into is None:
            layouts.update(_step(op, trace, layouts))
    layout = layouts.get(ref) or _plain(ref.shape)
    whole = {m.axis for d in layout.dims if isinstance(d, tuple)
             for n, m in d if m is not None and n == 1 and m.covers(0)}
    layout = _Layout(layout.dims, layout.mixed | whole, layout.lost)
    rank = len(size)
    if len(layout.mixed) == rank:
        return ReceptiveField(size, (0,) * rank, (0,) * rank, at, True)
    if layout.lost:
        raise ValueError(f"the receptive field of {at} is not defined: {layout.lost}")
    sizes, strides, paddings, maps = [], [], [], []
    for axis in range(rank):
        if axis in layout.mixed:
            sizes.append(size[axis])
            strides.append(0)
            paddings.append(0)
            maps.append(lambda lo, hi, n=size[axis]: (0, n))
            continue
        carriers = [(d, state) for d, state in enumerate(layout.dims) if axis in _axes(state)]
        if not carriers:
            raise ValueError(f"the receptive field of {at} is not defined: it has no axis "
                             f"following input axis {axis}")
        d, state = carriers[0]
        if isinstance(state, _Opaque):
            raise ValueError(f"the receptive field of {at} is not defined: input axis {axis} "
                             f"is lost in {state.why}")
        if len(carriers) > 1 or len([f for f in state if f[0] > 1]) > 1:
            raise ValueError(f"the receptive field of {at} is not defined: input axis {axis} is "
                             "flattened together with other axes")
        n, m = next(f for f in state if f[1] is not None)
        if m.stride is None:
            raise ValueError(f"the receptive field of {at} is not defined: branches with "
                             f"different strides meet along input axis {axis}")
        spans = [m(i, i) for i in range(n)]
        sizes.append(max(b - a + 1 for a, b in spans))
        strides.append(int(m.stride) if m.stride.denominator == 1 else m.stride)
        paddings.append(-spans[0][0])
        maps.append(lambda lo, hi, m=m: (m(lo, hi)[0], m(lo, hi)[1] + 1))
    return ReceptiveField(tuple(sizes), tuple(strides), tuple(paddings), at, False,
                          tuple(maps))


def receptive_field(model_or_specs, input_size=None, *, example_inputs=None,
                    at: str | None = None) -> ReceptiveField:
    """Receptive field (Araujo et al., Distill 2019) of a model's output or of a chain.

    Parameters
    ----------
    model_or_specs : torch.nn.Module, ModelTrace, ConvSpec or sequence of ConvSpecs
        A sequence of ConvSpecs is composed in order (a chain, closed forms).
        A model (or a list of modules, run as ``nn.Sequential``) is read from
        its trace: branches (residual sums, concatenations, parallel
        branches) take the union of their windows.
    input_size : tuple of int, optional
        One sample's shape without batch, ``(C, *spatial)``, as for
        :func:`~symtoe.network.report.parameter_report`.
    example_inputs : tensor, tuple or dict, optional
        The model's inputs instead; the field is over the first one's
        spatial axes (``(N, C, *spatial)``, or ``(N, L)`` for token ids).
    at : str, optional
        A module's qualified name: the field of its output (its last call)
        instead of the model's output.

    Returns
    -------
    ReceptiveField
        ``size`` ``r = 1 + sum_l (k_l - 1) prod_{i<l} s_i``, ``stride``
        ``S = prod_l s_l`` and ``padding`` ``P = sum_l p_l prod_{i<l} s_i``
        per spatial axis (``k_l`` the dilated kernel extent, ``p_l`` the left
        padding); ``is_global`` after global pooling or attention.  Raises a
        ValueError saying why where the field is not defined.

    Examples
    --------
    Two 3-tap convolutions with a stride-2 pool between them:

    >>> specs = [ConvSpec(1, 1, 3, input_size=16, padding=1),
    ...          ConvSpec(1, 1, 2, input_size=16, stride=2),
    ...          ConvSpec(1, 1, 3, input_size=8, padding=1)]
    >>> receptive_field(specs)
    ReceptiveField(size=(8,), stride=(2,), padding=(3,), at='2', is_global=False)

    A model: its last feature map, and after global pooling:

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2),
    ...                     nn.Conv2d(2, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1))
    >>> receptive_field(net, (1, 16, 16), at="2")
    ReceptiveField(size=(8, 8), stride=(2, 2), padding=(3, 3), at='2', is_global=False)
    >>> receptive_field(net, (1, 16, 16)).is_global
    True
    """
    from .trace import ModelTrace, trace_model

    if isinstance(model_or_specs, ConvSpec):
        return _chain([model_or_specs])
    if isinstance(model_or_specs, (list, tuple)):
        if all(isinstance(s, ConvSpec) for s in model_or_specs):
            return _chain(list(model_or_specs))
        from torch import nn

        if input_size is None and example_inputs is None:
            raise ValueError("input_size must be given for a list of torch modules, as "
                             "(C, *spatial), but got None")
        model_or_specs = nn.Sequential(*model_or_specs)
    if isinstance(model_or_specs, ModelTrace):
        trace = model_or_specs
    else:
        from torch import nn

        if not isinstance(model_or_specs, nn.Module):
            raise ValueError(
                "model_or_specs must be a torch.nn.Module, a ConvSpec or a list of them, "
                f"but got {type(model_or_specs).__name__}"
            )
        if input_size is None and example_inputs is None:
            raise ValueError("input_size must be given for a model, as (C, *spatial), "
                             "but got None")
        if input_size is not None:
            input_size = _check_input_size(input_size)
        trace = trace_model(model_or_specs, input_size, example_inputs=example_inputs)
    if at is None:
        ref = next((r for r in trace.outputs if r is not None), None)
        if ref is None:
            raise ValueError("the model must return a tensor to have a receptive field, "
                             "but returned none")
        return _field_of(trace, ref, trace.model)
    return _field_of(trace, trace.module_output(at), at)


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

    ``input_size`` is the spatial size of the first layer's input; the torch
    layers run once (as ``nn.Sequential``, on as many channels as the first
    convolution takes) and each convolution or pool of the trace becomes a
    spec whose input is the previous one's output; pointwise layers add none.

    >>> from torch import nn
    >>> [s.output_size for s in layer_specs([nn.Conv2d(1, 4, 3), nn.ReLU(),
    ...                                      nn.MaxPool2d(2)], (8, 8))]
    [(6, 6), (3, 3)]
    """
    from .trace import ConvFact, PoolFact, trace_model

    size = (input_size,) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
    specs, run, channels = [], [], None

    def flush():
        nonlocal size, channels
        if not run:
            return
        from torch import nn

        first = next((m for m in run if isinstance(m, nn.modules.conv._ConvNd)), None)
        c = channels or (ConvSpec.from_module(first, size).in_channels if first else 1)
        trace = trace_model(nn.Sequential(*run), (c, *size))
        for op in trace.ops:
            if op.folded_into is None and isinstance(op.fact, (ConvFact, PoolFact)):
                specs.append(_squeeze(op.fact.spec, len(size)))
        out = next(r for r in trace.outputs if r is not None)
        size, channels = tuple(out.shape[2:]), out.shape[1]
        run.clear()

    for layer in layers:
        if isinstance(layer, ConvSpec):
            flush()
            spec = layer.replace(in_channels=1, out_channels=1, groups=1, bias=False,
                                 input_size=size)
            specs.append(spec)
            size, channels = spec.output_size, layer.out_channels
        else:
            run.append(layer)
    flush()
    return specs


def _squeeze(spec: ConvSpec, rank: int) -> ConvSpec:
    """A single-channel spec of ``rank`` axes: torch runs 1-D pools as 2-D ones on
    an unsqueezed axis of size 1, which is dropped here."""
    keep = [a for a in range(spec.rank) if not (
        spec.input_size[a] == spec.kernel_size[a] == spec.stride[a] == spec.dilation[a] == 1
        and spec.padding[a] == (0, 0))]
    keep = keep if len(keep) == rank else list(range(spec.rank - rank, spec.rank))
    pick = lambda values: tuple(values[a] for a in keep)  # noqa: E731
    return ConvSpec(1, 1, pick(spec.kernel_size), input_size=pick(spec.input_size),
                    stride=pick(spec.stride), padding=pick(spec.padding),
                    dilation=pick(spec.dilation), padding_mode=spec.padding_mode,
                    transposed=spec.transposed, output_padding=pick(spec.output_padding))


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
