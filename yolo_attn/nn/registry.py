"""The module registry: one declaration per attention module, read by everything that lists modules.

The Ultralytics integration (YAML names), the MobileNetV3 attention slot, the model zoo (file tags, hyperparameters per
family), the benchmark, compare (named sets, attention maps), the weight transfer and the tests all read
``ATTENTION``. Adding a module is one file in ``yolo_attn/nn/``, one entry here and its literal transcription in
``yolo_attn/nn/reference.py``; YAMLs, README tables, bench rows, compare sets and parametrised tests follow by
regeneration. Whether a module fits a slot is decided by building it (its own constructor's validation, see
``AttentionSpec.fits``), never by a second copy of its rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .cbam import CBAM
from .coord_att import CoordAtt
from .eca import ECA
from .ela import ELA
from .ema import EMA
from .epsa import EPSA
from .mlca import MLCA
from .mobilenetv3_se import MobileNetV3SE
from .se import SE
from .simam import SimAM

__all__ = [
    "ATTENTION",
    "FAMILIES",
    "AttentionSpec",
    "ZooVariant",
    "attention_classes",
    "find_attention",
    "valid_names",
]

#: Model families of the zoo whose hyperparameters an entry may choose (``"*"``: any other family).
FAMILIES = ("may", "mobilenet-yolo", "yolov8", "yolo11")


@dataclass(frozen=True)
class ZooVariant:
    """A further zoo variant of a module: other hyperparameters under a file tag of their own.

    Used where a paper's code built a module differently from the module's own paper (the MLCA paper's MAY code
    has its own CBAM and CoordAtt): both networks get a file, each under a name that says which it is.

    Attributes:
        tag (str): File-name tag (``may-<tag>.yaml``); no digit followed by n/s/m/l/x.
        families (tuple[str, ...]): Zoo families it appears in.
        hyperparameters (tuple): Constructor arguments after the channel count.
        label (str): Display name in tables.
        source (str): Where the choice comes from (written into the YAML header).
    """

    tag: str
    families: tuple[str, ...]
    hyperparameters: tuple
    label: str
    source: str


@dataclass(frozen=True)
class AttentionSpec:
    """How one attention module is known to the rest of the package.

    Attributes:
        name (str): Class name, YAML name and key of ``ATTENTION`` (also registered as ``yolo_attn.<name>``).
        cls (type[nn.Module]): The module; its constructor takes the input channels first.
        paper (str): The paper that defines it.
        official (str): The official code it reproduces (repository and file).
        tag (str): File-name tag of its zoo YAMLs (``may-<tag>.yaml``); no digit followed by n/s/m/l/x, which
            Ultralytics would read as a model scale.
        aliases (tuple[str, ...]): Further YAML names.
        changes_channels (bool): A convolution replacement (``cls(c1, c2, ...)``; YAML rows ``[c2, ...]``, width
            scaled like ``Conv``); ``[]`` or an attention slot keeps the channels (``c2 = c1``).
        gate (bool): ``forward`` returns ``x * a`` with a gate ``a`` in (0, 1) (attention maps show ``a``).
        hyperparameters (Mapping[str, tuple]): Zoo hyperparameters per family in ``FAMILIES``, ``"*"`` for the rest.
        label (str): Display name, formatted with the hyperparameters (``"ELA-{0}"`` -> ``ELA-B``).
        families (tuple[str, ...] | None): Zoo families it appears in (None: every family).
        passes (tuple[int, int]): Full elementwise passes of its pooling and gating ops per input and per output
            element, plus the MACs per element of convolutions it calls functionally (which no module hook sees);
            the benchmark's analytic MAC count adds them to the conv/linear MACs.
        notes (Mapping[str, str]): Why ``hyperparameters`` were chosen, per family (``"*"`` for the rest); the zoo
            writes it into the YAML headers.
        variants (tuple[ZooVariant, ...]): Further zoo variants with other hyperparameters and their own file tags.
    """

    name: str
    cls: type[nn.Module]
    paper: str
    official: str
    tag: str
    aliases: tuple[str, ...] = ()
    changes_channels: bool = False
    gate: bool = True
    hyperparameters: Mapping[str, tuple] = field(default_factory=lambda: {"*": ()})
    label: str = ""
    families: tuple[str, ...] | None = None
    passes: tuple[int, int] = (2, 0)
    notes: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[ZooVariant, ...] = ()

    def hp(self, family: str = "*") -> tuple:
        """Return the zoo hyperparameters for ``family``."""
        return tuple(self.hyperparameters.get(family, self.hyperparameters.get("*", ())))

    def note(self, family: str = "*") -> str:
        """Return why the zoo uses ``hp(family)`` for ``family`` ("" when there is nothing to say)."""
        return self.notes.get(family, self.notes.get("*", ""))

    def display(self, hp: tuple = ()) -> str:
        """Return the display name with hyperparameters, e.g. ``ELA-B``."""
        return (self.label or self.name).format(*hp)

    def build(self, c1: int, *hp) -> nn.Module:
        """Build the module on ``c1`` channels, keeping them (a conv replacement gets ``c2 = c1``)."""
        return self.cls(c1, c1, *hp) if self.changes_channels else self.cls(c1, *hp)

    def fits(self, c1: int, *hp) -> bool:
        """Whether the module accepts ``c1`` channels with ``hp``: its own constructor decides (on the meta device,
        so nothing is allocated)."""
        try:
            with torch.device("meta"):
                self.build(c1, *hp)
        except (ValueError, TypeError):
            return False
        return True

    def in_family(self, family: str) -> bool:
        """Whether the zoo has a variant of ``family`` with this module."""
        return self.families is None or family in self.families


#: Every attention module, in the zoo's order (baselines first). Keyed by ``AttentionSpec.name``.
ATTENTION: dict[str, AttentionSpec] = {
    s.name: s
    for s in (
        AttentionSpec(
            "MobileNetV3SE",
            MobileNetV3SE,
            paper='Howard et al., "Searching for MobileNetV3", ICCV 2019 (its squeeze-and-excitation block)',
            official="MobileNetV3's SE as used by the MLCA paper's MAY code (github.com/wandahangFY/MLCA)",
            tag="mbse",
            label="MobileNetV3 SE",
            families=("may",),
        ),
        AttentionSpec(
            "SE",
            SE,
            paper='Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018',
            official="github.com/hujie-frank/SENet (SE block as in its PyTorch ports)",
            tag="se",
        ),
        AttentionSpec(
            "ECA",
            ECA,
            paper='Wang et al., "ECA-Net: Efficient Channel Attention for Deep CNNs", CVPR 2020',
            official="github.com/BangguWu/ECANet (models/eca_module.py)",
            tag="eca",
        ),
        AttentionSpec(
            "CBAM",
            CBAM,
            paper='Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018',
            official="github.com/Jongchan/attention-module (MODELS/cbam.py)",
            tag="cbam",
            passes=(6, 0),
            variants=(
                ZooVariant(
                    "paper-cbam",
                    ("may",),
                    (7, 16, False, "mean-max", False),
                    "CBAM (MAY paper)",
                    "the CBAM of the MLCA paper's MAY code (github.com/wandahangFY/MLCA, models/common.py: CBAM in "
                    "MblNetV3_BlkCBAM): reduction 16, bias-free 1x1-conv channel MLP, spatial gate over [mean, max] "
                    "-> 7x7 conv without bias -> sigmoid, no BatchNorm. The network of the paper's CBAM row.",
                ),
            ),
        ),
        AttentionSpec(
            "CoordAtt",
            CoordAtt,
            paper='Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021',
            official="github.com/houqb/CoordAttention (coordatt.py)",
            tag="coordatt",
            aliases=("CA",),
            passes=(4, 0),
            variants=(
                ZooVariant(
                    "paper-ca",
                    ("may",),
                    (16, False),
                    "CA (MAY paper)",
                    "the CA of the MLCA paper's MAY code (github.com/wandahangFY/MLCA, models/common.py: "
                    "CA(hidden, hidden, 16) in MblNetV3_BlkCA): CoordAtt with reduction 16 and all three 1x1 convs "
                    "bias-free. The network of the paper's CA row.",
                ),
            ),
        ),
        AttentionSpec(
            "ELA",
            ELA,
            paper='Xu, Wan, "ELA: Efficient Local Attention for Deep Convolutional Neural Networks", 2024',
            official="no official repository; the paper's listing",
            tag="ela",
            # The ELA paper's guidance (as transcribed in secondary sources): T/B for lightweight or shallow
            # networks, B/S for deeper ones, L for large ones. One file serves every scale of a family (the scale
            # letter only rescales widths and depths), so the choice is per family.
            hyperparameters={"may": ("B",), "mobilenet-yolo": ("B",), "*": ("S",)},
            notes={
                "may": "ELA-B: the ELA paper recommends T or B for lightweight networks, and MAY's backbone is "
                "MobileNetV3-Small; T would leave 5 of the 9 SE slots empty (it needs C % 32), B fits 8 of 9.",
                "mobilenet-yolo": "ELA-B: the ELA paper recommends T or B for lightweight networks; this is MAY's "
                "lightweight network (MobileNetV3-Small backbone, small C3 neck), and B is also MAY's choice, so the "
                "backbone-slot and neck-output placements differ in nothing else.",
                "*": "ELA-S: the ELA paper recommends B or S for deeper networks and L for large ones. This file "
                "serves every scale (n to x) with one row, so it takes S, the middle of that guidance; for the l "
                "and x scales the guidance is L: copy the file and write [L] in the ELA rows.",
            },
            label="ELA-{0}",
            passes=(4, 0),
        ),
        AttentionSpec(
            "MLCA",
            MLCA,
            paper='Wan et al., "Mixed local channel attention for object detection", EAAI 2023',
            official="github.com/wandahangFY/MLCA (MLCA.py, after the Dec-2023 global-branch fix)",
            tag="mlca",
            passes=(3, 0),
        ),
        AttentionSpec(
            "EPSA",
            EPSA,
            paper='Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block", ACCV 2022',
            official="github.com/murufeng/EPSANet (models/epsanet.py: PSAModule, SEWeightModule)",
            tag="epsa",
            aliases=("PSA",),
            changes_channels=True,
            gate=False,
            passes=(0, 2),
        ),
        AttentionSpec(
            "EMA",
            EMA,
            paper='Ouyang et al., "Efficient Multi-Scale Attention Module with Cross-Spatial Learning", ICASSP 2023',
            official="github.com/YOLOonMe/EMA-attention-module (EMA_attention_module; timm/models/layers/ema.py)",
            tag="ema",
            # factor = the number of channel groups G, which must divide C. The official default 32 (used by the
            # official YOLOv5s config) divides every neck width of the other families at every scale. MAY's SE slots
            # are 16 to 576 wide and 32 divides only 4 of them; 8 (their greatest common divisor) is the largest group
            # count that fills all 9 slots, so may-ema compares like for like with the other modules.
            hyperparameters={"may": (8,), "*": (32,)},
            label="EMA G={0}",
            # strip means 2, gating x 1, GroupNorm 2, the x21-weighted channel sum 1, output gate 1, and the folded
            # 3x3 conv (cg -> 1 channel per group, called functionally so no hook counts it) 9 per input element
            passes=(16, 0),
        ),
        AttentionSpec(
            "SimAM",
            SimAM,
            paper='Yang, Zhang, Li, Xie, "SimAM: A Simple, Parameter-Free Attention Module for CNNs", ICML 2021',
            official="github.com/ZjjConan/SimAM (networks/attentions/simam_module.py)",
            tag="simam",
            # lambda: the official module's default 1e-4 is its CIFAR setting; its ImageNet runs (README, logs
            # "imagenet-*-simam-param0.1") and its COCO detection configs (mmdetection/configs/_base_/models/
            # *_r50simam_fpn.py: attention_param=0.1) use 0.1. The zoo's models are detectors: 0.1 in every family.
            hyperparameters={"*": (0.1,)},
            label="SimAM lambda={0:g}",
            passes=(5, 0),  # mean, (x - mean)^2, mean of d, the energy, the gate
        ),
    )
}


def attention_classes() -> tuple[type[nn.Module], ...]:
    """Every registered attention class (what counts as an inserted attention layer)."""
    return tuple(s.cls for s in ATTENTION.values())


def find_attention(name: str) -> AttentionSpec:
    """Return the entry named ``name`` (a name or alias, case-insensitive); ``ValueError`` naming the valid ones."""
    if isinstance(name, str):
        key = name.strip().lower()
        for spec in ATTENTION.values():
            if key in (spec.name.lower(), *(a.lower() for a in spec.aliases)):
                return spec
    raise ValueError(f"unknown attention module {name!r}; valid: {valid_names()}")


def valid_names() -> str:
    """The registered names for messages: ``'MobileNetV3SE', 'SE', ..., 'CoordAtt' (alias 'CA'), ...``."""
    return ", ".join(
        repr(s.name) + (f" (alias {', '.join(map(repr, s.aliases))})" if s.aliases else "") for s in ATTENTION.values()
    )
