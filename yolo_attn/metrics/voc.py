"""Pascal VOC devkit scoring: `voc_ap`, precision/recall curves and `evaluate_voc` (VOC2007 and VOC2010+)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yolo_attn.metrics.schemas import _check_iou_thr, _is_difficult, check_detections, check_ground_truth

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
    """Devkit matching per class: `{category_id: {"rec", "prec", "tp", "fp", "npos", "ignored", "image_ids", "tp_flags",
    "fp_flags"}}`.

    `rec`/`prec` hold one entry per detection of the class in score order (stable), as the devkit's arrays do: a
    detection matched to a difficult box stays as a point with tp = fp = 0 (`ignored` counts them), so precision is
    0/0 = NaN while only such detections came first, and recall is 0/0 = NaN everywhere when the class has no
    positive. `tp`, `fp` are totals; `image_ids`, `tp_flags`, `fp_flags` are per detection, in score order. See the
    module docstring for the matching rules.

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
            # per detection in score order, for the paired bootstrap (yolo_attn.metrics.evidence)
            "image_ids": np.array([cdets[j]["image_id"] for j in order], np.int64),
            "tp_flags": tp.astype(bool),
            "fp_flags": fp.astype(bool),
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
