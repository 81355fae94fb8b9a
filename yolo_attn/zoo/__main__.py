"""``python -m yolo_attn.zoo``: the zoo's command line (`yolo_attn.zoo.cli`)."""

from yolo_attn.zoo.cli import main

raise SystemExit(main())
