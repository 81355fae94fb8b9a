"""Named settings for ``compare --preset``: defaults that explicit arguments override.

- ``demo``: the embedded CPU demo on the generated sample dataset: 8 epochs at 128 px, batch 8, AdamW (about 15
  minutes for the demo's five MAY variants on 2 CPU cores).
- ``may-paper``: the MLCA paper's MAY training (docs/design.md §6): 640 px, 300 epochs from scratch, batch 40, SGD
  with lr0 0.01, lrf 0.01 (linear decay, as YOLOv5), momentum 0.937, weight decay 5e-4, 3 warm-up epochs, no
  mosaic closing (YOLOv5 6.1 had none). The paper reported YOLOv5's mAP@0.5 of the best epoch on VOC2007 test;
  add ``--weights best`` to score ``best.pt`` the same way (the default, ``last``, selects nothing on the test set).
- ``evidence``: ``may-paper`` with 5 seeds (0-4), seed-matched across models, so the report's paired bootstrap
  covers training randomness as well as the test images (explicit ``--seeds`` override them).
"""

from __future__ import annotations

__all__ = ["PRESETS"]

#: preset name -> settings. Keys ``epochs``, ``imgsz``, ``batch``, ``val`` are compare's own arguments; every other
#: key is an Ultralytics train argument, except ``seeds`` (a `SweepConfig` default).
PRESETS: dict[str, dict] = {
    "demo": {
        # Measured on the 300-image sample (200 training images, 128 px): one epoch of a MAY variant costs ~16 s of
        # one CPU core; MAY without attention reaches VOC07 mAP50 ~0.38 after 8 epochs (~0.43 after 10). No mosaic
        # (close_mosaic = epochs) and an optimizer step per batch (nbs = batch) make the most of ~200 steps; AdamW
        # learns fastest from scratch at that count.
        "epochs": 8,
        "imgsz": 128,
        "batch": 8,
        "val": False,
        "nbs": 8,
        "optimizer": "AdamW",
        "lr0": 0.002,
        "lrf": 0.1,
        "warmup_epochs": 1,
        "close_mosaic": 8,
    },
    "may-paper": {
        "epochs": 300,
        "imgsz": 640,
        "batch": 40,
        "optimizer": "SGD",
        "lr0": 0.01,
        "lrf": 0.01,
        "momentum": 0.937,
        "weight_decay": 5e-4,
        "warmup_epochs": 3,
        "cos_lr": False,
        "close_mosaic": 0,
    },
}
PRESETS["evidence"] = {**PRESETS["may-paper"], "seeds": [0, 1, 2, 3, 4]}
