"""Attention modules, one file per module (timm style).

``from yolo_attn.nn import MLCA, ELA, ECA, CBAM, EPSA, SE, CoordAtt, MobileNetV3SE, EMA, SimAM`` is the stable
public path. The module names are not listed here: every module file of this folder is imported (each registers
itself into ``ATTENTION``) and every registered class is exported under its name, so a new module file is public
as soon as it exists.
Checkpoints pickle these classes by module path (``yolo_attn.nn.mlca.MLCA`` ...), so the class files must not move.
Every constructor takes the input channel count first: ``Module(c1, *hyperparameters)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .mobilenetv3 import MobileNetV3Block, MobileNetV3Stem
from .registry import ATTENTION, AttentionSpec, find_attention

for _m in pkgutil.iter_modules(__path__):  # every module file registers itself (the slow transcriptions aside)
    if not _m.name.startswith("_") and _m.name != "reference":
        importlib.import_module(f"{__name__}.{_m.name}")

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
