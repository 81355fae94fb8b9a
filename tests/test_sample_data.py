"""The generated VOC-format sample dataset: determinism, real VOC fields, flags, boxes, balance."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import cv2
import pytest

from yolo_attn.data.sample import SAMPLE_CLASSES, SAMPLE_MARKER, make_sample_dataset, sample_info

N = 48


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def devkit(tmp_path_factory) -> Path:
    return make_sample_dataset(tmp_path_factory.mktemp("sample"), images=N, seed=0)


def objects(devkit: Path):
    for xml in sorted((devkit / "VOC2007" / "Annotations").glob("*.xml")):
        root = ET.parse(xml).getroot()
        for o in root.findall("object"):
            yield xml, root, o


def test_same_seed_same_bytes_other_seed_differs(devkit, tmp_path):
    again = make_sample_dataset(tmp_path / "again", images=N, seed=0)
    ref = tree_bytes(devkit)
    assert tree_bytes(again) == ref
    other = tree_bytes(make_sample_dataset(tmp_path / "other", images=N, seed=1))
    assert other.keys() == ref.keys()
    jpgs = [k for k in ref if k.endswith(".jpg")]
    assert len(jpgs) == N and all(other[k] != ref[k] for k in jpgs)


def test_regenerating_in_place_is_identical_and_leaves_no_temporaries(tmp_path):
    first = tree_bytes(make_sample_dataset(tmp_path, images=8, seed=3))
    devkit = make_sample_dataset(tmp_path, images=8, seed=3)
    assert tree_bytes(devkit) == first
    assert [p.name for p in tmp_path.iterdir()] == ["VOCdevkit"]


def test_layout_and_image_sets(devkit):
    voc = devkit / "VOC2007"
    ids = sorted(p.stem for p in (voc / "JPEGImages").glob("*.jpg"))
    assert ids == sorted(p.stem for p in (voc / "Annotations").glob("*.xml")) and len(ids) == N
    sets = {
        s: (voc / "ImageSets" / "Main" / f"{s}.txt").read_text().split() for s in ("train", "val", "trainval", "test")
    }
    assert sorted(sets["train"] + sets["val"]) == sets["trainval"]
    assert not set(sets["trainval"]) & set(sets["test"])
    assert sorted(sets["trainval"] + sets["test"]) == ids
    assert len(sets["test"]) == N // 3
    per_class = (voc / "ImageSets" / "Main" / f"{SAMPLE_CLASSES[0]}_test.txt").read_text().splitlines()
    assert [line.split()[0] for line in per_class] == sets["test"]
    assert {line.split()[1] for line in per_class} <= {"-1", "0", "1"}
    info = sample_info(devkit)
    assert info["classes"] == list(SAMPLE_CLASSES) and info["sets"] == ["2007:trainval", "2007:test"]
    assert json.loads((devkit / SAMPLE_MARKER).read_text())["images"] == N


def test_xml_has_the_real_voc_fields_and_boxes_inside_images(devkit):
    voc = devkit / "VOC2007"
    for xml in sorted((voc / "Annotations").glob("*.xml")):
        root = ET.parse(xml).getroot()
        assert root.tag == "annotation"
        assert root.findtext("folder") == "VOC2007"
        assert root.findtext("filename") == f"{xml.stem}.jpg"
        assert root.find("source/database") is not None and root.findtext("segmented") == "0"
        w, h, d = (int(root.findtext(f"size/{k}")) for k in ("width", "height", "depth"))
        img = cv2.imread(str(voc / "JPEGImages" / f"{xml.stem}.jpg"))
        assert img.shape == (h, w, d) and d == 3
        assert max(w, h) == 160 and min(w, h) >= 112
        for o in root.findall("object"):
            assert o.findtext("name") in SAMPLE_CLASSES
            assert o.findtext("pose") == "Unspecified"
            assert o.findtext("truncated") in ("0", "1") and o.findtext("difficult") in ("0", "1")
            x0, y0, x1, y1 = (int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
            assert 1 <= x0 <= x1 <= w and 1 <= y0 <= y1 <= h, xml


def test_difficult_truncated_small_and_overlapping_objects_present(devkit):
    n = Counter()
    boxes: dict[str, list[tuple[int, ...]]] = {}
    for xml, root, o in objects(devkit):
        w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
        b = tuple(int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.setdefault(xml.stem, []).append(b)
        n["all"] += 1
        n["difficult"] += o.findtext("difficult") == "1"
        if o.findtext("truncated") == "1":
            n["truncated"] += 1
            # truncated means cut by the border: the visible box touches it
            assert b[0] == 1 or b[1] == 1 or b[2] == w or b[3] == h
        n["small"] += min(b[2] - b[0] + 1, b[3] - b[1] + 1) < 16
    overlaps = 0
    for bs in boxes.values():
        for i in range(len(bs)):
            for j in range(i + 1, len(bs)):
                a, b = bs[i], bs[j]
                overlaps += min(a[2], b[2]) >= max(a[0], b[0]) and min(a[3], b[3]) >= max(a[1], b[1])
    assert n["all"] >= 2 * N
    for k in ("difficult", "truncated", "small"):
        assert 0.05 * n["all"] <= n[k] <= 0.5 * n["all"], (k, n)
    assert overlaps >= N // 4


def test_class_balance(devkit):
    counts = Counter(o.findtext("name") for _, _, o in objects(devkit))
    assert set(counts) == set(SAMPLE_CLASSES)
    mean = sum(counts.values()) / len(SAMPLE_CLASSES)
    assert all(0.5 * mean <= c <= 1.5 * mean for c in counts.values()), counts


def test_never_replaces_a_real_devkit(tmp_path):
    real = tmp_path / "VOCdevkit" / "VOC2007"
    real.mkdir(parents=True)
    with pytest.raises(FileExistsError, match="is not a result of `yolo-attn data sample`: it has no yolo_attn_sample"):
        make_sample_dataset(tmp_path, images=4)
    assert real.is_dir()


@pytest.mark.parametrize("kw", [{"images": 3}, {"imgsz": 16}, {"test_fraction": 1.0}, {"seed": -1}])
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(ValueError, match="make_sample_dataset"):
        make_sample_dataset(tmp_path, **kw)
