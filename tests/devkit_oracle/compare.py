"""Compare `yolo_attn.metrics.evaluate_voc` with our GNU Octave transcription of the VOC devkit (voc_devkit_ap.m).

Not part of the pytest suite (CI has no Octave). Run by hand where Octave is installed (Debian: `apt-get install
octave`):

    python tests/devkit_oracle/compare.py --cases 2000 --seed 0

Random cases mix what makes the devkit's arithmetic delicate: overlapping and repeated ground-truth boxes, difficult
boxes (classes whose every detection hits one), classes without positives, duplicate detections, tied scores,
float and integer coordinates, and recalls of exactly 3/10, 3/5 and 7/10. Every class of every case is scored by
both; the script prints the number of (case, class) pairs, how many agree exactly and the largest difference, and
exits 1 on any disagreement (NaN must meet NaN).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from yolo_attn.metrics import evaluate_voc  # noqa: E402

NAMES = ("a", "b", "c")


def random_case(rng: random.Random) -> tuple[dict, list[dict]]:
    """A COCO ground truth and detections (pixel-edge [x, y, w, h])."""
    n_images = rng.randint(1, 6)
    coord = (lambda v: float(v)) if rng.random() < 0.6 else (lambda v: v + rng.choice([0.0, 0.25, 0.5, 0.75]))
    gt = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]}
    dets: list[dict] = []
    p_diff = rng.choice([0.0, 0.2, 0.6, 1.0])
    tied = rng.random() < 0.4

    def score() -> float:
        return rng.choice([0.2, 0.4, 0.6, 0.8]) if tied else rng.random()

    for img in range(1, n_images + 1):
        gt["images"].append({"id": img, "width": 100, "height": 100})
        boxes = []
        for _ in range(rng.randint(0, 6)):
            if boxes and rng.random() < 0.1:
                box, cat = rng.choice(boxes)  # a repeated ground-truth box
            else:
                box = [coord(rng.randint(0, 60)), coord(rng.randint(0, 60)), rng.randint(1, 30), rng.randint(1, 30)]
                cat = rng.randint(1, 3)
            boxes.append((box, cat))
            gt["annotations"].append(
                {"image_id": img, "category_id": cat, "bbox": list(box), "difficult": int(rng.random() < p_diff)}
            )
        for box, cat in boxes:
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                j = [rng.choice([-2, -1, 0, 0, 0, 1, 2]) for _ in range(4)]
                b = [box[0] + j[0], box[1] + j[1], max(0.0, box[2] + j[2]), max(0.0, box[3] + j[3])]
                c = cat if rng.random() < 0.9 else rng.randint(1, 3)
                dets.append({"image_id": img, "category_id": c, "bbox": b, "score": score()})
        for _ in range(rng.randint(0, 3)):
            b = [coord(rng.randint(0, 80)), coord(rng.randint(0, 80)), rng.randint(1, 20), rng.randint(1, 20)]
            dets.append({"image_id": img, "category_id": rng.randint(1, 3), "bbox": b, "score": score()})
    rng.shuffle(dets)
    return gt, dets


def write_class_file(path: Path, gt: dict, dets: list[dict], cat: int) -> None:
    def corners(b):  # pixel-edge [x, y, w, h] -> devkit 1-based inclusive corners
        return (b[0] + 1, b[1] + 1, b[0] + b[2], b[1] + b[3])

    g = [a for a in gt["annotations"] if a["category_id"] == cat]
    d = [x for x in dets if x["category_id"] == cat]
    lines = [f"{len(g)} {len(d)} {len(gt['images'])}"]
    lines += [" ".join(f"{v!r}" for v in (a["image_id"], *corners(a["bbox"]), a["difficult"])) for a in g]
    lines += [" ".join(f"{v!r}" for v in (x["image_id"], x["score"], *corners(x["bbox"]))) for x in d]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    octave = shutil.which("octave-cli") or shutil.which("octave")
    if octave is None:
        print("GNU Octave not found (Debian: apt-get install octave)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    ours: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="voc_oracle_") as tmp:
        tmp = Path(tmp)
        for k in range(args.cases):
            gt, dets = random_case(rng)
            r = evaluate_voc(dets, gt)
            for cat, name in enumerate(NAMES, 1):
                f = tmp / f"case{k:06d}_{cat}.txt"
                write_class_file(f, gt, dets, cat)
                ours[f.name] = (r["voc07_ap50"][name], r["voc12_ap50"][name])
        script = (
            f"addpath('{HERE}'); d = dir('{tmp}/case*.txt');"
            "for k = 1:numel(d), [a, b] = voc_devkit_ap(fullfile(d(k).folder, d(k).name));"
            "printf('%s %.17g %.17g\\n', d(k).name, a, b); end"
        )
        out = subprocess.run([octave, "--no-gui", "--quiet", "--eval", script], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
    theirs = {}
    for line in out.stdout.splitlines():
        name, a, b = line.split()
        theirs[name] = (float(a), float(b))
    assert set(theirs) == set(ours), "Octave did not score every case"
    exact = nan_pairs = 0
    worst = 0.0
    bad = []
    for name, mine in ours.items():
        for m, o, which in zip(mine, theirs[name], ("VOC07", "VOC12"), strict=True):
            if math.isnan(m) or math.isnan(o):
                if math.isnan(m) and math.isnan(o):
                    nan_pairs += 1
                else:
                    bad.append((name, which, m, o))
                continue
            worst = max(worst, abs(m - o))
            exact += m == o
            if abs(m - o) > 1e-12:
                bad.append((name, which, m, o))
    total = 2 * len(ours)
    print(
        f"{len(ours)} (case, class) pairs, {total} APs: {exact} identical, {nan_pairs} NaN in both, "
        f"largest difference {worst:.3g}, {len(bad)} disagreements"
    )
    for b in bad[:20]:
        print("DISAGREE", *b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
