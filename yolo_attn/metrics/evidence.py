"""Is a difference between two detectors real? A paired bootstrap over test images (and seeds) of the scorer's APs.

Each run's detections are matched once, as the scorer matches them (`outcomes`); a resample is then a vector of image
counts, the same for every model of a comparison, and each resampled AP a weighted cumulative sum over the fixed
sorted detections: exact (every count 1 gives the scorer's number bit for bit) and fast (1,000 resamples of a
VOC07-test-sized problem in seconds: ``yolo-attn bench bootstrap``). The method and why it is exact:
docs/design.md §7 ("Evidence"); how to read the verdict: README, "Is a difference real?".

Examples:
    >>> base = {seed: outcomes(dets, gt) for seed, dets in baseline_detections.items()}
    >>> rows = evidence_rows(base, {"may-eca": {seed: outcomes(d, gt) for seed, d in eca_detections.items()}})
    >>> rows[0]["verdict"], rows[0]["delta"], rows[0]["low"], rows[0]["high"]
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_attn._io import write_bytes
from yolo_attn.metrics.coco import _coco_evaluated
from yolo_attn.metrics.schemas import _is_difficult, check_detections, check_ground_truth
from yolo_attn.metrics.voc import VOC07_RECALL_THRESHOLDS, _voc_pr_curves

__all__ = [
    "BOOTSTRAP_METRICS",
    "PER_IMAGE_FILE",
    "PER_IMAGE_VERSION",
    "Outcomes",
    "PerImageResults",
    "compare_saved",
    "evidence_markdown",
    "evidence_rows",
    "forest_plot",
    "load_per_image",
    "outcomes",
    "paired_bootstrap",
    "resample_weights",
    "resampled_metrics",
    "save_per_image",
    "seeds_needed",
    "sweep_evidence",
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
#: The percentiles that bound the 95% interval.
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
    """What the bootstrap needs from one run on one test set: ``image_ids`` (the ground truth's order), ``voc`` and
    ``coco`` (`Outcomes`)."""

    image_ids: np.ndarray
    voc: Outcomes
    coco: Outcomes


# ------------------------------------------------------------------------------------------------ the matching
def _voc_outcomes(dets: list[dict], gt: dict, index: Mapping[int, int]) -> Outcomes:
    """The devkit's matching (`metrics.voc._voc_pr_curves`, IoU 0.5), with each detection's flags and image."""
    cats = [(c["id"], c["name"]) for c in gt["categories"]]
    col = {c: k for k, (c, _) in enumerate(cats)}
    positives = np.zeros((len(index), len(cats)), np.int64)
    for ann in gt["annotations"]:  # VOCevaldet.m: npos=npos+sum(~gt(i).diff), per image here
        positives[index[ann["image_id"]], col[ann["category_id"]]] += not _is_difficult(ann)
    curves = _voc_pr_curves(dets, gt, 0.5)
    return Outcomes(
        tuple(n for _, n in cats),
        positives,
        tuple(np.array([index[i] for i in curves[c]["image_ids"]], np.int64) for c, _ in cats),
        tuple(curves[c]["tp_flags"][None] for c, _ in cats),
        tuple(curves[c]["fp_flags"][None] for c, _ in cats),
    )


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
    gt = check_ground_truth(ground_truth)
    dets = check_detections(detections, gt)
    ids = np.array([img["id"] for img in gt["images"]], np.int64)
    index = {int(i): n for n, i in enumerate(ids)}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    return PerImageResults(
        ids, _voc_outcomes(dets, gt, index), _coco_outcomes(_coco_evaluated(dets, gt, max_dets), names, index)
    )


# ------------------------------------------------------------------------------------------------ resampled APs
def resample_weights(n_images: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, n_images)`` int32 image counts: each row draws ``n_images`` images with replacement."""
    draws = rng.integers(0, n_images, size=(resamples, n_images))
    draws += np.arange(resamples)[:, None] * n_images
    return np.bincount(draws.ravel(), minlength=resamples * n_images).reshape(resamples, n_images).astype(np.int32)


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
    acc = np.int32 if int(w.max(initial=0)) * len(img) < 2**31 else np.int64  # whole numbers: exact, and vectorised
    ctp = np.cumsum(np.take(w, img[cols], axis=1), axis=1, dtype=acc)
    cfp = np.zeros((len(w), len(fcols) + 1), acc)
    np.cumsum(np.take(w, img[fcols], axis=1), axis=1, dtype=acc, out=cfp[:, 1:])
    return ctp.astype(np.float64), cfp[:, np.searchsorted(fcols, cols)].astype(np.float64), cfp[:, -1]


def _voc_class(o: Outcomes, k: int, w: np.ndarray, npos: np.ndarray, want: set[str]) -> dict[str, np.ndarray]:
    """VOC07 / VOC12 AP of class ``k`` for each row of image counts ``w`` (``npos``: its positives per row); NaN
    rules as `metrics.voc_ap`."""
    img, tp, fp = o.image[k], o.tp[k][0], o.fp[k][0]
    ctp, cfp, fp_total = _points(img, tp, fp, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = ctp / npos[:, None]
        prec = ctp / (cfp + ctp)  # NaN (0/0) only at TPs drawn 0 times before anything else
    env = np.fmax.accumulate(prec[:, ::-1], axis=1)[:, ::-1] if tp.any() else prec
    out = {}
    if "voc07_map50" in want:
        idx = _first_reaching(ctp, npos, np.asarray(VOC07_RECALL_THRESHOLDS))
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


def _coco_class(
    o: Outcomes, k: int, w: np.ndarray, npig: np.ndarray, thresholds: np.ndarray, want: set[str]
) -> dict[str, np.ndarray]:
    """COCO AP50 / AP50:95 of class ``k`` for each row of ``w`` (``npig``: its counted boxes per row):
    pycocotools' accumulate, 101-point interpolation."""
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
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[1] != len(results.image_ids):
        raise ValueError(f"weights must have shape (R, {len(results.image_ids)}), got {w.shape}")
    if w.size and (not np.isfinite(w).all() or (w < 0).any() or (w != np.round(w)).any()):
        raise ValueError("weights must be whole numbers >= 0 (how many times each image is drawn)")
    w = w.astype(np.uint8 if w.size == 0 or w.max() < 256 else np.int64)
    from pycocotools.cocoeval import Params

    thresholds = np.asarray(Params(iouType="bbox").recThrs, np.float64)
    out = {}
    for family, o in (("voc", results.voc), ("coco", results.coco)):
        want = {m for m in metrics if BOOTSTRAP_METRICS[m] == family}
        if not want:
            continue
        per_class = {m: np.empty((len(w), len(o.classes))) for m in want}
        npos = w.astype(np.float64) @ o.positives.astype(np.float64)  # whole numbers: exact in any order
        for k in range(len(o.classes)):
            step = max(1, chunk // max(1, len(o.image[k])))
            for s in range(0, len(w), step):
                ws, ns = w[s : s + step], npos[s : s + step, k]
                if family == "voc":  # left out of the devkit's mean: no positive, or AP NaN
                    got = {m: np.where(ns > 0, v, np.nan) for m, v in _voc_class(o, k, ws, ns, want).items()}
                else:
                    got = _coco_class(o, k, ws, ns, thresholds, want)
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


def _draws(n_images: int, k: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Image counts ``(R, n_images)`` and seed indices ``(R, k)``, one draw for every model of a comparison."""
    if not isinstance(resamples, int) or isinstance(resamples, bool) or resamples < 1:
        raise ValueError(f"resamples {resamples!r} is not an integer >= 1")
    rng = np.random.default_rng(seed)
    return resample_weights(n_images, resamples, rng), rng.integers(0, k, size=(resamples, k))


def _run_scores(runs: Sequence[PerImageResults], metric: str, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run, the scorer's number ``(k,)`` and the resampled numbers ``(k, R)``."""
    both = [resampled_metrics(r, [metric], np.concatenate([np.ones((1, w.shape[1])), w]))[metric] for r in runs]
    return np.array([b[0] for b in both]), np.stack([b[1:] for b in both])


def _verdict(base, var, seeds: np.ndarray, metric: str, delta: float) -> dict[str, Any]:
    """`paired_bootstrap`'s dict from both models' `_run_scores` and the seed draws."""
    k, resamples = len(base[0]), len(seeds)
    d_full = var[0] - base[0]  # per seed
    d_res = var[1] - base[1]  # (k, R)
    draws = np.take_along_axis(d_res.T, seeds, axis=1).mean(axis=1)  # seeds, then images
    draws = draws[~np.isnan(draws)]  # a resample without any positive has no AP (tiny test sets only)
    low, high = (float(v) for v in np.percentile(draws, INTERVAL)) if len(draws) else (math.nan, math.nan)
    std = [float(np.std(s[0], ddof=1)) if k > 1 else math.nan for s in (base, var)]
    if k == 1:
        method = f"paired bootstrap over test images ({resamples} resamples); 1 seed: covers test-set sampling only"
    else:
        method = f"two-level paired bootstrap: {k} seed pairs, then test images ({resamples} resamples)"
    return {
        "metric": metric,
        "baseline": float(np.mean(base[0])),
        "variant": float(np.mean(var[0])),
        "baseline_std": std[0],
        "variant_std": std[1],
        "delta": float(np.mean(d_full)),
        "low": low,
        "high": high,
        "p_better": float(np.mean(draws > 0)) if len(draws) else math.nan,
        "verdict": "better" if low > 0 else "worse" if high < 0 else "no evidence",
        "noise_floor": std[0],
        "seeds_needed": seeds_needed(d_full, d_res.mean(axis=0), delta),
        "seeds_needed_for": delta,
        "seeds": k,
        "resamples": resamples,
        "method": method,
    }


def paired_bootstrap(
    baseline: Sequence[PerImageResults],
    variant: Sequence[PerImageResults],
    metric: str = "voc07_map50",
    resamples: int = 1000,
    seed: int = 0,
    delta: float = 0.005,
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
        ``seeds_needed`` (see `seeds_needed`; None when it cannot be said) for ``seeds_needed_for`` (= ``delta``),
        ``seeds``, ``resamples``, ``method``.
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric {metric!r} cannot be resampled; valid: {', '.join(BOOTSTRAP_METRICS)}")
    if len(baseline) != len(variant):
        raise ValueError(f"{len(baseline)} baseline runs and {len(variant)} variant runs: pairs need one each per seed")
    _check_runs(baseline, "baseline", None)
    _check_runs(variant, "variant", baseline[0])
    w, seeds = _draws(len(baseline[0].image_ids), len(baseline), resamples, seed)
    return _verdict(_run_scores(baseline, metric, w), _run_scores(variant, metric, w), seeds, metric, delta)


def seeds_needed(per_seed_delta: np.ndarray, image_draws: np.ndarray, delta: float = 0.005) -> int | None:
    """Seeds per model that would make the 95% interval narrower than ``delta`` on each side.

    The variance of the mean paired Δ over k seeds is ``s²/k + v``: ``s²`` the variance of Δ between seeds
    (``per_seed_delta``, needs 2 seeds), ``v`` the variance over test-image resamples (``image_draws``), which more
    seeds cannot reduce. So k = ceil(s² / ((delta / 1.96)² - v)), at least 2; None with fewer than 2 seeds, or
    when the test set alone is too small (``1.96 √v >= delta``: more seeds cannot help).
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
    base = [baseline_runs[s] for s in seeds]
    _check_runs(base, "baseline", None)
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric {metric!r} cannot be resampled; valid: {', '.join(BOOTSTRAP_METRICS)}")
    w, draws = _draws(len(base[0].image_ids), len(seeds), resamples, seed)
    base_scores = _run_scores(base, metric, w)
    rows = []
    for name, runs in variant_runs.items():
        var = [runs[s] for s in seeds]
        _check_runs(var, f"model {name!r}", base[0])
        rows.append({"model": name, **_verdict(base_scores, _run_scores(var, metric, w), draws, metric, delta)})
    return rows


# ------------------------------------------------------------------------------------------------ the run folder
#: File name of a run's per-image results, next to its metrics.json.
PER_IMAGE_FILE = "per_image.npz"
#: Version of the per-image file: `load_per_image` reads this one only.
PER_IMAGE_VERSION = 1
_IOU_THRESHOLDS = {"voc": 1, "coco": 10}


def save_per_image(results: PerImageResults, path: str | Path) -> Path:
    """Write ``results`` as a versioned .npz (`PER_IMAGE_VERSION`), atomically (a temporary file renamed)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"version": np.array(PER_IMAGE_VERSION), "image_ids": results.image_ids}
    for fam in _IOU_THRESHOLDS:
        o: Outcomes = getattr(results, fam)
        arrays[f"{fam}_classes"] = np.array(o.classes, dtype=str)
        arrays[f"{fam}_positives"] = o.positives
        arrays[f"{fam}_offsets"] = np.cumsum([0, *(len(i) for i in o.image)])
        arrays[f"{fam}_image"] = np.concatenate([np.zeros(0, np.int64), *o.image])
        arrays[f"{fam}_tp"] = np.concatenate([np.zeros((_IOU_THRESHOLDS[fam], 0), bool), *o.tp], axis=1)
        arrays[f"{fam}_fp"] = np.concatenate([np.zeros((_IOU_THRESHOLDS[fam], 0), bool), *o.fp], axis=1)
    write_bytes(path, lambda f: np.savez_compressed(f, **arrays))
    return path


def load_per_image(path: str | Path) -> PerImageResults:
    """Read and check a `save_per_image` file.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not such a file, another version, or inconsistent arrays, naming the file and the array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"per-image results {str(path)!r} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"per-image results {str(path)!r} is not a readable .npz ({type(e).__name__}: {e})") from None
    version = a.get("version")
    if version is None or version.shape != () or int(version) != PER_IMAGE_VERSION:
        raise ValueError(
            f"per-image results {str(path)!r} has version {None if version is None else version.tolist()!r}; "
            f"this yolo_attn reads version {PER_IMAGE_VERSION} (score the run again to rewrite it)"
        )
    try:
        return _per_image_from_arrays(a)
    except KeyError as e:
        raise ValueError(f"per-image results {str(path)!r} has no array {e} (written by another program?)") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"per-image results {str(path)!r}: {e}") from None


def _per_image_from_arrays(a: Mapping[str, np.ndarray]) -> PerImageResults:
    ids = a["image_ids"]
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(np.unique(ids)) != len(ids):
        raise ValueError(f"image_ids must be unique integers, got dtype {ids.dtype}, shape {ids.shape}")
    fams = {}
    for fam, n_thr in _IOU_THRESHOLDS.items():
        classes, pos, off = a[f"{fam}_classes"], a[f"{fam}_positives"], a[f"{fam}_offsets"]
        img, tp, fp = a[f"{fam}_image"], a[f"{fam}_tp"], a[f"{fam}_fp"]
        k, n = len(classes), len(img)
        checks = {
            f"{fam}_classes: 1-D strings": classes.ndim == 1 and classes.dtype.kind == "U",
            f"{fam}_positives: ({len(ids)}, {k}) integers >= 0": pos.shape == (len(ids), k)
            and pos.dtype.kind in "iu"
            and (pos >= 0).all(),
            f"{fam}_offsets: {k + 1} non-decreasing integers from 0 to {n}": off.shape == (k + 1,)
            and off.dtype.kind in "iu"
            and off[0] == 0
            and off[-1] == n
            and (np.diff(off) >= 0).all(),
            f"{fam}_image: integers in [0, {len(ids)})": img.ndim == 1
            and img.dtype.kind in "iu"
            and (n == 0 or (img.min() >= 0 and img.max() < len(ids))),
            f"{fam}_tp, {fam}_fp: ({n_thr}, {n}) booleans, never both": tp.shape == fp.shape == (n_thr, n)
            and tp.dtype == fp.dtype == bool
            and not (tp & fp).any(),
        }
        bad = [what for what, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"expected {bad[0]}")
        parts = [slice(int(off[i]), int(off[i + 1])) for i in range(k)]
        fams[fam] = Outcomes(
            tuple(classes.tolist()),
            pos.astype(np.int64),
            tuple(img[p].astype(np.int64) for p in parts),
            tuple(tp[:, p] for p in parts),
            tuple(fp[:, p] for p in parts),
        )
    return PerImageResults(ids.astype(np.int64), fams["voc"], fams["coco"])


# ------------------------------------------------------------------------------------------------ the picture
def forest_plot(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """One row per model: Δ vs the baseline with its 95% interval (percentage points), a zero line, and the seed
    noise floor (± the spread between baseline seeds) shaded; written as a PNG (matplotlib, Agg).

    Args:
        rows: `evidence_rows` dicts (``model``, ``delta``, ``low``, ``high``, ``verdict``, ``noise_floor``,
            ``metric``, ``method``).
        path: The PNG to write (atomically: a temporary file renamed).
        title: Plot title; default names the metric.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from yolo_attn.metrics.table import metric as _metric

    rows = [r for r in rows if r.get("verdict") is not None]  # models without an interval are not drawn
    if not rows:
        raise ValueError("forest_plot needs at least one row with an interval")
    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.45 * len(rows)))
    y = np.arange(len(rows))[::-1]
    colour = {"better": "tab:green", "worse": "tab:red", "no evidence": "tab:gray"}
    floor = rows[0].get("noise_floor")
    shaded = floor is not None and math.isfinite(floor)
    if shaded:
        ax.axvspan(-100 * floor, 100 * floor, color="0.9")
    ax.axvline(0, color="0.3", lw=1)
    for yi, r in zip(y, rows, strict=True):
        d, lo, hi = 100 * r["delta"], 100 * r["low"], 100 * r["high"]
        ax.errorbar(d, yi, xerr=[[d - lo], [hi - d]], fmt="o", color=colour.get(r["verdict"], "tab:gray"), capsize=3)
        label = f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}] {r['verdict']}"
        ax.text(1.02, yi, label, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    shade = f"; shaded: seed noise floor ±{100 * floor:.2f} pp" if shaded else ""
    ax.set_xlabel(f"Δ {_metric(rows[0]['metric']).short} vs baseline (pp), 95% interval{shade}", fontsize=9)
    ax.set_title(title or rows[0]["method"], fontsize=9)
    fig.tight_layout()
    try:
        write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=120))
    finally:
        plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ a sweep's report
def sweep_evidence(
    run_dirs: Mapping[str, Mapping[int, str | Path]],
    baseline: str,
    metric: str = "voc07_map50",
    resamples: int = 1000,
    seed: int = 0,
    delta: float = 0.005,
) -> list[dict[str, Any]]:
    """`evidence_rows` for every model of a sweep vs ``baseline``, read from each run folder's `PER_IMAGE_FILE`.

    Runs are paired on the seeds both models have. A model that cannot be compared (no per-image file, e.g. a
    folder scored before they were saved; an unreadable or other-version file; no seed in common with the
    baseline; another test set) gets a row with ``verdict`` None and ``reason`` saying why, so old sweep folders
    still report, without intervals.

    Args:
        run_dirs: Model name -> (training seed -> run folder), the baseline included.
        baseline: The baseline's model name.
        metric, resamples, seed, delta: As for `paired_bootstrap`.
    """

    def load(name: str) -> tuple[dict[int, PerImageResults], str | None]:
        runs, problems = {}, []
        for s, d in sorted(run_dirs.get(name, {}).items()):
            try:
                runs[s] = load_per_image(Path(d) / PER_IMAGE_FILE)
            except FileNotFoundError:
                problems.append(f"seed {s}: no {PER_IMAGE_FILE} (scored before per-image results were saved)")
            except ValueError as e:
                problems.append(f"seed {s}: {e}")
        return runs, "; ".join(problems) or None

    base, base_problem = load(baseline)
    rows: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[int, ...], dict[str, dict[int, PerImageResults]]] = {}  # models by paired seeds
    for name in run_dirs:
        if name == baseline:
            continue
        runs, problem = load(name)
        seeds = tuple(sorted(set(base) & set(runs)))
        reason = None
        if not run_dirs.get(baseline):
            reason = f"no baseline {baseline!r} runs"
        elif not base:
            reason = f"baseline {baseline!r}: {base_problem}"
        elif not runs:
            reason = problem or "no runs"
        elif not seeds:
            reason = f"no seed in common with the baseline (baseline {sorted(base)}, {name!r} {sorted(runs)})"
        else:
            try:
                _check_runs([runs[s] for s in seeds], f"model {name!r}", base[seeds[0]])
            except ValueError as e:
                reason = str(e)
        rows[name] = {"model": name, "metric": metric, "verdict": None, "reason": reason}
        if reason is None:
            groups.setdefault(seeds, {})[name] = {s: runs[s] for s in seeds}
            left = sorted((set(base) | set(runs)) - set(seeds))
            rows[name]["reason"] = f"seeds {left} have no pair: left out" if left else None
    for seeds, models in groups.items():  # the baseline's resamples are computed once per group
        for row in evidence_rows({s: base[s] for s in seeds}, models, metric, resamples, seed, delta):
            rows[row["model"]] = {**row, "reason": rows[row["model"]]["reason"]}
    return list(rows.values())


def evidence_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of `sweep_evidence` / `evidence_rows` rows (Δ in percentage points), the method and the
    seed noise floor stated once below it."""
    delta = next((r["seeds_needed_for"] for r in rows if r.get("verdict") is not None), 0.005)
    lines = [
        f"| model | Δ (pp) | 95% interval (pp) | P(Δ>0) | verdict | seeds needed for ±{100 * delta:g} pp |",
        "|:---|---:|---:|---:|:---|---:|",
    ]
    for r in rows:
        if r.get("verdict") is None:
            lines.append(f"| `{r['model']}` | – | – | – | no interval: {r.get('reason')} | – |")
            continue
        need = "–" if r.get("seeds_needed") is None else str(r["seeds_needed"])
        lines.append(
            f"| `{r['model']}` | {100 * r['delta']:+.2f} | [{100 * r['low']:+.2f}, {100 * r['high']:+.2f}] "
            f"| {r['p_better']:.2f} | {r['verdict']} | {need} |"
        )
    done = [r for r in rows if r.get("verdict") is not None]
    if done:
        r = done[0]
        floor = r.get("noise_floor")
        floor_text = (
            f"{100 * floor:.2f} pp (std of the baseline over its {r['seeds']} seeds)"
            if floor is not None and math.isfinite(floor)
            else "unknown (one seed)"
        )
        lines += ["", f"Method: {r['method']}, metric `{r['metric']}`. Seed noise floor: {floor_text}."]
        lines += [f"- `{x['model']}`: {x['reason']}" for x in done if x.get("reason")]
    return "\n".join(lines)


def compare_saved(
    baseline: str | Sequence[str | Path],
    variant: str | Sequence[str | Path],
    metric: str = "voc07_map50",
    resamples: int = 1000,
    seed: int = 0,
    delta: float = 0.005,
) -> list[dict[str, Any]]:
    """`evidence_rows` for two sets of saved per-image files (`save_per_image`), paired by position (one per seed):
    ``yolo-attn score baseline=b0.npz,b1.npz variant=v0.npz,v1.npz``; no inference.

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: The lists differ in length, or a file is unreadable, of another version or of another test set.
    """
    files = {
        key: [Path(p) for p in (v.split(",") if isinstance(v, str) else v) if str(p)]
        for key, v in (("baseline", baseline), ("variant", variant))
    }
    if not files["baseline"] or len(files["baseline"]) != len(files["variant"]):
        raise ValueError(
            f"baseline= names {len(files['baseline'])} file(s), variant= {len(files['variant'])}: give one per-image "
            "file per training seed on each side, in the same seed order (comma-separated)"
        )
    runs = {key: {i: load_per_image(p) for i, p in enumerate(ps)} for key, ps in files.items()}
    return evidence_rows(runs["baseline"], {"variant": runs["variant"]}, metric, resamples, seed, delta)
