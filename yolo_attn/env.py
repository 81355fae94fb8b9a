"""The machine and the libraries a result was measured with: device names and package versions, in one place."""

from __future__ import annotations

import os
from importlib import metadata

__all__ = ["device_name", "package_version"]


def package_version(dist: str, missing: str | None = None) -> str | None:
    """The installed version of distribution ``dist`` (read from its metadata, nothing imported); ``missing`` if absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return missing


def device_name(dev, threads: int | None = None, unit: str = "thread") -> str:
    """A human-readable name of the machine behind torch device ``dev``.

    CUDA: the GPU model and the CUDA version of the torch build. CPU: the CPU model (Ultralytics' ``get_cpu_info``),
    the logical CPU count and, when given, ``threads`` (counted in ``unit``, e.g. "torch thread").
    """
    import torch

    dev = torch.device(dev)
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    from yolo_attn.integration.internals import cpu_name

    name = f"{cpu_name()}, {os.cpu_count()} logical CPUs"
    return name if threads is None else f"{name}, {threads} {unit}{'s' if threads != 1 else ''}"
