"""Planning a sweep: check every input, resolve the models, settle the settings and list the runs; writes nothing.

`plan_sweep` raises ``ValueError`` / ``FileNotFoundError`` (exit status 2) for any bad argument or input before
anything is written or trained: a bad seed list, a data YAML that is not a mapping with the split to score, train
arguments the sweep sets itself or Ultralytics does not know, a compare folder holding a sweep with other settings,
malformed records in it, and finished runs whose model YAML was edited since (their results belong to the old
file). The values themselves were checked when the `SweepConfig` was built. `commit_plan` then writes ``sweep.json``
(the caller holds the folder's lock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yolo_attn.compare.config import SweepConfig, settle
from yolo_attn.compare.models import ModelSpec, default_baseline, find_models_dir, is_named_set, resolve_models
from yolo_attn.compare.records import Fingerprint, RunRecord, SweepSettings, now_iso

__all__ = [
    "PlannedRun",
    "SweepPlan",
    "commit_plan",
    "file_sha256",
    "plan_sweep",
    "stale_runs",
]

# SweepConfig fields sweep.json keeps as given (not fingerprinted).
_FROM_CONFIG = ("preset", "device", "workers", "cpu_threads", "latency_repeats", "latency_warmup",
                "resume_runs", "resamples", "retry_failed", "plots")  # fmt: skip
# Settings that do not change a run's result; a resumed sweep may change them.
_NOT_FINGERPRINTED = ("device", "workers", "plots", "verbose")


def read_data_yaml(data: Path) -> dict:
    """Read a dataset YAML as a mapping; ``ValueError`` naming the file when it is invalid YAML, empty or not a
    mapping."""
    import yaml

    try:
        d = yaml.safe_load(data.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"dataset YAML {data} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise ValueError(f"dataset YAML {data} is not valid YAML: {' '.join(str(e).split())}") from None
    if d is None:
        raise ValueError(f"dataset YAML {data} is empty; it needs path, train, val (and test) and names")
    if not isinstance(d, dict):
        raise ValueError(
            f"dataset YAML {data} holds a {type(d).__name__}, not a mapping; it needs keys path, train, val "
            "(and test) and names"
        )
    return d


def data_split(data: Path, split: str | None) -> str:
    """The split to score: ``split`` (which the dataset must have), else ``test`` when it has one, else ``val``."""
    d = read_data_yaml(data)
    if split is None:
        split = "test" if d.get("test") else "val"
    if not d.get(split):
        have = [k for k in ("train", "val", "test") if d.get(k)]
        raise ValueError(f"the dataset {data} has no {split!r} split (it has: {', '.join(have) or 'none'})")
    if not d.get("names"):
        raise ValueError(f"the dataset {data} has no class names ('names')")
    return split


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes ("" when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class PlannedRun:
    """One (model, seed) of the sweep."""

    spec: ModelSpec
    seed: int
    index: int  # 1-based position in sweep order
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.spec.label} seed {self.seed}"


@dataclass
class SweepPlan:
    """What a sweep will do, settled before anything is written."""

    out: Path
    settings: SweepSettings
    runs: list[PlannedRun]
    write_zoo: Path | None = None  # named sets without a cfg/models: the zoo is written here first
    stale: list[tuple[PlannedRun, RunRecord]] = field(default_factory=list)  # edited YAMLs (rerun_changed)


def run_dir_of(out: Path, label: str, seed: int) -> Path:
    return out / "runs" / label / f"seed{seed}"


def planned_runs(out: Path, settings: SweepSettings) -> list[PlannedRun]:
    return [
        PlannedRun(spec, seed, i, run_dir_of(out, spec.label, seed))
        for i, (spec, seed) in enumerate(settings.runs(), 1)
    ]


def stale_runs(runs: Sequence[PlannedRun]) -> list[tuple[PlannedRun, RunRecord]]:
    """Finished ok runs whose model YAML changed since they were trained (the record's hash differs)."""
    out = []
    for r in runs:
        rec = RunRecord.read(r.run_dir)
        if rec is None or not rec.ok or not r.spec.file or not rec.yaml_sha256:
            continue
        now = file_sha256(r.spec.file)
        if now and now != rec.yaml_sha256:
            out.append((r, rec))
    return out


def stale_message(stale: Sequence[tuple[PlannedRun, RunRecord]]) -> str:
    lines = [
        f"  {r.name}: {r.spec.file} has sha256 {file_sha256(r.spec.file)[:12]}…, the run was trained from "
        f"{rec.yaml_sha256[:12]}… ({r.run_dir})"
        for r, rec in stale
    ]
    return (
        f"{len(stale)} finished run(s) were trained from a model YAML that has been edited since; their results "
        "belong to the old file, not to the current one:\n"
        + "\n".join(lines)
        + "\nTo train them again with the edited file, add --rerun-changed (compare(..., rerun_changed=True)): the old "
        "run folders are kept beside the new ones as seed<k>.stale-<hash>. Or restore the old file, or use another "
        "--out."
    )


def plan_sweep(cfg: SweepConfig) -> SweepPlan:
    """Check the inputs ``cfg`` names (data, models, the compare folder) and return the plan. Writes nothing.

    Raises:
        ValueError, FileNotFoundError: Bad input (see the module docstring).
    """
    out = Path(cfg.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if cfg.data is None or not cfg.models:
        missing = [o for o, v in (("--models", cfg.models), ("--data", cfg.data)) if not v]
        raise ValueError(f"{' and '.join(missing)} required (only --report-only and --remeasure work without)")
    data = Path(cfg.data).expanduser().resolve()
    if not data.is_file():
        raise FileNotFoundError(f"dataset YAML not found: {data}")
    split = data_split(data, cfg.split)
    own, extra = settle(cfg)
    entries = list(cfg.models)
    write_zoo = None
    models_dir = None
    if any(is_named_set(e) for e in entries) and find_models_dir() is None:
        write_zoo = models_dir = out / "models"
        if not models_dir.is_dir():  # resolve from a temporary copy of the zoo; written for real by commit_plan
            import tempfile

            from yolo_attn import zoo

            models_dir = Path(tempfile.mkdtemp(prefix="yolo_attn_zoo_")) / "models"
            zoo.write(models_dir)
    try:
        specs = resolve_models(entries, models_dir)
    finally:
        if write_zoo is not None and models_dir != write_zoo:
            import shutil

            shutil.rmtree(models_dir.parent, ignore_errors=True)
    if write_zoo is not None and models_dir != write_zoo:
        specs = [_moved(s, models_dir, write_zoo) for s in specs]
    base_label = default_baseline(specs, cfg.baseline)
    fingerprint = Fingerprint(
        data=str(data),
        split=split,
        epochs=int(own["epochs"]),
        imgsz=int(own["imgsz"]),
        batch=int(own["batch"]),
        weights=cfg.weights,
        train_args={k: extra[k] for k in sorted(extra) if k not in _NOT_FINGERPRINTED},
    )
    prev = SweepSettings.read(out)  # RecordError (a ValueError) on a malformed sweep.json
    if prev is not None:
        _check_same(out, prev.fingerprint, fingerprint)
    settings = SweepSettings(
        fingerprint=fingerprint,
        models=specs,
        seeds=list(cfg.seeds),
        baseline=base_label,
        metric=cfg.metric,
        train_args=extra,
        val=bool(own["val"]),
        **cfg.model_dump(include=set(_FROM_CONFIG)),
        devices=cfg.devices.split(",") if cfg.devices else None,
        created=prev.created if prev is not None else now_iso(),
        updated=now_iso(),
    )
    runs = planned_runs(out, settings)
    for r in runs:  # every record must be readable now, not halfway through the sweep
        RunRecord.read(r.run_dir)
    stale = stale_runs(runs)
    if stale and not cfg.rerun_changed:
        raise ValueError(stale_message(stale))
    return SweepPlan(out=out, settings=settings, runs=runs, write_zoo=write_zoo, stale=stale)


def _moved(spec: ModelSpec, src: Path, dst: Path) -> ModelSpec:
    def move(p: str) -> str:
        return str(dst / Path(p).relative_to(src)) if p and Path(p).is_relative_to(src) else p

    return ModelSpec(spec.label, move(spec.model), move(spec.file), spec.error)


def _check_same(out: Path, old: Fingerprint, new: Fingerprint) -> None:
    diff = old.diff(new)
    if diff:
        raise ValueError(
            f"{out} holds a sweep with other settings; resuming it would mix incomparable runs:\n"
            + "\n".join(diff)
            + "\nUse another --out, or the earlier settings to resume it."
        )


def commit_plan(plan: SweepPlan) -> SweepSettings:
    """Write the plan's ``sweep.json`` (and the zoo's YAMLs when a named set needs them); the caller holds the
    folder's lock. The settings of the last call are kept (device, seeds, models: not fingerprinted)."""
    out = plan.out
    prev = SweepSettings.read(out)
    if prev is not None:
        _check_same(out, prev.fingerprint, plan.settings.fingerprint)
        plan.settings.created = prev.created
    if plan.write_zoo is not None and not plan.write_zoo.is_dir():
        from yolo_attn import zoo

        zoo.write(plan.write_zoo)
    plan.settings.updated = now_iso()
    plan.settings.write(out)
    return plan.settings
