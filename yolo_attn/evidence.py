"""Is a difference between two detectors real? A paired bootstrap over test images (and seeds) of the scorer's APs.

The scorer (`yolo_attn.metrics`) turns detections into numbers; this module turns two sets of runs (a baseline and a
variant, each trained with seeds 0..k-1 and scored on one test set) into a difference with an interval. The PASCAL VOC
organisers judged entries this way (Everingham et al., IJCV 2015: resample the test images with replacement, the same
resample for both methods); with several seeds the resample also draws seeds (Bouthillier et al., MLSys 2021).

Why it is shaped so: a resample must recompute each AP exactly as the scorer does (difficult boxes, duplicates, NaN
rules, COCO's matching), and 1,000 resamples of a VOC-sized test set must take seconds. So the matching is done once
per run (`outcomes`): per protocol and class, the detections in the scorer's own order with their TP/FP flags (VOC
from the devkit's matching, COCO from pycocotools' own ``evaluateImg``), and per image the number of positives. A
resample is a vector of image counts ``w`` (an image drawn twice counts twice); a detection weighs its image's
count, so each resampled AP is a weighted cumulative sum over the fixed sorted detections and a weighted number of
positives, vectorised over resamples. With every weight 1 the result is the scorer's own number, bit for bit (the
tests check it); with other weights it is the scorer's number on the resampled test set (an image drawn ``w``
times counts ``w`` times; detections of equal score keep the scorer's order).

Examples:
    >>> runs = {"baseline": [outcomes(d, gt) for d in base_dets], "eca": [outcomes(d, gt) for d in eca_dets]}
    >>> rows = evidence_rows(runs["baseline"], {"eca": runs["eca"]}, "voc07_map50")
    >>> rows[0]["verdict"], rows[0]["delta"], rows[0]["low"], rows[0]["high"]
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yolo_attn import metrics as _m

__all__ = [
    "BOOTSTRAP_METRICS",
    "Outcomes",
    "PerImageResults",
    "evidence_rows",
    "outcomes",
    "paired_bootstrap",
    "resample_weights",
    "resampled_metrics",
]

#: The metrics a resample recomputes, and the protocol family whose flags each needs.
BOOTSTRAP_METRICS: dict[str, str] = {
    "voc07_map50": "voc",
    "voc12_map50": "voc",
    "coco_ap50": "coco",
    "coco_ap50_95": "coco",
}
#: Two-sided 95% normal quantile, for "seeds needed".
Z95 = 1.959963984540054
#: The 1 - 95% percentile interval bounds.
INTERVAL = (2.5, 97.5)


@dataclass(frozen=True)
class Outcomes:
    """One protocol family's per-detection outcomes for one run, in the scorer's order.

    Attributes:
        classes (tuple[str, ...]): Class names in the order the scorer averages them.
        positives (np.ndarray): ``(n_images, n_classes)`` int64: per image and class, the positives the scorer
            counts (VOC: non-difficult boxes; COCO: boxes pycocotools does not ignore).
        image (tuple[np.ndarray, ...]): Per class, ``(n,)`` int64 image index (a row of ``positives``) of each
            detection, in the scorer's sorted order.
        tp, fp (tuple[np.ndarray, ...]): Per class, ``(T, n)`` bool: TP and FP flags per IoU threshold (T = 1 for
            VOC, 10 for COCO's 0.5:0.95); a detection with neither flag is ignored (a difficult box) but stays a
            point of the curve, as in both scorers.
    """

    classes: tuple[str, ...]
    positives: np.ndarray
    image: tuple[np.ndarray, ...]
    tp: tuple[np.ndarray, ...]
    fp: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class PerImageResults:
    """What the bootstrap needs from one run on one test set: ``image_ids`` (the ground truth's order), ``voc``, ``coco``."""

    image_ids: np.ndarray
    voc: Outcomes
    coco: Outcomes


# ------------------------------------------------------------------------------------------------ the matching
def _voc_outcomes(dets: list[dict], gt: dict, index: Mapping[int, int]) -> Outcomes:
    """The devkit's matching (`metrics._voc_pr_curves`), keeping each detection's flags and image."""
    cats = [(c["id"], c["name"]) for c in gt["categories"]]
    col = {c: k for k, (c, _) in enumerate(cats)}
    positives = np.zeros((len(index), len(cats)), np.int64)
    boxes: dict[tuple[int, int], list] = {}
    difficult: dict[tuple[int, int], list[bool]] = {}
    for ann in gt["annotations"]:
        key = (ann["image_id"], ann["category_id"])
        boxes.setdefault(key, []).append(_m._corners(ann["bbox"]))
        difficult.setdefault(key, []).append(_m._is_difficult(ann))
        positives[index[ann["image_id"]], col[ann["category_id"]]] += not _m._is_difficult(ann)
    per_cat: dict[int, list[dict]] = {c: [] for c, _ in cats}
    for d in dets:
        per_cat[d["category_id"]].append(d)
    images, tps, fps = [], [], []
    for c, _ in cats:
        cdets = per_cat[c]
        order = np.argsort(-np.array([d["score"] for d in cdets], np.float64), kind="stable")
        gt_arr = {k[0]: np.array(v, np.float64) for k, v in boxes.items() if k[1] == c}
        claimed = {img: np.zeros(len(v), bool) for img, v in gt_arr.items()}
        tp, fp = np.zeros((1, len(cdets)), bool), np.zeros((1, len(cdets)), bool)
        for n, j in enumerate(order):
            d = cdets[j]
            g = gt_arr.get(d["image_id"])
            ovmax, jmax = -math.inf, -1
            if g is not None:
                ov = _m._voc_iou(np.array(_m._corners(d["bbox"])), g)
                jmax = int(np.argmax(ov))
                ovmax = float(ov[jmax])
            if ovmax < 0.5:
                fp[0, n] = True
            elif not difficult[(d["image_id"], c)][jmax]:
                hit = not claimed[d["image_id"]][jmax]
                tp[0, n], fp[0, n] = hit, not hit
                claimed[d["image_id"]][jmax] = True
        images.append(np.array([index[cdets[j]["image_id"]] for j in order], np.int64))
        tps.append(tp)
        fps.append(fp)
    return Outcomes(tuple(n for _, n in cats), positives, tuple(images), tuple(tps), tuple(fps))


def _cocoeval(dets: list[dict], gt: dict, max_dets: int = 100):
    """pycocotools' COCOeval after ``evaluate()``, set up exactly as `metrics._evaluate_coco` sets it up."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(gt)
    gt["info"] = {}
    for n, ann in enumerate(gt["annotations"], 1):
        ann["id"] = n
        ann["iscrowd"] = int(_m._is_difficult(ann))
        ann.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if dets:
            coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = sorted(coco_gt.getImgIds())
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
    return ev


def _coco_outcomes(ev, names: Mapping[int, str], index: Mapping[int, int]) -> Outcomes:
    """pycocotools' ``accumulate`` (area "all", the largest maxDets), keeping each detection's flags and image."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    a = list(p.areaRngLbl).index("all")
    positives = np.zeros((len(index), len(p.catIds)), np.int64)
    images, tps, fps = [], [], []
    for k in range(len(p.catIds)):
        evals = [(i, ev.evalImgs[k * n_area * n_img + a * n_img + i]) for i in range(n_img)]
        evals = [(index[p.imgIds[i]], e) for i, e in evals if e is not None]
        for row, e in evals:
            positives[row, k] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        T = len(p.iouThrs)
        if evals:
            scores = np.concatenate([e["dtScores"] for _, e in evals])
            order = np.argsort(-scores, kind="mergesort")  # as accumulate()
            img = np.concatenate([np.full(len(e["dtScores"]), row, np.int64) for row, e in evals])[order]
            dtm = np.concatenate([e["dtMatches"] for _, e in evals], axis=1)[:, order]
            dtig = np.concatenate([e["dtIgnore"] for _, e in evals], axis=1)[:, order].astype(bool)
        else:
            img, dtm, dtig = np.zeros(0, np.int64), np.zeros((T, 0)), np.zeros((T, 0), bool)
        images.append(img)
        tps.append((dtm != 0) & ~dtig)
        fps.append((dtm == 0) & ~dtig)
    return Outcomes(tuple(names[c] for c in p.catIds), positives, tuple(images), tuple(tps), tuple(fps))


def outcomes(detections, ground_truth, max_dets: int = 100) -> PerImageResults:
    """Match detections once, as the scorer does, and keep what every resample needs.

    Args:
        detections: COCO results, as for `metrics.score_detections`.
        ground_truth: COCO ground truth (dict or JSON path), as for `metrics.score_detections`.
        max_dets (int): pycocotools' detections per image and class (the scorer's 100).

    Returns:
        (PerImageResults): Image ids in the ground truth's order and the VOC and COCO outcomes.

    Raises:
        ValueError: Bad input (`metrics.check_ground_truth`, `metrics.check_detections`), before any work.
    """
    gt = _m.check_ground_truth(ground_truth)
    dets = _m.check_detections(detections, gt)
    ids = np.array([img["id"] for img in gt["images"]], np.int64)
    index = {int(i): n for n, i in enumerate(ids)}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    return PerImageResults(
        ids, _voc_outcomes(dets, gt, index), _coco_outcomes(_cocoeval(dets, gt, max_dets), names, index)
    )


# ------------------------------------------------------------------------------------------------ resampled APs
def resample_weights(n_images: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, n_images)`` float64 image counts: each row draws ``n_images`` images with replacement."""
    draws = rng.integers(0, n_images, size=(resamples, n_images))
    draws += np.arange(resamples)[:, None] * n_images
    return np.bincount(draws.ravel(), minlength=resamples * n_images).reshape(resamples, n_images).astype(np.float64)


def _first_reaching(ctp: np.ndarray, npos: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row and threshold t, the first index whose ``ctp / npos >= t`` (``n`` where none): the devkit's
    ``rec >= t`` and pycocotools' ``searchsorted(rc, t, "left")``, on the same float quotients.

    ``ctp`` holds whole numbers (cumulative image counts), so the search runs on exact integers: the smallest
    count ``m`` with ``m / npos >= t`` (as a float division), then the first ``ctp >= m`` in each row.
    """
    r, n = ctp.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        q = npos[:, None]
        m = np.ceil(thresholds[None, :] * q)
        m = np.where((m >= 1) & ((m - 1) / q >= thresholds), m - 1, m)
        m = np.where(m / q >= thresholds, m, m + 1)
    span = (ctp[:, -1].max() if n else 0.0) + 2.0
    m = np.where(npos[:, None] > 0, np.minimum(m, span - 1), span - 1)  # no positive: recall NaN, reaches nothing
    offset = np.arange(r, dtype=np.float64)[:, None] * span
    pos = np.searchsorted((ctp + offset).ravel(), (m + offset).ravel(), side="left").reshape(m.shape)
    return pos - np.arange(r)[:, None] * n


def _take(a: np.ndarray, idx: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """``a[row, idx]`` per row, ``empty`` where ``idx`` is past the end."""
    n = a.shape[1]
    out = np.take_along_axis(a, np.minimum(idx, max(n - 1, 0)), axis=1) if n else np.zeros(idx.shape)
    return np.where(idx < n, out, empty)


def _points(img: np.ndarray, tp: np.ndarray, fp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative TP and FP image counts at each TP detection (the points where recall changes), per row of ``w``.

    Only TP points matter: a later FP (or ignored) point has no more recall and no more precision than the point
    before it, so it never raises a maximum of precision at recall >= t, the envelope, or the 101-point values.
    Returns ``ctp``, ``cfp`` (``(R, n_tp)``) and ``fp_total`` (``(R,)``): far less work than every detection.
    """
    cols, fcols = np.flatnonzero(tp), np.flatnonzero(fp)
    ctp = np.cumsum(w[:, img[cols]], axis=1)
    cfp = np.zeros((len(w), len(fcols) + 1))
    np.cumsum(w[:, img[fcols]], axis=1, out=cfp[:, 1:])
    return ctp, cfp[:, np.searchsorted(fcols, cols)], cfp[:, -1]


def _voc_class(o: Outcomes, k: int, w: np.ndarray, want: set[str]) -> dict[str, np.ndarray]:
    """VOC07 / VOC12 AP of class ``k`` for each row of image counts ``w``; NaN rules as `metrics.voc_ap`."""
    npos = w @ o.positives[:, k].astype(np.float64)
    img, tp, fp = o.image[k], o.tp[k][0], o.fp[k][0]
    ctp, cfp, fp_total = _points(img, tp, fp, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = ctp / npos[:, None]
        prec = ctp / (cfp + ctp)  # NaN (0/0) only at TPs drawn 0 times before anything else
    env = np.fmax.accumulate(prec[:, ::-1], axis=1)[:, ::-1] if tp.any() else prec
    out = {}
    if "voc07_map50" in want:
        idx = _first_reaching(ctp, npos, np.asarray(_m.VOC07_RECALL_THRESHOLDS))
        p = _take(env, idx)
        # No TP drawn: rec >= 0 holds at every point, whose precision is 0 (an FP) or NaN (ignored), none: empty
        none = ~(ctp[:, -1] > 0) if ctp.shape[1] else np.ones(len(w), bool)
        drawn = (w[:, img] > 0).any(axis=1) if none.any() else none
        p[:, 0] = np.where(none, np.where(fp_total > 0, 0.0, np.where(drawn, np.nan, 0.0)), p[:, 0])
        ap = np.zeros(len(w))
        for t in range(idx.shape[1]):
            ap = ap + p[:, t] / 11
        out["voc07_map50"] = ap
    if "voc12_map50" in want:
        prev = np.concatenate([np.zeros((len(w), 1)), rec[:, :-1]], axis=1)
        terms = (rec - prev) * np.fmax(env, 0.0)  # the envelope with its trailing 0
        if tp.sum() != o.positives[:, k].sum():  # the devkit's last step to recall 1 (mpre 0): same terms
            last = rec[:, -1:] if rec.shape[1] else np.zeros((len(w), 1))
            terms = np.concatenate([terms, (1.0 - last) * 0.0], axis=1)
        out["voc12_map50"] = terms.sum(axis=1)
    return out


def _coco_class(o: Outcomes, k: int, w: np.ndarray, thresholds: np.ndarray, want: set[str]) -> dict[str, np.ndarray]:
    """COCO AP50 / AP50:95 of class ``k`` for each row of ``w``: pycocotools' accumulate, 101-point interpolation."""
    npig = w @ o.positives[:, k].astype(np.float64)
    qs = []
    for t in range(10 if "coco_ap50_95" in want else 1):
        ctp, cfp, _ = _points(o.image[k], o.tp[k][t], o.fp[k][t], w)
        pr = ctp / (cfp + ctp + np.spacing(1))
        env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        qs.append(_take(env, _first_reaching(ctp, npig, thresholds)))
    out = {}
    none = npig == 0  # pycocotools skips the class: precision stays -1, the class is left out
    if "coco_ap50" in want:
        out["coco_ap50"] = np.where(none, np.nan, qs[0].mean(axis=1))
    if "coco_ap50_95" in want:
        out["coco_ap50_95"] = np.where(none, np.nan, np.stack(qs, axis=1).reshape(len(w), -1).mean(axis=1))
    return out


def _mean_over_classes(ap: np.ndarray) -> np.ndarray:
    """Per row, the mean over the defined entries, summed in class order as `metrics._nanmean` does (bit for bit)."""
    keep = ~np.isnan(ap)
    out = np.full(len(ap), np.nan)
    masks, inverse = np.unique(keep, axis=0, return_inverse=True)
    for u, mask in enumerate(masks):
        rows = np.flatnonzero(inverse.ravel() == u)
        if mask.any():
            out[rows] = ap[np.ix_(rows, np.flatnonzero(mask))].mean(axis=1)
    return out


def resampled_metrics(
    results: PerImageResults, metrics: Sequence[str], weights: np.ndarray, chunk: int = 1 << 18
) -> dict[str, np.ndarray]:
    """Each metric in ``metrics`` (keys of `BOOTSTRAP_METRICS`) for each row of image counts ``weights``.

    Args:
        results (PerImageResults): One run's outcomes (`outcomes`).
        metrics (Sequence[str]): Metric keys.
        weights (np.ndarray): ``(R, n_images)`` image counts (`resample_weights`; all ones: the scorer's numbers).
        chunk (int): Rows x detections handled at once (memory, and cache).

    Returns:
        (dict[str, np.ndarray]): Per metric, ``(R,)`` means over classes (NaN where no class counts).
    """
    unknown = [m for m in metrics if m not in BOOTSTRAP_METRICS]
    if unknown:
        raise ValueError(f"metric {unknown[0]!r} cannot be resampled; valid: {', '.join(BOOTSTRAP_METRICS)}")
    w = np.asarray(weights, np.float64)
    if w.ndim != 2 or w.shape[1] != len(results.image_ids):
        raise ValueError(f"weights must have shape (R, {len(results.image_ids)}), got {w.shape}")
    from pycocotools.cocoeval import Params

    thresholds = np.asarray(Params(iouType="bbox").recThrs, np.float64)
    out = {}
    for family, o in (("voc", results.voc), ("coco", results.coco)):
        want = {m for m in metrics if BOOTSTRAP_METRICS[m] == family}
        if not want:
            continue
        per_class = {m: np.empty((len(w), len(o.classes))) for m in want}
        for k in range(len(o.classes)):
            step = max(1, chunk // max(1, len(o.image[k])))
            for s in range(0, len(w), step):
                ws = w[s : s + step]
                got = _voc_class(o, k, ws, want) if family == "voc" else _coco_class(o, k, ws, thresholds, want)
                if family == "voc":  # left out of the devkit's mean: no positive, or AP NaN
                    npos = ws @ o.positives[:, k].astype(np.float64)
                    got = {m: np.where(npos > 0, v, np.nan) for m, v in got.items()}
                for m, v in got.items():
                    per_class[m][s : s + step, k] = v
        out.update({m: _mean_over_classes(v) for m, v in per_class.items()})
    return {m: out[m] for m in metrics}


# ------------------------------------------------------------------------------------------------ the verdict
def _check_runs(runs: Sequence[PerImageResults], what: str, ref: PerImageResults | None) -> None:
    if not runs:
        raise ValueError(f"{what}: no runs with per-image results")
    ref = ref or runs[0]
    for i, r in enumerate(runs):
        if not np.array_equal(r.image_ids, ref.image_ids) or r.voc.classes != ref.voc.classes:
            raise ValueError(
                f"{what}: run {i} was scored on another test set (image ids or classes differ from the first run's);"
                " a paired comparison needs one test set"
            )


def paired_bootstrap(
    baseline: Sequence[PerImageResults],
    variant: Sequence[PerImageResults],
    metric: str = "voc07_map50",
    resamples: int = 1000,
    seed: int = 0,
    delta: float = 0.005,
    _baseline_draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Δ = variant - baseline of ``metric`` over seed-matched runs, with a 95% interval over test images and seeds.

    Method (one seed): resample the test images with replacement (the same resample for both models), recompute the
    metric exactly as the scorer does, and take Δ's 2.5 and 97.5 percentiles: the interval covers test-set sampling
    only, not training randomness. With k >= 2 seed-matched pairs (baseline seed s vs variant seed s) it is a
    two-level bootstrap: each resample first draws k seeds with replacement, then the test images (one image draw
    for all runs), and Δ is the mean over the drawn seeds of the paired differences: the interval covers both
    training randomness and test-set sampling.

    Args:
        baseline, variant (Sequence[PerImageResults]): Runs of one test set, ``baseline[i]`` paired with
            ``variant[i]`` (the same seed).
        metric (str): A key of `BOOTSTRAP_METRICS`.
        resamples (int): Bootstrap resamples (>= 1).
        seed (int): Seed of the resampling (the result is a function of it and the inputs).
        delta (float): The difference (a fraction: 0.005 = 0.5 pp) "seeds needed" is computed for.

    Returns:
        (dict): ``baseline``, ``variant`` (means over seeds of the scorer's numbers), ``baseline_std``,
        ``variant_std`` (over seeds; NaN for one seed), ``delta`` (mean paired Δ), ``low``, ``high`` (95% percentile
        interval), ``p_better`` (share of resamples with Δ > 0), ``verdict`` ("better": low > 0, "worse": high < 0,
        else "no evidence"), ``noise_floor`` (= ``baseline_std``: the spread between baseline seeds),
        ``seeds_needed`` (see `seeds_needed`; None when it cannot be said), ``seeds``, ``resamples``, ``method``.
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric {metric!r} cannot be resampled; valid: {', '.join(BOOTSTRAP_METRICS)}")
    if not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples {resamples!r} is not an integer >= 1")
    if len(baseline) != len(variant):
        raise ValueError(f"{len(baseline)} baseline runs and {len(variant)} variant runs: pairs need one each per seed")
    _check_runs(baseline, "baseline", None)
    _check_runs(variant, "variant", baseline[0])
    k = len(baseline)
    if _baseline_draws is None:
        rng = np.random.default_rng(seed)
        w = resample_weights(len(baseline[0].image_ids), resamples, rng)
        seeds = rng.integers(0, k, size=(resamples, k))
    else:
        w, seeds = _baseline_draws
    ones = np.ones((1, w.shape[1]))
    score = {}
    for name, runs in (("baseline", baseline), ("variant", variant)):
        both = [resampled_metrics(r, [metric], np.concatenate([ones, w]))[metric] for r in runs]
        score[name] = np.array([b[0] for b in both]), np.stack([b[1:] for b in both])  # (k,), (k, R)
    d_full = score["variant"][0] - score["baseline"][0]  # per seed
    d_res = score["variant"][1] - score["baseline"][1]  # (k, R)
    draws = np.take_along_axis(d_res.T, seeds, axis=1).mean(axis=1)  # seeds, then images
    low, high = np.percentile(draws, INTERVAL)
    std = {n: float(np.std(s[0], ddof=1)) if k > 1 else math.nan for n, s in score.items()}
    verdict = "better" if low > 0 else "worse" if high < 0 else "no evidence"
    if k == 1:
        method = f"paired bootstrap over test images ({resamples} resamples); 1 seed: covers test-set sampling only"
    else:
        method = f"two-level paired bootstrap: {k} seed pairs, then test images ({resamples} resamples)"
    return {
        "metric": metric,
        "baseline": float(np.mean(score["baseline"][0])),
        "variant": float(np.mean(score["variant"][0])),
        "baseline_std": std["baseline"],
        "variant_std": std["variant"],
        "delta": float(np.mean(d_full)),
        "low": float(low),
        "high": float(high),
        "p_better": float(np.mean(draws > 0)),
        "verdict": verdict,
        "noise_floor": std["baseline"],
        "seeds_needed": seeds_needed(d_full, d_res.mean(axis=0), delta),
        "seeds": k,
        "resamples": resamples,
        "method": method,
    }


def seeds_needed(per_seed_delta: np.ndarray, image_draws: np.ndarray, delta: float = 0.005) -> int | None:
    """Seeds per model that would make the 95% interval narrower than ``delta`` on each side.

    The variance of the mean paired Δ over k seeds is ``s²/k + v``: ``s²`` the variance of Δ between seeds
    (``per_seed_delta``, needs 2 seeds), ``v`` the variance over test-image resamples (``image_draws``), which more
    seeds cannot reduce. So k = ceil(s² / ((delta / 1.96)² - v)); None with fewer than 2 seeds, or when the test
    set alone is too small (``1.96 √v >= delta``: more seeds cannot help).
    """
    if len(per_seed_delta) < 2:
        return None
    s2, v = float(np.var(per_seed_delta, ddof=1)), float(np.var(image_draws))
    room = (delta / Z95) ** 2 - v
    if room <= 0:
        return None
    return max(2, math.ceil(s2 / room))


def evidence_rows(
    baseline_runs: Mapping[int, PerImageResults],
    variant_runs: Mapping[str, Mapping[int, PerImageResults]],
    metric: str = "voc07_map50",
    resamples: int = 1000,
    seed: int = 0,
    delta: float = 0.005,
) -> list[dict[str, Any]]:
    """One plain dict per variant model vs the baseline (`paired_bootstrap`'s keys plus ``model``), seed-matched.

    Every model is resampled with the same image draws, so rows are comparable. Runs are matched by training seed:
    the seeds of each variant must equal the baseline's.

    Args:
        baseline_runs (Mapping[int, PerImageResults]): Training seed -> the baseline's results.
        variant_runs (Mapping[str, Mapping[int, PerImageResults]]): Model name -> (training seed -> results).
        metric, resamples, seed, delta: As for `paired_bootstrap`.

    Raises:
        ValueError: No baseline runs, or a model whose seeds differ from the baseline's (naming both sets).
    """
    if not baseline_runs:
        raise ValueError("no baseline runs with per-image results: the comparison needs a baseline")
    seeds = sorted(baseline_runs)
    for name, runs in variant_runs.items():
        if sorted(runs) != seeds:
            raise ValueError(
                f"model {name!r} has seeds {sorted(runs)}, the baseline has {seeds}: the bootstrap pairs runs by seed"
            )
    rng = np.random.default_rng(seed)
    draws = (
        resample_weights(len(baseline_runs[seeds[0]].image_ids), resamples, rng),
        rng.integers(0, len(seeds), size=(resamples, len(seeds))),
    )
    base = [baseline_runs[s] for s in seeds]
    rows = []
    for name, runs in variant_runs.items():
        row = paired_bootstrap(base, [runs[s] for s in seeds], metric, resamples, seed, delta, draws)
        rows.append({"model": name, **row})
    return rows
