"""The prepared GPU run (issue 24 item 5): one command for every GPU number the README reports.

``yolo-attn bench gpu OUT`` runs, one after another, each in its own process with its output in ``OUT/<step>.log``:

- the module bench at bf16 on (32, 256, 80, 80), (32, 512, 40, 40) and (32, 1024, 20, 20): every module forward and
  forward+backward against its literal form (MLCA's fwd+bwd should be >= 10x the literal at the first shape);
- ``bench models --family may --device cuda --train``: the training step of every MAY variant against the baseline;
- a tiny ``compare`` on cuda (the demo's sample data, two MAY models, two epochs at 160 px).

Sized for < 8 minutes on one H100 (per-measurement budgets and rounds below); ``OUT/summary.txt`` gets each step's
command, exit status and seconds, and ``OUT/device.txt`` the card. ``--dry-run`` prints the commands and checks
that each still parses against the current CLIs (so CI catches rot) without running anything.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_gpu", "steps"]

SHAPES = ("32,256,80,80", "32,512,40,40", "32,1024,20,20")


def steps(out: Path) -> list[tuple[str, list[str]]]:
    """(name, yolo-attn argv) of each step, writing under ``out``."""
    modules = ["bench", "modules", "--device", "cuda", "--dtype", "bf16", "--repeats", "20", "--budget", "1"]
    run = [(f"modules-{s.split(',')[1]}x{s.split(',')[2]}", [*modules, "--shape", s]) for s in SHAPES]
    run.append(("models-may-train", ["bench", "models", "--family", "may", "--device", "cuda", "--train",
                                     "--rounds", "20", "--json", str(out / "models-may-train.json")]))  # fmt: skip
    run.append(("compare-tiny", ["demo", "--out", str(out / "compare"), "--data-dir", str(out / "data"), "--images",
                                 "60", "--models", "may-none", "may-mlca", "--epochs", "2", "--imgsz", "160",
                                 "--batch", "16", "--device", "0", "--no-plots"]))  # fmt: skip
    return run


def check(argv: list[str], parse: Callable[[list[str]], object]) -> None:
    """Raise ValueError when ``yolo-attn argv`` would not parse with ``parse`` (the CLI's own ``parse_args``, passed
    in by the CLI so this module does not import it); nothing runs."""
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parse(argv)
        except SystemExit:
            raise ValueError(f"bench gpu: `yolo-attn {shlex.join(argv)}` does not parse: {err.getvalue()}") from None


def run_gpu(out: Path, parse: Callable[[list[str]], object], dry_run: bool = False) -> int:
    """``yolo-attn bench gpu OUT [--dry-run]`` (its parser is in ``yolo_attn/cli.py``)."""
    plan = steps(out)
    for name, cmd in plan:
        check(cmd, parse)
        print(f"{name}: yolo-attn {shlex.join(cmd)}")
    if dry_run:
        return 0
    import torch

    if not torch.cuda.is_available():
        print("bench gpu: no CUDA device visible (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "device.txt").write_text(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    failed = 0
    with open(out / "summary.txt", "w") as summary:
        for name, cmd in plan:
            start = time.monotonic()
            with open(out / f"{name}.log", "w") as log:
                rc = subprocess.call(
                    [sys.executable, "-m", "yolo_attn.cli", *cmd], stdout=log, stderr=subprocess.STDOUT
                )
            line = f"{name}: exit {rc}, {time.monotonic() - start:.0f} s: yolo-attn {shlex.join(cmd)}"
            print(line, flush=True)
            summary.write(line + "\n")
            failed += rc != 0
    return 1 if failed else 0
