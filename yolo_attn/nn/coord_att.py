"""Coordinate Attention (CoordAtt).

Paper: "Coordinate Attention for Efficient Mobile Network Design", Hou, Zhou, Feng (CVPR 2021).
Design: the official ``CoordAtt`` (github.com/houqb/CoordAttention, ``coordatt.py``), same layer names so official
weights load: strip means along W and H, concatenated along the spatial axis -> Conv1x1(C -> mip, bias) -> BN ->
h-swish -> split -> Conv1x1(mip -> C, bias) + sigmoid per direction; ``out = x * a_h * a_w``;
``mip = max(8, C // reduction)``. h-swish is ``x * relu6(x + 3) / 6`` (``nn.Hardswish``). Strips use means
instead of adaptive pooling (``strip_means``, whose backward is cheap); the product ``a_h * a_w`` is formed once in
the input's memory format.

The MLCA paper's official MAY code (github.com/wandahangFY/MLCA, ``models/common.py``, class ``CA``, built as
``CA(hidden, hidden, 16)`` in ``MblNetV3_BlkCA``) computes the same with reduction 16 and all three convs bias-free:
``CoordAtt(c1, 16, False)``. Inside an Ultralytics (or YOLOv5) model ``initialize_weights`` sets the BatchNorm to
eps 1e-3 and momentum 0.03 either way.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import check_bool, check_int, folded_conv, is_channels_last, outer_hw, strip_means
from .registry import AttentionSpec, ZooVariant, register

__all__ = ["CoordAtt"]


class CoordAtt(nn.Module):
    """Coordinate attention: direction-aware gates from strip means along H and W.

    Parameters: ``3 * m * c1 + 2 * m`` (BatchNorm affine) plus ``m + 2 * c1`` conv biases when enabled, with
    ``m = max(8, c1 // reduction)`` (1,688 at c1=64 with the defaults; 1,552 for ``CoordAtt(64, 16, False)``).

    Args:
        c1 (int): Input (and output) channels.
        reduction (int): Reduction ratio; the bottleneck width is ``max(8, c1 // reduction)``. 32 in the CoordAtt
            paper's code, 16 in the MLCA paper's MAY code.
        bias (bool): Biases in the three 1x1 convs. True: the CoordAtt paper's code; False: the MAY code.

    Examples:
        >>> m = CoordAtt(64)
        >>> m(torch.randn(2, 64, 13, 17)).shape
        torch.Size([2, 64, 13, 17])
        >>> sum(p.numel() for p in CoordAtt(64, 16, False).parameters())  # the CA of the MLCA paper's MAY models
        1552
    """

    def __init__(self, c1: int, reduction: int = 32, bias: bool = True) -> None:
        """Build the shared 1x1 bottleneck with BatchNorm and the two 1x1 gate convolutions."""
        super().__init__()
        name = f"CoordAtt(c1={c1!r}, reduction={reduction!r}, bias={bias!r})"
        c1 = check_int(name, "c1", c1)
        reduction = check_int(name, "reduction", reduction)
        bias = check_bool(name, "bias", bias)
        mip = max(8, c1 // reduction)
        self.conv1 = nn.Conv2d(c1, mip, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, c1, 1, bias=bias)
        self.conv_w = nn.Conv2d(mip, c1, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate x along H and along W.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        h, w = x.shape[2], x.shape[3]
        y = torch.cat(strip_means(x), 2).unsqueeze(-1)  # (B, C, H + W, 1)
        y_h, y_w = self.act(self.bn1(self.conv1(y))).split((h, w), 2)
        a_h = self.conv_h(y_h).sigmoid().squeeze(-1)  # (B, C, H)
        a_w = self.conv_w(y_w).sigmoid().squeeze(-1)  # (B, C, W)
        return x * outer_hw(a_h.to(x.dtype), a_w.to(x.dtype), is_channels_last(x))

    def fold_bn(self) -> None:
        """Fold the strip BatchNorm into ``conv1`` for inference (``model.fuse()`` calls this through
        ``fold_batchnorms``): ``conv1`` gains (or updates) its bias and ``bn1`` becomes an ``Identity``."""
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.conv1, self.bn1 = folded_conv(self.conv1, self.bn1), nn.Identity()


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "CoordAtt",
        CoordAtt,
        paper='Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021',
        official="github.com/houqb/CoordAttention (coordatt.py)",
        tag="coordatt",
        aliases=("CA",),
        passes=(4, 0),
        variants=(
            ZooVariant(
                "paper-ca",
                ("may",),
                (16, False),
                "CA (MAY paper)",
                "the CA of the MLCA paper's MAY code (github.com/wandahangFY/MLCA, models/common.py: "
                "CA(hidden, hidden, 16) in MblNetV3_BlkCA): CoordAtt with reduction 16 and all three 1x1 convs "
                "bias-free. The network of the paper's CA row.",
            ),
        ),
        order=50,
    )
)
