"""Data loss: `voc prepare` and `data sample` replace or delete only what they provably wrote, never their input.

Each case is a hostile state of the output folder, of the devkit or of leftovers next to them; each asserts the exact
outcome (exception type and message, or what was kept and removed) and that no other file changed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from hostile_data import DEAD_PID, first_id, prepared, snapshot

from yolo_attn.data import _fs
from yolo_attn.data._fs import OWNER_FILE, TreeWriter
from yolo_attn.data.sample import SAMPLE_MARKER, SAMPLE_OWNER, make_sample_dataset
from yolo_attn.data.voc import PREPARE_OWNER, BadVOCInput, is_prepared, prepare_voc


@pytest.fixture
def devkit(sample_devkits, tmp_path) -> Path:
    return sample_devkits(tmp_path / "in")


@pytest.fixture
def out(devkit, tmp_path) -> Path:
    return prepared(devkit, tmp_path / "ds")


def jpg(out: Path, split: str = "train") -> Path:
    return sorted((out / "images" / split).iterdir())[0]


def label(out: Path, split: str = "train") -> Path:
    return sorted((out / "labels" / split).iterdir())[0]


# ------------------------------------------------------------------------ foreign or changed entries in --out: refused
def add_root_file(out, devkit):
    (out / "notes.txt").write_text("mine")
    return "1 entry it did not write: notes.txt"


def add_image(out, devkit):
    shutil.copy(jpg(out), out / "images" / "train" / "extra.jpg")
    return "1 entry it did not write: images/train/extra.jpg"


def add_label(out, devkit):
    (out / "labels" / "val" / "mine.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return "1 entry it did not write: labels/val/mine.txt"


def add_empty_folder(out, devkit):
    (out / "mine").mkdir()
    return "1 entry it did not write: mine/"


def add_nested_folder(out, devkit):
    (out / "runs" / "exp").mkdir(parents=True)
    (out / "runs" / "exp" / "best.pt").write_bytes(b"weights")
    return "3 entries it did not write: runs/, runs/exp/, runs/exp/best.pt"


def add_symlink(out, devkit):
    (out / "etc").symlink_to("/etc")
    return "1 entry it did not write: etc"


def add_symlink_to_folder_inside(out, devkit):
    (out / "images" / "all").symlink_to(out / "images" / "train")
    return "1 entry it did not write: images/all"


def add_hardlink_to_devkit_image(out, devkit):
    os.link(devkit / "VOC2007" / "JPEGImages" / f"{first_id(devkit)}.jpg", out / "images" / "train" / "more.jpg")
    return "1 entry it did not write: images/train/more.jpg"


def add_cache_file(out, devkit):
    (out / "labels" / "train.cache").write_bytes(b"ultralytics cache")  # what Ultralytics writes next to labels
    return "1 entry it did not write: labels/train.cache"


def add_numpy_file_elsewhere(out, devkit):
    (out / "labels" / "train" / "mine.npy").write_bytes(b"\x93NUMPY\x01\x00 not a cache Ultralytics writes here")
    return "1 entry it did not write: labels/train/mine.npy"


def add_cache_symlink(out, devkit):
    (out.parent / "real.cache").write_bytes(b"\x93NUMPY\x01\x00")
    (out / "labels" / "val.cache").symlink_to(out.parent / "real.cache")
    return "1 entry it did not write: labels/val.cache"


def edit_label(out, devkit):
    p = label(out)
    p.write_text(p.read_text() + "0 0.5 0.5 0.1 0.1\n")
    return f"1 file(s) changed since it wrote them: labels/train/{p.name}"


def edit_label_same_size(out, devkit):
    p = label(out)
    text = p.read_text()
    p.write_text(("1" if text[0] != "1" else "2") + text[1:])
    return f"changed since it wrote them: labels/train/{p.name}"


def replace_image_by_copy(out, devkit):
    p = jpg(out)
    data = p.read_bytes()
    p.unlink()
    p.write_bytes(data)  # same bytes, but a new file: not the one prepare linked
    return f"changed since it wrote them: images/train/{p.name}"


def replace_image_by_symlink(out, devkit):
    p = jpg(out)
    p.unlink()
    p.symlink_to(devkit / "VOC2007" / "JPEGImages" / p.name.split("_", 1)[1])
    return f"changed since it wrote them: images/train/{p.name}"


def edit_data_yaml(out, devkit):
    p = out / "data.yaml"
    p.write_text(p.read_text().replace("nc: 6", "nc: 7"))
    return "changed since it wrote them: data.yaml"


def replace_ground_truth(out, devkit):
    p = out / "annotations" / "test.json"
    p.write_text('{"images": [], "annotations": [], "categories": []}\n')
    return "changed since it wrote them: annotations/test.json"


def replace_label_by_folder(out, devkit):
    p = label(out)
    p.unlink()
    p.mkdir()
    return f"1 entry it did not write: labels/train/{p.name}/"


FOREIGN = [
    add_root_file,
    add_image,
    add_label,
    add_empty_folder,
    add_nested_folder,
    add_symlink,
    add_symlink_to_folder_inside,
    add_hardlink_to_devkit_image,
    add_cache_file,
    add_numpy_file_elsewhere,
    add_cache_symlink,
    edit_label,
    edit_label_same_size,
    replace_image_by_copy,
    replace_image_by_symlink,
    edit_data_yaml,
    replace_ground_truth,
    replace_label_by_folder,
]


@pytest.mark.parametrize("change", FOREIGN, ids=lambda f: f.__name__)
def test_rerun_refuses_an_earlier_result_with_foreign_or_changed_entries(devkit, out, change):
    expected = change(out, devkit)
    before_out, before_devkit = snapshot(out), snapshot(devkit)
    with pytest.raises(FileExistsError) as err:
        prepare_voc(devkit, out, log=None)
    msg = str(err.value)
    assert f"{out} is an earlier result of `yolo-attn voc prepare` but holds" in msg and expected in msg
    assert "Nothing was changed" in msg
    assert snapshot(out) == before_out and snapshot(devkit) == before_devkit
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporaries


def test_caches_ultralytics_writes_into_the_dataset_go_with_it(devkit, out):
    """Training on the dataset makes Ultralytics write labels/<split>.cache (and *.npy with cache=disk): derived
    from our files and stale after a re-run, so a re-run removes them instead of refusing."""
    from ultralytics.data.dataset import YOLODataset

    names = dict(enumerate(json.loads((out / "prepared.json").read_text())["classes"]))
    for split in ("train", "val"):
        ds = YOLODataset(
            img_path=str(out / "images" / split), data={"names": names, "channels": 3}, imgsz=64, cache="disk",
            augment=False,
        )  # fmt: skip
        assert len(ds.labels) > 0
    caches = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.suffix in (".cache", ".npy"))
    assert "labels/train.cache" in caches and "labels/val.cache" in caches and any(c.endswith(".npy") for c in caches)
    before_devkit = snapshot(devkit)
    prepare_voc(devkit, out, log=None)
    assert not [p for p in out.rglob("*") if p.suffix in (".cache", ".npy")] and is_prepared(out)
    assert snapshot(devkit) == before_devkit


# ------------------------------------------------------------------------ a folder without a valid record: refused
def record_v1(out):
    """The original data-loss case: prepared.json and data.yaml present, user files beside them."""
    rec = json.loads((out / "prepared.json").read_text())
    rec["format_version"] = 1
    del rec["files"], rec["dirs"]
    (out / "prepared.json").write_text(json.dumps(rec))
    (out / "my_notes.txt").write_text("keep me")
    return "its prepared.json has format version 1, not 2 (older versions did not list the files they wrote)"


def record_handmade(out):
    (out / "prepared.json").write_text('{"anything": 1}')
    return "its prepared.json was not written by `yolo-attn voc prepare`"


def record_not_json(out):
    (out / "prepared.json").write_text("{ not json")
    return "its prepared.json is not readable JSON"


def record_binary(out):
    (out / "prepared.json").write_bytes(b"\xff\xfe\x00garbage")
    return "its prepared.json is not readable JSON"


def record_list(out):
    (out / "prepared.json").write_text("[1, 2]")
    return "its prepared.json was not written by `yolo-attn voc prepare`"


def record_files_wrong_types(out):
    rec = json.loads((out / "prepared.json").read_text())
    rec["files"] = {"data.yaml": ["634", "sha256:00"]}
    (out / "prepared.json").write_text(json.dumps(rec))
    return "its prepared.json has no valid file list"


def record_dirs_not_list(out):
    rec = json.loads((out / "prepared.json").read_text())
    rec["dirs"] = "images"
    (out / "prepared.json").write_text(json.dumps(rec))
    return "its prepared.json has no valid file list"


def record_is_folder(out):
    (out / "prepared.json").unlink()
    (out / "prepared.json").mkdir()
    return "its prepared.json is not a regular file"


def record_is_symlink(out):
    target = out.parent / "elsewhere.json"
    (out / "prepared.json").rename(target)
    (out / "prepared.json").symlink_to(target)
    return "its prepared.json is not a regular file"


def record_missing(out):
    (out / "prepared.json").unlink()
    return "it has no prepared.json"


def only_yaml_and_user_files(out):
    for p in sorted(out.iterdir()):
        if p.name != "data.yaml":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (out / "train.py").write_text("print('mine')\n")
    return "it has no prepared.json"


def sample_record_in_dataset(out):
    (out / "prepared.json").unlink()
    (out / "prepared.json").write_text(json.dumps({"writer": SAMPLE_OWNER.writer, "format_version": 2}))
    return "its prepared.json was not written by `yolo-attn voc prepare`"


NOT_OURS = [
    record_v1,
    record_handmade,
    record_not_json,
    record_binary,
    record_list,
    record_files_wrong_types,
    record_dirs_not_list,
    record_is_folder,
    record_is_symlink,
    record_missing,
    only_yaml_and_user_files,
    sample_record_in_dataset,
]


@pytest.mark.parametrize("change", NOT_OURS, ids=lambda f: f.__name__)
def test_refuses_a_folder_without_a_valid_record(devkit, out, change):
    expected = change(out)
    before_out, before_devkit = snapshot(out), snapshot(devkit)
    with pytest.raises(FileExistsError) as err:
        prepare_voc(devkit, out, log=None)
    msg = str(err.value)
    assert f"{out} is not empty and is not a result of `yolo-attn voc prepare`: {expected}" in msg
    assert "refusing to replace it" in msg
    assert snapshot(out) == before_out and snapshot(devkit) == before_devkit
    assert not is_prepared(out)


def test_out_is_a_file_or_a_link_to_a_foreign_folder(devkit, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    with pytest.raises(FileExistsError, match="file.txt exists and is not a folder"):
        prepare_voc(devkit, f, log=None)
    assert f.read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a.txt").write_text("a")
    link = tmp_path / "link"
    link.symlink_to(foreign)
    with pytest.raises(FileExistsError, match="foreign is not empty and is not a result of"):
        prepare_voc(devkit, link, log=None)
    assert (foreign / "a.txt").read_text() == "a" and link.is_symlink()


def test_a_file_added_while_prepare_runs_is_kept_and_the_swap_refused(devkit, out, monkeypatch):
    """The check at the start passes; a user adds a file before the swap: the swap re-checks and puts it back."""
    real = TreeWriter.write_record

    def add_then_write(self, owner, record):
        (out / "late.txt").write_text("added during the run")
        return real(self, owner, record)

    monkeypatch.setattr(TreeWriter, "write_record", add_then_write)
    before = {k: v for k, v in snapshot(out).items()}
    with pytest.raises(FileExistsError, match="1 entry it did not write: late.txt"):
        prepare_voc(devkit, out, log=None)
    after = snapshot(out)
    assert after.pop("late.txt")[0] == "file" and after == before  # the old dataset is back where it was
    assert (out / "late.txt").read_text() == "added during the run" and is_prepared(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["ds", "in"]


def test_a_file_added_to_the_old_result_after_its_check_is_kept(devkit, out, monkeypatch):
    """Between the last check and the deletion of the old result: the deletion removes listed files only."""
    real = _fs.remove_listed

    def add_then_remove(folder, rec, owner):
        (folder / "labels" / "train" / "late.txt").write_text("mine")
        return real(folder, rec, owner)

    monkeypatch.setattr(_fs, "remove_listed", add_then_remove)
    logged = []
    prepare_voc(devkit, out, log=logged.append)
    old = [p for p in out.parent.iterdir() if p.name.startswith(".ds.old-")]
    assert len(old) == 1 and sorted(str(p.relative_to(old[0])) for p in old[0].rglob("*")) == [
        "labels",
        "labels/train",
        "labels/train/late.txt",
        "prepared.json",  # kept with them: it says whose folder this was
    ]
    assert any("entries appeared in the old ds while it was replaced: labels/, labels/train/" in m for m in logged)
    assert is_prepared(out)


# ------------------------------------------------------------------------ devkit and out overlapping: refused
def out_is_devkit(devkit, tmp_path):
    return devkit, "is inside the devkit"


def out_inside_devkit(devkit, tmp_path):
    return devkit / "voc", "is inside the devkit"


def out_inside_jpeg_folder(devkit, tmp_path):
    return devkit / "VOC2007" / "JPEGImages" / "voc", "is inside the devkit"


def devkit_inside_out(devkit, tmp_path):
    return devkit.parent, "is inside the output folder"


def out_is_parent_of_parent(devkit, tmp_path):
    return tmp_path, "is inside the output folder"


def out_symlink_to_devkit(devkit, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(devkit)
    return link, "is inside the devkit"


def out_symlink_to_year_folder(devkit, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(devkit / "VOC2007")
    return link, "is inside the devkit"


def out_dotdot_into_devkit(devkit, tmp_path):
    return devkit / "VOC2007" / ".." / "VOC2007" / "x", "is inside the devkit"


def jpeg_folder_linked_from_inside_out(devkit, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    shutil.move(devkit / "VOC2007" / "JPEGImages", store / "JPEGImages")
    (devkit / "VOC2007" / "JPEGImages").symlink_to(store / "JPEGImages")
    return store, "overlaps the output folder"


def out_inside_linked_jpeg_folder(devkit, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    shutil.move(devkit / "VOC2007" / "JPEGImages", store / "JPEGImages")
    (devkit / "VOC2007" / "JPEGImages").symlink_to(store / "JPEGImages")
    return store / "JPEGImages" / "voc", "overlaps the output folder"


def year_folder_linked_into_out(devkit, tmp_path):
    real = tmp_path / "ds" / "VOC2007"
    real.parent.mkdir()
    shutil.move(devkit / "VOC2007", real)
    (devkit / "VOC2007").symlink_to(real)
    return tmp_path / "ds", "overlaps the output folder"


OVERLAPS = [
    out_is_devkit,
    out_inside_devkit,
    out_inside_jpeg_folder,
    devkit_inside_out,
    out_is_parent_of_parent,
    out_symlink_to_devkit,
    out_symlink_to_year_folder,
    out_dotdot_into_devkit,
    jpeg_folder_linked_from_inside_out,
    out_inside_linked_jpeg_folder,
    year_folder_linked_into_out,
]


@pytest.mark.parametrize("case", OVERLAPS, ids=lambda f: f.__name__)
def test_devkit_and_out_must_not_overlap(devkit, tmp_path, case):
    out, expected = case(devkit, tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=expected):
        prepare_voc(devkit, out, log=None)
    assert snapshot(tmp_path) == before


def test_devkit_given_through_a_symlink_with_out_inside_it(devkit, tmp_path):
    link = tmp_path / "devkit-link"
    link.symlink_to(devkit)
    before = snapshot(devkit)
    with pytest.raises(ValueError, match="is inside the devkit"):
        prepare_voc(link, devkit / "VOC2007" / "out", log=None)
    with pytest.raises(ValueError, match="is inside the output folder"):
        prepare_voc(link, tmp_path, log=None)
    assert snapshot(devkit) == before


def test_an_input_file_linked_into_the_output_is_bad_input(devkit, out):
    image_id = first_id(devkit)
    src = devkit / "VOC2007" / "JPEGImages" / f"{image_id}.jpg"
    src.unlink()
    src.symlink_to(out / "images" / "train" / f"2007_{image_id}.jpg")
    before = snapshot(out)
    with pytest.raises(BadVOCInput, match="is a link into the output folder") as err:
        prepare_voc(devkit, out, log=None)
    assert err.value.path == src and snapshot(out) == before


# ------------------------------------------------------------------------ accepted, as documented
def test_empty_folder_and_incomplete_own_result_are_replaced(devkit, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_voc(devkit, empty, log=None)
    assert is_prepared(empty)
    jpg(empty).unlink()  # a user deleted one of our files: nothing of theirs to lose
    (empty / "annotations" / "val.json").unlink()
    res = prepare_voc(devkit, empty, log=None)
    assert is_prepared(empty) and (empty / "annotations" / "val.json").is_file()
    assert len(list((empty / "images" / "train").iterdir())) == res.images["train"]


def test_symlinked_out_is_followed_and_stays_a_link(devkit, out, tmp_path):
    link = tmp_path / "current"
    link.symlink_to(out)
    res = prepare_voc(devkit, link, log=None)
    assert res.out == out and link.is_symlink() and is_prepared(link)
    assert f'path: "{out}"' in (out / "data.yaml").read_text()


def test_rerun_after_the_sample_devkit_was_regenerated(tmp_path):
    """New devkit files (new inodes); the old dataset's hard links still prove themselves by their own inodes."""
    devkit = make_sample_dataset(tmp_path, images=8, imgsz=48)
    prepare_voc(devkit, tmp_path / "voc", log=None)
    make_sample_dataset(tmp_path, images=8, imgsz=48, seed=1)
    prepare_voc(devkit, tmp_path / "voc", log=None)
    jpeg = jpg(tmp_path / "voc")
    assert os.path.samefile(jpeg, devkit / "VOC2007" / "JPEGImages" / jpeg.name.split("_", 1)[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "voc"]


def test_devkit_parent_given_with_out_beside_the_devkit(devkit, tmp_path):
    """--devkit may name the folder that holds VOCdevkit; an --out beside VOCdevkit in it is fine."""
    res = prepare_voc(devkit.parent, devkit.parent / "voc", log=None)
    assert is_prepared(res.out) and res.out.parent == devkit.parent


# ------------------------------------------------------------------------ leftovers of killed runs
def partial(parent: Path, name: str, token: str, pid: int | None, host: str | None = None, writer=None) -> Path:
    p = parent / f".{name}.partial-{token}"
    (p / "images" / "train").mkdir(parents=True)
    (p / "labels" / "train").mkdir(parents=True)
    (p / "labels" / "train" / "2007_000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (p / "images" / "train" / "2007_000001.jpg").write_bytes(b"\xff\xd8 part of a jpeg")
    if pid is not None:
        info = {
            "writer": writer or PREPARE_OWNER.writer,
            "token": token,
            "pid": pid,
            "host": host or socket.gethostname(),
        }
        (p / OWNER_FILE).write_text(json.dumps(info))
    return p


T1, T2 = "1" * 32, "2" * 32


def stale_dead(tmp_path):
    return partial(tmp_path, "ds", T1, DEAD_PID), "removed", None


def stale_alive(tmp_path):
    return partial(tmp_path, "ds", T1, os.getpid()), "kept", None


def stale_other_host(tmp_path):
    return partial(tmp_path, "ds", T1, DEAD_PID, host="another-host.example"), "kept", None


def stale_other_writer(tmp_path):
    return partial(tmp_path, "ds", T1, DEAD_PID, writer=SAMPLE_OWNER.writer), "kept", None


def stale_token_mismatch(tmp_path):
    p = partial(tmp_path, "ds", T1, DEAD_PID)
    info = json.loads((p / OWNER_FILE).read_text())
    info["token"] = T2
    (p / OWNER_FILE).write_text(json.dumps(info))
    return p, "kept", None


def stale_with_user_file(tmp_path):
    p = partial(tmp_path, "ds", T1, DEAD_PID)
    (p / "labels" / "notes.md").write_text("mine")
    return (
        p,
        ["labels", "labels/notes.md"],
        "holds entries `yolo-attn voc prepare` did not write: labels/, labels/notes.md",
    )


def stale_bad_owner_file(tmp_path):
    p = partial(tmp_path, "ds", T1, None)
    (p / OWNER_FILE).write_text("garbage")
    return p, "kept", "it is not provably a result of `yolo-attn voc prepare` (it has no prepared.json)"


def stale_without_marker(tmp_path):
    return partial(tmp_path, "ds", T1, None), "kept", "it is not provably a result of `yolo-attn voc prepare`"


def stale_old_style(tmp_path):
    p = tmp_path / ".ds.partial-4242"
    (p / "images").mkdir(parents=True)
    return p, "kept", "was left by an older yolo_attn that did not mark its folders"


def user_hidden_folder(tmp_path):
    p = tmp_path / ".ds.partial-notes"
    p.mkdir()
    (p / "a.txt").write_text("mine")
    return p, "kept", None


def stale_symlink(tmp_path):
    target = partial(tmp_path, "elsewhere", T2, DEAD_PID)
    p = tmp_path / f".ds.partial-{T1}"
    p.symlink_to(target)
    return p, "kept", None


STALE = [
    stale_dead,
    stale_alive,
    stale_other_host,
    stale_other_writer,
    stale_token_mismatch,
    stale_with_user_file,
    stale_bad_owner_file,
    stale_without_marker,
    stale_old_style,
    user_hidden_folder,
    stale_symlink,
]


@pytest.mark.parametrize("case", STALE, ids=lambda f: f.__name__)
def test_stale_partial_folders_are_removed_only_when_provably_ours(devkit, tmp_path, case):
    left, outcome, warning = case(tmp_path)
    before = snapshot(left) if outcome == "kept" else None
    logged: list[str] = []
    prepare_voc(devkit, tmp_path / "ds", log=logged.append)
    assert is_prepared(tmp_path / "ds")
    warnings = [m for m in logged if m.startswith("warning: ")]
    if outcome == "removed":
        assert not os.path.lexists(left) and not warnings
    elif outcome == "kept":
        assert snapshot(left) == before
    else:  # only our layout's paths went; the user's file and its folders stay
        assert sorted(str(p.relative_to(left)) for p in left.rglob("*")) == outcome
    if warning is None:
        assert not warnings
    else:
        assert len(warnings) == 1 and warning in warnings[0] and str(left) in warnings[0]


def test_killed_between_the_renames_old_result_aside_is_removed(devkit, out, tmp_path):
    """A kill after `out` was renamed aside and before the new folder took its name: the next run cleans up."""
    aside = tmp_path / f".ds.old-{T1}"
    out.rename(aside)
    prepare_voc(devkit, out, log=None)
    assert is_prepared(out) and not aside.exists()


def test_killed_just_before_the_rename_complete_partial_is_removed(devkit, out, tmp_path):
    """A partial folder whose owner file is gone but whose record lists exactly what it holds is provably ours."""
    done = tmp_path / f".ds.partial-{T1}"
    shutil.copytree(out, done, copy_function=os.link)
    # the copied hard links have the same inodes, so the record proves them; labels are checked by hash
    prepare_voc(devkit, out, log=None)
    assert not done.exists() and is_prepared(out)


def test_aside_folder_with_a_swap_in_progress_or_a_foreign_file_is_kept(devkit, out, tmp_path):
    busy = tmp_path / f".ds.old-{T1}"
    shutil.copytree(out, busy, copy_function=os.link)
    partial(tmp_path, "ds", T1, os.getpid())  # its run is alive: a swap in progress
    dirty = tmp_path / f".ds.old-{T2}"
    shutil.copytree(out, dirty, copy_function=os.link)
    (dirty / "notes.txt").write_text("mine")
    busy_before, dirty_before = snapshot(busy), snapshot(dirty)
    logged: list[str] = []
    prepare_voc(devkit, out, log=logged.append)
    assert snapshot(busy) == busy_before and snapshot(dirty) == dirty_before
    assert [m for m in logged if m.startswith("warning")] == [
        f"warning: left {dirty} in place: it holds entries `yolo-attn voc prepare` did not write: notes.txt"
    ]


# ------------------------------------------------------------------------ the sample generator
def sample_real_devkit(root):
    (root / "VOCdevkit" / "VOC2007" / "Annotations").mkdir(parents=True)
    return FileExistsError, "is not a result of `yolo-attn data sample`: it has no yolo_attn_sample.json"


def sample_user_file(root):
    make_sample_dataset(root, images=4, imgsz=32)
    (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "mine.txt").write_text("000001\n")
    return FileExistsError, "1 entry it did not write: VOC2007/ImageSets/Main/mine.txt"


def sample_xml_edited(root):
    make_sample_dataset(root, images=4, imgsz=32)
    p = root / "VOCdevkit" / "VOC2007" / "Annotations" / "000001.xml"
    p.write_text(p.read_text().replace("<pose>Unspecified</pose>", "<pose>Left</pose>"))
    return FileExistsError, "changed since it wrote them: VOC2007/Annotations/000001.xml"


def sample_v1_manifest(root):
    make_sample_dataset(root, images=4, imgsz=32)
    p = root / "VOCdevkit" / SAMPLE_MARKER
    info = json.loads(p.read_text())
    info = {"generator": info.pop("writer"), **{k: v for k, v in info.items() if k not in ("files", "dirs")}}
    info["format_version"] = 1
    p.write_text(json.dumps(info))
    return FileExistsError, "has format version 1, not 2"


def sample_corrupt_manifest(root):
    make_sample_dataset(root, images=4, imgsz=32)
    (root / "VOCdevkit" / SAMPLE_MARKER).write_text("{")
    return FileExistsError, "its yolo_attn_sample.json is not readable JSON"


def sample_devkit_is_file(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "VOCdevkit").write_text("mine")
    return FileExistsError, "VOCdevkit exists and is not a folder"


def sample_devkit_is_symlink(root):
    make_sample_dataset(root.parent / "real", images=4, imgsz=32)
    root.mkdir(parents=True, exist_ok=True)
    (root / "VOCdevkit").symlink_to(root.parent / "real" / "VOCdevkit")
    return FileExistsError, "VOCdevkit is a symbolic link; refusing to replace it"


def sample_out_is_file(root):
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("mine")
    return NotADirectoryError, "is a file, not a folder"


SAMPLE_CASES = [
    sample_real_devkit,
    sample_user_file,
    sample_xml_edited,
    sample_v1_manifest,
    sample_corrupt_manifest,
    sample_devkit_is_file,
    sample_devkit_is_symlink,
    sample_out_is_file,
]


@pytest.mark.parametrize("case", SAMPLE_CASES, ids=lambda f: f.__name__)
def test_sample_generator_replaces_only_its_own_unchanged_devkit(tmp_path, case):
    root = tmp_path / "data"
    exc, expected = case(root)
    before = snapshot(tmp_path)
    with pytest.raises(exc) as err:
        make_sample_dataset(root, images=4, imgsz=32)
    assert expected in str(err.value)
    assert snapshot(tmp_path) == before


def test_sample_generator_cleans_its_own_stale_partial_only(tmp_path):
    make_sample_dataset(tmp_path, images=4, imgsz=32)
    mine = tmp_path / f".VOCdevkit.partial-{T1}"
    (mine / "VOC2007" / "JPEGImages").mkdir(parents=True)
    (mine / "VOC2007" / "JPEGImages" / "000001.jpg").write_bytes(b"\xff\xd8")
    info = {"writer": SAMPLE_OWNER.writer, "token": T1, "pid": DEAD_PID, "host": socket.gethostname()}
    (mine / OWNER_FILE).write_text(json.dumps(info))
    theirs = tmp_path / f".VOCdevkit.partial-{T2}"
    shutil.copytree(mine, theirs)
    info["writer"] = PREPARE_OWNER.writer  # another writer's folder with the same prefix: not ours to judge
    info["token"] = T2
    (theirs / OWNER_FILE).write_text(json.dumps(info))
    make_sample_dataset(tmp_path, images=4, imgsz=32)
    assert not mine.exists() and theirs.is_dir()
