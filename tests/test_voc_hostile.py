"""Hostile inputs to `voc prepare` and `data sample`: each one refused with a clear error, skipped with `skip_bad`,
or accepted as documented, with the exact outcome asserted (exception type, message, files written or not).

Groups: annotation XML (numbers, sizes, flags, structure, DOCTYPE/entities, encodings), images (truncated, not an
image, EXIF orientation), set files (BOM, fields, ids, duplicates, encodings), overlapping splits, arguments, the
generated devkit's record, the devkit folder itself, and the sample generator's arguments.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from hostile_data import snapshot
from PIL import Image, ImageFile

from yolo_attn.data.sample import SAMPLE_CLASSES, SAMPLE_MARKER, make_sample_dataset
from yolo_attn.data.voc import BadVOCInput, is_prepared, prepare_voc

SETS = "2007:train,2007:val,2007:test"  # two training sets, so a bad set file can be skipped


@pytest.fixture
def devkit(sample_devkits, tmp_path) -> Path:
    return sample_devkits(tmp_path / "in")


def main_dir(devkit: Path) -> Path:
    return devkit / "VOC2007" / "ImageSets" / "Main"


def ids(devkit: Path, name: str) -> list[str]:
    return (main_dir(devkit) / f"{name}.txt").read_text().split()


def target(devkit: Path) -> tuple[str, dict]:
    """A training image with a non-square size whose first object has xmin < xmax and ymin < ymax."""
    for image_id in ids(devkit, "train"):
        text = (devkit / "VOC2007" / "Annotations" / f"{image_id}.xml").read_text()
        w, h = int(re.search(r"<width>(\d+)<", text)[1]), int(re.search(r"<height>(\d+)<", text)[1])
        m = re.search(r"<name>(\w+)</name>.*?<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>", text, re.S)
        if m and w != h and int(m[2]) < int(m[4]):
            return image_id, {"name": m[1], "w": w, "h": h, "xmin": int(m[2]), "ymin": int(m[3]), "xmax": int(m[4])}
    raise AssertionError("no suitable image in the generated devkit")


def outputs(out: Path, image_id: str, split: str = "train") -> tuple[str, list]:
    """The YOLO label text and the ground-truth annotations of one image in a prepared dataset."""
    gt = json.loads((out / "annotations" / f"{split}.json").read_text())
    img = next(i for i in gt["images"] if i["voc_id"] == image_id)
    anns = [{k: v for k, v in a.items() if k != "id"} for a in gt["annotations"] if a["image_id"] == img["id"]]
    return (out / "labels" / split / f"2007_{image_id}.txt").read_text(), [img, *anns]


def refused_then_skipped(devkit: Path, out: Path, bad: Path, reason: str, image_id: str | None, sets: str = SETS):
    """Without skip_bad: BadVOCInput naming `bad` with `reason`, nothing written. With it: skipped and reported."""
    with pytest.raises(BadVOCInput) as err:
        prepare_voc(devkit, out, sets=sets, log=None)
    assert isinstance(err.value, ValueError)
    assert err.value.path == bad and reason in err.value.reason, str(err.value)
    assert str(bad) in str(err.value)
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporaries
    res = prepare_voc(devkit, out, sets=sets, skip_bad=True, log=None)
    assert [(e.path, reason in e.reason) for e in res.skipped] == [(bad, True)]
    assert json.loads((out / "prepared.json").read_text())["skipped"][0]["path"] == str(bad)
    if image_id is not None:
        assert not any(out.rglob(f"2007_{image_id}.*"))
        assert res.images["train"] == len(ids(devkit, "train")) + len(ids(devkit, "val")) - 1
    return res


# ================================================================================== annotation XML: refused
def sub1(pattern: str, repl: str):
    return lambda t: re.sub(pattern, repl, t, count=1, flags=re.S)


def num(tag: str, value: str):
    return sub1(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>")


def prefix(text: str):
    return lambda t: text + t


_LOL = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10)).replace("&l0;", "&a;")
BILLION_LAUGHS = f'<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa">{_LOL}]>\n'

FINITE = "<{tag}> of object 0 ({name}) is '{v}', not a finite number"
XML_REFUSED = [
    # numbers in the box: plain finite decimals only
    *[
        (f"xmin={v}", num("xmin", v), FINITE.format(tag="xmin", name="{name}", v=v))
        for v in (
            "nan",
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            "1e999",
            "0x10",
            "1_0",
            "abc",
            "1,5",
            "٣",
            "3 px",
            "--3",
            "3e",
            ".",
        )
    ],
    *[(f"ymax={v}", num("ymax", v), FINITE.format(tag="ymax", name="{name}", v=v)) for v in ("nan", "+inf", "1e400")],
    ("xmin empty", num("xmin", ""), "<xmin> of object 0 ({name}) is empty"),
    ("xmin blank", num("xmin", "  \t "), "<xmin> of object 0 ({name}) is empty"),
    ("xmin nested", num("xmin", "<v>3</v>"), "<xmin> of object 0 ({name}) contains elements"),
    ("xmin twice", sub1(r"(<xmin>[^<]*</xmin>)", r"\1<xmin>2</xmin>"), "object 0 ({name}) has 2 <xmin> elements"),
    ("xmax missing", sub1(r"<xmax>[^<]*</xmax>", ""), "object 0 ({name}) has no <xmax>"),
    # sizes: whole, non-negative, finite
    *[
        (f"width={v}", num("width", v), f"<width> of <size> is '{v}', not a whole number of pixels")
        for v in ("64.5", "160.5", "-64", "1e-3")
    ],
    *[
        (f"height={v}", num("height", v), f"<height> of <size> is '{v}', not a finite number")
        for v in ("nan", "inf", "1e999", "forty")
    ],
    ("height empty", num("height", ""), "<height> of <size> is empty"),
    ("width missing", sub1(r"<width>[^<]*</width>", ""), "<size> has no <width>"),
    ("height missing", sub1(r"<height>[^<]*</height>", ""), "<size> has no <height>"),
    ("size empty", sub1(r"<size>.*?</size>", "<size/>"), "<size> has no <width>"),
    ("size twice", sub1(r"(<size>.*?</size>)", r"\1\1"), "<annotation> has 2 <size> elements"),
    ("width twice", sub1(r"(<width>[^<]*</width>)", r"\1\1"), "<size> has 2 <width> elements"),
    ("size one side 0", num("width", "0"), "size 0x{h} in the annotation differs from the image's {w}x{h}"),
    ("size swapped", lambda t: num("width", "{h}")(num("height", "{w}")(t)), "size {h}x{w} in the annotation differs"),
    ("size too big", num("width", "{w1}"), "size {w1}x{h} in the annotation differs from the image's {w}x{h}"),
    # flags: 0 or 1
    *[
        (f"difficult={v}", num("difficult", v), f"<difficult> of object 0 ({{name}}) is '{v}', not 0 or 1")
        for v in ("2", "-1", "true", "yes", "01", "1.0")
    ],
    ("truncated=yes", num("truncated", "yes"), "<truncated> of object 0 ({name}) is 'yes', not 0 or 1"),
    ("difficult nested", num("difficult", "<b>1</b>"), "<difficult> of object 0 ({name}) contains elements"),
    # objects
    ("bndbox missing", sub1(r"<bndbox>.*?</bndbox>", ""), "object 0 ({name}) has no <bndbox>"),
    ("bndbox twice", sub1(r"(<bndbox>.*?</bndbox>)", r"\1\1"), "object 0 ({name}) has 2 <bndbox> elements"),
    ("name missing", sub1(r"<name>[^<]*</name>", ""), "object 0 has no <name>"),
    ("name empty", sub1(r"<name>[^<]*</name>", "<name> </name>"), "<name> of object 0 is empty"),
    ("name twice", sub1(r"(<name>[^<]*</name>)", r"\1<name>ring</name>"), "object 0 has 2 <name> elements"),
    ("name nested", sub1(r"<name>([^<]*)</name>", r"<name><b>\1</b></name>"), "<name> of object 0 contains elements"),
    ("class case", sub1(r"<name>[^<]*</name>", "<name>Disc</name>"), "unknown class name 'Disc' in object 0"),
    (
        "class of real VOC",
        sub1(r"<name>[^<]*</name>", "<name>person</name>"),
        "unknown class name 'person' in object 0",
    ),
    ("xmin > xmax", lambda t: num("xmin", "{xmax1}")(t), "has xmin > xmax or ymin > ymax"),
    ("ymin > ymax", num("ymin", "100000"), "has xmin > xmax or ymin > ymax"),
    ("xmin 0", num("xmin", "0"), "is outside the {w}x{h} image (corners are 1-based"),
    ("xmin -1", num("xmin", "-1"), "is outside the {w}x{h} image"),
    ("xmin 0.5", num("xmin", "0.5"), "is outside the {w}x{h} image"),
    ("xmax width+1", num("xmax", "{w1}"), "is outside the {w}x{h} image"),
    ("ymax height+0.5", num("ymax", "{h}.5"), "is outside the {w}x{h} image"),
    # document structure
    (
        "root renamed",
        lambda t: t.replace("<annotation>", "<annotations>").replace("</annotation>", "</annotations>"),
        "root element is <annotations>, not <annotation>",
    ),
    (
        "root namespaced",
        lambda t: t.replace("<annotation>", '<x:annotation xmlns:x="urn:x">').replace(
            "</annotation>", "</x:annotation>"
        ),
        "root element is <{urn:x}annotation>",
    ),
    ("cut off before the end tag", lambda t: t[: t.rindex("</annotation>")], "malformed XML (no element found"),
    ("cut inside a tag", lambda t: t[: t.index("<xmin>") + 3], "malformed XML (unclosed token"),
    ("empty file", lambda t: "", "malformed XML (no element found"),
    ("two roots", lambda t: t + "<annotation/>", "malformed XML (junk after document element"),
    ("unclosed tag", sub1(r"</xmin>", ""), "malformed XML (mismatched tag"),
    ("NUL byte", sub1(r"<name>", "<name>\x00"), "malformed XML (not well-formed (invalid token)"),
    ("undefined entity", sub1(r"<name>[^<]*</name>", "<name>&disc;</name>"), "malformed XML (undefined entity"),
    # DTDs and entities: refused before anything is expanded or fetched
    (
        "billion laughs",
        lambda t: BILLION_LAUGHS + sub1(r"<name>[^<]*</name>", "<name>&l9;</name>")(t),
        "a DOCTYPE declaration (DTDs and entities are not allowed",
    ),
    (
        "external entity",
        lambda t: (
            '<!DOCTYPE annotation [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + sub1(r"<name>[^<]*</name>", "<name>&x;</name>")(t)
        ),
        "a DOCTYPE declaration",
    ),
    (
        "external DTD",
        prefix('<!DOCTYPE annotation SYSTEM "http://example.invalid/voc.dtd">\n'),
        "a DOCTYPE declaration",
    ),
    (
        "parameter entity",
        prefix('<!DOCTYPE annotation [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'),
        "a DOCTYPE declaration",
    ),
    ("bare DOCTYPE", prefix("<!DOCTYPE annotation>\n"), "a DOCTYPE declaration"),
    (
        "unknown encoding",
        prefix('<?xml version="1.0" encoding="EBCDIC-XYZ"?>\n'),
        "malformed XML (LookupError: unknown encoding: EBCDIC-XYZ)",
    ),
    (
        "multi-byte codec",
        prefix('<?xml version="1.0" encoding="shift_jis"?>\n'),
        "malformed XML (ValueError: multi-byte encodings are not supported)",
    ),
]
XML_REFUSED_BYTES = [
    ("latin-1 bytes", lambda b: b.replace(b"<pose>Unspecified", b"<pose>Unsp\xe9cified", 1), "malformed XML (not well-formed (invalid token)"),
    ("binary junk", lambda b: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 binary junk", "malformed XML"),
]  # fmt: skip


def _subst(text: str, info: dict) -> str:
    """Fill the placeholders {name} {w} {h} {w1} {h1} {xmax1} of a case (literally: XML may hold braces)."""
    values = {**info, "w1": info["w"] + 1, "h1": info["h"] + 1, "xmax1": info["xmax"] + 1}
    for key in ("name", "w1", "h1", "xmax1", "w", "h"):
        text = text.replace("{" + key + "}", str(values[key]))
    return text


@pytest.mark.parametrize(("case", "change", "reason"), XML_REFUSED, ids=[c[0] for c in XML_REFUSED])
def test_bad_annotation_text_is_refused_or_skipped(devkit, tmp_path, case, change, reason):
    image_id, info = target(devkit)
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.write_text(_subst(change(xml.read_text()), info))
    refused_then_skipped(devkit, tmp_path / "out", xml, _subst(reason, info), image_id)


@pytest.mark.parametrize(("case", "change", "reason"), XML_REFUSED_BYTES, ids=[c[0] for c in XML_REFUSED_BYTES])
def test_bad_annotation_bytes_are_refused_or_skipped(devkit, tmp_path, case, change, reason):
    image_id, _ = target(devkit)
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.write_bytes(change(xml.read_bytes()))
    refused_then_skipped(devkit, tmp_path / "out", xml, reason, image_id)


def test_annotation_file_problems(devkit, tmp_path):
    image_id, _ = target(devkit)
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.unlink()
    xml.mkdir()
    refused_then_skipped(devkit, tmp_path / "a", xml, "annotation file is not a regular file", image_id)
    xml.rmdir()
    with open(xml, "wb") as f:  # sparse: 17 MiB without writing them
        f.truncate(17 << 20)
    refused_then_skipped(devkit, tmp_path / "b", xml, "more than any VOC annotation (limit 16 MiB)", image_id)
    xml.unlink()
    xml.symlink_to(tmp_path / "nowhere.xml")
    refused_then_skipped(devkit, tmp_path / "c", xml, "annotation file missing", image_id)


# ================================================================================== annotation XML: accepted
def same(change):
    return change, None


XML_ACCEPTED = [
    ("size 0x0 means: from the JPEG", *same(lambda t: num("width", "0")(num("height", "0")(t)))),
    ("no size", *same(sub1(r"<size>.*?</size>", ""))),
    ("width 64.0 style", *same(sub1(r"<width>(\d+)</width>", r"<width>\1.0</width>"))),
    ("xmin +N", *same(sub1(r"<xmin>(\d+)</xmin>", r"<xmin>+\1</xmin>"))),
    ("xmin Ne0", *same(sub1(r"<xmin>(\d+)</xmin>", r"<xmin>\1e0</xmin>"))),
    ("xmin padded", *same(sub1(r"<xmin>(\d+)</xmin>", "<xmin>\n\t \\1 \n</xmin>"))),
    ("xmin CDATA", *same(sub1(r"<xmin>(\d+)</xmin>", r"<xmin><![CDATA[\1]]></xmin>"))),
    ("xmin attribute", *same(sub1(r"<xmin>", '<xmin unit="px">'))),
    ("difficult missing", *same(sub1(r"<difficult>0</difficult>", ""))),
    ("difficult empty", *same(sub1(r"<difficult>0</difficult>", "<difficult></difficult>"))),
    ("truncated missing", *same(sub1(r"<truncated>0</truncated>", ""))),
    ("name padded", *same(sub1(r"<name>([^<]*)</name>", r"<name>  \1\n</name>"))),
    (
        "name by character reference",
        *same(lambda t: re.sub(r"<name>(\w)", lambda m: f"<name>&#{ord(m[1])};", t, count=1)),
    ),
    ("predefined entity in pose", *same(sub1(r"<pose>Unspecified", "<pose>A &amp; B"))),
    (
        "comments and PI",
        *same(
            lambda t: (
                '<?xml version="1.0"?>\n<?xml-stylesheet href="x.css"?>\n<!-- c -->'
                + t.replace("<bndbox>", "<bndbox><!-- box -->", 1)
            )
        ),
    ),
    (
        "VOC2012 extras: occluded, part, actions",
        *same(
            sub1(
                r"</bndbox>",
                "</bndbox><occluded>1</occluded><part><name>head</name><bndbox><xmin>x</xmin></bndbox></part><actions><jumping>1</jumping></actions>",
            )
        ),
    ),
    (
        "filename twice and wrong",
        *same(sub1(r"<filename>[^<]*</filename>", "<filename>other.jpg</filename><filename>x</filename>")),
    ),
    ("CRLF", *same(lambda t: t.replace("\n", "\r\n"))),
    ("no indentation", *same(lambda t: re.sub(r">\s+<", "><", t))),
]
XML_ACCEPTED_BYTES = [
    ("UTF-8 BOM", *same(lambda b: b"\xef\xbb\xbf" + b)),
    ("UTF-16 with BOM and declaration", *same(lambda b: ('<?xml version="1.0" encoding="UTF-16"?>\n' + b.decode()).encode("utf-16"))),
    ("UTF-16 without BOM (detected from '<')", *same(lambda b: b.decode().encode("utf-16-le"))),
    ("latin-1 declared", *same(lambda b: b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + b.replace(b"Unspecified", b"Unsp\xe9cified", 1))),
]  # fmt: skip


@pytest.fixture
def baseline(devkit, tmp_path):
    image_id, info = target(devkit)
    ref = prepare_voc(devkit, tmp_path / "ref", sets=SETS, log=None).out
    return image_id, info, outputs(ref, image_id)


@pytest.mark.parametrize(("case", "change", "_"), XML_ACCEPTED, ids=[c[0] for c in XML_ACCEPTED])
def test_annotation_variants_accepted_with_identical_output(devkit, tmp_path, baseline, case, change, _):
    image_id, _info, want = baseline
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.write_text(change(xml.read_text()), newline="")
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert not res.skipped and outputs(res.out, image_id) == want


@pytest.mark.parametrize(("case", "change", "_"), XML_ACCEPTED_BYTES, ids=[c[0] for c in XML_ACCEPTED_BYTES])
def test_annotation_encodings_accepted_with_identical_output(devkit, tmp_path, baseline, case, change, _):
    image_id, _info, want = baseline
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    xml.write_bytes(change(xml.read_bytes()))
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert not res.skipped and outputs(res.out, image_id) == want


def test_annotation_values_accepted_as_documented(devkit, tmp_path, baseline):
    image_id, info, (base_label, want) = baseline
    xml = devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    text = xml.read_text()
    # a fractional corner (VOC2012 has a few): kept as written, in pixel-edge coordinates
    xml.write_text(num("xmin", f"{info['xmin']}.5")(text))
    res = prepare_voc(devkit, tmp_path / "a", sets=SETS, log=None)
    _, got = outputs(res.out, image_id)
    assert got[1]["bbox"][0] == info["xmin"] - 0.5 and got[1]["bbox"][2] == want[1]["bbox"][2] - 0.5
    # a difficult flag with spaces counts; the object leaves the training labels and is flagged in the ground truth
    xml.write_text(num("difficult", " 1 ")(text))
    res = prepare_voc(devkit, tmp_path / "b", sets=SETS, log=None)
    label, got = outputs(res.out, image_id)
    n_easy = len(base_label.splitlines()) - (0 if want[1]["difficult"] else 1)
    assert got[1]["difficult"] == got[1]["iscrowd"] == 1 and len(label.splitlines()) == n_easy
    # a one-pixel box and a box covering the whole image
    one = num("xmax", str(info["xmin"]))(text)
    whole = num("xmin", "1")(num("ymin", "1")(num("xmax", str(info["w"]))(num("ymax", str(info["h"]))(text))))
    for name, t in (("c", one), ("d", whole)):
        xml.write_text(t)
        res = prepare_voc(devkit, tmp_path / name, sets=SETS, log=None)
        _, got = outputs(res.out, image_id)
        assert got[1]["bbox"][2] == (1 if name == "c" else info["w"])
    # no object at all: an empty label file, the image kept as a negative
    xml.write_text(re.sub(r"<object>.*</object>", "", text, flags=re.S))
    res = prepare_voc(devkit, tmp_path / "e", sets=SETS, log=None)
    label, got = outputs(res.out, image_id)
    assert label == "" and len(got) == 1


# ================================================================================== images
def jpeg(devkit: Path, image_id: str) -> Path:
    return devkit / "VOC2007" / "JPEGImages" / f"{image_id}.jpg"


def cut(n):
    def change(p: Path, info):
        data = p.read_bytes()
        p.write_bytes(data[: len(data) - n] if n > 0 else data[: len(data) // 2])

    return change


def write_image(mode: str, fmt: str, exif: int | None = None, size_delta: int = 0):
    def change(p: Path, info):
        im = Image.new(mode, (info["w"] + size_delta, info["h"]), 128)
        kw = {}
        if exif is not None:
            e = Image.Exif()
            e[0x0112] = exif
            kw["exif"] = e
        im.save(p, format=fmt, **kw)

    return change


def text_file(p: Path, info):
    p.write_text("not an image")


def empty_file(p: Path, info):
    p.write_bytes(b"")


def folder(p: Path, info):
    p.unlink()
    p.mkdir()


def dangling(p: Path, info):
    p.unlink()
    p.symlink_to(p.parent / "nowhere.jpg")


IMAGES_REFUSED = [
    ("truncated by the EOI marker", cut(2), "unreadable image (OSError: image file is truncated"),
    ("truncated by 100 bytes", cut(100), "unreadable image (OSError: image file is truncated"),
    ("truncated by half", cut(0), "unreadable image (OSError: image file is truncated"),
    ("text file", text_file, "not a JPEG file (not a JPEG file); VOC images are JPEGs"),
    ("empty file", empty_file, "not a JPEG file"),
    ("PNG named .jpg", write_image("RGB", "PNG"), "not a JPEG file"),
    ("GIF named .jpg", write_image("P", "GIF"), "not a JPEG file"),
    ("EXIF orientation 6", write_image("RGB", "JPEG", exif=6), "EXIF orientation is 6, not 1"),
    ("EXIF orientation 3", write_image("RGB", "JPEG", exif=3), "EXIF orientation is 3, not 1"),
    ("EXIF orientation 2 (mirror)", write_image("RGB", "JPEG", exif=2), "EXIF orientation is 2, not 1"),
    ("other size", write_image("RGB", "JPEG", size_delta=3), "in the annotation differs from the image's"),
    ("folder", folder, "image file is not a regular file"),
    ("dangling link", dangling, "image file missing"),
]
IMAGES_ACCEPTED = [
    ("grayscale JPEG", write_image("L", "JPEG")),
    ("EXIF orientation 1", write_image("RGB", "JPEG", exif=1)),
    ("CMYK JPEG", write_image("CMYK", "JPEG")),
]


@pytest.mark.parametrize(("case", "change", "reason"), IMAGES_REFUSED, ids=[c[0] for c in IMAGES_REFUSED])
def test_bad_images_are_refused_or_skipped(devkit, tmp_path, case, change, reason):
    image_id, info = target(devkit)
    img = jpeg(devkit, image_id)
    change(img, info)
    bad = img if "differs" not in reason else devkit / "VOC2007" / "Annotations" / f"{image_id}.xml"
    refused_then_skipped(devkit, tmp_path / "out", bad, reason, image_id)


@pytest.mark.parametrize(("case", "change"), IMAGES_ACCEPTED, ids=[c[0] for c in IMAGES_ACCEPTED])
def test_other_image_kinds_that_decode_are_accepted(devkit, tmp_path, case, change):
    image_id, info = target(devkit)
    change(jpeg(devkit, image_id), info)
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert not res.skipped
    linked = res.out / "images" / "train" / f"2007_{image_id}.jpg"
    assert linked.read_bytes() == jpeg(devkit, image_id).read_bytes()


def test_truncated_image_refused_even_when_pil_is_told_to_accept_them(devkit, tmp_path, monkeypatch):
    """Some libraries switch PIL's truncation check off globally; prepare switches it on while it decodes."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    image_id, info = target(devkit)
    cut(2)(jpeg(devkit, image_id), info)
    with pytest.raises(BadVOCInput, match="image file is truncated"):
        prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_image_with_corrupt_but_decodable_data_is_accepted(devkit, tmp_path):
    """Documented limit: bytes that decode to the end (libjpeg only warns) cannot be told from a real image."""
    image_id, info = target(devkit)
    p = jpeg(devkit, image_id)
    data = bytearray(p.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 20] = b"\x00" * 20
    p.write_bytes(bytes(data))
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert not res.skipped and (res.out / "images" / "train" / f"2007_{image_id}.jpg").is_file()


# ================================================================================== set files
def set_lines(name: str, change):
    def apply(devkit: Path):
        p = main_dir(devkit) / f"{name}.txt"
        p.write_bytes(change(p.read_bytes(), devkit))
        return p

    return apply


def bad_line(n_line, content):
    """Insert `content` as line `n_line` (1-based); "{id0}" in it is the file's first id."""

    def change(data: bytes, devkit):
        lines = data.split(b"\n")
        line = content if isinstance(content, bytes) else content.encode()
        lines.insert(n_line - 1, line.replace(b"{id0}", lines[0]))
        return b"\n".join(lines)

    return change


SET_LINES_REFUSED = [
    ("two fields", bad_line(2, "{id0} 1"), "line 2 is '{id0} 1': 2 fields, expected one image id per line"),
    ("three fields", bad_line(1, "a b c"), "line 1 is 'a b c': 3 fields"),
    ("path traversal", bad_line(1, "../Annotations/{id0}"), "line 1: '../Annotations/{id0}' is not an image id"),
    ("absolute path", bad_line(1, "/etc/passwd"), "line 1: '/etc/passwd' is not an image id"),
    ("dot dot", bad_line(1, ".."), "line 1: '..' is not an image id"),
    ("hidden name", bad_line(1, ".hidden"), "line 1: '.hidden' is not an image id"),
    ("backslash", bad_line(1, "a\\b"), "is not an image id"),
    ("NUL in id", bad_line(1, b"00\x0001"), "is not an image id"),
    ("too long", bad_line(1, "9" * 201), "at most 200 characters"),
    ("listed twice", bad_line(3, "{id0}"), "line 3: image id '{id0}' is listed twice (lines 1 and 3)"),
]


@pytest.mark.parametrize(("case", "change", "reason"), SET_LINES_REFUSED, ids=[c[0] for c in SET_LINES_REFUSED])
def test_bad_set_file_lines_are_refused_or_skipped_alone(devkit, tmp_path, case, change, reason):
    want = ids(devkit, "train")
    path = set_lines("train", change)(devkit)
    reason = reason.format(id0=want[0])
    with pytest.raises(BadVOCInput) as err:
        prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert err.value.path == path and reason in err.value.reason
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, skip_bad=True, log=None)
    assert [(e.path, reason in e.reason) for e in res.skipped] == [(path, True)]
    assert res.images["train"] == len(want) + len(ids(devkit, "val"))  # every other line kept


SET_FILES_REFUSED = [
    ("empty", lambda b, d: b"", "set file is empty"),
    ("blank lines only", lambda b, d: b"\n \n\t\r\n", "set file is empty"),
    ("not UTF-8", lambda b, d: b"\xff\xfe\xfa" + b, "set file is not UTF-8 text"),
    ("UTF-16", lambda b, d: b.decode().encode("utf-16"), "set file is not UTF-8 text"),
]


@pytest.mark.parametrize(("case", "change", "reason"), SET_FILES_REFUSED, ids=[c[0] for c in SET_FILES_REFUSED])
def test_bad_set_files_are_refused_or_skipped(devkit, tmp_path, case, change, reason):
    path = set_lines("val", change)(devkit)
    with pytest.raises(BadVOCInput) as err:
        prepare_voc(devkit, tmp_path / "out", sets=SETS, log=None)
    assert err.value.path == path and reason in err.value.reason
    res = prepare_voc(devkit, tmp_path / "out", sets=SETS, skip_bad=True, log=None)
    assert [e.path for e in res.skipped] == [path] and res.images["train"] == len(ids(devkit, "train"))


def test_set_file_structure_problems(devkit, tmp_path):
    p = main_dir(devkit) / "val.txt"
    p.unlink()
    p.mkdir()
    with pytest.raises(BadVOCInput, match="set file is not a regular file"):
        prepare_voc(devkit, tmp_path / "a", sets=SETS, log=None)
    shutil.rmtree(devkit / "VOC2007" / "ImageSets")
    with pytest.raises(BadVOCInput, match=r"set file missing \(there is no ImageSets/Main folder\)") as err:
        prepare_voc(devkit, tmp_path / "b", sets=SETS, log=None)
    assert err.value.path == main_dir(devkit) / "train.txt"


def test_missing_year_folder_names_the_years_found(devkit, tmp_path):
    (devkit / SAMPLE_MARKER).unlink()  # a plain devkit: the default sets include VOC2012
    with pytest.raises(BadVOCInput) as err:
        prepare_voc(devkit, tmp_path / "out", classes=SAMPLE_CLASSES, log=None)
    assert err.value.path == devkit / "VOC2012"
    assert "no such folder in the devkit (VOC folders found: VOC2007)" in err.value.reason
    res = prepare_voc(devkit, tmp_path / "out", classes=SAMPLE_CLASSES, skip_bad=True, log=None)
    assert [e.path for e in res.skipped] == [devkit / "VOC2012"] and res.images["train"] == len(ids(devkit, "trainval"))


SET_FILES_ACCEPTED = [
    ("UTF-8 BOM", lambda b, d: b"\xef\xbb\xbf" + b),
    ("CRLF", lambda b, d: b.replace(b"\n", b"\r\n")),
    ("CR only", lambda b, d: b.replace(b"\n", b"\r")),
    ("tabs, spaces, blank lines", lambda b, d: b"\n\n" + b.replace(b"\n", b" \t\n\n")),
    ("no final newline", lambda b, d: b.rstrip(b"\n")),
]


@pytest.mark.parametrize(("case", "change"), SET_FILES_ACCEPTED, ids=[c[0] for c in SET_FILES_ACCEPTED])
def test_set_file_formatting_accepted(devkit, tmp_path, case, change):
    want = ids(devkit, "train")
    set_lines("train", change)(devkit)
    res = prepare_voc(devkit, tmp_path / "out", sets="2007:train,2007:test", log=None)
    assert not res.skipped
    assert sorted(p.stem for p in (res.out / "images" / "train").iterdir()) == [f"2007_{i}" for i in want]


def test_unicode_image_id_is_accepted(devkit, tmp_path):
    image_id, _ = target(devkit)
    voc = devkit / "VOC2007"
    for sub, ext in (("Annotations", "xml"), ("JPEGImages", "jpg")):
        shutil.copy(voc / sub / f"{image_id}.{ext}", voc / sub / f"图像-1.{ext}")
    (main_dir(devkit) / "train.txt").write_text("图像-1\n", encoding="utf-8")
    res = prepare_voc(devkit, tmp_path / "out", sets="2007:train,2007:test", log=None)
    assert [p.name for p in (res.out / "images" / "train").iterdir()] == ["2007_图像-1.jpg"]


def test_id_without_files_is_a_bad_image(devkit, tmp_path):
    (main_dir(devkit) / "train.txt").write_text((main_dir(devkit) / "train.txt").read_text() + "999999\n")
    refused_then_skipped(
        devkit, tmp_path / "out", devkit / "VOC2007" / "Annotations" / "999999.xml", "annotation file missing", None
    )


# ================================================================================== splits and sets
def test_sets_that_put_an_image_in_train_and_test_are_refused(devkit, tmp_path):
    cases = [
        ({"sets": "2007:trainval,2007:val"}, ids(devkit, "val")),  # no test set: val held out, but inside trainval
        ({"splits": {"train": "2007:trainval", "val": "2007:test", "test": "2007:trainval"}}, ids(devkit, "trainval")),
        ({"splits": {"train": "2007:train", "val": "2007:train", "test": "2007:test"}}, ids(devkit, "train")),
        ({"sets": "2007:trainval,2007:test,2007:test"}, None),  # the same set twice in the held-out split is fine
    ]
    for kw, leaked in cases:
        before = snapshot(tmp_path)
        if leaked is None:
            res = prepare_voc(devkit, tmp_path / "ok", log=None, **kw)
            assert res.repeated == {"train": 0, "val": len(ids(devkit, "test")), "test": len(ids(devkit, "test"))}
            continue
        with pytest.raises(ValueError) as err:
            prepare_voc(devkit, tmp_path / "out", log=None, **kw)
        msg = str(err.value)
        assert not isinstance(err.value, BadVOCInput)
        assert msg.startswith(
            f"{len(leaked)} image(s) would be in the training split and in val/test: 2007/{leaked[0]}"
        )
        assert "test images never leak into training" in msg and snapshot(tmp_path) == before


def test_a_test_image_listed_in_a_training_set_file_is_refused_by_id(devkit, tmp_path):
    leaked = ids(devkit, "test")[2]
    p = main_dir(devkit) / "train.txt"
    p.write_text(p.read_text() + f"{leaked}\n")
    with pytest.raises(
        ValueError, match=rf"^1 image\(s\) would be in the training split and in val/test: 2007/{leaked}\."
    ):
        prepare_voc(devkit, tmp_path / "out", sets=SETS, skip_bad=True, log=None)  # not skippable: a setup error
    assert not (tmp_path / "out").exists()


def test_an_image_in_two_sets_of_one_split_is_used_once_and_counted(devkit, tmp_path):
    logged: list[str] = []
    res = prepare_voc(devkit, tmp_path / "out", sets="2007:trainval,2007:val,2007:train,2007:test", log=logged.append)
    n = len(ids(devkit, "val")) + len(ids(devkit, "train"))
    assert res.images["train"] == len(ids(devkit, "trainval")) and res.repeated["train"] == n
    assert f"({n} listed by two of its sets, used once)" in logged[-1]
    assert json.loads((res.out / "prepared.json").read_text())["repeated"]["train"] == n


SETS_REFUSED = [
    ("2007trainval", "expected YEAR:SET"),
    ("", "no VOC sets given"),
    (" , ,", "no VOC sets given"),
    ("2007:", "bad VOC set 2007:''"),
    (":trainval", "bad VOC set :'trainval'"),
    ("../x:trainval", "bad VOC set ../x:'trainval'"),
    ("2007:../../etc/passwd", "bad VOC set 2007:'../../etc/passwd'"),
    ("2007:.hidden", "bad VOC set 2007:'.hidden'"),
    ("2007_x:trainval", "bad VOC set 2007_x:'trainval'"),
    ("2007:train val", "bad VOC set 2007:'train val'"),
    ("2007:test", "give no training set or no test/val set"),
    ("2007:train,2007:trainval", "give no training set or no test/val set"),
    (2007, "VOC sets must be a string"),
    ([("2007",)], "expected 'YEAR:SET' or a (year, set) pair"),
    ([None], "expected 'YEAR:SET' or a (year, set) pair"),
]


@pytest.mark.parametrize(("sets", "message"), SETS_REFUSED, ids=[repr(s[0]) for s in SETS_REFUSED])
def test_bad_sets_argument(devkit, tmp_path, sets, message):
    with pytest.raises(ValueError) as err:
        prepare_voc(devkit, tmp_path / "out", sets=sets, log=None)
    assert message in str(err.value) and not (tmp_path / "out").exists()


def test_sets_with_spaces_and_tuples_accepted(devkit, tmp_path):
    a = prepare_voc(devkit, tmp_path / "a", sets=" 2007 : train , 2007:test ,", log=None)
    b = prepare_voc(devkit, tmp_path / "b", sets=[("2007", "train"), ["2007", "test"]], log=None)
    assert a.images == b.images == {"train": len(ids(devkit, "train")), "val": 8, "test": 8}


ARGS_REFUSED = [
    ({"classes": "disc"}, "classes must be a list of class names"),
    ({"classes": 3}, "classes must be a list of class names"),
    ({"classes": ["disc", "disc"]}, "class names must be unique"),
    ({"classes": []}, "class names must be unique, non-empty"),
    ({"classes": [" disc"]}, "without surrounding whitespace"),
    ({"classes": ["a\nb"]}, "class names must be unique"),
    ({"classes": [1, 2]}, "class names must be unique"),
    ({"splits": {"train": "2007:train", "val": "2007:val"}}, "must give sets for train, val, test; missing test"),
    ({"splits": {"training": "2007:train"}}, "splits= must be a mapping with the keys train, val, test"),
    ({"splits": ["2007:train"]}, "splits= must be a mapping"),
]


@pytest.mark.parametrize(("kw", "message"), ARGS_REFUSED, ids=[str(a[0])[:40] for a in ARGS_REFUSED])
def test_bad_arguments(devkit, tmp_path, kw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_voc(devkit, tmp_path / "out", log=None, **kw)
    assert not (tmp_path / "out").exists()


def test_classes_without_one_used_in_the_xml(devkit, tmp_path):
    with pytest.raises(BadVOCInput, match="unknown class name 'cross'"):
        prepare_voc(devkit, tmp_path / "out", classes=SAMPLE_CLASSES[:-1], log=None)


def test_every_image_bad_leaves_no_usable_split(devkit, tmp_path):
    for p in (devkit / "VOC2007" / "JPEGImages").iterdir():
        p.write_bytes(b"")
    with pytest.raises(BadVOCInput, match="no usable image for split 'train'") as err:
        prepare_voc(devkit, tmp_path / "out", skip_bad=True, log=None)
    assert err.value.path == devkit and not (tmp_path / "out").exists()


# ================================================================================== the generated devkit's record
MANIFEST_REFUSED = [
    ("not JSON", b"{", "generated-devkit record is not valid JSON"),
    ("empty", b"", "generated-devkit record is not valid JSON"),
    ("binary", b"\x00\xff\xfe", "generated-devkit record is not valid JSON"),
    ("a list", b"[]", "generated-devkit record is a JSON list, not an object"),
    ("a string", b'"x"', "generated-devkit record is a JSON str, not an object"),
    ("null", b"null", "generated-devkit record is a JSON NoneType, not an object"),
    ("other writer", {"writer": "someone"}, "names the writer 'someone', not 'yolo_attn.data.sample'"),
    ("no writer", {"writer": None}, "names the writer None"),
    ("classes missing", {"classes": None}, "'classes' is None, not a list of unique non-empty names"),
    ("classes a string", {"classes": "disc"}, "'classes' is 'disc', not a list"),
    ("classes empty", {"classes": []}, "'classes' is [], not a list"),
    ("classes repeated", {"classes": ["a", "a"]}, "not a list of unique non-empty names"),
    ("classes not strings", {"classes": [1, 2]}, "not a list of unique non-empty names"),
    ("classes padded", {"classes": [" a", "b"]}, "not a list of unique non-empty names"),
    ("sets missing", {"sets": None}, "'sets' is None, not a list of YEAR:SET strings"),
    ("sets a string", {"sets": "2007:test"}, "not a list of YEAR:SET strings"),
    ("sets bad syntax", {"sets": ["2007trainval"]}, "expected YEAR:SET"),
    ("sets traversal", {"sets": ["../x:trainval"]}, "bad VOC set ../x:'trainval'"),
    ("images a string", {"images": "24"}, "'images' is '24', not an integer"),
    ("seed a float", {"seed": 0.5}, "'seed' is 0.5, not an integer"),
]


@pytest.mark.parametrize(("case", "change", "reason"), MANIFEST_REFUSED, ids=[c[0] for c in MANIFEST_REFUSED])
def test_corrupt_generated_devkit_record_is_named(devkit, tmp_path, case, change, reason):
    marker = devkit / SAMPLE_MARKER
    if isinstance(change, bytes):
        marker.write_bytes(change)
    else:
        marker.write_text(json.dumps({**json.loads(marker.read_text()), **change}))
    for skip_bad in (False, True):  # the record decides classes and sets: never skipped
        with pytest.raises(BadVOCInput) as err:
            prepare_voc(devkit, tmp_path / "out", skip_bad=skip_bad, log=None)
        assert err.value.path == marker and reason in err.value.reason, str(err.value)
        assert "regenerate the devkit" in err.value.reason or "unreadable" in err.value.reason
    assert not (tmp_path / "out").exists()


def test_record_that_is_a_folder_and_a_version_1_record(devkit, tmp_path):
    marker = devkit / SAMPLE_MARKER
    info = json.loads(marker.read_text())
    v1 = {"generator": info["writer"], "format_version": 1, "classes": info["classes"], "sets": info["sets"]}
    marker.write_text(json.dumps(v1))  # written by the previous version: still read for classes and sets
    assert prepare_voc(devkit, tmp_path / "a", log=None).images["train"] == len(ids(devkit, "trainval"))
    marker.unlink()
    marker.mkdir()
    with pytest.raises(BadVOCInput, match="generated-devkit record is not a regular file"):
        prepare_voc(devkit, tmp_path / "b", log=None)


# ================================================================================== the devkit folder and paths
def test_devkit_folder_problems(tmp_path):
    with pytest.raises(FileNotFoundError, match="VOC devkit folder not found"):
        prepare_voc(tmp_path / "missing", tmp_path / "out", log=None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file; give the VOCdevkit folder"):
        prepare_voc(tmp_path / "file", tmp_path / "out", log=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no VOC<year> folder"):
        prepare_voc(tmp_path / "empty", tmp_path / "out", log=None)
    (tmp_path / "bare" / "VOC2007").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="holds no VOC<year> folder"):
        prepare_voc(tmp_path / "bare", tmp_path / "out", log=None)
    (tmp_path / "nested" / "VOCdevkit").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="nested/VOCdevkit holds no VOC<year> folder"):
        prepare_voc(tmp_path / "nested", tmp_path / "out", log=None)
    assert not (tmp_path / "out").exists()


def test_paths_with_newlines_and_yaml_syntax_are_quoted(sample_devkits, tmp_path):
    devkit = sample_devkits(tmp_path / "dev\nkit: {x}")
    out = tmp_path / "out\n# path: /etc"
    res = prepare_voc(devkit, out, log=None)
    data = yaml.safe_load(res.yaml.read_text())
    assert data["path"] == str(out) and data["nc"] == len(SAMPLE_CLASSES) and data["train"] == "images/train"
    assert is_prepared(out)


def test_output_path_that_is_not_utf8_is_refused(devkit, tmp_path):
    out = Path(str(tmp_path) + "/out\udcff")
    with pytest.raises(ValueError, match="is not valid UTF-8"):
        prepare_voc(devkit, out, log=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


# ================================================================================== the sample generator's arguments
SAMPLE_ARGS_REFUSED = [
    *[({"images": v}, f"images must be an integer from 4 to 100000, got {v!r}") for v in (0, -1, 3, 100_001, 4.5, "10", True, None)],
    *[({"imgsz": v}, f"imgsz must be an integer from 32 to 4096, got {v!r}") for v in (0, 31, 4097, 64.0, "64")],
    *[({"seed": v}, f"seed must be an integer >= 0, got {v!r}") for v in (-1, 1.5, "0", None)],
    *[({"test_fraction": v}, f"test_fraction must be a number in (0, 1), got {v!r}") for v in (0, 1, 1.5, -0.1, math.nan, math.inf, "0.3", True)],
]  # fmt: skip


@pytest.mark.parametrize(("kw", "message"), SAMPLE_ARGS_REFUSED, ids=[repr(a[0]) for a in SAMPLE_ARGS_REFUSED])
def test_sample_generator_bad_arguments(tmp_path, kw, message):
    with pytest.raises(ValueError) as err:
        make_sample_dataset(tmp_path / "s", **kw)
    assert str(err.value) == f"make_sample_dataset: {message}" and not (tmp_path / "s").exists()


def test_sample_generator_takes_numpy_integers(tmp_path):
    devkit = make_sample_dataset(tmp_path, images=np.int64(5), imgsz=np.int32(32), seed=np.uint8(3), test_fraction=0.4)
    info = json.loads((devkit / SAMPLE_MARKER).read_text())
    assert (info["images"], info["imgsz"], info["seed"]) == (5, 32, 3)


# ================================================================================== special files and odd paths
@pytest.fixture
def no_hang():
    """Turn a hang (opening a FIFO blocks) into a failure after 60 s."""

    def alarm(*_):
        raise AssertionError("hung: a special file was opened")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


SPECIAL = [
    ("image is a FIFO", "JPEGImages", "jpg", "fifo", "image file is not a regular file"),
    ("annotation is a FIFO", "Annotations", "xml", "fifo", "annotation file is not a regular file"),
    ("image links to /dev/zero", "JPEGImages", "jpg", "/dev/zero", "image file is not a regular file"),
    ("annotation links to /dev/zero", "Annotations", "xml", "/dev/zero", "annotation file is not a regular file"),
    ("image links to /dev/null", "JPEGImages", "jpg", "/dev/null", "image file is not a regular file"),
]


@pytest.mark.parametrize(("case", "sub", "ext", "kind", "reason"), SPECIAL, ids=[c[0] for c in SPECIAL])
def test_special_files_are_refused_without_reading_them(devkit, tmp_path, no_hang, case, sub, ext, kind, reason):
    image_id, _ = target(devkit)
    p = devkit / "VOC2007" / sub / f"{image_id}.{ext}"
    p.unlink()
    if kind == "fifo":
        os.mkfifo(p)
    else:
        p.symlink_to(kind)
    bad = p
    refused_then_skipped(devkit, tmp_path / "out", bad, reason, image_id)


def test_special_set_file_and_record_are_refused(devkit, tmp_path, no_hang):
    p = main_dir(devkit) / "val.txt"
    p.unlink()
    os.mkfifo(p)
    with pytest.raises(BadVOCInput, match="set file is not a regular file"):
        prepare_voc(devkit, tmp_path / "a", sets=SETS, log=None)
    p.unlink()
    with open(p, "wb") as f:  # sparse: 65 MiB without writing them
        f.truncate(65 << 20)
    with pytest.raises(BadVOCInput, match=r"set file is 68157440 bytes, more than any VOC set file \(limit 64 MiB\)"):
        prepare_voc(devkit, tmp_path / "a", sets=SETS, log=None)
    marker = devkit / SAMPLE_MARKER
    marker.unlink()
    os.mkfifo(marker)
    with pytest.raises(BadVOCInput, match="generated-devkit record is not a regular file"):
        prepare_voc(devkit, tmp_path / "b", log=None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_output_paths_that_cannot_be_written(devkit, tmp_path):
    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(NotADirectoryError, match="file.txt is a file, not a folder"):
        prepare_voc(devkit, tmp_path / "file.txt" / "ds", log=None)
    with pytest.raises(NotADirectoryError, match="file.txt is a file, not a folder"):
        make_sample_dataset(tmp_path / "file.txt" / "deeper" / "s", images=4, imgsz=32)
    with pytest.raises(ValueError, match="is 201 bytes; at most 200"):
        prepare_voc(devkit, tmp_path / ("d" * 201), log=None)
    assert (tmp_path / "file.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "in"]
    res = prepare_voc(devkit, tmp_path / ("d" * 200), log=None)  # the longest name allowed works
    assert is_prepared(res.out)
