"""The metric table: every headline number of `evaluate_model`, named by protocol, with its per-class dict."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
