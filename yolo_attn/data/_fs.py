"""Output folders the dataset writers can prove are their own, built aside and swapped in last.

Both writers (`voc prepare`, `data sample`) follow the same rules, so that they never delete or change a file they did
not write:

- A result is built in a hidden sibling ``.<name>.partial-<token>`` (``token``: 32 random hex digits). Its first file,
  ``.yolo_attn_partial.json``, names the writer, the token, the process id and the host.
- The last file written is the completion record (``prepared.json``, ``yolo_attn_sample.json``) at the folder root:
  the writer id, the format version and every folder and file written, each file with its size and identity
  (``sha256:<hex>`` of the bytes written, ``inode:<ino>:<mtime_ns>`` for a hard link, ``symlink:<target>``).
  The owner file is removed just before the folder is renamed into place, so the result holds exactly what is listed.
- A folder is "ours" only when that record is valid and every entry in the folder is listed and unchanged, or is a
  cache another program derives from listed files at a known path (`Owner.derived`: Ultralytics' label and image
  caches in a prepared dataset; they would be stale after a re-run and go with it); anything else is refused, naming
  the foreign or changed entries (`audit`).
- Replacing an earlier result renames it aside (``.<name>.old-<token>``), checks it again, renames the new folder in
  and then deletes the old one entry by entry, only the listed and unchanged ones (never ``rmtree``); whatever is
  left is kept and reported.
- Leftovers of killed runs are removed only when provably ours (`clean_stale`): a partial folder whose owner file
  carries its token, whose process is gone and which ran on this host (only paths of the writer's layout are
  removed), or an aside/partial folder whose record audits clean. Everything else is left in place and reported.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "OWNER_FILE",
    "NotOurs",
    "Owner",
    "TreeWriter",
    "audit",
    "clean_stale",
    "discard_partial",
    "new_partial",
    "refusal",
    "swap_into_place",
]

#: Written first into a folder being built; removed before the folder is renamed into place.
OWNER_FILE = ".yolo_attn_partial.json"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_SHOW = 8  # entries named in a refusal


@dataclass(frozen=True)
class Owner:
    """A writer: its id, completion record, format version, name for messages and the paths its folders hold."""

    writer: str  # e.g. "yolo_attn.data.voc.prepare_voc"
    record: str  # completion record at the folder root, e.g. "prepared.json"
    version: int
    what: str  # e.g. "`yolo-attn voc prepare`"
    layout: Callable[[str, bool], bool]  # (relative posix path, is a folder) -> may this writer have made it
    derived: Callable[[str, Path], bool] | None = None  # (relative path, path) -> a cache derived from our files


class NotOurs(Exception):
    """A folder that the writer cannot prove it wrote; the message says why."""


def new_token() -> str:
    return uuid.uuid4().hex


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists under another user, or not a pid we can judge: assume alive
    return True


# ----------------------------------------------------------------------------------------------- writing a tree
@dataclass
class TreeWriter:
    """Creates folders and files inside a new folder ``root`` and records each one for the completion record.

    Files are created exclusively (never opened over an existing file), so no write can reach a file that was there.
    """

    root: Path
    files: dict[str, list] = field(default_factory=dict)  # relative posix path -> [size, identity]
    dirs: list[str] = field(default_factory=list)

    def mkdir(self, rel: str) -> None:
        (self.root / rel).mkdir()
        self.dirs.append(rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with open(self.root / rel, "xb") as f:
            f.write(data)
        self.files[rel] = [len(data), "sha256:" + hashlib.sha256(data).hexdigest()]

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def link(self, src: Path, rel: str) -> str:
        """Hard link ``src`` as ``rel``, else symlink it, else copy it; never move. Returns the mode used."""
        dst = self.root / rel
        try:
            os.link(src, dst)
            st = os.lstat(dst)
            self.files[rel] = [st.st_size, f"inode:{st.st_ino}:{st.st_mtime_ns}"]
            return "hardlink"
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # the output side failed: no fallback helps
                raise
        try:
            target = str(src.resolve())
            os.symlink(target, dst)
            self.files[rel] = [os.lstat(dst).st_size, "symlink:" + target]
            return "symlink"
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                raise
        h = hashlib.sha256()
        size = 0
        with open(src, "rb") as fi, open(dst, "xb") as fo:
            while chunk := fi.read(1 << 20):
                h.update(chunk)
                fo.write(chunk)
                size += len(chunk)
        self.files[rel] = [size, "sha256:" + h.hexdigest()]
        return "copy"

    def write_record(self, owner: Owner, record: dict) -> None:
        """Write the completion record (last): ``record`` plus writer, version, the folders and the files."""
        head = {"writer": owner.writer, "format_version": owner.version, **record}
        text = json.dumps(head, indent=2)[:-2]  # drop the closing "\n}"
        text += ',\n  "dirs": ' + json.dumps(self.dirs) + ',\n  "files": {'
        text += ",".join(f"\n    {json.dumps(k)}: {json.dumps(v)}" for k, v in self.files.items())
        text += "\n  }\n}\n"
        with open(self.root / owner.record, "x", encoding="utf-8") as f:
            f.write(text)


def new_partial(parent: Path, name: str, owner: Owner) -> tuple[Path, str]:
    """Create ``parent/.<name>.partial-<token>`` with its owner file; returns (folder, token)."""
    token = new_token()
    tmp = parent / f".{name}.partial-{token}"
    tmp.mkdir()
    info = {"writer": owner.writer, "token": token, "pid": os.getpid(), "host": socket.gethostname()}
    with open(tmp / OWNER_FILE, "x", encoding="utf-8") as f:
        f.write(json.dumps(info) + "\n")
    return tmp, token


# ----------------------------------------------------------------------------------------------- proving ownership
def read_record(folder: Path, owner: Owner) -> dict:
    """The folder's completion record, checked for shape; raises `NotOurs` saying what is wrong."""
    path = folder / owner.record
    if not os.path.lexists(path):
        raise NotOurs(f"it has no {owner.record}")
    if path.is_symlink() or not path.is_file():
        raise NotOurs(f"its {owner.record} is not a regular file")
    try:
        rec = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bad UTF-8
        raise NotOurs(f"its {owner.record} is not readable JSON ({e})") from None
    if not isinstance(rec, dict) or rec.get("writer", rec.get("generator")) != owner.writer:  # generator: sample v1
        raise NotOurs(f"its {owner.record} was not written by {owner.what}")
    if rec.get("format_version") != owner.version:
        raise NotOurs(
            f"its {owner.record} has format version {rec.get('format_version')!r}, not {owner.version} "
            "(older versions did not list the files they wrote)"
        )
    files, dirs = rec.get("files"), rec.get("dirs")
    ok = isinstance(files, dict) and isinstance(dirs, list) and all(isinstance(d, str) for d in dirs)
    ok = ok and all(
        isinstance(v, list) and len(v) == 2 and type(v[0]) is int and isinstance(v[1], str) for v in files.values()
    )
    if not ok:
        raise NotOurs(f"its {owner.record} has no valid file list")
    return rec


def _matches(path: Path, entry: list) -> bool:
    """Is ``path`` still the file the record lists (same size and identity)?"""
    size, ident = entry
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind, _, value = ident.partition(":")
    if kind == "symlink":
        return os.path.islink(path) and os.readlink(path) == value
    if not os.path.isfile(path) or os.path.islink(path) or st.st_size != size:
        return False
    if kind == "inode":
        return f"{st.st_ino}:{st.st_mtime_ns}" == value
    if kind == "sha256":
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError:
            return False
        return h.hexdigest() == value
    return False


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """All (files incl. symlinks and other non-folders, real folders) under ``folder``, as relative posix paths."""
    files, dirs = [], []

    def fail(e: OSError) -> None:
        raise e

    for top, dnames, fnames in os.walk(folder, onerror=fail):
        rel_top = os.path.relpath(top, folder)
        prefix = "" if rel_top == "." else rel_top.replace(os.sep, "/") + "/"
        for d in list(dnames):
            if os.path.islink(os.path.join(top, d)):  # a link to a folder is an entry, never followed
                dnames.remove(d)
                files.append(prefix + d)
            else:
                dirs.append(prefix + d)
        files += [prefix + f for f in fnames]
    return files, dirs


def audit(folder: Path, owner: Owner) -> tuple[dict, list[str], list[str]]:
    """Check that ``folder`` is a result of ``owner``: returns (record, foreign entries, changed entries).

    Raises `NotOurs` when the folder has no valid completion record (or cannot be read).
    """
    rec = read_record(folder, owner)
    listed, listed_dirs = rec["files"], set(rec["dirs"])
    try:
        files, dirs = _walk(folder)
    except OSError as e:
        raise NotOurs(f"it cannot be read completely ({e})") from None
    foreign = [d + "/" for d in dirs if d not in listed_dirs]
    changed = []
    for f in files:
        if f == owner.record:
            continue
        if f not in listed:
            if owner.derived is None or not owner.derived(f, folder / f):
                foreign.append(f)
        elif not _matches(folder / f, listed[f]):
            changed.append(f)
    return rec, sorted(foreign), sorted(changed)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f" (and {len(items) - _SHOW} more)" if len(items) > _SHOW else "")


def refusal(folder: Path, owner: Owner, hint: str) -> str | None:
    """None when ``folder`` may be replaced (missing, an empty folder, or provably ours); else why not."""
    if not os.path.lexists(folder):
        return None
    if folder.is_symlink():
        return f"{folder} is a symbolic link; refusing to replace it. {hint}"
    if not folder.is_dir():
        return f"{folder} exists and is not a folder. {hint}"
    try:
        if not any(folder.iterdir()):
            return None
        _, foreign, changed = audit(folder, owner)
    except NotOurs as e:
        return f"{folder} is not empty and is not a result of {owner.what}: {e}; refusing to replace it. {hint}"
    except OSError as e:
        return f"{folder} cannot be read ({e}); refusing to replace it. {hint}"
    why = []
    if foreign:
        why.append(f"{len(foreign)} entr{'y' if len(foreign) == 1 else 'ies'} it did not write: {_names(foreign)}")
    if changed:
        why.append(f"{len(changed)} file(s) changed since it wrote them: {_names(changed)}")
    if why:
        return (
            f"{folder} is an earlier result of {owner.what} but holds {'; and '.join(why)}. Nothing was changed: "
            f"move those out of it, or {hint[0].lower()}{hint[1:]}"
        )
    return None


# ----------------------------------------------------------------------------------------------- removing
def remove_listed(folder: Path, rec: dict, owner: Owner) -> list[str]:
    """Delete the entries of ``folder`` that ``rec`` lists and that are unchanged (the record last, then the folder).

    Never deletes anything else. Returns what is left (relative paths), empty when the folder is gone.
    """
    for rel, entry in rec["files"].items():
        path = folder / rel
        if _matches(path, entry):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if owner.derived is not None:
        with contextlib.suppress(OSError):
            for rel in _walk(folder)[0]:
                if rel not in rec["files"] and owner.derived(rel, folder / rel):
                    with contextlib.suppress(FileNotFoundError):
                        (folder / rel).unlink()
    return _finish_removal(folder, rec["dirs"], owner)


def _finish_removal(folder: Path, dirs: list[str], owner: Owner) -> list[str]:
    for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty (something unlisted inside) or gone: keep it
            (folder / rel).rmdir()
    left = []
    try:
        left = [p.name for p in folder.iterdir()]
    except FileNotFoundError:
        return []
    if left == [owner.record] or not left:
        with contextlib.suppress(FileNotFoundError):
            (folder / owner.record).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
    try:
        files, subdirs = _walk(folder)
    except OSError:
        return []  # gone
    return sorted([f for f in files if f != owner.record] + [d + "/" for d in subdirs])  # the record stays with them


def _remove_partial(folder: Path, owner: Owner) -> list[str]:
    """Delete what a killed run of ``owner`` can have written in its partial folder: only paths of its layout."""
    files, dirs = _walk(folder)
    for rel in files:
        path = folder / rel
        if rel in (OWNER_FILE, owner.record) or (
            owner.layout(rel, False) and (os.path.islink(path) or os.path.isfile(path))
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return _finish_removal(folder, [d for d in dirs if owner.layout(d, True)], owner)


def _owner_info(folder: Path) -> dict | None:
    try:
        info = json.loads((folder / OWNER_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def clean_stale(parent: Path, name: str, owner: Owner, warn: Callable[[str], None]) -> None:
    """Remove leftovers of killed runs next to ``parent/name`` that are provably ours; report the others."""
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return
    for p in entries:
        for kind in ("partial", "old"):
            prefix = f".{name}.{kind}-"
            token = p.name[len(prefix) :] if p.name.startswith(prefix) else ""
            if token and p.is_dir() and not p.is_symlink():
                if _TOKEN.fullmatch(token):
                    _clean_one(p, kind, token, parent / f".{name}.partial-{token}", owner, warn)
                elif kind == "partial" and token.isdigit():
                    warn(f"{p} was left by an older yolo_attn that did not mark its folders; remove it yourself")


def _clean_one(p: Path, kind: str, token: str, partial: Path, owner: Owner, warn: Callable[[str], None]) -> None:
    try:
        if kind == "partial" and (info := _owner_info(p)) is not None:
            mine = info.get("writer") == owner.writer and info.get("token") == token
            pid = info.get("pid")
            if not mine or not isinstance(pid, int) or info.get("host") != socket.gethostname() or _pid_alive(pid):
                return  # another run (or another host) may still be writing it; not ours to judge
            left = _remove_partial(p, owner)
        elif kind == "old" and partial.exists():
            return  # a swap in progress
        else:  # a complete result: an aside copy, or a partial one killed just before its rename
            try:
                rec, foreign, changed = audit(p, owner)
            except NotOurs as e:
                warn(f"left {p} in place: it is not provably a result of {owner.what} ({e})")
                return
            left = remove_listed(p, rec, owner) if not foreign and not changed else foreign + changed
        if left:
            warn(f"left {p} in place: it holds entries {owner.what} did not write: {_names(left)}")
    except OSError as e:
        warn(f"could not clean up {p}: {e}")


# ----------------------------------------------------------------------------------------------- swapping
def swap_into_place(tmp: Path, dest: Path, token: str, owner: Owner, hint: str, warn: Callable[[str], None]) -> None:
    """Move the finished folder ``tmp`` to ``dest`` (same file system, renames only), replacing a provable result.

    ``dest`` is at every moment absent, the old complete result or the new one, never a mix. An earlier ``dest`` is
    checked (again) after it is renamed aside; if it is not provably ours it is put back and `FileExistsError` raised.
    The old result is deleted entry by entry (listed and unchanged only); anything else in it is kept and reported.
    """
    (tmp / OWNER_FILE).unlink()
    for _ in range(5):  # another run may swap at the same moment: retry
        try:
            os.rename(tmp, dest)  # succeeds when dest is absent or an empty folder
            return
        except FileNotFoundError:
            if not tmp.exists():
                raise
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            read_record(dest, owner)  # cheap first look; the full check runs once it is aside
        except NotOurs:
            why = refusal(dest, owner, hint)
            if why is not None:
                raise FileExistsError(why) from None
            continue  # emptied or removed meanwhile: try the rename again
        old = dest.parent / f".{dest.name}.old-{token}"
        try:
            os.rename(dest, old)
        except FileNotFoundError:
            continue
        why = refusal(old, owner, hint)
        if why is not None:  # changed since it was checked: put it back untouched
            os.rename(old, dest)
            raise FileExistsError(why.replace(str(old), str(dest)))
        try:
            os.rename(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(old, dest)
            raise
        try:
            rec = read_record(old, owner)
            left = remove_listed(old, rec, owner)
        except NotOurs:  # an empty folder was aside
            left = []
            with contextlib.suppress(OSError):
                old.rmdir()
        if left:
            warn(f"kept {old}: entries appeared in the old {dest.name} while it was replaced: {_names(left)}")
        return
    raise FileExistsError(f"{dest} kept changing while it was being replaced (another run?); try again")


def discard_partial(tmp: Path, owner: Owner, warn: Callable[[str], None]) -> None:
    """Remove this run's own partial folder after a failure (only paths of the writer's layout)."""
    try:
        left = _remove_partial(tmp, owner) if tmp.exists() else []
    except OSError as e:
        left = [str(e)]
    if left:
        warn(f"left {tmp} in place after the failure: {_names(left)}")
