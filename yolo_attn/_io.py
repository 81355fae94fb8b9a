"""The package's one atomic writer (bytes, text, JSON) and its one Markdown-table helper.

Every file the tools write goes through `write_bytes`: a temporary sibling, flushed and fsynced, then renamed over
the target with ``os.replace``, so a reader (or a crash, Ctrl-C, a full disk) sees the old file or the new one, never
half of one, and no temporary is left behind.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["json_safe", "markdown_table", "write_bytes", "write_json", "write_text"]


def write_bytes(path: str | Path, data: bytes | Callable[[IO[bytes]], object]) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename; return the path.

    Args:
        path (str | Path): The target; its folder is created when missing.
        data (bytes | Callable): The bytes, or a function that writes into the open binary file (``torch.save``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            data(f) if callable(data) else f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # out of disk, interrupted: no half-written temporary left behind
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (`write_bytes`)."""
    return write_bytes(path, text.encode("utf-8"))


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, numpy/torch scalars -> Python numbers, Paths -> str, recursively."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "item"):  # numpy / torch scalars
        return json_safe(obj.item())
    return str(obj)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (`json_safe`: NaN as null) atomically."""
    return write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """The lines of a Markdown table.

    Args:
        header (Sequence[str]): Column titles.
        rows (Iterable[Sequence]): One sequence of cells per row (each shown with ``str``).
        align (str): One letter per column, ``l`` or ``r`` (right-aligned numbers); missing letters mean ``l``.
    """
    if set(align) - {"l", "r"} or len(align) > len(header):
        raise ValueError(f"align {align!r}: one letter l or r per column, at most {len(header)}")
    rule = ["---:" if a == "r" else "---" for a in align.ljust(len(header), "l")]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"] + [
        "| " + " | ".join(map(str, r)) + " |" for r in rows
    ]
