"""Exact reflection certificates: where ``T_w J = J T_flip(w)`` holds.

``J`` reverses spatial axes (``torch.flip``); ``flip(w)`` reverses the
kernel along them.  The check is the commutator certificate of
:mod:`symtoe.analysis.commutator` with weight ``p`` renamed ``flip(p)`` on the
right-hand side: exact, on the integer pattern, for every kernel at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.spec import ConvSpec, check_spec
from .commutator import as_position, check_certificate, describe_terms, exact_rows, fmt, spatial
from .shifts import normalize_axes, reflection_indices

__all__ = ["ReflectionCheck", "check_reflection"]


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
                n, k, s, _, d, _ = spec.axes()[a]
                rem = _unread(spec, a)
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
        position = as_position(position, self.spec.output_size)
        if self.exact[position]:
            return f"output ({fmt(position)}) is exact: " + self.reason
        row = int(np.ravel_multi_index(position, self.spec.output_size))
        lines = [f"output ({fmt(position)}) is not exact: " + self.reason]
        lines += describe_terms(self._terms, self.spec, row, "T_w J", "J T_flip(w)")
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
    small = spatial(spec)
    check_certificate(small, "the reflection certificate")
    ks = spec.kernel_size
    taps = np.indices(ks).reshape(len(ks), -1)
    flipped = np.array([k - 1 - taps[a] if a in axes else taps[a] for a, k in enumerate(ks)])
    p_map = np.ravel_multi_index(tuple(flipped), ks)
    exact, terms = exact_rows(
        small,
        reflection_indices(small.input_size, axes),
        reflection_indices(small.output_size, axes),
        p_map,
    )
    offsets = [
        spec.output_padding[a] if spec.transposed
        else _unread(spec, a) + spec.padding[a][0] - spec.padding[a][1]
        for a in axes
    ]
    return ReflectionCheck(spec, axes, exact, tuple(offsets), terms)


def _unread(spec: ConvSpec, axis: int) -> int:
    """``a = (n + p_left + p_right - d(k-1) - 1) mod s``: input positions at the
    right edge that no output reads (what the last stride step leaves over)."""
    n, k, s, (pl, pr), d, _ = spec.axes()[axis]
    return n + pl + pr - d * (k - 1) - 1 - (spec.output_size[axis] - 1) * s
