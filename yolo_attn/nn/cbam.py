"""Convolutional Block Attention Module (CBAM).

Paper: "CBAM: Convolutional Block Attention Module", Woo, Park, Lee, Kweon (ECCV 2018).
Design: the official code (github.com/Jongchan/attention-module, ``MODELS/cbam.py``), not Ultralytics' ``CBAM``
(an average-pool-only 1x1-conv gate without MLP or BatchNorm):

- channel gate: one shared MLP Linear(C, C/r, bias) -> ReLU -> Linear(C/r, C, bias) applied to the global average
  AND to the global max, the two outputs summed, then sigmoid; ``x1 = x * gate``.
- spatial gate: ``cat[max over C, mean over C]`` of x1 (max first) -> Conv2d(2, 1, k, pad (k-1)/2, no bias) ->
  BatchNorm2d(1) (eps 1e-5, momentum 0.01 as in the official ``BasicConv``) -> sigmoid; ``out = x1 * gate``.

The shared MLP (``nn.Linear`` layers, as in the official code) runs once on the stacked [avg; max] descriptors.
Global and channel maxima use ``max(dim)`` whose backward scatters to the arg-max instead of ``amax``'s
compare-and-divide over the whole tensor. As any BatchNorm network, the spatial BatchNorm cannot train on a single
value per channel (batch 1 with a 1x1 map).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import check_int, reduced_width

__all__ = ["CBAM"]


class CBAM(nn.Module):
    """CBAM: channel gate from a shared MLP on average- and max-pooled descriptors, then a 2-D spatial gate.

    Parameters: ``2 * c1 * h + h + c1 + 2 * k * k + 2`` with ``h = c1 // reduction`` (680 at c1=64, k=7).

    Args:
        c1 (int): Input (and output) channels.
        kernel_size (int): Spatial-gate kernel, 3 or 7.
        reduction (int): Reduction ratio of the channel MLP; ``c1 // reduction`` must be at least 1.

    Examples:
        >>> m = CBAM(64)
        >>> m(torch.randn(2, 64, 20, 20)).shape
        torch.Size([2, 64, 20, 20])
    """

    def __init__(self, c1: int, kernel_size: int = 7, reduction: int = 16) -> None:
        """Build the shared channel MLP and the spatial conv + BatchNorm."""
        super().__init__()
        name = f"CBAM(c1={c1!r}, kernel_size={kernel_size!r}, reduction={reduction!r})"
        c1 = check_int(name, "c1", c1)
        if kernel_size not in (3, 7) or isinstance(kernel_size, bool):
            raise ValueError(f"{name}: kernel_size must be 3 or 7, got {kernel_size!r}")
        hidden = reduced_width(name, c1, reduction)
        self.fc1 = nn.Linear(c1, hidden, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, c1, bias=True)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the channel gate, then the spatial gate.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        b = x.shape[0]
        pooled = torch.cat((x.mean((2, 3)), x.flatten(2).max(2)[0]), 0)  # [avg; max]: (2B, C)
        y = self.fc2(self.act(self.fc1(pooled)))  # the shared MLP, once for both
        x = x * (y[:b] + y[b:]).sigmoid().to(x.dtype)[..., None, None]
        s = torch.cat((x.max(1, keepdim=True)[0], x.mean(1, keepdim=True)), 1)  # [max, mean], max first
        return x * self.bn(self.conv(s)).sigmoid().to(x.dtype)
