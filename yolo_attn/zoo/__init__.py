"""Model zoo: the one template that writes every model YAML in ``cfg/models``, and the profiler for its table.

Families (docs/design.md §6 for MAY):

- ``may-<att>.yaml``: MAY of the MLCA paper, a MobileNetV3-Small backbone whose 9 squeeze-and-excitation slots hold
  the attention under test, YOLOv5 v6.0's C3-PAN neck and Ultralytics' anchor-free ``Detect`` (nc 20, no scales).
  ``may-paper-<att>.yaml``: the paper's code's own build of a module where it differs from the module's paper
  (CBAM, CA); with ``none``, ``mbse``, ``eca`` and ``mlca`` they are the six networks the paper ran (``MAY_PAPER``).
- ``mobilenet-yolo-<att>.yaml``: the same network with empty SE slots and the attention on each of the three neck
  outputs right before ``Detect``.
- ``yolov8-<att>.yaml`` / ``yolo11-<att>.yaml``: Ultralytics' own model YAMLs (read from the installed package,
  with their n/s/m/l/x scales) with the attention on each of the three neck outputs right before ``Detect``; used as
  ``model=cfg/models/yolov8s-mlca.yaml`` (Ultralytics takes the scale from the file name).
- A convolution replacement (EPSA): ``<family>-epsa.yaml`` puts it where EPSANet does, in place of a convolution
  (the neck's stride-2 convs); ``<family>-epsa-add.yaml`` adds it as an extra layer (MAY: in the SE slots).

Attention rows carry hyperparameters only; the registration (``yolo_attn.integration``) injects the channels.

Command line:
    yolo-attn models write cfg/models    # (re)generate every YAML
    yolo-attn models check cfg/models    # exit 1 when a shipped file differs from the template
    yolo-attn models table cfg/models    # profile every file at 640x640 and print the README tables
    yolo-attn models write DIR --may-head no-dfl    # MAY / MobileNet-YOLO with reg_max 1 (narrower head)
"""

from yolo_attn.zoo.profile import build_model, head_cost, profile_model, yolov5_head_cost
from yolo_attn.zoo.tables import render_list, render_placement_table, render_table
from yolo_attn.zoo.template import (
    _STOCK,  # noqa: F401 (private; tests/test_zoo.py reads it)
    ATTENTIONS,
    GENERATED_BY,
    MAY_ATTENTIONS,
    MAY_BLOCKS,
    MAY_HEADS,
    MAY_PAPER,
    NO_ATTENTION,
    PLACES,
    Attention,
    ZooEntry,
    _mobilenet_net,  # noqa: F401 (private; tests/test_zoo.py reads it)
    _stock_families,  # noqa: F401 (private; tests/test_zoo.py reads it)
    _stock_path,  # noqa: F401 (private; tests/test_zoo.py reads it)
    attention_fits,
    check,
    family_attentions,
    generate,
    place_of,
    placement_entries,
    placement_set,
    write,
    zoo_entries,
)

__all__ = (
    "ATTENTIONS",
    "Attention",
    "GENERATED_BY",
    "MAY_ATTENTIONS",
    "MAY_HEADS",
    "MAY_PAPER",
    "NO_ATTENTION",
    "PLACES",
    "MAY_BLOCKS",
    "ZooEntry",
    "attention_fits",
    "family_attentions",
    "build_model",
    "check",
    "generate",
    "profile_model",
    "head_cost",
    "place_of",
    "placement_entries",
    "placement_set",
    "render_list",
    "render_placement_table",
    "render_table",
    "yolov5_head_cost",
    "write",
    "zoo_entries",
)
