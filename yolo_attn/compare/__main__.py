"""``python -m yolo_attn.compare``: the ``compare`` / ``demo`` commands, and the per-run worker of a sweep.

The sweep starts ``python -m yolo_attn.compare _worker <spec.json>`` for every run (see ``worker.py``).
"""

import sys

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_worker":
        from yolo_attn.compare.worker import run_worker

        sys.exit(run_worker(sys.argv[2]))
    from yolo_attn.compare.cli import main

    sys.exit(main())
