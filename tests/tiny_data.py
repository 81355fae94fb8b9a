"""A tiny YOLO-format dataset written by tests (no downloads): coloured boxes on noise, 2 classes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


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
