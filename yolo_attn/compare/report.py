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
from yolo_attn.compare.plan import file_sha256
from yolo_attn.compare.records import SWEEP_RECORD, RunRecord, SweepSettings, write_text
from yolo_attn.metrics import METRIC_KEYS, METRICS, PER_CLASS_KEYS

__all__ = ["RESULT_COLUMNS", "aggregate", "collect_rows", "report_only", "write_reports"]

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
    "slot",
    "host",
    "slurm_job",
    "weights_sha256",
    "error",
)


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def collect_rows(
    out: Path, specs: Sequence[ModelSpec], seeds: Sequence[int], metric: str, check_yaml: bool = True
) -> tuple[list[dict], list]:
    """Return (results rows, per-class rows) for every model and seed, in sweep order (seed-major), from the runs'
    records. A run without a record is ``pending``; an ok run whose model YAML changed since it was trained is
    ``stale`` (its numbers are not shown: they belong to the old file).

    Raises:
        RecordError: A run record that is malformed or of another format version.
    """
    rows, pc_rows = [], []
    hashes: dict[str, str] = {}
    for seed in seeds:
        for spec in specs:
            run_dir = out / "runs" / spec.label / f"seed{seed}"
            rec = RunRecord.read(run_dir)
            status = rec.status if rec is not None else "pending"
            if rec is not None and rec.ok and check_yaml and spec.file and rec.yaml_sha256:
                if spec.file not in hashes:
                    hashes[spec.file] = file_sha256(spec.file)
                if hashes[spec.file] and hashes[spec.file] != rec.yaml_sha256:
                    status = "stale"
            row: dict = {"model": spec.label, "seed": seed, "status": status, "run_dir": str(run_dir)}
            row["model_yaml"] = spec.file or spec.model
            rows.append(row)
            if rec is None:
                continue
            row.update(
                {
                    "yaml_sha256": rec.yaml_sha256,
                    "started": rec.started,
                    "finished": rec.finished,
                    "duration_s": rec.duration_s,
                    "slot": rec.slot,
                    "host": rec.host,
                    "slurm_job": rec.slurm_job,
                    "error": rec.error.strip(),
                    "weights_sha256": rec.weights_sha256,
                    **{k: rec.versions.get(k) for k in VERSION_COLUMNS},
                }
            )
            if status == "stale":
                row["error"] = (
                    f"stale: {spec.file} changed since this run was trained (recorded sha256 "
                    f"{rec.yaml_sha256[:12]}…, now {hashes[spec.file][:12]}…); rerun with --rerun-changed"
                )
                continue
            fp, ta, tr = rec.fingerprint, rec.train_args, rec.train
            cpu, gpu = rec.cpu_latency, rec.gpu_latency
            row.update(
                {
                    **{k: rec.metrics.get(k) for k in METRIC_COLUMNS},
                    "params": rec.params,
                    "gflops": rec.gflops,
                    "cpu_latency_ms": cpu.median_ms if cpu else None,
                    "cpu_latency_p90_ms": cpu.p90_ms if cpu else None,
                    "cpu_threads": cpu.threads if cpu else None,
                    "gpu_latency_ms": gpu.median_ms if gpu else None,
                    "gpu_latency_p90_ms": gpu.p90_ms if gpu else None,
                    "train_img_per_s": tr.train_img_per_s if tr else None,
                    "train_time_s": tr.train_time_s if tr else None,
                    "eval_time_s": rec.eval_time_s,
                    "eval_images": rec.eval_images,
                    "data": fp.data,
                    "split": fp.split,
                    "weights": fp.weights,
                }
            )
            for k in SETTING_COLUMNS:
                if k not in row:
                    row[k] = ta.get(k, getattr(fp, k, fp.train_args.get(k)))
            train_dev = tr.train_device if tr else ""
            row.update(
                {
                    "train_device": train_dev,
                    "device_name": rec.gpu_name if str(train_dev).startswith("cuda") else rec.cpu_name,
                    "cpu_name": rec.cpu_name,
                    "gpu_name": rec.gpu_name,
                }
            )
            per_class = rec.per_class
            primary_pc = per_class.get(METRICS[metric].per_class) or {} if METRICS[metric].per_class else {}
            for cls, ap in primary_pc.items():
                row[f"{metric}:{cls}"] = ap
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
    settings: SweepSettings,
    plot_files: list[Path],
    final: bool,
) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    stale = [r for r in rows if r["status"] == "stale"]
    pending = [r for r in rows if r["status"] not in ("ok", "failed", "stale")]
    gpu = any(r.get("gpu_latency_ms") not in (None, "") for r in ok)
    first = ok[0] if ok else (rows[0] if rows else {})
    fp = settings.fingerprint
    imgsz = fp.imgsz
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# Comparison: {out.name}", ""]
    if not final or pending:
        lines += [
            f"**In progress:** {len(rows) - len(pending)} of {len(rows)} runs finished; this summary is "
            "rewritten after every run.",
            "",
        ]
    ta = fp.train_args
    hyper = ", ".join(f"{k}={v}" for k, v in ta.items()) or "Ultralytics defaults"
    lines += [
        f"- **Data:** `{fp.data}`, scored on the `{fp.split}` split "
        f"({first.get('eval_images') or '?'} images) with `{fp.weights}.pt` of each run",
        f"- **Training:** {fp.epochs} epochs, imgsz {imgsz}, batch {fp.batch}, "
        f"seeds {', '.join(map(str, seeds))}, from scratch; {hyper}"
        + (f" (preset `{settings.preset}`)" if settings.preset else ""),
        f"- **Device:** training on {first.get('device_name') or '?'} ({first.get('train_device') or '?'}); "
        f"CPU latency on {first.get('cpu_name') or '?'} with {first.get('cpu_threads') or '?'} torch thread(s)"
        + (f"; {len(settings.devices)} runs at a time on {', '.join(settings.devices)}" if settings.devices else ""),
        f"- **Versions:** python {first.get('python')}, torch {first.get('torch')}, ultralytics "
        f"{first.get('ultralytics')}, yolo_attn {first.get('yolo_attn')}",
        f"- **Primary metric:** `{metric}` = {METRICS[metric].protocol}, on the `{fp.split}` split. Models are "
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
    if stale:
        lines += [
            f"## Stale runs ({len(stale)}): model YAML edited since training",
            "",
            "These runs were trained from an earlier version of their model YAML; their results are not shown under "
            "the current file. Train them again with the edited file: the same command with `--rerun-changed` (the "
            "old run folders are kept as `seed<k>.stale-<hash>`).",
            "",
            "| model | seed | YAML | run |",
            "|:---|---:|:---|:---|",
        ]
        for r in stale:
            lines.append(
                f"| `{r['model']}` | {r['seed']} | `{r['model_yaml']}` | `{Path(r['run_dir']).relative_to(out)}` |"
            )
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


def _settings_view(settings: SweepSettings) -> dict:
    """The settings as the plots show them (plots.py reads a plain dict)."""
    fp = settings.fingerprint
    return {
        "data": fp.data,
        "split": fp.split,
        "epochs": fp.epochs,
        "imgsz": fp.imgsz,
        "batch": fp.batch,
        "weights": fp.weights,
        "train_args": fp.train_args,
        "preset": settings.preset,
        "device": settings.device,
        "devices": settings.devices,
        "val": settings.val,
    }


def write_reports(out: str | Path, settings: SweepSettings, final: bool = True, say=None) -> dict:
    """Write results.csv, per_class.csv, summary.md and the plots from the run records alone; return their paths,
    the rows and the aggregate.

    Args:
        out: The compare folder.
        settings: Its sweep (``SweepSettings.read(out)``): models, seeds, baseline, metric, settings.
        final: False adds the "in progress" note to the summary (also added while runs are pending).
        say: Where the ranked table and the files' paths are printed (None: silent).
    """
    out = Path(out)
    baseline, metric = settings.baseline, settings.metric
    view = _settings_view(settings)
    rows, pc_rows = collect_rows(out, settings.models, settings.seeds, metric)
    pc_cols = list(dict.fromkeys(k for r in rows for k in r if k.startswith(f"{metric}:")))
    write_text(out / "results.csv", _csv_text(rows, [*RESULT_COLUMNS, *pc_cols]))
    write_text(
        out / "per_class.csv",
        _csv_text(pc_rows, ["model", "seed", "class", "npos", "difficult", *PER_CLASS_KEYS]),
    )
    agg = aggregate(rows, baseline, metric)
    plot_files: list[Path] = []
    if settings.plots and agg:
        from yolo_attn.compare.plots import write_plots

        plot_files = write_plots(out, rows, agg, baseline, metric, view)
    write_text(out / "summary.md", _summary(out, rows, agg, baseline, metric, settings, plot_files, final))
    if say:
        gpu = any(r.get("gpu_latency_ms") not in (None, "") for r in rows if r["status"] == "ok")
        say("")
        say(ranked_table(agg, baseline, metric, view["imgsz"], gpu) if agg else "No run finished successfully.")
        for r in rows:
            if r["status"] in ("failed", "stale"):
                say(f"{r['status'].upper()}: {r['model']} seed {r['seed']}: {(r.get('error') or '?').splitlines()[0]}")
        pending = [r for r in rows if r["status"] == "pending"]
        if pending:
            say(f"NOT FINISHED: {len(pending)} run(s): " + ", ".join(f"{r['model']} seed {r['seed']}" for r in pending))
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


def report_only(out: str | Path, say=print) -> Path:
    """``compare --report-only``: rewrite the reports of ``out`` from its records; trains nothing.

    Raises:
        FileNotFoundError: ``out`` holds no sweep (no ``sweep.json``).
        RecordError: A malformed record.
    """
    out = Path(out).expanduser().resolve()
    settings = SweepSettings.read(out)
    if settings is None:
        raise FileNotFoundError(f"no compare sweep in {out} ({SWEEP_RECORD} not found); run compare first")
    result = write_reports(out, settings, final=True, say=say)
    counts = {s: sum(1 for r in result["rows"] if r["status"] == s) for s in ("ok", "failed", "stale", "pending")}
    if say:
        say(
            f"[compare] report of {out}: {counts['ok']} ok, {counts['failed']} failed, {counts['stale']} stale, "
            f"{counts['pending']} not finished"
        )
    return out
