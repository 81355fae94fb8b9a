"""Property-based tests (hypothesis) of the parsers that read user files: the VOC annotation XML, set files, the
`--sets` argument and the generated devkit's record.

Each property: the parser returns a value that matches what was written, or raises the documented error
(`BadVOCInput` / `ValueError`); never another exception. Examples per test are fixed (`EXAMPLES`) and derandomized,
so every run checks the same cases; the report counts them.
"""

from __future__ import annotations

import atexit
import json
import math
import re
import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yolo_attn.data.sample import SAMPLE_MARKER, sample_info
from yolo_attn.data.voc import (
    VOC_CLASSES,
    BadVOCInput,
    VOCAnnotation,
    VOCObject,
    _read_set,
    parse_sets,
    parse_voc_xml,
)

EXAMPLES = {
    "round_trip": 300,
    "mutated": 500,
    "bytes": 300,
    "field_text": 500,
    "sets_text": 300,
    "set_file": 300,
    "record": 300,
}
TOTAL_EXAMPLES = sum(EXAMPLES.values())


def cfg(name: str):
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# ------------------------------------------------------------------------------------------ a document strategy
HALF = st.integers(0, 4000).map(lambda k: k / 2)  # exact in binary: k or k + 0.5


@st.composite
def number_text(draw, value: float) -> str:
    """One of the spellings of `value` (an integer or a half) that the reader must accept as exactly `value`."""
    if value == int(value):
        k = int(value)
        forms = [str(k), f"+{k}", f"{k}.0", f"{k}e0", f"{k}.", f"{k}.000", f"{k * 10}e-1", f"0{k}"]
    else:
        forms = [f"{value}", f"{value}0", f"+{value}", f"{int(value * 10)}e-1", f"{value:.3f}"]
    text = draw(st.sampled_from(forms))
    return draw(st.sampled_from(["", " ", "\n\t", "  \n"])) + text + draw(st.sampled_from(["", " ", "\n"]))


@st.composite
def flag_text(draw) -> tuple[str | None, bool]:
    value = draw(st.sampled_from([None, "", "0", "1", " 1 ", "\n0\n"]))
    return value, value is not None and value.strip() == "1"


@st.composite
def documents(draw):
    """(XML text, the VOCAnnotation it must parse to)."""
    size_kind = draw(st.sampled_from(["size", "size", "size", "none", "zero"]))
    w, h = draw(st.integers(1, 3000)), draw(st.integers(1, 3000))
    parts: list[str] = []
    if size_kind == "size":
        dims = [f"<width>{draw(number_text(float(w)))}</width>", f"<height>{draw(number_text(float(h)))}</height>"]
        dims.append(draw(st.sampled_from(["", "<depth>3</depth>", "<depth>x</depth>"])))
        parts.append("<size>" + "".join(draw(st.permutations(dims))) + "</size>")
        want_w, want_h = w, h
    elif size_kind == "zero":
        parts.append("<size><width>0</width><height>0</height></size>")
        want_w = want_h = 0
    else:
        want_w = want_h = 0
    objects = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([*VOC_CLASSES, "disc", "a & b", "ünïcode", "x<y"]))
        corners = [draw(HALF) for _ in range(4)]
        fields = [
            f"<name>{draw(st.sampled_from(['', ' ', chr(10)]))}{escape(name)}{draw(st.sampled_from(['', ' ']))}</name>"
        ]
        box = "".join(
            f"<{t}>{draw(number_text(v))}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True)
        )
        fields.append(f"<bndbox>{box}</bndbox>")
        flags = {}
        for tag in ("difficult", "truncated"):
            text, value = draw(flag_text())
            flags[tag] = value
            if text is not None:
                fields.append(f"<{tag}>{text}</{tag}>")
        fields += draw(
            st.lists(st.sampled_from(["<pose>Left</pose>", "<occluded>1</occluded>", "<!-- c -->"]), max_size=2)
        )
        parts.append("<object>" + "".join(draw(st.permutations(fields))) + "</object>")
        objects.append(VOCObject(name, *corners, difficult=flags["difficult"], truncated=flags["truncated"]))
    filename = draw(st.sampled_from(["", "000001.jpg", "a&amp;b.jpg"]))
    parts.append(f"<filename>{filename}</filename>")
    parts += draw(
        st.lists(st.sampled_from(["<folder>VOC2007</folder>", "<segmented>0</segmented>", "<?pi x?>"]), max_size=3)
    )
    # objects keep their order; the other elements may go anywhere
    others = [p for p in parts if not p.startswith("<object>")]
    order = draw(st.permutations(others))
    body, k = list(order), 0
    for p in parts:
        if p.startswith("<object>"):
            pos = draw(st.integers(k, len(body)))
            body.insert(pos, p)
            k = pos + 1
    sep = draw(st.sampled_from(["", "\n", "\n\t", "\r\n  "]))
    decl = draw(st.sampled_from(["", '<?xml version="1.0"?>\n', '<?xml version="1.0" encoding="utf-8"?>\n']))
    text = decl + "<annotation>" + sep + sep.join(body) + sep + "</annotation>\n"
    want = VOCAnnotation(filename.replace("&amp;", "&"), want_w, want_h, tuple(objects))
    return text, want


@cfg("round_trip")
@given(documents(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_valid_documents_round_trip(doc, encoding):
    text, want = doc
    if encoding == "utf-16" and text.startswith("<?xml"):
        text = text.replace('encoding="utf-8"', 'encoding="utf-16"')
    assert parse_voc_xml(text.encode(encoding), "a.xml") == want


# ------------------------------------------------------------------------------------------ hostile documents
def check_parsed(ann: VOCAnnotation) -> None:
    """What a successful parse guarantees, whatever the input."""
    assert isinstance(ann.width, int) and isinstance(ann.height, int) and ann.width >= 0 and ann.height >= 0
    for o in ann.objects:
        assert o.name and o.name == o.name.strip()
        assert all(math.isfinite(v) for v in (o.xmin, o.ymin, o.xmax, o.ymax))
        assert isinstance(o.difficult, bool) and isinstance(o.truncated, bool)


def parse_or_refuse(data: bytes) -> VOCAnnotation | None:
    try:
        ann = parse_voc_xml(data, "x.xml")
    except BadVOCInput as e:
        assert e.path == Path("x.xml") and e.reason
        return None
    check_parsed(ann)
    return ann


HOSTILE_SNIPPETS = [
    "nan", "inf", "-1", "1e999", "0x1", "1_0", "", " ", "<", ">", "&", "&e;", "&#0;", "&#x110000;", "]]>",
    "<!DOCTYPE a>", '<!DOCTYPE a [<!ENTITY e "x">]>', "<!ENTITY e SYSTEM 'file:///etc/passwd'>", "<?xml version='1.0'?>",
    "<object>", "</object>", "<bndbox>", "<size>", "<width>", "<name>", "<difficult>2</difficult>", "\x00", "\ufeff",
    "\ud800", "<![CDATA[", "<a:b>", "xmlns='urn:x'", "<annotation>", "</annotation>",
]  # fmt: skip


@st.composite
def mutations(draw, text: str) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]))
        snippet = draw(st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.text(max_size=8)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + snippet + text[i:]
        elif kind == "replace":
            text = text[:i] + snippet + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i]
    return text.encode("utf-8", "surrogatepass")


@cfg("mutated")
@given(st.data())
def test_mutated_documents_parse_or_are_refused(data):
    text, _ = data.draw(documents())
    parse_or_refuse(data.draw(mutations(text)))


@cfg("bytes")
@given(st.binary(max_size=600))
def test_arbitrary_bytes_parse_or_are_refused(blob):
    assert parse_or_refuse(blob) is None or blob.lstrip().startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))


# ------------------------------------------------------------------------------------------ one field, any text
def oracle_number(text: str) -> float | None:
    """The value a numeric field must take, written independently of the reader: a plain decimal, finite."""
    t = text.strip()
    if not t or any(c not in "0123456789+-.eE" for c in t):
        return None
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


FIELD = st.sampled_from(["xmin", "ymin", "xmax", "ymax", "width", "height", "difficult", "truncated", "name"])
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["nan", "-inf", "1e309", "3", " 3 ", "3.5", "+3", "3e0", "0x3", "3_0", "٣", "1,5", "3.", ".5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@cfg("field_text")
@given(FIELD, TEXT)
def test_any_text_in_one_field_parses_to_its_value_or_is_refused(field, text):
    values = {"xmin": "1", "ymin": "2", "xmax": "30", "ymax": "40", "width": "64", "height": "48"}
    values |= {"difficult": "0", "truncated": "1", "name": "dog"}
    raw = {k: escape(v) for k, v in values.items()}
    raw[field] = escape(text)
    doc = (
        f"<annotation><size><width>{raw['width']}</width><height>{raw['height']}</height></size><object>"
        f"<name>{raw['name']}</name><difficult>{raw['difficult']}</difficult><truncated>{raw['truncated']}</truncated>"
        f"<bndbox><xmin>{raw['xmin']}</xmin><ymin>{raw['ymin']}</ymin><xmax>{raw['xmax']}</xmax>"
        f"<ymax>{raw['ymax']}</ymax></bndbox></object></annotation>"
    )
    try:
        data = doc.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not representable in a file at all
        return
    xml_ok = not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    try:
        ann = parse_voc_xml(data, "f.xml")
    except BadVOCInput as e:
        reason = e.reason
        if not xml_ok:
            assert reason.startswith("malformed XML")
        elif field in ("difficult", "truncated"):
            assert text.strip() not in ("", "0", "1") and "not 0 or 1" in reason
        elif field == "name":
            assert not text.strip() and "is empty" in reason
        elif field in ("width", "height"):
            v = oracle_number(text)
            assert v is None or v != int(v) or v < 0
            assert "not a finite number" in reason or "is empty" in reason or "not a whole number" in reason
        else:
            assert oracle_number(text) is None and ("not a finite number" in reason or "is empty" in reason)
        return
    assert xml_ok
    got = {
        "width": ann.width,
        "height": ann.height,
        "name": ann.objects[0].name,
        "difficult": ann.objects[0].difficult,
        "truncated": ann.objects[0].truncated,
        **{k: getattr(ann.objects[0], k) for k in ("xmin", "ymin", "xmax", "ymax")},
    }
    stripped = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if field in ("difficult", "truncated"):
        assert got[field] == (stripped == "1") and stripped in ("", "0", "1")
    elif field == "name":
        assert got[field] == stripped and stripped
    else:
        v = oracle_number(text)
        assert v is not None and got[field] == v
        if field in ("width", "height"):
            assert v == int(v) and v >= 0 and isinstance(got[field], int)


# ------------------------------------------------------------------------------------------ --sets and set files
ID_RE = re.compile(r"\w[\w.-]*")


@cfg("sets_text")
@given(st.one_of(st.text(max_size=40), st.text(alphabet="0127:,. /_-avlnrsti", max_size=40)))
def test_sets_argument_parses_to_safe_names_or_is_refused(text):
    try:
        sets = parse_sets(text)
    except ValueError as e:
        assert "VOC set" in str(e)
        return
    assert sets
    for year, name in sets:
        assert re.fullmatch(r"[A-Za-z0-9-]+", year) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name)
    assert parse_sets(",".join(f"{y}:{n}" for y, n in sets)) == sets


_SET_ROOT = Path(tempfile.mkdtemp(prefix="yolo_attn_sets_"))
atexit.register(shutil.rmtree, _SET_ROOT, ignore_errors=True)
(_SET_ROOT / "VOC2007" / "ImageSets" / "Main").mkdir(parents=True)


@cfg("set_file")
@given(
    st.one_of(
        st.binary(max_size=200),
        st.lists(
            st.sampled_from(["000001", "000002", "a b", "../x", ".h", "0" * 201, "\ufeff", "\t", " "]), max_size=8
        ).map(lambda lines: "\n".join(lines).encode()),
        st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_set_file_bytes_give_unique_plain_ids_or_named_errors(blob):
    path = _SET_ROOT / "VOC2007" / "ImageSets" / "Main" / "s.txt"
    path.write_bytes(blob)
    try:
        ids, errors = _read_set(_SET_ROOT / "VOC2007", "s")
    except BadVOCInput as e:
        assert e.path == path and e.reason.startswith(("set file is empty", "set file is not UTF-8"))
        return
    assert len(set(ids)) == len(ids) and all(ID_RE.fullmatch(i) and len(i) <= 200 for i in ids)
    assert all(e.path == path and e.reason.startswith("line ") for e in errors)
    assert ids or errors


# ------------------------------------------------------------------------------------------ the sample record
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
RECORD_KEYS = st.fixed_dictionaries(
    {},
    optional={
        "writer": st.one_of(st.just("yolo_attn.data.sample"), JSON),
        "classes": st.one_of(st.just(["disc", "ring"]), st.lists(st.text(max_size=6), max_size=3), JSON),
        "sets": st.one_of(st.just(["2007:trainval", "2007:test"]), st.lists(st.text(max_size=12), max_size=3), JSON),
        "images": st.one_of(st.integers(), JSON),
        "seed": st.one_of(st.integers(), JSON),
    },
)


@cfg("record")
@given(st.one_of(RECORD_KEYS, JSON))
def test_sample_record_is_read_or_refused_by_name(record):
    folder = _SET_ROOT
    (folder / SAMPLE_MARKER).write_text(json.dumps(record))
    try:
        info = sample_info(folder)
    except BadVOCInput as e:
        assert e.path == folder / SAMPLE_MARKER and "regenerate the devkit" in e.reason
        return
    assert info == record
    assert info["writer"] == "yolo_attn.data.sample"
    assert info["classes"] and all(isinstance(c, str) and c for c in info["classes"])
    assert parse_sets(info["sets"])
