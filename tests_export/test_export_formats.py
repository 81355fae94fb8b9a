"""CI's export leg (issue 23 item 4): MAY models through Ultralytics' exporter in every CI format, compared with PyTorch.

Needs the `export` extra (.ci/export installs it into its own venv and runs this file). It lives outside `tests/` so
`make test` never collects it; here every package is present and every test runs (no skips). Each format checks
the stock MAY first (``yolo_attn.deploy.export_check`` orders it so): a format that fails on the stock model fails
the stock test, never a module's.

Environment: YOLO_ATTN_EXPORT_FORMATS (default torchscript,onnx,ncnn,mnn), YOLO_ATTN_EXPORT_SIZES (default 320),
YOLO_ATTN_EXPORT_MODELS (default every MAY model).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo_attn_cfg_"))

import pytest  # noqa: E402

from yolo_attn import deploy  # noqa: E402
from yolo_attn.zoo import zoo_entries  # noqa: E402

FORMATS = os.environ.get("YOLO_ATTN_EXPORT_FORMATS", "torchscript,onnx,ncnn,mnn").split(",")
SIZES = [int(v) for v in os.environ.get("YOLO_ATTN_EXPORT_SIZES", "320").split(",")]
ALL_MAY = [e.file.removesuffix(".yaml") for e in zoo_entries() if e.family == "MAY"]
MODELS = os.environ.get("YOLO_ATTN_EXPORT_MODELS", ",".join(m for m in ALL_MAY if m != "may-none")).split(",")
#: Pairs export-check finds wrong with today's modules' export forms (issue 23 item 1): strict, so the test fails
#: the day a pair is fixed and the entry must go. Measured 2026-12-07 after the export forms landed (README, Deployment).
KNOWN = {
    ("may-cbam", "ncnn"): "NCNN output wrong: 1.1e1 px, scores 4.4e-3 off at 320 (issue 23: CBAM's export form)",
    ("may-paper-cbam", "ncnn"): "NCNN output wrong: 5.3 px, scores 2.3e-3 off at 320 (issue 23: CBAM's export form)",
    ("may-mbse", "ncnn"): "NCNN over the bound: 0.60 px (bound 6e-2), scores 1.1e-3, same detections (issue 23)",
    ("may-se", "ncnn"): "NCNN over the bound: 5.4e-2 px (bound 2e-2), scores 3.9e-5, same detections (issue 23)",
    ("may-epsa-add", "mnn"): "MNN over the bound: 3.8e-2 px (bound 8e-3), scores 1.8e-4 (1e-4), same detections",
    **{
        ("may-coordatt", f): "detections differ in every format, PyTorch's own float32 error is 15 px (bound 6e1 px)"
        for f in ("torchscript", "onnx", "ncnn", "mnn")
    },
}


@pytest.fixture(scope="module", params=SIZES, ids=lambda v: f"{v}px")
def matrix(request) -> dict[tuple[str, str], deploy.CheckRow]:
    s = deploy.Settings(tuple(MODELS), tuple(FORMATS), (request.param,), images=2, rounds=0)
    rows = deploy.export_check(s, say=lambda m: print(m, flush=True))
    print(deploy.format_table(rows))
    return {(r.model, r.format): r for r in rows}


@pytest.mark.parametrize("fmt", FORMATS)
def test_stock_may(matrix, fmt):
    row = matrix[("may-none", fmt)]
    assert row.status == "ok", f"stock may-none in {fmt}: {row}"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", MODELS)
def test_may_variant(matrix, model, fmt, request):
    if (model, fmt) in KNOWN:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN[(model, fmt)]))
    row = matrix[(model, fmt)]
    assert row.status == "ok", f"{model} in {fmt}: {row}"


def test_dynamic_onnx_torchscript():
    """Dynamic export (batch, H, W) where the format runs it: compared at the export size and 64 px larger."""
    s = deploy.Settings(("may-mlca",), ("torchscript", "onnx"), (320,), dynamic=True, images=2, rounds=0)
    rows = deploy.export_check(s)
    assert all(r.dynamic for r in rows), rows
    assert [r.status for r in rows] == ["ok"] * 4, deploy.format_table(rows)


@pytest.mark.parametrize("runtime", ["openvino", "ncnn", "mnn"])
def test_bench_models_runtime(runtime):
    """`bench models --runtime X`: the exported baseline and a variant timed in the runtime itself."""
    from yolo_attn.bench import models as bench

    result = bench.run_benchmark("may", imgsz=64, runtime=runtime, rounds=3, warmup=0, variants=["eca"])
    rows = {r["name"]: r for r in result["rows"]}
    assert result["meta"]["runtime_version"], result["meta"]
    assert rows["may-eca"]["wall_ms"] > 0 and rows["may-eca"]["wall_ratio"][0] > 0, rows
