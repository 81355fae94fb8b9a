"""Attention modules, one file per module (timm style).

``from yolo_attn.nn import MLCA, ELA, ECA, CBAM, EPSA, SE, CoordAtt, MobileNetV3SE, EMA, SimAM`` is the stable
public path.
Checkpoints pickle these classes by module path (``yolo_attn.nn.mlca.MLCA`` ...), so the class files must not move.
Every constructor takes the input channel count first: ``Module(c1, *hyperparameters)``.
"""

from __future__ import annotations

from .cbam import CBAM
from .coord_att import CoordAtt
from .eca import ECA
from .ela import ELA
from .ema import EMA
from .epsa import EPSA
from .mlca import MLCA
from .mobilenetv3 import MobileNetV3Block, MobileNetV3Stem
from .mobilenetv3_se import MobileNetV3SE
from .registry import ATTENTION, AttentionSpec, find_attention
from .se import SE
from .simam import SimAM

#: Name -> class, a view of the registry ``ATTENTION`` (which says everything else about each module).
ATTENTION_MODULES: dict[str, type] = {name: spec.cls for name, spec in ATTENTION.items()}

__all__ = [
    "ATTENTION",
    "ATTENTION_MODULES",
    "AttentionSpec",
    "find_attention",
    "CBAM",
    "ECA",
    "ELA",
    "EMA",
    "EPSA",
    "MLCA",
    "SE",
    "SimAM",
    "CoordAtt",
    "MobileNetV3Block",
    "MobileNetV3SE",
    "MobileNetV3Stem",
]
