"""Running a model and scoring it with every protocol; writing and showing the result."""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from yolo_attn._io import write_json
from yolo_attn.metrics.coco import _evaluate_coco
from yolo_attn.metrics.schemas import _is_difficult, check_detections, check_ground_truth
from yolo_attn.metrics.table import METRICS, PER_CLASS_KEYS
from yolo_attn.metrics.voc import _evaluate_voc


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
    per_image: str | Path | None = None,
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
        per_image (str | Path | None): Also write what the paired bootstrap needs (`yolo_attn.metrics.evidence`: each
            detection's TP/FP flags by class, per image the positives) to this .npz; its path is `result["per_image"]`.

    Returns:
        (dict): The `METRIC_KEYS` numbers, `per_class` (`voc07_ap50`, `voc12_ap50`, `coco_ap50`, `coco_ap50_95`,
        `ultralytics_ap50`, `ultralytics_ap50_95`, `npos`, `difficult`, each by class name) and the settings used.
    """
    from ultralytics import YOLO

    from yolo_attn.integration.internals import check_dataset, image_suffixes, no_font_download

    # Everything that can be checked is checked before inference; Ultralytics' SyntaxError / TypeError for a bad
    # data YAML or checkpoint become ValueErrors naming the file (exit 2 through the CLI).
    if Path(data).is_dir():  # Ultralytics would look for a YAML inside and fail with an AssertionError
        raise IsADirectoryError(
            f"data {str(data)!r} is a folder; give its dataset YAML, e.g. data={Path(data) / 'data.yaml'}"
        )
    try:
        dset = check_dataset(data)
    except (SyntaxError, TypeError, KeyError, AttributeError, AssertionError) as e:
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
    if per_image is not None:
        from yolo_attn.metrics.evidence import outcomes, save_per_image

        result["per_image"] = str(save_per_image(outcomes(dets, gt), per_image))
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
#: The `"unit"` entry `save_metrics` writes into every metrics.json: scores are stored as fractions, tables show %.
JSON_UNIT = "fraction of 1 (0.401 = 40.1%); null where undefined (see excluded_classes)"


def save_metrics(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write an `evaluate_model` / `score_detections` result as JSON, atomically (a temporary file renamed).

    The file starts with `"unit": JSON_UNIT`: scores are fractions of 1 (the table of `format_metrics` shows %);
    NaN (undefined, e.g. a class without ground truth) is written as null.
    """
    return write_json(path, {"unit": JSON_UNIT, **result})


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
