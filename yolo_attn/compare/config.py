"""`SweepConfig`: every setting of one ``compare`` call, checked once, read by planning, running, records, reports.

The command line (``yolo_attn/cli.py``) and the Python API (``compare(models, data, epochs=..., ...)``) both build one
frozen `SweepConfig`; nothing downstream takes the settings as separate arguments. Building it checks every value
before any work (a ``ValueError`` naming the option, the value and what is valid: exit status 2): numbers and their
ranges, the preset, the metric, ``--device`` / ``--devices`` against this machine, the ``--train-arg`` names (known to
Ultralytics, not set by the sweep itself) and their values (Ultralytics' own ``check_cfg``), the Slurm options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

__all__ = ["RESERVED_TRAIN_ARGS", "SlurmOptions", "SweepConfig", "check_device", "parse_seeds", "settle"]

Int = Annotated[int, Strict()]
#: Train arguments the sweep sets itself; ``train_args`` may not override them.
RESERVED_TRAIN_ARGS = ("model", "data", "seed", "project", "name", "exist_ok", "resume", "epochs", "imgsz", "batch",
                       "device", "workers", "val")  # fmt: skip
_BASE = {"epochs": 100, "imgsz": 640, "batch": 16, "val": True}  # Ultralytics' own defaults
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def _minutes(text: str) -> int:
    """Slurm time formats -> minutes: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    m = _TIME.match(str(text).strip())
    if not m:
        raise ValueError(f"--slurm-time {text!r}: not a Slurm time; use e.g. 24:00:00, 2-00:00:00 or 90 (minutes)")
    days, a, b, c = m.groups()
    a, b, c = int(a), int(b or 0), int(c or 0)
    if days is not None:
        minutes = int(days) * 1440 + a * 60 + b + (c > 0)
    elif m.group(4) is not None:
        minutes = a * 60 + b + (c > 0)
    elif m.group(3) is not None:
        minutes = a + (b > 0)
    else:
        minutes = a
    if minutes < 1:
        raise ValueError(f"--slurm-time {text!r}: at least one minute")
    return minutes


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


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device(option: str, value: str, n_gpus: int | None = None) -> list[str]:
    """The entries of a device string (``cpu``, ``mps``, ``0``, ``cuda:1``, ``0,1``), each checked against this
    machine; ``ValueError`` naming ``option``, the value and what is valid."""
    valid = "valid: cpu, mps, or a CUDA GPU index (0, 1, cuda:1)"
    items = [d.strip().lower() for d in str(value).split(",")]
    if not items or any(not d for d in items):
        raise ValueError(f"{option} {value!r}: an empty entry; {valid}")
    for d in items:
        if d == "mps":
            import torch

            if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                raise ValueError(f"{option} {value!r}: mps (Apple GPU) is not available on this machine")
        elif d != "cpu":
            idx = d[5:] if d.startswith("cuda:") else d
            if not idx.isdigit():
                raise ValueError(f"{option} {value!r}: unknown device {d!r}; {valid}")
            n = _gpu_count() if n_gpus is None else n_gpus
            if n == 0:
                raise ValueError(f"{option} {value!r}: GPU {idx} asked for, but this machine has no CUDA GPU; use cpu")
            if int(idx) >= n:
                raise ValueError(f"{option} {value!r}: GPU {idx} asked for, but this machine has {n} CUDA GPU(s): "
                                 f"{', '.join(map(str, range(n)))}")  # fmt: skip
    return items


def settle(cfg: SweepConfig) -> tuple[dict, dict]:
    """(compare's own settings epochs/imgsz/batch/val, further Ultralytics train arguments): defaults < preset <
    explicit values."""
    from yolo_attn.compare.presets import PRESETS

    merged = {**_BASE, **{k: v for k, v in (PRESETS.get(cfg.preset) or {}).items() if k != "seeds"}}
    merged.update({k: getattr(cfg, k) for k in _BASE if getattr(cfg, k) is not None})
    extra = {k: v for k, v in merged.items() if k not in _BASE}
    extra.update(cfg.train_args)
    return {k: merged[k] for k in _BASE}, extra


class SlurmOptions(BaseModel):
    """Options of the Slurm executor (``--slurm-*``).

    Attributes:
        partition: Slurm partition (default: the cluster's default partition, filled in by `check`).
        gpus_per_run: GPUs per array task, i.e. per run (0: CPU runs). More than one trains one run with DDP.
        cpus_per_run: CPUs per task (default 8 with GPUs, else 2); set ``--workers`` to use them for loading.
        time: Time limit per task (Slurm format, default ``24:00:00``); a task past it is requeued.
        args: Further sbatch options, ``{"account": "proj", "qos": "high", "mem": "64G", "constraint": "a100"}``.
        max_tasks: At most this many array tasks at once (default: all).
    """

    model_config = ConfigDict(extra="forbid")
    partition: str | None = None
    gpus_per_run: Annotated[int, Strict(), Field(ge=0)] = 1
    cpus_per_run: Annotated[int, Strict(), Field(ge=1)] | None = None
    time: str = "24:00:00"
    args: dict[str, Any] = Field(default_factory=dict)
    max_tasks: Annotated[int, Strict(), Field(ge=1)] | None = None

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        _minutes(v)
        return v

    @property
    def cpus(self) -> int:
        return self.cpus_per_run or (8 if self.gpus_per_run else 2)

    def check(self) -> SlurmOptions:
        """Slurm and submitit are there and the partition exists (with GPUs when asked for); returns the options
        with the partition filled in. ``ValueError`` naming what is missing or wrong (nothing is written)."""
        import shutil
        import subprocess

        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ValueError(
                "--executor slurm needs submitit: pip install 'yolo-attn[slurm]' (or pip install submitit)"
            ) from None
        missing = [t for t in ("sbatch", "squeue", "sinfo", "scancel") if shutil.which(t) is None]
        if missing:
            raise ValueError(f"--executor slurm needs Slurm's client commands, not found on PATH: {', '.join(missing)} "
                             "(run compare on a login node of the cluster)")  # fmt: skip
        r = subprocess.run(["sinfo", "-h", "-o", "%P|%G"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            msg = " ".join((r.stderr or r.stdout).split())
            raise ValueError(f"--executor slurm: sinfo failed (is the Slurm controller reachable?): {msg}")
        parts: dict[str, set[str]] = {}
        default = None
        for line in r.stdout.splitlines():
            name, _, gres = line.partition("|")
            if name.endswith("*"):
                name = default = name[:-1]
            if name.strip():
                parts.setdefault(name, set()).add(gres.strip())
        partition = self.partition or default
        if partition is None:
            raise ValueError(
                f"--slurm-partition not given and the cluster has no default; partitions: {', '.join(parts)}"
            )
        if partition not in parts:
            raise ValueError(
                f"--slurm-partition {partition!r} does not exist; partitions: {', '.join(sorted(parts)) or 'none'}"
            )
        if self.gpus_per_run and not any("gpu" in g for g in parts[partition]):
            raise ValueError(
                f"--slurm-gpus-per-run {self.gpus_per_run}: partition {partition!r} has no GPUs (no gpu gres: "
                f"{', '.join(sorted(parts[partition]))}); use --slurm-gpus-per-run 0 for CPU runs, or a GPU partition"
            )
        return self.model_copy(update={"partition": partition})

    def executor_parameters(self, n_tasks: int, name: str) -> dict:
        """submitit ``SlurmExecutor.update_parameters`` keywords for an array of which ``n_tasks`` run at once."""
        import submitit

        valid = submitit.SlurmExecutor._valid_parameters()
        params = {"partition": self.partition, "time": _minutes(self.time), "nodes": 1, "ntasks_per_node": 1,
                  "cpus_per_task": self.cpus, "job_name": name, "array_parallelism": n_tasks, "stderr_to_stdout": True}  # fmt: skip
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


class SweepConfig(BaseModel):
    """Every setting of a sweep (see ``compare``'s docstring for each); frozen once built.

    Build it with `SweepConfig.build` (or ``SweepConfig(...)``): the errors then name the option and its value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    models: list[str] = Field(default_factory=list)
    data: Path | None = None
    out: Path = Path("runs/compare/exp")
    preset: str | None = None
    epochs: Annotated[int, Strict(), Field(ge=1)] | None = None
    imgsz: Annotated[int, Strict(), Field(ge=32)] | None = None
    batch: Annotated[int, Strict(), Field(ge=1)] | None = None
    seeds: list[int] = Field(default_factory=lambda: [0])
    device: str | None = None
    devices: str | None = None
    workers: Annotated[int, Strict(), Field(ge=0)] = 0
    val: bool | None = None
    train_args: dict[str, Any] = Field(default_factory=dict)
    metric: str = "voc07_map50"
    resamples: Annotated[int, Strict(), Field(ge=100)] = 1000
    weights: Literal["last", "best"] = "last"
    split: str | None = None
    baseline: str | None = None
    latency_repeats: Annotated[int, Strict(), Field(ge=3)] = 50
    latency_warmup: Annotated[int, Strict(), Field(ge=0)] = 3
    cpu_threads: Annotated[int, Strict(), Field(ge=1)] | None = None
    plots: bool = True
    retry_failed: bool = True
    resume_runs: bool = True
    rerun_changed: bool = False
    executor: Literal["local", "slurm"] = "local"
    slurm: SlurmOptions | None = None
    wait: bool = True
    progress_every: Annotated[float, Field(gt=0)] = 30.0

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v):
        return [v] if isinstance(v, str) else list(v or [])

    @model_validator(mode="before")
    @classmethod
    def _preset_seeds(cls, data):
        from yolo_attn.compare.presets import PRESETS

        preset = PRESETS.get(data.get("preset")) if isinstance(data, dict) and data.get("seeds") is None else None
        return {**data, "seeds": preset["seeds"]} if preset and "seeds" in preset else data

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v):
        return parse_seeds(0 if v is None else v)

    @field_validator("device", "devices", mode="before")
    @classmethod
    def _device_str(cls, v):
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    @field_validator("preset")
    @classmethod
    def _preset(cls, v):
        from yolo_attn.compare.presets import PRESETS

        if v is not None and v not in PRESETS:
            raise ValueError(f"unknown preset {v!r}; choices: {', '.join(PRESETS)}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        from yolo_attn.metrics import metric as metric_spec

        metric_spec(v)
        return v

    @field_validator("train_args", mode="before")
    @classmethod
    def _train_args(cls, v):
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError(f"train_args must be a dict of Ultralytics train arguments, got {type(v).__name__}")
        bad = sorted(set(v) & set(RESERVED_TRAIN_ARGS))
        if bad:
            raise ValueError(f"train_args may not set {', '.join(bad)}: the sweep sets them (use its own arguments)")
        from yolo_attn.integration.internals import check_train_values, default_cfg_keys

        unknown = sorted(k for k in v if k not in default_cfg_keys())
        if unknown:
            raise ValueError(f"unknown Ultralytics train argument(s) {', '.join(map(repr, unknown))}; see `yolo cfg` for "
                             "the valid ones (e.g. optimizer, lr0, momentum, weight_decay, mosaic)")  # fmt: skip
        check_train_values(v)
        return dict(v)

    @model_validator(mode="after")
    def _together(self):
        if self.executor == "slurm":
            if self.devices is not None or self.device is not None:
                raise ValueError("--devices/--device are for the local executor; on Slurm use --slurm-gpus-per-run")
        elif self.slurm is not None:
            raise ValueError("slurm options given, but the executor is local; add --executor slurm")
        if self.device is not None and self.devices is not None:
            raise ValueError(f"give either device ({self.device!r}) or devices ({self.devices!r}), not both")
        if self.device is not None:
            check_device("--device", self.device)
        if self.devices is not None:
            check_device("--devices", self.devices)
        return self

    @classmethod
    def build(cls, **kw) -> SweepConfig:
        """``SweepConfig(**kw)`` with a ``ValueError`` naming the option, the value given and what is wrong."""
        try:
            return cls(**kw)
        except ValidationError as e:
            lines = []
            for err in e.errors():
                name = "_".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                named = msg.startswith(("--", f"{name} ", f"{name.split('_')[0]} ", "train_args ", "unknown "))
                where = f"--{name.replace('_', '-')} {err['input']!r}: " if name and not named else ""
                lines.append(where + msg)
            raise ValueError("; ".join(lines)) from None
