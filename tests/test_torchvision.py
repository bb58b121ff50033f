"""torchvision's own models, where torchvision imports (optional: the CUDA
build on PyPI does not import beside the CPU torch of this project's CI).

Every parameter once (torch's count) and, for the pure convnets, every
multiply-add in FlopCounterMode's convention; receptive fields of the
classifiers are global.  Models are built on the meta device: no weights,
no compute.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from symtoe import parameter_report

try:  # a torchvision that does not match torch fails with errors other than ImportError
    import torchvision.models as tvm
except Exception as error:  # noqa: BLE001
    pytest.skip(f"torchvision does not import here ({type(error).__name__})",
                allow_module_level=True)

#: name -> (builder, input size, whether FlopCounterMode sees every multiply-add)
MODELS = {
    "resnet18": (tvm.resnet18, (3, 224, 224), True),
    "mobilenet_v2": (tvm.mobilenet_v2, (3, 224, 224), True),
    "densenet121": (tvm.densenet121, (3, 224, 224), True),
    "googlenet": (lambda: tvm.googlenet(aux_logits=True, init_weights=False), (3, 224, 224), True),
    "inception_v3": (lambda: tvm.inception_v3(aux_logits=True, init_weights=False),
                     (3, 299, 299), True),
    "r3d_18": (lambda: __import__("torchvision.models.video", fromlist=["r3d_18"]).r3d_18(),
               (3, 16, 112, 112), True),
    "convnext_tiny": (tvm.convnext_tiny, (3, 224, 224), True),
    "swin_t": (tvm.swin_t, (3, 224, 224), False),
    "vit_b_16": (tvm.vit_b_16, (3, 224, 224), False),  # fused attention: FlopCounterMode 0
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_torchvision_model(name):
    build, size, flops_see_all = MODELS[name]
    with torch.device("meta"):
        model = build().eval()
    report = parameter_report(model, size)
    assert report.totals["parameters"] == sum(p.numel() for p in model.parameters())
    if flops_see_all:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *size, device="meta"))
        assert report.totals["macs_padded"] == counter.get_total_flops() // 2


#: Receptive fields published by Araujo, Norris & Sim (Distill 2019, table of
#: architectures): model, input size, feature map, size r.
FIELDS = [
    ("alexnet", (3, 224, 224), "features.12", 195),
    ("vgg16", (3, 224, 224), "features.30", 212),
    ("inception_v3", (3, 299, 299), "Mixed_7c", 1311),
    ("mobilenet_v2", (3, 224, 224), "features", 491),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, size, at, expected", FIELDS, ids=[f[0] for f in FIELDS])
def test_published_receptive_fields(name, size, at, expected):
    from symtoe import receptive_field

    build = getattr(tvm, name)
    with torch.device("meta"):
        model = (build(init_weights=False) if name == "inception_v3" else build()).eval()
    field = receptive_field(model, size, at=at)
    assert field.size == (expected, expected)
