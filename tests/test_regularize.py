"""The differentiable norm and the projection onto a norm ball.

References: ``torch.autograd.gradcheck`` (central finite differences) for the
gradient; numpy's SVD of the matrix torch computes (``reference.probe_matrix``)
for every norm and singular value.
"""

import numpy as np
import pytest
import torch
from reference import probe_matrix

from symtoe import ConvSpec
from symtoe.analysis.regularize import norm_bound, project_norm


def random_weight(spec, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)


def svd(spec, w):
    return np.linalg.svd(probe_matrix(spec, w.detach()).numpy(), compute_uv=False)


def circ(cin, cout, k, n, **kw):
    return ConvSpec(cin, cout, k, input_size=n, padding_mode="circular", **kw)


EXACT = {
    "1d-same": circ(2, 3, 3, 8, padding=1),
    "2d-stride2": circ(3, 2, 3, (6, 4), padding=1, stride=2),
    "2d-groups-flip": circ(4, 2, (2, 3), (5, 4), padding="same", groups=2, flip=True),
    "2d-1x1-stride2-zeros": ConvSpec(4, 6, 1, input_size=(4, 6), stride=2),
    "1d-transposed-patchify": ConvSpec(4, 3, 2, input_size=5, stride=2, transposed=True),
}
BOUND = {
    "1d-zeros": ConvSpec(2, 3, 3, input_size=7, padding=1),
    "2d-zeros-stride2": ConvSpec(2, 2, 3, input_size=(5, 6), padding=1, stride=2),
    "1d-reflect": ConvSpec(2, 2, 3, input_size=6, padding=1, padding_mode="reflect"),
    "1d-transposed": ConvSpec(2, 3, 3, input_size=4, stride=2, padding=1, transposed=True,
                              output_padding=1),
}


@pytest.mark.parametrize("spec", [*EXACT.values(), *BOUND.values()], ids=[*EXACT, *BOUND])
def test_gradient_equals_finite_differences(spec):
    w = random_weight(spec, 0).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: norm_bound(spec, x), (w,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("spec", EXACT.values(), ids=EXACT.keys())
def test_norm_bound_is_the_norm_of_circulant_layers(spec):
    w = random_weight(spec, 1)
    assert float(norm_bound(spec, w)) == pytest.approx(svd(spec, w)[0], rel=1e-12)


@pytest.mark.parametrize("spec", BOUND.values(), ids=BOUND.keys())
def test_norm_bound_bounds_other_layers(spec):
    w = random_weight(spec, 2)
    assert float(norm_bound(spec, w)) >= svd(spec, w)[0] * (1 - 1e-12)


def test_norm_bound_as_a_regulariser_lowers_the_norm():
    spec = EXACT["1d-same"]
    w = random_weight(spec, 3).requires_grad_()
    before = svd(spec, w)[0]
    opt = torch.optim.SGD([w], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        norm_bound(spec, w).backward()
        opt.step()
    assert svd(spec, w)[0] < 0.9 * before


PROJECT = {
    "1d-same": circ(2, 3, 3, 8, padding=1),
    "2d-same": circ(3, 3, 3, (5, 6), padding=1),
    "2d-stride2-groups": circ(4, 2, 3, (6, 4), padding=1, stride=2, groups=2),
    "1d-dilated-wraps": circ(2, 2, 3, 5, padding=2, dilation=2),
    "2d-flip": circ(2, 2, (2, 3), (5, 4), padding="same", flip=True),
    "2d-1x1-stride2-zeros": ConvSpec(4, 6, 1, input_size=(4, 6), stride=2),
    "1d-transposed-patchify": ConvSpec(4, 3, 2, input_size=6, stride=2, transposed=True),
}


@pytest.mark.parametrize("spec", PROJECT.values(), ids=PROJECT.keys())
def test_projection_onto_the_kernel_support(spec):
    w = random_weight(spec, 4)
    sigma = svd(spec, w)
    bound, tol = 0.6 * sigma[0], 1e-6
    p = project_norm(spec, w, bound, tol=tol)
    assert p.spec == spec and p.weight.shape == w.shape
    new = svd(spec, p.weight)
    assert new[0] <= bound * (1 + tol) * (1 + 1e-12)
    assert p.norm == pytest.approx(new[0], rel=1e-10)
    # a projection: at least as close to the layer as plain rescaling (Frobenius of T)
    T = probe_matrix(spec, w).numpy()
    moved = np.linalg.norm(probe_matrix(spec, p.weight).numpy() - T)
    assert moved <= np.linalg.norm(T * (bound / sigma[0]) - T) * (1 + 1e-9)


@pytest.mark.parametrize("name", ["1d-same", "2d-same", "2d-stride2-groups", "2d-flip"])
def test_full_support_projection_clips_every_singular_value(name):
    """Sedghi et al.: clipping the DFT blocks' singular values clips the
    layer's singular values, min(sigma, bound), one by one."""
    spec = PROJECT[name]
    w = random_weight(spec, 5)
    sigma = svd(spec, w)
    bound = float(np.median(sigma))
    p = project_norm(spec, w, bound, support="full")
    assert p.spec.kernel_size == spec.input_size and p.spec.padding_mode == "circular"
    np.testing.assert_allclose(svd(p.spec, p.weight), np.minimum(sigma, bound),
                               rtol=0, atol=1e-10 * sigma[0])


def test_weights_inside_the_ball_are_unchanged():
    spec = PROJECT["2d-same"]
    w = random_weight(spec, 6)
    p = project_norm(spec, w, 2 * svd(spec, w)[0])
    assert torch.equal(p.weight, w) and p.iterations == 0 and not p.scaled
