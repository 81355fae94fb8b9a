"""Prepare a Pascal VOC devkit (real or generated) for Ultralytics training and devkit-style scoring.

`prepare_voc(devkit, out)` reads `VOCdevkit/VOC<year>/{Annotations,JPEGImages,ImageSets/Main}` and writes::

    out/
      images/{train,val,test}/<year>_<id>.jpg   hard links to the devkit's JPEGs (else symlinks, else copies)
      labels/{train,val,test}/<year>_<id>.txt   YOLO labels "cls xc yc w h" (normalised), difficult objects dropped
      annotations/{train,val,test}.json         evaluation ground truth, COCO format, difficult objects KEPT
      data.yaml                                 Ultralytics dataset YAML with an absolute `path:` (use as data=...)
      prepared.json                             written last: the completion record (settings, counts, skipped
                                                inputs, and every file and folder written, see "Ownership")

Split rule (default): every `test` set given goes to `val` and `test`; every other set goes to `train`. With no
`test` set, the `val` sets go to `val`/`test` instead. `splits=` overrides this. The defaults give the papers' setup:
train = VOC2007 trainval + VOC2012 trainval (16,551 images), val = test = VOC2007 test (4,952 images). An image
(year and id) that two sets put in `train` and in `val`/`test` is refused (`ValueError` naming the ids): the test
split never leaks into training. An image listed by two sets of the same split is used once (counted in the summary).

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

Bad input raises `BadVOCInput` (a `ValueError`) naming the file and the value; with `skip_bad=True` the image (or
the set file, or the set-file line) is skipped and reported instead:

- annotation XML: missing, not a regular file (a FIFO or device is never opened), unreadable, larger than 16 MiB,
  not well-formed, a DOCTYPE (DTDs and entities are refused, never expanded: the parser is defusedxml's with DOCTYPE
  declarations forbidden), root not `<annotation>`, a repeated or nested field, a number that is not a plain finite
  decimal (`nan`, `inf`, `1e999`, `0x10`, `1_0` are refused), a `<size>` without `<width>`/`<height>` or with a
  non-integer or negative value (`160.5` is refused, `160.0` is 160), a `<difficult>`/`<truncated>` other than 0/1
  (missing or empty means 0), an object without `<name>` or `<bndbox>`, an unknown class name, `xmin > xmax`, a box
  outside the image (`1 <= xmin <= xmax <= width`). A `<size>` of 0x0 or no `<size>` at all means "take the size from
  the JPEG" (some converters write that).
- image: missing, not a regular file, not a JPEG (a PNG renamed `.jpg` too), not fully decodable (every image is
  decoded to the end, so a truncated JPEG is refused even when its header reads), an EXIF orientation other than 1
  (loaders rotate it, the annotation does not), a size different from the XML's.
- set file (`ImageSets/Main/<set>.txt`, UTF-8, a BOM and CRLF are fine): missing, not a regular file, unreadable,
  larger than 64 MiB, empty, a line with more than one field (per-class lists like `car_trainval.txt` are not image
  sets), an id that is not a plain file name (letters, digits, `_ . -`; no path separators), an id listed twice. A
  missing `VOC<year>` folder is named with the years found.
- a linked input (a symlink in the devkit) that points into the output folder.

Ownership. The devkit is only read: images are linked (a hard link is a second name for the same file; nothing is
ever opened for writing outside the new folder). The result is built in a hidden sibling `.<out>.partial-<token>`
and renamed into place at the end, so an interrupted run never leaves a dataset that looks complete. `prepared.json`
names its writer, format version and a random token and lists every file written (size and SHA-256, or inode and
mtime for a hard link, or the target for a symlink) and every folder. An existing `out` is replaced only when it is
empty or that record proves it is an unchanged earlier result: a folder with files the record does not list (for
instance files a user added) or with changed files is refused with `FileExistsError` naming them, and nothing is
touched; the old result is then deleted entry by entry, only what it lists. One exception, by design: the caches
Ultralytics writes into a dataset it trains on (`labels/<split>.cache`, and `images/<split>/*.npy` with
`cache=disk`; NumPy files at exactly those paths) are derived from it and would be stale: they go with it. `--out`
and `--devkit` (and the devkit's `Annotations`/`JPEGImages`/`ImageSets/Main` folders, after following symlinks) must
not contain each other. A symlinked `--out` is followed: the real folder is the output. Leftovers of killed runs
next to `out` are removed only when provably ours (see `yolo_attn.data._fs`); anything else is left and reported.

Examples:
    >>> from yolo_attn.data.voc import prepare_voc
    >>> res = prepare_voc("/data/VOCdevkit", "datasets/voc")  # 07+12 trainval -> train, 07 test -> val/test
    >>> res.yaml  # datasets/voc/data.yaml, usable as `yolo train data=...`
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from yolo_attn.data._fs import (
    NotOurs,
    Owner,
    TreeWriter,
    clean_stale,
    discard_partial,
    new_partial,
    read_record,
    refusal,
    swap_into_place,
)
from yolo_attn.data.devkit import BadVOCInput, parse_sets, sample_info

__all__ = [
    "DEFAULT_SETS",
    "PREPARED_MARKER",
    "PREPARE_OWNER",
    "SPLITS",
    "VOC_CLASSES",
    "BadVOCInput",
    "PrepareResult",
    "VOCAnnotation",
    "VOCObject",
    "ground_truth_path",
    "is_prepared",
    "parse_sets",
    "parse_voc_xml",
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
#: Written last into a prepared dataset: the completion record, listing every file written.
PREPARED_MARKER = "prepared.json"
_FORMAT_VERSION = 2  # 2: the record lists every file written (1 did not, so a version-1 dataset is never replaced)
_MAX_XML_BYTES = 16 << 20
_MAX_SET_BYTES = 64 << 20
_ID = re.compile(r"\w[\w.-]*")  # a plain file name: no separators, no leading dot
_MAX_ID = 200
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OUT_FILE = re.compile(r"images/(train|val|test)/[^/]+\.jpg|labels/(train|val|test)/[^/]+\.txt|annotations/\w+\.json")
_OUT_DIRS = frozenset({"images", "labels", "annotations"} | {f"{a}/{s}" for a in ("images", "labels") for s in SPLITS})


def _prepare_layout(rel: str, is_dir: bool) -> bool:
    return rel in _OUT_DIRS if is_dir else rel == "data.yaml" or _OUT_FILE.fullmatch(rel) is not None


_ULTRALYTICS_CACHE = re.compile(r"labels/(train|val|test)\.cache|images/(train|val|test)/[^/]+\.npy")


def _ultralytics_cache(rel: str, path: Path) -> bool:
    """A label cache (`labels/<split>.cache`) or `cache=disk` image (`images/<split>/*.npy`) Ultralytics wrote.

    Both are NumPy files at those exact paths; they are derived from the dataset and stale once it is rewritten.
    """
    if not _ULTRALYTICS_CACHE.fullmatch(rel) or path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return False


#: `prepare_voc` as an owner of folders (`yolo_attn.data._fs`): what it may replace and clean up.
PREPARE_OWNER = Owner(
    "yolo_attn.data.voc.prepare_voc",
    PREPARED_MARKER,
    _FORMAT_VERSION,
    "`yolo-attn voc prepare`",
    _prepare_layout,
    _ultralytics_cache,
)


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
    """A parsed VOC XML file; width/height are 0 when the XML has no `<size>` (or a 0x0 one)."""

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
    repeated: dict[str, int] = field(default_factory=dict)  # per split: images listed by two of its sets, used once

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [f"Prepared {self.out}"]
        for s in SPLITS:
            line = f"  {s:5s}: {self.images[s]} images, {self.objects[s]} boxes, {self.difficult[s]} difficult"
            if self.repeated.get(s):
                line += f" ({self.repeated[s]} listed by two of its sets, used once)"
            lines.append(line)
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


# ----------------------------------------------------------------------------------------------------- sets
def _read_set(voc_dir: Path, name: str) -> tuple[list[str], list[BadVOCInput]]:
    """The image ids of a set file, and the errors of single lines (each skippable alone).

    Raises `BadVOCInput` for problems of the whole file (missing, unreadable, empty).
    """
    path = voc_dir / "ImageSets" / "Main" / f"{name}.txt"
    if not voc_dir.is_dir():
        found = [p.name for p in _year_dirs(voc_dir.parent)]
        raise BadVOCInput(voc_dir, f"no such folder in the devkit (VOC folders found: {', '.join(found) or 'none'})")
    if not path.exists():
        where = "" if path.parent.is_dir() else " (there is no ImageSets/Main folder)"
        raise BadVOCInput(path, f"set file missing{where}")
    if not path.is_file():
        raise BadVOCInput(path, "set file is not a regular file")
    try:
        size = path.stat().st_size
        if size > _MAX_SET_BYTES:
            raise BadVOCInput(path, f"set file is {size} bytes, more than any VOC set file (limit 64 MiB)")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise BadVOCInput(path, f"unreadable set file ({e})") from None
    except UnicodeDecodeError as e:
        raise BadVOCInput(path, f"set file is not UTF-8 text ({e})") from None
    ids: list[str] = []
    errors: list[BadVOCInput] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 1:
            errors.append(
                BadVOCInput(
                    path,
                    f"line {n} is {line.strip()!r}: {len(fields)} fields, expected one image id per line "
                    "(per-class lists such as car_trainval.txt are not image sets)",
                )
            )
            continue
        image_id = fields[0]
        if len(image_id) > _MAX_ID or not _ID.fullmatch(image_id):
            errors.append(
                BadVOCInput(
                    path,
                    f"line {n}: {image_id[:80]!r} is not an image id (a plain file name without extension: letters, "
                    f"digits, '_', '.', '-'; no path separators or leading dot; at most {_MAX_ID} characters)",
                )
            )
        elif image_id in first_line:
            errors.append(
                BadVOCInput(
                    path, f"line {n}: image id {image_id!r} is listed twice (lines {first_line[image_id]} and {n})"
                )
            )
        else:
            first_line[image_id] = n
            ids.append(image_id)
    if not ids and not errors:
        raise BadVOCInput(path, "set file is empty")
    return ids, errors


# ----------------------------------------------------------------------------------------------------- XML
def _parse_xml_safely(data: bytes) -> ET.Element:
    """Parse with defusedxml, refusing any DOCTYPE (so no DTD, no entity declaration, nothing is ever expanded)."""
    try:
        return DET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:  # DTDForbidden, or an entity definition that slipped past it
        raise ValueError("a DOCTYPE declaration (DTDs and entities are not allowed in VOC annotations)") from None
    except ET.ParseError as e:
        raise ValueError(f"malformed XML ({e})") from None
    except (LookupError, ValueError) as e:  # an encoding pyexpat cannot use (unknown to Python, or multi-byte)
        raise ValueError(f"malformed XML ({type(e).__name__}: {e})") from None


def _one(node: ET.Element, tag: str, path: Path, what: str, required: bool = True) -> ET.Element | None:
    found = [c for c in node if c.tag == tag]
    if len(found) > 1:
        raise BadVOCInput(path, f"malformed annotation: {what} has {len(found)} <{tag}> elements, expected one")
    if not found:
        if required:
            raise BadVOCInput(path, f"malformed annotation: {what} has no <{tag}>")
        return None
    return found[0]


def _leaf(node: ET.Element, tag: str, path: Path, what: str, required: bool = True) -> str | None:
    """The stripped text of the single `<tag>` child of `node` (None if optional and absent)."""
    el = _one(node, tag, path, what, required)
    if el is None:
        return None
    if len(el):
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} contains elements, expected text")
    text = (el.text or "").strip()
    if required and not text:
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} is empty")
    return text


def _number(node: ET.Element, tag: str, path: Path, what: str) -> float:
    text = _leaf(node, tag, path, what)
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} is {text[:40]!r}, not a finite number")
    return value


def _pixels(node: ET.Element, tag: str, path: Path) -> int:
    value = _number(node, tag, path, "<size>")
    if value != int(value) or value < 0:
        text = _leaf(node, tag, path, "<size>")
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of <size> is {text!r}, not a whole number of pixels")
    return int(value)


def _flag(node: ET.Element, tag: str, path: Path, what: str) -> bool:
    text = _leaf(node, tag, path, what, required=False) or "0"
    if text not in ("0", "1"):
        raise BadVOCInput(path, f"malformed annotation: <{tag}> of {what} is {text[:40]!r}, not 0 or 1")
    return text == "1"


def parse_voc_xml(data: bytes, path: str | Path = "<annotation>") -> VOCAnnotation:
    """Parse the bytes of one VOC annotation; raise `BadVOCInput` naming `path` when they are not a valid one.

    Field rules are in the module docstring; every other element (folder, source, pose, occluded, part, ...) is
    ignored.
    """
    path = Path(path)
    try:
        root = _parse_xml_safely(data)
    except ValueError as e:
        raise BadVOCInput(path, str(e)) from None
    if root.tag != "annotation":
        raise BadVOCInput(path, f"malformed annotation: root element is <{root.tag[:40]}>, not <annotation>")
    width = height = 0
    size = _one(root, "size", path, "<annotation>", required=False)
    if size is not None:
        width, height = _pixels(size, "width", path), _pixels(size, "height", path)
    objects = []
    for k, obj in enumerate(c for c in root if c.tag == "object"):
        name = _leaf(obj, "name", path, f"object {k}")
        what = f"object {k} ({name[:40]})"
        box = _one(obj, "bndbox", path, what)
        coords = [_number(box, t, path, what) for t in ("xmin", "ymin", "xmax", "ymax")]
        difficult, truncated = _flag(obj, "difficult", path, what), _flag(obj, "truncated", path, what)
        objects.append(VOCObject(name, *coords, difficult=difficult, truncated=truncated))
    filename = (root.findtext("filename") or "").strip()  # informational only: never checked
    return VOCAnnotation(filename, width, height, tuple(objects))


def read_voc_xml(path: str | Path) -> VOCAnnotation:
    """Parse one VOC annotation file; raise `BadVOCInput` naming it when it is missing, unreadable or malformed."""
    path = Path(path)
    if not path.exists():
        raise BadVOCInput(path, "annotation file missing")
    if not path.is_file():
        raise BadVOCInput(path, "annotation file is not a regular file")
    try:
        size = path.stat().st_size
        if size > _MAX_XML_BYTES:
            raise BadVOCInput(path, f"annotation file is {size} bytes, more than any VOC annotation (limit 16 MiB)")
        data = path.read_bytes()
    except OSError as e:
        raise BadVOCInput(path, f"unreadable annotation file ({e})") from None
    return parse_voc_xml(data, path)


# ----------------------------------------------------------------------------------------------------- images
@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Make PIL refuse truncated images while inside (some libraries switch that check off globally)."""
    from PIL import ImageFile

    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height of a JPEG that decodes completely; `BadVOCInput` otherwise."""
    # PIL's JPEG reader directly, not Image.open: Ultralytics replaces Image.open with one that tries to install
    # a HEIF plugin (pip) when a file is not identified.
    from PIL import Image
    from PIL.JpegImagePlugin import JpegImageFile

    if not path.exists():
        raise BadVOCInput(path, "image file missing")
    if not path.is_file():
        raise BadVOCInput(path, "image file is not a regular file")
    try:
        with JpegImageFile(path) as im:
            size = im.size
            if size[0] * size[1] > 2 * (Image.MAX_IMAGE_PIXELS or 1 << 62):
                raise BadVOCInput(
                    path, f"image is {size[0]}x{size[1]} pixels, more than PIL's decompression-bomb limit"
                )
            orientation = im.getexif().get(0x0112, 1)
            # Decode every byte (a truncated file fails here even when its header reads). JPEG's DCT scaling
            # still reads all entropy-coded data but skips most of the arithmetic.
            im.draft(None, (max(1, size[0] // 8), max(1, size[1] // 8)))
            im.load()
    except BadVOCInput:
        raise
    except SyntaxError as e:  # PIL's word for "not this format"
        raise BadVOCInput(path, f"not a JPEG file ({e}); VOC images are JPEGs") from None
    except Exception as e:  # PIL raises several types for broken files
        raise BadVOCInput(path, f"unreadable image ({type(e).__name__}: {e})") from None
    if orientation != 1:
        raise BadVOCInput(
            path,
            f"EXIF orientation is {orientation!r}, not 1: image loaders rotate or mirror it but VOC annotations "
            "refer to the stored pixels; remove the orientation tag (or apply it and fix the annotation)",
        )
    return size


# ----------------------------------------------------------------------------------------------------- records
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _load_record(voc_dir: Path, year: str, image_id: str, class_index: Mapping[str, int], out: Path) -> _Record:
    xml = voc_dir / "Annotations" / f"{image_id}.xml"
    img = voc_dir / "JPEGImages" / f"{image_id}.jpg"
    for p in (xml, img):
        if p.is_symlink() and _inside(p.resolve(), out):
            raise BadVOCInput(p, f"is a link into the output folder {out}; replacing the output would remove it")
    ann = read_voc_xml(xml)
    w, h = _image_size(img)
    if (ann.width, ann.height) not in ((0, 0), (w, h)):
        raise BadVOCInput(xml, f"size {ann.width}x{ann.height} in the annotation differs from the image's {w}x{h}")
    objects = []
    for k, o in enumerate(ann.objects):
        if o.name not in class_index:
            known = ", ".join(class_index)
            raise BadVOCInput(xml, f"unknown class name {o.name[:40]!r} in object {k} (classes: {known})")
        box = f"[{o.xmin:g}, {o.ymin:g}, {o.xmax:g}, {o.ymax:g}]"
        if o.xmin > o.xmax or o.ymin > o.ymax:
            raise BadVOCInput(xml, f"box {box} of object {k} ({o.name}) has xmin > xmax or ymin > ymax")
        if not (1 <= o.xmin and o.xmax <= w and 1 <= o.ymin and o.ymax <= h):
            raise BadVOCInput(
                xml,
                f"box {box} of object {k} ({o.name}) is outside the {w}x{h} image "
                "(corners are 1-based: 1 <= xmin <= xmax <= width)",
            )
        objects.append((class_index[o.name], o))
    return _Record(year, image_id, img, w, h, tuple(objects))


def _load_all(
    keys: Sequence[tuple[str, str]], devkit: Path, class_index: Mapping[str, int], out: Path
) -> list[_Record | BadVOCInput]:
    """Load every (year, id) in order, decoding images on a few threads (PIL releases the GIL while decoding)."""

    def load(key: tuple[str, str]) -> _Record | BadVOCInput:
        try:
            return _load_record(devkit / f"VOC{key[0]}", key[0], key[1], class_index, out)
        except BadVOCInput as e:
            return e

    workers = max(1, min(8, os.cpu_count() or 1, len(keys) // 64))
    with _strict_decoding():
        if workers == 1:
            return [load(k) for k in keys]
        pool = ThreadPoolExecutor(workers, thread_name_prefix="voc-prepare")
        try:
            return list(pool.map(load, keys))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------------------------------- writing
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
        f"# Devkit: {json.dumps(str(devkit))}\n"  # quoted: a newline in a path cannot end the comment
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
    """True when `out` holds a complete dataset written by `prepare_voc` (a valid completion record and data.yaml).

    This reads the record only; `prepare_voc` checks every listed file before it replaces a folder.
    """
    out = Path(out)
    try:
        read_record(out, PREPARE_OWNER)
    except (NotOurs, OSError):
        return False
    return (out / "data.yaml").is_file()


def ground_truth_path(out: str | Path, split: str = "test") -> Path:
    """The evaluation ground truth (COCO JSON, difficult objects kept) of a prepared dataset's split."""
    return Path(out) / "annotations" / f"{split}.json"


def _default_splits(sets: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    held = [s for s in sets if s[1] == "test"] or [s for s in sets if s[1] == "val"]
    train = [s for s in sets if s not in held]
    return {"train": train, "val": held, "test": held}


def _year_dirs(folder: Path) -> list[Path]:
    """The `VOC<year>` folders of a devkit: named VOC..., holding Annotations, JPEGImages or ImageSets."""
    return [
        p
        for p in sorted(folder.iterdir())
        if p.name.startswith("VOC")
        and p.is_dir()
        and any((p / sub).is_dir() for sub in ("Annotations", "JPEGImages", "ImageSets"))
    ]


def _resolve_devkit(devkit: Path) -> Path:
    if not devkit.exists():
        raise FileNotFoundError(f"VOC devkit folder not found: {devkit}")
    if not devkit.is_dir():
        raise NotADirectoryError(f"VOC devkit {devkit} is a file; give the VOCdevkit folder")
    if not _year_dirs(devkit) and (devkit / "VOCdevkit").is_dir():
        devkit = devkit / "VOCdevkit"
    if not _year_dirs(devkit):
        raise FileNotFoundError(
            f"{devkit} holds no VOC<year> folder (such as VOC2007 with Annotations, JPEGImages and ImageSets); "
            "point --devkit at the VOCdevkit folder"
        )
    return devkit


def _check_classes(classes) -> tuple[str, ...]:
    if isinstance(classes, str) or not isinstance(classes, Iterable):
        raise ValueError(f"classes must be a list of class names, got {classes!r}")
    classes = tuple(classes)
    bad = [c for c in classes if not isinstance(c, str) or not c or c.strip() != c or "\n" in c]
    if bad or not classes or len(set(classes)) != len(classes):
        raise ValueError(
            f"class names must be unique, non-empty strings without surrounding whitespace, got {classes!r}"
        )
    return classes


def _check_paths(devkit: Path, out: Path, years: Iterable[str]) -> None:
    """Refuse any overlap of the output folder with the devkit or the folders it reads (after symlinks)."""
    if _inside(out, devkit):
        raise ValueError(
            f"output folder {out} is inside the devkit {devkit}; the devkit is read only: choose another --out"
        )
    if _inside(devkit, out):
        raise ValueError(
            f"the devkit {devkit} is inside the output folder {out}; replacing the output could remove it: "
            "choose an --out that does not contain the devkit"
        )
    for year in sorted(set(years)):
        for sub in ("", "Annotations", "JPEGImages", "ImageSets/Main"):
            given = devkit / f"VOC{year}" / sub
            real = given.resolve()
            if _inside(real, out) or _inside(out, real):
                raise ValueError(
                    f"the devkit folder {given} is (through a symlink) {real}, which overlaps the output folder "
                    f"{out}; choose an --out apart from every devkit folder"
                )


def _check_out_path(out: Path) -> None:
    """Refuse, before any work, an output path that writing would fail on (or that Ultralytics could not read)."""
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"output folder {out!r} is not valid UTF-8; Ultralytics could not read its data.yaml"
        ) from None
    if len(os.fsencode(out.name)) > 200:  # its temporary sibling adds 42 bytes; names are limited to 255
        raise ValueError(f"output folder name {out.name[:40]!r}... is {len(os.fsencode(out.name))} bytes; at most 200")
    for parent in out.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise NotADirectoryError(f"output folder {out}: {parent} is a file, not a folder")
            break


def _leak_message(leak: Sequence[tuple[str, str]], split_sets: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    shown = ", ".join(f"{y}/{i}" for y, i in leak[:8]) + (f" (and {len(leak) - 8} more)" if len(leak) > 8 else "")
    fmt = {s: ",".join(f"{y}:{n}" for y, n in split_sets[s]) for s in SPLITS}
    return (
        f"{len(leak)} image(s) would be in the training split and in val/test: {shown}. The sets overlap "
        f"(train = {fmt['train']}; val = {fmt['val']}; test = {fmt['test']}); give disjoint sets, "
        "e.g. --sets 2007:trainval,2012:trainval,2007:test, so that test images never leak into training"
    )


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
        out (str | Path): Output folder. Replaced only if it is empty or provably an unchanged earlier
            `prepare_voc` result; anything else is refused, naming the foreign files.
        sets (str | Sequence | None): `"2007:trainval,2012:trainval,2007:test"` or a list of `(year, set)`. None:
            the generator's sets for a generated devkit (`yolo_attn.data.sample`), else `DEFAULT_SETS`.
        classes (Sequence[str] | None): Class names in label order. None: the generator's classes for a generated
            devkit, else `VOC_CLASSES`.
        skip_bad (bool): Skip (and report) bad images, set files and set-file lines instead of raising.
        splits (Mapping | None): Explicit `{"train": sets, "val": sets, "test": sets}`; overrides the split rule.
        log (Callable | None): Where the summary and warnings go (default `print`); None for silence (warnings then
            go to `warnings.warn`).

    Returns:
        (PrepareResult): Paths, counts and the skipped inputs.

    Raises:
        BadVOCInput: A bad devkit file (without `skip_bad`), a corrupt generated-devkit record, or no usable image
            left in a split. Nothing is written.
        ValueError: Bad arguments, overlapping train and val/test sets, or overlapping devkit and output folders.
        FileNotFoundError, NotADirectoryError: The devkit is missing or not a folder.
        FileExistsError: `out` exists and is not provably an unchanged earlier result (the message names the
            foreign or changed entries); it is left as it was.
        OSError: Writing failed (e.g. the disk is full); an earlier result in `out` is left as it was.
    """
    devkit = _resolve_devkit(Path(devkit).expanduser().resolve())
    out = Path(out).expanduser().resolve()
    _check_paths(devkit, out, ())
    _check_out_path(out)
    info = sample_info(devkit)
    classes = _check_classes(classes if classes is not None else (info["classes"] if info else VOC_CLASSES))
    split_sets = _split_sets(sets, splits, info)
    _check_paths(devkit, out, (y for s in SPLITS for y, _ in split_sets[s]))
    hint = "Choose another --out, or remove it yourself."
    why = refusal(out, PREPARE_OWNER, hint)
    if why is not None:
        raise FileExistsError(why)

    skipped: list[BadVOCInput] = []

    def bad(e: BadVOCInput) -> None:
        if not skip_bad:
            raise e
        skipped.append(e)

    split_keys, repeated = _split_keys(devkit, split_sets, bad)
    split_records = _split_records(devkit, out, classes, split_sets, split_keys, bad)

    def warn(msg: str) -> None:
        if log is not None:
            log(f"warning: {msg}")
        else:
            # 5 frames up: warn, clean_stale / swap_into_place, _write_prepared, prepare_voc, its caller
            warnings.warn(msg, stacklevel=5)

    meta = {"devkit": str(devkit), "repeated": repeated, "skip_bad": skip_bad}
    meta["skipped"] = [{"path": str(e.path), "reason": e.reason} for e in skipped]
    counts, difficult, modes = _write_prepared(out, devkit, classes, split_sets, split_records, meta, hint, warn)
    result = PrepareResult(
        out,
        out / "data.yaml",
        {s: len(split_records[s]) for s in SPLITS},
        counts,
        difficult,
        skipped,
        dict(modes),
        repeated,
    )
    if log is not None:
        log(result.summary())
    return result


def _split_sets(
    sets: str | Sequence[str | tuple[str, str]] | None,
    splits: Mapping[str, str | Sequence[str | tuple[str, str]]] | None,
    info: dict | None,
) -> dict[str, list[tuple[str, str]]]:
    """The (year, set) pairs of each split: ``splits`` as given, else the split rule applied to ``sets``."""
    if splits is not None:
        if not isinstance(splits, Mapping) or set(splits) - set(SPLITS):
            raise ValueError(f"splits= must be a mapping with the keys {', '.join(SPLITS)}, got {splits!r}")
        split_sets = {s: parse_sets(splits[s]) for s in SPLITS if s in splits}
        missing = [s for s in SPLITS if not split_sets.get(s)]
        if missing:
            raise ValueError(f"splits= must give sets for {', '.join(SPLITS)}; missing {', '.join(missing)}")
        return split_sets
    if sets is None:
        sets = info["sets"] if info else DEFAULT_SETS
    split_sets = _default_splits(parse_sets(sets))
    if not split_sets["train"] or not split_sets["val"]:
        raise ValueError(f"sets {sets!r} give no training set or no test/val set; e.g. 2007:trainval,2007:test")
    return split_sets


def _split_keys(
    devkit: Path, split_sets: dict[str, list[tuple[str, str]]], bad: Callable[[BadVOCInput], None]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, int]]:
    """Read the set files: the (year, id) keys of each split in order (repeats dropped and counted); a key in both
    train and val/test is refused."""
    set_ids: dict[tuple[str, str], list[str]] = {}
    for year, name in dict.fromkeys(s for split in SPLITS for s in split_sets[split]):
        try:
            ids, line_errors = _read_set(devkit / f"VOC{year}", name)
        except BadVOCInput as e:
            bad(e)
            ids, line_errors = [], []
        for e in line_errors:
            bad(e)
        set_ids[(year, name)] = ids
    split_keys: dict[str, list[tuple[str, str]]] = {}
    repeated: dict[str, int] = {}
    for split in SPLITS:
        keys = [(y, i) for y, n in split_sets[split] for i in set_ids[(y, n)]]
        split_keys[split] = list(dict.fromkeys(keys))
        repeated[split] = len(keys) - len(split_keys[split])
    held = set(split_keys["val"]) | set(split_keys["test"])
    leak = [k for k in split_keys["train"] if k in held]
    if leak:
        raise ValueError(_leak_message(leak, split_sets))
    return split_keys, repeated


def _split_records(
    devkit: Path,
    out: Path,
    classes: Sequence[str],
    split_sets: dict[str, list[tuple[str, str]]],
    split_keys: dict[str, list[tuple[str, str]]],
    bad: Callable[[BadVOCInput], None],
) -> dict[str, list[_Record]]:
    """Load and check every annotation and image (each decoded once); a split left without an image is refused."""
    unique = list(dict.fromkeys(k for s in SPLITS for k in split_keys[s]))
    loaded = dict(zip(unique, _load_all(unique, devkit, {n: i for i, n in enumerate(classes)}, out), strict=True))
    for key in unique:
        if isinstance(loaded[key], BadVOCInput):
            bad(loaded[key])
    split_records: dict[str, list[_Record]] = {}
    for split in SPLITS:
        chosen = [r for k in split_keys[split] if isinstance(r := loaded[k], _Record)]
        if not chosen:
            raise BadVOCInput(devkit, f"no usable image for split {split!r} (sets {split_sets[split]})")
        split_records[split] = chosen
    return split_records


def _write_prepared(
    out: Path,
    devkit: Path,
    classes: Sequence[str],
    split_sets: dict[str, list[tuple[str, str]]],
    split_records: dict[str, list[_Record]],
    meta: dict,
    hint: str,
    warn: Callable[[str], None],
) -> tuple[dict[str, int], dict[str, int], Counter[str]]:
    """Write the prepared dataset into a partial folder beside ``out``, then swap it into place (the completion
    record last); on any failure the partial folder is discarded and ``out`` is left as it was.

    Returns:
        (tuple): Non-difficult boxes per split, difficult boxes per split, and how images were linked.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out.parent, out.name, PREPARE_OWNER, warn)
    tmp, token = new_partial(out.parent, out.name, PREPARE_OWNER)
    modes: Counter[str] = Counter()
    counts = {s: 0 for s in SPLITS}
    difficult = {s: 0 for s in SPLITS}
    try:
        tw = TreeWriter(tmp)
        for d in ("images", "labels", "annotations"):
            tw.mkdir(d)
        for split in SPLITS:
            tw.mkdir(f"images/{split}")
            tw.mkdir(f"labels/{split}")
            for rec in split_records[split]:
                modes[tw.link(rec.image, f"images/{split}/{rec.stem}.jpg")] += 1
                tw.write_text(f"labels/{split}/{rec.stem}.txt", _label_text(rec))
                counts[split] += sum(not o.difficult for _, o in rec.objects)
                difficult[split] += sum(o.difficult for _, o in rec.objects)
            gt = _coco_json(split_records[split], classes, split)
            tw.write_text(f"annotations/{split}.json", json.dumps(gt, separators=(",", ":")) + "\n")
        tw.write_text("data.yaml", _yaml_text(out, classes, devkit, split_sets))
        record = {
            "token": token,
            "devkit": meta["devkit"],
            "splits": {s: [f"{y}:{n}" for y, n in split_sets[s]] for s in SPLITS},
            "classes": list(classes),
            "images": {s: len(split_records[s]) for s in SPLITS},
            "boxes": counts,
            "difficult": difficult,
            "repeated": meta["repeated"],
            "skip_bad": meta["skip_bad"],
            "skipped": meta["skipped"],
            "link_modes": dict(modes),
        }
        tw.write_record(PREPARE_OWNER, record)
        swap_into_place(tmp, out, token, PREPARE_OWNER, hint, warn)
    except BaseException:
        discard_partial(tmp, PREPARE_OWNER, warn)
        raise
    return counts, difficult, modes
