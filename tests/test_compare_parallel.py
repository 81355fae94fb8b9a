"""compare on several slots and by several processes at once (CI: 2 cores, no GPU).

- ``--devices cpu,cpu``: interrupted with Ctrl-C while both workers train (every worker stopped, nothing recorded), then the same command again: the two runs overlap in time (their records' start/end) and
  give the sequential sweep's results exactly (metrics and the trained weights' hash; the sequential sweep is
  test_compare's tiny sweep, same data, models and settings);
- a second ``compare`` process on the same ``--out`` while the first trains: refused (exit 2), the first finishes.
- a model YAML edited after its run finished: refused (exit 2, how to rerun), reported as stale, rerun on request.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_compare import TINY_ATT, TINY_NONE, tiny_sweep

from yolo_attn.compare.records import FORMAT_VERSION, RunRecord

_CACHE: dict = {}


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _models(folder: Path) -> list[str]:
    """The tiny sweep's two models, as separate files (same names and contents, so the same labels and results)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in (("tiny-none", TINY_NONE), ("tiny-att", TINY_ATT)):
        (folder / f"{name}.yaml").write_text(text)
        files.append(str(folder / f"{name}.yaml"))
    return files


def _cmd(files, data, out, *extra) -> list[str]:
    return [
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
        "--out",
        str(out),
        "--latency-repeats",
        "5",
        "--no-val",
        *extra,
    ]


def _env() -> dict:
    return {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "MPLBACKEND": "Agg"}


def _as_from_a_terminal() -> None:
    """Start the command as a terminal does: SIGINT at its default action and not blocked. An ignored SIGINT is
    inherited across exec, and a non-interactive shell starts background jobs (``cmd &``) with SIGINT ignored: with
    the suite run that way (``nohup bash .ci/run &``) the Ctrl-C test's sweep ran to completion, deaf to the signal,
    as Unix wants for a background job, while the same test in the foreground passed."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _worker_pids(out: Path) -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and "_worker" in p.info["cmdline"] and any(str(out) in a for a in p.info["cmdline"])
    ]


def _wait_for(predicate, timeout: float, what: str, proc=None, log: Path | None = None):
    deadline = time.time() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended before {what}:\n{log.read_text()[-4000:] if log else ''}")
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _starts(run_dir: Path) -> int:
    """How many workers started training this run (one line per worker in its log)."""
    log = run_dir / "log.txt"
    return log.read_text(errors="replace").count("[compare] worker ") if log.is_file() else 0


def _all_records(out: Path) -> list[RunRecord]:
    recs = []
    for p in sorted(out.glob("runs/*/seed*/run.json")):
        json.loads(p.read_text())  # whole JSON, never torn
        recs.append(RunRecord.read(p.parent))
    return recs


# ------------------------------------------------------------------------------ --devices cpu,cpu


def parallel_sweep(tmp_path_factory) -> dict:
    if "parallel" in _CACHE:
        return _CACHE["parallel"]
    seq = tiny_sweep(tmp_path_factory)
    root = tmp_path_factory.mktemp("parallel")
    files = _models(root / "models")
    out = root / "out"
    cmd = _cmd(files, seq["data"], out, "--devices", "cpu,cpu")
    # 1. Ctrl-C (SIGINT to the process group, as a terminal sends it) while both workers run. Sent as soon as both
    # worker processes exist: a tiny run trains in a few seconds, so waiting for their first log line let a loaded
    # CI machine finish both runs before the signal (the sweep then rightly exited 0).
    log1 = root / "interrupted.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(
            cmd,
            env=_env(),
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_from_a_terminal,
        )
        dirs = [out / "runs" / n / "seed0" for n in ("tiny-none", "tiny-att")]
        _wait_for(lambda: len(_worker_pids(out)) == 2, 300, "both worker processes to start", proc, log1)
        os.killpg(proc.pid, signal.SIGINT)
        code1 = proc.wait(timeout=120)
    time.sleep(1.0)
    inherited = f"pytest's SIGINT handler {signal.getsignal(signal.SIGINT)!r}, blocked {signal.pthread_sigmask(signal.SIG_BLOCK, [])}"
    interrupted = {
        "inherited": inherited,
        "code": code1,
        "log": log1.read_text(),
        "workers_left": _worker_pids(out),
        "records": [d for d in dirs if (d / "run.json").exists()],
    }
    # 2. the same command again: both runs at once, to completion
    t0 = time.time()
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    _CACHE["parallel"] = {
        "seq": seq,
        "root": root,
        "files": files,
        "out": out,
        "cmd": cmd,
        "interrupted": interrupted,
        "resume": r,
        "wall_s": time.time() - t0,
    }
    return _CACHE["parallel"]


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    return parallel_sweep(tmp_path_factory)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_leaves_runs_resumable(parallel):
    i = parallel["interrupted"]
    assert i["code"] == 130, i["inherited"] + "\n" + i["log"][-3000:]
    assert i["workers_left"] == [], "a worker kept running after Ctrl-C"
    assert i["records"] == [], "an interrupted run must not look finished"
    assert "interrupted; finished runs are kept" in i["log"]


@pytest.mark.slow
def test_devices_cpu_cpu_overlap_and_same_results_as_sequential(parallel):
    r = parallel["resume"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "2 slots: cpu, cpu#2" in r.stdout
    assert "tiny-none seed 0 on cpu" in r.stdout and "tiny-att seed 0 on cpu#2" in r.stdout
    recs = {x.label: x for x in _all_records(parallel["out"])}
    a, b = recs["tiny-none"], recs["tiny-att"]
    assert a.ok and b.ok and {a.slot, b.slot} == {"cpu", "cpu#2"}
    # the two trainings overlapped in time
    assert a.started_at < b.finished_at and b.started_at < a.finished_at, (a.started, a.finished, b.started, b.finished)
    overlap = min(a.finished_at, b.finished_at) - max(a.started_at, b.started_at)
    print(f"overlap of the two runs: {overlap:.1f} s; parallel sweep wall time {parallel['wall_s']:.1f} s")
    # identical results to the sequential sweep: metrics and the trained weights
    seq = {x.label: x for x in _all_records(parallel["seq"]["out"])}
    for label in ("tiny-none", "tiny-att"):
        assert recs[label].weights_sha256 and recs[label].weights_sha256 == seq[label].weights_sha256, label
        assert recs[label].metrics == seq[label].metrics, label
        assert recs[label].params == seq[label].params


# ------------------------------------------------------------------------------ two processes, one --out


@pytest.mark.slow
def test_second_process_on_the_same_out_is_refused(tmp_path_factory):
    """One compare process per --out: a second one started while the first trains exits 2 at once, naming the lock,
    and writes nothing; the first one finishes every run."""
    seq = tiny_sweep(tmp_path_factory)
    root = tmp_path_factory.mktemp("two")
    files = _models(root / "models")
    out = root / "out"
    cmd = _cmd(files, seq["data"], out)
    log = root / "a.log"
    with open(log, "w") as f:
        first = subprocess.Popen(cmd, env=_env(), stdout=f, stderr=subprocess.STDOUT)
        _wait_for(lambda: len(_worker_pids(out)) == 1, 300, "the first process to train", first, log)
        before = sorted(str(p) for p in out.rglob("*"))
        second = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
        code = first.wait(timeout=900)
    assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
    assert "another compare process is working on" in second.stderr and ".compare.lock" in second.stderr
    assert "Traceback" not in second.stderr
    assert set(before) <= {str(p) for p in out.rglob("*")}
    assert code == 0, log.read_text()[-3000:]
    recs = _all_records(out)
    assert len(recs) == 2 and all(r.ok and r.format_version == FORMAT_VERSION for r in recs)
    for d in sorted(out.glob("runs/*/seed*")):
        assert _starts(d) == 1, f"{d} was trained {_starts(d)} times"


# ------------------------------------------------------------------------------ edited model YAML


@pytest.mark.slow
def test_edited_yaml_refused_reported_stale_and_rerun_on_request(parallel):
    out, files, cmd = parallel["out"], parallel["files"], parallel["cmd"]
    att = Path(files[1])
    before = (out / "runs" / "tiny-att" / "seed0" / "run.json").read_bytes()
    att.write_text(att.read_text() + "# edited after the run\n")  # another file (hash), same network
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "tiny-att seed 0" in r.stderr and "edited since" in r.stderr and "--rerun-changed" in r.stderr
    assert "Traceback" not in r.stderr
    assert (out / "runs" / "tiny-att" / "seed0" / "run.json").read_bytes() == before  # nothing touched
    # the report shows it as stale, not under the new file
    rep = subprocess.run(
        [sys.executable, "-m", "yolo_attn.compare", "compare", "--report-only", "--out", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rep.returncode == 0, rep.stderr
    rows = {x["model"]: x for x in _rows(out)}
    assert rows["tiny-att"]["status"] == "stale" and rows["tiny-att"]["voc07_map50"] == ""
    assert "--rerun-changed" in rows["tiny-att"]["error"] and rows["tiny-none"]["status"] == "ok"
    summary = (out / "summary.md").read_text()
    assert "## Stale runs (1)" in summary and "`tiny-att` (baseline)" not in summary
    assert "| 1 | `tiny-none` (baseline)" in summary  # only the current model is ranked
    # --rerun-changed trains it again with the edited file and keeps the old run aside
    r2 = subprocess.run([*cmd, "--rerun-changed"], env=_env(), capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-3000:]
    aside = list((out / "runs" / "tiny-att").glob("seed0.stale-*"))
    assert len(aside) == 1 and (aside[0] / "run.json").read_bytes() == before
    assert "run 2/2: tiny-att seed 0" in r2.stdout and "run 1/2" not in r2.stdout
    assert [x["status"] for x in _rows(out)] == ["ok", "ok"]


# ------------------------------------------------------------------------------ units: slots


def test_parse_devices_slots(monkeypatch):
    from yolo_attn.compare import executors

    s = executors.parse_devices("cpu,cpu")
    assert [(x.name, x.device, x.visible) for x in s] == [("cpu", "cpu", ""), ("cpu#2", "cpu", "")]
    assert [x.name for x in executors.parse_devices(None, "cpu")] == ["cpu"]
    with pytest.raises(ValueError, match="not both"):
        executors.parse_devices("cpu", "cpu")
    with pytest.raises(ValueError, match="an empty entry"):
        executors.parse_devices("cpu,,cpu")
    # GPU slots, with the GPU count of a 4-GPU machine (this machine may have none) and a parent that sees 4 of 8
    from yolo_attn.compare import config

    monkeypatch.setattr(config, "_gpu_count", lambda: 4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    s = executors.parse_devices("0,cuda:3,0")
    assert [(x.name, x.device, x.visible) for x in s] == [
        ("cuda:0", "0", "4"),
        ("cuda:3", "0", "7"),
        ("cuda:0#2", "0", "4"),
    ]
    with pytest.raises(ValueError, match="has 4 CUDA GPU"):
        executors.parse_devices("4")
