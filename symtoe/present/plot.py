"""Pictures of a layer's matrix (matplotlib is imported here only).

Every function draws on ``ax`` (a new figure when ``None``) and returns the
Figure:

* :func:`plot_sharing`: each weight its own colour (:func:`weight_colours`),
  the entries' sympy LaTeX in the cells of small matrices (folded sums
  stacked and sized to the cell), channel-block (thick) and spatial-block
  lines across the whole matrix;
* :func:`plot_sparsity`: nonzero density of a matrix of any size, counted
  exactly per bin from the per-axis patterns (nothing of the matrix's size
  is built);
* :func:`plot_coverage`: which taps meet each input position, in the weights'
  colours;
* :func:`plot_boundary_map`: the outputs where a shift commutes exactly;
* :func:`plot_receptive_field`: the inputs one output of a stack reads, with
  the closed-form field of Araujo et al. (Distill 2019) outlined.

A figure made here is grown until every text lies inside it (titles and
labels are never clipped); on an ``ax`` you pass, the figure is yours.
"""

from __future__ import annotations

import math
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
import sympy
from matplotlib.collections import PolyCollection
from matplotlib.colors import ListedColormap, hsv_to_rgb, to_rgb
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from matplotlib.patheffects import withStroke
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator

from ..core.counts import count_parameters
from ..core.pattern import axis_patterns, sharing_pattern
from ..core.spec import ConvSpec, check_spec
from ..core.symbolic import entry_values, weight_symbol
from ..network.receptive import reachable_inputs, receptive_field

__all__ = [
    "plot_sharing",
    "plot_sparsity",
    "plot_coverage",
    "plot_boundary_map",
    "plot_receptive_field",
    "weight_colours",
    "nonzero_counts",
    "tap_coverage",
]

#: Largest matrix (rows * cols) drawn cell by cell by :func:`plot_sharing`.
MAX_SHARING_CELLS = 250_000
#: Largest matrix that gets its entries written in its cells.
MAX_LABELLED_CELLS = 900
#: Font sizes (points) of cell labels: the largest, and the smallest a cell is
#: planned for (a folded sum is stacked over several lines to stay above it).
LABEL_SIZE, MIN_LABEL_SIZE = 9.0, 7.0


# ----------------------------------------------------------------- helpers
def _axes(ax, size):
    """``(figure, axes, own)``: a new constrained-layout figure when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        return fig, ax, True
    return ax.figure, ax, False


def _fit_figure(fig, own: bool) -> None:
    """Grow a figure made here until everything drawn (titles, labels, legends,
    colour bars) lies inside it; the constrained layout then re-places the axes."""
    if not own:
        return
    for _ in range(4):
        fig.draw_without_rendering()
        box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, drawn artists only
        w, h = fig.get_size_inches()
        over_x = max(-box.x0, 0) + max(box.x1 - w, 0)
        over_y = max(-box.y0, 0) + max(box.y1 - h, 0)
        if over_x < 0.01 and over_y < 0.01:
            return
        fig.set_size_inches(w + 2 * over_x + 0.1, h + 2 * over_y + 0.1)


def _palette(n: int) -> np.ndarray:
    """``n`` distinct RGB colours: the tab10 / Dark2 / Set2 / tab20 families, and
    beyond 66 hues stepped by the golden ratio (neighbouring weights far apart)
    at two saturations and values."""
    base = [to_rgb(c) for name in ("tab10", "Dark2", "Set2", "tab20b", "tab20c")
            for c in plt.get_cmap(name).colors]
    if n <= len(base):
        return np.array(base[:n]).reshape(n, 3)
    p = np.arange(n)
    hsv = np.stack([(p * 0.6180339887) % 1, 0.55 + 0.35 * (p % 2), 0.95 - 0.2 * (p // 2 % 2)], 1)
    return hsv_to_rgb(hsv)


def weight_colours(spec: ConvSpec) -> np.ndarray:
    """One RGB colour per weight, indexed like ``weight.flatten()``.

    :func:`plot_sharing`, :func:`plot_coverage` and
    :func:`symtoe.present.animate.animate` all colour weight ``p`` with
    ``weight_colours(spec)[p]``; the first ``prod(kernel_size)`` are the taps of
    the first channel pair.

    >>> weight_colours(ConvSpec(1, 1, 3, input_size=5)).shape
    (3, 3)
    """
    check_spec(spec)
    return _palette(math.prod(spec.weight_shape))


def _math(latex: str) -> str:
    return f"${latex}$"


def _luminance(rgb) -> np.ndarray:
    return np.asarray(rgb)[..., :3] @ np.array([0.299, 0.587, 0.114])


_FONT = FontProperties(size=10)


@lru_cache(maxsize=4096)
def _width(latex: str) -> float:
    """Width in points of ``$latex$`` at 10 pt."""
    return float(text_to_path.get_text_width_height_descent(_math(latex), _FONT, ismath=True)[0])


def _layouts(terms: list[str]):
    """The terms of a sum in 1, 2, ... lines (``a +`` / ``b``): yields
    ``(lines, width of the widest line at 10 pt in points)``."""
    for n_lines in range(1, len(terms) + 1):
        per = -(-len(terms) // n_lines)
        if n_lines > 1 and -(-len(terms) // (n_lines - 1)) == per:
            continue  # the same lines as one fewer
        lines = [" + ".join(terms[i : i + per]) for i in range(0, len(terms), per)]
        lines = [line + " +" for line in lines[:-1]] + lines[-1:]
        yield lines, max(map(_width, lines))


def _font(cell: tuple[float, float], n_lines: int, width: float) -> float:
    """Largest font (points, a multiple of 0.25: few distinct sizes keep
    matplotlib's mathtext cache warm) for ``n_lines`` lines ``width`` wide at
    10 pt in a cell ``(width, height)`` points."""
    return math.floor(4 * min(LABEL_SIZE, 8.6 * cell[0] / width, 0.66 * cell[1] / n_lines)) / 4


def _stack(terms: list[str], cell: tuple[float, float]) -> tuple[str, float]:
    r"""The label of a sum that fits a cell with the largest font:
    ``("$a +$\n$b$", fontsize)``."""
    lines, size = max(((lines, _font(cell, len(lines), w)) for lines, w in _layouts(terms)),
                      key=lambda pair: pair[1])
    return "\n".join(_math(line) for line in lines), size


def _cell_needed(terms: list[str], size: float) -> float:
    """The smallest square cell (points) that holds the sum at font ``size``."""
    return min(max(size * w / 8.6, size * len(lines) / 0.66) for lines, w in _layouts(terms))


# ----------------------------------------------------------------- sharing
def _block_lines(ax, spec: ConvSpec, n_rows: int, n_cols: int) -> None:
    """Thick lines between channel blocks, thin between outermost spatial
    blocks, each across the whole matrix."""
    for horizontal, size, channels, extent, other in (
        (True, spec.output_size, spec.out_channels, n_rows, n_cols),
        (False, spec.input_size, spec.in_channels, n_cols, n_rows),
    ):
        draw = ax.hlines if horizontal else ax.vlines
        block = math.prod(size)
        if spec.rank > 1:
            inner = math.prod(size[1:])
            lines = np.arange(inner, extent, inner)
            lines = lines[lines % block != 0]
            if len(lines):
                draw(lines - 0.5, -0.5, other - 0.5, colors="0.45", linewidths=0.8)
        if channels > 1:
            draw(np.arange(block, extent, block) - 0.5, -0.5, other - 0.5,
                 colors="black", linewidths=2.2)


def _fold_stripes(ax, rows, cols, p, first, colours) -> None:
    """Cells where several taps fold: one vertical stripe per tap, in its colour."""
    entry = np.cumsum(first) - 1
    multiplicity = np.bincount(entry)
    folded = multiplicity[entry] > 1
    if not folded.any():
        return
    r, c, q, e = rows[folded], cols[folded], p[folded], entry[folded]
    within = np.arange(len(e)) - np.searchsorted(e, e)  # position of the tap in its cell
    m = multiplicity[e]
    x0 = c - 0.5 + within / m
    x1 = x0 + 1 / m
    verts = np.stack([np.stack([x0, r - 0.5], 1), np.stack([x1, r - 0.5], 1),
                      np.stack([x1, r + 0.5], 1), np.stack([x0, r + 0.5], 1)], 1)
    ax.add_collection(PolyCollection(verts, facecolors=colours[q], edgecolors="none",
                                     zorder=1.5, label="folded taps"))


def _entry_terms(spec: ConvSpec, r, c) -> list[list[str]]:
    """The LaTeX of the terms of entries ``(r[a], c[a])``, in sympy's printed order."""
    return [[sympy.latex(t) for t in v.as_ordered_terms()] for v in entry_values(spec, r, c)]


def _cell_labels(ax, r, c, terms, colours) -> None:
    """Each entry's terms in its cell (sized by :func:`_fit_labels`)."""
    dark = _luminance(colours) < 0.45
    labels = []
    for i, j, parts, on_dark in zip(r.tolist(), c.tolist(), terms, dark.tolist(), strict=True):
        folded = len(parts) > 1
        text = ax.text(j, i, "", ha="center", va="center", linespacing=1.1,
                       color="white" if on_dark and not folded else "black",
                       path_effects=[withStroke(linewidth=1.8, foreground="white")]
                       if folded else None, in_layout=False)  # inside its cell
        labels.append((text, parts))
    ax._symtoe_cell_labels = labels


def _fit_labels(ax, *, laid_out: bool = False) -> None:
    """Size the cell labels of :func:`plot_sharing` to the cells as laid out now
    (call again after changing the figure's layout)."""
    labels = getattr(ax, "_symtoe_cell_labels", [])
    if not labels:
        return
    if not laid_out:
        ax.figure.draw_without_rendering()  # the layout fixes the cell size
    (x0, y0), (x1, y1) = ax.transData.transform([(0, 0), (1, 1)])
    cell = (abs(x1 - x0) * 72 / ax.figure.dpi, abs(y1 - y0) * 72 / ax.figure.dpi)
    for text, parts in labels:
        label, size = _stack(parts, cell)
        text.set_text(label)
        text.set_fontsize(size)


def plot_sharing(spec: ConvSpec, *, ax=None, labels="auto", blocks: bool = True):
    """The matrix with each weight in its own colour (white = structural zero).

    Parameters
    ----------
    spec : ConvSpec
    ax : matplotlib Axes, optional
    labels : bool or "auto"
        Write each entry (its sympy LaTeX, ``w_{o,i,r,s}``; folded sums
        stacked over lines sized to the cell) in its cell; "auto" does so up
        to :data:`MAX_LABELLED_CELLS` cells.  Without labels a legend names the
        weights' colours (up to 24).
    blocks : bool
        Draw channel-block (thick) and outer spatial-block (thin) lines.

    Colours are :func:`weight_colours`.  A cell where several taps fold
    (reflect / replicate / circular padding) is split into one stripe per
    tap; the image beneath holds the first tap's colour.

    >>> fig = plot_sharing(ConvSpec(1, 1, 3, input_size=5))
    >>> [t.get_text() for t in fig.axes[0].texts[:4]]
    ['$w_{0}$', '$w_{1}$', '$w_{2}$', '$w_{0}$']
    """
    check_spec(spec)
    n_rows, n_cols = spec.matrix_shape
    if n_rows * n_cols > MAX_SHARING_CELLS:
        raise ValueError(
            f"spec must have at most {MAX_SHARING_CELLS} matrix cells for plot_sharing, but "
            f"its matrix is {n_rows} x {n_cols}; use plot_sparsity"
        )
    if labels not in (True, False, "auto"):
        raise ValueError(f"labels must be True, False or 'auto', but got {labels!r}")
    if labels is True and n_rows * n_cols > 10 * MAX_LABELLED_CELLS:
        raise ValueError(
            f"labels=True needs a matrix of at most {10 * MAX_LABELLED_CELLS} cells, but it is "
            f"{n_rows} x {n_cols}; use labels='auto'"
        )
    rows, cols, p = sharing_pattern(spec).triples()
    n_weights = math.prod(spec.weight_shape)
    colours = weight_colours(spec)
    image = np.ones((n_rows, n_cols, 3))
    first = np.ones(len(p), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    image[rows[first], cols[first]] = colours[p[first]]

    show_labels = (n_rows * n_cols <= MAX_LABELLED_CELLS) if labels == "auto" else labels
    legend = not show_labels and n_weights <= 24
    if show_labels:  # cells that hold every entry at MIN_LABEL_SIZE or more
        r, c = rows[first], cols[first]
        terms = _entry_terms(spec, r, c)
        sums = {tuple(t) for t in terms}
        need = max(_cell_needed(t, LABEL_SIZE if len(t) == 1 else MIN_LABEL_SIZE) for t in sums)
        cell = min(1.2, max(0.42, need / 72))
    else:
        cell = min(0.25, 9 / max(n_rows, n_cols))
    size = (max(4.8, 1.4 + cell * n_cols + (1.2 if legend else 0)), max(3.0, 1.2 + cell * n_rows))
    fig, ax, own = _axes(ax, size)
    ax.imshow(image, interpolation="nearest")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if n_rows * n_cols <= 10_000:
        _cell_lines(ax, n_rows, n_cols, 0.5, "0.88")
    _fold_stripes(ax, rows, cols, p, first, colours)
    if legend:
        handles = [Patch(color=colours[q],
                         label=_math(sympy.latex(weight_symbol(
                             spec, np.unravel_index(q, spec.weight_shape)))))
                   for q in range(n_weights)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1),
                  fontsize=8, frameon=False, ncols=1 + n_weights // 13)
    if blocks:
        _block_lines(ax, spec, n_rows, n_cols)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlabel("column = (input channel, input position)" if spec.in_channels > 1
                  else "column = input position")
    ax.set_ylabel("row = (output channel,\noutput position)" if spec.out_channels > 1
                  else "row = output position")
    ax.set_title(f"weight sharing: {n_weights} weights fill {len(p)} taps\n"
                 f"of a {n_rows} x {n_cols} matrix", fontsize=10)
    _fit_figure(fig, own)
    if show_labels:
        _cell_labels(ax, r, c, terms, image[r, c])
        _fit_labels(ax, laid_out=own)  # _fit_figure laid out a figure made here
    return fig


# ---------------------------------------------------------------- sparsity
def _edges(total: int, block: int, bins: int) -> np.ndarray:
    """At most about ``bins`` bins over ``range(total)``, aligned with blocks of
    ``block`` indices (whole blocks per bin, or equal parts of each block)."""
    if total <= bins:
        return np.arange(total + 1)
    n_blocks = total // block
    if n_blocks >= bins:
        per = -(-n_blocks // bins)
        return np.append(np.arange(0, n_blocks, per) * block, total)
    parts = np.unique(np.round(np.linspace(0, block, bins // n_blocks + 1)).astype(np.int64))
    return np.append((np.arange(n_blocks)[:, None] * block + parts[:-1]).ravel(), total)


class _ChannelLevel:
    """The channel-pair level of the pattern: block ``(o, c)`` is present iff
    ``o`` and ``c`` are in the same group.  Each count is closed form."""

    def __init__(self, spec: ConvSpec):
        self.n_rows, self.n_cols = spec.out_channels, spec.in_channels
        self.cog = spec.out_channels // spec.groups
        self.cg = spec.in_channels // spec.groups
        self.nnz = self.n_rows * self.cg

    def present(self, a, b):
        return (a < self.n_rows) & (b < self.n_cols) & (a // self.cog == b // self.cg)

    def before_in_row(self, a, b):  # present (a, m) with m < b
        return np.where(a < self.n_rows, np.clip(b - (a // self.cog) * self.cg, 0, self.cg), 0)

    def before_in_col(self, a, b):  # present (r, b) with r < a
        return np.where(b < self.n_cols, np.clip(a - (b // self.cg) * self.cog, 0, self.cog), 0)

    def before(self, a, b):  # present (r, m) with r < a, m < b
        ga, ra = np.divmod(a, self.cog)
        gb, rb = np.divmod(b, self.cg)
        return (self.cog * self.cg * np.minimum(ga, gb) + (ga < gb) * ra * self.cg
                + (gb < ga) * rb * self.cog + (ga == gb) * ra * rb)


class _AxisLevel:
    """One spatial axis of the pattern: its ``O(n k)`` entries, counted by
    searches and a 2-D histogram at the requested indices."""

    def __init__(self, ap):
        self.ap = ap
        self.n_rows, self.n_cols = ap.n_rows, ap.n_cols
        rows = np.broadcast_to(np.arange(ap.n_rows)[:, None], ap.cols.shape)[ap.valid]
        self.rows, self.cols = rows, ap.cols[ap.valid]
        self.nnz = len(rows)
        self.col_keys = np.sort(self.cols * (ap.n_rows + 1) + rows)

    def _slots(self, a):
        a = np.asarray(a)
        inside = a < self.n_rows
        a = np.minimum(a, self.n_rows - 1)
        return self.ap.cols[a], self.ap.valid[a] & inside[..., None]

    def present(self, a, b):
        cols, valid = self._slots(a)
        return ((cols == np.asarray(b)[..., None]) & valid).any(-1)

    def before_in_row(self, a, b):
        cols, valid = self._slots(a)
        return ((cols < np.asarray(b)[..., None]) & valid).sum(-1)

    def before_in_col(self, a, b):
        key = b * (self.n_rows + 1)
        return np.searchsorted(self.col_keys, key + a) - np.searchsorted(self.col_keys, key)

    def before(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        ua, ia = np.unique(a, return_inverse=True)
        ub, ib = np.unique(b, return_inverse=True)
        # entry (r, m) counts for every requested (a, b) with a > r and b > m
        i, j = np.searchsorted(ua, self.rows, "right"), np.searchsorted(ub, self.cols, "right")
        hist = np.bincount(i * (len(ub) + 1) + j, minlength=(len(ua) + 1) * (len(ub) + 1))
        cum = hist.reshape(len(ua) + 1, len(ub) + 1).cumsum(0).cumsum(1)
        return cum[ia.reshape(a.shape), ib.reshape(b.shape)]


def _prefix(levels, rho, mu):
    """Nonzeros in rows ``< rho`` and columns ``< mu`` of the product of ``levels``
    (row and column indices are row-major over the levels' indices)."""
    if not levels:
        return (rho >= 1) & (mu >= 1)
    level, rest = levels[0], levels[1:]
    r_next = math.prod(lv.n_rows for lv in rest)
    c_next = math.prod(lv.n_cols for lv in rest)
    nnz_next = math.prod(lv.nnz for lv in rest)
    a, rho_rest = np.divmod(rho, r_next)  # a: (A, 1) or a scalar, b: (1, B) or a scalar
    b, mu_rest = np.divmod(mu, c_next)
    # whole rows / columns of this level before (a, b), then the partial ones
    return (level.before(a, b) * nnz_next
            + level.before_in_col(a, b) * _prefix(rest, np.int64(r_next), mu_rest)
            + level.before_in_row(a, b) * _prefix(rest, rho_rest, np.int64(c_next))
            + level.present(a, b) * _prefix(rest, rho_rest, mu_rest))


def nonzero_counts(spec: ConvSpec, row_edges, col_edges) -> np.ndarray:
    """Structural nonzeros of the layer's matrix in each bin
    ``rows[row_edges[i]:row_edges[i+1]] x cols[col_edges[j]:col_edges[j+1]]``.

    Exact and closed form: the nonzero count of a rectangle ``rows < r, cols < c``
    is a sum over the levels (channel pairs, then each spatial axis) of
    per-level counts, so the cost is ``O(len(row_edges) * len(col_edges) *
    kernel)`` per level whatever the size of the matrix.  The counts add up to
    ``count_parameters(spec).nonzeros``.

    >>> nonzero_counts(ConvSpec(1, 1, 3, input_size=5), [0, 1, 3], [0, 2, 5]).tolist()
    [[2, 1], [1, 5]]
    """
    check_spec(spec)
    n_rows, n_cols = spec.matrix_shape
    edges = []
    for name, e, n in (("row_edges", row_edges, n_rows), ("col_edges", col_edges, n_cols)):
        e = np.asarray(e)
        if (e.ndim != 1 or len(e) < 2 or e.dtype.kind not in "iu" or np.any(np.diff(e) < 0)
                or e[0] < 0 or e[-1] > n):
            raise ValueError(
                f"{name} must be increasing integers in [0, {n}], but got {np.asarray(e)!r}"
            )
        edges.append(e.astype(np.int64))
    levels = [_ChannelLevel(spec)] + [_AxisLevel(ap) for ap in axis_patterns(spec)]
    prefix = _prefix(levels, edges[0][:, None], edges[1][None, :])
    return np.diff(np.diff(prefix, axis=0), axis=1)


def plot_sparsity(spec: ConvSpec, *, ax=None, bins: int = 400, blocks: bool = True):
    """Nonzero density of a layer matrix of any size.

    The matrix is cut into at most about ``bins x bins`` bins aligned with the
    channel blocks (whole blocks per bin, or equal parts of each block); each
    bin's colour is its exact fraction of nonzero entries
    (:func:`nonzero_counts`: nothing of the matrix's size is built, so a
    512 -> 512 3x3 layer at 224 x 224 draws at once).  Channel-block lines
    (up to 64 per axis) and outer spatial-block lines (where they are at least
    3 bins apart) show the block structure.

    >>> fig = plot_sparsity(ConvSpec(3, 8, 3, input_size=(32, 32)))
    >>> fig.axes[0].images[0].get_array().shape
    (400, 399)
    """
    check_spec(spec)
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"bins must be a positive integer, but got {bins!r}")
    n_rows, n_cols = spec.matrix_shape
    out_block, in_block = math.prod(spec.output_size), math.prod(spec.input_size)
    row_edges = _edges(n_rows, out_block, bins)
    col_edges = _edges(n_cols, in_block, bins)
    counts = nonzero_counts(spec, row_edges, col_edges)
    density = np.ma.masked_equal(counts / np.outer(np.diff(row_edges), np.diff(col_edges)), 0)
    nnz = count_parameters(spec).nonzeros
    aspect = n_rows / n_cols
    fig, ax, own = _axes(ax, (6.4, float(np.clip(5.0 * aspect, 2.5, 6.5)) + 0.8))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    image = ax.pcolorfast(col_edges - 0.5, row_edges - 0.5, density, cmap=cmap, vmin=0)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_aspect("equal" if 0.5 < aspect < 2 else "auto")
    fig.colorbar(image, ax=ax, label="fraction of nonzero entries", shrink=0.85)
    for size, channels, edges, axis, draw, other, word, name in (
        (spec.output_size, spec.out_channels, row_edges, ax.yaxis, ax.hlines, n_cols, "row",
         "output"),
        (spec.input_size, spec.in_channels, col_edges, ax.xaxis, ax.vlines, n_rows, "column",
         "input"),
    ):
        block, inner = math.prod(size), math.prod(size[1:])
        bins_per_inner = (len(edges) - 1) * inner / (channels * block)
        if blocks and spec.rank > 1 and bins_per_inner >= 3 and channels * size[0] <= 32:
            lines = np.arange(inner, channels * block, inner)
            draw(lines[lines % block != 0] - 0.5, -0.5, other - 0.5, colors="0.75",
                 linewidths=0.5)
        if blocks and 1 < channels <= 64:
            draw(np.arange(block, channels * block, block) - 0.5, -0.5, other - 0.5,
                 colors="0.35", linewidths=0.8)
        if channels > 1:  # ticks at the first entry of channel blocks, labelled by channel
            ticks = MaxNLocator(nbins=6, integer=True).tick_values(0, channels - 1)
            ticks = ticks[(ticks >= 0) & (ticks < channels)].astype(int)
            axis.set_ticks(ticks * block - 0.5, [str(t) for t in ticks])
            axis.set_label_text(f"{word}: {name} channel (blocks of {block:,} {name} positions)")
        else:
            axis.set_major_formatter("{x:,.0f}")
            axis.set_label_text(f"{word} = {name} position")
    ax.set_title(f"{n_rows:,} x {n_cols:,} matrix\n{nnz:,} nonzeros "
                 f"({nnz / (n_rows * n_cols):.3g} of the entries)\n"
                 + (f"{spec.out_channels} x {spec.in_channels} channel blocks, "
                    if spec.in_channels * spec.out_channels > 1 else "")
                 + f"{len(row_edges) - 1} x {len(col_edges) - 1} bins", fontsize=9)
    _fit_figure(fig, own)
    return fig


# ----------------------------------------------------------------- coverage
def _grid_image(ax, values, cmap, *, vmin=None, vmax=None, annotate=True, fmt="{:d}"):
    """Draw a 1-D or 2-D array as cells (1-D as a strip)."""
    values = np.atleast_2d(values)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="equal")
    h, w = values.shape
    if annotate and h * w <= 400:
        lum = _luminance(image.cmap(image.norm(values)))
        for (r, c), v in np.ndenumerate(values):  # at most 400 cells
            ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if lum[r, c] < 0.5 else "black", in_layout=False)
    return image


def _cell_lines(ax, h: int, w: int, linewidth: float, color="white") -> None:
    """Lines between the cells of an ``h x w`` grid (small grids only), beneath
    everything else (one collection: cheaper to lay out than minor ticks)."""
    if h * w <= 10_000:
        ax.hlines(np.arange(0.5, h - 1), -0.5, w - 0.5, colors=color, linewidths=linewidth,
                  zorder=0.5, gid="cell-lines")
        ax.vlines(np.arange(0.5, w - 1), -0.5, h - 0.5, colors=color, linewidths=linewidth,
                  zorder=0.5, gid="cell-lines")


def _slice(values, what: str):
    """A 3-D array's middle slice along its first axis (with a note)."""
    if values.ndim == 3:
        middle = values.shape[0] // 2
        return values[middle], f"{what} (slice {middle} of axis 0)"
    return values, what


def tap_coverage(spec: ConvSpec) -> np.ndarray:
    """How many outputs read each input position through each tap, for one
    channel pair: an array of shape ``(prod(kernel_size), *input_size)``.

    Separable: the outer product of the per-axis counts.  Its sum over taps is
    :func:`symtoe.network.receptive.column_coverage`.

    >>> tap_coverage(ConvSpec(1, 1, 2, input_size=3)).tolist()
    [[1, 1, 0], [0, 1, 1]]
    """
    check_spec(spec)
    counts = np.ones((1,), dtype=np.int64)
    for ap in axis_patterns(spec):
        cols = np.broadcast_to(ap.cols[..., None], ap.taps.shape)
        live = ap.taps >= 0
        axis = np.bincount(ap.taps[live] * ap.n_cols + cols[live],
                           minlength=ap.kernel * ap.n_cols).reshape(ap.kernel, ap.n_cols)
        counts = np.einsum("t...,kn->tk...n", counts, axis)
        counts = counts.reshape(-1, *counts.shape[2:])
    return counts


def plot_coverage(spec: ConvSpec, *, ax=None):
    """Column coverage: which taps meet each input position (one channel pair),
    in the weights' colours (:func:`weight_colours`).

    1-D: one bar per input, stacked by tap (each segment: how many outputs read
    the input through that tap).  2-D: each input cell split into the kernel's
    taps, coloured where the tap meets the input, with the number of
    (output, tap) pairs written on it; large 2-D grids and 3-D (middle slice)
    as a heat map of that number.  See :func:`tap_coverage`.

    >>> fig = plot_coverage(ConvSpec(1, 1, 3, input_size=(6, 6)))
    """
    check_spec(spec)
    per_tap = tap_coverage(spec)
    coverage = per_tap.sum(axis=0)
    taps = math.prod(spec.kernel_size)
    colours = weight_colours(spec)[:taps]
    pad = "/".join(sorted({f"{a},{b}" for a, b in spec.padding}))
    title = (f"kernel {spec.kernel_size}, stride {spec.stride}, "
             f"padding {pad} ({spec.padding_mode})")
    names = [_math(sympy.latex(weight_symbol(spec, (0, 0, *np.unravel_index(t, spec.kernel_size)))))
             for t in range(taps)]
    if spec.rank == 1:
        n = len(coverage)
        fig, ax, own = _axes(ax, (min(10.0, 2.6 + 0.35 * n), 3.0))
        bottom = np.zeros(n)
        for t in range(taps):  # one bar segment per (tap, input)
            ax.bar(np.arange(n), per_tap[t], bottom=bottom, color=colours[t], width=0.8,
                   label=names[t])
            bottom += per_tap[t]
        ax.axhline(taps, color="0.4", linestyle="--", linewidth=1, label=f"kernel taps = {taps}")
        ax.set_xlabel("input position")
        ax.set_ylabel("taps meeting it")
        ax.set_ylim(0, max(taps, coverage.max()) * 1.18)
        if n <= 40:
            ax.set_xticks(np.arange(n))
        if taps <= 24:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8,
                      title="tap", title_fontsize=8)
        ax.set_title(f"column coverage\n{title}", fontsize=9)
        _fit_figure(fig, own)
        return fig
    values, what = _slice(coverage, "column coverage")
    h, w = values.shape
    kh, kw = math.prod(spec.kernel_size[:-1]), spec.kernel_size[-1]
    mosaic = spec.rank == 2 and h * w <= 400 and taps <= 49
    fig, ax, own = _axes(ax, (min(10.0, 2.4 + (0.5 if mosaic else 0.42) * w),
                              min(9.0, 1.2 + (0.5 if mosaic else 0.42) * h)))
    if mosaic:  # input cell (y, x) -> kh x kw sub-cells, tap (a, b) coloured where it meets
        meets = (per_tap > 0).reshape(kh, kw, h, w)
        rgb = np.where(meets[..., None], colours.reshape(kh, kw, 1, 1, 3), 0.94)
        rgb = rgb.transpose(2, 0, 3, 1, 4).reshape(h * kh, w * kw, 3)
        ax.imshow(rgb, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        _cell_lines(ax, h, w, 1.5)
        for (r, c), v in np.ndenumerate(values):  # at most 400 cells
            ax.text(c, r, f"{v:d}", ha="center", va="center", fontsize=8, in_layout=False,
                    path_effects=[withStroke(linewidth=2.2, foreground="white")])
        if taps <= 24:
            ax.legend(handles=[Patch(color=colours[t], label=names[t]) for t in range(taps)],
                      loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8,
                      title="tap", title_fontsize=8, ncols=1 + taps // 13)
    else:
        image = _grid_image(ax, values, "viridis", vmin=0, vmax=max(taps, values.max()))
        fig.colorbar(image, ax=ax, label="taps meeting the input", shrink=0.85)
    ax.set_xlabel("input position (last axis)")
    ax.set_ylabel("input position (axis 0)" if spec.rank == 2 else "input position (axis 1)")
    ax.set_title(f"{what}: (output, tap) pairs per input\n{title}", fontsize=9)
    _fit_figure(fig, own)
    return fig


# ----------------------------------------------------------------- shifts
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

    >>> fig = plot_boundary_map(np.array([False, True, True, False]))
    """
    title = "exactness map"
    if isinstance(spec_or_exact, ConvSpec):
        if shift is None:
            raise ValueError("shift must be given with a ConvSpec, but got None")
        from ..analysis.equivariance import check_shift

        result = check_shift(spec_or_exact, shift, mode=mode)
        exact = np.asarray(result.exact, dtype=bool)
        title = f"shift {shift} ({mode}):\nexact outputs"
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
    fig, ax, own = _axes(ax, (min(9.0, 2.6 + 0.4 * w), min(7.5, 1.8 + 0.4 * h)))
    cmap = ListedColormap(["#d6604d", "#7fbf7b"])
    _grid_image(ax, values, cmap, vmin=0, vmax=1, annotate=False)
    _cell_lines(ax, h, w, 0.8)
    if exact.ndim == 1:
        ax.set_yticks([])
        ax.set_ylabel("output")
    else:
        ax.set_ylabel("output position" + (" (axis 0)" if exact.ndim == 2 else " (axis 1)"))
    n_exact = int(exact.sum())
    ax.legend(handles=[Patch(color="#7fbf7b", label=f"exact ({n_exact})"),
                       Patch(color="#d6604d", label=f"not exact ({exact.size - n_exact})")],
              loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    ax.set_xlabel("output position" + (" (last axis)" if exact.ndim > 1 else ""))
    ax.set_title(title, fontsize=10)
    _fit_figure(fig, own)
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

    >>> fig = plot_receptive_field([ConvSpec(1, 1, 3, input_size=(9, 9))])
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
    fig, ax, own = _axes(ax, (min(9.0, 2.8 + 0.32 * (hi_c - lo_c)),
                              min(8.0, 1.8 + 0.32 * (hi_r - lo_r))))
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
        ax.set_ylabel("input")
    else:
        ax.set_ylabel("input position (axis 0)")
    ax.legend(handles=[Patch(color="#3b75af", label=f"inputs read ({int(mask.sum())})"),
                       Patch(fill=False, edgecolor="#d62728", linestyle="--",
                             label="closed-form field")],
              loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    ax.set_xlabel("input position" + (" (last axis)" if rank == 2 else ""))
    layers = f"{len(specs)} layer" + ("s" if len(specs) > 1 else "")
    ax.set_title(f"receptive field of output {position} ({layers})\n"
                 f"size {field.size}, stride {field.stride}, padding {field.padding}",
                 fontsize=9)
    _fit_figure(fig, own)
    return fig
