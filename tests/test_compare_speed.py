"""compare's speed step (speed.json) and --remeasure: what is timed, in which order, how it is stored and reported.

One tiny sweep (2 models, 1 epoch, 64 px, the session's ``tiny_data`` with a third class that has no ground truth)
feeds the end-to-end tests: speed.json after the sweep, ``--remeasure`` trains nothing and rewrites speed.json and
the reports, ``--report-only`` measures nothing, the call order of the interleaved rounds, the excluded class in the
summary. Unit tests cover the record's round trip and refusal of corrupted files, and the noisy rule (hypothesis on
synthetic times). No assertion depends on how fast anything ran.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from yolo_attn.bench.timing import interleaved_rounds, round_order, spacer_of
from yolo_attn.compare.records import (
    SPEED_FORMAT_VERSION,
    RecordError,
    RunRecord,
    SpeedDevice,
    SpeedRecord,
    SpeedRun,
    SweepSettings,
)
from yolo_attn.compare.speed import NOISY_REL_HALF_WIDTH, is_noisy, measure_speed, stats_of

sys.path.insert(0, str(Path(__file__).parent))
from test_compare import TINY_ATT, TINY_NONE  # noqa: E402  (the same tiny detectors)


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _expected_calls(names: list[str], rounds: int, warmup: int) -> list[str]:
    """The documented call sequence: round r runs ``names`` forward (even r) or reversed (odd r); from the second
    round on, one untimed call of the spacer comes first: the middle model, or with two models the one the round
    does not start with."""
    seq: list[str] = []
    for r in range(warmup + rounds):
        order = names if r % 2 == 0 else names[::-1]
        if r:
            seq.append(order[-1] if len(names) == 2 else names[len(names) // 2])
        seq += order
    return seq


# ----------------------------------------------------------------------------------------------------- the loop


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_interleaved_rounds_call_order(n):
    names = [f"m{i}" for i in range(n)]
    log: list[str] = []
    calls = {k: (lambda k=k: log.append(k)) for k in names}
    wall, cpu = interleaved_rounds(calls, rounds=4, warmup=2)
    assert log == _expected_calls(names, 4, 2)
    assert all(len(wall[k]) == len(cpu[k]) == 4 for k in names)
    if n > 1:  # no model is called twice in a row: the spacer separates a round's last model from the next's first
        assert all(a != b for a, b in zip(log, log[1:], strict=False))
        for r in range(1, 6):
            assert round_order(names, r)[0] == round_order(names, r - 1)[-1] != spacer_of(names, r)


def test_interleaved_rounds_refuses_bad_counts():
    with pytest.raises(ValueError, match="rounds must be an integer >= 1"):
        interleaved_rounds({"a": lambda: None}, rounds=0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        interleaved_rounds({"a": lambda: None}, rounds=3, warmup=-1)
    with pytest.raises(ValueError, match="at least one call"):
        interleaved_rounds({}, rounds=3)


# ----------------------------------------------------------------------------------------------------- noisy rule


@given(
    median=st.floats(1e-3, 1e4),
    below=st.floats(0, 0.5),
    above=st.floats(0, 0.5),
    scale=st.floats(1e-3, 1e3),
)
def test_noisy_is_the_half_width_rule_and_scale_free(median, below, above, scale):
    lo, hi = median * (1 - below), median * (1 + above)
    half = (below + above) / 2
    assume(abs(half - NOISY_REL_HALF_WIDTH) > 1e-6)  # away from the boundary, where rounding decides
    assert is_noisy(median, lo, hi) == (half > NOISY_REL_HALF_WIDTH)
    assert is_noisy(scale * median, scale * lo, scale * hi) == is_noisy(median, lo, hi)


@pytest.mark.parametrize(
    "args", [(0.0, 0.0, 0.0), (-1.0, -2.0, 0.0), (math.nan, 1.0, 2.0), (1.0, 1.1, 1.2), (1.0, 0.9, math.inf)]
)
def test_noisy_when_the_interval_is_meaningless(args):
    assert is_noisy(*args)


@settings(max_examples=60, deadline=None)
@given(
    base_ms=st.floats(0.5, 500),
    ratio=st.floats(0.5, 3.0),
    jitter=st.lists(st.floats(-0.01, 0.01), min_size=10, max_size=40),
)
def test_quiet_synthetic_rounds_are_not_noisy_and_give_the_true_ratio(base_ms, ratio, jitter):
    """Rounds within ±1% of the truth: never noisy (a ±1% spread cannot make a ±5% interval), ratio within 2.1%."""
    base = [base_ms / 1e3 * (1 + j) for j in jitter]
    model = [ratio * base_ms / 1e3 * (1 - j) for j in jitter]
    s = stats_of(model, model, base, base, seed=1)
    assert not s.noisy and s.noisy_why == ""
    assert s.wall_ratio[1] <= s.wall_ratio[0] <= s.wall_ratio[2]
    assert s.wall_ratio[0] == pytest.approx(ratio, rel=0.021)
    assert min(model) * 1e3 <= s.wall_ci_ms[0] <= s.wall_ms <= s.wall_ci_ms[1] <= max(model) * 1e3
    assert s.wall_iqr_ms[0] <= s.wall_ms <= s.wall_iqr_ms[1]


@settings(max_examples=40, deadline=None)
@given(base_ms=st.floats(0.5, 500), n=st.integers(10, 40), factor=st.floats(1.5, 20))
def test_bimodal_rounds_are_noisy(base_ms, n, factor):
    """Half the rounds slowed by a factor >= 1.5 (another process took the core): the interval of the median spans
    both modes, far wider than ±5%, and the measurement says so."""
    fast = base_ms / 1e3
    times = [fast if i % 2 else fast * factor for i in range(n)]
    s = stats_of(times, times, None, None, seed=2)
    assert s.noisy and "wall ms" in s.noisy_why and s.wall_ratio is None


# ----------------------------------------------------------------------------------------------------- the record


def _record() -> SpeedRecord:
    a = stats_of([0.010, 0.011, 0.0105], [0.010, 0.011, 0.0105], None, None)
    b = stats_of([0.012, 0.013, 0.0125], [0.012, 0.013, 0.0125], [0.010, 0.011, 0.0105], [0.010, 0.011, 0.0105])
    dev = SpeedDevice(
        device="cpu",
        name="Test CPU",
        dtype="float32",
        threads=1,
        rounds=3,
        warmup=1,
        baseline="a",
        order=["a", "b"],
        spacer="b",
        models={"a": a, "b": b},
        cpu_per_wall=0.98,
        duration_s=0.1,
    )
    return SpeedRecord(
        imgsz=64,
        runs=[
            SpeedRun(label="a", seed=0, run_id="r1", weights="runs/a/seed0/train/weights/last.pt"),
            SpeedRun(label="b", seed=0, run_id="r2", weights="runs/b/seed0/train/weights/last.pt"),
        ],
        cpu=dev,
        measured="t",
    )


def test_speed_record_round_trips(tmp_path):
    rec = _record()
    path = rec.write(tmp_path)
    assert path.name == "speed.json" and not list(tmp_path.glob(".speed.json.tmp-*"))
    back = SpeedRecord.read(tmp_path)
    assert back == rec and back.format_version == SPEED_FORMAT_VERSION
    assert SpeedRecord.read(tmp_path / "none") is None


def _corrupt(obj: dict, how: str):
    if how == "not-json":
        return "{not json"
    if how == "list":
        return "[]"
    if how == "older":
        obj["format_version"] = 0
    elif how == "newer":
        obj["format_version"] = SPEED_FORMAT_VERSION + 1
    elif how == "no-runs":
        del obj["runs"]
    elif how == "wall-not-number":
        obj["cpu"]["models"]["a"]["wall_ms"] = "fast"
    elif how == "ci-short":
        obj["cpu"]["models"]["b"]["wall_ci_ms"] = [1.0]
    elif how == "negative-time":
        obj["cpu"]["models"]["a"]["wall_ms"] = -1.0
    elif how == "noisy-not-bool":
        obj["cpu"]["models"]["b"]["noisy"] = "no"
    elif how == "order-other-models":
        obj["cpu"]["order"] = ["a", "c"]
    elif how == "no-device":
        obj["cpu"] = None
    elif how == "models-not-object":
        obj["cpu"]["models"] = [1, 2]
    return json.dumps(obj)


CORRUPTIONS = [
    ("not-json", "invalid JSON"),
    ("list", "a JSON list, expected an object"),
    ("older", "format version 0, written by an older"),
    ("newer", "written by a newer"),
    ("no-runs", "field 'runs': missing"),
    ("wall-not-number", "field 'cpu.models.a.wall_ms' = 'fast': Input should be a valid number"),
    ("ci-short", "field 'cpu.models.b.wall_ci_ms' = \\[1.0\\]: List should have at least 2 items"),
    ("noisy-not-bool", "field 'cpu.models.b.noisy' = 'no': Input should be a valid boolean"),
    ("negative-time", "field 'cpu.models.a.wall_ms' = -1.0: Input should be greater than or equal to 0"),
    ("order-other-models", "order, baseline and spacer must name the measured models"),
    ("no-device", "without a cpu or gpu measurement"),
    ("models-not-object", "field 'cpu.models' = \\[1, 2\\]: Input should be a valid dictionary"),
]


@pytest.mark.parametrize("how,msg", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupted_speed_record_is_refused(tmp_path, how, msg):
    path = _record().write(tmp_path)
    path.write_text(_corrupt(json.loads(path.read_text()), how))
    before = path.read_bytes()
    with pytest.raises(RecordError, match=msg) as e:
        SpeedRecord.read(tmp_path)
    assert str(path) in str(e.value) and "--remeasure" in str(e.value)
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------------------------------- the sweep

_SWEEP: dict = {}


@pytest.fixture(scope="module")
def sweep(tiny_data, tmp_path_factory):
    """A finished 2-model sweep on ``tiny_data`` with a third class no image has (the scorer excludes it)."""
    if "out" in _SWEEP:
        return _SWEEP
    from yolo_attn.compare.sweep import compare

    root = tmp_path_factory.mktemp("speed")
    data = root / "data3.yaml"
    base = Path(tiny_data).read_text().split("names:")[0]
    data.write_text(base + "names:\n  0: green\n  1: red\n  2: blue\n")
    files = []
    for name, text in (("tiny-none", TINY_NONE), ("tiny-att", TINY_ATT)):
        (root / f"{name}.yaml").write_text(text)
        files.append(str(root / f"{name}.yaml"))
    out = root / "out"
    lines: list[str] = []
    compare(
        files,
        data,
        epochs=1,
        imgsz=64,
        batch=4,
        device="cpu",
        out=out,
        val=False,
        latency_repeats=5,
        log=lambda *a, **k: lines.append(" ".join(map(str, a))),
    )
    _SWEEP.update(out=out, data=data, files=files, log="\n".join(lines), root=root)
    return _SWEEP


@pytest.mark.slow
def test_sweep_ends_with_one_interleaved_measurement(sweep):
    out = sweep["out"]
    rec = SpeedRecord.read(out)
    assert rec is not None and rec.imgsz == 64 and rec.batch == 1 and rec.gpu is None
    assert [r.label for r in rec.runs] == ["tiny-none", "tiny-att"]
    for r in rec.runs:  # it timed the runs' own scored checkpoints
        run = RunRecord.read(out / "runs" / r.label / "seed0")
        assert r.run_id == run.run_id and r.weights == f"{run.run_dir}/{run.weights}" and run.cpu_latency is None
    cpu = rec.cpu
    assert cpu.order == ["tiny-none", "tiny-att"] and cpu.baseline == "tiny-none" and cpu.threads == 1
    assert (cpu.rounds, cpu.warmup, cpu.dtype) == (5, 3, "float32")
    for label, s in cpu.models.items():
        assert len(s.rounds_wall_ms) == len(s.rounds_cpu_ms) == 5 and s.wall_ms > 0
        assert s.wall_ci_ms[0] <= s.wall_ms <= s.wall_ci_ms[1]
        assert (s.wall_ratio is None) == (label == "tiny-none")
    assert sweep["log"].count("[compare] speed: timing 2 model(s) interleaved") == 1


@pytest.mark.slow
def test_results_csv_and_summary_show_speed_and_spread(sweep):
    import csv

    out = sweep["out"]
    rows = {r["model"]: r for r in csv.DictReader(open(out / "results.csv", newline=""))}
    rec = SpeedRecord.read(out)
    att, none = rows["tiny-att"], rows["tiny-none"]
    s = rec.cpu.models["tiny-att"]
    assert float(att["cpu_latency_ms"]) == s.wall_ms and float(att["cpu_ratio"]) == s.wall_ratio[0]
    assert float(att["cpu_latency_ci_low_ms"]) <= float(att["cpu_latency_ms"]) <= float(att["cpu_latency_ci_high_ms"])
    assert float(att["cpu_ratio_ci_low"]) <= float(att["cpu_ratio"]) <= float(att["cpu_ratio_ci_high"])
    assert att["cpu_noisy"] == str(int(s.noisy)) and att["latency_seed"] == "0" and att["cpu_threads"] == "1"
    assert none["cpu_ratio"] == "1.0" and none["cpu_ratio_ci_low"] == ""
    text = (out / "summary.md").read_text()
    assert "## Speed (all models timed interleaved after training)" in text
    assert "| model | CPU wall ms [95% CI] | IQR ms | process CPU ms | wall ratio to baseline [95% CI] |" in text
    assert f"{s.wall_ratio[0]:.3f} [{s.wall_ratio[1]:.3f}, {s.wall_ratio[2]:.3f}]" in text
    assert "CPU × baseline [95% CI]" in text and "train img/s (indicative)" in text
    assert "**indicative only**" in text and "not a controlled measurement" in text
    assert "wider than ±5% of the value" in text
    assert "- **Training:** 1 epoch, imgsz 64" in text
    assert "this summary shows APs in percent" in text and "hold the same scores as fractions 0–1" in text


@pytest.mark.slow
def test_excluded_classes_reach_the_run_record_and_summary(sweep):
    out = sweep["out"]
    rec = RunRecord.read(out / "runs" / "tiny-none" / "seed0")
    assert "blue" in rec.excluded_classes["voc07_map50"] and "green" not in rec.excluded_classes["voc07_map50"]
    text = (out / "summary.md").read_text()
    assert "## Classes left out of the means" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| blue |"))
    assert "no positive (non-difficult) ground truth" in line and "`voc07_map50`" in line
    assert "`tiny-none` seed 0" in line and "`tiny-att` seed 0" in line


@pytest.mark.slow
def test_interleaved_order_of_the_speed_step(sweep):
    """The real speed step (checkpoints loaded, fused, timed) calls the models in the documented order."""
    out = sweep["out"]
    log: list[str] = []

    def wrap(label, call):
        def recorded():
            log.append(label)
            return call()

        return recorded

    before = _snapshot(out)
    rec = measure_speed(out, SweepSettings.read(out), rounds=4, warmup=2, wrap=wrap)
    assert log == _expected_calls(["tiny-none", "tiny-att"], 4, 2)
    assert rec.cpu.rounds == 4 and rec.cpu.order == ["tiny-none", "tiny-att"]
    assert _snapshot(out) == before  # measure_speed writes nothing


@pytest.mark.slow
def test_report_only_does_not_measure(sweep, tmp_path):
    from yolo_attn.cli import main

    out = sweep["out"]
    before = _snapshot(out)["speed.json"]
    assert main(["compare", "--report-only", "--out", str(out)]) == 0
    assert _snapshot(out)["speed.json"] == before  # bytes and mtime unchanged
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "speed.json").unlink()
    assert main(["compare", "--report-only", "--out", str(copy)]) == 0
    assert not (copy / "speed.json").exists()
    text = (copy / "summary.md").read_text()
    assert "_Not measured yet._" in text and "--remeasure" in text


@pytest.mark.slow
def test_remeasure_trains_nothing_and_rewrites_speed_and_reports(sweep, capsys):
    from yolo_attn.cli import main

    out = sweep["out"]
    runs_before = _snapshot(out / "runs")
    other = _snapshot(out)
    assert main(["compare", "--remeasure", "--out", str(out), "--latency-repeats", "7"]) == 0
    assert _snapshot(out / "runs") == runs_before, "--remeasure changed a run folder"
    after = _snapshot(out)
    for name in ("speed.json", "summary.md", "results.csv", "map_vs_latency.png"):
        assert after[name][0] != other[name][0], f"{name} not rewritten"
    rec = SpeedRecord.read(out)
    assert rec.cpu.rounds == 7 and all(len(s.rounds_wall_ms) == 7 for s in rec.cpu.models.values())
    printed = capsys.readouterr().out
    assert "[compare] speed: timing 2 model(s)" in printed and "worker" not in printed


@pytest.mark.slow
def test_remeasure_refuses_without_finished_runs_or_with_other_settings(sweep, tmp_path, capsys):
    from yolo_attn.cli import main

    out = sweep["out"]
    before = _snapshot(out)
    argv = ["compare", "--remeasure", "--out", str(out)]
    assert main([*argv, "--imgsz", "320", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "imgsz: sweep 64, given 320" in err and "epochs" not in err.split("differ")[1] and "Traceback" not in err
    assert main([*argv, "--report-only"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main([*argv, "--latency-repeats", "2"]) == 2
    assert "--latency-repeats 2: Input should be greater than or equal to 3" in capsys.readouterr().err
    assert _snapshot(out) == before

    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(out / "sweep.json", empty / "sweep.json")  # a sweep whose runs never finished
    assert main(["compare", "--remeasure", "--out", str(empty)]) == 2
    assert "no finished run" in capsys.readouterr().err
    assert sorted(p.name for p in empty.iterdir()) == ["sweep.json"]
    assert main(["compare", "--remeasure", "--out", str(tmp_path / "none")]) == 2
    assert "no compare sweep in" in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.slow
def test_corrupted_speed_json_stops_the_report_with_exit_2(sweep, tmp_path, capsys):
    from yolo_attn.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(sweep["out"], copy)
    (copy / "speed.json").write_text('{"format_version": 1, "imgsz": 64}')
    before = _snapshot(copy)
    assert main(["compare", "--report-only", "--out", str(copy)]) == 2
    err = capsys.readouterr().err
    assert str(copy / "speed.json") in err and "--remeasure" in err and "Traceback" not in err
    assert _snapshot(copy) == before
    assert main(["compare", "--remeasure", "--out", str(copy), "--latency-repeats", "3"]) == 0  # replaces it
    assert SpeedRecord.read(copy).cpu.rounds == 3


@pytest.mark.slow
def test_moved_folder_reports_and_remeasures_from_its_own_files(sweep, tmp_path, capsys):
    """Records store paths relative to the compare folder: a copy elsewhere works on its own files alone."""
    from yolo_attn.cli import main

    copy = tmp_path / "moved" / "copy"
    shutil.copytree(sweep["out"], copy)
    for path in copy.glob("runs/*/seed*/run.json"):  # the paths compare reads back (Ultralytics' own args aside)
        rec = json.loads(path.read_text())
        assert not Path(rec["run_dir"]).is_absolute() and not Path(rec["weights"]).is_absolute(), path
    assert str(sweep["out"]) not in (copy / "speed.json").read_text()
    aside = sweep["out"].with_name("out.aside")
    sweep["out"].rename(aside)  # the original folder is gone while the copy works
    try:
        assert main(["compare", "--report-only", "--out", str(copy)]) == 0
        assert main(["compare", "--remeasure", "--out", str(copy), "--latency-repeats", "3"]) == 0
    finally:
        aside.rename(sweep["out"])
    speed = SpeedRecord.read(copy)
    assert speed.cpu.rounds == 3 and all((copy / r.weights).is_file() for r in speed.runs)
    assert str(sweep["out"]) not in (copy / "speed.json").read_text()


@pytest.mark.slow
def test_resumed_run_is_marked_in_results_and_summary(sweep, tmp_path):
    """A run whose training was resumed after an interruption is marked: ``resumed`` = 1 and a summary section."""
    from yolo_attn.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(sweep["out"], copy)
    rows = list(csv.DictReader((copy / "results.csv").read_text().splitlines()))
    assert [x["resumed"] for x in rows] == ["0", "0"] and "## Resumed runs" not in (copy / "summary.md").read_text()
    path = copy / "runs" / "tiny-att" / "seed0" / "run.json"
    rec = json.loads(path.read_text())
    rec["train"]["resumed"] = True
    path.write_text(json.dumps(rec))
    assert main(["compare", "--report-only", "--out", str(copy)]) == 0
    rows = {x["model"]: x for x in csv.DictReader((copy / "results.csv").read_text().splitlines())}
    assert rows["tiny-att"]["resumed"] == "1" and rows["tiny-none"]["resumed"] == "0"
    assert "## Resumed runs (1)" in (copy / "summary.md").read_text()
