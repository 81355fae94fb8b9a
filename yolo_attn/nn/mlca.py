"""Mixed Local Channel Attention (MLCA).

Paper: "Mixed local channel attention for object detection", Wan, Lv, Qiu, Fu, Mao, Zhang
(Engineering Applications of Artificial Intelligence, 2023). Design: the official ``MLCA``
(github.com/wandahangFY/MLCA) after its December 2023 fix of the global branch (which had been reshaped to
(C, B, 1) and so mixed the samples of a batch):

- ``L = adaptive_avg_pool(x, n x n)`` (n = local_size = 5); ``G`` = mean of L (from the n x n map, not from x);
- local branch: L flattened position-major to one (B, 1, n*n*C) sequence -> Conv1d(1, 1, k, no bias) (the kernel
  crosses position boundaries) -> back to (B, C, n, n);
- global branch: G as (B, 1, C) -> a second Conv1d(1, 1, k, no bias);
- ``att = (1 - w) * sigmoid(global) + w * sigmoid(local)`` with the fixed local_weight w = 0.5;
- ``att`` is un-pooled to H x W with adaptive-average-pooling semantics (not nearest interpolation; the two
  differ when H or W is not a multiple of n) and ``out = x * att``. k follows ECA's rule.

Implementation: both adaptive poolings are separable bin averages, ``adaptive_avg_pool(x)[i, j] = (P_h x P_w^T)[i, j]``
with ``P[i, s_i:e_i] = 1 / (e_i - s_i)``, ``s_i = floor(i * n_in / n_out)``, ``e_i = ceil((i + 1) * n_in / n_out)``, in
both directions. They are built from H and W with tensor ops (exact; traceable to ONNX with dynamic H and W;
``torch.compile`` friendly) and applied as small matmuls, so x is read once to pool and once to gate, and the
backward never goes through the slow adaptive-pooling-upsample kernel. Eager calls cache the matrices per
(size, device, dtype).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn as nn

from ._common import check_int, is_channels_last
from .eca import eca_kernel_size

__all__ = ["MLCA", "bin_average_matrix"]


def _build_bin_average(n_out, n_in, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Build the (n_out, n_in) bin-average matrix with tensor ops (n_in/n_out may be traced or symbolic sizes).

    Cell j lies in bin i, ``floor(i * n_in / n_out) <= j < ceil((i + 1) * n_in / n_out)``, exactly when
    ``i * n_in < (j + 1) * n_out`` and ``j * n_out < (i + 1) * n_in``: integer products and comparisons only, no
    division, which keeps the ONNX graph small and lets Inductor reason about dynamic sizes.
    """
    i = torch.arange(n_out, device=device).unsqueeze(1)
    j = torch.arange(n_in, device=device)
    mask = ((i * n_in) < (j + 1) * n_out) & ((j * n_out) < (i + 1) * n_in)
    m = mask.to(dtype)
    return m / m.sum(1, keepdim=True)


@functools.lru_cache(maxsize=256)
def _cached_bin_average(n_out: int, n_in: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(False):  # a normal tensor, usable later in autograd even if built under inference
        return _build_bin_average(n_out, n_in, device, dtype)


def bin_average_matrix(n_out, n_in, like: torch.Tensor) -> torch.Tensor:
    """Return P (n_out, n_in) such that ``P @ v`` is ``adaptive_avg_pool1d(v, n_out)`` along v's first axis.

    Works both ways: n_out < n_in pools, n_out > n_in un-pools with the same bin rule as PyTorch's adaptive average
    pooling (so a 5 -> 13 un-pooling averages neighbouring cells where nearest interpolation would copy one).
    Plain eager calls are served from a small cache; under tracing, scripting or ``torch.compile`` (or when a size
    is symbolic) the matrix is rebuilt from tensor ops so dynamic shapes stay dynamic.

    Args:
        n_out (int): Output length.
        n_in (int): Input length.
        like (torch.Tensor): Tensor whose device and dtype the matrix takes.

    Returns:
        (torch.Tensor): The (n_out, n_in) matrix; each row sums to 1.

    Examples:
        >>> bin_average_matrix(2, 3, torch.zeros(1))
        tensor([[0.5000, 0.5000, 0.0000],
                [0.0000, 0.5000, 0.5000]])
    """
    if (
        type(n_out) is int
        and type(n_in) is int
        and type(like) is torch.Tensor
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
    ):
        return _cached_bin_average(n_out, n_in, like.device, like.dtype)
    return _build_bin_average(n_out, n_in, like.device, like.dtype)


class MLCA(nn.Module):
    """Mixed local channel attention: ECA-style 1-D convs over an n x n local map and its global mean.

    Parameters: 2k (6 at c1=64).

    Args:
        c1 (int): Input (and output) channels.
        local_size (int): Side n of the local pooled map (paper: 5).
        gamma (int): Gamma of ECA's kernel-size rule.
        b (int): Offset of ECA's kernel-size rule.
        local_weight (float): Weight w of the local branch in ``(1 - w) * global + w * local``, in [0, 1].

    Examples:
        >>> m = MLCA(128)
        >>> m.conv.kernel_size, m.conv_local.kernel_size
        ((5,), (5,))
        >>> m(torch.randn(2, 128, 13, 17)).shape
        torch.Size([2, 128, 13, 17])
    """

    def __init__(self, c1: int, local_size: int = 5, gamma: int = 2, b: int = 1, local_weight: float = 0.5) -> None:
        """Build the global and local Conv1d(1, 1, k) with ECA's k for c1 channels."""
        super().__init__()
        name = f"MLCA(c1={c1!r}, local_size={local_size!r}, gamma={gamma!r}, b={b!r}, local_weight={local_weight!r})"
        c1 = check_int(name, "c1", c1)
        self.local_size = check_int(name, "local_size", local_size)
        gamma = check_int(name, "gamma", gamma)
        b = check_int(name, "b", b, minimum=-(2**31))
        try:
            local_weight = float(local_weight)
        except (TypeError, ValueError):
            local_weight = math.nan
        if not 0.0 <= local_weight <= 1.0:
            raise ValueError(f"{name}: local_weight must be a number in [0, 1], got {local_weight!r}")
        self.local_weight = local_weight
        k = eca_kernel_size(c1, gamma, b)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)  # global branch
        self.conv_local = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate x with the mixed local/global attention un-pooled to its size.

        Args:
            x (torch.Tensor): Input of shape (B, C, H, W).

        Returns:
            (torch.Tensor): Gated tensor, same shape.
        """
        b, c, h, w = x.shape
        n = self.local_size
        cl = is_channels_last(x)
        ph, pw = bin_average_matrix(n, h, x), bin_average_matrix(n, w, x)  # pooling, (n, H) and (n, W)
        if cl:  # contract NHWC memory without a copy: (B, H, n, C) -> (B, n, n*C)
            loc = (ph @ (pw @ x.permute(0, 2, 3, 1)).reshape(b, h, n * c)).reshape(b, n * n, c)
        else:  # (B, C, H, n) -> (B, C, n, n)
            loc = (ph @ (x @ pw.transpose(0, 1))).flatten(2).transpose(1, 2)
        # loc: (B, n*n, C), position-major like the official (B, 1, n*n*C) sequence
        glob = self.conv(loc.mean(1, keepdim=True))  # (B, 1, C), global from the n x n map
        local = self.conv_local(loc.reshape(b, 1, n * n * c)).reshape(b, n * n, c)
        att = glob.sigmoid() * (1.0 - self.local_weight) + local.sigmoid() * self.local_weight  # (B, n*n, C)
        uh, uw = bin_average_matrix(h, n, x), bin_average_matrix(w, n, x)  # un-pooling, (H, n) and (W, n)
        if cl:  # build the gate NHWC in memory: (B, n, W, C) -> (B, H, W*C)
            a = (uh @ (uw @ att.reshape(b, n, n, c)).reshape(b, n, w * c)).reshape(b, h, w, c).permute(0, 3, 1, 2)
        else:  # (B, C, n, W) -> (B, C, H, W)
            a = uh @ (att.transpose(1, 2).reshape(b, c, n, n) @ uw.transpose(0, 1))
        return x * a.to(x.dtype)

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(model)``."""
        return f"local_size={self.local_size}, local_weight={self.local_weight}"
