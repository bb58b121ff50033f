"""Figures: what each draws is read back from the Axes and checked against
torch (one-hot probes, gradients) and sympy's entries of the matrix; every
function takes ``ax=`` and returns the Figure; nothing is clipped."""

import math
import tracemalloc

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from reference import probe_matrix, torch_forward  # noqa: E402

from symtoe import ConvSpec, count_parameters, symbolic_matrix  # noqa: E402
from symtoe.present.plot import (  # noqa: E402
    nonzero_counts,
    plot_boundary_map,
    plot_coverage,
    plot_receptive_field,
    plot_sharing,
    plot_sparsity,
    tap_coverage,
    weight_colours,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def one_hot_matrices(spec):
    """E_p read off torch: the matrix of the layer whose only nonzero weight is p."""
    numel = int(np.prod(spec.weight_shape))
    eye = torch.eye(numel, dtype=torch.float64).reshape(numel, *spec.weight_shape)
    return [probe_matrix(spec, w).numpy() != 0 for w in eye]


def drawn_texts(fig):
    """Every text the figure draws: non-empty visible Text artists that are not
    tick labels, and the tick labels inside each axis's view."""
    fig.canvas.draw()
    ticks = set()
    texts = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((tick.label1, tick.label2))
                if tick.label1.get_visible() and lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    texts += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text()]
    texts += [t for t in fig.findobj(Text)
              if t not in ticks and t.get_visible() and t.get_text() and t.get_alpha() != 0]
    return texts


def assert_inside_figure(fig):
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for text in drawn_texts(fig):
        e = text.get_window_extent(renderer)
        assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, (
            f"{text.get_text()!r} at {e} is outside the figure {box}")


def normalise(latex):
    return latex.replace("$", "").replace("\n", "").replace(" ", "")


# every padding mode, channels, groups, stride, dilation, flip and transposed
SHARING = {
    "1d-zeros-stride": ConvSpec(1, 1, 3, input_size=7, stride=2, padding=1),
    "1d-reflect": ConvSpec(1, 1, 3, input_size=4, padding=2, padding_mode="reflect"),
    "1d-replicate-k5": ConvSpec(1, 1, 5, input_size=6, padding=2, padding_mode="replicate"),
    "1d-circular-long-kernel": ConvSpec(1, 1, 5, input_size=3, padding=2, padding_mode="circular"),
    "2d-reflect": ConvSpec(1, 1, 3, input_size=(3, 3), padding=1, padding_mode="reflect"),
    "2d-replicate": ConvSpec(1, 1, 3, input_size=(2, 3), padding=1, padding_mode="replicate"),
    "2d-channels": ConvSpec(2, 3, 2, input_size=(2, 3)),
    "2d-groups": ConvSpec(4, 2, 2, input_size=(2, 3), groups=2),
    "2d-dilation-flip": ConvSpec(1, 1, 2, input_size=(3, 3), dilation=2, padding=1, flip=True),
    "1d-transposed-channels": ConvSpec(2, 2, 3, input_size=3, stride=2, transposed=True),
    "2d-transposed": ConvSpec(1, 1, 3, input_size=(2, 3), stride=2, padding=1,
                              transposed=True, output_padding=1),
}


@pytest.mark.parametrize("spec", SHARING.values(), ids=SHARING.keys())
def test_sharing_labels_are_the_sympy_entries_and_fit_their_cells(spec):
    T = symbolic_matrix(spec)
    fig = plot_sharing(spec)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    labels = {}
    for text in ax.texts:
        c, r = text.get_position()
        labels[(int(r), int(c))] = text
        # the label lies inside its cell
        (x0, y0), (x1, y1) = ax.transData.transform([(c - 0.5, r + 0.5), (c + 0.5, r - 0.5)])
        e = text.get_window_extent(renderer)
        assert x0 - 1 <= e.x0 and e.x1 <= x1 + 1 and y0 - 1 <= e.y0 and e.y1 <= y1 + 1, text.get_text()
        assert text.get_fontsize() >= 6.5
    nonzero = {(r, c) for r in range(T.rows) for c in range(T.cols) if T[r, c] != 0}
    assert set(labels) == nonzero
    for (r, c), text in labels.items():
        assert normalise(text.get_text()) == normalise(sympy.latex(T[r, c]))
    assert_inside_figure(fig)


@pytest.mark.parametrize(
    "spec",
    [ConvSpec(1, 1, 3, input_size=(4, 4)), ConvSpec(2, 2, 2, input_size=5, stride=2, padding=1),
     ConvSpec(2, 4, 2, input_size=(3, 3), groups=2)],
    ids=["2d", "channels-stride", "groups"],
)
def test_sharing_colours_are_one_per_weight(spec):
    fig = plot_sharing(spec)
    image = fig.axes[0].images[0].get_array()
    masks = one_hot_matrices(spec)
    colours = weight_colours(spec)
    for p, mask in enumerate(masks):  # all cells of E_p have weight p's colour, no other cell has it
        np.testing.assert_array_equal((image == colours[p]).all(axis=-1), mask)
    assert len({tuple(c) for c in colours}) == len(masks)
    zero = ~np.any(masks, axis=0)
    assert (image[zero] == 1).all()  # structural zeros are white


@pytest.mark.parametrize("name, labels", [("1d-reflect", True), ("1d-replicate-k5", False),
                                          ("2d-reflect", False), ("1d-circular-long-kernel", True)])
def test_folded_cells_have_one_stripe_per_tap_in_its_colour(name, labels):
    spec = SHARING[name]
    masks = one_hot_matrices(spec)
    colours = [tuple(c) for c in weight_colours(spec)]
    fig = plot_sharing(spec, labels=labels)
    (stripes,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    cells = {}
    for path, colour in zip(stripes.get_paths(), stripes.get_facecolor(), strict=True):
        (c, r) = np.round(path.vertices[:4].mean(axis=0)).astype(int)
        cells.setdefault((r, c), []).append(colours.index(tuple(colour[:3])))
    folded = {(r, c) for r, c in zip(*np.nonzero(np.sum(masks, axis=0) > 1))}
    assert set(cells) == folded
    for (r, c), weights in cells.items():  # the stripes are exactly torch's taps of the cell
        assert sorted(weights) == [p for p, m in enumerate(masks) if m[r, c]]


def test_unlabelled_sharing_has_a_legend_of_sympy_symbols():
    fig = plot_sharing(ConvSpec(1, 1, (2, 2), input_size=(3, 3)), labels=False)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["$w_{0,0}$", "$w_{0,1}$", "$w_{1,0}$", "$w_{1,1}$"]
    assert not fig.axes[0].texts


@pytest.mark.parametrize(
    "spec",
    [ConvSpec(2, 3, 2, input_size=(3, 3)), ConvSpec(2, 2, 2, input_size=(2, 3)),
     ConvSpec(4, 2, 3, input_size=(3, 4), groups=2, padding=1),
     ConvSpec(2, 3, 2, input_size=4, transposed=True, stride=2),
     ConvSpec(2, 2, 2, input_size=(2, 2, 3))],
    ids=["wide-2d", "2d", "groups", "transposed", "3d"],
)
def test_block_lines_span_the_whole_matrix(spec):
    """Channel lines at every block boundary, outer spatial lines inside each
    block, each from one edge of the axes to the other."""
    fig = plot_sharing(spec, labels=False)
    ax = fig.axes[0]
    n_rows, n_cols = spec.matrix_shape
    found = {"h": set(), "v": set()}
    for lines in (c for c in ax.collections
                  if isinstance(c, LineCollection) and c.get_gid() != "cell-lines"):
        for seg in lines.get_segments():
            (xa, ya), (xb, yb) = seg
            if ya == yb:  # horizontal: across every column
                assert sorted((xa, xb)) == sorted(ax.get_xlim())
                found["h"].add(ya + 0.5)
            else:
                assert xa == xb and sorted((ya, yb)) == sorted(ax.get_ylim())
                found["v"].add(xa + 0.5)

    def expected(size, channels, extent):
        block, inner = math.prod(size), math.prod(size[1:])
        lines = set(range(block, extent, block)) if channels > 1 else set()
        return lines | ({i for i in range(inner, extent, inner) if i % block} if len(size) > 1 else set())

    assert found["h"] == expected(spec.output_size, spec.out_channels, n_rows)
    assert found["v"] == expected(spec.input_size, spec.in_channels, n_cols)


@pytest.mark.parametrize(
    "spec",
    [ConvSpec(2, 3, 3, input_size=(6, 6), padding=1),
     ConvSpec(4, 6, 2, input_size=(5, 4), groups=2, stride=(2, 1), padding=(1, 0)),
     ConvSpec(1, 1, 3, input_size=(5, 5), padding=2, padding_mode="reflect"),
     ConvSpec(1, 2, 3, input_size=(3, 3), padding=1, padding_mode="circular", dilation=2),
     ConvSpec(2, 4, 3, input_size=(3, 4), stride=2, padding=1, groups=2, transposed=True),
     ConvSpec(2, 2, 2, input_size=(3, 3, 4), padding=1, padding_mode="replicate")],
    ids=["2d", "groups-stride", "reflect", "circular-dilation", "transposed-groups", "3d"],
)
def test_nonzero_counts_equal_torch_nonzeros_in_every_bin(spec):
    nonzero = probe_matrix(spec, torch.rand(spec.weight_shape, dtype=torch.float64,
                                            generator=torch.Generator().manual_seed(1)) + 1).numpy() != 0
    n_rows, n_cols = spec.matrix_shape
    rng = np.random.default_rng(20261202)
    for _ in range(3):  # uneven bins, empty bins included
        re = np.unique(np.concatenate([[0, n_rows], rng.integers(0, n_rows + 1, 7)]))
        ce = np.unique(np.concatenate([[0, n_cols], rng.integers(0, n_cols + 1, 9)]))
        expected = np.add.reduceat(np.add.reduceat(nonzero, re[:-1], 0), ce[:-1], 1)
        expected[np.diff(re) == 0] = 0
        expected[:, np.diff(ce) == 0] = 0
        np.testing.assert_array_equal(nonzero_counts(spec, re, ce), expected)
    whole = nonzero_counts(spec, [0, n_rows], [0, n_cols])
    assert whole[0, 0] == nonzero.sum() == count_parameters(spec).nonzeros


def test_sparsity_image_is_the_binned_density_of_torch_nonzeros():
    spec = ConvSpec(2, 3, 3, input_size=(6, 6), padding=1)
    g = torch.Generator().manual_seed(1)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
    nonzero = probe_matrix(spec, w).numpy() != 0
    fig = plot_sparsity(spec, bins=1000)  # one pixel per entry
    density = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(density.filled(0), nonzero.astype(float))
    coarse = plot_sparsity(spec, bins=10).axes[0].images[0].get_array().filled(0)
    # 3 output-channel blocks of 36 rows cut in 3 parts (12 rows), 2 input blocks of 36 in 5
    rows, cols = np.arange(0, 109, 12), np.array([0, 7, 14, 22, 29, 36, 43, 50, 58, 65, 72])
    expected = np.add.reduceat(np.add.reduceat(nonzero, rows[:-1], 0), cols[:-1], 1)
    np.testing.assert_allclose(coarse, expected / np.outer(np.diff(rows), np.diff(cols)))


def test_imagenet_layer_density_without_the_matrix():
    """512 -> 512, 3x3 at 224 x 224: 1.2e11 nonzeros, drawn from per-axis counts."""
    spec = ConvSpec(512, 512, 3, input_size=(224, 224), padding=1)
    tracemalloc.start()
    try:
        fig = plot_sparsity(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200e6
    density = fig.axes[0].images[0].get_array()
    assert density.shape == (256, 256)  # two whole channel blocks per bin
    # each bin holds 2 x 2 channel blocks: its density is a block's, 224 * 3 - 2 per axis squared
    per_block = (3 * 224 - 2) ** 2 / (224 * 224) ** 2
    np.testing.assert_allclose(density, per_block, rtol=1e-12)
    counts = nonzero_counts(spec, [0, spec.matrix_shape[0]], [0, spec.matrix_shape[1]])
    assert counts[0, 0] == count_parameters(spec).nonzeros == 512 * 512 * 670**2


@pytest.mark.parametrize(
    "spec",
    [ConvSpec(1, 1, 3, input_size=6, padding=1, padding_mode="reflect"),
     ConvSpec(1, 1, 5, input_size=7, padding=2, padding_mode="replicate", stride=2),
     ConvSpec(1, 1, 3, input_size=(5, 6), padding=1, stride=(1, 2)),
     ConvSpec(1, 1, 2, input_size=(4, 4), padding=1, padding_mode="circular", dilation=2),
     ConvSpec(1, 1, 3, input_size=(3, 3), stride=2, transposed=True)],
    ids=["1d-reflect", "1d-replicate-stride", "2d-stride", "2d-circular-dilation", "2d-transposed"],
)
def test_coverage_per_tap_is_torch_gradient(spec):
    """Bar segments / mosaic cells per tap: the gradient of sum(layer(x)) with
    respect to x when only that tap's weight is 1; colours of weight_colours."""
    taps = math.prod(spec.kernel_size)
    grads = []
    for t in range(taps):
        x = torch.zeros(1, 1, *spec.input_size, dtype=torch.float64, requires_grad=True)
        w = torch.zeros(taps, dtype=torch.float64)
        w[t] = 1
        torch_forward(spec, x, w.reshape(spec.weight_shape)).sum().backward()
        grads.append(x.grad[0, 0].numpy())
    grads = np.array(grads)
    np.testing.assert_array_equal(tap_coverage(spec), grads)
    colours = weight_colours(spec)
    fig = plot_coverage(spec)
    ax = fig.axes[0]
    if spec.rank == 1:
        bars = ax.patches
        heights = np.array([b.get_height() for b in bars]).reshape(taps, -1)
        np.testing.assert_array_equal(heights, grads)
        for t in range(taps):
            assert {to_rgb(b.get_facecolor()) for b in bars[t * len(grads[0]):(t + 1) * len(grads[0])]} == {tuple(colours[t])}
    else:
        kh, kw = spec.kernel_size
        h, w = spec.input_size
        rgb = ax.images[0].get_array().reshape(h, kh, w, kw, 3).transpose(1, 3, 0, 2, 4)
        meets = (grads > 0).reshape(kh, kw, h, w)
        for a, b in np.ndindex(kh, kw):
            is_colour = (rgb[a, b] == colours[a * kw + b]).all(axis=-1)
            np.testing.assert_array_equal(is_colour, meets[a, b])
        numbers = np.zeros((h, w), dtype=int)
        for text in ax.texts:
            c, r = text.get_position()
            numbers[int(r), int(c)] = int(text.get_text())
        np.testing.assert_array_equal(numbers, grads.sum(axis=0))
    assert_inside_figure(fig)


def test_large_and_3d_coverage_is_a_heat_map_of_torch_gradient():
    spec = ConvSpec(1, 1, 3, input_size=(3, 30, 30), padding=1)
    x = torch.zeros(1, 1, 3, 30, 30, dtype=torch.float64, requires_grad=True)
    torch_forward(spec, x, torch.ones(spec.weight_shape, dtype=torch.float64)).sum().backward()
    fig = plot_coverage(spec)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), x.grad[0, 0, 1].numpy())


def test_boundary_map_from_bool_array():
    exact = np.array([[False, True, True], [True, True, False]])
    fig = plot_boundary_map(exact)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), exact.astype(int))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "exact (4)", "not exact (2)"]
    assert fig.axes[0].get_ylabel() == "output position (axis 0)"


def test_boundary_map_from_check_shift():
    pytest.importorskip("symtoe.analysis.equivariance")
    spec = ConvSpec(1, 1, 3, input_size=6, padding=1)
    fig = plot_boundary_map(spec, 1)
    # zero padding, shift 1: the two border outputs differ from torch's shifted output
    g = torch.Generator().manual_seed(4)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)
    x = torch.randn(1, 1, 6, generator=g, dtype=torch.float64)
    shifted_x = torch.cat([torch.zeros(1, 1, 1, dtype=torch.float64), x[..., :-1]], -1)
    y = torch_forward(spec, x, w)
    shifted_y = torch.cat([torch.zeros(1, 1, 1, dtype=torch.float64), y[..., :-1]], -1)
    torch_exact = torch.isclose(torch_forward(spec, shifted_x, w), shifted_y)[0, 0].numpy()
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array()[0], torch_exact.astype(int))


def test_receptive_field_is_torch_gradient_support():
    specs = [ConvSpec(1, 1, 3, input_size=(11, 11), padding=1),
             ConvSpec(1, 1, 2, input_size=(11, 11), stride=2)]
    fig = plot_receptive_field(specs, (2, 3))
    x = torch.ones(1, 1, 11, 11, dtype=torch.float64, requires_grad=True)
    y = x
    for s in specs:
        y = torch_forward(s, y, torch.ones(s.weight_shape, dtype=torch.float64))
    y[0, 0, 2, 3].backward()
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(),
                                  (x.grad[0, 0] != 0).numpy().astype(int))
    box = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"][0]
    # r = 1 + 2 + 1 = 4, S = 2, P = 1: rows 2*2-1 = 3..6, cols 2*3-1 = 5..8
    assert (box.get_x(), box.get_y(), box.get_width()) == (4.5, 2.5, 4)
    assert fig.axes[0].get_ylabel() == "input position (axis 0)"


@pytest.mark.parametrize(
    "draw",
    [lambda: plot_sharing(ConvSpec(1, 1, 2, input_size=3)),
     lambda: plot_sharing(ConvSpec(3, 8, 3, input_size=(6, 6), padding=1, padding_mode="reflect")),
     lambda: plot_sparsity(ConvSpec(64, 64, 3, input_size=(56, 56), padding=1)),
     lambda: plot_coverage(ConvSpec(1, 1, 5, input_size=(2, 3), padding=2, padding_mode="replicate")),
     lambda: plot_boundary_map(ConvSpec(1, 1, 3, input_size=3, padding=1), 1),
     lambda: plot_boundary_map(np.ones((2, 2, 2), dtype=bool)),
     lambda: plot_receptive_field(ConvSpec(1, 1, 2, input_size=2)),
     lambda: plot_receptive_field([ConvSpec(1, 1, 3, input_size=(5, 5), padding=1)] * 2, (0, 0))],
    ids=["sharing-tiny", "sharing-unlabelled", "sparsity-big", "coverage-2d-wide-kernel",
         "boundary-narrow", "boundary-3d", "receptive-1d", "receptive-2d"],
)
def test_no_text_is_clipped(draw):
    assert_inside_figure(draw())


@pytest.mark.parametrize(
    "draw",
    [lambda ax: plot_sharing(ConvSpec(1, 1, 2, input_size=3), ax=ax),
     lambda ax: plot_sparsity(ConvSpec(1, 1, 2, input_size=3), ax=ax),
     lambda ax: plot_coverage(ConvSpec(1, 1, 2, input_size=(3, 3)), ax=ax),
     lambda ax: plot_boundary_map(np.ones(4, dtype=bool), ax=ax),
     lambda ax: plot_receptive_field(ConvSpec(1, 1, 2, input_size=5), ax=ax)],
    ids=["sharing", "sparsity", "coverage", "boundary", "receptive"],
)
def test_every_function_draws_on_the_given_axes(draw, tmp_path):
    fig, axes = plt.subplots(1, 2)
    size = tuple(fig.get_size_inches())
    assert draw(axes[1]) is fig
    assert axes[1].has_data() and not axes[0].has_data()
    assert tuple(fig.get_size_inches()) == size  # the caller's figure is not resized
    fig.savefig(tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plot_sharing(ConvSpec(8, 8, 3, input_size=(32, 32))), "use plot_sparsity"),
        (lambda: plot_sharing("spec"), "spec must be a ConvSpec"),
        (lambda: plot_sharing(ConvSpec(1, 1, 3, input_size=5), labels="yes"), "labels must be True, False or 'auto'"),
        (lambda: plot_sparsity(ConvSpec(1, 1, 3, input_size=5), bins=0), "bins must be"),
        (lambda: nonzero_counts(ConvSpec(1, 1, 3, input_size=5), [0, 4], [0, 5]), r"row_edges must be increasing integers in \[0, 3\]"),
        (lambda: nonzero_counts(ConvSpec(1, 1, 3, input_size=5), [0, 3], [2, 1]), "col_edges must be increasing"),
        (lambda: plot_boundary_map(np.zeros(3)), "bool array"),
        (lambda: plot_boundary_map(ConvSpec(1, 1, 3, input_size=5)), "shift must be given"),
        (lambda: plot_receptive_field(ConvSpec(1, 1, 2, input_size=(3, 3, 3))), "1-D or 2-D"),
        (lambda: plot_receptive_field([]), "specs must be"),
    ],
    ids=["sharing-too-big", "sharing-not-spec", "labels", "bins", "row-edges", "col-edges",
         "boundary-dtype", "boundary-shift", "receptive-3d", "receptive-empty"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.slow
def test_present_benchmark_runs():
    """The benchmark script prints its table (timings are its output, not asserted)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_present.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=root)
    assert run.returncode == 0, run.stderr
    assert "| picture | time | note |" in run.stdout and "plot_sparsity 512->512" in run.stdout
