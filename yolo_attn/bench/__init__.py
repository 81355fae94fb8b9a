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
- ``bootstrap``: the paired bootstrap of ``yolo_attn.metrics.evidence`` on a VOC07-test-sized problem:
  ``yolo-attn bench bootstrap [--resamples 1000]``.

Their command lines live in ``yolo_attn/cli.py``.
"""
