"""Registration into Ultralytics' model-YAML parser: names, channels at every scale, errors, stock models untouched."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch
import ultralytics
import ultralytics.nn.tasks as tasks
import yaml
from ultralytics.nn.tasks import DetectionModel, yaml_model_load

import yolo_attn
import yolo_attn.nn as yann
from yolo_attn import integration

ULTRALYTICS_MODELS = Path(ultralytics.__file__).parent / "cfg" / "models"
GATES = tuple(n for s in yann.ATTENTION.values() if not s.changes_channels for n in (s.name, *s.aliases))
CONV_REPLACEMENTS = tuple(s.name for s in yann.ATTENTION.values() if s.changes_channels)


def stock_yolov8() -> dict:
    return yaml_model_load(ULTRALYTICS_MODELS / "v8" / "yolov8.yaml")


def attention_yaml() -> dict:
    """yolov8 with yolo_attn rows after Concat layers, with `from` other than -1, n > 1, EPSA both ways."""
    d = stock_yolov8()
    detect = d["head"].pop()  # [[15, 18, 21], 1, Detect, [nc]]
    d["head"] += [
        [11, 1, "ECA", []],  # 22: after a Concat, from != -1
        [14, 6, "CBAM", [7]],  # 23: after a Concat, n = 6 (depth-scaled: 2 at n/s, 4 at m, 6 at l/x)
        [15, 1, "MLCA", []],  # 24: P3
        [18, 1, "ELA", ["B"]],  # 25: P4
        [21, 1, "EPSA", []],  # 26: P5, EPSA keeping channels
        [-1, 1, "CoordAtt", []],  # 27
        [-1, 1, "yolo_attn.SE", []],  # 28
        [20, 1, "EPSA", [512, 1]],  # 29: EPSA as a conv replacement after a Concat (c2 width-scaled)
        [-1, 1, "CA", []],  # 30: must see EPSA's real output channels
        [[24, 25, 28], 1, detect[2], detect[3]],
    ]
    return d


def _stock_width(d: dict, scale: str, c: int) -> int:
    from ultralytics.utils.ops import make_divisible

    _, width, max_channels = d["scales"][scale]
    return make_divisible(min(c, max_channels) * width, 8)


def _input_channels(model: torch.nn.Module, size: int = 64) -> dict[int, tuple[int, int]]:
    """Run a forward and return {layer index: (input channels, output channels)} for yolo_attn layers."""
    seen, handles = {}, []
    for layer in model.model:
        if layer.type.startswith("yolo_attn."):
            handles.append(
                layer.register_forward_hook(lambda m, a, y, i=layer.i: seen.__setitem__(i, (a[0].shape[1], y.shape[1])))
            )
    model.eval()(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return seen


def test_names_registered_and_psa_untouched():
    names = yolo_attn.registered_names()
    assert {"MLCA", "ELA", "ECA", "SE", "CBAM", "CoordAtt", "CA", "MobileNetV3SE"} <= set(GATES)
    assert "EPSA" in CONV_REPLACEMENTS
    for name in (*GATES, *CONV_REPLACEMENTS):
        assert name in names and f"yolo_attn.{name}" in names
        assert getattr(tasks, name).yolo_attn_target is getattr(tasks, f"yolo_attn.{name}").yolo_attn_target
    from ultralytics.nn.modules import PSA as YOLOv10PSA

    assert tasks.PSA is YOLOv10PSA  # YOLOv10's block is never overwritten
    assert "PSA" not in names and tasks.__dict__["yolo_attn.PSA"].yolo_attn_target is yann.EPSA
    assert tasks.CA.yolo_attn_target is yann.CoordAtt
    assert yolo_attn.register() == names  # idempotent


def test_skipped_name_logged_once(caplog):
    integration.unregister()
    with caplog.at_level(logging.INFO, logger="yolo_attn"):
        integration.register()
        integration.register()
    msgs = [r.getMessage() for r in caplog.records if "'PSA' already resolves" in r.getMessage()]
    assert len(msgs) == 1 and "yolo_attn.PSA" in msgs[0]


@pytest.mark.parametrize("scale", ["n", "s", "m", "l", "x"])
def test_channels_at_every_scale(scale):
    d = attention_yaml()
    d["scale"] = scale
    model = DetectionModel(copy.deepcopy(d), ch=3, nc=4, verbose=False)
    io = _input_channels(model)
    rows = d["backbone"] + d["head"]
    assert sorted(io) == list(range(22, 31))
    epsa_c2 = _stock_width(d, scale, 512)
    for i, (c_in, c_out) in io.items():
        name, args = rows[i][2], rows[i][3]
        cls = getattr(tasks, name).yolo_attn_target
        layer = model.model[i]
        mod = layer[0] if isinstance(layer, torch.nn.Sequential) else layer
        if i == 29:  # Conv-family: c1 injected, c2 scaled like Conv
            assert (c_in, c_out) == (_stock_width(d, scale, 512) + _stock_width(d, scale, 1024), epsa_c2)
            fresh = cls(c_in, epsa_c2, *args[1:])
        else:
            assert c_in == c_out, f"layer {i} {name} changed channels"
            fresh = cls(c_in, *args)
        shapes = {k: v.shape for k, v in mod.state_dict().items()}
        assert shapes == {k: v.shape for k, v in fresh.state_dict().items()}, f"layer {i} {name} built for wrong C"
    assert io[30][0] == epsa_c2  # the parser recorded EPSA's real output channels
    repeats = max(round(6 * d["scales"][scale][0]), 1)
    assert isinstance(model.model[23], torch.nn.Sequential) and len(model.model[23]) == repeats
    # After Concat the true width differs per scale (docs/design.md §5): check one against the YAML arithmetic.
    assert io[22][0] == _stock_width(d, scale, 1024) + _stock_width(d, scale, 512)


def test_unknown_module_names_layer_and_suggestions():
    d = stock_yolov8()
    d["head"].insert(3, [-1, 1, "MLAC", []])
    with pytest.raises(KeyError) as e:
        DetectionModel(d, ch=3, nc=4, verbose=False)
    msg = str(e.value)
    assert "layer 13" in msg and "'MLAC'" in msg and "'MLCA'" in msg
    assert isinstance(e.value, integration.UnknownModuleError)


@pytest.mark.parametrize(
    "row, needle",
    [
        ([-1, 1, "ELA", ["Q"]], "ELA"),
        ([-1, 1, "MLCA", [0]], "MLCA"),
        ([[15, 18], 1, "SE", []], "exactly one input"),
        ([-1, 1, "EPSA", [96]], "EPSA"),
        ([-1, 2, "EPSA", [256]], "n=2"),
    ],
)
def test_bad_rows_name_layer_and_module(row, needle):
    d = stock_yolov8()
    d["scale"] = "s"
    d["head"].insert(6, row)  # layer 16, after the P3 C2f (128 channels at s)
    with pytest.raises(ValueError) as e:
        DetectionModel(d, ch=3, nc=4, verbose=False)
    msg = str(e.value)
    assert "layer 16" in msg and needle in msg, msg


def test_direct_entry_call_is_explained():
    with pytest.raises(TypeError, match="parse_model"):
        tasks.MLCA()


def _detect_yamls() -> list[Path]:
    heads = ("Detect]", "v10Detect]", "RTDETRDecoder]")
    out = []
    for p in sorted(ULTRALYTICS_MODELS.rglob("*.yaml")):
        d = yaml.safe_load(p.read_text())
        last = (d.get("head") or [[None, None, ""]])[-1]
        if any(str(last[2]) + "]" == h for h in heads):
            out.append(p)
    return out


def _param_count(path: Path) -> int:
    # parse_model is what the plugin wraps; the meta device skips allocation and the stride forward (fast).
    with torch.device("meta"):
        layers, _ = tasks.parse_model(yaml_model_load(path), ch=3, verbose=False)
    return sum(p.numel() for p in layers.parameters())


@pytest.mark.slow
def test_stock_detect_models_untouched():
    paths = _detect_yamls()
    names = {p.stem for p in paths}
    assert {"yolov8", "yolo11", "yolov10n", "rtdetr-l"} <= names, names
    with_plugin = {p.name: _param_count(p) for p in paths}
    integration.unregister()
    try:
        assert "MLCA" not in vars(tasks)
        without = {p.name: _param_count(p) for p in paths}
    finally:
        integration.register()
    assert with_plugin == without
    assert without["yolov10n.yaml"] > 0 and len(paths) >= 30
