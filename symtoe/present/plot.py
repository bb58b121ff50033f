"""Pictures of a layer's matrix (matplotlib is imported here only).

Every function draws on ``ax`` (a new figure when ``None``) and returns the
Figure:

* :func:`plot_sharing`: each weight its own colour, symbol names in the
  cells of small matrices, channel-block (thick) and spatial-block lines;
* :func:`plot_sparsity`: nonzero density of a large matrix, binned from the
  pattern (no dense matrix is built);
* :func:`plot_coverage`: how many taps meet each input position;
* :func:`plot_boundary_map`: the outputs where a shift commutes exactly;
* :func:`plot_receptive_field`: the inputs one output of a stack reads, with
  the closed-form field of Araujo et al. (Distill 2019) outlined.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..core.pattern import sharing_pattern
from ..core.spec import ConvSpec, check_spec
from ..network.receptive import column_coverage, reachable_inputs, receptive_field

__all__ = [
    "plot_sharing",
    "plot_sparsity",
    "plot_coverage",
    "plot_boundary_map",
    "plot_receptive_field",
]

#: Largest matrix (rows * cols) drawn cell by cell by :func:`plot_sharing`.
MAX_SHARING_CELLS = 250_000
#: Largest matrix that gets symbol names in its cells.
MAX_LABELLED_CELLS = 900
#: Most nonzeros :func:`plot_sparsity` bins.
MAX_SPARSITY_NONZEROS = 50_000_000


def _axes(ax, size):
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return ax.figure, ax



def _palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours (tab10 / tab20 families, then an hsv sweep)."""
    base = [to_rgb(c) for name in ("tab10", "Dark2", "Set2", "tab20b", "tab20c")
            for c in plt.get_cmap(name).colors]
    if n <= len(base):
        return np.array(base[:n])
    hsv = plt.get_cmap("hsv")(np.linspace(0, 1, n, endpoint=False))[:, :3]
    return hsv


def _block_lines(ax, spec: ConvSpec, n_rows: int, n_cols: int) -> None:
    """Thick lines between channel blocks, thin between outermost spatial blocks."""
    for size, channels, extent, draw in (
        (spec.output_size, spec.out_channels, n_rows, ax.hlines),
        (spec.input_size, spec.in_channels, n_cols, ax.vlines),
    ):
        other = n_cols if draw is ax.hlines else n_rows
        block = math.prod(size)
        if spec.rank > 1:
            inner = math.prod(size[1:])
            lines = np.arange(inner, extent, inner)
            lines = lines[lines % block != 0]
            draw(lines - 0.5, -0.5, other - 0.5, colors="0.45", linewidths=0.8)
        if channels > 1:
            draw(np.arange(block, extent, block) - 0.5, -0.5, other - 0.5,
                 colors="black", linewidths=2.2)


def _symbol(index, skip: int) -> str:
    return "$w_{" + ",".join(map(str, index[skip:])) + "}$"


def plot_sharing(spec: ConvSpec, *, ax=None, labels="auto", blocks: bool = True):
    """The matrix with each weight in its own colour (white = structural zero).

    Parameters
    ----------
    spec : ConvSpec
    ax : matplotlib Axes, optional
    labels : bool or "auto"
        Write each entry's weights (``w_{o,i,r,s}``, sums where taps fold) in
        its cell; "auto" does so up to :data:`MAX_LABELLED_CELLS` cells.
        Without labels a legend names the weights' colours (up to 24).
    blocks : bool
        Draw channel-block (thick) and outer spatial-block (thin) lines.

    Entries where several taps fold onto one cell (reflect / replicate /
    circular padding) take the first tap's colour and a white ``+``.

    >>> fig = plot_sharing(ConvSpec(1, 1, 3, input_size=5))  # doctest: +SKIP
    """
    check_spec(spec)
    n_rows, n_cols = spec.matrix_shape
    if n_rows * n_cols > MAX_SHARING_CELLS:
        raise ValueError(
            f"spec must have at most {MAX_SHARING_CELLS} matrix cells for plot_sharing, but "
            f"its matrix is {n_rows} x {n_cols}; use plot_sparsity"
        )
    rows, cols, p = sharing_pattern(spec).triples()
    n_weights = math.prod(spec.weight_shape)
    colours = _palette(n_weights)
    image = np.ones((n_rows, n_cols, 3))
    first = np.ones(len(p), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    image[rows[first], cols[first]] = colours[p[first]]
    folded = np.zeros((n_rows, n_cols), dtype=bool)
    folded[rows[~first], cols[~first]] = True

    show_labels = (n_rows * n_cols <= MAX_LABELLED_CELLS) if labels == "auto" else bool(labels)
    wide = len(spec.weight_shape) - (2 if spec.weight_shape[:2] == (1, 1) else 0) > 2
    cell = (0.7 if wide else 0.55) if show_labels else min(0.25, 9 / max(n_rows, n_cols))
    fig, ax = _axes(ax, (max(4.8, 1.6 + cell * n_cols), max(3.4, 1.0 + cell * n_rows)))
    ax.imshow(image, interpolation="nearest")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if n_rows * n_cols <= 10_000:  # light grid between cells
        ax.set_xticks(np.arange(-0.5, n_cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, n_rows, 1), minor=True)
        ax.grid(which="minor", color="0.88", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    if folded.any() and not show_labels:  # labels show folds as sums
        fr, fc = np.nonzero(folded)
        ax.scatter(fc, fr, marker="+", color="white", s=30, linewidths=1.2)
    shape = spec.weight_shape
    skip = 2 if shape[:2] == (1, 1) else 0
    index = np.stack(np.unravel_index(np.arange(n_weights), shape), axis=1).tolist()
    if show_labels:
        text = {}
        # a loop over entries, but only for small (labelled) matrices
        for r, c, q in zip(rows.tolist(), cols.tolist(), p.tolist(), strict=True):
            symbol = _symbol(index[q], skip)
            text[(r, c)] = symbol if (r, c) not in text else text[(r, c)][:-1] + "+" + symbol[1:]
        size = {1: 10, 2: 9, 3: 8}.get(len(index[0]) - skip, 7)
        lum = image @ np.array([0.299, 0.587, 0.114])
        for (r, c), label in text.items():
            ax.text(c, r, label, ha="center", va="center",
                    fontsize=size - 2 if folded[r, c] else size,
                    color="white" if lum[r, c] < 0.45 else "black")
    elif n_weights <= 24:
        handles = [Patch(color=colours[q], label=_symbol(index[q], skip))
                   for q in range(n_weights)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1),
                  fontsize=8, frameon=False, ncols=1 + n_weights // 13)
    if blocks:
        _block_lines(ax, spec, n_rows, n_cols)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlabel("column = (input channel, input position)")
    ax.set_ylabel("row = (output channel, output position)")
    ax.set_title(f"weight sharing: {n_weights} weights fill {len(p)} taps "
                 f"of a {n_rows} x {n_cols} matrix", fontsize=10)
    return fig


def plot_sparsity(spec: ConvSpec, *, ax=None, bins: int = 400, blocks: bool = True):
    """Nonzero density of a (large) layer matrix, binned to at most
    ``bins x bins`` pixels from the pattern's indices (no dense matrix).

    >>> fig = plot_sparsity(ConvSpec(3, 8, 3, input_size=(32, 32)))  # doctest: +SKIP
    """
    check_spec(spec)
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, but got {bins!r}")
    pattern = sharing_pattern(spec)
    if pattern.nnz > MAX_SPARSITY_NONZEROS:
        raise ValueError(
            f"spec must have at most {MAX_SPARSITY_NONZEROS} nonzeros for plot_sparsity, "
            f"but has {pattern.nnz}; use a smaller input_size or fewer channels"
        )
    n_rows, n_cols = spec.matrix_shape
    rb, cb = math.ceil(n_rows / min(bins, n_rows)), math.ceil(n_cols / min(bins, n_cols))
    h, w = math.ceil(n_rows / rb), math.ceil(n_cols / cb)
    flat = (pattern.row_indices() // rb) * w + pattern.col_indices() // cb
    counts = np.bincount(flat.ravel(), minlength=h * w).reshape(h, w)
    area = np.outer(np.minimum(rb, n_rows - rb * np.arange(h)),
                    np.minimum(cb, n_cols - cb * np.arange(w)))
    density = np.ma.masked_equal(counts / area, 0)
    aspect = n_rows / n_cols
    fig, ax = _axes(ax, (6.4, float(np.clip(5.0 * aspect, 2.5, 6.5)) + 0.6))
    cmap = plt.get_cmap("viridis").copy()
    image = ax.imshow(density, cmap=cmap, interpolation="nearest",
                      extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5),
                      aspect="equal" if 0.5 < aspect < 2 else "auto", vmin=0)
    fig.colorbar(image, ax=ax, label="fraction of nonzero entries", shrink=0.85)
    if blocks and (spec.in_channels > 1 or spec.out_channels > 1):
        for extent, block, draw, other in (
            (n_rows, math.prod(spec.output_size), ax.hlines, n_cols),
            (n_cols, math.prod(spec.input_size), ax.vlines, n_rows),
        ):
            if extent // block <= 64:
                draw(np.arange(block, extent, block) - 0.5, -0.5, other - 0.5,
                     colors="0.6", linewidths=0.6)
    ax.set_xlabel("column = (input channel, input position)")
    ax.set_ylabel("row = (output channel, output position)")
    ax.set_title(f"{n_rows:,} x {n_cols:,} matrix, {pattern.nnz:,} nonzeros "
                 f"({pattern.nnz / (n_rows * n_cols):.2%})", fontsize=10)
    return fig


def _grid_image(ax, values, cmap, *, vmin=None, vmax=None, annotate=True, fmt="{:d}"):
    """Draw a 1-D or 2-D array as cells (1-D as a strip)."""
    values = np.atleast_2d(values)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="equal")
    h, w = values.shape
    if annotate and h * w <= 400:
        norm = image.norm
        rgb = image.cmap(norm(values))[..., :3] @ np.array([0.299, 0.587, 0.114])
        for (r, c), v in np.ndenumerate(values):  # at most 400 cells
            ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if rgb[r, c] < 0.5 else "black")
    return image



def _cell_lines(ax, h: int, w: int, linewidth: float) -> None:
    """White lines between the cells of an ``h x w`` grid (small grids only)."""
    if h * w <= 10_000:
        ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=linewidth)
        ax.tick_params(which="minor", length=0)

def _slice(values, what: str):
    """A 3-D array's middle slice along its first axis (with a note)."""
    if values.ndim == 3:
        middle = values.shape[0] // 2
        return values[middle], f"{what} (slice {middle} of axis 0)"
    return values, what


def plot_coverage(spec: ConvSpec, *, ax=None):
    """Column coverage: how many taps meet each input position (one channel pair).

    See :func:`symtoe.network.receptive.column_coverage`; 1-D as bars, 2-D as a
    heat map, 3-D its middle slice.

    >>> fig = plot_coverage(ConvSpec(1, 1, 3, input_size=(6, 6)))  # doctest: +SKIP
    """
    check_spec(spec)
    coverage = column_coverage(spec)
    taps = math.prod(spec.kernel_size)
    if spec.rank == 1:
        n = len(coverage)
        fig, ax = _axes(ax, (min(10.0, 2.0 + 0.35 * n), 2.8))
        ax.bar(np.arange(n), coverage, color="#4c72b0", width=0.8)
        ax.axhline(taps, color="0.4", linestyle="--", linewidth=1)
        ax.text(n - 0.5, taps, f"kernel taps = {taps}", ha="right", va="bottom", fontsize=8)
        ax.set_xlabel("input position")
        ax.set_ylabel("taps meeting it")
        ax.set_ylim(0, max(taps, coverage.max()) * 1.18)
        if n <= 40:
            ax.set_xticks(np.arange(n))
        title = "column coverage"
    else:
        values, title = _slice(coverage, "column coverage")
        h, w = values.shape
        fig, ax = _axes(ax, (min(9.0, 2.2 + 0.42 * w), min(8.0, 1.0 + 0.42 * h)))
        image = _grid_image(ax, values, "viridis", vmin=0, vmax=max(taps, values.max()))
        fig.colorbar(image, ax=ax, label="taps meeting the input", shrink=0.85)
        ax.set_xlabel("input position (last axis)")
        ax.set_ylabel("input position")
    pad = "/".join(sorted({f"{a},{b}" for a, b in spec.padding}))
    ax.set_title(f"{title}: kernel {spec.kernel_size}, stride {spec.stride}, "
                 f"padding {pad} ({spec.padding_mode})", fontsize=9)
    return fig


def plot_boundary_map(spec_or_exact, shift=None, *, mode: str = "zero", ax=None):
    """Which outputs commute exactly with a shift: green exact, red not.

    Parameters
    ----------
    spec_or_exact : ConvSpec, result of ``check_shift``, or bool array
        A spec is checked with ``symtoe.analysis.equivariance.check_shift(spec, shift,
        mode)``; a result's ``exact`` map, or a plain boolean array of the
        output's spatial shape, is drawn as it is.
    shift : int or tuple of int
        Input shift (with a spec).
    mode : {"zero", "cyclic"}

    >>> fig = plot_boundary_map(np.array([False, True, True, False]))  # doctest: +SKIP
    """
    title = "exactness map"
    if isinstance(spec_or_exact, ConvSpec):
        if shift is None:
            raise ValueError("shift must be given with a ConvSpec, but got None")
        from ..analysis.equivariance import check_shift

        result = check_shift(spec_or_exact, shift, mode=mode)
        exact = np.asarray(result.exact, dtype=bool)
        title = f"shift {shift} ({mode}): exact outputs"
    elif hasattr(spec_or_exact, "exact"):
        exact = np.asarray(spec_or_exact.exact, dtype=bool)
    else:
        exact = np.asarray(spec_or_exact)
        if exact.dtype != bool:
            raise ValueError(
                "spec_or_exact must be a ConvSpec, a check_shift result or a bool array, "
                f"but got an array of {exact.dtype}"
            )
    if exact.ndim not in (1, 2, 3) or exact.size == 0:
        raise ValueError(f"the exactness map must be 1-D to 3-D, but got shape {exact.shape}")
    values, title = _slice(exact, title)
    values = np.atleast_2d(values).astype(int)
    h, w = values.shape
    fig, ax = _axes(ax, (min(9.0, 1.8 + 0.4 * w), min(7.5, 1.6 + 0.4 * h)))
    cmap = ListedColormap(["#d6604d", "#7fbf7b"])
    _grid_image(ax, values, cmap, vmin=0, vmax=1, annotate=False)
    _cell_lines(ax, h, w, 0.8)
    if exact.ndim == 1:
        ax.set_yticks([])
    n_exact = int(exact.sum())
    ax.legend(handles=[Patch(color="#7fbf7b", label=f"exact ({n_exact})"),
                       Patch(color="#d6604d", label=f"not exact ({exact.size - n_exact})")],
              loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    ax.set_xlabel("output position" + (" (last axis)" if exact.ndim > 1 else ""))
    ax.set_title(title, fontsize=10)
    return fig


def plot_receptive_field(specs, position=None, *, ax=None):
    """The inputs that one output of a chain of layers reads.

    Filled cells: the exact set, composed from the layers' sharing patterns
    (:func:`symtoe.network.receptive.reachable_inputs`).  Dashed box: the closed-form
    field ``[i*S - P, i*S - P + r)`` of :func:`symtoe.network.receptive.receptive_field`,
    which may reach into the padding beyond the input (grey frame).

    Parameters
    ----------
    specs : ConvSpec or list of ConvSpecs
        A chain of 1-D or 2-D layers (torch layers: :func:`symtoe.network.receptive.layer_specs`).
    position : int or tuple of int, optional
        The output unit; default the centre of the last output.

    >>> fig = plot_receptive_field([ConvSpec(1, 1, 3, input_size=(9, 9))] * 1)  # doctest: +SKIP
    """
    specs = [specs] if isinstance(specs, ConvSpec) else list(specs)
    if not specs or not all(isinstance(s, ConvSpec) for s in specs):
        raise ValueError(f"specs must be a ConvSpec or a list of ConvSpecs, but got {specs!r}")
    rank = specs[0].rank
    if rank > 2:
        raise ValueError(f"specs must be 1-D or 2-D to draw, but got {rank}-D")
    last = specs[-1].output_size
    if position is None:
        position = tuple(n // 2 for n in last)
    position = (position,) if isinstance(position, (int, np.integer)) else tuple(position)
    mask = reachable_inputs(specs, position)
    field = receptive_field(specs)
    region = field.region(position)
    values = np.atleast_2d(mask).astype(int)
    h, w = values.shape
    region2 = region if rank == 2 else ((0, 1), *region)
    lo_r, hi_r = min(0, region2[0][0]), max(h, region2[0][1])
    lo_c, hi_c = min(0, region2[1][0]), max(w, region2[1][1])
    fig, ax = _axes(ax, (min(9.0, 2.0 + 0.32 * (hi_c - lo_c)),
                         min(8.0, 1.6 + 0.32 * (hi_r - lo_r))))
    cmap = ListedColormap(["#f2f2f2", "#3b75af"])
    _grid_image(ax, values, cmap, vmin=0, vmax=1, annotate=False)
    _cell_lines(ax, h, w, 0.6)
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="0.5", linewidth=1))
    (r0, r1), (c0, c1) = region2
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                           edgecolor="#d62728", linestyle="--", linewidth=1.8))
    ax.set_xlim(lo_c - 1, hi_c)
    ax.set_ylim(hi_r, lo_r - 1)
    if rank == 1:
        ax.set_yticks([])
    ax.legend(handles=[Patch(color="#3b75af", label=f"inputs read ({int(mask.sum())})"),
                       Patch(fill=False, edgecolor="#d62728", linestyle="--",
                             label="closed-form field")],
              loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    ax.set_xlabel("input position" + (" (last axis)" if rank == 2 else ""))
    layers = f"{len(specs)} layer" + ("s" if len(specs) > 1 else "")
    ax.set_title(f"receptive field of output {position} ({layers})\n"
                 f"size {field.size}, stride {field.stride}, padding {field.padding}",
                 fontsize=9)
    return fig
