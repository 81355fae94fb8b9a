"""`yolo-attn export-check` (yolo_attn/deploy.py): bad input, the detection matching, and fault injection on a real
exported ONNX file. The formats beyond ONNX run in CI's export leg (tests_export/, .ci/export)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from yolo_attn import deploy
from yolo_attn.cli import main


@pytest.mark.parametrize(
    "argv, words",
    [
        (["may-nope"], ["may-nope", "models list"]),
        (["may-mlca", "--formats", "onnx,tensorrt"], ["tensorrt", "valid", "ncnn"]),
        (["may-mlca", "--formats", ""], ["--formats", "valid"]),
        (["may-mlca", "--imgsz", "300"], ["--imgsz", "'300'", "multiples of 32"]),
        (["may-mlca", "--images", "0"], ["--images", ">= 1"]),
        (["missing.pt"], ["missing.pt", "not found"]),
        (["may-mlca", "yolov8n-mlca"], ["several families", "may-none", "yolov8n"]),
    ],
)
def test_bad_input_exits_2_naming_the_value(argv, words, capsys, tmp_path):
    try:
        status = main(["export-check", *argv])
    except SystemExit as e:  # a value argparse's own type check refuses (the CLI's one numeric validator)
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)


def test_out_must_be_new_or_empty(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["export-check", "may-mlca", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def _dets(boxes: list[tuple[float, float, float, float, float, int]]) -> torch.Tensor:
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 6)


def _raw_of(dets: torch.Tensor, nc: int = 3) -> torch.Tensor:
    """A raw output (1, 4 + nc, n) holding exactly these detections as candidates."""
    xyxy, score, cls = dets[:, :4], dets[:, 4], dets[:, 5].long()
    xywh = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]), 1)
    scores = torch.zeros(len(dets), nc)
    scores[torch.arange(len(dets)), cls] = score
    return torch.cat((xywh, scores), 1).T[None]


box_st = st.tuples(
    st.floats(0, 200),
    st.floats(0, 200),
    st.floats(10, 100),
    st.floats(10, 100),
    st.floats(0.3, 0.99),
    st.integers(0, 2),
).map(lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3], t[4], t[5]))


@settings(max_examples=50, deadline=None)
@given(st.lists(box_st, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_same_detections_is_order_free_and_sees_a_lost_one(boxes, rnd):
    a = _dets(boxes)
    perm = list(range(len(a)))
    rnd.shuffle(perm)
    b = a[perm]
    assert deploy.same_detections(a, b, _raw_of(a), 1e-4)[0]
    # a detection missing on one side, with a score clear of the threshold and no tied rival: different
    lone = torch.tensor([[500.0, 500.0, 560.0, 560.0, 0.9, 1.0]])
    a2 = torch.cat((a, lone))
    assert not deploy.same_detections(a2, b, _raw_of(a2), 1e-4)[0]


def test_a_tie_at_the_threshold_is_excused():
    a = _dets([(0, 0, 50, 50, 0.9, 0), (100, 100, 150, 150, deploy.CONF + 1e-5, 1)])
    b = a[:1]
    same, ties = deploy.same_detections(a, b, _raw_of(a), 1e-4)
    assert same and ties == 1


@pytest.mark.slow
def test_export_check_onnx_passes_and_a_perturbed_export_fails(tmp_path):
    """The real chain on ONNX: export, compare, pass; then one weight of the exported file scaled by 1.01: fail."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    s = deploy.Settings(("may-mlca",), ("onnx",), (320,), images=2, rounds=3, out=tmp_path / "out")
    rows = deploy.export_check(s)
    table = deploy.format_table(rows)
    assert [r.model for r in rows] == ["may-none", "may-mlca"], table  # the stock control first
    assert [r.status for r in rows] == ["ok", "ok"], table
    assert rows[1].latency and rows[0].dets.endswith("same"), table

    pt = tmp_path / "out" / "may-none.pt"
    good = tmp_path / "out" / "onnx-320" / "may-none.onnx"
    model = onnx.load(str(good))
    init = max(model.graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    w = numpy_helper.to_array(init).copy() * 1.01
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    bad = tmp_path / "perturbed.onnx"
    onnx.save(model, str(bad))
    ref = deploy.backend(pt)
    inputs = deploy._tensor(deploy.sample_images(2, 320), 320)
    box, score, bound, dets, ok = deploy.compare(ref, deploy.backend(bad), inputs, "onnx", deploy.float64_twin(ref))
    assert not ok, f"a 1% weight change passed: box {box}, score {score}, bounds {bound}, {dets}"


def test_bench_runtime_without_its_package_is_bad_input(capsys):
    pytest.importorskip("ultralytics")
    from yolo_attn.runtimes import runtime_version

    missing = [r for r in ("ncnn", "mnn", "openvino", "litert") if runtime_version(r) is None]
    if not missing:  # the export extra is installed here: the error path cannot be reached
        pytest.skip("every runtime of the export extra is installed")
    assert main(["bench", "models", "--runtime", missing[0], "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert missing[0] in err and "yolo-attn[export" in err, err
