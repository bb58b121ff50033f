"""Equivariance of a layer: exact certificates and numeric checks.

**The law.**  A layer ``T`` commutes with a shift when ``T S_in = S_out T``,
where ``S_in = S_t`` shifts the input by ``t`` (``(S_t x)[m] = x[m - t]``,
see :mod:`symtoe.analysis.shifts`) and ``S_out`` shifts the output by
``u = t / s`` (stride ``s``; ``u = t * s`` for a transposed layer); it
commutes with a reflection ``J`` when ``T_w J = J T_flip(w)``.  Output
position ``r`` is **exact** when row ``r`` of the commutator is zero *for
every kernel* (a row that is zero on both sides is exact too).

This module gathers the names of its parts, one concern each:

* :mod:`symtoe.analysis.commutator`: the certificate itself, an exact
  comparison of two relabellings of the integer sharing pattern;
* :mod:`symtoe.analysis.shift_certificate`: :func:`check_shift`,
  :func:`boundary_map`, :func:`matching_output_shift` and the closed form
  :func:`zero_padding_interior`;
* :mod:`symtoe.analysis.reflection_certificate`: :func:`check_reflection`;
* :mod:`symtoe.analysis.numeric_equivariance`: :func:`equivariance_error`
  and :func:`reflection_error` for any torch callable.
"""

from .numeric_equivariance import NumericEquivariance, equivariance_error, reflection_error
from .reflection_certificate import ReflectionCheck, check_reflection
from .shift_certificate import (
    ShiftCheck,
    boundary_map,
    check_shift,
    matching_output_shift,
    zero_padding_interior,
)

__all__ = [
    "NumericEquivariance",
    "ReflectionCheck",
    "ShiftCheck",
    "boundary_map",
    "check_reflection",
    "check_shift",
    "equivariance_error",
    "matching_output_shift",
    "reflection_error",
    "zero_padding_interior",
]
