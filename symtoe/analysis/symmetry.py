"""Exact rotation and reflection certificates of layers and stacks of layers.

**The laws.**  ``G`` is a symmetry of the grid, a signed permutation matrix
``M`` acting on centred positions (a quarter turn is ``torch.rot90``, a
mirror ``torch.flip``; see :mod:`symtoe.analysis.groups`), applied to the
input and to the output grid, ``(G x)[m] = x[g^-1 m]``.

* An ordinary convolution (:class:`~symtoe.core.spec.ConvSpec`) obeys
  ``T_w G = G T_{w o g}`` with the kernel turned along, ``(w o g)[j] =
  w[g j]`` (in torch: ``F.conv2d(rot90(x, q), w) == rot90(F.conv2d(x,
  rot90(w, -q)), q)``).
* A group convolution (:class:`~symtoe.analysis.group_conv.GroupConvSpec`)
  with its tied kernel commutes: ``T G_in = G_out T``, where ``G_in`` and
  ``G_out`` also apply ``rho_in(g)`` / ``rho_out(g)`` to the channels of
  each field.

Output position ``r`` is **exact** when row ``r`` (every output channel) of
``T G_in - G_out T'`` vanishes for every weight.  Like the shift and
reflection certificates this is decided on the integer sharing pattern: both
sides are relabellings of the triples ``(row, col, weight)`` with a sign
(``rho`` of sign representations), compared as signed multisets; no floats.
Channels do not change the answer for a ConvSpec (every channel pair has its
own weights), so it runs on one channel; a GroupConvSpec runs on one field
pair.

**When the grid allows it.**  ``G`` maps the layer onto itself only if the
geometry (input size, kernel, stride, padding, dilation) is the same on the
axes that ``M`` exchanges; the certificate refuses otherwise.  Then the law
holds iff, on every axis that ``M`` reverses, the sampled input grid is
centred: ``a + p_left - p_right = 0`` with ``a = (n + p_left + p_right -
d(k-1) - 1) mod s`` (``0`` mod ``n`` under circular padding;
``output_padding = 0`` for a transposed layer).  With symmetric padding this
is ``(n + 2p - d(k-1) - 1) mod s == 0``: k=3, p=1, s=2 holds at n=7 and
fails at n=8; k=2, p=0, s=2 the reverse.

**Stacks.**  For layers ``T_L ... T_1`` (the same element on each), output
position ``r`` of layer ``l`` is exact for the stack when it is exact for
layer ``l`` and every position of layer ``l``'s input that it reads is exact
for the stack so far.  This is sound (the error of layer ``l - 1`` cannot
reach ``r``).  Pointwise maps between the layers keep it: they commute with
permutation representations (``trivial``, ``regular``, ``quotient``), and
with sign representations only when odd (``-f(x) = f(-x)``; ReLU is not).

**Models.**  Given a torch model (and its ``input_size``),
:func:`check_symmetry` and :func:`check_rotation` read its trace as the
shift certificate does and compose the per-op sets the same way
(:func:`symtoe.network.model_symmetry.model_symmetry_check`): the law is
``N_W(G x) = G N_(W o g)(x)``, every free kernel turned along, for models of
convolutions, pointwise maps, pools, pads, sums, concatenations and global
pooling (any other op is named in a ValueError).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec
from ..core.validate import is_int, is_model
from .commutator import check_keys
from .group_conv import GroupConvSpec
from .groups import field_source, position_action

__all__ = ["SymmetryCheck", "check_rotation", "check_symmetry", "rotation_matrix"]


def rotation_matrix(quarter_turns: int = 1, axes=(0, 1), rank: int = 2) -> np.ndarray:
    """``M`` of ``torch.rot90(x, quarter_turns, dims=axes)`` on centred positions.

    >>> rotation_matrix(1).tolist()
    [[0, -1], [1, 0]]
    >>> rotation_matrix(1, axes=(1, 2), rank=3).tolist()
    [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    """
    if not is_int(quarter_turns):
        raise ValueError(f"quarter_turns must be an integer, but got {quarter_turns!r}")
    if (
        not isinstance(axes, (tuple, list)) or len(axes) != 2
        or not all(is_int(a) and -rank <= a < rank for a in axes)
        or axes[0] % rank == axes[1] % rank
    ):
        raise ValueError(
            f"axes must be two different spatial axes in range(-{rank}, {rank}), but got {axes!r}"
        )
    a, b = (int(v) % rank for v in axes)
    turn = np.eye(rank, dtype=np.int64)
    turn[[a, a, b, b], [a, b, a, b]] = (0, -1, 1, 0)
    return np.linalg.matrix_power(turn, int(quarter_turns) % 4)


def _as_matrix(element, rank: int) -> np.ndarray:
    matrix = np.asarray(element)
    ok = (
        matrix.shape == (rank, rank)
        and np.issubdtype(matrix.dtype, np.integer)
        and set(np.unique(matrix).tolist()) <= {-1, 0, 1}
        and ((matrix != 0).sum(axis=0) == 1).all()
        and ((matrix != 0).sum(axis=1) == 1).all()
    )
    if not ok:
        raise ValueError(
            f"element must be a {rank}x{rank} signed permutation matrix (one +-1 per row "
            f"and column), but got {element!r}"
        )
    return matrix.astype(np.int64)


def _axis_geometry(spec: ConvSpec, a: int) -> tuple:
    return (
        spec.input_size[a], spec.kernel_size[a], spec.stride[a], spec.padding[a],
        spec.dilation[a], spec.output_padding[a],
    )


def _check_geometry(spec: ConvSpec, matrix: np.ndarray) -> None:
    image = np.abs(matrix).argmax(axis=0)  # axis a goes to axis image[a]
    for a, b in enumerate(image.tolist()):
        if _axis_geometry(spec, a) != _axis_geometry(spec, b):
            raise ValueError(
                "spec must have the same input_size, kernel_size, stride, padding, "
                f"dilation and output_padding on axes {a} and {b}, which the element "
                f"exchanges, but got {_axis_geometry(spec, a)} and {_axis_geometry(spec, b)}"
            )


def _offset(spec: ConvSpec, a: int) -> int:
    """``a + p_left - p_right`` of axis ``a`` (``output_padding`` if transposed)."""
    if spec.transposed:
        return spec.output_padding[a]
    n, k, s, (pl, pr), d = _axis_geometry(spec, a)[:5]
    return (n + pl + pr - d * (k - 1) - 1) % s + pl - pr


def _grid_map(matrix: np.ndarray, size) -> np.ndarray:
    """``src[m]``: flat index of ``g^-1 m`` on a grid (``M^T`` is ``g^-1``)."""
    return position_action(matrix.T[None], tuple(size))[0]


def _terms(rows, cols, lhs, rhs, src_in, sign_in, inv_out, sign_out, shape, n_params):
    """Nonzero terms ``(row, col, param, coef)`` of ``T G_in - G_out T'``.

    ``rows, cols`` index the pattern's triples; ``lhs`` / ``rhs`` give each
    triple's ``(param, coef)`` in ``T`` and in ``T'`` (coef 0 drops it).
    ``(G x)[i] = sign[i] x[src[i]]``; ``inv_out`` inverts ``src_out``.
    """
    n_cols = shape[1]
    check_keys(shape, n_params)
    # T G_in: entry (r, c) of T moves to column src_in[c] with sign_in[c].
    # G_out T': entry (r0, c) of T' moves to row inv_out[r0] with its sign.
    out_rows = inv_out[rows]
    keys = np.concatenate([
        (rows * n_cols + src_in[cols]) * n_params + lhs[0],
        (out_rows * n_cols + cols) * n_params + rhs[0],
    ])
    coef = np.concatenate([lhs[1] * sign_in[cols], -rhs[1] * sign_out[out_rows]])
    keep = coef != 0
    keys, inverse = np.unique(keys[keep], return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=coef[keep], minlength=len(keys))
    nz = total != 0
    entry, param = np.divmod(keys[nz], n_params)
    r, c = np.divmod(entry, n_cols)
    return r, c, param, total[nz].astype(np.int64)


@dataclass(frozen=True, eq=False)
class SymmetryCheck:
    """The exact certificate of one grid symmetry (see :func:`check_symmetry`).

    Attributes
    ----------
    spec : ConvSpec, GroupConvSpec or tuple of them (a stack)
    matrix : ndarray of int64, shape (rank, rank)
        The element ``M`` acting on centred positions.
    exact : ndarray of bool, shape of the (last) output's spatial size
        True where every output channel of ``T G_in - G_out T'`` vanishes
        for every weight (for a stack: the composed set, see the module doc).
    offset : tuple of int
        ``a + p_left - p_right`` (``output_padding`` if transposed) on each axis
        that ``M`` reverses (of every layer of a stack).
    layers : tuple of SymmetryCheck
        The per-layer certificates of a stack (empty for one layer).
    """

    spec: object
    matrix: np.ndarray
    exact: np.ndarray
    offset: tuple[int, ...]
    layers: tuple = ()
    _terms: tuple = field(repr=False, default=())

    @property
    def holds(self) -> bool:
        """The law holds at every output position, for every weight."""
        return bool(self.exact.all())

    @property
    def condition(self) -> bool:
        """The closed form: every offset is 0 (mod ``n`` under circular padding)."""
        if self.layers:
            return all(layer.condition for layer in self.layers)
        conv = _conv(self.spec)
        reversed_axes = np.flatnonzero((self.matrix < 0).any(axis=0))
        return all(
            off == 0 or (conv.padding_mode == "circular" and off % conv.input_size[a] == 0)
            for a, off in zip(reversed_axes, self.offset)
        )

    @property
    def law(self) -> str:
        if isinstance(self.spec, tuple):
            return "T_L..T_1 G_in = G_out T_L..T_1"
        if isinstance(self.spec, GroupConvSpec):
            return "T G_in = G_out T"
        return "T_w G = G T_(w o g)"

    @property
    def reason(self) -> str:
        """Why the law holds or fails, from ``a`` and the padding of each axis."""
        verdict = "holds" if self.holds else "fails"
        if self.layers:
            parts = [f"layer {i}: {layer.reason}" for i, layer in enumerate(self.layers)]
            return f"{self.law} {verdict}; " + "; ".join(parts)
        conv = _conv(self.spec)
        parts = []
        for a in np.flatnonzero((self.matrix < 0).any(axis=0)).tolist():
            if conv.transposed:
                parts.append(f"axis {a}: output_padding = {conv.output_padding[a]}")
                continue
            n, k, s, (pl, pr), d = _axis_geometry(conv, a)[:5]
            rem = (n + pl + pr - d * (k - 1) - 1) % s
            parts.append(
                f"axis {a}: a = (n + p_left + p_right - d(k-1) - 1) mod s = "
                f"({n} + {pl} + {pr} - {d * (k - 1)} - 1) mod {s} = {rem}, "
                f"a + p_left - p_right = {rem + pl - pr}"
            )
        return f"{self.law} {verdict}: " + ("; ".join(parts) or "no axis is reversed")

    def failing(self) -> np.ndarray:
        """Output positions that are not exact, shape (count, rank)."""
        return np.argwhere(~self.exact)

    def explain(self, position) -> str:
        """The terms of ``T G_in - G_out T'`` left at output ``position``
        (one layer): ``coef * w[weight] * x[channel, position]``."""
        if self.layers:
            raise ValueError("explain needs one layer: call it on check.layers[i]")
        size = self.exact.shape
        if (
            not isinstance(position, (tuple, list)) or len(position) != len(size)
            or not all(is_int(i) and 0 <= i < n for i, n in zip(position, size))
        ):
            raise ValueError(f"position must lie in the output grid {size}, but got {position!r}")
        head = f"output {tuple(position)} is {{}}exact: " + self.reason
        if self.exact[tuple(position)]:
            return head.format("")
        r, c, p, coef = self._terms
        conv = _conv(self.spec)
        spatial_r = r % math.prod(size)
        sel = spatial_r == np.ravel_multi_index(tuple(position), size)
        lines = [head.format("not ")]
        for col, param, k in zip(c[sel].tolist(), p[sel].tolist(), coef[sel].tolist()):
            ch, m = divmod(col, math.prod(conv.input_size))
            m = np.unravel_index(m, conv.input_size)
            w = param if isinstance(self.spec, GroupConvSpec) else np.unravel_index(
                param, conv.kernel_size)
            w = ", ".join(str(int(v)) for v in np.atleast_1d(w))
            lines.append(f"  {k:+d} * w[{w}] * x[{ch}, {', '.join(map(str, m))}]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"SymmetryCheck(matrix={self.matrix.tolist()}, holds={self.holds}, "
            f"offset={self.offset}, exact={int(self.exact.sum())}/{self.exact.size})"
        )


def _conv(spec) -> ConvSpec:
    return spec.conv if isinstance(spec, GroupConvSpec) else spec


def _pair(spec) -> ConvSpec:
    """The layer on one field pair (GroupConvSpec: distinct field pairs have
    distinct weights) or one channel pair (ConvSpec: likewise)."""
    if isinstance(spec, GroupConvSpec):
        return spec.conv.replace(in_channels=spec.rho_in.dim, out_channels=spec.rho_out.dim)
    if isinstance(spec, ConvSpec):
        return spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)
    raise ValueError(
        f"spec must be a ConvSpec, a GroupConvSpec or a list of them, but got "
        f"{type(spec).__name__}"
    )


def _check_layer(spec, element) -> SymmetryCheck:
    conv = _pair(spec)
    rows, cols, p = sharing_pattern(conv).triples()
    if isinstance(spec, GroupConvSpec):
        g = spec.G.element(element)
        matrix = spec.G.matrices[g]
        _check_geometry(conv, matrix)
        src_in, sign_in = field_source(spec.rho_in, g, 1, conv.input_size)
        src_out, sign_out = field_source(spec.rho_out, g, 1, conv.output_size)
        orbits = spec.orbits  # both sides carry the tied kernel
        lhs = rhs = (np.maximum(orbits.orbit[p], 0), orbits.sign[p])
        n_params = spec.basis_dimension
    else:
        matrix = _as_matrix(element, spec.rank)
        _check_geometry(conv, matrix)
        src_in = _grid_map(matrix, conv.input_size)
        src_out = _grid_map(matrix, conv.output_size)
        sign_in, sign_out = np.ones(len(src_in), np.int64), np.ones(len(src_out), np.int64)
        # (w o g)[j] = w[g j]: tap j of T' carries weight g j
        turned = position_action(matrix[None], conv.kernel_size)[0]
        ones = np.ones(len(p), np.int64)
        lhs, rhs = (p, ones), (turned[p], ones)
        n_params = math.prod(conv.kernel_size)
    terms = _terms(rows, cols, lhs, rhs, src_in, sign_in, np.argsort(src_out), sign_out,
                   conv.matrix_shape, n_params)
    exact = np.ones(conv.matrix_shape[0], dtype=bool)
    exact[terms[0]] = False
    exact = exact.reshape(-1, *conv.output_size).all(axis=0)
    reversed_axes = np.flatnonzero((matrix < 0).any(axis=0)).tolist()
    offset = tuple(_offset(conv, a) for a in reversed_axes)
    return SymmetryCheck(spec, matrix, exact, offset, (), terms)


def _reads(spec) -> tuple[np.ndarray, np.ndarray]:
    """Spatial (output, input) pairs that a layer's nonzero taps connect."""
    conv = _pair(spec)
    rows, cols, p = sharing_pattern(conv).triples()
    if isinstance(spec, GroupConvSpec):  # taps forced to zero read nothing
        live = spec.orbits.sign[p] != 0
        rows, cols = rows[live], cols[live]
    return rows % math.prod(conv.output_size), cols % math.prod(conv.input_size)


def _check_stack(specs: tuple, element) -> SymmetryCheck:
    kinds = {isinstance(s, GroupConvSpec) for s in specs}
    if len(kinds) > 1:
        raise ValueError(
            "spec must be a list of ConvSpecs or a list of GroupConvSpecs, not a mix "
            "(a ConvSpec ignores the channels' representation)"
        )
    for i, (first, second) in enumerate(zip(specs, specs[1:])):
        if isinstance(first, GroupConvSpec):
            same = (first.group, first.out_rep, first.out_fields) == (
                second.group, second.in_rep, second.in_fields)
            channels = (f"{first.group} {first.out_rep} x {first.out_fields}, then "
                        f"{second.group} {second.in_rep} x {second.in_fields}")
        else:
            same = first.out_channels == second.in_channels
            channels = f"{first.out_channels} channels, then {second.in_channels}"
        if not same or _conv(first).output_size != _conv(second).input_size:
            raise ValueError(
                f"spec[{i + 1}] must read what spec[{i}] writes, but got {channels} and "
                f"sizes {_conv(first).output_size} then {_conv(second).input_size}"
            )
    layers = tuple(_check_layer(s, element) for s in specs)
    exact = layers[0].exact
    for spec, layer in zip(specs[1:], layers[1:]):
        rows, cols = _reads(spec)
        bad = np.zeros(layer.exact.size, dtype=bool)
        bad[rows[~exact.ravel()[cols]]] = True
        exact = layer.exact & ~bad.reshape(layer.exact.shape)
    offset = tuple(o for layer in layers for o in layer.offset)
    return SymmetryCheck(tuple(specs), layers[0].matrix, exact, offset, layers)


def check_symmetry(spec, element, *, input_size=None, example_inputs=None, at=None):
    """Certify, for every weight at once, where a layer (or a stack) commutes
    with a symmetry of the grid (see the module doc for the laws).

    Parameters
    ----------
    spec : ConvSpec, GroupConvSpec, a list of either (a stack), or a torch model
        A model is read from its trace (``input_size`` or ``example_inputs``
        as for :func:`symtoe.trace_model`; ``at`` a module's name) and gives a
        :class:`~symtoe.network.model_symmetry.ModelSymmetryCheck`.
    element
        For a ConvSpec: a signed permutation matrix ``M`` (``rotation_matrix``,
        ``[[1, 0], [0, -1]]`` for ``torch.flip(x, (-1,))``, ``[[0, 1], [1, 0]]``
        for the transpose).  For a GroupConvSpec: an element of its group (index,
        name such as ``"r m"``, or matrix).

    Returns
    -------
    SymmetryCheck
        ``.exact`` (bool array of the output's spatial size), ``.holds``,
        ``.condition``, ``.offset``, ``.reason``, ``.explain(position)``.

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=(5, 5), padding=1)
    >>> mirror = [[1, 0], [0, -1]]
    >>> check_symmetry(spec, mirror).holds
    True
    >>> check_symmetry(spec.replace(stride=2, input_size=(6, 6)), mirror).offset
    (1,)
    >>> g = GroupConvSpec("D4", "regular", "regular", 1, 1, 3, input_size=7, padding=1, stride=2)
    >>> check_symmetry(g, "m").holds, check_symmetry(g.replace(input_size=8), "m").holds
    (True, False)
    >>> check_symmetry(g.replace(input_size=8), "r m").holds   # the transpose reverses no axis
    True
    """
    if is_model(spec):  # whole networks live above analysis: load them on demand
        from ..network.model_symmetry import model_symmetry_check

        return model_symmetry_check(spec, element, input_size=input_size,
                                    example_inputs=example_inputs, at=at)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("spec must be a non-empty list of layers, but got an empty one")
        if len(spec) > 1:
            return _check_stack(tuple(spec), element)
        spec = spec[0]
    return _check_layer(spec, element)


def check_rotation(spec, quarter_turns: int = 1, *, axes=(0, 1), input_size=None,
                   example_inputs=None, at=None):
    """Certify ``T_w R = R T_(w o g)`` (ConvSpec) or ``T R_in = R_out T``
    (GroupConvSpec, tied kernel) for ``R = torch.rot90(., quarter_turns,
    dims=axes)`` of the spatial axes.

    Exact outputs given size, stride, padding and dilation: with symmetric
    padding the law holds iff ``(n + 2p - d(k-1) - 1) mod s == 0`` (see the
    module doc).  ``spec`` may be a list of layers (a stack) or a torch model
    (with ``input_size``; see :func:`check_symmetry`).

    >>> lift = GroupConvSpec("C4", "trivial", "regular", 1, 1, 3, input_size=7, padding=1, stride=2)
    >>> check_rotation(lift).holds, check_rotation(lift.replace(input_size=8)).holds
    (True, False)
    >>> k2 = ConvSpec(1, 1, 2, input_size=(8, 8), stride=2)
    >>> check_rotation(k2).holds, check_rotation(k2.replace(input_size=(7, 7))).holds
    (True, False)

    Numerically, ``exact[r]`` means ``F.conv2d(rot90(x, q), w)[..., r] ==
    rot90(F.conv2d(x, rot90(w, -q)), q)[..., r]`` for every ``x`` and ``w``.
    """
    if is_model(spec):
        from ..network.model_symmetry import model_rotation_check

        return model_rotation_check(spec, quarter_turns, axes=axes, input_size=input_size,
                                    example_inputs=example_inputs, at=at)
    first = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    if isinstance(first, GroupConvSpec):
        rank = first.G.rank
    elif isinstance(first, ConvSpec):
        rank = first.rank
    else:
        raise ValueError(
            f"spec must be a ConvSpec, a GroupConvSpec or a list of them, but got "
            f"{type(first).__name__}"
        )
    if rank < 2:
        raise ValueError(f"spec must have at least 2 spatial axes to rotate, but has {rank}")
    matrix = rotation_matrix(quarter_turns, axes, rank)
    if isinstance(first, GroupConvSpec) and first.G._lookup(matrix[None])[0] < 0:
        raise ValueError(
            f"quarter_turns must give an element of group {first.group!r}, but "
            f"rotation by {quarter_turns} quarter turn(s) in axes {tuple(axes)} is not one"
        )
    return check_symmetry(spec, matrix)

