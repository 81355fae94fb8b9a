"""Building a zoo YAML and profiling it: params and GFLOPs (thop), and the head's share of both."""

from __future__ import annotations

from pathlib import Path


def build_model(path: str | Path, scale: str = "", verbose: bool = False):
    """Build the DetectionModel of a zoo YAML at ``scale`` ("" for files without scales).

    Args:
        path (str | Path): Model YAML path (``cfg/models/yolov8-mlca.yaml``) or a stock name (``yolov8.yaml``).
        scale (str): Scale letter n/s/m/l/x, or "" to use the file as it is.
        verbose (bool): Print Ultralytics' layer table.

    Returns:
        (ultralytics.nn.tasks.DetectionModel): The model, in training mode.
    """
    from yolo_attn.integration import register
    from yolo_attn.integration.internals import detection_model, yaml_model_load

    register()
    d = yaml_model_load(path)
    if scale:
        if scale not in d.get("scales", {}):
            raise ValueError(f"{path} has no scale {scale!r}; it declares {list(d.get('scales', {}))}")
        d["scale"] = scale
    elif d.get("scales"):
        d["scale"] = d["scale"] or next(iter(d["scales"]))
    return detection_model(d, verbose=verbose)


def profile_model(model, imgsz: int | tuple[int, int] = 640) -> tuple[int, float]:
    """Return (parameters, GFLOPs) of ``model`` on one real 1x3xHxW input.

    GFLOPs are thop's multiply-accumulates x 2 (Ultralytics' convention), counted on the full-size input. Ultralytics'
    ``model.info()`` instead profiles small stride-sized proxy images and extrapolates to the image area; that holds
    for convolutions, whose cost grows with H*W, but not for strip-pooling attention (CoordAtt, ELA, MLCA's pooled
    branches), whose 1-D convolutions grow with H + W or not at all, so the proxy overstates them (by ~2.6%, design
    notes §4). Profiling the real 640x640 input counts what actually runs.

    Args:
        model (torch.nn.Module): The model; a deep copy is profiled in eval mode, the model itself is untouched.
        imgsz (int | tuple[int, int]): Input size, an int or (h, w).

    Returns:
        (tuple[int, float]): Parameter count and GFLOPs.
    """
    from copy import deepcopy

    import thop
    import torch

    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    params = sum(p.numel() for p in model.parameters())
    m = deepcopy(model).float().cpu().eval()
    x = torch.zeros(1, 3, h, w)
    macs, _ = thop.profile(m, inputs=[x], verbose=False)  # no stride: the full-size input, no extrapolation
    return params, 2 * macs / 1e9


def _fmt_params(n: int) -> str:
    """Format a parameter count as '3.16M' or '613.5K'."""
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def head_cost(model, imgsz: int | tuple[int, int] = 640) -> tuple[int, float]:
    """Return (parameters, GFLOPs at ``imgsz``) of the model's detection head (its last layer), profiled like
    ``profile_model`` on the feature maps it receives from a full-size input."""
    from copy import deepcopy

    import thop
    import torch

    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    det = deepcopy(model.model[-1]).float().cpu().eval()
    feats = [
        torch.zeros(1, seq[0].conv.in_channels, h // int(s), w // int(s))
        for seq, s in zip(det.cv2, det.stride, strict=True)
    ]
    macs, _ = thop.profile(det, inputs=(feats,), verbose=False)
    return sum(p.numel() for p in model.model[-1].parameters()), 2 * macs / 1e9


def yolov5_head_cost(
    ch=(128, 256, 512), nc: int = 20, anchors: int = 3, imgsz: int = 640, strides=(8, 16, 32)
) -> tuple[int, float]:
    """Return (parameters, GFLOPs at ``imgsz``) of YOLOv5's anchor-based Detect, the head of the MLCA paper's MAY.

    That head is one 1x1 convolution with bias per level, ``ch[i] -> anchors * (nc + 5)`` (box, objectness and
    class scores per anchor); its cost is counted the way ``profile_model`` counts ours (thop on the full-size maps).
    """
    import thop
    import torch
    from torch import nn

    params, macs = 0, 0.0
    for c, s in zip(ch, strides, strict=True):
        conv = nn.Conv2d(c, anchors * (nc + 5), 1)
        params += sum(p.numel() for p in conv.parameters())
        macs += thop.profile(conv, inputs=(torch.zeros(1, c, imgsz // s, imgsz // s),), verbose=False)[0]
    return params, 2 * macs / 1e9
