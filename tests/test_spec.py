"""ConvSpec: derived sizes against torch, validation against torch's own limits."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import torch_forward

from symtoe import ConvSpec, numeric_matrix, symbolic_matrix

CONV_MODULES = {
    (1, False): torch.nn.Conv1d,
    (2, False): torch.nn.Conv2d,
    (3, False): torch.nn.Conv3d,
    (1, True): torch.nn.ConvTranspose1d,
    (2, True): torch.nn.ConvTranspose2d,
    (3, True): torch.nn.ConvTranspose3d,
}


# ---------------------------------------------------------------- derived sizes
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
@pytest.mark.parametrize("n,k,s,p,d", list(itertools.product((4, 7), (1, 2, 3), (1, 2, 3), (0, 1, 2), (1, 2))))
def test_output_size_matches_torch(transposed, n, k, s, p, d):
    op = min(1, max(s, d) - 1) if transposed else 0
    try:
        spec = ConvSpec(1, 1, k, input_size=n, stride=s, padding=p, dilation=d,
                        transposed=transposed, output_padding=op)
    except ValueError:
        with pytest.raises(RuntimeError):  # torch refuses the same geometry
            if transposed:
                F.conv_transpose1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s,
                                   padding=p, output_padding=op, dilation=d)
            else:
                F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p,
                         dilation=d)
        return
    x = torch.zeros(1, 1, n)
    y = torch_forward(spec, x, torch.zeros(spec.weight_shape))
    assert tuple(y.shape[2:]) == spec.output_size
    assert spec.matrix_shape == (y.numel(), x.numel())


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_same_padding_split_matches_torch(k, d):
    spec = ConvSpec(1, 1, k, input_size=9, padding="same", dilation=d)
    g = torch.Generator().manual_seed(k * 10 + d)
    w = torch.randn(spec.weight_shape, generator=g, dtype=torch.float64)
    x = torch.randn(1, 1, 9, generator=g, dtype=torch.float64)
    expected = F.conv1d(x, w, padding="same", dilation=d).flatten()
    torch.testing.assert_close(numeric_matrix(spec, w) @ x.flatten(), expected, rtol=0, atol=1e-12)
    assert spec.output_size == (9,)


def test_full_padding_is_span_each_side():
    spec = ConvSpec(1, 1, (3, 4), input_size=(5, 6), padding="full", dilation=(1, 2))
    assert spec.padding == ((2, 2), (6, 6))
    assert spec.output_size == (7, 12)


def test_valid_padding_is_zero():
    assert ConvSpec(1, 1, 3, input_size=(5, 5), padding="valid").padding == ((0, 0), (0, 0))


def test_weight_shape_and_replace():
    spec = ConvSpec(4, 6, (2, 3), input_size=(5, 5), groups=2)
    assert spec.weight_shape == (6, 2, 2, 3)
    assert spec.replace(transposed=True).weight_shape == (4, 3, 2, 3)
    assert spec.replace(stride=2).stride == (2, 2)
    with pytest.raises(ValueError, match="stride must be a positive integer, but got 0"):
        spec.replace(stride=0)


def test_spec_is_immutable_and_hashable():
    spec = ConvSpec(1, 1, 3, input_size=5)
    with pytest.raises(AttributeError):
        spec.stride = (2,)
    assert spec == ConvSpec(1, 1, (3,), input_size=(5,), padding=((0, 0),))
    assert len({spec, ConvSpec(1, 1, 3, input_size=5)}) == 1


# ------------------------------------------------------------------ from_module
MODULE_CASES = [
    ("conv1d", torch.nn.Conv1d(2, 4, 3, stride=2, padding=1, bias=True), (9,)),
    ("conv1d-same-even", torch.nn.Conv1d(2, 2, 4, padding="same", dilation=2), (11,)),
    ("conv2d-reflect", torch.nn.Conv2d(3, 4, 3, padding=2, padding_mode="reflect"), (5, 6)),
    ("conv2d-circular-groups", torch.nn.Conv2d(4, 6, (2, 3), padding=(1, 2), groups=2,
                                               padding_mode="circular"), (4, 5)),
    ("conv2d-replicate-same", torch.nn.Conv2d(2, 3, (2, 3), padding="same",
                                              padding_mode="replicate"), (5, 5)),
    ("conv3d", torch.nn.Conv3d(2, 2, (1, 2, 3), stride=(1, 2, 1), dilation=(1, 1, 2)), (3, 5, 7)),
    ("convT1d", torch.nn.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1,
                                         groups=2), (5,)),
    ("convT2d", torch.nn.ConvTranspose2d(3, 2, (2, 3), stride=(2, 1), padding=(0, 1),
                                         dilation=(1, 2)), (3, 4)),
    ("convT3d", torch.nn.ConvTranspose3d(1, 2, 2, stride=2, bias=True), (2, 2, 3)),
]


@pytest.mark.parametrize("name,module,size", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_from_module_matches_module_output(name, module, size):
    module = module.double()
    spec = ConvSpec.from_module(module, size)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, spec.in_channels, *size, generator=g, dtype=torch.float64)
    bias = module.bias.detach() if module.bias is not None else None
    T = numeric_matrix(spec, module.weight.detach(), augmented=True, bias=bias)
    got = (T @ torch.cat([x.flatten(), torch.ones(1, dtype=torch.float64)]))[:-1]
    torch.testing.assert_close(got, module(x).detach().flatten(), rtol=0, atol=1e-12)
    assert spec.bias == (module.bias is not None)


def test_from_module_rejects_other_modules_and_sizes():
    with pytest.raises(ValueError, match="module must be a torch.nn.ConvNd.*Linear"):
        ConvSpec.from_module(torch.nn.Linear(2, 2), (3,))
    with pytest.raises(ValueError, match=r"input_size must have 2 spatial sizes.*\(3, 5, 5\)"):
        ConvSpec.from_module(torch.nn.Conv2d(3, 3, 3), (3, 5, 5))


# ------------------------------------------------------------------ bad input
ERRORS = [
    ("input_size-zero", dict(input_size=(5, 0)), "input_size must be a positive integer, but got 0"),
    ("input_size-rank4", dict(input_size=(2, 2, 2, 2)), r"input_size must be an int or a tuple of 1 to 3"),
    ("kernel-zero", dict(kernel_size=0), "kernel_size must be a positive integer, but got 0"),
    ("in_channels-zero", dict(in_channels=0), "in_channels must be a positive integer, but got 0"),
    ("out_channels-neg", dict(out_channels=-2), "out_channels must be a positive integer, but got -2"),
    ("stride-zero", dict(stride=0), "stride must be a positive integer, but got 0"),
    ("dilation-zero", dict(dilation=(1, 0)), "dilation must be a positive integer, but got 0"),
    ("padding-neg", dict(padding=-1), "padding must be a non-negative integer, but got -1"),
    ("padding-neg-pair", dict(padding=((0, 1), (-1, 0))), r"padding must be non-negative, but got \(-1, 0\)"),
    ("padding-string", dict(padding="half"), r"padding must be one of \('valid', 'same', 'full'\)"),
    ("padding-float", dict(padding=1.5), "padding must be an int, a per-axis tuple"),
    ("padding-mode", dict(padding_mode="mirror"), r"padding_mode must be one of .*'mirror'"),
    ("groups-divide-in", dict(in_channels=3, groups=2), "in_channels must be divisible by groups, but 2 does not divide 3"),
    ("groups-divide-out", dict(out_channels=5, in_channels=2, groups=2), "out_channels must be divisible by groups, but 2 does not divide 5"),
    ("kernel-too-big", dict(kernel_size=6), r"kernel_size must fit the padded input: .* 6 > padded input 5"),
    ("dilated-kernel-too-big", dict(kernel_size=3, dilation=3), r"kernel_size must fit the padded input: .* 7 > padded input 5"),
    ("same-stride", dict(padding="same", stride=2), r"padding='same' needs stride 1 .* stride=\(2, 2\)"),
    ("reflect-limit", dict(padding=5, padding_mode="reflect"), r"padding must be smaller than input_size for padding_mode='reflect'"),
    ("circular-limit", dict(padding=6, padding_mode="circular"), r"padding must be at most input_size for padding_mode='circular'"),
    ("output-padding-limit", dict(transposed=True, stride=2, output_padding=2), r"output_padding must be smaller than max\(stride, dilation\), but got output_padding=\(2, 2\)"),
    ("output-padding-forward", dict(output_padding=1), r"output_padding must be 0 unless transposed=True, but got \(1, 1\)"),
    ("transposed-mode", dict(transposed=True, padding_mode="reflect"), "padding_mode must be 'zeros' when transposed=True.*'reflect'"),
    ("transposed-same", dict(transposed=True, padding="same"), "padding must be integers when transposed=True.*'same'"),
    ("transposed-asym", dict(transposed=True, padding=((1, 0), (0, 0))), "padding must be symmetric when transposed=True"),
    ("transposed-negative-size", dict(transposed=True, kernel_size=1, padding=5), "padding must leave a positive output size"),
    ("kernel-length", dict(kernel_size=(3, 3, 3)), r"kernel_size must have one value per axis of input_size \(2\), but got \(3, 3, 3\)"),
    ("stride-length", dict(stride=(1,)), r"stride must have one value per axis of input_size \(2\), but got \(1,\)"),
    ("padding-length", dict(padding=(1, 1, 1)), r"padding must have one value per axis of input_size \(2\), but got \(1, 1, 1\)"),
    ("pairs-length", dict(padding=((1, 1),)), r"padding must have one \(left, right\) pair per axis of input_size \(2\)"),
    ("bias-type", dict(bias=1), "bias must be True or False, but got 1"),
]


@pytest.mark.parametrize("changes,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_spec_raises_clear_error(changes, message):
    args = dict(in_channels=2, out_channels=2, kernel_size=3, input_size=(5, 5))
    args.update(changes)
    with pytest.raises(ValueError, match=message):
        ConvSpec(args.pop("in_channels"), args.pop("out_channels"), args.pop("kernel_size"), **args)


@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate"])
@pytest.mark.parametrize("n,p", list(itertools.product((1, 2, 3, 4), (0, 1, 2, 3, 4, 5))))
def test_padding_limits_agree_with_torch(mode, n, p):
    """ConvSpec refuses exactly the paddings F.pad (then the convolution) refuses."""
    try:
        F.conv1d(F.pad(torch.zeros(1, 1, n), (p, p), mode=mode), torch.zeros(1, 1, 1))
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    try:
        ConvSpec(1, 1, 1, input_size=n, padding=p, padding_mode=mode)
        ours_ok = True
    except ValueError:
        ours_ok = False
    assert ours_ok == torch_ok


def test_bad_weight_and_bias_shapes():
    spec = ConvSpec(2, 3, 3, input_size=5, bias=True)
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 2, 3\).*but got \(3, 3\)"):
        numeric_matrix(spec, torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 2, 3\), but got \(2, 3\)"):
        symbolic_matrix(spec, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\).*but got \(2,\)"):
        numeric_matrix(spec, torch.zeros(3, 2, 3), bias=torch.zeros(2), augmented=True)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), but got \(4,\)"):
        symbolic_matrix(spec, bias=[1, 2, 3, 4], augmented=True)
    with pytest.raises(ValueError, match="bias is only part of the augmented matrix"):
        numeric_matrix(spec, torch.zeros(3, 2, 3), bias=torch.zeros(3))
    with pytest.raises(ValueError, match="bias must be given when spec.bias is True"):
        numeric_matrix(spec, torch.zeros(3, 2, 3), augmented=True)
    with pytest.raises(ValueError, match=r"layout must be one of \('dense', 'coo', 'csr'\), but got 'bsr'"):
        numeric_matrix(spec, torch.zeros(3, 2, 3), layout="bsr")
    with pytest.raises(ValueError, match="spec must be a ConvSpec, but got dict"):
        numeric_matrix({}, torch.zeros(3))


def test_dense_too_big_is_refused_before_allocating():
    spec = ConvSpec(512, 512, 3, input_size=(224, 224), padding=1)
    weight = torch.zeros(spec.weight_shape)
    with pytest.raises(ValueError, match=r"dense .* matrix would need .* GiB.*use layout='csr'"):
        numeric_matrix(spec, weight)
    with pytest.raises(ValueError, match=r"csr matrix with 117676441600 nonzeros would need"):
        numeric_matrix(spec, weight, layout="csr")
    with pytest.raises(ValueError, match="would have 117,676,441,600 nonzeros, more than the limit"):
        symbolic_matrix(spec)
