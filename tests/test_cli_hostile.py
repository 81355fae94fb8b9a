"""Hostile input outside compare (issue 20, item 7): each class of bad input against its one validator, then every
entry point once, so a new command that skips the validator fails here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from yolo_attn import cli, zoo
from yolo_attn.metrics import check_ground_truth
from yolo_attn.zoo import template

# ---------------------------------------------------------------------------------------------------------------------
# Numeric options: one validator (cli.number), cases x validator


@pytest.mark.parametrize(
    "spec, text, ok",
    [
        ((int,), "1", 1),
        ((int,), "0", None),
        ((int,), "-3", None),
        ((int,), "2.5", None),
        ((int,), "abc", None),
        ((int,), "", None),
        ((int, 0), "0", 0),
        ((int, 4, 10), "11", None),
        ((int, 4, 10), "3", None),
        ((int, 4, 10), "10", 10),
        ((float, 0, 1), "0", 0.0),
        ((float, 0, 1), "1.5", None),
        ((float, 0, 1), "nan", None),
        ((float, 0, 1), "inf", None),
        ((float, 0, 1, True), "0", None),
        ((float, 0, 1, True), "1e-9", 1e-9),
    ],
)
def test_number_validator(spec, text, ok):
    parse = cli.number(*spec)
    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"{text!r} is not (an integer|a number) (>=? |from )"):
            parse(text)
    else:
        assert parse(text) == ok and type(parse(text)) is spec[0]


@pytest.mark.parametrize(
    "argv, option",
    [
        (["bench", "modules", "--repeats", "0"], "--repeats"),
        (["bench", "modules", "--threads", "-1"], "--threads"),
        (["bench", "models", "--imgsz", "0"], "--imgsz"),
        (["bench", "models", "--batch", "-2"], "--batch"),
        (["bench", "passes", "--calls", "0"], "--calls"),
        (["data", "sample", "--out", "x", "--images", "0"], "--images"),
    ],
)
def test_every_numeric_option_is_checked_before_work(argv, option, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and "is not an integer " in err


@pytest.mark.parametrize("pair", ["imgsz=0", "batch=-1", "max_det=0", "conf=2", "iou=0", "imgsz=big"])
def test_score_numbers_are_checked_before_work(pair, capsys):
    assert cli.main(["score", "model=none.pt", "data=none.yaml", pair]) == 2
    key, _, value = pair.partition("=")
    assert f"{key}={value!r} is not a valid " in capsys.readouterr().err


def test_score_data_folder_is_named(tmp_path, capsys):
    assert cli.main(["score", "model=none.pt", f"data={tmp_path}"]) == 2
    assert f"data {str(tmp_path)!r} is a folder; give its dataset YAML" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# models write never overwrites a file it did not write; models check names a missing folder


def test_models_write_refuses_foreign_or_edited_files(tmp_path, capsys):
    assert cli.main(["models", "write", str(tmp_path)]) == 0
    again = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert cli.main(["models", "write", str(tmp_path)]) == 0  # our unedited output: replaced by the same bytes
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == again

    edited, foreign = tmp_path / "may-se.yaml", tmp_path / "yolov8-mlca.yaml"
    edited.write_text(edited.read_text().replace("nc: 20", "nc: 3"))  # the user edited our file
    foreign.write_text("# my own model\nnc: 1\n")  # the user's file of the same name
    capsys.readouterr()
    assert cli.main(["models", "write", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite 2 file(s)" in err and str(edited) in err and str(foreign) in err
    assert "nc: 3" in edited.read_text() and foreign.read_text() == "# my own model\nnc: 1\n"  # untouched
    assert zoo.check(tmp_path)  # and nothing else was rewritten either: check still reports the two


def test_models_write_refuses_links_and_folders_of_our_names(tmp_path):
    target = tmp_path / "elsewhere.yaml"
    target.write_text("mine\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "may-se.yaml").symlink_to(target)
    (tmp_path / "out" / "may-eca.yaml").mkdir()
    with pytest.raises(FileExistsError, match="refusing to overwrite 2 file"):
        zoo.write(tmp_path / "out")
    assert target.read_text() == "mine\n"
    with pytest.raises(NotADirectoryError, match="is a file"):
        zoo.write(target)


def test_models_check_names_a_missing_folder(tmp_path, capsys):
    assert cli.main(["models", "check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and str(tmp_path / "nope") in err


def test_unedited_output_is_recognised_by_its_hash():
    text = zoo.generate()["may-se.yaml"]
    assert template.is_unedited_output(text)
    assert not template.is_unedited_output(text.replace("nc: 20", "nc: 21"))
    assert not template.is_unedited_output(text.replace("# ", "#  ", 1))  # the header counts too
    assert not template.is_unedited_output("nc: 20\n")


# ---------------------------------------------------------------------------------------------------------------------
# transfer: the wrong kind of file, an unwritable folder


def test_transfer_refuses_a_checkpoint_as_the_variant(tmp_path, capsys):
    argv = ["transfer", "--weights", "a.pt", "--model", "b.pt", "--out", str(tmp_path / "o.pt")]
    assert cli.main(argv) == 2
    assert "--model b.pt: give the variant's YAML" in capsys.readouterr().err


def test_transfer_refuses_an_unwritable_out_folder(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes into a mode-555 folder; /sys refuses everyone
        folder = Path("/sys")
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
    argv = ["transfer", "--weights", "a.pt", "--model", "b.yaml", "--out", str(folder / "init.pt")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot write into {folder}" in err and "choose another --out" in err


# ---------------------------------------------------------------------------------------------------------------------
# Ground truth: two image ids for one file


def test_two_image_ids_sharing_a_file_are_refused():
    gt = {
        "images": [{"id": i, "file_name": "a.jpg", "width": 10, "height": 10} for i in (1, 2)],
        "categories": [{"id": 0, "name": "cat"}],
        "annotations": [],
    }
    with pytest.raises(ValueError, match=r"images\[1\] \(id 2\): file_name 'a.jpg' is used by image id 1"):
        check_ground_truth(gt)
    gt["images"][1]["file_name"] = "b.jpg"
    assert check_ground_truth(gt)["images"][1]["id"] == 2
