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
``amax`` (about 5x faster than ``max(dim)``, which also computes indices) and the spatial convolution runs as a
2-channel depthwise one on a channels-last map; with autograd the maxima are ``max(dim)``, whose backward goes to the
arg-max (the first maximum on ties, as in the official code), and in eager mode the whole module runs as one
autograd Function with a hand-written backward (``_CBAMGates``, six full-size passes instead of about fourteen).
As any BatchNorm network, the spatial BatchNorm cannot train on a single value per channel (batch 1 with a 1x1 map).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import (
    check_bool,
    check_int,
    exporting,
    folded_conv,
    hand_backward,
    is_channels_last,
    reduced_width,
    subgraph_grads,
)
from .registry import AttentionSpec, ZooVariant, register

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
        if hand_backward(x, self) and (x.is_contiguous() or is_channels_last(x)):
            return _CBAMGates.apply(x, self, *self.parameters())
        grad = torch.is_grad_enabled() and (x.requires_grad or self.fc1.weight.requires_grad)
        b = x.shape[0]
        peak = x.flatten(2).max(2)[0] if grad else x.amax((2, 3))
        x = x * self._channel_gate(x.mean((2, 3)), peak, b).to(x.dtype)[..., None, None]
        peak = x.max(1)[0] if grad else x.amax(1)
        if exporting():  # the conv through its module; in ONNX the mean over C as a MatMul with 1/C, which ONNX
            b, c, h, w = x.shape  # Runtime runs 3-5x faster than ReduceMean over axis 1 (PNNX/NCNN keep the mean)
            if torch.onnx.is_in_onnx_export():
                mean = (torch.full((1, c), 1.0 / c, dtype=x.dtype, device=x.device) @ x.flatten(2)).reshape(b, h, w)
            else:
                mean = x.mean(1)
            return x * self._spatial_gate(peak, mean, False).to(x.dtype)
        return x * self._spatial_gate(peak, x.mean(1), x.device.type == "cpu").to(x.dtype)

    def _channel_gate(self, mean: torch.Tensor, peak: torch.Tensor, b: int) -> torch.Tensor:
        """sigmoid(MLP(avg) + MLP(max)), (B, C): the shared MLP runs once on the stacked [avg; max] descriptors, or,
        when exported, once on each (a concatenation on the batch axis crashes NCNN and CoreML)."""
        if exporting():
            mlp = (self.fc2(self.act(self.fc1(v))) for v in (mean, peak))
            return (next(mlp) + next(mlp)).sigmoid()
        y = self.fc2(self.act(self.fc1(torch.cat((mean, peak), 0))))
        return (y[:b] + y[b:]).sigmoid()

    def _spatial_gate(self, peak: torch.Tensor, mean: torch.Tensor, cpu: bool) -> torch.Tensor:
        """sigmoid(BN(conv([max, mean] or [mean, max]))), (B, 1, H, W), from the (B, H, W) channel-pooled maps.

        On CPU the two maps are stacked channels-last (oneDNN's input gradient of this 2 -> 1 convolution is 4-25x
        faster than from an NCHW map); without autograd the convolution runs as a 2-channel depthwise one whose two
        outputs are added (the same sums; 1.3-1.9x faster than the 2 -> 1 kernel on 40-160 px maps).
        """
        maps = (peak, mean) if self.spatial_order == "max-mean" else (mean, peak)
        if not cpu:
            return self.bn(self.conv(torch.stack(maps, 1))).sigmoid()
        s = torch.stack(maps, -1).permute(0, 3, 1, 2)  # (B, 2, H, W), channels-last in memory
        if torch.is_grad_enabled() and (s.requires_grad or self.conv.weight.requires_grad):
            return self.bn(self.conv(s)).sigmoid()
        k, bias = self.conv.kernel_size, self.conv.bias  # a bias once the BatchNorm is folded in (fold_bn)
        y = F.conv2d(s, self.conv.weight.view(2, 1, *k), padding=self.conv.padding, groups=2)
        y = y[:, :1] + y[:, 1:] if bias is None else torch.add(y[:, :1], y[:, 1:]).add_(bias.view(1, 1, 1, 1))
        return self.bn(y).sigmoid()

    def fold_bn(self) -> None:
        """Fold the spatial BatchNorm into the spatial conv for inference (``model.fuse()`` calls this through
        ``fold_batchnorms``): the conv gains a bias and ``bn`` becomes an ``Identity``. Nothing to do without a BN."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv, self.bn = folded_conv(self.conv, self.bn), nn.Identity()

    def extra_repr(self) -> str:
        """Show the variant in ``print(model)`` when it is not the default."""
        return "" if self.spatial_order == "max-mean" else f"spatial_order={self.spatial_order!r}"


class _CBAMGates(torch.autograd.Function):
    """CBAM with a hand-written backward for its full-size part (used whenever a gradient is needed in eager mode).

    Autograd writes each of the four poolings' gradients out at full size (the two maxima as zero-filled scatters,
    the two means as broadcast divisions) and adds them up, and it computes each gate's gradient from a separate
    product: about 14 full-size passes. Here the backward makes six: per gate, ``(grad * input)`` reduced to the gate's
    shape (two) and ``grad * gate + mean gradient`` as one ``addcmul`` (one), the max gradients added at their arg-max
    (one value per pooled row, as ``max(dim)``'s backward does; the first maximum on ties). The small parts (the MLP
    on the pooled descriptors; conv, BatchNorm and sigmoid on the pooled maps) keep their autograd graphs, built in the
    forward on detached copies of the descriptors (BatchNorm's running statistics update once, there). Measured on
    CPU: 15% less forward+backward time over MAY's nine slots at batch 8, 320 px (the 7x7 convolution's own backward
    and the arg-max searches, which no formulation avoids, are most of the rest).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, module: CBAM, *params: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        peak_hw, arg_hw = x.flatten(2).max(2)
        with torch.enable_grad():
            channel_in = (x.mean((2, 3)).requires_grad_(), peak_hw.requires_grad_())
            channel = module._channel_gate(*channel_in, b)  # (B, C)
        scale = channel.detach().to(x.dtype)[..., None, None]
        x1 = x * scale
        peak_c, arg_c = x1.max(1)
        with torch.enable_grad():
            spatial_in = (peak_c.requires_grad_(), x1.mean(1).requires_grad_())
            spatial = module._spatial_gate(*spatial_in, x.device.type == "cpu")  # (B, 1, H, W)
        gate = spatial.detach().to(x.dtype)
        ctx.save_for_backward(x, x1, arg_hw, arg_c)
        ctx.graphs = ((channel, channel_in), (spatial, spatial_in))
        ctx.gates, ctx.params = (scale, gate), params
        return x1 * gate

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, x1, arg_hw, arg_c = ctx.saved_tensors
        (channel, channel_in), (spatial, spatial_in) = ctx.graphs
        scale, gate = ctx.gates
        b, c, h, w = x.shape
        # spatial gate: out = x1 * gate
        grad_gate = (grad * x1).sum(1, keepdim=True)
        (g_peak_c, g_mean_c), g_params_spatial = subgraph_grads(spatial, grad_gate.to(spatial.dtype), spatial_in,
                                                                 ctx.params)  # fmt: skip
        grad_x1 = torch.addcmul((g_mean_c / c).unsqueeze(1).to(grad.dtype), grad, gate)
        grad_x1.scatter_add_(1, arg_c.unsqueeze(1), g_peak_c.unsqueeze(1).to(grad.dtype))
        # channel gate: x1 = x * scale
        grad_scale = (grad_x1 * x).sum((2, 3))
        (g_mean_hw, g_peak_hw), g_params_channel = subgraph_grads(channel, grad_scale.to(channel.dtype), channel_in,
                                                                  ctx.params)  # fmt: skip
        grad_x = torch.addcmul((g_mean_hw / (h * w))[..., None, None].to(grad.dtype), grad_x1, scale)
        index = (torch.arange(b, device=x.device)[:, None], torch.arange(c, device=x.device), arg_hw // w, arg_hw % w)
        grad_x.index_put_(index, g_peak_hw.to(grad.dtype), accumulate=True)
        grad_params = [
            gc if gs is None else gs if gc is None else gc + gs
            for gc, gs in zip(g_params_channel, g_params_spatial, strict=True)
        ]
        return (grad_x, None, *grad_params)


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "CBAM",
        CBAM,
        paper='Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018',
        official="github.com/Jongchan/attention-module (MODELS/cbam.py)",
        tag="cbam",
        passes=(6, 0),
        variants=(
            ZooVariant(
                "paper-cbam",
                ("may",),
                (7, 16, False, "mean-max", False),
                "CBAM (MAY paper)",
                "the CBAM of the MLCA paper's MAY code (github.com/wandahangFY/MLCA, models/common.py: CBAM in "
                "MblNetV3_BlkCBAM): reduction 16, bias-free 1x1-conv channel MLP, spatial gate over [mean, max] "
                "-> 7x7 conv without bias -> sigmoid, no BatchNorm. The network of the paper's CBAM row.",
            ),
        ),
        order=40,
    )
)
