"""Efficient Multi-Scale Attention (EMA).

Paper: "Efficient Multi-Scale Attention Module with Cross-Spatial Learning", Ouyang, He, Zhang, Li, Huang, Zeng, Luo,
Feng (ICASSP 2023, arXiv:2305.13563). Official code: github.com/YOLOonMe/EMA-attention-module (``EMA_attention_module``;
the same forward as ``EmaModule`` in its ``timm/models/layers/ema.py``). The channels are split into G groups
(``factor``, default 32), each group a sub-batch that shares one set of weights; per group, with cg = C / G channels:

- 1x1 branch: strip means along W and along H, concatenated -> Conv1x1(cg, cg, bias) -> split -> sigmoid;
  ``x1 = GroupNorm(cg, cg)(x * a_h * a_w)`` (one channel per norm group, i.e. an affine instance norm);
- 3x3 branch: ``x2 = Conv3x3(cg, cg, bias, padding 1)(x)``;
- cross-spatial learning: ``weights = softmax(mean(x1)) . x2 + softmax(mean(x2)) . x1`` (softmax over the cg channels
  of each group, ``.`` a weighted sum over those channels, giving one (H, W) map per group);
  ``out = x * sigmoid(weights)``, the map shared by the cg channels of its group.

The official ``x.reshape(b * groups, -1, h, w)`` needs C % G == 0 (otherwise it raises), which the constructor checks.

Implementation (exactly the official function, forward and gradients; checked in float64 against a literal
transcription):

- the groups stay in the channel axis (no batch reshape, so channels-last inputs stay channels-last): the 1x1 conv
  runs on the strips only, the GroupNorm runs as ``torch.group_norm`` with C groups and the affine tiled G times;
- ``mean(x1)`` over H, W is exactly the GroupNorm bias (a normalised channel has mean 0), so the 1x1 branch's channel
  weights are ``softmax(gn.bias)`` for every input, and ``softmax(gn.bias) . conv3x3(x)`` is a single 3x3 conv with
  cg -> 1 channels per group (weights folded, G groups);
- ``mean(x2)`` is the bias plus the 3x3 kernel applied to the sums of x over the nine shifted windows, which are the
  total minus the first/last row and column (from the strip sums and the border columns), so the cg-channel 3x3
  output is never formed: the 3x3 branch costs 9 instead of 9 * cg multiply-accumulates per input element.

``F.group_norm`` refuses a norm group holding a single value (batch 1, one group, a 1x1 map), a BatchNorm check that
does not apply to per-sample statistics; ``torch.group_norm`` is called directly, as in ELA.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import check_int, is_channels_last, outer_hw, traced
from .registry import AttentionSpec, register

__all__ = ["EMA"]


def _group_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, g: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1, groups=g)`` for a cg -> 1 kernel per group (weight (G, cg, 3, 3)).

    oneDNN runs this grouped convolution with one output per group at 20-50 elementwise passes over x. With
    cg >= 3 it is computed as one grouped 1x1 convolution to the nine taps (G * 9 maps, 9 / cg of x's size) and the
    nine shifted tap maps summed on the small (B, G, H, W) output: the same products and sums, 1.3-4x faster on CPU
    from 10 x 10 to 80 x 80 maps (1 thread); with cg < 3 the tap maps outweigh x and the convolution stays.
    """
    cg = weight.shape[1]
    if cg < 3:
        return F.conv2d(x, weight, bias, padding=1, groups=g)
    h, w = x.shape[2], x.shape[3]
    taps = F.conv2d(x, weight.permute(0, 2, 3, 1).reshape(g * 9, cg, 1, 1), groups=g)  # tap k = 3 * kh + kw
    taps = F.pad(taps, (1, 1, 1, 1)).unflatten(1, (g, 9))  # (B, G, 9, H + 2, W + 2)
    out = taps[:, :, 0, :h, :w] + bias.view(1, g, 1, 1)
    for k in range(1, 9):
        kh, kw = divmod(k, 3)
        out = out + taps[:, :, k, kh : kh + h, kw : kw + w]
    return out


class EMA(nn.Module):
    """Efficient multi-scale attention: grouped strip and 3x3 branches exchanging channel weights (cross-spatial).

    Parameters: ``10 * cg**2 + 4 * cg`` with ``cg = c1 // factor`` (48 at c1=64, factor 32; 672 at c1=64, factor 8).
    Layer names follow the official code (``gn``, ``conv1x1``, ``conv3x3``), so its state dicts load unchanged.

    Args:
        c1 (int): Input (and output) channels; a multiple of ``factor``.
        factor (int): Number of groups G (the official ``factor``); the weights are shared by the groups.

    Examples:
        >>> m = EMA(64)
        >>> m(torch.randn(2, 64, 13, 17)).shape
        torch.Size([2, 64, 13, 17])
        >>> EMA(64, 8).conv3x3
        Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    """

    def __init__(self, c1: int, factor: int = 32) -> None:
        """Build the per-group GroupNorm, 1x1 and 3x3 convolutions (cg = c1 // factor channels each)."""
        super().__init__()
        name = f"EMA(c1={c1!r}, factor={factor!r})"
        c1 = check_int(name, "c1", c1)
        factor = check_int(name, "factor", factor)
        if c1 % factor:
            divisors = [d for d in range(1, c1 + 1) if c1 % d == 0]
            raise ValueError(
                f"{name}: c1 must be divisible by factor (the number of channel groups), got c1={c1}, "
                f"factor={factor}; valid factor for c1={c1}: {', '.join(map(str, divisors))}; "
                f"valid c1 for factor={factor}: {factor}, {2 * factor}, {3 * factor}, ..."
            )
        self.groups = factor
        cg = c1 // factor
        self.gn = nn.GroupNorm(cg, cg)
        self.conv1x1 = nn.Conv2d(cg, cg, 1)
        self.conv3x3 = nn.Conv2d(cg, cg, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate each channel group of x with its cross-spatial map.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        if traced():
            return self._export_forward(x)
        b, _, h, w = x.shape
        g, cg = self.groups, self.gn.num_channels  # ints of the module, constants in an ONNX graph
        c = g * cg
        row_mean, col_mean = x.mean(3), x.mean(2)  # (B, C, H), (B, C, W)
        # 1x1 branch: the shared 1x1 conv on the concatenated strips of each group, then the two strip gates
        strips = torch.cat((row_mean, col_mean), 2).reshape(b * g, cg, h + w, 1)
        a_h, a_w = self.conv1x1(strips).reshape(b, c, h + w).sigmoid().split((h, w), 2)
        y = x * outer_hw(a_h.to(x.dtype), a_w.to(x.dtype), is_channels_last(x))
        gn = self.gn
        x1 = torch.group_norm(y, c, gn.weight.repeat(g), gn.bias.repeat(g), gn.eps)  # one channel per norm group
        # spatial mean of conv3x3(x): the kernel applied to the sums of x over its nine shifted windows
        rows = row_mean * w  # row sums (B, C, H)
        sums = torch.stack((rows - x[..., -1], rows, rows - x[..., 0]), -1)  # column shift kw = 0, 1, 2: (B, C, H, 3)
        total = sums.sum(2)
        window = torch.stack((total - sums[:, :, -1], total, total - sums[:, :, 0]), 2)  # row shift kh: (B, C, 3, 3)
        w3 = self.conv3x3.weight  # (cg, cg, 3, 3)
        x2_mean = window.reshape(b, g, cg * 9) @ w3.flatten(1).t() / (h * w) + self.conv3x3.bias  # (B, G, cg)
        # cross-spatial weights: softmax(mean(x1)) = softmax(gn.bias) folded into the 3x3 conv, plus x21 . x1
        s11 = gn.bias.softmax(0)
        w_fold = (s11 @ w3.flatten(1)).reshape(1, cg, 3, 3).repeat(g, 1, 1, 1)
        weights = _group_conv3x3(x, w_fold, (s11 @ self.conv3x3.bias).repeat(g), g)  # (B, G, H, W)
        s21 = x2_mean.softmax(-1).unsqueeze(2)  # (B, G, 1, cg)
        weights = weights + (s21 @ x1.unflatten(1, (g, cg)).flatten(3)).reshape(b, g, h, w)
        return (x.unflatten(1, (g, cg)) * weights.sigmoid().to(x.dtype).unsqueeze(2)).flatten(1, 2)

    def _export_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for converters: 4-D NCHW tensors only, the groups kept in the channel axis (no batch
        reshape, no 5-D view), every per-group weight tiled G times into a grouped convolution, and the per-group
        channel sums and the gate's spread over the cg channels as grouped convolutions with unit weights. NCNN
        computed the eager form silently wrong (its batch-folded and 5-D tensors); onnx2tf and Paddle refused it."""
        b, _, h, w = x.shape
        g, cg = self.groups, self.gn.num_channels
        c = g * cg  # an int: group_norm's group count must be a constant in ONNX
        c1, c3, gn = self.conv1x1, self.conv3x3, self.gn
        rows, cols = x.sum(3, keepdim=True), x.sum(2, keepdim=True)  # (B, C, H, 1), (B, C, 1, W)
        strips = torch.cat((rows / w, cols.transpose(2, 3) / h), 2)  # (B, C, H + W, 1)
        a = F.conv2d(strips, c1.weight.repeat(g, 1, 1, 1), c1.bias.repeat(g), groups=g).sigmoid()
        a_h, a_w = a.split((h, w), 2)
        x1 = torch.group_norm(x * (a_h * a_w.transpose(2, 3)), c, gn.weight.repeat(g), gn.bias.repeat(g), gn.eps)
        # spatial mean of conv3x3(x) from the window sums (see forward), as a grouped 3x3 conv on a 3x3 map
        sums = torch.cat((rows - x[..., -1:], rows, rows - x[..., :1]), 3)  # (B, C, H, 3), column shift kw
        total = sums.sum(2, keepdim=True)
        window = torch.cat((total - sums[:, :, -1:], total, total - sums[:, :, :1]), 2)  # (B, C, 3, 3), row shift kh
        x2_mean = F.conv2d(window, c3.weight.repeat(g, 1, 1, 1), groups=g) / (h * w) + c3.bias.repeat(g).view(
            1, c, 1, 1
        )
        s21 = x2_mean.reshape(b, g, cg).softmax(2).reshape(b, c, 1, 1)
        s11 = gn.bias.softmax(0)
        w_fold = (s11 @ c3.weight.flatten(1)).reshape(1, cg, 3, 3).repeat(g, 1, 1, 1)
        weights = F.conv2d(x, w_fold, (s11 @ c3.bias).repeat(g), padding=1, groups=g)  # (B, G, H, W)
        ones = torch.ones(g, cg, 1, 1, dtype=x.dtype, device=x.device)
        weights = weights + F.conv2d(x1 * s21, ones, groups=g)  # per-group channel sum
        gate = F.conv2d(weights.sigmoid().to(x.dtype), ones.reshape(c, 1, 1, 1), groups=g)  # (B, C, H, W)
        return x * gate

    def extra_repr(self) -> str:
        """Show the number of groups in ``print(model)``."""
        return f"factor={self.groups}"


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "EMA",
        EMA,
        paper='Ouyang et al., "Efficient Multi-Scale Attention Module with Cross-Spatial Learning", ICASSP 2023',
        official="github.com/YOLOonMe/EMA-attention-module (EMA_attention_module; timm/models/layers/ema.py)",
        tag="ema",
        # factor = the number of channel groups G, which must divide C. The official default 32 (used by the
        # official YOLOv5s config) divides every neck width of the other families at every scale. MAY's SE slots
        # are 16 to 576 wide and 32 divides only 4 of them; 8 (their greatest common divisor) is the largest group
        # count that fills all 9 slots, so may-ema compares like for like with the other modules.
        hyperparameters={"may": (8,), "*": (32,)},
        label="EMA G={0}",
        # strip means 2, gating x 1, GroupNorm 2, the x21-weighted channel sum 1, output gate 1, and the folded
        # 3x3 conv (cg -> 1 channel per group, called functionally so no hook counts it) 9 per input element
        passes=(16, 0),
        order=90,
    )
)
