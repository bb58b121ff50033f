r"""The sliding window next to the matrix, animated (matplotlib is imported here only).

One frame per output position ``i`` of the layer: the window of taps on the
(padded) input grid, the output it writes, and row ``i`` of the matrix lit up
among the faded others, its taps in the colours of
:func:`~symtoe.present.plot.plot_sharing` (:func:`~symtoe.present.plot.weight_colours`).

Per axis, tap ``j`` of the window at output ``i`` sits on padded position
``m = i*s - p_left + j*d``; zero padding drops a tap that lands in the padding,
circular / reflect / replicate padding read the real input it folds onto
(:func:`~symtoe.core.pattern.fold_positions`; the picture draws an arrow to it).
A transposed layer is drawn as the forward layer it is the transpose of: the
window of input ``x[i]`` scatters ``w[j] x[i]`` onto output ``m``, and column
``i`` of the transposed matrix lights up.

:func:`window_frames` is what every frame draws (tests read it);
:func:`animate` returns the ``matplotlib.animation.FuncAnimation``;
:func:`save` writes a GIF (Pillow) or an MP4 (where ffmpeg is installed).
"""

from __future__ import annotations

import io
import itertools
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sympy
from matplotlib.animation import FFMpegWriter, FuncAnimation
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.patheffects import withStroke
from matplotlib.ticker import MaxNLocator

from ..core.pattern import fold_positions
from ..core.spec import ConvSpec, check_spec
from ..core.symbolic import weight_symbol
from .plot import _fit_figure, _fit_labels, _luminance, plot_sharing, weight_colours

__all__ = [
    "WindowFrame", "animate", "check_path", "frames_rgb", "save", "to_gif", "window_frames",
]

#: Most frames (output positions) :func:`animate` draws.
MAX_FRAMES = 400


@dataclass(frozen=True)
class WindowFrame:
    """What one frame of :func:`animate` shows.

    Attributes
    ----------
    position : tuple of int
        The window's output position (for a transposed layer: the input
        position ``i`` whose value the window scatters).
    line : int
        The matrix row it lights up (transposed: the column).
    taps : tuple of ((position, tap), ...)
        The live taps: the real grid position each one reads (transposed:
        writes), after folding, and the tap index into ``weight[0, 0]``.
        Exactly the nonzeros of matrix row ``line`` (transposed: column),
        one pair per folded tap.
    window : tuple of ((padded position, tap), ...)
        Every tap of the window where it sits on the padded grid (positions
        may be negative or past the end: padding).
    """

    position: tuple[int, ...]
    line: int
    taps: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    window: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]


def _check(spec: ConvSpec) -> ConvSpec:
    check_spec(spec)
    if spec.rank > 2:
        raise ValueError(f"spec must be 1-D or 2-D to animate, but got {spec.rank}-D")
    if (spec.in_channels, spec.out_channels) != (1, 1):
        raise ValueError(
            "spec must have one input and one output channel to animate (the window of one "
            f"channel pair), but got in_channels={spec.in_channels}, "
            f"out_channels={spec.out_channels}"
        )
    return spec


def window_frames(spec: ConvSpec) -> list[WindowFrame]:
    """The frames of :func:`animate`: one per output position, row-major.

    Forward: the window at output ``i`` puts tap ``j`` on padded position
    ``m = i*s - p_left + j*d`` per axis, which reads input ``fold(m)`` (absent
    under zero padding when ``m`` is outside the input), so the live
    ``(position, tap)`` pairs are the nonzeros of row ``i`` of the matrix.
    Transposed: one frame per input position ``i`` of the transposed layer;
    ``m`` is the output it writes (absent outside the output), so the pairs
    are the nonzeros of column ``i``.  ``flip`` reverses the tap index.

    >>> f = window_frames(ConvSpec(1, 1, 3, input_size=4, padding=1, padding_mode="reflect"))[0]
    >>> f.position, f.line, f.taps
    ((0,), 0, (((1,), (0,)), ((0,), (1,)), ((1,), (2,))))
    """
    _check(spec)
    if spec.transposed:  # the forward layer whose transpose this is
        grid = spec.output_size
        windows = spec.input_size
    else:
        grid, windows = spec.input_size, spec.output_size
    frames = []
    for line, position in enumerate(np.ndindex(*windows)):
        window, taps = [], []
        for tap in np.ndindex(*spec.kernel_size):
            m = tuple(i * s - pl + j * d for i, j, s, (pl, _), d in zip(
                position, tap, spec.stride, spec.padding, spec.dilation))
            index = tuple(k - 1 - j for k, j in zip(spec.kernel_size, tap)) if spec.flip else tap
            mode = "zeros" if spec.transposed else spec.padding_mode
            folded = [fold_positions(np.array(a), n, mode) for a, n in zip(m, grid)]
            window.append((m, index))
            if all(bool(valid) for _, valid in folded):
                taps.append((tuple(int(c) for c, _ in folded), index))
        frames.append(WindowFrame(tuple(position), line, tuple(taps), tuple(window)))
    return frames


# ------------------------------------------------------------------ drawing
def _weight(spec: ConvSpec, tap) -> str:
    return sympy.latex(weight_symbol(spec, (0, 0, *tap)))


_SUBSCRIPT = str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋")


def _cell_name(name: str, index) -> str:
    """``x₁,₂``: plain text, which draws far faster than mathtext (a caption
    changes at every frame, and the grids have many cells)."""
    return name + ",".join(str(i).translate(_SUBSCRIPT) for i in index)


def _lines(parts: list[str], width: int = 60) -> list[list[str]]:
    """Consecutive parts in lines of at most about ``width`` characters."""
    lines: list[list[str]] = [[]]
    for part in parts:
        if lines[-1] and sum(map(len, lines[-1])) + len(part) > width:
            lines.append([])
        lines[-1].append(part)
    return lines


def _caption(spec: ConvSpec, frame: WindowFrame) -> str:
    """``row i of the matrix: y₀ = w₁ x₀ + (w₀ + w₂) x₁`` (transposed: what
    ``x_i`` adds to which output), broken into lines.  Folded taps are summed
    in sympy's order, as ``plot_sharing`` prints the entry."""
    by_position: dict = {}
    for position, tap in frame.taps:
        by_position.setdefault(position, []).append(weight_symbol(spec, (0, 0, *tap)))
    coefficient = {}  # the matrix entry
    for p, weights in sorted(by_position.items()):
        terms = [_cell_name(t.base, t.index) for t in sympy.Add(*weights).as_ordered_terms()]
        coefficient[p] = f"({' + '.join(terms)})" if len(terms) > 1 else terms[0]
    if spec.transposed:
        x = _cell_name("x", frame.position)
        parts = [f"{_cell_name('y', p)} += {w} {x}" for p, w in coefficient.items()]
        lines = [", ".join(line) for line in _lines(parts)] if parts else ["into no output"]
        return f"column {frame.line} of the matrix: {x} scatters\n" + ",\n".join(lines)
    terms = [f"{w} {_cell_name('x', p)}" for p, w in coefficient.items()] or ["0"]
    lines = [" + ".join(line) for line in _lines(terms)]
    return (f"row {frame.line} of the matrix: {_cell_name('y', frame.position)} = "
            + " +\n".join(lines))


def _padding_label(spec: ConvSpec, m, grid, name: str) -> str:
    """What a grid cell holds: ``x_m``, or in the padding the value it copies."""
    inside = all(0 <= a < n for a, n in zip(m, grid))
    if inside:
        return _cell_name(name, m)
    if spec.transposed:
        return ""
    if spec.padding_mode == "zeros":
        return "0"
    folded = tuple(int(fold_positions(np.array(a), n, spec.padding_mode)[0])
                   for a, n in zip(m, grid))
    return _cell_name(name, folded)


def _fade(rect, text, live: bool) -> None:
    """A window tap that reads nothing (zero padding, cropped output) is faded and hatched."""
    rect.set_alpha(0.85 if live else 0.25)
    rect.set_hatch(None if live else "xx")
    text.set_alpha(1.0 if live else 0.45)


class _Scene:
    """The artists of one animation and how a frame moves them."""

    def __init__(self, spec: ConvSpec, labels, dpi: int):
        self.spec, self.dpi = spec, dpi
        self.frames = window_frames(spec)
        self.colours = weight_colours(spec)
        k_total = math.prod(spec.kernel_size)
        self.tap_colour = {tap: self.colours[int(np.ravel_multi_index(tap, spec.kernel_size))]
                           for tap in np.ndindex(*spec.kernel_size)}
        # the grid the window moves on (forward: the input; transposed: the output)
        t = spec.transposed
        self.grid = spec.output_size if t else spec.input_size
        self.targets = spec.input_size if t else spec.output_size
        self.grid_name, self.target_name = ("y", "x") if t else ("x", "y")
        corners = np.array([m for f in self.frames for m, _ in f.window])
        self.lo = np.minimum(corners.min(axis=0), 0)
        self.hi = np.maximum(corners.max(axis=0), np.array(self.grid) - 1)
        n_rows, n_cols = spec.matrix_shape
        self.k_total = k_total
        self._layout(n_rows, n_cols, labels)

    # --------------------------------------------------------------- layout
    def _layout(self, n_rows: int, n_cols: int, labels) -> None:
        spec = self.spec
        span = (self.hi - self.lo + 1).tolist()
        cell = 0.42 if n_rows * n_cols <= 900 else min(0.3, 9 / max(n_rows, n_cols))
        if spec.rank == 1:
            # forward: kernel + x on top (columns = inputs), y on the right (rows = outputs);
            # transposed: x on top (columns), y + kernel on the right (rows)
            along = span[0]
            if spec.transposed:
                widths, heights = [n_cols, 2.2], [1.2, max(along, n_rows)]
            else:
                widths, heights = [max(along, n_cols), 1.2], [2.2, n_rows]
            size = (0.42 * sum(widths) + 2.2, 0.42 * sum(heights) + 2.0)
            self.fig = plt.figure(figsize=size, layout="constrained", dpi=self.dpi)
            gs = self.fig.add_gridspec(2, 2, width_ratios=widths, height_ratios=heights)
            self.ax_mat = self.fig.add_subplot(gs[1, 0])
            self.ax_top = self.fig.add_subplot(gs[0, 0], sharex=self.ax_mat)
            self.ax_side = self.fig.add_subplot(gs[1, 1], sharey=self.ax_mat)
        else:
            grid_h, grid_w = span
            out_h, out_w = self.targets
            left = max(grid_w, out_w)
            size = (0.42 * left + cell * n_cols + 2.6,
                    max(0.42 * (grid_h + out_h) + 2.4, cell * n_rows + 2.0))
            self.fig = plt.figure(figsize=size, layout="constrained", dpi=self.dpi)
            gs = self.fig.add_gridspec(2, 2, width_ratios=[0.42 * left, cell * n_cols],
                                       height_ratios=[grid_h + 1.5, out_h + 1.5])
            self.ax_win = self.fig.add_subplot(gs[0, 0])
            self.ax_out = self.fig.add_subplot(gs[1, 0])
            self.ax_mat = self.fig.add_subplot(gs[:, 1])
        plot_sharing(spec, ax=self.ax_mat, labels=labels)
        self.ax_mat.set_title("")
        self._matrix_overlay(n_rows, n_cols)
        if spec.rank == 1:
            self._draw_1d()
        else:
            self._draw_2d()
        # the widest caption sets the layout; then the cell labels fit the final cells
        captions = [_caption(spec, f) for f in self.frames]
        self.caption = self.fig.suptitle(max(captions, key=len), fontsize=11, linespacing=1.5)
        _fit_figure(self.fig, True)
        _fit_labels(self.ax_mat)
        self.fig.set_layout_engine("none")  # frozen: frames move artists, not the layout

    def _matrix_overlay(self, n_rows: int, n_cols: int) -> None:
        self.mask = np.ones((n_rows, n_cols, 4))
        self.mask[..., 3] = 0.72
        self.mask_image = self.ax_mat.imshow(self.mask, interpolation="nearest", zorder=4,
                                             extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5))
        self.line_box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.2,
                                  zorder=5)
        self.ax_mat.add_patch(self.line_box)
        self.ax_mat.set_xlim(-0.5, n_cols - 0.5)
        self.ax_mat.set_ylim(n_rows - 0.5, -0.5)

    # ------------------------------------------------------------------ 1-D
    def _strip(self, ax, positions, labels, vertical: bool, offset: float, **style):
        """Cells at ``positions`` along a strip, ``offset`` across it."""
        cells = {}
        for p, text in zip(positions, labels):
            xy = (offset - 0.5, p - 0.5) if vertical else (p - 0.5, offset - 0.5)
            rect = Rectangle(xy, 1, 1, **style)
            ax.add_patch(rect)
            if text:
                ax.text(*((offset, p) if vertical else (p, offset)), text, ha="center",
                        va="center", fontsize=8, zorder=3)
            cells[p] = rect
        return cells

    def _draw_1d(self) -> None:
        spec = self.spec
        t = spec.transposed
        grid_ax, target_ax = (self.ax_side, self.ax_top) if t else (self.ax_top, self.ax_side)
        self.vertical = t  # the window's strip runs down the rows when transposed
        n, n_t = self.grid[0], self.targets[0]
        positions = list(range(int(self.lo[0]), int(self.hi[0]) + 1))
        real = dict(facecolor="0.93", edgecolor="0.5", linewidth=0.8)
        pad = dict(facecolor="white", edgecolor="0.6", linewidth=0.8, linestyle="--",
                   hatch="///" if t else None)
        for p in positions:
            inside = 0 <= p < n
            self._strip(grid_ax, [p], [_padding_label(spec, (p,), self.grid, self.grid_name)],
                        t, 0, **(real if inside else pad))
        self.target_cells = self._strip(
            target_ax, range(n_t), [_cell_name(self.target_name, (i,)) for i in range(n_t)],
            not t, 0, **real)
        # the window: one square per tap, one cell outside the grid strip
        self.window = []
        for _, index in self.frames[0].window:
            colour = self.tap_colour[index]
            rect = Rectangle((0, 0), 1, 1, facecolor=colour, edgecolor="black", linewidth=0.8,
                             zorder=2)
            grid_ax.add_patch(rect)
            text = grid_ax.text(0, 0, f"${_weight(spec, index)}$", ha="center", va="center",
                                fontsize=9, zorder=3,
                                color="white" if _luminance(colour) < 0.45 else "black")
            self.window.append((rect, text))
        self.reads = [Rectangle((0, 0), 1, 1, facecolor=self.tap_colour[tap], alpha=0.45,
                                edgecolor="none", zorder=1) for _, tap in self.frames[0].window]
        self.arrows = [FancyArrowPatch((0, 0), (0, 0), arrowstyle="-|>", mutation_scale=10,
                                       color=self.tap_colour[tap], linewidth=1.5, zorder=4,
                                       connectionstyle="arc3,rad=-0.45")
                       for _, tap in self.frames[0].window]
        for patch in self.reads + self.arrows:
            grid_ax.add_patch(patch)
        self.target_box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.5,
                                    zorder=4)
        target_ax.add_patch(self.target_box)
        lo, hi = float(self.lo[0]) - 0.5, float(self.hi[0]) + 0.5
        self.ax_mat.set_aspect("auto")  # the strips' cells line up with its rows / columns
        for ax, along in ((grid_ax, (lo, hi)), (target_ax, None)):
            ax.set_aspect("auto")
            for side in ("top", "right", "bottom", "left"):
                ax.spines[side].set_visible(False)
        if t:
            grid_ax.set_xlim(-0.6, 1.6)  # y cells, then the window column
            grid_ax.set_ylim(max(hi, self.ax_mat.get_ylim()[0]), min(lo, -0.5))
            self.ax_mat.set_ylim(max(hi, n - 0.5), min(lo, -0.5))
            target_ax.set_ylim(0.6, -0.6)
            grid_ax.tick_params(which="both", left=False, labelleft=False, bottom=False, labelbottom=False)
            target_ax.tick_params(which="both", bottom=False, labelbottom=False, left=False, labelleft=False)
            grid_ax.set_title("output y\n+ window", fontsize=9)
            target_ax.set_ylabel("input x", rotation=0, ha="right", va="center", fontsize=9)
        else:
            grid_ax.set_ylim(0.6, -1.6)  # the window row above the x row
            self.ax_mat.set_xlim(lo, hi)
            target_ax.set_xlim(-0.6, 0.6)
            grid_ax.tick_params(which="both", bottom=False, labelbottom=False, left=False, labelleft=False)
            target_ax.tick_params(which="both", left=False, labelleft=False, bottom=False, labelbottom=False)
            grid_ax.set_ylabel("window\ninput x", rotation=0, ha="right", va="center",
                               fontsize=9)
            target_ax.set_title("output y", fontsize=9)

    def _update_1d(self, frame: WindowFrame) -> None:
        t = self.vertical
        live = dict.fromkeys(frame.taps)

        def at(along: float, across: float):
            return (across, along) if t else (along, across)

        for (rect, text), (m, tap) in zip(self.window, frame.window, strict=True):
            rect.set_xy(at(m[0] - 0.5, -1.5 if not t else 0.5))
            text.set_position(at(m[0], -1 if not t else 1))
            _fade(rect, text, any(q == tap for _, q in live))
        for tap_index, (rect, arrow) in enumerate(zip(self.reads, self.arrows, strict=True)):
            m, tap = frame.window[tap_index]
            hit = [p for p, q in live if q == tap]
            rect.set_visible(bool(hit))
            arrow.set_visible(bool(hit) and hit[0][0] != m[0])
            if hit:
                rect.set_xy(at(hit[0][0] - 0.5, -0.5))
                arrow.set_positions(at(m[0], 0.35 if not t else -0.35),
                                    at(hit[0][0], 0.35 if not t else -0.35))
        i = frame.position[0]
        self.target_box.set_xy((i - 0.5, -0.5) if t else (-0.5, i - 0.5))

    # ------------------------------------------------------------------ 2-D
    def _draw_2d(self) -> None:
        spec = self.spec
        ax = self.ax_win
        (lo_r, lo_c), (hi_r, hi_c) = self.lo.tolist(), self.hi.tolist()
        h, w = self.grid
        small = (hi_r - lo_r + 1) * (hi_c - lo_c + 1) <= 196
        for r, c in itertools.product(range(lo_r, hi_r + 1), range(lo_c, hi_c + 1)):
            inside = 0 <= r < h and 0 <= c < w
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1,
                                   facecolor="0.93" if inside else "white",
                                   edgecolor="0.5" if inside else "0.65", linewidth=0.7,
                                   linestyle="-" if inside else "--",
                                   hatch="///" if spec.transposed and not inside else None))
            if small:
                ax.text(c, r, _padding_label(spec, (r, c), self.grid, self.grid_name),
                        ha="center", va="center", fontsize=6.5, color="0.25", zorder=1)
        self.window = []
        for _, index in self.frames[0].window:
            colour = self.tap_colour[index]
            rect = Rectangle((0, 0), 1, 1, facecolor=colour, alpha=0.85, edgecolor="black",
                             linewidth=0.8, zorder=2)
            ax.add_patch(rect)
            text = ax.text(0, 0, f"${_weight(spec, index)}$", ha="center", va="center",
                           fontsize=8, zorder=3,
                           color="white" if _luminance(colour) < 0.45 else "black")
            self.window.append((rect, text))
        self.reads = [Rectangle((0, 0), 1, 1, fill=False, edgecolor=self.tap_colour[tap],
                                linewidth=2.5, zorder=3) for _, tap in self.frames[0].window]
        self.arrows = [FancyArrowPatch((0, 0), (0, 0), arrowstyle="-|>", mutation_scale=10,
                                       color=self.tap_colour[tap], linewidth=1.5, zorder=4,
                                       path_effects=[withStroke(linewidth=3, foreground="white")])
                       for _, tap in self.frames[0].window]
        for patch in self.reads + self.arrows:
            ax.add_patch(patch)
        ax.set_xlim(lo_c - 0.5, hi_c + 0.5)
        ax.set_ylim(hi_r + 0.5, lo_r - 0.5)
        ax.set_aspect("equal")
        for axis in (ax.xaxis, ax.yaxis, self.ax_out.xaxis, self.ax_out.yaxis):
            axis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(("output y (the window of the forward layer)" if spec.transposed
                      else "input x (padded) and the window"), fontsize=9)
        ax.set_xlabel("position (axis 1)", fontsize=8)
        ax.set_ylabel("position (axis 0)", fontsize=8)
        out = self.ax_out
        th, tw = self.targets
        for r, c in np.ndindex(th, tw):
            out.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor="0.93", edgecolor="0.5",
                                    linewidth=0.7))
            if th * tw <= 196:
                out.text(c, r, _cell_name(self.target_name, (r, c)), ha="center",
                         va="center", fontsize=7)
        self.target_box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.5,
                                    zorder=4)
        out.add_patch(self.target_box)
        out.set_xlim(-0.5, tw - 0.5)
        out.set_ylim(th - 0.5, -0.5)
        out.set_aspect("equal")
        out.set_title("input x" if spec.transposed else "output y", fontsize=9)
        out.set_xlabel("position (axis 1)", fontsize=8)
        out.set_ylabel("position (axis 0)", fontsize=8)

    def _update_2d(self, frame: WindowFrame) -> None:
        live = list(frame.taps)
        for (rect, text), (m, tap) in zip(self.window, frame.window, strict=True):
            rect.set_xy((m[1] - 0.5, m[0] - 0.5))
            text.set_position((m[1], m[0]))
            _fade(rect, text, any(q == tap for _, q in live))
        for (rect, arrow), (m, tap) in zip(zip(self.reads, self.arrows), frame.window,
                                           strict=True):
            hit = [p for p, q in live if q == tap]
            rect.set_visible(bool(hit))
            arrow.set_visible(bool(hit) and hit[0] != m)
            if hit:
                rect.set_xy((hit[0][1] - 0.5, hit[0][0] - 0.5))
                arrow.set_positions((m[1], m[0]), (hit[0][1], hit[0][0]))
        r, c = frame.position
        self.target_box.set_xy((c - 0.5, r - 0.5))

    # ---------------------------------------------------------------- frame
    @property
    def moving(self) -> list:
        """The artists a frame changes, in drawing order."""
        artists = [a for pair in self.window for a in pair] + self.reads + self.arrows + [
            self.target_box, self.mask_image, self.line_box, self.caption]
        return sorted(artists, key=lambda a: a.get_zorder())

    def update(self, index: int):
        frame = self.frames[index]
        spec = self.spec
        (self._update_1d if spec.rank == 1 else self._update_2d)(frame)
        alpha = np.full(self.mask.shape[:2], 0.72)
        n_rows, n_cols = spec.matrix_shape
        if spec.transposed:
            alpha[:, frame.line] = 0
            self.line_box.set_bounds(frame.line - 0.5, -0.5, 1, n_rows)
        else:
            alpha[frame.line, :] = 0
            self.line_box.set_bounds(-0.5, frame.line - 0.5, n_cols, 1)
        self.mask[..., 3] = alpha
        self.mask_image.set_data(self.mask)
        self.caption.set_text(_caption(spec, frame))
        return []


def animate(spec: ConvSpec, *, interval: int = 900, labels="auto", repeat: bool = True,
            dpi: int = 80):
    """The sliding window next to the matrix: a ``FuncAnimation``, one frame
    per output position (:func:`window_frames`).

    Each frame shows the window of taps on the (padded) input grid (padding
    cells say what they hold: ``0``, or the input they copy; a folded tap's
    arrow points to the input it reads), the output it writes, and the
    matrix of :func:`~symtoe.present.plot.plot_sharing` with that row lit up
    (transposed: that column, with the forward layer's window drawn on the
    output grid); the caption is the row as a formula, ``y_i = w_0 x_i + ...``.

    Parameters
    ----------
    spec : ConvSpec
        1-D or 2-D, one input and one output channel, at most
        :data:`MAX_FRAMES` output positions.
    interval : int
        Milliseconds per frame.
    labels : bool or "auto"
        Entries written in the matrix cells, as in ``plot_sharing``.
    repeat : bool
    dpi : int
        The figure's resolution (``to_jshtml`` renders the frames at it).

    Write it with :func:`save` (``.gif``; ``.mp4`` needs ffmpeg) or show it in
    a notebook with ``IPython.display.HTML(anim.to_jshtml())``.

    >>> anim = animate(ConvSpec(1, 1, 3, input_size=5))
    >>> anim._fig.texts[0].get_text()   # the caption of frame 0
    'row 0 of the matrix: y₀ = w₀ x₀ + w₁ x₁ + w₂ x₂'
    """
    _check(spec)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise ValueError(f"interval must be a positive integer (milliseconds), but got {interval!r}")
    n_frames = math.prod(spec.input_size if spec.transposed else spec.output_size)
    if n_frames > MAX_FRAMES:
        raise ValueError(
            f"spec must have at most {MAX_FRAMES} output positions to animate, but has "
            f"{n_frames}; use a smaller input_size"
        )
    if not isinstance(dpi, int) or isinstance(dpi, bool) or dpi < 1:
        raise ValueError(f"dpi must be a positive integer, but got {dpi!r}")
    scene = _Scene(spec, labels, dpi)
    scene.update(0)
    anim = FuncAnimation(scene.fig, scene.update, frames=len(scene.frames), interval=interval,
                         repeat=repeat, blit=False)
    anim.scene = scene
    return anim


def check_path(path) -> Path:
    """``path`` as a Path if an animation can be written there: ``.gif``
    (Pillow), or ``.mp4`` where ffmpeg is installed; a ValueError otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        if shutil.which("ffmpeg") is None or not FFMpegWriter.isAvailable():
            raise ValueError("an .mp4 output needs ffmpeg, which is not installed; write a .gif")
    elif suffix != ".gif":
        raise ValueError(f"path must end in .gif or .mp4, but got {path.name!r}")
    return path


def _scene(anim) -> _Scene:
    scene = getattr(anim, "scene", None)
    if not isinstance(scene, _Scene):
        raise ValueError(f"anim must be an animation made by animate(), but got {anim!r}")
    return scene


def frames_rgb(anim, *, dpi: int = 80):
    """The animation's frames as RGB arrays (``height x width x 3`` uint8), one
    per :func:`window_frames` entry.

    The still parts are drawn once; each frame redraws only the artists it
    moves on top of them (blitting), several times faster than matplotlib's
    writers, which redraw the whole figure twice per frame.
    """
    scene = _scene(anim)
    fig, canvas = scene.fig, scene.fig.canvas
    if not hasattr(canvas, "copy_from_bbox"):  # e.g. closed with plt.close(): draw with Agg
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    anim._draw_was_started = True  # rendered here: matplotlib must not warn that it never was
    moving = scene.moving
    for artist in moving:
        artist.set_animated(True)
    try:
        canvas.draw()  # the still background
        background = canvas.copy_from_bbox(fig.bbox)
        for index in range(len(scene.frames)):
            scene.update(index)
            canvas.restore_region(background)
            for artist in moving:
                fig.draw_artist(artist)
            yield np.asarray(canvas.buffer_rgba())[..., :3].copy()
    finally:
        for artist in moving:
            artist.set_animated(False)
        scene.update(0)


def to_gif(anim, *, fps: float | None = None, dpi: int = 80) -> bytes:
    """The animation as an animated GIF (Pillow), looping; ``fps`` defaults to
    the animation's interval.  In a notebook:
    ``IPython.display.Image(to_gif(anim))``."""
    from PIL import Image

    fps = 1000 / anim._interval if fps is None else fps
    images = [Image.fromarray(frame) for frame in frames_rgb(anim, dpi=dpi)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000 / fps)), loop=0)
    return buffer.getvalue()


def save(anim, path, *, fps: float | None = None, dpi: int = 80) -> Path:
    """Write an animation to ``path``: ``.gif`` (:func:`to_gif`), or ``.mp4``
    with ffmpeg (see :func:`check_path`); ``fps`` defaults to the animation's
    interval.  Returns the path."""
    path = check_path(path)
    _scene(anim)
    if path.suffix.lower() == ".gif":
        path.write_bytes(to_gif(anim, fps=fps, dpi=dpi))
        return path
    anim._fig.set_dpi(dpi)  # one dpi for every draw: matplotlib's mathtext cache stays warm
    anim.save(path, writer=FFMpegWriter(fps=1000 / anim._interval if fps is None else fps),
              dpi=dpi)
    return path
