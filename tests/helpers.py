"""Shared test helpers: the tiny YOLO-format dataset and the stock ``yolo`` command run in a fresh process.

Fixtures built on them live in ``conftest.py`` (``tiny_data``: one dataset per test session).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
YOLO_BIN = Path(sys.executable).with_name("yolo")
YOLO_ATTN_BIN = Path(sys.executable).with_name("yolo-attn")


def write_tiny_yolo_dataset(root: Path, images: int = 8, size: int = 64, seed: int = 0) -> Path:
    """Write ``images`` JPEGs with YOLO labels to ``root`` (same images for train and val); return the data YAML."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for k in range(images):
        img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        lines = []
        for _ in range(2):
            cls = int(rng.integers(0, 2))
            w, h = (int(v) for v in rng.integers(size // 5, size // 2, 2))
            x0, y0 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            cv2.rectangle(img, (x0, y0), (x0 + w - 1, y0 + h - 1), (255, 64, 64) if cls else (64, 255, 64), -1)
            lines.append(f"{cls} {(x0 + w / 2) / size:.6f} {(y0 + h / 2) / size:.6f} {w / size:.6f} {h / size:.6f}")
        for split in ("train", "val"):
            cv2.imwrite(str(root / "images" / split / f"{k:03d}.jpg"), img)
            (root / "labels" / split / f"{k:03d}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: green\n  1: red\n")
    return data


def offline_env(config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh process: this one's, offline, its own Ultralytics settings dir, autoload on."""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_CONFIG_DIR": str(config_dir)}
    env.pop("YOLO_ATTN_AUTOLOAD", None)
    env.update(extra)
    return env


def yolo(
    command: str, *args: str, cwd: Path = REPO, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run the stock ``yolo`` console script of this environment (``yolo <command> key=value ...``), not checked."""
    return subprocess.run(
        [str(YOLO_BIN), command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def yolo_train(model: str | Path, data: Path, project: Path, name: str = "run", *extra: str, **kw):
    """One short CPU training through the stock ``yolo train`` (1 epoch, 64 px, batch 4), in a fresh process.

    Returns the CompletedProcess; ``project / name / "weights" / "last.pt"`` is the checkpoint it writes.
    """
    kw.setdefault("env", offline_env(project / "cfgdir"))
    args = (
        f"model={model}",
        f"data={data}",
        "epochs=1",
        "imgsz=64",
        "device=cpu",
        "workers=0",
        "batch=4",
        "plots=False",
        f"project={project}",
        f"name={name}",
        "exist_ok=True",
        *extra,
    )
    return yolo("train", *args, **kw)


def randomize_batchnorm(module, seed: int = 0):
    """Give every BatchNorm2d of ``module`` non-trivial statistics and affine parameters (a fresh BN is the identity,
    which hides a wrong layer order or a wrong fold); return the module in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return module.eval()
