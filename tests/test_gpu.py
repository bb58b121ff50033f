"""numeric_matrix on a CUDA weight: the matrix lives on the GPU and equals torch's conv there.

Skipped where no CUDA device is present.
"""

from __future__ import annotations

import pytest
import torch

from symtoe import ConvSpec
from tests.reference import torch_forward

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

SPECS = [
    dict(in_channels=3, out_channels=16, kernel_size=3, input_size=(8, 8), padding=1),
    # large enough that rebuilds follow a fill plan with strided copies (depth 1)
    dict(in_channels=3, out_channels=16, kernel_size=3, input_size=(32, 32), padding=1),
    dict(in_channels=4, out_channels=4, kernel_size=3, input_size=(6, 7), stride=2, groups=2,
         padding=1, padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=3, input_size=9, stride=2, padding=1,
         output_padding=1, transposed=True),
    dict(in_channels=2, out_channels=2, kernel_size=5, input_size=(3, 4), padding=2,
         padding_mode="circular"),
]


@pytest.mark.parametrize("layout", ["dense", "coo", "csr"])
@pytest.mark.parametrize("kwargs", SPECS)
def test_cuda_weight_gives_cuda_matrix_equal_to_conv(kwargs, layout):
    from symtoe.core.numeric import numeric_matrix

    spec = ConvSpec(**kwargs)
    device = torch.device("cuda")
    gen = torch.Generator(device=device).manual_seed(283592436523456 % 2**63)
    x = torch.randn(5, spec.in_channels, *spec.input_size, generator=gen, device=device,
                    dtype=torch.float64)
    for build in range(3):  # the first build gathers, later ones follow the fill plan
        weight = torch.randn(spec.weight_shape, generator=gen, device=device,
                             dtype=torch.float64)
        matrix = numeric_matrix(spec, weight, layout=layout)
        assert matrix.device.type == "cuda"
        assert matrix.dtype == torch.float64
        expected = torch_forward(spec, x, weight).reshape(5, -1)
        got = (matrix @ x.reshape(5, -1).T).T
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12, msg=f"build {build}")
    dense = matrix if layout == "dense" else matrix.to_dense()
    torch.testing.assert_close(dense, numeric_matrix(spec, weight.cpu()).to(device))
