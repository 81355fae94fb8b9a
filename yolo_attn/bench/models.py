"""Model-level benchmark: what each attention variant adds to a whole detector (prints numbers; never a timed test).

For one model family of the zoo (``may``, ``mobilenet-yolo``, ``yolov8n``, ``yolo11s``, ...) it builds the
no-attention baseline and every attention variant, and prints per variant: parameters, GFLOPs (thop on the full-size
input, as the README tables), the attention share of the variant's own time, wall and process-CPU time, and the
ratio of its time to the baseline's with a 95% bootstrap interval, next to an A/A control (a second, identical copy
of the baseline measured as if it were a variant), whose ratio shows how much the machine alone moves the numbers.

Usage:
    yolo-attn bench models                                  # MAY at 640, batch 1, fused eval model, PyTorch, CPU
    yolo-attn bench models --family yolov8n --runtime onnxruntime
    yolo-attn bench models --family may --train             # forward + loss + backward, batch 8 at 320
    yolo-attn bench models --variants mlca cbam --rounds 40 --json may.json

Design (a shared machine drifts; a benchmark that visits the baseline between every variant, B V B V ..., drifted
-16% to +11% on its own A/A control where this design held it within +-4%):

- (the loop and the interval: `yolo_attn.bench.timing`, shared with ``yolo-attn compare``'s speed step)
- every model runs once per round; the order is reversed every other round, and the A/A copy runs last in the
  forward order (farthest from the baseline, so its ratio is the noisiest pairing there is); between rounds one
  untimed call of a middle model keeps the reversal from timing a model right after itself (its weights then sit
  in cache: 2-3% faster, which biased every ratio against the baseline at the round boundary);
- each round gives one ratio per variant, ``time(variant) / time(baseline)`` in that round; the table shows the
  median of these per-round ratios over 30+ rounds and a percentile-bootstrap 95% interval of that median;
- wall time and the process's CPU time (``time.process_time``) are both recorded; CPU time is what the process
  itself consumed, so its ratio is less sensitive to other processes taking the CPU away, and ``CPU / wall`` says
  how much of a core the process actually got (well below 1 means the machine was busy);
- PyTorch runs with ``torch.set_num_threads(threads)`` (default 1) and ONNX Runtime with as many intra-op threads;
  CUDA runs synchronise around every timed call and use bf16 autocast (``--dtype``).

Modes: eval (default): the fused model (``model.fuse()``) in eval mode, ``torch.inference_mode``, batch 1 at 640.
``--train``: forward in train mode, Ultralytics' detection loss on a fixed synthetic batch of boxes, and backward
(parameter gradients set to None before each step; no optimizer step), batch 8 at 320. ``--runtime onnxruntime``:
the fused eval model exported to ONNX (TorchScript exporter, opset 18, static shape) and run by ONNX Runtime with
all graph optimisations.

Attention share: the fraction of a variant's time spent inside its attention layers (``yolo_attn.nn.ATTENTION``
classes), measured on separate passes after the timed rounds. Eval PyTorch: forward pre/post hooks around each
attention layer (process CPU time on CPU, synchronised wall time on CUDA; median over ``--share-passes``).
``--train``: by replay, each attention layer's forward and backward re-run on its own on the input it received in
the step (deep copies in train mode, so the model's BatchNorm statistics stay untouched; process CPU time), over
the step's time (the profiler's per-op overhead tripled a MAY step and inflated this share; hooks cannot time a
backward that an in-place activation follows). A replay runs with warm caches, so it can read lower than the
layer's cost inside the model; the interleaved ratio is the arbiter. ONNX Runtime: its profiler, the kernel time of
the nodes exported inside each attention layer (node names carry the module path) over the kernel time of the run.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from yolo_attn._io import markdown_table
from yolo_attn.bench.timing import cuda_sync, interleaved_rounds, median_ci
from yolo_attn.env import device_name, package_version
from yolo_attn.runtimes import runtime_version

__all__ = ["FAMILY_HELP", "ModelSpec", "family_specs", "format_table", "run_benchmark"]

FAMILY_HELP = "may, mobilenet-yolo, or yolov8 / yolo11 / yolo12 / yolo26 with a scale letter (yolov8n, yolo11s, ...)"
RUNTIMES = ("torch", "onnxruntime", "openvino", "ncnn", "mnn", "litert")  # the last four: yolo_attn.runtimes
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULTS = {False: {"imgsz": 640, "batch": 1}, True: {"imgsz": 320, "batch": 8}}  # by --train
AA_NAME = "A/A control"
_HYP = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # Ultralytics' default loss gains (the values do not change the timing)


@dataclass
class ModelSpec:
    """One model of a benchmarked family.

    Attributes:
        name (str): Model name, e.g. ``may-mlca`` or ``yolov8n-mlca`` (the baseline: ``may-none``, ``yolov8n``).
        attention (str): Attention display name, e.g. ``MLCA`` or ``ELA-B``; ``none`` for the baseline.
        data (dict): Ultralytics model dict (deep-copied when built).
        baseline (bool): Whether this is the family's no-attention baseline.
    """

    name: str
    attention: str
    data: dict = field(repr=False)
    baseline: bool = False

    def build(self) -> nn.Module:
        """Build the DetectionModel (training mode, Ultralytics' initialisation)."""
        from yolo_attn.integration.internals import detection_model

        return detection_model(copy.deepcopy(self.data), verbose=False)


def family_specs(family: str) -> list[ModelSpec]:
    """The baseline (first) and the attention variants of a zoo family.

    Args:
        family (str): ``may``, ``mobilenet-yolo``, or ``yolov8``/``yolo11``/``yolo12``/``yolo26`` followed by a scale
            letter n/s/m/l/x.

    Returns:
        (list[ModelSpec]): Baseline first, then the variants in the zoo's order.
    """
    from yolo_attn.integration.internals import yaml_model_load
    from yolo_attn.zoo import zoo_entries

    fam = str(family).strip().lower()
    entries = zoo_entries()
    if fam in ("may", "mobilenet-yolo"):
        label = "MAY" if fam == "may" else "MobileNet-YOLO neck"
        chosen = [e for e in entries if e.family == label]
        specs = [ModelSpec(e.file[:-5], e.attention.display, e.data, e.attention.name is None) for e in chosen]
        return sorted(specs, key=lambda s: not s.baseline)
    for prefix in ("yolov8", "yolo11", "yolo12", "yolo26"):
        if fam.startswith(prefix) and len(fam) == len(prefix) + 1 and fam[-1] in "nslmx":
            scale = fam[-1]
            chosen = [e for e in entries if e.file.startswith(f"{prefix}-")]
            specs = [ModelSpec(fam, "none", yaml_model_load(f"{fam}.yaml"), True)]
            for e in chosen:
                d = copy.deepcopy(e.data)
                d["scale"] = scale
                specs.append(ModelSpec(fam + e.file[len(prefix) : -len(".yaml")], e.attention.display, d))
            return specs
    raise ValueError(f"unknown family {family!r}; valid: {FAMILY_HELP}")


def _select(specs: list[ModelSpec], variants: Sequence[str] | None) -> list[ModelSpec]:
    """The baseline and the variants named in ``variants`` (attention tag, name or model name; case-insensitive)."""
    from yolo_attn.zoo import place_of

    if not variants:  # the placement files (yolo11n-mlca-c3k2, ...) only when named
        return [s for s in specs if place_of(s.name) == "head-in"]
    wanted = {v.strip().lower() for chunk in variants for v in str(chunk).split(",") if v.strip()}
    prefix = specs[0].name.removesuffix("-none") + "-"
    suffixes = [s.name.removeprefix(prefix) for s in specs[1:]]  # cbam, paper-cbam, epsa, epsa-add, ...
    keys = {}
    for s, suffix in zip(specs[1:], suffixes, strict=True):
        for k in (s.name, suffix):
            keys[k.lower()] = s
        keys.setdefault(s.attention.lower(), s)  # MLCA: the first file with it, not a placement file
    from yolo_attn.nn.registry import ATTENTION

    tags = {spec.tag for spec in ATTENTION.values()}
    for s, suffix in zip(specs[1:], suffixes, strict=True):
        for part in suffix.split("-"):
            if part in tags:
                keys.setdefault(part, s)  # a bare tag means the first file with it: cbam -> may-cbam
    unknown = sorted(wanted - set(keys))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; valid: {sorted(suffixes)}")
    picked = {id(keys[w]) for w in wanted}
    return [specs[0]] + [s for s in specs[1:] if id(s) in picked]


# ---------------------------------------------------------------------------------------------------------------------
# What one timed call runs


def _device(device: str) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {device!r}")
    return dev


def _eval_model(model: nn.Module, dev: torch.device) -> nn.Module:
    """A fused eval copy of ``model`` on ``dev`` (what ``yolo predict`` runs)."""
    m = copy.deepcopy(model).float().eval()
    if hasattr(m, "fuse"):
        m = m.fuse(verbose=False)
    return m.to(dev)


def _synthetic_batch(n: int, imgsz: int, nc: int, dev: torch.device, seed: int) -> dict:
    """A fixed batch: random images and 4 boxes per image (normalised xywh), the keys Ultralytics' loss reads."""
    g = torch.Generator().manual_seed(seed)
    boxes = 4
    xy = torch.rand(n * boxes, 2, generator=g) * 0.6 + 0.2
    wh = torch.rand(n * boxes, 2, generator=g) * 0.2 + 0.1
    return {
        "img": torch.rand(n, 3, imgsz, imgsz, generator=g).to(dev),
        "batch_idx": torch.arange(n).repeat_interleave(boxes).float().to(dev),
        "cls": torch.randint(0, max(nc, 1), (n * boxes, 1), generator=g).float().to(dev),
        "bboxes": torch.cat((xy, wh), 1).to(dev),
    }


def _torch_eval_call(model: nn.Module, x: torch.Tensor, dtype) -> Callable[[], None]:
    def call() -> None:
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            model(x)

    return call


def _compiled(model: nn.Module, dev: torch.device) -> nn.Module:
    """``model`` through Ultralytics' own ``attempt_compile`` (what the ``compile=True`` argument runs)."""
    from yolo_attn.integration.internals import attempt_compile

    compiled = attempt_compile(model, dev)
    if compiled is model:
        raise ValueError("--compile: torch.compile is unavailable here (Ultralytics' attempt_compile declined)")
    return compiled


def _torch_train_call(model: nn.Module, batch: dict, dtype, compile: bool = False) -> Callable[[], None]:
    import types

    model.args = types.SimpleNamespace(**_HYP)
    params = [p for p in model.parameters() if p.requires_grad]
    dev = batch["img"].device
    step = _compiled(model, dev) if compile else model.loss  # a compiled model's forward(dict) is its loss

    def call() -> None:
        for p in params:
            p.grad = None
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss, _ = step(batch)
        loss.sum().backward()

    return call


def _export_onnx(model: nn.Module, x: torch.Tensor, path: Path) -> None:
    m = _eval_model(model, torch.device("cpu"))
    m.model[-1].export = True  # Detect returns the decoded tensor only, as Ultralytics' exporter sets it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation notice
        torch.onnx.export(
            m, x.cpu(), str(path), dynamo=False, opset_version=18, input_names=["images"], output_names=["output0"]
        )


def _ort_session(path: Path, threads: int, dev: torch.device, profile_prefix: str | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if dev.type == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), opts, providers=providers)


# ---------------------------------------------------------------------------------------------------------------------
# Attention shares


def _attention_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Attention layers by module path; nested attention inside an attention layer counts once."""
    from yolo_attn.nn.registry import attention_classes

    classes = attention_classes()
    out: dict[str, nn.Module] = {}
    for name, m in model.named_modules():
        if isinstance(m, classes) and not any(name.startswith(p + ".") for p in out):
            out[name] = m
    return out


def _share_eval_hooks(model: nn.Module, call: Callable[[], None], dev: torch.device, passes: int) -> float:
    """Median over ``passes`` calls of (time inside attention layers) / (time of the call), from forward hooks."""
    layers = _attention_layers(model)
    if not layers:
        return 0.0
    inside: list[float] = []
    # CPU: process CPU time, which time taken by other processes does not inflate; CUDA: wall time after a sync
    clock = time.process_time if dev.type == "cpu" else time.perf_counter

    def pre(module, args):
        cuda_sync(dev)
        module._yolo_attn_t0 = clock()

    def post(module, args, out):
        cuda_sync(dev)
        inside.append(clock() - module._yolo_attn_t0)

    handles = [h for m in layers.values() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    shares = []
    try:
        for _ in range(max(1, passes)):
            inside.clear()
            cuda_sync(dev)
            t0 = clock()
            call()
            cuda_sync(dev)
            shares.append(sum(inside) / (clock() - t0))
    finally:
        for h in handles:
            h.remove()
        for m in layers.values():
            m.__dict__.pop("_yolo_attn_t0", None)
    return statistics.median(shares)


def _share_train_replay(model: nn.Module, call: Callable[[], None], dev: torch.device, passes: int, dtype) -> float:
    """Attention share of a training step by replay (see the module docstring): median over ``passes``."""
    layers = _attention_layers(model)
    if not layers:
        return 0.0
    captured: list[tuple[nn.Module, torch.Tensor]] = []

    def grab(module, args):
        captured.append((module, args[0].detach().clone()))

    handles = [m.register_forward_pre_hook(grab) for m in layers.values()]
    try:
        call()
    finally:
        for h in handles:
            h.remove()
    g = torch.Generator(device=dev).manual_seed(0)
    replays = []
    for module, x in captured:
        copy_ = copy.deepcopy(module).train()  # BatchNorm statistics of the model stay untouched
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            y = copy_(x)
        grad = torch.randn(y.shape, generator=g, device=dev, dtype=y.dtype)
        replays.append((copy_, x.requires_grad_(), grad))

    def replay() -> None:
        for m, x, grad in replays:
            x.grad = None
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                y = m(x)
            y.backward(grad)

    clock = time.process_time if dev.type == "cpu" else time.perf_counter
    replay()  # warm
    shares = []
    for _ in range(max(1, passes)):
        cuda_sync(dev)
        t0 = clock()
        call()
        cuda_sync(dev)
        t1 = clock()
        replay()
        cuda_sync(dev)
        shares.append((clock() - t1) / (t1 - t0))
    return statistics.median(shares)


def _onnx_scope(module_path: str) -> str:
    """The node-name scope the TorchScript exporter gives a module: ``model.1.block.att`` -> ``/model.1/block/att/``
    (an index joins its container: ``model.2.m.0.cv1`` -> ``/model.2/m.0/cv1/``)."""
    parts: list[str] = []
    for p in module_path.split("."):
        if p.isdigit() and parts:
            parts[-1] += "." + p
        else:
            parts.append(p)
    return "/" + "/".join(parts) + "/"


def _share_ort(model: nn.Module, path: Path, feed: dict, threads: int, dev: torch.device, passes: int, tmp: Path):
    """Share of ORT kernel time in nodes exported inside attention layers (None when no node can be matched)."""
    scopes = [_onnx_scope(n) for n in _attention_layers(model)]
    if not scopes:
        return 0.0
    sess = _ort_session(path, threads, dev, profile_prefix=str(tmp / "ort_profile"))
    for _ in range(max(1, passes)):
        sess.run(None, feed)
    trace = json.loads(Path(sess.end_profiling()).read_text(encoding="utf-8"))
    inside = total = 0.0
    matched = False
    for ev in trace:
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        total += ev.get("dur", 0)
        if any(s in ev["name"] for s in scopes):
            inside += ev.get("dur", 0)
            matched = True
    return inside / total if matched and total > 0 else None


# ---------------------------------------------------------------------------------------------------------------------
# Statistics


#: Median of per-round values and its percentile-bootstrap 95% interval (shared with ``compare``'s speed step).


# ---------------------------------------------------------------------------------------------------------------------
# The benchmark


def run_benchmark(
    family: str = "may",
    imgsz: int | None = None,
    batch: int | None = None,
    runtime: str = "torch",
    train: bool = False,
    device: str = "cpu",
    threads: int = 1,
    rounds: int = 30,
    warmup: int = 2,
    variants: Sequence[str] | None = None,
    dtype: str | None = None,
    share_passes: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    compile: bool = False,
) -> dict:
    """Measure every model of ``family`` against its no-attention baseline (see the module docstring).

    Args:
        family (str): Zoo family (``FAMILY_HELP``).
        imgsz (int | None): Square input size; default 640 (eval) or 320 (``train``).
        batch (int | None): Batch size; default 1 (eval) or 8 (``train``).
        runtime (str): ``torch`` or ``onnxruntime`` (eval only).
        train (bool): Time a training step (forward + loss + backward) instead of an eval forward.
        device (str): ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        threads (int): CPU threads for PyTorch (``torch.set_num_threads``) and ONNX Runtime (intra-op).
        rounds (int): Timed rounds (each runs every model once); at least 3, 30+ for the README.
        warmup (int): Untimed rounds first.
        variants (Sequence[str] | None): Subset of variants (attention tag or name, e.g. ``mlca``); default all.
        dtype (str | None): ``fp32``, ``bf16`` or ``fp16`` autocast for PyTorch; default fp32 on CPU, bf16 on CUDA.
        share_passes (int): Passes for the attention-share measurement (profiled steps with ``train``).
        seed (int): Seed of the weights, inputs and bootstrap.
        progress (Callable[[str], None] | None): Called with a short status line while running (e.g. ``print``).
        compile (bool): Run every model through ``torch.compile`` as Ultralytics' ``compile=True`` argument does
            (its ``attempt_compile``, inductor); each row gets ``compile_s``, the first call's time (compilation),
            and no attention share (hooks inside a compiled graph measure nothing).

    Returns:
        (dict): ``{"meta": {...}, "rows": [...]}``; one row per model (baseline first, A/A control last) with
            name, attention, params, gflops, share, wall_ms, cpu_ms (medians), rounds_wall_ms and rounds_cpu_ms
            (every round), and for all but the baseline wall_ratio and cpu_ratio as (median, ci_low, ci_high);
            ``meta`` names the setup and the machine.

    Examples:
        >>> result = run_benchmark("may", imgsz=128, rounds=5, variants=["mlca"])
        >>> print(format_table(result))
    """
    from yolo_attn.zoo import profile_model

    say = progress or (lambda s: None)
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if train and runtime != "torch":
        raise ValueError("--train needs the torch runtime (ONNX Runtime runs inference only)")
    if compile and runtime != "torch":
        raise ValueError("--compile needs the torch runtime (torch.compile)")
    if runtime not in ("torch", "onnxruntime") and runtime_version(runtime) is None:
        extra = "export-litert" if runtime == "litert" else "export"
        raise ValueError(f"--runtime {runtime} needs its package installed: pip install 'yolo-attn[{extra}]'")
    imgsz = DEFAULTS[train]["imgsz"] if imgsz is None else imgsz
    batch = DEFAULTS[train]["batch"] if batch is None else batch
    checks = (("imgsz", imgsz, 32), ("batch", batch, 1), ("threads", threads, 1), ("rounds", rounds, 3),
              ("warmup", warmup, 0), ("share_passes", share_passes, 1))  # fmt: skip
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if imgsz % 32:
        raise ValueError(f"imgsz must be a multiple of 32 (the largest stride), got {imgsz}")
    if train and batch < 2:
        raise ValueError(f"--train needs batch >= 2 (BatchNorm trains on more than one value), got {batch}")
    dev = _device(device)
    dtype = dtype or ("bf16" if dev.type == "cuda" else "fp32")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    amp = DTYPES[dtype]
    specs = _select(family_specs(family), variants)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="yolo_attn_bench_") as tmpdir:
            return _run(specs, family, imgsz, batch, runtime, train, dev, threads, rounds, warmup, dtype, amp,
                        share_passes, seed, Path(tmpdir), say, profile_model, compile)  # fmt: skip
    finally:
        torch.set_num_threads(old_threads)


def _run(specs, family, imgsz, batch, runtime, train, dev, threads, rounds, warmup, dtype, amp, share_passes, seed,
         tmp, say, profile_model, compile=False) -> dict:  # fmt: skip
    names = [s.name for s in specs] + [AA_NAME]
    built, calls, rows = {}, {}, {}
    for s in specs:
        say(f"building {s.name}")
        torch.manual_seed(seed)
        built[s.name] = s.build()
        params, gflops = profile_model(built[s.name], imgsz)
        rows[s.name] = {"name": s.name, "attention": s.attention, "params": params, "gflops": gflops}
    rows[AA_NAME] = dict(rows[specs[0].name], name=AA_NAME, attention="none (baseline again)")
    built[AA_NAME] = copy.deepcopy(built[specs[0].name])

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, imgsz, imgsz, generator=g)
    feeds, paths, runners = {}, {}, {}
    for n in names:
        if runtime == "onnxruntime":
            src = specs[0].name if n == AA_NAME else n
            paths[n] = tmp / f"{src}.onnx"
            if not paths[n].exists():
                say(f"exporting {src} to ONNX")
                _export_onnx(built[src], x, paths[n])
            sess = _ort_session(paths[n], threads, dev)
            feed = {"images": x.numpy()}
            feeds[n] = feed
            runners[n] = sess
            calls[n] = lambda sess=sess, feed=feed: sess.run(None, feed)
        elif runtime != "torch":  # exported by Ultralytics' exporter, run by the runtime itself (yolo_attn.runtimes)
            from yolo_attn.runtimes import exported_call

            say(f"exporting {n} to {runtime}")
            src = specs[0].name if n == AA_NAME else n
            calls[n] = exported_call(_eval_model(built[src], torch.device("cpu")), runtime, x, tmp / n, threads)
        elif train:
            m = built[n].to(dev).train()
            runners[n] = m
            calls[n] = _torch_train_call(m, _synthetic_batch(batch, imgsz, m.model[-1].nc, dev, seed), amp, compile)
        else:
            m = _eval_model(built[n], dev)
            runners[n] = m
            calls[n] = _torch_eval_call(_compiled(m, dev) if compile else m, x.to(dev), amp)
        if compile:
            say(f"compiling {n}")
            start = time.perf_counter()
            calls[n]()
            cuda_sync(dev)
            rows[n]["compile_s"] = round(time.perf_counter() - start, 1)

    wall, cpu = interleaved_rounds(calls, rounds, warmup, sync=lambda: cuda_sync(dev), progress=say)

    base = specs[0].name
    for i, n in enumerate(names):
        row = rows[n]
        row["wall_ms"] = statistics.median(wall[n]) * 1e3
        row["cpu_ms"] = statistics.median(cpu[n]) * 1e3
        row["rounds_wall_ms"] = [round(t * 1e3, 4) for t in wall[n]]  # per round, in timing order
        row["rounds_cpu_ms"] = [round(t * 1e3, 4) for t in cpu[n]]
        if n != base:
            row["wall_ratio"] = median_ci([a / b for a, b in zip(wall[n], wall[base], strict=True)], seed + i)
            row["cpu_ratio"] = median_ci([a / b for a, b in zip(cpu[n], cpu[base], strict=True) if b > 0], seed + i)
        say(f"attention share of {n}")
        if compile:
            row["share"] = None
        elif runtime == "onnxruntime":
            src = base if n == AA_NAME else n
            row["share"] = _share_ort(built[src], paths[n], feeds[n], threads, dev, share_passes, tmp)
        elif runtime != "torch":
            row["share"] = None  # no per-layer profile through these runtimes
        elif train:
            row["share"] = _share_train_replay(runners[n], calls[n], dev, share_passes, amp)
        else:
            row["share"] = _share_eval_hooks(runners[n], calls[n], dev, share_passes)

    all_wall = sum(sum(v) for v in wall.values())
    meta = {
        "family": family,
        "runtime": runtime,
        "mode": ("train step (forward + loss + backward)" if train else "eval forward (fused)")
        + (", torch.compile" if compile else ""),
        "imgsz": imgsz,
        "batch": batch,
        "device": device_name(dev, threads),
        "dtype": dtype if dtype == "fp32" or runtime != "torch" else f"{dtype} autocast",
        "threads": threads,
        "rounds": rounds,
        "warmup": warmup,
        "cpu_per_wall": sum(sum(v) for v in cpu.values()) / all_wall if all_wall > 0 else float("nan"),
        "torch": torch.__version__,
        "onnxruntime": package_version("onnxruntime") if runtime == "onnxruntime" else None,
        "runtime_version": None if runtime in ("torch", "onnxruntime") else runtime_version(runtime),
        "python": sys.version.split()[0],
    }
    return {"meta": meta, "rows": [rows[n] for n in names]}


# ---------------------------------------------------------------------------------------------------------------------
# Output


def _ratio(r: tuple[float, float, float] | None) -> str:
    if r is None:
        return "1 (ref.)"
    return f"{r[0]:.3f} [{r[1]:.3f}, {r[2]:.3f}]"


def format_table(result: dict) -> str:
    """Render ``run_benchmark``'s result as a Markdown table with a header naming the setup and a noise note.

    Args:
        result (dict): What ``run_benchmark`` returned.

    Returns:
        (str): Markdown text.
    """
    meta, rows = result["meta"], result["rows"]
    lines = [
        f"{meta['family']}: {meta['mode']}, {meta['runtime']}"
        + f" {meta.get('runtime_version') or meta.get('onnxruntime') or meta['torch']}"
        + f", {meta['batch']}x3x{meta['imgsz']}x{meta['imgsz']}, {meta['dtype']}, {meta['device']}; "
        f"{meta['rounds']} interleaved rounds after {meta['warmup']} warm-up (order reversed every other round).",
        "",
    ]
    head = ["model", "attention", "params", "GFLOPs", "att. share", "wall ms", "CPU ms"]
    head += ["wall ratio [95% CI]", "CPU ratio [95% CI]"]
    table = [
        [r["name"], r["attention"], f"{r['params']:,}", f"{r['gflops']:.2f}"]
        + ["-" if r.get("share") is None else f"{100 * r['share']:.1f}%", f"{r['wall_ms']:.1f}", f"{r['cpu_ms']:.1f}"]
        + [_ratio(r.get("wall_ratio")), _ratio(r.get("cpu_ratio"))]
        for r in rows
    ]
    lines += markdown_table(head, table, "llrrrrrrr")
    aa = next((r for r in rows if r["name"] == AA_NAME), None)
    lines.append("")
    note = (
        "Ratios: median over rounds of time(model) / time(baseline) in the same round, with a 95% percentile "
        "bootstrap interval. Attention share: time inside the attention layers / the model's time"
        + (
            " (train: each attention layer's forward+backward replayed on its step input)"
            if "train" in meta["mode"]
            else ""
        )
        + "."
    )
    lines.append(note)
    if any("compile_s" in r for r in rows):
        lines.append(
            "Compile time (torch.compile, first call): "
            + ", ".join(f"{r['name']} {r['compile_s']:.0f} s" for r in rows)
            + "."
        )
    if aa is not None:
        w = aa["wall_ratio"]
        lines.append(
            f"Noise: the A/A control (the baseline measured again as a variant) reads {w[0]:.3f} "
            f"[{w[1]:.3f}, {w[2]:.3f}] on wall time; the process used {meta['cpu_per_wall']:.2f} CPU-seconds per "
            "wall-second while timed"
            + (" (a busy machine: prefer the CPU ratios and rerun when quiet)." if meta["cpu_per_wall"] < 0.9 else ".")
        )
    return "\n".join(lines)
