"""Prepare a Pascal VOC devkit (real or generated) for Ultralytics training and devkit-style scoring.

`prepare_voc(devkit, out)` reads `VOCdevkit/VOC<year>/{Annotations,JPEGImages,ImageSets/Main}` and writes::

    out/
      images/{train,val,test}/<year>_<id>.jpg   hard links to the devkit's JPEGs (else symlinks, else copies)
      labels/{train,val,test}/<year>_<id>.txt   YOLO labels "cls xc yc w h" (normalised), difficult objects dropped
      annotations/{train,val,test}.json         evaluation ground truth, COCO format, difficult objects KEPT
      data.yaml                                 Ultralytics dataset YAML with an absolute `path:` (use as data=...)
      prepared.json                             written last: settings, counts, skipped inputs (completion marker)

Split rule (default): every `test` set given goes to `val` and `test`; every other set goes to `train`. With no
`test` set, the `val` sets go to `val`/`test` instead. `splits=` overrides this. The defaults give the papers' setup:
train = VOC2007 trainval + VOC2012 trainval (16,551 images), val = test = VOC2007 test (4,952 images).

Box convention. The devkit's XML corners are 1-based inclusive pixel indices: `xmin..xmax` are the first and last
pixel columns of the object, so the box covers the continuous interval `[xmin - 1, xmax]` in 0-based pixel-edge
coordinates and is `xmax - xmin + 1` pixels wide (the devkit's "+1"). YOLO labels and the COCO `bbox` use those
continuous coordinates: `xc = (xmin - 1 + xmax) / 2 / W`, `w = (xmax - xmin + 1) / W`, COCO
`bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]`. `yolo_to_voc_box` inverts it exactly (to the pixel).
Ultralytics' own VOC.yaml uses `xc = (xmin + xmax) / 2 - 1`, `w = xmax - xmin` (pixel-centre coordinates): its
boxes are one pixel smaller and shifted by half a pixel.

Evaluation ground truth (`annotations/<split>.json`) is a COCO dataset dict: `images` (`id` from 1, `file_name` as in
`images/<split>`, `width`, `height`, `voc_year`, `voc_id`), `categories` (`id` = class index + 1, `name`) and
`annotations` (`bbox` as above, `area`, `difficult` and `truncated` flags as in the XML, and `iscrowd` = `ignore` =
`difficult`, so pycocotools treats difficult objects as ignore regions). `yolo_attn.metrics` reads this file.

Bad input (missing image or XML, unreadable or malformed XML, unreadable image, size mismatch between XML and image,
unknown class name, box outside the image, missing or empty set file) raises `BadVOCInput` naming the file; with
`skip_bad=True` the image (or set file) is skipped and reported instead. The devkit is only read. The result is
built in a hidden temporary sibling of `out` and renamed into place at the end, so an interrupted run never leaves
a dataset that looks complete, and re-running replaces a previous result with an identical one.

Examples:
    >>> from yolo_attn.data.voc import prepare_voc
    >>> res = prepare_voc("/data/VOCdevkit", "datasets/voc")  # 07+12 trainval -> train, 07 test -> val/test
    >>> res.yaml  # datasets/voc/data.yaml, usable as `yolo train data=...`
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yolo_attn.data._fs import swap_into_place
from yolo_attn.data.sample import sample_info

__all__ = [
    "DEFAULT_SETS",
    "PREPARED_MARKER",
    "SPLITS",
    "VOC_CLASSES",
    "BadVOCInput",
    "PrepareResult",
    "VOCObject",
    "ground_truth_path",
    "is_prepared",
    "parse_sets",
    "prepare_voc",
    "read_voc_xml",
    "voc_box_to_yolo",
    "yolo_to_voc_box",
]

#: The 20 Pascal VOC classes in the standard (devkit) order; label index = position.
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
#: The papers' sets: VOC2007 trainval + VOC2012 trainval for training, VOC2007 test for validation and test.
DEFAULT_SETS: tuple[tuple[str, str], ...] = (("2007", "trainval"), ("2012", "trainval"), ("2007", "test"))
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Written last into a prepared dataset; its presence means the dataset is complete.
PREPARED_MARKER = "prepared.json"
_FORMAT_VERSION = 1


class BadVOCInput(ValueError):
    """A devkit file that cannot be used; `path` names it and `reason` says why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class VOCObject:
    """One `<object>` of a VOC annotation: 1-based inclusive pixel corners (floats, as written) and flags."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool
    truncated: bool


@dataclass(frozen=True)
class VOCAnnotation:
    """A parsed VOC XML file; width/height are 0 when the XML has no usable `<size>`."""

    filename: str
    width: int
    height: int
    objects: tuple[VOCObject, ...]


@dataclass
class PrepareResult:
    """What `prepare_voc` wrote: paths, per-split counts and the inputs it skipped (`skip_bad=True`)."""

    out: Path
    yaml: Path
    images: dict[str, int]
    objects: dict[str, int]  # training-label boxes per split (difficult dropped)
    difficult: dict[str, int]  # difficult objects per split (kept in annotations/<split>.json only)
    skipped: list[BadVOCInput] = field(default_factory=list)
    link_modes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [f"Prepared {self.out}"]
        for s in SPLITS:
            lines.append(f"  {s:5s}: {self.images[s]} images, {self.objects[s]} boxes, {self.difficult[s]} difficult")
        lines.append(f"  images linked: {', '.join(f'{k} {v}' for k, v in sorted(self.link_modes.items()))}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} bad input(s):")
            lines += [f"    {e}" for e in self.skipped[:50]]
            if len(self.skipped) > 50:
                lines.append(f"    ... and {len(self.skipped) - 50} more (see {self.out / PREPARED_MARKER})")
        lines.append(f"  dataset YAML: {self.yaml}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------- boxes
def voc_box_to_yolo(
    xmin: float, ymin: float, xmax: float, ymax: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """1-based inclusive VOC corners -> normalised YOLO (xc, yc, w, h) in pixel-edge coordinates."""
    x0, y0, x1, y1 = xmin - 1, ymin - 1, xmax, ymax
    return (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height


def yolo_to_voc_box(xc: float, yc: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Normalised YOLO (xc, yc, w, h) -> 1-based inclusive VOC corners, rounded to whole pixels."""
    x0, x1 = (xc - w / 2) * width, (xc + w / 2) * width
    y0, y1 = (yc - h / 2) * height, (yc + h / 2) * height
    return round(x0) + 1, round(y0) + 1, round(x1), round(y1)


# ----------------------------------------------------------------------------------------------------- parsing
def parse_sets(spec: str | Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
    """Parse `"2007:trainval,2012:trainval,2007:test"` (or a list of such items or tuples) to (year, set) tuples."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
            year, sep, name = item.partition(":")
            if not sep or not year.strip() or not name.strip():
                raise ValueError(f"bad VOC set {item!r}: expected YEAR:SET, e.g. 2007:trainval")
            out.append((year.strip(), name.strip()))
        else:
            year, name = item
            out.append((str(year), str(name)))
    if not out:
        raise ValueError("no VOC sets given")
    return out


def _text(node: ET.Element, tag: str, path: Path, what: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise BadVOCInput(path, f"malformed annotation: {what} has no <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path, what: str) -> float:
    text = _text(node, tag, path, what)
    try:
        return float(text)
    except ValueError:
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} is {text!r}, not a number") from None


def read_voc_xml(path: str | Path) -> VOCAnnotation:
    """Parse one VOC annotation file; raise `BadVOCInput` naming it when it is missing, unreadable or malformed."""
    path = Path(path)
    if not path.is_file():
        raise BadVOCInput(path, "annotation file missing")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise BadVOCInput(path, f"malformed XML ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadVOCInput(path, f"unreadable annotation file ({e})") from None
    if root.tag != "annotation":
        raise BadVOCInput(path, f"malformed annotation: root element is <{root.tag}>, not <annotation>")
    width = height = 0
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        width = int(_number(size, "width", path, "<size>"))
        height = int(_number(size, "height", path, "<size>"))
    objects = []
    for k, obj in enumerate(root.findall("object")):
        what = f"object {k}"
        name = _text(obj, "name", path, what)
        what = f"object {k} ({name})"
        box = obj.find("bndbox")
        if box is None:
            raise BadVOCInput(path, f"malformed annotation: {what} has no <bndbox>")
        coords = [_number(box, t, path, what) for t in ("xmin", "ymin", "xmax", "ymax")]
        flags = []
        for tag in ("difficult", "truncated"):
            node = obj.find(tag)
            text = node.text.strip() if node is not None and node.text else "0"
            if text not in ("0", "1"):
                raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} is {text!r}, not 0 or 1")
            flags.append(text == "1")
        objects.append(VOCObject(name, *coords, difficult=flags[0], truncated=flags[1]))
    filename = root.findtext("filename", default="") or ""
    return VOCAnnotation(filename.strip(), width, height, tuple(objects))


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    if not path.is_file():
        raise BadVOCInput(path, "image file missing")
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as e:  # PIL raises several types for broken files
        raise BadVOCInput(path, f"unreadable image ({type(e).__name__}: {e})") from None


@dataclass(frozen=True)
class _Record:
    year: str
    image_id: str
    image: Path
    width: int
    height: int
    objects: tuple[tuple[int, VOCObject], ...]  # (class index, object)

    @property
    def stem(self) -> str:
        return f"{self.year}_{self.image_id}"


def _load_record(voc_dir: Path, year: str, image_id: str, class_index: Mapping[str, int]) -> _Record:
    xml = voc_dir / "Annotations" / f"{image_id}.xml"
    img = voc_dir / "JPEGImages" / f"{image_id}.jpg"
    ann = read_voc_xml(xml)
    w, h = _image_size(img)
    if (ann.width, ann.height) not in ((0, 0), (w, h)):
        raise BadVOCInput(xml, f"size {ann.width}x{ann.height} in the annotation differs from the image's {w}x{h}")
    objects = []
    for k, o in enumerate(ann.objects):
        if o.name not in class_index:
            known = ", ".join(class_index)
            raise BadVOCInput(xml, f"unknown class name {o.name!r} in object {k} (classes: {known})")
        if not (1 <= o.xmin <= o.xmax <= w and 1 <= o.ymin <= o.ymax <= h):
            box = f"[{o.xmin:g}, {o.ymin:g}, {o.xmax:g}, {o.ymax:g}]"
            raise BadVOCInput(
                xml,
                f"box {box} of object {k} ({o.name}) is outside the {w}x{h} image "
                "(corners are 1-based: 1 <= xmin <= xmax <= width)",
            )
        objects.append((class_index[o.name], o))
    return _Record(year, image_id, img, w, h, tuple(objects))


def _read_set(voc_dir: Path, name: str) -> list[str]:
    path = voc_dir / "ImageSets" / "Main" / f"{name}.txt"
    if not path.is_file():
        raise BadVOCInput(path, "set file missing")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadVOCInput(path, f"unreadable set file ({e})") from None
    ids = [line.split()[0] for line in lines if line.strip()]
    if not ids:
        raise BadVOCInput(path, "set file is empty")
    return ids


# ----------------------------------------------------------------------------------------------------- writing
def _link(src: Path, dst: Path) -> str:
    """Hard link, else symlink, else copy; never move. Returns the mode used."""
    try:
        os.link(src, dst)
        return "hardlink"
    except OSError:
        pass
    try:
        os.symlink(src.resolve(), dst)
        return "symlink"
    except OSError:
        pass
    shutil.copyfile(src, dst)
    return "copy"


def _label_text(rec: _Record) -> str:
    lines = []
    for c, o in rec.objects:
        if o.difficult:
            continue
        xc, yc, w, h = voc_box_to_yolo(o.xmin, o.ymin, o.xmax, o.ymax, rec.width, rec.height)
        lines.append(f"{c} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def _coco_json(records: Sequence[_Record], classes: Sequence[str], split: str) -> dict:
    images, annotations = [], []
    for i, rec in enumerate(records, 1):
        images.append(
            {
                "id": i,
                "file_name": f"{rec.stem}.jpg",
                "width": rec.width,
                "height": rec.height,
                "voc_year": rec.year,
                "voc_id": rec.image_id,
            }
        )
        for c, o in rec.objects:
            w, h = o.xmax - o.xmin + 1, o.ymax - o.ymin + 1
            d = int(o.difficult)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": c + 1,
                    "bbox": [o.xmin - 1, o.ymin - 1, w, h],
                    "area": w * h,
                    "iscrowd": d,
                    "ignore": d,
                    "difficult": d,
                    "truncated": int(o.truncated),
                }
            )
    return {
        "info": {
            "description": f"Pascal VOC ground truth, split {split}, written by yolo_attn.data.voc",
            "bbox": "[x, y, w, h] in pixel-edge coordinates: [xmin-1, ymin-1, xmax-xmin+1, ymax-ymin+1]",
            "difficult": "kept, flagged difficult=1 and iscrowd=ignore=1 (ignored by the VOC metric)",
        },
        "images": images,
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(classes)],
        "annotations": annotations,
    }


def _yaml_text(out: Path, classes: Sequence[str], devkit: Path, splits: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    src = "; ".join(f"{s} = {' + '.join(f'{y}:{n}' for y, n in splits[s])}" for s in SPLITS)
    names = "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(classes))
    return (
        "# Pascal VOC in the Ultralytics layout, written by `yolo-attn voc prepare` (yolo_attn.data.voc.prepare_voc).\n"
        f"# Devkit: {devkit}\n"
        f"# Sets: {src}\n"
        "# Training labels drop difficult objects; annotations/<split>.json keeps them for the VOC devkit metric\n"
        "# (`yolo-attn score`). Nothing here downloads anything.\n"
        f"path: {json.dumps(str(out))}\n"
        "train: images/train\n"
        "val: images/val\n"
        "test: images/test\n"
        f"nc: {len(classes)}\n"
        f"names:\n{names}"
    )


def is_prepared(out: str | Path) -> bool:
    """True when `out` holds a complete dataset written by `prepare_voc` (its completion marker is present)."""
    out = Path(out)
    return (out / PREPARED_MARKER).is_file() and (out / "data.yaml").is_file()


def ground_truth_path(out: str | Path, split: str = "test") -> Path:
    """The evaluation ground truth (COCO JSON, difficult objects kept) of a prepared dataset's split."""
    return Path(out) / "annotations" / f"{split}.json"


def _default_splits(sets: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    held = [s for s in sets if s[1] == "test"] or [s for s in sets if s[1] == "val"]
    train = [s for s in sets if s not in held]
    return {"train": train, "val": held, "test": held}


def _resolve_devkit(devkit: Path) -> Path:
    if not devkit.is_dir():
        raise FileNotFoundError(f"VOC devkit folder not found: {devkit}")
    if not any(devkit.glob("VOC*")) and (devkit / "VOCdevkit").is_dir():
        devkit = devkit / "VOCdevkit"
    if not any(p.is_dir() for p in devkit.glob("VOC*")):
        raise FileNotFoundError(f"{devkit} holds no VOC<year> folder; point --devkit at the VOCdevkit folder")
    return devkit


def _clean_stale(out: Path) -> None:
    """Remove temporary folders left by killed runs (their process is gone)."""
    for p in out.parent.glob(f".{out.name}.partial-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except (ValueError, ProcessLookupError):
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def prepare_voc(
    devkit: str | Path,
    out: str | Path,
    sets: str | Sequence[str | tuple[str, str]] | None = None,
    classes: Sequence[str] | None = None,
    skip_bad: bool = False,
    splits: Mapping[str, str | Sequence[str | tuple[str, str]]] | None = None,
    log: Callable[[str], None] | None = print,
) -> PrepareResult:
    """Convert a VOC devkit to the Ultralytics layout plus devkit-metric ground truth; see the module docstring.

    Args:
        devkit (str | Path): The `VOCdevkit` folder (or its parent).
        out (str | Path): Output folder. Replaced atomically if it holds an earlier `prepare_voc` result; any other
            non-empty folder is refused.
        sets (str | Sequence | None): `"2007:trainval,2012:trainval,2007:test"` or a list of `(year, set)`. None:
            the generator's sets for a generated devkit (`yolo_attn.data.sample`), else `DEFAULT_SETS`.
        classes (Sequence[str] | None): Class names in label order. None: the generator's classes for a generated
            devkit, else `VOC_CLASSES`.
        skip_bad (bool): Skip (and report) bad images and set files instead of raising `BadVOCInput`.
        splits (Mapping | None): Explicit `{"train": sets, "val": sets, "test": sets}`; overrides the split rule.
        log (Callable | None): Where the summary goes (default `print`); None for silence.

    Returns:
        (PrepareResult): Paths, counts and the skipped inputs.

    Raises:
        BadVOCInput: A bad devkit file (without `skip_bad`), or no usable image left in a split.
    """
    devkit = _resolve_devkit(Path(devkit).resolve())
    out = Path(out).resolve()
    if out == devkit or devkit in out.parents:
        raise ValueError(f"output folder {out} is inside the devkit {devkit}; the devkit is read-only")
    info = sample_info(devkit)
    if classes is None:
        classes = tuple(info["classes"]) if info else VOC_CLASSES
    classes = tuple(classes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"class names must be unique and non-empty, got {classes}")
    if splits is not None:
        split_sets = {s: parse_sets(splits[s]) for s in SPLITS if s in splits}
        missing = [s for s in SPLITS if not split_sets.get(s)]
        if missing:
            raise ValueError(f"splits= must give sets for {', '.join(SPLITS)}; missing {', '.join(missing)}")
    else:
        if sets is None:
            sets = info["sets"] if info else DEFAULT_SETS
        split_sets = _default_splits(parse_sets(sets))
        if not split_sets["train"] or not split_sets["val"]:
            raise ValueError(f"sets {sets!r} give no training set or no test/val set; e.g. 2007:trainval,2007:test")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_prepared(out):
        raise FileExistsError(
            f"{out} exists, is not empty and is not a dataset written by `voc prepare`; "
            "choose another output folder or remove it"
        )

    class_index = {n: i for i, n in enumerate(classes)}
    skipped: list[BadVOCInput] = []
    records: dict[tuple[str, str], _Record | None] = {}  # None: bad, skipped

    def guarded(fn, *args):
        try:
            return fn(*args)
        except BadVOCInput as e:
            if not skip_bad:
                raise
            skipped.append(e)
            return None

    split_records: dict[str, list[_Record]] = {}
    for split in SPLITS:
        chosen: list[_Record] = []
        seen: set[tuple[str, str]] = set()
        for year, name in split_sets[split]:
            voc_dir = devkit / f"VOC{year}"
            ids = guarded(_read_set, voc_dir, name) or []
            for image_id in ids:
                key = (year, image_id)
                if key in seen:
                    continue
                seen.add(key)
                if key not in records:
                    records[key] = guarded(_load_record, voc_dir, year, image_id, class_index)
                if records[key] is not None:
                    chosen.append(records[key])
        if not chosen:
            raise BadVOCInput(devkit, f"no usable image for split {split!r} (sets {split_sets[split]})")
        split_records[split] = chosen

    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    modes: Counter[str] = Counter()
    counts = {s: 0 for s in SPLITS}
    difficult = {s: 0 for s in SPLITS}
    try:
        for split in SPLITS:
            img_dir, lbl_dir = tmp / "images" / split, tmp / "labels" / split
            img_dir.mkdir(parents=True)
            lbl_dir.mkdir(parents=True)
            for rec in split_records[split]:
                modes[_link(rec.image, img_dir / f"{rec.stem}.jpg")] += 1
                (lbl_dir / f"{rec.stem}.txt").write_text(_label_text(rec))
                counts[split] += sum(not o.difficult for _, o in rec.objects)
                difficult[split] += sum(o.difficult for _, o in rec.objects)
            (tmp / "annotations").mkdir(exist_ok=True)
            gt = _coco_json(split_records[split], classes, split)
            (tmp / "annotations" / f"{split}.json").write_text(json.dumps(gt, separators=(",", ":")) + "\n")
        (tmp / "data.yaml").write_text(_yaml_text(out, classes, devkit, split_sets))
        marker = {
            "writer": "yolo_attn.data.voc.prepare_voc",
            "format_version": _FORMAT_VERSION,
            "devkit": str(devkit),
            "splits": {s: [f"{y}:{n}" for y, n in split_sets[s]] for s in SPLITS},
            "classes": list(classes),
            "images": {s: len(split_records[s]) for s in SPLITS},
            "boxes": counts,
            "difficult": difficult,
            "skip_bad": skip_bad,
            "skipped": [{"path": str(e.path), "reason": e.reason} for e in skipped],
        }
        (tmp / PREPARED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = PrepareResult(
        out, out / "data.yaml", {s: len(split_records[s]) for s in SPLITS}, counts, difficult, skipped, dict(modes)
    )
    if log is not None:
        log(result.summary())
    return result
