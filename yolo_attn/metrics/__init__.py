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

from yolo_attn.metrics.coco import evaluate_coco
from yolo_attn.metrics.evaluate import (
    JSON_UNIT,
    evaluate_model,
    format_metrics,
    ground_truth_from_labels,
    predict_detections,
    save_metrics,
    score_detections,
)
from yolo_attn.metrics.schemas import (
    DETECTION_KEYS,
    MAX_COORD,
    check_detections,
    check_ground_truth,
    load_ground_truth,
)
from yolo_attn.metrics.table import METRIC_KEYS, METRICS, PER_CLASS_KEYS, Metric, metric
from yolo_attn.metrics.voc import (
    ALL_IGNORED,
    NO_POSITIVES,
    VOC07_RECALL_THRESHOLDS,
    evaluate_voc,
    voc_ap,
    voc_pr_curves,
)

__all__ = [
    "ALL_IGNORED",
    "DETECTION_KEYS",
    "JSON_UNIT",
    "MAX_COORD",
    "METRICS",
    "METRIC_KEYS",
    "Metric",
    "NO_POSITIVES",
    "PER_CLASS_KEYS",
    "VOC07_RECALL_THRESHOLDS",
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
