"""``python -m yolo_attn.bench [modules|models|passes] ...``: ``yolo-attn bench ...``."""

import sys

from yolo_attn.cli import main

raise SystemExit(main(["bench", *sys.argv[1:]]))
