"""Files of a compare folder, atomic writes and small formatting helpers (stdlib only).

Layout of ``--out``::

    sweep.json                      settings of the sweep (checked on resume)
    results.csv, per_class.csv      one row per model and seed / per model, seed and class
    summary.md                      ranked table (mean ± std over seeds), differences to the baseline, failures
    map_vs_gflops.png, map_vs_latency.png, per_class_ap.png
    runs/<model>/seed<k>/           one run: spec.json, log.txt, train/ (Ultralytics), trained.json, metrics.json,
                                    run.json (the completion record, written last; status ok or failed)

Every file is written to a temporary sibling and renamed into place, so an interrupted write never leaves a file
that looks complete.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["RUN_RECORD", "SWEEP_RECORD", "TRAINED_RECORD", "fmt_duration", "read_json", "write_json", "write_text"]

RUN_RECORD = "run.json"  # per run, written last: the completion record
TRAINED_RECORD = "trained.json"  # per run: training finished (scoring may still be pending)
SWEEP_RECORD = "sweep.json"


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


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


def read_json(path: str | Path) -> dict | None:
    """Read a JSON object, or None when the file is missing or unreadable (e.g. written by an older version)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def fmt_duration(seconds: float | None) -> str:
    """Format seconds as ``1:02:03`` / ``2:03`` (``?`` when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(max(seconds, 0)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
