"""Test models in plain torch (no torchvision): the architectures people report on.

Each builder takes its sizes as arguments, so tests run tiny versions and
slow tests / benchmarks the real shapes (``resnet18()`` and ``resnet50()`` are
torchvision's layouts).  ``MODELS`` lists small instances with an input that
fits them, for tests that run every model.

Import from a test as ``from models import MODELS, resnet18`` (``tests/`` is on
the path).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- ResNet
def _downsample(c_in: int, c_out: int, stride: int):
    """The 1x1 projection shortcut of a ResNet block, where the shape changes."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): two 3x3 convs, identity or 1x1 projection.

    ``self.relu`` is one module called twice, as in torchvision.
    """

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = _downsample(c_in, c_out, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1x1 reduce, 3x3 (strided), 1x1 expand (x4)."""

    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int = 1):
        super().__init__()
        c_out = c_mid * self.expansion
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(c_in, c_out, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet layout: 7x7/2 stem, 3x3/2 max pool, four stages,
    global average pool, fully connected head."""

    def __init__(self, block, layers=(2, 2, 2, 2), width: int = 64, in_channels: int = 3,
                 num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in, self.stages = width, len(layers)
        for index, blocks in enumerate(layers):
            c_mid = width * 2**index
            stride = 1 if index == 0 else 2
            stage = []
            for b in range(blocks):
                stage.append(block(c_in, c_mid, stride if b == 0 else 1))
                c_in = c_mid * block.expansion
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(self.stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width: int = 64, num_classes: int = 1000) -> ResNet:
    """ResNet-18 (11,689,512 parameters at width 64, 1000 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), width, num_classes=num_classes)


def resnet50(width: int = 64, num_classes: int = 1000) -> ResNet:
    """ResNet-50 (25,557,032 parameters at width 64, 1000 classes)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), width, num_classes=num_classes)


# ------------------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    """MobileNetV2 block (Sandler et al. 2018): 1x1 expand, 3x3 depthwise, 1x1 project."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expand_ratio: int = 6):
        super().__init__()
        hidden = c_in * expand_ratio
        self.use_residual = stride == 1 and c_in == c_out
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, width: int = 8, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(
            InvertedResidual(width, width, 1, expand_ratio=1),
            InvertedResidual(width, 2 * width, 2),
            InvertedResidual(2 * width, 2 * width, 1),
        )
        self.head = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 1, bias=False),
                                  nn.BatchNorm2d(4 * width), nn.ReLU6(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * width, num_classes))

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


# ---------------------------------------------------------------------------- DenseNet
class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bn_size: int = 2):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(c_in), nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """DenseNet block (Huang et al. 2017): every layer reads the concatenation of all before."""

    def __init__(self, layers: int, c_in: int, growth: int):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(c_in + i * growth, growth) for i in range(layers))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    def __init__(self, growth: int = 4, layers=(2, 2), width: int = 8, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        blocks, c = [], width
        for index, n in enumerate(layers):
            blocks.append(DenseBlock(n, c, growth))
            c += n * growth
            if index < len(layers) - 1:
                blocks.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(),
                                            nn.Conv2d(c, c // 2, 1, bias=False),
                                            nn.AvgPool2d(2, stride=2)))
                c //= 2
        self.features = nn.Sequential(*blocks, nn.BatchNorm2d(c), nn.ReLU())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.features(self.stem(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


# --------------------------------------------------------------------------- Inception
class BasicConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionBlock(nn.Module):
    """Four parallel branches (1x1; 1x1-3x3; 1x1-3x3-3x3; avg pool-1x1), concatenated."""

    def __init__(self, c_in: int, c: int = 4):
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, c, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(c_in, c, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(c, c, kernel_size=3, padding=1)
        self.branch_dbl_1 = BasicConv2d(c_in, c, kernel_size=1)
        self.branch_dbl_2 = BasicConv2d(c, c, kernel_size=3, padding=1)
        self.branch_dbl_3 = BasicConv2d(c, c, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(c_in, c, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b2 = self.branch3x3_2(self.branch3x3_1(x))
        b3 = self.branch_dbl_3(self.branch_dbl_2(self.branch_dbl_1(x)))
        b4 = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionAux(nn.Module):
    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.conv0 = BasicConv2d(c_in, 8, kernel_size=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception(nn.Module):
    """Inception blocks with an auxiliary head that runs only in training (as Inception-v3)."""

    def __init__(self, width: int = 8, num_classes: int = 10, aux_logits: bool = True):
        super().__init__()
        self.stem = BasicConv2d(3, width, kernel_size=3, stride=2)
        self.mixed_1 = InceptionBlock(width)
        self.aux = InceptionAux(16, num_classes) if aux_logits else None
        self.pool = nn.MaxPool2d(3, stride=2)
        self.mixed_2 = InceptionBlock(16)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.mixed_1(self.stem(x))
        aux = self.aux(x) if self.aux is not None and self.training else None
        x = self.mixed_2(self.pool(x))
        x = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return (x, aux) if aux is not None else x


# --------------------------------------------------------------------------------- ViT
class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, tokens: int, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*(EncoderBlock(dim, heads, mlp_dim) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim)

    def forward(self, x):
        return self.ln(self.layers(x + self.pos_embedding))


class ViT(nn.Module):
    """Vision transformer (Dosovitskiy et al. 2021) in torchvision's layout: patch
    embedding conv, class token, position embedding, ``nn.MultiheadAttention``."""

    def __init__(self, image_size: int = 16, patch_size: int = 4, dim: int = 16,
                 depth: int = 2, heads: int = 2, mlp_dim: int = 32, num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.conv_proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        tokens = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(tokens, dim, depth, heads, mlp_dim)
        self.heads = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (batch, patches, dim)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


# ---------------------------------------------------------------------------- ConvNeXt
class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022): 7x7 depthwise, LayerNorm, 4x MLP, layer scale."""

    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, dims=(8, 16), depth: int = 1, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, dims[0], 4, stride=4)
        stages = []
        for index, dim in enumerate(dims):
            if index:
                stages.append(nn.Conv2d(dims[index - 1], dim, 2, stride=2))
            stages += [ConvNeXtBlock(dim) for _ in range(depth)]
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean([-2, -1])))


# -------------------------------------------------------------------------------- UNet
def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """UNet (Ronneberger et al. 2015) with same-padded convs; the decoder's
    ``ConvTranspose2d`` is called with ``output_size=`` the skip's size, so odd
    sizes work (18 -> 9 -> 4 -> 9 -> 18)."""

    def __init__(self, in_channels: int = 1, width: int = 4, num_classes: int = 2):
        super().__init__()
        self.enc1 = double_conv(in_channels, width)
        self.enc2 = double_conv(width, 2 * width)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = double_conv(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = double_conv(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = double_conv(2 * width, width)
        self.out = nn.Conv2d(width, num_classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([e2, self.up2(b, output_size=e2.shape[-2:])], 1))
        d1 = self.dec1(torch.cat([e1, self.up1(d2, output_size=e1.shape[-2:])], 1))
        return self.out(d1)


# ----------------------------------------------------------------- 1-D, 3-D, text
class AudioNet(nn.Module):
    """Conv1d stack on raw audio (M5-like, Dai et al. 2017): a long strided first
    kernel, then small ones, global average pool."""

    def __init__(self, width: int = 8, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 40, stride=4), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(width, width, 3), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(width, 2 * width, 3, padding=2, dilation=2), nn.BatchNorm1d(2 * width),
            nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(F.avg_pool1d(x, x.shape[-1]).flatten(1))


class VideoStem(nn.Module):
    """r3d-style video stem: Conv3d (3, 7, 7) / (1, 2, 2), a 3-D residual block, pool, fc."""

    def __init__(self, width: int = 8, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.conv1 = nn.Conv3d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(self.pool(x).flatten(1))


class TextCNN(nn.Module):
    """Token ids -> ``nn.Embedding`` -> Conv1d over the sequence -> max over time (Kim 2014)."""

    def __init__(self, vocab: int = 50, dim: int = 8, width: int = 6, num_classes: int = 3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.conv1 = nn.Conv1d(dim, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 5)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)  # (batch, dim, length)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


# ------------------------------------------------------------- sharing, odd cases
class Tied(nn.Module):
    """Two 3x3 convs sharing one weight tensor (``b.weight = a.weight``): 87 parameters."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3)
        self.b = nn.Conv2d(3, 3, 3)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class CalledTwice(nn.Module):
    """One conv applied twice: 81 parameters, twice its multiply-adds."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, bias=False)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(x)))


class ScaledConv(nn.Module):
    """``conv(x) * self.scale`` with an ``nn.Parameter`` on the parent: 232 parameters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.scale = nn.Parameter(torch.ones(8, 1, 1))

    def forward(self, x):
        return self.conv(x) * self.scale


class MyConv(nn.Conv2d):
    """A subclass of ``nn.Conv2d`` (a weight-standardised convolution)."""

    def forward(self, x):
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class PaddingModes(nn.Module):
    """Convs with reflect / replicate / circular padding, a subclassed conv, a
    functional conv with asymmetric 'same' padding, upsampling and a dilated conv."""

    def __init__(self, width: int = 3):
        super().__init__()
        self.reflect = nn.Conv2d(2, width, 3, padding=1, padding_mode="reflect")
        self.replicate = nn.Conv2d(width, width, 3, padding=2, padding_mode="replicate",
                                   dilation=2)
        self.circular = nn.Conv2d(width, width, (3, 5), stride=2, padding=(1, 2),
                                  padding_mode="circular")
        self.standardised = MyConv(width, width, 3, padding=1)
        self.even = nn.Parameter(torch.randn(width, width, 2, 2) * 0.1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        x = self.circular(self.replicate(self.reflect(x)))
        x = self.standardised(x)
        x = F.conv2d(F.pad(x, (0, 1, 0, 1)), self.even)  # padding="same" of an even kernel
        return self.up(x)


class Functional(nn.Module):
    """Layers called as functions: conv, adaptive pooling, matmul, einsum, attention."""

    def __init__(self, c: int = 4, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.weight = nn.Parameter(torch.randn(c, 3, 3, 3) * 0.2)
        self.qkv = nn.Parameter(torch.randn(3 * c, c) * 0.2)
        self.mix = nn.Parameter(torch.randn(c, c) * 0.2)

    def forward(self, x):
        x = F.relu(F.conv2d(x, self.weight, stride=2, padding=1))
        x = F.adaptive_avg_pool2d(x, (4, 4))
        t = x.flatten(2).transpose(1, 2)  # (batch, 16 tokens, c)
        q, k, v = torch.matmul(t, self.qkv.t()).chunk(3, dim=-1)
        split = lambda z: z.unflatten(-1, (self.heads, -1)).transpose(1, 2)
        y = F.scaled_dot_product_attention(split(q), split(k), split(v))
        y = torch.einsum("bhld,ce->bhle", y, self.mix[: y.shape[-1], : y.shape[-1]])
        return y.mean((1, 2))


class TwoInputs(nn.Module):
    """``forward(image, mask)``: two tensors, the second a boolean mask."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image, mask):
        return self.conv(image) * mask


def lenet5() -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) on 1x32x32 with a dense C5: 61,706 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10),
    )


def _tokens(length: int = 20, vocab: int = 50) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return torch.randint(0, vocab, (1, length), generator=g)


# name -> (builder, input_size or None, example_inputs builder or None)
MODELS = {
    "lenet5": (lenet5, (1, 32, 32), None),
    "resnet-basic": (lambda: ResNet(BasicBlock, (1, 1), width=4, num_classes=5), (3, 32, 32),
                     None),
    "resnet-bottleneck": (lambda: ResNet(Bottleneck, (1, 1), width=4, num_classes=5),
                          (3, 32, 32), None),
    "mobilenetv2": (MobileNetV2, (3, 24, 24), None),
    "densenet": (DenseNet, (3, 16, 16), None),
    "inception": (Inception, (3, 21, 21), None),
    "vit": (ViT, (3, 16, 16), None),
    "convnext": (ConvNeXt, (3, 32, 32), None),
    "unet": (UNet, (1, 18, 18), None),
    "audio": (AudioNet, (1, 800), None),
    "video": (VideoStem, (3, 4, 16, 16), None),
    "text": (TextCNN, None, lambda: _tokens()),
    "tied": (Tied, (3, 8, 8), None),
    "called-twice": (CalledTwice, (3, 9, 9), None),
    "scaled-conv": (ScaledConv, (3, 6, 6), None),
    "padding-modes": (PaddingModes, (2, 14, 14), None),
    "functional": (Functional, (3, 16, 16), None),
    "two-inputs": (TwoInputs, None,
                   lambda: (torch.ones(1, 3, 6, 6), torch.ones(1, 4, 6, 6, dtype=torch.bool))),
    "mha": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), None,
            lambda: (torch.ones(1, 5, 8),) * 3),
}


@contextlib.contextmanager
def seeded(seed: int):
    """torch's global generator seeded inside the block and restored after it
    (module initialisers draw from the global generator)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def build(name: str, seed: int = 0):
    """``(model, input_size, example_inputs)`` of ``MODELS[name]``, weights seeded."""
    make, size, inputs = MODELS[name]
    with seeded(seed):
        model = make()
    return model, size, inputs() if inputs is not None else None


# ------------------------------------------------- shift-invariance variants
class BlurPool(nn.Module):
    """antialiased-cnns' ``Downsample`` (Zhang, ICML 2019), as that module writes
    it: a binomial filter (a buffer) after reflection padding, then stride."""

    def __init__(self, channels: int, filt_size: int = 3, stride: int = 2):
        super().__init__()
        a = torch.tensor([math.comb(filt_size - 1, j) for j in range(filt_size)],
                         dtype=torch.float32)
        filt = a[:, None] * a[None, :]
        self.register_buffer("filt", (filt / filt.sum())[None, None].repeat(channels, 1, 1, 1))
        self.pad = nn.ReflectionPad2d([(filt_size - 1) // 2, filt_size // 2] * 2)
        self.stride = stride

    def forward(self, x):
        return F.conv2d(self.pad(x), self.filt, stride=self.stride, groups=x.shape[1])


def antialias(model: ResNet) -> ResNet:
    """antialiased-cnns' ResNet from a ResNet of basic blocks: the stem's max pool
    becomes MaxPool(2, stride 1) then BlurPool; a strided block convolves at
    stride 1 and blurs before its second conv and its 1x1 shortcut."""
    width = model.conv1.out_channels
    model.maxpool = nn.Sequential(nn.MaxPool2d(2, stride=1), BlurPool(width))
    for module in model.modules():
        if isinstance(module, BasicBlock) and module.conv1.stride != (1, 1):
            module.conv1.stride = (1, 1)
            module.conv2 = nn.Sequential(BlurPool(module.conv2.in_channels), module.conv2)
            conv, bn = module.downsample
            conv.stride = (1, 1)
            module.downsample = nn.Sequential(BlurPool(conv.in_channels), conv, bn)
    return model


def circular(model: nn.Module) -> nn.Module:
    """Circular padding everywhere: every conv's ``padding_mode`` (transposed
    ones have zeros only), and a ResNet's stem max pool preceded by a circular
    ``F.pad`` (``nn.CircularPad2d``)."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
            module.padding_mode = "circular"
    if isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        pool = model.maxpool
        model.maxpool = nn.Sequential(nn.CircularPad2d(pool.padding),
                                      nn.MaxPool2d(pool.kernel_size, pool.stride))
    return model
