"""The sliding window: every frame's taps against the rows (transposed: the
columns) of the matrix torch's ``F.conv*`` / ``F.conv_transpose*`` give on
one-hot inputs, one one-hot kernel at a time; the conv_arithmetic cases of
Dumoulin & Visin (2016) with their output sizes; what the animation draws,
read back from its artists; a GIF written with Pillow."""

import re
import shutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402
from PIL import Image  # noqa: E402
from test_plot import close_figures, one_hot_matrices  # noqa: E402, F401  (autouse fixture)

from symtoe import ConvSpec, symbolic_matrix  # noqa: E402
from symtoe.core.symbolic import WeightSymbol, weight_symbol  # noqa: E402
from symtoe.present.animate import (  # noqa: E402
    MAX_FRAMES,
    animate,
    frames_rgb,
    save,
    window_frames,
)
from symtoe.present.plot import weight_colours  # noqa: E402


def torch_taps(spec):
    """Per row (transposed: per column) of torch's matrix, the set of
    (flat position, flat tap) pairs where that tap's one-hot kernel is nonzero."""
    masks = np.array(one_hot_matrices(spec))  # (tap, rows, cols): one channel pair
    if spec.transposed:
        masks = masks.transpose(0, 2, 1)  # column i of the transposed layer's matrix
    return [{(int(p), int(t)) for t, p in zip(*np.nonzero(masks[:, line, :]))}
            for line in range(masks.shape[1])]


def frame_taps(spec, frame):
    grid = spec.output_size if spec.transposed else spec.input_size
    return {(int(np.ravel_multi_index(p, grid)), int(np.ravel_multi_index(t, spec.kernel_size)))
            for p, t in frame.taps}


def assert_frames_are_torch_rows(spec):
    frames = window_frames(spec)
    expected = torch_taps(spec)
    assert len(frames) == len(expected)
    for line, (frame, taps) in enumerate(zip(frames, expected, strict=True)):
        assert frame.line == line
        assert frame_taps(spec, frame) == taps
        assert len(frame.taps) == len(set(frame.taps))  # each folded tap once
        # the window: tap j of output i sits at i*s - p_left + j*d on every axis
        for m, tap in frame.window:
            j = tuple(k - 1 - t for k, t in zip(spec.kernel_size, tap)) if spec.flip else tap
            assert m == tuple(i * s - p + jj * d for i, jj, s, (p, _), d in zip(
                frame.position, j, spec.stride, spec.padding, spec.dilation))
    return frames


# Dumoulin & Visin, "A guide to convolution arithmetic" (2016): input i, kernel
# k, stride s, padding p (dilation d) and the output size o of each figure.
CONV_ARITHMETIC = {
    "no-padding-no-strides": (dict(input_size=(4, 4), kernel_size=3), 2),
    "arbitrary-padding-no-strides": (dict(input_size=(5, 5), kernel_size=4, padding=2), 6),
    "same-padding-no-strides": (dict(input_size=(5, 5), kernel_size=3, padding=1), 5),
    "full-padding-no-strides": (dict(input_size=(5, 5), kernel_size=3, padding=2), 7),
    "no-padding-strides": (dict(input_size=(5, 5), kernel_size=3, stride=2), 2),
    "padding-strides": (dict(input_size=(5, 5), kernel_size=3, stride=2, padding=1), 3),
    "padding-strides-odd": (dict(input_size=(6, 6), kernel_size=3, stride=2, padding=1), 3),
    "dilation": (dict(input_size=(7, 7), kernel_size=3, dilation=2), 3),
    "no-padding-no-strides-transposed": (dict(input_size=(2, 2), kernel_size=3), 4),
    "arbitrary-padding-no-strides-transposed": (dict(input_size=(6, 6), kernel_size=4, padding=2), 5),
    "same-padding-no-strides-transposed": (dict(input_size=(5, 5), kernel_size=3, padding=1), 5),
    "full-padding-no-strides-transposed": (dict(input_size=(7, 7), kernel_size=3, padding=2), 5),
    "no-padding-strides-transposed": (dict(input_size=(2, 2), kernel_size=3, stride=2), 5),
    "padding-strides-transposed": (dict(input_size=(3, 3), kernel_size=3, stride=2, padding=1), 5),
    "padding-strides-odd-transposed": (dict(input_size=(3, 3), kernel_size=3, stride=2, padding=1,
                                            output_padding=1), 6),
}


@pytest.mark.parametrize("case", CONV_ARITHMETIC.values(), ids=CONV_ARITHMETIC.keys())
def test_conv_arithmetic_cases(case, request):
    kwargs, o = case
    transposed = request.node.callspec.id.endswith("transposed")
    spec = ConvSpec(1, 1, transposed=transposed, **kwargs)
    assert spec.output_size == (o, o)
    frames = assert_frames_are_torch_rows(spec)
    windows = spec.input_size if transposed else spec.output_size
    assert [f.position for f in frames] == list(np.ndindex(*windows))


ONE_D = {
    "reflect": ConvSpec(1, 1, 3, input_size=5, padding=2, padding_mode="reflect"),
    "replicate-k5-stride": ConvSpec(1, 1, 5, input_size=6, padding=((3, 1),), stride=2,
                                    padding_mode="replicate"),
    "circular-kernel-longer-than-input": ConvSpec(1, 1, 5, input_size=3, padding=2,
                                                  padding_mode="circular"),
    "zeros-dilation-stride": ConvSpec(1, 1, 3, input_size=9, stride=2, dilation=2, padding=1),
    "flip-same-even": ConvSpec(1, 1, 4, input_size=6, flip=True, padding="same"),
    "transposed-dilation": ConvSpec(1, 1, 3, input_size=4, stride=3, dilation=2, padding=1,
                                    transposed=True, output_padding=1),
}
TWO_D = {
    "reflect": ConvSpec(1, 1, 3, input_size=(4, 3), padding=1, padding_mode="reflect"),
    "circular-flip": ConvSpec(1, 1, (2, 3), input_size=(3, 3), padding=(1, 2),
                              padding_mode="circular", flip=True),
    "replicate-stride": ConvSpec(1, 1, 3, input_size=(5, 4), padding=2, stride=(2, 1),
                                 padding_mode="replicate"),
}


@pytest.mark.parametrize("spec", list(ONE_D.values()) + list(TWO_D.values()),
                         ids=[f"1d-{k}" for k in ONE_D] + [f"2d-{k}" for k in TWO_D])
def test_frames_are_torch_rows_in_every_padding_mode(spec):
    assert_frames_are_torch_rows(spec)


@pytest.mark.parametrize(
    "spec",
    [ONE_D["reflect"], ONE_D["transposed-dilation"], TWO_D["reflect"],
     ConvSpec(1, 1, 3, input_size=(2, 2), stride=2, padding=1, transposed=True, output_padding=1)],
    ids=["1d-reflect", "1d-transposed", "2d-reflect", "2d-transposed"],
)
def test_what_each_frame_draws(spec):
    anim = animate(spec)
    scene = anim.scene
    frames = window_frames(spec)
    colours = weight_colours(spec)
    T = symbolic_matrix(spec)
    n_rows, n_cols = spec.matrix_shape
    x = {p: WeightSymbol("x", p) for p in np.ndindex(*spec.input_size)}
    for frame in frames:
        scene.update(frame.line)
        lit = scene.mask_image.get_array()[..., 3] == 0
        expected = np.zeros((n_rows, n_cols), dtype=bool)
        if spec.transposed:
            expected[:, frame.line] = True
        else:
            expected[frame.line] = True
        np.testing.assert_array_equal(lit, expected)
        for (rect, text), (m, tap), read in zip(scene.window, frame.window, scene.reads, strict=True):
            colour = colours[np.ravel_multi_index(tap, spec.kernel_size)]
            assert tuple(rect.get_facecolor()[:3]) == tuple(colour)
            assert text.get_text() == f"${sympy.latex(weight_symbol(spec, (0, 0, *tap)))}$"
            centre = rect.get_x() + 0.5, rect.get_y() + 0.5
            assert text.get_position() == centre
            if spec.rank == 2:
                assert centre == (m[1], m[0])
            elif spec.transposed:
                assert centre == (1, m[0])  # the window column beside the output strip
            else:
                assert centre == (m[0], -1)  # the window row above the input strip
            live = [p for p, t in frame.taps if t == tap]
            assert read.get_visible() == bool(live)
            if live:  # the cell the tap reads (folded: where the arrow points)
                (p,) = live
                read_centre = read.get_x() + 0.5, read.get_y() + 0.5
                assert read_centre == ((p[1], p[0]) if spec.rank == 2 else
                                       (0, p[0]) if spec.transposed else (p[0], 0))
        if not spec.transposed:  # the caption is row i of the symbolic matrix times x
            lhs, rhs = caption_sides(scene.caption.get_text())
            assert lhs == sympy.Symbol("y_" + "_".join(map(str, frame.position)))
            expected = sum((T[frame.line, c] * x[np.unravel_index(c, spec.input_size)]
                            for c in range(n_cols)), sympy.S.Zero)
            names = {s: sympy.Symbol(f"{s.base}_" + "_".join(map(str, s.index)))
                     for s in expected.free_symbols}
            assert sympy.expand(rhs - expected.subs(names)) == 0


SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def caption_sides(caption):
    """``row i of the matrix: y₀ = (w₀ + w₂) x₁ + ...`` as sympy (lhs, rhs), names x_1."""
    formula = caption.split(": ", 1)[1].replace("\n", " ")
    formula = re.sub(r"([wxy])([₀-₉]+(?:,[₀-₉]+)*)",
                     lambda m: m.group(1) + "_" + m.group(2).translate(SUBSCRIPTS).replace(",", "_"),
                     formula)
    lhs, rhs = formula.split(" = ")
    return sympy.Symbol(lhs), sympy.sympify(rhs.replace(" x_", "*x_"))


def test_gif_is_written_with_one_image_per_frame(tmp_path):
    spec = ConvSpec(1, 1, 2, input_size=3, padding=1, padding_mode="replicate")
    anim = animate(spec, interval=400)
    plt.close(anim.scene.fig)  # as in a notebook: the still figure is not shown
    path = save(anim, tmp_path / "conv.gif", dpi=30)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(window_frames(spec)) == 4
        assert gif.info["duration"] == 400


def test_blitted_frames_equal_full_redraws():
    """frames_rgb draws the still parts once and the moving artists per frame;
    a frame must look like the whole figure drawn at that frame."""
    spec = ConvSpec(1, 1, 3, input_size=5, padding=1, padding_mode="reflect")
    anim = animate(spec)
    blitted = list(frames_rgb(anim, dpi=50))
    assert len(blitted) == len(window_frames(spec))
    fig = anim.scene.fig
    for index in (0, 3):
        anim.scene.update(index)
        fig.canvas.draw()
        full = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
        differ = np.abs(full - blitted[index]).max(axis=-1) > 40
        assert differ.mean() < 0.01  # translucent overlays may stack in another order
    assert not np.array_equal(blitted[0], blitted[3])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_mp4_where_ffmpeg_exists(tmp_path):
    path = save(animate(ConvSpec(1, 1, 2, input_size=3)), tmp_path / "conv.mp4", dpi=30)
    assert path.stat().st_size > 1000


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: window_frames(ConvSpec(1, 1, 2, input_size=(3, 3, 3))), "spec must be 1-D or 2-D to animate"),
        (lambda: animate(ConvSpec(2, 1, 2, input_size=3)), "one input and one output channel.*in_channels=2"),
        (lambda: animate(ConvSpec(1, 1, 1, input_size=(21, 20))), f"at most {MAX_FRAMES} output positions to animate, but has 420"),
        (lambda: animate(ConvSpec(1, 1, 2, input_size=3), interval=0), "interval must be a positive integer"),
        (lambda: save(animate(ConvSpec(1, 1, 2, input_size=3)), "conv.avi"), r"path must end in .gif or .mp4, but got 'conv.avi'"),
        (lambda: window_frames("spec"), "spec must be a ConvSpec"),
    ],
    ids=["3d", "channels", "too-many-frames", "interval", "suffix", "not-a-spec"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg is installed")
def test_mp4_without_ffmpeg_says_so(tmp_path):
    with pytest.raises(ValueError, match="needs ffmpeg, which is not installed; write a .gif"):
        save(animate(ConvSpec(1, 1, 2, input_size=3)), tmp_path / "conv.mp4")
