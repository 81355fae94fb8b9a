"""Score detections the way Pascal VOC papers do, next to COCO-style and Ultralytics' own numbers.

Inputs are COCO-shaped, so the same detections feed every protocol:

- ground truth: a COCO dataset dict (or the path of its JSON), as written by `yolo_attn.data.voc.prepare_voc` to
  `annotations/<split>.json`: `images` (`id`, `file_name`, `width`, `height`), `categories` (`id`, `name`) and
  `annotations` (`image_id`, `category_id`, `bbox` = [x, y, w, h] in pixel-edge coordinates, `difficult` 0/1;
  `iscrowd` is read when `difficult` is absent).
- detections: a list of COCO results, `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`, in the same
  pixel-edge coordinates (an Ultralytics `xyxy` box `(x1, y1, x2, y2)` is `[x1, y1, x2 - x1, y2 - y1]`).

Protocols, each named in the output:

- `voc07_*`: VOC2007 devkit, 11-point interpolated AP at IoU 0.5; `voc12_*`: VOC2010+ devkit, area under the
  monotone precision envelope at every recall change ("all-point"). Matching follows the devkit (VOCevaldet.m):
  per class, detections are sorted by score, descending, with a *stable* sort (ties keep their input order, as
  MATLAB's `sort` in the devkit does; pycocotools also sorts stably), and each is compared with every ground-truth
  box of its class in its image (difficult ones included); the box of highest IoU is taken (the first such on an IoU
  tie). IoU >= 0.5 with a difficult box: the detection is ignored (neither TP nor FP). IoU >= 0.5 with an unclaimed
  box: TP, and the box is claimed. IoU >= 0.5 with a claimed box, or best IoU < 0.5: FP. Difficult boxes are not
  counted as positives. IoU uses the devkit's integer-pixel convention (1-based inclusive corners, widths
  `xmax - xmin + 1`); boxes here are converted as `xmin = x + 1`, `xmax = x + w`, which makes that "+1" IoU equal
  to the plain IoU of the pixel-edge boxes. Ignored detections are dropped from the precision/recall arrays (the
  devkit keeps them as repeated points, which changes neither AP).
- A class with no positive (non-difficult) ground truth has AP NaN (the devkit divides by zero there) and is left
  out of the mean, as are the NaN entries in the per-class dicts. A class with positives but no detections has AP 0.
- `coco_ap50`, `coco_ap50_95`: pycocotools COCOeval (bbox, area "all", at most `max_dets` = 100 detections per
  image, 101-point interpolation) on the same detections, with difficult boxes as ignore regions (`iscrowd=1`;
  COCOeval overwrites an `ignore` key with `iscrowd`, so `iscrowd` is what counts). pycocotools matches a detection
  to the best *unmatched* non-ignored box and scores ignore regions by intersection over the detection's area, so
  with overlapping ground truth or difficult boxes its AP50 differs from the devkit's slightly. Per-class AP is the
  mean of the precision entries > -1 for that class; the mean is over classes with ground truth.
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
    "Metric",
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
            "AP@[0.5:0.95] on ground truth of area < 32², pycocotools, difficult objects as ignore regions",
        ),
        Metric(
            "coco_ap_medium",
            "AP_M COCO",
            "AP50:95 medium objects, COCO (%)",
            "AP@[0.5:0.95] on ground truth of area 32²–96², pycocotools, difficult objects as ignore regions",
        ),
        Metric(
            "coco_ap_large",
            "AP_L COCO",
            "AP50:95 large objects, COCO (%)",
            "AP@[0.5:0.95] on ground truth of area > 96², pycocotools, difficult objects as ignore regions",
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


# ------------------------------------------------------------------------------------------------ VOC devkit
def voc_ap(rec: Sequence[float] | np.ndarray, prec: Sequence[float] | np.ndarray, use_07_metric: bool = False) -> float:
    """Average precision from a precision/recall curve, as the VOC devkit computes it.

    Args:
        rec (array-like): Recall after each detection (non-decreasing).
        prec (array-like): Precision after each detection.
        use_07_metric (bool): True: VOC2007 11-point AP, the mean over t = 0, 0.1, ..., 1 of the maximum precision
            at recall >= t (0 where no recall reaches t). False: VOC2010+ AP, the area under the monotone
            (non-increasing) precision envelope, summed at every recall change.

    Returns:
        (float): AP in [0, 1].
    """
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    if use_07_metric:
        ap = 0.0
        for i in range(11):
            t = i / 10  # i / 10, not i * 0.1: recall 3/10 must reach threshold 0.3
            above = prec[rec >= t]
            ap += (above.max() if above.size else 0.0) / 11
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def load_ground_truth(ground_truth: str | Path | Mapping[str, Any]) -> dict:
    """A COCO ground-truth dict from a dict or a JSON path (see the module docstring)."""
    if isinstance(ground_truth, (str, Path)):
        return json.loads(Path(ground_truth).read_text())
    return dict(ground_truth)


def _is_difficult(ann: Mapping[str, Any]) -> bool:
    return bool(ann.get("difficult", ann.get("iscrowd", 0)))


def _corners(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """[x, y, w, h] pixel-edge box -> devkit 1-based inclusive corners."""
    x, y, w, h = bbox
    return x + 1, y + 1, x + w, y + h


def _voc_iou(box: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """IoU of one box with many, devkit convention (+1 on widths and heights), corners (xmin, ymin, xmax, ymax)."""
    iw = np.minimum(gts[:, 2], box[2]) - np.maximum(gts[:, 0], box[0]) + 1
    ih = np.minimum(gts[:, 3], box[3]) - np.maximum(gts[:, 1], box[1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_b = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    area_g = (gts[:, 2] - gts[:, 0] + 1) * (gts[:, 3] - gts[:, 1] + 1)
    return inter / (area_b + area_g - inter)


def voc_pr_curves(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], iou_thr: float = 0.5
) -> dict[int, dict[str, Any]]:
    """Devkit matching per class: `{category_id: {"rec", "prec", "tp", "fp", "npos", "ignored"}}`.

    `rec`/`prec` hold one entry per non-ignored detection in score order (stable); see the module docstring for the
    matching rules. Raises ValueError for a detection whose image or category is not in the ground truth.
    """
    gt = load_ground_truth(ground_truth)
    image_ids = {img["id"] for img in gt["images"]}
    cat_ids = [c["id"] for c in gt["categories"]]
    boxes: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
    difficult: dict[tuple[int, int], list[bool]] = {}
    npos = dict.fromkeys(cat_ids, 0)
    for ann in gt["annotations"]:
        key = (ann["image_id"], ann["category_id"])
        boxes.setdefault(key, []).append(_corners(ann["bbox"]))
        difficult.setdefault(key, []).append(_is_difficult(ann))
        npos[ann["category_id"]] += not _is_difficult(ann)
    per_cat: dict[int, list[Mapping[str, Any]]] = {c: [] for c in cat_ids}
    for d in detections:
        if d["image_id"] not in image_ids:
            raise ValueError(f"detection for image_id {d['image_id']!r}, which is not in the ground truth")
        if d["category_id"] not in per_cat:
            raise ValueError(f"detection of category_id {d['category_id']!r}, which is not in the ground truth")
        per_cat[d["category_id"]].append(d)

    curves: dict[int, dict[str, Any]] = {}
    for c in cat_ids:
        dets = per_cat[c]
        scores = np.array([float(d["score"]) for d in dets], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")
        gt_arr = {k[0]: np.array(v, dtype=np.float64) for k, v in boxes.items() if k[1] == c}
        claimed = {img: np.zeros(len(v), bool) for img, v in gt_arr.items()}
        tp, fp = [], []
        ignored = 0
        for j in order:
            d = dets[j]
            box = np.array(_corners(d["bbox"]), dtype=np.float64)
            g = gt_arr.get(d["image_id"])
            ovmax, jmax = -math.inf, -1
            if g is not None and len(g):
                ov = _voc_iou(box, g)
                jmax = int(np.argmax(ov))
                ovmax = float(ov[jmax])
            if ovmax >= iou_thr:
                if difficult[(d["image_id"], c)][jmax]:
                    ignored += 1
                    continue
                if not claimed[d["image_id"]][jmax]:
                    claimed[d["image_id"]][jmax] = True
                    tp.append(1)
                    fp.append(0)
                else:
                    tp.append(0)
                    fp.append(1)
            else:
                tp.append(0)
                fp.append(1)
        ctp = np.cumsum(np.array(tp, dtype=np.float64))
        cfp = np.cumsum(np.array(fp, dtype=np.float64))
        n = npos[c]
        rec = ctp / n if n > 0 else np.full(len(ctp), np.nan)
        prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
        curves[c] = {
            "rec": rec,
            "prec": prec,
            "tp": int(ctp[-1]) if len(ctp) else 0,
            "fp": int(cfp[-1]) if len(cfp) else 0,
            "npos": n,
            "ignored": ignored,
        }
    return curves


def _nanmean(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def evaluate_voc(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], iou_thr: float = 0.5
) -> dict[str, Any]:
    """Per-class and mean AP with the VOC devkit's rules, in both the 2007 (11-point) and 2010+ (all-point) forms.

    Args:
        detections (Iterable[Mapping]): COCO-style results (`image_id`, `category_id`, `bbox`, `score`).
        ground_truth (str | Path | Mapping): COCO ground truth with `difficult` flags (see the module docstring).
        iou_thr (float): IoU threshold, 0.5 for VOC.

    Returns:
        (dict): `voc07_map50`, `voc12_map50` (NaN-excluding means), and per class name `voc07_ap50`,
        `voc12_ap50` (NaN where the class has no positive), `npos`, `tp`, `fp`, `ignored`.
    """
    gt = load_ground_truth(ground_truth)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    curves = voc_pr_curves(detections, gt, iou_thr)
    out: dict[str, Any] = {"voc07_ap50": {}, "voc12_ap50": {}, "npos": {}, "tp": {}, "fp": {}, "ignored": {}}
    for c, cv in curves.items():
        name = names[c]
        if cv["npos"] == 0:
            ap07 = ap12 = math.nan
        else:
            ap07 = voc_ap(cv["rec"], cv["prec"], use_07_metric=True)
            ap12 = voc_ap(cv["rec"], cv["prec"], use_07_metric=False)
        out["voc07_ap50"][name] = ap07
        out["voc12_ap50"][name] = ap12
        for k in ("npos", "tp", "fp", "ignored"):
            out[k][name] = cv[k]
    out["voc07_map50"] = _nanmean(out["voc07_ap50"].values())
    out["voc12_map50"] = _nanmean(out["voc12_ap50"].values())
    return out


# ------------------------------------------------------------------------------------------------ pycocotools
def evaluate_coco(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any], max_dets: int = 100
) -> dict[str, Any]:
    """COCO-style AP through pycocotools, difficult boxes as ignore regions (`iscrowd=1`).

    Returns:
        (dict): `coco_ap50`, `coco_ap50_95` (means over classes with ground truth), `coco_ap_small`,
        `coco_ap_medium`, `coco_ap_large` (AP50:95 by ground-truth area < 32², 32²-96², > 96²) and `coco_ar100`
        (recall averaged over IoU 0.5:0.95 at `max_dets` detections per image), the last four pooled over classes as
        pycocotools' `summarize` does (NaN where no ground truth falls in the range); and per class name
        `coco_ap50_per_class`, `coco_ap50_95_per_class` (NaN for a class without non-difficult ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(load_ground_truth(ground_truth))
    for ann in gt["annotations"]:
        ann["iscrowd"] = int(_is_difficult(ann))
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
    gt.setdefault("info", {})
    names = {c["id"]: c["name"] for c in gt["categories"]}
    cat_ids = sorted(names)
    dets = [dict(d, bbox=[float(v) for v in d["bbox"]], score=float(d["score"])) for d in detections]
    has_pos = {c: False for c in cat_ids}
    for ann in gt["annotations"]:
        has_pos[ann["category_id"]] |= not ann["iscrowd"]
    ap50 = {names[c]: (0.0 if has_pos[c] else math.nan) for c in cat_ids}
    ap = dict(ap50)
    areas = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, math.inf)}
    pos_areas = [a["area"] for a in gt["annotations"] if not a["iscrowd"]]
    scale = {k: (0.0 if any(lo <= a < hi for a in pos_areas) else math.nan) for k, (lo, hi) in areas.items()}
    ar100 = 0.0 if pos_areas else math.nan
    if dets:
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
            coco_dt = coco_gt.loadRes(dets)
            ev = COCOeval(coco_gt, coco_dt, "bbox")
            ev.params.imgIds = sorted(coco_gt.getImgIds())
            ev.params.maxDets = [1, 10, max_dets]
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
        t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
        for k, c in enumerate(ev.params.catIds):
            p = precision[:, :, k, 0, -1]
            p50 = p[t50]
            ap50[names[c]] = float(p50[p50 > -1].mean()) if (p50 > -1).any() else math.nan
            ap[names[c]] = float(p[p > -1].mean()) if (p > -1).any() else math.nan
        for a, name in enumerate(areas, 1):  # areaRngLbl: all, small, medium, large
            p = precision[:, :, :, a, -1]
            scale[name] = float(p[p > -1].mean()) if (p > -1).any() else math.nan
        r = ev.eval["recall"][:, :, 0, -1]  # [T iou, K class, A area, M maxdets]
        ar100 = float(r[r > -1].mean()) if (r > -1).any() else math.nan
    return {
        "coco_ap50": _nanmean(ap50.values()),
        "coco_ap50_95": _nanmean(ap.values()),
        **{f"coco_ap_{name}": v for name, v in scale.items()},
        "coco_ar100": ar100,
        "coco_ap50_per_class": ap50,
        "coco_ap50_95_per_class": ap,
    }


def score_detections(
    detections: Iterable[Mapping[str, Any]], ground_truth: str | Path | Mapping[str, Any]
) -> dict[str, Any]:
    """VOC07, VOC12 and COCO numbers for one set of detections; headline keys plus a `per_class` dict."""
    gt = load_ground_truth(ground_truth)
    detections = list(detections)
    voc = evaluate_voc(detections, gt)
    coco = evaluate_coco(detections, gt)
    difficult = {c["name"]: 0 for c in gt["categories"]}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for ann in gt["annotations"]:
        difficult[names[ann["category_id"]]] += _is_difficult(ann)
    return {
        "voc07_map50": voc["voc07_map50"],
        "voc12_map50": voc["voc12_map50"],
        "coco_ap50": coco["coco_ap50"],
        "coco_ap50_95": coco["coco_ap50_95"],
        **{k: coco[k] for k in ("coco_ap_small", "coco_ap_medium", "coco_ap_large", "coco_ar100")},
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


def _split_images(data: Mapping[str, Any], split: str) -> Path:
    src = data.get(split)
    if not src:
        raise ValueError(f"dataset has no {split!r} split")
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

    yolo = model if hasattr(model, "predict") and hasattr(model, "val") else YOLO(str(model))
    dset = check_dataset(data)
    names = [dset["names"][i] for i in range(len(dset["names"]))]
    model_names = [yolo.names[i] for i in range(len(yolo.names))]
    if model_names != names:
        raise ValueError(f"model classes {model_names} differ from the dataset's {names}")
    img_dir = _split_images(dset, split)
    if ground_truth is None:
        default = Path(dset["path"]) / "annotations" / f"{split}.json"
        if default.is_file():
            gt, gt_source = load_ground_truth(default), str(default)
        else:
            suffixes = image_suffixes()
            files = sorted(p for p in img_dir.iterdir() if p.suffix[1:].lower() in suffixes)
            gt, gt_source = ground_truth_from_labels(files, names), "YOLO labels (no difficult flags)"
    else:
        gt = load_ground_truth(ground_truth)
        gt_source = str(ground_truth) if isinstance(ground_truth, (str, Path)) else "given"
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


def save_metrics(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write an `evaluate_model` / `score_detections` result as JSON (NaN, i.e. "no ground truth", as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(result), indent=2, allow_nan=False) + "\n")
    return path


def format_metrics(result: Mapping[str, Any]) -> str:
    """A plain-text table of the headline numbers and per-class APs in percent, each named by protocol.

    The stored values (and `save_metrics`' JSON) are fractions in [0, 1]; this table shows them times 100, in %.
    """

    def fmt(v) -> str:
        return "     -" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:6.2f}"

    shown = [m for m in METRICS.values() if m.key in result]
    width = max((len(f"{m.short}: {m.protocol}") for m in shown), default=0)
    lines = [f"{'metric (values in %)':{width}s}      %"]
    lines += [f"{f'{m.short}: {m.protocol}':{width}s} {fmt(result.get(m.key))}" for m in shown]
    pc = result.get("per_class")
    cols = [k for k in PER_CLASS_KEYS if pc and k in pc]
    if cols:
        lines.append("")
        lines.append(f"{'AP per class, %':16s}{'npos':>6s} " + " ".join(f"{c:>20s}" for c in cols))
        for name in pc[cols[0]]:
            lines.append(
                f"{name[:16]:16s}{pc.get('npos', {}).get(name, 0):6d} "
                + " ".join(f"{fmt(pc[c].get(name)):>20s}" for c in cols)
            )
    return "\n".join(lines)
