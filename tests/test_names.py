"""Model names round-trip: every label a sweep prints is accepted back as ``--models`` and means the same model; an
entry that names no model is an argument error (exit status 2) with the closest names, raised before anything is
written (no --out folder, no generated dataset)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from yolo_attn.cli import main as yolo_attn_main
from yolo_attn.compare import models as cmodels

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "cfg" / "models"

# Every named set and a spread of single names: the zoo's files, scaled YOLO variants and Ultralytics' stock models.
SETS = ["may", "may-demo", "mobilenet-neck", "yolov8-all", "yolov8s-all", "yolo11m-all", "yolo12s-all", "yolo26x-all"]
NAMES = [
    "may-none",
    "may-mlca",
    "may-mlca.yaml",
    "mobilenet-yolo-eca",
    "yolov8s-mlca",
    "yolo11n-ela.yaml",
    "yolov8s",
    "yolov8s.yaml",
    "yolo11m",
    "yolov10n",
    "rtdetr-l",
    "yolov8-p2",
    "cfg/models/may-eca.yaml",
    "cfg/models/yolov8l-cbam.yaml",
]


def _key(spec: cmodels.ModelSpec) -> tuple[str, str, str]:
    return spec.label, spec.model, spec.file


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("entry", SETS + NAMES)
def test_labels_resolve_back_to_the_same_models(entry):
    """resolve(labels of resolve(x)) == resolve(x), label for label, model for model, file for file."""
    specs = cmodels.resolve_models([entry])
    assert specs and all(Path(s.file).is_file() for s in specs)
    again = cmodels.resolve_models([s.label for s in specs])
    assert [_key(s) for s in again] == [_key(s) for s in specs]
    for s in specs:  # and each label alone, as a user would copy one from a table
        assert [_key(x) for x in cmodels.resolve_models(s.label)] == [_key(s)]


def test_every_zoo_file_and_scale_round_trips():
    stems = sorted(p.stem for p in ZOO.glob("*.yaml"))
    assert len(stems) >= 30
    names = stems + [f"{fam}{s}-{stem.split('-', 1)[1]}" for stem in stems for fam in ("yolov8", "yolo11") for s in
                     "nslmx" if stem.startswith(f"{fam}-")]  # fmt: skip
    specs = cmodels.resolve_models(names)
    assert [s.label for s in specs] == names  # a name is its own label
    assert [_key(s) for s in cmodels.resolve_models([s.label for s in specs])] == [_key(s) for s in specs]
    scaled = {s.label: s for s in specs}["yolo11m-mlca"]
    assert scaled.model == str(ZOO / "yolo11m-mlca.yaml") and scaled.file == str(ZOO / "yolo11-mlca.yaml")


def test_a_name_and_its_path_are_one_model():
    specs = cmodels.resolve_models(
        ["may-mlca", "cfg/models/may-mlca.yaml", str(ZOO / "may-mlca.yaml"), "may-mlca.yaml"]
    )
    assert [s.label for s in specs] == ["may-mlca"]


def test_stock_name_is_the_model_and_the_set_is_spelled_apart():
    """``yolov8s`` (the label of the stock model in a table) is that model alone; the family set is ``yolov8s-all``."""
    (stock,) = cmodels.resolve_models("yolov8s")
    assert stock.model == "yolov8s.yaml" and stock.file.endswith("v8/yolov8.yaml")
    family = cmodels.resolve_models("yolov8s-all")
    assert family[0] == stock and len(family) > 5
    assert all(s.label.startswith("yolov8s-") for s in family[1:])
    assert cmodels.default_baseline(family) == "yolov8s"


def test_labels_of_local_files_round_trip(tmp_path, monkeypatch):
    """A YAML of the working directory (label: its stem) and two files with the same stem in different folders
    (the second is labelled ``<folder>__<stem>``)."""
    monkeypatch.chdir(tmp_path)
    text = (ZOO / "may-none.yaml").read_text()
    for rel in ("mine.yaml", "a/net.yaml", "b/net.yaml"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(text)
    specs = cmodels.resolve_models(["mine.yaml", "a/net.yaml", "b/net.yaml"])
    assert [s.label for s in specs] == ["mine", "net", "b__net"]
    assert [_key(s) for s in cmodels.resolve_models(["mine", "b__net"])] == [_key(specs[0]), _key(specs[2])]
    # a YAML outside the working directory and the zoo is named by its stem but must be given by its path
    with pytest.raises(ValueError, match="given by its path"):
        cmodels.resolve_models("net")


@pytest.mark.parametrize(
    "entry, suggestion",
    [
        ("may-nonee", "may-none"),
        ("may_mlca", "may-mlca"),
        ("yolov8s-mlcaa", "yolov8s-mlca"),
        ("yolo11-all-s", "yolo11s-all"),
        ("cfg/models/may-mlka.yaml", "cfg/models/may-mlca.yaml"),
        ("mobilenet-yolo-cba", "mobilenet-yolo-cbam"),
    ],
)
def test_unknown_model_is_a_value_error_with_the_closest_names(entry, suggestion):
    with pytest.raises(ValueError, match="Did you mean") as e:
        cmodels.resolve_models(["may-none", entry])
    msg = str(e.value)
    assert repr(entry) in msg or entry in msg
    assert suggestion in msg.split("Did you mean:", 1)[1]
    with pytest.raises(ValueError) as e2:
        cmodels.check_models(["may-none", entry])
    assert str(e2.value) == msg


def test_missing_folder_is_named():
    with pytest.raises(ValueError, match=r"model YAML not found: nowhere/x.yaml \(no folder nowhere\)"):
        cmodels.check_models("nowhere/x.yaml")


def test_check_models_agrees_with_resolve_models():
    """On valid names and random corruptions of them, check_models raises exactly when resolve_models does."""
    rng = random.Random(0)
    pool = cmodels.known_model_names()
    assert {"may-none", "yolov8s-mlca", "yolov8s", "may", "yolov8s-all"} <= set(pool)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_."
    cases = rng.sample(pool, 40)
    for name in rng.sample(pool, 80):
        chars = list(name)
        i = rng.randrange(len(chars))
        op = rng.choice(("drop", "swap", "insert"))
        if op == "drop" and len(chars) > 1:
            del chars[i]
        elif op == "swap":
            chars[i] = rng.choice(alphabet)
        else:
            chars.insert(i, rng.choice(alphabet))
        cases.append("".join(chars))
    outcomes = {"ok": 0, "error": 0}
    for entry in cases:
        try:
            cmodels.resolve_models(entry)
            resolved = True
        except ValueError:
            resolved = False
        try:
            cmodels.check_models(entry)
            checked = True
        except ValueError:
            checked = False
        assert resolved == checked, entry
        outcomes["ok" if resolved else "error"] += 1
    assert outcomes["ok"] >= 40 and outcomes["error"] >= 20, outcomes


# ------------------------------------------------------------------------------------------- the command line


def test_compare_unknown_model_exit_2_nothing_written(tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = yolo_attn_main(["compare", "--models", "may-none", "may-nonee", "--data", str(tiny_data), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "may-nonee" in err and "Did you mean: may-none" in err
    assert not out.exists()


def test_compare_accepts_printed_names(tiny_data, tmp_path, capsys):
    """The names a summary prints pass the argument check: a bad --baseline, checked after the models are resolved,
    lists them back as the compared models."""
    code = yolo_attn_main(
        ["compare", "--models", "may-none", "yolov8s-mlca", "yolov8s", "--data", str(tiny_data), "--baseline", "x",
         "--out", str(tmp_path / "out")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "unknown model" not in err
    assert "baseline 'x' is not one of the compared models: may-none, yolov8s-mlca, yolov8s" in err


def test_demo_unknown_model_generates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = yolo_attn_main(["demo", "--models", "may-mlka", "--data-dir", "ds", "--out", "o"])
    assert code == 2
    assert "Did you mean: may-mlca" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
