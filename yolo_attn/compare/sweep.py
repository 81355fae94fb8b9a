"""The sweep: every (model, seed) trained and scored in its own worker process, resumable, on one or many devices,
by one or many processes, locally or on a Slurm cluster.

``compare()`` is three steps:

1. **planning** (``plan.py``): check every input and the compare folder, resolve the models, settle the settings and
   the runs; bad input raises before anything is written (exit status 2);
2. **running** (``executors.py``, ``slurm.py``): worker processes train the runs, claimed one by one
   (``claims.py``), on the ``devices`` slots of this machine or as a Slurm job array;
3. **timing** (``speed.py``): once every run is finished, the process that finishes the sweep times all its trained
   models interleaved in one process (rounds of A, B, C, ..., reversed every other round) into ``speed.json``;
   never per run (``compare --remeasure`` redoes only this step);
4. **reporting** (``report.py``): results.csv, per_class.csv, summary.md and plots from the records alone.

Runs go seed by seed (all models with the first seed, then all with the next), so an interrupted sweep already
holds a full comparison for its first seeds. Each run lives in ``<out>/runs/<model>/seed<k>`` and is finished when
its completion record ``run.json`` exists (written last, atomically, by the worker). On a new call with the same
``out``:

- runs whose record says ``ok`` are skipped and never touched again (unless their model YAML was edited since:
  then the call refuses, or with ``rerun_changed`` trains them again and keeps the old folder aside);
- a run interrupted mid-training resumes from its epoch checkpoint (``train/weights/last.pt``; Ultralytics resume),
  one interrupted after training is only scored again (``trained.json``);
- runs whose record says ``failed`` are retried from scratch (``retry_failed=False`` keeps the failure instead);
- the settings that change results (data, split, epochs, imgsz, batch, scored weights, training hyperparameters)
  must match ``sweep.json``; another device, more seeds or more models are fine.

Any number of calls may work on the same ``out`` at once (several terminals, several hosts sharing the folder, Slurm
array tasks): each run is claimed by one of them, trained exactly once, and taken over when its holder dies.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from yolo_attn.compare.executors import parse_devices, run_slots
from yolo_attn.compare.plan import RESERVED_TRAIN_ARGS, commit_plan, parse_seeds, plan_sweep
from yolo_attn.compare.records import SPEED_RECORD, SWEEP_RECORD, SweepSettings, fmt_duration
from yolo_attn.compare.report import report_only, write_reports
from yolo_attn.compare.speed import ensure_speed, measure_speed, speed_lock, speed_targets

__all__ = ["RESERVED_TRAIN_ARGS", "compare", "parse_seeds", "remeasure", "report_only", "sweep_status"]


def sweep_status(out: str | Path) -> dict[str, int]:
    """Count the runs of the last sweep in ``out`` by status (``ok``, ``failed``, ``stale``, ``pending``), from
    results.csv."""
    import csv

    counts = {"ok": 0, "failed": 0, "stale": 0, "pending": 0}
    path = Path(out) / "results.csv"
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts[row.get("status", "pending")] = counts.get(row.get("status", "pending"), 0) + 1
    return counts


def compare(
    models: str | Sequence[str],
    data: str | Path,
    epochs: int | None = None,
    imgsz: int | None = None,
    batch: int | None = None,
    seeds: int | str | Iterable[int] = (0,),
    device: str | int | None = None,
    out: str | Path = "runs/compare/exp",
    baseline: str | None = None,
    workers: int = 0,
    preset: str | None = None,
    metric: str = "voc07_map50",
    weights: str = "last",
    split: str | None = None,
    val: bool | None = None,
    train_args: dict | None = None,
    latency_repeats: int = 50,
    latency_warmup: int = 3,
    cpu_threads: int | None = None,
    retry_failed: bool = True,
    resume_runs: bool = True,
    plots: bool = True,
    devices: str | Sequence[str] | None = None,
    executor: str = "local",
    slurm: dict | None = None,
    wait: bool = True,
    rerun_changed: bool = False,
    progress_every: float = 30.0,
    log=print,
) -> Path:
    """Train and score every model under the same settings and seeds; write results.csv, summary.md and plots.

    Args:
        models: Model YAML paths, globs and named sets (``may``, ``may-demo``, ``mobilenet-neck``, ``yolov8s``, ...).
        data: Dataset YAML (e.g. the ``data.yaml`` written by ``yolo-attn voc prepare``).
        epochs, imgsz, batch: Training settings (default: the preset's, else Ultralytics' 100 / 640 / 16).
        seeds: One training run per model and seed (``"0,1,2"``, ``"0-2"`` or a list).
        device: Ultralytics device of the one slot (``cpu``, ``0``, ``0,1`` for DDP, ...); default Ultralytics'
            choice (the first GPU if any). Not with ``devices``.
        out: The compare folder (resumable: rerun the same call to continue an interrupted sweep).
        baseline: Model the summary's Δ columns refer to (label, file name or path); default the ``*-none`` model,
            else a stock Ultralytics model, else the first model.
        workers: Dataloader workers per run (0 loads in the training process).
        preset: ``"demo"`` or ``"may-paper"`` (see ``yolo_attn.compare.presets``); explicit arguments override it.
        metric: The primary metric, ranked on (a key of ``yolo_attn.metrics.METRICS``); default ``voc07_map50``.
        weights: Checkpoint scored, ``"last"`` (default: no selection on the evaluation split) or ``"best"``.
        split: Split scored; default ``test`` when the dataset has one, else ``val``.
        val: Validate after every epoch (Ultralytics' ``val``; default True, the demo preset turns it off).
        train_args: Further Ultralytics train arguments, the same for every run (e.g. ``{"optimizer": "SGD"}``).
        latency_repeats, latency_warmup: Timed and warm-up rounds of the speed step (each round times every model
            once, interleaved; ``speed.py``).
        cpu_threads: torch threads for CPU training (default: Ultralytics' choice, the number of cores minus one;
            with several CPU slots set it so that slots x threads fits the cores) and the CPU latency (default 1).
        retry_failed: Retry runs recorded as failed by an earlier call (default True).
        resume_runs: Resume a run interrupted mid-training from its last epoch checkpoint (default True); False
            trains it again from scratch.
        plots: Write the PNG plots.
        devices: Run several trainings at once, one per slot: ``"0,1,2,3"`` (GPUs), ``"cpu,cpu"``, ``"0,0"`` (two
            on GPU 0). Each worker sees only its GPU (``CUDA_VISIBLE_DEVICES``). Results equal the sequential sweep's.
        executor: ``"local"`` (this machine) or ``"slurm"`` (a job array through submitit; see ``slurm``).
        slurm: Options of the Slurm executor: ``partition``, ``gpus_per_run`` (1), ``cpus_per_run``, ``time``
            (``"24:00:00"``), ``args`` (further sbatch options, ``{"account": "x"}``), ``max_tasks``.
        wait: Slurm: wait for the job and report (default); False returns after submitting (the job id is printed
            and kept in ``<out>/slurm/jobs.json``; a later call or ``report_only`` gathers).
        rerun_changed: Train again finished runs whose model YAML was edited since (default: refuse them).
        progress_every: Seconds between the status lines listing every active run.
        log: Where progress lines go (``print``; None for silence).

    Returns:
        (Path): The compare folder. ``sweep_status(out)`` counts its ok / failed / pending runs.

    Raises:
        ValueError, FileNotFoundError: Bad arguments or input, found before anything is written or trained.
        KeyboardInterrupt: Ctrl-C or SIGTERM; every run stays resumable.
        OSError: The disk filled up or another system error while working (runs finished so far are kept).
    """
    say = log or (lambda *a, **k: None)
    t_start = time.time()
    if executor not in ("local", "slurm"):
        raise ValueError(f"unknown executor {executor!r}; valid: local, slurm")
    if executor == "slurm":
        if devices is not None or device is not None:
            raise ValueError("--devices/--device are for the local executor; on Slurm use --slurm-gpus-per-run")
        from yolo_attn.compare.slurm import SlurmOptions

        slurm_opts = SlurmOptions.from_dict(slurm or {})
        slurm_opts.check()  # Slurm and submitit present, the partition exists: before anything is written
        slots = None
    else:
        if slurm:
            raise ValueError("slurm options given, but the executor is local; add --executor slurm")
        slots = parse_devices(devices, device)
    plan = plan_sweep(
        models,
        data,
        out,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        seeds=seeds,
        device=device,
        devices=[s.name for s in slots] if slots and devices is not None else None,
        baseline=baseline,
        workers=workers,
        preset=preset,
        metric=metric,
        weights=weights,
        split=split,
        val=val,
        train_args=train_args,
        latency_repeats=latency_repeats,
        latency_warmup=latency_warmup,
        cpu_threads=cpu_threads,
        retry_failed=retry_failed,
        resume_runs=resume_runs,
        plots=plots,
        rerun_changed=rerun_changed,
    )
    settings = commit_plan(plan)
    out = plan.out
    n_models, n_seeds = len(settings.models), len(settings.seeds)
    say(f"[compare] {len(plan.runs)} run(s): {n_models} model(s) x {n_seeds} seed(s) -> {out}")

    def report(final: bool, quiet: bool = True) -> None:
        write_reports(out, SweepSettings.read(out) or settings, final=final, say=None if quiet else say)

    if executor == "slurm":
        from yolo_attn.compare.slurm import run_on_slurm

        finished = run_on_slurm(
            out,
            settings,
            slurm_opts,
            say=say,
            wait=wait,
            rerun_changed=rerun_changed,
            t_start=t_start,
            report=report,
            progress_every=progress_every,
        )
        if finished:
            ensure_speed(out, SweepSettings.read(out) or settings, say=say)
            report(True, quiet=False)
            say(f"[compare] done in {fmt_duration(time.time() - t_start)}: {out}")
        return out
    if len(slots) > 1:
        say(f"[compare] {len(slots)} slots: {', '.join(s.name for s in slots)} (one run each at a time)")
    counts = run_slots(
        out,
        settings,
        slots,
        say=say,
        wait_for_others=True,
        rerun_changed=rerun_changed,
        progress_every=progress_every,
        t_start=t_start,
        report=lambda final: report(final),
    )
    if counts["pending"] == 0:  # every run finished: time all models together, once (not per run)
        ensure_speed(out, SweepSettings.read(out) or settings, say=say)
    report(counts["pending"] == 0, quiet=False)
    say(f"[compare] done in {fmt_duration(time.time() - t_start)}: {out}")
    return out


def remeasure(out: str | Path, say=print, latency_repeats: int | None = None, cpu_threads: int | None = None) -> Path:
    """``compare --remeasure``: time the finished runs of ``out`` again and rewrite the reports; trains nothing.

    Raises:
        FileNotFoundError: ``out`` holds no sweep (no ``sweep.json``).
        ValueError: It holds no finished run to time.
        RecordError: A malformed record.
    """
    out = Path(out).expanduser().resolve()
    settings = SweepSettings.read(out)
    if settings is None:
        raise FileNotFoundError(f"no compare sweep in {out} ({SWEEP_RECORD} not found); run compare first")
    if not speed_targets(out, settings):
        raise ValueError(
            f"no finished run in {out} to time (none has an ok record with its checkpoint); --remeasure times "
            "trained models only: run the compare command first"
        )
    say = say or (lambda s: None)
    with speed_lock(out):
        rec = measure_speed(out, settings, rounds=latency_repeats, cpu_threads=cpu_threads, say=say)
        rec.write(out)
    say(f"[compare] speed: {out / SPEED_RECORD}")
    write_reports(out, settings, final=True, say=say)
    return out
