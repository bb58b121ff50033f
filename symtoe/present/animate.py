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
    """The artists of one animation and how a frame moves them.

    1-D: the strip the window moves on lines up with the matrix's columns
    (forward: the input, on top, the window row above it) or rows (transposed:
    the output, on the right, the window column beside it), and the other
    strip with the other side.  2-D: the (padded) grid with the window, the
    target grid below it, the matrix on the right.
    """

    def __init__(self, spec: ConvSpec, labels, dpi: int):
        self.spec = spec
        self.frames = window_frames(spec)
        colours = weight_colours(spec)  # taps of channel pair (0, 0) come first
        self.colour = {tap: colours[int(np.ravel_multi_index(tap, spec.kernel_size))]
                       for tap in np.ndindex(*spec.kernel_size)}
        t = spec.transposed  # the window moves on the input, or (transposed) the output
        self.grid = spec.output_size if t else spec.input_size
        self.targets = spec.input_size if t else spec.output_size
        self.grid_name, self.target_name = ("y", "x") if t else ("x", "y")
        corners = np.array([m for f in self.frames for m, _ in f.window])
        self.lo = np.minimum(corners.min(axis=0), 0).tolist()
        self.hi = np.maximum(corners.max(axis=0), np.array(self.grid) - 1).tolist()
        self._layout(labels, dpi)

    # ------------------------------------------------------------ geometry
    def _grid_xy(self, m):
        """Data coordinates of grid position ``m`` (in ``self.grid_ax``)."""
        if self.spec.rank == 2:
            return m[1], m[0]
        return (0, m[0]) if self.spec.transposed else (m[0], 0)

    def _window_xy(self, m):
        """Where the window's tap over grid position ``m`` is drawn."""
        if self.spec.rank == 2:
            return m[1], m[0]
        return (1, m[0]) if self.spec.transposed else (m[0], -1)

    def _target_xy(self, i):
        if self.spec.rank == 2:
            return i[1], i[0]
        return (i[0], 0) if self.spec.transposed else (0, i[0])

    # --------------------------------------------------------------- layout
    def _layout(self, labels, dpi: int) -> None:
        spec = self.spec
        n_rows, n_cols = spec.matrix_shape
        span = [h - lo + 1 for lo, h in zip(self.lo, self.hi)]
        fig_kw = dict(layout="constrained", dpi=dpi)
        if spec.rank == 1:
            if spec.transposed:  # x on top (columns), y and the window on the right (rows)
                widths, heights = [n_cols, 2.2], [1.2, max(span[0], n_rows)]
            else:  # the window and x on top (columns), y on the right (rows)
                widths, heights = [max(span[0], n_cols), 1.2], [2.2, n_rows]
            self.fig = plt.figure(figsize=(0.42 * sum(widths) + 2.2, 0.42 * sum(heights) + 2.0),
                                  **fig_kw)
            gs = self.fig.add_gridspec(2, 2, width_ratios=widths, height_ratios=heights)
            self.ax_mat = self.fig.add_subplot(gs[1, 0])
            top = self.fig.add_subplot(gs[0, 0], sharex=self.ax_mat)
            side = self.fig.add_subplot(gs[1, 1], sharey=self.ax_mat)
            self.grid_ax, self.target_ax = (side, top) if spec.transposed else (top, side)
        else:
            cell = 0.42 if n_rows * n_cols <= 900 else min(0.3, 9 / max(n_rows, n_cols))
            left = max(span[1], self.targets[1])
            self.fig = plt.figure(figsize=(0.42 * left + cell * n_cols + 2.6, max(
                0.42 * (span[0] + self.targets[0]) + 2.4, cell * n_rows + 2.0)), **fig_kw)
            gs = self.fig.add_gridspec(2, 2, width_ratios=[0.42 * left, cell * n_cols],
                                       height_ratios=[span[0] + 1.5, self.targets[0] + 1.5])
            self.grid_ax = self.fig.add_subplot(gs[0, 0])
            self.target_ax = self.fig.add_subplot(gs[1, 0])
            self.ax_mat = self.fig.add_subplot(gs[:, 1])
        plot_sharing(spec, ax=self.ax_mat, labels=labels)
        self.ax_mat.set_title("")
        self.mask = np.ones((n_rows, n_cols, 4))
        self.mask_image = self.ax_mat.imshow(self.mask, interpolation="nearest", zorder=4,
                                             extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5))
        self.line_box = self.ax_mat.add_patch(Rectangle(
            (0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.2, zorder=5))
        self._draw_grids()
        self._draw_window()
        (self._limits_1d if spec.rank == 1 else self._limits_2d)()
        # the widest caption sets the layout; then the cell labels fit the final cells
        captions = [_caption(spec, f) for f in self.frames]
        self.caption = self.fig.suptitle(max(captions, key=len), fontsize=11, linespacing=1.5)
        _fit_figure(self.fig, True)
        _fit_labels(self.ax_mat)
        self.fig.set_layout_engine("none")  # frozen: frames move artists, not the layout

    def _cell(self, ax, xy, text, inside: bool, fontsize: float) -> None:
        """One grid cell: real (grey), or padding (dashed; hatched where a
        transposed layer's output is cropped)."""
        ax.add_patch(Rectangle((xy[0] - 0.5, xy[1] - 0.5), 1, 1,
                               facecolor="0.93" if inside else "white",
                               edgecolor="0.5" if inside else "0.65", linewidth=0.7,
                               linestyle="-" if inside else "--",
                               hatch="///" if self.spec.transposed and not inside else None))
        if text:
            ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, color="0.2",
                    zorder=1)

    def _draw_grids(self) -> None:
        spec = self.spec
        positions = list(itertools.product(*(range(lo, h + 1) for lo, h in zip(self.lo, self.hi))))
        named = len(positions) <= 196
        for m in positions:
            inside = all(0 <= a < n for a, n in zip(m, self.grid))
            label = _padding_label(spec, m, self.grid, self.grid_name) if named else ""
            self._cell(self.grid_ax, self._grid_xy(m), label, inside, 8 if spec.rank == 1 else 6.5)
        targets = list(np.ndindex(*self.targets))
        for i in targets:
            label = _cell_name(self.target_name, i) if len(targets) <= 196 else ""
            self._cell(self.target_ax, self._target_xy(i), label, True, 8 if spec.rank == 1 else 7)
        self.target_box = self.target_ax.add_patch(Rectangle(
            (0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.5, zorder=4))

    def _draw_window(self) -> None:
        """One square per tap (in its weight's colour and symbol), a marker on
        the input it reads, and an arrow to it where the tap is folded."""
        ax, one_d = self.grid_ax, self.spec.rank == 1
        self.window, self.reads, self.arrows = [], [], []
        for _, tap in self.frames[0].window:
            colour = self.colour[tap]
            rect = ax.add_patch(Rectangle((0, 0), 1, 1, facecolor=colour, alpha=0.85,
                                          edgecolor="black", linewidth=0.8, zorder=2))
            text = ax.text(0, 0, f"${_weight(self.spec, tap)}$", ha="center", va="center",
                           fontsize=9 if one_d else 8, zorder=3,
                           color="white" if _luminance(colour) < 0.45 else "black")
            self.window.append((rect, text))
            self.reads.append(ax.add_patch(
                Rectangle((0, 0), 1, 1, facecolor=colour, alpha=0.45, edgecolor="none", zorder=1)
                if one_d else  # 2-D: an outline (the window square may sit on the cell)
                Rectangle((0, 0), 1, 1, fill=False, edgecolor=colour, linewidth=2.5, zorder=3)))
            self.arrows.append(ax.add_patch(FancyArrowPatch(
                (0, 0), (0, 0), arrowstyle="-|>", mutation_scale=10, color=colour, linewidth=1.5,
                zorder=4, connectionstyle="arc3,rad=-0.45" if one_d else "arc3",
                path_effects=[withStroke(linewidth=3, foreground="white")])))

    def _limits_1d(self) -> None:
        spec, grid_ax, target_ax = self.spec, self.grid_ax, self.target_ax
        lo, hi = self.lo[0] - 0.5, self.hi[0] + 0.5
        self.ax_mat.set_aspect("auto")  # the strips' cells line up with its rows / columns
        for ax in (grid_ax, target_ax):
            ax.set_aspect("auto")
            ax.tick_params(which="both", left=False, labelleft=False, bottom=False,
                           labelbottom=False)
            for side in ("top", "right", "bottom", "left"):
                ax.spines[side].set_visible(False)
        if spec.transposed:
            grid_ax.set_xlim(-0.6, 1.6)  # y cells, then the window column
            self.ax_mat.set_ylim(max(hi, spec.matrix_shape[0] - 0.5), min(lo, -0.5))
            target_ax.set_ylim(0.6, -0.6)
            grid_ax.set_title("output y\n+ window", fontsize=9)
            target_ax.set_ylabel("input x", rotation=0, ha="right", va="center", fontsize=9)
        else:
            grid_ax.set_ylim(0.6, -1.6)  # the window row above the x row
            self.ax_mat.set_xlim(lo, hi)
            target_ax.set_xlim(-0.6, 0.6)
            grid_ax.set_ylabel("window\ninput x", rotation=0, ha="right", va="center",
                               fontsize=9)
            target_ax.set_title("output y", fontsize=9)

    def _limits_2d(self) -> None:
        t = self.spec.transposed
        for ax, (lo_r, lo_c), (hi_r, hi_c), title in (
            (self.grid_ax, self.lo, self.hi, "output y (the window of the forward layer)"
             if t else "input x (padded) and the window"),
            (self.target_ax, (0, 0), [n - 1 for n in self.targets], "input x" if t else "output y"),
        ):
            ax.set_xlim(lo_c - 0.5, hi_c + 0.5)
            ax.set_ylim(hi_r + 0.5, lo_r - 0.5)
            ax.set_aspect("equal")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("position (axis 1)", fontsize=8)
            ax.set_ylabel("position (axis 0)", fontsize=8)

    # ---------------------------------------------------------------- frame
    @property
    def moving(self) -> list:
        """The artists a frame changes, in drawing order."""
        artists = [a for pair in self.window for a in pair] + self.reads + self.arrows + [
            self.target_box, self.mask_image, self.line_box, self.caption]
        return sorted(artists, key=lambda a: a.get_zorder())

    def update(self, index: int) -> list:
        """Move the artists to frame ``index`` (FuncAnimation's ``func``)."""
        spec, frame = self.spec, self.frames[index]
        offset = 0.35 if spec.rank == 1 else 0.0  # 1-D arrows arc below the strip
        for (rect, text), read, arrow, (m, tap) in zip(self.window, self.reads, self.arrows,
                                                       frame.window, strict=True):
            x, y = self._window_xy(m)
            rect.set_xy((x - 0.5, y - 0.5))
            text.set_position((x, y))
            hit = [p for p, q in frame.taps if q == tap]
            _fade(rect, text, bool(hit))
            read.set_visible(bool(hit))
            arrow.set_visible(bool(hit) and hit[0] != m)
            if hit:
                x, y = self._grid_xy(hit[0])
                read.set_xy((x - 0.5, y - 0.5))
                (x0, y0), (x1, y1) = self._grid_xy(m), self._grid_xy(hit[0])
                arrow.set_positions((x0, y0 + offset), (x1, y1 + offset))
        x, y = self._target_xy(frame.position)
        self.target_box.set_xy((x - 0.5, y - 0.5))
        n_rows, n_cols = spec.matrix_shape
        self.mask[..., 3] = 0.72
        if spec.transposed:
            self.mask[:, frame.line, 3] = 0
            self.line_box.set_bounds(frame.line - 0.5, -0.5, 1, n_rows)
        else:
            self.mask[frame.line, :, 3] = 0
            self.line_box.set_bounds(-0.5, frame.line - 0.5, n_cols, 1)
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
        raise ValueError(
            f"interval must be a positive integer (milliseconds), but got {interval!r}")
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
