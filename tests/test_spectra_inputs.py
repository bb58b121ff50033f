"""Every bad argument of the spectra functions: a ValueError or TypeError that
names the argument, raised before any work (issue 11's rule)."""

import numpy as np
import pytest
import torch

import symtoe.core.numeric
from symtoe import ConvSpec
from symtoe.analysis.norms import norm_row, operator_norm, reshaped_kernel_norm
from symtoe.analysis.regularize import norm_bound, project_norm
from symtoe.analysis.spectrum import fft_rule, singular_values

Z = ConvSpec(2, 3, 3, input_size=(5, 5), padding=1)  # zero padding
C = ConvSpec(2, 3, 3, input_size=(5, 5), padding=1, padding_mode="circular")
W = torch.ones(Z.weight_shape, dtype=torch.float64)
NAN = W.clone()
NAN[0, 0, 0, 0] = float("nan")
INF = W.clone()
INF[1, 1, 1, 1] = float("inf")

CASES = {
    # singular_values
    "sv-spec-str": (lambda: singular_values("conv", W), "spec"),
    "sv-spec-none": (lambda: singular_values(None, W), "spec"),
    "sv-weight-none": (lambda: singular_values(C, None), "weight"),
    "sv-weight-str": (lambda: singular_values(C, "abc"), "weight"),
    "sv-weight-shape": (lambda: singular_values(C, torch.ones(3)), "weight"),
    "sv-weight-nan": (lambda: singular_values(C, NAN), "weight"),
    "sv-weight-inf": (lambda: singular_values(C, INF), "weight"),
    "sv-weight-complex": (lambda: singular_values(C, W.to(torch.complex128)), "weight"),
    "sv-weight-bool": (lambda: singular_values(C, W.bool()), "weight"),
    "sv-weight-object": (lambda: singular_values(C, np.array([[[None]]], dtype=object)), "weight"),
    "sv-weight-meta": (lambda: singular_values(C, torch.ones(C.weight_shape, device="meta")),
                       "weight"),
    "sv-method-unknown": (lambda: singular_values(C, W, "svd"), "method"),
    "sv-method-int": (lambda: singular_values(C, W, 3), "method"),
    "sv-method-fft-on-zeros": (lambda: singular_values(Z, W, method="fft"), "method='fft'"),
    "sv-top-zero": (lambda: singular_values(C, W, top=0), "top"),
    "sv-top-negative": (lambda: singular_values(C, W, top=-2), "top"),
    "sv-top-float": (lambda: singular_values(C, W, top=1.5), "top"),
    "sv-top-bool": (lambda: singular_values(C, W, top=True), "top"),
    "sv-top-too-many": (lambda: singular_values(C, W, top=76), "top"),
    "sv-dense-limit-zero": (lambda: singular_values(Z, W, dense_limit=0), "dense_limit"),
    "sv-dense-limit-str": (lambda: singular_values(Z, W, dense_limit="big"), "dense_limit"),
    "sv-dense-limit-too-small": (lambda: singular_values(Z, W, dense_limit=10), "dense_limit"),
    # fft_rule
    "fft-rule-spec": (lambda: fft_rule((2, 3)), "spec"),
    # operator_norm
    "on-spec": (lambda: operator_norm([1, 2], W), "spec"),
    "on-weight-nan": (lambda: operator_norm(Z, NAN), "weight"),
    "on-weight-inf": (lambda: operator_norm(Z, INF), "weight"),
    "on-weight-shape": (lambda: operator_norm(Z, W[0]), "weight"),
    "on-rtol-negative": (lambda: operator_norm(Z, W, rtol=-1e-3), "rtol"),
    "on-rtol-one": (lambda: operator_norm(Z, W, rtol=1.0), "rtol"),
    "on-rtol-nan": (lambda: operator_norm(Z, W, rtol=float("nan")), "rtol"),
    "on-rtol-str": (lambda: operator_norm(Z, W, rtol="1e-8"), "rtol"),
    "on-rtol-bool": (lambda: operator_norm(Z, W, rtol=True), "rtol"),
    "on-seed-negative": (lambda: operator_norm(Z, W, seed=-1), "seed"),
    "on-seed-float": (lambda: operator_norm(Z, W, seed=1.0), "seed"),
    "on-seed-bool": (lambda: operator_norm(Z, W, seed=False), "seed"),
    "on-seed-str": (lambda: operator_norm(Z, W, seed="0"), "seed"),
    "on-max-matvecs-zero": (lambda: operator_norm(Z, W, max_matvecs=0), "max_matvecs"),
    "on-max-matvecs-float": (lambda: operator_norm(Z, W, max_matvecs=1e4), "max_matvecs"),
    "on-block-one": (lambda: operator_norm(Z, W, block=1), "block"),
    "on-block-none": (lambda: operator_norm(Z, W, block=None), "block"),
    # norm_bound
    "nb-spec": (lambda: norm_bound("spec", W), "spec"),
    "nb-weight-nan": (lambda: norm_bound(C, NAN), "weight"),
    "nb-weight-shape": (lambda: norm_bound(C, torch.ones(2, 2)), "weight"),
    # project_norm
    "pn-spec-zeros": (lambda: project_norm(Z, W, 1.0), "spec"),
    "pn-spec-str": (lambda: project_norm("C", W, 1.0), "spec"),
    "pn-bound-zero": (lambda: project_norm(C, W, 0.0), "bound"),
    "pn-bound-negative": (lambda: project_norm(C, W, -2), "bound"),
    "pn-bound-inf": (lambda: project_norm(C, W, float("inf")), "bound"),
    "pn-bound-nan": (lambda: project_norm(C, W, float("nan")), "bound"),
    "pn-bound-str": (lambda: project_norm(C, W, "1"), "bound"),
    "pn-bound-bool": (lambda: project_norm(C, W, True), "bound"),
    "pn-support": (lambda: project_norm(C, W, 1.0, support="kernels"), "support"),
    "pn-support-full-transposed": (
        lambda: project_norm(ConvSpec(2, 2, 2, input_size=4, stride=2, transposed=True),
                             torch.ones(2, 2, 2), 1.0, support="full"), "support"),
    "pn-tol-zero": (lambda: project_norm(C, W, 1.0, tol=0), "tol"),
    "pn-tol-one": (lambda: project_norm(C, W, 1.0, tol=1.0), "tol"),
    "pn-max-iter-zero": (lambda: project_norm(C, W, 1.0, max_iter=0), "max_iter"),
    "pn-weight-nan": (lambda: project_norm(C, NAN, 1.0), "weight"),
    # norm_row, reshaped_kernel_norm
    "row-linear-3d": (lambda: norm_row(None, torch.ones(2, 3, 4)), "weight"),
    "row-linear-nan": (lambda: norm_row(None, torch.tensor([[float("nan")]])), "weight"),
    "row-spec": (lambda: norm_row("conv", W), "spec"),
    "row-weight-inf": (lambda: norm_row(Z, INF), "weight"),
    "reshaped-1d": (lambda: reshaped_kernel_norm(torch.ones(3)), "weight"),
    "reshaped-nan": (lambda: reshaped_kernel_norm(NAN), "weight"),
    "reshaped-transposed-str": (lambda: reshaped_kernel_norm(W, transposed="yes"), "transposed"),
}


@pytest.mark.parametrize("call, name", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_naming_the_argument(call, name, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no matrix may be built for a bad argument")

    monkeypatch.setattr(symtoe.core.numeric, "numeric_matrix", refuse)
    with pytest.raises((ValueError, TypeError), match=name.replace("(", r"\(")):
        call()


@pytest.mark.parametrize("seed", [np.int64(3), np.int32(3), 3], ids=["int64", "int32", "int"])
def test_numpy_integers_are_integers(seed):
    a = operator_norm(Z, W, seed=seed, max_matvecs=np.int64(400), block=np.int16(3))
    assert a.lower == operator_norm(Z, W, seed=3, max_matvecs=400, block=3).lower
    np.testing.assert_array_equal(singular_values(C, W, top=np.int64(2)),
                                  singular_values(C, W, top=2))
