"""Running a sweep's runs on this machine: one worker process per run, fed to device slots by a thread pool.

`run_local` holds one ``compare`` process per ``--out`` (`folder_lock`, a non-blocking lock: a second process on
the same folder is refused with exit status 2) and hands the unfinished runs, in sweep order, to a
``concurrent.futures`` pool with one thread per slot (``--devices 0,1`` / ``cpu,cpu`` / ``0,0,1,1``). Each thread
starts the run's worker (``python -m yolo_attn.compare _worker spec.json``, `start_run`) pinned to its slot's device
(``CUDA_VISIBLE_DEVICES``) and waits for it; a worker that dies without a record gets a ``failed`` one
(`finish_run`). Ctrl-C reaches every worker (they share the terminal's process group; they are also sent SIGINT) and
SIGTERM is turned into the same: every worker stops, every run stays resumable. The Slurm executor (``slurm.py``)
uses `start_run` / `finish_run` for its one run per array task.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yolo_attn.compare.config import check_device
from yolo_attn.compare.plan import PlannedRun, file_sha256, planned_runs
from yolo_attn.compare.records import PROGRESS, RUN_SPEC, RunRecord, RunSpec, SweepSettings, fmt_duration, read_json

__all__ = ["Slot", "SweepInterrupted", "finish_run", "folder_lock", "parse_devices", "run_local", "start_run", "todo"]

_INTERRUPT_CODES = (-signal.SIGINT, 130, -signal.SIGTERM, 128 + signal.SIGTERM)  # stopped, not failed: resumable


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: workers stopped, every run resumable."""


@dataclass(frozen=True)
class Slot:
    """Where one run trains at a time.

    Attributes:
        name (str): Shown in progress lines and records, e.g. ``cuda:1``, ``cpu``, ``cpu#2`` (second slot on it).
        device (str | None): Ultralytics ``device`` inside the worker (``"0"`` for the one GPU it sees, ``"cpu"``;
            None: Ultralytics' choice).
        visible (str | None): ``CUDA_VISIBLE_DEVICES`` for the worker; None leaves the environment's.
    """

    name: str
    device: str | None
    visible: str | None = None


def parse_devices(devices: str | None, device: str | None = None) -> list[Slot]:
    """The slots of ``--devices`` (e.g. ``"0,1,2,3"``, ``"cpu,cpu"``, ``"0,0,1"``); one slot of ``device`` without.

    A device listed twice gives two slots on it (two trainings at once). GPU indices count the GPUs this process
    sees (after its own ``CUDA_VISIBLE_DEVICES``); each worker sees only its GPU, as its device ``0``. The entries
    are checked by `config.check_device` (``ValueError`` naming the option, the value and what is valid).
    """
    if not devices:
        return [Slot(name=str(device) if device is not None else "default", device=device)]
    if device is not None:
        raise ValueError(f"give either device ({device!r}) or devices ({devices!r}), not both")
    parent = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    slots, seen = [], {}
    for d in check_device("--devices", devices):
        if d in ("cpu", "mps"):
            name, dev, visible = d, d, "" if d == "cpu" else None
        else:
            k = int(d.removeprefix("cuda:"))
            name, dev, visible = f"cuda:{k}", "0", parent[k] if k < len(parent) else str(k)
        seen[name] = seen.get(name, 0) + 1
        slots.append(Slot(name=name if seen[name] == 1 else f"{name}#{seen[name]}", device=dev, visible=visible))
    return slots


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def worker_env(slot: Slot) -> dict:
    env = {**os.environ, "YOLO_ATTN_SWEEP_PID": str(os.getpid())}  # worker.PARENT_PID_ENV: it exits when we die
    for k, v in (("YOLO_OFFLINE", "1"), ("YOLO_AUTOINSTALL", "False"), ("MPLBACKEND", "Agg")):
        env.setdefault(k, v)
    if slot.visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot.visible
    return env


@contextlib.contextmanager
def folder_lock(out: Path):
    """Hold ``<out>/.compare.lock`` for the whole sweep: one ``compare`` process per folder.

    Raises:
        FileExistsError: Another process holds it (exit status 2; several hosts sharing one folder without Slurm
            are not supported, and a lock on a network filesystem may not see the other host).
    """
    from filelock import FileLock, Timeout

    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / ".compare.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FileExistsError(
            f"another compare process is working on {out} (it holds {out / '.compare.lock'}); wait for it to end, "
            "stop it, or use another --out"
        ) from None
    try:
        yield
    finally:
        lock.release()


def is_final(run: PlannedRun, settings: SweepSettings, rerun_changed: bool = False) -> bool:
    """Whether the run needs no training: an ok record (of the current YAML when ``rerun_changed``), or a failed one
    that is kept (``retry_failed=False``)."""
    rec = RunRecord.read(run.run_dir)
    if rec is None:
        return False
    if rec.ok:
        if rerun_changed and run.spec.file and rec.yaml_sha256:
            return file_sha256(run.spec.file) in ("", rec.yaml_sha256)
        return True
    return not settings.retry_failed


def todo(out: Path, settings: SweepSettings, rerun_changed: bool = False) -> list[PlannedRun]:
    """The runs of the sweep still to train, in sweep order."""
    return [r for r in planned_runs(out, settings) if not is_final(r, settings, rerun_changed)]


def _clear(run: PlannedRun, say) -> None:
    """Before a new attempt: keep a finished run of an edited YAML aside; remove a failed attempt."""
    rec = RunRecord.read(run.run_dir)
    if rec is None:
        return
    if rec.ok:
        aside = run.run_dir.with_name(f"{run.run_dir.name}.stale-{rec.yaml_sha256[:8]}")
        k = 1
        while aside.exists():
            k += 1
            aside = run.run_dir.with_name(f"{run.run_dir.name}.stale-{rec.yaml_sha256[:8]}-{k}")
        run.run_dir.rename(aside)
        say(f"[compare] {run.name}: its YAML changed since it was trained; the old run is kept in {aside}")
    else:
        shutil.rmtree(run.run_dir, ignore_errors=True)


def start_run(run: PlannedRun, settings: SweepSettings, slot: Slot, *, stream: bool, progress: dict, slurm_job="", say):
    """Write the run's ``spec.json`` and start its worker; None when the run was recorded failed without one (an
    unusable model)."""
    _clear(run, say)
    if run.spec.error:
        RunRecord.failed(run.spec, run.seed, run.run_dir, settings.fingerprint, run.spec.error, slot=slot.name).write(
            run.run_dir
        )
        return None
    fp, extra = settings.fingerprint, settings.train_args
    train_args = {
        **extra,
        **{"data": fp.data, "epochs": fp.epochs, "imgsz": fp.imgsz, "batch": fp.batch, "device": slot.device},
        **{"workers": settings.workers, "seed": run.seed, "val": settings.val, "name": "train", "exist_ok": True},
        "deterministic": extra.get("deterministic", True),
        "plots": extra.get("plots", False),
        "pretrained": extra.get("pretrained", False),
        "project": str(run.run_dir),
    }
    spec = RunSpec(
        label=run.spec.label,
        model=run.spec.model,
        file=run.spec.file,
        seed=run.seed,
        run_dir=str(run.run_dir),
        data=fp.data,
        split=fp.split,
        weights=fp.weights,
        fingerprint=fp,
        train_args=train_args,
        resume_run=settings.resume_runs,
        cpu_threads=settings.cpu_threads,
        slot=slot.name,
        slurm_job=slurm_job,
        progress=progress,
    )
    spec_file = spec.write(run.run_dir / RUN_SPEC)
    (run.run_dir / PROGRESS).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "yolo_attn.compare", "_worker", str(spec_file)]
    pipe = None if stream else subprocess.DEVNULL
    return subprocess.Popen(cmd, env=worker_env(slot), stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL)


def finish_run(run: PlannedRun, code: int, settings: SweepSettings, slot: Slot, t0: float) -> RunRecord | None:
    """The run's record after its worker ended with ``code``: the worker's own, a ``failed`` one written here when it
    died without one, or None when it was stopped (Ctrl-C, SIGTERM: resumable)."""
    rec = RunRecord.read(run.run_dir)
    if rec is not None or code in _INTERRUPT_CODES:
        return rec
    how = f"signal {-code}" if code < 0 else f"exit status {code}"
    rec = RunRecord.failed(
        run.spec,
        run.seed,
        run.run_dir,
        settings.fingerprint,
        f"worker process ended with {how} before writing its record",
        traceback=_log_tail(run.run_dir / "log.txt"),
        slot=slot.name,
        started_at=t0,
    )
    rec.write(run.run_dir)
    return rec


def progress_of(run_dir: Path) -> str:
    p = read_json(run_dir / PROGRESS)
    if not isinstance(p, dict):
        return "starting"
    if p.get("state") == "scoring":
        return "scoring"
    return f"epoch {p.get('epoch')}/{p.get('epochs')}" if p.get("epoch") is not None else "starting"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class _Sweep:
    """The state `run_local` shares between its slot threads and the main thread."""

    def __init__(self, runs, settings, slots, say, t_start):
        self.runs, self.settings, self.say, self.t_start = runs, settings, say, t_start
        self.slots: queue.Queue = queue.Queue()
        for s in slots:
            self.slots.put(s)
        self.n_slots = len(slots)
        self.active: dict[str, tuple[PlannedRun, Slot, subprocess.Popen, float]] = {}
        self.done: list[float] = []
        self.counts = {"trained": 0, "ok": 0, "failed": 0}
        self.stopping = threading.Event()
        self.mutex = threading.Lock()

    def eta(self, left: int) -> str:
        mean = _mean(self.done)
        return fmt_duration(None if mean is None else mean * left / self.n_slots)

    def one(self, run: PlannedRun, total: int, report) -> None:
        """Slot thread: wait for a free slot, train ``run`` on it, record the outcome."""
        slot = self.slots.get()
        try:
            if self.stopping.is_set():
                return
            with self.mutex:
                left = total - self.counts["trained"]
                self.say(
                    f"[compare] run {run.index}/{total}: {run.name}"
                    + (f" on {slot.name}" if self.n_slots > 1 else "")
                    + f" | {self.counts['trained']} done, {left} to go | elapsed "
                    f"{fmt_duration(time.time() - self.t_start)}, ~{self.eta(left)} left"
                )
                progress = {
                    "index": run.index,
                    "total": total,
                    "left_after": max(left - len(self.active) - 1, 0),
                    "sweep_start": self.t_start,
                    "mean_run_s": _mean(self.done),
                    "slots": self.n_slots,
                }
                t0 = time.time()
                proc = start_run(run, self.settings, slot, stream=self.n_slots == 1, progress=progress, say=self.say)
                if proc is not None:
                    self.active[str(run.run_dir)] = (run, slot, proc, t0)
            code = proc.wait() if proc is not None else 1
            with self.mutex:
                self.active.pop(str(run.run_dir), None)
                if self.stopping.is_set() and RunRecord.read(run.run_dir) is None:
                    return
                rec = finish_run(run, code, self.settings, slot, t0)
                self._count(run, rec, time.time() - t0, total)
            if report is not None:
                with contextlib.suppress(Exception):  # a report failure must not stop training (it is redone)
                    report(False)
        finally:
            self.slots.put(slot)

    def _count(self, run: PlannedRun, rec: RunRecord | None, took: float, total: int) -> None:
        if rec is None:
            self.say(f"[compare] run {run.index}/{total} {run.name}: stopped (resumable)")
            return
        self.counts["trained"] += 1
        if rec.ok:
            self.counts["ok"] += 1
            self.done.append(took)
            value = rec.metrics.get(self.settings.metric)
            shown = f"{100 * value:.2f}" if isinstance(value, (int, float)) else "n/a"
            self.say(f"[compare] run {run.index}/{total} {run.name}: ok in {fmt_duration(took)}, "
                     f"{self.settings.metric} {shown}")  # fmt: skip
        else:
            self.counts["failed"] += 1
            self.say(
                f"[compare] run {run.index}/{total} {run.name}: FAILED in {fmt_duration(took)}: "
                f"{(rec.error or '?').splitlines()[0]} (log: {run.run_dir / 'log.txt'})"
            )

    def status(self, total: int) -> None:
        with self.mutex:
            now = time.time()
            parts = [
                f"{r.name} on {s.name}: {progress_of(r.run_dir)}, {fmt_duration(now - t0)}"
                for r, s, _, t0 in self.active.values()
            ]
            left = total - self.counts["trained"]
        self.say(
            f"[compare] {self.counts['trained']}/{total} trained, {len(parts)} running: {'; '.join(parts)} | "
            f"elapsed {fmt_duration(now - self.t_start)}, ~{self.eta(left)} left"
        )

    def stop(self) -> None:
        """Stop every worker (SIGINT, a kill after 20 s); their runs stay resumable."""
        self.stopping.set()
        with self.mutex:
            procs = [p for _, _, p, _ in self.active.values()]
        for p in procs:
            with contextlib.suppress(OSError):
                p.send_signal(signal.SIGINT)
        deadline = time.time() + 20
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


def run_local(
    out: Path,
    settings: SweepSettings,
    slots: Sequence[Slot],
    *,
    say: Callable[[str], None],
    rerun_changed: bool = False,
    progress_every: float = 30.0,
    report: Callable[[bool], None] | None = None,
) -> dict[str, int]:
    """Train every unfinished run of ``out`` on ``slots``; return counts (``trained``, ``ok``, ``failed`` by this call
    and ``pending``: runs not finished on return). The caller holds `folder_lock`.

    Raises:
        SweepInterrupted: Ctrl-C or SIGTERM (workers stopped, runs resumable).
    """
    runs = todo(out, settings, rerun_changed)
    total = len(planned_runs(out, settings))
    if total > len(runs):
        say(f"[compare] {total - len(runs)} run(s) already complete (kept as they are), {len(runs)} to run")
    sweep = _Sweep(runs, settings, slots, say, time.time())
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    pool = cf.ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="compare-slot")
    try:
        futures = [pool.submit(sweep.one, r, total, report) for r in runs]
        pending = set(futures)
        while pending:
            finished, pending = cf.wait(pending, timeout=progress_every, return_when=cf.FIRST_EXCEPTION)
            for f in finished:
                f.result()  # a bug in a slot thread: raise it here
            if pending and len(slots) > 1:
                sweep.status(total)
    except (KeyboardInterrupt, _Terminated):
        sweep.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        say("[compare] interrupted; finished runs are kept, stopped ones resume. Run the same command again to resume.")
        if report is not None:
            with contextlib.suppress(Exception):
                report(False)
        raise SweepInterrupted() from None
    finally:
        if sweep.active:  # an unexpected error: leave no worker behind
            sweep.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    pending = sum(1 for r in planned_runs(out, settings) if RunRecord.read(r.run_dir) is None)
    return {**sweep.counts, "pending": pending}
