"""``python -m yolo_attn.zoo write|check|table|list ...``: ``yolo-attn models ...``."""

import sys

from yolo_attn.cli import main

raise SystemExit(main(["models", *sys.argv[1:]]))
