"""``compare --executor slurm``: one Slurm array task per run, submitted through ``submitit``.

Install: ``pip install yolo-attn[slurm]`` (submitit). The ``compare`` process (on a login node) submits one job
array with one task per unfinished run (`RunTask`: the task owns that run's folder and trains it in a worker
process on the GPUs Slurm gave it), then one job that depends on the array (``afterany``) and times every trained
model interleaved on a compute node and writes the reports (`SpeedTask`); it never measures anything itself. The
job ids are kept in ``slurm/jobs.json``.

- "Is it alive" is Slurm's job state (``squeue``; ``sacct`` is not needed). The same ``compare`` command again
  attaches to the array tasks still queued or running and submits a new array only for the runs that have neither
  a finished record nor a live task. ``wait=False`` (``--no-wait``) returns after submitting, printing the job ids.
- Requeue-safe: on the time-limit or pre-emption signal (USR2, 90 s before) submitit calls `RunTask.checkpoint`,
  which resubmits the same run; the requeued task resumes it from its last epoch checkpoint. A cancelled
  (``scancel``), failed or killed task leaves its run resumable too (no record is written for a stopped worker).
- Logs: each run's ``log.txt`` in its run folder; each task's own log in ``slurm/<job>_<task>/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

from yolo_attn._io import write_json
from yolo_attn.compare.config import SlurmOptions
from yolo_attn.compare.executors import Slot, finish_run, progress_of, start_run, todo
from yolo_attn.compare.plan import planned_runs
from yolo_attn.compare.records import RunRecord, SpeedRecord, SweepSettings, fmt_duration, read_json

__all__ = ["RunTask", "SlurmOptions", "SpeedTask", "run_on_slurm", "squeue_alive"]

# squeue still lists a task for a while after its program ended (COMPLETING) or when it just ended: such a task
# can claim no more runs, so a sweep must not attach to it (it would wait for nothing, then find runs unfinished).
_ENDING_STATES = frozenset(
    {"COMPLETING", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
     "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED", "STOPPED"}
)  # fmt: skip


def squeue_alive(job: str) -> list[str] | None:
    """``<job>_<task> <state>`` of the job's entries still queued or running (arrays expanded); [] when none; None when
    squeue cannot answer (controller unreachable: the caller treats the job as alive)."""
    r = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return [] if "Invalid job id" in (r.stderr + r.stdout) else None
    entries = [line.split() for line in r.stdout.splitlines() if line.strip()]
    return [" ".join(e) for e in entries if len(e) < 2 or e[1] not in _ENDING_STATES]


def _slot(gpus: int) -> Slot:
    device = ",".join(str(i) for i in range(gpus)) if gpus else "cpu"
    return Slot(name=f"{socket.gethostname()}:{device}", device=device, visible=None)  # Slurm sets the GPUs


class RunTask:
    """One array task: train one run of ``out`` (pickled by submitit, called on the compute node)."""

    def __init__(self, out: str, gpus_per_run: int):
        self.out, self.gpus_per_run = str(out), int(gpus_per_run)

    def __call__(self, key: str) -> str:
        out = Path(self.out)
        settings = SweepSettings.read(out)
        run = next(r for r in planned_runs(out, settings) if _key(r) == key)
        job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', os.environ.get('SLURM_JOB_ID', ''))}_" + os.environ.get(
            "SLURM_ARRAY_TASK_ID", "0"
        )
        slot = _slot(self.gpus_per_run)
        print(f"[compare] Slurm task {job} on {slot.name}: {run.name}", flush=True)
        t0 = time.time()
        proc = start_run(run, settings, slot, stream=True, progress={}, slurm_job=job, say=print)
        rec = finish_run(run, proc.wait() if proc is not None else 1, settings, slot, t0)
        status = rec.status if rec is not None else "stopped"
        print(f"[compare] Slurm task {job}: {run.name} {status}", flush=True)
        return status

    def checkpoint(self, key: str):
        """Requeue on time-out or pre-emption (submitit calls this on USR2): the same run, resumed."""
        import submitit

        return submitit.helpers.DelayedSubmission(RunTask(self.out, self.gpus_per_run), key)


class SpeedTask:
    """The dependent job: time every trained model interleaved (speed.json) and write the reports."""

    def __init__(self, out: str):
        self.out = str(out)

    def __call__(self) -> bool:
        from yolo_attn.compare.report import write_reports
        from yolo_attn.compare.speed import ensure_speed

        out = Path(self.out)
        settings = SweepSettings.read(out)
        rec = ensure_speed(out, settings, say=print)
        final = all(RunRecord.read(r.run_dir) is not None for r in planned_runs(out, settings))
        write_reports(out, settings, final=final, say=print)
        return rec is not None


def _key(run) -> str:
    return f"{run.spec.label}/seed{run.seed}"


def _jobs_file(out: Path) -> Path:
    return out / "slurm" / "jobs.json"


def _read_jobs(out: Path) -> list[dict]:
    jobs = read_json(_jobs_file(out))
    return [j for j in jobs if isinstance(j, dict) and j.get("job_id")] if isinstance(jobs, list) else []


def _add_job(out: Path, job_id: str, kind: str, runs: list[str]) -> None:
    entry = {"job_id": job_id, "kind": kind, "runs": runs, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(_jobs_file(out), [*_read_jobs(out), entry])


def _executor(out: Path, opts: SlurmOptions, n: int, name: str, **extra):
    import submitit

    executor = submitit.SlurmExecutor(folder=out / "slurm" / "%j", max_num_timeout=3)
    executor.update_parameters(**{**opts.executor_parameters(n, name), **extra})
    return executor


def _submit(fn, what: str):
    try:
        return fn()
    except Exception as e:  # sbatch refused the job (bad --slurm-arg, QOS, account, ...)
        raise ValueError(f"Slurm refused the {what}: {' '.join(str(e).split())}") from None


def _live(out: Path) -> tuple[dict[str, str], list[str]]:
    """({run key: live task id}, live job ids) of this sweep's jobs."""
    owners, jobs = {}, []
    for j in _read_jobs(out):
        alive = squeue_alive(j["job_id"])
        if alive == []:
            continue
        jobs.append(j["job_id"])
        tasks = {line.split()[0] for line in alive or []}
        exact = alive is not None and all(re.fullmatch(rf"{j['job_id']}_\d+", t) for t in tasks)
        for k, key in enumerate(j.get("runs") or []):
            task = f"{j['job_id']}_{k}"
            if task in tasks or not exact:  # squeue unreachable, or an entry not expanded (16, 16_[0-3]): all alive
                owners[key] = task
    return owners, jobs


def _speed_current(out: Path, settings: SweepSettings) -> bool:
    from yolo_attn.compare.records import RecordError
    from yolo_attn.compare.speed import _covers, speed_targets

    try:
        old = SpeedRecord.read(out)
    except RecordError:
        return False
    return _covers(old, speed_targets(out, settings), gpu_possible=False)


def _submit_runs(out: Path, settings: SweepSettings, opts: SlurmOptions, runs: list, say) -> str:
    keys = [_key(r) for r in runs]
    n = min(len(keys), opts.max_tasks or len(keys))
    ex = _executor(out, opts, n, f"compare-{out.name}")
    jobs = _submit(lambda: ex.map_array(RunTask(str(out), opts.gpus_per_run), keys), "job array")
    job_id = jobs[0].job_id.split("_")[0]
    _add_job(out, job_id, "runs", keys)
    gpus = f"{opts.gpus_per_run} GPU(s)" if opts.gpus_per_run else "no GPU"
    say(
        f"[compare] submitted Slurm job {job_id}: {len(keys)} array task(s), one per run, at most {n} at once, on "
        f"partition {opts.partition} ({gpus}, {opts.cpus} CPU(s), time {opts.time} each); task logs in "
        f"{out / 'slurm' / job_id}_<task>/"
    )
    return job_id


def _submit_speed(out: Path, opts: SlurmOptions, after: list[str], say) -> str:
    extra = {"dependency": "afterany:" + ":".join(after)} if after else {}
    ex = _executor(out, opts, 1, f"compare-speed-{out.name}", **extra)
    job = _submit(lambda: ex.submit(SpeedTask(str(out))), "speed job")
    _add_job(out, job.job_id, "speed", [])
    say(f"[compare] submitted Slurm job {job.job_id}: the speed step and the reports" + (
        f", after job(s) {', '.join(after)}" if after else ""))  # fmt: skip
    return job.job_id


def run_on_slurm(out: Path, settings: SweepSettings, opts: SlurmOptions, *, say, wait=True, rerun_changed=False,
                 progress_every: float = 30.0, poll_s: float = 3.0) -> bool:  # fmt: skip
    """Submit (or attach to) the sweep's jobs and, with ``wait``, follow them; True when every run is finished."""
    t_start = time.time()
    runs = planned_runs(out, settings)
    owners, live = _live(out)
    for key, task in owners.items():
        say(f"[compare] {key}: Slurm task {task} is still queued or running; following it")
    new = [r for r in todo(out, settings, rerun_changed) if _key(r) not in owners]
    arrays = [j for j in live if j.split("_")[0] in {t.split("_")[0] for t in owners.values()}]
    if new:
        arrays.append(_submit_runs(out, settings, opts, new, say))
    speed_live = [j["job_id"] for j in _read_jobs(out) if j.get("kind") == "speed" and j["job_id"] in live]
    if not arrays and not speed_live and not todo(out, settings) and _speed_current(out, settings):
        say(f"[compare] all {len(runs)} run(s) are finished")
        return True
    if not speed_live:
        speed_live = [_submit_speed(out, opts, arrays, say)]
    ids = [*dict.fromkeys(arrays + speed_live)]
    if not wait:
        say(
            f"[compare] not waiting (--no-wait). Follow the jobs with `squeue -j {','.join(ids)}`; write the reports so "
            f"far with `yolo-attn compare --report-only --out {out}`; the same command again attaches and resumes."
        )
        return False
    last = 0.0
    while True:
        states = [line for j in ids for line in (squeue_alive(j) or [])]
        if not states:
            break
        if time.time() - last > progress_every:
            last = time.time()
            left = [r for r in runs if RunRecord.read(r.run_dir) is None]
            running = [f"{r.name}: {progress_of(r.run_dir)}" for r in left if (r.run_dir / "spec.json").is_file()]
            queued = sum(1 for s in states if "PENDING" in s)
            say(f"[compare] {len(runs) - len(left)}/{len(runs)} recorded, {queued} task(s) queued"
                + (", running: " + "; ".join(running) if running else "")
                + f" | elapsed {fmt_duration(time.time() - t_start)}")  # fmt: skip
        time.sleep(poll_s)
    left = [r for r in runs if RunRecord.read(r.run_dir) is None]
    if left:
        say(
            f"[compare] the Slurm job(s) {', '.join(ids)} ended with {len(left)} run(s) not finished "
            f"({', '.join(r.name for r in left)}): a task was cancelled, failed, pre-empted or timed out. They are "
            f"resumable: run the same command again. Task logs: {out / 'slurm'}"
        )
    return not left
