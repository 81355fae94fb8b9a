"""Measurements of one trained model: size, compute, latency, and the environment they were taken in.

- params and GFLOPs: ``yolo_attn.zoo.profile_model`` (thop MACs x 2 on one full-size ``imgsz x imgsz`` input, not
  Ultralytics' stride-proxy extrapolation), on the unfused model as built from its YAML;
- latency: the fused network's forward pass at batch 1 on a ``1x3ximgszximgsz`` zero tensor (no pre-processing, no
  NMS), median over timed repeats after warm-up iterations; CPU in float32 with the process's torch thread count
  (recorded), CUDA in float16 with a synchronize around every repeat.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import sys
import time
from importlib import metadata

__all__ = ["cpu_name", "device_name", "latency_ms", "profile", "versions"]


def profile(model, imgsz: int) -> tuple[int, float]:
    """Return (parameters, GFLOPs at ``imgsz``) of a ``torch.nn.Module`` detection model (full-size profile)."""
    from yolo_attn.zoo import profile_model

    return profile_model(model, imgsz)


def latency_ms(
    model, imgsz: int, device: str = "cpu", repeats: int = 50, warmup: int = 10, max_seconds: float = 30.0
) -> dict:
    """Median forward latency of ``model`` at batch 1.

    Args:
        model (torch.nn.Module): The detection model (a deep copy is fused and measured; the model is untouched).
        imgsz (int): Square input size.
        device (str): ``"cpu"`` (float32) or a CUDA device such as ``"cuda:0"`` (float16).
        repeats (int): Timed forward passes (fewer if ``max_seconds`` runs out first, at least 5).
        warmup (int): Untimed passes before timing.
        max_seconds (float): Time budget of the timed passes.

    Returns:
        (dict): ``median_ms``, ``p10_ms``, ``p90_ms``, ``repeats`` (timed passes), ``threads`` (CPU), ``dtype``.
    """
    import torch

    dev = torch.device(device)
    m = copy.deepcopy(model).float().eval()
    if hasattr(m, "fuse"):
        m = m.fuse(verbose=False)
    half = dev.type == "cuda"
    m = m.to(dev)
    if half:
        m = m.half()
    x = torch.zeros(1, 3, imgsz, imgsz, device=dev, dtype=torch.float16 if half else torch.float32)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(max(0, warmup)):
            m(x)
        sync()
        start = time.perf_counter()
        for i in range(max(1, repeats)):
            t0 = time.perf_counter()
            m(x)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
            if i >= 4 and time.perf_counter() - start > max_seconds:
                break
    times.sort()
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return {
        "median_ms": statistics.median(times),
        "p10_ms": q[0],
        "p90_ms": q[-1],
        "repeats": len(times),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "dtype": "float16" if half else "float32",
    }


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
