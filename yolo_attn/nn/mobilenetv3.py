"""MobileNetV3 building blocks for model YAMLs, with a pluggable attention slot.

MobileNetV3 (Howard et al., "Searching for MobileNetV3", ICCV 2019) builds its backbone from inverted residual
blocks whose depthwise output may pass through a squeeze-and-excitation gate. The MAY models of the MLCA paper
(Wan et al. 2023) write the MobileNetV3-Small backbone as YOLOv5 YAML rows and put the attention under test in that
gate's slot. These blocks reproduce the paper's official code (docs/design.md §6):

- expanded block (hidden != c1): pw 1x1 -> BN -> act -> dw kxk -> BN -> ATT -> act -> pw-linear 1x1 -> BN
- block without expansion (hidden == c1, block 1 of MobileNetV3-Small): dw kxk -> BN -> act -> ATT -> pw-linear -> BN
- residual connection when stride is 1 and c1 == c2.

The attention is built on the ``hidden`` channels (the depthwise output) from the modules of ``yolo_attn.nn``.

Every convolution + BatchNorm (+ activation) pair is one Ultralytics ``Conv`` unit (reached through
``yolo_attn.nn.layers.conv_bn_act``), so ``model.fuse()`` folds their BatchNorms exactly as it folds its
own layers (it selects ``Conv`` by type), and ``is_fused()`` sees them. Building a block therefore imports
Ultralytics; importing this module does not.

Class import paths are a checkpoint compatibility contract: do not move these classes. Checkpoints written before
the blocks used ``Conv`` units (bare ``nn.Conv2d`` + ``nn.BatchNorm2d``: state-dict keys ``block.dw.weight``,
``block.dw_bn.*``, stem ``conv.weight``, ``bn.*``) still load: pickled modules are converted to the current layout
when unpickled (same modules, same weights), and old state-dict keys are renamed on ``load_state_dict``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn as nn

from .registry import find_attention, valid_names

__all__ = ("MobileNetV3Block", "MobileNetV3Stem")

_ACTIVATIONS = {
    "re": nn.ReLU,
    "relu": nn.ReLU,
    "hs": nn.Hardswish,
    "hswish": nn.Hardswish,
    "h_swish": nn.Hardswish,
    "hardswish": nn.Hardswish,
}
_NO_ATTENTION = {"none", "null", ""}
#: The Conv2d layers of the legacy block layout, each followed by a BatchNorm2d named ``<name>_bn``.
_LEGACY_UNITS = ("expand", "dw", "project")


def _activation(value, owner: str) -> nn.Module:
    """Return the activation module named by ``value`` ("RE" for ReLU, "HS" for Hardswish, case-insensitive)."""
    cls = _ACTIVATIONS.get(value.lower()) if isinstance(value, str) else None
    if cls is None:
        raise ValueError(
            f"{owner}: activation {value!r} is not supported; valid choices are 'RE' (ReLU) and 'HS' (Hardswish), "
            f"or the aliases {sorted(k for k in _ACTIVATIONS if k not in {'re', 'hs'})}"
        )
    return cls(inplace=True)


def _attention(spec, channels: int, owner: str) -> nn.Module:
    """Build the attention named by ``spec`` on ``channels`` channels, or ``nn.Identity`` for no attention.

    Args:
        spec (None | str | Sequence): None or "none"; a module name such as "MLCA" or "MobileNetV3SE"; or a list
            ``[name, *hyperparameters]`` such as ``["ELA", "L"]``.
        channels (int): Channel count the module gates (the block's hidden width).
        owner (str): Name of the calling block, for error messages.

    Returns:
        (nn.Module): The attention module, channel-preserving.
    """
    if spec is None or spec is False or (isinstance(spec, str) and spec.strip().lower() in _NO_ATTENTION):
        return nn.Identity()
    if isinstance(spec, str):
        name, hp = spec.strip(), []
    elif isinstance(spec, Sequence) and spec and isinstance(spec[0], str):
        name, hp = spec[0].strip(), list(spec[1:])
    else:
        raise ValueError(
            f"{owner}: attention {spec!r} is not valid; give None/'none', a module name or a list "
            f"[name, *hyperparameters], e.g. ['ELA', 'L']"
        )
    try:
        entry = find_attention(name)
    except ValueError:
        raise ValueError(
            f"{owner}: attention {name!r} is unknown; valid choices are None/'none' or one of {valid_names()}"
        ) from None
    if entry.changes_channels and hp:  # a conv replacement elsewhere; in the slot it keeps channels and resolution
        raise ValueError(
            f"{owner}: attention {entry.name} takes no hyperparameters inside the block (it keeps the {channels} "
            f"hidden channels at stride 1), got {hp!r}"
        )
    try:
        return entry.build(channels, *hp)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{owner}: attention {spec!r} cannot be built on the {channels} hidden channels: {e}") from e


def _positive_int(value, what: str, owner: str) -> int:
    """Check that ``value`` is a positive int and return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return value


def _conv_bn(c1: int, c2: int, k: int, s: int = 1, groups: int = 1, act: nn.Module | None = None) -> nn.Module:
    """Return one Ultralytics ``Conv`` unit (bias-free conv, padding k // 2 -> BN -> act), which ``fuse()`` folds."""
    from yolo_attn.nn.layers import conv_bn_act

    return conv_bn_act(c1, c2, k, s, groups, act)


def _unit_from_legacy(conv: nn.Conv2d, bn: nn.BatchNorm2d, act: nn.Module | None = None) -> nn.Module:
    """Wrap an unpickled legacy ``Conv2d`` + ``BatchNorm2d`` (+ activation) into a ``Conv`` unit, keeping the modules."""
    with torch.device("meta"):  # the placeholder layers are replaced right away: allocate nothing
        unit = _conv_bn(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.groups)
    unit.conv, unit.bn = conv, bn
    if act is not None:
        unit.act = act
    return unit.train(conv.training)


def _rename_keys(state_dict: dict, prefix: str, rename) -> None:
    """Rename, in place, the keys of ``state_dict`` under ``prefix`` for which ``rename(key without prefix)`` differs."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        new = rename(key[len(prefix) :])
        if new is not None:
            state_dict[prefix + new] = state_dict.pop(key)


class MobileNetV3Stem(nn.Module):
    """MobileNetV3 stem: a bias-free k x k convolution, BatchNorm and an activation.

    Attributes:
        conv (ultralytics.nn.modules.Conv): The unit: ``conv.conv`` (Conv2d c1 -> c2, kernel k, stride s, padding
            k // 2, no bias), ``conv.bn`` (folded into ``conv.conv`` by ``model.fuse()``), ``conv.act`` (ReLU or
            Hardswish).

    Examples:
        >>> stem = MobileNetV3Stem(3, 16, 3, 2, "HS")
        >>> stem(torch.randn(1, 3, 64, 64)).shape
        torch.Size([1, 16, 32, 32])
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 2, activation: str = "HS"):
        """Initialize the stem.

        Args:
            c1 (int): Input channels.
            c2 (int): Output channels.
            k (int): Kernel size (odd).
            s (int): Stride.
            activation (str): "HS" (Hardswish, the MobileNetV3 stem) or "RE" (ReLU), case-insensitive.
        """
        super().__init__()
        owner = "MobileNetV3Stem"
        c1, c2, s = (_positive_int(v, n, owner) for v, n in ((c1, "c1"), (c2, "c2"), (s, "stride s")))
        if _positive_int(k, "kernel k", owner) % 2 == 0:
            raise ValueError(f"{owner}: kernel k must be odd, got {k}")
        self.conv = _conv_bn(c1, c2, k, s, 1, _activation(activation, owner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply convolution, BatchNorm and activation."""
        return self.conv(x)

    def __setstate__(self, state: dict) -> None:
        """Unpickle, converting the legacy layout (``conv``, ``bn``, ``act`` side by side) into the ``Conv`` unit."""
        super().__setstate__(state)
        m = self._modules
        if isinstance(m.get("conv"), nn.Conv2d) and "bn" in m:
            conv, bn, act = m.pop("conv"), m.pop("bn"), m.pop("act")
            self.conv = _unit_from_legacy(conv, bn, act)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Accept state dicts of the legacy layout (keys ``conv.weight``, ``bn.*``)."""

        def rename(key: str) -> str | None:
            if key == "conv.weight":
                return "conv.conv.weight"
            return "conv." + key if key.startswith("bn.") else None

        _rename_keys(state_dict, prefix, rename)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class MobileNetV3Block(nn.Module):
    """MobileNetV3 inverted residual block with a pluggable attention in the squeeze-and-excitation slot.

    Layout (the MLCA paper's official code):

    - ``hidden != c1``: expand 1x1 -> BN -> act -> depthwise kxk -> BN -> attention -> act -> project 1x1 -> BN
    - ``hidden == c1``: depthwise kxk -> BN -> act -> attention -> project 1x1 -> BN

    The output adds the input when the stride is 1 and ``c1 == c2``. The attention gates the ``hidden`` channels.

    Attributes:
        block (nn.Sequential): The layers above. Expanded blocks: ``expand`` (1x1 conv, BN, act), ``dw`` (depthwise
            conv, BN), ``att``, ``act``, ``project`` (1x1 conv, BN). Blocks without expansion: ``dw`` (depthwise conv,
            BN, act), ``att``, ``project``. ``expand``, ``dw`` and ``project`` are Ultralytics ``Conv`` units
            (``.conv``, ``.bn``, ``.act``), whose BN ``model.fuse()`` folds into the convolution.
        att (nn.Module): The attention module (``nn.Identity`` for none); the same object as ``block.att``.
        residual (bool): Whether the input is added to the output.

    Examples:
        >>> blk = MobileNetV3Block(16, 24, 72, 3, 2, None, "RE")
        >>> blk(torch.randn(1, 16, 32, 32)).shape
        torch.Size([1, 24, 16, 16])
        >>> blk = MobileNetV3Block(40, 40, 240, 5, 1, "MobileNetV3SE", "HS")  # residual, MobileNetV3's own SE
        >>> blk = MobileNetV3Block(40, 40, 240, 5, 1, ["ELA", "B"], "HS")  # ELA-B in the SE slot
    """

    def __init__(
        self,
        c1: int,
        c2: int,
        hidden: int,
        k: int = 3,
        s: int = 1,
        attention: str | Sequence | None = None,
        activation: str = "RE",
    ):
        """Initialize the block.

        Args:
            c1 (int): Input channels.
            c2 (int): Output channels.
            hidden (int): Expanded (depthwise) width; ``hidden == c1`` means no expansion convolution.
            k (int): Depthwise kernel size (odd).
            s (int): Depthwise stride, 1 or 2.
            attention (str | Sequence | None): None/"none", a name or alias from ``yolo_attn.nn.ATTENTION``
                ("MobileNetV3SE", "MLCA", ...), or ``[name, *hyperparameters]`` such as ``["ELA", "L"]``.
            activation (str): "RE" (ReLU) or "HS" (Hardswish), case-insensitive.
        """
        super().__init__()
        owner = "MobileNetV3Block"
        c1, c2, hidden = (_positive_int(v, n, owner) for v, n in ((c1, "c1"), (c2, "c2"), (hidden, "hidden")))
        if _positive_int(k, "kernel k", owner) % 2 == 0:
            raise ValueError(f"{owner}: kernel k must be odd, got {k}")
        if s not in (1, 2) or isinstance(s, bool):
            raise ValueError(f"{owner}: stride s must be 1 or 2, got {s!r}")
        act = _activation(activation, owner)
        att = _attention(attention, hidden, owner)
        project = ("project", _conv_bn(hidden, c2, 1))
        if hidden == c1:  # the activation belongs to the depthwise unit: the attention comes after it
            layers = [("dw", _conv_bn(hidden, hidden, k, s, hidden, act)), ("att", att), project]
        else:  # the attention sits between the depthwise BN and the activation
            layers = [
                ("expand", _conv_bn(c1, hidden, 1, 1, 1, _activation(activation, owner))),
                ("dw", _conv_bn(hidden, hidden, k, s, hidden)),
                ("att", att),
                ("act", act),
                project,
            ]
        self.block = nn.Sequential(OrderedDict(layers))
        self.residual = s == 1 and c1 == c2

    @property
    def att(self) -> nn.Module:
        """Return the attention module of the block (``nn.Identity`` when there is none)."""
        return self.block.att

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block, adding the input when the block is residual."""
        return x + self.block(x) if self.residual else self.block(x)

    def __setstate__(self, state: dict) -> None:
        """Unpickle, converting the legacy layout (bare ``Conv2d`` + ``BatchNorm2d`` layers) into ``Conv`` units."""
        super().__setstate__(state)
        old = self._modules.get("block")
        m = old._modules if isinstance(old, nn.Sequential) else {}
        if "dw_bn" not in m:
            return
        project = ("project", _unit_from_legacy(m["project"], m["project_bn"]))
        if "expand" in m:
            layers = [
                ("expand", _unit_from_legacy(m["expand"], m["expand_bn"], m["expand_act"])),
                ("dw", _unit_from_legacy(m["dw"], m["dw_bn"])),
                ("att", m["att"]),
                ("act", m["act"]),
                project,
            ]
        else:
            layers = [("dw", _unit_from_legacy(m["dw"], m["dw_bn"], m["act"])), ("att", m["att"]), project]
        self.block = nn.Sequential(OrderedDict(layers)).train(old.training)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Accept state dicts of the legacy layout (keys ``block.dw.weight``, ``block.dw_bn.*``, ...)."""

        def rename(key: str) -> str | None:
            for unit in _LEGACY_UNITS:
                if key == f"block.{unit}.weight":
                    return f"block.{unit}.conv.weight"
                if key.startswith(f"block.{unit}_bn."):
                    return f"block.{unit}.bn." + key[len(f"block.{unit}_bn.") :]
            return None

        _rename_keys(state_dict, prefix, rename)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
