"""Plots that do not mislead: a scatter axis never zooms tiny relative differences across the whole width (a
top axis reads Δ vs the baseline in %, the labels carry it, a note says when every model is within the band), and
attention maps put every panel on one 0..1 gate scale unless asked to stretch each (then the range is on the panel).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from yolo_attn.compare import plots  # noqa: E402
from yolo_attn.compare.attention import GateMap, plot_gates  # noqa: E402

# The demo's numbers: GFLOPs within 0.6% of each other, CPU latency spread over 32-58 ms.
DEMO = [
    ("may-none", 0.400, 0.5629, 37.1),
    ("may-eca", 0.384, 0.5630, 35.7),
    ("may-mlca", 0.380, 0.5662, 58.4),
    ("may-ela", 0.364, 0.5633, 36.1),
    ("may-mbse", 0.354, 0.5641, 32.0),
]
CLASSES = ("disc", "square", "triangle")


def _agg(rows=DEMO) -> list[dict]:
    out = []
    for i, (m, v, g, lat) in enumerate(rows, 1):
        out.append(
            {
                "model": m,
                "rank": i,
                "voc07_map50_mean": v,
                "voc07_map50_std": math.nan,
                "gflops_mean": g,
                "gflops_std": math.nan,
                "cpu_latency_ms_mean": lat,
                "cpu_latency_ms_std": math.nan,
                "gpu_latency_ms_mean": math.nan,
                "gpu_latency_ms_std": math.nan,
                "per_class": {c: v for c in CLASSES},
            }
        )
    return out


def _scatter(xkey: str, agg=None, baseline="may-none"):
    agg = agg or _agg()
    fig, ax = plt.subplots()
    plots._scatter(ax, agg, xkey, "voc07_map50", baseline, plots._colors(len(agg)), "x", "t", unit=" u")
    return fig, ax


def _labels(ax) -> dict[str, str]:
    return {t.get_text().split(" ")[0]: t.get_text() for t in ax.texts}


def test_narrow_gflops_axis_is_not_stretched():
    fig, ax = _scatter("gflops")
    lo, hi = ax.get_xlim()
    ref = 0.5629
    assert lo <= ref * 0.95 + 1e-12 and hi >= ref * 1.05 - 1e-12  # at least ±5% of the baseline
    xs = [g for _, _, g, _ in DEMO]
    assert (max(xs) - min(xs)) / (hi - lo) < 0.1  # the 0.6% spread takes under a tenth of the width
    assert "every model within 0.59% of may-none's 0.5629 u" in ax.get_xlabel()
    tops = [c for c in ax.child_axes if c.get_xlabel().startswith("Δ vs may-none")]
    assert len(tops) == 1
    labels = _labels(ax)
    assert labels["may-mlca"] == "may-mlca (+0.59%)" and labels["may-eca"] == "may-eca (+0.02%)"
    assert labels["may-none"] == "may-none"
    plt.close(fig)


def test_wide_axis_keeps_its_range_and_says_nothing():
    fig, ax = _scatter("cpu_latency_ms")
    lo, hi = ax.get_xlim()
    assert lo < 32.0 and hi > 58.4 and hi - lo < 2 * (58.4 - 32.0)
    assert "within" not in ax.get_xlabel()
    assert _labels(ax)["may-mlca"] == "may-mlca (+57.4%)"
    plt.close(fig)


def test_without_baseline_the_median_is_the_reference():
    fig, ax = _scatter("gflops", baseline="not-there")
    assert "of the median model's 0.5633 u" in ax.get_xlabel()
    assert [c.get_xlabel() for c in ax.child_axes] == ["Δ vs the median model (%)"]
    plt.close(fig)


def test_write_plots_writes_readable_pngs(tmp_path):
    rows = [{"status": "ok", "seed": 0, "model": m, "cpu_name": "cpu", "cpu_threads": 1} for m, *_ in DEMO]
    settings = {"data": "datasets/VOC-sample/data.yaml", "split": "test", "epochs": 1, "imgsz": 128, "weights": "last"}
    paths = plots.write_plots(tmp_path, rows, _agg(), "may-none", "voc07_map50", settings)
    assert [p.name for p in paths] == ["map_vs_gflops.png", "map_vs_latency.png", "per_class_ap.png"]
    for p in paths:
        img = plt.imread(p)
        assert img.shape[0] > 300 and img.shape[1] > 500 and img.std() > 0.05  # drawn, not blank


# ------------------------------------------------------------------------------------------------ attention maps


def _gate(kind: str, spatial: np.ndarray, channel_only: bool = False, is_gate: bool = True) -> GateMap:
    return GateMap(
        f"model.1.{kind}", 1, kind, 8, spatial.shape, spatial, np.full(8, spatial.mean()), is_gate, channel_only
    )


def _overlays(fig):
    """The gate overlay of every panel but the input: (image array, colour limits, RGBA as drawn)."""
    out = []
    for ax in fig.axes:
        ims = ax.get_images()
        if len(ims) == 2:
            im = ims[1]
            arr = np.asarray(im.get_array(), dtype=float)
            rgb = im.to_rgba(arr)[..., :3].reshape(-1, 3)
            out.append((arr, im.get_clim(), float(np.ptp(rgb, axis=0).max())))  # largest colour change in the panel
    return out


def test_gate_maps_share_one_scale():
    """MLCA's 0.498-0.500 gate beside a CBAM gate spanning 0.1-0.9: on the shared scale the MLCA panel is (almost)
    one colour while CBAM's is not; stretched per layer, both fill the colour range and the range is on the panel."""
    yy, xx = np.mgrid[0:8, 0:8] / 7.0
    mlca = _gate("MLCA", 0.498 + 0.002 * xx)
    cbam = _gate("CBAM", 0.1 + 0.8 * yy)
    se = _gate("SE", np.full((4, 4), 0.3), channel_only=True)
    image = np.zeros((64, 64, 3), np.uint8)

    fig = plot_gates(image, [mlca, cbam, se], "shared")
    (m_arr, m_clim, m_change), (_, c_clim, c_change), (_, s_clim, _) = _overlays(fig)
    assert m_clim == c_clim == s_clim == (0.0, 1.0)
    assert m_change < 0.03 and c_change > 0.5
    np.testing.assert_allclose(m_arr, mlca.spatial)  # the gate itself, not a normalised copy
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("channel-only") for t in texts) and not any("stretched" in t for t in texts)
    assert "one scale for every panel" in fig.axes[-1].get_ylabel()
    plt.close(fig)

    fig = plot_gates(image, [mlca, cbam, se], "stretched", scale="layer")
    (_, _, m_change), (_, _, c_change), _ = _overlays(fig)
    assert m_change > 0.5 and c_change > 0.5
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "stretched:\n0.498–0.500" in texts and "stretched:\n0.100–0.900" in texts
    assert "own min..max" in fig.axes[-1].get_ylabel()
    plt.close(fig)


def test_flat_gate_of_a_spatial_module_is_not_called_channel_only():
    g = _gate("MLCA", np.full((5, 5), 0.5), channel_only=True)
    assert "gate flat over positions, mean 0.500" in g.title
    assert "channel-only gate" in _gate("ECA", np.full((5, 5), 0.5), channel_only=True).title


def test_plot_gates_rejects_unknown_scale():
    with pytest.raises(ValueError, match="scale must be 'shared' or 'layer', got 'own'"):
        plot_gates(np.zeros((32, 32, 3), np.uint8), [], "x", scale="own")
