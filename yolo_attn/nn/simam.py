"""SimAM: a simple, parameter-free attention module.

Paper: "SimAM: A Simple, Parameter-Free Attention Module for Convolutional Neural Networks", Yang, Zhang, Li, Xie
(ICML 2021). Official code: github.com/ZjjConan/SimAM (``networks/attentions/simam_module.py``, ``simam_module``).
Each neuron's inverse minimal energy (the paper's closed form, its Eq. 5 with coefficient lambda), per channel over
the H x W map with ``n = H * W - 1``:

    d = (x - mean(x))**2,    v = sum(d) / n,    e_inv = d / (4 * (v + lambda)) + 0.5,    out = x * sigmoid(e_inv)

``lambda`` (``e_lambda``) defaults to 1e-4, the official module's default (its CIFAR setting); the official
ImageNet runs and COCO detection configs use 0.1. SimAM has no parameters: ``c1`` is taken first only for the
package's convention (``Module(c1, *hyperparameters)``, the channels the YAML registration injects), checked and
otherwise unused; the official ``channels`` argument is likewise unused.

Differences from the official code, none where it is defined: the variance is ``mean(d) * (H * W / n)`` (the same
number; in fp16 the sum of squares over a large map overflows where the mean does not); on a 1x1 map the official
``n = 0`` gives 0/0 = NaN, while d = 0 there, so every finite variance gives ``e_inv = 0.5``, which is what this
module returns (n is taken as 1 when H * W == 1, written without a branch so ONNX exports stay dynamic).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._common import check_int, exporting
from .registry import AttentionSpec, register

__all__ = ["SimAM"]


class SimAM(nn.Module):
    """SimAM: a 3-D (channel and position) gate from each activation's distance to its channel mean.

    Parameters: none.

    Args:
        c1 (int): Input (and output) channels; not used by the computation (see the module docstring).
        e_lambda (float): The energy's regulariser lambda, a positive finite number (official default 1e-4).

    Examples:
        >>> m = SimAM(64)
        >>> m(torch.randn(2, 64, 13, 17)).shape
        torch.Size([2, 64, 13, 17])
        >>> sum(p.numel() for p in m.parameters())
        0
    """

    def __init__(self, c1: int, e_lambda: float = 1e-4) -> None:
        """Check the arguments; SimAM has no layers."""
        super().__init__()
        name = f"SimAM(c1={c1!r}, e_lambda={e_lambda!r})"
        self.c1 = check_int(name, "c1", c1)
        try:
            value = math.nan if isinstance(e_lambda, (bool, str, bytes)) else float(e_lambda)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"{name}: e_lambda must be a positive finite number (the energy's lambda; the official default is "
                f"1e-4, its ImageNet and COCO runs use 0.1), got {e_lambda!r}"
            )
        self.e_lambda = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate every activation of x by its inverse energy.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        hw = x.shape[2] * x.shape[3]
        n = hw - 1 + (hw == 1)  # official n = H*W - 1; 1 on a 1x1 map, where d = 0 (see the module docstring)
        d = x - x.mean((2, 3), keepdim=True)
        if exporting():  # Paddle's converter has no aten::square; traced sizes divide in float32: multiply first
            d = d * d
            v = d.mean((2, 3), keepdim=True) * hw / n
        else:
            d = d.square()
            v = d.mean((2, 3), keepdim=True) * (hw / n)  # = d.sum / n
        return x * (d / (4 * (v + self.e_lambda)) + 0.5).sigmoid()

    def extra_repr(self) -> str:
        """Show lambda in ``print(model)``."""
        return f"e_lambda={self.e_lambda:g}"


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "SimAM",
        SimAM,
        paper='Yang, Zhang, Li, Xie, "SimAM: A Simple, Parameter-Free Attention Module for CNNs", ICML 2021',
        official="github.com/ZjjConan/SimAM (networks/attentions/simam_module.py)",
        tag="simam",
        # lambda: the official module's default 1e-4 is its CIFAR setting; its ImageNet runs (README, logs
        # "imagenet-*-simam-param0.1") and its COCO detection configs (mmdetection/configs/_base_/models/
        # *_r50simam_fpn.py: attention_param=0.1) use 0.1. The zoo's models are detectors: 0.1 in every family.
        hyperparameters={"*": (0.1,)},
        label="SimAM lambda={0:g}",
        passes=(5, 0),  # mean, (x - mean)^2, mean of d, the energy, the gate
        order=100,
    )
)
