"""Argument parsing for ``yolo-attn compare`` and ``yolo-attn demo``: hooks for the package's CLI.

Wiring (in ``yolo_attn/cli.py``)::

    from yolo_attn.compare.cli import add_compare_arguments, add_demo_arguments
    add_compare_arguments(sub.add_parser("compare", help="train and score model variants side by side"))
    add_demo_arguments(sub.add_parser("demo", help="the embedded CPU demo: MAY variants on the sample dataset"))

Each hook sets ``func`` on the subparser: ``args.func(args)`` runs the command and returns the exit status.
``compare_main(argv)`` / ``demo_main(argv)`` are the same commands as stand-alone ``main(argv)`` functions.
Exit status of ``compare`` and ``demo`` (the same mapping as ``yolo_attn.cli.exit_status``):

- 0: at least one run succeeded (failed variants are reported in summary.md and results.csv), a ``--report-only``
  report was written, a ``--remeasure`` measurement and report were written, or a ``--no-wait`` Slurm job was
  submitted;
- 1: the work started and did not succeed: every run failed, no run finished (e.g. the Slurm tasks were
  cancelled), or a system error while working (out of disk: ``OSError`` other than the bad-input ones);
- 2: bad arguments or input (``ValueError``, ``FileNotFoundError``, ``FileExistsError``, ``PermissionError``, ...),
  found before anything was written or trained;
- 130: interrupted (Ctrl-C); every run stays resumable.
"""

from __future__ import annotations

import argparse
import re
import sys

from yolo_attn.compare.models import NAMED_SETS
from yolo_attn.compare.presets import PRESETS
from yolo_attn.metrics import METRICS

__all__ = [
    "add_compare_arguments",
    "add_demo_arguments",
    "compare_command",
    "compare_main",
    "demo_command",
    "demo_main",
    "main",
    "parse_train_args",
]


def _value(text: str):
    """Parse a ``key=value`` value like Ultralytics' CLI does: numbers, booleans and None, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_key_value_list(items: list[str] | None, option: str) -> dict:
    """``["optimizer=SGD", "lr0=0.01 cos_lr=true"]`` -> ``{"optimizer": "SGD", "lr0": 0.01, "cos_lr": True}``.

    Raises:
        ValueError: An item that is not ``key=value`` with a name-like key and a non-empty value, or a key twice.
    """
    out: dict = {}
    for item in items or []:
        parts = item.split()
        if not parts:
            raise ValueError(f"{option} {item!r}: empty; expected KEY=VALUE, e.g. {option} lr0=0.01")
        for part in parts:
            k, sep, v = part.partition("=")
            if not sep or not _KEY.match(k) or not v:
                raise ValueError(
                    f"{option} {part!r} is not KEY=VALUE (a name, '=', a value without spaces), e.g. {option} lr0=0.01"
                )
            if k in out:
                raise ValueError(f"{option}: {k!r} given twice ({out[k]!r} and {v!r})")
            out[k] = _value(v)
    return out


def parse_train_args(items: list[str] | None) -> dict:
    """``["optimizer=SGD", "lr0=0.01"]`` -> ``{"optimizer": "SGD", "lr0": 0.01}`` (``ValueError`` on bad syntax)."""
    return parse_key_value_list(items, "--train-arg")


def _sets_help() -> str:
    return "; ".join(f"{k}: {v}" for k, v in NAMED_SETS.items())


MODELS_HELP = (
    "models: names as the tables print them (may-none, yolov8s-mlca, yolov8s; every label a summary or table prints "
    "is accepted back), model YAML paths, quoted globs, or named sets (required unless --report-only/--remeasure). "
    "Named sets: "
)


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training settings (explicit values override the preset)")
    g.add_argument("--epochs", type=int, default=None, help="training epochs (default: preset, else 100)")
    g.add_argument("--imgsz", type=int, default=None, help="training and evaluation size (default: preset, else 640)")
    g.add_argument("--batch", type=int, default=None, help="batch size (default: preset, else 16)")
    g.add_argument("--seeds", default=None, help="seeds, e.g. 0,1,2 or 0-2: one run per model and seed (default 0)")
    g.add_argument("--device", default=None, help="Ultralytics device: cpu, 0, 0,1 ... (default: first GPU, else cpu)")
    g.add_argument(
        "--devices",
        default=None,
        metavar="DEV,DEV,...",
        help="train several runs at once, one per slot: 0,1,2,3 (GPUs), cpu,cpu, 0,0 (two on GPU 0); each worker "
        "sees only its GPU. Results equal the sequential sweep's (default: one run at a time on --device)",
    )
    g.add_argument("--workers", type=int, default=0, help="dataloader workers per run (default 0)")
    g.add_argument("--val", dest="val", action="store_true", default=None, help="validate after every epoch")
    g.add_argument("--no-val", dest="val", action="store_false", help="validate only after the last epoch")
    g.add_argument(
        "--train-arg",
        dest="train_args",
        action="append",
        metavar="KEY=VALUE",
        help="further Ultralytics train argument for every run, repeatable (e.g. --train-arg lr0=0.01)",
    )
    s = parser.add_argument_group("scoring and reporting")
    s.add_argument(
        "--metric",
        default="voc07_map50",
        choices=list(METRICS),
        help="primary metric the summary ranks by (default voc07_map50: VOC2007 11-point mAP@0.5)",
    )
    s.add_argument(
        "--weights",
        default="last",
        choices=["last", "best"],
        help="checkpoint scored (default last: nothing is selected on the evaluation split)",
    )
    s.add_argument("--split", default=None, help="split scored (default test when the dataset has one, else val)")
    s.add_argument(
        "--baseline",
        default=None,
        help="model the Δ columns refer to (default: the *-none model, else a stock Ultralytics model, else the first)",
    )
    s.add_argument(
        "--latency-repeats",
        type=int,
        default=None,
        help="timed rounds of the speed step, each timing every model once, interleaved (default 50, at least 3)",
    )
    s.add_argument(
        "--cpu-threads",
        type=int,
        default=None,
        help="torch threads for CPU training (default: Ultralytics' choice, cores - 1) and the CPU latency (default 1)",
    )
    s.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    r = parser.add_argument_group("resuming")
    r.add_argument(
        "--keep-failed",
        dest="retry_failed",
        action="store_false",
        help="keep runs recorded as failed instead of retrying them",
    )
    r.add_argument(
        "--rerun-changed",
        action="store_true",
        help="train again finished runs whose model YAML was edited since (the old run folder is kept aside); "
        "without it such runs stop the sweep with an error",
    )
    r.add_argument(
        "--restart-interrupted",
        dest="resume_runs",
        action="store_false",
        help="train an interrupted run again from scratch instead of resuming its last epoch checkpoint",
    )


def add_compare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``compare``'s arguments to ``parser`` (a subparser) and set ``func=compare_command``."""
    parser.description = (
        "Train every model under the same settings and seeds with Ultralytics' trainer (one worker process per "
        "run), score each with the VOC devkit protocols, COCO and Ultralytics' val, measure params, GFLOPs and "
        "latency, and write results.csv, summary.md and plots into --out. Rerun the same command to resume. "
        "Exit status 0 when at least one run succeeded, 1 when all failed, 2 for bad arguments."
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help=MODELS_HELP + _sets_help(),
    )
    parser.add_argument(
        "--data",
        default=None,
        help="dataset YAML, e.g. written by `yolo-attn voc prepare` (required unless --report-only/--remeasure)",
    )
    parser.add_argument("--out", default="runs/compare/exp", help="compare folder (default runs/compare/exp)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite results.csv, summary.md and the plots of --out from its records (trains and measures "
        "nothing; needs only --out)",
    )
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="time the finished models of --out again (all interleaved in this process: speed.json) and rewrite the "
        "reports; trains nothing. Takes --out, --latency-repeats and --cpu-threads; other settings given must match "
        "the sweep's",
    )
    parser.add_argument(
        "--preset",
        default=None,
        choices=list(PRESETS),
        help="demo: the CPU demo budget; may-paper: the MLCA paper's MAY training (640 px, 300 "
        "epochs, SGD lr0 0.01 lrf 0.01 momentum 0.937 wd 5e-4, 3 warm-up epochs, batch 40)",
    )
    _common(parser)
    x = parser.add_argument_group("Slurm (--executor slurm; pip install 'yolo-attn[slurm]')")
    x.add_argument(
        "--executor",
        default="local",
        choices=["local", "slurm"],
        help="local: this machine (--device / --devices); slurm: a Slurm job array through submitit, one task "
        "per run (default local)",
    )
    x.add_argument("--slurm-partition", default=None, help="partition (default: the cluster's default partition)")
    x.add_argument("--slurm-gpus-per-run", type=int, default=1, help="GPUs per run (default 1; 0 for CPU runs)")
    x.add_argument("--slurm-cpus-per-run", type=int, default=None, help="CPUs per run (default 8 with GPUs, else 2)")
    x.add_argument("--slurm-time", default="24:00:00", help="time limit per task (default 24:00:00); requeued past it")
    x.add_argument(
        "--slurm-arg",
        dest="slurm_args",
        action="append",
        metavar="KEY=VALUE",
        help="further sbatch option, repeatable (e.g. --slurm-arg account=proj --slurm-arg mem=64G)",
    )
    x.add_argument("--slurm-max-tasks", type=int, default=None, help="array size at most (default: one per run)")
    x.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="submit and return (prints the job id); --report-only or the same command again gathers and resumes",
    )
    parser.set_defaults(func=compare_command)
    return parser


def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``demo``'s arguments to ``parser`` (a subparser) and set ``func=demo_command``."""
    from yolo_attn.compare.demo import DEMO_DATA_DIR, DEMO_IMAGES, DEMO_OUT

    parser.description = (
        "The embedded demo: generate and prepare the sample VOC-format dataset if missing, compare the MAY "
        "variants (none, MobileNetV3 SE, MLCA, ECA, ELA) on a CPU budget of about 15 minutes, print the "
        "summary table and the plots' paths. Rerun to resume."
    )
    parser.add_argument("--out", default=DEMO_OUT, help=f"compare folder (default {DEMO_OUT})")
    parser.add_argument("--data-dir", default=DEMO_DATA_DIR, help=f"sample dataset folder (default {DEMO_DATA_DIR})")
    parser.add_argument("--images", type=int, default=DEMO_IMAGES, help=f"sample images (default {DEMO_IMAGES})")
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL", help="override the demo's models")
    _common(parser)
    parser.set_defaults(func=demo_command)
    return parser


def _run(fn, command: str = "compare", no_wait: bool = False, **kw) -> int:
    """Run ``fn(**kw)`` (compare, demo or report_only) and map its outcome to the documented exit status."""
    from yolo_attn.compare.sweep import sweep_status
    from yolo_attn.exits import exit_status, report_error

    try:
        out = fn(**kw)
    except (Exception, KeyboardInterrupt) as e:
        if exit_status(e) == 1 and not isinstance(e, OSError):
            raise  # a bug: keep the traceback
        return report_error(command, e)
    if no_wait or fn.__name__ == "report_only":
        return 0
    counts = sweep_status(out)
    if counts.get("ok", 0) == 0:
        what = "every run failed" if counts.get("failed") and not counts.get("pending") else "no run finished"
        print(f"yolo-attn {command}: error: {what}; see {out / 'summary.md'}", file=sys.stderr)
        return 1
    return 0


def _shared(args: argparse.Namespace) -> dict:
    return {
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "workers": args.workers,
        "val": args.val,
        "train_args": parse_train_args(args.train_args),
        "metric": args.metric,
        "weights": args.weights,
        "split": args.split,
        "baseline": args.baseline,
        "latency_repeats": 50 if args.latency_repeats is None else args.latency_repeats,
        "cpu_threads": args.cpu_threads,
        "plots": args.plots,
        "retry_failed": args.retry_failed,
        "resume_runs": args.resume_runs,
        "rerun_changed": args.rerun_changed,
        "device": args.device,
        "devices": args.devices,
    }


def _slurm(args: argparse.Namespace) -> dict | None:
    if args.executor != "slurm":
        given = [o for o, v in (("--slurm-partition", args.slurm_partition), ("--slurm-arg", args.slurm_args)) if v]
        if given:
            raise ValueError(f"{', '.join(given)} given, but the executor is local; add --executor slurm")
        return None
    return {
        "partition": args.slurm_partition,
        "gpus_per_run": args.slurm_gpus_per_run,
        "cpus_per_run": args.slurm_cpus_per_run,
        "time": args.slurm_time,
        "args": parse_key_value_list(args.slurm_args, "--slurm-arg"),
        "max_tasks": args.slurm_max_tasks,
    }


def compare_command(args: argparse.Namespace) -> int:
    """Run ``compare`` from parsed arguments; return the exit status."""
    from yolo_attn.compare.sweep import compare, report_only

    if args.report_only and args.remeasure:
        return _run(_refuse, message="--report-only and --remeasure exclude each other (--remeasure also reports)")
    if args.report_only:
        return _run(report_only, out=args.out)
    if args.remeasure:
        return _run(_remeasure, args=args)

    def call(**kw):
        missing = [o for o, v in (("--models", args.models), ("--data", args.data)) if not v]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required (only --report-only and --remeasure work without)")
        return compare(
            models=args.models,
            data=args.data,
            out=args.out,
            preset=args.preset,
            seeds=args.seeds if args.seeds is not None else "0",
            executor=args.executor,
            slurm=_slurm(args),
            wait=args.wait,
            **_shared(args),
        )

    call.__name__ = "compare"
    return _run(call, no_wait=args.executor == "slurm" and not args.wait)


def _refuse(message: str):
    raise ValueError(message)


def _remeasure(args: argparse.Namespace):
    """``--remeasure``: check that the settings given match the sweep in ``--out``, then time and report."""
    from pathlib import Path

    from yolo_attn.compare.records import SWEEP_RECORD, SweepSettings
    from yolo_attn.compare.sweep import remeasure

    out = Path(args.out).expanduser().resolve()
    settings = SweepSettings.read(out)
    if settings is None:
        raise FileNotFoundError(f"no compare sweep in {out} ({SWEEP_RECORD} not found); run compare first")
    diff = _differences(args, settings)
    if diff:
        raise ValueError(
            f"--remeasure times the sweep in {out} as it was trained, but these settings differ from its "
            f"{SWEEP_RECORD}:\n" + "\n".join(diff) + "\nleave them out (--remeasure takes --out, --latency-repeats "
            "and --cpu-threads), or use another --out"
        )
    if args.latency_repeats is not None and args.latency_repeats < 3:
        raise ValueError(f"--latency-repeats must be an integer >= 3, got {args.latency_repeats}")
    if args.cpu_threads is not None and args.cpu_threads < 1:
        raise ValueError(f"--cpu-threads must be an integer >= 1, got {args.cpu_threads}")
    return remeasure(out, latency_repeats=args.latency_repeats, cpu_threads=args.cpu_threads)


def _differences(args: argparse.Namespace, settings) -> list[str]:
    """Lines ``  key: sweep X, given Y`` for every setting given on the command line that differs from the sweep."""
    from pathlib import Path

    from yolo_attn.compare.plan import parse_seeds

    fp = settings.fingerprint
    diff = []
    for key, given, have in (
        ("epochs", args.epochs, fp.epochs),
        ("imgsz", args.imgsz, fp.imgsz),
        ("batch", args.batch, fp.batch),
        ("split", args.split, fp.split),
        ("preset", args.preset, settings.preset),
    ):
        if given is not None and given != have:
            diff.append(f"  {key}: sweep {have!r}, given {given!r}")
    if args.data is not None and Path(args.data).expanduser().resolve() != Path(fp.data).expanduser().resolve():
        diff.append(f"  data: sweep {fp.data!r}, given {args.data!r}")
    if args.seeds is not None and parse_seeds(args.seeds) != list(settings.seeds):
        diff.append(f"  seeds: sweep {settings.seeds}, given {parse_seeds(args.seeds)}")
    if args.models:
        from yolo_attn.compare.models import resolve_models

        labels = [m.label for m in resolve_models(args.models)]
        have = [m.label for m in settings.models]
        if labels != have:
            diff.append(f"  models: sweep {have}, given {labels}")
    return diff


def demo_command(args: argparse.Namespace) -> int:
    """Run ``demo`` from parsed arguments; return the exit status."""
    from yolo_attn.compare.demo import demo

    def call():
        kw = _shared(args)  # inside: a bad --train-arg is reported like any bad input
        return demo(
            out_dir=args.out, data_dir=args.data_dir, images=args.images, models=args.models, seeds=args.seeds, **kw
        )

    call.__name__ = "demo"
    return _run(call, command="demo")


def compare_main(argv: list[str] | None = None) -> int:
    """``yolo-attn compare ...`` as a stand-alone ``main(argv)`` (argv without the word ``compare``)."""
    parser = add_compare_arguments(argparse.ArgumentParser(prog="yolo-attn compare"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def demo_main(argv: list[str] | None = None) -> int:
    """``yolo-attn demo ...`` as a stand-alone ``main(argv)`` (argv without the word ``demo``)."""
    parser = add_demo_arguments(argparse.ArgumentParser(prog="yolo-attn demo"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """``python -m yolo_attn.compare {compare,demo} ...`` (the same commands as ``yolo-attn compare|demo``)."""
    parser = argparse.ArgumentParser(prog="python -m yolo_attn.compare")
    sub = parser.add_subparsers(dest="command", required=True)
    add_compare_arguments(sub.add_parser("compare", help="train and score model variants side by side"))
    add_demo_arguments(sub.add_parser("demo", help="the embedded CPU demo"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
