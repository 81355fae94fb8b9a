"""yolo_attn._io: the one atomic writer and the one Markdown-table helper."""

import json
import math

import numpy as np
import pytest

from yolo_attn._io import markdown_table, write_bytes, write_json, write_text


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json(path, {"x": math.nan, "y": (1, np.float32(0.5)), "p": tmp_path})
    assert json.loads(path.read_text()) == {"x": None, "y": [1, 0.5], "p": str(tmp_path)}
    write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_failing_writer_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    write_bytes(path, b"old")

    def half_then_fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_bytes(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_markdown_table():
    assert markdown_table(["a", "b"], [(1, "x")], "lr") == ["| a | b |", "|---|---:|", "| 1 | x |"]
    assert markdown_table(["a", "b"], [])[1] == "|---|---|"
    for bad in ("lc", "lrr"):
        with pytest.raises(ValueError, match="one letter l or r per column"):
            markdown_table(["a", "b"], [], bad)
