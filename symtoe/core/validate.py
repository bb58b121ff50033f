"""One set of argument checks, and the errors they raise.

Every public function of symtoe checks its arguments with these helpers once,
at its boundary, so that the same rule gives the same words everywhere:
``<argument> must <rule>, but got <value>``.

* :class:`SymtoeError` (a ``ValueError``): a value symtoe refuses.
* :class:`SymtoeTypeError` (a ``SymtoeError`` and a ``TypeError``): a value of
  the wrong type.  Being both, it is caught by ``except ValueError`` (as
  symtoe's errors always were) and by ``except TypeError``.
* :class:`SizeLimitError` (a ``SymtoeError``): a request whose closed-form
  size is over a limit (:mod:`symtoe.core.limits`); its message states the
  cost and what to use instead.

Integers accept Python and numpy integers and refuse booleans; booleans are
``True`` / ``False`` (or numpy booleans), never 0 / 1.

>>> integer(np.int64(3), "stride", minimum=1)
3
>>> integer(True, "stride")
Traceback (most recent call last):
...
symtoe.core.validate.SymtoeTypeError: stride must be an integer, but got True
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = [
    "is_model",
    "MAX_INDEX",
    "SizeLimitError",
    "SymtoeError",
    "SymtoeTypeError",
    "boolean",
    "choice",
    "function",
    "integer",
    "is_int",
    "name_string",
    "real",
]

#: Sizes, strides, shifts and indices must stay below this so that numpy's
#: int64 index arithmetic (products of two of them included) cannot overflow.
MAX_INDEX = 2**62


class SymtoeError(ValueError):
    """An argument symtoe refuses: the message names it, the rule and the value."""


class SymtoeTypeError(SymtoeError, TypeError):
    """An argument of the wrong type (also a ``ValueError``, as symtoe's errors are)."""


class SizeLimitError(SymtoeError):
    """A request over a size limit, refused before anything is allocated."""


def is_model(value) -> bool:
    """Whether ``value`` is a torch model (or its trace / certificate graph):
    the analyses that take a layer dispatch such a value to ``symtoe.network``.
    Duck-typed, so core imports no torch."""
    return hasattr(value, "named_modules") or type(value).__name__ in ("ModelTrace", "ModelGraph")


def is_int(value) -> bool:
    """An integer (Python or numpy), but not a bool."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``: a Python or numpy integer (not a bool) in range."""
    if not is_int(value):
        raise SymtoeTypeError(f"{name} must be an integer, but got {_show(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        rule = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        raise SymtoeError(f"{name} must be {rule}, but got {value}")
    if maximum is not None and value > maximum:
        raise SymtoeError(f"{name} must be at most {maximum}, but got {value}")
    return value


def boolean(value, name: str) -> bool:
    """``value`` as a ``bool``: ``True`` or ``False`` (numpy booleans too), not 0 / 1."""
    if not isinstance(value, (bool, np.bool_)):
        raise SymtoeTypeError(f"{name} must be True or False, but got {_show(value)}")
    return bool(value)


def name_string(value, name: str = "name") -> str:
    """A symbol name: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise SymtoeTypeError(f"{name} must be a non-empty string, but got {_show(value)}")
    return value


def function(value, name: str):
    """A callable (a function, a module, a lambda)."""
    if not callable(value):
        raise SymtoeTypeError(f"{name} must be callable, but got {type(value).__name__}")
    return value


def choice(value, name: str, options: tuple):
    """One of ``options`` (compared with ``==``, so a string or a hashable)."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and value in options
    except (TypeError, ValueError):  # unhashable, or an array
        ok = False
    if not ok:
        raise SymtoeError(f"{name} must be one of {options}, but got {_show(value)}")
    return value


def real(value, name: str, *, minimum: float | None = None) -> float:
    """A finite real number (Python or numpy, not a bool), at least ``minimum``."""
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        raise SymtoeTypeError(f"{name} must be a real number, but got {_show(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise SymtoeError(f"{name} must be a finite number, but got {value!r}")
    if minimum is not None and number < minimum:
        rule = "a non-negative number" if minimum == 0 else f"a number >= {minimum}"
        raise SymtoeError(f"{name} must be {rule}, but got {value!r}")
    return number
