"""The parts of the Pascal VOC devkit layout both dataset writers read: set names, bad-input errors, and the record
of a generated devkit (``yolo_attn.data.sample`` writes it, ``yolo_attn.data.voc`` reads it to pick classes and sets).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SAMPLE_MARKER", "SAMPLE_WRITER", "BadVOCInput", "parse_sets", "sample_info"]

#: File at the root of a generated devkit that records the generator's settings.
SAMPLE_MARKER = "yolo_attn_sample.json"
#: The writer named in that record.
SAMPLE_WRITER = "yolo_attn.data.sample"
_YEAR = re.compile(r"[A-Za-z0-9-]+")  # no "_": `<year>_<id>` file names stay unique
_SET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class BadVOCInput(ValueError):
    """A devkit file that cannot be used; `path` names it and `reason` says why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def parse_sets(spec: str | Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
    """Parse `"2007:trainval,2012:trainval,2007:test"` (or a list of such items or tuples) to (year, set) tuples.

    YEAR is letters, digits and `-` (the folder is `VOC<YEAR>`); SET is a file name in `ImageSets/Main` without
    `.txt` (letters, digits, `_ . -`). Raises `ValueError` naming a bad item.
    """
    if isinstance(spec, str):
        items: list = spec.split(",")
    elif isinstance(spec, Iterable):
        items = list(spec)
    else:
        raise ValueError(f"VOC sets must be a string like '2007:trainval,2007:test' or a list, got {spec!r}")
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
            year, sep, name = item.partition(":")
            year, name = year.strip(), name.strip()
            if not sep:
                raise ValueError(f"bad VOC set {item!r}: expected YEAR:SET, e.g. 2007:trainval")
        elif isinstance(item, tuple | list) and len(item) == 2:
            year, name = (str(x).strip() for x in item)
        else:
            raise ValueError(f"bad VOC set {item!r}: expected 'YEAR:SET' or a (year, set) pair, e.g. ('2007', 'test')")
        if not _YEAR.fullmatch(year) or not _SET.fullmatch(name):
            raise ValueError(
                f"bad VOC set {year}:{name!r}: expected YEAR:SET with YEAR of letters, digits and '-' (the folder "
                "VOC<YEAR>) and SET a set-file name (letters, digits, '_', '.', '-'), e.g. 2007:trainval"
            )
        out.append((year, name))
    if not out:
        raise ValueError(f"no VOC sets given ({spec!r}); e.g. 2007:trainval,2007:test")
    return out


def sample_info(devkit: str | Path) -> dict | None:
    """The generator record of a generated devkit (classes, sets, settings), or None for any other devkit.

    Raises:
        BadVOCInput: The record exists but is unreadable, not JSON, not an object, or has wrong types.
    """
    marker = Path(devkit) / SAMPLE_MARKER
    if not os.path.lexists(marker):
        return None
    fix = "regenerate the devkit with `yolo-attn data sample`, or delete this file if the devkit is not a generated one"
    if not marker.is_file():
        raise BadVOCInput(marker, f"generated-devkit record is not a regular file; {fix}")
    try:
        info = json.loads(marker.read_bytes())
    except OSError as e:
        raise BadVOCInput(marker, f"unreadable generated-devkit record ({e})") from None
    except ValueError as e:  # bad JSON or bad UTF-8
        raise BadVOCInput(marker, f"generated-devkit record is not valid JSON ({e}); {fix}") from None
    if not isinstance(info, dict):
        raise BadVOCInput(marker, f"generated-devkit record is a JSON {type(info).__name__}, not an object; {fix}")
    writer = info.get("writer", info.get("generator"))  # "generator" in format version 1
    if writer != SAMPLE_WRITER:
        raise BadVOCInput(marker, f"generated-devkit record names the writer {writer!r}, not {SAMPLE_WRITER!r}; {fix}")
    classes = info.get("classes")
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c and c.strip() == c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise BadVOCInput(marker, f"'classes' is {classes!r}, not a list of unique non-empty names; {fix}")
    sets = info.get("sets")
    if not isinstance(sets, list) or not sets or not all(isinstance(x, str) for x in sets):
        raise BadVOCInput(marker, f"'sets' is {sets!r}, not a list of YEAR:SET strings; {fix}")
    try:
        parse_sets(sets)
    except ValueError as e:
        raise BadVOCInput(marker, f"'sets' is {sets!r}: {e}; {fix}") from None
    for key in ("images", "seed", "imgsz"):
        if key in info and type(info[key]) is not int:
            raise BadVOCInput(marker, f"{key!r} is {info[key]!r}, not an integer; {fix}")
    return info
