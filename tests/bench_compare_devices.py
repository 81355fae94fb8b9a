"""Benchmark: wall time of a 2-run tiny sweep, sequential vs ``--devices cpu,cpu`` (two workers at once).

    python tests/bench_compare_devices.py [--repeats 2] [--images 16] [--imgsz 64] [--epochs 1]

Each repeat runs both modes into fresh folders (sequential first, then parallel) and prints the wall times of the
whole ``compare`` command (interpreter start-up, training, scoring, latency and reports included) and their ratio.
Numbers depend on the machine's load; on a shared machine run it when it is quiet.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from test_compare import TINY_ATT, TINY_NONE

    from yolo_attn.data.sample import make_sample_dataset
    from yolo_attn.data.voc import prepare_voc

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--imgsz", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_devices_"))
    try:
        devkit = make_sample_dataset(root / "data", images=args.images, seed=0, imgsz=args.imgsz)
        data = prepare_voc(devkit, root / "data" / "voc", log=None).yaml
        files = []
        for name, text in (("tiny-none", TINY_NONE), ("tiny-att", TINY_ATT)):
            (root / f"{name}.yaml").write_text(text)
            files.append(str(root / f"{name}.yaml"))
        env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "MPLBACKEND": "Agg"}
        print(f"{os.cpu_count()} CPU(s); 2 runs of {args.epochs} epoch(s), {args.images} images at {args.imgsz} px")
        times: dict[str, list[float]] = {"sequential": [], "cpu,cpu": []}
        for k in range(args.repeats):
            for mode, extra in (("sequential", ["--device", "cpu"]), ("cpu,cpu", ["--devices", "cpu,cpu"])):
                out = root / f"out-{mode.replace(',', '_')}-{k}"
                cmd = [sys.executable, "-m", "yolo_attn.compare", "compare", "--models", *files, "--data", str(data),
                       "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--batch", "8", "--out", str(out),
                       "--latency-repeats", "5", "--no-val", "--no-plots", *extra]  # fmt: skip
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                times[mode].append(time.perf_counter() - t0)
                print(f"repeat {k + 1}: {mode:10s} {times[mode][-1]:6.1f} s")
        seq, par = min(times["sequential"]), min(times["cpu,cpu"])
        print(
            f"best of {args.repeats}: sequential {seq:.1f} s, --devices cpu,cpu {par:.1f} s, speed-up {seq / par:.2f}x"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
