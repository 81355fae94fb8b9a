"""The zoo's placement files: every place of every module builds at every scale, keeps the stock network around the
attention, transfers stock weights, fuses, exports to ONNX and reloads in a fresh process through the stock command.

Fast: every file at every scale on the meta device (size and shapes), a real forward/backward of every file at
scale n, fusing and the named set. Slow (one file per place, not per module): ONNX static and dynamic against
onnxruntime, and a transferred checkpoint reloaded by the stock ``yolo val`` in a fresh process.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from pathlib import Path

import pytest
import torch
import yaml
from helpers import offline_env, randomize_batchnorm, yolo

from yolo_attn.nn.registry import attention_classes
from yolo_attn.zoo import PLACES, place_of, placement_entries, placement_set
from yolo_attn.zoo.template import _STOCK, _text

ENTRIES = {e.file: e for e in placement_entries()}
# Fast tier: every file at scale n and the MLCA files at every scale; the rest of the product is marked slow.
CASES = [
    pytest.param(f, s, id=f"{f}-{s}", marks=() if s == "n" or "-mlca-" in f else pytest.mark.slow)
    for f, e in ENTRIES.items()
    for s in e.scales
]
ONE_PER_PLACE = {}  # place -> the first file of that place (MLCA where it exists)
for _f in sorted(ENTRIES, key=lambda f: ("-mlca-" not in f, f)):
    ONE_PER_PLACE.setdefault((_f.split("-")[0], place_of(_f)), _f)


def _parse(d: dict, meta: bool = False):
    from ultralytics.nn import tasks

    import yolo_attn

    yolo_attn.register()
    if meta:
        with torch.device("meta"):
            return tasks.parse_model(deepcopy(d), ch=3, verbose=False)[0]
    return tasks.parse_model(deepcopy(d), ch=3, verbose=False)[0]


def _data(file: str, scale: str) -> dict:
    return {**yaml.safe_load(_text(ENTRIES[file])), "scale": scale}


def _stock(file: str, scale: str) -> dict:
    from yolo_attn.zoo import _stock_path

    rel = _STOCK[file.split("-")[0]][1]
    return {**yaml.safe_load(_stock_path(rel).read_text(encoding="utf-8")), "scale": scale}


def _attention_params(seq) -> int:
    """Parameters inside registered attention modules."""
    return sum(p.numel() for m in seq.modules() if isinstance(m, attention_classes()) for p in m.parameters())


def _psa_attn_params(seq) -> int:
    return sum(p.numel() for m in seq if type(m).__name__ == "C2PSA" for b in m.m for p in b.attn.parameters())


def test_names_places_and_counts():
    assert len(ENTRIES) == 71  # 8 modules x (v8: 2, 11: 3, 12: 1, 26: 3 places), less EMA's c3k2 in YOLO26
    assert {place_of(f) for f in ENTRIES} == set(PLACES) - {"head-in"}
    assert place_of("yolo11-mlca.yaml") == "head-in"
    for f in ENTRIES:  # no digit followed by a scale letter outside the family prefix
        assert not any(c.isdigit() and n in "nslmx" for c, n in zip(f[6:], f[7:], strict=False)), f
    assert "yolo26-ema-c3k2.yaml" not in ENTRIES  # EMA's 32 groups do not divide C3k's 16 channels at yolo26n


@pytest.mark.parametrize("file, scale", CASES)
def test_every_file_builds_at_every_scale_around_the_stock_network(file, scale):
    """Variant params - attention params = stock params (- C2PSA self-attention for psa): nothing else changed, at
    every scale; then a training-mode forward (zero-filled storage) gives the stock output shapes."""
    seq = _parse(_data(file, scale), meta=True)
    stock = _parse(_stock(file, scale), meta=True)
    total = sum(p.numel() for p in seq.parameters())
    att = _attention_params(seq)
    assert att > 0 or "simam" in file
    expected = sum(p.numel() for p in stock.parameters())
    if place_of(file) == "psa":
        expected -= _psa_attn_params(stock)
    assert total - att == expected


@pytest.mark.parametrize(
    "file", [pytest.param(f, marks=() if f in ONE_PER_PLACE.values() else pytest.mark.slow) for f in sorted(ENTRIES)]
)
def test_every_file_runs_forward_and_backward_at_scale_n(file):
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(_data(file, "n"), verbose=False)
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    out = model.train()(torch.rand(2, 3, 64, 96))
    leaves = [t for t in torch.utils._pytree.tree_leaves(out) if torch.is_tensor(t) and t.is_floating_point()]
    loss = sum(t.square().mean() for t in leaves)
    loss.backward()
    grads = [
        m
        for m in model.modules()
        if isinstance(m, attention_classes()) and any(p.grad is not None for p in m.parameters())
    ]
    assert grads or "simam" in file


@pytest.mark.parametrize("key", sorted(ONE_PER_PLACE), ids=lambda k: "-".join(k))
def test_fuse_keeps_the_output(key):
    from ultralytics.nn.tasks import DetectionModel

    model = randomize_batchnorm(DetectionModel(_data(ONE_PER_PLACE[key], "n"), verbose=False))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)[0]
        model.fuse(verbose=False)
        after = model(x)[0]
    assert model.is_fused()
    torch.testing.assert_close(after, before, rtol=1e-3, atol=1e-3)


def test_named_set_placement():
    assert placement_set("mlca") == [
        "yolo11n.yaml",
        "yolo11n-mlca.yaml",
        "yolo11n-mlca-backbone.yaml",
        "yolo11n-mlca-c3k2.yaml",
        "yolo11n-mlca-psa.yaml",
    ]
    assert placement_set("CA@yolov8s")[-1] == "yolov8s-coordatt-c2f.yaml"
    assert "yolo26n-ema-c3k2.yaml" not in placement_set("ema@yolo26n")
    for bad in ("nope", "mlca@yolo9n", "EPSA"):
        with pytest.raises(ValueError, match="placement|unknown attention"):
            placement_set(bad)


def test_compare_resolves_the_placement_set(tmp_path):
    """`compare --models placement:mlca` = the stock model, then MLCA in every place; `yolo11-all` stays head-in."""
    from yolo_attn.compare.models import check_models, resolve_models
    from yolo_attn.zoo import zoo_entries

    for e in [*zoo_entries(), *ENTRIES.values()]:
        (tmp_path / e.file).write_text(_text(e), encoding="utf-8")
    labels = [s.label for s in resolve_models(["placement:mlca"], models_dir=tmp_path)]
    assert labels == ["yolo11n", "yolo11n-mlca", "yolo11n-mlca-backbone", "yolo11n-mlca-c3k2", "yolo11n-mlca-psa"]
    assert all(place_of(s.label) == "head-in" for s in resolve_models(["yolo11-all"], models_dir=tmp_path))
    with pytest.raises(ValueError, match="placement:nope: unknown attention module 'nope'; valid: .*'MLCA'"):
        check_models(["placement:nope"], models_dir=tmp_path)


# ---------------------------------------------------------------------------------------------------------------------
# Slow: ONNX and the stock command, one file per place


def _write(tmp_path, file: str, scale: str = "n"):
    path = tmp_path / file.replace("-", f"{scale}-", 1)
    path.write_text(_text(ENTRIES[file]), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(ONE_PER_PLACE), ids=lambda k: "-".join(k))
def test_onnx_static_and_dynamic_match_pytorch(key, tmp_path):
    import onnxruntime as ort
    from ultralytics import YOLO

    path = _write(tmp_path, ONE_PER_PLACE[key])
    yolo_model = YOLO(str(path))
    model = randomize_batchnorm(yolo_model.model)
    for dynamic in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx = yolo_model.export(format="onnx", imgsz=64, dynamic=dynamic, simplify=False, device="cpu")
        sess = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        for shape in [(1, 3, 64, 64)] + ([(2, 3, 96, 64)] if dynamic else []):
            x = torch.rand(shape)
            with torch.no_grad():
                ref = model.eval()(x)
                ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
            got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
            assert got.shape == ref.shape
            torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(ref), rtol=1e-3, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(ONE_PER_PLACE), ids=lambda k: "-".join(k))
def test_transferred_checkpoint_reloads_in_the_stock_yolo_command(key, tmp_path, tiny_data):
    """Stock checkpoint (made here) -> transfer into the placement file -> pickled checkpoint -> `yolo val` in a
    fresh process unpickles and runs it."""
    from ultralytics import YOLO

    from yolo_attn.transfer import transfer_weights

    family = key[0]
    stock = YOLO(f"{family}n.yaml")
    pt = tmp_path / f"{family}n.pt"
    stock.save(pt)
    path = _write(tmp_path, ONE_PER_PLACE[key])
    report = transfer_weights(pt, path, tmp_path / "init.pt", verbose=False)
    assert report.moved + len(report.dropped_tensors) == report.source_total
    assert all(
        ".attention." in k or ".attn." in k or int(k.split(".")[1]) in report.fresh_layers for k in report.fresh_tensors
    )
    r = yolo(
        "val",
        f"model={tmp_path / 'init.pt'}",
        f"data={tiny_data}",
        "imgsz=64",
        "device=cpu",
        "batch=2",
        "plots=False",
        f"project={tmp_path}",
        "name=val",
        env=offline_env(tmp_path / "cfg"),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.parametrize("key", sorted(ONE_PER_PLACE), ids=lambda k: "-".join(k))
def test_name_lookup_takes_the_scale_letter(key):
    """`model=yolo11s-mlca-c3k2.yaml` finds the shipped file by bare name and takes scale s (Ultralytics' lookup)."""
    from ultralytics.nn.tasks import yaml_model_load

    import yolo_attn

    yolo_attn.register()
    file = ONE_PER_PLACE[key]
    d = yaml_model_load(file.replace("-", "s-", 1))
    assert d["scale"] == "s" and d["head"] == yaml.safe_load(_text(ENTRIES[file]))["head"]


def test_shipped_placement_files_equal_the_template():
    from yolo_attn.zoo import check

    models = Path(__file__).resolve().parents[1] / "cfg" / "models"
    assert all((models / f).is_file() for f in ENTRIES)
    assert not check(models)


def test_bench_family_takes_placement_files_only_when_named():
    """`bench models --family yolo11n` measures the head-in files; `--variants mlca-c3k2` picks a placement file and
    a bare `mlca` still means the head-in file."""
    from yolo_attn.bench import models as bench

    specs = bench.family_specs("yolo11n")
    default = [s.name for s in bench._select(specs, None)]
    assert "yolo11n-mlca" in default and not any(place_of(n) != "head-in" for n in default)
    picked = [s.name for s in bench._select(specs, ["mlca", "mlca-c3k2", "mlca-psa"])]
    assert picked == ["yolo11n", "yolo11n-mlca", "yolo11n-mlca-c3k2", "yolo11n-mlca-psa"]


@pytest.mark.slow
def test_readme_placement_table_is_the_codes():
    """The README's cost-per-place block is `yolo-attn models table cfg/models --placement MLCA`, pasted."""
    import re

    from yolo_attn.zoo import render_placement_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    m = re.search(
        r"<!-- generated: yolo-attn models table cfg/models --placement MLCA -->\n(.*?)<!-- end generated -->",
        readme,
        re.S,
    )
    assert m and m.group(1) == render_placement_table("MLCA", "n", 640)


@pytest.mark.parametrize("key", sorted(ONE_PER_PLACE), ids=lambda k: "-".join(k))
def test_model_names_round_trip_through_compare(key):
    """A placement model name with a scale letter resolves to its shipped file, and its label is the name again."""
    from yolo_attn.compare.models import resolve_models

    name = ONE_PER_PLACE[key].removesuffix(".yaml").replace("-", "s-", 1)  # yolo11s-mlca-c3k2
    (spec,) = resolve_models([name], Path(__file__).resolve().parents[1] / "cfg" / "models")
    assert spec.label == name and Path(spec.file).name == ONE_PER_PLACE[key]
    assert resolve_models([spec.label], Path(spec.file).parent)[0] == spec
