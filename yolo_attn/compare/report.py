"""results.csv, per_class.csv and summary.md of a compare folder, from the runs' completion records.

- ``results.csv``: one row per model and seed in sweep order: status and error, every metric (fractions 0-1, as
  ``yolo_attn.metrics`` returns them), params, GFLOPs, the model's latencies from ``speed.json`` (the same in every
  seed's row of a model: ``latency_seed`` names the seed whose checkpoint was timed), indicative training
  throughput, the settings (from the trainer's resolved arguments), the library versions and the device names, the
  classes the scorer left out of a mean, then the primary metric's AP per class.
- ``per_class.csv``: one row per model, seed and class with every protocol's AP, the positives and difficult counts.
- ``summary.md``: the ranked table (mean ± sample std over seeds, APs in %), the difference to the baseline (paired
  by seed: mean ± std of the per-seed differences), the speed section (``speed.json``: interleaved latencies with
  their intervals, ratios to the baseline, noisy flags), failed runs with their errors, classes left out of the
  means, per-class AP, plots, settings.

Latency columns (results.csv; renamed or changed meaning since the per-run latency: none, these are added):
``cpu_latency_ms`` / ``gpu_latency_ms`` are now the median wall ms of the interleaved rounds (not of one run's own
repeats), ``*_p90_ms`` the 90th percentile of those rounds; added ``*_latency_ci_low_ms`` / ``*_latency_ci_high_ms``
(95% bootstrap interval of the median), ``cpu_latency_iqr_low_ms`` / ``..._high_ms``, ``cpu_process_ms`` (median
process CPU time), ``*_ratio`` with ``*_ratio_ci_low`` / ``*_ratio_ci_high`` (median per-round ratio to the baseline),
``*_noisy`` (1/0) and ``latency_seed``.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from yolo_attn._io import markdown_table, write_text
from yolo_attn.compare.models import ModelSpec
from yolo_attn.compare.plan import file_sha256
from yolo_attn.compare.records import SWEEP_RECORD, RunRecord, SpeedRecord, SweepSettings
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
#: Columns of results.csv from speed.json added after the latency columns that predate it (see the module docstring).
SPEED_COLUMNS = (
    "cpu_latency_ci_low_ms",
    "cpu_latency_ci_high_ms",
    "cpu_latency_iqr_low_ms",
    "cpu_latency_iqr_high_ms",
    "cpu_process_ms",
    "cpu_ratio",
    "cpu_ratio_ci_low",
    "cpu_ratio_ci_high",
    "cpu_noisy",
    "gpu_latency_ci_low_ms",
    "gpu_latency_ci_high_ms",
    "gpu_ratio",
    "gpu_ratio_ci_low",
    "gpu_ratio_ci_high",
    "gpu_noisy",
    "latency_seed",
)
VERSION_COLUMNS = ("python", "torch", "torchvision", "ultralytics", "yolo_attn", "numpy", "platform")
#: Columns of results.csv from the evidence (the model vs the baseline, repeated on each of its seeds' rows;
#: ``verdict`` holds ``no interval: <reason>`` where there is none). Fractions 0-1 like the metrics.
EVIDENCE_COLUMNS = ("delta", "ci_low", "ci_high", "p_better", "verdict", "seeds_needed", "noise_floor")
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
    *SPEED_COLUMNS,
    *EVIDENCE_COLUMNS,
    "train_img_per_s",
    "train_time_s",
    "resumed",
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
    "excluded_classes",
    "error",
)


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _speed_cells(d, label: str, prefix: str) -> dict:
    """results.csv cells of one model on one device of speed.json (``prefix`` cpu or gpu)."""
    s = d.models[label]
    r = s.wall_ratio or [1.0, None, None]
    cells = {
        f"{prefix}_latency_ms": s.wall_ms,
        f"{prefix}_latency_p90_ms": s.wall_p90_ms,
        f"{prefix}_latency_ci_low_ms": s.wall_ci_ms[0],
        f"{prefix}_latency_ci_high_ms": s.wall_ci_ms[1],
        f"{prefix}_ratio": r[0],
        f"{prefix}_ratio_ci_low": r[1],
        f"{prefix}_ratio_ci_high": r[2],
        f"{prefix}_noisy": int(s.noisy),
        f"{prefix}_name": d.name,
    }
    if prefix == "cpu":
        cells.update(
            cpu_threads=d.threads,
            cpu_latency_iqr_low_ms=s.wall_iqr_ms[0],
            cpu_latency_iqr_high_ms=s.wall_iqr_ms[1],
            cpu_process_ms=s.cpu_ms,
        )
    return cells


def speed_of_rows(rows: list[dict], speed: SpeedRecord | None) -> list[str]:
    """Fill every ok row of `collect_rows` with its model's latencies from ``speed`` (in place); return the labels
    whose timed run is no longer the model's current run (trained again since: their latency is left out)."""
    if speed is None:
        return []
    run_ids = {(r["model"], r["seed"]): r.get("run_id") for r in rows if r["status"] == "ok"}
    current, outdated = {}, []
    for run in speed.runs:
        if run_ids.get((run.label, run.seed)) == run.run_id:
            current[run.label] = run
        else:
            outdated.append(run.label)
    for row in rows:
        run = current.get(row["model"])
        if row["status"] != "ok" or run is None:
            continue
        row["latency_seed"] = run.seed
        for prefix, d in (("cpu", speed.cpu), ("gpu", speed.gpu)):
            if d is not None and run.label in d.models:
                row.update(_speed_cells(d, run.label, prefix))
    return outdated


def _excluded_cell(excluded: dict) -> str:
    """``voc07_map50=star,ring;voc12_map50=star`` (results.csv)."""
    return ";".join(f"{k}={','.join(v)}" for k, v in excluded.items() if v)


def collect_rows(
    out: Path,
    specs: Sequence[ModelSpec],
    seeds: Sequence[int],
    metric: str,
    check_yaml: bool = True,
) -> tuple[list[dict], list]:
    """Return (results rows, per-class rows) for every model and seed, in sweep order (seed-major), from the runs'
    records (latencies: `speed_of_rows`). A run without a record is ``pending``; an ok run whose model YAML changed
    since it was trained is ``stale`` (its numbers are not shown: they belong to the old file).

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
            if status == "ok":
                row["run_id"] = rec.run_id
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
            row.update(
                {
                    **{k: rec.metrics.get(k) for k in METRIC_COLUMNS},
                    "params": rec.params,
                    "gflops": rec.gflops,
                    "excluded_classes": _excluded_cell(rec.excluded_classes),
                    "excluded": rec.excluded_classes,
                    "train_img_per_s": tr.train_img_per_s if tr else None,
                    "train_time_s": tr.train_time_s if tr else None,
                    "resumed": int(rec.resumed),
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
    cols = (*METRIC_COLUMNS, "params", "gflops", "train_img_per_s", "train_time_s")
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
        first = mine[0]  # latencies are per model (speed.json), the same in every seed's row: no mean, no std
        for dev in ("cpu", "gpu"):
            a[f"{dev}_latency_ms_mean"] = _num(first.get(f"{dev}_latency_ms"))
            a[f"{dev}_latency_ms_std"] = math.nan
            a[f"{dev}_latency_ci"] = (
                _num(first.get(f"{dev}_latency_ci_low_ms")),
                _num(first.get(f"{dev}_latency_ci_high_ms")),
            )
            a[f"{dev}_ratio"] = tuple(_num(first.get(f"{dev}_ratio{k}")) for k in ("", "_ci_low", "_ci_high"))
            a[f"{dev}_noisy"] = first.get(f"{dev}_noisy") == 1
        agg.append(a)
    agg.sort(key=lambda a: (-a[f"{metric}_mean"] if not math.isnan(a[f"{metric}_mean"]) else math.inf, a["model"]))
    for i, a in enumerate(agg, 1):
        a["rank"] = i
    return agg


def _fmt(mean: float, std: float = math.nan, digits: int = 1, scale: float = 1.0, sign: str = "") -> str:
    """``mean ± std`` (``scale`` 100: in %, ``sign`` "+": signed); "–" for a missing mean, no ± for a missing std."""
    if mean is None or math.isnan(mean):
        return "–"
    s = f"{scale * mean:{sign}.{digits}f}"
    return s if std is None or math.isnan(std) else f"{s} ± {scale * std:.{digits}f}"


def _params(n: float) -> str:
    if n is None or math.isnan(n):
        return "–"
    return f"{n / 1e6:.3f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def _latency(a: dict, dev: str, digits: int) -> str:
    return _fmt(a[f"{dev}_latency_ms_mean"], digits=digits) + (" (noisy)" if a.get(f"{dev}_noisy") else "")


def _ratio(a: dict, dev: str, is_base: bool) -> str:
    if math.isnan(a[f"{dev}_latency_ms_mean"]):
        return "–"
    if is_base:
        return "1 (ref.)"
    r, lo, hi = a[f"{dev}_ratio"]
    return "–" if math.isnan(r) else f"{r:.3f} [{lo:.3f}, {hi:.3f}]"


def ranked_table(agg: list[dict], baseline: str, metric: str, imgsz, gpu: bool) -> str:
    """The Markdown table of the summary (also printed by the demo)."""
    others = [k for k in ("voc07_map50", "voc12_map50", "coco_ap50_95", "ultralytics_map50") if k != metric]
    head = (
        ["rank", "model", "seeds", f"**{METRICS[metric].short}** (%)", "Δ vs baseline (pp)"]
        + [f"{METRICS[k].short} (%)" for k in others]
        + ["params", f"GFLOPs @{imgsz}", "CPU ms (b1)", "CPU × baseline [95% CI]"]
        + (["GPU ms (b1, fp16)", "GPU × baseline [95% CI]"] if gpu else [])
        + ["train img/s (indicative)"]
    )
    table = []
    for a in agg:
        is_base = a["model"] == baseline
        cells = [
            str(a["rank"]),
            f"`{a['model']}`" + (" (baseline)" if is_base else ""),
            str(a["n"]),
            _fmt(a[f"{metric}_mean"], a[f"{metric}_std"], scale=100),
            "0 (ref.)" if is_base else _fmt(a["delta_mean"], a["delta_std"], scale=100, sign="+"),
        ]
        cells += [_fmt(a[f"{k}_mean"], a[f"{k}_std"], scale=100) for k in others]
        cells += [
            _params(a["params_mean"]),
            _fmt(a["gflops_mean"], digits=3),
            _latency(a, "cpu", 1),
            _ratio(a, "cpu", is_base),
        ]
        if gpu:
            cells += [_latency(a, "gpu", 2), _ratio(a, "gpu", is_base)]
        cells.append(_fmt(a["train_img_per_s_mean"], a["train_img_per_s_std"]))
        table.append(cells)
    return "\n".join(markdown_table(head, table, "rl" + "r" * (len(head) - 2)))


def _summary(
    out: Path,
    rows: list[dict],
    agg: list[dict],
    settings: SweepSettings,
    plot_files: list[Path],
    final: bool,
    speed: SpeedRecord | None = None,
    outdated: Sequence[str] = (),
) -> str:
    baseline, metric = settings.baseline, settings.metric
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
        f"- **Training:** {_plural(fp.epochs, 'epoch')}, imgsz {imgsz}, batch {fp.batch}, "
        f"seeds {', '.join(map(str, seeds))}, from scratch; {hyper}"
        + (f" (preset `{settings.preset}`)" if settings.preset else ""),
        f"- **Device:** training on {first.get('device_name') or '?'} ({first.get('train_device') or '?'})"
        + (f"; {len(settings.devices)} runs at a time on {', '.join(settings.devices)}" if settings.devices else ""),
        _latency_line(speed, out),
        f"- **Versions:** python {first.get('python')}, torch {first.get('torch')}, ultralytics "
        f"{first.get('ultralytics')}, yolo_attn {first.get('yolo_attn')}",
        f"- **Primary metric:** `{metric}` = {METRICS[metric].protocol}, on the `{fp.split}` split. Models are "
        "ranked by its mean over seeds (higher is better); ± is the sample standard deviation over seeds.",
        f"- **Baseline:** `{baseline}`. Δ = model − baseline in percentage points of the primary metric, paired by "
        "seed (mean ± std of the per-seed differences).",
        "- **Units:** this summary shows APs in percent (40.1 = 40.1%) and Δ in percentage points; `results.csv` and "
        "`per_class.csv` hold the same scores as fractions 0–1 (0.401), latencies in ms.",
        "",
    ]
    names = {r.get("device_name") for r in ok}
    if len(names) > 1:
        lines += [
            f"> **Warning:** runs trained on different devices ({', '.join(sorted(map(str, names)))}); training "
            "throughput is not comparable across them (latency is: every model was timed in one process).",
            "",
        ]
    lines += ["## Ranking", ""]
    lines += [ranked_table(agg, baseline, metric, imgsz, gpu) if agg else "_No run finished successfully._", ""]
    lines += [
        "Columns: APs in % (the model's mean over seeds ± std); params = parameters; GFLOPs at the training size "
        f"{imgsz}×{imgsz}, profiled on the full-size input (thop, 2 × MACs); CPU / GPU ms = median wall time of one "
        "forward pass of the fused network at batch 1 (no pre-processing, no NMS; GPU in fp16) over the interleaved "
        "rounds of the speed section, *(noisy)* when its spread is large; × baseline = median per-round ratio of the "
        "model's time to the baseline's in the same round, with its 95% bootstrap interval (the comparison to read: "
        "it cancels what the machine did meanwhile). train img/s is **indicative only**: training images per second "
        "summed over each run's own epochs (data loading and augmentation included, validation excluded) while the "
        "machine did whatever else it did then; it is not a controlled measurement, compare speed with the speed "
        "section.",
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
    lines += _evidence_section(agg, baseline)
    lines += _speed_section(speed, outdated, ok, out)
    lines += _excluded_section(ok)
    if failed:
        table = []
        for r in failed:
            err = (r.get("error") or "?").splitlines()[0].replace("|", "\\|")[:300]
            log = Path(r["run_dir"]) / "log.txt"
            table.append([f"`{r['model']}`", r["seed"], err, f"`{log.relative_to(out)}`" if log.is_file() else "–"])
        lines += [
            f"## Failed runs ({len(failed)})",
            "",
            *markdown_table(["model", "seed", "error", "log"], table, "lr"),
        ]
        lines.append("")
    if stale:
        lines += [
            f"## Stale runs ({len(stale)}): model YAML edited since training",
            "",
            "These runs were trained from an earlier version of their model YAML; their results are not shown under "
            "the current file. Train them again with the edited file: the same command with `--rerun-changed` (the "
            "old run folders are kept as `seed<k>.stale-<hash>`).",
            "",
            *markdown_table(
                ["model", "seed", "YAML", "run"],
                [
                    [f"`{r['model']}`", r["seed"], f"`{r['model_yaml']}`", f"`{Path(r['run_dir']).relative_to(out)}`"]
                    for r in stale
                ],
                "lr",
            ),
            "",
        ]
    resumed = [r for r in ok if r.get("resumed") == 1]
    if resumed:
        lines += [
            f"## Resumed runs ({len(resumed)})",
            "",
            "These runs were interrupted and resumed from their last epoch checkpoint without their exact training "
            "state (" + ", ".join(f"`{r['model']}` seed {r['seed']}" for r in resumed) + "): their weights may differ "
            "from an uninterrupted run's (`resumed` = 1 in results.csv). The state (float32 weights, random state, data "
            "order) is restored exactly only with `--workers 0` and one optimizer step per batch (`nbs` <= `batch`).",
            "",
        ]
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
            *markdown_table(
                ["class", *(f"`{a['model']}`" for a in order)],
                [[c, *(_fmt(a["per_class"].get(c, math.nan), scale=100) for a in order)] for c in classes],
                "l" + "r" * len(order),
            ),
        ]
        lines += ["", "Every protocol per class and seed: `per_class.csv`.", ""]
    if plot_files:
        lines += ["## Plots", ""]
        for p in plot_files:
            lines += [f"![{p.stem}]({p.name})", ""]
    lines += [
        "## Files",
        "",
        "- `results.csv`: one row per model and seed (every metric, settings, versions, status, error)",
        "- `speed.json`: the interleaved latency measurement (every round of every model)",
        "- `per_class.csv`: AP per class for every protocol",
        "- `runs/<model>/seed<k>/`: Ultralytics training folder, `log.txt`, `metrics.json`, `run.json`",
        "",
    ]
    return "\n".join(lines)


def _evidence_section(agg: list[dict], baseline: str) -> list[str]:
    """``## Evidence``: `evidence_markdown` of the models' evidence rows and how to read it (none: empty)."""
    from yolo_attn.metrics.evidence import evidence_markdown

    ev = [a["evidence"] for a in agg if a.get("evidence")]
    if not ev:
        return []
    return [
        f"## Evidence vs the baseline `{baseline}`",
        "",
        evidence_markdown(ev),
        "",
        "Δ = model − baseline (mean over seed-matched pairs); the 95% interval and P(Δ>0) come from a paired "
        "bootstrap over the saved per-image results (`per_image.npz` in each run folder); verdict better / worse "
        "when the interval excludes 0, else no evidence. Seeds needed: how many seed pairs would resolve a "
        "difference of that size given the observed variance. `results.csv` repeats these per row (`delta`, "
        "`ci_low`, `ci_high`, `p_better`, `verdict`, `seeds_needed`, `noise_floor`, fractions 0–1).",
        "",
    ]


def _plural(n, word: str) -> str:
    return f"{n} {word}{'' if str(n) == '1' else 's'}"


def _latency_line(speed: SpeedRecord | None, out: Path) -> str:
    if speed is None or speed.cpu is None:
        return (
            "- **Latency:** not measured yet: the sweep times all its models together once every run is finished "
            f"(`yolo-attn compare --remeasure --out {out}` times the finished ones now)"
        )
    c = speed.cpu
    line = (
        f"- **Latency:** timed after training, all models interleaved in one process ({speed.measured}): CPU "
        f"{c.name}, {_plural(c.threads, 'torch thread')}, {c.rounds} rounds"
    )
    if speed.gpu is not None:
        line += f"; GPU {speed.gpu.name}, fp16, {speed.gpu.rounds} rounds"
    return line


def _speed_section(speed: SpeedRecord | None, outdated: Sequence[str], ok: list[dict], out: Path) -> list[str]:
    """``## Speed``: each device's interleaved measurement, the noisy rule and what is missing."""
    from yolo_attn.compare.speed import format_speed_table

    lines = ["## Speed (all models timed interleaved after training)", ""]
    if speed is None:
        return lines + [
            "_Not measured yet._ The sweep times its models once every run is finished; "
            f"`yolo-attn compare --remeasure --out {out}` times the finished ones now (it trains nothing).",
            "",
        ]
    lines += [
        f"One checkpoint per model (the scored checkpoint of its first finished seed), fused, batch 1 at "
        f"{speed.imgsz}×{speed.imgsz}, timed in one process: rounds of every model, baseline first, the order reversed "
        "every other round, an untimed call between rounds. ms = median over rounds [95% bootstrap interval of the "
        "median]; IQR = the rounds' interquartile range; process CPU ms = CPU time the process itself used; ratio = "
        "median of the per-round ratios time(model) / time(baseline) [95% interval].",
        "",
    ]
    for dev, label in ((speed.cpu, "CPU"), (speed.gpu, "GPU")):
        if dev is None:
            continue
        lines += [
            f"### {label}: {dev.name}, {dev.dtype}"
            + (f", {_plural(dev.threads, 'thread')}" if dev.threads else "")
            + f", {dev.rounds} rounds after {dev.warmup} warm-up",
            "",
            format_speed_table(speed, "cpu" if label == "CPU" else "gpu"),
            "",
        ]
        if dev.cpu_per_wall is not None and label == "CPU":
            busy = dev.threads and dev.cpu_per_wall < 0.9 * dev.threads
            lines += [
                f"While timed the process used {dev.cpu_per_wall:.2f} CPU-seconds per wall-second"
                + (
                    f" with {_plural(dev.threads, 'thread')}: the machine was busy (other processes took the CPU); "
                    "prefer the CPU-time ratios, or `--remeasure` when it is quiet."
                    if busy
                    else "."
                ),
                "",
            ]
    noisy = [m for d in (speed.cpu, speed.gpu) if d for m, st in d.models.items() if st.noisy]
    lines += [
        f"**Noisy** marks a model whose 95% interval of the median time, or of the ratio to the baseline, is wider "
        f"than ±{100 * speed.noisy_threshold:g}% of the value: the attention modules change a detector's time by a few "
        "percent, so a wider interval cannot tell them apart"
        + (
            f" ({len(set(noisy))} model(s) here: rerun `yolo-attn compare --remeasure --out {out}` on a quieter "
            "machine or with more `--latency-repeats`)."
            if noisy
            else "."
        ),
        "",
    ]
    if speed.gpu_note:
        lines += [f"> {speed.gpu_note}", ""]
    timed = set(speed.run_ids()) - set(outdated)
    missing = sorted({r["model"] for r in ok} - timed)
    if missing:
        lines += [
            "> No latency for "
            + ", ".join(f"`{m}`" for m in missing)
            + " (trained again or finished after speed.json was measured): "
            f"`yolo-attn compare --remeasure --out {out}` times every model again.",
            "",
        ]
    return lines


def _excluded_section(ok: list[dict]) -> list[str]:
    """``## Classes left out of the means``: the scorer's excluded classes of every ok run (empty when none)."""
    found: dict[tuple[str, str], dict] = {}
    for r in ok:
        for key, classes in (r.get("excluded") or {}).items():
            for cls, why in (classes or {}).items():
                f = found.setdefault((cls, why), {"metrics": [], "runs": []})
                if key not in f["metrics"]:
                    f["metrics"].append(key)
                run = f"`{r['model']}` seed {r['seed']}"
                if run not in f["runs"]:
                    f["runs"].append(run)
    if not found:
        return []
    lines = [
        "## Classes left out of the means",
        "",
        "A mean over classes (mAP) leaves out a class the scored split gives no non-difficult ground truth (or "
        "whose AP is undefined), as the VOC devkit does; these means are over the remaining classes.",
        "",
        *markdown_table(
            ["class", "why", "left out of", "runs"],
            [
                [c, why, ", ".join(f"`{m}`" for m in f["metrics"]), ", ".join(f["runs"])]
                for (c, why), f in found.items()
            ],
        ),
    ]
    return lines + [""]


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


def evidence(rows: list[dict], settings: SweepSettings) -> list[dict]:
    """`sweep_evidence` of the sweep's finished runs vs its baseline, from their saved per-image files; each
    results row of a compared model gains the `EVIDENCE_COLUMNS`."""
    from yolo_attn.metrics.evidence import BOOTSTRAP_METRICS, sweep_evidence

    run_dirs: dict[str, dict[int, Path]] = {}
    for r in rows:
        if r["status"] == "ok":
            run_dirs.setdefault(r["model"], {})[r["seed"]] = Path(r["run_dir"])
    if settings.metric in BOOTSTRAP_METRICS:
        ev = sweep_evidence(run_dirs, settings.baseline, settings.metric, settings.resamples)
    else:
        why = f"the metric {settings.metric} cannot be resampled (valid: {', '.join(BOOTSTRAP_METRICS)})"
        ev = [{"model": m, "verdict": None, "reason": why} for m in run_dirs if m != settings.baseline]
    by_model = {e["model"]: e for e in ev}
    for r in rows:
        e = by_model.get(r["model"])
        if e is not None and r["status"] == "ok":
            r.update({k: e.get(k) for k in EVIDENCE_COLUMNS}, ci_low=e.get("low"), ci_high=e.get("high"))
            r["verdict"] = e["verdict"] or f"no interval: {e['reason']}"
    return ev


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
    speed = SpeedRecord.read(out)  # RecordError on a bad file (exit 2): it names the file and `--remeasure`
    outdated = speed_of_rows(rows, speed)
    ev = {e["model"]: e for e in evidence(rows, settings)}
    pc_cols = list(dict.fromkeys(k for r in rows for k in r if k.startswith(f"{metric}:")))
    write_text(out / "results.csv", _csv_text(rows, [*RESULT_COLUMNS, *pc_cols]))
    write_text(
        out / "per_class.csv",
        _csv_text(pc_rows, ["model", "seed", "class", "npos", "difficult", *PER_CLASS_KEYS]),
    )
    agg = aggregate(rows, baseline, metric)
    for a in agg:
        a["evidence"] = ev.get(a["model"])
    plot_files: list[Path] = []
    if settings.plots and agg:
        from yolo_attn.compare.plots import write_plots

        plot_files = write_plots(out, rows, agg, baseline, metric, view)
    write_text(out / "summary.md", _summary(out, rows, agg, settings, plot_files, final, speed, outdated))
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
        say(f"results: {out / 'results.csv'} (scores as fractions 0-1; the summary shows percent)")
        if speed is not None:
            say(f"speed:   {out / 'speed.json'}")
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
    """``compare --report-only``: rewrite the reports of ``out`` from its records; trains and measures nothing
    (latencies come from speed.json as it is).

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
