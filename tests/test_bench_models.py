"""``yolo-attn bench models``: the structure and arithmetic of its output (never its timings).

Tiny inputs (64-128 px, 3 rounds) keep each run to seconds; what is asserted holds at any size: the families resolve
to the zoo's files, every row carries its numbers, ratios come with intervals that contain them, the A/A control is
the baseline again, shares are fractions found where attention layers exist and nowhere else, and bad arguments exit
2 with a message naming the value and the valid choices.
"""

from __future__ import annotations

import json

import pytest
import torch

from yolo_attn import cli
from yolo_attn.bench import models as bench
from yolo_attn.bench.timing import median_ci
from yolo_attn.nn import MLCA


def test_may_family_is_the_zoo_may_set_with_the_baseline_first():
    specs = bench.family_specs("may")
    assert specs[0].name == "may-none" and specs[0].baseline and specs[0].attention.startswith("none")
    names = [s.name for s in specs]
    assert {"may-mlca", "may-cbam", "may-coordatt", "may-ela", "may-eca", "may-mbse"} <= set(names)
    assert not any(s.baseline for s in specs[1:])


def test_yolov8n_family_builds_at_scale_n_against_the_stock_model():
    specs = bench.family_specs("yolov8n")
    assert specs[0].name == "yolov8n" and specs[0].baseline
    assert {s.name for s in specs[1:]} >= {"yolov8n-mlca", "yolov8n-cbam", "yolov8n-ela"}
    base = specs[0].build()
    mlca = next(s for s in specs if s.name == "yolov8n-mlca").build()
    n_base = sum(p.numel() for p in base.parameters())
    assert n_base == 3_157_200  # Ultralytics' yolov8n.yaml with nc 80
    assert sum(p.numel() for p in mlca.parameters()) - n_base == sum(  # only the three MLCA layers are added
        p.numel() for m in mlca.modules() if isinstance(m, MLCA) for p in m.parameters()
    )


@pytest.mark.parametrize("family", ["yolov8q", "yolov9n", "resnet", ""])
def test_unknown_family_names_the_valid_ones(family):
    with pytest.raises(ValueError, match="unknown family") as e:
        bench.family_specs(family)
    assert "may" in str(e.value) and "yolov8n" in str(e.value)


def test_median_ci_brackets_the_median_and_is_reproducible():
    values = [1.0, 1.1, 0.9, 1.05, 0.95, 1.2, 1.0]
    med, lo, hi = median_ci(values, seed=3)
    assert med == 1.0 and lo <= med <= hi and min(values) <= lo and hi <= max(values)
    assert median_ci(values, seed=3) == (med, lo, hi)
    assert median_ci([2.0] * 5, seed=0) == (2.0, 2.0, 2.0)


def test_onnx_scope_follows_the_exporter_naming():
    assert bench._onnx_scope("model.1.block.att") == "/model.1/block/att/"
    assert bench._onnx_scope("model.2.m.0.cv1") == "/model.2/m.0/cv1/"
    assert bench._onnx_scope("model.22") == "/model.22/"


def _check_result(result: dict, names: list[str], attention_rows: set[str]) -> None:
    rows = result["rows"]
    assert [r["name"] for r in rows] == names
    base, aa = rows[0], rows[-1]
    assert "wall_ratio" not in base and "cpu_ratio" not in base
    assert aa["name"] == bench.AA_NAME and aa["params"] == base["params"] and aa["gflops"] == base["gflops"]
    for r in rows:
        assert r["params"] > 0 and r["gflops"] > 0 and r["wall_ms"] > 0 and r["cpu_ms"] >= 0
        assert len(r["rounds_wall_ms"]) == len(r["rounds_cpu_ms"]) == 3
        assert r["wall_ms"] == pytest.approx(sorted(r["rounds_wall_ms"])[1], rel=1e-3)  # the median of 3 rounds
        for key in ("wall_ratio", "cpu_ratio"):
            if r is not base:
                med, lo, hi = r[key]
                assert 0 < lo <= med <= hi, (r["name"], key, r[key])
        if r["name"] in attention_rows:
            assert r["share"] is not None and 0 < r["share"] < 1, (r["name"], r["share"])
        else:
            assert r["share"] == 0.0, (r["name"], r["share"])
    meta = result["meta"]
    assert meta["rounds"] == 3 and meta["threads"] == 1 and 0 < meta["cpu_per_wall"] <= 1.5
    table = bench.format_table(result)
    assert "| model | attention | params | GFLOPs | att. share |" in table and "A/A control" in table
    assert all(f"| {n} |" in table for n in names)


@pytest.mark.slow
def test_eval_torch_rows_ratios_and_shares():
    result = bench.run_benchmark("may", imgsz=64, rounds=3, warmup=0, variants=["mlca", "cbam"], share_passes=1)
    _check_result(result, ["may-none", "may-cbam", "may-mlca", bench.AA_NAME], {"may-cbam", "may-mlca"})
    by = {r["name"]: r for r in result["rows"]}
    assert by["may-mlca"]["params"] - by["may-none"]["params"] == 78  # 2 Conv1d(k) per slot, k 3 or 5
    assert torch.get_num_threads() >= 1  # restored after the run


@pytest.mark.slow
def test_train_step_rows_and_profiler_share():
    result = bench.run_benchmark("yolov8n", imgsz=64, batch=2, train=True, rounds=3, warmup=1, variants=["eca"],
                                 share_passes=1)  # fmt: skip
    _check_result(result, ["yolov8n", "yolov8n-eca", bench.AA_NAME], {"yolov8n-eca"})
    assert result["meta"]["mode"].startswith("train step") and result["meta"]["batch"] == 2


@pytest.mark.slow
def test_may_train_step_through_the_hand_written_backwards():
    """At 160 px every MAY attention map is a multiple of 5: MLCA and CBAM train through their custom Functions,
    followed by the blocks' in-place activations."""
    result = bench.run_benchmark("may", imgsz=160, batch=2, train=True, rounds=3, warmup=0, variants=["mlca", "cbam"],
                                 share_passes=1)  # fmt: skip
    _check_result(result, ["may-none", "may-cbam", "may-mlca", bench.AA_NAME], {"may-cbam", "may-mlca"})


@pytest.mark.slow
def test_onnxruntime_rows_and_share_from_node_names():
    pytest.importorskip("onnxruntime")
    result = bench.run_benchmark("may", imgsz=64, runtime="onnxruntime", rounds=3, warmup=0, variants=["eca"],
                                 share_passes=1)  # fmt: skip
    _check_result(result, ["may-none", "may-eca", bench.AA_NAME], {"may-eca"})
    assert result["meta"]["onnxruntime"]


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "may.json"
    argv = ["--imgsz", "64", "--rounds", "3", "--warmup", "0", "--variants", "eca", "--share-passes", "1"]
    assert cli.main(["bench", "models", *argv, "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "may-eca" in printed and "Noise: the A/A control" in printed
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["rows"]] == ["may-none", "may-eca", bench.AA_NAME]
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    "argv,needles",
    [
        (["--family", "yolov8q"], ["unknown family 'yolov8q'", "yolov8n"]),
        (["--runtime", "tensorrt"], ["runtime", "'tensorrt'", "torch", "onnxruntime"]),
        (["--train", "--runtime", "onnxruntime"], ["--train", "torch runtime"]),
        (["--compile", "--runtime", "onnxruntime"], ["--compile", "torch runtime"]),
        (["--rounds", "2"], ["rounds", ">= 3", "2"]),
        (["--imgsz", "100"], ["imgsz", "multiple of 32", "100"]),
        (["--train", "--batch", "1"], ["batch >= 2", "1"]),
        (["--variants", "mlac"], ["unknown variant", "'mlac'", "mlca"]),
        (["--dtype", "fp8"], ["dtype", "'fp8'", "bf16"]),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(argv, needles, capsys):
    assert cli.main(["bench", "models", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, (needle, err)


def test_passes_locates_the_slots_and_counts_in_passes():
    from yolo_attn.bench.passes import format_passes, measure_passes, slot_shapes

    shapes = slot_shapes("may", 1, 64)
    assert [s[1] for s in shapes] == [16, 96, 240, 240, 120, 144, 288, 576, 576]  # MAY's nine SE-slot widths
    result = measure_passes("may", "eval", calls=1)
    assert result["pass_ms"] > 0 and result["shapes"][0] == (1, 16, 160, 160)
    mods = result["modules"]
    assert "EPSA" not in mods and mods["ELA"]["slots"] == 8 and mods["MLCA"]["slots"] == 9  # ELA-B skips width 120
    assert all(r["ms"] > 0 and r["passes"] == pytest.approx(r["ms"] / result["pass_ms"]) for r in mods.values())
    assert "| CBAM | 9 |" in format_passes(result)
    with pytest.raises(ValueError, match="mode"):
        measure_passes("may", "infer")
