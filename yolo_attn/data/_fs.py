"""Folder replacement shared by the dataset writers: outputs are built in a hidden sibling and swapped in last."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def swap_into_place(tmp: Path, dest: Path) -> None:
    """Move the finished folder ``tmp`` to ``dest``, replacing an earlier ``dest`` (same file system, renames only).

    The old folder is renamed aside before the new one takes its name, so ``dest`` is at every moment either the old
    complete result or the new one, never a mix.
    """
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old)
    else:
        os.replace(tmp, dest)
