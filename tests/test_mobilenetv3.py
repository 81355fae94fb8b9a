"""MobileNetV3 stem and inverted residual block: layout, attention position, residual, hyperparameters, errors."""

from __future__ import annotations

import io
import pickle
from copy import deepcopy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import randomize_batchnorm

from yolo_attn.nn.mobilenetv3 import MobileNetV3Block, MobileNetV3Stem

pytestmark = pytest.mark.usefixtures("one_thread")


def _attention_modules() -> dict[str, type]:
    from yolo_attn.nn import ATTENTION_MODULES

    return ATTENTION_MODULES


def _bn(x, bn):
    """BatchNorm in eval mode, written out."""
    shape = (1, -1, 1, 1)
    return (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps) * bn.weight.view(
        shape
    ) + bn.bias.view(shape)


def _hswish(x):
    return x * torch.clamp(x + 3, 0, 6) / 6


def test_stem_layout_params_and_shape():
    stem = MobileNetV3Stem(3, 16, 3, 2, "HS")
    conv = stem.conv.conv
    assert conv.bias is None and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert isinstance(stem.conv.act, nn.Hardswish) and isinstance(stem.conv.bn, nn.BatchNorm2d)
    assert sum(p.numel() for p in stem.parameters()) == 3 * 16 * 9 + 2 * 16  # 464
    assert stem(torch.randn(2, 3, 64, 96)).shape == (2, 16, 32, 48)
    assert isinstance(MobileNetV3Stem(3, 8, 5, 1, "re").conv.act, nn.ReLU)
    stem = randomize_batchnorm(MobileNetV3Stem(3, 8, 3, 2, "HS")).double()
    x = torch.randn(1, 3, 13, 17, dtype=torch.float64)
    ref = _hswish(_bn(F.conv2d(x, stem.conv.conv.weight, None, 2, 1), stem.conv.bn))
    torch.testing.assert_close(stem(x), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "c1, c2, hidden, s, names",
    [
        (16, 24, 72, 2, ["expand", "dw", "att", "act", "project"]),
        (16, 16, 16, 2, ["dw", "att", "project"]),  # MobileNetV3-Small block 1: the activation is dw's
    ],
)
def test_block_layout(c1, c2, hidden, s, names):
    blk = MobileNetV3Block(c1, c2, hidden, 5, s, None, "HS")
    assert [n for n, _ in blk.block.named_children()] == names
    dw = blk.block.dw.conv
    assert (dw.in_channels, dw.out_channels, dw.groups) == (hidden, hidden, hidden)
    assert dw.kernel_size == (5, 5) and dw.stride == (s, s) and dw.padding == (2, 2) and dw.bias is None
    assert blk.block.project.conv.kernel_size == (1, 1) and blk.block.project.conv.bias is None
    assert isinstance(blk.block.project.act, nn.Identity)
    assert isinstance(blk.block.dw.act, nn.Identity if hidden != c1 else nn.Hardswish)
    assert isinstance(blk.att, nn.Identity) and not blk.residual
    k2 = 25
    expand = 0 if hidden == c1 else c1 * hidden + 2 * hidden
    assert sum(p.numel() for p in blk.parameters()) == expand + hidden * k2 + 2 * hidden + hidden * c2 + 2 * c2


def _literal_block(blk: MobileNetV3Block, x: torch.Tensor, act) -> torch.Tensor:
    """Design notes §5, written out with the block's own weights and attention module."""
    b = blk.block
    dw = b.dw.conv
    s, k = dw.stride[0], dw.kernel_size[0]
    if hasattr(b, "expand"):
        y = act(_bn(F.conv2d(x, b.expand.conv.weight), b.expand.bn))
        y = _bn(F.conv2d(y, dw.weight, None, s, k // 2, 1, dw.out_channels), b.dw.bn)
        y = act(blk.att(y))  # attention BEFORE the activation
    else:
        y = act(_bn(F.conv2d(x, dw.weight, None, s, k // 2, 1, dw.out_channels), b.dw.bn))
        y = blk.att(y)  # block 1: attention AFTER the activation
    y = _bn(F.conv2d(y, b.project.conv.weight), b.project.bn)
    return x + y if blk.residual else y


@pytest.mark.parametrize(
    "c1, c2, hidden, k, s, act",
    [
        (16, 16, 16, 3, 2, "RE"),  # block 1: no expansion
        (40, 40, 240, 5, 1, "HS"),  # residual
        (40, 48, 120, 5, 1, "HS"),  # stride 1, channel change: no residual
        (48, 96, 288, 5, 2, "HS"),
    ],
)
def test_block_matches_literal_transcription(c1, c2, hidden, k, s, act):
    blk = randomize_batchnorm(MobileNetV3Block(c1, c2, hidden, k, s, "MobileNetV3SE", act), seed=c1 + hidden).double()
    assert blk.residual == (s == 1 and c1 == c2)
    fn = torch.relu if act == "RE" else _hswish
    for shape in ((2, c1, 16, 16), (1, c1, 13, 17)):
        x = torch.randn(*shape, dtype=torch.float64)
        torch.testing.assert_close(blk(x), _literal_block(blk, x, fn), rtol=0, atol=1e-12)
    assert blk(x).shape == (1, c2, (13 - 1) // s + 1, (17 - 1) // s + 1)


def test_attention_position_is_observable():
    """Moving the gate across the activation changes the output, so the literal test above pins the position."""
    blk = randomize_batchnorm(MobileNetV3Block(40, 40, 240, 5, 1, "MobileNetV3SE", "HS"), seed=3).double()
    b = blk.block
    x = torch.randn(1, 40, 12, 12, dtype=torch.float64)
    y = _hswish(_bn(F.conv2d(x, b.expand.conv.weight), b.expand.bn))
    y = _bn(F.conv2d(y, b.dw.conv.weight, None, 1, 2, 1, 240), b.dw.bn)
    wrong = x + _bn(F.conv2d(blk.att(_hswish(y)), b.project.conv.weight), b.project.bn)
    assert not torch.allclose(blk(x), wrong)


def test_residual():
    for c1, c2, s, residual in ((24, 24, 1, True), (24, 40, 1, False), (24, 24, 2, False)):
        blk = MobileNetV3Block(c1, c2, 88, 3, s, None, "RE").eval()
        nn.init.zeros_(blk.block.project.bn.weight)
        nn.init.zeros_(blk.block.project.bn.bias)
        x = torch.randn(1, c1, 8, 8)
        assert blk.residual is residual
        if residual:
            assert torch.equal(blk(x), x)
        else:
            assert blk(x).abs().max() == 0


@pytest.mark.parametrize("spec", [None, "none", "None", "NONE", False])
def test_no_attention(spec):
    assert isinstance(MobileNetV3Block(16, 24, 72, 3, 2, spec).att, nn.Identity)


@pytest.mark.parametrize(
    "act, cls",
    [
        ("RE", nn.ReLU),
        ("re", nn.ReLU),
        ("relu", nn.ReLU),
        ("HS", nn.Hardswish),
        ("hs", nn.Hardswish),
        ("hardswish", nn.Hardswish),
    ],
)
def test_activation_aliases(act, cls):
    blk = MobileNetV3Block(16, 24, 72, 3, 2, None, act)
    assert isinstance(blk.block.act, cls) and isinstance(blk.block.expand.act, cls)
    assert isinstance(MobileNetV3Block(16, 16, 16, 3, 2, None, act).block.dw.act, cls)


def test_attention_built_on_hidden_channels():
    mods = _attention_modules()
    cases = [
        ("MobileNetV3SE", "MobileNetV3SE"),
        ("mlca", "MLCA"),  # case-insensitive
        (["ELA", "L"], "ELA"),
        ("CA", "CoordAtt"),  # the YAML alias
        ("SE", "SE"),
        ("ECA", "ECA"),
        ("CBAM", "CBAM"),
    ]
    for spec, name in cases:
        blk = MobileNetV3Block(40, 40, 96, 5, 1, spec, "HS")
        assert type(blk.att) is mods[name], spec
        y = blk(torch.randn(2, 40, 11, 13))
        assert y.shape == (2, 40, 11, 13)
    # the ELA hyperparameter reaches the module: variants differ in parameter count at C=96 (docs/design.md §2)
    counts = {
        phi: sum(p.numel() for p in MobileNetV3Block(40, 40, 96, 5, 1, ["ELA", phi]).att.parameters()) for phi in "BL"
    }
    assert counts == {"B": 9 * 96, "L": 58 * 96}


def test_epsa_keeps_hidden_channels():
    blk = MobileNetV3Block(96, 96, 576, 5, 1, "EPSA", "HS")
    assert type(blk.att) is _attention_modules()["EPSA"]
    assert blk(torch.randn(1, 96, 8, 8)).shape == (1, 96, 8, 8)
    with pytest.raises(ValueError, match="MobileNetV3Block.*EPSA"):
        MobileNetV3Block(96, 96, 576, 5, 1, ["EPSA", 2], "HS")


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"attention": "Foo"}, r"MobileNetV3Block.*'Foo'.*MLCA"),
        ({"attention": 3}, r"MobileNetV3Block.*attention 3"),
        ({"attention": ["ELA", "X"]}, r"MobileNetV3Block.*ELA"),
        ({"hidden": 120, "attention": ["ELA", "L"]}, r"MobileNetV3Block.*120"),  # GroupNorm(16) needs C % 16
        ({"activation": "SiLU"}, r"MobileNetV3Block.*'SiLU'.*'RE'.*'HS'"),
        ({"s": 3}, r"MobileNetV3Block.*stride"),
        ({"k": 4}, r"MobileNetV3Block.*odd"),
        ({"hidden": 0}, r"MobileNetV3Block.*hidden"),
    ],
)
def test_block_errors(kwargs, pattern):
    args = {"c1": 40, "c2": 40, "hidden": 96, "k": 5, "s": 1, "attention": None, "activation": "HS", **kwargs}
    with pytest.raises(ValueError, match=pattern):
        MobileNetV3Block(**args)


def test_stem_errors():
    with pytest.raises(ValueError, match=r"MobileNetV3Stem.*'swish'"):
        MobileNetV3Stem(3, 16, 3, 2, "swish")
    with pytest.raises(ValueError, match=r"MobileNetV3Stem.*odd"):
        MobileNetV3Stem(3, 16, 2, 2)


def test_pickle_deepcopy_and_class_paths():
    blk = MobileNetV3Block(40, 40, 96, 5, 1, ["ELA", "L"], "HS").eval()
    x = torch.randn(1, 40, 9, 9)
    buf = io.BytesIO()
    torch.save(blk, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    torch.testing.assert_close(loaded(x), blk(x))
    torch.testing.assert_close(deepcopy(blk)(x), blk(x))
    torch.testing.assert_close(pickle.loads(pickle.dumps(blk))(x), blk(x))
    assert MobileNetV3Block.__module__ == "yolo_attn.nn.mobilenetv3"
    assert MobileNetV3Stem.__module__ == "yolo_attn.nn.mobilenetv3"


def test_training_backward_with_inplace_activations():
    blk = MobileNetV3Block(16, 16, 16, 3, 2, "MobileNetV3SE", "RE")
    blk2 = MobileNetV3Block(16, 24, 72, 3, 2, "MLCA", "HS")
    y = blk2(blk(torch.randn(2, 16, 16, 16, requires_grad=True)))
    y.square().mean().backward()
    assert all(p.grad is not None for p in blk.parameters())
