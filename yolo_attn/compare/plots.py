"""PNG plots of a compare folder, drawn with matplotlib's bundled DejaVu fonts (nothing is downloaded).

- ``map_vs_gflops.png``: the primary metric against GFLOPs at the training size, one marker per model (mean over
  seeds; y error bars = the 95% interval of its Δ vs the baseline from the evidence where there is one, else the
  std over seeds), the baseline's level as a dashed line;
- ``map_vs_latency.png``: the same against the median CPU latency at batch 1 from the sweep's interleaved speed
  measurement (``speed.json``; GPU latency in a second panel when it was timed on CUDA): x error bars = the 95%
  bootstrap interval of the median, each label carries the median per-round ratio to the baseline, and a model
  whose interval is wider than ±5% is labelled *noisy* (hollow marker);
- ``per_class_ap.png``: AP per class and model as a heatmap with the values written in, and next to it each
  model's difference to the baseline per class (red = worse, blue = better);
- ``forest.png``: the evidence (`yolo_attn.metrics.evidence.forest_plot`): Δ vs the baseline with its 95% interval per
  model, a zero line, the seed noise floor shaded (only when some model has an interval).
"""

from __future__ import annotations

import math
from pathlib import Path

from yolo_attn._io import write_bytes
from yolo_attn.metrics import METRICS

__all__ = ["write_plots"]

_MARKERS = "osD^vP<>Xph*"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.labelsize": 10.5,
            "legend.fontsize": 9,
            "figure.dpi": 100,
        }
    )
    return plt


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight", facecolor="white")
    write_bytes(path, buf.getvalue())
    return path


def _data_name(data) -> str:
    """A short name of the dataset: the YAML's folder (and its parent for generic names such as ``voc``)."""
    p = Path(str(data or "?"))
    if p.name not in ("data.yaml", "dataset.yaml"):
        return p.stem
    return f"{p.parent.parent.name}/{p.parent.name}" if p.parent.name in ("voc", "data", "dataset") else p.parent.name


def _plural(n, word: str) -> str:
    return f"{n} {word}{'' if str(n) == '1' else 's'}"


def _subtitle(settings: dict, n_seeds: int) -> str:
    return (
        f"{_data_name(settings.get('data'))}, {settings.get('split')} split · {_plural(settings.get('epochs'), 'epoch')}"
        f" · imgsz {settings.get('imgsz')} · {_plural(n_seeds, 'seed')} · scored {settings.get('weights')}.pt"
    )


def _colors(n: int):
    plt = _plt()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _nan0(v: float) -> float:
    return 0.0 if v is None or math.isnan(v) else v


#: The narrowest x range a scatter plot shows, as a fraction of the reference value either side: models within a
#: percent of each other in GFLOPs must not be spread across the whole width as if they differed a lot.
MIN_RELATIVE_HALF_SPAN = 0.05


def _reference_x(agg, xkey: str, baseline: str) -> float | None:
    """The x value the relative axis refers to: the baseline's, else the median of the models' (positive only)."""
    base = next((a for a in agg if a["model"] == baseline), None)
    ref = base[f"{xkey}_mean"] if base is not None else None
    if ref is None or math.isnan(ref) or ref <= 0:
        xs = sorted(
            a[f"{xkey}_mean"] for a in agg if a[f"{xkey}_mean"] is not None and not math.isnan(a[f"{xkey}_mean"])
        )
        ref = xs[len(xs) // 2] if xs else None
    return ref if ref is not None and ref > 0 else None


def _acc_err(a: dict, metric: str):
    """y error bars in %: the 95% interval of the model's Δ vs the baseline (evidence) drawn around its mean where
    there is one, else ± its std over seeds."""
    e = a.get("evidence") or {}
    if e.get("verdict") and math.isfinite(e["low"]) and math.isfinite(e["high"]):
        return [[100 * max(e["delta"] - e["low"], 0.0)], [100 * max(e["high"] - e["delta"], 0.0)]]
    return 100 * _nan0(a[f"{metric}_std"]) or None


def _scatter(
    ax,
    agg,
    xkey: str,
    metric: str,
    baseline: str,
    colors,
    xlabel: str,
    title: str,
    unit: str = "",
    speed: str | None = None,
) -> None:
    """One marker per model; the x axis never zooms closer than ±MIN_RELATIVE_HALF_SPAN of the reference (the
    baseline), a top axis reads Δ vs the reference in %, each label carries its Δ, and when every model lies within
    that band a note says so. ``speed`` (``cpu``/``gpu``): x error bars from ``<speed>_latency_ci``, labels with the
    per-round ratio ``<speed>_ratio`` and a hollow marker for ``<speed>_noisy``."""
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    base = next((a for a in agg if a["model"] == baseline), None)
    if base is not None and not math.isnan(base[f"{metric}_mean"]):
        ax.axhline(
            100 * base[f"{metric}_mean"], color="0.45", ls="--", lw=1, zorder=1, label=f"baseline level ({baseline})"
        )
    ref = _reference_x(agg, xkey, baseline)
    ref_name = baseline if base is not None and ref == base[f"{xkey}_mean"] else "the median model"
    pts, ext = [], []
    for i, a in enumerate(agg):
        x, y = a[f"{xkey}_mean"], a[f"{metric}_mean"]
        if x is None or y is None or math.isnan(x) or math.isnan(y):
            continue
        is_base = a["model"] == baseline
        xerr = _nan0(a[f"{xkey}_std"]) or None
        noisy = bool(speed and a.get(f"{speed}_noisy"))
        if speed:
            lo, hi = a.get(f"{speed}_latency_ci", (math.nan, math.nan))
            xerr = [[max(x - lo, 0.0)], [max(hi - x, 0.0)]] if not (math.isnan(lo) or math.isnan(hi)) else None
        ax.errorbar(
            x,
            100 * y,
            xerr=xerr,
            yerr=_acc_err(a, metric),
            fmt="*" if is_base else _MARKERS[i % len(_MARKERS)],
            ms=15 if is_base else 9,
            color=colors[i],
            mfc="white" if noisy else colors[i],
            mec=colors[i] if noisy else "black",
            mew=1.6 if noisy else 0.7,
            ecolor=colors[i],
            elinewidth=1.2,
            capsize=3,
            zorder=3,
            label=f"#{a['rank']} {a['model']}" + (" (baseline)" if is_base else "") + _ratio_text(a, speed, is_base),
        )
        ratio = a.get(f"{speed}_ratio") if speed and not is_base else None
        pts.append((x, 100 * y, a["model"], ratio, noisy))
        if xerr is not None:  # the bars must fit the axis too
            ext += [x - xerr[0][0], x + xerr[1][0]] if isinstance(xerr, list) else [x - xerr, x + xerr]
    ys = [p[1] for p in pts]
    near_y = 0.03 * (max(ys) - min(ys)) if ys and max(ys) > min(ys) else 1e-9
    placed: list[float] = []
    for x, y, name, ratio, noisy in sorted(pts, key=lambda p: p[0]):
        text = name
        if ratio is not None and not math.isnan(ratio[0]):
            text += f" ×{ratio[0]:.2f}"  # the interval is in the legend
        elif ref is not None and name != baseline:
            d = 100 * (x / ref - 1)
            text += f" ({d:+.2f}%)" if abs(d) < 1 else f" ({d:+.1f}%)"
        if noisy:
            text += " noisy"
        level = sum(1 for py in placed if abs(py - y) <= near_y) % 4  # models at one accuracy: labels stacked up
        placed.append(y)
        ax.annotate(
            text, (x, y), xytext=(6, 5 + 11 * level), textcoords="offset points", fontsize=8.5, color="0.15", zorder=4
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(METRICS[metric].axis)
    ax.set_title(title)
    ax.grid(True, color="0.88", lw=0.8, zorder=0)
    ax.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
    if not pts:
        ax.text(
            0.5,
            0.5,
            "not measured yet" if speed else "no data",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
        return
    xs = [p[0] for p in pts]
    lo, hi = min(xs + ext), max(xs + ext)
    span = hi - lo
    pad = span * 0.18 if span > 0 else max(abs(lo) * 0.05, 1e-3)
    left, right = lo - pad, hi + pad * 1.6  # room for the labels on the right
    if ref is not None:
        band = MIN_RELATIVE_HALF_SPAN * ref
        left, right = max(0.0, min(left, ref - band)), max(right, ref + band)
        top = ax.secondary_xaxis("top", functions=(lambda v: 100 * (v / ref - 1), lambda p: ref * (1 + p / 100)))
        top.set_xlabel(f"Δ vs {ref_name} (%)", fontsize=9, color="0.3")
        top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.0f}%" if abs(v) >= 0.5 else "0%"))
        top.tick_params(labelsize=8.5, colors="0.3")
        spread = 100 * max(abs(x / ref - 1) for x in xs)
        if spread < 100 * MIN_RELATIVE_HALF_SPAN:
            ax.set_xlabel(
                f"{xlabel}\nevery model within {spread:.2g}% of {ref_name}'s {ref:.4g}{unit}; the axis shows "
                f"±{100 * MIN_RELATIVE_HALF_SPAN:.0f}% so that small differences look small"
            )
    ax.set_xlim(left, right)


def _ratio_text(a: dict, speed: str | None, is_base: bool) -> str:
    """The legend's ratio to the baseline with its 95% interval (latency plots), ``noisy`` when flagged."""
    if not speed or math.isnan(a.get(f"{speed}_latency_ms_mean", math.nan)):
        return ""
    noisy = " noisy" if a.get(f"{speed}_noisy") else ""
    if is_base:
        return noisy
    r, lo, hi = a.get(f"{speed}_ratio", (math.nan,) * 3)
    return (f"  ×{r:.3f} [{lo:.3f}, {hi:.3f}]" if not math.isnan(r) else "") + noisy


def _legend(fig, ax, n: int, title: str = "rank, model") -> None:
    if n > 6:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False, title=title)
    else:
        ax.legend(loc="best", framealpha=0.9, title=title)


def _plot_panels(out: Path, name: str, agg: list[dict], baseline: str, metric: str, panels: list[tuple], foot: str):
    """One `_scatter` per panel ``(xkey, xlabel, title, unit, speed)`` side by side, written to ``out / name``."""
    plt = _plt()
    colors = _colors(len(agg))
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 5.2) if len(panels) > 1 else (8.5, 5.2), squeeze=False)
    for ax, (xkey, xlabel, title, unit, speed) in zip(axes[0], panels, strict=True):
        _scatter(ax, agg, xkey, metric, baseline, colors, xlabel, title, unit=unit, speed=speed)
    fig.suptitle(foot, y=0.005, fontsize=9, color="0.35", va="bottom")
    _legend(fig, axes[0, -1], len(agg), "rank, model, time × baseline [95% CI]" if panels[0][4] else "rank, model")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = _save(fig, out / name)
    plt.close(fig)
    return path


def _scatter_plots(out: Path, agg: list[dict], baseline: str, metric: str, settings: dict, n_seeds: int, labels):
    """``map_vs_gflops.png`` and ``map_vs_latency.png`` (a GPU panel when GPU latency was measured)."""
    s, foot = settings.get("imgsz"), _subtitle(settings, n_seeds)
    timed = "median of interleaved rounds, batch 1, {s}×{s}, {dtype}; bars: 95% CI"
    latency = [("cpu", labels[0], "fp32")]
    if any(not math.isnan(a["gpu_latency_ms_mean"]) for a in agg):
        latency.append(("gpu", labels[1], "fp16"))
    return [
        _plot_panels(out, "map_vs_gflops.png", agg, baseline, metric,
                     [("gflops", f"GFLOPs at {s}×{s} (full-size profile, 2×MACs)", "Accuracy vs compute", " GFLOPs",
                       None)], foot),
        _plot_panels(out, "map_vs_latency.png", agg, baseline, metric,
                     [(f"{d}_latency_ms", f"{d.upper()} latency, ms ({timed.format(s=s, dtype=dtype)})",
                       f"Accuracy vs {d.upper()} latency\n{label}", " ms", d) for d, label, dtype in latency], foot),
    ]  # fmt: skip


def plot_per_class(out: Path, agg: list[dict], baseline: str, metric: str, settings: dict, n_seeds: int) -> Path:
    import numpy as np

    plt = _plt()
    order = sorted(agg, key=lambda a: a["rank"])
    classes = list(order[0]["per_class"])
    ap = np.array([[100 * a["per_class"].get(c, math.nan) for c in classes] for a in order], dtype=float)
    base = next((a for a in order if a["model"] == baseline), None)
    show_delta = base is not None and len(order) > 1
    n_m, n_c = ap.shape
    width = min(22.0, max(7.5, 3.2 + 0.62 * n_c))
    panel_h = max(1.8, 0.9 + 0.36 * n_m)
    fig, axes = plt.subplots(
        2 if show_delta else 1, 1, figsize=(width, panel_h * (2 if show_delta else 1) + 1.0), squeeze=False
    )
    labels = [f"#{a['rank']} {a['model']}" + (" (baseline)" if a["model"] == baseline else "") for a in order]
    ax = axes[0, 0]
    vmax = max(10.0, float(np.nanmax(ap))) if np.isfinite(ap).any() else 100.0
    im = ax.imshow(np.ma.masked_invalid(ap), cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
    _annotate(ax, ap, lambda v: f"{v:.1f}", im.norm)
    _axes(
        ax, classes, labels, f"AP per class, {METRICS[metric].axis} — models ranked best first", xlabel=not show_delta
    )
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    cb.set_label("AP (%)")
    if show_delta:
        ref = np.array([100 * base["per_class"].get(c, math.nan) for c in classes], dtype=float)
        d = ap - ref[None, :]
        lim = max(1.0, float(np.nanmax(np.abs(d)))) if np.isfinite(d).any() else 1.0
        ax2 = axes[1, 0]
        im2 = ax2.imshow(np.ma.masked_invalid(d), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        skip = {order.index(base)}
        _annotate(ax2, d, lambda v: f"{v:+.1f}", im2.norm, diverging=True, ref_rows=skip)
        _axes(
            ax2, classes, labels, f"Difference to the baseline {baseline}, percentage points (blue: better, red: worse)"
        )
        cb2 = fig.colorbar(im2, ax=ax2, fraction=0.03, pad=0.01)
        cb2.set_label("Δ AP (pp)")
    fig.suptitle(_subtitle(settings, n_seeds) + " · mean over seeds", y=0.005, fontsize=9, color="0.35", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = _save(fig, out / "per_class_ap.png")
    plt.close(fig)
    return path


def _axes(ax, classes, labels, title, xlabel: bool = True) -> None:
    rotate = len(classes) > 8 or max((len(c) for c in classes), default=0) > 10
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=40 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    if xlabel:
        ax.set_xlabel("class")
    ax.set_title(title, loc="left")
    ax.tick_params(length=0)


def _annotate(ax, values, fmt, norm, diverging: bool = False, ref_rows=()) -> None:
    n_m, n_c = values.shape
    size = 8.5 if n_c <= 12 else 7.5
    for i in range(n_m):
        for j in range(n_c):
            v = values[i, j]
            if i in ref_rows:
                ax.text(j, i, "ref", ha="center", va="center", fontsize=size, color="0.35")
                continue
            if math.isnan(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=size, color="0.4")
                continue
            t = float(norm(v))
            light_bg = (abs(t - 0.5) < 0.3) if diverging else (t > 0.55)
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=size, color="black" if light_bg else "white")


def write_plots(out: Path, rows: list[dict], agg: list[dict], baseline: str, metric: str, settings: dict) -> list[Path]:
    """Write the three plots into ``out``; return their paths (only the ones that have data)."""
    ok = [r for r in rows if r["status"] == "ok"]
    n_seeds = len({r["seed"] for r in ok})
    cpu = next((r.get("cpu_name") for r in ok if r.get("cpu_name")), "CPU")
    threads = next((r.get("cpu_threads") for r in ok if r.get("cpu_threads")), None)
    cpu_label = f"{cpu}" + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
    gpu_label = next((r.get("gpu_name") for r in ok if r.get("gpu_name")), "GPU")
    paths = _scatter_plots(out, agg, baseline, metric, settings, n_seeds, (cpu_label, gpu_label))
    if agg and agg[0]["per_class"]:
        paths.append(plot_per_class(out, agg, baseline, metric, settings, n_seeds))
    ev = [a["evidence"] for a in agg if (a.get("evidence") or {}).get("verdict")]
    if ev:
        from yolo_attn.metrics.evidence import forest_plot

        paths.append(forest_plot(ev, out / "forest.png"))
    else:  # an earlier report's picture would no longer match
        (out / "forest.png").unlink(missing_ok=True)
    return paths
