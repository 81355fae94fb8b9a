"""Convolutional Block Attention Module (CBAM).

Paper: "CBAM: Convolutional Block Attention Module", Woo, Park, Lee, Kweon (ECCV 2018).
Design: the official code (github.com/Jongchan/attention-module, ``MODELS/cbam.py``), not Ultralytics' ``CBAM``
(an average-pool-only 1x1-conv gate without MLP or BatchNorm):

- channel gate: one shared MLP Linear(C, C/r, bias) -> ReLU -> Linear(C/r, C, bias) applied to the global average
  AND to the global max, the two outputs summed, then sigmoid; ``x1 = x * gate``.
- spatial gate: ``cat[max over C, mean over C]`` of x1 (max first) -> Conv2d(2, 1, k, pad (k-1)/2, no bias) ->
  BatchNorm2d(1) (eps 1e-5, momentum 0.01 as in the official ``BasicConv``) -> sigmoid; ``out = x1 * gate``.

Three hyperparameters select the CBAM that the MLCA paper's official MAY code uses (github.com/wandahangFY/MLCA,
``models/common.py``: ``ChannelAttention``, ``SpatialAttention``, ``CBAM``): a bias-free channel MLP (1x1 convs
there, the same linear maps), the spatial descriptors in the order [mean, max], and no BatchNorm after the spatial
conv: ``CBAM(c1, 7, 16, False, "mean-max", False)``. The defaults are the CBAM paper's code.

BatchNorm settings inside a model: the spatial BatchNorm is built with eps 1e-5 and momentum 0.01, and keeps them
when CBAM is used on its own; inside any Ultralytics model ``initialize_weights`` then sets every ``BatchNorm2d``
(this one included) to eps 1e-3 and momentum 0.03, as YOLOv5 does (checked on ``may-cbam.yaml``). So a CBAM trained
in a YOLO model normalises with eps 1e-3 and updates its running statistics with momentum 0.03.

Speed (all exact): the shared MLP runs once on the stacked [avg; max] descriptors; without autograd the maxima are
``amax`` (4-6x faster than ``max(dim)``, which also computes indices); with autograd they are ``max(dim)``, whose
backward scatters to the arg-max instead of comparing the whole tensor with the maximum. When a gradient is needed on
CPU, the two spatial descriptors are stacked channels-last, where oneDNN's input gradient of the 2 -> 1 channel
convolution is 10-25x faster than from an NCHW map. As any BatchNorm network, the spatial BatchNorm cannot train on
a single value per channel (batch 1 with a 1x1 map).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import check_bool, check_int, reduced_width

__all__ = ["CBAM"]

SPATIAL_ORDERS = ("max-mean", "mean-max")  # order of the channel-pooled maps fed to the spatial conv


class CBAM(nn.Module):
    """CBAM: channel gate from a shared MLP on average- and max-pooled descriptors, then a 2-D spatial gate.

    Parameters: ``2 * c1 * h + k * k * 2`` plus ``h + c1`` MLP biases and 2 BatchNorm affines when enabled, with
    ``h = c1 // reduction`` (680 at c1=64, k=7 with the defaults; 610 for the MAY-repo variant).

    Args:
        c1 (int): Input (and output) channels.
        kernel_size (int): Spatial-gate kernel, 3 or 7.
        reduction (int): Reduction ratio of the channel MLP; ``c1 // reduction`` must be at least 1.
        mlp_bias (bool): Biases in the channel MLP. True: the CBAM paper's code (``nn.Linear`` layers); False: the
            MLCA paper's MAY code (bias-free 1x1 convs).
        spatial_order (str): Order of the channel-pooled maps fed to the spatial conv: "max-mean" (the CBAM paper's
            code, ``ChannelPool``) or "mean-max" (the MAY code, ``SpatialAttention``).
        spatial_bn (bool): BatchNorm2d(1) after the spatial conv. True: the CBAM paper's code (``BasicConv``);
            False: the MAY code (conv -> sigmoid).

    Examples:
        >>> m = CBAM(64)
        >>> m(torch.randn(2, 64, 20, 20)).shape
        torch.Size([2, 64, 20, 20])
        >>> may = CBAM(64, 7, 16, False, "mean-max", False)  # the CBAM of the MLCA paper's MAY models
        >>> sum(p.numel() for p in may.parameters())
        610
    """

    def __init__(
        self,
        c1: int,
        kernel_size: int = 7,
        reduction: int = 16,
        mlp_bias: bool = True,
        spatial_order: str = "max-mean",
        spatial_bn: bool = True,
    ) -> None:
        """Build the shared channel MLP and the spatial conv (+ BatchNorm)."""
        super().__init__()
        name = (
            f"CBAM(c1={c1!r}, kernel_size={kernel_size!r}, reduction={reduction!r}, mlp_bias={mlp_bias!r}, "
            f"spatial_order={spatial_order!r}, spatial_bn={spatial_bn!r})"
        )
        c1 = check_int(name, "c1", c1)
        if kernel_size not in (3, 7) or isinstance(kernel_size, bool):
            raise ValueError(f"{name}: kernel_size must be 3 or 7, got {kernel_size!r}")
        hidden = reduced_width(name, c1, reduction)
        mlp_bias = check_bool(name, "mlp_bias", mlp_bias)
        spatial_bn = check_bool(name, "spatial_bn", spatial_bn)
        if not isinstance(spatial_order, str) or spatial_order not in SPATIAL_ORDERS:
            raise ValueError(
                f"{name}: spatial_order must be one of {', '.join(map(repr, SPATIAL_ORDERS))}, got {spatial_order!r}"
            )
        self.spatial_order = spatial_order
        self.fc1 = nn.Linear(c1, hidden, bias=mlp_bias)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, c1, bias=mlp_bias)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01) if spatial_bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the channel gate, then the spatial gate.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        b = x.shape[0]
        grad = torch.is_grad_enabled() and (x.requires_grad or self.fc1.weight.requires_grad)
        peak = x.flatten(2).max(2)[0] if grad else x.amax((2, 3))
        y = self.fc2(self.act(self.fc1(torch.cat((x.mean((2, 3)), peak), 0))))  # the shared MLP, once for both
        x = x * (y[:b] + y[b:]).sigmoid().to(x.dtype)[..., None, None]
        peak, mean = (x.max(1)[0] if grad else x.amax(1)), x.mean(1)  # (B, H, W) each
        maps = (peak, mean) if self.spatial_order == "max-mean" else (mean, peak)
        if grad and x.device.type == "cpu":
            s = torch.stack(maps, -1).permute(0, 3, 1, 2)  # (B, 2, H, W), channels-last in memory
        else:
            s = torch.stack(maps, 1)
        return x * self.bn(self.conv(s)).sigmoid().to(x.dtype)

    def extra_repr(self) -> str:
        """Show the variant in ``print(model)`` when it is not the default."""
        return "" if self.spatial_order == "max-mean" else f"spatial_order={self.spatial_order!r}"
