"""The notebooks run headless (nbclient) against the tiny compare folder of test_compare and show its tables, plots
and attention gates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_compare import tiny_sweep

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow  # fresh processes: training, export, notebooks


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    return tiny_sweep(tmp_path_factory)["out"]


def _run(name: str, compare_dir: Path, monkeypatch, tmp_path) -> list[dict]:
    monkeypatch.setenv("YOLO_ATTN_COMPARE_DIR", str(compare_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o.data.get("text/markdown", "") + o.data.get("text/html", ""))
    return "\n".join(parts)


def _pngs(outputs) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_compare_notebook(compare_dir, monkeypatch, tmp_path):
    outputs = _run("compare", compare_dir, monkeypatch, tmp_path)
    text = _text(outputs)
    assert f"compare folder: {compare_dir}" in text
    assert "3 runs: ok 2, failed 1, pending 0" in text
    assert "## Ranking" in text and "tiny-att" in text and "NoSuchModule" in text
    assert _pngs(outputs) == 4  # the three plots of the folder and the training curves


def test_attention_maps_notebook(compare_dir, monkeypatch, tmp_path):
    outputs = _run("attention_maps", compare_dir, monkeypatch, tmp_path)
    text = _text(outputs)
    assert "models: tiny-none, tiny-att" in text
    assert "tiny-none: no attention layers (baseline)" in text
    assert _pngs(outputs) == 2  # tiny-att's gate maps (MLCA, ECA) and the channel-gate plot
    assert os.environ.get("YOLO_ATTN_COMPARE_DIR") == str(compare_dir)


def test_gate_capture_is_the_gate(compare_dir):
    """On a trained model, the hook's output/input ratio is the gate: an ECA layer is detected as a channel-only gate
    (flat map) while MLCA's map varies, and both lie in (0, 1)."""
    import numpy as np
    from ultralytics import YOLO

    from yolo_attn.compare.attention import capture_gates

    weights = compare_dir / "runs" / "tiny-att" / "seed0" / "train" / "weights" / "last.pt"
    model = YOLO(str(weights)).model.float()
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    gates = {g.kind: g for g in capture_gates(model, image)}
    assert set(gates) == {"MLCA", "ECA"}
    eca, mlca = gates["ECA"], gates["MLCA"]
    assert eca.size == (4, 4) and mlca.size == (8, 8) and eca.channels == 32 and mlca.channels == 16
    assert eca.channel_only and not mlca.channel_only
    assert np.nanmax(eca.spatial) == np.nanmin(eca.spatial) == pytest.approx(np.nanmean(eca.channel))
    assert np.nanmax(mlca.spatial) - np.nanmin(mlca.spatial) > 1e-6
    for g in (eca, mlca):
        assert g.is_gate and 0 < np.nanmin(g.channel) and np.nanmax(g.channel) < 1
