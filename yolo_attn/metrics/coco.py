"""COCO-style scoring through pycocotools, difficult boxes as ignore regions."""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from yolo_attn.metrics.schemas import _is_difficult, _is_int, check_detections, check_ground_truth
from yolo_attn.metrics.voc import NO_POSITIVES, _nanmean


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


def _coco_evaluated(dets: list[dict], gt: dict, max_dets: int = 100):
    """pycocotools' COCOeval over checked input after ``evaluate()`` (per image and class matches), set up as every
    COCO number here is: difficult boxes as ignore regions, fresh annotation ids, ``max_dets`` per image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(gt)
    gt["info"] = {}
    for n, ann in enumerate(gt["annotations"], 1):
        ann["id"] = n  # fresh ids: pycocotools indexes annotations by id (a repeated id would count one box twice)
        ann["iscrowd"] = int(_is_difficult(ann))
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
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
    return ev


def _evaluate_coco(dets: list[dict], gt: dict, max_dets: int = 100) -> dict[str, Any]:
    ev = _coco_evaluated(dets, gt, max_dets)
    names = {c["id"]: c["name"] for c in gt["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
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
