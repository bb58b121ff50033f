"""The model trace against torch: module outputs, conv specs, folded pads,
attribution of ops to modules and of parameters to tensors."""

import pytest
import torch
import torch.nn.functional as F
from models import MODELS, PaddingModes, UNet, ViT, build
from reference import torch_forward
from torch import nn

from symtoe.network.trace import ConvFact, PadFact, TensorRef, trace_model

TORCH_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
               nn.ConvTranspose3d)


def run(model, size, inputs):
    """The model's own output (the reference the trace must describe)."""
    model.eval()
    with torch.no_grad():
        if inputs is None:
            return model(torch.zeros(1, *size))
        return model(*inputs) if isinstance(inputs, tuple) else model(inputs)


@pytest.mark.parametrize("name", MODELS)
def test_outputs_calls_and_parameters_match_torch(name):
    model, size, inputs = build(name)
    trace = trace_model(model, size, example_inputs=inputs)
    out = run(model, size, inputs)
    out = out if isinstance(out, torch.Tensor) else out[0]
    assert trace.outputs[0].shape == tuple(out.shape)
    # every parameter tensor once, with every name torch knows it by
    names = [n for info in trace.parameters.values() for n in info.aliases]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters(remove_duplicate=False))
    assert sum(i.numel for i in trace.parameters.values()) == \
        sum(p.numel() for p in model.parameters())
    # ops run inside their innermost module's call; the graph only points back
    for op in trace.ops:
        call = trace.calls[op.call]
        assert call.first_op <= op.index < call.stop_op
        assert all(r.index < op.index for r in op.inputs if r.source == "op")
    # each output depends on the input, walking producers back
    reached = {r.source for op in trace.backward() for r in op.inputs}
    assert "input" in reached


def test_module_calls_are_numbered_and_nested():
    model, size, _ = build("called-twice")
    trace = trace_model(model, size)
    convs = [c for c in trace.calls if c.name == "conv"]
    assert [c.label for c in convs] == ["conv (call 1 of 2)", "conv (call 2 of 2)"]
    assert all(trace.calls[c.parent].name == "" for c in convs)
    assert trace.producer(convs[1].inputs[0]).name == "aten.relu"
    assert trace.module_output("conv") == convs[1].outputs[0]
    assert trace.module_output("conv", call=1) == convs[0].outputs[0]


def test_tied_and_shared_parameters():
    trace = trace_model(build("tied")[0], (3, 8, 8))
    info = trace.parameters["a.weight"]
    assert info.aliases == ("a.weight", "b.weight") and info.owners == ("a", "b")
    assert [trace.ops[i].name for i in info.reads] == ["aten.convolution"] * 2
    # a parameter read through views (t, expand) counts as read by the op using the view
    vit = trace_model(ViT(), (3, 16, 16))
    token = vit.parameters["class_token"]
    assert [vit.ops[i].name for i in token.reads] == ["aten.expand", "aten.cat"]
    head = vit.parameters["heads.weight"]
    assert [vit.ops[i].name for i in head.reads][-1] == "aten.addmm"


@pytest.mark.parametrize("name", ["resnet-basic", "mobilenetv2", "unet", "video", "audio",
                                  "padding-modes", "densenet"])
def test_conv_specs_are_the_layers_torch_ran(name):
    # each recorded spec, run by the reference (F.pad in its mode, then F.conv*),
    # gives the module's own output: pads folded into specs included
    model, size, _ = build(name)
    model = model.double().eval()
    trace = trace_model(model, size)
    captured = {}

    def keep(module, inputs, output):  # copies: in-place ReLUs overwrite the tensors later
        captured.setdefault(id(module), []).append((inputs[0].clone(), output.clone()))

    hooks = [m.register_forward_hook(keep) for m in model.modules()
             if isinstance(m, nn.modules.conv._ConvNd)]
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        model(torch.rand(1, *size, generator=g, dtype=torch.float64))
    for h in hooks:
        h.remove()
    checked = 0
    for op in trace.ops:
        call = trace.calls[op.call]
        if not isinstance(op.fact, ConvFact) or type(call.module) not in TORCH_CONVS:
            continue  # e.g. a subclass with its own forward (weight standardisation)
        x, y = captured[id(call.module)][call.call - 1]
        spec, module = op.fact.spec, call.module
        bias = None if module.bias is None else module.bias.detach()
        torch.testing.assert_close(torch_forward(spec, x, module.weight.detach(), bias), y,
                                   rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked >= 3


def test_pads_fold_into_the_convolution():
    trace = trace_model(PaddingModes(), (2, 14, 14))
    convs = [op for op in trace.ops if isinstance(op.fact, ConvFact)]
    modes = [op.fact.spec.padding_mode for op in convs]
    assert modes == ["reflect", "replicate", "circular", "zeros", "zeros"]
    assert convs[2].fact.spec.padding == ((1, 1), (2, 2))  # circular: slices and copies grouped
    assert convs[4].fact.spec.padding == ((0, 1), (0, 1))  # F.pad + conv: asymmetric zeros
    pads = [op for op in trace.ops if isinstance(op.fact, PadFact)]
    assert len(pads) == 4 and all(p.folded_into is not None for p in pads)
    assert not any(op.after for op in trace.ops if op.folded_into is None)
    # a pad whose output feeds two ops is not folded
    model = nn.Sequential()
    model.forward = lambda x: (lambda p: F.conv1d(p, torch.ones(1, 1, 3)) + p[..., 1:-1].sum())(
        F.pad(x, (1, 1), mode="reflect"))
    two = trace_model(model, (1, 6))
    assert [op.name for op in two.ops if op.folded_into is not None] == []


def test_conv_transpose_with_output_size():
    model = UNet()
    trace = trace_model(model, (1, 18, 18))
    ups = [op.fact.spec for op in trace.ops
           if isinstance(op.fact, ConvFact) and op.fact.spec.transposed]
    assert [(s.input_size, s.output_padding, s.output_size) for s in ups] == [
        ((4, 4), (1, 1), (9, 9)), ((9, 9), (0, 0), (18, 18))]


def test_functional_calls_and_fused_attention_are_recorded():
    model, size, _ = build("functional")
    trace = trace_model(model, size)
    names = [op.name for op in trace.ops]
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in names
    assert "aten._adaptive_avg_pool2d" in names
    (attention,) = [op.fact for op in trace.ops if op.category == "attention"]
    assert (attention.heads, attention.q_len, attention.kv_len, attention.head_dim) == \
        (2, 16, 16, 2)
    assert all(op.call == 0 for op in trace.ops)  # the model ran them itself
    mha = trace_model(nn.MultiheadAttention(8, 2, batch_first=True),
                      example_inputs=(torch.ones(1, 5, 8),) * 3)
    assert [op.name for op in mha.ops] == ["aten._native_multi_head_attention"]


def test_inputs_of_any_dtype_and_keyword_inputs():
    model, _, tokens = build("text")
    trace = trace_model(model, example_inputs=tokens)
    assert trace.inputs == (TensorRef("input", 0, name="input", shape=(1, 20),
                                      dtype="torch.int64"),)
    assert trace.ops[0].name == "aten.embedding"
    two, _, inputs = build("two-inputs")
    trace = trace_model(two, example_inputs={"image": inputs[0], "mask": inputs[1]})
    assert [r.dtype for r in trace.inputs] == ["torch.float32", "torch.bool"]


def test_training_flags_and_statistics_are_left_alone():
    model, size, _ = build("inception")
    model.train()
    model.mixed_1.branch1x1.bn.eval()
    stats = model.stem.bn.running_mean.clone()
    trace = trace_model(model, size)
    assert model.training and not model.mixed_1.branch1x1.bn.training
    assert torch.equal(model.stem.bn.running_mean, stats)
    assert not any(c.name.startswith("aux") for c in trace.calls)  # eval: no aux head


def test_meta_tensors_trace_large_shapes_for_free():
    from models import resnet50

    trace = trace_model(resnet50().to("meta"), (3, 224, 224))
    assert trace.outputs[0].shape == (1, 1000)
    assert sum(op.fact.macs_padded for op in trace.ops if op.fact is not None) == 4_089_184_256


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(model="net", input_size=(1, 4)), ValueError, "model must be a torch.nn.Module"),
        (dict(input_size=None), ValueError, "input_size .* or example_inputs must be given"),
        (dict(input_size=(1, 0)), ValueError, "input_size must be one sample's shape"),
        (dict(input_size=(1, 6), example_inputs=torch.ones(1, 1, 6)), ValueError,
         "must not both be given"),
        (dict(example_inputs=[[1.0]]), ValueError, "example_inputs must fit the model"),
        (dict(example_inputs="x"), TypeError, "example_inputs must be a tensor"),
        (dict(input_size=(2, 6)), ValueError,
         r"input_size \(2, 6\) must fit the model, but its forward pass failed: RuntimeError"),
    ],
    ids=["not-a-module", "no-input", "zero-size", "both", "bad-example", "bad-type",
         "wrong-channels"],
)
def test_bad_input(kwargs, error, match):
    model = kwargs.pop("model", nn.Conv1d(1, 1, 3))
    with pytest.raises(error, match=match):
        trace_model(model, **kwargs)
