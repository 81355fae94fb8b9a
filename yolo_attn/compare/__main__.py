"""``python -m yolo_attn.compare``: the ``compare`` / ``demo`` commands (as ``yolo-attn compare|demo``), and the
per-run worker of a sweep (``python -m yolo_attn.compare _worker <spec.json>``, see ``worker.py``)."""

import sys

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_worker":
        from yolo_attn.compare.worker import run_worker

        sys.exit(run_worker(sys.argv[2]))
    from yolo_attn.cli import main

    sys.exit(main(sys.argv[1:]))
