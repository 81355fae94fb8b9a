"""MobileNetV3's own squeeze-and-excite block (the "SE" baseline of the MAY models of the MLCA paper).

Paper: "Searching for MobileNetV3", Howard et al. (ICCV 2019), Fig. 4 / Sec. 5.3.
Design: the ``SELayer`` of the YOLOv5 MobileNetV3 backbone that the MLCA paper's MAY code builds on:
GAP -> Linear(C, C // 4, bias) -> ReLU -> Linear(C // 4, C, bias) -> hard-sigmoid -> rescale. This is not Hu's SE
(hard-sigmoid instead of sigmoid, reduction 4). The hidden width is exactly ``C // reduction``;
torchvision's ``SqueezeExcitation`` rounds it with ``_make_divisible(C // 4, 8)``, which the MAY code does not. The
layers are ``nn.Linear`` as there (parameter names differ, shapes match). Hard-sigmoid is written out as
``relu6(x + 3) / 6``, as in that code: PyTorch's fused ``hardsigmoid`` backward multiplies by a float32 1/6 even in
float64, which would cost the float64 gradient checks 7 digits.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import check_int, reduced_width
from .registry import AttentionSpec, register

__all__ = ["MobileNetV3SE"]


class MobileNetV3SE(nn.Module):
    """MobileNetV3 squeeze-and-excite: channel gate ``hardsigmoid(W2 relu(W1 GAP(x) + b1) + b2)``.

    Parameters: ``2 * c1 * h + h + c1`` with ``h = c1 // reduction`` (2,128 at c1=64).

    Args:
        c1 (int): Input (and output) channels.
        reduction (int): Reduction ratio; the hidden width is ``c1 // reduction`` and must be at least 1.

    Examples:
        >>> m = MobileNetV3SE(96)
        >>> m(torch.randn(2, 96, 20, 20)).shape
        torch.Size([2, 96, 20, 20])
    """

    def __init__(self, c1: int, reduction: int = 4) -> None:
        """Build the two linear layers of the excitation MLP."""
        super().__init__()
        name = f"MobileNetV3SE(c1={c1!r}, reduction={reduction!r})"
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
        return x * (F.relu6(s + 3.0) / 6.0).to(x.dtype)[..., None, None]


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "MobileNetV3SE",
        MobileNetV3SE,
        paper='Howard et al., "Searching for MobileNetV3", ICCV 2019 (its squeeze-and-excitation block)',
        official="MobileNetV3's SE as used by the MLCA paper's MAY code (github.com/wandahangFY/MLCA)",
        tag="mbse",
        label="MobileNetV3 SE",
        families=("may",),
        order=10,
    )
)
