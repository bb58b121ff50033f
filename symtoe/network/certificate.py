"""Shift certificates of whole networks: exact layer facts composed over a graph.

A network is described as a graph of feature maps, each produced by one
**layer fact** from the maps named as its inputs.  For an input shift ``t``
(zero-fill or cyclic, :mod:`symtoe.analysis.shifts`) the certificate of a map
``y`` gives its output shift ``u`` (``t / stride``; None when a stride does
not divide the shift it receives: aliasing) and the boolean map ``exact`` of
the positions ``r`` where ``y(S_t x)[r] == (S_u y(x))[r]`` holds for every
input and every weight setting (all channels at once: channels never matter).

**Composition law** (THEORY.md, "Shift certificates of networks").  With
``y' = L(z')`` and ``z'`` the input map on the shifted input: if every input
position ``q`` that output ``r`` reads is exact (``z'[q] = (S_v z)[q]``) and
the layer itself commutes at ``r`` (``(L S_v z)[r] = (S_u L z)[r]`` for all
``z``), then ``r`` is exact.  So exactness propagates backwards through each
layer's read window, ``exact_out = own & all(exact_in over the window)``;
windows are products of per-axis sets, so this runs axis by axis (boolean
maps and index tables, no loop over positions) and is independent of the
channel counts, while the exact set itself need not be a product.

The law alone is sufficient, not necessary; two refinements make it exact:

* **zeros.**  A position whose value on the shifted input is identically 0
  (it reads only zero-filled values: ``zero`` below) is exact where ``S_u``
  fills the output, although the layer and its inputs fail there: replicate
  padding beside the zero fill, then a pool and a conv, does this;
* **nonnegative maps.**  A zero-filled value is a real 0 for a max pool, but
  after a ReLU (or a sigmoid) it never wins the max.

With them, every position called non-exact differs for generic weights in
every network the tests run through torch, with two known exceptions where
the certificate is sound but may be conservative: fixed filters (equal taps
can cancel differences that come from earlier layers), and maps with
positions that are identically 0 in the unshifted network too (a transposed
convolution with a kernel smaller than its stride, an unfused zero pad),
which the layer certificates treat as live inputs.

The layer facts and what each one's own commutation is are in
:mod:`symtoe.network.facts`; their certificates in :mod:`symtoe.network.fact_ops`.

A ``Pad`` read by a ``Conv`` without padding of its own (or zero padding
after a zero pad), a ``MaxPool`` or a fixed linear layer is fused into it: the
consumer reads the pad's input through the padding mode, as ``F.pad`` then the
layer does (a zero pad's zeros are values for a max, not -inf).  A padded
grid is not periodic with the right period, so certifying the pad on its own
grid would lose exactness under cyclic shifts.

**Graph API** (what a trace adapter produces)::

    g = CertificateGraph(input_size=(32, 32))        # node "input": spatial size only
    g.add("conv1", ConvSpec(3, 8, 3, input_size=(32, 32), padding=1))  # reads "input"
    g.add("relu1", Pointwise(maps_zero_to_zero=True))                   # reads "conv1"
    g.add("pool1", MaxPool(2))
    g.add("conv2", ConvSpec(8, 8, 3, input_size=(16, 16), padding=1))
    g.add("sum", Sum(), inputs=["pool1", "conv2"])
    cert = g.check_shift((2, 2), mode="zero")        # the last node's certificate
    cert.output_shift, cert.exact, cert.explain((0, 0)), cert.exact_maps["conv1"]
    cert.at("conv1")                                 # any named node

``add(name, fact, inputs=None)``: ``name`` unique, ``inputs`` the producers'
names in order (default: the node added last), ``fact`` one of the classes
above or a :class:`~symtoe.ConvSpec` (whose ``input_size`` must equal its
producer's size).  Sizes are spatial only (no batch, no channels); each node's
size follows from its fact.  Facts mirror torch's argument names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..analysis.aliasing import (
    ShiftSubgroup,
    stride_step,
)
from ..analysis.commutator import fmt as _fmt
from ..analysis.shifts import normalize_mode, normalize_shift, normalize_size
from ..core.spec import ConvSpec
from . import facts
from .fact_ops import (
    _any_read,
    _avg_op,
    _blur_op,
    _ConvOp,
    _filled,
    _fixed_conv_op,
    _fuse_conv,
    _GlobalOp,
    _LinearOp,
    _max_op,
    _MaxOp,
    _MergeOp,
    _Op,
    _pad_matrices,
    _PointOp,
    _resolve_pad,
    _side,
    _upsample_op,
)

__all__ = ["CertificateGraph", "GraphNode", "NetworkShiftCheck"]


# ===================================================================== graph
@dataclass(frozen=True)
class GraphNode:
    """One feature map of a :class:`CertificateGraph`.

    Attributes
    ----------
    name : str
    fact : object
        The layer fact that produces it (None for the input).
    inputs : tuple of str
        Producers, in order.
    size : tuple of int
        Spatial size (``()`` for a vector).
    stride : tuple of Fraction or None
        Input pixels per pixel of this map (None where branches of different
        strides meet).
    period : tuple of int
        Input shifts with an output shift here: multiples of ``period``
        (0: only the zero shift).
    fused : tuple of str
        The ``Pad`` nodes folded into this layer, if any.
    nonnegative : bool
        Whether the map is never negative (after a ReLU, through pools, pads,
        sums and concatenations of such maps).
    note : str
        A caveat on the fact (e.g. from a trace adapter: values it could not
        read), repeated by ``explain``.
    """

    name: str
    fact: object
    inputs: tuple[str, ...]
    size: tuple[int, ...]
    stride: tuple[Fraction, ...] | None
    period: tuple[int, ...]
    fused: tuple[str, ...] = ()
    nonnegative: bool = False
    note: str = ""


class CertificateGraph:
    """A network as a graph of layer facts, for exact shift certificates.

    See the module docstring for the facts and the law.

    Parameters
    ----------
    input_size : int or tuple of int
        Spatial size of the input (no batch, no channels).
    input_name : str
        Name of the input node.

    Examples
    --------
    >>> from symtoe.network.facts import Pointwise
    >>> g = CertificateGraph(8)
    >>> g.add("conv", ConvSpec(1, 4, 3, input_size=8, padding=1))
    'conv'
    >>> g.add("relu", Pointwise())
    'relu'
    >>> cert = g.check_shift(1)
    >>> cert.output_shift, cert.exact.astype(int).tolist()
    ((1,), [0, 1, 1, 1, 1, 1, 1, 0])
    """

    def __init__(self, input_size, *, input_name: str = "input"):
        size = normalize_size(input_size, "input_size")
        if not isinstance(input_name, str) or not input_name:
            raise ValueError(f"input_name must be a non-empty string, but got {input_name!r}")
        self.input_name = input_name
        self.rank = len(size)
        self._nodes: dict[str, GraphNode] = {}
        self._ops: dict[str, _Op | None] = {}
        self._nodes[input_name] = GraphNode(
            input_name, None, (), size, (Fraction(1),) * len(size), (1,) * len(size)
        )
        self._ops[input_name] = None

    # ------------------------------------------------------------- building
    @property
    def nodes(self) -> dict[str, GraphNode]:
        """The nodes, in the order they were added (a topological order)."""
        return dict(self._nodes)

    @property
    def output(self) -> str:
        """The name of the node added last."""
        return next(reversed(self._nodes))

    def add(self, name: str, fact, inputs=None, *, note: str = "") -> str:
        """Add the map ``name`` produced by ``fact`` from ``inputs`` (default:
        the last node); returns ``name``.  ``note``: a caveat on the fact,
        repeated by explanations."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, but got {name!r}")
        if name in self._nodes:
            raise ValueError(f"name must be new, but {name!r} is already a node")
        if inputs is None:
            inputs = [self.output]
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)) or not inputs:
            raise ValueError(f"inputs must be a non-empty list of node names, but got {inputs!r}")
        for i in inputs:
            if i not in self._nodes:
                raise ValueError(f"inputs of {name!r} must be existing nodes, but {i!r} is not")
        if isinstance(fact, ConvSpec):
            fact = facts.Conv(fact)
        if not isinstance(fact, facts._FACTS):
            raise ValueError(
                f"fact of {name!r} must be a ConvSpec or one of "
                f"{', '.join(f.__name__ for f in facts._FACTS)}, but got {type(fact).__name__}"
            )
        many = isinstance(fact, (facts.Sum, facts.Multiply, facts.Concat))
        if not many and len(inputs) != 1:
            raise ValueError(
                f"inputs of {name!r} must be one node for a {type(fact).__name__}, but got "
                f"{list(inputs)}"
            )
        try:
            op, fused = self._resolve(fact, tuple(inputs))
        except ValueError as err:
            raise ValueError(f"node {name!r}: {err}") from None
        strides = [self._nodes[i].stride for i in op.inputs if self._nodes[i].size]
        periods = [self._nodes[i].period for i in op.inputs]
        if not op.size:
            stride, period = (), periods[0] if len(periods) == 1 else ()
            if len(periods) > 1:  # rank-0 merge: the subgroup common to all inputs
                period = tuple(math.lcm(*ps) for ps in zip(*(p for p in periods if p)))
        elif any(s is None for s in strides) or len(set(strides)) > 1:
            stride, period = None, (0,) * len(op.size)
        else:
            period = tuple(math.lcm(*ps) for ps in zip(*periods))
            period, stride = stride_step(period, strides[0], op.factor)
        if isinstance(fact, facts.Pointwise):
            nonneg = fact.nonnegative
        else:
            keeps = (facts.MaxPool, facts.AvgPool, facts.Blur, facts.Upsample, facts.Pad,
                     facts.GlobalPool, facts.Sum, facts.Multiply, facts.Concat, facts.Flatten)
            nonneg = isinstance(fact, keeps) and all(self._nodes[i].nonnegative for i in inputs)
        self._nodes[name] = GraphNode(
            name, fact, tuple(inputs), op.size, stride, period, fused, nonneg, str(note)
        )
        self._ops[name] = op
        return name

    def _resolve(self, fact, inputs):
        nodes = [self._nodes[i] for i in inputs]
        size = nodes[0].size
        if isinstance(fact, (facts.Sum, facts.Multiply, facts.Concat)):
            return _MergeOp(fact, [n.size for n in nodes], inputs), ()
        if isinstance(fact, (facts.GlobalPool, facts.Flatten, facts.Linear)):
            if isinstance(fact, facts.GlobalPool):
                if fact.kind not in ("avg", "max", "min", "sum"):
                    raise ValueError(
                        f"kind must be 'avg', 'max', 'min' or 'sum', but got {fact.kind!r}")
                if not size:
                    raise ValueError("a GlobalPool needs a spatial input, but got a vector")
            return _GlobalOp(fact, size, inputs), ()
        if isinstance(fact, facts.Pointwise):
            return _PointOp(fact, size, inputs), ()
        if not size:
            raise ValueError(f"a {type(fact).__name__} needs a spatial input, but got a vector")
        if isinstance(fact, facts.Conv):
            spec = fact.spec
            if not isinstance(spec, ConvSpec):
                raise ValueError(f"spec must be a ConvSpec, but got {type(spec).__name__}")
            if spec.input_size != size:
                raise ValueError(
                    f"spec.input_size must equal the size of {inputs[0]!r}, {size}, but got "
                    f"{spec.input_size}"
                )
        elif isinstance(fact, facts.FixedConv):
            if isinstance(fact.spec, ConvSpec) and fact.spec.input_size != size:
                raise ValueError(
                    f"spec.input_size must equal the size of {inputs[0]!r}, {size}, but got "
                    f"{fact.spec.input_size}"
                )
        if isinstance(fact, facts.Pad):
            pairs = _resolve_pad(fact, size)
            return _LinearOp(_pad_matrices(pairs, fact.mode, size), (Fraction(1),) * len(size),
                             inputs, f"pad ({fact.mode})"), ()
        op = self._layer(fact, size, inputs)
        if isinstance(op, _MaxOp):
            op.nonnegative = self._nodes[inputs[0]].nonnegative
        # fold a Pad producer into the layer (see the module docstring)
        src = self._nodes[inputs[0]]
        if isinstance(src.fact, facts.Pad):
            pad_in = src.inputs
            in_size = self._nodes[pad_in[0]].size
            pairs = _resolve_pad(src.fact, in_size)
            if isinstance(op, _ConvOp):
                spec = _fuse_conv(fact.spec, pairs, src.fact.mode, in_size)
                if spec is not None:
                    return _ConvOp(spec, pad_in), (src.name,)
            elif isinstance(op, _MaxOp):
                pads = _pad_matrices(pairs, src.fact.mode, in_size)
                mats = [(W.astype(np.int64) @ P) > 0 for W, P in zip(op.windows, pads)]
                zeros = [(W & ~P.any(axis=1)).any(axis=1) for W, P in zip(op.windows, pads)]
                return _MaxOp(mats, op.factor, pad_in, op.nonnegative, zeros), (src.name,)
            elif isinstance(op, _LinearOp):
                pads = _pad_matrices(pairs, src.fact.mode, in_size)
                mats = [A @ P for A, P in zip(op.mats, pads)]
                return _LinearOp(mats, op.factor, pad_in, op.kind), (src.name,)
        return op, ()

    @staticmethod
    def _layer(fact, size, inputs):
        if isinstance(fact, facts.Conv):
            return _ConvOp(fact.spec, inputs)
        if isinstance(fact, facts.MaxPool):
            return _max_op(fact, size, inputs)
        if isinstance(fact, facts.AvgPool):
            return _avg_op(fact, size, inputs)
        if isinstance(fact, facts.FixedConv):
            return _fixed_conv_op(fact, size, inputs)
        if isinstance(fact, facts.Blur):
            return _blur_op(fact, size, inputs)
        return _upsample_op(fact, size, inputs)

    def size(self, name: str) -> tuple[int, ...]:
        """The spatial size of node ``name``."""
        return self._node(name).size

    def _node(self, name) -> GraphNode:
        if name not in self._nodes:
            raise ValueError(f"node must be one of the graph's nodes, but got {name!r}")
        return self._nodes[name]

    def shift_subgroup(self, node: str | None = None) -> ShiftSubgroup:
        """Input shifts that have an output shift at ``node``: multiples of
        ``period`` per axis (see :func:`symtoe.analysis.aliasing.shift_subgroup`).

        >>> g = CertificateGraph(16)
        >>> g.add("a", ConvSpec(1, 1, 3, input_size=16, stride=2, padding=1))
        'a'
        >>> from symtoe.network.facts import MaxPool
        >>> g.add("b", MaxPool(2))
        'b'
        >>> g.shift_subgroup().period
        (4,)
        """
        n = self._node(self.output if node is None else node)
        return ShiftSubgroup(n.period, n.stride)

    def _ancestors(self, node: str) -> list[str]:
        keep, stack = set(), [node]
        while stack:
            v = stack.pop()
            if v not in keep:
                keep.add(v)
                op = self._ops[v]
                stack.extend(op.inputs if op is not None else ())
        return [v for v in self._nodes if v in keep]

    # ------------------------------------------------------------ certifying
    def check_shift(self, shift, mode: str = "zero", *, node: str | None = None
                    ) -> NetworkShiftCheck:
        """The exact shift certificate of ``node`` (default: the last one).

        Parameters
        ----------
        shift : int or tuple of int
            The input shift ``t``, one value per spatial axis of the input.
        mode : {"zero", "cyclic"}
        node : str, optional

        Returns
        -------
        NetworkShiftCheck
            ``.output_shift``, ``.exact``, ``.commutes``, ``.explain(position)``,
            ``.exact_maps`` (every node it depends on), ``.at(name)``.
        """
        shift = normalize_shift(shift, self.rank)
        mode = normalize_mode(mode)
        target = self.output if node is None else self._node(node).name
        states: dict[str, _State] = {}
        for name in self._ancestors(target):
            op = self._ops[name]
            size = self._nodes[name].size
            if op is None:
                full = np.ones(size, dtype=bool)
                filled = _filled(size, shift) if mode == "zero" else ~full
                states[name] = _State(shift, full, full, filled)
                continue
            ins = [states[i] for i in op.inputs]
            out = op.out_shift([s.shift for s in ins])
            if out is None:
                none = np.zeros(size, dtype=bool)
                states[name] = _State(None, none, none, none)
                continue
            own, exact = op.exact([s.exact for s in ins], [s.shift for s in ins], out, mode)
            zero = np.asarray(op.zero([s.zero for s in ins]))
            if mode == "zero" and size:  # identically 0 where S_u fills: exact too
                exact = exact | (zero & _filled(size, out))
            states[name] = _State(out, np.asarray(own), np.asarray(exact), zero)
        return NetworkShiftCheck(self, target, shift, mode, states)

    def __repr__(self) -> str:
        lines = [f"CertificateGraph(input_size={self._nodes[self.input_name].size}):"]
        for n in self._nodes.values():
            if n.fact is None:
                continue
            fused = f" (fused {', '.join(n.fused)})" if n.fused else ""
            note = f" [{n.note}]" if n.note else ""
            lines.append(f"  {n.name} <- {', '.join(n.inputs)}: {_describe(n.fact)} -> "
                         f"{n.size}{fused}{note}")
        return "\n".join(lines)


def _describe(fact) -> str:
    if isinstance(fact, facts.Conv):
        s = fact.spec
        kind = "ConvTranspose" if s.transposed else "Conv"
        return (f"{kind}(k={s.kernel_size}, s={s.stride}, p={s.padding}, d={s.dilation}, "
                f"{s.padding_mode}{', bias' if s.bias else ''})")
    return repr(fact)


@dataclass(frozen=True)
class _State:
    shift: tuple[int, ...] | None
    own: np.ndarray  # the layer's own commutation
    exact: np.ndarray
    zero: np.ndarray  # identically 0 on the shifted input


@dataclass(frozen=True, eq=False)
class NetworkShiftCheck:
    """The exact shift certificate of one node of a :class:`CertificateGraph`.

    Attributes
    ----------
    node : str
    shift : tuple of int
        The input shift ``t``.
    mode : {"zero", "cyclic"}
    output_shift : tuple of int or None
        ``t / stride`` at this node (``()`` for a vector: invariance); None
        when some stride on the way does not divide the shift (aliasing) or
        merged branches shift differently.
    exact : ndarray of bool, shape ``size`` (``()`` for a vector)
        Positions where the node's map of ``S_t x`` equals ``S_u`` of its map
        of ``x`` for every input and every weight setting.
    stride : tuple of Fraction or None
        Input pixels per pixel of this map.
    """

    graph: CertificateGraph = field(repr=False)
    node: str
    shift: tuple[int, ...]
    mode: str
    _states: dict = field(repr=False)

    @property
    def output_shift(self):
        return self._states[self.node].shift

    @property
    def exact(self) -> np.ndarray:
        return self._states[self.node].exact

    @property
    def stride(self):
        return self.graph.nodes[self.node].stride

    @property
    def commutes(self) -> bool:
        """Exact at every position (and an output shift exists)."""
        return self.output_shift is not None and bool(self.exact.all())

    @property
    def exact_maps(self) -> dict[str, np.ndarray]:
        """Node name -> its exact map, for this node and every node it reads."""
        return {name: state.exact for name, state in self._states.items()}

    def at(self, name: str) -> NetworkShiftCheck:
        """The certificate of another node this one depends on."""
        if name not in self._states:
            raise ValueError(
                f"name must be {self.node!r} or a node it reads, but got {name!r}"
            )
        keep = self.graph._ancestors(name)
        states = {v: self._states[v] for v in keep}
        return NetworkShiftCheck(self.graph, name, self.shift, self.mode, states)

    def failing(self) -> np.ndarray:
        """Positions that are not exact, shape (count, rank)."""
        return np.argwhere(~self.exact)

    def explain(self, position=()) -> str:
        """Why ``position`` of this node is (not) exact: the first layer (in
        graph order) whose own commutation fails inside the position's
        backward window of non-exact maps, the boundary it fails at, and that
        layer's reason.

        >>> g = CertificateGraph(6)
        >>> g.add("c1", ConvSpec(1, 1, 3, input_size=6, padding=1))
        'c1'
        >>> g.add("c2", ConvSpec(1, 1, 3, input_size=6, padding=1))
        'c2'
        >>> print(g.check_shift(1).explain(1).splitlines()[0])
        'c2' at (1) is not exact for shift (1) (zero), output shift (1): broken first at 'c1'
        """
        size = self.graph.nodes[self.node].size
        position = self._position(position, size)
        order = list(self._states)
        head = (
            f"{self.node!r} at ({_fmt(position)}) is {{}}exact for shift ({_fmt(self.shift)}) "
            f"({self.mode}), output shift "
        )
        if self.output_shift is None:
            return head.format("not ") + "none: " + self._alias_reason(order)
        head += f"({_fmt(self.output_shift)})" if self.output_shift else "() (invariance)"
        if self.exact[position]:
            state = self._states[self.node]
            if state.zero[position] and not (state.own[position] and self._reads_exact(position)):
                return head.format("") + (
                    ": the map of the shifted input is identically 0 there, and S_u fills it "
                    "with 0"
                )
            return head.format("") + (
                ": every layer commutes on its window and every input it reads is exact"
            )
        culprits = self._culprits(position, order)
        first, where = culprits[0]
        node = self.graph.nodes[first]
        op = self.graph._ops[first]
        ins = [self._states[i] for i in op.inputs]
        reason = op.why(where, [s.shift for s in ins], self._states[first].shift, self.mode)
        lines = [
            head.format("not ") + f": broken first at {first!r}",
            f"  {first!r} = {_describe(node.fact)}, at ({_fmt(where)}): "
            + self._boundary(first, where),
        ]
        lines += ["  " + line for line in reason.splitlines()]
        if node.note:
            lines.append(f"  note: {node.note}")
        others = [repr(c) for c, _ in culprits[1:]]
        if len(others) > 6:
            others = others[:5] + [f"... ({len(others) - 5} more)"]
        if others:
            lines.append("  also broken at: " + ", ".join(others))
        return "\n".join(lines)

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _position(position, size):
        if not size:
            if position not in ((), None):
                raise ValueError(f"position must be () for a vector node, but got {position!r}")
            return ()
        position = normalize_shift(position, len(size), "position")
        if not all(0 <= i < n for i, n in zip(position, size)):
            raise ValueError(f"position must lie in the grid {size}, but got {position!r}")
        return position

    def _alias_reason(self, order) -> str:
        for name in order:
            op = self.graph._ops[name]
            if op is None or self._states[name].shift is not None:
                continue
            shifts = [self._states[i].shift for i in op.inputs]
            if any(s is None for s in shifts):
                continue
            node = self.graph.nodes[name]
            if isinstance(op, _MergeOp):
                return (f"the branches merged at {name!r} shift differently: "
                        + ", ".join(f"{i!r} by ({_fmt(s)})" for i, s in zip(op.inputs, shifts)))
            stride = ", ".join(str(f) for f in op.factor)
            return (
                f"{name!r} ({_describe(node.fact)}) has stride ({stride}), which does not "
                f"divide the shift ({_fmt(shifts[0])}) it receives: the shift aliases"
            )
        return "no output shift"  # pragma: no cover - some node always explains it

    def _reads_exact(self, position) -> bool:
        """Whether every input position that ``position`` reads is exact."""
        op = self.graph._ops[self.node]
        if op is None:
            return True
        mask = np.zeros(self.graph.nodes[self.node].size, dtype=bool)
        mask[position] = True
        for i in op.inputs:
            size_in = self.graph.nodes[i].size
            reach = _any_read(mask, op.reads, size_in) if op.reads is not None else (
                mask if size_in == mask.shape else np.ones(size_in, dtype=bool))
            if (reach & ~self._states[i].exact).any():
                return False
        return True

    def _culprits(self, position, order):
        """(node, position) of every layer whose own commutation fails in the
        backward cone of non-exact maps, first in graph order."""
        cones = {self.node: np.zeros(self.graph.nodes[self.node].size, dtype=bool)}
        cones[self.node][position] = True
        found = []
        for name in reversed(order):
            cone = cones.get(name)
            op = self.graph._ops[name]
            if cone is None or op is None:
                continue
            state = self._states[name]
            bad = cone & ~state.exact
            own_bad = bad & ~state.own
            if own_bad.any():
                found.append((name, tuple(int(i) for i in np.argwhere(own_bad)[0])))
            if not bad.any():
                continue
            for i in op.inputs:
                node_in = self.graph.nodes[i]
                exact_in = self._states[i].exact
                if op.reads is not None:
                    reach = _any_read(bad, op.reads, node_in.size)
                elif not node_in.size or not op.size:
                    reach = np.ones(node_in.size, dtype=bool)
                else:
                    reach = bad
                reach = reach & ~exact_in
                cones[i] = reach if i not in cones else cones[i] | reach
        found.reverse()
        return found

    def _boundary(self, name, where) -> str:
        """The edges whose nearness breaks the layer at ``where``: the axes along
        which moving ``where`` to the middle of the grid makes the layer commute."""
        size = self.graph.nodes[name].size
        if not size:
            return "a vector (no boundary)"
        own = self._states[name].own
        edges = []
        for a, (i, n) in enumerate(zip(where, size)):
            moved = list(where)
            moved[a] = n // 2
            if own[tuple(moved)]:
                edges.append(f"the {_side(i, n)} edge of axis {a}")
        if edges:
            return " and ".join(edges)
        every = [f"the {_side(i, n)} edge of axis {a}" for a, (i, n) in enumerate(zip(where, size))]
        return "a corner: " + " and ".join(every)

    def __repr__(self) -> str:
        count = f"{int(self.exact.sum())}/{self.exact.size}"
        return (
            f"NetworkShiftCheck(node={self.node!r}, shift={self.shift}, mode={self.mode!r}, "
            f"output_shift={self.output_shift}, commutes={self.commutes}, exact={count})"
        )
