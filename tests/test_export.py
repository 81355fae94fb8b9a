"""ONNX export of every attention module through Ultralytics' path (TorchScript exporter, opset 18).

Static and dynamic (batch, H, W) exports must run in onnxruntime and match eager PyTorch to 1e-4, the dynamic ones
also at sizes never seen at export. Small channel counts keep it fast.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from yolo_attn.nn import ATTENTION_MODULES
from yolo_attn.nn.reference import VARIANTS as REFERENCE_VARIANTS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

VARIANTS = [(name, args) for name in ATTENTION_MODULES for args in REFERENCE_VARIANTS[name]]
IDS = [f"{n}{''.join('-' + str(a) for a in args)}" for n, args in VARIANTS]
DYNAMIC = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 2: "height", 3: "width"}}


def _channels(name: str, args: tuple) -> int:
    """The smallest of 16, 32, 64 channels the variant accepts (EPSA keeping channels needs 64)."""
    for c in (16, 32, 64):
        try:
            with torch.device("meta"):
                ATTENTION_MODULES[name](c, *args)
            return c
        except ValueError:
            pass
    raise AssertionError(f"{name}{args} accepts none of 16, 32, 64 channels")


def build(name: str, args: tuple) -> tuple[torch.nn.Module, int]:
    c = _channels(name, args)
    torch.manual_seed(0)
    m = ATTENTION_MODULES[name](c, *args)
    with torch.no_grad():  # non-trivial weights and statistics, so a dropped op changes the output
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        for k, buf in m.named_buffers():
            if k.endswith("running_mean"):
                buf.normal_(0, 0.3)
            elif k.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return m.eval(), c


def export(m: torch.nn.Module, x: torch.Tensor, path, dynamic: bool) -> ort.InferenceSession:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation notice
        torch.onnx.export(
            m,
            x,
            str(path),
            dynamo=False,
            opset_version=18,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes=DYNAMIC if dynamic else None,
        )
    onnx.checker.check_model(onnx.load(str(path)))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check(sess: ort.InferenceSession, m: torch.nn.Module, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    with torch.no_grad():
        expected = m(x).numpy()
    (got,) = sess.run(None, {"images": x.numpy()})
    assert got.shape == expected.shape, shape
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,args", VARIANTS, ids=IDS)
def test_onnx_static(name, args, tmp_path):
    m, c = build(name, args)
    for hw in (13, 20):
        sess = export(m, torch.randn(1, c, hw, hw), tmp_path / f"static{hw}.onnx", dynamic=False)
        check(sess, m, (1, c, hw, hw))


@pytest.mark.parametrize("name,args", VARIANTS, ids=IDS)
def test_onnx_dynamic_hw(name, args, tmp_path):
    m, c = build(name, args)
    sess = export(m, torch.randn(2, c, 20, 20), tmp_path / "dynamic.onnx", dynamic=True)
    # the export size, then sizes never seen at export: odd, non-square, not multiples of 5, tiny, another batch
    for shape in [(2, c, 20, 20), (1, c, 13, 13), (3, c, 13, 17), (1, c, 7, 31), (2, c, 40, 24), (1, c, 1, 1)]:
        check(sess, m, shape)


def test_groupnorm_exports_and_runs_in_onnxruntime(tmp_path):
    """ELA's GroupNorm (called through torch.group_norm) becomes InstanceNormalization + affine and runs in ORT."""
    m, c = build("ELA", ("S",))
    path = tmp_path / "ela.onnx"
    sess = export(m, torch.randn(2, c, 20, 20), path, dynamic=True)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ops & {"InstanceNormalization", "GroupNormalization"}, sorted(ops)
    check(sess, m, (1, c, 1, 1))  # batch 1, one value per group along a 1-pixel strip
    check(sess, m, (2, c, 9, 14))


def test_mlca_dynamic_graph_has_no_baked_sizes_after_onnxslim(tmp_path):
    """Ultralytics runs onnxslim after export (simplify=True): the slimmed MLCA graph must stay dynamic and exact."""
    onnxslim = pytest.importorskip("onnxslim")
    m, c = build("MLCA", ())
    path = tmp_path / "mlca.onnx"
    export(m, torch.randn(2, c, 20, 20), path, dynamic=True)
    slim = onnxslim.slim(onnx.load(str(path)))
    onnx.save(slim, str(tmp_path / "mlca_slim.onnx"))
    sess = ort.InferenceSession(str(tmp_path / "mlca_slim.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(2, c, 20, 20), (1, c, 13, 17), (3, c, 3, 40)]:
        check(sess, m, shape)


@pytest.mark.parametrize("name,args", [("EMA", ()), ("EMA", (8,)), ("SimAM", (0.1,))], ids=["EMA", "EMA-8", "SimAM"])
def test_size_dependent_graphs_stay_dynamic_after_onnxslim(name, args, tmp_path):
    """EMA splits its strips at H and W and divides by H*W; SimAM divides by n = H*W - 1 (1 on a 1x1 map): after
    Ultralytics' onnxslim pass the dynamic graph must still compute these from the input's shape."""
    onnxslim = pytest.importorskip("onnxslim")
    m, c = build(name, args)
    path = tmp_path / "m.onnx"
    export(m, torch.randn(2, c, 20, 20), path, dynamic=True)
    onnx.save(onnxslim.slim(onnx.load(str(path))), str(tmp_path / "slim.onnx"))
    sess = ort.InferenceSession(str(tmp_path / "slim.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(2, c, 20, 20), (1, c, 13, 17), (3, c, 3, 40), (1, c, 1, 1), (2, c, 1, 7)]:
        check(sess, m, shape)


BATCH_AXIS_OPS = {"aten::cat", "aten::stack"}


@pytest.mark.parametrize("name,args", VARIANTS, ids=IDS)
def test_traced_export_form_is_the_same_function_at_every_size(name, args):
    """The form a converter records (``torch.jit.trace``: TorchScript, PNNX/NCNN, OpenVINO) is the eager function in
    float64 at sizes never traced, and folds nothing into the batch axis (no concat/stack on dim 0, no 5-D tensor)."""
    m, c = build(name, args)
    m = m.double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings
        traced = torch.jit.trace(m, torch.randn(2, c, 20, 20, dtype=torch.float64), check_trace=False)
    for shape in [(2, c, 20, 20), (1, c, 13, 17), (3, c, 40, 25), (1, c, 1, 1)]:
        x = torch.randn(shape, dtype=torch.float64)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), m(x), rtol=1e-10, atol=1e-12)
    for node in traced.inlined_graph.nodes():
        for out in node.outputs():
            sizes = out.type().sizes() if isinstance(out.type(), torch.TensorType) else None
            assert sizes is None or len(sizes) <= 4, f"{name}: a {len(sizes)}-D tensor from {node.kind()}"
        if node.kind() in ("aten::reshape", "aten::view"):  # traced at batch 2: a reshape keeps the batch axis
            before, after = (v.type().sizes() for v in (node.inputsAt(0), node.outputsAt(0)))
            assert before[0] != 2 or after[0] == 2, f"{name}: {node.kind()} {before} -> {after} folds the batch axis"
        if node.kind() in BATCH_AXIS_OPS:
            dim = node.inputsAt(1).toIValue() if node.inputsAt(1).node().kind() == "prim::Constant" else None
            assert dim != 0, f"{name}: {node.kind()} on the batch axis"
