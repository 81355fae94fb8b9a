"""The one template: the zoo's families and entries, and the YAML text it generates, writes and checks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from yolo_attn._io import write_text

GENERATED_BY = "python -m yolo_attn.zoo write cfg/models"

# MobileNetV3-Small as written in the MLCA paper's code: [out, hidden, k, s, use_se, use_hs] (docs/design.md §6)
MAY_BLOCKS = (
    (16, 16, 3, 2, 1, 0),  # 1-P2/4, no expansion (hidden == in)
    (24, 72, 3, 2, 0, 0),  # 2-P3/8
    (24, 88, 3, 1, 0, 0),  # 3 P3 out (24 ch)
    (40, 96, 5, 2, 1, 1),  # 4-P4/16
    (40, 240, 5, 1, 1, 1),  # 5
    (40, 240, 5, 1, 1, 1),  # 6
    (48, 120, 5, 1, 1, 1),  # 7
    (48, 144, 5, 1, 1, 1),  # 8 P4 out (48 ch)
    (96, 288, 5, 2, 1, 1),  # 9-P5/32
    (96, 576, 5, 1, 1, 1),  # 10
    (96, 576, 5, 1, 1, 1),  # 11 P5 out (96 ch)
)
MAY_STEM = (16, 3, 2)  # out, k, s; hard-swish
#: The six MAY networks of the MLCA paper's official code (github.com/wandahangFY/MLCA, its YOLOv5-6.1 fork,
#: models/mobilenetv3-<name>.yaml) as (the paper's name, our file tag). SEOFF, SE (MobileNetV3's own), ECA and MLCA
#: are our modules as the paper ran them; its CBAM and CA differ from those modules' papers, so they have files of
#: their own (``may-paper-cbam``, ``may-paper-ca``) beside ``may-cbam`` and ``may-coordatt``.
MAY_PAPER = (
    ("SEOFF", "none"),
    ("SE", "mbse"),
    ("ECA", "eca"),
    ("CBAM", "paper-cbam"),
    ("CA", "paper-ca"),
    ("MLCA", "mlca"),
)
#: MAY heads the template can write: Ultralytics' Detect as the stock C3-neck YAMLs get it, or with box regression
#: without DFL (``reg_max: 1``, YOLO26's choice), which narrows the box branch.
MAY_HEADS = ("detect", "no-dfl")


@dataclass(frozen=True)
class Attention:
    """One attention choice of the zoo: file-name tag, YAML name, hyperparameters, display name and placement.

    ``kind`` says how the module enters the network: ``"gate"`` for a channel-keeping layer (a MAY SE slot, a neck
    output), ``"add"`` for a convolution replacement (EPSA) used the same way, as an extra layer keeping its input
    channels, and ``"replace"`` for a convolution replacement put where a convolution was: the stride-2 convs of
    the neck's downsampling path, as EPSANet's PSA replaces the 3x3 conv of its bottleneck.
    """

    tag: str  # file-name suffix: may-<tag>.yaml
    name: str | None  # YAML module name, None for no attention
    hp: tuple = ()  # hyperparameters after the channel count
    label: str = ""  # display name
    kind: str = "gate"  # "gate", "add" or "replace" (see above)
    note: str = ""  # why these hyperparameters / where this variant comes from (YAML header)

    @property
    def display(self) -> str:
        """Return the display name with hyperparameters, e.g. 'ELA-L'."""
        return self.label or (self.name or "none")


NO_ATTENTION = Attention("none", None, (), "none (SEOFF)")


def family_attentions(family: str) -> dict[str, Attention]:
    """Return the attention choices of a zoo family (tag -> Attention), from the registry ``yolo_attn.nn.ATTENTION``.

    A module's own entry comes first, then its registry variants (``AttentionSpec.variants``). A convolution
    replacement (``changes_channels``, EPSA) gets the conv-replacement file ``<tag>`` outside MAY and the
    added-layer file ``<tag>-add`` everywhere (in MAY only the latter: its SE slots keep their width).

    Args:
        family (str): One of ``yolo_attn.nn.registry.FAMILIES`` ("may", "mobilenet-yolo", "yolov8", "yolo11").
    """
    from yolo_attn.nn import ATTENTION

    out = {}
    for spec in ATTENTION.values():
        if not spec.in_family(family):
            continue
        hp, note = spec.hp(family), spec.note(family)
        if spec.changes_channels:
            name = spec.display(hp)
            if family != "may":
                out[spec.tag] = Attention(spec.tag, spec.name, hp, f"{name} (conv replacement)", "replace", note)
            out[f"{spec.tag}-add"] = Attention(f"{spec.tag}-add", spec.name, hp, f"{name} (added layer)", "add", note)
        else:
            out[spec.tag] = Attention(spec.tag, spec.name, hp, spec.display(hp), "gate", note)
        for v in spec.variants:
            if family in v.families:
                out[v.tag] = Attention(v.tag, spec.name, tuple(v.hyperparameters), v.label, "gate", v.source)
    return out


#: The modules on the neck outputs of MobileNet-YOLO (the YOLO families read their own family's choices).
ATTENTIONS = family_attentions("mobilenet-yolo")
#: MAY: no attention (the paper's SEOFF baseline), then every module that has a MAY variant.
MAY_ATTENTIONS = {"none": NO_ATTENTION, **family_attentions("may")}


def attention_fits(name: str | None, hp: tuple, channels: int) -> bool:
    """Return whether the attention ``name`` with ``hp`` accepts ``channels`` channels: its constructor decides.

    The MAY template leaves a slot empty where the module refuses the slot's width (e.g. ELA needs C % 16 == 0,
    EPSA keeping C channels needs C % 64 == 0, SE and CBAM reduce by 16).
    """
    if name is None:
        return True
    from yolo_attn.nn import find_attention

    return find_attention(name).fits(channels, *hp)


@dataclass
class ZooEntry:
    """One generated model YAML and what the README table says about it."""

    file: str
    family: str  # "MAY", "MobileNet-YOLO neck", "YOLOv8", "YOLO11"
    attention: Attention
    where: str
    baseline: str | None  # file name in cfg/models, or "ultralytics:<yaml>" for a stock baseline
    scales: tuple[str, ...]  # ("",) for files without scales
    slots: tuple[int, ...] = ()  # MAY: the block numbers (1-11) that hold the attention
    header: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)  # one per backbone + head row


# ---------------------------------------------------------------------------------------------------------------------
# YAML text


def _scalar(v) -> str:
    """Format one YAML flow scalar: symbolic names (None, nc) bare, other strings double-quoted."""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (int, float)):
        return repr(v)
    if v is None:
        return "None"
    if isinstance(v, str):
        return v if v in ("None", "nc") else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot format {v!r} as a YAML flow value")


def _row(f, n, m, args) -> str:
    """Format one layer row ``[from, repeats, module, args]`` (module bare)."""
    return f"[{_scalar(f)}, {n}, {m}, {_scalar(list(args))}]"


def _text(entry: ZooEntry) -> str:
    """Render the YAML text of ``entry``."""
    d = entry.data
    lines = [f"# {h}".rstrip() for h in entry.header]
    lines += [_MARK, ""]
    lines.append(f"nc: {d['nc']} # number of classes")
    if "scales" in d:
        lines += [
            "scales: # model compound scaling constants, the scale letter comes from the file name",
            "  # [depth, width, max_channels]",
        ]
        lines += [f"  {k}: {_scalar(v)}" for k, v in d["scales"].items()]
    else:
        lines += [f"depth_multiple: {d['depth_multiple']} # no scales", f"width_multiple: {d['width_multiple']}"]
    for k, v in d.items():
        if k not in ("nc", "scales", "depth_multiple", "width_multiple", "backbone", "head"):
            lines.append(f"{k}: {_scalar(v)}")
    i = 0
    for section in ("backbone", "head"):
        lines += ["", f"{section}:"]
        if section == "backbone":
            lines.append("  # [from, repeats, module, args]")
        for f, n, m, args in d[section]:
            comment = entry.comments[i] if i < len(entry.comments) else str(i)
            lines.append(f"  - {_row(f, n, m, args)} # {comment}")
            i += 1
    return _seal("\n".join(lines) + "\n")


# The generated line names the command and carries a hash of the rest of the file: `write` replaces a file only when
# it is our unedited output (the hash matches), never a user's edited or own YAML of the same name.
_MARK = f"# Generated by `{GENERATED_BY}` (yolo_attn/zoo): edit the template, not this file."
_SEALED = re.compile(rf"^{re.escape(_MARK)} sha256:([0-9a-f]{{16}})$", re.M)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _seal(text: str) -> str:
    """Append the hash of ``text`` (holding `_MARK` once) to its `_MARK` line."""
    return text.replace(_MARK, f"{_MARK} sha256:{_digest(text)}", 1)


def is_unedited_output(text: str) -> bool:
    """Whether ``text`` is a file `write` generated and nobody edited since (its hash matches)."""
    m = _SEALED.search(text)
    return bool(m) and _digest(text[: m.start()] + _MARK + text[m.end() :]) == m.group(1)


# ---------------------------------------------------------------------------------------------------------------------
# MAY and MobileNet-YOLO


def _block_attention(att: Attention):
    """Return the ``attention`` argument of a MobileNetV3Block row."""
    if att.name is None:
        return None
    return [att.name, *att.hp] if att.hp else att.name


def _mobilenet_net(att: Attention, head: str = "detect") -> tuple[dict, list[str], tuple[int, ...]]:
    """Return the MAY model dict with ``att`` in the SE slots that fit it, its row comments and the used slots."""
    out, k, s = MAY_STEM
    backbone = [[-1, 1, "MobileNetV3Stem", [out, k, s, "HS"]]]
    comments = ["0-P1/2 stem 3x3 s2, hard-swish"]
    slots = []
    for j, (c2, hidden, k, s, use_se, use_hs) in enumerate(MAY_BLOCKS, 1):
        use = use_se and att.name is not None and attention_fits(att.name, att.hp, hidden)
        if use:
            slots.append(j)
        act = "HS" if use_hs else "RE"
        backbone.append([-1, 1, "MobileNetV3Block", [c2, hidden, k, s, _block_attention(att) if use else None, act]])
        note = f"SE slot: {att.display}" if use else "SE slot empty" if use_se else "no SE slot"
        if use_se and not use and att.name is not None:
            note = f"SE slot empty: {att.display} does not fit {hidden} channels"
        comments.append(f"{j}{_MAY_POS.get(j, '')} hidden {hidden}, {note}")
    head_rows = [
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
        [[-1, 8], 1, "Concat", [1]],
        [-1, 1, "C3", [256, False]],
        [-1, 1, "Conv", [128, 1, 1]],
        [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
        [[-1, 3], 1, "Concat", [1]],
        [-1, 1, "C3", [128, False]],
        [-1, 1, "Conv", [128, 3, 2]],
        [[-1, 16], 1, "Concat", [1]],
        [-1, 1, "C3", [256, False]],
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 1, "C3", [512, False]],
        [[19, 22, 25], 1, "Detect", ["nc"]],
    ]
    comments += [
        "12",
        "13",
        "14 cat backbone P4",
        "15",
        "16",
        "17",
        "18 cat backbone P3",
        "19 (P3/8-small)",
        "20",
        "21 cat head P4",
        "22 (P4/16-medium)",
        "23",
        "24 cat head P5",
        "25 (P5/32-large)",
        "26 Detect(P3, P4, P5), anchor-free",
    ]
    if head not in MAY_HEADS:
        raise ValueError(f"MAY head {head!r} is not one of {', '.join(map(repr, MAY_HEADS))}")
    data = {"nc": 20, "depth_multiple": 1.0, "width_multiple": 1.0}
    if head == "no-dfl":
        data["reg_max"] = 1
    data.update(backbone=backbone, head=head_rows)
    return data, comments, tuple(slots)


_MAY_POS = {1: "-P2/4", 2: "-P3/8", 3: " P3 out", 4: "-P4/16", 8: " P4 out", 9: "-P5/32", 11: " P5 out"}
_MAY_SE_SLOTS = tuple(j for j, b in enumerate(MAY_BLOCKS, 1) if b[4])

_PAPER_NOTE = (
    "The MLCA paper trained this network in YOLOv5 6.1 with YOLOv5's anchor-based head (3 anchors per level); "
    "Ultralytics has no anchor-based head, so these files end in its anchor-free Detect (DFL box regression, "
    "task-aligned assignment). Paper setup: VOC07+12, 640 px, 300 epochs from scratch, SGD lr0 0.01, batch 40."
)


def _wrap(text: str, width: int = 112) -> list[str]:
    """Split ``text`` into comment lines of at most ``width`` characters."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    return [*lines, cur] if cur else lines


_NO_DFL_NOTE = (
    "Head option no-dfl: `reg_max: 1` makes Ultralytics' Detect regress one distance per box side (no DFL bins, L1 "
    "distance loss; YOLO26's choice), which narrows its box branch; the class branch is unchanged."
)


def _may_entry(att: Attention, head: str = "detect") -> ZooEntry:
    """Return the MAY entry with ``att`` in the SE slots (``head``: one of ``MAY_HEADS``)."""
    data, comments, slots = _mobilenet_net(att, head)
    if att.name is not None and not slots:
        raise ValueError(
            f"MAY: {att.display} ({att.name} with hyperparameters {list(att.hp)}) fits none of the SE slots; "
            "the module refused every hidden width (or these hyperparameters)"
        )
    if att.name is None:
        where = "no attention (the 9 SE slots empty)"
    elif slots == _MAY_SE_SLOTS:
        where = f"{att.display} in the 9 SE slots of the backbone"
    else:
        missing = [j for j in _MAY_SE_SLOTS if j not in slots]
        where = (
            f"{att.display} in {len(slots)} of the 9 SE slots (blocks {_join(slots)}); "
            f"{'blocks' if len(missing) > 1 else 'block'} {_join(missing)} empty (width constraint)"
        )
    header = [
        f"MAY ({att.display}): MobileNet-Attention-YOLO of the MLCA paper (Wan et al. 2023), nc 20, no scales.",
        "Backbone: MobileNetV3-Small (stem + 11 inverted residual blocks); the attention sits in the squeeze-and-",
        "excitation slot of the blocks with use_se=1: after the depthwise conv + BN, before the activation (block 1:",
        "after the activation) and the linear 1x1 projection, on the block's hidden width. Neck: YOLOv5 v6.0 C3-PAN.",
    ]
    if att.name is not None and slots != _MAY_SE_SLOTS:
        header += _wrap(
            f"Deviation: {att.display} cannot be built on the hidden width of "
            f"{'blocks' if len(missing) > 1 else 'block'} {_join(missing)} "
            f"({', '.join(str(MAY_BLOCKS[j - 1][1]) for j in missing)} channels; docs/design.md §3), so "
            f"{'those SE slots stay' if len(missing) > 1 else 'that SE slot stays'} empty."
        )
    if att.note:
        header += _wrap(("Source: " if att.tag.startswith("paper-") else "Why: ") + att.note)
    if att.kind == "add":
        header += _wrap(
            f"{att.name} is EPSANet's replacement for a 3x3 convolution; in this file it is added as an extra layer "
            "in the SE slots, keeping the hidden channels, which is not how EPSANet uses it (mobilenet-yolo-"
            f"{att.tag.removesuffix('-add')}.yaml uses it as a conv replacement)."
        )
    paper = dict((tag, name) for name, tag in MAY_PAPER)
    if att.tag in paper:
        header += _wrap(
            f"This is the paper's {paper[att.tag]} network (mobilenetv3-{paper[att.tag]}.yaml of its official code) "
            "through backbone and neck; the six are the compare named set may-paper."
        )
    elif att.kind == "gate" and _may_variant(att):
        header += _wrap(
            f"{att.display} as its own paper's code builds it; the MLCA paper's MAY code built it differently, and "
            f"that network is may-{_may_variant(att)}.yaml."
        )
    header += _wrap(_PAPER_NOTE)
    if head == "no-dfl":
        header += _wrap(_NO_DFL_NOTE)
    return ZooEntry(
        file=f"may-{att.tag}.yaml",
        family="MAY",
        attention=att,
        where=where,
        baseline=None if att.name is None else "may-none.yaml",
        scales=("",),
        slots=slots,
        header=header,
        data=data,
        comments=comments,
    )


def _may_variant(att: Attention) -> str:
    """The file tag of the registry's MAY variant (another paper's build) of the module of ``att``, or ""."""
    from yolo_attn.nn import ATTENTION

    spec = ATTENTION.get(att.name)
    if spec is None or att.tag != spec.tag:
        return ""
    return next((v.tag for v in spec.variants if "may" in v.families), "")


def _join(ints) -> str:
    """Join block numbers as '1, 4, 5'."""
    return ", ".join(str(i) for i in ints)


def _attention_args(att: Attention) -> list:
    """Return the args of a gating row: hyperparameters only, the channels are injected by the registration."""
    return list(att.hp)


def _neck_attention(data: dict, comments: list[str], att: Attention) -> tuple[dict, list[str]]:
    """Append ``att`` on each input of the final Detect row and point Detect at the new rows (indices unchanged)."""
    head = [list(r) for r in data["head"]]
    f, n, m, args = head[-1]
    assert m == "Detect" and isinstance(f, list), f"last row is not a multi-input Detect: {head[-1]}"
    first = len(data["backbone"]) + len(head) - 1  # the index Detect had
    new_rows = [[src, 1, att.name, _attention_args(att)] for src in f]
    new_comments = [f"{first + j} {att.display} on layer {src}" for j, src in enumerate(f)]
    detect = [[first + j for j in range(len(f))], n, m, args]
    levels = ", ".join(f"P{3 + j}" for j in range(len(f)))
    out = {k: v for k, v in data.items() if k != "head"}
    out["head"] = head[:-1] + new_rows + [detect]
    tail = [f"{first + len(f)} Detect({levels}) on the attention outputs"]
    return out, comments[: len(comments) - 1] + new_comments + tail


def _renumber(comment: str, index: int) -> str:
    """Return ``comment`` with its leading layer index replaced by ``index``."""
    return str(index) + re.sub(r"^\d+", "", comment)


def _replace_downsampling(data: dict, comments: list[str], att: Attention) -> tuple[dict, list[str], list[int]]:
    """Replace each stride-2 ``Conv`` of the head (the PAN path's downsampling convs) by ``att`` as a conv
    replacement, followed by the BatchNorm and activation the replaced ``Conv`` had, and renumber the layers.

    EPSANet's PSA replaces the 3x3 convolution of a ResNet bottleneck, and the bottleneck's BN and ReLU follow it;
    here ``[c2, 2]`` replaces ``Conv(c2, 3, 2)`` (conv, BN, SiLU), so the rows are the module, ``nn.BatchNorm2d`` and
    ``nn.SiLU``. Absolute ``from`` indices after a replacement move by the rows it added.

    Returns:
        (tuple[dict, list[str], list[int]]): The model dict, the row comments and the new indices of the module rows.
    """
    nb = len(data["backbone"])
    rows = [list(r) for r in data["backbone"] + data["head"]]
    new_index: dict[int, int] = {}
    out_rows, out_comments, placed = [], [], []

    def remap(f):
        if isinstance(f, list):
            return [remap(j) for j in f]
        assert f == -1 or f >= 0, f"relative index {f} other than -1 cannot be remapped"
        return f if f < 0 else new_index[f]

    for i, ((f, n, m, args), comment) in enumerate(zip(rows, comments, strict=True)):
        f = remap(f)
        if i >= nb and m == "Conv" and len(args) >= 3 and args[1] == 3 and args[2] == 2:
            c2 = args[0]
            j = len(out_rows)
            out_rows += [[f, n, att.name, [c2, 2]], [-1, 1, "nn.BatchNorm2d", []], [-1, 1, "nn.SiLU", []]]
            out_comments += [
                f"{j} {att.name} [{c2}, 2] replaces Conv({c2}, 3, 2){re.sub(r'^[0-9]+', '', comment)}",
                f"{j + 1} the BatchNorm of the replaced Conv",
                f"{j + 2} the activation of the replaced Conv",
            ]
            placed.append(j)
        else:
            out_rows.append([f, n, m, args])
            out_comments.append(_renumber(comment, len(out_rows) - 1))
        new_index[i] = len(out_rows) - 1
    out = {k: v for k, v in data.items() if k not in ("backbone", "head")}
    out["backbone"], out["head"] = out_rows[:nb], out_rows[nb:]
    return out, out_comments, placed


def _replace_header(family: str, network: str, att: Attention, placed: list[int]) -> list[str]:
    """Header lines of a conv-replacement file."""
    return _wrap(
        f"{family} with {att.name} as a convolution replacement: {network}, with the {len(placed)} stride-2 3x3 "
        f"convs of the neck's downsampling path (layers {_join(placed)}) replaced by {att.name} [c2, 2] followed by "
        "the BatchNorm and SiLU the replaced Conv had, as EPSANet's PSA replaces the 3x3 conv of its bottleneck "
        f"(BN and ReLU after it). The {att.name} row's c2 is width-scaled like Conv's. The variant that adds "
        f"{att.name} as an extra layer is the -{att.tag}-add file."
    )


def _added_note(att: Attention, prefix: str) -> str:
    """Header text of an added-layer file of a conv-replacement module."""
    base = att.tag.removesuffix("-add")
    return (
        f"{att.name} is EPSANet's replacement for a 3x3 convolution; this file adds it as an extra layer on the "
        f"neck outputs (keeping their channels), which is not how EPSANet uses it; {prefix}-{base}.yaml uses it "
        "as a conv replacement."
    )


def _neck_entry(att: Attention, head: str = "detect") -> ZooEntry:
    """Return the MobileNet-YOLO entry with ``att`` on the neck outputs (``att.name`` None: the baseline)."""
    data, comments, _ = _mobilenet_net(NO_ATTENTION, head)
    header = [
        f"MobileNet-YOLO with {att.display} in the neck: the MAY network (MobileNetV3-Small backbone with its SE",
        "slots empty, YOLOv5 v6.0 C3-PAN neck, anchor-free Detect, nc 20, no scales) with the attention applied to",
        "each of the three neck outputs (P3 24->128, P4 48->256, P5 96->512 ch) right before Detect.",
    ]
    if att.name is None:
        header = [
            "MobileNet-YOLO baseline for the neck-attention files: the same network as may-none.yaml (MobileNetV3-Small",
            "backbone with its SE slots empty, YOLOv5 v6.0 C3-PAN neck, anchor-free Detect, nc 20, no scales).",
        ]
        where = "no attention (baseline)"
    elif att.kind == "replace":
        data, comments, placed = _replace_downsampling(data, comments, att)
        where = f"{att.name} replacing the neck's {len(placed)} stride-2 convs (+ their BN and SiLU)"
        header = _replace_header(
            "MobileNet-YOLO",
            "the MAY network (MobileNetV3-Small backbone with its SE slots "
            "empty, YOLOv5 v6.0 C3-PAN neck, anchor-free Detect, nc 20, no scales)",
            att,
            placed,
        )
    else:
        data, comments = _neck_attention(data, comments, att)
        where = f"{att.display} on the 3 neck outputs before Detect"
        if att.kind == "add":
            header += _wrap(_added_note(att, "mobilenet-yolo"))
    if att.note and att.kind != "replace":
        header += _wrap("Why: " + att.note)
    return ZooEntry(
        file=f"mobilenet-yolo-{att.tag}.yaml",
        family="MobileNet-YOLO neck",
        attention=att,
        where=where,
        baseline=None if att.name is None else "mobilenet-yolo-none.yaml",
        scales=("",),
        header=header
        + _wrap(_PAPER_NOTE.replace("this network", "MAY"))
        + (_wrap(_NO_DFL_NOTE) if head == "no-dfl" else []),
        data=data,
        comments=comments,
    )


# ---------------------------------------------------------------------------------------------------------------------
# YOLOv8, YOLO11, YOLO12 and YOLO26 from Ultralytics' own YAMLs

# Stock families, each generated only when the installed Ultralytics ships its YAML (YOLO11 from 8.3.0, YOLO12 from
# 8.3.78, YOLO26 from 8.4.0: yolo_attn.integration.compat.FAMILY_SINCE, which also refuses them on older releases).
_STOCK = {
    "yolov8": ("YOLOv8", "v8/yolov8.yaml"),
    "yolo11": ("YOLO11", "11/yolo11.yaml"),
    "yolo12": ("YOLO12", "12/yolo12.yaml"),
    "yolo26": ("YOLO26", "26/yolo26.yaml"),
}


def _stock_families() -> list[str]:
    """The prefixes of ``_STOCK`` whose template YAML the installed Ultralytics ships."""
    return [p for p, (_, rel) in _STOCK.items() if _stock_path(rel).is_file()]


def _stock_path(rel: str) -> Path:
    """Return the path of a model YAML shipped with the installed Ultralytics."""
    from yolo_attn.integration.internals import stock_models_dir

    root = stock_models_dir()
    if root is None:
        raise FileNotFoundError("Ultralytics is not installed: its model YAMLs are the templates of this family")
    return root / rel


def _stock(rel: str) -> tuple[dict, list[str]]:
    """Return Ultralytics' model dict (comments stripped) and the trailing comment of each layer row."""
    text = _stock_path(rel).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    rows = data["backbone"] + data["head"]
    comments = []
    for line in text.splitlines():
        if re.match(r"^\s*-\s*\[", line):
            comment = line.split("#", 1)[1].strip() if "#" in line else ""
            comments.append(comment)
    if len(comments) != len(rows):
        comments = [""] * len(rows)
    return data, [f"{i} {c}".strip() if not c.startswith(str(i)) else c for i, c in enumerate(comments)]


def _yolo_entry(prefix: str, att: Attention) -> ZooEntry:
    """Return the ``<prefix>-<att>.yaml`` entry built from Ultralytics' ``<prefix>.yaml``."""
    family, rel = _STOCK[prefix]
    stock, comments = _stock(rel)
    usage = (
        f"Use with a scale letter: model=cfg/models/{prefix}s-{att.tag}.yaml picks scale s of this file. The "
        "attention rows carry hyperparameters only; the yolo_attn registration gives them the real input channels "
        "at every scale."
    )
    if att.kind == "replace":
        data, comments, placed = _replace_downsampling(stock, comments, att)
        header = _replace_header(
            family, f"Ultralytics' {Path(rel).name} (same backbone, scales and neck blocks)", att, placed
        )
        header += _wrap(usage)
        where = f"{att.name} replacing the neck's {len(placed)} stride-2 convs (+ their BN and SiLU)"
    else:
        data, comments = _neck_attention(stock, comments, att)
        header = _wrap(
            f"{family} with {att.display} on each of the three neck outputs (P3/8, P4/16, P5/32) right before "
            f"Detect. Derived from Ultralytics' {Path(rel).name}: same layers, scales and indices; the attention "
            f"rows are appended after the neck and Detect reads them. {usage}"
        )
        if att.kind == "add":
            header += _wrap(_added_note(att, prefix))
        where = f"{att.display} on the 3 neck outputs before Detect"
    if att.note and att.kind != "replace":
        header += _wrap("Why: " + att.note)
    return ZooEntry(
        file=f"{prefix}-{att.tag}.yaml",
        family=family,
        attention=att,
        where=where,
        baseline=f"ultralytics:{Path(rel).name}",
        scales=tuple(stock["scales"]),
        header=header,
        data=data,
        comments=comments,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Placements: the same module in each place the field puts it (compare --models placement:<module>)
#
# Per stock family and channel-keeping module, one file per place (PLACES): head-in = the files above (each Detect
# input); <family>-<tag>-backbone.yaml after the last two backbone stages (P4, P5), the EMA authors' placement;
# -c2f / -c3k2 inside every bottleneck of the 4 neck blocks (C2fWith / C3k2With); -psa in place of C2PSA's
# self-attention (C2PSAWith). The in-block files hold the neck blocks only: the same 4 blocks whose outputs head-in
# gates, so the two differ only in "after the block or inside it"; a backbone+neck file would double the count for a
# question the two answer separately, and a YAML without a stock C3k2 cannot keep YOLO11's head (docs/design.md §5).
# YOLO12's neck is A2C2f (no bottlenecks) and one C3k2: backbone only. A module that cannot take some host's width at
# some scale gets no file there (the widths are computed from the scales; the module's constructor decides).


#: Place -> what it means (``models list`` and the README table use this order).
PLACES = {
    "head-in": "on each of the 3 Detect inputs (the -epsa files: in place of the neck's stride-2 convs)",
    "backbone": "after the last two backbone stages (P4, P5)",
    "c2f": "inside every bottleneck of the 4 neck C2f blocks",
    "c3k2": "inside every bottleneck of the 4 neck C3k2 blocks",
    "psa": "in place of C2PSA's self-attention",
}
_FAMILY_PLACES = {
    "yolov8": ("backbone", "c2f"),
    "yolo11": ("backbone", "c3k2", "psa"),
    "yolo12": ("backbone",),
    "yolo26": ("backbone", "c3k2", "psa"),
}
_STAGES = ("C2f", "C3k2", "A2C2f")  # backbone stage blocks (the rows after which ``backbone`` places the module)


def place_of(file: str) -> str:
    """The place of a zoo file (``yolo11-mlca-c3k2.yaml`` -> ``c3k2``; a file without a place suffix: ``head-in``)."""
    stem = file.removesuffix(".yaml")
    return next((p for p in PLACES if p != "head-in" and stem.endswith(f"-{p}")), "head-in")


def _width(c2: float, scale: list) -> int:
    """``c2`` scaled as the parser scales a Conv-family row: ``make_divisible(min(c2, max_channels) * width, 8)``."""
    x = min(c2, scale[2]) * scale[1]
    return int(-(-x // 8) * 8)


def _channels(place: str, row: list, scale_letter: str, scale: list) -> set[int]:
    """Channel counts the module gets in ``row`` (a stock row) at one scale (mirrors the host blocks' widths)."""
    _, _, m, args = row
    c2 = _width(args[0], scale)
    if place == "backbone":
        return {c2}
    if m == "C2PSA":
        return {int(c2 * 0.5)}
    if m == "C2f":
        return {int(c2 * (args[3] if len(args) > 3 else 0.5))}
    c = int(c2 * (args[2] if len(args) > 2 else 0.5))  # C3k2 [c2, c3k, e, attn, ...]
    c3k = (len(args) > 1 and args[1]) or scale_letter in "mlx"
    attn = len(args) > 3 and args[3]
    return {c} | ({c // 2} if c3k and not attn else set())  # a C3k's bottlenecks have half its width


def _targets(place: str, data: dict) -> list[int]:
    """Indices of the stock rows a place acts on."""
    rows = data["backbone"] + data["head"]
    nb = len(data["backbone"])
    if place == "backbone":
        return [i for i in range(nb) if rows[i][2] in _STAGES][-2:]
    if place == "psa":
        return [i for i, r in enumerate(rows) if r[2] == "C2PSA"]
    block = "C2f" if place == "c2f" else "C3k2"
    return [i for i in range(nb, len(rows)) if rows[i][2] == block]


def _fits(att: Attention, place: str, data: dict, targets: list[int]) -> bool:
    from yolo_attn.nn import find_attention

    spec = find_attention(att.name)
    rows = data["backbone"] + data["head"]
    widths = {c for s, sc in data["scales"].items() for i in targets for c in _channels(place, rows[i], s, sc)}
    return all(spec.fits(c, *att.hp) for c in widths)


def _module_arg(att: Attention):
    return [att.name, *att.hp] if att.hp else att.name


def _insert_after(data: dict, comments: list[str], targets: list[int], att: Attention) -> tuple[dict, list[str]]:
    """Insert a module row after each target row; absolute ``from`` indices to a target read the module instead."""
    nb = len(data["backbone"])
    rows, new_index, out_rows, out_comments = data["backbone"] + data["head"], {}, [], []
    for i, ((f, n, m, args), comment) in enumerate(zip(rows, comments, strict=True)):
        f = [new_index.get(j, j) for j in f] if isinstance(f, list) else new_index.get(f, f)
        out_rows.append([f, n, m, list(args)])
        out_comments.append(_renumber(comment, len(out_rows) - 1))
        if i in targets:
            out_rows.append([-1, 1, att.name, list(att.hp)])
            out_comments.append(f"{len(out_rows) - 1} {att.display} after layer {i} (backbone stage)")
        new_index[i] = len(out_rows) - 1
    nb += sum(t < nb for t in targets)
    out = {k: v for k, v in data.items() if k not in ("backbone", "head")}
    out["backbone"], out["head"] = out_rows[:nb], out_rows[nb:]
    return out, out_comments


def _host_rows(data: dict, comments: list[str], targets: list[int], att: Attention) -> tuple[dict, list[str]]:
    """Turn each target row into its host block (``C2f`` -> ``C2fWith`` ...) with the module as the last argument."""
    nb = len(data["backbone"])
    rows = [list(r) for r in data["backbone"] + data["head"]]
    comments = list(comments)
    for i in targets:
        f, n, m, args = rows[i]
        rows[i] = [f, n, f"{m}With", [*args, _module_arg(att)]]
        comments[i] = f"{comments[i]} | {att.display} inside".strip()
    out = {k: v for k, v in data.items() if k not in ("backbone", "head")}
    out["backbone"], out["head"] = rows[:nb], rows[nb:]
    return out, comments


def _placement_entry(prefix: str, att: Attention, place: str) -> ZooEntry | None:
    family, rel = _STOCK[prefix]
    stock, comments = _stock(rel)
    targets = _targets(place, stock)
    if not targets or not _fits(att, place, stock, targets):
        return None
    rows = stock["backbone"] + stock["head"]
    if place == "backbone":
        data, comments = _insert_after(stock, comments, targets, att)
        what = f"{att.display} after the last two backbone stages (layers {', '.join(map(str, targets))}: P4, P5)"
        why = "the EMA authors' placement (YOLOonMe/EMA-attention-module #2: behind the last two C3 layers)"
    else:
        data, comments = _host_rows(stock, comments, targets, att)
        block, layers = rows[targets[0]][2], ", ".join(map(str, targets))
        if place == "psa":
            what = f"{att.display} in place of C2PSA's self-attention (C2PSAWith, layer {layers})"
            why = "the field's C2PSA_<Module> blocks, written once for every module"
        else:
            what = (
                f"{att.display} inside every bottleneck of the {len(targets)} neck {block} blocks ({block}With, "
                f"layers {layers}; after each bottleneck's second conv, before its residual add)"
            )
            why = "the field's C3k2_<Module> / C2f_<Module> blocks, written once for every module"
    header = _wrap(
        f"{family} with {what}: {why}. Derived from Ultralytics' {rel.split('/')[-1]}; every stock layer keeps its "
        f"weights' shapes and names, so stock checkpoints transfer (yolo-attn transfer). Place '{place}' of the "
        f"placement sweep (compare --models placement:{att.tag}). Use with a scale letter: "
        f"model={prefix}s-{att.tag}-{place}.yaml."
    )
    if att.note:
        header += _wrap("Why these hyperparameters: " + att.note)
    return ZooEntry(
        file=f"{prefix}-{att.tag}-{place}.yaml",
        family=f"{family} placements",
        attention=att,
        where=what,
        baseline=f"ultralytics:{rel.split('/')[-1]}",
        scales=tuple(stock["scales"]),
        header=header,
        data=data,
        comments=comments,
    )


def placement_entries() -> list[ZooEntry]:
    """Every placement file of the installed families (the ``head-in`` files are the zoo's neck files)."""
    out = []
    for prefix in _stock_families():
        for att in family_attentions(prefix).values():
            if att.kind != "gate":
                continue
            out += [e for p in _FAMILY_PLACES.get(prefix, ()) if (e := _placement_entry(prefix, att, p)) is not None]
    return out


def placement_set(module: str, family: str = "yolo11", scale: str = "n") -> list[str]:
    """The named set ``placement:<module>``: the stock baseline, then the module in every place of ``family``, as
    model names (``yolo11n.yaml``, ``yolo11n-mlca.yaml``, ``yolo11n-mlca-backbone.yaml``, ...).

    ``module`` is a registered name, alias or file tag, optionally ``<module>@<family><scale>`` (``mlca@yolov8s``).
    """
    from yolo_attn.nn import ATTENTION, find_attention

    if "@" in module:
        module, where = module.split("@", 1)
        m = re.fullmatch(r"(yolov?\d+)([nslmx])", where.strip().lower())
        if not m or m.group(1) not in _STOCK:
            raise ValueError(f"placement:{module}@{where}: give a family and scale such as yolo11n or yolov8s")
        family, scale = m.groups()
    spec = {s.tag: s for s in ATTENTION.values()}.get(module.strip().lower())
    try:
        spec = spec or find_attention(module)
    except ValueError as e:
        raise ValueError(f"placement:{module}: {e}") from None
    att = family_attentions(family).get(spec.tag)
    if att is None or att.kind != "gate":
        valid = [a.tag for a in family_attentions(family).values() if a.kind == "gate"]
        raise ValueError(f"placement:{module}: {spec.name} has no placement files in {family}; valid: {valid}")
    places = [p for p in _FAMILY_PLACES.get(family, ()) if _placement_entry(family, att, p)]
    return [f"{family}{scale}.yaml", f"{family}{scale}-{spec.tag}.yaml"] + [
        f"{family}{scale}-{spec.tag}-{p}.yaml" for p in places
    ]


def zoo_entries(may_head: str = "detect") -> list[ZooEntry]:
    """Return every model YAML of the zoo, in README order.

    Args:
        may_head (str): Head of the MAY and MobileNet-YOLO files, one of ``MAY_HEADS`` (the shipped files: "detect").
    """
    entries = [_may_entry(a, may_head) for a in MAY_ATTENTIONS.values()]
    entries += [_neck_entry(NO_ATTENTION, may_head)]
    entries += [_neck_entry(a, may_head) for a in family_attentions("mobilenet-yolo").values()]
    entries += [_yolo_entry(p, a) for p in _stock_families() for a in family_attentions(p).values()]
    return entries + placement_entries()


def generate(may_head: str = "detect") -> dict[str, str]:
    """Return ``{file name: YAML text}`` for every file of the zoo (``may_head``: see ``zoo_entries``)."""
    return {e.file: _text(e) for e in zoo_entries(may_head)}


def write(directory: str | Path, may_head: str = "detect") -> list[Path]:
    """Write every zoo YAML into ``directory`` and return the paths written (``may_head``: see ``zoo_entries``)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file; give the folder to write the model YAMLs into")
    files = generate(may_head)
    foreign = []
    for name in files:
        path = directory / name
        if path.is_symlink() or (
            path.exists() and not (path.is_file() and is_unedited_output(path.read_text("utf-8", "replace")))
        ):
            foreign.append(str(path))
    if foreign:  # found before anything is written
        raise FileExistsError(
            f"refusing to overwrite {len(foreign)} file(s) not written by `yolo-attn models write` or edited since: "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}; move them away or write into another folder"
        )
    directory.mkdir(parents=True, exist_ok=True)
    return [write_text(directory / name, text) for name, text in files.items()]


def check(directory: str | Path, may_head: str = "detect") -> list[str]:
    """Return the problems of ``directory`` against the template: missing, differing and unexpected YAML files."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"model folder {str(directory)!r} does not exist or is not a folder")
    expected = generate(may_head)
    problems = []
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"differs from the template: {path}")
    for path in sorted(directory.glob("*.yaml")):
        if path.name not in expected:
            problems.append(f"not generated by the template: {path}")
    return problems
