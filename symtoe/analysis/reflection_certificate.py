"""Exact reflection certificates: where ``T_w J = J T_flip(w)`` holds.

``J`` reverses spatial axes (``torch.flip``); ``flip(w)`` reverses the
kernel along them.  A reflection is one element of the grid's symmetry group
(the diagonal signed permutation with ``-1`` on the reflected axes), so the
certificate is :func:`symtoe.analysis.symmetry.check_symmetry`'s: exact, on
the integer pattern, for every kernel at once.
"""

from __future__ import annotations

import numpy as np

from ..core.spec import ConvSpec, check_spec
from .commutator import check_certificate, spatial
from .shifts import normalize_axes
from .symmetry import SymmetryCheck, check_symmetry

__all__ = ["ReflectionCheck", "check_reflection"]


class ReflectionCheck(SymmetryCheck):
    """The exact certificate of ``T_w J_in = J_out T_flip(w)`` (see
    :func:`check_reflection`): a :class:`~symtoe.analysis.symmetry.SymmetryCheck`
    of the reflection, with its axes.

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

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(np.flatnonzero(np.diag(self.matrix) < 0).tolist())

    @property
    def law(self) -> str:
        return "T_w J = J T_flip(w)"

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
    need ``output_padding = 0``.  The check is
    :func:`~symtoe.analysis.symmetry.check_symmetry` of the reflection.

    >>> check_reflection(ConvSpec(1, 1, 3, input_size=6, padding=1)).holds
    True
    >>> bad = check_reflection(ConvSpec(1, 1, 3, input_size=6, padding=1, stride=2))
    >>> bad.holds, bad.offset
    (False, (1,))

    Numerically: ``F.conv2d(x.flip(dims), w) == F.conv2d(x, w.flip(dims)).flip(dims)``.
    """
    spec = check_spec(spec)
    axes = normalize_axes(axes, spec.rank)
    check_certificate(spatial(spec), "the reflection certificate")
    matrix = np.diag([-1 if a in axes else 1 for a in range(spec.rank)])
    check = check_symmetry(spec, matrix)
    return ReflectionCheck(check.spec, check.matrix, check.exact, check.offset, (), check._terms)
