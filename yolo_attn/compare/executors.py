"""Running a sweep's runs: device slots, one worker process per run, claims, progress, interruption.

`run_slots` is the one loop every executor uses. It fills each free slot with the next run (sweep order) that it can
claim (`claims.Claims`), starts that run's worker (``python -m yolo_attn.compare _worker spec.json``) pinned to the
slot's device (``CUDA_VISIBLE_DEVICES``), heartbeats its claims, records a failure when a worker dies without a
record, and prints progress: every run started and finished, and periodically every active run (epoch, time) with
an ETA from the finished runs' mean duration spread over the slots. Locally (``compare --devices 0,1,2,3``) it also
waits for runs other processes hold, and takes over those whose holder died. Ctrl-C (SIGINT) or SIGTERM stops every
worker (SIGINT, then a kill after 20 s), releases the claims and leaves every run resumable.

A Slurm array task (``slurm.py``) runs the same loop with one slot and does not wait for others' runs.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yolo_attn.compare.claims import Claim, ClaimKeeper, Claims
from yolo_attn.compare.plan import PlannedRun, file_sha256, planned_runs
from yolo_attn.compare.records import (
    PROGRESS,
    RUN_SPEC,
    RunRecord,
    RunSpec,
    SweepSettings,
    fmt_duration,
    read_json,
)

__all__ = ["Slot", "SweepInterrupted", "parse_devices", "progress_of", "run_slots"]

_INTERRUPT_CODES = (-signal.SIGINT, 130, -signal.SIGTERM, 128 + signal.SIGTERM)  # stopped, not failed: resumable


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: workers stopped, claims released, every run resumable."""


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


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


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def parse_devices(devices: str | Sequence[str] | None, device: str | int | None = None) -> list[Slot]:
    """The slots of ``--devices`` (e.g. ``"0,1,2,3"``, ``"cpu,cpu"``, ``"0,0,1"``); one slot of ``device`` without.

    A device listed twice gives two slots on it (two trainings at once). GPU indices count the GPUs this process
    sees (after its own ``CUDA_VISIBLE_DEVICES``); each worker sees only its GPU, as its device ``0``.

    Raises:
        ValueError: Unknown device, a GPU index this machine does not have, ``device`` and ``devices`` both given.
    """
    if devices is None or (isinstance(devices, str) and not devices.strip()):
        return [
            Slot(name=str(device) if device is not None else "default", device=None if device is None else str(device))
        ]
    if device is not None:
        raise ValueError(f"give either device ({device!r}) or devices ({devices!r}), not both")
    items = [d.strip() for d in (devices.split(",") if isinstance(devices, str) else map(str, devices))]
    if not items or any(not d for d in items):
        raise ValueError(f"--devices {devices!r}: an empty entry; valid: cpu, mps or a CUDA GPU index (0, cuda:1)")
    parent_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    parent_list = [v.strip() for v in parent_visible.split(",")] if parent_visible else None
    n_gpus = None
    slots, seen = [], {}
    for d in items:
        low = d.lower()
        if low == "cpu":
            name, dev, visible = "cpu", "cpu", ""
        elif low == "mps":
            import torch

            if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                raise ValueError(f"--devices {devices!r}: mps (Apple GPU) is not available on this machine")
            name, dev, visible = "mps", "mps", None
        else:
            idx = low[5:] if low.startswith("cuda:") else low
            if not idx.isdigit():
                raise ValueError(
                    f"--devices {devices!r}: unknown device {d!r}; valid: cpu, mps, or a CUDA GPU index (0, 1, cuda:1)"
                )
            k = int(idx)
            if n_gpus is None:
                n_gpus = _cuda_count()
            if n_gpus == 0:
                raise ValueError(f"--devices {devices!r}: GPU {k} asked for, but this machine has no CUDA GPU; use cpu")
            if k >= n_gpus:
                raise ValueError(
                    f"--devices {devices!r}: GPU {k} asked for, but this machine has {n_gpus} CUDA GPU(s): "
                    f"{', '.join(map(str, range(n_gpus)))}"
                )
            name, dev = f"cuda:{k}", "0"
            visible = parent_list[k] if parent_list and k < len(parent_list) else str(k)
        seen[name] = seen.get(name, 0) + 1
        slots.append(Slot(name=name if seen[name] == 1 else f"{name}#{seen[name]}", device=dev, visible=visible))
    return slots


@dataclass
class _Active:
    run: PlannedRun
    slot: Slot
    claim: Claim
    proc: subprocess.Popen
    t0: float
    lost: bool = False


@dataclass
class _State:
    """What the loop knows across iterations."""

    initial: dict[str, str | None]  # run dir -> run_id of its record when this process started (None: no record)
    rerun_changed: bool
    final_ok: set[str] = field(default_factory=set)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def schedule_eta(mean_run: float | None, active_elapsed: Sequence[float], pending: int, slots: int) -> float | None:
    """Seconds until every run is done if each takes ``mean_run``: active runs finish their rest, pending runs go to
    the slot that frees first."""
    if mean_run is None:
        return None
    free = [max(mean_run - e, 0.0) for e in active_elapsed] + [0.0] * max(slots - len(active_elapsed), 0)
    if not free:
        return None
    heapq.heapify(free)
    for _ in range(pending):
        heapq.heappush(free, heapq.heappop(free) + mean_run)
    return max(free)


def worker_env(slot: Slot) -> dict:
    env = {**os.environ}
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("YOLO_AUTOINSTALL", "False")
    env.setdefault("MPLBACKEND", "Agg")
    if slot.visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot.visible
    env["YOLO_ATTN_SWEEP_PID"] = str(os.getpid())  # worker.PARENT_PID_ENV: the worker exits when this process dies
    return env


def run_slots(
    out: Path,
    settings: SweepSettings,
    slots: Sequence[Slot],
    *,
    say: Callable[[str], None],
    wait_for_others: bool = True,
    stream_output: bool | None = None,
    slurm_job: str = "",
    rerun_changed: bool = False,
    progress_every: float = 30.0,
    t_start: float | None = None,
    report: Callable[[bool], None] | None = None,
) -> dict[str, int]:
    """Train every unfinished run of ``settings`` in ``out`` on ``slots``; return counts (``trained``: runs this
    process finished, ``ok``, ``failed``, ``pending``: runs of the sweep not finished when it returns).

    Args:
        out: The compare folder (``sweep.json`` written).
        settings: The sweep.
        slots: Where runs train, one at a time each (`parse_devices`).
        say: Progress lines.
        wait_for_others: Wait for runs other processes hold (and take them over when their holder dies), so that
            the sweep is complete on return; False returns when nothing is left to claim (Slurm array tasks).
        stream_output: Show the workers' output (training bars) on this process's stdout; default with one slot.
        slurm_job: ``<job>_<task>`` of the Slurm array task running this.
        rerun_changed: Train again the finished runs whose model YAML changed (the old folder is kept aside).
        progress_every: Seconds between the lines listing every active run (when several slots or waiting).
        t_start: When the sweep started (elapsed time in progress lines).
        report: ``report(final)`` rewrites the reports (after every finished run, and at the end).

    Raises:
        SweepInterrupted: Ctrl-C or SIGTERM (workers stopped, claims released, runs resumable).
    """
    t_start = t_start or time.time()
    runs = planned_runs(out, settings)
    total = len(runs)
    claims = Claims(out)
    multi = len(slots) > 1
    stream = (not multi) if stream_output is None else stream_output
    state = _State(initial={}, rerun_changed=rerun_changed)
    for r in runs:
        rec = RunRecord.read(r.run_dir)
        state.initial[str(r.run_dir)] = rec.run_id if rec is not None else None
    lost_tokens: set[str] = set()
    lost_mutex = threading.Lock()

    def on_lost(claim: Claim) -> None:
        with lost_mutex:
            lost_tokens.add(claim.token)

    keeper = ClaimKeeper(claims, on_lost).start()
    active: dict[int, _Active] = {}
    counts = {"trained": 0, "ok": 0, "failed": 0}
    durations = [d for d in (_ok_duration(r) for r in runs) if d]
    finished_before = sum(1 for r in runs if _final(r, settings, state))
    if finished_before:
        say(f"[compare] {finished_before} run(s) already complete (kept as they are), {total - finished_before} to run")
    last_status = time.time()
    old_handler = None
    if hasattr(signal, "SIGTERM") and _in_main_thread():
        old_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        while True:
            changed = _reap(active, claims, keeper, settings, state, counts, durations, say, total, lost_tokens)
            if changed and report is not None:
                with contextlib.suppress(Exception):  # a report failure must not stop training (it is redone)
                    report(False)
            free = [i for i in range(len(slots)) if i not in active]
            if free:
                _fill(
                    free,
                    slots,
                    runs,
                    active,
                    claims,
                    keeper,
                    settings,
                    state,
                    say,
                    total,
                    stream,
                    slurm_job,
                    durations,
                    t_start,
                )
            if not active:
                pending = [r for r in runs if not _final(r, settings, state)]
                if not pending or not wait_for_others:
                    break
                if time.time() - last_status > progress_every:
                    last_status = time.time()
                    _say_waiting(pending, claims, say)
                time.sleep(2.0)
                continue
            if (multi or len(active) < len(slots)) and time.time() - last_status > progress_every:
                last_status = time.time()
                _say_status(runs, active, settings, state, durations, len(slots), t_start, say)
            time.sleep(0.5)
    except (KeyboardInterrupt, _Terminated):
        _stop_all(active, claims, keeper)
        say("[compare] interrupted; finished runs are kept, stopped ones resume. Run the same command again to resume.")
        if report is not None:
            with contextlib.suppress(Exception):
                report(False)
        raise SweepInterrupted() from None
    finally:
        keeper.stop()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        _stop_all(active, claims, keeper)  # only on an unexpected error: the loop leaves nothing active otherwise
    counts["pending"] = sum(1 for r in runs if not _final(r, settings, state))
    return counts


def _ok_duration(run: PlannedRun) -> float | None:
    try:
        rec = RunRecord.read(run.run_dir)
    except ValueError:
        return None
    return rec.duration_s if rec is not None and rec.ok else None


def _final(run: PlannedRun, settings: SweepSettings, state: _State) -> bool:
    """True when the run needs nothing more from this process: an ok record (of the current YAML when rerunning
    changed ones), or a failed record that is kept (``retry_failed=False``) or that was written after this process
    started (someone retried it already)."""
    key = str(run.run_dir)
    if key in state.final_ok:
        return True
    rec = RunRecord.read(run.run_dir)
    if rec is None:
        return False
    if rec.ok:
        if state.rerun_changed and run.spec.file and rec.yaml_sha256:
            current = file_sha256(run.spec.file)
            if current and current != rec.yaml_sha256:
                return False
        state.final_ok.add(key)
        return True
    return not settings.retry_failed or rec.run_id != state.initial.get(key)


def _fill(
    free, slots, runs, active, claims, keeper, settings, state, say, total, stream, slurm_job, durations, t_start
):
    busy = {str(a.run.run_dir) for a in active.values()}
    for run in runs:
        if not free:
            return
        if str(run.run_dir) in busy or _final(run, settings, state):
            continue
        holder = claims.holder(run.spec.label, run.seed)
        if holder is not None and not holder.stale():
            continue  # someone else trains it (checked again under the lock)
        slot_i = free[0]
        slot = slots[slot_i]

        def takeover(c: Claim, run=run) -> None:
            why = "its lease expired" if c.expired() else "its processes are gone"
            say(f"[compare] taking over {run.name} from {c.describe()} ({why}); it resumes")

        claim = claims.acquire(
            run.spec.label,
            run.seed,
            is_done=lambda run=run: _final(run, settings, state),
            slot=slot.name,
            slurm_job=slurm_job,
            on_takeover=takeover,
        )
        if claim is None:
            continue
        try:
            started = _start(
                run,
                slot,
                claim,
                claims,
                settings,
                say,
                total,
                stream,
                slurm_job,
                runs,
                state,
                durations,
                active,
                t_start,
                len(slots),
            )
        except BaseException:
            claims.release(claim)
            raise
        if started is None:  # finished at once (an unusable model is recorded as failed)
            claims.release(claim)
            continue
        keeper.add(claim)
        active[slot_i] = started
        busy.add(str(run.run_dir))
        free.pop(0)


def _start(
    run, slot, claim, claims, settings, say, total, stream, slurm_job, runs, state, durations, active, t_start, n_slots
):
    """Prepare the run folder and start the run's worker; None when the run was finished without one."""
    run_dir = run.run_dir
    rec = RunRecord.read(run_dir)
    if rec is not None:
        if rec.ok:  # a finished run of an edited YAML (rerun_changed): keep it aside, train the new file
            aside = run_dir.with_name(f"{run_dir.name}.stale-{rec.yaml_sha256[:8]}")
            k = 1
            while aside.exists():
                k += 1
                aside = run_dir.with_name(f"{run_dir.name}.stale-{rec.yaml_sha256[:8]}-{k}")
            run_dir.rename(aside)
            say(f"[compare] {run.name}: its YAML changed since it was trained; the old run is kept in {aside}")
        else:  # a failed run being retried: start from nothing
            shutil.rmtree(run_dir, ignore_errors=True)
    done = sum(1 for r in runs if _final(r, settings, state))
    running = len(active)
    left = total - done
    mean_run = sum(durations) / len(durations) if durations else None
    pending_after = max(left - running - 1, 0)
    elapsed_active = [time.time() - a.t0 for a in active.values()] + [0.0]
    eta = schedule_eta(mean_run, elapsed_active, pending_after, n_slots)
    where = f" on {slot.name}" if n_slots > 1 else ""
    say(
        f"[compare] run {run.index}/{total}: {run.name}{where} | {done} done, {left} to go | "
        f"elapsed {fmt_duration(time.time() - t_start)}, ~{fmt_duration(eta)} left"
    )
    if run.spec.error:
        RunRecord.failed(run.spec, run.seed, run_dir, settings.fingerprint, run.spec.error, slot=slot.name).write(
            run_dir
        )
        say(f"[compare] run {run.index}/{total} {run.name}: FAILED: {run.spec.error}")
        return None
    fp = settings.fingerprint
    extra = settings.train_args
    eval_times = [e for e in (_eval_time(r) for r in runs) if e]
    spec = RunSpec(
        label=run.spec.label,
        model=run.spec.model,
        file=run.spec.file,
        seed=run.seed,
        run_dir=str(run_dir),
        data=fp.data,
        split=fp.split,
        weights=fp.weights,
        fingerprint=fp,
        train_args={
            **extra,
            "data": fp.data,
            "epochs": fp.epochs,
            "imgsz": fp.imgsz,
            "batch": fp.batch,
            "device": slot.device,
            "workers": settings.workers,
            "seed": run.seed,
            "deterministic": extra.get("deterministic", True),
            "val": settings.val,
            "plots": extra.get("plots", False),
            "pretrained": extra.get("pretrained", False),
            "project": str(run_dir),
            "name": "train",
            "exist_ok": True,
        },
        resume_run=settings.resume_runs,
        latency_repeats=settings.latency_repeats,
        latency_warmup=settings.latency_warmup,
        cpu_threads=settings.cpu_threads,
        slot=slot.name,
        slurm_job=slurm_job,
        claim=claim.path,
        claim_token=claim.token,
        progress={
            "index": run.index,
            "total": total,
            "left_after": pending_after,
            "sweep_start": t_start,
            "mean_run_s": mean_run,
            "mean_eval_s": sum(eval_times) / len(eval_times) if eval_times else None,
            "slots": n_slots,
        },
    )
    spec_file = spec.write(run_dir / RUN_SPEC)
    (run_dir / PROGRESS).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "yolo_attn.compare", "_worker", str(spec_file)]
    out_stream = None if stream else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=worker_env(slot), stdout=out_stream, stderr=out_stream, stdin=subprocess.DEVNULL)
    claims.add_pid(claim, proc.pid)
    return _Active(run=run, slot=slot, claim=claim, proc=proc, t0=time.time())


def _eval_time(run: PlannedRun) -> float | None:
    try:
        rec = RunRecord.read(run.run_dir)
    except ValueError:
        return None
    return rec.eval_time_s if rec is not None and rec.ok else None


def _reap(active, claims, keeper, settings, state, counts, durations, say, total, lost_tokens) -> bool:
    changed = False
    for slot_i, a in list(active.items()):
        if a.claim.token in lost_tokens and not a.lost:
            a.lost = True
            say(
                f"[compare] {a.run.name}: its claim was taken over by another process (this one stalled past the "
                "lease); stopping its worker here"
            )
            with contextlib.suppress(OSError):
                a.proc.send_signal(signal.SIGINT)
        code = a.proc.poll()
        if code is None:
            continue
        del active[slot_i]
        keeper.discard(a.claim)
        took = time.time() - a.t0
        if a.lost:
            continue  # not ours any more: no record, no release
        rec = RunRecord.read(a.run.run_dir)
        if rec is None and not Claims.still_mine(a.claim.path, a.claim.token):
            say(f"[compare] {a.run.name}: its claim was taken over by another process; that one finishes it")
            continue  # the worker saw it first (exit status 3): no record, nothing to release
        if rec is None and code in _INTERRUPT_CODES:
            claims.release(a.claim)
            say(f"[compare] run {a.run.index}/{total} {a.run.name}: stopped (resumable)")
            continue
        if rec is None:  # the worker died without a record (killed, out of memory, ...)
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            err = f"worker process ended with {how} before writing its record"
            rec = RunRecord.failed(
                a.run.spec,
                a.run.seed,
                a.run.run_dir,
                settings.fingerprint,
                err,
                traceback=_log_tail(a.run.run_dir / "log.txt"),
                slot=a.slot.name,
                started_at=a.t0,
            )
            rec.write(a.run.run_dir)
        claims.release(a.claim)
        counts["trained"] += 1
        changed = True
        if rec.ok:
            counts["ok"] += 1
            durations.append(max(rec.duration_s or 0.0, took))  # with the interpreter start-up
            value = rec.metrics.get(settings.metric)
            shown = f"{100 * value:.2f}" if isinstance(value, (int, float)) else "n/a"
            say(
                f"[compare] run {a.run.index}/{total} {a.run.name}: ok in {fmt_duration(took)}, {settings.metric} {shown}"
            )
        else:
            counts["failed"] += 1
            say(
                f"[compare] run {a.run.index}/{total} {a.run.name}: FAILED in {fmt_duration(took)}: "
                f"{(rec.error or '?').splitlines()[0]} (log: {a.run.run_dir / 'log.txt'})"
            )
    return changed


def progress_of(run_dir: Path) -> str:
    p = read_json(run_dir / PROGRESS)
    if not isinstance(p, dict):
        return "starting"
    if p.get("state") == "scoring":
        return "scoring"
    return f"epoch {p.get('epoch')}/{p.get('epochs')}" if p.get("epoch") is not None else "starting"


def _say_status(runs, active, settings, state, durations, n_slots, t_start, say) -> None:
    total = len(runs)
    done = sum(1 for r in runs if _final(r, settings, state))
    now = time.time()
    parts = [
        f"{a.run.name} on {a.slot.name}: {progress_of(a.run.run_dir)}, {fmt_duration(now - a.t0)}"
        for a in sorted(active.values(), key=lambda a: a.run.index)
    ]
    mean_run = sum(durations) / len(durations) if durations else None
    pending = max(total - done - len(active), 0)
    eta = schedule_eta(mean_run, [now - a.t0 for a in active.values()], pending, n_slots)
    say(
        f"[compare] {done}/{total} done, {len(active)} running: "
        + "; ".join(parts)
        + f" | elapsed {fmt_duration(now - t_start)}, ~{fmt_duration(eta)} left"
    )


def _say_waiting(pending, claims, say) -> None:
    held = []
    for r in pending:
        c = claims.holder(r.spec.label, r.seed)
        held.append(f"{r.name} ({c.describe() + ': ' + progress_of(r.run_dir)})" if c else r.name)
    say(f"[compare] waiting for {len(pending)} run(s) held by other processes: " + "; ".join(held))


def _stop_all(active: dict, claims: Claims, keeper: ClaimKeeper) -> None:
    """Stop every worker (SIGINT, a kill after 20 s) and release its claim; the runs stay resumable."""
    for a in active.values():
        with contextlib.suppress(OSError):
            a.proc.send_signal(signal.SIGINT)
    deadline = time.time() + 20
    for a in active.values():
        try:
            a.proc.wait(timeout=max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()
    for a in active.values():
        keeper.discard(a.claim)
        if not a.lost:
            claims.release(a.claim)
    active.clear()
