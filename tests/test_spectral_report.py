"""The spectral report of whole models, read from the model trace.

References: numpy's SVD of each layer's matrix read off torch by one-hot
probing, the Jacobian of the whole network from ``torch.autograd`` (its
largest singular value is a lower bound of the network's Lipschitz
constant), and ``torch.nn.utils.spectral_norm``'s reshaped matrix.
"""

import numpy as np
import pytest
import torch
from models import resnet18, seeded
from reference import probe_matrix
from torch import nn

from symtoe import ConvSpec
from symtoe.network.spectral import spectral_report


def chain():
    with seeded(0):
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4, 4, 3, stride=2, padding=1, padding_mode="circular"), nn.Tanh(),
            nn.Conv2d(4, 3, 1), nn.Flatten(), nn.Linear(3 * 4 * 4, 5),
        ).double()


def test_rows_of_a_chain_match_each_layer():
    model = chain()
    report = spectral_report(model, (2, 8, 8))
    assert [r.name for r in report.rows] == ["0", "2", "4", "6"]
    assert report.unaccounted == ()
    sizes = {"0": (8, 8), "2": (8, 8), "4": (4, 4)}
    for row in report.rows:
        module = model[int(row.name)]
        w = module.weight.detach()
        if row.kind == "linear":
            true = np.linalg.svd(w.numpy(), compute_uv=False)[0]
        else:
            spec = ConvSpec.from_module(module, sizes[row.name])
            true = np.linalg.norm(probe_matrix(spec, w).numpy(), 2)
            assert row.reshaped == pytest.approx(
                np.linalg.norm(w.reshape(w.shape[0], -1).numpy(), 2), rel=1e-12)
        assert row.lower <= true * (1 + 1e-12) and row.upper >= true * (1 - 1e-12)
    assert report.rows[1].exact  # circular, stride 2, 8 = 4 * 2: circulant
    assert report.lipschitz == pytest.approx(np.prod([r.upper for r in report.rows]))


def test_product_bounds_the_jacobian_of_a_chain():
    """For a chain with 1-Lipschitz activations (nothing unaccounted), the
    product of the upper bounds is at least the norm of the network's
    Jacobian at any input (torch.autograd)."""
    model = chain()
    report = spectral_report(model, (2, 8, 8))
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = torch.from_numpy(rng.standard_normal((1, 2, 8, 8)))
        jac = torch.autograd.functional.jacobian(model, x).reshape(5, -1)
        assert np.linalg.svd(jac.numpy(), compute_uv=False)[0] <= report.lipschitz * (1 + 1e-12)


def test_a_resnet_says_what_the_product_leaves_out():
    with seeded(1):
        model = resnet18(width=4, num_classes=3)
    report = spectral_report(model, (3, 32, 32))
    assert sum(r.kind == "conv" for r in report.rows) == 20
    assert sum(r.kind == "linear" for r in report.rows) == 1
    reasons = "\n".join(report.unaccounted)
    assert "combines branches" in reasons  # the residual additions
    assert "normalisation" in reasons  # BatchNorm
    assert "pooling" in reasons
    assert "not a Lipschitz bound of this model" in report.table()
    shortcuts = [r for r in report.rows if r.name.endswith("downsample.0")]
    assert len(shortcuts) == 3 and all(r.exact for r in shortcuts)  # 1x1 stride 2: circulant
