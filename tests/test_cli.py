"""Fresh-process tests: the stock `yolo` command sees the plugin through the autoload hook; DDP children build our
models; checkpoints load under ULTRALYTICS_SAFE_LOAD=1; ONNX export matches PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import write_tiny_yolo_dataset
from test_integration import attention_yaml

BIN = Path(sys.executable).parent
SITE = Path(sysconfig.get_paths()["purelib"])

pytestmark = pytest.mark.slow  # fresh processes: training, export, notebooks


def run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    r = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    )
    return r


def py(code: str, cwd: Path, env: dict | None = None) -> str:
    return run([sys.executable, "-c", textwrap.dedent(code)], cwd, env).stdout.strip()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict:
    """Train once through the stock `yolo` command in a fresh process; later tests use its best.pt."""
    root = tmp_path_factory.mktemp("cli")
    data = write_tiny_yolo_dataset(root / "data")
    d = attention_yaml()
    d["nc"] = 2
    (root / "yolov8-attn.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    model = root / "yolov8n-attn.yaml"  # the scale letter comes from the name; the file found is yolov8-attn.yaml
    run(
        [
            BIN / "yolo",
            "train",
            f"model={model}",
            f"data={data}",
            "epochs=1",
            "imgsz=64",
            "batch=4",
            "workers=0",
            "device=cpu",
            "plots=False",
            "amp=False",
            f"project={root / 'runs'}",
            "name=train",
            "exist_ok=True",
        ],
        cwd=root,
    )
    best = root / "runs" / "train" / "weights" / "best.pt"
    assert best.is_file()
    return {"root": root, "data": data, "best": best, "yaml": model}


def test_hook_installed_and_stdlib_only(tmp_path):
    assert (SITE / "yolo_attn_autoload.pth").is_file() and (SITE / "_yolo_attn_autoload.py").is_file()
    assert (SITE / "yolo_attn_autoload.start").read_text().strip() == "_yolo_attn_autoload:install"
    out = py(
        """
        import sys
        third = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)
        print(third)
        """,
        tmp_path,
    )
    loaded = eval(out)
    assert "_yolo_attn_autoload" in loaded
    assert not {"torch", "ultralytics", "yolo_attn", "numpy"} & {m.split(".")[0] for m in loaded}


@pytest.mark.parametrize("optout", ["", "0"])
def test_autoload_and_opt_out(tmp_path, optout):
    out = py(
        """
        import sys
        import ultralytics.nn.tasks as t
        print('MLCA' in vars(t), 'yolo_attn' in sys.modules, getattr(t.parse_model, '__yolo_attn__', False))
        """,
        tmp_path,
        {"YOLO_ATTN_AUTOLOAD": optout} if optout else None,
    )
    assert out.splitlines()[-1] == ("False False False" if optout == "0" else "True True True")


def test_hook_never_raises(tmp_path):
    """A broken yolo_attn must not break importing Ultralytics: the hook warns instead."""
    fake = tmp_path / "fake"
    (fake / "yolo_attn").mkdir(parents=True)
    (fake / "yolo_attn" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    r = run(
        [sys.executable, "-c", "import ultralytics.nn.tasks as t; print('Conv' in vars(t))"],
        tmp_path,
        {"PYTHONPATH": str(fake)},
    )
    assert r.stdout.strip().splitlines()[-1] == "True"
    assert "yolo_attn autoload: registration failed" in r.stderr and "boom" in r.stderr


def test_stock_train_then_val_predict_in_fresh_processes(work):
    root, best, data = work["root"], work["best"], work["data"]
    r = run(
        [
            BIN / "yolo",
            "val",
            f"model={best}",
            f"data={data}",
            "imgsz=64",
            "batch=4",
            "workers=0",
            "device=cpu",
            "plots=False",
            f"project={root / 'runs'}",
            "name=val",
        ],
        cwd=root,
    )
    assert "all" in r.stdout + r.stderr  # the per-class table's 'all' row
    img = next((data.parent / "images" / "val").glob("*.jpg"))
    run([BIN / "yolo", "predict", f"model={best}", f"source={img}", "imgsz=64", "device=cpu", "save=False"], cwd=root)
    # Our console script takes the same arguments, and registers even with the hook off.
    run(
        [BIN / "yolo-attn", "predict", f"model={best}", f"source={img}", "imgsz=64", "device=cpu", "save=False"],
        cwd=root,
        env={"YOLO_ATTN_AUTOLOAD": "0"},
    )


@pytest.mark.parametrize("dynamic", [False, True])
def test_export_onnx_matches_pytorch(work, dynamic):
    import onnxruntime as ort
    from ultralytics import YOLO

    root, best = work["root"], work["best"]
    out = root / f"dyn{int(dynamic)}"
    out.mkdir(exist_ok=True)
    target = out / "best.pt"
    target.write_bytes(best.read_bytes())
    run(
        [BIN / "yolo", "export", f"model={target}", "format=onnx", "imgsz=64", "device=cpu", f"dynamic={dynamic}"],
        cwd=root,
    )
    onnx_file = target.with_suffix(".onnx")
    model = YOLO(str(best)).model.float().eval()
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 64, 64)] + ([(2, 3, 96, 64)] if dynamic else []):
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = model(x)
        y = (y[0] if isinstance(y, (list, tuple)) else y).numpy()
        (o,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
        np.testing.assert_allclose(o, y, rtol=1e-4, atol=1e-4 * float(np.abs(y).max()))


def test_checkpoint_loads_with_safe_load(work):
    out = py(
        f"""
        from ultralytics import YOLO
        m = YOLO({str(work["best"])!r})
        print(sorted({{type(x).__module__ for x in m.model.modules() if type(x).__module__.startswith('yolo_attn')}}))
        """,
        work["root"],
        {"ULTRALYTICS_SAFE_LOAD": "1"},
    )
    assert "yolo_attn.nn.mlca" in out and "yolo_attn.nn.epsa" in out


@pytest.mark.parametrize("autoload", ["1", "0"])
def test_ddp_child_builds_our_model(work, tmp_path, autoload):
    """Generate the DDP launch script and state as Ultralytics does, then run its model-building path in a fresh
    interpreter that never imports yolo_attn explicitly (with the autoload hook on, and off: the pickled default
    callback must bring the plugin in by itself)."""
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils.dist import generate_ddp_file

    trainer = DetectionTrainer(
        overrides={
            "model": str(work["yaml"]),
            "data": str(work["data"]),
            "epochs": 1,
            "imgsz": 64,
            "device": "cpu",
            "workers": 0,
            "project": str(tmp_path),
            "name": "ddp",
        }
    )
    script = Path(generate_ddp_file(trainer))
    try:
        text = script.read_text()
        assert "trainer.train()" in text and "yolo_attn" not in text
        child = tmp_path / "child.py"
        child.write_text(
            text.replace(
                "trainer.train()",
                "trainer.setup_model()\n    print('TYPES', sorted({type(m).__name__ for m in trainer.model.modules()}))",
            )
        )
        r = run([sys.executable, str(child)], tmp_path, {"YOLO_ATTN_AUTOLOAD": autoload})
        types = r.stdout.split("TYPES", 1)[1]
        for name in ("MLCA", "ELA", "ECA", "CBAM", "EPSA", "CoordAtt", "SE"):
            assert f"'{name}'" in types, r.stdout[-2000:]
    finally:
        script.unlink(missing_ok=True)
        script.with_suffix(".pt").unlink(missing_ok=True)


def test_yolo_attn_score_names_every_protocol_and_val_is_ultralytics(work):
    import json

    root = work["root"]
    out = root / "metrics.json"
    common = (f"model={work['best']}", f"data={work['data']}", "split=val", "imgsz=64", "batch=4", "device=cpu")
    r = run([BIN / "yolo-attn", "score", *common, f"out={out}"], cwd=root)
    result = json.loads(out.read_text())
    assert result["unit"].startswith("fraction of 1")  # the file says its unit; the table says %
    for key in ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95", "ultralytics_map50", "ultralytics_map50_95"):
        assert 0.0 <= result[key] <= 1.0, key
    assert "all values in %" in r.stdout and "fractions of 1" in r.stdout
    assert "voc07" in r.stdout.lower() and "ultralytics" in r.stdout.lower()
    # `yolo-attn val` is Ultralytics' val with its own arguments and their meaning (it was our scorer before:
    # plots=False was refused and save_json=True wrote a file named "True").
    r = run(
        [BIN / "yolo-attn", "val", *common, "plots=False", "save_json=True", f"project={root / 'runs'}", "name=v"],
        cwd=root,
    )
    assert "all" in r.stdout + r.stderr  # Ultralytics' per-class table
    assert not (root / "True").exists()
    assert (root / "runs" / "v" / "predictions.json").is_file()


def test_data_sample_and_voc_prepare_commands(tmp_path):
    run([BIN / "yolo-attn", "data", "sample", "--out", "dk", "--images", "12", "--imgsz", "64"], cwd=tmp_path)
    r = run([BIN / "yolo-attn", "voc", "prepare", "--devkit", "dk/VOCdevkit", "--out", "ds"], cwd=tmp_path)
    assert "dataset YAML" in r.stdout and (tmp_path / "ds" / "data.yaml").is_file()
    bad = subprocess.run(
        [BIN / "yolo-attn", "voc", "prepare", "--devkit", "missing", "--out", "x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "missing" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run(
        [BIN / "yolo-attn", "score", "model=a.pt", "bogus=1"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "bogus=1" in bad.stderr and "data=..." in bad.stderr


def test_delegated_subcommands(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    r = run([BIN / "yolo-attn", "models", "check", str(repo / "cfg" / "models")], cwd=tmp_path)
    assert r.returncode == 0
    r = run([BIN / "yolo-attn", "transfer", "--help"], cwd=tmp_path)
    assert "--weights" in r.stdout and "--model" in r.stdout
    bad = subprocess.run(
        [BIN / "yolo-attn", "transfer", "--weights", "nope.pt", "--model", "x.yaml", "--out", "o.pt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "nope.pt" in bad.stderr


def test_compare_and_demo_are_wired(tmp_path):
    r = run([BIN / "yolo-attn", "demo", "--help"], cwd=tmp_path)
    assert "--images" in r.stdout and "--out" in r.stdout
    bad = subprocess.run(
        [BIN / "yolo-attn", "compare", "--models", "may", "--data", "missing.yaml", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr


def test_yolo_attn_score_saves_per_image_results_and_compares_them(work):
    root = work["root"]
    common = (f"model={work['best']}", f"data={work['data']}", "split=val", "imgsz=64", "batch=4", "device=cpu")
    first = root / "a" / "per_image.npz"
    run([BIN / "yolo-attn", "score", *common, "ultralytics_val=False", f"per_image={first}"], cwd=root)
    r = run(
        [
            BIN / "yolo-attn",
            "score",
            *common,
            "ultralytics_val=False",
            f"per_image={root / 'b.npz'}",
            f"baseline={first}",
        ],
        cwd=root,
    )
    # the same model twice (inference is deterministic): every resampled difference is 0
    assert "| `variant` | +0.00 | [+0.00, +0.00] | 0.00 | no evidence |" in r.stdout, r.stdout[-2000:]
    assert "covers test-set sampling only" in r.stdout
