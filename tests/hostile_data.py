"""Helpers for the hostile-input tests of the dataset writers: tree snapshots, a prepared dataset, a dead pid.

The generated devkits they start from come from the session fixture ``sample_devkits`` (conftest.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from yolo_attn.data.voc import prepare_voc

#: A pid above any Linux pid_max (at most 2**22): no such process can exist.
DEAD_PID = 2**22 + 12345


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): kind, bytes' hash and inode for files, target for links.

    Two equal snapshots mean nothing was added, removed, replaced or modified.
    """
    out: dict[str, tuple] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_ino)
    return out


def prepared(devkit: Path, out: Path) -> Path:
    prepare_voc(devkit, out, log=None)
    return out


def first_id(devkit: Path, set_name: str = "trainval") -> str:
    return (devkit / "VOC2007" / "ImageSets" / "Main" / f"{set_name}.txt").read_text().split()[0]
