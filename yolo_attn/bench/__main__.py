"""``python -m yolo_attn.bench [modules] ...``."""

from yolo_attn.bench import main

raise SystemExit(main())
