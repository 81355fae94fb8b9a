"""Ultralytics layers that yolo_attn's own blocks are built from (the MobileNetV3 stem and blocks).

It lives in ``nn/`` (not ``integration/``) so that the modules never import upward: ``integration`` reaches the
parser registration, which imports ``yolo_attn.nn``. ``Conv`` is the building block every Ultralytics model YAML
names (public API in ``tests/test_package.py``); it is imported only when a function is called, so ``import
yolo_attn.nn`` imports no Ultralytics.
"""

from __future__ import annotations

from torch import nn

__all__ = ["conv_bn_act"]


def conv_bn_act(c1: int, c2: int, k: int = 1, s: int = 1, groups: int = 1, act: nn.Module | None = None) -> nn.Module:
    """Ultralytics' ``Conv``: bias-free ``Conv2d`` (padding k // 2) -> ``BatchNorm2d`` -> ``act``.

    ``BaseModel.fuse()`` folds the BatchNorm of every module of this type (it selects by type, then calls its fuse
    helper and switches the module to ``forward_fuse``), and ``is_fused()`` looks for such modules; a block built
    from these units therefore fuses exactly as Ultralytics' own layers do.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        k (int): Kernel size.
        s (int): Stride.
        groups (int): Convolution groups (``c1`` for a depthwise convolution).
        act (nn.Module | None): Activation module; None for none (``nn.Identity``).

    Returns:
        (nn.Module): The ``ultralytics.nn.modules.Conv`` unit, with attributes ``conv``, ``bn`` and ``act``.
    """
    from ultralytics.nn.modules import Conv

    return Conv(c1, c2, k, s, None, groups, 1, act if act is not None else False)
