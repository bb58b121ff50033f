"""Networks built twice, side by side: a CertificateGraph and the float64 torch
computation it describes (``torch.nn.functional`` calls written here), plus the
numeric check of a certificate against the model run on a shifted input.

The torch side uses ``F.conv*`` (through ``reference.torch_forward``),
``F.max_pool*``, ``F.avg_pool*``, ``F.interpolate``, ``F.pad`` and a BlurPool
written as antialiased-cnns writes it (``F.pad`` then a depthwise ``F.conv``
with the binomial filter built from ``math.comb``), never symtoe's matrices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import torch_forward
from test_shifts import sliced_shift

from symtoe import ConvSpec
from symtoe.network.certificate import (
    AvgPool,
    Blur,
    CertificateGraph,
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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one torch thread is faster, and far faster on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
