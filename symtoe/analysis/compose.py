"""Two stacked layers as one: the product ``T2 @ T1`` and, where it is one, its layer.

**Interior law.**  Layer 1 (stride ``s1``, dilation ``d1``, left padding
``p1``) and layer 2 (``s2``, ``d2``, ``p2``) read, per axis,

    z[i] = sum_l w2[l] y[i*s2 + l*d2 - p2],   y[u] = sum_j w1[j] x[u*s1 + j*d1 - p1]
         = sum_{l, j} w2[l] w1[j] x[i*(s1*s2) + (l*d2*s1 + j*d1) - (p2*s1 + p1)],

so away from the boundary ``T2 T1`` is one layer with stride ``s1*s2``, left
padding ``p2*s1 + p1`` and the kernel

    W[o, c, t] = sum_m sum_{l*d2*s1 + j*d1 = t*D} w2[o, m, l] * w1[m, c, j]

on the lattice ``D = gcd(d2*s1, d1)``.  For stride-1, equal-dilation layers
that is the full convolution of the kernels (``np.convolve(w1, w2)`` for one
channel), length ``k1 + k2 - 1``, summed over the middle channel.  Groups:
the product is block diagonal over ``gcd(groups1, groups2)`` blocks.

**Boundary.**  Where layer 2 reads the intermediate ``y`` outside its grid it
sees layer 2's padding (zeros, or a wrapped / reflected copy of ``y``), not
layer 1 applied to padded ``x``.  ``T2 T1`` is one layer exactly iff, for
every output, taps ``(l, j)`` and axis, the input that layer 1 reads through
that padding is the input the one layer reads through its own padding mode.
:func:`compose` decides this exactly from integer index tables.  The cases:

* layer 2 unpadded (``valid``): always one layer, in layer 1's padding mode;
* zeros after zeros: exact when, on each side where layer 2 pads, layer 1's
  outputs just outside its grid would read only padding (for stride-1
  layers: layer 1 pads at least ``d1*(k1-1)`` there, e.g. ``"full"``; or
  ``k1 = 1``).
  ``"same"`` after ``"same"`` with ``k > 1`` is *not* one layer: the two
  differ on the boundary rows;
* circular after circular: exact when layer 1's output grid is its input grid
  (``output_size * stride == input_size``): ``y`` is then periodic too;
* other mixes (e.g. circular after zeros, reflect after reflect) are not one
  layer, with the first offending position named in the reason.

Transposed layers and biases are not composed.  ``import symtoe.analysis.compose``
does not import torch; torch tensors are composed with torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.limits import SYMBOLIC_NONZEROS, check_budget, check_work, sizes_of
from ..core.pattern import fold_positions
from ..core.spec import ConvSpec, check_spec
from ..core.symbolic import as_sympy_array, symbolic_matrix, weight_symbols
from ..core.validate import SymtoeError, boolean

__all__ = ["Composition", "compose", "composed_matrix"]


def _check_pair(spec2, spec1) -> None:
    check_spec(spec2, "spec2")
    check_spec(spec1, "spec1")
    if spec2.in_channels != spec1.out_channels:
        raise SymtoeError(
            "spec2.in_channels must equal spec1.out_channels, but got "
            f"{spec2.in_channels} and {spec1.out_channels}"
        )
    if spec2.input_size != spec1.output_size:
        raise SymtoeError(
            "spec2.input_size must equal spec1.output_size, but got "
            f"{spec2.input_size} and {spec1.output_size}"
        )


def composed_matrix(spec2: ConvSpec, spec1: ConvSpec, weight2=None, weight1=None):
    """The symbolic product ``T2 @ T1`` (layer 1 first), a ``sympy.SparseMatrix``.

    Default weights: ``w[...]`` for layer 1 and ``v[...]`` for layer 2.  Its
    product with ``x.flatten()`` equals applying layer 1 and then layer 2 with
    torch.

    >>> s1 = ConvSpec(1, 1, 2, input_size=4)
    >>> composed_matrix(ConvSpec(1, 1, 2, input_size=3), s1)
    Matrix([
    [v[0]*w[0], v[0]*w[1] + v[1]*w[0],             v[1]*w[1],                     0],
    [        0,             v[0]*w[0], v[0]*w[1] + v[1]*w[0],             v[1]*w[1]]])
    """
    _check_pair(spec2, spec1)
    rows1 = spec1.matrix_shape[0]
    check_budget(  # each entry of T2 meets one row of T1
        sizes_of(spec2).nonzeros * -(-sizes_of(spec1).nonzeros // rows1), SYMBOLIC_NONZEROS,
        "the product T2 @ T1", "products of entries",
        "use compose(spec2, spec1) for the one layer, or smaller layers",
    )
    w1 = weight_symbols(spec1, "w") if weight1 is None else weight1
    w2 = weight_symbols(spec2, "v") if weight2 is None else weight2
    return symbolic_matrix(spec2, w2) * symbolic_matrix(spec1, w1)


@dataclass(frozen=True)
class Composition:
    """One layer for ``T2 @ T1``.

    Attributes
    ----------
    spec : ConvSpec
        The combined layer (input of layer 1, output of layer 2).
    weight : array
        Its kernel of shape ``spec.weight_shape``: a numpy object array of
        sympy expressions (exact), a float ndarray, or a torch tensor, as
        given.
    exact : bool
        Whether ``spec`` with ``weight`` equals ``T2 @ T1`` for every kernel.
    reason : str or None
        Why not, when ``exact`` is False.
    """

    spec: ConvSpec
    weight: object
    exact: bool
    reason: str | None


# ----------------------------------------------------------------- backends
def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _backend(weight2, weight1, spec2, spec1):
    """Both weights in one array kind: torch (promoted dtypes), numpy floats
    (when a float or complex array is given), else exact sympy objects:
    integers, Fractions, strings and sympy expressions are never rounded."""
    if _is_torch(weight2) or _is_torch(weight1):
        import torch

        if weight1 is None or weight2 is None:
            raise SymtoeError(
                "weight1 and weight2 must both be given when one is a torch tensor (the "
                "default weights are sympy symbols), but got None"
            )
        w1, w2 = torch.as_tensor(weight1), torch.as_tensor(weight2, device=None)
        for name, w in (("weight1", w1), ("weight2", w2)):
            if w.is_meta or w.layout != torch.strided or w.dtype == torch.bool:
                raise SymtoeError(f"{name} must be a dense tensor of numbers, but got "
                                  f"{w.dtype} on {w.device} with layout {w.layout}")
        dtype = torch.promote_types(w1.dtype, w2.dtype)
        return w2.to(w1.device, dtype), w1.to(dtype), "torch"
    if weight1 is not None and weight2 is not None:
        a1, a2 = np.asarray(weight1), np.asarray(weight2)
        kinds = a1.dtype.kind + a2.dtype.kind
        if set(kinds) <= set("fciu") and set(kinds) & set("fc"):
            dtype = np.result_type(a1, a2, np.float64)
            return a2.astype(dtype), a1.astype(dtype), "numpy"
    w1 = weight_symbols(spec1, "w") if weight1 is None else as_sympy_array(
        weight1, spec1.weight_shape, "weight1"
    )
    w2 = weight_symbols(spec2, "v") if weight2 is None else as_sympy_array(
        weight2, spec2.weight_shape, "weight2"
    )
    return w2, w1, "sympy"


def _zeros(like, shape, kind):
    if kind == "torch":
        return like.new_zeros(shape)
    if kind == "sympy":
        import sympy

        return np.full(shape, sympy.S.Zero, dtype=object)
    return np.zeros(shape, dtype=like.dtype)


def _flip(w, rank, kind):
    axes = tuple(range(2, 2 + rank))
    return w.flip(axes) if kind == "torch" else np.flip(w, axes)


def _dense_channels(w, groups, kind):
    """A grouped weight ``(C_out, C_in/g, *k)`` as the groups=1 weight with zeros."""
    c_out, ci = w.shape[:2]
    full = _zeros(w, (c_out, ci * groups, *w.shape[2:]), kind)
    co = c_out // groups
    for g in range(groups):  # one block per group
        full[g * co:(g + 1) * co, g * ci:(g + 1) * ci] = w[g * co:(g + 1) * co]
    return full


# ----------------------------------------------------------------- geometry
def _fold(m: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Source index of padded position ``m`` (relative to the grid), -1 if zero."""
    col, valid = fold_positions(m, n, mode)
    return np.where(valid, col, -1)


def _mode(spec: ConvSpec) -> str | None:
    """The padding mode, or None when the layer pads nothing (mode irrelevant)."""
    return spec.padding_mode if any(p for pair in spec.padding for p in pair) else None


def _lattice(spec2, spec1):
    """Per axis: tap positions ``l*d2*s1 + j*d1`` in units of ``D``, ``D`` and ``K``."""
    out = []
    for k1, d1, s1, k2, d2 in zip(
        spec1.kernel_size, spec1.dilation, spec1.stride, spec2.kernel_size, spec2.dilation
    ):
        a2, a1 = d2 * s1, d1
        D = math.gcd(a2 * (k2 > 1), a1 * (k1 > 1)) or 1
        K = ((k2 - 1) * a2 + (k1 - 1) * a1) // D + 1
        out.append((a2 // D if k2 > 1 else 0, a1 // D if k1 > 1 else 0, D, K))
    return out


def _boundary_mismatch(spec2, spec1, combined) -> str | None:
    """The first (axis, output, taps) where ``T2 T1`` and ``combined`` read
    different inputs, as a sentence; None when they agree everywhere."""
    m1, m2 = spec1.padding_mode, spec2.padding_mode
    check_work(
        40 * sum(o * k2 * k1 for o, k2, k1 in zip(
            spec2.output_size, spec2.kernel_size, spec1.kernel_size)),
        "comparing the boundaries of the two layers", "compose smaller layers",
    )
    for a in range(spec1.rank):
        n, o1, o2 = spec1.input_size[a], spec1.output_size[a], spec2.output_size[a]
        s1, d1, (p1, _), k1 = spec1.stride[a], spec1.dilation[a], spec1.padding[a], (
            spec1.kernel_size[a]
        )
        s2, d2, (p2, _), k2 = spec2.stride[a], spec2.dilation[a], spec2.padding[a], (
            spec2.kernel_size[a]
        )
        i = np.arange(o2)[:, None, None]
        l_ = np.arange(k2)[None, :, None]
        j = np.arange(k1)[None, None, :]
        u = i * s2 + l_ * d2 - p2  # intermediate position, unfolded
        u_src = _fold(u, o1, m2)  # what layer 2 really reads
        two = np.where(u_src >= 0, _fold(u_src * s1 + j * d1 - p1, n, m1), -1)
        one = _fold(u * s1 + j * d1 - p1, n, combined.padding_mode)
        bad = np.argwhere(two != one)
        if len(bad):
            bi, bl, bj = bad[0]

            def said(src):
                return "a zero" if src < 0 else f"input {src}"

            return (
                f"the boundary of axis {a} breaks it: output {bi} of layer 2 with taps "
                f"(l={bl}, j={bj}) reads intermediate position {u[bi, bl, 0]} "
                f"(layer 2's {m2!r} padding of a grid of {o1}), which gives "
                f"{said(two[bi, bl, bj])}, but one layer with padding_mode="
                f"{combined.padding_mode!r} reads {said(one[bi, bl, bj])}"
            )
    return None


def _candidates(spec2, spec1):
    """Candidate one-layer specs (one per plausible padding mode) or a reason."""
    lattice = _lattice(spec2, spec1)
    stride = tuple(a * b for a, b in zip(spec1.stride, spec2.stride))
    dilation = tuple(D for _, _, D, _ in lattice)
    kernel = tuple(K for _, _, _, K in lattice)
    left = tuple(
        p2 * s1 + p1
        for (p2, _), s1, (p1, _) in zip(spec2.padding, spec1.stride, spec1.padding)
    )
    right = tuple(
        max(0, (o2 - 1) * s + D * (K - 1) + 1 - n - pl)
        for o2, s, D, K, n, pl in zip(
            spec2.output_size, stride, dilation, kernel, spec1.input_size, left
        )
    )
    modes = [m for m in (_mode(spec1), _mode(spec2)) if m is not None] or ["zeros"]
    specs, errors = [], []
    for mode in dict.fromkeys(modes):
        try:
            spec = ConvSpec(
                spec1.in_channels, spec2.out_channels, kernel,
                input_size=spec1.input_size, stride=stride,
                padding=tuple(zip(left, right)), dilation=dilation,
                groups=math.gcd(spec1.groups, spec2.groups), padding_mode=mode,
                flip=spec1.flip and spec2.flip,
            )
        except ValueError as err:
            errors.append(f"padding_mode={mode!r}: {err}")
            continue
        if spec.output_size != spec2.output_size:
            errors.append(
                f"padding_mode={mode!r}: one layer's output_size {spec.output_size} "
                f"differs from layer 2's {spec2.output_size}"
            )
            continue
        specs.append(spec)
    return specs, "; ".join(errors)


def _kernel(spec2, spec1, combined, weight2, weight1):
    w2, w1, kind = _backend(weight2, weight1, spec2, spec1)
    for name, w, spec in (("weight2", w2, spec2), ("weight1", w1, spec1)):
        if tuple(w.shape) != tuple(spec.weight_shape):
            raise SymtoeError(
                f"{name} must have shape {tuple(spec.weight_shape)}, "
                f"but got {tuple(w.shape)}"
            )
    rank = spec1.rank
    if spec1.flip:  # work in cross-correlation orientation
        w1 = _flip(w1, rank, kind)
    if spec2.flip:
        w2 = _flip(w2, rank, kind)
    w1 = _dense_channels(w1, spec1.groups, kind)
    w2 = _dense_channels(w2, spec2.groups, kind)
    lattice = _lattice(spec2, spec1)
    c_out, c_in = spec2.out_channels, spec1.in_channels
    full = _zeros(w1, (c_out, c_in, *combined.kernel_size), kind)
    if kind == "torch":
        import torch

        dot = torch.tensordot
    else:
        dot = np.tensordot
    for taps in np.ndindex(*spec2.kernel_size):  # one product per tap of kernel 2
        block = dot(w2[(slice(None), slice(None), *taps)], w1, ([1], [0]))
        where = tuple(
            slice(l_ * a2, l_ * a2 + a1 * (k1 - 1) + 1, a1 or 1)
            for l_, (a2, a1, _, _), k1 in zip(taps, lattice, spec1.kernel_size)
        )
        index = (slice(None), slice(None), *where)
        full[index] = full[index] + block
    if combined.flip:
        full = _flip(full, rank, kind)
    g = combined.groups
    rows = np.arange(c_out)[:, None]
    cols = (rows // (c_out // g)) * (c_in // g) + np.arange(c_in // g)
    if kind == "torch":
        rows, cols = torch.as_tensor(rows), torch.as_tensor(cols)
    return full[rows, cols]


def compose(
    spec2: ConvSpec, spec1: ConvSpec, weight2=None, weight1=None, *, strict: bool = True
) -> Composition:
    """The one layer equal to layer 1 followed by layer 2 (``T2 @ T1``).

    The kernel is ``W[o, c, t] = sum_m sum_{l*d2*s1 + j*d1 = t*D} w2[o, m, l]
    w1[m, c, j]`` (the full convolution of the kernels for stride 1 and equal
    dilation), with stride ``s1*s2``, left padding ``p2*s1 + p1`` and
    dilation ``D = gcd(d2*s1, d1)``; see the module docstring for exactly
    when it equals ``T2 @ T1`` at the boundary.

    Parameters
    ----------
    spec2, spec1 : ConvSpec
        Layer 2 (applied second) and layer 1 (applied first).
    weight2, weight1 : array-like, optional
        Kernels; default sympy symbols ``v[...]`` and ``w[...]``.  Torch
        tensors give a torch kernel (differentiable), float arrays a float
        array, anything else exact sympy expressions.
    strict : bool
        Raise ValueError when no single layer equals ``T2 @ T1``; with
        ``strict=False`` return the interior-equivalent layer with
        ``exact=False`` and the reason instead.

    Examples
    --------
    Valid after valid is valid with kernel length ``k1 + k2 - 1``:

    >>> c = compose(ConvSpec(1, 1, 2, input_size=3), ConvSpec(1, 1, 2, input_size=4))
    >>> c.spec.kernel_size, c.spec.padding, c.exact
    ((3,), ((0, 0),), True)
    >>> c.weight.ravel().tolist()
    [v[0]*w[0], v[0]*w[1] + v[1]*w[0], v[1]*w[1]]

    Applying ``c.spec`` with ``c.weight`` through ``F.conv1d`` equals
    ``F.conv1d(F.conv1d(x, w1), w2)``.  "same" after "same" is not one layer:

    >>> same = ConvSpec(1, 1, 3, input_size=5, padding="same")
    >>> compose(same, same, strict=False).exact
    False
    """
    _check_pair(spec2, spec1)
    strict = boolean(strict, "strict")
    for name, spec in (("spec2", spec2), ("spec1", spec1)):
        if spec.transposed:
            raise SymtoeError(
                f"{name}.transposed must be False to compose (a transposed layer is the "
                "transpose of a forward one; compose those), but got True"
            )
        if spec.bias:
            raise SymtoeError(
                f"{name}.bias must be False to compose (layer 2 of a padded bias is not a "
                "per-channel constant at the boundary; compose the linear parts), "
                "but got True"
            )
    specs, errors = _candidates(spec2, spec1)
    if not specs:
        raise SymtoeError(f"spec2 after spec1 is not one layer: {errors}")
    reasons = []
    for spec in specs:
        reason = _boundary_mismatch(spec2, spec1, spec)
        if reason is None:
            return Composition(spec, _kernel(spec2, spec1, spec, weight2, weight1), True, None)
        reasons.append(reason)
    reason = "; ".join(reasons + ([errors] if errors else []))
    if strict:
        raise SymtoeError(
            f"spec2 after spec1 must be one layer for compose(strict=True), but {reason}"
        )
    spec = specs[0]
    return Composition(spec, _kernel(spec2, spec1, spec, weight2, weight1), False, reasons[0])
