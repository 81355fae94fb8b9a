"""Helpers shared by the attention modules: argument checks and memory-format-aware broadcasting.

Every check raises ``ValueError`` whose message names the module, the offending value and what is valid, so a
bad YAML row fails with a message that says how to fix it.
"""

from __future__ import annotations

import contextlib
import operator

import torch
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = [
    "check_bool",
    "check_int",
    "exporting",
    "fold_batchnorms",
    "folded_conv",
    "hand_backward",
    "is_channels_last",
    "outer_hw",
    "strip_means",
    "subgraph_grads",
    "traced",
]


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


def check_bool(module: str, name: str, value: object) -> bool:
    """Return ``value`` when it is a ``bool``, or raise ``ValueError`` (YAML ``False`` is a bool; "False" is not).

    Examples:
        >>> check_bool("CBAM(c1=64)", "mlp_bias", False)
        False
    """
    if not isinstance(value, bool):
        raise ValueError(f"{module}: {name} must be True or False, got {value!r}")
    return value


def reduced_width(module: str, c1: int, reduction: object) -> int:
    """Return the hidden width ``c1 // reduction`` of an excitation MLP, checking that it is at least 1."""
    reduction = check_int(module, "reduction", reduction)
    hidden = c1 // reduction
    if hidden < 1:
        raise ValueError(
            f"{module}: c1 // reduction = {hidden} hidden channels; reduction must be between 1 and c1={c1}"
        )
    return hidden


_PLAIN_OPS = False


@contextlib.contextmanager
def plain_ops():
    """Run forwards on their plain path, as when exporting: every conv through its module (so forward hooks that
    count MACs see it), no hand-written backward, no size-specific fast path. Results are the same."""
    global _PLAIN_OPS
    previous, _PLAIN_OPS = _PLAIN_OPS, True
    try:
        yield
    finally:
        _PLAIN_OPS = previous


def exporting() -> bool:
    """True while the forward is traced (``torch.jit.trace``, the TorchScript ONNX exporter) or exported with
    ``torch.export``: forwards then take their shape-general path, so a graph traced at one size stays valid at every
    size (dynamic ONNX axes) and holds standard ops only. Also True inside ``plain_ops()``."""
    return _PLAIN_OPS or torch.jit.is_tracing() or torch.compiler.is_exporting()


def traced() -> bool:
    """True while a converter records the forward: ``torch.jit.trace`` (TorchScript, PNNX/NCNN, OpenVINO, the
    TorchScript ONNX exporter) or ``torch.export``. Modules then take their export form: the same function written
    with ops every converter maps (no tensor folded into the batch axis, no 5-D tensors, 4-D convolutions for grouped
    sums). Unlike :func:`exporting`, not True inside ``plain_ops()``, so MAC counting sees the modules' own convs."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()


def hand_backward(x: torch.Tensor, module: torch.nn.Module) -> bool:
    """Whether a gate should run as a custom autograd Function with a hand-written backward.

    True in eager mode when a gradient is needed. Tracing, exporting and ``torch.compile`` (which differentiates and
    fuses the plain ops itself) take the plain path, as does every call without autograd.
    """
    if not torch.is_grad_enabled() or exporting() or torch.compiler.is_compiling():
        return False
    return x.requires_grad or any(p.requires_grad for p in module.parameters())


def subgraph_grads(
    outputs: torch.Tensor, grad: torch.Tensor, leaves: tuple[torch.Tensor, ...], params: tuple[torch.Tensor, ...]
) -> tuple[tuple, tuple]:
    """Backward through a small sub-graph built in a Function's forward (descriptor -> gate), e.g. an MLP on pooled
    values: the gradients of its detached input ``leaves`` and of the module ``params`` (None for unused ones).

    The sub-graph is kept (``retain_graph``) until the Function's context is freed with the outer graph, so a backward
    can run more than once through a graph retained by the caller (``gradcheck`` does).
    """
    got = torch.autograd.grad(outputs, (*leaves, *params), grad, allow_unused=True, retain_graph=True)
    return got[: len(leaves)], got[len(leaves) :]


def folded_conv(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.nn.Conv2d:
    """Return a copy of ``conv`` with the inference-mode ``bn`` that follows it folded in (weights scaled, a bias).

    ``bn(conv(x)) == folded_conv(conv, bn)(x)`` with frozen statistics, to float rounding.
    """
    fused = torch.nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
        bias=True, device=conv.weight.device, dtype=conv.weight.dtype,
    )  # fmt: skip
    weight, bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    fused.weight, fused.bias = weight.requires_grad_(False), bias.requires_grad_(False)
    return fused


def fold_batchnorms(model: torch.nn.Module) -> torch.nn.Module:
    """Fold the BatchNorms inside the attention modules of ``model`` into their convs, for inference.

    Ultralytics' ``BaseModel.fuse()`` folds its own layer types only; the integration runs this right after it, so
    a fused model holds no BatchNorm that a conv precedes (CBAM's spatial BN, CoordAtt's strip BN). Each module with
    a ``fold_bn`` method folds itself; a second call finds nothing left. Returns ``model``.
    """
    for m in model.modules():
        fold = getattr(type(m), "fold_bn", None)
        if callable(fold):
            fold(m)
    return model


def is_channels_last(x: torch.Tensor) -> bool:
    """Return True when a 4-D tensor is stored NHWC (and not also NCHW-contiguous, as 1x1 maps or C=1 are).

    The answer depends only on strides, never on values: under ``torch.compile`` it becomes a stride guard, and
    the ONNX tracer (contiguous inputs) records the NCHW path.
    """
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def strip_means(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The row and column means of x: ``(x.mean(3), x.mean(2))``, shapes (B, C, H) and (B, C, W).

    Written as ``sum / n``, the same arithmetic as ``mean``: the backward of ``mean(3)`` divides a gradient broadcast
    along the innermost axis (a stride-0 loop) into a new full-size tensor, where ``sum``'s backward is a broadcast
    view that autograd adds into the input's gradient; forward+backward of the two means measured 1.3-3.5x faster on
    CPU at batch 1-8, 10-80 px.
    """
    return x.sum(3) / x.shape[3], x.sum(2) / x.shape[2]


def outer_hw(a_h: torch.Tensor, a_w: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Product ``a_h[..., :, None] * a_w[..., None, :]`` of two strip gates, laid out like the input.

    A broadcast product, written once (NCHW, or NHWC in memory so that the final ``x * gate`` stays a contiguous
    elementwise op). Not a batched matmul ``a_h @ a_w``: with K = 1 CPU ``bmm`` runs one tiny product per (B, C) pair
    below 400 output elements (maps under 20 x 20), measured 3-7x slower than the broadcast at 10 x 10 and 20 x 20.

    Args:
        a_h (torch.Tensor): Gate along H, shape (B, C, H).
        a_w (torch.Tensor): Gate along W, shape (B, C, W).
        channels_last (bool): Build the product NHWC in memory (still indexed as NCHW).

    Returns:
        (torch.Tensor): The (B, C, H, W) gate.
    """
    if channels_last:  # (B, H, 1, C) * (B, 1, W, C) -> (B, H, W, C), viewed back as NCHW
        return (a_h.transpose(1, 2).unsqueeze(2) * a_w.transpose(1, 2).unsqueeze(1)).permute(0, 3, 1, 2)
    return a_h.unsqueeze(-1) * a_w.unsqueeze(-2)
