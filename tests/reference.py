"""References nobody here wrote: torch's own convolutions, and a naive oracle.

``torch_forward`` runs a spec through ``torch.nn.functional``;
``naive_matrix`` is a deliberately plain loop builder (like jax's
``lax_reference``), used only by tests.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def torch_forward(spec, x, weight, bias=None):
    """torch's output of the layer on ``x`` of shape (batch, C_in, *input_size)."""
    if spec.flip:  # true convolution: the kernel reversed along every spatial axis
        weight = weight.flip(tuple(range(2, 2 + spec.rank)))
    if spec.transposed:
        return CONV_T[spec.rank](
            x,
            weight,
            bias,
            stride=spec.stride,
            padding=tuple(p for p, _ in spec.padding),
            output_padding=spec.output_padding,
            groups=spec.groups,
            dilation=spec.dilation,
        )
    symmetric = all(a == b for a, b in spec.padding)
    if spec.padding_mode == "zeros" and symmetric:
        padding = tuple(p for p, _ in spec.padding)
    else:
        mode = "constant" if spec.padding_mode == "zeros" else spec.padding_mode
        x = F.pad(x, spec.torch_padding, mode=mode)
        padding = 0
    return CONV[spec.rank](
        x, weight, bias, stride=spec.stride, padding=padding, dilation=spec.dilation,
        groups=spec.groups,
    )


def probe_matrix(spec, weight):
    """The matrix read off torch by one-hot probing: column j = layer(e_j)."""
    rows, cols = spec.matrix_shape
    eye = torch.eye(cols, dtype=weight.dtype).reshape(cols, spec.in_channels, *spec.input_size)
    return torch_forward(spec, eye, weight).reshape(cols, rows).T


def _fold(m, n, mode):
    if 0 <= m < n:
        return m
    if mode == "zeros":
        return None
    if mode == "circular":
        return m % n
    if mode == "replicate":
        return min(max(m, 0), n - 1)
    m = -m if m < 0 else m
    return 2 * (n - 1) - m if m >= n else m


def naive_matrix(spec, weight):
    """A plain loop over every (output, input channel, tap): the oracle."""
    rows, cols = spec.matrix_shape
    out = np.zeros((rows, cols), dtype=np.asarray(weight).dtype)
    w = np.asarray(weight)
    cin_g = spec.in_channels // spec.groups
    cout_g = spec.out_channels // spec.groups
    o_size, n_size = spec.output_size, spec.input_size
    for o in range(spec.out_channels):
        g = o // cout_g
        for ci in range(cin_g):
            c = g * cin_g + ci
            for tap in itertools.product(*(range(k) for k in spec.kernel_size)):
                wt = tap if not spec.flip else tuple(k - 1 - t for k, t in zip(spec.kernel_size, tap))
                value = w[(c, o % cout_g, *wt)] if spec.transposed else w[(o, ci, *wt)]
                if spec.transposed:
                    for i in itertools.product(*(range(n) for n in n_size)):
                        pos = [ia * s - p[0] + t * d for ia, s, p, t, d in zip(
                            i, spec.stride, spec.padding, tap, spec.dilation)]
                        if all(0 <= q < osz for q, osz in zip(pos, o_size)):
                            r = o * math.prod(o_size) + np.ravel_multi_index(pos, o_size)
                            col = c * math.prod(n_size) + np.ravel_multi_index(i, n_size)
                            out[r, col] += value
                    continue
                for i in itertools.product(*(range(n) for n in o_size)):
                    pos = [_fold(ia * s - p[0] + t * d, n, spec.padding_mode) for ia, s, p, t, d, n in zip(
                        i, spec.stride, spec.padding, tap, spec.dilation, n_size)]
                    if any(q is None for q in pos):
                        continue
                    r = o * math.prod(o_size) + np.ravel_multi_index(i, o_size)
                    col = c * math.prod(n_size) + np.ravel_multi_index(pos, n_size)
                    out[r, col] += value
    return out
