"""Property-based tests (hypothesis) of the metrics API: invariances, the devkit's NaN rules, agreement with
pycocotools where the protocols must agree, and generated hostile input.

Cases use integer pixel coordinates, so every IoU is computed exactly alike by the devkit's "+1" formula and by
pycocotools (the same integer intersection and union), and an invariance that holds in exact arithmetic holds bit
for bit. `HYPOTHESIS_PROFILE=thorough` runs 10x the examples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from yolo_attn.metrics import (
    evaluate_coco,
    evaluate_voc,
    score_detections,
    voc_pr_curves,
)

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=600)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NAMES = ("a", "b", "c")
HEADLINE = (
    "voc07_map50",
    "voc12_map50",
    "coco_ap50",
    "coco_ap50_95",
    "coco_ap_small",
    "coco_ap_medium",
    "coco_ap_large",
    "coco_ar100",
)
CELL = 50  # disjoint cases: one box per 50 px grid cell, boxes at most 45 px, so boxes never touch


@st.composite
def cases(draw, difficult: bool = True, disjoint: bool = False, max_size: int = 45, canvas: int = 200):
    """(ground truth, detections): up to 4 images and 3 classes; detections near the boxes, duplicates, misses and
    background boxes, with distinct scores."""
    n_images = draw(st.integers(1, 4))
    gt = {"images": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)], "annotations": []}
    dets = []
    p_diff = draw(st.sampled_from([0.0, 0.3, 1.0])) if difficult else 0.0
    for img in range(1, n_images + 1):
        gt["images"].append({"id": img, "width": canvas + 100, "height": canvas + 100})
        n_cells = (canvas // CELL) ** 2
        cells = draw(st.lists(st.integers(0, n_cells - 1), max_size=6, unique=True))
        for cell in cells:
            w, h = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
            if disjoint:  # inside its cell with 2 px to spare: boxes of one image never touch
                assert max_size <= CELL - 2
                cx, cy = CELL * (cell % (canvas // CELL)), CELL * (cell // (canvas // CELL))
                x, y = cx + draw(st.integers(0, CELL - 2 - w)), cy + draw(st.integers(0, CELL - 2 - h))
            else:
                x, y = draw(st.integers(0, canvas)), draw(st.integers(0, canvas))
            cat = draw(st.integers(1, 3))
            diff = int(p_diff == 1.0 or (p_diff > 0 and draw(st.integers(0, 9)) < 3))
            gt["annotations"].append({"image_id": img, "category_id": cat, "bbox": [x, y, w, h], "difficult": diff})
            for _ in range(draw(st.integers(0, 2))):
                j = draw(st.lists(st.integers(-4, 4), min_size=4, max_size=4))
                c = cat if draw(st.integers(0, 9)) else draw(st.integers(1, 3))
                box = [x + j[0], y + j[1], max(1, w + j[2]), max(1, h + j[3])]
                dets.append({"image_id": img, "category_id": c, "bbox": box})
        for _ in range(draw(st.integers(0, 2))):
            box = [draw(st.integers(0, canvas)), draw(st.integers(0, canvas)), draw(st.integers(1, 40)), 20]
            dets.append({"image_id": img, "category_id": draw(st.integers(1, 3)), "bbox": box})
    order = draw(st.permutations(range(len(dets))))
    for d, k in zip(dets, order, strict=True):
        d["score"] = (k + 1) / (len(dets) + 1)  # distinct
    return gt, dets


def assert_same(a: dict, b: dict, keys=HEADLINE, abs_tol: float = 0.0) -> None:
    for k in keys:
        x, y = a[k], b[k]
        assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= abs_tol, (k, x, y)
    for name in NAMES:
        for pc in ("voc07_ap50", "voc12_ap50", "coco_ap50", "coco_ap50_95"):
            x, y = a["per_class"][pc][name], b["per_class"][pc][name]
            assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= abs_tol, (pc, name, x, y)


# ------------------------------------------------------------------------------------------- invariances
@given(cases(), st.randoms(use_true_random=False))
def test_detection_order_does_not_matter(case, rnd):
    gt, dets = case
    shuffled = dets[:]
    rnd.shuffle(shuffled)
    assert_same(score_detections(shuffled, gt), score_detections(dets, gt))


@given(cases(), st.lists(st.integers(-(10**9), 10**9), min_size=4, max_size=4, unique=True))
def test_image_ids_are_only_names(case, new_ids):
    gt, dets = case
    relabel = {img["id"]: new_ids[i] for i, img in enumerate(gt["images"])}
    gt2 = copy.deepcopy(gt)
    for img in gt2["images"]:
        img["id"] = relabel[img["id"]]
    for ann in gt2["annotations"]:
        ann["image_id"] = relabel[ann["image_id"]]
    dets2 = [{**d, "image_id": relabel[d["image_id"]]} for d in dets]
    assert_same(score_detections(dets2, gt2), score_detections(dets, gt))


@given(cases(), st.permutations([7, -3, 1000]), st.permutations(range(3)))
def test_category_ids_and_order_are_only_names(case, new_ids, order):
    gt, dets = case
    relabel = {c["id"]: new_ids[i] for i, c in enumerate(gt["categories"])}
    gt2 = copy.deepcopy(gt)
    gt2["categories"] = [{"id": relabel[c["id"]], "name": c["name"]} for c in (gt["categories"][k] for k in order)]
    for ann in gt2["annotations"]:
        ann["category_id"] = relabel[ann["category_id"]]
    dets2 = [{**d, "category_id": relabel[d["category_id"]]} for d in dets]
    assert_same(score_detections(dets2, gt2), score_detections(dets, gt), abs_tol=1e-15)


@given(cases(), st.sampled_from([(2, 0, 0), (4, 0, 0), (1, 37, -12), (2, -5, 101)]))
def test_scaling_by_powers_of_two_and_integer_shifts(case, transform):
    gt, dets = case
    s, dx, dy = transform

    def move(b):
        return [b[0] * s + dx, b[1] * s + dy, b[2] * s, b[3] * s]

    gt2 = copy.deepcopy(gt)
    for img in gt2["images"]:
        img["width"], img["height"] = img["width"] * s, img["height"] * s
    for ann in gt2["annotations"]:
        ann["bbox"] = move(ann["bbox"])
    dets2 = [{**d, "bbox": move(d["bbox"])} for d in dets]
    keys = ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95", "coco_ar100")
    a, b = score_detections(dets2, gt2), score_detections(dets, gt)
    assert_same(a, b, keys=keys)
    if s == 1:  # a shift keeps the areas, so the COCO scale breakdown too
        assert_same(a, b)


@given(cases(), st.integers(1, 3))
def test_images_without_boxes_or_detections_change_nothing(case, extra):
    gt, dets = case
    gt2 = copy.deepcopy(gt)
    gt2["images"] += [{"id": 100 + k, "width": 50, "height": 50} for k in range(extra)]
    assert_same(score_detections(dets, gt2), score_detections(dets, gt))


# ------------------------------------------------------------------------------------------- devkit rules
@given(cases(), st.data())
def test_duplicates_only_add_false_positives(case, data):
    gt, dets = case
    assume(dets)
    picks = data.draw(st.lists(st.integers(0, len(dets) - 1), min_size=1, max_size=5, unique=True))
    # Scores as even numbers; each duplicate (same box) just below its original and above the next detection.
    ranked = sorted(dets, key=lambda d: -d["score"])
    base = [{**d, "score": 2.0 * (len(ranked) - i)} for i, d in enumerate(ranked)]
    dups = [{**base[i], "score": base[i]["score"] - 1} for i in picks]
    before, after = evaluate_voc(base, gt), evaluate_voc(base + dups, gt)
    assert after["tp"] == before["tp"]  # a duplicate's best box is its original's: claimed, difficult or < 0.5
    for n in NAMES:
        added = sum(1 for d in dups if NAMES[d["category_id"] - 1] == n)
        assert after["fp"][n] + after["ignored"][n] == before["fp"][n] + before["ignored"][n] + added
        for k in ("voc07_ap50", "voc12_ap50"):
            x, y = after[k][n], before[k][n]
            assert (math.isnan(x) and math.isnan(y)) or x <= y + 1e-12, (k, n, x, y)
    # Duplicates scored below every detection come after the last true positive: no AP changes at all.
    last = [{**d, "score": -1.0 - k} for k, d in enumerate(dups)]
    tail = evaluate_voc(base + last, gt)
    for k in ("voc07_ap50", "voc12_ap50"):
        for n in NAMES:
            x, y = tail[k][n], before[k][n]
            assert (math.isnan(x) and math.isnan(y)) or x == y, (k, n, x, y)


@given(cases(disjoint=False, difficult=True), st.randoms(use_true_random=False))
def test_perfect_detections_score_one(case, rnd):
    gt, _ = case
    seen = set()
    for ann in gt["annotations"]:
        key = (ann["image_id"], ann["category_id"], tuple(ann["bbox"]))
        assume(key not in seen)  # two identical boxes of one class: the devkit gives both detections to the first
        seen.add(key)
    positives = [a for a in gt["annotations"] if not a["difficult"]]
    assume(positives)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"]} for a in positives]
    rnd.shuffle(dets)
    for k, d in enumerate(dets):
        d["score"] = 1.0 - k / len(dets)
    r = score_detections(dets, gt)
    with_pos = {NAMES[a["category_id"] - 1] for a in positives}
    for n in NAMES:
        for pc in ("voc07_ap50", "voc12_ap50", "coco_ap50", "coco_ap50_95"):
            v = r["per_class"][pc][n]
            if n in with_pos:
                assert v == pytest.approx(1.0, abs=1e-15), (pc, n, v)
    for k in ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95", "coco_ar100"):
        assert r[k] == pytest.approx(1.0, abs=1e-15), k


@given(cases())
def test_values_are_fractions_and_nan_exactly_where_the_devkit_divides_by_zero(case):
    gt, dets = case
    r = score_detections(dets, gt)
    curves = voc_pr_curves(dets, gt)
    for k in HEADLINE:
        assert math.isnan(r[k]) or 0.0 <= r[k] <= 1.0 + 1e-15, k
    for c, n in enumerate(NAMES, 1):
        cv = curves[c]
        n_dets = cv["tp"] + cv["fp"] + cv["ignored"]
        ap07, ap12 = r["per_class"]["voc07_ap50"][n], r["per_class"]["voc12_ap50"][n]
        # VOC2007: NaN iff the class has positives and detections and every detection hit a difficult box.
        assert math.isnan(ap07) == (cv["npos"] > 0 and n_dets > 0 and cv["ignored"] == n_dets), (n, cv)
        # VOC2010+: NaN iff the class has no positive but has detections (recall 0/0).
        assert math.isnan(ap12) == (cv["npos"] == 0 and n_dets > 0), (n, cv)
        if cv["npos"] == 0:
            assert ap07 == 0.0
        left_out = cv["npos"] == 0 or math.isnan(ap07)
        assert (n in r["excluded_classes"]["voc07_map50"]) == left_out
        assert (n in r["excluded_classes"]["voc12_map50"]) == (cv["npos"] == 0)
    kept = [r["per_class"]["voc12_ap50"][n] for n in NAMES if n not in r["excluded_classes"]["voc12_map50"]]
    assert (math.isnan(r["voc12_map50"]) and not kept) or r["voc12_map50"] == pytest.approx(np.mean(kept), abs=1e-15)


@given(cases(disjoint=True, difficult=True), st.data())
def test_detections_of_difficult_boxes_change_no_ap(case, data):
    gt, dets = case
    hard = [a for a in gt["annotations"] if a["difficult"]]
    assume(hard)
    before = evaluate_voc(dets, gt)
    extra = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": data.draw(st.floats(0, 1)),
        }
        for a in hard
    ]
    after = evaluate_voc(dets + extra, gt)
    for n in NAMES:
        assert after["tp"][n] == before["tp"][n] and after["fp"][n] == before["fp"][n]
        if before["tp"][n] + before["fp"][n] > 0:  # (with none, all-ignored is the devkit's VOC2007 NaN)
            for k in ("voc07_ap50", "voc12_ap50"):
                x, y = after[k][n], before[k][n]
                assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-15), (k, n)


# ------------------------------------------------------------------------------------------- pycocotools
def coco101_from_curve(rec: np.ndarray, prec: np.ndarray) -> float:
    """COCO's 101-point interpolated precision, from a precision/recall curve without NaN."""
    env = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
    idx = np.searchsorted(rec, np.linspace(0, 1, 101), side="left")
    return float(np.mean([env[i] if i < len(env) else 0.0 for i in idx]))


@given(cases(disjoint=True, difficult=False))
def test_devkit_and_pycocotools_agree_where_their_matching_coincides(case):
    # No difficult boxes, boxes of one image never within reach of one detection (IoU >= 0.5 with two boxes is
    # impossible), distinct scores, < 100 detections per image: both protocols match every detection alike, so
    # COCOeval's AP50 is exactly the 101-point interpolation of our curve, and the all-point AP differs from it by
    # at most 0.01 (both average one non-increasing envelope in [0, 1]; see test_voc_metrics).
    gt, dets = case
    voc, coco, curves = evaluate_voc(dets, gt), evaluate_coco(dets, gt), voc_pr_curves(dets, gt)
    for c, n in enumerate(NAMES, 1):
        cv = curves[c]
        if cv["npos"] == 0:
            assert math.isnan(coco["coco_ap50_per_class"][n])
            continue
        assert coco["coco_ap50_per_class"][n] == pytest.approx(coco101_from_curve(cv["rec"], cv["prec"]), abs=1e-12)
        assert abs(voc["voc12_ap50"][n] - coco["coco_ap50_per_class"][n]) <= 0.01 + 1e-12
    assert coco["coco_ap50_95"] <= coco["coco_ap50"] + 1e-12 or math.isnan(coco["coco_ap50"])


@given(cases(max_size=150, canvas=300))
def test_coco_numbers_are_cocoeval_summarize_stats(case):
    # The headline COCO numbers against pycocotools' own summarize() on the same input (sizes spanning small,
    # medium and large): stats[0] AP, [1] AP50, [3] AP_S, [4] AP_M, [5] AP_L, [8] AR@100; -1 there is NaN here.
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dets = case
    assume(dets)  # pycocotools' loadRes cannot take an empty list
    coco_gt_dict = copy.deepcopy(gt)
    for k, a in enumerate(coco_gt_dict["annotations"], 1):
        a.update(id=k, iscrowd=a["difficult"], area=a["bbox"][2] * a["bbox"][3])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = coco_gt_dict
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [math.nan if s == -1 else float(s) for s in ev.stats]
    r = evaluate_coco(dets, gt)
    keys = {"coco_ap50_95": 0, "coco_ap50": 1, "coco_ap_small": 3, "coco_ap_medium": 4, "coco_ap_large": 5}
    for key, i in {**keys, "coco_ar100": 8}.items():
        x, y = r[key], stats[i]
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12), (key, x, y)


# ------------------------------------------------------------------------------------------- hostile, generated
BAD_NUMBERS = [math.nan, math.inf, -math.inf, None, "1", True, [1], 1e13, -1e13, 1 + 0j]
BAD_IDS = [None, "1", 1.5, True, 10**6, -1, [1], math.nan]


@given(cases(), st.data())
def test_generated_bad_detection_is_refused_by_index(case, data):
    gt, dets = case
    assume(dets)
    i = data.draw(st.integers(0, len(dets) - 1))
    field = data.draw(st.sampled_from(["x", "y", "w", "h", "score", "image_id", "category_id"]))
    if field in ("image_id", "category_id"):
        value = data.draw(st.sampled_from(BAD_IDS))
    elif field in ("w", "h"):
        value = data.draw(st.sampled_from([*BAD_NUMBERS, -1, -0.001]))
    elif field == "score":
        value = data.draw(st.sampled_from([v for v in BAD_NUMBERS if v not in (1e13, -1e13)]))
    else:
        value = data.draw(st.sampled_from(BAD_NUMBERS))
    bad = copy.deepcopy(dets)
    if field in "xywh":
        bad[i]["bbox"][" xywh".index(field) - 1] = value
    else:
        bad[i][field] = value
    snapshot = repr((gt, bad))
    for fn in (score_detections, evaluate_voc, evaluate_coco):
        with pytest.raises(ValueError, match=rf"^detection {i} \("):
            fn(bad, gt)
    assert repr((gt, bad)) == snapshot


@given(cases(), st.data())
def test_generated_bad_ground_truth_is_refused_by_index(case, data):
    gt, dets = case
    where = data.draw(st.sampled_from(["annotations", "images"]))
    assume(gt[where])
    i = data.draw(st.integers(0, len(gt[where]) - 1))
    bad = copy.deepcopy(gt)
    if where == "images":
        field = data.draw(st.sampled_from(["width", "height", "id"]))
        value = data.draw(st.sampled_from(BAD_IDS if field == "id" else [*BAD_NUMBERS, 0, -5]))
        if field == "id" and value in (10**6, -1):
            value = None  # an unused id is a valid relabelling, not an error
        bad["images"][i][field] = value
    else:
        field = data.draw(st.sampled_from(["x", "y", "w", "h", "image_id", "category_id", "difficult", "area"]))
        if field in "xywh":
            value = data.draw(st.sampled_from([*BAD_NUMBERS, *([0, -1] if field in "wh" else [])]))
            bad["annotations"][i]["bbox"][" xywh".index(field) - 1] = value
        else:
            choices = {"difficult": ["0", 2, None, 0.5, math.nan], "area": [math.nan, math.inf, -1, "9", None]}
            value = data.draw(st.sampled_from(choices.get(field, BAD_IDS)))
            bad["annotations"][i][field] = value
    with pytest.raises(ValueError, match=rf"^ground truth {where}\[{i}\]"):
        score_detections(dets, bad)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "images",
                    "categories",
                    "annotations",
                    "id",
                    "image_id",
                    "category_id",
                    "bbox",
                    "score",
                    "width",
                    "height",
                ]
                + ["name", "difficult", "iscrowd", "area"]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@given(JSONISH, JSONISH)
@settings(max_examples=300)
def test_arbitrary_json_gives_a_result_or_a_value_error(gt, dets):
    # Whatever JSON-shaped garbage comes in: a ValueError naming it (FileNotFoundError for a string that is no
    # file), or a result of fractions and NaN; never a TypeError, KeyError, IndexError or a traceback from inside
    # numpy or pycocotools.
    try:
        r = score_detections(dets, gt)
    except FileNotFoundError as e:  # a string is the path of a ground-truth file
        assert isinstance(gt, str) and repr(gt) in str(e)
        return
    except ValueError as e:
        assert str(e)
        return
    for k in HEADLINE:
        assert math.isnan(r[k]) or 0.0 <= r[k] <= 1.0 + 1e-15
