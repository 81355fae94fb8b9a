"""Efficient Local Attention (ELA).

Paper: "ELA: Efficient Local Attention for Deep Convolutional Neural Networks", Xu, Wan (arXiv:2403.01123, 2024).
There is no official repository; the PyTorch listing in the paper is the reference: strip means along W and H, the
SAME Conv1d(C, C, k, padding k // 2, groups g, no bias) and the SAME GroupNorm(G, C) applied to each strip,
sigmoid, ``out = x * a_h * a_w``. Variants (paper, Sec. 3.3): T: k 5, g C, G 32; B: k 7, g C, G 16; S: k 5, g C/8,
G 16; L: k 7, g C/8, G 16. GroupNorm(G, C) needs C % G == 0 and groups C/8 need C % 8 == 0, so ELA-T needs
C % 32 == 0 and B/S/L need C % 16 == 0. Not timm's ``EfficientLocalAttn``, a different module.

``F.group_norm`` (so ``nn.GroupNorm.forward``) refuses a group holding a single value, a check borrowed from
BatchNorm that does not apply to GroupNorm, whose statistics are per sample: with batch 1, one channel per group
(C == G) and a 1-pixel strip the paper's listing raises. The forward calls ``torch.group_norm`` with the module's
parameters instead; a single value normalises to the GroupNorm bias, as it does at any batch size. On square maps the
two strips go through the conv and the GroupNorm as one batch of 2B samples (GroupNorm's statistics are per sample,
so per strip): half the small calls. The strip means and the gate are ``strip_means`` and ``outer_hw``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import check_int, exporting, is_channels_last, outer_hw, strip_means
from .registry import AttentionSpec, register

__all__ = ["ELA"]

# phi -> (kernel size k, channels per Conv1d group (groups = C // this), GroupNorm groups G)
ELA_VARIANTS: dict[str, tuple[int, int, int]] = {"T": (5, 1, 32), "B": (7, 1, 16), "S": (5, 8, 16), "L": (7, 8, 16)}


class ELA(nn.Module):
    """Efficient local attention: a shared 1-D conv + GroupNorm over the H and W strip means.

    Parameters: ``c1 * (c1 / g) * k + 2 * c1`` (T 448, B 576, S 2,688, L 3,712 at c1=64).

    Args:
        c1 (int): Input (and output) channels; a multiple of 32 for phi "T", of 16 otherwise.
        phi (str): Variant, one of "T", "B", "S", "L" (case-insensitive).

    Examples:
        >>> m = ELA(64, "S")
        >>> m(torch.randn(2, 64, 13, 17)).shape
        torch.Size([2, 64, 13, 17])
    """

    def __init__(self, c1: int, phi: str = "T") -> None:
        """Build the shared strip Conv1d and GroupNorm of variant ``phi``."""
        super().__init__()
        name = f"ELA(c1={c1!r}, phi={phi!r})"
        c1 = check_int(name, "c1", c1)
        phi = phi.upper() if isinstance(phi, str) else phi  # "b" is "B": YAML authors write either
        if phi not in ELA_VARIANTS:
            raise ValueError(f"{name}: unknown phi {phi!r}; valid variants are {', '.join(map(repr, ELA_VARIANTS))}")
        k, div, groups_gn = ELA_VARIANTS[phi]
        if c1 % groups_gn or c1 % div:  # groups_gn is a multiple of div, so c1 % groups_gn == 0 is the rule
            raise ValueError(
                f"{name}: ELA-{phi} needs c1 divisible by {groups_gn} "
                f"(GroupNorm({groups_gn}, c1){', Conv1d groups c1/8' if div > 1 else ''}), got c1={c1}; "
                f"valid c1 for ELA-{phi}: {groups_gn}, {2 * groups_gn}, {3 * groups_gn}, ..."
            )
        self.phi = phi
        self.conv = nn.Conv1d(c1, c1, k, padding=k // 2, groups=c1 // div, bias=False)
        self.gn = nn.GroupNorm(groups_gn, c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate x along H and along W.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        z_h, z_w = strip_means(x)  # (B, C, H), (B, C, W)
        if z_h.shape[-1] == z_w.shape[-1] and not exporting():  # square: both strips as one batch of 2B samples
            a = self._norm(self.conv(torch.cat((z_h, z_w), 0))).sigmoid()  # GroupNorm statistics stay per strip
            a_h, a_w = a[: x.shape[0]], a[x.shape[0] :]
        else:
            a_h = self._norm(self.conv(z_h)).sigmoid()
            a_w = self._norm(self.conv(z_w)).sigmoid()
        return x * outer_hw(a_h.to(x.dtype), a_w.to(x.dtype), is_channels_last(x))  # GroupNorm autocasts to fp32

    def _norm(self, z: torch.Tensor) -> torch.Tensor:
        """``self.gn(z)`` without F.group_norm's single-value check (see the module docstring)."""
        gn = self.gn
        return torch.group_norm(z, gn.num_groups, gn.weight, gn.bias, gn.eps)

    def extra_repr(self) -> str:
        """Show the variant in ``print(model)``."""
        return f"phi={self.phi!r}"


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
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
        order=60,
    )
)
