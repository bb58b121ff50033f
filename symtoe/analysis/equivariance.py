"""Exact shift and reflection certificates, boundary maps, numeric checks.

**The law.**  A layer ``T`` commutes with a shift when ``T S_in = S_out T``,
where ``S_in = S_t`` shifts the input by ``t`` (``(S_t x)[m] = x[m - t]``,
see :mod:`symtoe.analysis.shifts`) and ``S_out`` shifts the output by ``u = t / s``
(stride ``s``; ``u = t * s`` for a transposed layer).  Output position ``r``
is **exact** when row ``r`` of the commutator ``C = T S_in - S_out T`` is zero
*for every kernel* (a row that is zero on both sides is exact too).

**The certificate.**  ``T(w) = sum_p w[p] E_p`` is linear in the weights, so
``C(w) = sum_p w[p] (E_p S_in - S_out E_p)`` and row ``r`` vanishes for every
``w`` iff, for every weight ``p``, the columns that ``p`` fills in row ``r``
of ``T S_in`` and of ``S_out T`` agree as multisets.  Both are index
relabellings of the integer sharing pattern ``(row, col, p)``: ``T S_in`` has
``(r, src_in^-1(c), p)`` and ``S_out T`` has ``(r, c, p)`` for every triple
``(src_out(r), c, p)``.  The certificate compares them with integer keys
(``np.unique``): exact, no floats, no sympy.

**Channels.**  Shifts act on every channel alike and distinct channel pairs
``(o, c)`` have distinct weights, so ``C`` is zero in a row of output channel
``o`` iff the single-channel spatial commutator is zero in that row: the
certificate runs on the one-channel spatial pattern (``C_in = C_out = 1``),
whose cost does not depend on the channels.  ``exact`` has shape
``spec.output_size`` and holds for every output channel.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec
from .shifts import (
    apply_reflection,
    apply_shift,
    normalize_axes,
    normalize_mode,
    normalize_shift,
    reflection_indices,
    shift_indices,
)

__all__ = [
    "ReflectionCheck",
    "ShiftCheck",
    "NumericEquivariance",
    "boundary_map",
    "check_reflection",
    "check_shift",
    "equivariance_error",
    "matching_output_shift",
    "reflection_error",
    "zero_padding_interior",
]

#: The largest pattern (nonzeros) :meth:`ShiftCheck.commutator` turns into sympy.
MAX_COMMUTATOR_NONZEROS = 200_000



def _spatial(spec: ConvSpec) -> ConvSpec:
    """The one-channel layer with the same spatial geometry."""
    return spec.replace(in_channels=1, out_channels=1, groups=1, bias=False)


def matching_output_shift(spec: ConvSpec, shift) -> tuple[int, ...] | None:
    """The output shift that matches an input shift, or None.

    Forward layers: ``u_a = t_a / s_a`` when ``s_a`` divides ``t_a`` on every
    axis, else ``None`` (no output shift can match: the shift aliases).
    Transposed layers: ``u_a = t_a * s_a``.

    >>> matching_output_shift(ConvSpec(1, 1, 3, input_size=8, stride=2), (4,))
    (2,)
    >>> matching_output_shift(ConvSpec(1, 1, 3, input_size=8, stride=2), (-1,)) is None
    True
    """
    spec = check_spec(spec)
    shift = normalize_shift(shift, spec.rank)
    if spec.transposed:
        return tuple(t * s for t, s in zip(shift, spec.stride))
    if any(t % s for t, s in zip(shift, spec.stride)):
        return None
    return tuple(t // s for t, s in zip(shift, spec.stride))


# --------------------------------------------------------------------- core
def _keys(rows, cols, ps, n_cols: int, n_p: int) -> np.ndarray:
    """One int64 key per triple, ``(row * n_cols + col) * n_p + p``."""
    return (rows * n_cols + cols) * n_p + ps


def _commutator_terms(
    triples, shape, n_p: int, src_in: np.ndarray, src_out: np.ndarray, p_map=None
):
    """Per-weight coefficients of ``T S_in - S_out T'`` that are not zero.

    ``triples`` = (row, col, p) of ``T`` sorted by row; ``T'`` is ``T`` with
    weight ``p`` renamed ``p_map[p]`` (identity by default).  ``S_in`` and
    ``S_out`` are index maps (``(S x)[i] = x[src[i]]``, -1 = zero).  Returns
    ``(row, col, p, coefficient)`` int64 arrays, sorted by row, col, p.
    """
    rows, cols, ps = triples
    n_rows, n_cols = shape
    if n_rows * n_cols * max(n_p, 1) >= 2**62:
        raise ValueError(
            f"the layer is too large for one int64 key per entry ({n_rows} x {n_cols} "
            f"entries, {n_p} weights)"
        )
    # T S_in: (T S)[r, c'] = T[r, c] where src_in[c] == c'.
    col_a = src_in[cols]
    keep = col_a >= 0
    key_a = _keys(rows[keep], col_a[keep], ps[keep], n_cols, n_p)
    # S_out T': row r of it is row src_out[r] of T'.
    ptr = np.searchsorted(rows, np.arange(n_rows + 1))
    out_rows = np.flatnonzero(src_out >= 0)
    start = ptr[src_out[out_rows]]
    counts = ptr[src_out[out_rows] + 1] - start
    total = int(counts.sum())
    offsets = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(total)
    ps_b = ps[offsets] if p_map is None else p_map[ps[offsets]]
    key_b = _keys(np.repeat(out_rows, counts), cols[offsets], ps_b, n_cols, n_p)

    keys, inverse = np.unique(np.concatenate([key_a, key_b]), return_inverse=True)
    inverse = inverse.ravel()
    coef = np.bincount(inverse[: len(key_a)], minlength=len(keys)) - np.bincount(
        inverse[len(key_a) :], minlength=len(keys)
    )
    nz = coef != 0
    keys, coef = keys[nz], coef[nz].astype(np.int64)
    entry, p = np.divmod(keys, n_p)
    r, c = np.divmod(entry, n_cols)
    return r, c, p, coef


def _as_position(position, size: tuple[int, ...]) -> tuple[int, ...]:
    position = normalize_shift(position, len(size), "position")
    if not all(0 <= i < n for i, n in zip(position, size)):
        raise ValueError(
            f"position must lie in the output grid {size}, but got {position!r}"
        )
    return position


def _fmt(index) -> str:
    return ", ".join(str(int(i)) for i in index)


def _describe_terms(terms, spec: ConvSpec, row: int, lhs: str, rhs: str) -> list[str]:
    r, c, p, coef = terms
    sel = r == row
    lines = []
    for col, tap, k in zip(c[sel], p[sel], coef[sel]):
        where = lhs if k > 0 else rhs
        other = rhs if k > 0 else lhs
        times = f" ({abs(k)} times)" if abs(k) > 1 else ""
        lines.append(
            f"  w[{_fmt(np.unravel_index(tap, spec.kernel_size))}] * "
            f"x[{_fmt(np.unravel_index(col, spec.input_size))}] is in {where}{times} "
            f"but not in {other}"
        )
    return lines


@dataclass(frozen=True, eq=False)
class ShiftCheck:
    """The exact certificate of one shift (see :func:`check_shift`).

    Attributes
    ----------
    spec : ConvSpec
    shift : tuple of int
        The input shift ``t``.
    mode : {"zero", "cyclic"}
    output_shift : tuple of int or None
        ``u`` (``t / s``, or ``t * s`` transposed), None when ``t`` is not a
        multiple of the stride.
    exact : ndarray of bool, shape ``spec.output_size``
        True where row ``r`` of ``T S_in - S_out T`` is zero for every kernel
        (all False when ``output_shift`` is None).
    """

    spec: ConvSpec
    shift: tuple[int, ...]
    mode: str
    output_shift: tuple[int, ...] | None
    exact: np.ndarray
    _terms: tuple = field(repr=False, default=())

    @property
    def commutes(self) -> bool:
        """``T S_in == S_out T`` for every kernel (False without an output shift)."""
        return self.output_shift is not None and bool(self.exact.all())

    def failing(self) -> np.ndarray:
        """Output positions that are not exact, shape (count, rank)."""
        return np.argwhere(~self.exact)

    def explain(self, position) -> str:
        """Why output ``position`` is (not) exact: the products ``w[j] * x[m]``
        found on one side of ``T S_in x = S_out T x`` and not on the other.

        >>> check = check_shift(ConvSpec(1, 1, 3, input_size=5, padding=1), (1,))
        >>> print(check.explain(0))
        output (0) is not exact for shift (1) (zero), output shift (1):
          S_out T: row (0) comes from row (-1), outside the output: zero
          w[2] * x[0] is in T S_in but not in S_out T
        """
        spec = self.spec
        position = _as_position(position, spec.output_size)
        head = (
            f"output ({_fmt(position)}) is {{}}exact for shift ({_fmt(self.shift)}) "
            f"({self.mode}), output shift "
        )
        if self.output_shift is None:
            head = head.format("not ") + "none"
            return (
                f"{head}: shift ({_fmt(self.shift)}) is not a multiple of stride "
                f"({_fmt(spec.stride)}), so no output shift matches it"
            )
        head += f"({_fmt(self.output_shift)})"
        if self.exact[position]:
            return head.format("") + ": row of T S_in - S_out T is zero for every kernel"
        lines = [head.format("not ") + ":"]
        source = [i - u for i, u in zip(position, self.output_shift)]
        inside = all(0 <= i < o for i, o in zip(source, spec.output_size))
        if self.mode == "zero" and not inside:
            lines.append(
                f"  S_out T: row ({_fmt(position)}) comes from row ({_fmt(source)}), "
                "outside the output: zero"
            )
        row = int(np.ravel_multi_index(position, spec.output_size))
        lines += _describe_terms(self._terms, spec, row, "T S_in", "S_out T")
        return "\n".join(lines)

    def commutator(self, weight=None):
        """``T S_in - S_out T`` as an exact ``sympy.SparseMatrix`` (all channels).

        Built from the integer coefficients of the full pattern: entry
        ``(r, c)`` is ``sum_p coef[r, c, p] * w[p]``.  ``weight`` defaults to
        :func:`symtoe.weight_symbols`.  Refused above
        ``MAX_COMMUTATOR_NONZEROS`` pattern nonzeros.
        """
        import sympy

        from ..core.symbolic import as_sympy_array, weight_symbols

        spec = self.spec
        if self.output_shift is None:
            raise ValueError(
                f"shift must be a multiple of the stride {spec.stride} for a "
                f"commutator to exist, but got {self.shift}; pass output_shift= to "
                "check_shift to choose one"
            )
        pattern = sharing_pattern(spec)
        if pattern.nnz > MAX_COMMUTATOR_NONZEROS:
            raise ValueError(
                f"spec must have at most {MAX_COMMUTATOR_NONZEROS} nonzeros for a "
                f"sympy commutator, but has {pattern.nnz}"
            )
        w = weight_symbols(spec) if weight is None else as_sympy_array(
            weight, spec.weight_shape, "weight"
        )
        src_in = shift_indices(spec.input_size, self.shift, self.mode, spec.in_channels)
        src_out = shift_indices(
            spec.output_size, self.output_shift, self.mode, spec.out_channels
        )
        r, c, p, coef = _commutator_terms(
            pattern.triples(), spec.matrix_shape, math.prod(spec.weight_shape), src_in, src_out
        )
        values = w.ravel()[p] * coef.astype(object)
        entry = r * spec.matrix_shape[1] + c
        starts = np.flatnonzero(np.r_[True, entry[1:] != entry[:-1]]) if len(entry) else entry
        sums = np.add.reduceat(values, starts) if len(entry) else values
        keys = zip(r[starts].tolist(), c[starts].tolist())
        return sympy.SparseMatrix(*spec.matrix_shape, dict(zip(keys, sums.tolist())))

    def __repr__(self) -> str:
        return (
            f"ShiftCheck(shift={self.shift}, mode={self.mode!r}, "
            f"output_shift={self.output_shift}, commutes={self.commutes}, "
            f"exact={int(self.exact.sum())}/{self.exact.size})"
        )


def check_shift(spec: ConvSpec, shift, mode: str = "zero", *, output_shift=None) -> ShiftCheck:
    """Certify, for every kernel at once, where ``T S_in = S_out T`` holds.

    Law: ``(T S_t x)[r] = (S_u T x)[r]`` for all ``x`` and all weights iff
    row ``r`` of the commutator vanishes; ``u = t / s`` (``t * s`` for a
    transposed layer).  Both shifts are zero-fill (``mode="zero"``) or cyclic
    (``mode="cyclic"``, ``torch.roll``), per spatial axis and per channel.
    The check runs on the integer sharing pattern (see the module doc), so it
    is exact and takes milliseconds for a 64 -> 64, 3x3 layer at 32x32.

    Parameters
    ----------
    spec : ConvSpec
    shift : int or tuple of int
        Input shift ``t``, one value per spatial axis, positive or negative.
    mode : {"zero", "cyclic"}
    output_shift : tuple of int, optional
        Compare with this output shift instead of ``t / s``.

    Returns
    -------
    ShiftCheck
        ``.exact`` (bool array of ``spec.output_size``), ``.commutes``,
        ``.output_shift``, ``.explain(position)``, ``.commutator()``.

    Examples
    --------
    >>> spec = ConvSpec(1, 1, 3, input_size=6, padding=1)
    >>> check_shift(spec, (1,)).exact.astype(int).tolist()
    [0, 1, 1, 1, 1, 0]
    >>> check_shift(spec.replace(padding_mode="circular"), (1,), "cyclic").commutes
    True

    Numerically, ``exact[r]`` means ``F.conv1d(S_t x, w)[..., r] ==
    S_u(F.conv1d(x, w))[..., r]`` for every ``x`` and ``w``.
    """
    spec = check_spec(spec)
    shift = normalize_shift(shift, spec.rank)
    mode = normalize_mode(mode)
    if output_shift is None:
        out_shift = matching_output_shift(spec, shift)
    else:
        out_shift = normalize_shift(output_shift, spec.rank, "output_shift")
    if out_shift is None:
        return ShiftCheck(spec, shift, mode, None, np.zeros(spec.output_size, dtype=bool))
    small = _spatial(spec)
    src_in = shift_indices(small.input_size, shift, mode)
    src_out = shift_indices(small.output_size, out_shift, mode)
    terms = _commutator_terms(
        sharing_pattern(small).triples(),
        small.matrix_shape,
        math.prod(small.kernel_size),
        src_in,
        src_out,
    )
    exact = np.ones(small.matrix_shape[0], dtype=bool)
    exact[terms[0]] = False
    return ShiftCheck(spec, shift, mode, out_shift, exact.reshape(spec.output_size), terms)


def boundary_map(spec: ConvSpec, shifts, mode: str = "zero") -> np.ndarray:
    """Exact output positions for several shifts: bool array ``(len(shifts), *output_size)``.

    ``boundary_map(spec, shifts)[i] == check_shift(spec, shifts[i], mode).exact``;
    ``.all(axis=0)`` is the set of positions exact for all of them.

    >>> spec = ConvSpec(1, 1, 3, input_size=6, padding=1)
    >>> boundary_map(spec, [(1,), (-1,)]).astype(int).tolist()
    [[0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0]]
    """
    spec = check_spec(spec)
    if not isinstance(shifts, (list, tuple)) or not shifts:
        raise ValueError(f"shifts must be a non-empty list of shifts, but got {shifts!r}")
    return np.stack([check_shift(spec, t, mode).exact for t in shifts])


def _any_in(base: np.ndarray, k: int, d: int, lo, hi) -> np.ndarray:
    """Whether some ``base + j*d`` (``0 <= j < k``) lies in ``[lo, hi)``."""
    first = np.maximum(-((base - lo) // d), 0)  # ceil((lo - base) / d)
    last = np.minimum((hi - 1 - base) // d, k - 1)
    return first <= last


def zero_padding_interior(spec: ConvSpec, shift) -> np.ndarray:
    """Closed form of ``check_shift(spec, shift, "zero").exact`` under zero padding.

    Per axis ``a`` (size ``n``, output ``o``, stride ``s``, dilation ``d``,
    left padding ``p``, shift ``t = u*s``) output ``i`` reads ``m_j = i*s - p +
    j*d``, ``j < k``.  Both sides read ``x[m_j - t]`` with weight ``w[j]``; the
    left side needs ``m_j`` inside the input (``q``), the right side needs the
    source row ``i - u`` inside the output (``r``), and both need ``m_j - t``
    inside the input (``live``).  Let ``P_a``: some tap is live; ``G_a``: some
    tap is live and ``q``; ``F_a``: some tap is live and not ``q``.  Then

        exact(i) = not (all_a P_a and any_a F_a)   if every axis has r
        exact(i) = not (all_a G_a)                 otherwise.

    So for a shift that moves content away from an edge the exact set is the
    rows whose taps never read the padding (``F`` false) or never read the
    live input; rows near the far edge fail because ``S_out`` drops them.

    >>> spec = ConvSpec(1, 1, 3, input_size=8, stride=2, padding=1)
    >>> zero_padding_interior(spec, (-2,)).astype(int).tolist()
    [0, 1, 1, 0]
    """
    spec = check_spec(spec)
    if spec.transposed or spec.padding_mode != "zeros":
        raise ValueError(
            "spec must be a forward layer with padding_mode='zeros' for the closed "
            f"form, but got transposed={spec.transposed}, padding_mode={spec.padding_mode!r}"
        )
    shift = normalize_shift(shift, spec.rank)
    out = matching_output_shift(spec, shift)
    if out is None:
        raise ValueError(
            f"shift must be a multiple of the stride {spec.stride}, but got {shift}"
        )
    rank = spec.rank
    all_p = all_g = all_r = np.ones((1,) * rank, dtype=bool)
    any_f = np.zeros((1,) * rank, dtype=bool)
    for a, (n, o, k, s, d, (pl, _), t, u) in enumerate(
        zip(
            spec.input_size,
            spec.output_size,
            spec.kernel_size,
            spec.stride,
            spec.dilation,
            spec.padding,
            shift,
            out,
        )
    ):
        shape = [1] * rank
        shape[a] = o
        i = np.arange(o)
        base = i * s - pl
        live = _any_in(base, k, d, t, t + n)
        live_in = _any_in(base, k, d, max(0, t), min(n, n + t))
        live_out = _any_in(base, k, d, t, min(0, t + n)) | _any_in(
            base, k, d, max(n, t), t + n
        )
        inside = (i - u >= 0) & (i - u < o)
        all_p = all_p & live.reshape(shape)
        all_g = all_g & live_in.reshape(shape)
        any_f = any_f | live_out.reshape(shape)
        all_r = all_r & inside.reshape(shape)
    exact = np.where(all_r, ~(all_p & any_f), ~all_g)
    return np.broadcast_to(exact, spec.output_size).copy()


# --------------------------------------------------------------- reflection
@dataclass(frozen=True, eq=False)
class ReflectionCheck:
    """The exact certificate of ``T_w J_in = J_out T_flip(w)`` (see
    :func:`check_reflection`).

    Attributes
    ----------
    spec : ConvSpec
    axes : tuple of int
        Reflected spatial axes; ``flip(w)`` reverses the kernel along them.
    exact : ndarray of bool, shape ``spec.output_size``
        Rows of ``T_w J - J T_flip(w)`` that vanish for every kernel.
    offset : tuple of int
        Per reflected axis: ``a + p_left - p_right`` with ``a = (n + p_left +
        p_right - d(k-1) - 1) mod s`` (forward) or ``output_padding``
        (transposed).  The law holds when every offset is 0 (mod ``n`` under
        circular padding): with symmetric padding this is ``a = 0``.
    """

    spec: ConvSpec
    axes: tuple[int, ...]
    exact: np.ndarray
    offset: tuple[int, ...]
    _terms: tuple = field(repr=False, default=())

    @property
    def holds(self) -> bool:
        """``T_w J = J T_flip(w)`` for every kernel."""
        return bool(self.exact.all())

    @property
    def condition(self) -> bool:
        """The closed-form condition: every offset is 0 (mod n if circular)."""
        spec = self.spec
        return all(
            off == 0 or (spec.padding_mode == "circular" and off % spec.input_size[a] == 0)
            for a, off in zip(self.axes, self.offset)
        )

    @property
    def reason(self) -> str:
        """Why the law holds or fails, in terms of ``a`` and the padding."""
        spec = self.spec
        parts = []
        for a, off in zip(self.axes, self.offset):
            pl, pr = spec.padding[a]
            if spec.transposed:
                parts.append(f"axis {a}: output_padding = {off}")
            else:
                n, k, s, d = (
                    spec.input_size[a],
                    spec.kernel_size[a],
                    spec.stride[a],
                    spec.dilation[a],
                )
                rem = (n + pl + pr - d * (k - 1) - 1) % s
                parts.append(
                    f"axis {a}: a = (n + p_left + p_right - d(k-1) - 1) mod s = "
                    f"({n} + {pl} + {pr} - {d * (k - 1)} - 1) mod {s} = {rem}, "
                    f"a + p_left - p_right = {off}"
                )
        verdict = "holds" if self.holds else "fails"
        return f"T_w J = J T_flip(w) {verdict}: " + "; ".join(parts)

    def explain(self, position) -> str:
        """The products ``w[j] * x[m]`` on one side of ``T_w J x = J T_flip(w) x``
        at output ``position`` and not on the other."""
        position = _as_position(position, self.spec.output_size)
        if self.exact[position]:
            return f"output ({_fmt(position)}) is exact: " + self.reason
        row = int(np.ravel_multi_index(position, self.spec.output_size))
        lines = [f"output ({_fmt(position)}) is not exact: " + self.reason]
        lines += _describe_terms(self._terms, self.spec, row, "T_w J", "J T_flip(w)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"ReflectionCheck(axes={self.axes}, holds={self.holds}, offset={self.offset}, "
            f"exact={int(self.exact.sum())}/{self.exact.size})"
        )


def check_reflection(spec: ConvSpec, axes=None) -> ReflectionCheck:
    """Certify ``T_w J_in = J_out T_flip(w)`` for every kernel ``w``.

    ``J`` reverses the reflected spatial axes (``torch.flip``) of the input
    and of the output; ``flip(w)`` reverses the kernel along them.  The law
    holds iff ``a + p_left = p_right`` on every reflected axis (``a = (n +
    p_left + p_right - d(k-1) - 1) mod s`` input positions at the right edge
    are never read), i.e. ``a = 0`` for symmetric padding; transposed layers
    need ``output_padding = 0``.  The check is exact, on the integer pattern
    with weight ``p`` renamed ``flip(p)`` on the right-hand side.

    >>> check_reflection(ConvSpec(1, 1, 3, input_size=6, padding=1)).holds
    True
    >>> bad = check_reflection(ConvSpec(1, 1, 3, input_size=6, padding=1, stride=2))
    >>> bad.holds, bad.offset
    (False, (1,))

    Numerically: ``F.conv2d(x.flip(dims), w) == F.conv2d(x, w.flip(dims)).flip(dims)``.
    """
    spec = check_spec(spec)
    axes = normalize_axes(axes, spec.rank)
    small = _spatial(spec)
    ks = spec.kernel_size
    taps = np.indices(ks).reshape(len(ks), -1)
    flipped = np.array([k - 1 - taps[a] if a in axes else taps[a] for a, k in enumerate(ks)])
    p_map = np.ravel_multi_index(tuple(flipped), ks)
    terms = _commutator_terms(
        sharing_pattern(small).triples(),
        small.matrix_shape,
        math.prod(ks),
        reflection_indices(small.input_size, axes),
        reflection_indices(small.output_size, axes),
        p_map,
    )
    exact = np.ones(small.matrix_shape[0], dtype=bool)
    exact[terms[0]] = False
    offsets = []
    for a in axes:
        pl, pr = spec.padding[a]
        if spec.transposed:
            offsets.append(spec.output_padding[a])
        else:
            n, k, s, d = spec.input_size[a], ks[a], spec.stride[a], spec.dilation[a]
            offsets.append((n + pl + pr - d * (k - 1) - 1) % s + pl - pr)
    return ReflectionCheck(spec, axes, exact.reshape(spec.output_size), tuple(offsets), terms)


# ------------------------------------------------------------------ numeric
@dataclass(frozen=True, eq=False)
class NumericEquivariance:
    """A numeric equivariance check of a torch callable.

    Attributes
    ----------
    error : torch.Tensor
        Per output position (the output's trailing spatial shape; a scalar
        for outputs without spatial axes): ``max |f(G x) - G' f(x)|`` over
        batch and channels.
    output_shift : tuple of int or None
        The output shift used (None for reflections and invariant outputs).
    scale : float
        ``max |f(x)|``, to read the error relative to the output.
    """

    error: object
    output_shift: tuple[int, ...] | None
    scale: float

    @property
    def max(self) -> float:
        """The largest error over all positions."""
        return float(self.error.max()) if self.error.numel() else 0.0


def _error_map(a, b, rank_out: int):
    diff = (a - b).abs()
    keep = diff.ndim - rank_out
    return diff.amax(dim=tuple(range(keep))) if keep else diff


def _out_rank(y, x, rank: int) -> int:
    return max(min(y.ndim - (x.ndim - rank), rank), 0)


def equivariance_error(f, x, shift, mode: str = "zero", *, output_shift=None):
    """Per-position error of ``f(S_t x) = S_u f(x)`` for any torch callable.

    ``f`` maps a batch ``x`` of shape ``(N, C, *spatial)`` to ``(N, C',
    *spatial')`` (a module, a stack, pooling, a nonlinearity, a lambda) or to
    ``(N, C')`` (then the law checked is invariance, ``f(S_t x) = f(x)``).
    ``shift`` acts on the trailing ``len(shift)`` axes, zero-fill or cyclic
    (``torch.roll``).  The output shift ``u`` is ``output_shift`` if given;
    otherwise, with ``s = round(n / n')`` per axis, ``t / s`` when ``s``
    divides ``t``, else whichever of ``floor(t / s)`` and ``ceil(t / s)``
    gives the smaller mean error (so a large error shows that *no* output
    shift works: a stride or a max-pool aliases the shift).  An output larger
    than the input (upsampling) uses ``u = t * round(n' / n)``.

    Returns
    -------
    NumericEquivariance
        ``.error`` (tensor over output positions), ``.output_shift``,
        ``.scale``, ``.max``.

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    >>> x = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(0))
    >>> equivariance_error(conv, x, (3,), "cyclic").max < 1e-6
    True
    >>> pool = torch.nn.MaxPool1d(2)
    >>> equivariance_error(pool, x, (1,), "cyclic").max > 0.1
    True
    """
    import torch

    mode = normalize_mode(mode)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, but got {type(x).__name__}")
    rank = len(shift) if isinstance(shift, (tuple, list)) else 1
    shift = normalize_shift(shift, rank)
    if x.ndim < rank + 1:
        raise ValueError(
            f"x must have a batch dimension before its {rank} spatial axes, but got "
            f"shape {tuple(x.shape)}"
        )
    with torch.no_grad():
        y = f(x)
        y_shifted = f(apply_shift(x, shift, mode))
    rank_out = _out_rank(y, x, rank)
    scale = float(y.abs().max()) if y.numel() else 0.0
    if rank_out == 0:
        return NumericEquivariance(_error_map(y_shifted, y, 0).amax(), None, scale)
    if rank_out != rank:
        raise ValueError(
            f"f must keep {rank} spatial axes or none, but maps shape {tuple(x.shape)} "
            f"to {tuple(y.shape)}"
        )
    if output_shift is not None:
        candidates = [normalize_shift(output_shift, rank, "output_shift")]
    else:
        per_axis = []
        for t, n, o in zip(shift, x.shape[-rank:], y.shape[-rank:]):
            if o >= n:
                per_axis.append({t * max(round(o / n), 1)})
            else:
                s = max(round(n / o), 1)
                per_axis.append({t // s, -(-t // s)})
        candidates = list(itertools.product(*map(sorted, per_axis)))
    best = None
    for u in candidates:
        err = _error_map(y_shifted, apply_shift(y, u, mode), rank)
        if best is None or float(err.mean()) < float(best[0].mean()):
            best = (err, u)
    return NumericEquivariance(best[0], best[1], scale)


def reflection_error(f, x, axes=None, *, g=None, rank: int | None = None):
    """Per-position error of ``f(J x) = J g(x)`` (``g`` defaults to ``f``).

    ``J`` is ``torch.flip`` of the reflected spatial axes (``axes`` among the
    ``rank`` trailing axes, default all, ``rank`` default ``x.ndim - 2``).
    For a convolution ``T_w``, pass ``g`` = the layer with the flipped kernel
    to check ``T_w J = J T_flip(w)``; a layer with a symmetric kernel needs no
    ``g``.

    >>> import torch
    >>> conv = torch.nn.Conv1d(1, 1, 3, padding=1, bias=False)
    >>> x = torch.randn(1, 1, 6, generator=torch.Generator().manual_seed(0))
    >>> flipped = lambda v: torch.nn.functional.conv1d(v, conv.weight.flip(-1), padding=1)
    >>> reflection_error(conv, x, g=flipped).max < 1e-6
    True
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, but got {type(x).__name__}")
    if rank is None:
        rank = x.ndim - 2
    g = f if g is None else g
    with torch.no_grad():
        y = g(x)
        y_reflected = f(apply_reflection(x, axes, rank))
    rank_out = _out_rank(y, x, rank)
    scale = float(y.abs().max()) if y.numel() else 0.0
    if rank_out == 0:
        return NumericEquivariance(_error_map(y_reflected, y, 0).amax(), None, scale)
    err = _error_map(y_reflected, apply_reflection(y, axes, rank_out), rank_out)
    return NumericEquivariance(err, None, scale)
