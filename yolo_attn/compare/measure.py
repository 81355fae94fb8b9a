"""Measurements of one trained model: size, compute, and the environment they were taken in.

- params and GFLOPs: ``yolo_attn.zoo.profile_model`` (thop MACs x 2 on one full-size ``imgsz x imgsz`` input, not
  Ultralytics' stride-proxy extrapolation), on the unfused model as built from its YAML;
- device names and library versions: ``yolo_attn.env``;
- latency is not measured per model: the sweep times all its models interleaved in one process (``speed.py``).
"""

from __future__ import annotations

import platform
import sys

from yolo_attn.env import device_name, package_version

__all__ = ["device_name", "profile", "versions"]


def profile(model, imgsz: int) -> tuple[int, float]:
    """Return (parameters, GFLOPs at ``imgsz``) of a ``torch.nn.Module`` detection model (full-size profile)."""
    from yolo_attn.zoo import profile_model

    return profile_model(model, imgsz)


def versions() -> dict[str, str]:
    """Library versions recorded with every result row (without importing torch or Ultralytics)."""
    import yolo_attn

    dists = ("torch", "torchvision", "ultralytics", "numpy")
    return {
        "python": platform.python_version(),
        **{d: package_version(d, "") for d in dists},
        "yolo_attn": getattr(yolo_attn, "__version__", "") or package_version("yolo-attn", ""),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "executable": sys.executable,
    }
