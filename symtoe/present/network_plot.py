"""Pictures of a whole network's certificates (matplotlib is imported here only).

:func:`plot_network_boundary_map` draws, layer after layer, the positions of
each feature map that commute exactly with a shift (or a rotation): one
small panel per map, green exact and red not, a vector's single cell after
global pooling (invariant or not).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .plot import _slice

__all__ = ["plot_network_boundary_map"]

EXACT, NOT_EXACT = "#7fbf7b", "#d6604d"


def _maps(maps) -> dict[str, np.ndarray]:
    if hasattr(maps, "exact_maps"):  # a NetworkShiftCheck or ModelSymmetryCheck
        maps = {k: v for k, v in maps.exact_maps.items() if k != "input"}
    if not isinstance(maps, dict) or not maps:
        raise ValueError(
            "maps must be a non-empty dict of feature-map name -> bool array "
            f"(model_boundary_map) or a certificate with exact_maps, but got {type(maps).__name__}"
        )
    out = {}
    for name, exact in maps.items():
        exact = np.asarray(exact)
        if exact.dtype != bool or exact.ndim > 3:
            raise ValueError(f"maps[{name!r}] must be a bool array of 0 to 3 axes, but got "
                             f"{exact.dtype} of shape {exact.shape}")
        out[str(name)] = exact
    return out


def plot_network_boundary_map(maps, *, names=None, columns: int | None = None,
                              title: str | None = None):
    """The exact positions of a network's feature maps, one panel per map.

    Parameters
    ----------
    maps : dict or certificate
        Feature-map name -> bool array, in layer order
        (:func:`~symtoe.network.model_certificate.model_boundary_map`), or a
        certificate's ``exact_maps`` (the input left out).
    names : list of str, optional
        The maps to draw, in this order (default: all).
    columns : int, optional
        Panels per row (default: up to 6).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A 3-D map is drawn as its middle slice along axis 0; a vector (shape
        ``()``, after global pooling) as one cell, "invariant" or not.

    >>> fig = plot_network_boundary_map({"conv": np.array([[False, True], [True, True]]),
    ...                                  "pool": np.array(True)})
    """
    maps = _maps(maps)
    if names is not None:
        missing = [n for n in names if n not in maps]
        if missing:
            raise ValueError(f"names must be maps of the network, but got {missing!r}")
        maps = {n: maps[n] for n in names}
    count = len(maps)
    if columns is None:
        columns = min(count, 6)
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, but got {columns!r}")
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.3 * rows + 0.6),
                             layout="constrained", squeeze=False)
    cmap = ListedColormap([NOT_EXACT, EXACT])
    for ax, (name, exact) in zip(axes.ravel(), maps.items()):
        values, label = _slice(exact, name)
        n_exact, size = int(exact.sum()), exact.size
        if exact.ndim == 0:
            ax.imshow(np.array([[int(exact)]]), cmap=cmap, vmin=0, vmax=1)
            ax.text(0, 0, "invariant" if exact else "not\ninvariant", ha="center",
                    va="center", fontsize=8)
            shape = "vector"
        else:
            values = np.atleast_2d(values).astype(int)
            ax.imshow(values, cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
                      aspect="equal" if exact.ndim > 1 else "auto")
            if exact.ndim == 1:  # a strip
                ax.set_box_aspect(0.12)
            shape = " x ".join(map(str, exact.shape))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}\n{shape}: {n_exact}/{size} exact", fontsize=7)
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    fig.legend(handles=[Patch(color=EXACT, label="exact"), Patch(color=NOT_EXACT,
                                                                 label="not exact")],
               loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
