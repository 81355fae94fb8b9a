"""``model.fuse()`` folds every Conv-BN pair of our models, as it does for Ultralytics' own layers; old checkpoints load.

The MobileNetV3 stem and blocks are built from Ultralytics ``Conv`` units, which ``BaseModel.fuse()`` selects by type.
``tests/data/mobilenetv3_layout_v1.pt`` holds modules saved with the earlier layout (bare ``Conv2d`` + ``BatchNorm2d``,
see ``tests/data/make_mobilenetv3_layout_v1.py``); they must load, compute the same outputs and then fuse.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from helpers import randomize_batchnorm

from yolo_attn.nn import CBAM, CoordAtt
from yolo_attn.nn._common import fold_batchnorms
from yolo_attn.nn.mobilenetv3 import MobileNetV3Block, MobileNetV3Stem
from yolo_attn.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "cfg" / "models"
LEGACY = Path(__file__).resolve().parent / "data" / "mobilenetv3_layout_v1.pt"


def _unfused(model: nn.Module) -> list[str]:
    """Names of the BatchNorm2d layers left in ``model`` after ``fuse()`` that a conv precedes.

    Allowed: only a BN row right after an EPSA conv replacement (EPSA weights its conv branches by a softmax, so a
    following BN cannot fold into its convs). Anything else (a MobileNetV3 block, a Conv unit, CBAM's spatial BN,
    CoordAtt's strip BN, ...) is a BN ``fuse()`` should have folded.
    """
    layers = list(getattr(model, "model", []))
    after_epsa = {
        id(b)
        for a, b in zip(layers, layers[1:], strict=False)
        if type(a).__name__ == "EPSA" and isinstance(b, nn.BatchNorm2d)
    }
    return [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d) and id(m) not in after_epsa]


def _shipped() -> list[tuple[str, str]]:
    """Every shipped model YAML with the scale to build (n for files with scales)."""
    out = []
    for path in sorted(MODELS.glob("*.yaml")):
        scaled = path.name.startswith(("yolov8-", "yolo11-"))
        out.append((path.name, "n" if scaled else ""))
    return out


def test_every_shipped_yaml_is_checked():
    assert len(_shipped()) >= 30 and any(f.startswith("may-") for f, _ in _shipped())


@pytest.mark.parametrize("file, scale", _shipped(), ids=[f for f, _ in _shipped()])
def test_no_layer_left_unfused(file, scale):
    model = build_model(MODELS / file, scale).eval()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    model.fuse(verbose=False)
    assert model.is_fused()
    assert _unfused(model) == [], f"{file}: BatchNorm2d left after fuse() (of {n_bn} before)"
    if file.startswith("may-"):  # the MobileNetV3 backbone's 33 BNs (stem 1 + 32 in the 11 blocks) are folded
        assert n_bn - sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) >= 33


@pytest.mark.parametrize(
    "file",
    ["may-none.yaml", "may-mbse.yaml", "may-mlca.yaml", "may-coordatt.yaml", "may-paper-ca.yaml", "may-cbam.yaml"],
)
def test_fused_model_computes_the_same(file):
    model = randomize_batchnorm(build_model(MODELS / file), seed=len(file)).double()
    x = torch.rand(2, 3, 96, 64, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)[0]
        model.fuse(verbose=False)
        after = model(x)[0]
    assert _unfused(model) == []
    torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MobileNetV3Stem(3, 16, 3, 2, "HS"),
        lambda: MobileNetV3Block(16, 16, 16, 3, 2, "MobileNetV3SE", "RE"),  # no expansion: act inside dw
        lambda: MobileNetV3Block(40, 40, 240, 5, 1, "MLCA", "HS"),  # residual, attention before the act
        lambda: MobileNetV3Block(48, 96, 288, 5, 2, None, "HS"),
    ],
)
def test_block_fuses_like_ultralytics_conv(make):
    """The units are Ultralytics' Conv: fuse() folds them with its own code, in float32 to float tolerance."""
    from ultralytics.nn.modules import Conv

    block = randomize_batchnorm(make(), seed=3)
    units = [m for m in block.modules() if isinstance(m, Conv)]
    assert units and all(isinstance(u.bn, nn.BatchNorm2d) for u in units)
    model = _tiny_model(block)
    x = torch.randn(1, 3 if isinstance(block, MobileNetV3Stem) else units[0].conv.in_channels, 20, 28)
    with torch.no_grad():
        before = model(x)
        model.fuse(verbose=False)
        after = model(x)
    assert all(not hasattr(u, "bn") for u in units) and model.is_fused()
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def _tiny_model(layer: nn.Module):
    """An Ultralytics BaseModel holding ``layer`` (so ``fuse()`` is Ultralytics' own)."""
    from ultralytics.nn.tasks import BaseModel

    model = BaseModel()
    model.model = nn.Sequential(layer)
    model.model[0].f, model.model[0].i = -1, 0
    model.save = []
    model.info = lambda *a, **k: None  # fuse() prints a summary; nothing to print here
    return model.eval()


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoints of the earlier layout


@pytest.fixture
def legacy():
    """A fresh load per test (the tests fuse what they load)."""
    return torch.load(LEGACY, weights_only=False)


def _current_blocks() -> nn.Sequential:
    """The modules of the legacy file, built with today's code (same constructor arguments)."""
    return nn.Sequential(
        MobileNetV3Stem(3, 16, 3, 2, "HS"),
        MobileNetV3Block(16, 16, 16, 3, 2, "MobileNetV3SE", "RE"),
        MobileNetV3Block(16, 24, 72, 3, 2, None, "RE"),
        MobileNetV3Block(24, 24, 88, 3, 1, "ECA", "RE"),
        MobileNetV3Block(24, 32, 64, 5, 2, "MLCA", "HS"),
    ).eval()


def test_legacy_file_has_the_old_layout(legacy):
    keys = set(legacy["state_dict"])
    assert {"0.conv.weight", "0.bn.running_var", "1.block.dw.weight", "1.block.dw_bn.weight"} <= keys
    assert {"2.block.expand.weight", "2.block.expand_bn.bias", "2.block.project_bn.running_mean"} <= keys


def test_legacy_pickled_modules_load_in_the_new_layout(legacy):
    net = legacy["model"]
    assert set(net.state_dict()) == set(_current_blocks().state_dict())  # converted on unpickling
    assert not any(k.endswith("_bn.weight") for k in net.state_dict())
    with torch.no_grad():  # float tolerance: the attention modules' own float32 rounding may change between versions
        torch.testing.assert_close(net(legacy["input"]), legacy["output"], rtol=1e-5, atol=1e-5)
    model = _tiny_model(net)
    model.model[0].f = -1
    with torch.no_grad():
        model.fuse(verbose=False)
        torch.testing.assert_close(net(legacy["input"]), legacy["output"], rtol=1e-5, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    buf = io.BytesIO()  # and the converted modules save and load again
    torch.save(legacy["model"], buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=False) is not None


def test_legacy_state_dict_loads_strictly(legacy):
    net = _current_blocks()
    result = net.load_state_dict(legacy["state_dict"])  # strict: a missing or unexpected key raises
    assert not result.missing_keys and not result.unexpected_keys
    converted = legacy["model"].state_dict()  # the pickled twin, converted on unpickling: same tensors, same keys
    assert all(torch.equal(v, converted[k]) for k, v in net.state_dict().items())
    with torch.no_grad():
        torch.testing.assert_close(net(legacy["input"]), legacy["output"], rtol=1e-5, atol=1e-5)


def test_legacy_state_dict_with_a_wrong_shape_still_fails(legacy):
    sd = dict(legacy["state_dict"])
    sd["1.block.dw_bn.weight"] = torch.zeros(3)
    with pytest.raises(RuntimeError, match=r"1\.block\.dw\.bn\.weight"):
        _current_blocks().load_state_dict(sd)


def test_legacy_detection_model_loads_and_fuses(legacy):
    model = legacy["detection_model"].float().eval()
    x, expected = legacy["detection_input"], legacy["detection_output"]
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], expected, rtol=1e-5, atol=1e-4)  # box outputs are pixels
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        model.fuse(verbose=False)
        torch.testing.assert_close(model(x)[0], expected, rtol=1e-4, atol=1e-3)  # box outputs are pixels
    assert n_bn > 0 and _unfused(model) == [] and model.is_fused()


def test_register_wraps_fuse_and_unregister_restores_it():
    import ultralytics.nn.tasks as tasks

    from yolo_attn.integration import register, unregister

    register()
    wrapped = tasks.BaseModel.fuse
    assert getattr(wrapped, "__yolo_attn__", False)
    try:
        unregister()
        assert tasks.BaseModel.fuse is wrapped.__wrapped__
    finally:
        register()
    assert getattr(tasks.BaseModel.fuse, "__yolo_attn__", False) and not hasattr(
        tasks.BaseModel.fuse.__wrapped__, "__yolo_attn__"
    )


@pytest.mark.parametrize("make", [lambda: CBAM(32), lambda: CoordAtt(32), lambda: CoordAtt(32, 16, False)])
def test_fold_bn_alone_keeps_the_output_and_is_idempotent(make):
    m = randomize_batchnorm(make(), seed=5).eval()
    x = torch.randn(2, 32, 20, 13)
    with torch.no_grad():
        before = m(x)
        fold_batchnorms(m)
        fold_batchnorms(m)  # nothing left the second time
        after = m(x)
    assert not any(isinstance(b, nn.BatchNorm2d) for b in m.modules())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
