"""Model zoo: shipped YAMLs equal the template, build and run at every scale, and add exactly the attention's params."""

from __future__ import annotations

import math
from copy import deepcopy
from functools import cache
from pathlib import Path

import pytest
import torch
import yaml
from helpers import yolo_train

from yolo_attn import cli, zoo
from yolo_attn.nn import ATTENTION

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "cfg" / "models"
ENTRIES = {e.file: e for e in zoo.zoo_entries()}
GATING = {n for spec in ATTENTION.values() for n in (spec.name, *spec.aliases)}  # every YAML name of the registry


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------------------------------
# Closed-form parameter counts, transcribed from docs/design.md §2 (independent of the module code)


def eca_k(c: int) -> int:
    t = int(abs((math.log2(c) + 1) / 2))
    return t if t % 2 else t + 1


def closed_form(name: str, c: int, *hp) -> int:
    """Parameters of attention ``name`` gating ``c`` channels."""
    if name == "SE":  # Linear(C, C/16) + ReLU + Linear(C/16, C), biases
        h = c // 16
        return c * h + h + h * c + c
    if name == "MobileNetV3SE":  # Linear(C, C/4) + ReLU + Linear(C/4, C), biases
        h = c // 4
        return c * h + h + h * c + c
    if name == "ECA":  # one bias-free Conv1d(1, 1, k)
        return eca_k(c)
    if name == "CBAM":  # shared MLP (C/r, biases optional) + Conv2d(2, 1, k) no bias + BatchNorm2d(1) (optional)
        k, r, bias, _order, bn = (*hp, *(7, 16, True, "max-mean", True)[len(hp) :])
        h = c // r
        return 2 * c * h + (h + c if bias else 0) + 2 * k * k + (2 if bn else 0)
    if name in ("CoordAtt", "CA"):  # Conv1x1(C->mip), BN(mip), two Conv1x1(mip->C); biases optional
        r, bias = (*hp, *(32, True)[len(hp) :])
        mip = max(8, c // r)
        return 3 * c * mip + 2 * mip + (mip + 2 * c if bias else 0)
    if name == "ELA":  # Conv1d(C, C, k, groups g) no bias + GroupNorm(G, C)
        k, g = {"T": (5, c), "B": (7, c), "S": (5, c // 8), "L": (7, c // 8)}[hp[0] if hp else "L"]
        return c * (c // g) * k + 2 * c
    if name == "MLCA":  # two bias-free Conv1d(1, 1, k)
        return 2 * eca_k(c)
    if name == "EPSA":  # keeping channels: 4 grouped convs c -> c/4 + one shared SE (c/4 -> c/64 -> c/4)
        return epsa(c, c)
    if name == "EMA":  # per group of cg = C / G channels (weights shared): GroupNorm(cg, cg), Conv1x1, Conv3x3 + biases
        cg = c // (hp[0] if hp else 32)
        return 2 * cg + (cg * cg + cg) + (9 * cg * cg + cg)
    if name == "SimAM":  # parameter-free
        return 0
    raise KeyError(name)


def epsa(c1: int, c2: int) -> int:
    """EPSA c1 -> c2: 4 grouped convs c1 -> c2/4 (k 3/5/7/9, groups 1/4/8/16) + one shared SE (c2/4 -> c2/64)."""
    q, r = c2 // 4, c2 // 64
    convs = sum((c1 // g) * q * k * k for k, g in ((3, 1), (5, 4), (7, 8), (9, 16)))
    return convs + (q * r + r) + (r * q + q)


def epsa_for_conv(c1: int, c2: int) -> int:
    """EPSA [c2, 2] + BatchNorm2d(c2) in place of Conv(c2, 3, 2) (3x3 conv c1 -> c2 + BN): the parameter change."""
    return epsa(c1, c2) + 2 * c2 - (9 * c1 * c2 + 2 * c2)


@pytest.mark.parametrize(
    "name, hp, expected",
    [
        ("SE", (), 580),
        ("ECA", (), 3),
        ("CBAM", (), 680),
        ("CBAM", (7, 16, False, "mean-max", False), 610),  # the MAY code's CBAM: 680 - 68 biases - 2 BN
        ("CoordAtt", (), 1688),
        ("CoordAtt", (16, False), 3 * 64 * 8 + 16),  # the MAY code's CA: mip 8, no biases
        ("ELA", ("T",), 448),
        ("ELA", ("B",), 576),
        ("ELA", ("S",), 2688),
        ("ELA", ("L",), 3712),
        ("MLCA", (), 6),
        ("EPSA", (), 27121),
    ],
)
def test_closed_forms_match_design_table(name, hp, expected):
    """The transcriptions reproduce docs/design.md §2's sanity numbers at C=64."""
    assert closed_form(name, 64, *hp) == expected


def make_divisible(x: float, d: int = 8) -> int:
    return math.ceil(x / d) * d


# ---------------------------------------------------------------------------------------------------------------------
# The template


def test_shipped_files_equal_template():
    problems = zoo.check(MODELS)
    assert not problems, "\n".join(problems) + f"\nregenerate with `{zoo.GENERATED_BY}`"


def test_zoo_contents():
    names = set(ENTRIES)
    gates = ("se", "eca", "cbam", "coordatt", "ela", "mlca")
    may = ("none", "mbse", *gates, "paper-cbam", "paper-ca", "epsa-add")  # EPSA keeps the slot width: added
    yolos = ("yolov8", "yolo11", "yolo12", "yolo26")
    assert {f"may-{t}.yaml" for t in may} <= names
    assert {f"mobilenet-yolo-{t}.yaml" for t in ("none", *gates, "epsa", "epsa-add")} <= names
    assert {f"{p}-{t}.yaml" for p in yolos for t in (*gates, "epsa", "epsa-add")} <= names
    # one file per zoo attention of each family (registry modules, their variants, EPSA's two placements), plus
    # the two unscaled baselines; no two entries share a file name
    scaled = tuple(zoo._stock_families())  # the families derived from the installed Ultralytics YAMLs
    n = {f: len(zoo.family_attentions(f)) for f in ("may", "mobilenet-yolo", *scaled)}
    placed = len(zoo.placement_entries())  # the placement files (tests/test_placements.py)
    assert len(names) == (1 + n["may"]) + (1 + n["mobilenet-yolo"]) + sum(n[f] for f in scaled) + placed
    assert len(names) == len(zoo.zoo_entries())
    kinds = {f: e.attention.kind for f, e in ENTRIES.items()}
    assert {f for f, k in kinds.items() if k == "replace"} == {f"{p}-epsa.yaml" for p in ("mobilenet-yolo", *yolos)}
    assert {f for f, k in kinds.items() if k == "add"} == {
        f"{p}-epsa-add.yaml" for p in ("may", "mobilenet-yolo", *yolos)
    }


def _normalize(v):
    """What YAML gives back for a template value: bare None is the string 'None' (parse_model evaluates it)."""
    if v is None:
        return "None"
    if isinstance(v, (list, tuple)):
        return [_normalize(x) for x in v]
    return v


@pytest.mark.parametrize("file", sorted(ENTRIES))
def test_text_round_trips(file):
    e = ENTRIES[file]
    d = yaml.safe_load((MODELS / file).read_text())
    for section in ("backbone", "head"):
        assert d[section] == _normalize(e.data[section])
    assert d["nc"] == e.data["nc"]
    assert d.get("scales") == e.data.get("scales")
    text = (MODELS / file).read_text()
    assert text.startswith("# ") and "Generated by" in text


@pytest.mark.parametrize("prefix, stock", [("yolov8", "v8/yolov8.yaml"), ("yolo11", "11/yolo11.yaml")])
def test_derived_from_stock(prefix, stock):
    """yolov8-*/yolo11-* = Ultralytics' file with three attention rows between the neck and Detect."""
    ref = yaml.safe_load(zoo._stock_path(stock).read_text())
    *ref_head, ref_detect = ref["head"]
    n = len(ref["backbone"]) + len(ref["head"]) - 1
    files = (f for f, e in ENTRIES.items() if f.startswith(prefix + "-") and e.attention.kind != "replace")
    for file in (f for f in files if zoo.place_of(f) == "head-in"):
        d = yaml.safe_load((MODELS / file).read_text())
        assert d["backbone"] == ref["backbone"] and d["scales"] == ref["scales"] and d["nc"] == ref["nc"]
        assert d["head"][: len(ref_head)] == ref_head
        att_rows, detect = d["head"][len(ref_head) : -1], d["head"][-1]
        assert [r[0] for r in att_rows] == ref_detect[0]  # the attention reads what Detect read
        assert detect == [[n, n + 1, n + 2], 1, "Detect", ["nc"]]


@pytest.mark.parametrize("file", sorted(ENTRIES))
def test_attention_rows_carry_no_channels(file):
    """Attention rows hold exactly the entry's hyperparameters (channels come from the registration); a conv
    replacement row holds [c2, stride] of the Conv it replaces."""
    att = ENTRIES[file].attention
    d = yaml.safe_load((MODELS / file).read_text())
    rows = [(f, m, args) for f, _, m, args in d["backbone"] + d["head"] if m in GATING]
    hosts = [args[-1] for _, _, m, args in d["backbone"] + d["head"] if m.endswith("With")]
    assert all(a == _normalize(att.name if not att.hp else [att.name, *att.hp]) for a in hosts), hosts
    for f, m, args in rows:
        if att.kind == "replace":
            assert m == att.name and len(args) == 2 and args[1] == 2 and args[0] in (128, 256, 512), args
        else:
            assert isinstance(f, int), "a gating module reads one input"
            assert args == _normalize(list(att.hp)), f"{m} row carries more than hyperparameters: {args}"
    slots = [r[3][4] for r in d["backbone"] if r[2] == "MobileNetV3Block" and r[3][4] != "None"]
    for slot in slots:
        assert slot == (att.name if not att.hp else [att.name, *att.hp]), slot
    assert len(rows) + len(slots) + len(hosts) > 0 or att.name is None


@pytest.mark.parametrize("file", sorted(ENTRIES))
def test_file_names_do_not_look_scaled(file):
    from ultralytics.nn.tasks import guess_model_scale

    e = ENTRIES[file]
    if e.scales == ("",):
        assert guess_model_scale(file) == ""  # no 'yolo' + digits + scale letter
        assert not any(ch.isdigit() for ch in Path(file).stem)  # nor digit + n/s/m/l/x for the path fallback
    else:
        assert guess_model_scale(file) == "" and set(e.scales) == set("nsmlx")


def test_scale_letter_finds_the_file():
    from ultralytics.nn.tasks import yaml_model_load

    d = yaml_model_load(MODELS / "yolov8s-mlca.yaml")
    assert d["scale"] == "s" and d["head"][-2] == [21, 1, "MLCA", []]
    d = yaml_model_load(MODELS / "yolo11x-ela.yaml")
    assert d["scale"] == "x" and d["head"][-2] == [22, 1, "ELA", ["S"]]


# ---------------------------------------------------------------------------------------------------------------------
# Building and running


def _parse(d: dict, meta: bool = False):
    """Build the layers with Ultralytics' (wrapped) parser, without DetectionModel's 256x256 stride probe."""
    from ultralytics.nn import tasks

    import yolo_attn  # noqa: F401

    if meta:
        with torch.device("meta"):
            return tasks.parse_model(deepcopy(d), ch=3, verbose=False)[0]
    return tasks.parse_model(deepcopy(d), ch=3, verbose=False)[0]


def _forward(seq, x):
    """Run the layer list the way Ultralytics' models do (``f`` indices, saved outputs)."""
    outs = []
    for m in seq:
        if m.f != -1:
            x = outs[m.f] if isinstance(m.f, int) else [x if j == -1 else outs[j] for j in m.f]
        x = m(x)
        outs.append(x)
    return x


def _load(file: str, scale: str = "") -> dict:
    from ultralytics.nn.tasks import yaml_model_load

    d = yaml_model_load(MODELS / file)
    if scale:
        d["scale"] = scale
    return d


# Real build + forward: every unscaled file and every scaled file at scale n through DetectionModel (strides probed),
# plus the largest configuration of the paper's module; every scale of every scaled file is built and run for shapes
# in test_yolo_scales (meta-device build, zero-filled storage), which keeps the 2-core budget.
# (the placement files are built and run in tests/test_placements.py)
REAL_CASES = [(f, "n" if e.scales != ("",) else "") for f, e in ENTRIES.items() if zoo.place_of(f) == "head-in"] + [
    ("yolov8-mlca.yaml", "x"),
]


def _anchors(h: int, w: int) -> int:
    return sum((h // s) * (w // s) for s in (8, 16, 32))


@pytest.mark.parametrize("file, scale", REAL_CASES, ids=[f"{f}-{s}" if s else f for f, s in REAL_CASES])
def test_builds_and_runs(file, scale):
    """Build, then forward at 64x64 and at 64x96 (non-square) in eval mode; predictions have the expected shape."""
    from ultralytics.nn.tasks import DetectionModel

    d = _load(file, scale)
    model = DetectionModel(d, verbose=False).eval()
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    with torch.no_grad():
        for h, w in ((64, 64), (64, 96)):
            y = model(torch.rand(1, 3, h, w))
            y = y[0] if isinstance(y, (tuple, list)) else y
            assert tuple(y.shape) == (1, 4 + d["nc"], _anchors(h, w))
            assert torch.isfinite(y).all()


def _forward_shapes(seq, nc: int) -> None:
    """``seq`` built on the meta device (every constructor and channel check ran): give it zero-filled CPU
    storage (a full random initialization of the x scales is what costs on 2 cores, and the values do not matter
    here), and run a training-mode forward at 64x64 and 64x96: every layer's channels must agree with its input's."""
    seq = seq.to_empty(device="cpu")
    with torch.no_grad():
        for t in [*seq.parameters(), *seq.buffers()]:
            t.zero_()
    seq.train()
    with torch.no_grad():
        for h, w in ((64, 64), (64, 96)):
            y = _forward(seq, torch.rand(1, 3, h, w))
            assert tuple(y["boxes"].shape) == (1, 64, _anchors(h, w))
            assert tuple(y["scores"].shape) == (1, nc, _anchors(h, w))


def _params(seq) -> int:
    return sum(p.numel() for p in seq.parameters())


@cache
def _stock_params(rel: str, scale: str) -> int:
    d = yaml.safe_load(zoo._stock_path(rel).read_text())
    d["scale"] = scale
    return _params(_parse(d, meta=True))


MAY_SE_SLOTS = (1, 4, 5, 6, 7, 8, 9, 10, 11)
MAY_EXPECTED_SLOTS = {"ela": (1, 4, 5, 6, 8, 9, 10, 11), "epsa-add": (10, 11), "none": ()}  # else all 9 SE slots


@pytest.mark.parametrize("file", [f for f in ENTRIES if f.startswith("may-") and f != "may-none.yaml"])
def test_may_param_delta(file):
    """MAY variant - MAY without attention = sum of the closed forms at the hidden widths of the filled SE slots."""
    d = _load(file)
    blocks = [r for r in d["backbone"] if r[2] == "MobileNetV3Block"]
    assert len(blocks) == 11
    filled = [(j, r[3][1], r[3][4]) for j, r in enumerate(blocks, 1) if r[3][4] != "None"]
    tag = file[len("may-") : -len(".yaml")]
    assert tuple(j for j, _, _ in filled) == MAY_EXPECTED_SLOTS.get(tag, MAY_SE_SLOTS)
    expected = 0
    for _, hidden, att in filled:
        name, hp = (att, ()) if isinstance(att, str) else (att[0], tuple(att[1:]))
        expected += closed_form(name, hidden, *hp)
    assert _params(_parse(d, meta=True)) - _params(_parse(_load("may-none.yaml"), meta=True)) == expected


@pytest.mark.parametrize("file", [f for f in ENTRIES if f.startswith("mobilenet-yolo-") and "none" not in f])
def test_mobilenet_neck_param_delta(file):
    """Attention on the neck outputs of MobileNet-YOLO: P3 128, P4 256, P5 512 channels (no width scaling); a conv
    replacement in place of the neck's Conv(128, 3, 2) after P3 (128 ch) and Conv(256, 3, 2) after P4 (256 ch)."""
    d = _load(file)
    if ENTRIES[file].attention.kind == "replace":
        expected = epsa_for_conv(128, 128) + epsa_for_conv(256, 256)
    else:
        expected = sum(closed_form(name, c, *hp) for (name, hp), c in zip(_neck_rows(d), (128, 256, 512), strict=True))
    base = _load("mobilenet-yolo-none.yaml")
    assert _params(_parse(d, meta=True)) - _params(_parse(base, meta=True)) == expected


def _neck_rows(d: dict) -> list[tuple[str, tuple]]:
    """The attention rows of a file (module name, hyperparameters), read from the YAML itself."""
    return [(m, tuple(args)) for _, _, m, args in d["head"] if m in GATING]


YOLO_CASES = [(f, s) for f, e in ENTRIES.items() if e.family in ("YOLOv8", "YOLO11") for s in e.scales]


@pytest.mark.parametrize("file, scale", YOLO_CASES, ids=[f"{f}-{s}" for f, s in YOLO_CASES])
def test_yolo_scales(file, scale):
    """Every scale builds (meta device) and runs (shapes); variant - stock model = closed forms at the scaled neck widths (P3/P4/P5 = 256/512/1024 before
    scaling, min(c, max_channels) * width, made divisible by 8)."""
    rel = "v8/yolov8.yaml" if file.startswith("yolov8") else "11/yolo11.yaml"
    d = _load(file, scale)
    _, width, max_ch = d["scales"][scale]
    widths = [make_divisible(min(c, max_ch) * width) for c in (256, 512, 1024)]
    if ENTRIES[file].attention.kind == "replace":  # Conv(256, 3, 2) after P3, Conv(512, 3, 2) after P4
        expected = epsa_for_conv(widths[0], widths[0]) + epsa_for_conv(widths[1], widths[1])
    else:
        expected = sum(closed_form(name, c, *hp) for (name, hp), c in zip(_neck_rows(d), widths, strict=True))
    seq = _parse(d, meta=True)
    assert _params(seq) - _stock_params(rel, scale) == expected
    _forward_shapes(seq, d["nc"])


def test_meta_counts_equal_real_counts():
    for file, scale in (("yolov8-epsa.yaml", "n"), ("may-ela.yaml", "")):
        d = _load(file, scale)
        assert _params(_parse(d, meta=True)) == _params(_parse(d))


# docs/design.md §6: [out, hidden, k, s, use_se, use_hs]
MAY_TABLE = (
    (16, 16, 3, 2, 1, 0),
    (24, 72, 3, 2, 0, 0),
    (24, 88, 3, 1, 0, 0),
    (40, 96, 5, 2, 1, 1),
    (40, 240, 5, 1, 1, 1),
    (40, 240, 5, 1, 1, 1),
    (48, 120, 5, 1, 1, 1),
    (48, 144, 5, 1, 1, 1),
    (96, 288, 5, 2, 1, 1),
    (96, 576, 5, 1, 1, 1),
    (96, 576, 5, 1, 1, 1),
)


def test_may_rows_follow_the_design_table():
    d = _load("may-none.yaml")
    assert d["backbone"][0] == [-1, 1, "MobileNetV3Stem", [16, 3, 2, "HS"]]
    rows = [r[3] for r in d["backbone"][1:]]
    assert [r[:4] for r in rows] == [list(b[:4]) for b in MAY_TABLE]
    assert [r[5] for r in rows] == ["HS" if b[5] else "RE" for b in MAY_TABLE]
    d = _load("may-mlca.yaml")
    assert [r[3][4] == "MLCA" for r in d["backbone"][1:]] == [bool(b[4]) for b in MAY_TABLE]


def test_may_none_param_count_by_hand():
    """MAY without attention, counted from the block table of docs/design.md §6 and Ultralytics' layer definitions."""

    def conv(c1, c2, k=1):  # Ultralytics Conv: bias-free conv + BN
        return c1 * c2 * k * k + 2 * c2

    def c3(c1, c2):  # C3, n=1, e=0.5, Bottleneck(c_, c_, k=(1, 3), e=1.0)
        c_ = c2 // 2
        return 2 * conv(c1, c_) + conv(2 * c_, c2) + conv(c_, c_, 1) + conv(c_, c_, 3)

    backbone = 3 * 16 * 9 + 2 * 16  # stem: 3x3 conv 3->16 + BN
    c1 = 16
    for c2, hidden, k, _s, _se, _hs in MAY_TABLE:
        if hidden != c1:
            backbone += c1 * hidden + 2 * hidden  # expand 1x1 + BN
        backbone += hidden * k * k + 2 * hidden  # depthwise + BN
        backbone += hidden * c2 + 2 * c2  # project 1x1 + BN
        c1 = c2
    p3, p4, p5 = 24, 48, 96
    neck = conv(p5, 256) + c3(256 + p4, 256)  # 12, 15
    neck += conv(256, 128) + c3(128 + p3, 128)  # 16, 19 (P3 out)
    neck += conv(128, 128, 3) + c3(128 + 128, 256)  # 20, 22 (P4 out)
    neck += conv(256, 256, 3) + c3(256 + 256, 512)  # 23, 25 (P5 out)
    nc, reg_max = 20, 16
    c2, c3w = max(16, 128 // 4, 4 * reg_max), max(128, min(nc, 100))
    head = reg_max  # DFL's fixed 1x1 conv
    for x in (128, 256, 512):  # Detect: box branch, class branch
        head += conv(x, c2, 3) + conv(c2, c2, 3) + c2 * 4 * reg_max + 4 * reg_max
        head += conv(x, c3w, 3) + conv(c3w, c3w, 3) + c3w * nc + nc
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(_load("may-none.yaml"), verbose=False)
    assert sum(p.numel() for p in model.model[:12].parameters()) == backbone
    assert sum(p.numel() for p in model.parameters()) == backbone + neck + head


# ---------------------------------------------------------------------------------------------------------------------
# Profiling


def test_profile_counts_full_size():
    """GFLOPs = 2 x MACs on the real input; a single conv has a closed form."""
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)).train()
    params, gflops = zoo.profile_model(conv, (16, 24))
    assert params == 8 * 3 * 9
    assert gflops == pytest.approx(2 * 8 * 3 * 9 * 16 * 24 / 1e9, rel=1e-9)
    assert conv.training  # the model itself is untouched


def test_profile_model_on_may():
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(_load("may-mlca.yaml"), verbose=False)
    params, gflops = zoo.profile_model(model, 64)
    assert params == sum(p.numel() for p in model.parameters())
    assert 0 < gflops < 1


# ---------------------------------------------------------------------------------------------------------------------
# One short stock `yolo train` per family, in a fresh process through the stock command


@pytest.mark.parametrize(
    "model",
    ["cfg/models/may-mlca.yaml", "cfg/models/mobilenet-yolo-epsa.yaml", "cfg/models/yolo11n-ela.yaml"],
    ids=["MAY", "MobileNet-YOLO-neck", "YOLO11-scale-letter"],
)
@pytest.mark.slow
def test_stock_yolo_train(model, tiny_data, tmp_path):
    r = yolo_train(model, tiny_data, tmp_path, "run")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "run" / "weights" / "last.pt").exists()


def _undo_replacement(rows: list) -> list:
    """Fold each [EPSA [c2, 2]], [nn.BatchNorm2d], [nn.SiLU] triple back into the Conv(c2, 3, 2) row it replaced and
    undo the index shift of the later rows."""
    out, old_of_new, i = [], {}, 0
    while i < len(rows):
        f, n, m, args = rows[i]
        if m == "EPSA" and [r[2] for r in rows[i + 1 : i + 3]] == ["nn.BatchNorm2d", "nn.SiLU"]:
            row, span = [f, n, "Conv", [args[0], 3, 2]], 3
        else:
            row, span = [f, n, m, args], 1
        for j in range(i, i + span):
            old_of_new[j] = len(out)
        out.append(row)
        i += span
    fix = lambda f: [fix(j) for j in f] if isinstance(f, list) else (f if f < 0 else old_of_new[f])  # noqa: E731
    return [[fix(f), n, m, args] for f, n, m, args in out]


@pytest.mark.parametrize("file", sorted(f for f, e in ENTRIES.items() if e.attention.kind == "replace"))
def test_conv_replacement_rows(file):
    """A conv-replacement file is its base network with the neck's stride-2 3x3 convs replaced (and nothing else)."""
    d = yaml.safe_load((MODELS / file).read_text())
    if file.startswith("mobilenet-yolo-"):
        base = yaml.safe_load((MODELS / "mobilenet-yolo-none.yaml").read_text())
    else:
        base = yaml.safe_load(zoo._stock_path(zoo._STOCK[file.split("-")[0]][1]).read_text())
    rows, base_rows = d["backbone"] + d["head"], base["backbone"] + base["head"]
    assert sum(r[2] == "EPSA" for r in rows) == 2 and len(rows) == len(base_rows) + 4
    assert _undo_replacement(rows) == base_rows
    assert d["backbone"] == base["backbone"]


# ---------------------------------------------------------------------------------------------------------------------
# The MAY head option and the paper's head


def test_may_head_option_writes_a_narrower_box_branch(tmp_path):
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import DEFAULT_CFG

    assert cli.main(["models", "write", str(tmp_path), "--may-head", "no-dfl"]) == 0
    assert cli.main(["models", "check", str(tmp_path), "--may-head", "no-dfl"]) == 0
    assert cli.main(["models", "check", str(tmp_path)]) == 1  # differs from the shipped files
    d = yaml.safe_load((tmp_path / "may-mlca.yaml").read_text())
    assert d["reg_max"] == 1 and "reg_max" not in yaml.safe_load((tmp_path / "yolov8-mlca.yaml").read_text())
    assert "reg_max: 1" in (tmp_path / "mobilenet-yolo-none.yaml").read_text()
    model = DetectionModel(yaml.safe_load((tmp_path / "may-none.yaml").read_text()), verbose=False)
    base = DetectionModel(_load("may-none.yaml"), verbose=False)

    def box_branch(c2, reg_max):  # per level: Conv(x, c2, 3) + Conv(c2, c2, 3) + Conv2d(c2, 4 * reg_max, 1)
        return sum(x * c2 * 9 + 2 * c2 + c2 * c2 * 9 + 2 * c2 + c2 * 4 * reg_max + 4 * reg_max for x in (128, 256, 512))

    # c2 = max(16, 128 // 4, 4 * reg_max): 64 with DFL (reg_max 16, plus DFL's fixed 16-weight conv), 32 without
    expected = box_branch(64, 16) + 16 - box_branch(32, 1)
    assert _params(base) - _params(model) == expected == 353_476
    batch = {  # one training step: the loss without DFL (L1 distances) runs and gives gradients
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0, 1.0]),
        "cls": torch.tensor([[3.0], [7.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.3], [0.3, 0.6, 0.2, 0.2]]),
    }
    model.args = DEFAULT_CFG  # the loss reads its gains from the training arguments
    loss, _ = model.loss(batch)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and model.model[-1].cv2[0][-1].weight.grad.abs().sum() > 0


def test_may_head_option_is_validated():
    with pytest.raises(ValueError, match="'anchors'.*'detect', 'no-dfl'"):
        zoo._mobilenet_net(zoo.NO_ATTENTION, "anchors")
    with pytest.raises(SystemExit) as e:
        cli.main(["models", "write", "x", "--may-head", "anchors"])
    assert e.value.code == 2
    for bad in (["--imgsz", "100"], ["--scales", "nq"]):
        assert cli.main(["models", "table", str(MODELS), *bad]) == 2, bad


def test_yolov5_head_cost_is_the_papers_head():
    """YOLOv5's Detect of the MAY code: 1x1 convs 128/256/512 -> 3 x (20 + 5) with biases; thop (as ours) counts
    the weights' MACs on 80x80, 40x40 and 20x20 maps."""
    params, gflops = zoo.yolov5_head_cost()
    assert params == (128 + 256 + 512) * 75 + 3 * 75 == 67_425
    assert gflops == pytest.approx(2 * 75 * (128 * 6400 + 256 * 1600 + 512 * 400) / 1e9, rel=1e-12)


def test_head_cost_of_ultralytics_detect():
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(_load("may-none.yaml"), verbose=False)
    params, gflops = zoo.head_cost(model, 640)
    assert params == sum(p.numel() for p in model.model[-1].parameters()) == 2_123_788
    total_params, total_gflops = zoo.profile_model(model, 640)
    assert 0.3 < gflops / total_gflops < 0.7  # the head is about half of MAY's compute at 640


def test_cbam_batchnorm_settings_inside_a_model_are_ultralytics():
    """CBAM's docstring: built alone its spatial BN keeps the official eps 1e-5 / momentum 0.01; inside a YOLO model
    Ultralytics' initialize_weights sets every BatchNorm2d (this one included) to eps 1e-3 / momentum 0.03."""
    from ultralytics.nn.tasks import DetectionModel

    alone = ATTENTION["CBAM"].build(64)
    assert (alone.bn.eps, alone.bn.momentum) == (1e-5, 0.01)
    model = DetectionModel(_load("may-cbam.yaml"), verbose=False)
    bns = [m.bn for m in model.modules() if type(m).__name__ == "CBAM"]
    assert len(bns) == 9
    assert all((bn.eps, bn.momentum) == (1e-3, 0.03) for bn in bns)
