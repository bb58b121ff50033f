"""Exact shift certificates of a layer: where ``T S_in = S_out T`` holds.

A layer ``T`` commutes with a shift when ``T S_in = S_out T``, where
``S_in = S_t`` shifts the input by ``t`` (``(S_t x)[m] = x[m - t]``, see
:mod:`symtoe.analysis.shifts`) and ``S_out`` shifts the output by ``u = t / s``
(stride ``s``; ``u = t * s`` for a transposed layer).  Output position ``r``
is **exact** when row ``r`` of ``C = T S_in - S_out T`` is zero *for every
kernel*; :func:`check_shift` decides it on the integer pattern
(:mod:`symtoe.analysis.commutator`), :func:`zero_padding_interior` in closed
form under zero padding.

Shifts act on every channel alike and distinct channel pairs have distinct
weights, so ``C`` vanishes in a row of output channel ``o`` iff the
one-channel commutator does: the certificate runs on the one-channel spatial
pattern, whose cost does not depend on the channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.limits import COMMUTATOR_NONZEROS, check_budget, check_work, sizes_of
from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec
from ..core.validate import SymtoeError, is_model
from .commutator import (
    as_position,
    check_certificate,
    commutator_terms,
    describe_terms,
    exact_rows,
    fmt,
    spatial,
)
from .shifts import normalize_mode, normalize_shift, shift_indices

__all__ = [
    "ShiftCheck",
    "boundary_map",
    "check_shift",
    "matching_output_shift",
    "zero_padding_interior",
]


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
        position = as_position(position, spec.output_size)
        head = (
            f"output ({fmt(position)}) is {{}}exact for shift ({fmt(self.shift)}) "
            f"({self.mode}), output shift "
        )
        if self.output_shift is None:
            head = head.format("not ") + "none"
            return (
                f"{head}: shift ({fmt(self.shift)}) is not a multiple of stride "
                f"({fmt(spec.stride)}), so no output shift matches it"
            )
        head += f"({fmt(self.output_shift)})"
        if self.exact[position]:
            return head.format("") + ": row of T S_in - S_out T is zero for every kernel"
        lines = [head.format("not ") + ":"]
        source = [i - u for i, u in zip(position, self.output_shift)]
        inside = all(0 <= i < o for i, o in zip(source, spec.output_size))
        if self.mode == "zero" and not inside:
            lines.append(
                f"  S_out T: row ({fmt(position)}) comes from row ({fmt(source)}), "
                "outside the output: zero"
            )
        row = int(np.ravel_multi_index(position, spec.output_size))
        lines += describe_terms(self._terms, spec, row, "T S_in", "S_out T")
        return "\n".join(lines)

    def commutator(self, weight=None):
        """``T S_in - S_out T`` as an exact ``sympy.SparseMatrix`` (all channels).

        Built from the integer coefficients of the full pattern: entry
        ``(r, c)`` is ``sum_p coef[r, c, p] * w[p]``.  ``weight`` defaults to
        :func:`symtoe.weight_symbols`.  Refused above
        :data:`symtoe.core.limits.COMMUTATOR_NONZEROS` nonzeros (closed form).
        """
        import sympy

        from ..core.symbolic import as_sympy_array, weight_symbols

        spec = self.spec
        if self.output_shift is None:
            raise SymtoeError(
                f"shift must be a multiple of the stride {spec.stride} for a "
                f"commutator to exist, but got {self.shift}; pass output_shift= to "
                "check_shift to choose one"
            )
        check_budget(  # closed form, before the pattern is built
            sizes_of(spec).nonzeros, COMMUTATOR_NONZEROS, f"the sympy commutator of {spec}",
            "nonzeros", "the certificate itself (.exact, .explain) covers every kernel",
        )
        pattern = sharing_pattern(spec)
        w = weight_symbols(spec) if weight is None else as_sympy_array(
            weight, spec.weight_shape, "weight"
        )
        src_in = shift_indices(
            spec.input_size, _within(self.shift, spec.input_size, self.mode), self.mode,
            spec.in_channels,
        )
        src_out = shift_indices(
            spec.output_size, _within(self.output_shift, spec.output_size, self.mode),
            self.mode, spec.out_channels,
        )
        r, c, p, coef = commutator_terms(
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


def check_shift(spec: ConvSpec, shift, mode: str = "zero", *, output_shift=None,
                input_size=None, example_inputs=None, at=None) -> ShiftCheck:
    """Certify, for every kernel at once, where ``T S_in = S_out T`` holds.

    ``spec`` may also be a torch model: then the certificate is the model's
    (:func:`symtoe.network.model_certificate.model_shift_check`, with
    ``input_size`` or ``example_inputs`` and the feature map ``at``), composed
    from the layers' certificates along the model's trace.

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
    if is_model(spec):
        from ..network.model_certificate import model_shift_check

        if output_shift is not None:
            raise SymtoeError("output_shift must be None for a model (its output shift is "
                              f"derived from the strides), but got {output_shift!r}")
        return model_shift_check(spec, shift, input_size=input_size,
                                 example_inputs=example_inputs, mode=mode, at=at)
    _layer_only(input_size=input_size, example_inputs=example_inputs, at=at)
    spec = check_spec(spec)
    shift = normalize_shift(shift, spec.rank)
    mode = normalize_mode(mode)
    if output_shift is None:
        out_shift = matching_output_shift(spec, shift)
    else:
        out_shift = normalize_shift(output_shift, spec.rank, "output_shift")
    if out_shift is None:
        return ShiftCheck(spec, shift, mode, None, np.zeros(spec.output_size, dtype=bool))
    small = spatial(spec)
    check_certificate(small, "the shift certificate")
    src_in = shift_indices(small.input_size, _within(shift, small.input_size, mode), mode)
    src_out = shift_indices(
        small.output_size, _within(out_shift, small.output_size, mode), mode
    )
    exact, terms = exact_rows(small, src_in, src_out)
    return ShiftCheck(spec, shift, mode, out_shift, exact, terms)


def _layer_only(**given) -> None:
    """Refuse the model-only arguments for a layer."""
    for name, value in given.items():
        if value is not None:
            raise SymtoeError(f"{name} must be None for a ConvSpec (it is for models), "
                              f"but got {value!r}")


def _within(shift, size, mode: str) -> tuple[int, ...]:
    """The same shift operator with each value within the grid: a zero-fill
    shift by ``|t| >= n`` empties the axis like ``|t| = n``, a cyclic one
    is taken mod ``n``."""
    if mode == "cyclic":
        return tuple(t % n for t, n in zip(shift, size))
    return tuple(max(-n, min(n, t)) for t, n in zip(shift, size))


def boundary_map(spec: ConvSpec, shifts, mode: str = "zero", *, input_size=None,
                 example_inputs=None):
    """Exact output positions for several shifts: bool array ``(len(shifts), *output_size)``.

    ``boundary_map(spec, shifts)[i] == check_shift(spec, shifts[i], mode).exact``;
    ``.all(axis=0)`` is the set of positions exact for all of them.  For a
    torch model ``shifts`` is one shift and the result is a dict from feature
    map name to its exact map
    (:func:`symtoe.network.model_certificate.model_boundary_map`).

    >>> spec = ConvSpec(1, 1, 3, input_size=6, padding=1)
    >>> boundary_map(spec, [(1,), (-1,)]).astype(int).tolist()
    [[0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0]]
    """
    if is_model(spec):
        from ..network.model_certificate import model_boundary_map

        return model_boundary_map(spec, shifts, input_size=input_size,
                                  example_inputs=example_inputs, mode=mode)
    _layer_only(input_size=input_size, example_inputs=example_inputs)
    spec = check_spec(spec)
    if not isinstance(shifts, (list, tuple)) or not shifts:
        raise SymtoeError(f"shifts must be a non-empty list of shifts, but got {shifts!r}")
    mode = normalize_mode(mode)
    shifts = [normalize_shift(t, spec.rank, f"shifts[{i}]") for i, t in enumerate(shifts)]
    check_work(len(shifts) * math.prod(spec.output_size), "the boundary map",
                 "ask for fewer shifts or a smaller input_size")
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
        raise SymtoeError(
            "spec must be a forward layer with padding_mode='zeros' for the closed "
            f"form, but got transposed={spec.transposed}, padding_mode={spec.padding_mode!r}"
        )
    shift = normalize_shift(shift, spec.rank)
    out = matching_output_shift(spec, shift)
    if out is None:
        raise SymtoeError(
            f"shift must be a multiple of the stride {spec.stride}, but got {shift}"
        )
    check_work(8 * math.prod(spec.output_size), f"the exactness map of {spec}",
                 "a smaller input_size")
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
