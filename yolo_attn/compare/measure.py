"""Measurements of one trained model: size, compute, and the environment they were taken in.

- params and GFLOPs: ``yolo_attn.zoo.profile_model`` (thop MACs x 2 on one full-size ``imgsz x imgsz`` input, not
  Ultralytics' stride-proxy extrapolation), on the unfused model as built from its YAML;
- latency is not measured per model: the sweep times all its models interleaved in one process (``speed.py``).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

__all__ = ["cpu_name", "device_name", "profile", "versions"]


def profile(model, imgsz: int) -> tuple[int, float]:
    """Return (parameters, GFLOPs at ``imgsz``) of a ``torch.nn.Module`` detection model (full-size profile)."""
    from yolo_attn.zoo import profile_model

    return profile_model(model, imgsz)


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device) -> str:
    """A human-readable name of a torch device: the GPU model for CUDA, the CPU model (and core count) for CPU."""
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return f"Apple MPS ({cpu_name()})"
    return f"{cpu_name()} ({os.cpu_count()} logical cores)"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def versions() -> dict[str, str]:
    """Library versions recorded with every result row (without importing torch or Ultralytics)."""
    import yolo_attn

    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "ultralytics": _version("ultralytics"),
        "yolo_attn": getattr(yolo_attn, "__version__", "") or _version("yolo-attn"),
        "numpy": _version("numpy"),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "executable": sys.executable,
    }
