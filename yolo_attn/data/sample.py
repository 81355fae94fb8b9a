"""A generated, deterministic dataset in the Pascal VOC devkit layout.

Real VOC cannot be downloaded on every machine, so the package draws its own VOC-format data: procedurally drawn
objects of six classes (distinct shapes, colours and textures) on cluttered backgrounds (gradients, low-frequency
blotches, pixel noise, and distractor shapes in the classes' own colours, so colour alone does not identify a
class). Objects are sometimes small, overlap each other and are cut by the image border. The annotation follows the
devkit exactly:

- `VOCdevkit/VOC2007/Annotations/<id>.xml` with folder, filename, source, size (depth 3), segmented and one
  `<object>` per instance (name, pose, truncated, difficult, bndbox with 1-based inclusive pixel corners);
- `VOCdevkit/VOC2007/JPEGImages/<id>.jpg`;
- `VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval,test}.txt` and the per-class `<class>_<set>.txt` lists
  (`1` present, `0` only difficult instances, `-1` absent).

Box and flag semantics:

- the box is the bounding box of the object's *visible* pixels (what a VOC annotator draws);
- `truncated=1` when the border cuts the object;
- `difficult=1` when the visible box is smaller than 8 px on a side (at the default 160 px; scaled with the image
  size) or less than 40% of the object is visible (occluded by later objects and/or cut by the border);
- an object with fewer than 12 visible pixels is not annotated (it is effectively gone).

A file `VOCdevkit/yolo_attn_sample.json` records the generator's settings, the class list and the image sets, so
`yolo_attn.data.voc.prepare_voc` run on this devkit picks the right classes and sets without being told; a corrupt
one (not JSON, not an object, wrong types) is refused with `BadVOCInput` naming it. The same record lists every file
and folder written, with its size and SHA-256: `make_sample_dataset` replaces an earlier devkit only when that proves
the devkit is its own and unchanged; a real devkit, a devkit with files added or edited, or one without a valid
record is refused (`FileExistsError`) naming what is foreign, and nothing is touched (see `yolo_attn.data._fs`).
The same seed gives byte-identical files (NumPy's PCG64 seeded per image, OpenCV drawing and JPEG encoding are
deterministic for a given OpenCV build).

Examples:
    >>> from yolo_attn.data.sample import make_sample_dataset
    >>> devkit = make_sample_dataset("datasets/sample", images=300, seed=0)  # -> datasets/sample/VOCdevkit
"""

from __future__ import annotations

import math
import numbers
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yolo_attn.data._fs import Owner, TreeWriter, clean_stale, discard_partial, new_partial, refusal, swap_into_place
from yolo_attn.data.devkit import SAMPLE_MARKER, SAMPLE_WRITER, sample_info

__all__ = [
    "SAMPLE_CLASSES",
    "SAMPLE_MARKER",
    "SAMPLE_OWNER",
    "SAMPLE_SETS",
    "SampleObject",
    "make_sample_dataset",
    "render_sample_image",
    "sample_info",
]

#: Class names of the generated dataset, in label-index order.
SAMPLE_CLASSES: tuple[str, ...] = ("disc", "square", "triangle", "star", "ring", "cross")
#: Image sets to prepare for the generated dataset (train on trainval, validate and test on test).
SAMPLE_SETS: tuple[tuple[str, str], ...] = (("2007", "trainval"), ("2007", "test"))
_WRITER = SAMPLE_WRITER  # the record (yolo_attn.data.devkit.SAMPLE_MARKER) names this writer
_FORMAT_VERSION = 2  # 2: the record lists every file written (1 did not, so a version-1 devkit is never replaced)
_MAX_IMAGES = 100_000
_MAX_IMGSZ = 4096
_SAMPLE_DIRS = frozenset(
    {"VOC2007", "VOC2007/Annotations", "VOC2007/JPEGImages", "VOC2007/ImageSets", "VOC2007/ImageSets/Main"}
)
_SAMPLE_FILE = re.compile(r"VOC2007/(Annotations/[0-9]+\.xml|JPEGImages/[0-9]+\.jpg|ImageSets/Main/[a-z_]+\.txt)")


def _sample_layout(rel: str, is_dir: bool) -> bool:
    return rel in _SAMPLE_DIRS if is_dir else _SAMPLE_FILE.fullmatch(rel) is not None


#: The generator as an owner of folders (`yolo_attn.data._fs`): what it may replace and clean up.
SAMPLE_OWNER = Owner(_WRITER, SAMPLE_MARKER, _FORMAT_VERSION, "`yolo-attn data sample`", _sample_layout)
# Base hue (OpenCV HSV, 0-179) of each class; distractors use these hues too.
_HUES = {"disc": 0, "square": 110, "triangle": 60, "star": 27, "ring": 150, "cross": 90}
_JPEG_QUALITY = 90
# Object extent: log-uniform from _MIN_SIZE px (at a 160 px short side, scaled) to _MAX_SIZE x the short side.
_MIN_SIZE, _MAX_SIZE = 8.0, 0.5
_MAX_OBJECTS = 6


@dataclass(frozen=True)
class SampleObject:
    """One annotated object: class name, 1-based inclusive pixel corners and VOC flags."""

    name: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int
    truncated: bool
    difficult: bool


def _hsv_colour(rng: np.random.Generator, hue: float, s_lo: int = 150, v_lo: int = 150) -> tuple[int, int, int]:
    """A BGR colour near `hue` with random saturation and value."""
    h = int(round(hue + rng.uniform(-7, 7))) % 180
    s = int(rng.integers(s_lo, 256))
    v = int(rng.integers(v_lo, 256))
    bgr = cv2.cvtColor(np.array([[[h, s, v]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Muted linear gradient + low-frequency blotches, float32 BGR in 0..255."""
    grey = rng.uniform(70, 180)
    c1 = grey + rng.uniform(-45, 45, 3)
    c2 = grey + rng.uniform(-45, 45, 3)
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * math.cos(a) + yy * math.sin(a)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    blotch = rng.normal(0, 22, (5, 5, 3)).astype(np.float32)
    img += cv2.resize(blotch, (w, h), interpolation=cv2.INTER_CUBIC)
    return img.astype(np.float32)


def _rotated(points: np.ndarray, angle: float, cx: float, cy: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return points @ rot.T + np.array([cx, cy])


def _draw_shape(mask: np.ndarray, name: str, cx: float, cy: float, size: float, angle: float) -> None:
    """Draw class `name` filled with 255 into `mask` (uint8), centred at (cx, cy), extent about `size`."""
    r = size / 2
    if name == "disc":
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r)), 255, -1)
    elif name == "ring":
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r)), 255, -1)
        cv2.circle(mask, (round(cx), round(cy)), max(0, round(0.55 * r)), 0, -1)
    elif name == "square":
        q = r / math.sqrt(2) * 1.25  # half side; rotation keeps the extent near `size`
        pts = np.array([[-q, -q], [q, -q], [q, q], [-q, q]])
        cv2.fillPoly(mask, [np.round(_rotated(pts, angle * 0.4, cx, cy)).astype(np.int32)], 255)
    elif name == "triangle":
        pts = np.array([[r * math.cos(a), r * math.sin(a)] for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
        cv2.fillPoly(mask, [np.round(_rotated(pts, angle, cx, cy)).astype(np.int32)], 255)
    elif name == "star":
        pts = []
        for k in range(10):
            rr = r if k % 2 == 0 else 0.42 * r
            a = -math.pi / 2 + k * math.pi / 5
            pts.append([rr * math.cos(a), rr * math.sin(a)])
        cv2.fillPoly(mask, [np.round(_rotated(np.array(pts), angle, cx, cy)).astype(np.int32)], 255)
    elif name == "cross":
        t = 0.2 * size
        arm = np.array([[-r, -t], [r, -t], [r, t], [-r, t]])
        for pts in (arm, arm[:, ::-1]):
            cv2.fillPoly(mask, [np.round(_rotated(pts, angle * 0.3, cx, cy)).astype(np.int32)], 255)
    else:  # pragma: no cover - the class list is fixed
        raise ValueError(f"unknown sample class {name!r}")


def _texture(
    rng: np.random.Generator, name: str, colour: tuple[int, int, int], w: int, h: int, cx: float, cy: float, size: float
) -> np.ndarray:
    """The colour layer for one object: a per-class texture over the whole image (masked later)."""
    layer = np.empty((h, w, 3), np.float32)
    layer[:] = colour
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if name == "disc":  # radial shading from an off-centre highlight
        d = np.hypot(xx - (cx - 0.2 * size), yy - (cy - 0.2 * size)) / max(size, 1.0)
        layer *= np.clip(1.15 - 0.8 * d, 0.45, 1.15)[..., None]
    elif name == "square":  # diagonal stripes
        period = max(3.0, size / 4)
        stripes = (np.floor((xx + yy) / period) % 2).astype(np.float32)
        layer *= (0.6 + 0.4 * stripes)[..., None]
    elif name == "cross":  # checker
        period = max(2.0, size / 6)
        checker = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
        layer *= (0.75 + 0.25 * checker)[..., None]
    else:  # flat colour with a little grain
        layer += rng.normal(0, 6, (1, 1, 3)).astype(np.float32)
    return layer


def _distractors(rng: np.random.Generator, img: np.ndarray, scale: float) -> None:
    """Clutter: lines, thin ellipses, outline rectangles and jagged blobs, often in the classes' hues."""
    h, w = img.shape[:2]
    hues = list(_HUES.values())
    n = int(rng.integers(4, 13))
    canvas = img.copy()
    for _ in range(n):
        kind = int(rng.integers(4))
        hue = hues[int(rng.integers(len(hues)))] if rng.random() < 0.6 else float(rng.uniform(0, 180))
        colour = _hsv_colour(rng, hue, s_lo=80, v_lo=90)
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        s = float(rng.uniform(6, 40)) * scale
        if kind == 0:  # line
            a = rng.uniform(0, math.pi)
            p1 = (round(x - s * math.cos(a)), round(y - s * math.sin(a)))
            p2 = (round(x + s * math.cos(a)), round(y + s * math.sin(a)))
            cv2.line(canvas, p1, p2, colour, int(rng.integers(1, 3)))
        elif kind == 1:  # elongated ellipse (never a disc: aspect >= 2.5)
            axes = (max(2, round(s / 2)), max(1, round(s / 2 / rng.uniform(2.5, 5))))
            cv2.ellipse(canvas, (round(x), round(y)), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        elif kind == 2:  # outline rectangle
            cv2.rectangle(canvas, (round(x), round(y)), (round(x + s), round(y + s * rng.uniform(0.4, 1.2))), colour, 1)
        else:  # jagged blob
            k = int(rng.integers(9, 15))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            rad = s / 2 * rng.uniform(0.3, 1.0, k)
            pts = np.stack([x + rad * np.cos(ang), y + rad * np.sin(ang)], 1)
            cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], colour)
    img[:] = canvas


def render_sample_image(
    rng: np.random.Generator, width: int, height: int, classes: tuple[str, ...] = SAMPLE_CLASSES
) -> tuple[np.ndarray, list[SampleObject]]:
    """Draw one cluttered image and return it (uint8 BGR, height x width) with its VOC objects."""
    w, h = width, height
    m = min(w, h)
    scale = m / 160
    img = _background(rng, w, h)
    _distractors(rng, img, scale)
    pad = m
    drawn: list[tuple[str, np.ndarray, int, bool]] = []  # name, mask in image, full area, truncated
    centres: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(1, _MAX_OBJECTS + 1))):
        name = classes[int(rng.integers(len(classes)))]
        size = math.exp(rng.uniform(math.log(_MIN_SIZE * scale), math.log(_MAX_SIZE * m)))
        u = rng.random()
        if u < 0.2:  # straddle the border: truncated
            side = int(rng.integers(4))
            off = rng.uniform(-0.35, 0.25) * size
            along = rng.uniform(0, w if side < 2 else h)
            cx, cy = ((off if side == 0 else w - off), along) if side < 2 else (along, (off if side == 2 else h - off))
        elif u < 0.45 and centres:  # overlap an earlier object
            px, py, ps = centres[int(rng.integers(len(centres)))]
            d = 0.5 * (ps + size) * rng.uniform(0.3, 0.8)
            a = rng.uniform(0, 2 * math.pi)
            cx, cy = px + d * math.cos(a), py + d * math.sin(a)
        else:
            cx = rng.uniform(size / 2, max(size / 2, w - size / 2))
            cy = rng.uniform(size / 2, max(size / 2, h - size / 2))
        angle = rng.uniform(0, 2 * math.pi)
        full = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
        _draw_shape(full, name, cx + pad, cy + pad, size, angle)
        area = int(np.count_nonzero(full))
        mask = full[pad : pad + h, pad : pad + w] > 0
        inside = int(np.count_nonzero(mask))
        if area == 0 or inside == 0:
            continue
        colour = _hsv_colour(rng, _HUES.get(name, rng.uniform(0, 180)))
        layer = _texture(rng, name, colour, w, h, cx, cy, size)
        img[mask] = layer[mask]
        drawn.append((name, mask, area, inside < area))
        centres.append((cx, cy, size))
    img += rng.normal(0, 5, img.shape).astype(np.float32)  # sensor noise
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)

    objects: list[SampleObject] = []
    covered = np.zeros((h, w), bool)
    min_side = 8 * scale
    for name, mask, area, truncated in reversed(drawn):  # later objects occlude earlier ones
        visible = mask & ~covered
        covered |= mask
        n = int(np.count_nonzero(visible))
        if n < 12:
            continue
        ys, xs = np.nonzero(visible)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
        difficult = min(x1 - x0 + 1, y1 - y0 + 1) < min_side or n / area < 0.4
        objects.append(SampleObject(name, x0 + 1, y0 + 1, x1 + 1, y1 + 1, truncated, difficult))
    objects.reverse()
    return out, objects


def _annotation_xml(image_id: str, width: int, height: int, objects: list[SampleObject], seed: int) -> str:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2007"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "yolo_attn procedural sample"
    ET.SubElement(source, "annotation").text = "yolo_attn.data.sample"
    ET.SubElement(source, "image").text = f"generated (seed {seed})"
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(width)
    ET.SubElement(size, "height").text = str(height)
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for o in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = o.name
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = str(int(o.truncated))
        ET.SubElement(obj, "difficult").text = str(int(o.difficult))
        box = ET.SubElement(obj, "bndbox")
        for k in ("xmin", "ymin", "xmax", "ymax"):
            ET.SubElement(box, k).text = str(getattr(o, k))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def _check_int(name: str, value, lo: int, hi: int | None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < lo
        or (hi is not None and value > hi)
    ):
        valid = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"make_sample_dataset: {name} must be an integer {valid}, got {value!r}")


def make_sample_dataset(
    out: str | Path,
    images: int = 300,
    seed: int = 0,
    imgsz: int = 160,
    test_fraction: float = 1 / 3,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the generated VOC-format dataset to `out/VOCdevkit` and return that devkit path.

    Args:
        out (str | Path): Folder to write into (created if missing); the devkit is `out/VOCdevkit/VOC2007`.
        images (int): Number of images, 4 to 100,000.
        seed (int): Random seed (>= 0); the same seed (and arguments) gives byte-identical files.
        imgsz (int): Long side of every image in pixels (the short side is 70-100% of it), 32 to 4096.
        test_fraction (float): Fraction of images in the `test` set, in (0, 1); the rest is `trainval`, split in
            half into `train` and `val`.
        log (Callable | None): Where warnings go (leftovers of killed runs that are not provably ours); None:
            `warnings.warn`.

    Returns:
        (Path): The `VOCdevkit` folder, ready for `yolo_attn.data.voc.prepare_voc`.

    Raises:
        ValueError: A bad argument (named, with the valid range).
        FileExistsError: `out/VOCdevkit` exists and is not provably an unchanged devkit written by this function;
            the message names what is foreign. Nothing is touched.
        NotADirectoryError: `out` is a file.
        OSError: Writing failed (e.g. the disk is full); the previous devkit, if any, is left as it was.

    The devkit is written to a hidden temporary sibling folder and renamed into place at the end, so an interrupted
    run never leaves a devkit that looks complete; an earlier generated devkit is replaced only after its record
    proves every file in it was written by this function and is unchanged.
    """
    _check_int("images", images, 4, _MAX_IMAGES)
    _check_int("imgsz", imgsz, 32, _MAX_IMGSZ)
    _check_int("seed", seed, 0, None)
    images, imgsz, seed = int(images), int(imgsz), int(seed)
    real = isinstance(test_fraction, numbers.Real) and not isinstance(test_fraction, bool)
    if not real or not 0 < test_fraction < 1:  # NaN fails the comparison too
        raise ValueError(f"make_sample_dataset: test_fraction must be a number in (0, 1), got {test_fraction!r}")
    out = Path(out).expanduser().resolve()
    for folder in (out, *out.parents):  # the first that exists must be a folder
        if os.path.lexists(folder):
            if not folder.is_dir():
                raise NotADirectoryError(f"output folder {out}: {folder} is a file, not a folder")
            break
    devkit = out / "VOCdevkit"
    hint = "Choose another output folder, or remove it yourself."
    why = refusal(devkit, SAMPLE_OWNER, hint)
    if why is not None:
        raise FileExistsError(why)

    def warn(msg: str) -> None:
        if log is not None:
            log(f"warning: {msg}")
        else:
            warnings.warn(msg, stacklevel=3)

    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out, devkit.name, SAMPLE_OWNER, warn)
    tmp, token = new_partial(out, devkit.name, SAMPLE_OWNER)
    try:
        _generate(TreeWriter(tmp), images, seed, imgsz, test_fraction)
        swap_into_place(tmp, devkit, token, SAMPLE_OWNER, hint, warn)
    except BaseException:
        discard_partial(tmp, SAMPLE_OWNER, warn)
        raise
    return devkit


def _generate(tw: TreeWriter, images: int, seed: int, imgsz: int, test_fraction: float) -> None:
    for d in ("VOC2007", "VOC2007/Annotations", "VOC2007/JPEGImages", "VOC2007/ImageSets", "VOC2007/ImageSets/Main"):
        tw.mkdir(d)
    ann_dir, img_dir, sets_dir = "VOC2007/Annotations", "VOC2007/JPEGImages", "VOC2007/ImageSets/Main"
    ids = [f"{i + 1:06d}" for i in range(images)]
    presence: dict[str, dict[str, int]] = {}  # image id -> class -> 1 / 0 (difficult only)
    counts = {c: 0 for c in SAMPLE_CLASSES}
    for i, image_id in enumerate(ids):
        rng = np.random.default_rng([seed, i])
        short = int(rng.integers(int(0.7 * imgsz), imgsz + 1))
        w, h = (imgsz, short) if rng.random() < 0.6 else (short, imgsz)
        img, objects = render_sample_image(rng, w, h)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:  # pragma: no cover
            raise RuntimeError(f"JPEG encoding failed for image {image_id}")
        tw.write_bytes(f"{img_dir}/{image_id}.jpg", buf.tobytes())
        tw.write_text(f"{ann_dir}/{image_id}.xml", _annotation_xml(image_id, w, h, objects, seed))
        flags: dict[str, int] = {}
        for o in objects:
            flags[o.name] = max(flags.get(o.name, 0), 0 if o.difficult else 1)
            counts[o.name] += 1
        presence[image_id] = flags

    order = np.random.default_rng([seed, images, 7]).permutation(images)
    n_test = max(1, min(images - 2, round(images * test_fraction)))
    test = sorted(ids[j] for j in order[:n_test])
    trainval = sorted(ids[j] for j in order[n_test:])
    half = len(trainval) // 2
    tv_order = [trainval[j] for j in np.random.default_rng([seed, images, 8]).permutation(len(trainval))]
    splits = {
        "train": sorted(tv_order[:half]),
        "val": sorted(tv_order[half:]),
        "trainval": trainval,
        "test": test,
    }
    for name, members in splits.items():
        tw.write_text(f"{sets_dir}/{name}.txt", "".join(f"{m}\n" for m in members))
        for c in SAMPLE_CLASSES:
            lines = "".join(f"{m} {presence[m].get(c, -1):2d}\n" for m in members)
            tw.write_text(f"{sets_dir}/{c}_{name}.txt", lines)
    info = {
        "images": images,
        "seed": seed,
        "imgsz": imgsz,
        "test_fraction": test_fraction,
        "classes": list(SAMPLE_CLASSES),
        "sets": [f"{y}:{s}" for y, s in SAMPLE_SETS],
        "objects_per_class": counts,
    }
    tw.write_record(SAMPLE_OWNER, info)
