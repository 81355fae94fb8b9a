"""``compare --executor slurm``: the sweep's runs as a Slurm job array, submitted through ``submitit``.

Install: ``pip install yolo-attn[slurm]`` (submitit). Each array task is a worker slot (`SlurmTask`): it claims runs
one after another (``claims.py``), trains each in a worker process on the GPUs Slurm gave it, and ends when nothing
is left to claim. The ``compare`` process submits the array (one task per unfinished run, ``max_tasks`` at most),
then waits, printing progress, until every run is finished or no task of the job is left in the queue.

- ``wait=False`` (``--no-wait``) returns after submitting; the job id is printed and kept in ``slurm/jobs.json``.
  ``compare --report-only`` writes the reports from what is finished at any time; the same ``compare`` command
  again attaches to a job still queued or running, or submits a new array for the runs left unfinished.
- A failed, cancelled (``scancel``), pre-empted or timed-out task leaves its run resumable: its worker is stopped
  (SIGTERM), the claim released (or taken over: the claim names the task, and a task no longer in the queue holds
  nothing), and the next task or the next call resumes the run from its last epoch checkpoint. On the time-limit
  or pre-emption signal (USR2, 90 s before) submitit requeues the task (``SlurmTask.checkpoint``); the requeued
  task claims runs like any other, so a requeue never trains a run twice.
- Logs: each run's ``log.txt`` in its run folder; each task's own log in ``slurm/<job>/``.

Liveness comes from ``squeue`` (works on every cluster); ``sacct`` is not needed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from yolo_attn.compare.claims import Claims
from yolo_attn.compare.executors import Slot, progress_of, run_slots, schedule_eta
from yolo_attn.compare.plan import planned_runs
from yolo_attn.compare.records import RunRecord, SweepSettings, fmt_duration, read_json, write_json

__all__ = ["SlurmOptions", "SlurmTask", "run_on_slurm", "squeue_alive"]

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def _minutes(text: str) -> int:
    """Slurm time formats -> minutes: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    m = _TIME.match(str(text).strip())
    if not m:
        raise ValueError(f"--slurm-time {text!r}: not a Slurm time; use e.g. 24:00:00, 2-00:00:00 or 90 (minutes)")
    days, a, b, c = m.groups()
    a, b, c = int(a), int(b or 0), int(c or 0)
    if days is not None:  # D-HH[:MM[:SS]]
        minutes = int(days) * 1440 + a * 60 + b + (c > 0)
    elif m.group(4) is not None:  # HH:MM:SS
        minutes = a * 60 + b + (c > 0)
    elif m.group(3) is not None:  # MM:SS
        minutes = a + (b > 0)
    else:  # MM
        minutes = a
    if minutes < 1:
        raise ValueError(f"--slurm-time {text!r}: at least one minute")
    return minutes


@dataclass
class SlurmOptions:
    """Options of the Slurm executor.

    Attributes:
        partition: Slurm partition (default: the cluster's default partition).
        gpus_per_run: GPUs per array task, i.e. per run (0: CPU runs). More than one trains one run with DDP.
        cpus_per_run: CPUs per task (default 8 with GPUs, else 2); set ``--workers`` to use them for loading.
        time: Time limit per task (Slurm format, default ``24:00:00``); a task past it is requeued.
        args: Further sbatch options, ``{"account": "proj", "qos": "high", "mem": "64G", "constraint": "a100"}``.
        max_tasks: Array size at most (default: one task per unfinished run).
    """

    partition: str | None = None
    gpus_per_run: int = 1
    cpus_per_run: int | None = None
    time: str = "24:00:00"
    args: dict = field(default_factory=dict)
    max_tasks: int | None = None

    @classmethod
    def from_dict(cls, d: dict) -> SlurmOptions:
        if isinstance(d, SlurmOptions):
            return d
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown slurm option(s) {', '.join(unknown)}; valid: {', '.join(cls.__dataclass_fields__)}"
            )
        opts = cls(**{k: v for k, v in d.items() if v is not None})
        for name in ("gpus_per_run", "cpus_per_run", "max_tasks"):
            v = getattr(opts, name)
            lo = 0 if name == "gpus_per_run" else 1
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
                raise ValueError(f"--slurm-{name.replace('_', '-')} must be an integer >= {lo}, got {v!r}")
        _minutes(opts.time)
        return opts

    @property
    def cpus(self) -> int:
        return self.cpus_per_run or (8 if self.gpus_per_run else 2)

    def check(self) -> None:
        """Check that Slurm and submitit are there and the partition exists (and has GPUs when asked for).

        Raises:
            ValueError: Naming what is missing or wrong (exit status 2; nothing is written).
        """
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ValueError(
                "--executor slurm needs submitit: pip install 'yolo-attn[slurm]' (or pip install submitit)"
            ) from None
        missing = [t for t in ("sbatch", "squeue", "sinfo", "scancel") if shutil.which(t) is None]
        if missing:
            raise ValueError(
                f"--executor slurm needs Slurm's client commands, not found on PATH: {', '.join(missing)} "
                "(run compare on a login node of the cluster)"
            )
        r = subprocess.run(["sinfo", "-h", "-o", "%P|%G"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            msg = " ".join((r.stderr or r.stdout).split())
            raise ValueError(f"--executor slurm: sinfo failed (is the Slurm controller reachable?): {msg}")
        parts: dict[str, set[str]] = {}
        default = None
        for line in r.stdout.splitlines():
            name, _, gres = line.partition("|")
            if not name.strip():
                continue
            if name.endswith("*"):
                name = name[:-1]
                default = name
            parts.setdefault(name, set()).add(gres.strip())
        if self.partition is None:
            if default is None:
                raise ValueError(
                    f"--slurm-partition not given and the cluster has no default; partitions: {', '.join(parts)}"
                )
            self.partition = default
        if self.partition not in parts:
            raise ValueError(
                f"--slurm-partition {self.partition!r} does not exist; partitions: {', '.join(sorted(parts)) or 'none'}"
            )
        if self.gpus_per_run and not any("gpu" in g for g in parts[self.partition]):
            raise ValueError(
                f"--slurm-gpus-per-run {self.gpus_per_run}: partition {self.partition!r} has no GPUs (no gpu gres: "
                f"{', '.join(sorted(parts[self.partition]))}); use --slurm-gpus-per-run 0 for CPU runs, or a GPU partition"
            )

    def executor_parameters(self, n_tasks: int, name: str) -> dict:
        """submitit ``SlurmExecutor.update_parameters`` keywords for an array of ``n_tasks``."""
        import submitit

        valid = submitit.SlurmExecutor._valid_parameters()
        params = {
            "partition": self.partition,
            "time": _minutes(self.time),
            "nodes": 1,
            "ntasks_per_node": 1,
            "cpus_per_task": self.cpus,
            "job_name": name,
            "array_parallelism": n_tasks,
            "stderr_to_stdout": True,
        }
        if self.gpus_per_run:
            params["gpus_per_node"] = self.gpus_per_run
        additional = {}
        for k, v in self.args.items():
            key = k.replace("-", "_")
            if key in valid and key not in ("additional_parameters", "setup"):
                params[key] = v
            else:
                additional[k.replace("_", "-")] = v
        if additional:
            params["additional_parameters"] = additional
        return params


# squeue still lists a task for a while after its program ended (COMPLETING) or when it just ended: such a task
# can claim no more runs, so a sweep must not attach to it (it would wait for nothing, then find runs unfinished).
_ENDING_STATES = frozenset(
    {"COMPLETING", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
     "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED", "STOPPED"}
)  # fmt: skip


def squeue_alive(job: str) -> list[str] | None:
    """``<task> <state>`` of the job's (or array task's) entries still queued or running; [] when none (ending states
    such as COMPLETING do not count); None when squeue cannot answer (controller unreachable: treat the job as alive)."""
    r = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %T"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return [] if "Invalid job id" in (r.stderr + r.stdout) else None
    entries = [line.split() for line in r.stdout.splitlines() if line.strip()]
    return [" ".join(e) for e in entries if len(e) < 2 or e[1] not in _ENDING_STATES]


class SlurmTask:
    """One array task: a worker slot that claims and trains runs of ``out`` until none is left.

    Pickled by submitit and called on the compute node. ``checkpoint`` makes it requeue on time-out or pre-emption.
    """

    def __init__(self, out: str, gpus_per_run: int, rerun_changed: bool = False):
        self.out = str(out)
        self.gpus_per_run = int(gpus_per_run)
        self.rerun_changed = bool(rerun_changed)

    def __call__(self, index: int = 0) -> dict:
        out = Path(self.out)
        settings = SweepSettings.read(out)
        if settings is None:
            raise FileNotFoundError(f"no sweep.json in {out}")
        job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", ""))
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        job_task = f"{job}_{task}" if task is not None else job
        device = ",".join(str(i) for i in range(self.gpus_per_run)) if self.gpus_per_run else "cpu"
        slot = Slot(name=f"{socket.gethostname()}:{device}", device=device, visible=None)

        def say(line: str) -> None:
            print(line, flush=True)

        say(f"[compare] Slurm task {job_task} on {socket.gethostname()}: claiming runs of {out}")
        counts = run_slots(
            out,
            settings,
            [slot],
            say=say,
            wait_for_others=False,
            stream_output=True,
            slurm_job=job_task,
            rerun_changed=self.rerun_changed,
        )
        if counts["pending"] == 0:  # whoever finishes last times all models (speed.json) and writes the reports
            from yolo_attn.compare.report import write_reports
            from yolo_attn.compare.speed import ensure_speed

            ensure_speed(out, SweepSettings.read(out) or settings, say=say)
            write_reports(out, SweepSettings.read(out) or settings, final=True)
        say(f"[compare] Slurm task {job_task} done: {counts}")
        return counts

    def checkpoint(self, *args, **kwargs):
        """Requeue on time-out or pre-emption (submitit calls this on USR2): the new task resumes the runs."""
        import submitit

        return submitit.helpers.DelayedSubmission(SlurmTask(self.out, self.gpus_per_run, self.rerun_changed), *args)


def _jobs_file(out: Path) -> Path:
    return out / "slurm" / "jobs.json"


def _read_jobs(out: Path) -> list[dict]:
    jobs = read_json(_jobs_file(out))
    return [j for j in jobs if isinstance(j, dict) and j.get("job_id")] if isinstance(jobs, list) else []


def _unfinished(out: Path, settings: SweepSettings, initial: dict) -> list:
    """Runs without a final record (as a new local call would see them)."""
    todo = []
    for r in planned_runs(out, settings):
        rec = RunRecord.read(r.run_dir)
        if rec is None:
            todo.append(r)
        elif not rec.ok and settings.retry_failed and rec.run_id == initial.get(str(r.run_dir)):
            todo.append(r)
    return todo


def _ok_duration(run_dir: Path) -> float | None:
    rec = RunRecord.read(run_dir)
    return rec.duration_s if rec is not None and rec.ok else None


def _free_dead_claims(out: Path, runs, say) -> None:
    """Release claims whose Slurm task is no longer in the queue (cancelled or killed before it could release)."""
    claims = Claims(out)
    for r in runs:
        c = claims.holder(r.spec.label, r.seed)
        if c is None or not c.slurm_job or c.stale():
            continue
        if squeue_alive(c.slurm_job) == []:
            with Claims._locked(Path(c.path)):
                cur = Claims.read(c.path)
                if cur is not None and cur.token == c.token:
                    Path(c.path).unlink()
                    say(f"[compare] {r.name}: its Slurm task {c.slurm_job} left the queue; the run is free again")


def _submit(out: Path, settings: SweepSettings, opts: SlurmOptions, n: int, rerun_changed: bool) -> str:
    import submitit

    folder = out / "slurm" / "%j"
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=3)
    executor.update_parameters(**opts.executor_parameters(n, f"compare-{out.name}"))
    task = SlurmTask(str(out), opts.gpus_per_run, rerun_changed)
    try:
        jobs = executor.map_array(task, list(range(n)))
    except Exception as e:  # sbatch refused the job (bad --slurm-arg, QOS, account, ...)
        msg = " ".join(str(e).split())
        raise ValueError(f"Slurm refused the job array: {msg}") from None
    job_id = jobs[0].job_id.split("_")[0]
    jobs_list = _read_jobs(out)
    jobs_list.append(
        {"job_id": job_id, "tasks": n, "partition": opts.partition, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    write_json(_jobs_file(out), jobs_list)
    return job_id


def run_on_slurm(
    out: Path,
    settings: SweepSettings,
    opts: SlurmOptions,
    *,
    say,
    wait: bool = True,
    rerun_changed: bool = False,
    t_start: float | None = None,
    report=None,
    progress_every: float = 30.0,
    poll_s: float = 3.0,
) -> bool:
    """Submit (or attach to) the sweep's job array and, with ``wait``, follow it; True when every run is finished."""
    t_start = t_start or time.time()
    runs = planned_runs(out, settings)
    initial = {}
    for r in runs:
        rec = RunRecord.read(r.run_dir)
        initial[str(r.run_dir)] = rec.run_id if rec is not None else None
    alive = [j["job_id"] for j in _read_jobs(out) if squeue_alive(j["job_id"]) != []]
    todo = _unfinished(out, settings, initial)
    if not todo:
        say(f"[compare] all {len(runs)} run(s) are finished")
        return True
    _free_dead_claims(out, todo, say)
    if alive:
        say(f"[compare] Slurm job(s) {', '.join(alive)} of this sweep are still queued or running: following them")
    else:
        n = min(len(todo), opts.max_tasks or len(todo))
        job = _submit(out, settings, opts, n, rerun_changed)
        alive = [job]
        gpus = f"{opts.gpus_per_run} GPU(s)" if opts.gpus_per_run else "no GPU"
        say(
            f"[compare] submitted Slurm job {job}: {n} array task(s) for {len(todo)} run(s) on partition "
            f"{opts.partition} ({gpus}, {opts.cpus} CPU(s), time {opts.time} each); task logs in {out / 'slurm' / job}_<task>/"
        )
    if not wait:
        say(
            f"[compare] not waiting (--no-wait). Follow it with `squeue -j {','.join(alive)}`; write the reports so far "
            f"with `yolo-attn compare --report-only --out {out}`; the same command again gathers and resumes."
        )
        return False
    last_done, last_status = -1, 0.0
    claims = Claims(out)
    while True:
        todo = _unfinished(out, settings, initial)
        done = len(runs) - len(todo)
        if done != last_done:
            last_done = done
            if report is not None and done:
                report(not todo)
        if not todo:
            return True
        states = {j: squeue_alive(j) for j in alive}
        if all(s == [] for s in states.values()):
            break
        if time.time() - last_status > progress_every:
            last_status = time.time()
            running, elapsed = [], []
            for r in todo:
                c = claims.holder(r.spec.label, r.seed)
                if c is not None and not c.stale():
                    running.append(f"{r.name} ({c.slurm_job or c.host}: {progress_of(r.run_dir)})")
                    elapsed.append(time.time() - c.claimed_at)
            lines = [line for s in states.values() if s for line in s]
            queued = sum(1 for line in lines if "PENDING" in line)
            durations = [d for d in (_ok_duration(r.run_dir) for r in runs) if d]
            mean_run = sum(durations) / len(durations) if durations else None
            eta = schedule_eta(mean_run, elapsed, max(len(todo) - len(running), 0), max(len(lines), 1))
            say(
                f"[compare] {done}/{len(runs)} done, {len(running)} running"
                + (": " + "; ".join(running) if running else "")
                + (f", {queued} task(s) queued" if queued else "")
                + f" | elapsed {fmt_duration(time.time() - t_start)}, ~{fmt_duration(eta)} left"
            )
        time.sleep(poll_s)
    todo = _unfinished(out, settings, initial)
    if not todo:
        return True
    if report is not None:
        report(False)
    say(
        f"[compare] the Slurm job(s) {', '.join(alive)} ended with {len(todo)} run(s) not finished "
        f"({', '.join(r.name for r in todo)}): a task was cancelled, failed, pre-empted or timed out. They are "
        f"resumable: run the same command again. Task logs: {out / 'slurm'}"
    )
    return False
