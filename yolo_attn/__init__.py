"""yolo_attn: exact, exportable attention modules for Ultralytics YOLO."""

__version__ = "0.1.0"
