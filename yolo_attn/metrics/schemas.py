"""Input checks for the scorer: COCO ground truth, COCO detections, boxes and the IoU threshold."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

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
    `iscrowd` (when given) 0 or 1, and `area` (when given) finite and >= 0. Image `file_name`s (when given) are unique:
    the devkit identifies an image by its file. Annotation `id`s are not read (pycocotools gets fresh ones, so
    repeated ids score the same). Box corners outside the image are accepted (scoring never reads image sizes).

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
    """Check the ground truth's images (unique ids and file names); return their ids."""
    image_ids: set = set()
    files: dict = {}
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
        name = img.get("file_name")  # VOC identifies an image by its file: two ids for one file would split it
        if isinstance(name, str) and name in files:
            raise ValueError(
                f"{what} (id {img['id']!r}): file_name {name!r} is used by image id {files[name]!r}; "
                "each image file must appear once"
            )
        files[name] = img["id"]
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


def _is_difficult(ann: Mapping[str, Any]) -> bool:
    return bool(ann.get("difficult", ann.get("iscrowd", 0)))
