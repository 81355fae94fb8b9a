"""Weight transfer: a stock checkpoint made by the test into yolov8n-mlca; every tensor moves, only MLCA stays fresh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from helpers import yolo_train

REPO = Path(__file__).resolve().parents[1]
VARIANT = "cfg/models/yolov8n-mlca.yaml"  # relative to the repository root: the scale letter picks n


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stock_pt(tmp_path_factory) -> Path:
    """A stock YOLOv8n checkpoint in Ultralytics' own save format, with every tensor set to a distinct random value
    (so an untransferred tensor cannot pass as transferred by matching its initialization)."""
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")  # Ultralytics' packaged YAML, no download
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.fill_(7)
    path = tmp_path_factory.mktemp("stock") / "yolov8n.pt"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def transferred(stock_pt, tmp_path_factory):
    from yolo_attn.transfer import transfer_weights

    out = tmp_path_factory.mktemp("init") / "init.pt"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        report = transfer_weights(stock_pt, VARIANT, out, verbose=False)
    finally:
        os.chdir(cwd)
    return report, out


def _load(path):
    from ultralytics.nn.tasks import load_checkpoint

    return load_checkpoint(path)[0]


def test_report(transferred, stock_pt):
    report, out = transferred
    stock = _load(stock_pt)
    assert report.fresh_layers == [22, 23, 24] and report.fresh_types == ["MLCA"] * 3
    assert report.layer_map == {**{i: i for i in range(22)}, 22: 25}  # Detect moves behind the three MLCA rows
    assert report.moved == report.source_total == len(stock.state_dict())
    assert report.total == report.moved + len(report.fresh_tensors)
    assert all(k.split(".")[1] in ("22", "23", "24") for k in report.fresh_tensors) and report.fresh_tensors
    assert report.nc == 80 and report.out == str(out)
    assert "Transferred" in report.summary() and "22 (MLCA)" in report.summary()


def test_every_non_attention_tensor_equal(transferred, stock_pt):
    report, out = transferred
    stock, variant = _load(stock_pt), _load(out)
    assert variant.yaml["yaml_file"].endswith("yolov8n-mlca.yaml") and variant.yaml["scale"] == "n"
    assert variant.names == stock.names
    checked = 0
    for i, j in report.layer_map.items():
        s_sd, v_sd = stock.model[i].state_dict(), variant.model[j].state_dict()
        assert s_sd.keys() == v_sd.keys()
        for k in s_sd:
            assert torch.equal(s_sd[k], v_sd[k]), f"layer {i}->{j} {k}"
            checked += 1
    assert checked == len(stock.state_dict())
    # only the attention layers are fresh: every other variant tensor is a transferred one
    fresh = {f"model.{j}." for j in report.fresh_layers}
    transferred_keys = {f"model.{j}.{k}" for j in report.layer_map.values() for k in variant.model[j].state_dict()}
    assert set(variant.state_dict()) - transferred_keys == {k for k in variant.state_dict() if k[:9] in fresh}
    assert type(variant.model[22]).__name__ == "MLCA"


def _bypass(model, layers):
    """Replace the attention layers by identities that keep Ultralytics' routing attributes."""
    for j in layers:
        old = model.model[j]
        new = torch.nn.Identity()
        new.f, new.i, new.type, new.np = old.f, old.i, "Identity", 0
        model.model[j] = new
    return model


def test_predictions_equal_with_attention_bypassed(transferred, stock_pt):
    report, out = transferred
    stock, variant = _load(stock_pt).eval(), _load(out).eval()
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = stock(x)
        with_att = variant(x)
        bypassed = _bypass(variant, report.fresh_layers)(x)

    def flat(y):
        if isinstance(y, torch.Tensor):
            return [y]
        if isinstance(y, dict):
            return [t for v in y.values() for t in flat(v)]
        return [t for v in y for t in flat(v)]

    ref, bypassed, with_att = flat(ref), flat(bypassed), flat(with_att)
    assert len(ref) == len(bypassed) > 0
    for a, b in zip(ref, bypassed, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    assert not torch.allclose(with_att[0], ref[0])  # the MLCA layers do act when not bypassed


def test_pretrained_path_loads_every_tensor(transferred):
    """`yolo train model=<variant>.yaml pretrained=init.pt`: the trainer builds the YAML and calls model.load()."""
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint, yaml_model_load

    _, out = transferred
    weights, _ = load_checkpoint(out)
    model = DetectionModel(yaml_model_load(REPO / VARIANT), verbose=False)
    model.load(weights, verbose=False)
    sd, wsd = model.state_dict(), weights.state_dict()
    assert sd.keys() == wsd.keys()
    assert all(torch.equal(sd[k], wsd[k].to(sd[k].dtype)) for k in sd)


def test_checkpoint_format(transferred):
    from ultralytics import YOLO
    from ultralytics.nn.tasks import torch_safe_load

    _, out = transferred
    ckpt = torch.load(out, map_location="cpu", weights_only=False)
    assert ckpt["model"].yaml["yaml_file"].endswith("yolov8n-mlca.yaml")
    assert next(ckpt["model"].parameters()).dtype == torch.float16  # as Ultralytics saves
    assert ckpt["epoch"] == -1 and ckpt["optimizer"] is None and ckpt["ema"] is None
    yolo = YOLO(str(out))
    assert yolo.task == "detect" and type(yolo.model.model[23]).__name__ == "MLCA"
    ckpt, _ = torch_safe_load(out, safe_only=True)  # ULTRALYTICS_SAFE_LOAD=1 path
    assert type(ckpt["model"].model[24]).__name__ == "MLCA"


def test_transfer_errors(stock_pt, tmp_path):
    from yolo_attn.transfer import transfer_weights

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        report = transfer_weights(stock_pt, "cfg/models/yolov8-mlca.yaml", verbose=False)  # no letter: source's n
        assert report.fresh_layers == [22, 23, 24] and report.moved == report.source_total
        with pytest.raises(ValueError, match=r"same scale"):
            transfer_weights(stock_pt, "cfg/models/yolov8s-mlca.yaml", verbose=False)
        with pytest.raises(ValueError, match=r"variant layer 0 is MobileNetV3Stem"):
            transfer_weights(stock_pt, "cfg/models/may-mlca.yaml", verbose=False)
    finally:
        os.chdir(cwd)


def _garbage_files(root: Path) -> dict[str, Path]:
    """Files that are not Ultralytics checkpoints, each written by the test."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": b"",
        "text": b"not a checkpoint\n",
        "random-bytes": bytes(range(256)) * 8,
        "zip-header-only": b"PK\x03\x04" + b"\x00" * 40,
    }
    out = {}
    for name, data in files.items():
        (root / f"{name}.pt").write_bytes(data)
        out[name] = root / f"{name}.pt"
    torch.save({"weight": torch.zeros(3)}, root / "state-dict.pt")  # a plain tensor dict: no model inside
    out["state-dict"] = root / "state-dict.pt"
    torch.save([1, 2, 3], root / "list.pt")
    out["list"] = root / "list.pt"
    return out


@pytest.mark.parametrize("kind", ["empty", "text", "random-bytes", "zip-header-only", "state-dict", "list"])
def test_garbage_weights_are_refused_naming_the_file(kind, tmp_path):
    from yolo_attn.transfer import transfer_weights

    bad = _garbage_files(tmp_path / "bad")[kind]
    out = tmp_path / "init.pt"
    with pytest.raises(ValueError, match="is not (a loadable )?an? Ultralytics checkpoint|is not a loadable") as e:
        transfer_weights(bad, REPO / VARIANT, out, verbose=False)
    assert str(bad) in str(e.value)
    assert not out.exists() and not list(tmp_path.glob(".init.pt.tmp-*"))


def test_missing_weights_and_existing_out(stock_pt, tmp_path):
    from yolo_attn.transfer import transfer_weights

    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*nothing is downloaded"):
        transfer_weights(tmp_path / "yolov8s.pt", REPO / VARIANT, tmp_path / "x.pt", verbose=False)
    user_file = tmp_path / "mine.pt"
    user_file.write_bytes(b"the user's own file")
    with pytest.raises(FileExistsError, match="--overwrite"):
        transfer_weights(stock_pt, REPO / VARIANT, user_file, verbose=False)
    assert user_file.read_bytes() == b"the user's own file"  # never modified
    with pytest.raises(IsADirectoryError, match="is a folder"):
        transfer_weights(stock_pt, REPO / VARIANT, tmp_path, verbose=False)
    report = transfer_weights(stock_pt, REPO / VARIANT, user_file, verbose=False, overwrite=True)
    assert report.moved == report.source_total and user_file.read_bytes()[:2] == b"PK"  # a torch zip now


def test_interrupted_save_leaves_no_checkpoint(stock_pt, tmp_path, monkeypatch):
    """A failure while writing (a full disk) leaves neither the output nor its temporary file."""
    import errno

    from yolo_attn import transfer

    def full_disk(obj, f, *a, **k):
        f.write(b"partial")  # torch.save writes into the open temporary file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer.torch, "save", full_disk)
    out = tmp_path / "init.pt"
    with pytest.raises(OSError, match="No space left"):
        transfer.transfer_weights(stock_pt, REPO / VARIANT, out, verbose=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [("garbage", 2, "is not a loadable Ultralytics checkpoint"), ("missing", 2, "checkpoint not found"),
     ("exists", 2, "--overwrite"), ("bad-yaml", 2, "")],
)  # fmt: skip
def test_transfer_command_exit_statuses(case, status, needle, stock_pt, tmp_path):
    from helpers import YOLO_ATTN_BIN, offline_env

    weights = {"garbage": _garbage_files(tmp_path / "bad")["text"], "missing": tmp_path / "nope.pt"}.get(case, stock_pt)
    out = tmp_path / "init.pt"
    if case == "exists":
        out.write_text("keep me")
    model = tmp_path / "broken.yaml" if case == "bad-yaml" else REPO / VARIANT
    if case == "bad-yaml":
        model.write_text("backbone: [[-1, 1, MLAC, []]]\nhead: []\nnc: 2\n")
    r = subprocess.run(
        [str(YOLO_ATTN_BIN), "transfer", "--weights", str(weights), "--model", str(model), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=offline_env(tmp_path / "cfg"),
    )  # fmt: skip
    assert r.returncode == status, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "yolo-attn transfer: error" in r.stderr
    assert needle in r.stderr
    assert (out.read_text() == "keep me") if case == "exists" else not out.exists()


@pytest.mark.slow
def test_stock_yolo_train_accepts_init(transferred, tiny_data, tmp_path):
    """`yolo train model=init.pt` in a fresh process (the YOLOv8 family's short training)."""
    _, out = transferred
    r = yolo_train(out, tiny_data, tmp_path, "run")
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    assert "Transferred" in log
    assert (tmp_path / "run" / "weights" / "last.pt").exists()
    assert type(_load(tmp_path / "run" / "weights" / "last.pt").model[22]).__name__ == "MLCA"
