"""Benchmarks that print numbers (never timed tests).

- ``modules``: each attention module against its literal transcription (params, MACs, forward and forward+backward
  time): ``yolo-attn bench modules`` / ``python -m yolo_attn.bench modules``. Without a subcommand, ``modules``
  runs (``python -m yolo_attn.bench --device cuda`` keeps working).
- ``models``: what each attention variant adds to a whole detector (params, GFLOPs, attention share, interleaved
  time ratio to the no-attention baseline with a bootstrap interval and an A/A control):
  ``yolo-attn bench models [--family may|yolov8n|...] [--runtime torch|onnxruntime] [--train]``.
- ``passes``: each gate's time in units of one elementwise pass over the tensors it gates (how far a module is from
  the memory floor): ``yolo-attn bench passes [--family may]``.
- ``gpu``: every GPU number of the README in one run, output in a folder: ``yolo-attn bench gpu OUT [--dry-run]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

__all__ = ["BENCHMARKS", "main"]

#: Subcommand -> (module with ``main(argv)``, help).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "modules": ("yolo_attn.bench.modules", "each attention module vs its literal transcription"),
    "models": ("yolo_attn.bench.models", "each attention variant of a model family vs its no-attention baseline"),
    "passes": ("yolo_attn.bench.passes", "each gate's time in elementwise memory passes over a family's slot tensors"),
    "gpu": ("yolo_attn.bench.gpu", "the prepared GPU run: module bench at bf16, MAY train step, tiny compare (OUT)"),
    "bootstrap": (
        "yolo_attn.bench.bootstrap",
        "the paired bootstrap of yolo_attn.metrics.evidence on a VOC07-test-sized problem",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """``yolo-attn bench [modules] ...``: run one benchmark; without a known subcommand, ``modules``."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: yolo-attn bench {" + ",".join(BENCHMARKS) + "} [options]\n")
        for name, (_, help_) in BENCHMARKS.items():
            print(f"  {name:10s} {help_} (yolo-attn bench {name} --help)")
        return 0
    name = argv.pop(0) if argv and argv[0] in BENCHMARKS else "modules"
    return int(importlib.import_module(BENCHMARKS[name][0]).main(argv) or 0)
