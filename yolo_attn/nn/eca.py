"""Efficient Channel Attention (ECA).

Paper: "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks", Wang, Wu, Zhu, Li, Zuo, Hu
(CVPR 2020). Design: the official ``eca_layer`` (github.com/BangguWu/ECANet) with the adaptive kernel size of the
paper, Eq. 12: ``t = int(|(log2 C + b) / gamma|)``, ``k = t`` if t is odd else ``t + 1`` (so k is always odd and
the output keeps C channels; circulating variants that keep an even k return C - 1 channels). ``math.log2`` is used
for ``log2``; it gives the same k as the official ``math.log(C, 2)`` for every C up to 2**21 (checked).

The 1-channel ``Conv1d`` runs through ``channel_conv1d`` (also used by MLCA): on CPU PyTorch's convolution is the
fastest form at batch 1 but its backward degrades badly from batch 2 or past ~16k positions, where k shifted
multiply-adds are exact and 2-20x faster (numbers in ``channel_conv1d``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import check_int, exporting
from .registry import AttentionSpec, register

__all__ = ["ECA", "channel_conv1d", "eca_kernel_size"]

# Longest sequence for which CPU F.conv1d stays fast at batch 1 (see channel_conv1d).
_CPU_CONV1D_MAX_LEN = 16384


def eca_kernel_size(c1: int, gamma: int = 2, b: int = 1) -> int:
    """Return ECA's adaptive 1-D kernel size for ``c1`` channels (always odd).

    Args:
        c1 (int): Channel count.
        gamma (int): Gamma of the paper's mapping.
        b (int): Offset b of the paper's mapping.

    Returns:
        (int): ``t`` if odd else ``t + 1`` with ``t = int(|(log2 c1 + b) / gamma|)``.

    Examples:
        >>> [eca_kernel_size(c) for c in (8, 16, 64, 128, 256, 512, 1024, 2048)]
        [3, 3, 3, 5, 5, 5, 5, 7]
    """
    t = int(abs((math.log2(c1) + b) / gamma))
    return t if t % 2 else t + 1


def channel_conv1d(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a bias-free ``Conv1d(1, 1, k, padding=(k - 1) // 2)`` to x (N, 1, L) in the fastest exact form.

    The result equals ``conv(x)`` up to the order of the k additions. Measured on CPU (1 thread, torch 2.14, k = 5;
    forward / forward+backward): F.conv1d takes 5-18 / 50-180 us at batch 1 up to L = 14,400, but 127 / 3,200 us at
    (1, 1, 25600), 160 / 1,460 us at (2, 1, 14400) and 430 / 21,000 us at (8, 1, 14400), where the k shifted
    multiply-adds take 35-120 / 200-1,600 us. So CPU batch 1 with L <= 16,384 uses F.conv1d and every other CPU case
    the shifted sum (``_FlatConv1d``, with a hand-written backward); CUDA (cuDNN), tracing and ONNX export (one
    ``Conv`` node) use F.conv1d, and ``torch.compile`` the shifted sum as plain ops, which Inductor fuses. The shifted
    sum runs in the weight's dtype (float32 under autocast: the sequences are C or 25 * C long), and ``conv.weight``
    stays the only parameter, so state dicts are those of the ``nn.Conv1d``.

    Args:
        conv (nn.Conv1d): The 1-in, 1-out, bias-free convolution whose weight is used.
        x (torch.Tensor): Input of shape (N, 1, L).

    Returns:
        (torch.Tensor): Shape (N, 1, L).
    """
    weight = conv.weight
    n, length = x.shape[0], x.shape[-1]
    if exporting():
        shifted = False  # one Conv node
    elif torch.compiler.is_compiling():
        shifted = True  # fused by Inductor
    elif x.device.type != "cpu":
        shifted = False  # cuDNN
    else:
        shifted = n > 1 or length > _CPU_CONV1D_MAX_LEN
    if not shifted:
        return conv(x)  # the module's own call, so its forward hooks (MAC counts) see it
    dtype = torch.promote_types(x.dtype, weight.dtype)
    if torch.compiler.is_compiling():  # plain ops, which Inductor fuses (and differentiates) itself
        k, pad = weight.shape[-1], conv.padding[0]
        xp = F.pad(x.to(dtype), (pad, pad))
        taps = weight.to(dtype).reshape(k).unbind(0)
        y = xp[..., :length] * taps[0]
        for i in range(1, k):
            y = torch.addcmul(y, xp[..., i : i + length], taps[i])
        return y
    return _FlatConv1d.apply(x.to(dtype), weight, conv.padding[0])


class _FlatConv1d(torch.autograd.Function):
    """``F.conv1d(x, weight, padding=pad)`` for x (N, 1, L) as multiply-adds over one flat, zero-separated sequence.

    The N padded samples are laid end to end in one contiguous buffer, where a 'valid' correlation computes every
    sample's 'same' outputs at once (a kernel window never crosses into the next sample: k = 2 * pad + 1). Forward: k
    multiply-adds over that buffer; backward by hand: the weight gradient is k dot products and the input gradient k
    multiply-adds, all over contiguous memory. Autograd through slices of the padded (N, 1, L) tensor instead costs
    about 25 passes (a zero-filled pad gradient per tap and a multiply-and-sum per weight), ~4x more.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, pad: int) -> torch.Tensor:
        n, _, length = x.shape
        k, row = weight.shape[-1], length + 2 * pad
        flat = F.pad(x.reshape(n, length), (pad, pad)).reshape(-1)  # (N * row,), zeros between samples
        valid = flat.numel() - (k - 1)
        taps = weight.to(x.dtype).reshape(k)
        out = torch.zeros(n * row, dtype=x.dtype, device=x.device)
        head = out[:valid]
        torch.mul(flat[:valid], taps[0], out=head)
        for i in range(1, k):
            head.addcmul_(flat[i : i + valid], taps[i])
        ctx.save_for_backward(flat, weight)
        ctx.shape = (n, length, pad)
        return out.view(n, row)[:, :length].reshape(n, 1, length)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        flat, weight = ctx.saved_tensors
        n, length, pad = ctx.shape
        k, row = weight.shape[-1], length + 2 * pad
        valid = flat.numel() - (k - 1)
        g = F.pad(grad.reshape(n, length).to(flat.dtype), (0, 2 * pad)).reshape(-1)[:valid]  # on the output grid
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.stack([torch.dot(g, flat[i : i + valid]) for i in range(k)]).to(weight.dtype)
            grad_w = grad_w.reshape(weight.shape)
        grad_x = None
        if ctx.needs_input_grad[0]:
            taps = weight.to(flat.dtype).reshape(k)
            gflat = torch.zeros_like(flat)
            for i in range(k):
                gflat[i : i + valid].addcmul_(g, taps[i])
            grad_x = gflat.view(n, row)[:, pad : pad + length].reshape(n, 1, length)
        return grad_x, grad_w, None


class ECA(nn.Module):
    """Efficient Channel Attention: a 1-D convolution across the channel descriptor instead of an MLP.

    ``s = sigmoid(conv1d_k(GAP(x)))`` over the length-C sequence of channel means, ``out = x * s``.
    Parameters: k (3 at c1=64).

    Args:
        c1 (int): Input (and output) channels.
        k_size (int | None): Odd kernel size; None derives it from c1 with ``gamma`` and ``b``.
        gamma (int): Gamma of the adaptive kernel-size rule (positive).
        b (int): Offset of the adaptive kernel-size rule.

    Examples:
        >>> m = ECA(128)
        >>> m.conv.kernel_size
        (5,)
        >>> m(torch.randn(2, 128, 20, 20)).shape
        torch.Size([2, 128, 20, 20])
    """

    def __init__(self, c1: int, k_size: int | None = None, gamma: int = 2, b: int = 1) -> None:
        """Build the bias-free Conv1d(1, 1, k) with 'same' padding."""
        super().__init__()
        name = f"ECA(c1={c1!r}, k_size={k_size!r}, gamma={gamma!r}, b={b!r})"
        c1 = check_int(name, "c1", c1)
        gamma = check_int(name, "gamma", gamma)
        b = check_int(name, "b", b, minimum=-(2**31))
        if k_size is None:
            k_size = eca_kernel_size(c1, gamma, b)
        else:
            k_size = check_int(name, "k_size", k_size)
            if k_size % 2 == 0:
                raise ValueError(
                    f"{name}: k_size must be an odd positive integer (1, 3, 5, ...) so the output keeps "
                    f"c1={c1} channels, got {k_size}; or pass k_size=None for the adaptive size "
                    f"{eca_kernel_size(c1, gamma, b)}"
                )
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the channels of x.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): ``x`` rescaled per channel, same shape.
        """
        y = channel_conv1d(self.conv, x.mean((2, 3)).unsqueeze(1))  # (B, 1, C)
        return x * y.transpose(1, 2).unsqueeze(-1).sigmoid().to(x.dtype)


#: This module's registry entry (`yolo_attn.nn.registry`): how the rest of the package knows it.
SPEC = register(
    AttentionSpec(
        "ECA",
        ECA,
        paper='Wang et al., "ECA-Net: Efficient Channel Attention for Deep CNNs", CVPR 2020',
        official="github.com/BangguWu/ECANet (models/eca_module.py)",
        tag="eca",
        order=30,
    )
)
