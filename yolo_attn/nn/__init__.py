"""Attention modules, one file per module (timm style).

``from yolo_attn.nn import MLCA, ELA, ECA, CBAM, EPSA, SE, CoordAtt, MobileNetV3SE, EMA, SimAM`` is the stable
public path. The module names are not listed here: every class of the registry (``ATTENTION``) is exported under
its registered name, so a new module is public as soon as it has a registry entry.
Checkpoints pickle these classes by module path (``yolo_attn.nn.mlca.MLCA`` ...), so the class files must not move.
Every constructor takes the input channel count first: ``Module(c1, *hyperparameters)``.
"""

from __future__ import annotations

from .mobilenetv3 import MobileNetV3Block, MobileNetV3Stem
from .registry import ATTENTION, AttentionSpec, find_attention

#: Name -> class, a view of the registry ``ATTENTION`` (which says everything else about each module).
ATTENTION_MODULES: dict[str, type] = {name: spec.cls for name, spec in ATTENTION.items()}
globals().update(ATTENTION_MODULES)

__all__ = [
    "ATTENTION",
    "ATTENTION_MODULES",
    "AttentionSpec",
    "find_attention",
    *ATTENTION_MODULES,
    "MobileNetV3Block",
    "MobileNetV3Stem",
]
