"""Fault injection for each entry point: `prepare_voc`, `make_sample_dataset`, and the commands `yolo-attn voc prepare`
and `yolo-attn data sample` in fresh processes (exit statuses, real file-size limits, SIGKILL and SIGINT mid-run).

Every case asserts: the documented error (type, errno, exit status, one line on stderr), no half-written result that
looks complete, the previous complete result untouched, no temporary folder left behind (except where a hard kill
leaves one, which the next run removes), and a re-run that works.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import YOLO_ATTN_BIN, offline_env
from hostile_data import snapshot

from yolo_attn.cli import main
from yolo_attn.data._fs import OWNER_FILE, TreeWriter
from yolo_attn.data.sample import SAMPLE_MARKER, make_sample_dataset
from yolo_attn.data.voc import is_prepared, prepare_voc


def enospc(*_args, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device (injected)")


def fail_nth(monkeypatch, owner, name: str, n: int, exc=enospc) -> dict:
    """Make call number `n` (1-based) of `owner.name` fail with `exc`; returns the call counter."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kw):
        calls["n"] += 1
        if calls["n"] == n:
            exc()
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".yolo-config")


@pytest.fixture
def devkit(sample_devkits, tmp_path) -> Path:
    return sample_devkits(tmp_path / "in")


@pytest.fixture(scope="module")
def n_writes(sample_devkits, tmp_path_factory) -> int:
    """How many files `prepare_voc` writes before its record for the 24-image devkit (labels, JSONs, YAML)."""
    root = tmp_path_factory.mktemp("count")
    devkit = sample_devkits(root / "in")
    calls = {"n": 0}
    real = TreeWriter.write_bytes

    def count(self, rel, data):
        calls["n"] += 1
        return real(self, rel, data)

    TreeWriter.write_bytes = count
    try:
        prepare_voc(devkit, root / "ds", log=None)
    finally:
        TreeWriter.write_bytes = real
    return calls["n"]


# ======================================================================================= prepare_voc, in process
@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "over-previous"])
@pytest.mark.parametrize("at", ["first", "second", "middle", "ground-truth", "yaml", "record"])
def test_prepare_disk_full_while_writing(devkit, tmp_path, monkeypatch, n_writes, previous, at):
    out = tmp_path / "ds"
    if previous:
        prepare_voc(devkit, out, log=None)
    before = snapshot(out) if previous else None
    if at == "record":  # the completion record, written last
        fail_nth(monkeypatch, TreeWriter, "write_record", 1)
    else:  # labels ..., annotations/{train,val,test}.json, data.yaml
        n = {"first": 1, "second": 2, "middle": n_writes // 2, "ground-truth": n_writes - 1, "yaml": n_writes}[at]
        fail_nth(monkeypatch, TreeWriter, "write_bytes", n)
    with pytest.raises(OSError) as err:
        prepare_voc(devkit, out, log=None)
    assert err.value.errno == errno.ENOSPC
    assert leftovers(tmp_path) == []  # the partial folder is gone
    if previous:
        assert snapshot(out) == before and is_prepared(out)
    else:
        assert not out.exists()
    monkeypatch.undo()
    assert prepare_voc(devkit, out, log=None).images["train"] > 0 and leftovers(tmp_path) == []


@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "over-previous"])
def test_prepare_disk_full_while_linking_images(devkit, tmp_path, monkeypatch, previous):
    out = tmp_path / "ds"
    if previous:
        prepare_voc(devkit, out, log=None)
    before = snapshot(out) if previous else None
    fail_nth(monkeypatch, os, "link", 5)
    with pytest.raises(OSError) as err:  # a full disk is not worked around by symlinks or copies
        prepare_voc(devkit, out, log=None)
    assert err.value.errno == errno.ENOSPC and leftovers(tmp_path) == []
    assert (snapshot(out) == before) if previous else not out.exists()


def test_prepare_hard_links_impossible_falls_back_to_symlinks(devkit, tmp_path, monkeypatch):
    """Another file system (EXDEV): symlinks instead, and the record proves them on the next run."""

    def exdev(*_a, **_k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", exdev)
    res = prepare_voc(devkit, tmp_path / "ds", log=None)
    assert res.link_modes == {"symlink": sum(res.images.values())}
    res = prepare_voc(devkit, tmp_path / "ds", log=None)  # provably ours: replaced
    assert is_prepared(res.out) and leftovers(tmp_path) == []


def test_prepare_copies_when_no_link_works(devkit, tmp_path, monkeypatch):
    def eperm(*_a, **_k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", eperm)
    monkeypatch.setattr(os, "symlink", eperm)
    res = prepare_voc(devkit, tmp_path / "ds", log=None)
    assert res.link_modes == {"copy": sum(res.images.values())}
    img = next((res.out / "images" / "train").iterdir())
    assert not img.is_symlink() and os.stat(img).st_nlink == 1
    prepare_voc(devkit, tmp_path / "ds", log=None)  # copies are proven by their hash
    assert is_prepared(res.out)


# renames of a replacement (an earlier result exists): 1 = new onto old (refused by the kernel: not empty),
# 2 = old aside, 3 = new into place, 4 = old back (only after 3 failed)
def eio(*_a, **_k):
    raise OSError(errno.EIO, "Input/output error (injected)")


@pytest.mark.parametrize("n", [2, 3], ids=["moving-old-aside", "moving-new-in"])
def test_prepare_rename_fails_during_the_swap(devkit, tmp_path, monkeypatch, n):
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    before = snapshot(out)
    fail_nth(monkeypatch, os, "rename", n, exc=eio)
    with pytest.raises(OSError) as err:
        prepare_voc(devkit, out, log=None)
    assert err.value.errno == errno.EIO and snapshot(out) == before and leftovers(tmp_path) == []


def test_prepare_rename_and_restore_both_fail(devkit, tmp_path, monkeypatch):
    """The worst case: the old result stays aside (complete, not at `out`); the next run removes it."""
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    real = os.rename
    calls = {"n": 0}

    def rename(src, dst):
        calls["n"] += 1
        if calls["n"] in (3, 4):
            eio()
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError):
        prepare_voc(devkit, out, log=None)
    assert not out.exists() and not is_prepared(out)  # nothing at `out` looks complete
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".ds.old-")]
    assert len(aside) == 1 and is_prepared(aside[0])
    monkeypatch.undo()
    prepare_voc(devkit, out, log=None)
    assert is_prepared(out) and leftovers(tmp_path) == []


def test_prepare_cannot_create_its_temporary_folder(devkit, tmp_path, monkeypatch):
    real = Path.mkdir

    def mkdir(self, *a, **k):
        if ".partial-" in self.name:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(PermissionError, match="Permission denied"):
        prepare_voc(devkit, tmp_path / "ds", log=None)
    assert leftovers(tmp_path) == [] and not (tmp_path / "ds").exists()


def test_prepare_interrupted_while_writing_the_record(devkit, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    before = snapshot(out)

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(TreeWriter, "write_record", interrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare_voc(devkit, out, log=None)
    assert snapshot(out) == before and leftovers(tmp_path) == []


# ======================================================================================= make_sample_dataset
@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "over-previous"])
@pytest.mark.parametrize("n", [1, 9, 40], ids=["first", "middle", "record"])  # 8 images: 16 + 28 set files + record
def test_sample_disk_full_while_writing(tmp_path, monkeypatch, previous, n):
    if previous:
        make_sample_dataset(tmp_path, images=8, imgsz=32)
    before = snapshot(tmp_path)
    if n == 40:
        fail_nth(monkeypatch, TreeWriter, "write_record", 1)
    else:
        fail_nth(monkeypatch, TreeWriter, "write_bytes", n)
    with pytest.raises(OSError) as err:
        make_sample_dataset(tmp_path, images=8, imgsz=32, seed=5)
    assert err.value.errno == errno.ENOSPC and snapshot(tmp_path) == before
    monkeypatch.undo()
    assert json.loads((make_sample_dataset(tmp_path, images=8, imgsz=32) / SAMPLE_MARKER).read_text())["images"] == 8
    assert leftovers(tmp_path) == []


def test_sample_rename_fails_during_the_swap(tmp_path, monkeypatch):
    make_sample_dataset(tmp_path, images=4, imgsz=32)
    before = snapshot(tmp_path)
    fail_nth(monkeypatch, os, "rename", 3, exc=eio)
    with pytest.raises(OSError) as err:
        make_sample_dataset(tmp_path, images=4, imgsz=32, seed=1)
    assert err.value.errno == errno.EIO and snapshot(tmp_path) == before


# ======================================================================================= the commands, fresh processes
def limit_file_size(nbytes: int):
    """preexec_fn: files larger than `nbytes` cannot be written (EFBIG, a real kernel error; SIGXFSZ ignored)."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def run_cli(args: list[str], cwd: Path, preexec=None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = offline_env(cwd / ".yolo-config")
    return subprocess.run(
        [str(YOLO_ATTN_BIN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_voc_prepare_file_too_large_exits_1_and_keeps_the_previous_result(sample_devkits, tmp_path):
    devkit = sample_devkits(tmp_path / "in", images=48, imgsz=64)
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    before = snapshot(out)
    assert (out / "annotations" / "train.json").stat().st_size > 8192  # the limit bites mid-run
    r = run_cli(["voc", "prepare", "--devkit", str(devkit), "--out", str(out)], tmp_path, limit_file_size(8192))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("yolo-attn voc: error (OSError): [Errno 27] File too large")
    assert "Traceback" not in r.stderr
    assert snapshot(out) == before and leftovers(tmp_path) == []


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_data_sample_file_too_large_exits_1_and_writes_nothing(tmp_path):
    r = run_cli(["data", "sample", "--out", "s", "--images", "40", "--imgsz", "96"], tmp_path, limit_file_size(6000))
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("yolo-attn data: error (OSError): [Errno 27] File too large")
    assert "Traceback" not in r.stderr and os.listdir(tmp_path / "s") == []


SLOW = """
import sys, time
from yolo_attn.data import _fs
real = _fs.TreeWriter.write_bytes
def slow(self, rel, data):
    time.sleep(0.05)
    return real(self, rel, data)
_fs.TreeWriter.write_bytes = slow  # slower writes: a window to kill in; the kill itself is real
from yolo_attn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_slow(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SLOW), *args],
        cwd=cwd,
        env=offline_env(cwd / ".yolo-config"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_partial(proc: subprocess.Popen, parent: Path, prefix: str, pattern: str, count: int) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for p in parent.glob(f"{prefix}.partial-*"):
            if len(list(p.glob(pattern))) >= count:
                return p
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("the run never got to writing")


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_voc_prepare_killed_mid_run(sample_devkits, tmp_path):
    devkit = sample_devkits(tmp_path / "in")
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    before = snapshot(out)
    proc = start_slow(["voc", "prepare", "--devkit", str(devkit), "--out", str(out)], tmp_path)
    part = wait_for_partial(proc, tmp_path, ".ds", "labels/train/*.txt", 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(out) == before and is_prepared(out)  # the previous result is whole
    assert part.is_dir() and (part / OWNER_FILE).is_file() and not is_prepared(part)  # the partial never looks done
    logged: list[str] = []
    prepare_voc(devkit, out, log=logged.append)  # the next run removes the dead run's folder, silently
    assert not part.exists() and leftovers(tmp_path) == [] and not any("warning" in m for m in logged)


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_data_sample_killed_mid_run(tmp_path):
    make_sample_dataset(tmp_path / "s", images=6, imgsz=32)
    before = snapshot(tmp_path / "s")
    proc = start_slow(["data", "sample", "--out", "s", "--images", "60", "--imgsz", "32"], tmp_path)
    part = wait_for_partial(proc, tmp_path / "s", ".VOCdevkit", "VOC2007/JPEGImages/*.jpg", 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = {k: v for k, v in snapshot(tmp_path / "s").items() if not k.startswith(part.name)}
    assert after == before and not (part / SAMPLE_MARKER).exists()  # the old devkit whole, the partial not complete
    make_sample_dataset(tmp_path / "s", images=6, imgsz=32)
    assert leftovers(tmp_path / "s") == []


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_voc_prepare_interrupted_exits_130_and_cleans_up(sample_devkits, tmp_path):
    devkit = sample_devkits(tmp_path / "in")
    out = tmp_path / "ds"
    prepare_voc(devkit, out, log=None)
    before = snapshot(out)
    proc = start_slow(["voc", "prepare", "--devkit", str(devkit), "--out", str(out)], tmp_path)
    wait_for_partial(proc, tmp_path, ".ds", "labels/train/*.txt", 3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1] == "yolo-attn voc: interrupted"
    assert snapshot(out) == before and leftovers(tmp_path) == []


# ======================================================================================= exit statuses of bad input
def bad_xml(devkit: Path) -> Path:
    image_id = (devkit / "VOC2007" / "ImageSets" / "Main" / "trainval.txt").read_text().split()[0]
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.write_text(re.sub(r"<xmin>\d+</xmin>", "<xmin>nan</xmin>", xml.read_text(), count=1))
    return xml


@pytest.mark.slow  # the yolo-attn command in a fresh process
def test_cli_bad_input_exit_2_and_skip_bad_exit_0(sample_devkits, tmp_path):
    """The real command once: a NaN corner is refused (exit 2, one line naming the file), --skip-bad skips it."""
    devkit = sample_devkits(tmp_path / "in")
    xml = bad_xml(devkit)
    r = run_cli(["voc", "prepare", "--devkit", str(devkit), "--out", "ds"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"yolo-attn voc: error: {xml}: malformed annotation: <xmin> of object 0 (")
    assert line.endswith(") is 'nan', not a finite number") and not (tmp_path / "ds").exists()
    r = run_cli(["voc", "prepare", "--devkit", str(devkit), "--out", "ds", "--skip-bad"], tmp_path)
    assert r.returncode == 0 and "skipped 1 bad input(s):" in r.stdout and str(xml) in r.stdout


CLI_BAD = [
    (["data", "sample", "--out", "s", "--images", "0"], "argument --images: '0' is not an integer from 4 to 100000"),
    (["data", "sample", "--out", "s", "--images", "-1"], "argument --images: '-1' is not an integer from 4 to 100000"),
    (["data", "sample", "--out", "s", "--images", "lots"], "argument --images: 'lots' is not an integer"),
    (["data", "sample", "--out", "s", "--imgsz", "tiny"], "argument --imgsz: 'tiny' is not an integer from 32 to 4096"),
    (["data", "sample", "--out", "s", "--imgsz", "31"], "argument --imgsz: '31' is not an integer from 32 to 4096"),
    (["data", "sample", "--out", "s", "--imgsz", "100000"], "argument --imgsz: '100000' is not an integer"),
    (["data", "sample", "--out", "s", "--seed", "-3"], "argument --seed: '-3' is not an integer >= 0"),
    (["data", "sample", "--out", "file.txt"], "is a file, not a folder"),
    (["data", "sample"], "the following arguments are required: --out"),
    (["voc", "prepare", "--devkit", "missing", "--out", "ds"], "VOC devkit folder not found"),
    (["voc", "prepare", "--devkit", "file.txt", "--out", "ds"], "is a file; give the VOCdevkit folder"),
    (["voc", "prepare", "--devkit", "in", "--out", "in/VOCdevkit/x"], "is inside the devkit"),
    (["voc", "prepare", "--devkit", "in", "--out", "."], "is inside the output folder"),
    (["voc", "prepare", "--devkit", "in", "--out", "ds", "--sets", "2007trainval"], "expected YEAR:SET"),
    (["voc", "prepare", "--devkit", "in", "--out", "ds", "--sets", "2007:trainval,2007:val"], "would be in the training split and in val/test"),
    (["voc", "prepare", "--devkit", "in", "--out", "ds", "--sets", "2007:../x"], "bad VOC set 2007:'../x'"),
    (["voc", "prepare", "--devkit", "in", "--out", "mine"], "is not a result of `yolo-attn voc prepare`: it has no prepared.json"),
    (["voc", "prepare", "--devkit", "in", "--out", "file.txt"], "exists and is not a folder"),
    (["voc", "prepare", "--devkit", "in"], "the following arguments are required: --out"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), CLI_BAD, ids=[" ".join(a[0])[:60] for a in CLI_BAD])
def test_cli_bad_arguments_exit_2_with_one_line(sample_devkits, tmp_path, monkeypatch, capsys, argv, message):
    sample_devkits(tmp_path / "in")
    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    try:
        status = main(argv)
    except SystemExit as e:  # argparse reports and exits itself
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert snapshot(tmp_path) == before
