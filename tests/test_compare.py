"""compare: one tiny sweep (2 models + a broken YAML, 1 seed, 1 epoch, imgsz 64, generated VOC data) that is killed
after its first run finished and then resumed; the tests check its CSV, Markdown and PNG outputs, the resume and the
failure report. Plus fast unit tests of model lists, settings, statistics and the argparse hook (no training)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from yolo_attn.cli import add_compare_arguments, add_demo_arguments, parse_train_args
from yolo_attn.cli import main as cli_main
from yolo_attn.compare import models as cmodels
from yolo_attn.compare.config import SweepConfig, settle
from yolo_attn.compare.report import RESULT_COLUMNS, aggregate
from yolo_attn.compare.sweep import compare, parse_seeds, sweep_status

REPO = Path(__file__).resolve().parents[1]

# Tiny detectors (a few thousand parameters): the same network with and without attention rows.
TINY_NONE = """\
nc: 6
backbone:
  - [-1, 1, Conv, [8, 3, 2]]    # 0 P1/2
  - [-1, 1, Conv, [16, 3, 2]]   # 1 P2/4
  - [-1, 1, Conv, [16, 3, 2]]   # 2 P3/8
  - [-1, 1, Conv, [16, 1, 1]]   # 3
  - [-1, 1, Conv, [32, 3, 2]]   # 4 P4/16
  - [-1, 1, Conv, [32, 1, 1]]   # 5
  - [-1, 1, Conv, [32, 3, 2]]   # 6 P5/32
head:
  - [[3, 5, 6], 1, Detect, [nc]]
"""
TINY_ATT = TINY_NONE.replace("[-1, 1, Conv, [16, 1, 1]]   # 3", "[-1, 1, MLCA, []]            # 3").replace(
    "[-1, 1, Conv, [32, 1, 1]]   # 5", "[-1, 1, ECA, []]             # 5"
)
BROKEN = "nc: 6\nbackbone:\n  - [-1, 1, NoSuchModule, [16]]\nhead:\n  - [[0], 1, Detect, [nc]]\n"

_CACHE: dict = {}


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _workers_of(spec: Path) -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        with_spec = p.info["cmdline"] and str(spec) in p.info["cmdline"]
        if with_spec and p.pid != os.getpid():
            found.append(p)
    return found


def tiny_sweep(tmp_path_factory) -> dict:
    """Run (once per session) the tiny sweep: start it, kill it while its second run trains, resume it."""
    if "sweep" in _CACHE:
        return _CACHE["sweep"]
    from yolo_attn.data.sample import make_sample_dataset
    from yolo_attn.data.voc import prepare_voc

    root = tmp_path_factory.mktemp("compare")
    devkit = make_sample_dataset(root / "data", images=16, seed=0, imgsz=64)
    data = prepare_voc(devkit, root / "data" / "voc", log=None).yaml
    files = []
    for name, text in (("tiny-none", TINY_NONE), ("tiny-att", TINY_ATT), ("broken", BROKEN)):
        (root / f"{name}.yaml").write_text(text)
        files.append(str(root / f"{name}.yaml"))
    out = root / "out"
    cmd = [
        sys.executable,
        "-m",
        "yolo_attn.compare",
        "compare",
        "--models",
        *files,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--latency-repeats",
        "5",
        "--no-val",
    ]
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "MPLBACKEND": "Agg"}
    first_dir = out / "runs" / "tiny-none" / "seed0"
    second_dir = out / "runs" / "tiny-att" / "seed0"

    # 1. start the sweep; kill the sweep process (SIGKILL, no clean-up) once the second run's worker has started
    log1 = root / "first.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=f, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while not (second_dir / "log.txt").is_file():
            assert proc.poll() is None, f"sweep ended before its second run:\n{log1.read_text()[-4000:]}"
            assert time.time() < deadline, "sweep did not reach its second run in time"
            time.sleep(0.5)
        time.sleep(1.0)
        snapshot = _snapshot(first_dir)
        proc.kill()
        proc.wait()
    # the orphaned worker notices its parent is gone and exits
    deadline = time.time() + 30
    while _workers_of(second_dir / "spec.json") and time.time() < deadline:
        time.sleep(0.5)
    orphans = _workers_of(second_dir / "spec.json")
    for p in orphans:
        p.kill()
    interrupted_record = (second_dir / "run.json").is_file()

    # 2. the same command again: resumes
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    _CACHE["sweep"] = {
        "root": root,
        "out": out,
        "data": data,
        "files": files,
        "snapshot": snapshot,
        "first_dir": first_dir,
        "second_dir": second_dir,
        "first_log": log1.read_text(),
        "resume": r,
        "orphans": len(orphans),
        "interrupted_record": interrupted_record,
        "cmd": cmd,
        "env": env,
    }
    return _CACHE["sweep"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return tiny_sweep(tmp_path_factory)


def _rows(out: Path, name: str = "results.csv") -> list[dict]:
    with open(out / name, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------------- the sweep


@pytest.mark.slow
def test_kill_and_resume_keeps_finished_runs(sweep):
    r = sweep["resume"]
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]  # the broken YAML's run failed
    assert "error: 1 failed (the report shows the rest)" in r.stderr
    assert sweep["orphans"] == 0, "the worker of the killed sweep kept running"
    assert not sweep["interrupted_record"], "the killed run must not look complete"
    assert "[compare] 1 run(s) already complete" in r.stdout
    assert "run 1/3" not in r.stdout  # the finished run was not started again
    assert "run 2/3: tiny-att seed 0" in r.stdout
    assert _snapshot(sweep["first_dir"]) == sweep["snapshot"], "a finished run's files changed on resume"
    rows = {x["model"]: x for x in _rows(sweep["out"])}
    assert rows["tiny-att"]["status"] == "ok"


@pytest.mark.slow
def test_progress_lines(sweep):
    log = sweep["first_log"]
    assert "[compare] 3 run(s): 3 model(s) x 1 seed(s)" in log
    assert "[compare] run 1/3: tiny-none seed 0 | 0 done, 3 to go" in log
    assert "[compare 1/3 | tiny-none seed 0] epoch 1/1" in log  # the per-epoch sweep line beside Ultralytics' bars
    assert "[compare] run 2/3: tiny-att seed 0 | 1 done, 2 to go" in log and "left" in log


@pytest.mark.slow
def test_results_csv(sweep):
    out = sweep["out"]
    rows = _rows(out)
    assert [(x["model"], x["seed"], x["status"]) for x in rows] == [
        ("tiny-none", "0", "ok"),
        ("tiny-att", "0", "ok"),
        ("broken", "0", "failed"),
    ]
    header = list(rows[0])
    assert header[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    classes = ["disc", "square", "triangle", "star", "ring", "cross"]
    assert header[len(RESULT_COLUMNS) :] == [f"voc07_map50:{c}" for c in classes]
    for x in rows[:2]:
        for k in (
            "voc07_map50",
            "voc12_map50",
            "coco_ap50",
            "coco_ap50_95",
            "ultralytics_map50",
            "ultralytics_map50_95",
        ):
            assert 0.0 <= float(x[k]) <= 1.0
        assert int(x["params"]) > 1000 and float(x["gflops"]) > 0
        assert float(x["cpu_latency_ms"]) > 0 and int(x["cpu_threads"]) >= 1
        assert x["gpu_latency_ms"] == ""  # CPU sweep
        assert float(x["train_img_per_s"]) > 0
        assert (x["epochs"], x["imgsz"], x["batch"], x["split"], x["weights"]) == ("1", "64", "8", "test", "last")
        assert x["torch"] and x["ultralytics"] and x["yolo_attn"] and x["python"] and x["device_name"]
        assert x["train_device"] == "cpu" and x["error"] == ""
        assert len(x["yaml_sha256"]) == 64
    # tiny-att swaps two 1x1 Conv+BN (16*16 + 2*16 and 32*32 + 2*32 parameters) for MLCA (2 x k3) and ECA (k3)
    assert int(rows[0]["params"]) - int(rows[1]["params"]) == (256 + 32) + (1024 + 64) - 9
    # both scored the same 5 test images
    assert rows[0]["eval_images"] == rows[1]["eval_images"] == "5"
    pc = _rows(out, "per_class.csv")
    assert len(pc) == 2 * len(classes) and {p["class"] for p in pc} == set(classes)


@pytest.mark.slow
def test_broken_yaml_reported(sweep):
    out = sweep["out"]
    bad = {x["model"]: x for x in _rows(out)}["broken"]
    assert bad["status"] == "failed" and "NoSuchModule" in bad["error"]
    assert (out / "runs" / "broken" / "seed0" / "log.txt").is_file()
    summary = (out / "summary.md").read_text()
    assert "## Failed runs (1)" in summary and "NoSuchModule" in summary
    assert sweep_status(out) == {"ok": 2, "failed": 1, "stale": 0, "pending": 0}


@pytest.mark.slow
def test_summary_md(sweep):
    text = (sweep["out"] / "summary.md").read_text()
    assert "**Primary metric:** `voc07_map50`" in text and "**Baseline:** `tiny-none`" in text
    assert "| rank | model | seeds | **mAP50 VOC07** (%) | Δ vs baseline (pp) |" in text
    table = [ln for ln in text.splitlines() if ln.startswith("| 1 |") or ln.startswith("| 2 |")]
    assert len(table) == 2 and any("(baseline)" in ln and "0 (ref.)" in ln for ln in table)
    assert "In progress" not in text and "## Per-class AP" in text
    for png in ("map_vs_gflops.png", "map_vs_latency.png", "per_class_ap.png", "forest.png"):
        assert f"]({png})" in text
    assert "1 seed: covers test-set sampling only" in text and "Seed noise floor: unknown (one seed)" in text


@pytest.mark.slow
def test_png_plots(sweep):
    from PIL import Image

    for name, min_w in (("map_vs_gflops.png", 600), ("map_vs_latency.png", 600), ("per_class_ap.png", 600)):
        path = sweep["out"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as im:
            assert im.size[0] >= min_w and im.size[1] >= 300
    assert not list(sweep["out"].glob(".*.tmp-*")), "temporary files left behind"


@pytest.mark.slow
def test_evidence_two_models_two_seeds(sweep, tmp_path):
    """A real 2-model x 2-seed sweep: summary.md and results.csv carry the paired bootstrap; the report recomputes it
    from the saved per-image files alone, and older folders (files removed) still report, saying why."""
    from yolo_attn.compare.report import EVIDENCE_COLUMNS, report_only

    out = tmp_path / "ev"
    compare(sweep["files"][:2], sweep["data"], epochs=1, imgsz=64, batch=8, device="cpu", out=out, val=False,
            latency_repeats=3, seeds="0-1", resamples=200)  # fmt: skip
    rows = _rows(out)
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [
        ("tiny-none", "0", "ok"), ("tiny-att", "0", "ok"), ("tiny-none", "1", "ok"), ("tiny-att", "1", "ok"),
    ]  # fmt: skip
    assert set(EVIDENCE_COLUMNS) <= set(rows[0])
    base, att = rows[0], rows[1]
    assert all(base[k] == "" for k in EVIDENCE_COLUMNS)  # the baseline is not compared with itself
    assert att["verdict"] in ("better", "worse", "no evidence")
    assert float(att["ci_low"]) <= float(att["ci_high"]) and 0 <= float(att["p_better"]) <= 1
    assert float(att["noise_floor"]) >= 0 and {k: att[k] for k in EVIDENCE_COLUMNS} == {
        k: rows[3][k] for k in EVIDENCE_COLUMNS
    }
    delta = float(rows[1]["voc07_map50"]) - float(rows[0]["voc07_map50"])
    delta += float(rows[3]["voc07_map50"]) - float(rows[2]["voc07_map50"])
    assert float(att["delta"]) == pytest.approx(delta / 2, abs=1e-9)  # the mean of the seed-matched Δs
    text = (out / "summary.md").read_text()
    assert "## Evidence vs the baseline `tiny-none`" in text and "| `tiny-att` | " in text
    assert "two-level paired bootstrap: 2 seed pairs, then test images (200 resamples)" in text
    assert "Seed noise floor:" in text and "](forest.png)" in text
    assert (out / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # seeds that do not match: tiny-att's seed 1 lost its per-image file -> seed 0 alone, saying so
    (out / "runs" / "tiny-att" / "seed1" / "per_image.npz").unlink()
    report_only(out, say=None)
    att = _rows(out)[1]
    assert att["verdict"] in ("better", "worse", "no evidence")
    text = (out / "summary.md").read_text()
    assert "1 seed: covers test-set sampling only" in text and "seeds [1] have no pair: left out" in text
    # an older folder: no per-image files at all -> no interval, the reason in both files
    (out / "runs" / "tiny-att" / "seed0" / "per_image.npz").unlink()
    report_only(out, say=None)
    assert _rows(out)[1]["verdict"].startswith("no interval: seed 0: no per_image.npz")
    assert (
        "no interval: seed 0: no per_image.npz (scored before per-image results were saved)"
        in (out / "summary.md").read_text()
    )
    assert not (out / "forest.png").exists() and "](forest.png)" not in (out / "summary.md").read_text()
    # the baseline's files missing: its reason
    for f in (out / "runs" / "tiny-none").glob("seed*/per_image.npz"):
        f.unlink()
    report_only(out, say=None)
    assert "no interval: baseline 'tiny-none': seed 0: no per_image.npz" in _rows(out)[1]["verdict"]


@pytest.mark.slow
def test_rerun_finished_sweep_changes_nothing(sweep, capsys):
    out = sweep["out"]
    before = _snapshot(out / "runs")
    compare(
        sweep["files"],
        sweep["data"],
        epochs=1,
        imgsz=64,
        batch=8,
        device="cpu",
        out=out,
        val=False,
        latency_repeats=5,
        retry_failed=False,
    )  # the failed run is kept too: nothing starts
    assert _snapshot(out / "runs") == before
    assert "3 run(s) already complete" in capsys.readouterr().out
    with pytest.raises(ValueError, match="epochs: earlier 1, now 2"):
        compare(sweep["files"][:2], sweep["data"], epochs=2, imgsz=64, batch=8, device="cpu", out=out, val=False)


@pytest.mark.slow
def test_all_failed_exit_status(sweep, tmp_path):
    parser = argparse.ArgumentParser()
    add_compare_arguments(parser)
    (tmp_path / "broken.yaml").write_text(BROKEN)  # found, but fails in its worker
    args = parser.parse_args(
        [
            "--models",
            str(tmp_path / "broken.yaml"),
            "--data",
            str(sweep["data"]),
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--out",
            str(tmp_path / "out"),
            "--no-plots",
        ]
    )
    assert args.func.__name__ == "_compare"
    assert args.func(args) == 1  # nothing succeeded
    row = _rows(tmp_path / "out")[0]
    assert row["status"] == "failed" and "NoSuchModule" in row["error"]


# ----------------------------------------------------------------------------------------------------- units


def test_named_sets_and_globs(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    for tag in ("mlca", "none", "eca", "mbse", "zzz"):
        (d / f"may-{tag}.yaml").write_text(TINY_NONE)
    for tag in ("mlca", "se"):
        (d / f"yolov8-{tag}.yaml").write_text(TINY_NONE)
    labels = [s.label for s in cmodels.resolve_models(["may"], d)]
    assert labels == ["may-none", "may-mbse", "may-eca", "may-mlca", "may-zzz"]
    specs = cmodels.resolve_models(["yolov8s-all"], d)
    assert [s.label for s in specs] == ["yolov8s", "yolov8s-se", "yolov8s-mlca"]
    assert specs[0].model == "yolov8s.yaml" and specs[0].file.endswith("yolov8.yaml") and not specs[0].error
    assert specs[2].model.endswith("yolov8s-mlca.yaml") and specs[2].file == str((d / "yolov8-mlca.yaml").resolve())
    assert cmodels.default_baseline(specs) == "yolov8s"
    globbed = cmodels.resolve_models([str(d / "may-m*.yaml"), str(d / "may-none.yaml")])
    assert [s.label for s in globbed] == ["may-mbse", "may-mlca", "may-none"]
    with pytest.raises(ValueError, match="unknown model 'nope.yaml'"):  # names: tests/test_names.py
        cmodels.resolve_models([str(d / "may-none.yaml"), "nope.yaml"])
    assert cmodels.default_baseline(globbed) == "may-none"
    assert cmodels.default_baseline(globbed, "may-mlca.yaml") == "may-mlca"
    with pytest.raises(ValueError, match="matches no file"):
        cmodels.resolve_models([str(d / "x-*.yaml")])
    with pytest.raises(ValueError, match="not one of"):
        cmodels.default_baseline(globbed, "other")


def test_shipped_may_set():
    specs = cmodels.resolve_models(["may"], REPO / "cfg" / "models")
    labels = [s.label for s in specs]
    assert labels[:2] == ["may-none", "may-mbse"] and "may-mlca" in labels and len(labels) >= 5
    demo = cmodels.resolve_models(["may-demo"], REPO / "cfg" / "models")
    assert [s.label for s in demo] == list(cmodels.DEMO_MODELS) and not any(s.error for s in demo)


def test_seeds_settings_and_presets():
    assert parse_seeds("0,1,2") == parse_seeds("0-2") == parse_seeds([0, 1, 2, 1]) == [0, 1, 2]
    assert parse_seeds(3) == [3]
    own, extra = settle(SweepConfig.build(preset="may-paper"))
    assert own == {"epochs": 300, "imgsz": 640, "batch": 40, "val": True}
    assert extra == {
        "optimizer": "SGD",
        "lr0": 0.01,
        "lrf": 0.01,
        "momentum": 0.937,
        "weight_decay": 5e-4,
        "warmup_epochs": 3,
        "cos_lr": False,
        "close_mosaic": 0,
    }
    own, extra = settle(SweepConfig.build(epochs=5, imgsz=320, preset="may-paper", train_args={"lr0": 0.02}))
    assert own["epochs"] == 5 and own["imgsz"] == 320 and own["batch"] == 40 and extra["lr0"] == 0.02
    # the evidence preset: the paper's training, five seed-matched seeds; explicit seeds win
    ev = SweepConfig.build(preset="evidence")
    assert ev.seeds == [0, 1, 2, 3, 4] and settle(ev) == settle(SweepConfig.build(preset="may-paper"))
    assert SweepConfig.build(preset="evidence", seeds="0-1").seeds == [0, 1] and ev.resamples == 1000
    with pytest.raises(ValueError, match=r"--resamples 5: .*greater than or equal to 100"):
        SweepConfig.build(resamples=5)
    with pytest.raises(ValueError, match="may not set"):
        SweepConfig.build(train_args={"seed": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        SweepConfig.build(preset="nope")
    with pytest.raises(ValueError, match=r"--epochs 0: .*greater than or equal to 1"):
        SweepConfig.build(epochs=0)
    with pytest.raises(ValueError, match=r"--train-arg: 'lr0=abc' is of invalid type str"):
        SweepConfig.build(train_args={"lr0": "abc"})
    with pytest.raises(ValueError, match=r"--device 'tpu': unknown device 'tpu'"):
        SweepConfig.build(device="tpu")
    with pytest.raises(ValidationError):  # frozen: built once, read everywhere
        SweepConfig.build().epochs = 3
    assert parse_train_args(["optimizer=SGD lr0=0.01", "cos_lr=true", "amp=bf16"]) == {
        "optimizer": "SGD",
        "lr0": 0.01,
        "cos_lr": True,
        "amp": "bf16",
    }


def test_aggregate_mean_std_and_paired_delta():
    def row(model, seed, v, cls):
        return {
            "model": model,
            "seed": seed,
            "status": "ok",
            "voc07_map50": v,
            "params": 10,
            "gflops": 1.0,
            "voc07_map50:a": cls,
        }

    rows = [
        row("base", 0, 0.50, 0.4),
        row("att", 0, 0.55, 0.6),
        row("base", 1, 0.60, 0.5),
        row("att", 1, 0.62, 0.7),
        {"model": "bad", "seed": 0, "status": "failed"},
    ]
    agg = aggregate(rows, "base", "voc07_map50")
    assert [a["model"] for a in agg] == ["att", "base"] and [a["rank"] for a in agg] == [1, 2]
    att = agg[0]
    assert att["voc07_map50_mean"] == pytest.approx(0.585)
    assert att["voc07_map50_std"] == pytest.approx(math.sqrt(2 * 0.035**2))  # sample std of 0.55, 0.62
    assert att["delta_mean"] == pytest.approx(0.035)  # paired by seed: +0.05 and +0.02
    assert att["delta_std"] == pytest.approx(math.sqrt(2 * 0.015**2))
    assert att["per_class"]["a"] == pytest.approx(0.65)


def test_argparse_hooks():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_compare_arguments(sub.add_parser("compare"))
    add_demo_arguments(sub.add_parser("demo"))
    a = parser.parse_args(
        [
            "compare",
            "--models",
            "may",
            "x.yaml",
            "--data",
            "d.yaml",
            "--seeds",
            "0-2",
            "--preset",
            "may-paper",
            "--train-arg",
            "lr0=0.02",
            "--weights",
            "best",
        ]
    )
    assert a.models == ["may", "x.yaml"] and a.seeds == "0-2" and a.preset == "may-paper" and a.weights == "best"
    assert a.val is None and a.retry_failed and a.resume_runs and a.workers == 0
    d = parser.parse_args(["demo", "--epochs", "3"])
    assert d.epochs == 3 and d.out == "runs/compare/demo" and d.func.__name__ == "_demo"
    for command in ("compare", "demo"):
        with pytest.raises(SystemExit) as e:
            cli_main([command, "--help"])
        assert e.value.code == 0
    assert cli_main(["compare", "--data", "d.yaml"]) == 2  # --models missing: exit status 2, no traceback


# ----------------------------------------------------------------------------------------------------- hostile input
# Each bad input through both entry points: compare() raises ValueError (or FileNotFoundError) with the message, and
# `yolo-attn compare` (yolo_attn.cli.main) exits with status 2 and prints it without a traceback; nothing is written.


@pytest.fixture()
def inputs(tmp_path):
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames:\n  0: a\n")
    model = tmp_path / "tiny-none.yaml"
    model.write_text(TINY_NONE)
    return {"root": tmp_path, "data": data, "model": model, "out": tmp_path / "out"}


def _bad(kind: str, root: Path) -> tuple[dict, list[str], str]:
    """(compare() keyword changes, CLI argument changes, message regex) for one kind of bad input."""
    if kind == "seeds-abc":
        return {"seeds": "abc"}, ["--seeds", "abc"], r"seeds 'abc': 'abc' is not a seed or a range"
    if kind == "seeds-down":
        return {"seeds": "2-0"}, ["--seeds", "2-0"], r"range '2-0' is empty"
    if kind == "seeds-negative":
        return {"seeds": [-1]}, ["--seeds", "-1"], r"seeds"
    if kind == "train-arg-unknown":
        return {"train_args": {"nosuch": 1}}, ["--train-arg", "nosuch=1"], r"unknown Ultralytics train argument.*nosuch"
    if kind == "train-arg-value":
        return (
            {"train_args": {"lr0": "abc"}},
            ["--train-arg", "lr0=abc"],
            r"--train-arg: 'lr0=abc' is of invalid type str",
        )
    if kind == "device-string":
        return {"device": "tpu"}, ["--device", "tpu"], r"--device 'tpu': unknown device 'tpu'; valid: cpu, mps"
    if kind == "train-arg-reserved":
        return {"train_args": {"epochs": 3}}, ["--train-arg", "epochs=3"], r"may not set epochs"
    if kind in ("data-list", "data-invalid", "data-empty", "data-no-split"):
        text = {
            "data-list": "- a\n- b\n",
            "data-invalid": "path: [unclosed\n",
            "data-empty": "",
            "data-no-split": "train: images/train\nnames: {0: a}\n",
        }[kind]
        bad = root / f"{kind}.yaml"
        bad.write_text(text)
        msg = {
            "data-list": r"holds a list, not a mapping",
            "data-invalid": r"is not valid YAML",
            "data-empty": r"is empty",
            "data-no-split": r"has no 'val' split",
        }[kind]
        return {"data": bad}, ["--data", str(bad)], rf"{kind}\.yaml.*{msg}|{msg}"
    if kind == "device-unknown":
        return {"devices": "tpu"}, ["--devices", "tpu"], r"unknown device 'tpu'; valid: cpu, mps, or a CUDA GPU index"
    if kind == "device-gpu-missing":
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        msg = "this machine has no CUDA GPU; use cpu" if n == 0 else f"this machine has {n} CUDA GPU"
        return {"devices": f"cpu,{n}"}, ["--devices", f"cpu,{n}"], msg
    raise AssertionError(kind)


BAD_KINDS = [
    "seeds-abc",
    "seeds-down",
    "seeds-negative",
    "train-arg-unknown",
    "train-arg-reserved",
    "train-arg-value",
    "device-string",
    "data-list",
    "data-invalid",
    "data-empty",
    "data-no-split",
    "device-unknown",
    "device-gpu-missing",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_compare_api(inputs, kind):
    kw, _, msg = _bad(kind, inputs["root"])
    args = {"models": [str(inputs["model"])], "data": inputs["data"], "out": inputs["out"], "log": None, **kw}
    with pytest.raises(ValueError, match=msg):
        compare(**args)
    assert not inputs["out"].exists(), "bad input must write nothing"


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_cli(inputs, kind, capsys):
    from yolo_attn.cli import main

    _, argv, msg = _bad(kind, inputs["root"])
    base = ["compare", "--models", str(inputs["model"]), "--data", str(inputs["data"]), "--out", str(inputs["out"])]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert re.search(msg, err) and "Traceback" not in err, err
    assert not inputs["out"].exists()


@pytest.mark.parametrize(
    "item",
    ["lr0", "=0.01", "lr0=", "1x=2", "lr 0=1", "a=1 a=2"],
    ids=["no-eq", "no-key", "no-value", "bad-key", "space", "twice"],
)
def test_bad_train_arg_syntax(inputs, item, capsys):
    from yolo_attn.cli import main

    base = ["compare", "--models", str(inputs["model"]), "--data", str(inputs["data"]), "--out", str(inputs["out"])]
    assert main(base + ["--train-arg", item]) == 2
    err = capsys.readouterr().err
    assert ("is not KEY=VALUE" in err or "given twice" in err) and "Traceback" not in err, err
    assert not inputs["out"].exists()
    with pytest.raises(ValueError):
        parse_train_args([item])


@pytest.mark.parametrize(
    "where,text,msg",
    [
        ("run", "[1, 2]", r"a JSON list, expected an object"),
        ("run", '"ok"', r"a JSON str, expected an object"),
        ("run", "{not json", r"invalid JSON"),
        ("run", '{"format_version": 1, "status": "ok"}', r"format version 1, written by an older yolo_attn"),
        ("run", '{"status": "ok"}', r"format version None"),
        ("run", '{"format_version": 99}', r"written by a newer yolo_attn"),
        ("sweep", "null", r"a JSON NoneType, expected an object"),
        ("sweep", "[]", r"a JSON list, expected an object"),
    ],
)
def test_malformed_records_refused(inputs, where, text, msg, capsys):
    from yolo_attn.cli import main

    out = inputs["out"]
    path = out / "runs" / "tiny-none" / "seed0" / "run.json" if where == "run" else out / "sweep.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    before = _snapshot(out)
    with pytest.raises(ValueError, match=msg):
        compare([str(inputs["model"])], inputs["data"], out=out, log=None)
    argv = ["compare", "--models", str(inputs["model"]), "--data", str(inputs["data"]), "--out", str(out)]
    assert main(argv) == 2
    assert main(["compare", "--report-only", "--out", str(out)]) == 2 or where == "run"
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err, err
    assert _snapshot(out) == before, "a malformed record was modified"


def test_slurm_missing_is_bad_input(inputs, monkeypatch, capsys, tmp_path):
    from yolo_attn.cli import main

    argv = ["compare", "--models", str(inputs["model"]), "--data", str(inputs["data"]), "--out", str(inputs["out"])]
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no sbatch, squeue, sinfo
    assert main(argv + ["--executor", "slurm", "--slurm-partition", "gpu"]) == 2
    assert "Slurm's client commands, not found on PATH: sbatch, squeue, sinfo, scancel" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "submitit", None)  # submitit not installed
    with pytest.raises(ValueError, match=r"needs submitit: pip install 'yolo-attn\[slurm\]'"):
        compare([str(inputs["model"])], inputs["data"], out=inputs["out"], executor="slurm", log=None)
    assert main(argv + ["--slurm-partition", "gpu"]) == 2  # slurm options without --executor slurm
    assert "add --executor slurm" in capsys.readouterr().err
    assert not inputs["out"].exists()


def test_report_only_needs_a_sweep(tmp_path, capsys):
    from yolo_attn.cli import main

    assert main(["compare", "--report-only", "--out", str(tmp_path / "none")]) == 2
    assert "no compare sweep in" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


# ----------------------------------------------------------------------------------------------------- out of disk


def _enospc_on(monkeypatch, name: str) -> list[str]:
    """Make writing a file called ``name`` fail with ENOSPC (the real error a full disk gives), from the lowest
    write of the compare folder's files."""
    import errno

    from yolo_attn import _io

    real = _io.write_bytes
    hits: list[str] = []

    def write_bytes(path, data):
        if Path(path).name == name:
            hits.append(str(path))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(_io, "write_bytes", write_bytes)
    return hits


@pytest.mark.slow
def test_out_of_disk_while_reporting_is_exit_1(sweep, monkeypatch, capsys):
    from yolo_attn.cli import main

    out = sweep["out"]
    before = (out / "results.csv").read_bytes()
    hits = _enospc_on(monkeypatch, "results.csv")
    args = ["--epochs", "1", "--imgsz", "64", "--batch", "8", "--device", "cpu", "--no-val", "--keep-failed"]
    with pytest.raises(OSError) as e:
        compare(
            sweep["files"],
            sweep["data"],
            epochs=1,
            imgsz=64,
            batch=8,
            device="cpu",
            out=out,
            val=False,
            retry_failed=False,
            log=None,
        )
    assert e.value.errno == 28 and not isinstance(e.value, ValueError)
    argv = ["compare", "--models", *sweep["files"], "--data", str(sweep["data"]), "--out", str(out), *args]
    assert main(argv) == 1  # not 2: the arguments were fine, the disk was not
    err = capsys.readouterr().err
    assert "error (OSError): [Errno 28] No space left on device" in err and "Traceback" not in err
    assert len(hits) == 2 and (out / "results.csv").read_bytes() == before  # the old report is intact
    assert not list(out.glob(".results.csv.tmp-*"))


def test_out_of_disk_before_a_run_is_exit_1_and_resumable(inputs, monkeypatch, capsys, tmp_path):
    from yolo_attn.cli import main

    root = inputs["root"]
    data = root / "voc.yaml"  # a real split is not needed: the sweep stops before the worker starts
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: a\n")
    hits = _enospc_on(monkeypatch, "spec.json")
    out = inputs["out"]
    with pytest.raises(OSError, match="No space left on device"):
        compare([str(inputs["model"])], data, out=out, log=None)
    assert main(["compare", "--models", str(inputs["model"]), "--data", str(data), "--out", str(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert len(hits) == 2
    assert (out / "sweep.json").is_file() and not list(out.rglob("run.json"))  # the run stays to do


def test_records_of_format_2_still_read_and_values_are_checked(tmp_path):
    """run.json of format version 2 (absolute paths) reads with its paths made relative; out-of-range values and a
    wrong type are refused naming the file, the field and the value."""
    import json

    from yolo_attn.compare.records import RecordError, RunRecord

    run_dir = tmp_path / "runs" / "m" / "seed0"
    run_dir.mkdir(parents=True)
    fp = {"data": "/d.yaml", "split": "test", "epochs": 1, "imgsz": 64, "batch": 8, "weights": "last"}
    old = {"format_version": 2, "status": "ok", "label": "m", "model": "/m.yaml", "seed": 0, "fingerprint": fp,
           "run_dir": "/elsewhere/out/runs/m/seed0", "weights": "/elsewhere/out/runs/m/seed0/train/weights/last.pt",
           "metrics": {"voc07_map50": 0.5}}  # fmt: skip
    (run_dir / "run.json").write_text(json.dumps(old))
    rec = RunRecord.read(run_dir)
    assert rec.run_dir == "runs/m/seed0" and rec.weights == "train/weights/last.pt"
    assert rec.weights_path(run_dir) == run_dir / "train" / "weights" / "last.pt"
    for field, value, msg in (
        (
            "metrics",
            {"voc07_map50": 1.5},
            r"field 'metrics.voc07_map50' = 1.5: Input should be less than or equal to 1",
        ),
        ("duration_s", -3.0, r"field 'duration_s' = -3.0: Input should be greater than or equal to 0"),
        ("status", "maybe", r"field 'status' = 'maybe'"),
        ("seed", "zero", r"field 'seed' = 'zero'"),
    ):
        (run_dir / "run.json").write_text(json.dumps({**old, "format_version": 3, field: value}))
        with pytest.raises(RecordError, match=msg) as e:
            RunRecord.read(run_dir)
        assert str(run_dir / "run.json") in str(e.value)


@pytest.mark.slow
def test_resumed_training_ends_with_the_uninterrupted_weights(tiny_data, tmp_path):
    """A training stopped after its second epoch and resumed with the worker's saved training state
    (``worker._TrainState``: float32 weights, random states, data order) ends with the uninterrupted training's
    weights, bit for bit (CPU, deterministic, workers=0, one optimizer step per batch); resumed from Ultralytics'
    checkpoint alone it does not (so the comparison can fail)."""
    from ultralytics import YOLO

    from yolo_attn.compare.worker import _TrainState, weights_sha256
    from yolo_attn.integration import register

    register()
    (tmp_path / "m.yaml").write_text(TINY_ATT)
    args = dict(data=str(tiny_data), epochs=3, imgsz=64, batch=2, nbs=2, workers=0, seed=0, deterministic=True,
                val=False, plots=False, device="cpu", pretrained=False, exist_ok=True, amp=False)  # fmt: skip

    def train(name: str, stop_at: int | None = None, keep_state: bool = True) -> str:
        weights = tmp_path / name / "train" / "weights"
        model = YOLO(str(tmp_path / "m.yaml"), task="detect")
        if keep_state:
            _TrainState(weights).attach(model)

        def stop(trainer):
            if trainer.epoch == stop_at:
                raise KeyboardInterrupt  # as Ctrl-C between two epochs

        model.add_callback("on_train_epoch_start", stop)
        try:
            model.train(**args, project=str(tmp_path / name), name="train")
        except KeyboardInterrupt:
            model = YOLO(str(weights / "last.pt"))
            if keep_state:
                _TrainState(weights).attach(model)
            model.train(resume=str(weights / "last.pt"), data=str(tiny_data), device="cpu", workers=0, val=False)
        return weights_sha256(weights / "last.pt")

    whole = train("whole")
    assert train("resumed", stop_at=2) == whole
    assert train("plain", stop_at=2, keep_state=False) != whole


@pytest.mark.slow
def test_interrupted_run_resumes_exactly_in_a_moved_folder(tiny_data, tmp_path):
    """Ctrl-C after the first epoch's checkpoint, the compare folder moved, the same command on the new folder: the
    run resumes into the new folder (the old one is not recreated) with its saved training state (exact resume: not
    marked resumed)."""
    import json
    import signal

    from test_compare_parallel import _as_from_a_terminal

    (tmp_path / "tiny-att.yaml").write_text(TINY_ATT)
    old, new = tmp_path / "old", tmp_path / "new"

    def cmd(out):
        return [sys.executable, "-m", "yolo_attn.compare", "compare", "--models", str(tmp_path / "tiny-att.yaml"),
                "--data", str(tiny_data), "--epochs", "8", "--imgsz", "64", "--batch", "2", "--train-arg", "nbs=2",
                "--device", "cpu", "--out", str(out), "--latency-repeats", "3", "--no-val", "--no-plots"]  # fmt: skip

    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "MPLBACKEND": "Agg"}
    state = old / "runs" / "tiny-att" / "seed0" / "train" / "weights" / "state.pt"
    proc = subprocess.Popen(cmd(old), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_as_from_a_terminal)  # fmt: skip
    deadline = time.time() + 300
    while not state.is_file():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first epoch checkpoint"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert not (old / "runs" / "tiny-att" / "seed0" / "run.json").exists()
    old.rename(new)
    r = subprocess.run(cmd(new), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert not old.exists(), "the resumed training wrote into the folder's old place"
    log = (new / "runs" / "tiny-att" / "seed0" / "log.txt").read_text()
    assert "resuming the interrupted training" in log and "random state after epoch" in log
    assert "not exactly" not in log
    rec = json.loads((new / "runs" / "tiny-att" / "seed0" / "run.json").read_text())
    assert rec["status"] == "ok" and rec["train"]["resumed"] and rec["train"]["resumed_state"]
    rows = _rows(new)
    assert rows[0]["resumed"] == "0" and "## Resumed runs" not in (new / "summary.md").read_text()
