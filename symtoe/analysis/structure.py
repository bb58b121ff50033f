"""Structure of a matrix: Toeplitz, circulant, (multilevel) block Toeplitz,
recovering the convolution behind a matrix, and exact circulant eigenvalues.

This module gathers the names of its parts, one concern each:

* :mod:`symtoe.analysis.toeplitz`: :func:`is_toeplitz`, :func:`is_circulant`,
  :func:`is_block_toeplitz`, :func:`toeplitz_levels` on sympy, torch or numpy
  matrices;
* :mod:`symtoe.analysis.recovery`: :func:`recover_convolution`, the layer
  (spec and kernel) behind a matrix, or why there is none;
* :mod:`symtoe.analysis.circulant`: :func:`circulant_eigenvalues`, exact.
"""

from .circulant import circulant_eigenvalues
from .recovery import Recovery, recover_convolution
from .toeplitz import (
    ToeplitzLevels,
    is_block_toeplitz,
    is_circulant,
    is_toeplitz,
    toeplitz_levels,
)

__all__ = [
    "Recovery",
    "ToeplitzLevels",
    "circulant_eigenvalues",
    "is_block_toeplitz",
    "is_circulant",
    "is_toeplitz",
    "recover_convolution",
    "toeplitz_levels",
]
