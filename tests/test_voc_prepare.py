"""`prepare_voc` on the generated devkit and on a VOC2007+2012-style one: layout, labels, bad input, atomicity."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from yolo_attn.data._fs import OWNER_FILE, TreeWriter
from yolo_attn.data.sample import SAMPLE_CLASSES, SAMPLE_MARKER, make_sample_dataset
from yolo_attn.data.voc import (
    PREPARE_OWNER,
    VOC_CLASSES,
    BadVOCInput,
    ground_truth_path,
    is_prepared,
    prepare_voc,
    yolo_to_voc_box,
)

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample_dataset(tmp_path_factory.mktemp("sample"), images=24, seed=0, imgsz=96)


@pytest.fixture(scope="module")
def prepared(sample, tmp_path_factory):
    return prepare_voc(sample, tmp_path_factory.mktemp("prep") / "voc", log=None)


@pytest.fixture
def devkit(sample, tmp_path) -> Path:
    """A private copy to break."""
    return Path(shutil.copytree(sample, tmp_path / "VOCdevkit"))


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def set_ids(devkit: Path, name: str, year: str = "2007") -> list[str]:
    return (devkit / f"VOC{year}" / "ImageSets" / "Main" / f"{name}.txt").read_text().split()


def xml_objects(xml: Path):
    root = ET.parse(xml).getroot()
    size = int(root.findtext("size/width")), int(root.findtext("size/height"))
    objs = []
    for o in root.findall("object"):
        box = tuple(int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
        objs.append((o.findtext("name"), box, o.findtext("difficult") == "1"))
    return size, objs


# ------------------------------------------------------------------------------------------------ good input
def test_layout_counts_and_links(sample, prepared):
    out = prepared.out
    assert is_prepared(out) and prepared.yaml == out / "data.yaml"
    expect = {"train": set_ids(sample, "trainval"), "val": set_ids(sample, "test"), "test": set_ids(sample, "test")}
    for split, ids in expect.items():
        imgs = sorted(p.name for p in (out / "images" / split).iterdir())
        assert imgs == [f"2007_{i}.jpg" for i in ids]
        assert sorted(p.name for p in (out / "labels" / split).iterdir()) == [f"2007_{i}.txt" for i in ids]
        assert prepared.images[split] == len(ids)
        for i in ids:  # linked, not copied or moved
            src = sample / "VOC2007" / "JPEGImages" / f"{i}.jpg"
            assert src.is_file() and os.path.samefile(src, out / "images" / split / f"2007_{i}.jpg")
    assert prepared.link_modes == {"hardlink": sum(prepared.images.values())}
    assert not prepared.skipped


def test_labels_round_trip_exact_and_difficult_only_in_ground_truth(sample, prepared):
    out = prepared.out
    for split, set_name in (("train", "trainval"), ("test", "test")):
        gt = json.loads(ground_truth_path(out, split).read_text())
        by_file = {img["file_name"]: img for img in gt["images"]}
        anns: dict[int, list[dict]] = {}
        for a in gt["annotations"]:
            anns.setdefault(a["image_id"], []).append(a)
        n_difficult = 0
        for i in set_ids(sample, set_name):
            (w, h), objs = xml_objects(sample / "VOC2007" / "Annotations" / f"{i}.xml")
            rows = [r.split() for r in (out / "labels" / split / f"2007_{i}.txt").read_text().splitlines()]
            easy = [(n, b) for n, b, d in objs if not d]
            assert len(rows) == len(easy)
            for (name, box), row in zip(easy, rows, strict=True):
                assert SAMPLE_CLASSES[int(row[0])] == name
                assert yolo_to_voc_box(*map(float, row[1:]), w, h) == box  # exact to the pixel
            img = by_file[f"2007_{i}.jpg"]
            assert (img["width"], img["height"]) == (w, h)
            got = [
                (gt["categories"][a["category_id"] - 1]["name"], a["bbox"], a["difficult"], a["iscrowd"])
                for a in anns.get(img["id"], [])
            ]
            want = [(n, [b[0] - 1, b[1] - 1, b[2] - b[0] + 1, b[3] - b[1] + 1], int(d), int(d)) for n, b, d in objs]
            assert got == want
            n_difficult += sum(d for _, _, d in objs)
        assert n_difficult > 0 and prepared.difficult[split] == n_difficult


def test_yaml_loads_with_check_det_dataset_without_downloading(prepared, monkeypatch):
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import downloads

    from yolo_attn.integration.internals import no_font_download

    def no_network(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(downloads, "safe_download", no_network)
    monkeypatch.setattr(downloads, "is_url", no_network)
    text = prepared.yaml.read_text()
    assert "download" not in text.replace("downloads anything", "")
    with no_font_download():
        data = check_det_dataset(str(prepared.yaml))
    assert data["nc"] == len(SAMPLE_CLASSES) and list(data["names"].values()) == list(SAMPLE_CLASSES)
    assert Path(data["path"]) == prepared.out
    for s in ("train", "val", "test"):
        assert Path(data[s]) == prepared.out / "images" / s


def test_devkit_unchanged_and_rerun_idempotent(devkit, tmp_path):
    before = tree_hash(devkit)
    out = tmp_path / "out"
    prepare_voc(devkit, out, log=None)
    first = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    rec1 = json.loads(first.pop("prepared.json"))
    prepare_voc(devkit, out, log=None)
    second = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    rec2 = json.loads(second.pop("prepared.json"))
    assert first == second  # every data file identical
    # the record differs only in the run token and the identities (inodes) of the new image links
    assert rec1["token"] != rec2["token"] and rec1["files"].keys() == rec2["files"].keys() == first.keys()
    same = {k: v for k, v in rec1.items() if k not in ("token", "files")}
    assert same == {k: v for k, v in rec2.items() if k not in ("token", "files")}
    assert tree_hash(devkit) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "out"]  # no temporaries left


def test_interrupted_run_leaves_nothing_that_looks_complete(devkit, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_link = TreeWriter.link
    calls = {"n": 0}

    def failing_link(self, src, rel):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt("simulated interruption")
        return real_link(self, src, rel)

    monkeypatch.setattr(TreeWriter, "link", failing_link)
    with pytest.raises(KeyboardInterrupt):
        prepare_voc(devkit, out, log=None)
    assert not out.exists() and not is_prepared(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit"]

    # a hard kill leaves a hidden partial folder marked with its (now dead) process: it does not look complete and
    # the next run removes it; other hidden folders are not ours and stay
    stale = tmp_path / f".out.partial-{'a' * 32}"
    (stale / "images" / "train").mkdir(parents=True)
    (stale / "labels" / "train").mkdir(parents=True)
    (stale / "labels" / "train" / "2007_000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    dead = 2**22 + 12345  # above any pid_max: no such process
    owner = {"writer": PREPARE_OWNER.writer, "token": "a" * 32, "pid": dead, "host": socket.gethostname()}
    (stale / OWNER_FILE).write_text(json.dumps(owner))
    other = tmp_path / ".out.partial-notes"
    other.mkdir()
    monkeypatch.setattr(TreeWriter, "link", real_link)
    res = prepare_voc(devkit, out, log=None)
    assert is_prepared(out) and res.images["train"] == len(set_ids(devkit, "trainval"))
    assert not stale.exists() and other.is_dir()
    other.rmdir()

    # interrupting a re-run keeps the previous complete dataset intact
    good = tree_hash(out)
    calls["n"] = 0
    monkeypatch.setattr(TreeWriter, "link", failing_link)
    with pytest.raises(KeyboardInterrupt):
        prepare_voc(devkit, out, log=None)
    assert is_prepared(out) and tree_hash(out) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "out"]


def test_refuses_foreign_output_folder_and_output_inside_devkit(devkit, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not a result of `yolo-attn voc prepare`: it has no prepared.json"):
        prepare_voc(devkit, foreign, log=None)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="inside the devkit"):
        prepare_voc(devkit, devkit / "out", log=None)


def to_real_voc(devkit: Path) -> Path:
    """Turn the generated devkit into a VOC2007 + VOC2012 one with standard class names and no marker."""
    rename = dict(zip(SAMPLE_CLASSES, ("person", "car", "dog", "cat", "bird", "tvmonitor"), strict=True))
    (devkit / SAMPLE_MARKER).unlink()
    v07, v12 = devkit / "VOC2007", devkit / "VOC2012"
    for xml in (v07 / "Annotations").glob("*.xml"):
        tree = ET.parse(xml)
        for n in tree.getroot().iter("name"):
            n.text = rename[n.text]
        tree.write(xml)
    ids = set_ids(devkit, "trainval")[:5]
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (v12 / d).mkdir(parents=True)
    for i in ids:
        shutil.copy(v07 / "Annotations" / f"{i}.xml", v12 / "Annotations" / f"2008_{i}.xml")
        shutil.copy(v07 / "JPEGImages" / f"{i}.jpg", v12 / "JPEGImages" / f"2008_{i}.jpg")
    (v12 / "ImageSets" / "Main" / "trainval.txt").write_text("".join(f"2008_{i}\n" for i in ids))
    return devkit


def test_real_voc_layout_07_plus_12_with_the_20_classes(devkit, tmp_path):
    to_real_voc(devkit)
    res = prepare_voc(devkit, tmp_path / "voc", log=None)  # defaults: VOC_CLASSES, 07+12 trainval, 07 test
    n07, n12, ntest = len(set_ids(devkit, "trainval")), 5, len(set_ids(devkit, "test"))
    assert res.images == {"train": n07 + n12, "val": ntest, "test": ntest}
    assert sum(p.name.startswith("2012_2008_") for p in (res.out / "images" / "train").iterdir()) == n12
    gt = json.loads(ground_truth_path(res.out, "test").read_text())
    assert [c["name"] for c in gt["categories"]] == list(VOC_CLASSES)
    label = (res.out / "labels" / "train" / f"2012_2008_{set_ids(devkit, 'trainval')[0]}.txt").read_text()
    assert {int(r.split()[0]) for r in label.splitlines()} <= {
        VOC_CLASSES.index(n) for n in ("person", "car", "dog", "cat", "bird", "tvmonitor")
    }
    assert 'names:\n  0: "aeroplane"' in res.yaml.read_text()


# ------------------------------------------------------------------------------------------------ bad input
def first_trainval(devkit: Path) -> str:
    return set_ids(devkit, "trainval")[0]


def break_missing_image(devkit):
    p = devkit / "VOC2007" / "JPEGImages" / f"{first_trainval(devkit)}.jpg"
    p.unlink()
    return p, "image file missing"


def break_missing_xml(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    p.unlink()
    return p, "annotation file missing"


def break_unreadable_xml(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    p.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 binary junk")
    return p, "malformed XML"


def break_malformed_xml(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    p.write_text(p.read_text()[:-30])  # cut off
    return p, "malformed XML"


def break_missing_bndbox(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    tree = ET.parse(p)
    obj = tree.getroot().find("object")
    obj.remove(obj.find("bndbox"))
    tree.write(p)
    return p, "has no <bndbox>"


def break_unknown_class(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    tree = ET.parse(p)
    tree.getroot().find("object/name").text = "unicorn"
    tree.write(p)
    return p, "unknown class name 'unicorn'"


def break_box_outside(devkit):
    p = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    tree = ET.parse(p)
    w = int(tree.getroot().findtext("size/width"))
    tree.getroot().find("object/bndbox/xmax").text = str(w + 3)
    tree.write(p)
    return p, "outside the"


def break_missing_set(devkit):
    p = devkit / "VOC2007" / "ImageSets" / "Main" / "val.txt"
    p.unlink()
    return p, "set file missing"


def break_empty_set(devkit):
    p = devkit / "VOC2007" / "ImageSets" / "Main" / "val.txt"
    p.write_text("\n")
    return p, "set file is empty"


BREAKERS = [
    break_missing_image,
    break_missing_xml,
    break_unreadable_xml,
    break_malformed_xml,
    break_missing_bndbox,
    break_unknown_class,
    break_box_outside,
    break_missing_set,
    break_empty_set,
]
SETS = "2007:train,2007:val,2007:test"  # two training sets, so a bad set file can be skipped


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__[6:])
def test_bad_input_names_the_file_and_skip_bad_reports_it(devkit, tmp_path, breaker, capsys):
    path, reason = breaker(devkit)
    with pytest.raises(BadVOCInput) as err:
        prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert isinstance(err.value, ValueError)
    assert err.value.path == path and str(path) in str(err.value) and reason in str(err.value)
    assert not (tmp_path / "out").exists()

    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, skip_bad=True)
    assert [e.path for e in res.skipped] == [path] and reason in res.skipped[0].reason
    printed = capsys.readouterr().out
    assert "skipped 1 bad input" in printed and str(path) in printed
    assert json.loads((res.out / "prepared.json").read_text())["skipped"][0]["path"] == str(path)
    if path.suffix != ".txt":  # the bad image is left out of every split
        assert not any(res.out.rglob(f"2007_{path.stem}.*"))
        assert res.images["train"] == len(set_ids(devkit, "train")) + len(set_ids(devkit, "val")) - 1


def test_sets_argument_and_split_rule(devkit, tmp_path):
    res = prepare_voc(devkit, tmp_path / "a", sets="2007:train,2007:val", log=None)  # no test set: val held out
    assert res.images == {
        "train": len(set_ids(devkit, "train")),
        "val": len(set_ids(devkit, "val")),
        "test": len(set_ids(devkit, "val")),
    }
    res = prepare_voc(
        devkit, tmp_path / "b", splits={"train": "2007:train", "val": "2007:val", "test": "2007:test"}, log=None
    )
    for split, name in (("train", "train"), ("val", "val"), ("test", "test")):
        got = sorted(p.stem for p in (res.out / "images" / split).iterdir())
        assert got == [f"2007_{i}" for i in set_ids(devkit, name)]
    with pytest.raises(ValueError, match="YEAR:SET"):
        prepare_voc(devkit, tmp_path / "c", sets="2007trainval", log=None)


@pytest.mark.parametrize(
    ("name", "classes"), [("yolo-attn-voc.yaml", VOC_CLASSES), ("yolo-attn-sample.yaml", SAMPLE_CLASSES)]
)
def test_shipped_dataset_yamls_point_at_prepared_data_and_never_download(name, classes, prepared, tmp_path):
    import yaml
    from ultralytics.data.utils import check_det_dataset

    from yolo_attn.integration.internals import no_font_download

    src = Path(__file__).resolve().parents[1] / "cfg" / "datasets" / name
    text = src.read_text()
    cfg = yaml.safe_load(text)
    assert "download" not in cfg and "yolo-attn voc prepare --devkit" in text
    assert [cfg["names"][i] for i in range(len(cfg["names"]))] == list(classes)
    assert (cfg["train"], cfg["val"], cfg["test"]) == ("images/train", "images/val", "images/test")
    if classes == SAMPLE_CLASSES:  # pointed at a prepared dataset, it loads as is
        cfg["path"] = str(prepared.out)
        (tmp_path / name).write_text(yaml.safe_dump(cfg))
        with no_font_download():
            data = check_det_dataset(str(tmp_path / name))
        assert data["nc"] == len(classes) and Path(data["test"]) == prepared.out / "images" / "test"


def test_unreadable_annotation_file_is_named(devkit, tmp_path, monkeypatch):
    # Root ignores file permissions, so simulate what chmod 000 does to a normal user.
    bad = devkit / "VOC2007" / "Annotations" / f"{first_trainval(devkit)}.xml"
    real_read = Path.read_bytes

    def read_bytes(self):
        if self == bad:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(BadVOCInput, match="unreadable annotation file") as err:
        prepare_voc(devkit, tmp_path / "out", log=None)
    assert err.value.path == bad
