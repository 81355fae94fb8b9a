"""What each attention layer of a trained model does to an image: its gate, captured with forward hooks.

A gating module returns ``x * a`` with the gate ``a`` in (0, 1) (SE, ECA, MobileNetV3 SE: per channel; CBAM,
CoordAtt, ELA, MLCA: per channel and position). The hook on each attention layer records ``a = output / input``
(exact wherever the input is not ~0) and reduces it to

- ``spatial``: the mean over channels, an H x W map. Channel-only gates (SE, ECA, MobileNetV3 SE) are detected
  (every channel's ratio is the same at every position) and flagged ``channel_only``; their map is constant;
- ``channel``: the mean over positions, one value per channel.

EPSA is not a gate (a multi-scale convolution whose branches are re-weighted; ``gate=False`` in the registry); for
such a module the map is the mean absolute
output over channels, scaled to [0, 1], and ``is_gate`` is False.

Used by ``notebooks/attention_maps.ipynb``:

    >>> from yolo_attn.compare.attention import capture_gates, plot_gates, load_image
    >>> img = load_image("datasets/VOC-sample/images/test/2007_000001.jpg", 160)
    >>> gates = capture_gates(YOLO("runs/compare/demo/runs/may-mlca/seed0/train/weights/last.pt").model, img)
    >>> fig = plot_gates(img, gates, "may-mlca")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CHANNEL_ONLY_KINDS",
    "GATE_CMAP",
    "GateMap",
    "attention_layers",
    "capture_gates",
    "load_image",
    "plot_gates",
]


#: Modules whose gate is per channel by design (the same at every position).
CHANNEL_ONLY_KINDS = frozenset({"SE", "ECA", "MobileNetV3SE"})


@dataclass
class GateMap:
    """The captured gate of one attention layer for one image."""

    name: str  # module path in the model, e.g. "model.5.att"
    layer: int  # index of the top-level YAML layer that holds it
    kind: str  # class name: MLCA, SE, ...
    channels: int
    size: tuple[int, int]  # H, W of the feature map
    spatial: np.ndarray  # (H, W): mean gate over channels
    channel: np.ndarray  # (C,): mean gate over positions
    is_gate: bool  # False for EPSA (a convolution, not a gate)
    channel_only: bool = False  # every channel's gate is the same at every position (SE, ECA, MobileNetV3 SE)

    @property
    def title(self) -> str:
        lo, hi = np.nanmin(self.spatial), np.nanmax(self.spatial)
        head = f"L{self.layer} {self.kind} {self.channels}ch {self.size[0]}×{self.size[1]}"
        if self.channel_only:
            what = "channel-only gate" if self.kind in CHANNEL_ONLY_KINDS else "gate flat over positions"
            return f"{head}\n{what}, mean {lo:.3f}"
        return f"{head}\n{'gate' if self.is_gate else '|out|'} {lo:.3f}–{hi:.3f}"


def attention_layers(model) -> list[tuple[str, object]]:
    """Return ``(name, module)`` of every yolo_attn attention module inside ``model``, in forward order."""
    from yolo_attn.nn.registry import attention_classes

    kinds = attention_classes()
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def load_image(path: str | Path, imgsz: int) -> np.ndarray:
    """Read an image (RGB uint8) resized to ``imgsz x imgsz`` (stretched, so the maps align with it pixel for
    pixel)."""
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(cv2.resize(bgr, (imgsz, imgsz), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def capture_gates(model, image: np.ndarray, device: str = "cpu") -> list[GateMap]:
    """Run ``model`` (an Ultralytics ``DetectionModel``, e.g. ``YOLO(path).model``) on ``image`` (H x W x 3 RGB
    uint8, H and W multiples of 32) and return the gate of every attention layer."""
    import torch

    from yolo_attn.nn.registry import ATTENTION

    layers = attention_layers(model)
    records: list[GateMap] = []
    top = {id(m): i for i, m in enumerate(getattr(model, "model", []))}
    owner: dict[str, int] = {}
    for i, m in enumerate(getattr(model, "model", [])):
        for n, _ in m.named_modules():
            owner.setdefault(f"model.{i}" + (f".{n}" if n else ""), i)

    def hook(name, kind):
        def fn(module, args, output):
            x = args[0].detach().double()
            y = output.detach().double()
            c, h, w = y.shape[1:]
            if y.shape == x.shape and ATTENTION[kind].gate:
                valid = x.abs() > 1e-6 * x.abs().amax().clamp_min(1e-12)
                ratio = torch.where(valid, y / torch.where(valid, x, torch.ones_like(x)), torch.nan)
                per_channel = torch.nanmean(ratio[0].flatten(1), 1)
                # channel-only gate: the ratio equals its channel's mean wherever it is defined (up to rounding); the
                # channel mean of the ratio would otherwise show where the input happens to be 0 (e.g. after ReLU)
                dev = torch.nan_to_num((ratio[0] - per_channel[:, None, None]).abs(), nan=0.0).amax()
                flat = bool(dev <= 1e-4 * per_channel.abs().nanmean().clamp_min(1e-12))
                if flat:
                    spatial = np.full((h, w), float(per_channel.nanmean()))
                else:
                    spatial = torch.nanmean(ratio[0], 0).cpu().numpy()
                channel = per_channel.cpu().numpy()
                gate = True
            else:
                mag = y[0].abs().mean(0)
                spatial = (mag / mag.max().clamp_min(1e-12)).cpu().numpy()
                channel = y[0].abs().flatten(1).mean(1).cpu().numpy()
                gate = flat = False
            records.append(
                GateMap(
                    name,
                    owner.get(name, top.get(id(module), -1)),
                    kind,
                    int(c),
                    (int(h), int(w)),
                    spatial,
                    channel,
                    gate,
                    flat,
                )
            )

        return fn

    handles = [m.register_forward_hook(hook(n, type(m).__name__)) for n, m in layers]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device=device, dtype=p.dtype)
        with torch.inference_mode():
            model.to(device)(x / 255.0)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return records


#: Colour map of the gate overlays: perceptually uniform, so equal steps of the gate look like equal steps.
GATE_CMAP = "viridis"


def plot_gates(
    image: np.ndarray,
    gates: list[GateMap],
    title: str,
    max_cols: int = 6,
    alpha: float = 0.6,
    scale: str = "shared",
):
    """Overlay every layer's spatial gate on the image (one panel per layer) and return the figure.

    Args:
        image: The H x W x 3 RGB image the gates were captured on.
        gates: From ``capture_gates``.
        title: The figure title (e.g. the model's name).
        max_cols: Panels per row.
        alpha: Opacity of the overlay.
        scale: ``"shared"`` (default): every gate panel on one colour scale, 0 (blocks) to 1 (passes), the range a
            gate can take, so a layer whose gate barely varies (MLCA at 0.498-0.500) looks flat, as it is.
            ``"layer"``: each panel stretched to its own min..max to show the pattern of small variations; the
            range is then written on the panel in large type and the colour bar says so.

    Returns:
        (matplotlib.figure.Figure): The figure. EPSA is not a gate: its panel shows the mean absolute output scaled to
            its own maximum (labelled "|out| / max"), on the same 0..1 colours.
    """
    import matplotlib.pyplot as plt

    if scale not in ("shared", "layer"):
        raise ValueError(f"plot_gates: scale must be 'shared' or 'layer', got {scale!r}")
    n = len(gates) + 1
    cols = min(max_cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.75 * rows + 0.6), squeeze=False)
    h, w = image.shape[:2]
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("input", fontsize=9)
    im = None
    for k, g in enumerate(gates, 1):
        ax = axes[k // cols, k % cols]
        s = g.spatial
        lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
        flat = g.channel_only or hi - lo <= 1e-6 * max(abs(hi), 1e-6)
        ax.imshow(image)
        if scale == "layer" and not flat:
            shown, vmin, vmax = (s - lo) / (hi - lo), 0.0, 1.0
        else:
            shown, vmin, vmax = s, 0.0, 1.0
        # nearest: one cell per feature-map position, nothing invented in between
        im = ax.imshow(
            shown, cmap=GATE_CMAP, alpha=alpha, extent=(0, w, h, 0), interpolation="nearest", vmin=vmin, vmax=vmax
        )
        note = None
        if g.channel_only and g.kind in CHANNEL_ONLY_KINDS:
            note = "channel-only:\nsame at every\nposition"
        elif flat:
            note = "same at every\nposition"
        elif scale == "layer":
            note = f"stretched:\n{lo:.3f}–{hi:.3f}"
        if note:
            ax.text(
                0.5,
                0.5,
                note,
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9 if scale == "layer" and not flat else 8.5,
                fontweight="bold" if scale == "layer" and not flat else "normal",
                color="white",
                bbox={"facecolor": "0.15", "alpha": 0.65, "edgecolor": "none"},
            )
        ax.set_title(g.title if g.is_gate else g.title.replace("|out|", "|out| / max"), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(n, rows * cols):
        axes[k // cols, k % cols].axis("off")
    if im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
        cb.set_label(
            "gate (0 blocks, 1 passes): one scale for every panel"
            if scale == "shared"
            else "gate relative to each layer's own min..max (ranges on the panels)"
        )
    fig.suptitle(title, fontsize=11)
    return fig
