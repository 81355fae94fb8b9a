"""How long the paired bootstrap of `yolo_attn.metrics.evidence` takes on a VOC07-test-sized problem.

    yolo-attn bench bootstrap                 # 1,000 paired resamples, 4,952 images, 20 classes, 100k detections
    python -m yolo_attn.bench bootstrap --rounds 5

Two synthetic runs (a baseline and a variant) shaped like VOC2007 test: 4,952 images, 20 classes, about 12,000
positives, 100,000 detections per model (conf 0.001-style: most are false positives, about 3/4 of the positives
found, high scores more often right). One round times the whole paired bootstrap for VOC07, VOC12 and COCO AP50
together: the image draws, then every resampled metric of both models (process CPU time and wall time). Prints
numbers; it is never a timed test.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from yolo_attn.metrics.evidence import Outcomes, PerImageResults, resample_weights, resampled_metrics

__all__ = ["synthetic_results", "time_bootstrap"]

METRICS = ("voc07_map50", "voc12_map50", "coco_ap50")


def synthetic_results(
    rng: np.random.Generator, images: int = 4952, classes: int = 20, detections: int = 100_000, positives: int = 12_000
) -> PerImageResults:
    """One run's outcomes: per class, detections sorted by score whose TPs (at most the class's positives) fall
    more often near the top; 10 COCO IoU thresholds, each keeping a subset of the previous one's TPs."""
    pos = rng.multinomial(positives, np.full(images * classes, 1 / (images * classes))).reshape(images, classes)
    n = detections // classes
    img_all, tp_all, fp_all = [], [], []
    for k in range(classes):
        boxes = np.repeat(np.arange(images), pos[:, k])  # one entry per positive, by image
        found = rng.permutation(boxes)[: int(0.75 * len(boxes))]
        slots = np.sort(rng.choice(n, size=min(len(found), n), replace=False, p=_top_heavy(n)))
        img = rng.integers(0, images, n)
        img[slots] = found[: len(slots)]
        tp = np.zeros((10, n), bool)
        tp[0, slots] = True
        for t in range(1, 10):
            tp[t] = tp[t - 1] & (rng.random(n) < 0.9)
        ignored = ~tp[0] & (rng.random(n) < 0.02)  # difficult boxes
        img_all.append(img)
        tp_all.append(tp)
        fp_all.append(~tp & ~ignored)
    names = tuple(f"class{k}" for k in range(classes))
    voc = Outcomes(names, pos, tuple(img_all), tuple(t[:1] for t in tp_all), tuple(f[:1] for f in fp_all))
    coco = Outcomes(names, pos, tuple(img_all), tuple(tp_all), tuple(fp_all))
    return PerImageResults(np.arange(images), voc, coco)


def _top_heavy(n: int) -> np.ndarray:
    p = np.exp(-np.arange(n) / (0.15 * n))
    return p / p.sum()


def time_bootstrap(runs: Sequence[PerImageResults], resamples: int, seed: int = 0) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) of one paired bootstrap of ``METRICS`` over ``runs``."""
    c0, t0 = time.process_time(), time.perf_counter()
    w = resample_weights(len(runs[0].image_ids), resamples, np.random.default_rng(seed))
    for r in runs:
        resampled_metrics(r, METRICS, w)
    return time.process_time() - c0, time.perf_counter() - t0
