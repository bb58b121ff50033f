"""Networks built twice, side by side: a CertificateGraph and the float64 torch
computation it describes (``torch.nn.functional`` calls written here), plus the
numeric check of a certificate against the model run on a shifted input.

The torch side uses ``F.conv*`` (through ``reference.torch_forward``),
``F.max_pool*``, ``F.avg_pool*``, ``F.interpolate``, ``F.pad`` and a BlurPool
written as antialiased-cnns writes it (``F.pad`` then a depthwise ``F.conv``
with the binomial filter built from ``math.comb``), never symtoe's matrices.

For torch models (``tests/models.py``), :func:`compare_model` and
:func:`compare_model_symmetry` run the model itself in float64 on shifted or
turned inputs and read every op's output (:class:`OpValues`, a dispatch-mode
recorder of its own, in the trace's op order).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from reference import torch_forward
from test_shifts import sliced_shift

from symtoe import ConvSpec
from symtoe.network.certificate import CertificateGraph
from symtoe.network.facts import (
    AvgPool,
    Blur,
    Concat,
    Flatten,
    GlobalPool,
    Linear,
    MaxPool,
    Multiply,
    Pad,
    Pointwise,
    Sum,
    Upsample,
)

MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
POINTWISE = {  # kind -> (fact, torch function of (x, per-channel a, per-channel b))
    "relu": (Pointwise(True, nonnegative=True), lambda x, a, b: torch.relu(x)),
    "tanh": (Pointwise(True), lambda x, a, b: torch.tanh(x)),
    "sigmoid": (Pointwise(False, nonnegative=True), lambda x, a, b: torch.sigmoid(x)),
    "bias": (Pointwise(False), lambda x, a, b: x + b),
    "scale": (Pointwise(True), lambda x, a, b: x * a),
    "bn": (Pointwise(False), lambda x, a, b: x * a + b),  # BatchNorm in eval
}


def _expand(v, like):
    """A per-channel vector (C,) or a batch of vectors (N, C), broadcast like ``like``."""
    if v.ndim == 1:
        return v.reshape(1, -1, *([1] * (like.ndim - 2)))
    return v.reshape(*v.shape, *([1] * (like.ndim - v.ndim)))


class Net:
    """A CertificateGraph and the torch computation it describes."""

    def __init__(self, size, channels: int = 3):
        self.graph = CertificateGraph(size)
        self.rank = len(self.graph.size("input"))
        self.channels = {"input": channels}
        self.steps = []  # (name, fn(params, *inputs), inputs)
        self.shapes = {}  # parameter name -> shape

    # ------------------------------------------------------------- building
    def _src(self, inputs):
        return list(inputs) if inputs is not None else [self.graph.output]

    def _add(self, name, fact, fn, inputs, channels):
        inputs = self._src(inputs)
        self.graph.add(name, fact, inputs)
        self.steps.append((name, fn, inputs))
        self.channels[name] = channels
        return self

    def conv(self, name, out_channels, kernel_size, *, inputs=None, **kw):
        src = self._src(inputs)
        spec = ConvSpec(self.channels[src[0]], out_channels, kernel_size,
                        input_size=self.graph.size(src[0]), **kw)
        self.shapes[name + ".w"] = spec.weight_shape
        if spec.bias:
            self.shapes[name + ".b"] = (out_channels,)

        def fn(p, x):
            return torch_forward(spec, x, p[name + ".w"], p.get(name + ".b"))

        return self._add(name, spec, fn, src, out_channels)

    def pointwise(self, name, kind="relu", *, inputs=None):
        src = self._src(inputs)
        fact, f = POINTWISE[kind]
        c = self.channels[src[0]]
        self.shapes[name + ".a"] = (c,)
        self.shapes[name + ".b"] = (c,)

        def fn(p, x):
            if x.ndim == 2:
                return f(x, p[name + ".a"], p[name + ".b"])
            return f(x, _expand(p[name + ".a"], x), _expand(p[name + ".b"], x))

        return self._add(name, fact, fn, src, c)

    def maxpool(self, name, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                *, inputs=None):
        src = self._src(inputs)

        def fn(p, x):
            return MAX_POOL[self.rank](x, kernel_size, stride, padding, dilation,
                                       ceil_mode=ceil_mode)

        fact = MaxPool(kernel_size, stride, padding, dilation, ceil_mode)
        return self._add(name, fact, fn, src, self.channels[src[0]])

    def avgpool(self, name, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None, *, inputs=None):
        src = self._src(inputs)

        def fn(p, x):
            kw = {} if self.rank == 1 else {"divisor_override": divisor_override}
            return AVG_POOL[self.rank](x, kernel_size, stride, padding, ceil_mode,
                                       count_include_pad, **kw)

        fact = AvgPool(kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override)
        return self._add(name, fact, fn, src, self.channels[src[0]])

    def blur(self, name, filt_size=3, stride=2, pad_type="reflect", *, inputs=None):
        """antialiased-cnns' Downsample, written as that module writes it."""
        src = self._src(inputs)
        c = self.channels[src[0]]
        a = torch.tensor([math.comb(filt_size - 1, j) for j in range(filt_size)],
                         dtype=torch.float64)
        filt = a
        for _ in range(self.rank - 1):
            filt = filt[..., None] * a
        filt = (filt / filt.sum()).expand(c, 1, *filt.shape).contiguous()
        pads = [(filt_size - 1) // 2, math.ceil((filt_size - 1) / 2)] * self.rank
        mode = {"reflect": "reflect", "repl": "replicate", "zero": "constant"}[pad_type]

        def fn(p, x):
            if filt_size == 1:
                return x[(...,) + (slice(None, None, stride),) * self.rank]
            return CONV[self.rank](F.pad(x, pads, mode=mode), filt, stride=stride, groups=c)

        return self._add(name, Blur(filt_size, stride, pad_type), fn, src, c)

    def upsample(self, name, scale_factor, mode="nearest", align_corners=False, *, inputs=None):
        src = self._src(inputs)
        align = align_corners if mode not in ("nearest", "nearest-exact") else None

        def fn(p, x):
            return F.interpolate(x, scale_factor=scale_factor, mode=mode, align_corners=align)

        fact = Upsample(scale_factor, mode, align_corners)
        return self._add(name, fact, fn, src, self.channels[src[0]])

    def pad(self, name, pad, mode="constant", *, inputs=None):
        """``pad`` in F.pad's order (last axis first)."""
        src = self._src(inputs)
        return self._add(name, Pad.from_torch(pad, mode), lambda p, x: F.pad(x, pad, mode=mode),
                         src, self.channels[src[0]])

    def sum(self, name, inputs):
        def fn(p, *xs):
            big = max(xs, key=lambda t: t.ndim)
            return sum(_expand(x, big) if x.ndim < big.ndim else x for x in xs)

        return self._add(name, Sum(), fn, inputs, self.channels[inputs[0]])

    def multiply(self, name, inputs):
        def fn(p, *xs):
            big = max(xs, key=lambda t: t.ndim)
            return math.prod(_expand(x, big) if x.ndim < big.ndim else x for x in xs)

        return self._add(name, Multiply(), fn, inputs, self.channels[inputs[0]])

    def concat(self, name, inputs):
        return self._add(name, Concat(), lambda p, *xs: torch.cat(xs, dim=1), inputs,
                         sum(self.channels[i] for i in inputs))

    def global_pool(self, name, kind="avg", *, inputs=None):
        src = self._src(inputs)
        dims = tuple(range(2, 2 + self.rank))

        def fn(p, x):
            return x.mean(dims) if kind == "avg" else x.amax(dims)

        return self._add(name, GlobalPool(kind), fn, src, self.channels[src[0]])

    def flatten(self, name, *, inputs=None):
        src = self._src(inputs)
        size = self.graph.size(src[0])
        return self._add(name, Flatten(), lambda p, x: x.flatten(1), src,
                         self.channels[src[0]] * math.prod(size))

    def linear(self, name, out_features, *, inputs=None):
        src = self._src(inputs)
        size = self.graph.size(src[0])
        self.shapes[name + ".w"] = (out_features, self.channels[src[0]] * math.prod(size))

        def fn(p, x):
            return x.flatten(1) @ p[name + ".w"].T

        return self._add(name, Linear(), fn, src, out_features)

    # -------------------------------------------------------------- running
    def params(self, seed: int) -> dict:
        gen = torch.Generator().manual_seed(seed)
        return {k: torch.randn(s, generator=gen, dtype=torch.float64)
                for k, s in sorted(self.shapes.items())}

    def run(self, x, params) -> dict:
        values = {"input": x}
        with torch.no_grad():
            for name, fn, inputs in self.steps:
                values[name] = fn(params, *(values[i] for i in inputs))
        return values

    def batch(self, seed: int, batch: int = 6):
        gen = torch.Generator().manual_seed(10_000 + seed)
        return torch.randn(batch, self.channels["input"], *self.graph.size("input"),
                           generator=gen, dtype=torch.float64)


EXACT_TOL = 1e-12  # relative: positions called exact agree to round-off
DIFF_TOL = 1e-9  # relative: a non-exact position must differ by more than this


def compare(net: Net, shift, mode: str, node=None, *, samples: int = 20, seed: int = 0):
    """Check a certificate against the model run on the shifted input.

    Exact positions agree to ``EXACT_TOL`` (relative) for three weight draws;
    up to ``samples`` non-exact positions each differ by more than
    ``DIFF_TOL`` for at least one of five draws; with no output shift, no
    integer output shift matches every position.  Returns ``(certificate,
    sampled, differing)``.  The output shifts tried without one are
    ``floor`` and ``ceil`` of ``t * size_out / size_in`` per axis.
    """
    cert = net.graph.check_shift(shift, mode, node=node)
    node = cert.node
    size = net.graph.size(node)
    errors, scales, pairs = [], [], []
    for draw in range(5):
        params = net.params(draw)
        x = net.batch(draw)
        y = net.run(x, params)[node]
        y_shifted = net.run(sliced_shift(x, shift, mode), params)[node]
        pairs.append((y, y_shifted))
        scales.append(max(1.0, float(y.abs().max())))
        if cert.output_shift is None:
            continue
        ref = sliced_shift(y, cert.output_shift, mode) if size else y
        err = (y_shifted - ref).abs()
        errors.append(err.amax(dim=tuple(range(err.ndim - len(size)))).numpy())
    if cert.output_shift is None:
        assert not cert.exact.any()
        # no output shift near t / stride (floor or ceil, per axis) matches
        n_in = net.graph.size("input")
        ranges = [{t * o // n, -(-t * o // n)} for t, o, n in zip(shift, size, n_in)]
        for y, y_shifted in pairs[:2]:
            for u in itertools.product(*ranges):
                err = (y_shifted - sliced_shift(y, u, mode)).abs().max()
                assert err > DIFF_TOL * scales[0], f"output shift {u} matches"
        return cert, 0, 0
    for err, scale in zip(errors[:3], scales[:3]):
        bad = err[cert.exact] > EXACT_TOL * scale
        assert not bad.any(), (
            f"{node}: positions called exact differ: {np.argwhere(cert.exact & (err > EXACT_TOL * scale))[:5].tolist()}"
        )
    failing = np.argwhere(~cert.exact)
    if size == ():
        failing = np.zeros((int(not cert.exact), 0), dtype=int)
    rng = np.random.default_rng(seed)
    if len(failing) > samples:
        failing = failing[rng.choice(len(failing), samples, replace=False)]
    differ = sum(
        any(err[tuple(pos)] > DIFF_TOL * scale for err, scale in zip(errors, scales))
        for pos in failing
    )
    return cert, len(failing), differ


# ------------------------------------------------------------ torch models
class OpValues:
    """Every aten op's outputs of one model run, in dispatch order (the order of
    ``trace_model``'s ops), cloned (later in-place ops must not change them),
    except the buffer that circular padding fills (``new_empty``): read at the end."""

    def __init__(self, model, x):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_map

        outs = self.outs = []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                keep = func.__name__.startswith("new_empty")
                outs.append(tree_map(lambda t: t if keep or not isinstance(t, torch.Tensor)
                                     else t.clone(), out))
                return out

        with torch.no_grad(), Mode():
            model(x)

    def __getitem__(self, ref):
        from torch.utils._pytree import tree_leaves

        return tree_leaves(self.outs[ref.index])[ref.output]


def certify_all(g, certify) -> dict:
    """``certify(node)``'s exact maps for every node of a graph (fused pads too)."""
    exact = {}
    for name in reversed(list(g.nodes)):
        if name not in exact:
            exact.update(certify(name).exact_maps)
    return exact


def _activation(fact) -> bool:
    return isinstance(fact, Pointwise) and fact.nonnegative


def randomize(model, seed: int):
    """Fresh float64 weights: parameters ~ N(0, 1/fan_in) (vectors ~ N(0, 1)),
    BatchNorm statistics random (nonzero offsets), from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    model.double()
    with torch.no_grad():
        for p in model.parameters():
            fan_in = max(1, p[0].numel()) if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / fan_in ** 0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen, dtype=torch.float64) * 0.5)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen, dtype=torch.float64) + 0.5)
    return model.eval()


def compare_model(model, input_size, shift, mode: str, *, samples: int = 20, seed: int = 0,
                  batch: int = 4):
    """Check a model's certificate of every feature map against the model run on
    the shifted input (float64, random weights; see :func:`compare`).

    Exact positions of every node agree to ``EXACT_TOL`` for three draws; up
    to ``samples`` non-exact positions of pre-activation nodes (all but
    nonnegative activations) each differ by more than ``DIFF_TOL`` for one of
    five draws; nodes without an output shift match no integer output shift
    (unless the shift empties the input).
    Returns ``(graph, sampled, differing)``.
    """
    from symtoe.network.model_certificate import model_graph

    zeros = torch.zeros(batch, *input_size, dtype=torch.float64)
    graph = model_graph(randomize(model, 100 * seed), example_inputs=zeros)  # offsets read
    g = graph.graph
    exact = certify_all(g, lambda n: g.check_shift(shift, mode, node=n))
    shifts = certify_all(g, lambda n: _Shifts(g.check_shift(shift, mode, node=n)))
    nodes = [n for n in graph.refs if n != g.input_name]
    gen = torch.Generator().manual_seed(20_000 + seed)
    runs = []
    for draw in range(5):
        randomize(model, 100 * seed + draw)
        x = torch.randn(batch, *input_size, generator=gen, dtype=torch.float64)
        runs.append((OpValues(model, x), OpValues(model, sliced_shift(x, shift, mode))))
    errors = {n: [] for n in nodes}
    matches = {}  # (node, u) -> whether u matches in every draw
    n_in = g.size(g.input_name)
    # a zero-fill shift with |t| >= n empties the input: every map is then f(0)
    # and any shift that empties it matches where f(0) = 0, though the
    # certificate (like the layer's) says "none" where t / stride is no integer
    emptied = mode == "zero" and any(abs(t) >= m for t, m in zip(shift, n_in))
    for plain, shifted in runs:
        for n in nodes:
            size, out_shift = g.size(n), shifts[n]
            y, ys = graph.as_map(n, plain[graph.refs[n]]), graph.as_map(n, shifted[graph.refs[n]])
            scale = max(1.0, float(y.abs().max()))
            if out_shift is None:
                if emptied or _activation(g.nodes[n].fact):  # a dead ReLU matches any shift
                    continue
                ranges = [{t * o // m, -(-t * o // m)} for t, o, m in zip(shift, size, n_in)]
                for u in itertools.product(*ranges):
                    err = (ys - (sliced_shift(y, u, mode) if size else y)).abs().max()
                    matches[n, u] = matches.get((n, u), True) and bool(err <= DIFF_TOL * scale)
                continue
            ref = sliced_shift(y, out_shift, mode) if size else y
            err = (ys - ref).abs().amax(dim=(0, 1)).numpy() / scale
            errors[n].append(err)
    found = [key for key, match in matches.items() if match]
    assert not found, f"no output shift, but (node, shift) {found[:3]} match in every draw"
    return (graph, *_judge(g, exact, errors, samples, seed))


def _judge(g, exact, errors, samples, seed):
    """Positions called exact agree (first three draws); up to ``samples``
    non-exact positions of pre-activation maps: ``(sampled, differing in a draw)``."""
    for n, errs in errors.items():
        for err in errs[:3]:
            bad = exact[n] & (err > EXACT_TOL)
            assert not bad.any(), (f"{n}: positions called exact differ: "
                                   f"{np.argwhere(bad)[:5].tolist()}")
    pool = []
    for n, errs in errors.items():
        if not errs or _activation(g.nodes[n].fact):
            continue
        failing = np.argwhere(~exact[n]) if g.size(n) else np.zeros(
            (int(not exact[n]), 0), dtype=int)
        pool += [(n, tuple(p)) for p in failing]
    rng = np.random.default_rng(seed)
    if len(pool) > samples:
        pool = [pool[i] for i in rng.choice(len(pool), samples, replace=False)]
    differ = sum(any(err[pos] > DIFF_TOL for err in errors[n]) for n, pos in pool)
    return len(pool), differ


def _turn(t: torch.Tensor, quarter_turns, dims, flip):
    """rot90 by ``quarter_turns`` in ``dims``, or a flip of ``dims`` (``flip=True``)."""
    return torch.flip(t, dims) if flip else torch.rot90(t, quarter_turns, dims)


def compare_model_symmetry(model, input_size, *, quarter_turns: int = 1, axes=(0, 1),
                           flip_axes=None, samples: int = 20, seed: int = 0, batch: int = 3):
    """Check a model's rotation (or, with ``flip_axes``, mirror) certificate of
    every feature map against torch: the model on ``rot90(x, q)`` against
    ``rot90`` of the model with every conv weight turned by ``rot90(w, -q)``
    (``flip`` both for a mirror).  Exact positions agree to ``EXACT_TOL`` for
    three draws; up to ``samples`` non-exact positions of pre-activation nodes
    differ for one of five.  Returns ``(certificate of the output, sampled,
    differing)``."""
    import copy

    from symtoe.network.model_certificate import model_graph
    from symtoe.network.model_symmetry import model_symmetry_check

    zeros = torch.zeros(batch, *input_size, dtype=torch.float64)
    graph = model_graph(randomize(model, 100 * seed), example_inputs=zeros)
    g = graph.graph
    rank = g.rank
    if flip_axes is None:
        from symtoe.analysis.symmetry import rotation_matrix

        matrix = rotation_matrix(quarter_turns, axes, rank)
        spatial = tuple(a % rank for a in axes)
    else:
        matrix = np.diag([-1 if a in flip_axes else 1 for a in range(rank)])
        spatial = tuple(flip_axes)
    exact = certify_all(g, lambda n: model_symmetry_check(graph, matrix, at=n))
    nodes = [n for n in graph.refs if n != g.input_name]
    flip = flip_axes is not None
    q = quarter_turns
    gen = torch.Generator().manual_seed(30_000 + seed)
    errors = {n: [] for n in nodes}
    for draw in range(5):
        randomize(model, 100 * seed + draw)
        turned = copy.deepcopy(model)
        with torch.no_grad():
            for m in turned.modules():
                if isinstance(m, torch.nn.modules.conv._ConvNd):
                    dims = tuple(m.weight.ndim - rank + a for a in spatial)
                    m.weight.copy_(_turn(m.weight, -q, dims, flip))
        x = torch.randn(batch, *input_size, generator=gen, dtype=torch.float64)
        dims = tuple(x.ndim - rank + a for a in spatial)
        plain = OpValues(model, _turn(x, q, dims, flip))
        other = OpValues(turned, x)
        for n in nodes:
            size = g.size(n)
            y = graph.as_map(n, plain[graph.refs[n]])
            ref = graph.as_map(n, other[graph.refs[n]])
            if size:
                ref = _turn(ref, q, tuple(2 + a for a in spatial), flip)
            scale = max(1.0, float(y.abs().max()))
            errors[n].append((y - ref).abs().amax(dim=(0, 1)).numpy() / scale)
    return (model_symmetry_check(graph, matrix), *_judge(g, exact, errors, samples, seed))


class _Shifts:
    """Every node's output shift of one certificate, as ``exact_maps`` (for certify_all)."""

    def __init__(self, cert):
        self.exact_maps = {n: cert.at(n).output_shift for n in cert.exact_maps}
