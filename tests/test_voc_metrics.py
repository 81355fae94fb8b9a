"""The VOC evaluator against cases worked out on paper, and against pycocotools."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest

from yolo_attn.metrics import evaluate_coco, evaluate_voc, save_metrics, score_detections, voc_ap, voc_pr_curves


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


def test_class_without_ground_truth_is_nan_and_left_out_of_the_mean():
    # Convention: no positive -> AP is NaN (the devkit divides by zero), excluded from the mean.
    r = evaluate_voc(DETS, GT)
    for k in ("voc07_ap50", "voc12_ap50"):
        assert math.isnan(r[k]["c"]) and math.isnan(r[k]["d"])
    assert r["voc07_map50"] == pytest.approx((AP_A07 + AP_B) / 2, abs=1e-12)
    assert r["voc12_map50"] == pytest.approx((AP_A12 + AP_B) / 2, abs=1e-12)


def test_class_with_positives_and_no_detection_scores_zero():
    r = evaluate_voc([d for d in DETS if d["category_id"] != 2], GT)
    assert r["voc07_ap50"]["b"] == 0 and r["voc12_ap50"]["b"] == 0
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
    # recall 3/10 reaches the 0.3 threshold (computed as 3/10, not 3 * 0.1)
    assert voc_ap([0.3], [1.0], use_07_metric=True) == pytest.approx(4 / 11)
    assert voc_ap([], [], use_07_metric=True) == 0 and voc_ap([], []) == 0


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
