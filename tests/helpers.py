"""Shared test helpers: the tiny YOLO-format dataset, the stock ``yolo`` command run in a fresh process, and the
closed-form parameter counts of the attention modules.

Fixtures built on them live in ``conftest.py`` (``tiny_data``: one dataset per test session).
"""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------------------------------------------------------------
# Closed-form parameter counts, transcribed from docs/design.md §2 (independent of the module code): the one oracle
# test_modules (constructor arguments) and test_zoo (YAML hyperparameters) check against.


def eca_k(c: int) -> int:
    """ECA's adaptive kernel size: the odd number nearest (log2(C) + 1) / 2, rounded up."""
    t = int(abs((math.log2(c) + 1) / 2))
    return t if t % 2 else t + 1


def epsa(c1: int, c2: int) -> int:
    """EPSA c1 -> c2: 4 grouped convs c1 -> c2/4 (k 3/5/7/9, groups 1/4/8/16) + one shared SE (c2/4 -> c2/64)."""
    q, r = c2 // 4, c2 // 64
    convs = sum((c1 // g) * q * k * k for k, g in ((3, 1), (5, 4), (7, 8), (9, 16)))
    return convs + (q * r + r) + (r * q + q)


def closed_form_params(name: str, c: int, *hp) -> int:
    """Parameters of attention ``name`` gating ``c`` channels, built with hyperparameters ``hp`` (after ``c``)."""
    if name in ("SE", "MobileNetV3SE"):  # Linear(C, C/r) + ReLU + Linear(C/r, C), biases; r 16 (SE) or 4
        h = c // (hp[0] if hp else (16 if name == "SE" else 4))
        return c * h + h + h * c + c
    if name == "ECA":  # one bias-free Conv1d(1, 1, k)
        return hp[0] if hp and hp[0] is not None else eca_k(c)
    if name == "CBAM":  # shared MLP (C/r, biases optional) + Conv2d(2, 1, k) no bias + BatchNorm2d(1) (optional)
        k, r, bias, _order, bn = (*hp, *(7, 16, True, "max-mean", True)[len(hp) :])[:5]
        h = c // r
        return 2 * c * h + (h + c if bias else 0) + 2 * k * k + (2 if bn else 0)
    if name in ("CoordAtt", "CA"):  # Conv1x1(C->mip), BN(mip), two Conv1x1(mip->C); biases optional
        r, bias = (*hp, *(32, True)[len(hp) :])[:2]
        mip = max(8, c // r)
        return 3 * c * mip + 2 * mip + (mip + 2 * c if bias else 0)
    if name == "ELA":  # Conv1d(C, C, k, groups g) no bias + GroupNorm(G, C)
        k, g = {"T": (5, c), "B": (7, c), "S": (5, c // 8), "L": (7, c // 8)}[hp[0] if hp else "L"]
        return c * (c // g) * k + 2 * c
    if name == "MLCA":  # two bias-free Conv1d(1, 1, k)
        return 2 * eca_k(c)
    if name == "EPSA":  # c -> c2 (c2 = c unless given)
        return epsa(c, hp[0] if hp and hp[0] is not None else c)
    if name == "EMA":  # per group of cg = C / G channels (weights shared): GroupNorm(cg, cg), Conv1x1, Conv3x3 + biases
        cg = c // (hp[0] if hp else 32)
        return 2 * cg + (cg * cg + cg) + (9 * cg * cg + cg)
    if name == "SimAM":  # parameter-free
        return 0
    raise KeyError(name)
