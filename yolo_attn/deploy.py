"""Deployment checks: export a model with Ultralytics' own exporter, run it in its runtime, compare with PyTorch.

``yolo-attn export-check MODEL --formats onnx,openvino,ncnn`` exports MODEL (a zoo name such as ``may-mlca`` or
``yolov8n-mlca``, or a ``.pt`` checkpoint) and its family's no-attention baseline through ``YOLO(...).export`` (what
``yolo export`` runs), loads every exported file with Ultralytics' ``AutoBackend`` (what ``YOLO(path).predict`` runs),
and compares the raw detector output with the PyTorch model's on the generated sample images: max |Δ| of the box
coordinates (pixels of the input) and of the class scores, and the detections after Ultralytics' NMS (same class and
IoU >= 0.99, one to one). The baseline goes first in every format (the stock control), so a format that fails on the
stock model is reported as such and never blamed on a module. The latency column is the runtime's median time of the
model over the baseline's in the same runtime (interleaved rounds, 95% bootstrap interval).

A zoo model is built from its YAML with a fixed seed; as a trained detector would, it then needs detections to
compare: its BatchNorm statistics are drawn away from the identity and the class biases of the head set to 0, so
the scores spread around 0.5 instead of Ultralytics' near-zero prior (an untrained head detects nothing).

The export itself and the runtimes of ``bench models --runtime openvino|ncnn|mnn|litert``: ``yolo_attn.runtimes``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from yolo_attn.exits import EXIT_FAILED, EXIT_OK
from yolo_attn.runtimes import export, quiet

__all__ = ["BOUNDS", "FORMATS", "CheckRow", "Settings", "export_check", "format_table", "run_export_check"]

#: Ultralytics format -> (max |Δ| box px, max |Δ| score, dynamic input supported). float32 everywhere; MNN's bound
#: is that of Ultralytics' MNN loader, which runs at ``precision: low`` (see README, "Deployment").
BOUNDS: dict[str, tuple[float, float]] = {
    "torchscript": (1e-3, 1e-4),
    "onnx": (1e-3, 1e-4),
    "openvino": (1e-3, 1e-4),
    "ncnn": (1e-3, 1e-4),
    "mnn": (1e-3, 1e-4),
    "litert": (1e-3, 1e-4),
    "paddle": (1e-3, 1e-4),
    "executorch": (1e-3, 1e-4),
    "saved_model": (1e-3, 1e-4),
}
#: Formats with a dynamic-shape export in Ultralytics that their runtime then runs at another size.
DYNAMIC = ("torchscript", "onnx", "openvino")
FORMATS = tuple(BOUNDS)
CONF, IOU, SAME_IOU = 0.25, 0.7, 0.99
F32_SLACK = 4  # x float32 PyTorch's own error against float64: see compare()


@dataclass
class CheckRow:
    """One model x format x size result."""

    model: str
    format: str
    imgsz: int
    dynamic: bool
    status: str = "ok"  # ok | MISMATCH | FAILED | STOCK FAILED
    box: float = float("nan")  # max |Δ| box coordinates, px
    score: float = float("nan")  # max |Δ| class scores
    bound: str = ""  # the bounds applied (box px, score)
    dets: str = ""  # "n_ref/n_got" and whether the sets match
    latency: str = ""  # time / baseline's time in the same runtime
    note: str = ""
    ratios: list[float] = field(default_factory=list, repr=False)


# ---------------------------------------------------------------------------------------------------------------------
# Models


def _spec(name: str):
    """The zoo spec of ``name`` and its family's baseline spec (``may-mlca`` -> may-none; ``yolov8n-mlca`` -> yolov8n)."""
    from yolo_attn.bench.models import family_specs

    fam = "mobilenet-yolo" if name.startswith("mobilenet-yolo") else name.split("-")[0]
    try:
        specs = family_specs(fam)
    except ValueError:
        specs = []
    for s in specs:
        if s.name == name:
            return s, specs[0]
    raise ValueError(f"unknown model {name!r}: give a zoo name (yolo-attn models list; e.g. may-mlca, yolov8n-mlca) "
                     "or a .pt checkpoint")  # fmt: skip


def _detectable(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """An untrained model made to detect: image-dependent features and spread class scores to compare.

    BatchNorm statistics are those of the sample images (a forward pass in train mode with a cumulative average, as
    a trained network's would be: with Ultralytics' initial statistics, the deep features of a random network
    are nearly constant over the image, and equal scores everywhere make NMS a tie-break).
    """
    x = torch.cat(_tensor(sample_images(4, 320, seed + 1), 320))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        model.train()(x)
        for m in bns:
            m.momentum = 0.03  # Ultralytics' value
        head = model.model[-1]
        last = [
            b[-1] for a in ("cv3", "one2one_cv3") for b in getattr(head, a, []) if isinstance(b[-1], torch.nn.Conv2d)
        ]
        for conv in last:
            conv.bias.zero_()
        # Spread the class logits (std 1) and shift them so that, on each of export-check's own images at 320,
        # at least 10 scores clear CONF before NMS (an image without detections would compare nothing).
        x = torch.cat(_tensor(sample_images(4, 320, seed), 320))
        logits = torch.logit(model.eval()(x)[0][:, 4:].flatten(1).double().clamp(1e-9, 1 - 1e-9))
        k = 1 / float(logits.std().clamp_min(1e-6))
        tenth = (logits * k).topk(10, dim=1).values[:, -1].min()
        shift = math.log(CONF / (1 - CONF)) - float(tenth)
        for conv in last:
            conv.weight.mul_(k)
            conv.bias.fill_(shift)
    return model


def _checkpoint(name: str, spec, out: Path, seed: int) -> Path:
    """Write the model as an Ultralytics checkpoint in ``out`` (the exporter writes its files beside it)."""
    path = out / f"{name}.pt"
    if not path.exists():
        torch.manual_seed(seed)
        model = _detectable(spec.build(), seed).eval()
        torch.save({"model": model, "train_args": {}, "date": None, "version": None}, path)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Export, load, compare


def sample_images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` generated sample images (uint8 BGR, ``size`` x ``size``): the sample dataset's drawing code."""
    from yolo_attn.data.sample import render_sample_image

    rng = np.random.default_rng(seed)
    return [render_sample_image(rng, size, size)[0] for _ in range(n)]


def _tensor(images: Sequence[np.ndarray], imgsz: int) -> list[torch.Tensor]:
    """Ultralytics' predict preprocessing (letterbox to ``imgsz`` square, BGR->RGB, /255), one batch-1 tensor each."""
    from yolo_attn.integration.internals import letterbox

    lb = letterbox(imgsz)
    return [torch.from_numpy(np.ascontiguousarray(lb(im)[..., ::-1].transpose(2, 0, 1))).float().div(255)[None]
            for im in images]  # fmt: skip


def backend(path: Path):
    """Load an exported model (or a checkpoint) with Ultralytics' AutoBackend on the CPU, as ``predict`` does."""
    from yolo_attn.integration.internals import autobackend

    with quiet():
        return autobackend(path)


def raw(be, x: torch.Tensor) -> torch.Tensor:
    """The detector's raw output (batch, 4 + classes, anchors) as a float tensor."""
    y = be(x)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return (torch.from_numpy(y) if isinstance(y, np.ndarray) else y).float()


def _nms(y: torch.Tensor) -> torch.Tensor:
    from yolo_attn.integration.internals import nms

    return nms(y, CONF, IOU)[0]


def same_detections(a: torch.Tensor, b: torch.Tensor, raw_a: torch.Tensor, score_bound: float) -> tuple[bool, int]:
    """Whether two NMS outputs (n, 6: xyxy, score, class) hold the same detections, one to one; and the ties excused.

    Same class and IoU >= 0.99. A detection left unmatched is excused when it was a tie: its score within
    ``score_bound`` of the confidence threshold, or of another candidate of its class that NMS weighed against it
    (IoU > the NMS IoU in the raw output ``raw_a``), so two correct runtimes may keep either one.
    """
    from torchvision.ops import box_convert, box_iou

    iou = box_iou(a[:, :4], b[:, :4]) * (a[:, 5:6] == b[:, 5][None])
    used: set[int] = set()
    left = []
    for i in range(len(a)):
        cand = [j for j in torch.argsort(iou[i], descending=True).tolist() if j not in used and iou[i, j] >= SAME_IOU]
        if cand:
            used.add(cand[0])
        else:
            left.append(a[i])
    left += [b[j] for j in range(len(b)) if j not in used]
    boxes = box_convert(raw_a[0, :4].T, "cxcywh", "xyxy")
    ties = 0
    for d in left:
        s, c = float(d[4]), int(d[5])
        near = (raw_a[0, 4 + c] - s).abs() <= score_bound
        rivals = int((box_iou(d[None, :4], boxes[near])[0] > IOU).sum()) if near.any() else 0
        if abs(s - CONF) > score_bound and rivals < 2:  # itself and at least one rival
            return False, ties
        ties += 1
    return True, ties


def float64_twin(ref) -> Callable[[torch.Tensor], torch.Tensor]:
    """The PyTorch model in float64: the exact answer that float32 PyTorch and every runtime approximate."""
    m64 = copy.deepcopy(ref.model).double()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            y = m64(x.double())
        return (y[0] if isinstance(y, (list, tuple)) else y).float()

    return run


def compare(ref, got, inputs: Sequence[torch.Tensor], fmt: str, exact=None) -> tuple[float, float, str, str, bool]:
    """Max |Δ| boxes (px) and scores, the bounds applied, detections ``ref/got``, and whether all is within bounds.

    The bound of an image is the larger of the format's (:data:`BOUNDS`) and ``F32_SLACK`` times float32 PyTorch's
    own error on it against float64 (``exact``): a deep network amplifies float32 rounding, so two correct float32
    implementations differ by about that much and the format bound alone would fail the stock model too.
    """
    box_bound, score_bound = BOUNDS[fmt]
    dbox = dscore = 0.0
    worst_box = worst_score = 0.0  # largest Δ / bound seen
    bb, bs = box_bound, score_bound
    n_ref = n_got = 0
    same, ties = True, 0
    for x in inputs:
        a, b = raw(ref, x), raw(got, x)
        if a.shape != b.shape:
            raise RuntimeError(f"output shape {tuple(b.shape)} differs from PyTorch's {tuple(a.shape)}")
        eb, es = box_bound, score_bound
        if exact is not None:
            e = exact(x)
            eb = max(eb, F32_SLACK * float((a[:, :4] - e[:, :4]).abs().max()))
            es = max(es, F32_SLACK * float((a[:, 4:] - e[:, 4:]).abs().max()))
        db, ds = float((a[:, :4] - b[:, :4]).abs().max()), float((a[:, 4:] - b[:, 4:]).abs().max())
        dbox, dscore, bb, bs = max(dbox, db), max(dscore, ds), max(bb, eb), max(bs, es)
        worst_box, worst_score = max(worst_box, db / eb), max(worst_score, ds / es)
        da, db_ = _nms(a), _nms(b)
        n_ref, n_got = n_ref + len(da), n_got + len(db_)
        one, t = same_detections(da, db_, a, es)
        same, ties = same and one, ties + t
    ok = same and worst_box <= 1 and worst_score <= 1
    tied = f" ({ties} ties)" if ties else ""
    return dbox, dscore, f"<= {bb:.0e} px, {bs:.0e}", f"{n_ref}/{n_got} {'same' if same else 'DIFFERENT'}{tied}", ok


def _latency(calls: dict[str, Callable[[], object]], rounds: int, seed: int) -> tuple[float, ...]:
    """Median ratio (and 95% interval) of the second call's time over the first's, interleaved rounds."""
    from yolo_attn.bench.timing import interleaved_rounds, median_ci

    wall, _ = interleaved_rounds(calls, rounds, warmup=2)
    base, other = list(calls)
    return median_ci([o / b for o, b in zip(wall[other], wall[base], strict=True)], seed)


@dataclass
class Settings:
    """What ``export-check`` runs (one object instead of a long parameter list)."""

    models: tuple[str, ...]
    formats: tuple[str, ...]
    imgsz: tuple[int, ...] = (320,)
    dynamic: bool = False
    images: int = 4
    rounds: int = 10
    seed: int = 0
    baseline: str | None = None
    out: Path | None = None
    threads: int = 1


def _parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    items = [f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text) if f.strip()]
    aliases = {"tflite": "litert"}
    items = [aliases.get(f, f) for f in items]
    bad = [f for f in items if f not in BOUNDS]
    if not items or bad:
        raise ValueError(f"--formats {text!r}: unknown {bad or 'empty'}; valid: {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


def _models(s: Settings, work: Path) -> list[tuple[str, Path]]:
    """(name, checkpoint) of the baseline (first, the stock control) and the models."""
    if s.models[0].endswith(".pt"):
        paths = ([s.baseline] if s.baseline else []) + list(s.models)
        for p in paths:
            if not Path(p).is_file():
                raise FileNotFoundError(f"checkpoint {p!r} not found")
        return [(Path(p).stem, Path(p)) for p in paths]
    specs = {}
    for m in s.models:
        spec, base = _spec(m)
        if specs and base.name not in specs:
            raise ValueError(f"{m!r} is of another family than {s.models[0]!r}: give models of one family per run")
        specs.setdefault(base.name, base)
        specs[spec.name] = spec
    return [(name, _checkpoint(name, sp, work, s.seed)) for name, sp in specs.items()]


def export_check(s: Settings, say: Callable[[str], None] = print) -> list[CheckRow]:
    """Run the check; returns one row per model x format x size (the baseline's rows first in each group).

    Every model x format runs in a fresh process: a converter or runtime that crashes (a segfault) becomes that
    row's FAILED, not the end of the check.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    work = Path(tempfile.mkdtemp(prefix="yolo-attn-export-")) if s.out is None else s.out
    work.mkdir(parents=True, exist_ok=True)
    try:
        models = _models(s, work)
        ckpts = {}
        for name, pt in models:  # a user's checkpoint is copied: the exporter writes beside the file it exports
            ckpts[name] = pt if pt.parent == work else Path(shutil.copy2(pt, work / f"{name}.pt"))
        stock = next(iter(ckpts))
        rows: list[CheckRow] = []
        for imgsz in s.imgsz:
            for fmt in s.formats:
                dynamic = s.dynamic and fmt in DYNAMIC
                sub = work / f"{fmt}-{imgsz}{'-dyn' if dynamic else ''}"
                sub.mkdir(exist_ok=True)
                stock_row, stock_path = None, None
                for name, pt in ckpts.items():
                    say(f"{name}: {fmt} at {imgsz}{' (dynamic)' if dynamic else ''}")
                    src = sub / pt.name
                    if not src.exists():
                        shutil.copy2(pt, src)
                    job = (s, src, fmt, imgsz, dynamic, stock_path if name != stock else None)
                    try:
                        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                            row, path = pool.submit(check_one, *job).result()
                    except BrokenProcessPool:
                        row, path = CheckRow(name, fmt, imgsz, dynamic, "FAILED"), None
                        row.note = f"the {fmt} converter or runtime crashed the process (a signal such as SIGSEGV)"
                    if stock_row is None:
                        stock_row, stock_path = row, path
                    elif stock_row.status != "ok" and row.status != "ok":
                        row.status, row.note = "STOCK FAILED", f"the stock model {stock} fails too: {row.note}"
                    rows.append(row)
                    say(format_table([row]).splitlines()[-1])
        return rows
    finally:
        if s.out is None:
            shutil.rmtree(work, ignore_errors=True)


def check_one(s: Settings, src: Path, fmt: str, imgsz: int, dynamic: bool, stock_path: Path | None):
    """Export ``src`` to ``fmt`` and compare (in a child process); returns the row and the exported path."""
    torch.set_num_threads(s.threads)
    os.environ["PIP_NO_INDEX"] = "1"  # see main()
    row = CheckRow(src.stem, fmt, imgsz, dynamic)
    images = sample_images(s.images, imgsz, s.seed)
    sizes = [imgsz] + ([imgsz + 64] if dynamic else [])
    try:
        path = export(src, fmt, imgsz, dynamic)
    except Exception as e:  # a converter failure is a result of the check, not a crash of it
        row.status, row.note = "FAILED", f"export: {_one_line(e)}"
        return row, None
    try:
        ref, got = backend(src), backend(path)
        exact = float64_twin(ref)
        for size in sizes:
            box, score, bound, dets, ok = compare(ref, got, _tensor(images, size), fmt, exact)
            row.box, row.score = max(box, _num(row.box)), max(score, _num(row.score))
            row.dets, row.bound = row.dets or dets, row.bound or bound  # the static size's
            if not ok:
                row.status = "MISMATCH"
        if stock_path is not None and s.rounds:
            base, x = backend(stock_path), _tensor(images[:1], imgsz)[0]
            ci = _latency({"base": lambda: base(x), "model": lambda: got(x)}, s.rounds, s.seed)
            row.latency = f"{ci[0]:.2f} [{ci[1]:.2f}, {ci[2]:.2f}]"
    except Exception as e:
        row.status, row.note = "FAILED", f"run: {_one_line(e)}"
    return row, path


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160] if text else ''}"


def _num(v: float) -> float:
    return 0.0 if v != v else v  # nan (not measured yet) -> 0


def format_table(rows: Sequence[CheckRow]) -> str:
    """The rows as a Markdown table (the README's deployment matrix comes from it)."""
    head = "| model | format | imgsz | dynamic | result | max abs Δ box (px) | max abs Δ score | bound | detections PyTorch/runtime | time × baseline [95% CI] | note |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        box = f"{r.box:.1e}" if r.box == r.box else "-"
        score = f"{r.score:.1e}" if r.score == r.score else "-"
        lines.append(
            f"| `{r.model}` | {r.format} | {r.imgsz} | {'yes' if r.dynamic else 'no'} | {r.status} | {box} | {score} "
            f"| {r.bound or '-'} | {r.dets or '-'} | {r.latency or '-'} | {r.note} |"
        )
    return "\n".join(lines)


def versions() -> str:
    """The versions the matrix was measured with."""
    import importlib.metadata as md

    names = ("ultralytics", "torch", "onnx", "onnxruntime", "openvino", "ncnn", "pnnx", "MNN", "litert-torch",
             "ai-edge-litert")  # fmt: skip
    out = []
    for n in names:
        with contextlib.suppress(md.PackageNotFoundError):
            out.append(f"{n} {md.version(n)}")
    return ", ".join(out)


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        sizes = tuple(int(v) for v in str(args.imgsz).split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(v < 32 or v % 32 for v in sizes):
        raise ValueError(f"--imgsz {args.imgsz!r}: give sizes that are multiples of 32, >= 32 (e.g. 320,640)")
    if args.images < 1 or args.rounds < 0:
        raise ValueError(f"--images {args.images} must be >= 1 and --rounds {args.rounds} >= 0")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise FileExistsError(f"--out {str(args.out)!r} exists and is not empty; give a new or empty folder")
    return Settings(tuple(args.models), _parse_formats(args.formats), sizes, args.dynamic, args.images, args.rounds,
                    args.seed, args.baseline, args.out)  # fmt: skip


def run_export_check(args: argparse.Namespace) -> int:
    """``yolo-attn export-check`` (its parser is in ``yolo_attn/cli.py``); returns the exit status."""
    from yolo_attn.exits import report_error

    try:
        s = settings_from(args)
        missing = [p for p in (*s.models, s.baseline) if p and p.endswith(".pt") and not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"checkpoint {missing[0]!r} not found")
        if not s.models[0].endswith(".pt"):
            bases = {_spec(m)[1].name for m in s.models}  # bad names before any work
            if len(bases) > 1:
                raise ValueError(f"models {list(s.models)} are of several families ({sorted(bases)}): one per run")
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        return report_error("export-check", e)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    # MNN's converter runs `pip install aliyun-log-python-sdk` when imported without it (MNN/tools/utils/log.py):
    # no index for pip here, so nothing downloads at run time (the import then goes on without MNN's usage logger).
    os.environ["PIP_NO_INDEX"] = "1"
    rows = export_check(s, say=lambda m: print(f"[export-check] {m}", file=sys.stderr, flush=True))
    print(format_table(rows))
    print(f"\nversions: {versions()}")
    bad = [r for r in rows if r.status != "ok"]
    for fmt in s.formats:
        print(f"bounds {fmt}: |Δ box| <= {BOUNDS[fmt][0]:g} px, |Δ score| <= {BOUNDS[fmt][1]:g}")
    if bad:
        print(f"export-check: {len(bad)} of {len(rows)} failed", file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK
