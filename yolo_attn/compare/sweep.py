"""The sweep: every (model, seed) trained and scored in its own worker process, resumable, on one or many devices,
by one or many processes, locally or on a Slurm cluster.

``compare()`` is three steps:

1. **planning** (``plan.py``): check every input and the compare folder, resolve the models, settle the settings and
   the runs; bad input raises before anything is written (exit status 2);
2. **running** (``executors.py``, ``slurm.py``): worker processes train the runs, on the ``devices`` slots of this
   machine (a thread pool) or as a Slurm job array (one array task per run);
3. **timing** (``speed.py``): once every run is finished, all trained models are timed interleaved in one process
   (locally this process; on Slurm a job that depends on the array, on a compute node) (rounds of A, B, C, ..., reversed every other round) into ``speed.json``;
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

One ``compare`` process works on an ``out`` at a time (a second one is refused: ``.compare.lock``). Several hosts
sharing one folder without Slurm is not supported; on a cluster, ``executor="slurm"`` gives each run to one array
task, and Slurm requeues it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from yolo_attn.compare.config import RESERVED_TRAIN_ARGS, SlurmOptions, SweepConfig, parse_seeds
from yolo_attn.compare.executors import folder_lock, parse_devices, run_local
from yolo_attn.compare.plan import commit_plan, plan_sweep
from yolo_attn.compare.records import SPEED_RECORD, SWEEP_RECORD, SweepSettings, fmt_duration
from yolo_attn.compare.report import report_only, write_reports
from yolo_attn.compare.speed import ensure_speed, measure_speed, speed_lock, speed_targets

__all__ = ["RESERVED_TRAIN_ARGS", "SweepConfig", "compare", "parse_seeds", "remeasure", "report_only", "sweep_status"]


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
    models: str | Sequence[str] | None = None,
    data: str | Path | None = None,
    config: SweepConfig | None = None,
    *,
    log=print,
    **settings,
) -> Path:
    """Train and score every model under the same settings and seeds; write results.csv, summary.md and plots.

    Args:
        models: Model YAML paths, globs and named sets (``may``, ``may-demo``, ``mobilenet-neck``, ``yolov8s``, ...).
        data: Dataset YAML (e.g. the ``data.yaml`` written by ``yolo-attn voc prepare``).
        config: A `SweepConfig` holding every setting (``models``/``data``/``settings`` then override its fields).
        log: Where progress lines go (``print``; None for silence).
        **settings: `SweepConfig` fields:

            - ``out``: the compare folder (resumable: the same call again continues an interrupted sweep);
            - ``epochs``, ``imgsz``, ``batch``: training settings (default: the preset's, else 100 / 640 / 16);
            - ``seeds``: one run per model and seed (``"0,1,2"``, ``"0-2"`` or a list);
            - ``device``: Ultralytics device of the one slot (``cpu``, ``0``, ``0,1`` for DDP); ``devices``: several
              trainings at once, one per slot (``"0,1,2,3"``, ``"cpu,cpu"``, ``"0,0"``), each worker seeing only its
              GPU; results equal the sequential sweep's;
            - ``baseline``: the model the Δ columns refer to; ``workers``: dataloader workers per run;
            - ``preset``: ``"demo"`` or ``"may-paper"`` (explicit settings override it); ``metric``: the primary
              metric (a key of ``yolo_attn.metrics.METRICS``); ``weights``: ``"last"`` or ``"best"``; ``split``;
              ``val``; ``train_args``: further Ultralytics train arguments for every run;
            - ``latency_repeats``, ``latency_warmup``: rounds of the speed step; ``cpu_threads``: torch threads for
              CPU training and the CPU latency (default 1 there);
            - ``retry_failed``, ``resume_runs``, ``rerun_changed``, ``plots``, ``progress_every``;
            - ``executor``: ``"local"`` or ``"slurm"``; ``slurm``: a dict of `SlurmOptions` (``partition``,
              ``gpus_per_run``, ``cpus_per_run``, ``time``, ``args``, ``max_tasks``); ``wait``: Slurm: False returns
              after submitting (the job ids are printed and kept in ``<out>/slurm/jobs.json``).

    Returns:
        (Path): The compare folder. ``sweep_status(out)`` counts its ok / failed / pending runs.

    Raises:
        ValueError, FileNotFoundError: Bad arguments or input, found before anything is written or trained;
            FileExistsError: another compare process works on ``out``.
        KeyboardInterrupt: Ctrl-C or SIGTERM; every run stays resumable.
        OSError: The disk filled up or another system error while working (runs finished so far are kept).
    """
    given = {k: v for k, v in (("models", models), ("data", data)) if v is not None}
    base = config.model_dump(exclude_unset=True) if config is not None else {}
    cfg = SweepConfig.build(**{**base, **given, **settings})
    say = log or (lambda *a, **k: None)
    t_start = time.time()
    slurm_opts = (cfg.slurm or SlurmOptions()).check() if cfg.executor == "slurm" else None  # before any write
    slots = parse_devices(cfg.devices, cfg.device) if cfg.executor == "local" else None
    plan = plan_sweep(cfg)
    with folder_lock(plan.out):  # one compare process per --out (FileExistsError, exit 2, for a second one)
        settings = commit_plan(plan)
        out = plan.out
        say(
            f"[compare] {len(plan.runs)} run(s): {len(settings.models)} model(s) x {len(settings.seeds)} seed(s) -> {out}"
        )

        def report(final: bool, quiet: bool = True) -> None:
            write_reports(out, SweepSettings.read(out) or settings, final=final, say=None if quiet else say)

        if cfg.executor == "slurm":
            from yolo_attn.compare.slurm import run_on_slurm

            finished = run_on_slurm(out, settings, slurm_opts, say=say, wait=cfg.wait, rerun_changed=cfg.rerun_changed,
                                    progress_every=cfg.progress_every)  # fmt: skip
            if cfg.wait:
                report(finished, quiet=False)
            return out
        if len(slots) > 1:
            say(f"[compare] {len(slots)} slots: {', '.join(s.name for s in slots)} (one run each at a time)")
        counts = run_local(out, settings, slots, say=say, rerun_changed=cfg.rerun_changed,
                           progress_every=cfg.progress_every, report=report)  # fmt: skip
        if counts["pending"] == 0:  # every run finished: time all models together, once (not per run)
            ensure_speed(out, SweepSettings.read(out) or settings, say=say)
        report(counts["pending"] == 0, quiet=False)
    say(f"[compare] done in {fmt_duration(time.time() - t_start)}: {out}")
    return out


def remeasure(out: str | Path, say=print, **given) -> Path:
    """``compare --remeasure``: time the finished runs of ``out`` again and rewrite the reports; trains nothing.

    ``given`` may hold ``latency_repeats`` and ``cpu_threads`` (used) and any other `SweepConfig` setting, which must
    then equal the sweep's (a remeasure times the sweep as it was trained).

    Raises:
        FileNotFoundError: ``out`` holds no sweep (no ``sweep.json``).
        ValueError: A setting differs from the sweep's, or no finished run to time.
        RecordError: A malformed record.
    """
    out = Path(out).expanduser().resolve()
    settings = SweepSettings.read(out)
    if settings is None:
        raise FileNotFoundError(f"no compare sweep in {out} ({SWEEP_RECORD} not found); run compare first")
    given = {k: v for k, v in given.items() if v is not None}
    cfg = SweepConfig.build(**{k: v for k, v in given.items() if k in ("latency_repeats", "cpu_threads")})
    diff = _differences(given, settings)
    if diff:
        raise ValueError(
            f"--remeasure times the sweep in {out} as it was trained, but these settings differ from its "
            f"{SWEEP_RECORD}:\n" + "\n".join(diff) + "\nleave them out (--remeasure takes --out, --latency-repeats "
            "and --cpu-threads), or use another --out"
        )
    if not speed_targets(out, settings):
        raise ValueError(
            f"no finished run in {out} to time (none has an ok record with its checkpoint); --remeasure times "
            "trained models only: run the compare command first"
        )
    say = say or (lambda s: None)
    with speed_lock(out):
        rounds = cfg.latency_repeats if "latency_repeats" in given else None
        rec = measure_speed(out, settings, rounds=rounds, cpu_threads=cfg.cpu_threads, say=say)
        rec.write(out)
    say(f"[compare] speed: {out / SPEED_RECORD}")
    write_reports(out, settings, final=True, say=say)
    return out


def _differences(given: dict, settings: SweepSettings) -> list[str]:
    """Lines ``  key: sweep X, given Y`` for every setting given that differs from the sweep's."""
    fp = settings.fingerprint
    have = {"epochs": fp.epochs, "imgsz": fp.imgsz, "batch": fp.batch, "split": fp.split, "preset": settings.preset}
    diff = [f"  {k}: sweep {have[k]!r}, given {given[k]!r}" for k in have if k in given and given[k] != have[k]]
    if "data" in given and Path(given["data"]).expanduser().resolve() != Path(fp.data).expanduser().resolve():
        diff.append(f"  data: sweep {fp.data!r}, given {given['data']!r}")
    if "seeds" in given and parse_seeds(given["seeds"]) != list(settings.seeds):
        diff.append(f"  seeds: sweep {settings.seeds}, given {parse_seeds(given['seeds'])}")
    if given.get("models"):
        from yolo_attn.compare.models import resolve_models

        labels, had = [m.label for m in resolve_models(given["models"])], [m.label for m in settings.models]
        if labels != had:
            diff.append(f"  models: sweep {had}, given {labels}")
    return diff
