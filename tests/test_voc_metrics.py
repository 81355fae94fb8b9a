"""The VOC evaluator against cases worked out on paper from the devkit's definition, and against pycocotools.

Devkit lines cited below (VOC2007 devkit VOCevaldet.m; VOC2010+ devkit VOCap.m):
  [npos]   npos=npos+sum(~gt(i).diff)
  [sort]   [sc,si]=sort(-confidence)                        (MATLAB's sort is stable)
  [match]  if ovmax>=VOCopts.minoverlap, if ~gt(i).diff(jmax), if ~gt(i).det(jmax) tp(d)=1 ... else fp(d)=1
           (a match to a difficult box sets neither: tp(d)=fp(d)=0), else fp(d)=1
  [pr]     fp=cumsum(fp); tp=cumsum(tp); rec=tp/npos; prec=tp./(fp+tp)
  [ap07]   ap=0; for t=0:0.1:1, p=max(prec(rec>=t)); if isempty(p), p=0; end; ap=ap+p/11; end
  [vocap]  mrec=[0;rec;1]; mpre=[0;prec;0]; for i=numel(mpre)-1:-1:1, mpre(i)=max(mpre(i),mpre(i+1)); end
           i=find(mrec(2:end)~=mrec(1:end-1))+1; ap=sum((mrec(i)-mrec(i-1)).*mpre(i))
MATLAB/Octave arithmetic: 0/0 = NaN; max ignores NaN unless every element is NaN; NaN >= t is false; NaN ~= NaN.
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest

from yolo_attn.metrics import (
    ALL_IGNORED,
    NO_POSITIVES,
    VOC07_RECALL_THRESHOLDS,
    evaluate_coco,
    evaluate_voc,
    format_metrics,
    save_metrics,
    score_detections,
    voc_ap,
    voc_pr_curves,
)


def make_gt(images: dict[int, list[tuple[int, list[float], int]]], names=("a", "b", "c", "d"), size=(100, 100)):
    """COCO ground truth from {image_id: [(category_id, [x, y, w, h], difficult), ...]}."""
    gt = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    for img, anns in images.items():
        gt["images"].append({"id": img, "file_name": f"{img}.jpg", "width": size[0], "height": size[1]})
        for cat, box, diff in anns:
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": img,
                    "category_id": cat,
                    "bbox": list(box),
                    "area": box[2] * box[3],
                    "iscrowd": diff,
                    "difficult": diff,
                }
            )
    return gt


def det(img, cat, box, score):
    return {"image_id": img, "category_id": cat, "bbox": list(box), "score": score}


# ------------------------------------------------------------------------------------------- the paper case
# Image 1: a: A1, A2, A3 (difficult); b: B1; c: C1 (difficult: c has no positive at all).
# Image 2: b: B2.   Image 3: a: A4, A5 and no detection at all.   d: no ground truth anywhere.
A1, A2, A3, A4, A5 = [0, 0, 10, 10], [20, 0, 10, 10], [40, 0, 10, 10], [0, 0, 30, 30], [50, 50, 30, 30]
B1, B2, C1 = [0, 50, 20, 20], [50, 50, 20, 20], [60, 60, 10, 10]
GT = make_gt(
    {
        1: [(1, A1, 0), (1, A2, 0), (1, A3, 1), (2, B1, 0), (3, C1, 1)],
        2: [(2, B2, 0)],
        3: [(1, A4, 0), (1, A5, 0)],
    }
)
DETS = [
    det(1, 1, A1, 0.9),  # TP
    det(1, 1, [1, 0, 10, 10], 0.8),  # duplicate of A1 (IoU 90/110): FP
    det(1, 1, A3, 0.7),  # on a difficult box: ignored
    det(1, 1, [70, 70, 10, 10], 0.6),  # nothing there: FP
    det(1, 1, A2, 0.5),  # TP
    det(2, 2, [0, 0, 5, 5], 0.95),  # FP
    det(2, 2, B2, 0.85),  # TP
    det(1, 2, B1, 0.75),  # TP
    det(1, 3, C1, 0.9),  # class c: only a difficult box: ignored, AP undefined
    det(1, 4, [0, 0, 10, 10], 0.3),  # class d: no ground truth: FP, AP undefined
]
# Class a, npos 4, non-ignored in score order TP FP FP TP:
#   recall 1/4 1/4 1/4 1/2, precision 1 1/2 1/3 1/2.
#   all-point: envelope 1 up to recall 1/4, 1/2 up to 1/2 -> 1/4 * 1 + 1/4 * 1/2 = 0.375
#   11-point: t = 0, .1, .2 -> 1; t = .3, .4, .5 -> 1/2; t >= .6 -> 0: (3 + 1.5) / 11
# Class b, npos 2, FP TP TP: recall 0 1/2 1, precision 0 1/2 2/3; envelope 2/3 everywhere
#   all-point: 2/3; 11-point: 2/3
AP_A07, AP_A12, AP_B = 4.5 / 11, 0.375, 2 / 3


def test_paper_case_per_class():
    r = evaluate_voc(DETS, GT)
    assert r["voc07_ap50"]["a"] == pytest.approx(AP_A07, abs=1e-12)
    assert r["voc12_ap50"]["a"] == pytest.approx(AP_A12, abs=1e-12)
    assert r["voc07_ap50"]["b"] == pytest.approx(AP_B, abs=1e-12)
    assert r["voc12_ap50"]["b"] == pytest.approx(AP_B, abs=1e-12)
    assert (r["npos"], r["tp"], r["fp"], r["ignored"]) == (
        {"a": 4, "b": 2, "c": 0, "d": 0},
        {"a": 2, "b": 2, "c": 0, "d": 0},
        {"a": 2, "b": 1, "c": 0, "d": 1},
        {"a": 1, "b": 0, "c": 1, "d": 0},
    )


def test_paper_case_curve_keeps_ignored_detections_as_points():
    # [match] the ignored detection (3rd of class a) has tp = fp = 0; [pr] it stays a point of the curve.
    cv = voc_pr_curves(DETS, GT)[1]
    np.testing.assert_array_equal(cv["rec"], [1 / 4, 1 / 4, 1 / 4, 1 / 4, 2 / 4])
    np.testing.assert_array_equal(cv["prec"], [1 / 1, 1 / 2, 1 / 2, 1 / 3, 2 / 4])


def test_classes_without_positives_as_the_devkit_and_left_out_of_the_mean():
    # c: one difficult box, its detection ignored -> [npos] 0, [pr] rec = 0/0 = NaN, prec = 0/0 = NaN.
    # d: no box, one FP -> npos 0, rec = 0/0 = NaN, prec = 0/1 = 0.
    # [ap07] NaN >= t is false for every t: p = max([]) -> 0: AP 0.
    # [vocap] mrec = [0; NaN; 1]: NaN ~= 0 and 1 ~= NaN, so every step is summed and (NaN - 0) * mpre = NaN: AP NaN.
    r = evaluate_voc(DETS, GT)
    for name in ("c", "d"):
        assert r["voc07_ap50"][name] == 0.0
        assert math.isnan(r["voc12_ap50"][name])
    # The means are over the classes with a positive, and say which they left out and why.
    assert r["voc07_map50"] == pytest.approx((AP_A07 + AP_B) / 2, abs=1e-12)
    assert r["voc12_map50"] == pytest.approx((AP_A12 + AP_B) / 2, abs=1e-12)
    assert r["excluded_classes"] == {k: {"c": NO_POSITIVES, "d": NO_POSITIVES} for k in ("voc07_map50", "voc12_map50")}
    s = score_detections(DETS, GT)
    assert s["excluded_classes"]["coco_ap50"] == {"c": NO_POSITIVES, "d": NO_POSITIVES}
    text = format_metrics(s)
    assert "c, d: no positive (non-difficult) ground truth (mAP50 VOC07, mAP50 VOC12, AP50 COCO, AP50:95 COCO)" in text


def test_class_without_positives_and_without_detections():
    # d has no box and no detection: rec = [] -> [ap07] p = max([]) = [] -> 0 for every t: AP 0;
    # [vocap] mrec = [0; 1], mpre = [0; 0]: ap = (1 - 0) * 0 = 0. Still left out of the mean (no positive).
    r = evaluate_voc([d for d in DETS if d["category_id"] != 4], GT)
    assert r["voc07_ap50"]["d"] == 0.0 and r["voc12_ap50"]["d"] == 0.0
    assert r["excluded_classes"]["voc12_map50"]["d"] == NO_POSITIVES
    assert r["voc12_map50"] == pytest.approx((AP_A12 + AP_B) / 2, abs=1e-12)


def test_every_detection_on_difficult_boxes():
    # Class a: one positive P and one difficult box D; both detections hit D (the 2nd is a second hit of a difficult
    # box: still ignored, [match] checks diff before det). [pr] tp = [0 0], fp = [0 0]: rec = [0 0], prec = [NaN NaN].
    # [ap07] t = 0: max([NaN NaN]) = NaN -> AP NaN; t > 0: no rec >= t -> 0. NaN + 0 = NaN.
    # [vocap] mpre = [0 NaN NaN 0] -> envelope [0 0 0 0]; only mrec 0 -> 1 changes: (1 - 0) * 0 = 0.
    P, D = [0, 0, 10, 10], [50, 50, 10, 10]
    gt = make_gt({1: [(1, P, 0), (1, D, 1)], 2: [(2, P, 0)]})
    dets = [det(1, 1, D, 0.9), det(1, 1, [51, 50, 10, 10], 0.8), det(2, 2, P, 0.7)]
    cv = voc_pr_curves(dets, gt)[1]
    np.testing.assert_array_equal(cv["rec"], [0.0, 0.0])
    assert np.isnan(cv["prec"]).all() and (cv["tp"], cv["fp"], cv["ignored"]) == (0, 0, 2)
    r = evaluate_voc(dets, gt)
    assert math.isnan(r["voc07_ap50"]["a"]) and r["voc12_ap50"]["a"] == 0.0
    # (1/11 added 11 times, as [ap07] does, is 1.0000000000000002)
    assert r["voc07_ap50"]["b"] == pytest.approx(1.0, abs=1e-15) and r["voc12_ap50"]["b"] == 1.0
    # VOC07's mean leaves a out (named, with the reason); VOC12's mean keeps its 0.
    assert r["excluded_classes"]["voc07_map50"] == {"a": ALL_IGNORED, "c": NO_POSITIVES, "d": NO_POSITIVES}
    assert r["voc07_map50"] == pytest.approx(1.0, abs=1e-15)
    assert r["excluded_classes"]["voc12_map50"] == {"c": NO_POSITIVES, "d": NO_POSITIVES}
    assert r["voc12_map50"] == 0.5


def test_ignored_detections_before_the_first_true_positive():
    # D (difficult, 0.9) ignored, P (0.8) TP, a miss (0.7) FP; npos 1.
    # [pr] tp = [0 1 1], fp = [0 0 1]: rec = [0 1 1], prec = [NaN 1 1/2].
    # [ap07] t = 0: max([NaN 1 .5]) = 1 (NaN ignored); t > 0: max([1 .5]) = 1: AP 1.
    # [vocap] mpre = [0 NaN 1 .5 0] -> [1 1 1 .5 0]; mrec = [0 0 1 1 1] changes once, at 0 -> 1: 1 * 1 = 1.
    P, D = [0, 0, 10, 10], [50, 50, 10, 10]
    gt = make_gt({1: [(1, P, 0), (1, D, 1)]})
    dets = [det(1, 1, D, 0.9), det(1, 1, P, 0.8), det(1, 1, [80, 0, 10, 10], 0.7)]
    cv = voc_pr_curves(dets, gt)[1]
    np.testing.assert_array_equal(cv["rec"], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(cv["prec"], [np.nan, 1.0, 0.5])
    r = evaluate_voc(dets, gt)
    assert r["voc07_ap50"]["a"] == pytest.approx(1.0, abs=1e-15) and r["voc12_ap50"]["a"] == 1.0


def test_voc07_recall_thresholds_are_the_devkits_float_range():
    # [ap07] t=0:0.1:1 as numpy's arange and GNU Octave's range compute it (py-faster-rcnn, mmdet, detectron2 use
    # np.arange(0.0, 1.1, 0.1)): 0.3, 0.6 and 0.7 are one ulp above.
    assert VOC07_RECALL_THRESHOLDS == (
        0.0,
        0.1,
        0.2,
        0.30000000000000004,
        0.4,
        0.5,
        0.6000000000000001,
        0.7000000000000001,
        0.8,
        0.9,
        1.0,
    )


@pytest.mark.parametrize(
    ("found", "npos", "reached"),
    [
        # recall = found/npos, precision 1; AP = (number of thresholds t with recall >= t) / 11
        (3, 10, 3),  # 0.3 < 0.30000000000000004: t = 0, .1, .2 only (k/10 would also count .3)
        (4, 10, 5),  # 0.4 >= 0.4
        (5, 10, 6),  # 0.5 >= 0.5
        (3, 5, 6),  # 0.6 < 0.6000000000000001
        (6, 10, 6),
        (7, 10, 7),  # 0.7 < 0.7000000000000001
        (8, 10, 9),
        (10, 10, 11),
        (1, 3, 4),  # 0.333...
    ],
)
def test_voc07_recall_exactly_on_a_threshold(found, npos, reached):
    boxes = [[20 * (i % 5), 20 * (i // 5), 10, 10] for i in range(npos)]  # disjoint
    gt = make_gt({1: [(1, b, 0) for b in boxes]})
    dets = [det(1, 1, b, 1.0 - i / 100) for i, b in enumerate(boxes[:found])]
    r = evaluate_voc(dets, gt)
    assert r["voc07_ap50"]["a"] == pytest.approx(reached / 11, abs=1e-15)
    assert r["voc12_ap50"]["a"] == pytest.approx(found / npos, abs=1e-15)


def test_class_with_positives_and_no_detection_scores_zero():
    r = evaluate_voc([d for d in DETS if d["category_id"] != 2], GT)
    assert r["voc07_ap50"]["b"] == 0 and r["voc12_ap50"]["b"] == 0
    assert "b" not in r["excluded_classes"]["voc07_map50"]
    r = evaluate_voc([], GT)
    assert r["voc07_map50"] == 0 and r["voc12_map50"] == 0


def test_ties_keep_input_order_stable_sort():
    # One positive; a TP and an FP with equal scores. A stable sort keeps the input order (as the devkit's MATLAB
    # sort does): TP first -> precision 1 at recall 1 -> AP 1; FP first -> precision 1/2 at recall 1 -> AP 1/2.
    gt = make_gt({1: [(1, A1, 0)]})
    tp, fp = det(1, 1, A1, 0.5), det(1, 1, [60, 60, 10, 10], 0.5)
    for dets, ap in (([tp, fp], 1.0), ([fp, tp], 0.5)):
        r = evaluate_voc(dets, gt)
        assert r["voc07_ap50"]["a"] == pytest.approx(ap) and r["voc12_ap50"]["a"] == pytest.approx(ap)


def test_highest_iou_box_is_taken_even_if_claimed():
    # Devkit rule: the detection goes to the box of highest IoU; if that one is claimed it is an FP, even when
    # another unclaimed box also overlaps by >= 0.5 (pycocotools would match the second box instead).
    g1, g2 = [0, 0, 10, 10], [2, 0, 10, 10]  # IoU(g1, g2) = 80/120
    gt = make_gt({1: [(1, g1, 0), (1, g2, 0)]})
    r = evaluate_voc([det(1, 1, g1, 0.9), det(1, 1, [0.5, 0, 10, 10], 0.8)], gt)  # 2nd: IoU .905 g1, .739 g2
    assert (r["tp"]["a"], r["fp"]["a"]) == (1, 1)
    assert r["voc12_ap50"]["a"] == pytest.approx(0.5)


def test_iou_threshold_is_inclusive_and_uses_pixel_convention():
    # Pixel-edge box [0,0,10,10] is devkit corners (1,1)-(10,10), 100 px. A detection [0,0,20,10] has IoU exactly
    # 100/200 = 0.5 -> TP (>= 0.5, as VOCevaldet.m); [0,0,20.5,10] has IoU < 0.5 -> FP.
    gt = make_gt({1: [(1, [0, 0, 10, 10], 0)]})
    assert evaluate_voc([det(1, 1, [0, 0, 20, 10], 0.9)], gt)["tp"]["a"] == 1
    assert evaluate_voc([det(1, 1, [0, 0, 20.5, 10], 0.9)], gt)["fp"]["a"] == 1


def test_voc_ap_forms():
    assert voc_ap([0.5, 1.0], [1.0, 0.5]) == pytest.approx(0.75)
    assert voc_ap([0.5, 1.0], [1.0, 0.5], use_07_metric=True) == pytest.approx((6 * 1 + 5 * 0.5) / 11)
    # recall 3/10 does not reach the devkit's threshold 0.30000000000000004
    assert voc_ap([0.3], [1.0], use_07_metric=True) == pytest.approx(3 / 11)
    assert voc_ap([], [], use_07_metric=True) == 0 and voc_ap([], []) == 0
    # NaN as MATLAB: all-NaN precision -> NaN (VOC07); NaN recall -> NaN (VOC12), never reached (VOC07)
    assert math.isnan(voc_ap([0.0, 0.0], [math.nan, math.nan], use_07_metric=True))
    assert voc_ap([0.0, 0.0], [math.nan, math.nan]) == 0
    assert voc_ap([math.nan], [0.0], use_07_metric=True) == 0 and math.isnan(voc_ap([math.nan], [0.0]))
    with pytest.raises(ValueError, match="one length"):
        voc_ap([0.5], [1.0, 0.5])


# ------------------------------------------------------------------------------------------- random cases
def random_case(seed: int, difficult: bool = False, n_images: int = 30):
    """Ground truth on a 4x4 grid of 50 px cells (boxes never overlap) and noisy detections with distinct scores."""
    rng = random.Random(seed)
    images = {}
    dets = []
    for img in range(1, n_images + 1):
        anns = []
        cells = rng.sample(range(16), rng.randint(0, 6))
        for cell in cells:
            cx, cy = 50 * (cell % 4), 50 * (cell // 4)
            w, h = rng.uniform(10, 40), rng.uniform(10, 40)
            box = [cx + rng.uniform(0, 48 - w), cy + rng.uniform(0, 48 - h), w, h]
            cat = rng.randint(1, 3)
            d = int(difficult and rng.random() < 0.2)
            anns.append((cat, box, d))
            for _ in range(rng.choice([0, 1, 1, 1, 2])):  # misses, hits and duplicates
                j = 0.2  # some jittered boxes fall below IoU 0.5
                jb = [
                    box[0] + rng.uniform(-j, j) * w,
                    box[1] + rng.uniform(-j, j) * h,
                    w * rng.uniform(0.75, 1.3),
                    h * rng.uniform(0.75, 1.3),
                ]
                c = cat if rng.random() < 0.9 else rng.randint(1, 3)
                dets.append(det(img, c, jb, rng.uniform(0.2, 1.0)))
        for _ in range(rng.randint(0, 4)):  # background false positives
            dets.append(
                det(img, rng.randint(1, 3), [rng.uniform(0, 170), rng.uniform(0, 170), 25, 25], rng.uniform(0, 0.7))
            )
        images[img] = anns
    return make_gt(images, names=("a", "b", "c"), size=(200, 200)), dets


def coco101_from_curve(rec: np.ndarray, prec: np.ndarray) -> float:
    """COCO's 101-point interpolation, from a precision/recall curve."""
    env = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
    thr = np.linspace(0, 1, 101)
    idx = np.searchsorted(rec, thr, side="left")
    return float(np.mean([env[i] if i < len(env) else 0.0 for i in idx]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools_ap50(seed):
    gt, dets = random_case(seed)
    voc = evaluate_voc(dets, gt)
    coco = evaluate_coco(dets, gt)
    curves = voc_pr_curves(dets, gt)
    for c, name in ((1, "a"), (2, "b"), (3, "c")):
        # With disjoint ground-truth boxes a detection overlaps at most one box by IoU >= 0.5, so the devkit's
        # matching and COCOeval's coincide, and with distinct scores so does the order: COCOeval's AP50 is then
        # exactly the 101-point interpolation of our precision/recall curve.
        cv = curves[c]
        assert coco["coco_ap50_per_class"][name] == pytest.approx(coco101_from_curve(cv["rec"], cv["prec"]), abs=1e-12)
        # Tolerance for the all-point AP: both are integrals of the same non-increasing envelope f on [0, 1], ours
        # exact, COCO's the average of f at the 101 points 0, .01, ..., 1. For a non-increasing f with values in
        # [0, 1], S = sum f(i/100) satisfies (S - f(0))/100 <= integral <= (S - f(1))/100, so
        # |S/101 - integral| <= max(101 f(0) - S, S - 101 f(1)) / 10100 <= 101/10100 = 0.01.
        assert abs(voc["voc12_ap50"][name] - coco["coco_ap50_per_class"][name]) <= 0.01
    assert abs(voc["voc12_map50"] - coco["coco_ap50"]) <= 0.01
    assert 0 < coco["coco_ap50_95"] < coco["coco_ap50"]


def test_invariant_to_detection_order():
    gt, dets = random_case(3, difficult=True)
    ref = score_detections(dets, gt)
    shuffled = dets[:]
    random.Random(0).shuffle(shuffled)
    got = score_detections(shuffled, gt)
    for k in ("voc07_map50", "voc12_map50", "coco_ap50", "coco_ap50_95"):
        assert got[k] == pytest.approx(ref[k], abs=1e-12)
    assert got["per_class"]["voc07_ap50"] == pytest.approx(ref["per_class"]["voc07_ap50"], abs=1e-12)


def test_detections_of_difficult_objects_change_nothing():
    gt, dets = random_case(4, difficult=True)
    hard = [a for a in gt["annotations"] if a["difficult"]]
    assert len(hard) >= 5
    rng = random.Random(1)
    extra = [det(a["image_id"], a["category_id"], a["bbox"], rng.random()) for a in hard]
    before, after = evaluate_voc(dets, gt), evaluate_voc(dets + extra, gt)
    for k in ("voc07_ap50", "voc12_ap50", "tp", "fp"):
        assert after[k] == pytest.approx(before[k], abs=1e-12)
    assert sum(after["ignored"].values()) >= sum(before["ignored"].values()) + len(extra)
    # pycocotools: difficult boxes are ignore regions (iscrowd), so the same detections change nothing there either
    c0, c1 = evaluate_coco(dets, gt), evaluate_coco(dets + extra, gt)
    assert c1["coco_ap50"] == pytest.approx(c0["coco_ap50"], abs=1e-12)


def test_save_metrics_writes_nan_as_null(tmp_path):
    r = score_detections(DETS, GT)
    path = save_metrics(r, tmp_path / "m.json")
    text = path.read_text()
    assert "NaN" not in text
    import json

    back = json.loads(text)
    assert back["unit"].startswith("fraction of 1") and list(back)[0] == "unit"
    assert [f.name for f in tmp_path.iterdir()] == ["m.json"]  # written through a temporary file, renamed
    assert back["per_class"]["voc12_ap50"]["c"] is None
    assert back["voc12_map50"] == pytest.approx((AP_A12 + AP_B) / 2)


# ------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_evaluate_model_end_to_end(tmp_path):
    """A YAML-built YOLOv8n trained 1 epoch at imgsz 64 on CPU, scored on the test split with every protocol."""
    import json

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    from ultralytics import YOLO

    from yolo_attn.data import make_sample_dataset, prepare_voc
    from yolo_attn.integration.internals import no_font_download
    from yolo_attn.metrics import METRIC_KEYS, evaluate_model, format_metrics

    devkit = make_sample_dataset(tmp_path / "sample", images=12, seed=0, imgsz=64)
    data = prepare_voc(devkit, tmp_path / "data", log=None)
    model = YOLO("yolov8n.yaml")  # built from YAML: nothing to download
    with no_font_download():
        model.train(
            data=str(data.yaml),
            epochs=1,
            imgsz=64,
            batch=4,
            device="cpu",
            workers=0,
            plots=False,
            amp=False,
            val=False,
            project=str(tmp_path / "runs"),
            name="t",
            exist_ok=True,
            seed=0,
        )
    weights = model.trainer.last
    res = evaluate_model(weights, data.yaml, split="test", imgsz=64, batch=4, device="cpu")

    names = [c["name"] for c in json.loads((data.out / "annotations" / "test.json").read_text())["categories"]]
    assert res["images"] == data.images["test"] and res["split"] == "test"
    scale_keys = ("coco_ap_medium", "coco_ap_large")  # 64 px images: every object is small (area < 32²)
    for k in METRIC_KEYS:
        if k in scale_keys:
            assert math.isnan(res[k]), (k, res[k])
        else:
            assert 0.0 <= res[k] <= 1.0, (k, res[k])
    for k in (
        "voc07_ap50",
        "voc12_ap50",
        "coco_ap50",
        "coco_ap50_95",
        "ultralytics_ap50",
        "ultralytics_ap50_95",
        "npos",
        "difficult",
    ):
        assert list(res["per_class"][k]) == names
        if k not in ("npos", "difficult"):
            assert all(math.isnan(v) or 0 <= v <= 1 for v in res["per_class"][k].values())
    text = format_metrics(res)
    assert "VOC2007 devkit 11-point" in text and "mAP50-95 UL" in text and "values in %" in text
    back = json.loads(save_metrics(res, tmp_path / "metrics.json").read_text())
    assert set(METRIC_KEYS) <= set(back)


def test_coco_scale_ranges_are_pycocotools_inclusive_ones_also_without_detections():
    # pycocotools' area ranges are closed: small [0, 32²], medium [32², 96²], large [96², 1e5²], so a box of area
    # exactly 32² (32 x 32) is a small AND a medium object. Without detections every range that holds a positive
    # scores 0 and the others are undefined (-1 in COCOeval, NaN here), from COCOeval itself on an empty result set.
    gt = make_gt({1: [(1, [0, 0, 32, 32], 0)], 2: [(2, [0, 0, 200, 200], 1)]}, size=(300, 300))
    r = evaluate_coco([], gt)
    assert r["coco_ap_small"] == 0 and r["coco_ap_medium"] == 0 and math.isnan(r["coco_ap_large"])
    assert r["coco_ar100"] == 0 and r["coco_ap50_95"] == 0
    # and with the perfect detection: 1 in both ranges it belongs to
    r = evaluate_coco([det(1, 1, [0, 0, 32, 32], 0.9)], gt)
    assert r["coco_ap_small"] == pytest.approx(1, abs=1e-12) and r["coco_ap_medium"] == pytest.approx(1, abs=1e-12)
    assert math.isnan(r["coco_ap_large"])
