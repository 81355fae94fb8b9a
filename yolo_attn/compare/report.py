"""results.csv, per_class.csv and summary.md of a compare folder, from the runs' completion records.

- ``results.csv``: one row per model and seed in sweep order: status and error, every metric (fractions 0-1, as
  ``yolo_attn.metrics`` returns them), params, GFLOPs, latencies, throughput, the settings (from the trainer's
  resolved arguments), the library versions and the device names, then the primary metric's AP per class.
- ``per_class.csv``: one row per model, seed and class with every protocol's AP, the positives and difficult counts.
- ``summary.md``: the ranked table (mean ± sample std over seeds, APs in %), the difference to the baseline (paired
  by seed: mean ± std of the per-seed differences), failed runs with their errors, per-class AP, plots, settings.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from yolo_attn.compare.models import ModelSpec
from yolo_attn.compare.records import RUN_RECORD, read_json, write_text
from yolo_attn.metrics import METRIC_KEYS, METRICS, PER_CLASS_KEYS

__all__ = ["RESULT_COLUMNS", "aggregate", "collect_rows", "write_reports"]

METRIC_COLUMNS = METRIC_KEYS
SETTING_COLUMNS = (
    "data",
    "split",
    "weights",
    "epochs",
    "imgsz",
    "batch",
    "optimizer",
    "lr0",
    "lrf",
    "momentum",
    "weight_decay",
    "warmup_epochs",
    "cos_lr",
    "close_mosaic",
    "amp",
    "val",
    "deterministic",
    "workers",
    "device",
)
VERSION_COLUMNS = ("python", "torch", "torchvision", "ultralytics", "yolo_attn", "numpy", "platform")
#: The fixed columns of results.csv, in order (the per-class columns ``<metric>:<class>`` follow).
RESULT_COLUMNS: tuple[str, ...] = (
    "model",
    "seed",
    "status",
    *METRIC_COLUMNS,
    "params",
    "gflops",
    "cpu_latency_ms",
    "cpu_latency_p90_ms",
    "cpu_threads",
    "gpu_latency_ms",
    "gpu_latency_p90_ms",
    "train_img_per_s",
    "train_time_s",
    "eval_time_s",
    "duration_s",
    "eval_images",
    *SETTING_COLUMNS,
    "train_device",
    "device_name",
    "cpu_name",
    "gpu_name",
    *VERSION_COLUMNS,
    "model_yaml",
    "yaml_sha256",
    "run_dir",
    "started",
    "finished",
    "error",
)


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def collect_rows(out: Path, specs: Sequence[ModelSpec], seeds: Sequence[int], metric: str) -> tuple[list[dict], list]:
    """Return (results rows, per-class rows) for every model and seed, in sweep order (seed-major)."""
    rows, pc_rows = [], []
    for seed in seeds:
        for spec in specs:
            run_dir = out / "runs" / spec.label / f"seed{seed}"
            rec = read_json(run_dir / RUN_RECORD) or {}
            status = rec.get("status", "pending")
            fp = rec.get("fingerprint") or {}
            ta = rec.get("train_args") or {}
            m = rec.get("metrics") or {}
            cpu = rec.get("cpu_latency") or {}
            gpu = rec.get("gpu_latency") or {}
            tr = rec.get("train") or {}
            ver = rec.get("versions") or {}
            row = {
                "model": spec.label,
                "seed": seed,
                "status": status,
                **{k: m.get(k) for k in METRIC_COLUMNS},
                "params": rec.get("params"),
                "gflops": rec.get("gflops"),
                "cpu_latency_ms": cpu.get("median_ms"),
                "cpu_latency_p90_ms": cpu.get("p90_ms"),
                "cpu_threads": cpu.get("threads"),
                "gpu_latency_ms": gpu.get("median_ms"),
                "gpu_latency_p90_ms": gpu.get("p90_ms"),
                "train_img_per_s": tr.get("train_img_per_s"),
                "train_time_s": tr.get("train_time_s"),
                "eval_time_s": rec.get("eval_time_s"),
                "duration_s": rec.get("duration_s"),
                "eval_images": rec.get("eval_images"),
                "data": fp.get("data"),
                "split": fp.get("split"),
                "weights": fp.get("weights"),
            }
            for k in SETTING_COLUMNS:
                if k not in row:
                    row[k] = ta.get(k, fp.get(k, (fp.get("train_args") or {}).get(k)))
            train_dev = tr.get("train_device", "")
            row.update(
                {
                    "train_device": train_dev,
                    "device_name": rec.get("gpu_name") if str(train_dev).startswith("cuda") else rec.get("cpu_name"),
                    "cpu_name": rec.get("cpu_name"),
                    "gpu_name": rec.get("gpu_name"),
                    **{k: ver.get(k) for k in VERSION_COLUMNS},
                    "model_yaml": spec.file or spec.model,
                    "yaml_sha256": rec.get("yaml_sha256"),
                    "run_dir": str(run_dir),
                    "started": rec.get("started"),
                    "finished": rec.get("finished"),
                    "error": (rec.get("error") or "").strip(),
                }
            )
            per_class = rec.get("per_class") or {}
            primary_pc = per_class.get(METRICS[metric].per_class) or {}
            for cls, ap in primary_pc.items():
                row[f"{metric}:{cls}"] = ap
            rows.append(row)
            classes = list(primary_pc) or list(per_class.get("voc07_ap50") or {})
            for cls in classes:
                pc_rows.append(
                    {
                        "model": spec.label,
                        "seed": seed,
                        "class": cls,
                        "npos": (per_class.get("npos") or {}).get(cls),
                        "difficult": (per_class.get("difficult") or {}).get(cls),
                        **{p: (per_class.get(p) or {}).get(cls) for p in PER_CLASS_KEYS},
                    }
                )
    return rows, pc_rows


def _csv_text(rows: list[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    return buf.getvalue()


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


def _stats(values: list[float]) -> tuple[float, float, int]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return math.nan, math.nan, 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else math.nan), len(vals)


def aggregate(rows: list[dict], baseline: str, metric: str) -> list[dict]:
    """Per model: mean/std over ok seeds of every numeric column, paired Δ to the baseline, ranked by ``metric``.

    Returns one dict per model with at least one ok run, best first: ``model``, ``n`` (ok seeds), ``seeds``,
    ``<col>_mean`` / ``<col>_std`` for the metrics and measurements, ``delta_mean`` / ``delta_std`` / ``delta_n``
    for the primary metric minus the baseline's on the same seeds (percentage points / 100), and ``rank``.
    """
    cols = (*METRIC_COLUMNS, "params", "gflops", "cpu_latency_ms", "gpu_latency_ms", "train_img_per_s", "train_time_s")
    ok = [r for r in rows if r["status"] == "ok"]
    models = list(dict.fromkeys(r["model"] for r in ok))
    base = {r["seed"]: _num(r.get(metric)) for r in ok if r["model"] == baseline}
    pc_keys = list(dict.fromkeys(k for r in ok for k in r if k.startswith(f"{metric}:")))
    agg = []
    for name in models:
        mine = [r for r in ok if r["model"] == name]
        a: dict = {"model": name, "n": len(mine), "seeds": [r["seed"] for r in mine]}
        for c in cols:
            a[f"{c}_mean"], a[f"{c}_std"], _ = _stats([_num(r.get(c)) for r in mine])
        diffs = [_num(r.get(metric)) - base[r["seed"]] for r in mine if r["seed"] in base]
        a["delta_mean"], a["delta_std"], a["delta_n"] = _stats(diffs)
        a["per_class"] = {k.split(":", 1)[1]: _stats([_num(r.get(k)) for r in mine])[0] for k in pc_keys}
        agg.append(a)
    agg.sort(key=lambda a: (-a[f"{metric}_mean"] if not math.isnan(a[f"{metric}_mean"]) else math.inf, a["model"]))
    for i, a in enumerate(agg, 1):
        a["rank"] = i
    return agg


def _pct(mean: float, std: float = math.nan, digits: int = 1) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    s = f"{100 * mean:.{digits}f}"
    return s if std is None or math.isnan(std) else f"{s} ± {100 * std:.{digits}f}"


def _plain(mean: float, std: float = math.nan, digits: int = 1) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    s = f"{mean:.{digits}f}"
    return s if std is None or math.isnan(std) else f"{s} ± {std:.{digits}f}"


def _params(n: float) -> str:
    if n is None or math.isnan(n):
        return "–"
    return f"{n / 1e6:.3f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def _signed_pp(mean: float, std: float) -> str:
    if mean is None or math.isnan(mean):
        return "–"
    s = f"{100 * mean:+.1f}"
    return s if math.isnan(std) else f"{s} ± {100 * std:.1f}"


def ranked_table(agg: list[dict], baseline: str, metric: str, imgsz, gpu: bool) -> str:
    """The Markdown table of the summary (also printed by the demo)."""
    others = [k for k in ("voc07_map50", "voc12_map50", "coco_ap50_95", "ultralytics_map50") if k != metric]
    head = (
        ["rank", "model", "seeds", f"**{METRICS[metric].short}** (%)", "Δ vs baseline (pp)"]
        + [f"{METRICS[k].short} (%)" for k in others]
        + ["params", f"GFLOPs @{imgsz}", "CPU ms (b1)"]
        + (["GPU ms (b1, fp16)"] if gpu else [])
        + ["train img/s"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---:", ":---"] + ["---:"] * (len(head) - 2)) + "|"]
    for a in agg:
        is_base = a["model"] == baseline
        cells = [
            str(a["rank"]),
            f"`{a['model']}`" + (" (baseline)" if is_base else ""),
            str(a["n"]),
            _pct(a[f"{metric}_mean"], a[f"{metric}_std"]),
            "0 (ref.)" if is_base else _signed_pp(a["delta_mean"], a["delta_std"]),
        ]
        cells += [_pct(a[f"{k}_mean"], a[f"{k}_std"]) for k in others]
        cells += [
            _params(a["params_mean"]),
            _plain(a["gflops_mean"], digits=3),
            _plain(a["cpu_latency_ms_mean"], a["cpu_latency_ms_std"], 1),
        ]
        if gpu:
            cells.append(_plain(a["gpu_latency_ms_mean"], a["gpu_latency_ms_std"], 2))
        cells.append(_plain(a["train_img_per_s_mean"], a["train_img_per_s_std"], 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary(
    out: Path,
    rows: list[dict],
    agg: list[dict],
    baseline: str,
    metric: str,
    settings: dict,
    plot_files: list[Path],
    final: bool,
) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    pending = [r for r in rows if r["status"] not in ("ok", "failed")]
    gpu = any(r.get("gpu_latency_ms") not in (None, "") for r in ok)
    first = ok[0] if ok else (rows[0] if rows else {})
    imgsz = settings.get("imgsz")
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# Comparison: {out.name}", ""]
    if not final or pending:
        lines += [
            f"**In progress:** {len(rows) - len(pending)} of {len(rows)} runs finished; this summary is "
            "rewritten after every run.",
            "",
        ]
    ta = settings.get("train_args") or {}
    hyper = ", ".join(f"{k}={v}" for k, v in ta.items()) or "Ultralytics defaults"
    lines += [
        f"- **Data:** `{settings.get('data')}`, scored on the `{settings.get('split')}` split "
        f"({first.get('eval_images') or '?'} images) with `{settings.get('weights')}.pt` of each run",
        f"- **Training:** {settings.get('epochs')} epochs, imgsz {imgsz}, batch {settings.get('batch')}, "
        f"seeds {', '.join(map(str, seeds))}, from scratch; {hyper}"
        + (f" (preset `{settings['preset']}`)" if settings.get("preset") else ""),
        f"- **Device:** training on {first.get('device_name') or '?'} ({first.get('train_device') or '?'}); "
        f"CPU latency on {first.get('cpu_name') or '?'} with {first.get('cpu_threads') or '?'} torch thread(s)",
        f"- **Versions:** python {first.get('python')}, torch {first.get('torch')}, ultralytics "
        f"{first.get('ultralytics')}, yolo_attn {first.get('yolo_attn')}",
        f"- **Primary metric:** `{metric}` = {METRICS[metric].protocol}, on the `{settings.get('split')}` split. Models are "
        "ranked by its mean over seeds (higher is better); ± is the sample standard deviation over seeds.",
        f"- **Baseline:** `{baseline}`. Δ = model − baseline in percentage points of the primary metric, paired by "
        "seed (mean ± std of the per-seed differences).",
        "",
    ]
    names = {r.get("device_name") for r in ok} | {r.get("cpu_name") for r in ok}
    if len({r.get("device_name") for r in ok}) > 1 or len({r.get("cpu_name") for r in ok}) > 1:
        lines += [
            f"> **Warning:** runs were measured on different devices ({', '.join(sorted(map(str, names)))}); "
            "latency and throughput are not comparable across them.",
            "",
        ]
    lines += ["## Ranking", ""]
    lines += [ranked_table(agg, baseline, metric, imgsz, gpu) if agg else "_No run finished successfully._", ""]
    lines += [
        "Columns: APs in % (the model's mean over seeds ± std); params = parameters; GFLOPs at the training size "
        f"{imgsz}×{imgsz}, profiled on the full-size input (thop, 2 × MACs); CPU / GPU ms = median forward latency "
        "of the fused network at batch 1 (no pre-processing, no NMS; GPU in fp16); train img/s = training images per "
        "second over the training epochs (data loading and augmentation included, validation excluded).",
        "",
    ]
    if agg and max(a["n"] for a in agg) < 2:
        lines += [
            "> **One seed per model:** differences of a few points can be seed-to-seed noise; run several seeds "
            "(`--seeds 0,1,2`) to see the spread (± columns) before drawing conclusions.",
            "",
        ]
    if baseline not in {a["model"] for a in agg}:
        lines += [f"> The baseline `{baseline}` has no successful run, so Δ is empty.", ""]
    if failed:
        lines += [f"## Failed runs ({len(failed)})", "", "| model | seed | error | log |", "|:---|---:|:---|:---|"]
        for r in failed:
            err = (r.get("error") or "?").splitlines()[0].replace("|", "\\|")[:300]
            log = Path(r["run_dir"]) / "log.txt"
            log_s = f"`{log.relative_to(out)}`" if log.is_file() else "–"
            lines.append(f"| `{r['model']}` | {r['seed']} | {err} | {log_s} |")
        lines.append("")
    if pending:
        lines += [
            f"## Not run yet ({len(pending)})",
            "",
            ", ".join(f"`{r['model']}` seed {r['seed']}" for r in pending),
            "",
        ]
    if agg and agg[0]["per_class"]:
        classes = list(agg[0]["per_class"])
        order = sorted(agg, key=lambda a: [x["model"] for x in agg].index(a["model"]))
        lines += [
            f"## Per-class AP ({METRICS[metric].short}, %, mean over seeds)",
            "",
            "| class | " + " | ".join(f"`{a['model']}`" for a in order) + " |",
            "|:---|" + "---:|" * len(order),
        ]
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(_pct(a["per_class"].get(c, math.nan)) for a in order) + " |")
        lines += ["", "Every protocol per class and seed: `per_class.csv`.", ""]
    if plot_files:
        lines += ["## Plots", ""]
        for p in plot_files:
            lines += [f"![{p.stem}]({p.name})", ""]
    lines += [
        "## Files",
        "",
        "- `results.csv`: one row per model and seed (every metric, settings, versions, status, error)",
        "- `per_class.csv`: AP per class for every protocol",
        "- `runs/<model>/seed<k>/`: Ultralytics training folder, `log.txt`, `metrics.json`, `run.json`",
        "",
    ]
    return "\n".join(lines)


def write_reports(
    out: Path,
    specs: Sequence[ModelSpec],
    seeds: Sequence[int],
    baseline: str,
    metric: str,
    settings: dict,
    plots: bool = True,
    final: bool = True,
    say=None,
) -> dict:
    """Write results.csv, per_class.csv, summary.md and the plots; return their paths and the aggregate."""
    out = Path(out)
    rows, pc_rows = collect_rows(out, specs, seeds, metric)
    pc_cols = list(dict.fromkeys(k for r in rows for k in r if k.startswith(f"{metric}:")))
    write_text(out / "results.csv", _csv_text(rows, [*RESULT_COLUMNS, *pc_cols]))
    write_text(
        out / "per_class.csv",
        _csv_text(pc_rows, ["model", "seed", "class", "npos", "difficult", *PER_CLASS_KEYS]),
    )
    agg = aggregate(rows, baseline, metric)
    plot_files: list[Path] = []
    if plots and agg:
        from yolo_attn.compare.plots import write_plots

        plot_files = write_plots(out, rows, agg, baseline, metric, settings)
    write_text(out / "summary.md", _summary(out, rows, agg, baseline, metric, settings, plot_files, final))
    if say:
        gpu = any(r.get("gpu_latency_ms") not in (None, "") for r in rows if r["status"] == "ok")
        say("")
        say(ranked_table(agg, baseline, metric, settings.get("imgsz"), gpu) if agg else "No run finished successfully.")
        failed = [r for r in rows if r["status"] == "failed"]
        for r in failed:
            say(f"FAILED: {r['model']} seed {r['seed']}: {(r.get('error') or '?').splitlines()[0]}")
        say("")
        say(f"summary: {out / 'summary.md'}")
        say(f"results: {out / 'results.csv'}")
        for p in plot_files:
            say(f"plot:    {p}")
    return {
        "rows": rows,
        "aggregate": agg,
        "plots": plot_files,
        "summary": out / "summary.md",
        "results": out / "results.csv",
    }
