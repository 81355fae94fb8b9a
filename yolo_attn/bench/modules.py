"""Benchmark of the attention modules against their literal transcriptions (prints numbers; never a timed test).

For each module: parameters, MACs at the given input, forward and forward+backward time of ours and of the literal
reference (``yolo_attn.nn.reference``, shipped with the package; or ``--reference PATH``), the speed-ups, and the
largest output difference between the two with shared weights.

Usage:
    python -m yolo_attn.bench                         # CPU: 8,64,40,40 fp32; CUDA: 32,256,80,80 bf16 autocast
    python -m yolo_attn.bench modules --device cuda --shape 32,512,40,40 --modules MLCA ELA
    python -m yolo_attn.bench modules --reference none       # our timings only

Timing: ``warmup`` untimed calls, then up to ``repeats`` timed calls (at least 3; fewer than ``repeats`` once a
measurement has used its time budget), each bracketed by ``torch.cuda.synchronize()`` on CUDA; the median is reported.
Ours and the reference are timed in alternating rounds, so a change of machine load affects both alike. Forward runs
in eval mode under ``torch.no_grad()``; forward+backward runs in train mode
with a gradient for the input and every parameter. Both run under autocast when ``dtype`` is bf16 or fp16, and the
input is then created in that dtype, as the output of a convolution under autocast arrives at an attention module.

MACs are analytic: the multiply-accumulates of every Conv1d/Conv2d/Linear counted from its shapes at this input
(forward hooks), plus one per element for each full pass of a pooling or gating op and for convolutions called
functionally (``AttentionSpec.passes`` in the registry, per input and per output element; e.g. SE 2, CBAM 6, EMA 16
with its folded 3x3 conv, EPSA 2 per output element). It counts what our module computes (for EMA, less than its
literal form; for the others, the same).
The thop column is what Ultralytics' ``model.info()`` GFLOPs sees (``thop.profile``; leaf layers only, so it misses
the tensor ops between layers).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch
import torch.nn as nn

from yolo_attn._io import markdown_table
from yolo_attn.bench.timing import cuda_sync
from yolo_attn.env import device_name
from yolo_attn.nn._common import plain_ops
from yolo_attn.nn.registry import ATTENTION

__all__ = ["format_table", "load_reference", "run_benchmark"]

DEFAULT_SHAPES = {"cpu": (8, 64, 40, 40), "cuda": (32, 256, 80, 80)}
DEFAULT_DTYPES = {"cpu": "fp32", "cuda": "bf16"}
DEFAULT_REPEATS = {"cpu": 10, "cuda": 50}
DEFAULT_WARMUP = {"cpu": 1, "cuda": 10}
DEFAULT_BUDGET_S = {"cpu": 1.0, "cuda": 5.0}  # per measurement: stop repeating past it once 3 timings exist
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_PACKAGE = "package"


def load_reference(path: str | os.PathLike | None = None) -> ModuleType:
    """Return the literal transcriptions: ``yolo_attn.nn.reference``, or a file that defines ``REFERENCES`` and
    ``copy_weights`` the same way.

    Args:
        path (str | os.PathLike | None): Path to another ``reference.py``; None for the package's own.

    Returns:
        (ModuleType): The module.
    """
    if path is None:
        from yolo_attn.nn import reference

        return reference
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference file not found: {path}")
    spec = importlib.util.spec_from_file_location("yolo_attn_bench_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("REFERENCES", "copy_weights"):
        if not hasattr(module, attr):
            raise AttributeError(f"{path} defines no {attr}")
    return module


def build(name: str, c: int) -> nn.Module:
    """Our module ``name`` at ``c`` channels with its default hyperparameters (a conv replacement keeps c channels)."""
    return ATTENTION[name].build(c)


def count_macs(name: str, module: nn.Module, x: torch.Tensor) -> int:
    """Analytic MACs of one forward at x (see the module docstring for the convention)."""
    total = 0

    def hook(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            total += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [
        m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad(), plain_ops():  # fast paths call some convs functionally, past the hooks
            y = module(x)
    finally:
        for h in handles:
            h.remove()
    per_in, per_out = ATTENTION[name].passes
    return total + per_in * x.numel() + per_out * y.numel()


def thop_macs(module: nn.Module, x: torch.Tensor) -> int | None:
    """MACs as thop (Ultralytics' GFLOPs) counts them, or None when thop is not installed."""
    try:
        import thop
    except ImportError:
        return None
    with torch.no_grad():
        macs, _ = thop.profile(copy.deepcopy(module), inputs=(x,), verbose=False)
    return int(macs)


def _median_ms(
    fns: Sequence[Callable[[], object]], device: torch.device, warmup: int, repeats: int, budget_s: float
) -> list[float]:
    """Median ms of each callable, timed in interleaved rounds so that load drifts hit all of them alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    cuda_sync(device)
    times: list[list[float]] = [[] for _ in fns]
    while len(times[0]) < repeats and (len(times[0]) < 3 or sum(map(sum, times)) < budget_s * len(fns)):
        for fn, ts in zip(fns, times, strict=True):
            cuda_sync(device)
            t0 = time.perf_counter()
            fn()
            cuda_sync(device)
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) * 1e3 for ts in times]


def _forward_fn(module: nn.Module, x: torch.Tensor, dtype) -> Callable[[], torch.Tensor]:
    def forward() -> torch.Tensor:
        with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            return module(x)

    return forward


def _forward_backward_fn(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, dtype) -> Callable[[], None]:
    xg = x.detach().clone().requires_grad_()

    def forward_backward() -> None:
        xg.grad = None
        module.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            y = module(xg)
        y.backward(grad.to(y.dtype))

    return forward_backward


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def run_benchmark(
    device: str | torch.device = "auto",
    shape: Sequence[int] | None = None,
    dtype: str | None = None,
    repeats: int | None = None,
    modules: Sequence[str] | None = None,
    reference: str | os.PathLike | None = _PACKAGE,
    warmup: int | None = None,
    seed: int = 0,
    budget_s: float | None = None,
    threads: int | None = None,
) -> list[dict]:
    """Time every attention module (and its literal reference) at one input shape.

    Args:
        device (str | torch.device): 'cpu', 'cuda', 'cuda:1' or 'auto' (CUDA when available).
        shape (Sequence[int] | None): Input (B, C, H, W); default 8,64,40,40 on CPU and 32,256,80,80 on CUDA.
        dtype (str | None): 'fp32', 'bf16' or 'fp16' (the last two under autocast); default fp32 on CPU, bf16 on CUDA.
        repeats (int | None): Timed calls per measurement (median reported); default 10 on CPU, 50 on CUDA.
        modules (Sequence[str] | None): Names from the registry ``yolo_attn.nn.ATTENTION``; default all.
        reference (str | os.PathLike | None): ``"package"`` (default) for ``yolo_attn.nn.reference``, the path of
            another file of literal transcriptions, or None to time ours only.
        warmup (int | None): Untimed calls before timing; default 1 on CPU, 10 on CUDA.
        seed (int): Seed of the weights and inputs.
        budget_s (float | None): Seconds per measurement after which repeating stops once 3 timings exist
            (default 1 on CPU, 5 on CUDA), which keeps slow modules from dominating the run time.
        threads (int | None): CPU intra-op threads for the run (``torch.set_num_threads``); default unchanged. On a
            busy machine 1 thread gives steadier numbers than oversubscribed OpenMP threads.

    Returns:
        (list[dict]): One row per module: module, params, macs, thop_macs, fwd_ms, fwd_ref_ms, fwd_speedup,
            fwd_bwd_ms, fwd_bwd_ref_ms, fwd_bwd_speedup, max_abs_diff, note; plus a ``meta`` dict in every row
            (device, shape, dtype, repeats, warmup, reference path, torch version, threads).

    Examples:
        >>> rows = run_benchmark("cpu", shape=(2, 32, 20, 20), repeats=2, modules=["SE", "MLCA"])
        >>> print(format_table(rows))
    """
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    kind = "cuda" if dev.type == "cuda" else "cpu"
    shape = tuple(int(s) for s in (shape or DEFAULT_SHAPES[kind]))
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"shape must be four positive integers B,C,H,W, got {shape}")
    dtype = dtype or DEFAULT_DTYPES[kind]
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    repeats = repeats or DEFAULT_REPEATS[kind]
    warmup = DEFAULT_WARMUP[kind] if warmup is None else warmup
    budget_s = DEFAULT_BUDGET_S[kind] if budget_s is None else budget_s
    names = list(modules) if modules else list(ATTENTION)
    unknown = [n for n in names if n not in ATTENTION]
    if unknown:
        raise ValueError(f"unknown module(s) {unknown}; valid: {', '.join(ATTENTION)}")
    ref_lib = None if reference is None else load_reference(None if reference == _PACKAGE else reference)
    ref_path = None if ref_lib is None else Path(ref_lib.__file__)
    meta = {
        "device": device_name(dev, torch.get_num_threads(), "torch thread"),
        "shape": shape,
        "dtype": dtype if dtype == "fp32" else f"{dtype} autocast",
        "repeats": repeats,
        "warmup": warmup,
        "budget_s": budget_s,
        "reference": str(ref_path) if ref_path else None,
        "reference_note": None if ref_path else "no reference requested",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }

    cudnn_benchmark, num_threads = torch.backends.cudnn.benchmark, torch.get_num_threads()
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    if threads:
        torch.set_num_threads(threads)
        meta["threads"] = threads
        meta["device"] = device_name(dev, torch.get_num_threads(), "torch thread")
    rows = []
    try:
        for name in names:
            row = _bench_one(name, shape, dev, DTYPES[dtype], repeats, warmup, budget_s, ref_lib, seed)
            rows.append(row | {"meta": meta})
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark
        torch.set_num_threads(num_threads)
    return rows


def _bench_one(name, shape, dev, dtype, repeats, warmup, budget_s, ref_lib, seed) -> dict:
    b, c, h, w = shape
    row = {"module": name}
    torch.manual_seed(seed)
    try:
        ours = build(name, c).to(dev)
    except ValueError as e:
        return row | {"note": f"skipped: {e}"}
    x = torch.randn(shape, device=dev, dtype=dtype or torch.float32)  # under autocast: as a conv would emit it
    row["params"] = sum(p.numel() for p in ours.parameters())
    ref = None
    if ref_lib is not None:  # built and given our weights before any training step changes the BN statistics
        ref = ref_lib.REFERENCES[name](c, c) if ATTENTION[name].changes_channels else ref_lib.REFERENCES[name](c)
        ref = ref_lib.copy_weights(ours, ref.to(dev))
    with torch.no_grad(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
        row["macs"] = count_macs(name, ours.eval(), x)
        row["thop_macs"] = thop_macs(ours, x)
        y = ours.eval()(x)
        if ref is not None:
            row["max_abs_diff"] = (y.float() - ref.eval()(x).float()).abs().max().item()
    grad = torch.randn(y.shape, device=dev)
    mods = [ours] if ref is None else [ours, ref]
    for m in mods:
        m.eval()
    fwd = _median_ms([_forward_fn(m, x, dtype) for m in mods], dev, warmup, repeats, budget_s)
    for m in mods:
        m.train()
    fwd_bwd = _median_ms([_forward_backward_fn(m, x, grad, dtype) for m in mods], dev, warmup, repeats, budget_s)
    row["fwd_ms"], row["fwd_bwd_ms"] = fwd[0], fwd_bwd[0]
    if ref is not None:
        row["fwd_ref_ms"], row["fwd_bwd_ref_ms"] = fwd[1], fwd_bwd[1]
        row["fwd_speedup"] = row["fwd_ref_ms"] / row["fwd_ms"]
        row["fwd_bwd_speedup"] = row["fwd_bwd_ref_ms"] / row["fwd_bwd_ms"]
    return row


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_table(rows: list[dict]) -> str:
    """Render ``run_benchmark`` rows as a Markdown table (plus a one-line header naming the setup).

    Args:
        rows (list[dict]): Rows from ``run_benchmark``.

    Returns:
        (str): Markdown text.
    """
    if not rows:
        return "(no modules)"
    meta = rows[0].get("meta", {})
    lines = []
    if meta:
        shape = "x".join(map(str, meta["shape"]))
        lo, hi = min(3, meta["repeats"]), meta["repeats"]
        calls = f"{hi} call{'s' if hi != 1 else ''}" if lo == hi else f"{lo} to {hi} calls"
        lines.append(
            f"Input {shape}, {meta['dtype']}, median of {calls} ({meta['budget_s']:g} s budget "
            f"each) after {meta['warmup']} warm-up, "
            f"torch {meta['torch']}, {meta['device']}."
        )
        if not meta["reference"]:
            lines.append(f"{meta['reference_note']}: timings of ours only (pass --reference PATH to compare).")
        lines.append("")
    has_ref = any("fwd_ref_ms" in r for r in rows)
    head = ["module", "params", "MMACs", "thop MMACs", "fwd ms"]
    head += ["ref fwd ms", "fwd speed-up"] if has_ref else []
    head += ["fwd+bwd ms"]
    head += ["ref fwd+bwd ms", "fwd+bwd speed-up", "max abs diff"] if has_ref else []
    table = []
    for r in rows:
        if "note" in r:
            table.append([r["module"], r["note"]] + [""] * (len(head) - 2))
            continue
        cells = [r["module"], f"{r['params']:,}", _fmt(r["macs"] / 1e6, ".4g")]
        cells += [_fmt(None if r["thop_macs"] is None else r["thop_macs"] / 1e6, ".4g"), _fmt(r["fwd_ms"], ".3f")]
        if has_ref:
            cells += [_fmt(r.get("fwd_ref_ms"), ".3f"), _fmt(r.get("fwd_speedup"), ".2f") + "x"]
        cells += [_fmt(r["fwd_bwd_ms"], ".3f")]
        if has_ref:
            cells += [_fmt(r.get("fwd_bwd_ref_ms"), ".3f"), _fmt(r.get("fwd_bwd_speedup"), ".2f") + "x"]
            cells += [_fmt(r.get("max_abs_diff"), ".1e")]
        table.append(cells)
    return "\n".join(lines + markdown_table(head, table, "l" + "r" * (len(head) - 1)))
