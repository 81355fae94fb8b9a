"""Files of a compare folder: typed, versioned records with one reader and one writer each, and atomic writes.

Layout of ``--out``::

    sweep.json                      SweepSettings: the sweep's settings (checked on resume) and its models and seeds
    speed.json                      SpeedRecord: every model's latency, timed interleaved after the trainings
    results.csv, per_class.csv      one row per model and seed / per model, seed and class
    summary.md                      ranked table (mean ± std over seeds), differences to the baseline, failures
    map_vs_gflops.png, map_vs_latency.png, per_class_ap.png
    claims/<model>/seed<k>.json     who trains the run now (claims.py): host, pids, heartbeat; .lock beside it
    runs/<model>/seed<k>/           one run: spec.json (RunSpec), log.txt, progress.json, train/ (Ultralytics),
                                    trained.json, metrics.json, run.json (RunRecord, written last; ok or failed)
    slurm/                          --executor slurm: submitit's job files and task logs, jobs.json

Every file is written to a temporary sibling (named after host, process and a random suffix, so processes on
several hosts sharing the folder never collide) and renamed into place: an interrupted write never leaves a file
that looks complete, and a reader never sees a torn one.

Records carry ``format_version``. Reading a record of another version, or a file that is not a JSON object, raises
`RecordError` (a ``ValueError``: the command exits with status 2) naming the file and what to do.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

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
    "read_object",
    "write_json",
    "write_text",
]

RUN_RECORD = "run.json"  # per run, written last: the completion record
TRAINED_RECORD = "trained.json"  # per run: training finished (scoring may still be pending)
SWEEP_RECORD = "sweep.json"
RUN_SPEC = "spec.json"  # per run: the worker's job description
PROGRESS = "progress.json"  # per run: the epoch the worker is at (for the sweep's progress lines)
SPEED_RECORD = "speed.json"  # the sweep's interleaved latency measurement (speed.py)
#: Version of sweep.json, spec.json and run.json. Bump it when a field changes meaning or a required one is added.
FORMAT_VERSION = 2
#: Version of speed.json, on its own: a newer speed format only asks for ``--remeasure``, never for retraining.
SPEED_FORMAT_VERSION = 1


class RecordError(ValueError):
    """A record file that cannot be read as this version's record (not JSON, not an object, another version)."""


# ------------------------------------------------------------------------------------------------ atomic writes
def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # out of disk, interrupted: no half-written temporary left behind
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` through a temporary sibling and an atomic rename."""
    return write_bytes(path, text.encode("utf-8"))


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, Paths and other objects -> str, recursively."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "item"):  # numpy / torch scalars
        return json_safe(obj.item())
    return str(obj)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (NaN as null), atomically."""
    return write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, or None when it is missing or not valid JSON (for files that are not records)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_object(path: str | Path, kind: str, version: int = FORMAT_VERSION, fix: str = "") -> dict | None:
    """Read a record file as a JSON object of format ``version`` (`FORMAT_VERSION`); None when it does not exist.

    ``fix`` replaces the default advice (move the file away) in the error message.

    Raises:
        RecordError: The file is not valid JSON, not an object, or of another format version.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not a {kind} (not UTF-8 text); {fix or _fix(path)}") from None
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise RecordError(f"{path}: not a {kind} (invalid JSON: {e}); {fix or _fix(path)}") from None
    if not isinstance(obj, dict):
        raise RecordError(
            f"{path}: not a {kind} (a JSON {type(obj).__name__}, expected an object); {fix or _fix(path)}"
        )
    found = obj.get("format_version")
    if found != version:
        who = "an older yolo_attn" if not isinstance(found, int) or found < version else "a newer yolo_attn"
        raise RecordError(
            f"{path}: a {kind} of format version {found!r}, written by {who}; this version reads version "
            f"{version}. " + (fix or "Use another --out, or the yolo_attn version that wrote it.")
        )
    return obj


def _fix(path: Path) -> str:
    return f"it was not written by yolo_attn compare (or was edited): move it away, then rerun to redo {path.parent}"


def _take(cls, obj: dict, path: Path | str, kind: str, convert: dict | None = None):
    """Build dataclass ``cls`` from ``obj`` (unknown keys ignored; a missing required field is a RecordError)."""
    convert = convert or {}
    kwargs = {}
    for f in fields(cls):
        if f.name not in obj:
            continue
        v = obj[f.name]
        try:
            kwargs[f.name] = convert[f.name](v) if f.name in convert and v is not None else v
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise RecordError(f"{path}: field {f.name!r} of this {kind} is malformed ({e}); {_fix(Path(path))}") from e
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise RecordError(f"{path}: not a complete {kind} ({e}); {_fix(Path(path))}") from None


def now_iso(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


# ------------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Fingerprint:
    """The settings that change a run's result; a resumed sweep must have the same (``diff`` says what differs)."""

    data: str
    split: str
    epochs: int
    imgsz: int
    batch: int
    weights: str
    train_args: dict = field(default_factory=dict)

    def diff(self, other: Fingerprint) -> list[str]:
        """Lines ``  key: earlier X, now Y`` for every field where ``self`` (earlier) and ``other`` (now) differ."""
        a, b = asdict(self), asdict(other)
        return [f"  {k}: earlier {a[k]!r}, now {b[k]!r}" for k in a if a[k] != b[k]]

    @classmethod
    def from_dict(cls, obj: dict, path: Path | str = "?") -> Fingerprint:
        if not isinstance(obj, dict):
            raise TypeError(f"expected an object, got {type(obj).__name__}")
        return _take(cls, obj, path, "fingerprint")


@dataclass
class SweepSettings:
    """``sweep.json``: everything a process needs to run or report any run of the sweep (local or on Slurm).

    Attributes:
        fingerprint: Settings that change results (checked on resume).
        models: The models, in sweep order (label, what ``YOLO()`` gets, the file read, why unusable).
        seeds: The seeds, in order.
        baseline, metric: The summary's baseline model label and primary metric.
        train_args: Every extra Ultralytics train argument (fingerprinted or not, e.g. ``plots``).
        val, preset, device, devices, workers, cpu_threads, latency_repeats, latency_warmup, resume_runs,
            retry_failed, plots: As given to ``compare`` (device/devices: how the last call ran; not fingerprinted).
        created, updated: When the sweep was first planned and last (re)started.
    """

    fingerprint: Fingerprint
    models: list[ModelSpec]
    seeds: list[int]
    baseline: str
    metric: str
    train_args: dict = field(default_factory=dict)
    val: bool = True
    preset: str | None = None
    device: str | None = None
    devices: list[str] | None = None
    workers: int = 0
    cpu_threads: int | None = None
    latency_repeats: int = 50
    latency_warmup: int = 10
    resume_runs: bool = True
    retry_failed: bool = True
    plots: bool = True
    created: str = ""
    updated: str = ""
    format_version: int = FORMAT_VERSION

    KIND = "compare sweep record (sweep.json)"

    def runs(self) -> list[tuple[ModelSpec, int]]:
        """Every (model, seed) in sweep order: seed by seed, all models with the first seed first."""
        return [(m, s) for s in self.seeds for m in self.models]

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, out: str | Path) -> Path:
        return write_json(Path(out) / SWEEP_RECORD, self.to_dict())

    @classmethod
    def read(cls, out: str | Path) -> SweepSettings | None:
        """Read ``<out>/sweep.json``; None when there is none. Raises `RecordError` on a malformed one."""
        path = Path(out) / SWEEP_RECORD
        obj = read_object(path, cls.KIND)
        if obj is None:
            return None
        return _take(
            cls,
            obj,
            path,
            cls.KIND,
            {
                "fingerprint": lambda v: Fingerprint.from_dict(v, path),
                "models": lambda v: [
                    ModelSpec(**{k: m[k] for k in ("label", "model", "file", "error") if k in m}) for m in v
                ],
                "seeds": lambda v: [int(s) for s in v],
            },
        )


@dataclass
class Latency:
    """A latency measured by the run's own worker (records written before speed.json; read, no longer written)."""

    median_ms: float | None = None
    p10_ms: float | None = None
    p90_ms: float | None = None
    repeats: int | None = None
    threads: int | None = None
    dtype: str = ""


@dataclass
class TrainStats:
    """How the training went (``trained.json`` without Ultralytics' resolved arguments)."""

    train_time_s: float | None = None
    resumed: bool = False
    epochs_timed: int = 0
    epoch_times_s: list[float] = field(default_factory=list)
    train_images: int | None = None
    train_img_per_s: float | None = None
    train_device: str = ""


@dataclass
class RunSpec:
    """``runs/<model>/seed<k>/spec.json``: one run's job for the worker process (``python -m yolo_attn.compare
    _worker spec.json``)."""

    label: str
    model: str
    file: str
    seed: int
    run_dir: str
    data: str
    split: str
    weights: str
    fingerprint: Fingerprint
    train_args: dict
    resume_run: bool = True
    latency_repeats: int = 50
    latency_warmup: int = 10
    cpu_threads: int | None = None
    slot: str = ""  # the sweep's slot the run was given, e.g. "cuda:1" or "cpu#2"
    slurm_job: str = ""  # "<array job>_<task>" when run by a Slurm array task
    claim: str = ""  # claims/<model>/seed<k>.json of the run
    claim_token: str = ""  # the holder's token: the worker writes its record only while the claim is still its own
    progress: dict = field(default_factory=dict)  # index, total, left_after, sweep_start, mean_run_s, mean_eval_s
    format_version: int = FORMAT_VERSION

    KIND = "compare run spec (spec.json)"

    def write(self, path: str | Path) -> Path:
        return write_json(path, asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> RunSpec:
        obj = read_object(path, cls.KIND)
        if obj is None:
            raise FileNotFoundError(f"run spec not found: {path}")
        return _take(cls, obj, path, cls.KIND, {"fingerprint": lambda v: Fingerprint.from_dict(v, path)})


@dataclass
class RunRecord:
    """``runs/<model>/seed<k>/run.json``, the completion record of one run, written last: ``status`` ok or failed.

    The record of an attempt is identified by ``run_id`` (new for every attempt). ``started_at``/``finished_at`` are
    Unix times (the record's ``started``/``finished`` are the same in local ISO form).
    """

    status: str
    label: str
    model: str
    seed: int
    run_dir: str
    fingerprint: Fingerprint
    file: str = ""
    yaml_sha256: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    slot: str = ""
    slurm_job: str = ""
    versions: dict = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    error: str = ""
    traceback: str = ""
    train: TrainStats | None = None
    train_args: dict = field(default_factory=dict)
    weights: str = ""
    weights_sha256: str = ""
    params: int | None = None
    gflops: float | None = None
    cpu_latency: Latency | None = None
    gpu_latency: Latency | None = None
    cpu_name: str = ""
    gpu_name: str = ""
    eval_time_s: float | None = None
    eval_images: int | None = None
    ground_truth: str | None = None
    metrics: dict = field(default_factory=dict)
    per_class: dict = field(default_factory=dict)
    #: ``{metric key: {class: reason}}``: classes the scorer left out of each mean over classes (no non-difficult
    #: ground truth, or an undefined AP), as ``yolo_attn.metrics`` returns them; empty when none was.
    excluded_classes: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    KIND = "compare run record (run.json)"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def write(self, run_dir: str | Path) -> Path:
        return write_json(Path(run_dir) / RUN_RECORD, asdict(self))

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord | None:
        """Read ``<run_dir>/run.json``; None when there is none. Raises `RecordError` on a malformed one."""
        path = Path(run_dir) / RUN_RECORD
        obj = read_object(path, cls.KIND)
        if obj is None:
            return None
        rec = _take(
            cls,
            obj,
            path,
            cls.KIND,
            {
                "fingerprint": lambda v: Fingerprint.from_dict(v, path),
                "train": lambda v: _take(TrainStats, v, path, cls.KIND),
                "cpu_latency": lambda v: _take(Latency, v, path, cls.KIND),
                "gpu_latency": lambda v: _take(Latency, v, path, cls.KIND),
                "seed": int,
            },
        )
        if rec.status not in ("ok", "failed"):
            raise RecordError(f"{path}: status {rec.status!r} is not ok or failed; {_fix(path)}")
        return rec

    @classmethod
    def failed(cls, spec: ModelSpec, seed: int, run_dir: Path, fingerprint: Fingerprint, error: str, **kw) -> RunRecord:
        """The record of a run that failed before or outside its worker (unusable model, worker killed)."""
        from yolo_attn.compare.measure import versions

        t = time.time()
        started_at = kw.pop("started_at", None) or t
        return cls(
            status="failed",
            label=spec.label,
            model=spec.model,
            file=spec.file,
            seed=seed,
            run_dir=str(run_dir),
            fingerprint=fingerprint,
            versions=versions(),
            started=now_iso(started_at),
            finished=now_iso(t),
            started_at=started_at,
            finished_at=t,
            duration_s=t - started_at,
            error=error,
            **kw,
        )


# ------------------------------------------------------------------------------------------------ speed.json
def _floats(n: int | None = None):
    """A converter: a list of numbers (exactly ``n`` when given) -> list of floats (TypeError/ValueError otherwise)."""

    def convert(v):
        if not isinstance(v, list) or (n is not None and len(v) != n):
            raise ValueError(f"expected a list of {n or 'some'} numbers, got {v!r:.80}")
        out = [float(x) for x in v]
        if any(math.isnan(x) for x in out):
            raise ValueError(f"NaN in {v!r:.80}")
        return out

    return convert


def _number(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, got {v!r:.80}")
    return float(v)


def _bool(v) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r:.80}")
    return v


@dataclass
class SpeedStats:
    """One model's times on one device over the interleaved rounds, in ms (``speed.py``).

    Attributes:
        wall_ms, cpu_ms: Median wall time and median process CPU time of one forward pass.
        wall_ci_ms, cpu_ci_ms: ``[low, high]``, the percentile-bootstrap 95% interval of that median.
        wall_iqr_ms: ``[q1, q3]`` of the rounds' wall times; ``wall_p90_ms`` their 90th percentile.
        wall_ratio, cpu_ratio: ``[median, low, high]`` of the per-round ratio time(model) / time(baseline) in the
            same round, with its 95% bootstrap interval; None for the baseline itself.
        noisy: The measurement's spread is too large to read differences of a few percent (``noisy_why`` says which
            interval and how wide; threshold: `SpeedRecord.noisy_threshold`).
        rounds_wall_ms, rounds_cpu_ms: Every timed round, in round order.
    """

    wall_ms: float
    wall_ci_ms: list[float]
    wall_iqr_ms: list[float]
    wall_p90_ms: float
    cpu_ms: float
    cpu_ci_ms: list[float]
    wall_ratio: list[float] | None = None
    cpu_ratio: list[float] | None = None
    noisy: bool = False
    noisy_why: str = ""
    rounds_wall_ms: list[float] = field(default_factory=list)
    rounds_cpu_ms: list[float] = field(default_factory=list)

    CONVERT = {
        "wall_ms": _number,
        "cpu_ms": _number,
        "wall_p90_ms": _number,
        "wall_ci_ms": _floats(2),
        "cpu_ci_ms": _floats(2),
        "wall_iqr_ms": _floats(2),
        "wall_ratio": _floats(3),
        "cpu_ratio": _floats(3),
        "noisy": lambda v: _bool(v),
        "rounds_wall_ms": _floats(),
        "rounds_cpu_ms": _floats(),
    }


@dataclass
class SpeedDevice:
    """The interleaved measurement on one device: how it was taken and each model's `SpeedStats` by label.

    Attributes:
        device: ``cpu`` or ``cuda:N``; ``name``: the CPU or GPU model; ``dtype``: ``float32`` (CPU) or ``float16``.
        threads: torch threads (CPU); rounds, warmup: timed and untimed rounds.
        baseline: Label the ratios refer to; order: the forward order (odd rounds run it reversed); spacer: the
            model called untimed between rounds (with two models it alternates: this is the one before round 2).
        cpu_per_wall: Process CPU seconds per wall second while timed (well below 1 x threads: a busy machine).
        duration_s: Wall time of the timed and warm-up rounds.
    """

    device: str
    name: str
    dtype: str
    threads: int | None
    rounds: int
    warmup: int
    baseline: str
    order: list[str]
    spacer: str
    models: dict[str, SpeedStats]
    cpu_per_wall: float | None = None
    duration_s: float | None = None


@dataclass
class SpeedRun:
    """The run whose checkpoint was timed for a model (one per model: the architecture sets the time, not the
    seed)."""

    label: str
    seed: int
    run_id: str
    weights: str
    weights_sha256: str = ""


@dataclass
class SpeedRecord:
    """``speed.json``: every trained model of the sweep timed interleaved in one process after the trainings.

    Written by the process that finishes the sweep last (or ``compare --remeasure``), never per run; read by the
    reports. Its own `SPEED_FORMAT_VERSION`: a bad or foreign file asks for ``--remeasure``, not for retraining.
    """

    imgsz: int
    runs: list[SpeedRun]
    cpu: SpeedDevice | None = None
    gpu: SpeedDevice | None = None
    gpu_note: str = ""
    batch: int = 1
    noisy_threshold: float = 0.05
    measured: str = ""
    host: str = field(default_factory=socket.gethostname)
    versions: dict = field(default_factory=dict)
    format_version: int = SPEED_FORMAT_VERSION

    KIND = "compare speed record (speed.json)"

    def write(self, out: str | Path) -> Path:
        return write_json(Path(out) / SPEED_RECORD, asdict(self))

    def run_ids(self) -> dict[str, str]:
        """``{label: run_id}`` of the timed runs."""
        return {r.label: r.run_id for r in self.runs}

    @classmethod
    def read(cls, out: str | Path) -> SpeedRecord | None:
        """Read ``<out>/speed.json``; None when there is none.

        Raises:
            RecordError: Not JSON, not an object, another `SPEED_FORMAT_VERSION`, or a field missing or malformed.
        """
        path = Path(out) / SPEED_RECORD
        fix = (
            f"measure again with `yolo-attn compare --remeasure --out {Path(out)}` (it replaces speed.json; "
            "nothing is retrained)"
        )
        obj = read_object(path, cls.KIND, version=SPEED_FORMAT_VERSION, fix=fix)
        if obj is None:
            return None

        def take(kind, v, convert=None):
            if not isinstance(v, dict):
                raise ValueError(f"expected an object, got {type(v).__name__}")
            try:
                return _take(kind, v, path, cls.KIND, convert)
            except RecordError as e:
                raise ValueError(str(e).split(": ", 1)[-1].split("; ")[0]) from None

        def device(v):
            d = take(
                SpeedDevice,
                v,
                {
                    "models": lambda m: {str(k): take(SpeedStats, x, SpeedStats.CONVERT) for k, x in m.items()},
                    "rounds": int,
                    "warmup": int,
                    "order": lambda o: [str(x) for x in o],
                },
            )
            if set(d.order) != set(d.models) or d.baseline not in d.models or d.spacer not in d.models:
                raise ValueError("order, baseline and spacer must name the measured models")
            return d

        try:
            rec = _take(
                cls,
                obj,
                path,
                cls.KIND,
                {
                    "runs": lambda v: [take(SpeedRun, r, {"seed": int}) for r in v],
                    "cpu": device,
                    "gpu": device,
                    "imgsz": int,
                    "batch": int,
                    "noisy_threshold": _number,
                },
            )
        except RecordError as e:
            raise RecordError(str(e).replace(_fix(path), fix)) from None
        if rec.cpu is None and rec.gpu is None:
            raise RecordError(f"{path}: a {cls.KIND} without a cpu or gpu measurement; {fix}")
        return rec


def fmt_duration(seconds: float | None) -> str:
    """Format seconds as ``1:02:03`` / ``2:03`` (``?`` when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(max(seconds, 0)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
