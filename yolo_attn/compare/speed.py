"""The sweep's speed step: every trained model timed interleaved in one process, after the trainings, into speed.json.

A run's latency measured on its own right after its training depends on what else the machine did at that moment:
on a busy 2-core machine the demo's networks, within 0.7% of each other's GFLOPs, read 41-725 ms. So latency is
measured as a comparison, once per sweep (never per run), by the process that finishes the sweep last (or by
``compare --remeasure``), with the machinery of ``yolo-attn bench models`` (`yolo_attn.bench.timing`):

- one checkpoint per model (the scored checkpoint of its first finished seed: the architecture sets the time, the
  seed does not), fused, eval mode, batch 1 at the sweep's imgsz, a fixed random input; no pre-processing, no NMS;
- CPU: float32 with the sweep's ``--cpu-threads`` (default 1 thread: a single-thread latency is the least disturbed
  by other processes and the easiest to compare across machines); CUDA too when the runs trained on a GPU and this
  process has one: float16 (``model.half()``, as Ultralytics' ``half=True``), synchronised around every call;
- rounds of A, B, C, ... (baseline first), the order reversed every other round, one untimed spacer call between
  rounds; ``--latency-repeats`` timed rounds after the sweep's warm-up rounds;
- per model: median wall ms and process CPU ms with percentile-bootstrap 95% intervals of the medians, the IQR and
  90th percentile of the rounds, and the median per-round ratio to the baseline with its 95% interval;
- a model's measurement is **noisy** when the 95% interval of its median wall time, or of its ratio to the baseline,
  is wider than ±`NOISY_REL_HALF_WIDTH` (5%) of the value: the attention modules of this project change a detector's
  time by a few percent, so an interval wider than that cannot tell them apart (rerun ``--remeasure`` when the
  machine is quiet, or with more ``--latency-repeats``).

Training img/s stays in each run's record: a sum over epochs on whatever the machine did meanwhile, indicative only.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from yolo_attn._io import markdown_table
from yolo_attn.compare.models import ModelSpec
from yolo_attn.compare.plan import file_sha256
from yolo_attn.compare.records import (
    SPEED_RECORD,
    RunRecord,
    SpeedDevice,
    SpeedRecord,
    SpeedRun,
    SpeedStats,
    SweepSettings,
    now_iso,
)

__all__ = [
    "NOISY_REL_HALF_WIDTH",
    "ensure_speed",
    "format_speed_table",
    "is_noisy",
    "measure_speed",
    "speed_lock",
    "speed_targets",
    "stats_of",
]

#: A measurement is noisy when a 95% interval's half-width exceeds this fraction of its median (see the docstring).
NOISY_REL_HALF_WIDTH = 0.05
_LOCK_TIMEOUT_S = 6 * 3600.0  # another process may be timing the sweep's models: wait for it, it takes minutes


def is_noisy(median: float, low: float, high: float, threshold: float = NOISY_REL_HALF_WIDTH) -> bool:
    """Whether the interval ``[low, high]`` around ``median`` is too wide: half-width > ``threshold`` x median.

    A median that is not a positive finite number, or an interval that does not hold it, counts as noisy.
    """
    vals = (median, low, high)
    if any(v is None or not math.isfinite(v) for v in vals) or median <= 0 or not low <= median <= high:
        return True
    return (high - low) / 2 > threshold * median


def _half_width_pct(median: float, low: float, high: float) -> float:
    return 100 * (high - low) / 2 / median if median and median > 0 else math.inf


def stats_of(
    wall_s: list[float],
    cpu_s: list[float],
    base_wall_s: list[float] | None,
    base_cpu_s: list[float] | None,
    seed: int = 0,
    threshold: float = NOISY_REL_HALF_WIDTH,
) -> SpeedStats:
    """A model's `SpeedStats` from its per-round wall and CPU seconds (and the baseline's, None for the baseline).

    Args:
        wall_s, cpu_s: The model's wall and process-CPU seconds per timed round, in round order.
        base_wall_s, base_cpu_s: The baseline's, from the same rounds; None when this model is the baseline.
        seed: Seed of the bootstrap.
        threshold: Noisy threshold (`NOISY_REL_HALF_WIDTH`).
    """
    from yolo_attn.bench.timing import median_ci

    wall = [1e3 * t for t in wall_s]
    cpu = [1e3 * t for t in cpu_s]
    w_med, w_lo, w_hi = median_ci(wall, seed)
    c_med, c_lo, c_hi = median_ci(cpu, seed + 1)
    q = statistics.quantiles(wall, n=20, method="inclusive") if len(wall) > 1 else [wall[0]] * 19
    q1, q3 = statistics.quantiles(wall, n=4, method="inclusive")[::2] if len(wall) > 1 else (wall[0], wall[0])
    st = SpeedStats(
        wall_ms=w_med,
        wall_ci_ms=[w_lo, w_hi],
        wall_iqr_ms=[q1, q3],
        wall_p90_ms=q[17],
        cpu_ms=c_med,
        cpu_ci_ms=[c_lo, c_hi],
        rounds_wall_ms=[round(t, 4) for t in wall],
        rounds_cpu_ms=[round(t, 4) for t in cpu],
    )
    why = []
    if is_noisy(w_med, w_lo, w_hi, threshold):
        why.append(f"wall ms ±{_half_width_pct(w_med, w_lo, w_hi):.2f}%")
    if base_wall_s is not None:
        st.wall_ratio = list(median_ci([a / b for a, b in zip(wall_s, base_wall_s, strict=True) if b > 0], seed + 2))
        ratios = [a / b for a, b in zip(cpu_s, base_cpu_s or [], strict=True) if b > 0]
        st.cpu_ratio = list(median_ci(ratios, seed + 3)) if ratios else None
        if is_noisy(*st.wall_ratio, threshold):
            why.append(f"ratio ±{_half_width_pct(*st.wall_ratio):.2f}%")
    st.noisy = bool(why)
    st.noisy_why = ", ".join(why) + (f" (> ±{100 * threshold:g}%)" if why else "")
    return st


def speed_targets(out: Path, settings: SweepSettings) -> list[tuple[ModelSpec, RunRecord]]:
    """One finished run per model, in sweep order: the first seed whose record is ok, not stale (model YAML
    unchanged since training) and whose scored checkpoint exists."""
    targets = []
    for spec in settings.models:
        for seed in settings.seeds:
            run_dir = out / "runs" / spec.label / f"seed{seed}"
            rec = RunRecord.read(run_dir)
            if rec is None or not rec.ok or not rec.weights or not rec.weights_path(run_dir).is_file():
                continue
            if spec.file and rec.yaml_sha256 and file_sha256(spec.file) not in ("", rec.yaml_sha256):
                continue  # stale: its numbers belong to the old file
            targets.append((spec, rec))
            break
    return targets


def _cuda_wanted(targets) -> str | None:
    """The CUDA device the runs trained on (``cuda:0``, ...), or None when they trained elsewhere."""
    for _, rec in targets:
        dev = str(rec.train.train_device if rec.train else "")
        if dev.startswith("cuda"):
            return dev
    return None


def _gpu_device(wanted: str):
    import torch

    dev = torch.device(wanted)
    n = torch.cuda.device_count()
    return dev if dev.index is None or dev.index < n else torch.device("cuda:0")


@dataclass(frozen=True)
class _Timing:
    """How `_time_device` times: input size, rounds, threads (CPU), the ratios' baseline, the noisy threshold."""

    imgsz: int
    rounds: int
    warmup: int
    threads: int | None
    baseline: str
    threshold: float
    say: Callable[[str], None]
    wrap: Callable[[str, Callable], Callable] | None = None


def _time_device(models: dict, dev, t: _Timing) -> SpeedDevice:
    """Time the models (label -> loaded DetectionModel, baseline first) interleaved on ``dev``."""
    imgsz, rounds, warmup, baseline, threshold, wrap = t.imgsz, t.rounds, t.warmup, t.baseline, t.threshold, t.wrap
    threads, say = t.threads, t.say
    import torch

    from yolo_attn.bench.models import _eval_model, _torch_eval_call
    from yolo_attn.bench.timing import cuda_sync, interleaved_rounds, spacer_of
    from yolo_attn.compare.measure import device_name

    half = dev.type == "cuda"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, imgsz, imgsz, generator=g).to(dev)
    if half:
        x = x.half()
    calls = {}
    for label, net in models.items():
        m = _eval_model(net, dev)
        if half:
            m = m.half()
        call = _torch_eval_call(m, x, None)
        calls[label] = wrap(label, call) if wrap is not None else call
    names = list(calls)
    t0 = time.perf_counter()
    wall, cpu = interleaved_rounds(calls, rounds, warmup, sync=lambda: cuda_sync(dev))
    duration = time.perf_counter() - t0
    say(f"[compare] speed on {dev}: {warmup + rounds} rounds of {len(names)} model(s) in {duration:.1f} s")
    stats = {}
    for i, n in enumerate(names):
        is_base = n == baseline
        stats[n] = stats_of(
            wall[n],
            cpu[n],
            None if is_base else wall[baseline],
            None if is_base else cpu[baseline],
            seed=10 * i,
            threshold=threshold,
        )
    total_wall = sum(sum(v) for v in wall.values())
    return SpeedDevice(
        device=str(dev),
        name=device_name(dev),
        dtype="float16" if half else "float32",
        threads=threads if dev.type == "cpu" else None,
        rounds=rounds,
        warmup=warmup,
        baseline=baseline,
        order=names,
        spacer=spacer_of(names),
        models=stats,
        cpu_per_wall=sum(sum(v) for v in cpu.values()) / total_wall if total_wall > 0 else None,
        duration_s=duration,
    )


def measure_speed(
    out: str | Path,
    settings: SweepSettings,
    *,
    rounds: int | None = None,
    warmup: int | None = None,
    cpu_threads: int | None = None,
    say=None,
    wrap: Callable[[str, Callable], Callable] | None = None,
    threshold: float = NOISY_REL_HALF_WIDTH,
) -> SpeedRecord:
    """Time every trained model of the sweep in ``out`` interleaved (see the module docstring); writes nothing.

    Args:
        out: The compare folder.
        settings: Its sweep.
        rounds, warmup: Timed and warm-up rounds (default the sweep's ``latency_repeats`` / ``latency_warmup``; on
            CUDA at least 100 and 10, the calls are short).
        cpu_threads: torch threads on CPU (default the sweep's ``cpu_threads``, else 1).
        say: Progress lines (None: silent).
        wrap: ``wrap(label, call) -> call`` around every model's forward call (tests record the call order).
        threshold: Noisy threshold (`NOISY_REL_HALF_WIDTH`).

    Returns:
        (SpeedRecord): The measurement (``SpeedRecord.write(out)`` stores it as speed.json).

    Raises:
        ValueError: No finished run to time.
    """
    import torch

    from yolo_attn.compare.measure import versions
    from yolo_attn.integration import register

    say = say or (lambda s: None)
    out = Path(out)
    targets = speed_targets(out, settings)
    if not targets:
        raise ValueError(f"no finished run with a checkpoint in {out} to time; train first (the compare command)")
    rounds = int(rounds if rounds is not None else settings.latency_repeats)
    warmup = int(warmup if warmup is not None else settings.latency_warmup)
    threads = int(cpu_threads or settings.cpu_threads or 1)
    if rounds < 3 or warmup < 0 or threads < 1:
        raise ValueError(f"need rounds >= 3, warmup >= 0, threads >= 1; got {rounds}, {warmup}, {threads}")
    labels = [s.label for s, _ in targets]
    baseline = settings.baseline if settings.baseline in labels else labels[0]
    targets.sort(key=lambda t: t[0].label != baseline)  # baseline first, then sweep order
    register()
    from ultralytics import YOLO

    models = {}
    for spec, rec in targets:
        models[spec.label] = YOLO(str(out / rec.run_dir / rec.weights)).model.float().cpu().eval()
    imgsz = int(settings.fingerprint.imgsz)
    record = SpeedRecord(
        imgsz=imgsz,
        runs=[
            SpeedRun(
                label=s.label,
                seed=rec.seed,
                run_id=rec.run_id,
                weights=f"{rec.run_dir}/{rec.weights}",
                weights_sha256=rec.weights_sha256,
            )  # fmt: skip
            for s, rec in targets
        ],
        noisy_threshold=threshold,
        versions=versions(),
    )
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        say(
            f"[compare] speed: timing {len(models)} model(s) interleaved on CPU ({threads} thread"
            f"{'s' if threads > 1 else ''}, batch 1 at {imgsz}, {rounds} rounds after {warmup} warm-up)"
        )
        timing = _Timing(imgsz, rounds, warmup, threads, baseline, threshold, say, wrap)
        record.cpu = _time_device(models, torch.device("cpu"), timing)
        wanted = _cuda_wanted(targets)
        if wanted:
            if torch.cuda.is_available():
                dev = _gpu_device(wanted)
                r, w = max(rounds, 100), max(warmup, 10)
                say(f"[compare] speed: timing on {dev} (fp16, {r} rounds after {w} warm-up)")
                record.gpu = _time_device(models, dev, replace(timing, rounds=r, warmup=w, threads=None))
            else:
                record.gpu_note = (
                    f"the runs trained on {wanted}, but the process that timed them had no CUDA GPU: GPU latency not "
                    "measured (run `compare --remeasure` on a GPU machine)"
                )
    finally:
        torch.set_num_threads(old_threads)
    record.measured = now_iso()
    return record


def _covers(old: SpeedRecord | None, targets, gpu_possible: bool) -> bool:
    """Whether ``old`` measured exactly these runs (and on CUDA, when it could be)."""
    if old is None:
        return False
    if old.run_ids() != {s.label: rec.run_id for s, rec in targets}:
        return False
    return old.gpu is not None or not gpu_possible


@contextlib.contextmanager
def speed_lock(out: Path):
    from filelock import FileLock

    with FileLock(str(out / ".speed.lock"), timeout=_LOCK_TIMEOUT_S):
        yield


def ensure_speed(out: str | Path, settings: SweepSettings, say=None) -> SpeedRecord | None:
    """The sweep's speed step: time the models unless speed.json already measured these very runs.

    Called by the process that finishes the sweep (never per run); several processes finishing together take turns
    under ``.speed.lock`` and the later ones find the measurement done. A failure is reported, not raised: the
    sweep's results stand without the speed columns, and ``compare --remeasure`` redoes them.
    """
    import traceback

    from yolo_attn.compare.records import RecordError

    say = say or (lambda s: None)
    out = Path(out)
    try:
        with speed_lock(out):
            targets = speed_targets(out, settings)
            if not targets:
                return None
            try:
                old = SpeedRecord.read(out)
            except RecordError:
                old = None  # ours to replace: the reports would refuse it
            import torch

            gpu_possible = _cuda_wanted(targets) is not None and torch.cuda.is_available()
            if _covers(old, targets, gpu_possible):
                return old
            rec = measure_speed(out, settings, say=say)
            rec.write(out)
            say(f"[compare] speed: {out / SPEED_RECORD}")
            return rec
    except Exception as e:  # the trainings are done and recorded: never lose the sweep to its speed step
        say(
            f"[compare] speed measurement failed ({type(e).__name__}: {e}); `compare --remeasure --out {out}` redoes it"
        )
        say(traceback.format_exc())
        return None


def _ms(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def format_speed_table(rec: SpeedRecord, device: str = "cpu") -> str:
    """The Markdown table of one device's measurement (summary.md's speed section)."""
    d = rec.cpu if device == "cpu" else rec.gpu
    if d is None:
        return ""
    unit = "CPU" if device == "cpu" else "GPU"
    head = ["model", f"{unit} wall ms [95% CI]", "IQR ms", "process CPU ms", "wall ratio to baseline [95% CI]",
            "CPU-time ratio", "noisy"]  # fmt: skip
    table = []
    for label in d.order:
        s = d.models[label]
        ratio = (
            "1 (ref.)"
            if s.wall_ratio is None
            else f"{s.wall_ratio[0]:.3f} [{s.wall_ratio[1]:.3f}, {s.wall_ratio[2]:.3f}]"
        )
        cratio = "1 (ref.)" if s.cpu_ratio is None else f"{s.cpu_ratio[0]:.3f}"
        table.append([
            f"`{label}`{' (baseline)' if label == d.baseline else ''}",
            f"{_ms(s.wall_ms)} [{_ms(s.wall_ci_ms[0])}, {_ms(s.wall_ci_ms[1])}]",
            f"{_ms(s.wall_iqr_ms[0])}–{_ms(s.wall_iqr_ms[1])}",
            _ms(s.cpu_ms), ratio, cratio, "**noisy**: " + s.noisy_why if s.noisy else "no",
        ])  # fmt: skip
    return "\n".join(markdown_table(head, table, "lrrrrr"))
