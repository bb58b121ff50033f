"""Figures: what each draws is checked against torch (the pixels are read back
from the Axes), every function takes ``ax=`` and returns the Figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from reference import probe_matrix, torch_forward  # noqa: E402

from symtoe import ConvSpec  # noqa: E402
from symtoe.present.plot import (  # noqa: E402
    plot_boundary_map,
    plot_coverage,
    plot_receptive_field,
    plot_sharing,
    plot_sparsity,
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
    colours = set()
    for mask in masks:  # all cells of E_p share one colour, no other cell has it
        (colour,) = {tuple(c) for c in image[mask]}
        colours.add(colour)
        np.testing.assert_array_equal((image == colour).all(axis=-1), mask)
    assert len(colours) == len(masks) and (1.0, 1.0, 1.0) not in colours
    zero = ~np.any(masks, axis=0)
    assert (image[zero] == 1).all()  # structural zeros are white


def test_sharing_labels_name_the_weights():
    fig = plot_sharing(ConvSpec(1, 1, 3, input_size=4, padding=2, padding_mode="reflect"))
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert "$w_{0}+w_{2}$" in texts and texts.count("$w_{1}$") == 6
    unlabelled = plot_sharing(ConvSpec(1, 1, 3, input_size=4), labels=False)
    labels = [t.get_text() for t in unlabelled.axes[0].get_legend().get_texts()]
    assert labels == ["$w_{0}$", "$w_{1}$", "$w_{2}$"]


def test_sharing_block_lines():
    fig = plot_sharing(ConvSpec(2, 2, 2, input_size=(2, 3)))
    ax = fig.axes[0]
    widths = sorted(c.get_linewidth()[0] for c in ax.collections)
    assert len(widths) == 4  # spatial + channel lines, each way


def test_sparsity_bins_equal_torch_nonzeros():
    spec = ConvSpec(2, 3, 3, input_size=(6, 6), padding=1)
    g = torch.Generator().manual_seed(1)
    w = torch.rand(spec.weight_shape, generator=g, dtype=torch.float64) + 1
    nonzero = probe_matrix(spec, w).numpy() != 0
    fig = plot_sparsity(spec, bins=1000)  # one pixel per entry
    density = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(density.filled(0), nonzero.astype(float))
    coarse = plot_sparsity(spec, bins=10).axes[0].images[0].get_array().filled(0)
    rb, cb = -(-108 // 10), -(-72 // 10)  # 11 x 8 entries per bin
    assert coarse.shape == (10, 9)
    assert coarse[0, 0] == nonzero[:rb, :cb].mean()


def test_coverage_is_torch_gradient():
    spec = ConvSpec(1, 1, 3, input_size=(5, 6), padding=1, stride=(1, 2))
    x = torch.zeros(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    torch_forward(spec, x, torch.ones(spec.weight_shape, dtype=torch.float64)).sum().backward()
    fig = plot_coverage(spec)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), x.grad[0, 0].numpy())
    bars = plot_coverage(ConvSpec(1, 1, 3, input_size=6)).axes[0].patches
    assert [b.get_height() for b in bars] == [1, 2, 3, 3, 2, 1]


def test_boundary_map_from_bool_array():
    exact = np.array([[False, True, True], [True, True, False]])
    fig = plot_boundary_map(exact)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), exact.astype(int))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "exact (4)", "not exact (2)"]


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
    assert draw(axes[1]) is fig
    assert axes[1].has_data() and not axes[0].has_data()
    fig.savefig(tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


def test_folded_cells_get_a_marker_without_labels():
    fig = plot_sharing(ConvSpec(1, 1, 3, input_size=4, padding=2, padding_mode="reflect"),
                       labels=False)
    (markers,) = fig.axes[0].collections[:1]
    np.testing.assert_array_equal(markers.get_offsets(), [[1, 1], [2, 4]])
    assert to_rgb(markers.get_facecolor()[0]) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plot_sharing(ConvSpec(8, 8, 3, input_size=(32, 32))), "use plot_sparsity"),
        (lambda: plot_sharing("spec"), "spec must be a ConvSpec"),
        (lambda: plot_sparsity(ConvSpec(1, 1, 3, input_size=5), bins=0), "bins must be"),
        (lambda: plot_boundary_map(np.zeros(3)), "bool array"),
        (lambda: plot_boundary_map(ConvSpec(1, 1, 3, input_size=5)), "shift must be given"),
        (lambda: plot_receptive_field(ConvSpec(1, 1, 2, input_size=(3, 3, 3))), "1-D or 2-D"),
        (lambda: plot_receptive_field([]), "specs must be"),
    ],
    ids=["sharing-too-big", "sharing-not-spec", "bins", "boundary-dtype", "boundary-shift",
         "receptive-3d", "receptive-empty"],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
