"""A real single-node Slurm (Debian's slurmctld, slurmd, munge; see slurm_cluster.py) under ``compare --executor
slurm`` end to end: a 2-model 1-epoch sweep (one array task per run and a dependent speed job), one task cancelled
with scancel mid-run, the resubmission of that run alone with --no-wait, the attaching call, --report-only; our
requeue hook; the bad input (a partition that does not exist, GPUs on a CPU-only partition). No mock of Slurm or
submitit; Slurm's and submitit's own behaviour (arrays, scancel, requeue) is not tested here."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (the session-scoped fixture)


def _wait_until(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


# ------------------------------------------------------------------------------ compare --executor slurm


def _tiny_inputs(root: Path) -> tuple[Path, list[str]]:
    from test_compare import TINY_ATT, TINY_NONE

    from yolo_attn.data.sample import make_sample_dataset
    from yolo_attn.data.voc import prepare_voc

    devkit = make_sample_dataset(root / "data", images=16, seed=0, imgsz=64)
    data = prepare_voc(devkit, root / "data" / "voc", log=None).yaml
    files = []
    for name, text in (("tiny-none", TINY_NONE), ("tiny-att", TINY_ATT)):
        (root / f"{name}.yaml").write_text(text)
        files.append(str(root / f"{name}.yaml"))
    return data, files


def _compare_cmd(files, data, out, *extra) -> list[str]:
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
        "--executor",
        "slurm",
        *extra,
    ]


SLURM_CPU = ["--slurm-gpus-per-run", "0", "--slurm-cpus-per-run", "1", "--slurm-time", "10"]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_compare_slurm_bad_partition_and_gpus(slurm_cluster, tmp_path):  # noqa: F811
    data, files = _tiny_inputs(tmp_path)
    out = tmp_path / "out"
    r = subprocess.run(
        _compare_cmd(files, data, out, "--slurm-partition", "nosuch", *SLURM_CPU),
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "--slurm-partition 'nosuch' does not exist; partitions: debug" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        _compare_cmd(files, data, out, "--slurm-gpus-per-run", "1"),
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "partition 'debug' has no GPUs" in r.stderr
    assert not out.exists(), "bad input must write nothing"
    assert slurm_cluster.jobs() == []


def _starts(run_dir: Path) -> list[str]:
    """The worker start lines of a run's log (one per attempt)."""
    log = run_dir / "log.txt"
    return [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("[compare] worker ")]


def test_run_task_requeues_the_same_run(tmp_path):
    """On USR2 submitit calls checkpoint(): ours must resubmit the very run the task owned (it then resumes)."""
    from yolo_attn.compare.slurm import RunTask

    again = RunTask(str(tmp_path), 0).checkpoint("tiny-att/seed1")
    assert isinstance(again.function, RunTask) and again.function.out == str(tmp_path)
    assert again.args == ("tiny-att/seed1",) and again.kwargs == {}


@pytest.mark.slow
def test_compare_slurm_end_to_end_with_scancel_and_resume(slurm_cluster, tmp_path):  # noqa: F811
    data, files = _tiny_inputs(tmp_path)
    out = tmp_path / "out"
    env = slurm_cluster.env
    run = {m: out / "runs" / m / "seed0" for m in ("tiny-none", "tiny-att")}

    def training(key, proc, log):
        """The Slurm task of run ``key`` once its worker trains, else None."""
        spec = run[key] / "spec.json"
        if spec.is_file() and (run[key] / "log.txt").is_file() and _starts(run[key]):
            return json.loads(spec.read_text())["slurm_job"]
        assert proc.poll() is None, log.read_text()[-3000:]
        return None

    # 1. one array task per run and a speed job after the array; the task training tiny-att is cancelled mid-run:
    #    the array ends with that run unfinished (exit 1), the other run is reported, the speed job timed it
    cmd = _compare_cmd(files, data, out, *SLURM_CPU)
    log1 = tmp_path / "first.log"
    t0 = time.time()
    with open(log1, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        cancelled = _wait_until(lambda: training("tiny-att", proc, log1), 300, "tiny-att to train")
        print(f"compare --executor slurm: the run's worker started {time.time() - t0:.1f} s after the command")
        slurm_cluster.run("scancel", cancelled)
        code = proc.wait(timeout=600)
    first = log1.read_text()
    assert code == 1, first[-3000:]
    assert "2 array task(s), one per run" in first and "the speed step and the reports, after job(s)" in first
    assert "ended with 1 run(s) not finished (tiny-att seed 0)" in first and "run the same command again" in first
    assert "speed: timing" not in first, "the submitting process measured latency"
    jobs = json.loads((out / "slurm" / "jobs.json").read_text())
    assert [j["kind"] for j in jobs] == ["runs", "speed"] and jobs[0]["runs"] == ["tiny-none/seed0", "tiny-att/seed0"]
    speed_logs = list((out / "slurm" / jobs[1]["job_id"]).glob("*_log.out"))
    assert speed_logs and "speed: timing 1 model(s)" in speed_logs[0].read_text()
    assert json.loads((out / "speed.json").read_text())["runs"][0]["label"] == "tiny-none"
    assert json.loads((run["tiny-none"] / "run.json").read_text())["status"] == "ok"
    assert not (run["tiny-att"] / "run.json").exists()
    assert "## Not run yet (1)" in (out / "summary.md").read_text()
    finished = _snapshot(run["tiny-none"])

    # 2. the same command with --no-wait: submits a task for the unfinished run only, prints the job ids
    r = subprocess.run([*cmd, "--no-wait"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 array task(s), one per run" in r.stdout and "not waiting (--no-wait)" in r.stdout
    job2 = r.stdout.split("submitted Slurm job ")[1].split(":")[0]
    assert job2 != cancelled.split("_")[0]

    # 3. the same command again: attaches to that task (or finds it done), resubmits nothing, gathers
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"Slurm task {job2}_0 is still queued or running" in r.stdout or "array task(s)" not in r.stdout
    assert "array task(s)" not in r.stdout, "a run with a live task was submitted again"
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(x["model"], x["status"]) for x in rows] == [("tiny-none", "ok"), ("tiny-att", "ok")]
    att = json.loads((run["tiny-att"] / "run.json").read_text())
    assert att["slurm_job"] == f"{job2}_0"
    assert len(_starts(run["tiny-att"])) == 2  # the cancelled attempt, then the resumed one
    assert _snapshot(run["tiny-none"]) == finished, "a finished run changed"
    assert {r["label"] for r in json.loads((out / "speed.json").read_text())["runs"]} == {"tiny-none", "tiny-att"}
    assert "In progress" not in (out / "summary.md").read_text()

    # 4. --report-only: trains nothing, rewrites the reports
    before = _snapshot(out / "runs")
    r = subprocess.run(
        [sys.executable, "-m", "yolo_attn.compare", "compare", "--report-only", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "2 ok, 0 failed, 0 stale, 0 not finished" in r.stdout, r.stdout + r.stderr
    assert _snapshot(out / "runs") == before
    _wait_until(lambda: not slurm_cluster.jobs(), 60, "the jobs to leave the queue")
