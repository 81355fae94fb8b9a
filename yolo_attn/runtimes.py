"""Exported models in their runtimes: Ultralytics' exporter, and each runtime loaded directly for timing.

``yolo-attn export-check`` (``yolo_attn.deploy``) exports through :func:`export`; ``yolo-attn bench models --runtime
openvino|ncnn|mnn|litert`` (``yolo_attn.bench.models``) times the exported file through :func:`runtime_call`, each
runtime given the benchmark's thread count (Ultralytics' AutoBackend picks its own: MNN half the cores at
``precision: low``, OpenVINO its default, which is bf16 on CPUs with AVX512-BF16; here OpenVINO and MNN run FP32).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

__all__ = ["RUNTIMES", "export", "exported_call", "quiet", "runtime_call", "runtime_version"]

#: The runtimes reached here (torch and onnxruntime live in bench/models.py).
RUNTIMES = ("openvino", "ncnn", "mnn", "litert")


def quiet():
    """Silence Ultralytics' and the converters' chatter (stdout/stderr of Python; native logs still pass)."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def export(checkpoint: Path, fmt: str, imgsz: int, dynamic: bool) -> Path:
    """Export with Ultralytics' exporter (``yolo export``); returns the exported file or folder."""
    from ultralytics import YOLO

    with quiet():
        f = YOLO(str(checkpoint)).export(format=fmt, imgsz=imgsz, dynamic=dynamic, device="cpu", batch=1)
    if not f:
        raise RuntimeError(f"Ultralytics' {fmt} export returned no file")
    return Path(f)


def exported_call(model: torch.nn.Module, runtime: str, x: torch.Tensor, folder: Path, threads: int):
    """Export ``model`` (a DetectionModel) with Ultralytics' exporter to ``runtime``'s format; return its timed call."""
    folder.mkdir(parents=True, exist_ok=True)
    pt = folder / "model.pt"
    torch.save({"model": copy.deepcopy(model).float().eval(), "train_args": {}, "date": None, "version": None}, pt)
    os.environ["PIP_NO_INDEX"] = "1"  # MNN's converter would pip-install its usage logger (yolo_attn.deploy.main)
    return runtime_call(export(pt, runtime, x.shape[-1], False), runtime, x, threads)


def runtime_call(path: Path, runtime: str, x: torch.Tensor, threads: int) -> Callable[[], object]:
    """A zero-argument call running the exported model at ``path`` on ``x`` in ``runtime`` with ``threads`` threads."""
    xn = x.numpy()
    if runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        xml = next(Path(path).glob("*.xml"))
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        cm = core.compile_model(core.read_model(xml), "CPU", config)
        req = cm.create_infer_request()
        return lambda: req.infer({0: xn})
    if runtime == "ncnn":
        import ncnn

        net = ncnn.Net()
        net.opt.num_threads = threads
        net.opt.use_vulkan_compute = False
        net.load_param(str(next(Path(path).glob("*.param"))))
        net.load_model(str(next(Path(path).glob("*.bin"))))
        names_in, names_out = net.input_names(), net.output_names()
        mat = ncnn.Mat(xn[0])

        def run_ncnn():
            with net.create_extractor() as ex:
                ex.input(names_in[0], mat)
                return ex.extract(names_out[0])

        return run_ncnn
    if runtime == "mnn":
        import MNN

        rt = MNN.nn.create_runtime_manager(({"precision": "high", "backend": "CPU", "numThread": threads},))
        net = MNN.nn.load_module_from_file(str(path), [], [], runtime_manager=rt, rearrange=True)
        return lambda: net.onForward([MNN.expr.const(xn, xn.shape)])[0].read()
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(str(path), num_threads=threads)
        interp.allocate_tensors()
        i_in, i_out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
        xl = np.ascontiguousarray(xn.transpose(0, 2, 3, 1)) if interp.get_input_details()[0]["shape"][-1] == 3 else xn

        def run_litert():
            interp.set_tensor(i_in, xl)
            interp.invoke()
            return interp.get_tensor(i_out)

        return run_litert
    raise ValueError(f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")


def runtime_version(runtime: str) -> str | None:
    """The installed version of ``runtime``'s package (None when it is not installed)."""
    import importlib.metadata as md

    dist = {"openvino": "openvino", "ncnn": "ncnn", "mnn": "MNN", "litert": "ai-edge-litert"}.get(runtime, runtime)
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None
