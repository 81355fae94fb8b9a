"""Small things a user reads first: ``yolo-attn --version`` names the libraries it runs on, every subcommand's help
shows ``yolo-attn ...`` as the program, and the module benchmark says how many calls its medians are of."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata

import pytest
from helpers import YOLO_ATTN_BIN

import yolo_attn
from yolo_attn.bench.modules import format_table
from yolo_attn.cli import main


@pytest.mark.slow  # the console script in a fresh process
def test_version_names_yolo_attn_ultralytics_and_torch():
    r = subprocess.run([str(YOLO_ATTN_BIN), "--version"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith(f"yolo-attn {yolo_attn.__version__} (")
    assert f"ultralytics {metadata.version('ultralytics')}," in line
    import torch

    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    assert f"torch {torch.__version__}, {build}," in line
    assert re.search(r"Python \d+\.\d+\.\d+\)$", line)


def test_version_short_option(capsys):
    assert main(["-V"]) == 0
    assert capsys.readouterr().out.startswith(f"yolo-attn {yolo_attn.__version__} (ultralytics ")


@pytest.mark.parametrize(
    "argv, prog",
    [
        (["models", "--help"], "yolo-attn models"),
        (["models", "table", "--help"], "yolo-attn models table"),
        (["bench", "modules", "--help"], "yolo-attn bench modules"),
        (["transfer", "--help"], "yolo-attn transfer"),
        (["compare", "--help"], "yolo-attn compare"),
        (["demo", "--help"], "yolo-attn demo"),
        (["voc", "prepare", "--help"], "yolo-attn voc prepare"),
        (["data", "sample", "--help"], "yolo-attn data sample"),
    ],
)
def test_help_shows_yolo_attn_as_the_program(argv, prog, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {prog} "), out[:200]
    assert "python -m" not in out.splitlines()[0]


def test_bench_help_lists_benchmarks_under_yolo_attn(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: yolo-attn bench ") and "yolo-attn bench modules --help" in out


@pytest.mark.parametrize(
    "repeats, text", [(1, "median of 1 call "), (2, "median of 2 calls "), (10, "median of 3 to 10 calls ")]
)
def test_bench_header_counts_calls(repeats, text):
    meta = {"shape": (1, 8, 4, 4), "dtype": "fp32", "repeats": repeats, "budget_s": 1.0, "warmup": 1, "torch": "x"}
    meta |= {"device": "cpu", "reference": None, "reference_note": "no reference requested"}
    row = {"module": "SE", "params": 1, "macs": 1.0, "thop_macs": None, "fwd_ms": 1.0, "fwd_bwd_ms": 2.0, "meta": meta}
    header = format_table([row]).splitlines()[0]
    assert text in header
    assert "median of 3 to 2" not in header
