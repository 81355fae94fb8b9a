"""Files of a compare folder: typed, versioned records with one reader and one writer each, and atomic writes.

Layout of ``--out``::

    sweep.json                      SweepSettings: the sweep's settings (checked on resume) and its models and seeds
    speed.json                      SpeedRecord: every model's latency, timed interleaved after the trainings
    results.csv, per_class.csv      one row per model and seed / per model, seed and class
    summary.md                      ranked table (mean ± std over seeds), differences to the baseline, failures
    map_vs_gflops.png, map_vs_latency.png, per_class_ap.png
    runs/<model>/seed<k>/           one run: spec.json (RunSpec), log.txt, progress.json, train/ (Ultralytics),
                                    trained.json, metrics.json, run.json (RunRecord, written last; ok or failed)
    slurm/                          --executor slurm: submitit's job files and task logs, jobs.json (the job ids)
    .compare.lock                   held by the one compare process working on the folder

Every file is written by ``yolo_attn._io`` (a temporary sibling renamed into place): an interrupted write never
leaves a file that looks complete, and a reader never sees a torn one.

Records are pydantic v2 models carrying ``format_version``; every value is checked on read (finite numbers, a metric
in [0, 1], times >= 0, lists of the right length). A file that is not a JSON object, of an unknown version or with a
bad field raises `RecordError` (a ``ValueError``: exit status 2) naming the file, the field, the value and what to do.
Paths inside the compare folder are stored relative to it (a run's checkpoint relative to its run folder), so a moved
or copied folder reports, remeasures and resumes from its own files. Records of format version 2 (absolute paths)
are still read: their paths are made relative on reading.
"""

from __future__ import annotations

import json
import math
import socket
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yolo_attn._io import write_json
from yolo_attn.compare.models import ModelSpec

__all__ = [
    "FORMAT_VERSION",
    "RUN_RECORD",
    "SWEEP_RECORD",
    "TRAINED_RECORD",
    "Fingerprint",
    "Latency",
    "SPEED_FORMAT_VERSION",
    "SPEED_RECORD",
    "RecordError",
    "RunRecord",
    "SpeedDevice",
    "SpeedRecord",
    "SpeedRun",
    "SpeedStats",
    "RunSpec",
    "SweepSettings",
    "TrainStats",
    "fmt_duration",
    "read_json",
]

RUN_RECORD = "run.json"  # per run, written last: the completion record
TRAINED_RECORD = "trained.json"  # per run: training finished (scoring may still be pending)
SWEEP_RECORD = "sweep.json"
RUN_SPEC = "spec.json"  # per run: the worker's job description
PROGRESS = "progress.json"  # per run: the epoch the worker is at (for the sweep's progress lines)
SPEED_RECORD = "speed.json"  # the sweep's interleaved latency measurement (speed.py)
#: Version of sweep.json, spec.json and run.json. Bump it when a field changes meaning or a required one is added.
#: 3: paths relative to the compare folder (2 is read and converted).
FORMAT_VERSION = 3
#: Version of speed.json, on its own: a newer speed format only asks for ``--remeasure``, never for retraining.
#: 2: checkpoint paths relative to the compare folder (1 is read and converted).
SPEED_FORMAT_VERSION = 2


class RecordError(ValueError):
    """A record file that cannot be read as this version's record (not JSON, not an object, another version)."""


def read_json(path: str | Path) -> Any:
    """Read a JSON file, or None when it is missing or not valid JSON (for files that are not records)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fix(path: Path) -> str:
    return f"it was not written by yolo_attn compare (or was edited): move it away, then rerun to redo {path.parent}"


def now_iso(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def _relative(path: str, base: str | Path) -> str:
    """``path`` relative to ``base`` when it lies inside it (records of format version 2 stored absolute paths)."""
    if not path or not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


Num = Annotated[float, Field(allow_inf_nan=False)]
Time = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Frac = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


class Record(BaseModel):
    """A versioned JSON record: `load` checks the file (JSON object, version, every field) and names what is wrong."""

    model_config = ConfigDict(extra="ignore", validate_assignment=False)
    KIND: ClassVar[str] = "record"
    VERSION: ClassVar[int] = FORMAT_VERSION
    format_version: int = FORMAT_VERSION

    @classmethod
    def _migrate(cls, obj: dict, path: Path) -> dict:
        """Convert a record of an older readable version (``VERSION - 1``) to this one."""
        return obj

    @classmethod
    def load(cls, path: str | Path, fix: str = ""):
        """Read ``path``; None when it does not exist. `RecordError` naming the file, the field and the value."""
        path = Path(path)
        fix = fix or _fix(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise RecordError(f"{path}: not a {cls.KIND} (not UTF-8 text); {fix}") from None
        except ValueError as e:
            raise RecordError(f"{path}: not a {cls.KIND} (invalid JSON: {e}); {fix}") from None
        if not isinstance(obj, dict):
            raise RecordError(f"{path}: not a {cls.KIND} (a JSON {type(obj).__name__}, expected an object); {fix}")
        found = obj.get("format_version")
        if found == cls.VERSION - 1 and found > 0:
            obj = {**cls._migrate(obj, path), "format_version": cls.VERSION}
        elif found != cls.VERSION:
            who = "an older yolo_attn" if not isinstance(found, int) or found < cls.VERSION else "a newer yolo_attn"
            raise RecordError(
                f"{path}: a {cls.KIND} of format version {found!r}, written by {who}; this version reads versions "
                f"{cls.VERSION - 1} and {cls.VERSION}. "
                + (
                    fix if fix != _fix(path) else "Use another --out, or the yolo_attn version that wrote it."
                )  # fmt: skip
            )
        try:
            return cls.model_validate(obj)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(map(str, err["loc"])) or "(record)"
            value = "" if err["type"] == "missing" else f" = {err['input']!r:.80}"
            msg = "missing: not a complete record" if err["type"] == "missing" else err["msg"]
            raise RecordError(f"{path}: not a complete {cls.KIND}: field '{where}'{value}: {msg}; {fix}") from None

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.model_dump(mode="json"))


class Fingerprint(BaseModel):
    """The settings that change a run's result; a resumed sweep must have the same (``diff`` says what differs)."""

    model_config = ConfigDict(frozen=True)
    data: str
    split: str
    epochs: Annotated[int, Field(ge=1)]
    imgsz: Annotated[int, Field(ge=1)]
    batch: Annotated[int, Field(ge=1)]
    weights: str
    train_args: dict = Field(default_factory=dict)

    def diff(self, other: Fingerprint) -> list[str]:
        """Lines ``  key: earlier X, now Y`` for every field where ``self`` (earlier) and ``other`` (now) differ."""
        a, b = self.model_dump(), other.model_dump()
        return [f"  {k}: earlier {a[k]!r}, now {b[k]!r}" for k in a if a[k] != b[k]]


class SweepSettings(Record):
    """``sweep.json``: the settled `SweepConfig` of the sweep, with its resolved models and baseline.

    Attributes:
        fingerprint: Settings that change results (checked on resume).
        models: The models, in sweep order (label, what ``YOLO()`` gets, the file read, why unusable).
        seeds, baseline, metric: The seeds in order, the baseline's label, the primary metric.
        train_args: Every extra Ultralytics train argument (fingerprinted or not, e.g. ``plots``).
        val, preset, device, devices, workers, cpu_threads, latency_repeats, latency_warmup, resume_runs,
            retry_failed, plots, resamples: As the last call gave them (not fingerprinted).
        created, updated: When the sweep was first planned and last (re)started.
    """

    KIND: ClassVar[str] = "compare sweep record (sweep.json)"
    fingerprint: Fingerprint
    models: list[ModelSpec]
    seeds: list[Count]
    baseline: str
    metric: str
    train_args: dict = Field(default_factory=dict)
    val: bool = True
    preset: str | None = None
    device: str | None = None
    devices: list[str] | None = None
    workers: Count = 0
    cpu_threads: Annotated[int, Field(ge=1)] | None = None
    latency_repeats: Annotated[int, Field(ge=3)] = 50
    latency_warmup: Count = 10
    resume_runs: bool = True
    retry_failed: bool = True
    plots: bool = True
    resamples: Annotated[int, Field(ge=100)] = 1000
    created: str = ""
    updated: str = ""

    def runs(self) -> list[tuple[ModelSpec, int]]:
        """Every (model, seed) in sweep order: seed by seed, all models with the first seed first."""
        return [(m, s) for s in self.seeds for m in self.models]

    def write(self, out: str | Path) -> Path:
        return self.save(Path(out) / SWEEP_RECORD)

    @classmethod
    def read(cls, out: str | Path) -> SweepSettings | None:
        return cls.load(Path(out) / SWEEP_RECORD)


class Latency(BaseModel):
    """A latency measured by the run's own worker (records written before speed.json; read, no longer written)."""

    median_ms: Time | None = None
    p10_ms: Time | None = None
    p90_ms: Time | None = None
    repeats: int | None = None
    threads: int | None = None
    dtype: str = ""


class TrainStats(BaseModel):
    """How the training went (``trained.json`` without Ultralytics' resolved arguments)."""

    model_config = ConfigDict(extra="ignore")
    train_time_s: Time | None = None
    resumed: bool = False
    resumed_state: bool = False  # its float32 weights and random state were restored: the same as uninterrupted
    epochs_timed: Count = 0
    epoch_times_s: list[Time] = Field(default_factory=list)
    train_images: Count | None = None
    train_img_per_s: Annotated[float, Field(ge=0)] | None = None  # NaN when unknown is written as null
    train_device: str = ""


class RunSpec(Record):
    """``runs/<model>/seed<k>/spec.json``: one run's job for its worker process (``run_dir`` absolute: it is rewritten
    for every attempt)."""

    KIND: ClassVar[str] = "compare run spec (spec.json)"
    label: str
    model: str
    file: str
    seed: Count
    run_dir: str
    data: str
    split: str
    weights: str
    fingerprint: Fingerprint
    train_args: dict
    resume_run: bool = True
    cpu_threads: int | None = None
    slot: str = ""  # the sweep's slot the run was given, e.g. "cuda:1" or "cpu#2"
    slurm_job: str = ""  # "<array job>_<task>" when run by a Slurm array task
    progress: dict = Field(default_factory=dict)  # index, total, left_after, sweep_start, mean_run_s, slots

    def write(self, path: str | Path) -> Path:
        return self.save(path)

    @classmethod
    def read(cls, path: str | Path) -> RunSpec:
        spec = cls.load(path)
        if spec is None:
            raise FileNotFoundError(f"run spec not found: {path}")
        return spec


class RunRecord(Record):
    """``runs/<model>/seed<k>/run.json``, the completion record of one run, written last: ``status`` ok or failed.

    ``run_dir`` is relative to the compare folder (``runs/<model>/seed<k>``), ``weights`` relative to the run folder
    (``train/weights/last.pt``). ``run_id`` is new for every attempt; ``started_at``/``finished_at`` are Unix times.
    """

    KIND: ClassVar[str] = "compare run record (run.json)"
    status: str = Field(pattern="^(ok|failed)$")
    label: str
    model: str
    seed: Count
    run_dir: str
    fingerprint: Fingerprint
    file: str = ""
    yaml_sha256: str = ""
    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    host: str = Field(default_factory=socket.gethostname)
    slot: str = ""
    slurm_job: str = ""
    versions: dict = Field(default_factory=dict)
    started: str = ""
    finished: str = ""
    started_at: Time | None = None
    finished_at: Time | None = None
    duration_s: Time | None = None
    error: str = ""
    traceback: str = ""
    train: TrainStats | None = None
    train_args: dict = Field(default_factory=dict)
    weights: str = ""
    weights_sha256: str = ""
    params: Count | None = None
    gflops: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    cpu_latency: Latency | None = None
    gpu_latency: Latency | None = None
    cpu_name: str = ""
    gpu_name: str = ""
    eval_time_s: Time | None = None
    eval_images: Count | None = None
    ground_truth: str | None = None
    metrics: dict[str, Frac | None] = Field(default_factory=dict)
    per_class: dict = Field(default_factory=dict)
    #: ``{metric key: {class: reason}}``: classes the scorer left out of each mean over classes.
    excluded_classes: dict = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def resumed(self) -> bool:
        """Its training was resumed after an interruption without its exact training state (so its weights may
        differ from an uninterrupted run's; ``worker._TrainState`` says when the state is restored)."""
        return bool(self.train and self.train.resumed and not self.train.resumed_state)

    def weights_path(self, run_dir: str | Path) -> Path | None:
        """The scored checkpoint, found from the run folder the record was read from."""
        return (Path(run_dir) / self.weights) if self.weights else None

    @classmethod
    def _migrate(cls, obj: dict, path: Path) -> dict:
        run_dir = str(obj.get("run_dir") or "")
        return {**obj, "weights": _relative(str(obj.get("weights") or ""), run_dir),
                "run_dir": f"runs/{obj.get('label')}/seed{obj.get('seed')}"}  # fmt: skip

    def write(self, run_dir: str | Path) -> Path:
        return self.save(Path(run_dir) / RUN_RECORD)

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord | None:
        """Read ``<run_dir>/run.json``; None when there is none. Raises `RecordError` on a malformed one."""
        return cls.load(Path(run_dir) / RUN_RECORD)

    @classmethod
    def failed(cls, spec: ModelSpec, seed: int, run_dir: Path, fingerprint: Fingerprint, error: str, **kw) -> RunRecord:
        """The record of a run that failed before or outside its worker (unusable model, worker killed)."""
        from yolo_attn.compare.measure import versions

        t = time.time()
        started_at = kw.pop("started_at", None) or t
        return cls(status="failed", label=spec.label, model=spec.model, file=spec.file, seed=seed,
                   run_dir=f"runs/{spec.label}/seed{seed}", fingerprint=fingerprint, versions=versions(),
                   started=now_iso(started_at), finished=now_iso(t), started_at=started_at, finished_at=t,
                   duration_s=t - started_at, error=error, **kw)  # fmt: skip


Pair = Annotated[list[Num], Field(min_length=2, max_length=2)]
Triple = Annotated[list[Num], Field(min_length=3, max_length=3)]


class SpeedStats(BaseModel):
    """One model's times on one device over the interleaved rounds, in ms (``speed.py``).

    Attributes:
        wall_ms, cpu_ms: Median wall time and median process CPU time of one forward pass.
        wall_ci_ms, cpu_ci_ms: ``[low, high]``, the percentile-bootstrap 95% interval of that median.
        wall_iqr_ms: ``[q1, q3]`` of the rounds' wall times; ``wall_p90_ms`` their 90th percentile.
        wall_ratio, cpu_ratio: ``[median, low, high]`` of the per-round ratio time(model) / time(baseline) in the
            same round, with its 95% bootstrap interval; None for the baseline itself.
        noisy: The spread is too large to read differences of a few percent (``noisy_why`` says which interval).
        rounds_wall_ms, rounds_cpu_ms: Every timed round, in round order.
    """

    model_config = ConfigDict(strict=True)
    wall_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    wall_ci_ms: Pair
    wall_iqr_ms: Pair
    wall_p90_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    cpu_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    cpu_ci_ms: Pair
    wall_ratio: Triple | None = None
    cpu_ratio: Triple | None = None
    noisy: bool = False
    noisy_why: str = ""
    rounds_wall_ms: list[Num] = Field(default_factory=list)
    rounds_cpu_ms: list[Num] = Field(default_factory=list)


class SpeedDevice(BaseModel):
    """The interleaved measurement on one device: how it was taken and each model's `SpeedStats` by label.

    Attributes:
        device: ``cpu`` or ``cuda:N``; ``name``: the CPU or GPU model; ``dtype``: ``float32`` (CPU) or ``float16``.
        threads: torch threads (CPU); rounds, warmup: timed and untimed rounds.
        baseline: Label the ratios refer to; order: the forward order (odd rounds run it reversed); spacer: the
            model called untimed between rounds.
        cpu_per_wall: Process CPU seconds per wall second while timed (well below 1 x threads: a busy machine).
        duration_s: Wall time of the timed and warm-up rounds.
    """

    device: str
    name: str
    dtype: str
    threads: int | None
    rounds: Count
    warmup: Count
    baseline: str
    order: list[str]
    spacer: str
    models: dict[str, SpeedStats]
    cpu_per_wall: Time | None = None
    duration_s: Time | None = None

    @model_validator(mode="after")
    def _names(self):
        if set(self.order) != set(self.models) or self.baseline not in self.models or self.spacer not in self.models:
            raise ValueError("order, baseline and spacer must name the measured models")
        return self


class SpeedRun(BaseModel):
    """The run whose checkpoint was timed for a model (``weights`` relative to the compare folder)."""

    label: str
    seed: Count
    run_id: str
    weights: str
    weights_sha256: str = ""


class SpeedRecord(Record):
    """``speed.json``: every trained model of the sweep timed interleaved in one process after the trainings.

    Its own `SPEED_FORMAT_VERSION`: a bad or foreign file asks for ``--remeasure``, not for retraining.
    """

    KIND: ClassVar[str] = "compare speed record (speed.json)"
    VERSION: ClassVar[int] = SPEED_FORMAT_VERSION
    format_version: int = SPEED_FORMAT_VERSION
    imgsz: Annotated[int, Field(ge=1)]
    runs: list[SpeedRun]
    cpu: SpeedDevice | None = None
    gpu: SpeedDevice | None = None
    gpu_note: str = ""
    batch: Annotated[int, Field(ge=1)] = 1
    noisy_threshold: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.05
    measured: str = ""
    host: str = Field(default_factory=socket.gethostname)
    versions: dict = Field(default_factory=dict)

    @classmethod
    def _migrate(cls, obj: dict, path: Path) -> dict:
        runs = [{**r, "weights": _relative(str(r.get("weights", "")), path.parent)} if isinstance(r, dict) else r
                for r in obj.get("runs") or []]  # fmt: skip
        return {**obj, "runs": runs}

    def write(self, out: str | Path) -> Path:
        return self.save(Path(out) / SPEED_RECORD)

    def run_ids(self) -> dict[str, str]:
        """``{label: run_id}`` of the timed runs."""
        return {r.label: r.run_id for r in self.runs}

    @classmethod
    def read(cls, out: str | Path) -> SpeedRecord | None:
        """Read ``<out>/speed.json``; None when there is none (`RecordError` on a bad one, asking for --remeasure)."""
        fix = (f"measure again with `yolo-attn compare --remeasure --out {Path(out)}` (it replaces speed.json; "
               "nothing is retrained)")  # fmt: skip
        rec = cls.load(Path(out) / SPEED_RECORD, fix=fix)
        if rec is not None and rec.cpu is None and rec.gpu is None:
            raise RecordError(f"{Path(out) / SPEED_RECORD}: a {cls.KIND} without a cpu or gpu measurement; {fix}")
        return rec


def fmt_duration(seconds: float | None) -> str:
    """Format seconds as ``1:02:03`` / ``2:03`` (``?`` when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(max(seconds, 0)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
