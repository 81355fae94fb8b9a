"""One run of a sweep (one model, one seed), in its own interpreter: train, score, measure, record.

The sweep starts ``python -m yolo_attn.compare _worker <run_dir>/spec.json`` for every run, so a crash, a bad YAML
or an out-of-memory kill of one variant cannot take down the sweep. The worker:

1. copies its stdout/stderr to ``<run_dir>/log.txt`` (progress-bar frames collapsed to their last state);
2. trains with Ultralytics' trainer into ``<run_dir>/train`` (or resumes that training from its ``last.pt`` when a
   previous worker was interrupted mid-training; or skips training when ``trained.json`` says it finished);
3. profiles params/GFLOPs and scores the chosen checkpoint with ``yolo_attn.metrics.evaluate_model`` (VOC07, VOC12,
   COCO and Ultralytics' val). Latency is not measured here: a run's own timing right after its training depends on
   what the machine does at that moment; the sweep times all its models interleaved at the end (``speed.py``);
4. writes ``<run_dir>/run.json`` (a `RunRecord`) LAST, atomically: ``status`` "ok" (the completion record) or
   "failed" with the error and traceback. Exit status 0 for ok, 1 for failed; a worker stopped by SIGINT writes
   nothing (the run resumes).

It writes ``progress.json`` (training epoch k of n, then scoring) for the sweep's status lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from yolo_attn._io import json_safe, write_bytes, write_json
from yolo_attn.compare.records import (
    PROGRESS,
    TRAINED_RECORD,
    RunRecord,
    RunSpec,
    TrainStats,
    fmt_duration,
    now_iso,
    read_json,
)

__all__ = ["run_worker"]

#: Environment variable through which the sweep process tells its worker its pid.
PARENT_PID_ENV = "YOLO_ATTN_SWEEP_PID"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Tee(io.TextIOBase):
    """Write to a terminal stream and to a log file; the log gets whole lines, each as last drawn after a '\\r'."""

    def __init__(self, stream, log):
        self.stream = stream
        self.log = log
        self._pending = ""

    def write(self, s: str) -> int:
        try:
            self.stream.write(s)
        except (OSError, ValueError):
            pass
        self._pending += s
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                parts = [p for p in (_ANSI.sub("", q) for q in line.split("\r")) if p.strip()]
                self.log.write((parts[-1] if parts else "") + "\n")
            self.log.flush()
        return len(s)

    def flush(self) -> None:
        for f in (self.stream, self.log):
            try:
                f.flush()
            except (OSError, ValueError):
                pass

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


def _install_tee(path: Path) -> None:
    """Send stdout and stderr to the terminal and ``path``, including loggers that bound the old streams (importing
    ``yolo_attn`` already imported Ultralytics, whose logger holds ``sys.stdout``)."""
    import logging

    log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole process
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _Tee(sys.__stdout__, log)
    sys.stderr = _Tee(sys.__stderr__, log)
    loggers = [logging.getLogger()] + [
        v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)
    ]
    for lg in loggers:
        for h in lg.handlers:
            if type(h) is logging.StreamHandler:
                if h.stream is old_out or h.stream is sys.__stdout__:
                    h.setStream(sys.stdout)
                elif h.stream is old_err or h.stream is sys.__stderr__:
                    h.setStream(sys.stderr)


def _watch_parent() -> None:
    """Exit when the sweep process that started this worker dies (a killed sweep must not leave a worker behind
    that keeps writing into a run folder the next sweep will use)."""
    import threading

    # the sweep passes its pid: a sweep killed while this interpreter was still starting is noticed too
    expected = os.environ.get(PARENT_PID_ENV, "")
    parent = int(expected) if expected.isdigit() else os.getppid()
    if os.getppid() != parent:
        os._exit(3)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="yolo_attn-parent-watch", daemon=True).start()


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def weights_sha256(path: str | Path) -> str:
    """SHA-256 over a checkpoint's model tensors (names, dtypes, shapes, values; EMA weights when present).

    The checkpoint file's own hash differs between identical trainings (it stores dates and paths); this one is
    equal exactly when the trained weights are.
    """
    import torch

    ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else ckpt
    state = model.state_dict() if hasattr(model, "state_dict") else dict(model)
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not hasattr(t, "detach"):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class _Progress:
    """Ultralytics callbacks: epoch timing (training throughput), ``progress.json`` and a sweep-wide progress line."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.p = spec.progress or {}
        self.run_start = time.time()
        self.epoch_times: list[float] = []
        self.images = 0
        self._t0 = None

    def _mark(self, state: str, **kw) -> None:
        """``progress.json`` for the sweep's status lines (never fatal)."""
        with contextlib.suppress(OSError):
            write_json(Path(self.spec.run_dir) / PROGRESS, {"state": state, "time": time.time(), **kw})

    def on_train_epoch_start(self, trainer) -> None:
        self._mark("training", epoch=trainer.epoch + 1, epochs=trainer.epochs)
        threads = self.spec.cpu_threads
        if threads and getattr(trainer.device, "type", "") == "cpu":
            import torch

            torch.set_num_threads(int(threads))  # Ultralytics' select_device sets cores - 1 (validation too)
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer) -> None:
        if self._t0 is not None:
            self.epoch_times.append(time.perf_counter() - self._t0)
            self._t0 = None
        try:
            self.images = len(trainer.train_loader.dataset)
        except (AttributeError, TypeError):
            pass

    def on_fit_epoch_end(self, trainer) -> None:
        if trainer.epoch >= trainer.epochs:  # the final evaluation of best.pt reports as epoch `epochs`
            return
        done = trainer.epoch + 1
        now = time.time()
        run_elapsed = now - self.run_start
        start = int(getattr(trainer, "start_epoch", 0) or 0)  # > 0 when this worker resumed the training
        frac = max((done - start) / max(trainer.epochs - start, 1), 1e-6)
        run_left = run_elapsed / frac - run_elapsed + float(self.p.get("mean_eval_s") or 0.0)
        per_run = self.p.get("mean_run_s") or (run_elapsed / frac)
        slots = max(int(self.p.get("slots") or 1), 1)
        sweep_left = run_left + int(self.p.get("left_after", 0)) * per_run / slots
        sweep_elapsed = now - float(self.p.get("sweep_start", self.run_start))
        print(
            f"[compare {self.p.get('index', '?')}/{self.p.get('total', '?')} | {self.spec.label} seed "
            f"{self.spec.seed}] epoch {done}/{trainer.epochs} | run {fmt_duration(run_elapsed)} | sweep "
            f"{fmt_duration(sweep_elapsed)} elapsed, ~{fmt_duration(sweep_left)} left "
            f"({self.p.get('left_after', 0)} more run(s) after this one)",
            flush=True,
        )

    def throughput(self) -> float:
        """Training images per second over the timed epochs (the first one left out when there are several)."""
        times = self.epoch_times[1:] if len(self.epoch_times) > 1 else self.epoch_times
        return self.images * len(times) / sum(times) if times and sum(times) > 0 else math.nan


class _TrainState:
    """What Ultralytics' checkpoint does not keep, so that a resumed run ends with an uninterrupted run's weights.

    ``last.pt`` holds the model, EMA and optimizer in float16 and no random state, so a training resumed from it
    starts from rounded weights and draws other data orders and augmentations. After every epoch's ``last.pt`` this
    writes ``train/weights/state.pt``: the float32 model, EMA and optimizer, Python's, NumPy's and torch's random
    states, the data loader's generator (the data order) and the mosaic buffer; a resumed training restores them
    (``resumed_state`` in the record). Exact (tested on CPU) with ``workers=0`` (the sweep's default; loader worker
    processes keep random states of their own) and one optimizer step per batch (``nbs`` <= ``batch``; Ultralytics'
    gradient accumulation across epochs is not restorable); otherwise the run is marked resumed.
    """

    def __init__(self, weights_dir: Path):
        self.path = weights_dir / "state.pt"
        self.restored = False
        self._close_mosaic = None

    def on_model_save(self, trainer) -> None:
        import random

        import numpy as np
        import torch

        loader, ema = trainer.train_loader, trainer.ema
        state = {
            "epoch": trainer.epoch,
            "model": trainer.model.state_dict(),
            "ema": ema.ema.state_dict(),
            "updates": ema.updates,
            "optimizer": trainer.optimizer.state_dict(),
            "random": (random.getstate(), np.random.get_state(), torch.get_rng_state()),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "loader": loader.generator.get_state() if loader.generator is not None else None,
            "buffer": list(getattr(loader.dataset, "buffer", [])),
        }
        write_bytes(self.path, lambda f: torch.save(state, f))

    def on_train_start(self, trainer) -> None:
        import random

        import numpy as np
        import torch

        if not self.path.is_file() or not getattr(trainer, "start_epoch", 0):
            return
        state = torch.load(self.path, map_location=trainer.device, weights_only=False)
        if state["epoch"] != trainer.start_epoch - 1:
            print(f"[compare] {self.path} is of epoch {state['epoch'] + 1}, not {trainer.start_epoch}: not used")
            return
        loader, close = trainer.train_loader, trainer.args.close_mosaic
        if close and trainer.start_epoch - 1 >= trainer.epochs - close:  # closed before the stop: close it now,
            trainer._close_dataloader_mosaic()  # before the data order is restored, and not again in the loop
            loader.reset()
            self._close_mosaic, trainer.args.close_mosaic = close, 0
        if loader.iterator is None:  # the uninterrupted run's loader iterates since its first epoch
            loader.iterator = loader._get_iterator()
        trainer.model.load_state_dict(state["model"])
        trainer.ema.ema.load_state_dict(state["ema"])
        trainer.ema.updates = state["updates"]
        trainer.optimizer.load_state_dict(state["optimizer"])
        py, npy, cpu = state["random"]
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu.cpu())
        if state["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        if state["loader"] is not None and loader.generator is not None:
            loader.generator.set_state(state["loader"].cpu())
            n, bs = len(loader.dataset), loader.batch_size
            if loader.drop_last or n % bs == 0:  # the uninterrupted run's shuffle ends its last pass with one more
                torch.randperm(n, generator=loader.generator)  # draw at the next epoch's start (torch RandomSampler)
        if hasattr(loader.dataset, "buffer"):
            loader.dataset.buffer[:] = state["buffer"]
        # exact only when every batch steps the optimizer (the step cadence across epochs is not restorable) and the
        # data is loaded in this process
        self.restored = trainer.accumulate == 1 and loader.num_workers == 0
        how = "exactly" if self.restored else "(not exactly: accumulate > 1 or loader workers)"
        print(f"[compare] restored the float32 weights and random state after epoch {trainer.start_epoch} {how}")

    def on_train_epoch_start(self, trainer) -> None:
        if self._close_mosaic is not None:  # the loop has read it: the record keeps the setting as given
            trainer.args.close_mosaic, self._close_mosaic = self._close_mosaic, None

    def attach(self, model) -> None:
        for event in ("on_model_save", "on_train_start", "on_train_epoch_start"):
            model.add_callback(event, getattr(self, event))


def _amp_default(device) -> bool | str:
    """Mixed precision for training: bf16 on CUDA GPUs that support it (Ultralytics then skips its AMP self-check,
    which would download a model), off elsewhere."""
    import torch

    if str(device).lower() in ("cpu", "mps") or not torch.cuda.is_available():
        return False
    return "bf16" if torch.cuda.is_bf16_supported() else False


def _train(spec: RunSpec, run_dir: Path, progress: _Progress) -> dict:
    """Train (or resume, or skip when already trained) and return the training record (``trained.json``)."""
    from ultralytics import YOLO

    trained = read_json(run_dir / TRAINED_RECORD)
    if isinstance(trained, dict) and trained:
        print(f"[compare] {spec.label} seed {spec.seed}: training finished earlier, scoring it", flush=True)
        return trained
    train_dir = run_dir / "train"
    last = train_dir / "weights" / "last.pt"
    args = dict(spec.train_args)
    args.setdefault("amp", _amp_default(args.get("device")))
    resumed = False
    state = _TrainState(train_dir / "weights")
    t0 = time.time()
    if spec.resume_run and last.is_file():
        try:
            model = YOLO(str(last))
            for event in ("on_train_epoch_start", "on_train_epoch_end", "on_fit_epoch_end"):
                model.add_callback(event, getattr(progress, event))
            state.attach(model)
            print(f"[compare] resuming the interrupted training from {last}", flush=True)
            keep = {k: args[k] for k in ("device", "workers", "plots", "val", "batch", "imgsz") if k in args}
            keep["save_dir"] = str(train_dir)  # a moved folder resumes into itself (the checkpoint names the old one)
            model.train(resume=str(last), data=args["data"], **keep)
            resumed = True
        except Exception as e:  # finished or unusable checkpoint: train again from the start
            print(f"[compare] cannot resume from {last} ({type(e).__name__}: {e}); training from scratch", flush=True)
            progress.epoch_times.clear()
    if not resumed:
        shutil.rmtree(train_dir, ignore_errors=True)
        model = YOLO(spec.model, task="detect")
        for event in ("on_train_epoch_start", "on_train_epoch_end", "on_fit_epoch_end"):
            model.add_callback(event, getattr(progress, event))
        state = _TrainState(train_dir / "weights")
        state.attach(model)
        t0 = time.time()
        model.train(**args)
    trainer = model.trainer
    ta = vars(trainer.args) if trainer is not None else {}
    record = {
        "train_time_s": time.time() - t0,
        "resumed": resumed,
        "resumed_state": resumed and state.restored,
        "epochs_timed": len(progress.epoch_times),
        "epoch_times_s": progress.epoch_times,
        "train_images": progress.images,
        "train_img_per_s": progress.throughput(),
        "train_device": str(getattr(trainer, "device", args.get("device"))),
        "args": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in ta.items()},
    }
    write_json(run_dir / TRAINED_RECORD, record)
    return record


def _train_stats(trained: dict) -> TrainStats:
    return TrainStats.model_validate(json_safe(trained))


def _measure_and_score(spec: RunSpec, run_dir: Path, trained: dict, record: RunRecord) -> None:
    """Profile and score the chosen checkpoint into ``record`` (latency: the sweep's speed step, ``speed.py``)."""
    import torch
    from ultralytics import YOLO

    from yolo_attn.compare.measure import device_name, profile
    from yolo_attn.metrics import METRIC_KEYS, evaluate_model, save_metrics
    from yolo_attn.metrics.evidence import PER_IMAGE_FILE

    with contextlib.suppress(OSError):
        write_json(run_dir / PROGRESS, {"state": "scoring", "time": time.time()})
    weights_dir = run_dir / "train" / "weights"
    weights = weights_dir / f"{spec.weights}.pt"
    if not weights.is_file():
        weights = weights_dir / "last.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"training wrote no checkpoint in {weights_dir}")
    imgsz = int(spec.train_args["imgsz"])
    record.weights = str(weights.relative_to(run_dir))
    record.weights_sha256 = weights_sha256(weights)

    yolo = YOLO(str(weights))
    net = yolo.model
    record.params, record.gflops = profile(net, imgsz)
    if spec.cpu_threads:
        torch.set_num_threads(int(spec.cpu_threads))
    record.cpu_name = device_name("cpu")
    train_dev = str(trained.get("train_device", "cpu"))
    if train_dev.startswith("cuda") and torch.cuda.is_available():
        record.gpu_name = device_name(train_dev)

    t0 = time.time()
    ev_batch = max(1, min(int(spec.train_args.get("batch", 16)), 32))
    device = spec.train_args.get("device")
    res = evaluate_model(YOLO(str(weights)), spec.data, split=spec.split, imgsz=imgsz, batch=ev_batch, device=device,
                         per_image=run_dir / PER_IMAGE_FILE)  # fmt: skip
    save_metrics(res, run_dir / "metrics.json")
    record.eval_time_s = time.time() - t0
    record.metrics = {k: res.get(k) for k in METRIC_KEYS}
    record.per_class = res.get("per_class", {})
    # classes the scorer left out of a mean (no non-difficult ground truth, undefined AP): the summary lists them
    record.excluded_classes = {k: dict(v) for k, v in (res.get("excluded_classes") or {}).items() if v}
    record.eval_images = res.get("images")
    gt = res.get("ground_truth")
    record.ground_truth = None if gt is None else str(gt)


def run_worker(spec_path: str | Path) -> int:
    """Run one sweep run described by the `RunSpec` file ``spec_path``; return the process exit status."""
    spec = RunSpec.read(spec_path)
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for k, v in (("YOLO_OFFLINE", "1"), ("YOLO_AUTOINSTALL", "False"), ("MPLBACKEND", "Agg")):
        os.environ.setdefault(k, v)
    _install_tee(run_dir / "log.txt")
    _watch_parent()
    if hasattr(signal, "SIGUSR2"):  # Slurm's time-limit / pre-emption warning: the sweep process requeues, not us
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    from yolo_attn.compare.measure import versions

    t0 = time.time()
    record = RunRecord(
        status="failed",
        label=spec.label,
        model=spec.model,
        file=spec.file,
        yaml_sha256=_sha256(spec.file or spec.model),
        seed=spec.seed,
        run_dir=f"runs/{spec.label}/seed{spec.seed}",
        fingerprint=spec.fingerprint,
        slot=spec.slot,
        slurm_job=spec.slurm_job,
        versions=versions(),
        started=now_iso(t0),
        started_at=t0,
    )
    print(
        f"[compare] worker {record.host} pid {os.getpid()} starts {spec.label} seed {spec.seed}"
        + (f" on {spec.slot}" if spec.slot else "")
        + (f" (Slurm {spec.slurm_job})" if spec.slurm_job else "")
        + f", run {record.run_id}",
        flush=True,
    )
    progress = _Progress(spec)
    try:
        from yolo_attn.integration import register

        register()
        trained = _train(spec, run_dir, progress)
        record.train = _train_stats(trained)
        record.train_args = trained.get("args", {})
        _measure_and_score(spec, run_dir, trained, record)
        record.status = "ok"
    except Exception as e:
        record.error = f"{type(e).__name__}: {e}".strip()
        record.traceback = traceback.format_exc()
        print(record.traceback, file=sys.stderr, flush=True)
    record.finished_at = time.time()
    record.finished = now_iso(record.finished_at)
    record.duration_s = record.finished_at - t0
    sys.stdout.flush()
    sys.stderr.flush()
    record.write(run_dir)  # the completion record, written last
    return 0 if record.ok else 1
