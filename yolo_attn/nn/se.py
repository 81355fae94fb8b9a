"""Squeeze-and-Excitation (SE) channel attention.

Paper: "Squeeze-and-Excitation Networks", Hu, Shen, Albanie, Sun, Wu (CVPR 2018 / TPAMI 2019).
Design: the official SENet block (GAP -> FC(C, C/r) -> ReLU -> FC(C/r, C) -> sigmoid -> rescale) with the paper's
fully connected layers as ``nn.Linear`` (timm's ``SEModule`` uses 1x1 convolutions, which compute the same thing but
cost several times more per call on a pooled (B, C, 1, 1) map, notably on CPU under bf16 autocast).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import check_int, reduced_width
from .registry import AttentionSpec, register

__all__ = ["SE"]


class SE(nn.Module):
    """Squeeze-and-Excitation: rescale each channel by a gate computed from its global average.

    ``s = sigmoid(W2 relu(W1 GAP(x) + b1) + b2)``, ``out = x * s``; hidden width ``c1 // reduction``.
    Parameters: ``2 * c1 * h + h + c1`` with ``h = c1 // reduction`` (580 at c1=64).

    Args:
        c1 (int): Input (and output) channels.
        reduction (int): Reduction ratio r of the hidden layer; ``c1 // reduction`` must be at least 1.

    Examples:
        >>> m = SE(64)
        >>> m(torch.randn(2, 64, 20, 20)).shape
        torch.Size([2, 64, 20, 20])
    """

    def __init__(self, c1: int, reduction: int = 16) -> None:
        """Build the two linear layers of the excitation MLP."""
        super().__init__()
        name = f"SE(c1={c1!r}, reduction={reduction!r})"
        c1 = check_int(name, "c1", c1)
        hidden = reduced_width(name, c1, reduction)
        self.fc1 = nn.Linear(c1, hidden, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, c1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the channels of x.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): ``x`` rescaled per channel, same shape.
        """
        s = self.fc2(self.act(self.fc1(x.mean((2, 3)))))  # (B, C)
        return x * s.sigmoid().to(x.dtype)[..., None, None]


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "SE",
        SE,
        paper='Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018',
        official="github.com/hujie-frank/SENet (SE block as in its PyTorch ports)",
        tag="se",
        order=20,
    )
)
