"""EPSA: the Pyramid Split Attention (PSA) module of EPSANet.

Paper: "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional Neural Network", Zhang, Zu, Lu,
Zou, Meng (ACCV 2022; arXiv:2105.14447, 2021). Design: the official ``PSAModule`` + ``SEWeightModule``
(github.com/murufeng/EPSANet, ``models/epsanet.py``). A convolution replacement c1 -> c2 (stride s): four bias-free
Conv2d, each c1 -> c2/4, kernels 3/5/7/9, groups 1/4/8/16, padding k // 2; ONE shared SE weight module on each branch
output (GAP -> Conv1x1(c2/4 -> c2/64, bias) -> ReLU -> Conv1x1(-> c2/4, bias) -> sigmoid); softmax of the four weight
vectors across the branch axis; output = the weighted branches concatenated in REVERSED order [b4, b3, b2, b1]
(the official loop prepends each branch). Not Ultralytics' ``PSA`` (YOLOv10 self-attention, unrelated).

Implementation: the four branches are concatenated once, in output order; the shared SE runs once on the
(B * 4, c2/4) stack of branch means, and one broadcast multiply applies the softmax weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from ._common import check_int, exporting
from .registry import AttentionSpec, register

__all__ = ["EPSA"]


class EPSA(nn.Module):
    """Pyramid split attention: multi-scale grouped convs re-weighted by a softmax over per-branch SE weights.

    Parameters at the defaults: ``sum_i (c1 / g_i) * (c2 / 4) * k_i**2 + 2 * (c2 / 4) * (c2 / 64) + c2 / 64 + c2 / 4``
    (27,121 at 64 -> 64).

    Args:
        c1 (int): Input channels; divisible by every group count (c1 % 16 == 0 with the defaults).
        c2 (int | None): Output channels, default c1; split into len(conv_kernels) branches whose width must be
            divisible by every group count and at least 16, the SE reduction (c2 % 64 == 0 with the defaults).
        stride (int): Stride of the branch convolutions.
        conv_kernels (Sequence[int]): Odd kernel size of each branch.
        conv_groups (Sequence[int]): Group count of each branch.

    Examples:
        >>> m = EPSA(64)
        >>> sum(p.numel() for p in m.parameters())
        27121
        >>> m(torch.randn(2, 64, 20, 20)).shape
        torch.Size([2, 64, 20, 20])
    """

    def __init__(
        self,
        c1: int,
        c2: int | None = None,
        stride: int = 1,
        conv_kernels: Sequence[int] = (3, 5, 7, 9),
        conv_groups: Sequence[int] = (1, 4, 8, 16),
    ) -> None:
        """Build the branch convolutions and the shared SE weight module."""
        super().__init__()
        name = (
            f"EPSA(c1={c1!r}, c2={c2!r}, stride={stride!r}, conv_kernels={conv_kernels!r}, conv_groups={conv_groups!r})"
        )
        c1 = check_int(name, "c1", c1)
        c2 = c1 if c2 is None else check_int(name, "c2", c2)
        stride = check_int(name, "stride", stride)
        kernels = [check_int(name, "conv_kernels[i]", k) for k in conv_kernels]
        groups = [check_int(name, "conv_groups[i]", g) for g in conv_groups]
        if not kernels or len(kernels) != len(groups):
            raise ValueError(
                f"{name}: conv_kernels and conv_groups must be non-empty and of equal length, "
                f"got {len(kernels)} and {len(groups)}"
            )
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"{name}: every conv kernel must be odd (3, 5, 7, 9, ...), got {tuple(kernels)}")
        n, reduction = len(kernels), 16
        unit = math.lcm(*groups)  # every branch conv has c1 inputs and c2/n outputs split into g groups
        if c2 % (n * unit) or c2 < n * reduction:
            raise ValueError(
                f"{name}: c2 must be a multiple of {n * unit} ({n} branches whose width is divisible by the groups "
                f"{tuple(groups)}) and at least {n * reduction} (SE reduction {reduction}), got c2={c2}; "
                f"valid c2: {_multiples(n * unit, n * reduction)}"
            )
        if c1 % unit:
            raise ValueError(
                f"{name}: c1 must be a multiple of {unit} (the branch groups {tuple(groups)}), got c1={c1}; "
                f"valid c1: {_multiples(unit, 1)}"
            )
        split = c2 // n
        self.convs = nn.ModuleList(
            nn.Conv2d(c1, split, k, stride=stride, padding=k // 2, groups=g, bias=False)
            for k, g in zip(kernels, groups, strict=True)
        )
        self.se = _SEWeight(split, reduction)
        self.branches = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the branches and re-weight them with the softmax of their SE weights.

        Args:
            x (torch.Tensor): Input of shape (B, c1, H, W).

        Returns:
            (torch.Tensor): Output of shape (B, c2, H', W') with ``H' = ceil(H / stride)``.
        """
        b, n = x.shape[0], self.branches
        feats = torch.cat([conv(x) for conv in self.convs[::-1]], 1)  # output order [b4, b3, b2, b1]
        pooled = feats.mean((2, 3), keepdim=True)  # (B, c2, 1, 1)
        if exporting():  # the shared SE on each branch: stacking them on the batch axis drifts in NCNN
            s = torch.cat([self.se(p) for p in pooled.chunk(n, 1)], 1)
        else:
            s = self.se(pooled.reshape(b * n, -1, 1, 1))  # shared SE: (B * n, c2/n, 1, 1)
        w = s.reshape(b, n, -1).softmax(1).reshape(b, -1, 1, 1)  # softmax across branches (fp32 under autocast)
        return feats * w.to(feats.dtype)


class _SEWeight(nn.Module):
    """EPSANet's ``SEWeightModule`` minus its pooling: Conv1x1 -> ReLU -> Conv1x1 -> sigmoid (weights, not x * w)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        """Build the two 1x1 convolutions."""
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=True)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Map pooled descriptors (N, C, 1, 1) to sigmoid weights (N, C, 1, 1)."""
        return self.fc2(self.relu(self.fc1(s))).sigmoid()


def _multiples(unit: int, minimum: int) -> str:
    """Return the first valid values, e.g. '64, 128, 192, ...'."""
    first = -(-minimum // unit) * unit
    return ", ".join(str(first + i * unit) for i in range(3)) + ", ..."


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
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
        order=80,
    )
)
