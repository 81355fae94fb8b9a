"""Planning a sweep: check every input, resolve the models, settle the settings and list the runs; writes nothing.

`plan_sweep` raises ``ValueError`` / ``FileNotFoundError`` (exit status 2) for any bad argument or input before
anything is written or trained: a bad seed list, a data YAML that is not a mapping with the split to score, train
arguments the sweep sets itself or Ultralytics does not know, a compare folder holding a sweep with other settings,
malformed records in it, and finished runs whose model YAML was edited since (their results belong to the old
file). `commit_plan` then writes ``sweep.json`` (under a lock, so concurrent processes agree on one sweep).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yolo_attn.compare.models import ModelSpec, default_baseline, find_models_dir, is_named_set, resolve_models
from yolo_attn.compare.presets import PRESETS
from yolo_attn.compare.records import Fingerprint, RunRecord, SweepSettings, now_iso
from yolo_attn.metrics import metric as metric_spec

__all__ = [
    "RESERVED_TRAIN_ARGS",
    "PlannedRun",
    "SweepPlan",
    "commit_plan",
    "file_sha256",
    "parse_seeds",
    "plan_sweep",
    "stale_runs",
]

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
    """``"0,1,2"``, ``"0-2"``, ``3`` (one seed, 3) or ``[0, 1, 2]`` -> ``[0, 1, 2]`` (order kept, duplicates dropped).

    Raises:
        ValueError: Not a list of non-negative integers or ranges (``--seeds abc``, ``2-0``, ``-1``, ``1.5``).
    """
    valid = "use non-negative integers and ranges, e.g. 0,1,2 or 0-2"
    if isinstance(seeds, bool):
        raise ValueError(f"seeds {seeds!r}: not a seed list; {valid}")
    if isinstance(seeds, int):
        out = [seeds]
    elif isinstance(seeds, str):
        out = []
        for part in (p.strip() for p in seeds.split(",")):
            a, dash, b = part.partition("-")
            if not (a.strip().isdigit() and (not dash or b.strip().isdigit())):
                raise ValueError(f"seeds {seeds!r}: {part!r} is not a seed or a range; {valid}")
            lo, hi = int(a), int(b) if dash else int(a)
            if hi < lo:
                raise ValueError(f"seeds {seeds!r}: the range {part!r} is empty (it counts down); {valid}")
            out += list(range(lo, hi + 1))
    else:
        try:
            items = list(seeds)
        except TypeError:
            raise ValueError(f"seeds {seeds!r}: not a seed list; {valid}") from None
        out = []
        for s in items:
            if isinstance(s, bool) or not isinstance(s, int):
                raise ValueError(f"seeds {seeds!r}: {s!r} is not an integer; {valid}")
            out.append(s)
    if not out:
        raise ValueError(f"no seeds given; {valid}")
    bad = [s for s in out if s < 0]
    if bad:
        raise ValueError(f"seeds {seeds!r}: {bad[0]} is negative; {valid}")
    return list(dict.fromkeys(out))


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


def _check_train_arg_keys(train_args: dict) -> None:
    """Unknown Ultralytics train arguments would fail every run after its start: refuse them now."""
    from yolo_attn.integration.internals import default_cfg_keys

    valid = default_cfg_keys()
    unknown = sorted(k for k in train_args if k not in valid)
    if unknown:
        raise ValueError(
            f"unknown Ultralytics train argument(s) {', '.join(map(repr, unknown))}; see `yolo cfg` for the valid "
            "ones (e.g. optimizer, lr0, momentum, weight_decay, mosaic)"
        )


def settle(epochs, imgsz, batch, val, preset, train_args) -> tuple[dict, dict]:
    """Return (compare settings, Ultralytics train arguments) from defaults < preset < explicit arguments."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choices: {', '.join(PRESETS)}")
    if train_args is not None and not isinstance(train_args, dict):
        raise ValueError(f"train_args must be a dict of Ultralytics train arguments, got {type(train_args).__name__}")
    merged = {**_BASE, **(PRESETS.get(preset) or {})}
    for k, v in (("epochs", epochs), ("imgsz", imgsz), ("batch", batch), ("val", val)):
        if v is not None:
            merged[k] = v
    extra = {k: v for k, v in merged.items() if k not in _BASE}
    bad = sorted(set(train_args or {}) & set(RESERVED_TRAIN_ARGS))
    if bad:
        raise ValueError(f"train_args may not set {', '.join(bad)}: the sweep sets them (use its own arguments)")
    _check_train_arg_keys(train_args or {})
    extra.update(train_args or {})
    own = {k: merged[k] for k in _BASE}
    for k in ("epochs", "imgsz", "batch"):
        if isinstance(own[k], bool) or not isinstance(own[k], int):
            raise ValueError(f"{k} must be an integer, got {own[k]!r}")
    if own["epochs"] < 1 or own["imgsz"] < 32 or own["batch"] < 1:
        raise ValueError(f"need epochs >= 1, imgsz >= 32, batch >= 1; got {own}")
    return own, extra


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


def plan_sweep(
    models: str | Sequence[str],
    data: str | Path,
    out: str | Path,
    *,
    epochs: int | None = None,
    imgsz: int | None = None,
    batch: int | None = None,
    seeds: int | str | Iterable[int] = (0,),
    device: str | int | None = None,
    devices: list[str] | None = None,
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
    rerun_changed: bool = False,
) -> SweepPlan:
    """Check every argument and the compare folder, and return the plan. Writes nothing.

    Raises:
        ValueError, FileNotFoundError: Bad arguments or input (see the module docstring).
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    data = Path(data).expanduser().resolve()
    if not data.is_file():
        raise FileNotFoundError(f"dataset YAML not found: {data}")
    metric_spec(metric)  # ValueError naming the valid metrics
    if weights not in ("last", "best"):
        raise ValueError(f"weights must be 'last' or 'best', got {weights!r}")
    for name, v, lo in (
        ("workers", workers, 0),
        ("latency_repeats", latency_repeats, 3),
        ("latency_warmup", latency_warmup, 0),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if cpu_threads is not None and (
        isinstance(cpu_threads, bool) or not isinstance(cpu_threads, int) or cpu_threads < 1
    ):
        raise ValueError(f"cpu_threads must be an integer >= 1, got {cpu_threads!r}")
    seed_list = parse_seeds(seeds)
    split = data_split(data, split)
    own, extra = settle(epochs, imgsz, batch, val, preset, train_args)
    entries = [models] if isinstance(models, str) else list(models)
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
    base_label = default_baseline(specs, baseline)
    fingerprint = Fingerprint(
        data=str(data),
        split=split,
        epochs=int(own["epochs"]),
        imgsz=int(own["imgsz"]),
        batch=int(own["batch"]),
        weights=weights,
        train_args={k: extra[k] for k in sorted(extra) if k not in _NOT_FINGERPRINTED},
    )
    prev = SweepSettings.read(out)  # RecordError (a ValueError) on a malformed sweep.json
    if prev is not None:
        _check_same(out, prev.fingerprint, fingerprint)
    settings = SweepSettings(
        fingerprint=fingerprint,
        models=specs,
        seeds=seed_list,
        baseline=base_label,
        metric=metric,
        train_args=extra,
        val=bool(own["val"]),
        preset=preset,
        device=None if device is None else str(device),
        devices=list(devices) if devices else None,
        workers=int(workers),
        cpu_threads=cpu_threads,
        latency_repeats=int(latency_repeats),
        latency_warmup=int(latency_warmup),
        resume_runs=bool(resume_runs),
        retry_failed=bool(retry_failed),
        plots=bool(plots),
        created=prev.created if prev is not None else now_iso(),
        updated=now_iso(),
    )
    runs = planned_runs(out, settings)
    for r in runs:  # every record must be readable now, not halfway through the sweep
        RunRecord.read(r.run_dir)
    stale = stale_runs(runs)
    if stale and not rerun_changed:
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


@contextlib.contextmanager
def sweep_lock(out: Path):
    """A short exclusive lock on the compare folder's planning (``.sweep.lock``): check and write sweep.json."""
    from filelock import FileLock

    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".sweep.lock"), timeout=120):
        yield


def commit_plan(plan: SweepPlan) -> SweepSettings:
    """Write the plan's ``sweep.json`` (and the zoo's YAMLs when a named set needs them), under the folder's lock.

    A process that planned at the same moment as another with other settings gets the same ``ValueError`` as if it
    had started later. The settings of the last call are kept (device, seeds, models: not fingerprinted).
    """
    out = plan.out
    with sweep_lock(out):
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
