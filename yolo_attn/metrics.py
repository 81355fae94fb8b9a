"""Score detections the way Pascal VOC papers do, next to COCO-style and Ultralytics' own numbers.

Inputs are COCO-shaped, so the same detections feed every protocol:

- ground truth: a COCO dataset dict (or the path of its JSON), as written by `yolo_attn.data.voc.prepare_voc` to
  `annotations/<split>.json`: `images` (`id`, `width`, `height`; `file_name` for `evaluate_model`), `categories`
  (`id`, `name`) and `annotations` (`image_id`, `category_id`, `bbox` = [x, y, w, h] in pixel-edge coordinates,
  `difficult` 0/1; `iscrowd` is read when `difficult` is absent).
- detections: a list of COCO results, `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`, in the same
  pixel-edge coordinates (an Ultralytics `xyxy` box `(x1, y1, x2, y2)` is `[x1, y1, x2 - x1, y2 - y1]`).

Both are checked before anything is scored (`check_ground_truth`, `check_detections`): a non-finite number, a
negative width, a wrong type, an unknown image or category id, a missing key or a non-list raises ValueError naming
the item (list, index, ids, value), so bad input never changes a score. Results are fractions in [0, 1] (NaN where
undefined); `format_metrics` shows them in %, `save_metrics` writes fractions with a `"unit"` entry saying so.

Protocols, each named in the output:

- `voc07_*`: VOC2007 devkit (VOCevaldet.m), 11-point interpolated AP at IoU 0.5; `voc12_*`: VOC2010+ devkit
  (VOCap.m), area under the monotone precision envelope at every recall change ("all-point"). Matching follows
  VOCevaldet.m: per class, detections are sorted by score, descending, with a *stable* sort (ties keep their input
  order, as MATLAB's `sort` does; pycocotools also sorts stably), and each is compared with every ground-truth box of
  its class in its image (difficult ones included); the box of highest IoU is taken (the first such on an IoU tie).
  IoU >= 0.5 with a difficult box: the detection is ignored (tp = fp = 0, kept as a point of the curve, as in the
  devkit). IoU >= 0.5 with an unclaimed box: TP, and the box is claimed. IoU >= 0.5 with a claimed box, or best IoU
  < 0.5: FP. Difficult boxes are not counted as positives. IoU uses the devkit's integer-pixel convention (1-based
  inclusive corners, widths `xmax - xmin + 1`); boxes here are converted as `xmin = x + 1`, `xmax = x + w`, which
  makes that "+1" IoU equal to the plain IoU of the pixel-edge boxes. The VOC2007 recall thresholds are the
  devkit's `t=0:0.1:1` as numpy and GNU Octave compute it (`VOC07_RECALL_THRESHOLDS`), so a recall of exactly 3/10
  does not reach threshold 0.3.
- Per-class AP is the devkit's own value, NaN included, because the devkit divides by zero in two cases: a class
  whose every detection matched a difficult box has precision 0/0 and VOC2007 AP NaN (VOC2010+: 0); a class with no
  positive has recall 0/0, which gives VOC2007 AP 0 and VOC2010+ AP NaN with detections, 0 without. A class with
  positives but no detections has AP 0. The mean over classes (`voc07_map50`, `voc12_map50`, and likewise the COCO
  means) is over the classes that have a positive and a defined AP; `excluded_classes` names every class each mean
  left out, with the reason.
- `coco_ap50`, `coco_ap50_95`: pycocotools COCOeval (bbox, area "all", at most `max_dets` = 100 detections per
  image, 101-point interpolation) on the same detections, with difficult boxes as ignore regions (`iscrowd=1`;
  COCOeval overwrites an `ignore` key with `iscrowd`, so `iscrowd` is what counts). pycocotools matches a detection
  to the best *unmatched* non-ignored box and scores ignore regions by intersection over the detection's area, so
  with overlapping ground truth or difficult boxes its AP50 differs from the devkit's slightly. Per-class AP is the
  mean of the precision entries > -1 for that class; the mean is over classes with ground truth. As in pycocotools,
  an unmatched detection whose area lies outside the area range is ignored, not a false positive (for the AP over
  all areas that takes a box of more than 1e5² px²; for AP_S it is every unmatched detection above 32² px²).
  `coco_ap_small`, `coco_ap_medium`, `coco_ap_large` and `coco_ar100` are COCOeval.summarize()'s AP_S, AP_M, AP_L
  and AR@100.
- `ultralytics_map50`, `ultralytics_map50_95`: Ultralytics' own `model.val()` (difficult boxes absent from its
  labels, so detections of them count as false positives; 101-point curve with trapezoid integration).

Examples:
    >>> from yolo_attn.metrics import evaluate_model, format_metrics, save_metrics
    >>> res = evaluate_model("runs/detect/train/weights/best.pt", "datasets/voc/data.yaml", split="test")
    >>> print(format_metrics(res))
    >>> save_metrics(res, "runs/detect/train/voc_metrics.json")
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import numbers
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "METRIC_KEYS",
    "PER_CLASS_KEYS",
    "VOC07_RECALL_THRESHOLDS",
    "Metric",
    "check_detections",
    "check_ground_truth",
    "evaluate_coco",
    "evaluate_model",
    "evaluate_voc",
    "format_metrics",
    "ground_truth_from_labels",
    "load_ground_truth",
    "metric",
    "predict_detections",
    "save_metrics",
    "score_detections",
    "voc_ap",
    "voc_pr_curves",
]


@dataclass(frozen=True)
class Metric:
    """One headline number of `evaluate_model`: what it is, how it is shown, which per-class dict belongs to it.

    Attributes:
        key (str): Name in results, records and CSV columns, e.g. ``voc07_map50``.
        short (str): Column header in tables, e.g. ``mAP50 VOC07``.
        axis (str): Axis label in plots.
        protocol (str): One line saying how it is computed.
        per_class (str | None): Key of its per-class dict in ``result["per_class"]``, None when there is none.
        higher_is_better (bool): Ranking direction.
        unit (str): Unit of the stored value. Every metric here is a fraction in [0, 1]; tables and plots show
            percent (``percent(value)``), results.csv and metrics.json keep the fraction.
    """

    key: str
    short: str
    axis: str
    protocol: str
    per_class: str | None = None
    higher_is_better: bool = True
    unit: str = "fraction"

    def percent(self, value: float | None, digits: int = 1) -> str:
        """Format a stored fraction as percent without the sign (``0.4012`` -> ``40.1``); ``–`` when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{100 * value:.{digits}f}"


#: The one table of metrics: the evaluator, the compare worker, sweep, report, plots, CLI and notebooks read it.
METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(
            "voc07_map50",
            "mAP50 VOC07",
            "mAP@0.5, VOC07 11-point (%)",
            "mAP@0.5, VOC2007 devkit 11-point interpolated AP, difficult objects ignored",
            "voc07_ap50",
        ),
        Metric(
            "voc12_map50",
            "mAP50 VOC12",
            "mAP@0.5, VOC12 all-point (%)",
            "mAP@0.5, VOC2010+ devkit all-point AP (area under the precision envelope), difficult objects ignored",
            "voc12_ap50",
        ),
        Metric(
            "coco_ap50",
            "AP50 COCO",
            "AP50, COCO (%)",
            "AP@0.5, pycocotools (101-point), difficult objects as ignore regions",
            "coco_ap50",
        ),
        Metric(
            "coco_ap50_95",
            "AP50:95 COCO",
            "AP50:95, COCO (%)",
            "AP@[0.5:0.95], pycocotools (101-point), difficult objects as ignore regions",
            "coco_ap50_95",
        ),
        Metric(
            "coco_ap_small",
            "AP_S COCO",
            "AP50:95 small objects, COCO (%)",
            "AP@[0.5:0.95] on ground truth of area <= 32², pycocotools, difficult objects as ignore regions",
        ),
        Metric(
            "coco_ap_medium",
            "AP_M COCO",
            "AP50:95 medium objects, COCO (%)",
            "AP@[0.5:0.95] on ground truth of area 32² to 96², pycocotools, difficult objects as ignore regions",
        ),
        Metric(
            "coco_ap_large",
            "AP_L COCO",
            "AP50:95 large objects, COCO (%)",
            "AP@[0.5:0.95] on ground truth of area >= 96², pycocotools, difficult objects as ignore regions",
        ),
        Metric(
            "coco_ar100",
            "AR100 COCO",
            "AR@100, COCO (%)",
            "average recall over IoU 0.5:0.95 with at most 100 detections per image, pycocotools",
        ),
        Metric(
            "ultralytics_map50",
            "mAP50 UL",
            "mAP50, Ultralytics val (%)",
            "mAP@0.5, Ultralytics val (101-point, trapezoid), difficult objects dropped (counted as false positives)",
            "ultralytics_ap50",
        ),
        Metric(
            "ultralytics_map50_95",
            "mAP50-95 UL",
            "mAP50-95, Ultralytics val (%)",
            "mAP@[0.5:0.95], Ultralytics val, difficult objects dropped (counted as false positives)",
            "ultralytics_ap50_95",
        ),
    )
}
#: The headline numbers of `evaluate_model`, each named by protocol (the keys of `METRICS`, in order).
METRIC_KEYS: tuple[str, ...] = tuple(METRICS)
#: The per-class dicts of a result, in the order of `METRICS`.
PER_CLASS_KEYS: tuple[str, ...] = tuple(m.per_class for m in METRICS.values() if m.per_class)


def metric(key: str) -> Metric:
    """Return the `Metric` named ``key``; ``ValueError`` naming the valid keys otherwise."""
    try:
        return METRICS[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown metric {key!r}; valid: {', '.join(METRICS)}") from None


# ------------------------------------------------------------------------------------------------ input checks
#: Keys of a detection (a COCO result) and of the ground-truth dict, as checked by `check_detections` and
#: `check_ground_truth`.
DETECTION_KEYS = ("image_id", "category_id", "bbox", "score")
#: Largest absolute box coordinate or size accepted (pixels): far beyond any image, small enough that sums and areas
#: stay finite and exact enough (1e300-sized boxes would make IoUs inf - inf = NaN, which pycocotools counts as a
#: match).
MAX_COORD = 1e12
_BOX_HELP = f"4 finite numbers [x, y, w, h] with |value| <= {MAX_COORD:g}"


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v: Any) -> bool:
    return type(v) is float or type(v) is int or (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)))


def _box(box: Any, what: str, min_size_exclusive: bool) -> list[float]:
    """A checked [x, y, w, h] as floats; ValueError naming ``what`` otherwise."""
    size = "w, h > 0" if min_size_exclusive else "w, h >= 0"
    if isinstance(box, np.ndarray):
        box = box.tolist()
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"{what}: bbox {box!r} is not {_BOX_HELP} and {size}")
    if not all(_is_real(v) for v in box):
        raise ValueError(f"{what}: bbox {box!r} holds a non-number; bbox must be {_BOX_HELP} and {size}")
    out = [float(v) for v in box]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what}: bbox {box!r} holds a non-finite value; bbox must be {_BOX_HELP} and {size}")
    if not all(abs(v) <= MAX_COORD for v in out):
        raise ValueError(
            f"{what}: bbox {box!r} holds a value beyond {MAX_COORD:g}; bbox must be {_BOX_HELP} and {size}"
        )
    w, h = out[2], out[3]
    if (w <= 0 or h <= 0) if min_size_exclusive else (w < 0 or h < 0):
        raise ValueError(f"{what}: bbox {box!r} has width {w:g}, height {h:g}; bbox must be {_BOX_HELP} and {size}")
    return out


def _list_of(obj: Any, what: str) -> list:
    # A dict, a string or bytes iterate too, but into keys or characters: a classic silent mistake.
    if isinstance(obj, (Mapping, str, bytes)) or not isinstance(obj, Iterable):
        raise ValueError(f"{what} must be a list, got {type(obj).__name__}")
    return list(obj)


def load_ground_truth(ground_truth: str | Path | Mapping[str, Any]) -> dict:
    """A COCO ground-truth dict from a dict or a JSON path (see the module docstring), not yet checked.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: The file is not JSON, or the value is neither a path nor a dict.
    """
    if isinstance(ground_truth, (str, Path)):
        name, path = str(ground_truth), Path(ground_truth)
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth file {name!r} not found (a str or Path is the path of a JSON file)")
        try:
            ground_truth = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"ground-truth file {name!r} is not valid JSON: {e}") from None
        if not isinstance(ground_truth, Mapping):
            raise ValueError(f"ground-truth file {name!r} holds a {type(ground_truth).__name__}, not a COCO dict")
    if not isinstance(ground_truth, Mapping):
        raise ValueError(f"ground truth must be a COCO dict or the path of its JSON, got {type(ground_truth).__name__}")
    return dict(ground_truth)


def check_ground_truth(ground_truth: str | Path | Mapping[str, Any]) -> dict:
    """Load (`load_ground_truth`) and check a COCO ground truth; return it with its lists as lists.

    Every image needs an integer `id` (unique) and `width`, `height` in (0, MAX_COORD]; every category an integer
    `id` and a non-empty `name` (both unique: per-class results are keyed by name); every annotation an `image_id`
    and a `category_id` that exist, a `bbox` of 4 finite numbers of at most MAX_COORD with w, h > 0, `difficult` /
    `iscrowd` (when given) 0 or 1, and `area` (when given) finite and >= 0. Annotation `id`s are not read
    (pycocotools gets fresh ones). Box corners outside the image are accepted (scoring never reads image sizes).

    Raises:
        ValueError: Naming the first offending item (list, index, ids, value) and what would be valid.
    """
    gt = load_ground_truth(ground_truth)
    try:
        return _check_ground_truth(gt)
    except ValueError as e:
        if isinstance(ground_truth, (str, Path)):  # name the file too
            raise ValueError(f"ground-truth file {str(ground_truth)!r}: {e}") from None
        raise


def _check_ground_truth(gt: dict) -> dict:
    for key in ("images", "categories", "annotations"):
        if key not in gt:
            raise ValueError(f"ground truth has no {key!r} list (needs 'images', 'categories' and 'annotations')")
        gt[key] = _list_of(gt[key], f"ground truth {key!r}")
    image_ids = _check_gt_images(gt["images"])
    cat_ids = _check_gt_categories(gt["categories"])
    _check_gt_annotations(gt["annotations"], image_ids, cat_ids)
    return gt


def _check_gt_images(images: list) -> set:
    """Check the ground truth's images; return their ids."""
    image_ids: set = set()
    for i, img in enumerate(images):
        what = f"ground truth images[{i}]"
        if not isinstance(img, Mapping):
            raise ValueError(f"{what} is a {type(img).__name__}, not a dict with 'id', 'width' and 'height'")
        for key in ("id", "width", "height"):
            if key not in img:
                raise ValueError(f"{what} has no {key!r} (needs 'id', 'width' and 'height')")
        if not _is_int(img["id"]):
            raise ValueError(f"{what}: id {img['id']!r} is not an integer")
        if img["id"] in image_ids:
            raise ValueError(f"{what}: id {img['id']!r} is used by an earlier image; image ids must be unique")
        image_ids.add(img["id"])
        for key in ("width", "height"):
            v = img[key]
            if not _is_real(v) or not math.isfinite(v) or not 0 < v <= MAX_COORD:
                raise ValueError(f"{what} (id {img['id']!r}): {key} {v!r} is not a number in (0, {MAX_COORD:g}]")
    return image_ids


def _check_gt_categories(categories: list) -> set:
    """Check the ground truth's categories (unique ids and names); return their ids."""
    cat_ids: set = set()
    names: set = set()
    for i, cat in enumerate(categories):
        what = f"ground truth categories[{i}]"
        if not isinstance(cat, Mapping) or "id" not in cat or "name" not in cat:
            raise ValueError(f"{what} is {cat!r}, not a dict with 'id' and 'name'")
        if not _is_int(cat["id"]):
            raise ValueError(f"{what}: id {cat['id']!r} is not an integer")
        if not isinstance(cat["name"], str) or not cat["name"]:
            raise ValueError(f"{what} (id {cat['id']!r}): name {cat['name']!r} is not a non-empty string")
        if cat["id"] in cat_ids or cat["name"] in names:
            raise ValueError(f"{what}: id {cat['id']!r} or name {cat['name']!r} is used by an earlier category")
        cat_ids.add(cat["id"])
        names.add(cat["name"])
    return cat_ids


def _check_gt_annotations(annotations: list, image_ids: set, cat_ids: set) -> None:
    """Check the ground truth's annotations against the image and category ids."""
    for i, ann in enumerate(annotations):
        what = f"ground truth annotations[{i}]"
        if not isinstance(ann, Mapping):
            raise ValueError(f"{what} is a {type(ann).__name__}, not a dict with 'image_id', 'category_id' and 'bbox'")
        for key in ("image_id", "category_id", "bbox"):
            if key not in ann:
                raise ValueError(f"{what} has no {key!r} (needs 'image_id', 'category_id' and 'bbox')")
        what = f"{what} (image_id {ann['image_id']!r}, category_id {ann['category_id']!r})"
        if not _is_int(ann["image_id"]) or ann["image_id"] not in image_ids:
            raise ValueError(f"{what}: image_id {ann['image_id']!r} is not the id of an image in the ground truth")
        if not _is_int(ann["category_id"]) or ann["category_id"] not in cat_ids:
            raise ValueError(f"{what}: category_id {ann['category_id']!r} is not the id of a category")
        _box(ann["bbox"], what, min_size_exclusive=True)
        for key in ("difficult", "iscrowd"):  # "0" would be truthy: only 0, 1, False, True
            v = ann.get(key, 0)
            if not (_is_int(v) or isinstance(v, (bool, np.bool_))) or v not in (0, 1):
                raise ValueError(f"{what}: {key} {v!r} is not 0 or 1")
        if "area" in ann and (not _is_real(ann["area"]) or not math.isfinite(ann["area"]) or ann["area"] < 0):
            raise ValueError(f"{what}: area {ann['area']!r} is not a finite number >= 0")


def check_detections(detections: Iterable[Mapping[str, Any]], ground_truth: Mapping[str, Any]) -> list[dict]:
    """Check detections against a checked ground truth; return clean copies (`DETECTION_KEYS` only, floats, ints).

    Each detection is a dict with `image_id` and `category_id` present in the ground truth, `bbox` = 4 finite numbers
    [x, y, w, h] with w, h >= 0 (a zero-size box overlaps nothing: a false positive in every protocol) and a finite
    `score`. Other keys are ignored. Nothing is scored when one detection is bad, so a bad value cannot change a score.

    Raises:
        ValueError: Naming the first offending detection (index, image_id, the value) and what would be valid.
    """
    dets = _list_of(detections, "detections")
    image_ids = {img["id"] for img in ground_truth["images"]}
    cat_ids = {c["id"] for c in ground_truth["categories"]}
    out = []
    plain, lim = (int, float), MAX_COORD
    for i, d in enumerate(dets):
        # Fast path for what predict_detections and json.load give (plain dicts, ints, floats); anything else, and
        # any doubt (NaN and inf fail every comparison), goes through the full check that names the problem.
        if type(d) is dict and "bbox" in d and "image_id" in d and "category_id" in d and "score" in d:
            img, cat, box, score = d["image_id"], d["category_id"], d["bbox"], d["score"]
            if type(img) is int and type(cat) is int and type(box) is list and len(box) == 4 and type(score) in plain:
                x, y, w, h = box
                if (
                    type(x) in plain
                    and type(y) in plain
                    and type(w) in plain
                    and type(h) in plain
                    and -lim <= x <= lim
                    and -lim <= y <= lim
                    and 0 <= w <= lim
                    and 0 <= h <= lim
                    and -math.inf < score < math.inf
                    and img in image_ids
                    and cat in cat_ids
                ):
                    out.append(
                        {"image_id": img, "category_id": cat, "bbox": [float(v) for v in box], "score": float(score)}
                    )
                    continue
        out.append(_check_detection(i, d, image_ids, cat_ids))
    return out


def _check_detection(i: int, d: Any, image_ids: set, cat_ids: set) -> dict:
    """One detection, fully checked; ValueError naming it (index, ids, value) otherwise."""
    if not isinstance(d, Mapping):
        raise ValueError(f"detection {i} is a {type(d).__name__}, not a dict with keys {', '.join(DETECTION_KEYS)}")
    missing = [k for k in DETECTION_KEYS if k not in d]
    if missing:
        raise ValueError(f"detection {i} has no {', '.join(map(repr, missing))} (needs {', '.join(DETECTION_KEYS)})")
    img, cat, score = d["image_id"], d["category_id"], d["score"]
    what = f"detection {i} (image_id {img!r}, category_id {cat!r})"
    if not _is_int(img) or img not in image_ids:
        raise ValueError(f"{what}: image_id {img!r} is not the id of an image in the ground truth")
    if not _is_int(cat) or cat not in cat_ids:
        raise ValueError(f"{what}: category_id {cat!r} is not the id of a category in the ground truth")
    if not _is_real(score) or not math.isfinite(score):
        raise ValueError(f"{what}: score {score!r} is not a finite number")
    return {"image_id": int(img), "category_id": int(cat), "bbox": _box(d["bbox"], what, False), "score": float(score)}


def _check_iou_thr(iou_thr: Any) -> float:
    if not _is_real(iou_thr) or not 0 < iou_thr <= 1:
        raise ValueError(f"iou_thr {iou_thr!r} is not a number in (0, 1]")
    return float(iou_thr)


# ------------------------------------------------------------------------------------------------ VOC devkit
#: The VOC2007 devkit's recall thresholds, `for t=0:0.1:1`, computed as numpy's `np.arange(0, 1.1, 0.1)` (what
#: py-faster-rcnn, mmdet and detectron2 use, and what GNU Octave's range gives): 0.30000000000000004,
#: 0.6000000000000001 and 0.7000000000000001 are one ulp above 0.3, 0.6 and 0.7, so a recall of exactly 3/10, 3/5
#: or 7/10 does not reach them. (MATLAB builds the second half of a colon range backwards from its end, which gives
#: 0.6 and 0.7 exactly; its 0.3 is the same 0.30000000000000004.)
VOC07_RECALL_THRESHOLDS: tuple[float, ...] = tuple(np.arange(0.0, 1.1, 0.1).tolist())


def voc_ap(rec: Sequence[float] | np.ndarray, prec: Sequence[float] | np.ndarray, use_07_metric: bool = False) -> float:
    """Average precision from a precision/recall curve, transcribed from the VOC devkit, NaN semantics included.

    Args:
        rec (array-like): Recall after each detection, the devkit's `rec=tp/npos` (NaN everywhere when npos is 0).
        prec (array-like): Precision after each detection, the devkit's `prec=tp./(fp+tp)`; NaN (0/0) at the leading
            detections when they matched difficult boxes (kept as points with tp = fp = 0, as in the devkit).
        use_07_metric (bool): True: VOC2007 devkit (VOCevaldet.m), `ap=ap+max(prec(rec>=t))/11` for
            `t=0:0.1:1` (`VOC07_RECALL_THRESHOLDS`), a threshold no recall reaches adding 0. Like MATLAB's `max`, the
            maximum ignores NaN unless every candidate is NaN, so a class whose every detection hit a difficult box
            has AP NaN. False: VOC2010+ devkit (VOCap.m), area under the precision envelope
            `mpre(i)=max(mpre(i),mpre(i+1))` of `[0; prec; 0]` over `[0; rec; 1]`, summed where recall changes
            (NaN when recall is NaN, i.e. npos is 0 and there are detections; 0 without detections).

    Returns:
        (float): AP in [0, 1], or NaN as above.

    Examples:
        >>> voc_ap([0.3], [1.0], use_07_metric=True)  # recall 3/10 reaches thresholds 0, 0.1 and 0.2 only
        0.2727272727272727
    """
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    if rec.shape != prec.shape or rec.ndim != 1:
        raise ValueError(f"rec and prec must be 1-D and of one length, got shapes {rec.shape} and {prec.shape}")
    if use_07_metric:
        ap = 0.0
        for t in VOC07_RECALL_THRESHOLDS:
            p = prec[rec >= t]  # NaN recall is never >= t
            if p.size == 0:
                p = 0.0
            elif np.isnan(p).all():
                p = math.nan  # MATLAB: max of all-NaN is NaN
            else:
                p = float(np.nanmax(p))
            ap = ap + p / 11
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]  # the envelope; fmax ignores NaN as MATLAB's max does
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1  # NaN != NaN: NaN recall makes the sum NaN, as in the devkit
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _is_difficult(ann: Mapping[str, Any]) -> bool:
    return bool(ann.get("difficult", ann.get("iscrowd", 0)))


def _corners(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """[x, y, w, h] pixel-edge box -> devkit 1-based inclusive corners."""
    x, y, w, h = bbox
    return x + 1, y + 1, x + w, y + h


def _voc_iou(box: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """IoU of one box with many, devkit convention (+1 on widths and heights), corners (xmin, ymin, xmax, ymax).

    The devkit only computes the overlap where `iw>0 & ih>0`; elsewhere the IoU is 0 here, which decides the same
    (an overlap of 0 is below any threshold in (0, 1]).
    """
    iw = np.minimum(gts[:, 2], box[2]) - np.maximum(gts[:, 0], box[0]) + 1
    ih = np.minimum(gts[:, 3], box[3]) - np.maximum(gts[:, 1], box[1]) + 1
    hit = (iw > 0) & (ih > 0)
    inter = np.where(hit, iw * ih, 0.0)
    area_b = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    area_g = (gts[:, 2] - gts[:, 0] + 1) * (gts[:, 3] - gts[:, 1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hit, inter / (area_b + area_g - inter), 0.0)


def voc_pr_curves(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], iou_thr: float = 0.5
) -> dict[int, dict[str, Any]]:
    """Devkit matching per class: `{category_id: {"rec", "prec", "tp", "fp", "npos", "ignored"}}`.

    `rec`/`prec` hold one entry per detection of the class in score order (stable), as the devkit's arrays do: a
    detection matched to a difficult box stays as a point with tp = fp = 0 (`ignored` counts them), so precision is
    0/0 = NaN while only such detections came first, and recall is 0/0 = NaN everywhere when the class has no
    positive. `tp`, `fp` are totals. See the module docstring for the matching rules.

    Raises:
        ValueError: Bad input (see `check_ground_truth`, `check_detections`), before any work.
    """
    gt = check_ground_truth(ground_truth)
    return _voc_pr_curves(check_detections(detections, gt), gt, _check_iou_thr(iou_thr))


def _voc_pr_curves(dets: list[dict], gt: dict, iou_thr: float) -> dict[int, dict[str, Any]]:
    cat_ids = [c["id"] for c in gt["categories"]]
    boxes: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
    difficult: dict[tuple[int, int], list[bool]] = {}
    npos = dict.fromkeys(cat_ids, 0)
    for ann in gt["annotations"]:
        key = (ann["image_id"], ann["category_id"])
        boxes.setdefault(key, []).append(_corners(ann["bbox"]))
        difficult.setdefault(key, []).append(_is_difficult(ann))
        npos[ann["category_id"]] += not _is_difficult(ann)  # VOCevaldet.m: npos=npos+sum(~gt(i).diff)
    per_cat: dict[int, list[dict]] = {c: [] for c in cat_ids}
    for d in dets:
        per_cat[d["category_id"]].append(d)

    curves: dict[int, dict[str, Any]] = {}
    for c in cat_ids:
        cdets = per_cat[c]
        scores = np.array([d["score"] for d in cdets], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")  # [sc,si]=sort(-confidence): MATLAB's sort is stable
        gt_arr = {k[0]: np.array(v, dtype=np.float64) for k, v in boxes.items() if k[1] == c}
        claimed = {img: np.zeros(len(v), bool) for img, v in gt_arr.items()}
        tp = np.zeros(len(cdets))
        fp = np.zeros(len(cdets))
        for n, j in enumerate(order):
            d = cdets[j]
            g = gt_arr.get(d["image_id"])
            ovmax, jmax = -math.inf, -1
            if g is not None:
                ov = _voc_iou(np.array(_corners(d["bbox"])), g)
                jmax = int(np.argmax(ov))  # the first of equal overlaps, as `if ov>ovmax`
                ovmax = float(ov[jmax])
            if ovmax >= iou_thr:
                if not difficult[(d["image_id"], c)][jmax]:  # a difficult box: tp(d) = fp(d) = 0
                    if not claimed[d["image_id"]][jmax]:
                        tp[n] = 1
                        claimed[d["image_id"]][jmax] = True
                    else:
                        fp[n] = 1  # a second detection of the same box
            else:
                fp[n] = 1
        ctp, cfp = np.cumsum(tp), np.cumsum(fp)
        with np.errstate(divide="ignore", invalid="ignore"):
            rec = ctp / npos[c]  # rec=tp/npos: 0/0 = NaN when the class has no positive
            prec = ctp / (cfp + ctp)  # prec=tp./(fp+tp): 0/0 = NaN after only ignored detections
        curves[c] = {
            "rec": rec,
            "prec": prec,
            "tp": int(tp.sum()),
            "fp": int(fp.sum()),
            "npos": npos[c],
            "ignored": int(len(cdets) - tp.sum() - fp.sum()),
        }
    return curves


def _nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


#: Why a class is left out of a mean over classes (`result["excluded_classes"][metric key][class name]`).
NO_POSITIVES = "no positive (non-difficult) ground truth"
ALL_IGNORED = "every detection matched a difficult box (precision 0/0: the VOC2007 devkit's AP is NaN)"


def _class_mean(ap: Mapping[str, float], npos: Mapping[str, int]) -> tuple[float, dict[str, str]]:
    """Mean over the classes with a positive and a defined AP, and the classes left out with the reason."""
    excluded = {
        n: NO_POSITIVES if npos[n] == 0 else ALL_IGNORED for n, v in ap.items() if npos[n] == 0 or math.isnan(v)
    }
    return _nanmean(v for n, v in ap.items() if n not in excluded), excluded


def evaluate_voc(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], iou_thr: float = 0.5
) -> dict[str, Any]:
    """Per-class and mean AP with the VOC devkit's rules, in both the 2007 (11-point) and 2010+ (all-point) forms.

    Args:
        detections (Iterable[Mapping]): COCO-style results (`image_id`, `category_id`, `bbox`, `score`).
        ground_truth (str | Path | Mapping): COCO ground truth with `difficult` flags (see the module docstring).
        iou_thr (float): IoU threshold in (0, 1], 0.5 for VOC.

    Returns:
        (dict): `voc07_map50`, `voc12_map50`: means over the classes with at least one positive whose AP is defined;
        `excluded_classes`: `{"voc07_map50": {name: reason}, "voc12_map50": {...}}` naming each class left out of
        that mean (`NO_POSITIVES`, `ALL_IGNORED`); per class name `voc07_ap50`, `voc12_ap50` (the devkit's own
        value, see the module docstring), `npos`, `tp`, `fp`, `ignored`.

    Raises:
        ValueError: Bad input (see `check_ground_truth`, `check_detections`), before any work.
    """
    gt = check_ground_truth(ground_truth)
    return _evaluate_voc(check_detections(detections, gt), gt, _check_iou_thr(iou_thr))


def _evaluate_voc(dets: list[dict], gt: dict, iou_thr: float) -> dict[str, Any]:
    names = {c["id"]: c["name"] for c in gt["categories"]}
    curves = _voc_pr_curves(dets, gt, iou_thr)
    out: dict[str, Any] = {"voc07_ap50": {}, "voc12_ap50": {}, "npos": {}, "tp": {}, "fp": {}, "ignored": {}}
    for c, cv in curves.items():
        name = names[c]
        out["voc07_ap50"][name] = voc_ap(cv["rec"], cv["prec"], use_07_metric=True)
        out["voc12_ap50"][name] = voc_ap(cv["rec"], cv["prec"], use_07_metric=False)
        for k in ("npos", "tp", "fp", "ignored"):
            out[k][name] = cv[k]
    out["excluded_classes"] = {}
    for key in ("voc07", "voc12"):
        mean, excluded = _class_mean(out[f"{key}_ap50"], out["npos"])
        out[f"{key}_map50"] = mean
        out["excluded_classes"][f"{key}_map50"] = excluded
    return out


# ------------------------------------------------------------------------------------------------ pycocotools
def evaluate_coco(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], max_dets: int = 100
) -> dict[str, Any]:
    """COCO-style AP through pycocotools, difficult boxes as ignore regions (`iscrowd=1`).

    Returns:
        (dict): `coco_ap50`, `coco_ap50_95` (means over classes with ground truth; COCOeval's `stats[1]`,
        `stats[0]`), `coco_ap_small`, `coco_ap_medium`, `coco_ap_large` (AP50:95 by ground-truth area <= 32²,
        32²-96², >= 96², pycocotools' inclusive ranges; `stats[3:6]`) and `coco_ar100` (recall averaged over IoU
        0.5:0.95 at `max_dets` detections per image, `stats[8]`), the last four pooled over classes as pycocotools'
        `summarize` does (NaN where pycocotools has -1: no ground truth in the range); `excluded_classes`
        (`{"coco_ap50": {name: reason}, "coco_ap50_95": {...}}`); and per class name `coco_ap50_per_class`,
        `coco_ap50_95_per_class` (NaN for a class without non-difficult ground truth).

    Raises:
        ValueError: Bad input (see `check_ground_truth`, `check_detections`), before any work.
    """
    gt = check_ground_truth(ground_truth)
    if not _is_int(max_dets) or max_dets < 1:
        raise ValueError(f"max_dets {max_dets!r} is not an integer >= 1")
    return _evaluate_coco(check_detections(detections, gt), gt, int(max_dets))


def _evaluate_coco(dets: list[dict], gt: dict, max_dets: int = 100) -> dict[str, Any]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(gt)
    gt["info"] = {}
    for n, ann in enumerate(gt["annotations"], 1):
        ann["id"] = n  # fresh ids: pycocotools indexes annotations by id (a repeated id would count one box twice)
        ann["iscrowd"] = int(_is_difficult(ann))
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
    names = {c["id"]: c["name"] for c in gt["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if dets:
            coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        else:  # loadRes cannot take an empty list; an empty result set scores 0 where there is ground truth
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = sorted(coco_gt.getImgIds())
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]; -1 where undefined
    recall = ev.eval["recall"]  # [T iou, K class, A area, M maxdets]

    def mean(a: np.ndarray) -> float:  # summarize(): np.mean(s[s>-1]), -1 (here NaN) when empty
        return float(a[a > -1].mean()) if (a > -1).any() else math.nan

    t50 = int(np.flatnonzero(np.isclose(p.iouThrs, 0.5))[0])
    area = {lbl: i for i, lbl in enumerate(p.areaRngLbl)}
    ap50 = {names[c]: mean(precision[t50, :, k, area["all"], -1]) for k, c in enumerate(p.catIds)}
    ap = {names[c]: mean(precision[:, :, k, area["all"], -1]) for k, c in enumerate(p.catIds)}
    excluded = {n: NO_POSITIVES for n, v in ap.items() if math.isnan(v)}
    return {
        "coco_ap50": _nanmean(ap50.values()),
        "coco_ap50_95": _nanmean(ap.values()),
        **{f"coco_ap_{s}": mean(precision[:, :, :, area[s], -1]) for s in ("small", "medium", "large")},
        "coco_ar100": mean(recall[:, :, area["all"], -1]),
        "excluded_classes": {"coco_ap50": dict(excluded), "coco_ap50_95": dict(excluded)},
        "coco_ap50_per_class": ap50,
        "coco_ap50_95_per_class": ap,
    }


def score_detections(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any]
) -> dict[str, Any]:
    """VOC07, VOC12 and COCO numbers for one set of detections.

    The inputs are checked first (`check_ground_truth`, `check_detections`): bad input raises ValueError naming the
    item before anything is scored.

    Returns:
        (dict): The headline keys (fractions in [0, 1], NaN where undefined), `excluded_classes` (`{metric key:
        {class name: reason}}` for every mean over classes) and `per_class` (`voc07_ap50`, `voc12_ap50`,
        `coco_ap50`, `coco_ap50_95`, `npos`, `difficult`, each by class name).
    """
    gt = check_ground_truth(ground_truth)
    dets = check_detections(detections, gt)
    voc = _evaluate_voc(dets, gt, 0.5)
    coco = _evaluate_coco(dets, gt)
    difficult = {c["name"]: 0 for c in gt["categories"]}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for ann in gt["annotations"]:
        difficult[names[ann["category_id"]]] += _is_difficult(ann)
    return {
        "voc07_map50": voc["voc07_map50"],
        "voc12_map50": voc["voc12_map50"],
        **{k: coco[k] for k in ("coco_ap50", "coco_ap50_95", "coco_ap_small", "coco_ap_medium", "coco_ap_large")},
        "coco_ar100": coco["coco_ar100"],
        "excluded_classes": {**voc["excluded_classes"], **coco["excluded_classes"]},
        "per_class": {
            "voc07_ap50": voc["voc07_ap50"],
            "voc12_ap50": voc["voc12_ap50"],
            "coco_ap50": coco["coco_ap50_per_class"],
            "coco_ap50_95": coco["coco_ap50_95_per_class"],
            "npos": voc["npos"],
            "difficult": difficult,
        },
    }


# ------------------------------------------------------------------------------------------------ Ultralytics
def ground_truth_from_labels(images: Sequence[str | Path], names: Sequence[str]) -> dict:
    """COCO ground truth built from YOLO label files (no difficult flags), for datasets not made by `voc prepare`."""
    from PIL import Image

    from yolo_attn.integration.internals import label_paths

    images = [Path(p) for p in images]
    gt: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    for i, (img, lbl) in enumerate(zip(images, label_paths(images), strict=True), 1):
        with Image.open(img) as im:
            w, h = im.size
        gt["images"].append({"id": i, "file_name": img.name, "width": w, "height": h})
        lp = Path(lbl)
        rows = [r.split() for r in lp.read_text().splitlines() if r.strip()] if lp.is_file() else []
        for r in rows:
            c, xc, yc, bw, bh = int(r[0]), *map(float, r[1:5])
            box = [(xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h]
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": c + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                    "difficult": 0,
                }
            )
    return gt


def predict_detections(
    model,
    images: Sequence[str | Path],
    image_ids: Mapping[str, int],
    imgsz: int = 640,
    conf: float = 0.001,
    iou: float = 0.7,
    device: str | int | None = None,
    batch: int = 16,
    max_det: int = 300,
) -> list[dict]:
    """Run `model.predict` over `images` and return COCO-style detections (`category_id` = class index + 1).

    `image_ids` maps an image's file name to its ground-truth `id`.
    """
    dets: list[dict] = []
    results = model.predict(
        source=[str(p) for p in images],
        stream=True,
        imgsz=imgsz,
        conf=conf,
        iou=iou,
        device=device,
        batch=batch,
        max_det=max_det,
        verbose=False,
        save=False,
    )
    for r in results:
        image_id = image_ids[Path(r.path).name]
        b = r.boxes
        if b is None or len(b) == 0:
            continue
        xyxy = b.xyxy.cpu().double().numpy()
        scores = b.conf.cpu().double().numpy()
        cls = b.cls.cpu().numpy().astype(int)
        for (x1, y1, x2, y2), s, c in zip(xyxy, scores, cls, strict=True):
            dets.append(
                {
                    "image_id": image_id,
                    "category_id": int(c) + 1,
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "score": float(s),
                }
            )
    return dets


def _load_model(model: str | Path, yolo_class):
    """``YOLO(model)`` for an existing file only (nothing downloads); an unloadable file is a ValueError naming it."""
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model {str(model)!r} not found; give the path of a trained .pt checkpoint")
    try:
        return yolo_class(str(path))
    except OSError:
        raise
    except Exception as e:  # Ultralytics raises TypeError, RuntimeError, pickle errors, ... for a bad file
        raise ValueError(
            f"model {str(model)!r} is not a loadable Ultralytics checkpoint ({type(e).__name__}: {e})"
        ) from None


def _split_images(data: Mapping[str, Any], split: str) -> Path:
    if split not in ("train", "val", "test"):
        raise ValueError(f"split {split!r} is not one of train, val, test")
    src = data.get(split)
    if not src:
        splits = [k for k in ("train", "val", "test") if data.get(k)]
        raise ValueError(f"dataset has no {split!r} split; it has {', '.join(splits) or 'none'}")
    if isinstance(src, (list, tuple)) or not Path(src).is_dir():
        raise ValueError(f"the {split!r} split must be one image folder for the VOC evaluator, got {src!r}")
    return Path(src)


def evaluate_model(
    model,
    data: str | Path,
    split: str = "test",
    imgsz: int = 640,
    batch: int = 16,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    device: str | int | None = None,
    ground_truth: str | Path | Mapping[str, Any] | None = None,
    ultralytics_val: bool = True,
) -> dict[str, Any]:
    """Score a model on a dataset split with every protocol: VOC07, VOC12, COCO and Ultralytics' own val.

    Args:
        model: An Ultralytics `YOLO` object or the path of a `.pt` checkpoint (it is used for inference only).
        data (str | Path): Dataset YAML, normally the `data.yaml` written by `prepare_voc`.
        split (str): `"test"`, `"val"` or `"train"`.
        imgsz, batch, conf, iou, max_det, device: As for Ultralytics val (conf 0.001, NMS IoU 0.7, 300 boxes).
        ground_truth: COCO ground truth; default `annotations/<split>.json` next to the dataset (written by
            `prepare_voc`, difficult objects kept), else built from the YOLO labels (no difficult flags).
        ultralytics_val (bool): Also run `model.val` for Ultralytics' mAP50 and mAP50-95 (NaN when False).

    Returns:
        (dict): The `METRIC_KEYS` numbers, `per_class` (`voc07_ap50`, `voc12_ap50`, `coco_ap50`, `coco_ap50_95`,
        `ultralytics_ap50`, `ultralytics_ap50_95`, `npos`, `difficult`, each by class name) and the settings used.
    """
    from ultralytics import YOLO

    from yolo_attn.integration.internals import check_dataset, image_suffixes, no_font_download

    # Everything that can be checked is checked before inference; Ultralytics' SyntaxError / TypeError for a bad
    # data YAML or checkpoint become ValueErrors naming the file (exit 2 through the CLI).
    try:
        dset = check_dataset(data)
    except (SyntaxError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"data {str(data)!r} is not a usable dataset YAML: {e}") from None
    names = [dset["names"][i] for i in range(len(dset["names"]))]
    img_dir = _split_images(dset, split)
    yolo = model if hasattr(model, "predict") and hasattr(model, "val") else _load_model(model, YOLO)
    model_names = [yolo.names[i] for i in range(len(yolo.names))]
    if model_names != names:
        raise ValueError(
            f"model {str(getattr(yolo, 'ckpt_path', None) or model)!r} has classes {model_names[:8]}"
            f"{' ...' if len(model_names) > 8 else ''} ({len(model_names)}), the dataset {str(data)!r} has "
            f"{names[:8]}{' ...' if len(names) > 8 else ''} ({len(names)})"
        )
    if ground_truth is None:
        default = Path(dset["path"]) / "annotations" / f"{split}.json"
        if default.is_file():
            gt, gt_source = check_ground_truth(default), str(default)
        else:
            suffixes = image_suffixes()
            files = sorted(p for p in img_dir.iterdir() if p.suffix[1:].lower() in suffixes)
            gt, gt_source = ground_truth_from_labels(files, names), "YOLO labels (no difficult flags)"
    else:
        gt = check_ground_truth(ground_truth)
        gt_source = str(ground_truth) if isinstance(ground_truth, (str, Path)) else "given"
    for i, img in enumerate(gt["images"]):
        if not isinstance(img.get("file_name"), str) or not (img_dir / img["file_name"]).is_file():
            raise ValueError(
                f"ground truth images[{i}] (id {img['id']!r}): file_name {img.get('file_name')!r} is not an image "
                f"in {img_dir}"
            )
    gt_names = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]
    if gt_names != names:
        raise ValueError(f"ground-truth classes {gt_names} differ from the dataset's {names}")
    images = [img_dir / img["file_name"] for img in gt["images"]]
    ids = {img["file_name"]: img["id"] for img in gt["images"]}

    settings = {"imgsz": imgsz, "batch": batch, "conf": conf, "iou": iou, "max_det": max_det, "device": device}
    with no_font_download():
        dets = predict_detections(yolo, images, ids, **settings)
    result: dict[str, Any] = {
        "model": str(getattr(yolo, "ckpt_path", None) or model),
        "data": str(data),
        "split": split,
        "images": len(images),
        "detections": len(dets),
        "ground_truth": gt_source,
        **settings,
    }
    result["device"] = None if device is None else str(device)
    scores = score_detections(dets, gt)
    per_class = scores.pop("per_class")
    result.update(scores)
    ul50 = {n: math.nan for n in names}
    ul = dict(ul50)
    result["ultralytics_map50"] = result["ultralytics_map50_95"] = math.nan
    if ultralytics_val:
        project = Path(tempfile.mkdtemp(prefix="yolo_attn_val_"))
        try:
            with no_font_download():
                m = yolo.val(
                    data=str(data),
                    split=split,
                    plots=False,
                    verbose=False,
                    save_json=False,
                    project=str(project),
                    name="val",
                    exist_ok=True,
                    **settings,
                )
        finally:
            shutil.rmtree(project, ignore_errors=True)
        result["ultralytics_map50"] = float(m.box.map50)
        result["ultralytics_map50_95"] = float(m.box.map)
        for k, c in enumerate(m.box.ap_class_index):
            ul50[names[int(c)]] = float(m.box.ap50[k])
            ul[names[int(c)]] = float(m.box.ap[k])
    per_class["ultralytics_ap50"] = ul50
    per_class["ultralytics_ap50_95"] = ul
    result["per_class"] = per_class
    return result


# ------------------------------------------------------------------------------------------------ output
def _json_safe(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    return obj


#: The `"unit"` entry `save_metrics` writes into every metrics.json: scores are stored as fractions, tables show %.
JSON_UNIT = "fraction of 1 (0.401 = 40.1%); null where undefined (see excluded_classes)"


def save_metrics(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write an `evaluate_model` / `score_detections` result as JSON, atomically (a temporary file renamed).

    The file starts with `"unit": JSON_UNIT`: scores are fractions of 1 (the table of `format_metrics` shows %);
    NaN (undefined, e.g. a class without ground truth) is written as null.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"unit": JSON_UNIT, **_json_safe(result)}, indent=2, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def format_metrics(result: Mapping[str, Any]) -> str:
    """A plain-text table of the headline numbers and per-class APs in %, each named by protocol.

    The stored values (and `save_metrics`' JSON) are fractions in [0, 1]; this table shows them times 100, in %.
    Classes left out of a mean over classes (`result["excluded_classes"]`) are listed with the reason, and their
    per-class values are marked with `*`.

    Examples:
        >>> print(format_metrics({"voc07_map50": 0.4012}))
        metric, all values in % (metrics.json holds fractions of 1)                              value %
        mAP50 VOC07: mAP@0.5, VOC2007 devkit 11-point interpolated AP, difficult objects ignored   40.12
    """

    def fmt(v) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"

    shown = [m for m in METRICS.values() if m.key in result]
    labels = [f"{m.short}: {m.protocol}" for m in shown]
    head = "metric, all values in % (metrics.json holds fractions of 1)"
    width = max([len(head), *map(len, labels)])
    lines = [f"{head:{width}s} {'value %':>7s}"]
    lines += [f"{label:{width}s} {fmt(result.get(m.key)):>7s}" for m, label in zip(shown, labels, strict=True)]
    excluded = result.get("excluded_classes") or {}
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    by_class: dict[tuple[str, str], list[str]] = {}
    for key, classes in excluded.items():
        for name, reason in (classes or {}).items():
            by_class.setdefault((name, reason), []).append(METRICS[key].short if key in METRICS else key)
    for (name, reason), metrics in by_class.items():
        groups.setdefault((reason, tuple(metrics)), []).append(name)
    if groups:
        lines += ["", "classes left out of the means over classes:"]
        lines += [f"  {', '.join(names)}: {reason} ({', '.join(ms)})" for (reason, ms), names in groups.items()]
    pc = result.get("per_class")
    cols = [k for k in PER_CLASS_KEYS if pc and k in pc]
    if cols:
        mean_of = {m.per_class: m.key for m in METRICS.values() if m.per_class}
        lines.append("")
        lines.append(f"{'AP per class, %':16s}{'npos':>6s} " + " ".join(f"{c:>20s}" for c in cols))
        for name in pc[cols[0]]:
            cells = []
            for c in cols:
                mark = "*" if name in (excluded.get(mean_of.get(c)) or {}) else " "
                cells.append(f"{fmt(pc[c].get(name)) + mark:>20s}")
            lines.append(f"{name[:16]:16s}{pc.get('npos', {}).get(name, 0):6d} " + " ".join(cells))
        if any("*" in line for line in lines[-len(pc[cols[0]]) :]):
            lines.append("* left out of that protocol's mean over classes (see above)")
    return "\n".join(line.rstrip() for line in lines)
