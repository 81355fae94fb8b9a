"""Hostile input to the metrics API and to `yolo-attn score`: each case asserts its exact outcome.

Refused: a ValueError (FileNotFoundError for a missing file) naming the item, raised by every entry point before any
scoring, with the caller's objects untouched. Accepted: a documented behaviour, checked against an equivalent clean
input or a hand-worked number.
"""

from __future__ import annotations

import copy
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from yolo_attn import cli
from yolo_attn.metrics import (
    MAX_COORD,
    NO_POSITIVES,
    evaluate_coco,
    evaluate_voc,
    score_detections,
    voc_pr_curves,
)

ENTRY_POINTS = {
    "score_detections": score_detections,
    "evaluate_voc": evaluate_voc,
    "evaluate_coco": evaluate_coco,
    "voc_pr_curves": voc_pr_curves,
}
HEADLINE = ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95", "coco_ap_small", "coco_ar100")


def base_gt() -> dict:
    """Two images, two classes; image 2 holds a difficult box."""
    return {
        "images": [{"id": 1, "width": 100, "height": 80}, {"id": 2, "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "difficult": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [40, 40, 30, 30], "difficult": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40], "difficult": 0},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": [60, 0, 20, 20], "difficult": 1},
        ],
    }


def base_dets() -> list[dict]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [1, 0, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [40, 40, 30, 30], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.7},
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 41], "score": 0.6},
        {"image_id": 2, "category_id": 2, "bbox": [60, 0, 20, 20], "score": 0.5},
    ]


def setitem(path: tuple, value):
    """A mutation: ``root[path[0]][path[1]]... = value``; returns the root."""

    def f(root):
        obj = root
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
        return root

    return f


def delitem(path: tuple):
    """A mutation: ``del root[path[0]][path[1]]...``; returns the root."""

    def f(root):
        obj = root
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
        return root

    return f


def replace(value):
    """A mutation that replaces the whole object."""
    return lambda root: value


NAN, INF = math.nan, math.inf
# (id, mutation of the detections, words the message must hold)
BAD_DETECTIONS = [
    ("none", replace(None), ["detections must be a list", "NoneType"]),
    ("dict", replace(base_dets()[0]), ["detections must be a list", "dict"]),
    ("string", replace("detections.json"), ["detections must be a list", "str"]),
    ("bytes", replace(b"[]"), ["detections must be a list", "bytes"]),
    ("int", replace(5), ["detections must be a list", "int"]),
    ("item-list", setitem((0,), [1, 1, [0, 0, 1, 1], 0.5]), ["detection 0 is a list"]),
    ("item-none", setitem((2,), None), ["detection 2 is a NoneType"]),
    ("item-str", setitem((1,), "det"), ["detection 1 is a str"]),
    *[(f"missing-{k}", delitem((3, k)), ["detection 3 has no", repr(k)]) for k in ("image_id", "category_id")],
    *[(f"missing-{k}", delitem((3, k)), ["detection 3 has no", repr(k)]) for k in ("bbox", "score")],
    ("image-unknown", setitem((1, "image_id"), 999), ["detection 1", "image_id 999", "not the id of an image"]),
    ("image-str", setitem((1, "image_id"), "1"), ["detection 1", "image_id '1'"]),
    ("image-float", setitem((1, "image_id"), 1.0), ["detection 1", "image_id 1.0"]),
    ("image-bool", setitem((1, "image_id"), True), ["detection 1", "image_id True"]),
    ("image-none", setitem((1, "image_id"), None), ["detection 1", "image_id None"]),
    ("image-list", setitem((1, "image_id"), [1]), ["detection 1", "image_id [1]"]),
    ("cat-unknown", setitem((4, "category_id"), 99), ["detection 4", "category_id 99", "not the id of a category"]),
    ("cat-zero", setitem((4, "category_id"), 0), ["detection 4", "category_id 0"]),
    ("cat-str", setitem((4, "category_id"), "dog"), ["detection 4", "category_id 'dog'"]),
    ("cat-float", setitem((4, "category_id"), 2.0), ["detection 4", "category_id 2.0"]),
    ("cat-bool", setitem((4, "category_id"), True), ["detection 4", "category_id True"]),
    ("bbox-none", setitem((0, "bbox"), None), ["detection 0", "bbox None"]),
    ("bbox-3", setitem((0, "bbox"), [1, 2, 3]), ["detection 0", "bbox [1, 2, 3]", "4 finite numbers"]),
    ("bbox-5", setitem((0, "bbox"), [1, 2, 3, 4, 5]), ["detection 0", "4 finite numbers"]),
    ("bbox-empty", setitem((0, "bbox"), []), ["detection 0", "bbox []"]),
    ("bbox-str", setitem((0, "bbox"), "0 0 10 10"), ["detection 0", "bbox '0 0 10 10'"]),
    ("bbox-dict", setitem((0, "bbox"), {"x": 0}), ["detection 0", "bbox {'x': 0}"]),
    ("bbox-nested", setitem((0, "bbox"), [[0, 0], [10, 10], [1, 1], [2, 2]]), ["detection 0", "non-number"]),
    ("bbox-str-item", setitem((0, "bbox", 2), "20"), ["detection 0", "non-number"]),
    ("bbox-none-item", setitem((0, "bbox", 1), None), ["detection 0", "non-number"]),
    ("bbox-bool-item", setitem((0, "bbox", 0), True), ["detection 0", "non-number"]),
    ("bbox-complex", setitem((0, "bbox", 0), 1 + 0j), ["detection 0", "non-number"]),
    *[
        (f"bbox-nan-{i}", setitem((2, "bbox", i), NAN), ["detection 2", "image_id 2", "nan", "non-finite"])
        for i in range(4)
    ],
    *[(f"bbox-inf-{i}", setitem((2, "bbox", i), INF), ["detection 2", "inf", "non-finite"]) for i in range(4)],
    *[(f"bbox-ninf-{i}", setitem((2, "bbox", i), -INF), ["detection 2", "-inf", "non-finite"]) for i in range(4)],
    ("bbox-np-nan", setitem((2, "bbox"), np.array([0.0, np.nan, 1.0, 1.0])), ["detection 2", "non-finite"]),
    ("bbox-f32-nan", setitem((2, "bbox", 3), np.float32("nan")), ["detection 2", "non-finite"]),
    ("bbox-huge", setitem((2, "bbox", 2), 1e300), ["detection 2", "beyond 1e+12"]),
    ("bbox-huge-x", setitem((2, "bbox", 0), -1e13), ["detection 2", "beyond 1e+12"]),
    ("bbox-neg-w", setitem((2, "bbox", 2), -1), ["detection 2", "width -1", "w, h >= 0"]),
    ("bbox-neg-h", setitem((2, "bbox", 3), -0.5), ["detection 2", "height -0.5", "w, h >= 0"]),
    ("score-nan", setitem((3, "score"), NAN), ["detection 3", "score nan", "not a finite number"]),
    ("score-inf", setitem((3, "score"), INF), ["detection 3", "score inf"]),
    ("score-ninf", setitem((3, "score"), -INF), ["detection 3", "score -inf"]),
    ("score-np-nan", setitem((3, "score"), np.float64("nan")), ["detection 3", "score"]),
    ("score-none", setitem((3, "score"), None), ["detection 3", "score None"]),
    ("score-str", setitem((3, "score"), "0.9"), ["detection 3", "score '0.9'"]),
    ("score-bool", setitem((3, "score"), True), ["detection 3", "score True"]),
    ("score-list", setitem((3, "score"), [0.9]), ["detection 3", "score [0.9]"]),
]

# (id, mutation of the ground truth, words the message must hold)
BAD_GROUND_TRUTH = [
    ("gt-none", replace(None), ["ground truth must be a COCO dict", "NoneType"]),
    ("gt-list", replace([]), ["ground truth must be a COCO dict", "list"]),
    ("gt-int", replace(3), ["ground truth must be a COCO dict", "int"]),
    *[(f"no-{k}", delitem((k,)), [f"ground truth has no '{k}'"]) for k in ("images", "categories", "annotations")],
    ("images-dict", setitem(("images",), {"id": 1}), ["ground truth 'images' must be a list", "dict"]),
    ("images-str", setitem(("images",), "images"), ["'images' must be a list", "str"]),
    ("images-none", setitem(("images",), None), ["'images' must be a list", "NoneType"]),
    ("annotations-int", setitem(("annotations",), 0), ["'annotations' must be a list", "int"]),
    ("categories-str", setitem(("categories",), "cat,dog"), ["'categories' must be a list"]),
    ("image-item-int", setitem(("images", 1), 2), ["images[1] is a int"]),
    *[(f"image-no-{k}", delitem(("images", 1, k)), ["images[1] has no", repr(k)]) for k in ("id", "width", "height")],
    ("image-id-str", setitem(("images", 1, "id"), "2"), ["images[1]", "id '2' is not an integer"]),
    ("image-id-float", setitem(("images", 1, "id"), 2.0), ["images[1]", "id 2.0"]),
    ("image-id-bool", setitem(("images", 0, "id"), True), ["images[0]", "id True"]),
    ("image-id-dup", setitem(("images", 1, "id"), 1), ["images[1]", "id 1 is used by an earlier image"]),
    (
        "image-w-nan",
        setitem(("images", 1, "width"), NAN),
        ["images[1] (id 2)", "width nan", "not a number in (0, 1e+12]"],
    ),
    ("image-h-inf", setitem(("images", 0, "height"), INF), ["images[0] (id 1)", "height inf"]),
    ("image-w-zero", setitem(("images", 0, "width"), 0), ["images[0]", "width 0"]),
    ("image-w-neg", setitem(("images", 0, "width"), -100), ["images[0]", "width -100"]),
    ("image-w-str", setitem(("images", 0, "width"), "100"), ["images[0]", "width '100'"]),
    ("image-h-none", setitem(("images", 0, "height"), None), ["images[0]", "height None"]),
    ("cat-item-str", setitem(("categories", 0), "cat"), ["categories[0] is 'cat'"]),
    ("cat-no-name", delitem(("categories", 1, "name")), ["categories[1]", "'id' and 'name'"]),
    ("cat-no-id", delitem(("categories", 1, "id")), ["categories[1]", "'id' and 'name'"]),
    ("cat-name-empty", setitem(("categories", 1, "name"), ""), ["categories[1] (id 2)", "name ''"]),
    ("cat-name-int", setitem(("categories", 1, "name"), 7), ["categories[1] (id 2)", "name 7"]),
    ("cat-id-str", setitem(("categories", 1, "id"), "2"), ["categories[1]", "id '2' is not an integer"]),
    ("cat-id-dup", setitem(("categories", 1, "id"), 1), ["categories[1]", "id 1", "earlier category"]),
    ("cat-name-dup", setitem(("categories", 1, "name"), "cat"), ["categories[1]", "name 'cat'", "earlier"]),
    ("ann-item-list", setitem(("annotations", 2), [2, 1, [0, 0, 1, 1]]), ["annotations[2] is a list"]),
    *[
        (f"ann-no-{k}", delitem(("annotations", 2, k)), ["annotations[2] has no", repr(k)])
        for k in ("image_id", "category_id", "bbox")
    ],
    ("ann-image-unknown", setitem(("annotations", 2, "image_id"), 7), ["annotations[2]", "image_id 7"]),
    ("ann-image-str", setitem(("annotations", 2, "image_id"), "2"), ["annotations[2]", "image_id '2'"]),
    ("ann-cat-unknown", setitem(("annotations", 2, "category_id"), 3), ["annotations[2]", "category_id 3"]),
    ("ann-cat-none", setitem(("annotations", 2, "category_id"), None), ["annotations[2]", "category_id None"]),
    *[
        (
            f"ann-bbox-nan-{i}",
            setitem(("annotations", 1, "bbox", i), NAN),
            ["annotations[1]", "image_id 1", "non-finite"],
        )
        for i in range(4)
    ],
    *[
        (f"ann-bbox-inf-{i}", setitem(("annotations", 3, "bbox", i), INF), ["annotations[3]", "non-finite"])
        for i in range(4)
    ],
    ("ann-bbox-w0", setitem(("annotations", 0, "bbox", 2), 0), ["annotations[0]", "width 0", "w, h > 0"]),
    ("ann-bbox-h-neg", setitem(("annotations", 0, "bbox", 3), -3), ["annotations[0]", "height -3", "w, h > 0"]),
    ("ann-bbox-3", setitem(("annotations", 0, "bbox"), [0, 0, 1]), ["annotations[0]", "bbox [0, 0, 1]"]),
    ("ann-bbox-str", setitem(("annotations", 0, "bbox"), "0,0,1,1"), ["annotations[0]", "bbox '0,0,1,1'"]),
    ("ann-bbox-huge", setitem(("annotations", 0, "bbox", 2), 1e200), ["annotations[0]", "beyond"]),
    ("difficult-str", setitem(("annotations", 3, "difficult"), "0"), ["annotations[3]", "difficult '0' is not 0 or 1"]),
    ("difficult-2", setitem(("annotations", 3, "difficult"), 2), ["annotations[3]", "difficult 2"]),
    ("difficult-none", setitem(("annotations", 3, "difficult"), None), ["annotations[3]", "difficult None"]),
    ("difficult-half", setitem(("annotations", 3, "difficult"), 0.5), ["annotations[3]", "difficult 0.5"]),
    ("difficult-nan", setitem(("annotations", 3, "difficult"), NAN), ["annotations[3]", "difficult nan"]),
    ("iscrowd-str", setitem(("annotations", 0, "iscrowd"), "1"), ["annotations[0]", "iscrowd '1'"]),
    ("area-nan", setitem(("annotations", 0, "area"), NAN), ["annotations[0]", "area nan"]),
    ("area-inf", setitem(("annotations", 0, "area"), INF), ["annotations[0]", "area inf"]),
    ("area-neg", setitem(("annotations", 0, "area"), -1.0), ["annotations[0]", "area -1.0"]),
    ("area-str", setitem(("annotations", 0, "area"), "400"), ["annotations[0]", "area '400'"]),
]

# (id, keyword arguments for evaluate_voc / evaluate_coco, words)
BAD_ARGUMENTS = [
    *[(f"iou-{v!r}", evaluate_voc, {"iou_thr": v}, ["iou_thr", "(0, 1]"]) for v in (0, -0.5, 1.5, NAN, "0.5", None)],
    *[
        (f"maxdets-{v!r}", evaluate_coco, {"max_dets": v}, ["max_dets", "integer >= 1"])
        for v in (0, -1, 1.5, "100", True)
    ],
]


def assert_refused(fn, gt, dets, words, **kw):
    before = (copy.deepcopy(gt), copy.deepcopy(dets))
    with pytest.raises(ValueError) as e:
        fn(dets, gt, **kw)
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)
    # nothing of the caller's was changed on the way
    assert repr((gt, dets)) == repr(before)


@pytest.mark.parametrize(("case", "mutate", "words"), BAD_DETECTIONS, ids=[c[0] for c in BAD_DETECTIONS])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_detection_is_refused_by_every_entry_point(entry, case, mutate, words):
    assert_refused(ENTRY_POINTS[entry], base_gt(), mutate(base_dets()), words)


@pytest.mark.parametrize(("case", "mutate", "words"), BAD_GROUND_TRUTH, ids=[c[0] for c in BAD_GROUND_TRUTH])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_ground_truth_is_refused_by_every_entry_point(entry, case, mutate, words):
    assert_refused(ENTRY_POINTS[entry], mutate(base_gt()), base_dets(), words)


@pytest.mark.parametrize(("case", "fn", "kw", "words"), BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_argument_is_refused(case, fn, kw, words):
    assert_refused(fn, base_gt(), base_dets(), words, **kw)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["not found"]),
        ("", ["not valid JSON"]),
        ("{'images': []}", ["not valid JSON"]),
        ("[1, 2]", ["holds a list, not a COCO dict"]),
        ('"text"', ["holds a str"]),
        (b"\xff\xfe\x00garbage", ["not valid JSON"]),
        ('{"images": [], "categories": []}', ["ground truth has no 'annotations'"]),
    ],
    ids=["missing", "empty", "python-repr", "json-list", "json-str", "binary", "json-no-annotations"],
)
def test_bad_ground_truth_file_is_refused(tmp_path, content, words):
    path = tmp_path / "gt.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for fn in ENTRY_POINTS.values():
        with pytest.raises(FileNotFoundError if content is None else ValueError) as e:
            fn(base_dets(), path)
        assert str(path) in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


# ------------------------------------------------------------------------------------------- accepted, as documented
def same_scores(a: dict, b: dict) -> None:
    for k in HEADLINE:
        assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == pytest.approx(b[k], abs=1e-12), k
    for k, v in a["per_class"].items():
        assert repr(v) == repr(b["per_class"][k]) or v == pytest.approx(b["per_class"][k], nan_ok=True), k


REFERENCE = score_detections(base_dets(), base_gt())


def with_det(i: int, **changes) -> list[dict]:
    dets = base_dets()
    dets[i] = {**dets[i], **changes}
    return dets


EQUIVALENT_INPUTS = [
    # (id, detections, ground truth): scored exactly as base_dets() on base_gt()
    ("tuple-bbox", with_det(0, bbox=(1, 0, 20, 20)), base_gt()),
    ("ndarray-bbox", with_det(0, bbox=np.array([1.0, 0.0, 20.0, 20.0])), base_gt()),
    ("float32-bbox", with_det(0, bbox=[np.float32(v) for v in (1, 0, 20, 20)]), base_gt()),
    ("fraction-bbox", with_det(0, bbox=[Fraction(1), 0, Fraction(40, 2), 20]), base_gt()),
    ("np-int-ids", with_det(1, image_id=np.int64(1), category_id=np.int32(2)), base_gt()),
    ("np-score", with_det(2, score=np.float32(0.7)), base_gt()),
    ("generator", (d for d in base_dets()), base_gt()),
    ("tuple-of-dets", tuple(base_dets()), base_gt()),
    (
        "extra-keys",
        [{**d, "id": 7, "area": -1, "segmentation": "x", "caption": "a cat"} for d in base_dets()],
        base_gt(),
    ),
    ("dup-ann-ids", base_dets(), {**base_gt(), "annotations": [{**a, "id": 1} for a in base_gt()["annotations"]]}),
    (
        "no-ann-ids",
        base_dets(),
        {**base_gt(), "annotations": [{k: v for k, v in a.items() if k != "id"} for a in base_gt()["annotations"]]},
    ),
    (
        "bool-difficult",
        base_dets(),
        {**base_gt(), "annotations": [{**a, "difficult": bool(a["difficult"])} for a in base_gt()["annotations"]]},
    ),
    (
        "iscrowd-only",
        base_dets(),
        {
            **base_gt(),
            "annotations": [
                {**{k: v for k, v in a.items() if k != "difficult"}, "iscrowd": a["difficult"]}
                for a in base_gt()["annotations"]
            ],
        },
    ),
    (
        "extra-gt-keys",
        base_dets(),
        {**base_gt(), "info": {"x": 1}, "licenses": [], "images": [{**i, "file_name": 3} for i in base_gt()["images"]]},
    ),
    ("scores-shifted", [{**d, "score": d["score"] * 1000 - 5000} for d in base_dets()], base_gt()),
    ("reordered-dets", base_dets()[::-1], base_gt()),
]


@pytest.mark.parametrize(("case", "dets", "gt"), EQUIVALENT_INPUTS, ids=[c[0] for c in EQUIVALENT_INPUTS])
def test_equivalent_input_is_accepted_and_scored_the_same(case, dets, gt):
    before = repr(gt)
    same_scores(score_detections(dets, gt), REFERENCE)
    assert repr(gt) == before  # the ground truth given is not modified (COCO's ids/iscrowd are set on a copy)


def test_ground_truth_as_a_json_path(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(base_gt()))
    same_scores(score_detections(base_dets(), path), REFERENCE)
    same_scores(score_detections(base_dets(), str(path)), REFERENCE)


@pytest.mark.parametrize(
    "bbox",
    [[1, 0, 0, 20], [1, 0, 20, 0], [0, 0, 0, 0], [200, 200, 20, 20], [-50, -50, 20, 20], [-10, -10, 200, 200]],
    ids=["zero-width", "zero-height", "zero-size", "outside-image", "negative-corner", "covers-image"],
)
def test_detection_that_matches_nothing_is_a_false_positive_everywhere(bbox):
    # Accepted: a zero-size box, a box outside the image or one far too large overlaps the true box by IoU < 0.5,
    # so it scores exactly like a detection in an empty corner of another image (FP in every protocol).
    got = score_detections(with_det(0, bbox=bbox), base_gt())
    ref = score_detections(with_det(0, bbox=[80, 60, 5, 5]), base_gt())
    same_scores(got, ref)
    assert got["per_class"]["voc12_ap50"]["cat"] < REFERENCE["per_class"]["voc12_ap50"]["cat"]


def test_largest_accepted_coordinates_are_scored():
    # Accepted up to MAX_COORD. Detection 2 is a false positive in the reference; moved far away it still is for the
    # devkit. pycocotools ignores an unmatched detection whose area is outside its area range ("all" is
    # [0, 1e5²]), so with an area of 1e24 it drops out of the COCO numbers, exactly as when it is deleted.
    huge = with_det(2, bbox=[MAX_COORD, -MAX_COORD, MAX_COORD, MAX_COORD])
    got = score_detections(huge, base_gt())
    for k in ("voc07_map50", "voc12_map50"):
        assert got[k] == REFERENCE[k]
    without = score_detections([d for i, d in enumerate(base_dets()) if i != 2], base_gt())
    for k in ("coco_ap50", "coco_ap50_95"):
        assert got[k] == without[k] and got[k] > REFERENCE[k]
    assert got["coco_ar100"] == without["coco_ar100"] == REFERENCE["coco_ar100"]  # a false positive: recall same


def test_empty_and_degenerate_inputs_are_accepted_as_documented():
    # No detections: AP 0 for every class with a positive (COCO too: COCOeval runs on an empty result set).
    r = score_detections([], base_gt())
    assert all(r[k] == 0 for k in ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95", "coco_ar100"))
    # No annotations: every class lacks positives, every mean is NaN and names both classes.
    gt = {**base_gt(), "annotations": []}
    r = score_detections(base_dets(), gt)
    assert all(math.isnan(r[k]) for k in ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95"))
    assert r["excluded_classes"]["voc07_map50"] == {"cat": NO_POSITIVES, "dog": NO_POSITIVES}
    # No images, categories or detections at all: NaN everywhere, nothing raised.
    r = score_detections([], {"images": [], "categories": [], "annotations": []})
    assert all(math.isnan(r[k]) for k in HEADLINE)


def test_iou_threshold_one_counts_exact_boxes_only():
    r = evaluate_voc(base_dets(), base_gt(), iou_thr=1.0)
    assert r["tp"] == {"cat": 0, "dog": 1}  # only detection 1 is exactly its box (detection 4 hits a difficult box)


# ------------------------------------------------------------------------------------------- `yolo-attn score`
@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "invalid.yaml").write_text("a: [1, 2\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["model=m.pt"], ["model=... and data=... are required"]),
        (["data=d.yaml"], ["model=... and data=... are required"]),
        (["model=m.pt", "data=d.yaml", "save_json=x.json"], ["unknown argument 'save_json=x.json'", "out=..."]),
        (["model=m.pt", "data=d.yaml", "plots=False"], ["unknown argument 'plots=False'"]),
        (["model=m.pt", "data=d.yaml", "imgsz=big"], ["imgsz='big' is not a valid int"]),
        (["model=m.pt", "data=d.yaml", "conf=high"], ["conf='high' is not a valid float"]),
        (["model=m.pt", "data=d.yaml", "ultralytics_val=maybe"], ["ultralytics_val='maybe'"]),
        (["model=m.pt", "data=d.yaml", "model"], ["unknown argument 'model'"]),
        (["model=m.pt", "data=d.yaml", "out={tmp}/folder"], ["is a folder"]),
        (["model=m.pt", "data={tmp}/nope.yaml"], ["nope.yaml", "does not exist"]),
        (["model=m.pt", "data={tmp}/list.yaml"], ["list.yaml", "not a valid YAML mapping"]),
        (["model=m.pt", "data={tmp}/invalid.yaml"], ["invalid.yaml", "YAML syntax error"]),
        (["model=m.pt", "data={tmp}/empty.yaml"], ["empty.yaml", "'train:' key missing"]),
        (["model=m.pt", "data={data}", "split=test"], ["no 'test' split", "train, val"]),
        (["model=m.pt", "data={data}", "split=path"], ["split 'path' is not one of train, val, test"]),
        (["model={tmp}/missing.pt", "data={data}", "split=val"], ["missing.pt", "not found"]),
        (
            ["model={tmp}/garbage.pt", "data={data}", "split=val"],
            ["garbage.pt", "not a loadable Ultralytics checkpoint"],
        ),
    ],
    ids=[
        "no-data",
        "no-model",
        "save_json",
        "plots",
        "imgsz",
        "conf",
        "bool",
        "bare-word",
        "out-folder",
        "data-missing",
        "data-list",
        "data-invalid",
        "data-empty",
        "split-missing",
        "split-unknown",
        "model-missing",
        "model-garbage",
    ],
)
def test_score_command_refuses_bad_input_with_exit_2(bad_files, tiny_data, capsys, args, words):
    args = [a.format(tmp=bad_files, data=tiny_data) for a in args]
    assert cli.main(["score", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("yolo-attn score: error: ") and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
