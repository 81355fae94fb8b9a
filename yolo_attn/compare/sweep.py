"""The sweep: every (model, seed) trained and scored in its own worker process, resumable, with progress.

Runs go seed by seed (all models with the first seed, then all with the next), so an interrupted sweep already
holds a full comparison for its first seeds. Each run lives in ``<out>/runs/<model>/seed<k>`` and is finished when
its completion record ``run.json`` exists (written last, atomically, by the worker). On a new call with the same
``out``:

- runs whose record says ``ok`` are skipped and never touched again;
- a run interrupted mid-training resumes from its epoch checkpoint (``train/weights/last.pt``; Ultralytics resume),
  one interrupted after training is only scored again (``trained.json``);
- runs whose record says ``failed`` are retried from scratch (``retry_failed=False`` keeps the failure instead);
- the settings that change results (data, split, epochs, imgsz, batch, scored weights, training hyperparameters)
  must match ``sweep.json``; another device, more seeds or more models are fine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from yolo_attn.compare.models import ModelSpec, default_baseline, find_models_dir, is_named_set, resolve_models
from yolo_attn.compare.presets import PRESETS
from yolo_attn.compare.records import RUN_RECORD, SWEEP_RECORD, fmt_duration, read_json, write_json
from yolo_attn.metrics import METRICS
from yolo_attn.metrics import metric as metric_spec

__all__ = ["RESERVED_TRAIN_ARGS", "compare", "parse_seeds", "sweep_status"]

#: Train arguments the sweep sets itself; ``train_args`` may not override them.
RESERVED_TRAIN_ARGS = (
    "model",
    "data",
    "seed",
    "project",
    "name",
    "exist_ok",
    "resume",
    "epochs",
    "imgsz",
    "batch",
    "device",
    "workers",
    "val",
)
_BASE = {"epochs": 100, "imgsz": 640, "batch": 16, "val": True}  # Ultralytics' own defaults
# Settings that do not change a run's result; a resumed sweep may change them.
_NOT_FINGERPRINTED = ("device", "workers", "plots", "verbose")


def parse_seeds(seeds: int | str | Iterable[int]) -> list[int]:
    """``"0,1,2"``, ``"0-2"``, ``3`` (one seed, 3) or ``[0, 1, 2]`` -> ``[0, 1, 2]`` (order kept, duplicates dropped)."""
    if isinstance(seeds, int):
        out = [seeds]
    elif isinstance(seeds, str):
        out = []
        for part in (p.strip() for p in seeds.split(",") if p.strip()):
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else part[1:].split("-", 1)
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    else:
        out = [int(s) for s in seeds]
    if not out:
        raise ValueError("no seeds given")
    return list(dict.fromkeys(out))


def _data_split(data: Path, split: str | None) -> str:
    import yaml

    d = yaml.safe_load(data.read_text(encoding="utf-8")) or {}
    if split is None:
        return "test" if d.get("test") else "val"
    if not d.get(split):
        raise ValueError(f"the dataset {data} has no {split!r} split")
    return split


def _settings(epochs, imgsz, batch, val, preset, train_args) -> tuple[dict, dict]:
    """Return (compare settings, Ultralytics train arguments) from defaults < preset < explicit arguments."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choices: {', '.join(PRESETS)}")
    merged = {**_BASE, **(PRESETS.get(preset) or {})}
    for k, v in (("epochs", epochs), ("imgsz", imgsz), ("batch", batch), ("val", val)):
        if v is not None:
            merged[k] = v
    extra = {k: v for k, v in merged.items() if k not in _BASE}
    bad = sorted(set(train_args or {}) & set(RESERVED_TRAIN_ARGS))
    if bad:
        raise ValueError(f"train_args may not set {', '.join(bad)}: the sweep sets them (use its own arguments)")
    extra.update(train_args or {})
    own = {k: merged[k] for k in _BASE}
    if int(own["epochs"]) < 1 or int(own["imgsz"]) < 32 or int(own["batch"]) < 1:
        raise ValueError(f"need epochs >= 1, imgsz >= 32, batch >= 1; got {own}")
    return own, extra


def _fingerprint(data: Path, split: str, own: dict, extra: dict, weights: str) -> dict:
    return {
        "data": str(data),
        "split": split,
        "epochs": int(own["epochs"]),
        "imgsz": int(own["imgsz"]),
        "batch": int(own["batch"]),
        "weights": weights,
        "train_args": {k: extra[k] for k in sorted(extra) if k not in _NOT_FINGERPRINTED},
    }


def _check_sweep_record(out: Path, fingerprint: dict) -> None:
    rec = read_json(out / SWEEP_RECORD)
    if rec is None:
        return
    old = rec.get("fingerprint", {})
    diff = [k for k in sorted(set(old) | set(fingerprint)) if old.get(k) != fingerprint.get(k)]
    if diff:
        lines = [f"  {k}: earlier {old.get(k)!r}, now {fingerprint.get(k)!r}" for k in diff]
        raise ValueError(
            f"{out} holds a sweep with other settings; resuming it would mix incomparable runs:\n"
            + "\n".join(lines)
            + "\nUse another --out, or the earlier settings to resume it."
        )


@contextlib.contextmanager
def _lock(out: Path):
    """Hold an exclusive lock on ``out`` for the sweep (released by the OS if the process dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    f = open(out / ".lock", "a+")  # noqa: SIM115
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is running in {out}; wait for it or use another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield
    finally:
        f.close()


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _failed_record(spec: ModelSpec, seed: int, run_dir: Path, fingerprint: dict, error: str, tb: str = "") -> dict:
    from yolo_attn.compare.measure import versions

    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "status": "failed",
        "label": spec.label,
        "model": spec.model,
        "file": spec.file,
        "seed": seed,
        "run_dir": str(run_dir),
        "fingerprint": fingerprint,
        "versions": versions(),
        "started": now,
        "finished": now,
        "duration_s": 0.0,
        "error": error,
        "traceback": tb,
    }


def _run_worker(spec_file: Path, env: dict) -> int:
    """Start the worker for one run and wait for it; on interruption stop it and re-raise."""
    cmd = [sys.executable, "-m", "yolo_attn.compare", "_worker", str(spec_file)]
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except BaseException:
        with contextlib.suppress(Exception):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def sweep_status(out: str | Path) -> dict[str, int]:
    """Count the runs of the last sweep in ``out`` by status (``ok``, ``failed``, ``pending``), from results.csv."""
    import csv

    counts = {"ok": 0, "failed": 0, "pending": 0}
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
    latency_warmup: int = 10,
    cpu_threads: int | None = None,
    retry_failed: bool = True,
    resume_runs: bool = True,
    plots: bool = True,
    log=print,
) -> Path:
    """Train and score every model under the same settings and seeds; write results.csv, summary.md and plots.

    Args:
        models: Model YAML paths, globs and named sets (``may``, ``may-demo``, ``mobilenet-neck``, ``yolov8s``, ...).
        data: Dataset YAML (e.g. the ``data.yaml`` written by ``yolo-attn voc prepare``).
        epochs, imgsz, batch: Training settings (default: the preset's, else Ultralytics' 100 / 640 / 16).
        seeds: One training run per model and seed (``"0,1,2"``, ``"0-2"`` or a list).
        device: Ultralytics device (``cpu``, ``0``, ...); default Ultralytics' choice (the first GPU if any).
        out: The compare folder (resumable: rerun the same call to continue an interrupted sweep).
        baseline: Model the summary's Δ columns refer to (label, file name or path); default the ``*-none`` model,
            else a stock Ultralytics model, else the first model.
        workers: Dataloader workers per run (0 loads in the training process).
        preset: ``"demo"`` or ``"may-paper"`` (see ``yolo_attn.compare.presets``); explicit arguments override it.
        metric: The primary metric, ranked on (one of ``METRICS``); default ``voc07_map50``.
        weights: Checkpoint scored, ``"last"`` (default: no selection on the evaluation split) or ``"best"``.
        split: Split scored; default ``test`` when the dataset has one, else ``val``.
        val: Validate after every epoch (Ultralytics' ``val``; default True, the demo preset turns it off).
        train_args: Further Ultralytics train arguments, the same for every run (e.g. ``{"optimizer": "SGD"}``).
        latency_repeats, latency_warmup: Timed and warm-up forward passes of the latency measurement.
        cpu_threads: torch threads for CPU training and the CPU latency (default: Ultralytics' choice, the number of
            cores minus one, which leaves a core to dataloader workers; recorded either way).
        retry_failed: Retry runs recorded as failed by an earlier call (default True).
        resume_runs: Resume a run interrupted mid-training from its last epoch checkpoint (default True); False
            trains it again from scratch.
        plots: Write the PNG plots.
        log: Where progress lines go (``print``; None for silence).

    Returns:
        (Path): The compare folder. ``sweep_status(out)`` counts its ok / failed runs.

    Raises:
        ValueError: Bad settings, unknown models set, or ``out`` holding a sweep with other settings.
    """
    say = log or (lambda *a, **k: None)
    t_start = time.time()
    out = Path(out).resolve()
    data = Path(data).expanduser().resolve()
    if not data.is_file():
        raise FileNotFoundError(f"dataset YAML not found: {data}")
    metric_spec(metric)  # ValueError naming the valid metrics
    if weights not in ("last", "best"):
        raise ValueError(f"weights must be 'last' or 'best', got {weights!r}")
    seed_list = parse_seeds(seeds)
    split = _data_split(data, split)
    own, extra = _settings(epochs, imgsz, batch, val, preset, train_args)
    out.mkdir(parents=True, exist_ok=True)
    entries = [models] if isinstance(models, str) else list(models)
    models_dir = None
    if any(is_named_set(e) for e in entries) and find_models_dir() is None:
        from yolo_attn import zoo

        models_dir = out / "models"
        zoo.write(models_dir)
    specs = resolve_models(entries, models_dir)
    base_label = default_baseline(specs, baseline)
    fingerprint = _fingerprint(data, split, own, extra, weights)

    with _lock(out):
        _check_sweep_record(out, fingerprint)
        prev = read_json(out / SWEEP_RECORD) or {}
        write_json(
            out / SWEEP_RECORD,
            {
                "fingerprint": fingerprint,
                "created": prev.get("created", time.strftime("%Y-%m-%dT%H:%M:%S")),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "models": [{"label": s.label, "model": s.model, "file": s.file} for s in specs],
                "seeds": seed_list,
                "baseline": base_label,
                "metric": metric,
                "preset": preset,
                "device": None if device is None else str(device),
                "workers": workers,
            },
        )
        report_ctx = {
            "specs": specs,
            "seeds": seed_list,
            "baseline": base_label,
            "metric": metric,
            "settings": {**fingerprint, "preset": preset, "device": device, "val": own["val"]},
            "plots": plots,
        }
        runs = [(s, seed) for seed in seed_list for s in specs]
        total = len(runs)

        def run_dir_of(spec: ModelSpec, seed: int) -> Path:
            return out / "runs" / spec.label / f"seed{seed}"

        def finished(spec: ModelSpec, seed: int) -> bool:
            rec = read_json(run_dir_of(spec, seed) / RUN_RECORD)
            return bool(rec) and (rec.get("status") == "ok" or (rec.get("status") == "failed" and not retry_failed))

        todo = [(s, seed) for s, seed in runs if not finished(s, seed)]
        say(f"[compare] {total} run(s): {len(specs)} model(s) x {len(seed_list)} seed(s) -> {out}")
        if len(todo) < total:
            say(f"[compare] {total - len(todo)} run(s) already complete (kept as they are), {len(todo)} to run")
        env = {**os.environ}
        env.setdefault("YOLO_OFFLINE", "1")
        env.setdefault("YOLO_AUTOINSTALL", "False")
        env.setdefault("MPLBACKEND", "Agg")

        durations = [d for d in (_duration(run_dir_of(s, seed)) for s, seed in runs) if d]
        eval_times = [e for e in (_eval_time(run_dir_of(s, seed)) for s, seed in runs) if e]
        old_handler = None
        if hasattr(signal, "SIGTERM") and _in_main_thread():
            old_handler = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            for k, (spec, seed) in enumerate(todo):
                index = runs.index((spec, seed)) + 1
                run_dir = run_dir_of(spec, seed)
                left = len(todo) - k
                mean_run = sum(durations) / len(durations) if durations else None
                eta = mean_run * left if mean_run else None
                say(
                    f"[compare] run {index}/{total}: {spec.label} seed {seed} | {total - left} done, {left} to go | "
                    f"elapsed {fmt_duration(time.time() - t_start)}, ~{fmt_duration(eta)} left"
                )
                rec = read_json(run_dir / RUN_RECORD)
                if rec is not None:  # a failed run being retried: start from nothing
                    shutil.rmtree(run_dir, ignore_errors=True)
                t0 = time.time()
                if spec.error:
                    write_json(run_dir / RUN_RECORD, _failed_record(spec, seed, run_dir, fingerprint, spec.error))
                else:
                    worker_spec = {
                        "label": spec.label,
                        "model": spec.model,
                        "file": spec.file,
                        "seed": seed,
                        "run_dir": str(run_dir),
                        "data": str(data),
                        "split": split,
                        "weights": weights,
                        "metric_keys": list(METRICS),
                        "fingerprint": fingerprint,
                        "resume_run": resume_runs,
                        "train_args": {
                            **extra,
                            "data": str(data),
                            "epochs": int(own["epochs"]),
                            "imgsz": int(own["imgsz"]),
                            "batch": int(own["batch"]),
                            "device": device,
                            "workers": int(workers),
                            "seed": seed,
                            "deterministic": extra.get("deterministic", True),
                            "val": bool(own["val"]),
                            "plots": extra.get("plots", False),
                            "pretrained": extra.get("pretrained", False),
                            "project": str(run_dir),
                            "name": "train",
                            "exist_ok": True,
                        },
                        "latency": {"repeats": latency_repeats, "warmup": latency_warmup},
                        "cpu_threads": cpu_threads,
                        "progress": {
                            "index": index,
                            "total": total,
                            "left_after": left - 1,
                            "sweep_start": t_start,
                            "mean_run_s": mean_run,
                            "mean_eval_s": sum(eval_times) / len(eval_times) if eval_times else None,
                        },
                    }
                    spec_file = write_json(run_dir / "spec.json", worker_spec)
                    code = _run_worker(spec_file, env)
                    if read_json(run_dir / RUN_RECORD) is None:  # the worker died without a record
                        how = f"signal {-code}" if code < 0 else f"exit status {code}"
                        err = f"worker process ended with {how} before writing its record"
                        tail = _log_tail(run_dir / "log.txt")
                        write_json(run_dir / RUN_RECORD, _failed_record(spec, seed, run_dir, fingerprint, err, tail))
                rec = read_json(run_dir / RUN_RECORD) or {}
                took = time.time() - t0
                if rec.get("status") == "ok":
                    durations.append(rec.get("duration_s") or took)
                    if rec.get("eval_time_s"):
                        eval_times.append(rec["eval_time_s"])
                    value = (rec.get("metrics") or {}).get(metric)
                    shown = f"{100 * value:.2f}" if isinstance(value, (int, float)) else "n/a"
                    say(
                        f"[compare] run {index}/{total} {spec.label} seed {seed}: ok in {fmt_duration(took)}, "
                        f"{metric} {shown}"
                    )
                else:
                    say(
                        f"[compare] run {index}/{total} {spec.label} seed {seed}: FAILED in {fmt_duration(took)}: "
                        f"{(rec.get('error') or '?').splitlines()[0]} (log: {run_dir / 'log.txt'})"
                    )
                if k < len(todo) - 1:
                    _report(out, report_ctx, final=False, say=None)
        except (KeyboardInterrupt, _Terminated):
            say("[compare] interrupted; finished runs are kept. Run the same command again to resume.")
            with contextlib.suppress(Exception):
                _report(out, report_ctx, final=False, say=None)
            raise KeyboardInterrupt from None
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
        _report(out, report_ctx, final=True, say=say)
        say(f"[compare] done in {fmt_duration(time.time() - t_start)}: {out}")
    return out


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _duration(run_dir: Path) -> float | None:
    rec = read_json(run_dir / RUN_RECORD)
    return rec.get("duration_s") if rec and rec.get("status") == "ok" else None


def _eval_time(run_dir: Path) -> float | None:
    rec = read_json(run_dir / RUN_RECORD)
    return rec.get("eval_time_s") if rec and rec.get("status") == "ok" else None


def _report(out: Path, ctx: dict, final: bool, say) -> None:
    from yolo_attn.compare.report import write_reports

    write_reports(
        out,
        ctx["specs"],
        ctx["seeds"],
        ctx["baseline"],
        ctx["metric"],
        ctx["settings"],
        plots=ctx["plots"],
        final=final,
        say=say,
    )
