"""``yolo-attn bench gpu``: the prepared GPU script still parses against the current CLIs (its real run needs a GPU)."""

from __future__ import annotations

import pytest

from yolo_attn import cli
from yolo_attn.bench import gpu


def test_dry_run_lists_and_checks_every_step(tmp_path, capsys):
    assert cli.main(["bench", "gpu", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [name for name, _ in gpu.steps(tmp_path / "out")]
    assert any("--shape 32,256,80,80" in line and "--dtype bf16" in line for line in lines)
    assert any("bench models --family may --device cuda --train" in line for line in lines)
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "argv, match",
    [
        (["bench", "modules", "--device", "cuda", "--no-such-option", "1"], "does not parse"),
        (["bench", "nonesuch"], "does not parse"),
        (["demo", "--epochs", "two"], "does not parse"),
    ],
)
def test_a_stale_step_is_caught(argv, match):
    with pytest.raises(ValueError, match=match):
        gpu.check(argv, cli.build_parser().parse_args)
