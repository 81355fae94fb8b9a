"""The ``yolo-attn`` command line: yolo_attn's own subcommands, and every Ultralytics command with the plugin registered.

Examples:
    yolo-attn train model=cfg/models/yolov8s-mlca.yaml data=VOC.yaml epochs=100   # same arguments as `yolo`
    yolo-attn bench --device cpu
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# Subcommands implemented here; anything else is handed to Ultralytics' `yolo` entry point unchanged.
OWN_COMMANDS = ("bench", "models", "transfer", "export-check", "data", "voc", "score", "compare", "demo")
BENCHMARKS = ("modules", "models", "passes", "bootstrap", "gpu")  # `yolo-attn bench` without one of them runs `modules`

# The exit statuses, their mapping from exception types and the numeric validator live in yolo_attn/exits.py.
from yolo_attn.exits import BAD_INPUT_ERRORS, EXIT_FAILED, EXIT_OK, exit_status, number, report_error  # noqa: E402, F401


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v not in {"true", "false", "1", "0"}:
        raise ValueError(value)
    return v in {"true", "1"}


_bool.__name__ = "bool (True or False)"


# `yolo-attn score key=value ...`: the keys it takes and their types (shared ones spelled as in `yolo val`).
# `yolo-attn val` is Ultralytics' own val, unchanged; our scorer has its own verb so no argument can clash.
SCORE_KEYS = {
    "model": str,
    "data": str,
    "split": str,
    "imgsz": number(int),
    "batch": number(int),
    "conf": number(float, 0, 1),
    "iou": number(float, 0, 1, lo_open=True),
    "max_det": number(int),
    "device": str,
    "ultralytics_val": _bool,
    "out": str,
    "per_image": str,
    **dict.fromkeys(("baseline", "variant", "metric"), str),  # the paired bootstrap (yolo_attn.metrics.evidence)
    **dict.fromkeys(("resamples", "seed"), int),
}


def _torch_build() -> str:
    """torch's version with its build (``2.14.1+cu130, CUDA 13.0 build`` / ``2.14.1+cpu, CPU build``), read from
    ``torch/version.py`` without importing torch."""
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "not installed"
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    version = re.search(r"^__version__\s*=\s*'([^']+)'", text, re.M)
    cuda = re.search(r"^cuda(?::[^=]*)?=\s*'([^']+)'", text, re.M)
    rocm = re.search(r"^hip(?::[^=]*)?=\s*'([^']+)'", text, re.M)
    build = f"CUDA {cuda.group(1)} build" if cuda else f"ROCm {rocm.group(1)} build" if rocm else "CPU build"
    return f"{version.group(1) if version else 'unknown'}, {build}"


def version_text() -> str:
    """``yolo-attn --version``: this package's version and those of the libraries it runs on (read from the
    installed distributions, so nothing heavy is imported)."""
    import platform

    from yolo_attn import __version__
    from yolo_attn.env import package_version

    def dist(name: str) -> str:
        return package_version(name, "not installed")

    return (
        f"yolo-attn {__version__} (ultralytics {dist('ultralytics')}, torch {_torch_build()}, "
        f"torchvision {dist('torchvision')}, Python {platform.python_version()})"
    )


def _cmd_data_sample(args: argparse.Namespace) -> int:
    from yolo_attn.data.sample import make_sample_dataset

    devkit = make_sample_dataset(args.out, images=args.images, seed=args.seed, imgsz=args.imgsz, log=print)
    print(f"wrote {devkit}\nnext: yolo-attn voc prepare --devkit {devkit} --out <dataset folder>")
    return 0


def _cmd_voc_prepare(args: argparse.Namespace) -> int:
    from yolo_attn.data.voc import prepare_voc

    prepare_voc(args.devkit, args.out, sets=args.sets, skip_bad=args.skip_bad)  # prints its summary
    return 0


def parse_key_values(items: list[str], keys: dict[str, type], command: str) -> dict:
    """Parse ``key=value`` arguments against ``keys``; unknown keys or bad values name the valid choices."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in keys:
            raise ValueError(f"unknown argument {item!r}; valid: {', '.join(f'{k}=...' for k in keys)}")
        try:
            out[key] = keys[key](value)
        except (ValueError, argparse.ArgumentTypeError):
            raise ValueError(f"{key}={value!r} is not a valid {keys[key].__name__}") from None
    return out


def _cmd_score(args: argparse.Namespace) -> int:
    from yolo_attn.metrics import evaluate_model, format_metrics, save_metrics

    kv = parse_key_values(args.pairs, SCORE_KEYS, "score")
    evidence = {k: kv.pop(k) for k in ("baseline", "variant", "metric", "resamples", "seed") if k in kv}
    if evidence and "baseline" not in evidence:
        raise ValueError("baseline=FILE[,FILE...] (the baseline's per_image.npz, one per seed) is needed to compare")
    if "variant" in evidence and "model" not in kv:  # two sets of saved per-image results: no inference
        from yolo_attn.metrics.evidence import compare_saved, evidence_markdown

        print(evidence_markdown(compare_saved(**evidence)))
        return 0
    if "model" not in kv or "data" not in kv:
        raise ValueError("model=... and data=... are required, e.g. yolo-attn score model=best.pt data=data.yaml")
    if evidence and ("variant" in evidence or "per_image" not in kv):
        raise ValueError(
            "with model=, the model is the variant: give per_image=FILE (where its results go), no variant="
        )
    out = kv.pop("out", None)
    if out and Path(out).is_dir():  # found now, not after minutes of inference
        raise IsADirectoryError(f"out={out!r} is a folder; give the path of the JSON file to write")
    result = evaluate_model(kv.pop("model"), kv.pop("data"), **kv)
    print(format_metrics(result))
    if out:
        print(f"saved {save_metrics(result, out)} (values as fractions of 1, not %)")
    if evidence:
        from yolo_attn.metrics.evidence import compare_saved, evidence_markdown

        print(evidence_markdown(compare_saved(variant=result["per_image"], **evidence)))
    return 0


# ------------------------------------------------------------------------ compare and demo: argparse -> one SweepConfig
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _value(text: str):
    """A ``key=value`` value as Ultralytics' CLI reads it: numbers, booleans and None, else the string."""
    low = text.lower()
    if low in ("true", "false", "none"):
        return None if low == "none" else low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_key_value_list(items: list[str] | None, option: str) -> dict:
    """``["optimizer=SGD", "lr0=0.01 cos_lr=true"]`` -> ``{"optimizer": "SGD", "lr0": 0.01, "cos_lr": True}``;
    ``ValueError`` for an item that is not ``key=value`` (a name, '=', a value) or a key given twice."""
    out: dict = {}
    for item in items or []:
        parts = item.split()
        if not parts:
            raise ValueError(f"{option} {item!r}: empty; expected KEY=VALUE, e.g. {option} lr0=0.01")
        for part in parts:
            k, sep, v = part.partition("=")
            if not sep or not _KEY.match(k) or not v:
                raise ValueError(f"{option} {part!r} is not KEY=VALUE (a name, '=', a value without spaces), e.g. "
                                 f"{option} lr0=0.01")  # fmt: skip
            if k in out:
                raise ValueError(f"{option}: {k!r} given twice ({out[k]!r} and {v!r})")
            out[k] = _value(v)
    return out


def parse_train_args(items: list[str] | None) -> dict:
    """``--train-arg`` items -> a dict of Ultralytics train arguments (``ValueError`` on bad syntax)."""
    return parse_key_value_list(items, "--train-arg")


_SWEEP_ARGS = (  # (flags, argparse keywords): the settings compare and demo share; each fills a SweepConfig field
    (("--epochs",), {"type": int, "help": "training epochs (default: preset, else 100)"}),
    (("--imgsz",), {"type": int, "help": "training and evaluation size (default: preset, else 640)"}),
    (("--batch",), {"type": int, "help": "batch size (default: preset, else 16)"}),
    (("--seeds",), {"help": "seeds, e.g. 0,1,2 or 0-2: one run per model and seed (default 0)"}),
    (
        ("--device",),
        {"help": "Ultralytics device of the one slot: cpu, 0, 0,1 (DDP) ... (default: first GPU, else cpu)"},
    ),
    (
        ("--devices",),
        {
            "metavar": "DEV,DEV,...",
            "help": "several runs at once, one per slot: 0,1,2,3 (GPUs), cpu,cpu, "
            "0,0 (two on GPU 0); each worker sees only its GPU; results equal the sequential sweep's",
        },
    ),
    (("--workers",), {"type": int, "default": 0, "help": "dataloader workers per run (default 0)"}),
    (("--val",), {"dest": "val", "action": "store_true", "default": None, "help": "validate after every epoch"}),
    (("--no-val",), {"dest": "val", "action": "store_false", "help": "validate only after the last epoch"}),
    (
        ("--train-arg",),
        {
            "dest": "train_args",
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "further Ultralytics train argument for every run, repeatable (--train-arg lr0=0.01)",
        },
    ),
    (("--metric",), {"default": "voc07_map50", "help": "primary metric the summary ranks by (default voc07_map50)"}),
    (("--weights",), {"default": "last", "choices": ["last", "best"], "help": "checkpoint scored (default last)"}),
    (("--split",), {"help": "split scored (default test when the dataset has one, else val)"}),
    (("--baseline",), {"help": "model the Δ columns refer to (default the *-none model, else stock, else the first)"}),
    (("--resamples",), {"type": int, "help": "bootstrap resamples of the evidence section (default 1000)"}),
    (("--latency-repeats",), {"type": int, "help": "timed rounds of the speed step (default 50, at least 3)"}),
    (("--cpu-threads",), {"type": int, "help": "torch threads for CPU training (default cores - 1) and latency (1)"}),
    (("--no-plots",), {"dest": "plots", "action": "store_false", "help": "skip the PNG plots"}),
    (("--keep-failed",), {"dest": "retry_failed", "action": "store_false", "help": "keep failed runs, do not retry"}),
    (
        ("--rerun-changed",),
        {
            "action": "store_true",
            "help": "train again finished runs whose model YAML was edited "
            "since (the old run folder is kept aside); without it such runs stop the sweep",
        },
    ),
    (
        ("--restart-interrupted",),
        {
            "dest": "resume_runs",
            "action": "store_false",
            "help": "train an interrupted run again from scratch instead of resuming it",
        },
    ),
)
_SLURM_ARGS = (
    (
        ("--executor",),
        {
            "default": "local",
            "choices": ["local", "slurm"],
            "help": "local: this machine (--device/--devices); slurm: a Slurm job array, one task per run",
        },
    ),
    (("--slurm-partition",), {"help": "partition (default: the cluster's default partition)"}),
    (("--slurm-gpus-per-run",), {"type": int, "default": 1, "help": "GPUs per run (default 1; 0 for CPU runs)"}),
    (("--slurm-cpus-per-run",), {"type": int, "help": "CPUs per run (default 8 with GPUs, else 2)"}),
    (("--slurm-time",), {"default": "24:00:00", "help": "time limit per task (default 24:00:00); requeued past it"}),
    (
        ("--slurm-arg",),
        {
            "dest": "slurm_args",
            "action": "append",
            "metavar": "KEY=VALUE",
            "help": "further sbatch option, repeatable (--slurm-arg account=proj --slurm-arg mem=64G)",
        },
    ),
    (("--slurm-max-tasks",), {"type": int, "help": "at most this many array tasks at once (default: all)"}),
    (
        ("--no-wait",),
        {
            "dest": "wait",
            "action": "store_false",
            "help": "submit, print the job ids and return; the same command again attaches and gathers",
        },
    ),
)


def _add(parser: argparse.ArgumentParser, table) -> None:
    for flags, kw in table:
        parser.add_argument(*flags, **kw)


def add_compare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``compare``'s arguments on ``parser``; ``func`` runs it and returns the exit status."""
    from yolo_attn.compare.models import NAMED_SETS

    parser.description = (
        "Train every model under the same settings and seeds (one worker process per run), score each with the VOC "
        "devkit protocols, COCO and Ultralytics' val, time them, and write results.csv, summary.md and plots into "
        "--out. Rerun the same command to resume. Exit status 0 when every run succeeded, 1 when a run failed or is "
        "unfinished (the report shows the rest), 2 for bad arguments, 130 when interrupted."
    )
    parser.add_argument("--models", nargs="+", metavar="MODEL", help="model names as the tables print them, YAML "
                        "paths, quoted globs, or named sets: " + "; ".join(f"{k}: {v}" for k, v in NAMED_SETS.items()))  # fmt: skip
    parser.add_argument("--data", help="dataset YAML, e.g. written by `yolo-attn voc prepare`")
    parser.add_argument("--out", default="runs/compare/exp", help="compare folder (default runs/compare/exp)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the reports of --out")
    parser.add_argument("--remeasure", action="store_true", help="time the finished models of --out again and "
                        "rewrite the reports; takes --out, --latency-repeats, --cpu-threads")  # fmt: skip
    parser.add_argument("--preset", choices=["demo", "may-paper", "evidence"], help="demo: the CPU demo budget; "
                        "may-paper: the MLCA paper's MAY training (640 px, 300 epochs, SGD, batch 40); evidence: "
                        "may-paper with seeds 0-4")  # fmt: skip
    _add(parser, _SWEEP_ARGS)
    _add(parser.add_argument_group("Slurm (--executor slurm; pip install 'yolo-attn[slurm]')"), _SLURM_ARGS)
    parser.set_defaults(func=_compare)
    return parser


def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``demo``'s arguments on ``parser``."""
    from yolo_attn.compare.demo import DEMO_DATA_DIR, DEMO_IMAGES, DEMO_OUT

    parser.description = ("The embedded demo: generate and prepare the sample VOC-format dataset if missing, compare "
                          "the MAY variants on a CPU budget of about 15 minutes, print the summary. Rerun to resume.")  # fmt: skip
    parser.add_argument("--out", default=DEMO_OUT, help=f"compare folder (default {DEMO_OUT})")
    parser.add_argument("--data-dir", default=DEMO_DATA_DIR, help=f"sample dataset folder (default {DEMO_DATA_DIR})")
    parser.add_argument("--images", type=int, default=DEMO_IMAGES, help=f"sample images (default {DEMO_IMAGES})")
    parser.add_argument("--models", nargs="+", metavar="MODEL", help="override the demo's models")
    _add(parser, _SWEEP_ARGS)
    parser.set_defaults(func=_demo)
    return parser


def _sweep_settings(args: argparse.Namespace) -> dict:
    """The `SweepConfig` fields the shared arguments give (unset ones left to its defaults and the preset)."""
    kw = {k: getattr(args, k) for k in ("epochs", "imgsz", "batch", "seeds", "device", "devices", "workers", "val",
          "metric", "weights", "split", "baseline", "latency_repeats", "cpu_threads", "plots", "retry_failed", "resamples",
          "rerun_changed", "resume_runs")}  # fmt: skip
    kw["train_args"] = parse_train_args(args.train_args)
    return {k: v for k, v in kw.items() if v is not None}


def _sweep_exit(out: Path, command: str) -> int:
    """1 when a run of the sweep in ``out`` failed or is unfinished (the reports show the rest), else 0."""
    from yolo_attn.compare.sweep import sweep_status

    counts = sweep_status(out)
    if counts.get("failed") or counts.get("pending") or not counts.get("ok"):
        what = ", ".join(f"{counts[k]} {k}" for k in ("failed", "pending") if counts.get(k)) or "no run finished"
        print(f"yolo-attn {command}: error: {what} (the report shows the rest); see {out / 'summary.md'}",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


_GIVEN = ("epochs", "imgsz", "batch", "split", "seeds", "latency_repeats", "cpu_threads")  # --remeasure checks these


def _compare(args: argparse.Namespace) -> int:
    from yolo_attn.compare import sweep

    if args.report_only and args.remeasure:
        raise ValueError("--report-only and --remeasure exclude each other (--remeasure also reports)")
    if args.report_only:
        sweep.report_only(args.out)
        return EXIT_OK
    if args.remeasure:
        given = {k: v for k, v in _sweep_settings(args).items() if k in _GIVEN}
        sweep.remeasure(args.out, models=args.models, data=args.data, preset=args.preset, **given)
        return EXIT_OK
    slurm = None
    if args.executor == "slurm":
        slurm = {"partition": args.slurm_partition, "gpus_per_run": args.slurm_gpus_per_run, "time": args.slurm_time,
                 "cpus_per_run": args.slurm_cpus_per_run, "max_tasks": args.slurm_max_tasks,
                 "args": parse_key_value_list(args.slurm_args, "--slurm-arg")}  # fmt: skip
    elif args.slurm_partition or args.slurm_args:
        raise ValueError("--slurm-partition/--slurm-arg given, but the executor is local; add --executor slurm")
    out = sweep.compare(args.models, args.data, out=args.out, preset=args.preset, executor=args.executor,
                        slurm=slurm, wait=args.wait, **_sweep_settings(args))  # fmt: skip
    return EXIT_OK if not args.wait else _sweep_exit(out, "compare")


def _demo(args: argparse.Namespace) -> int:
    from yolo_attn.compare.demo import demo

    kw = _sweep_settings(args)
    out = demo(out_dir=args.out, data_dir=args.data_dir, images=args.images, models=args.models, **kw)
    return _sweep_exit(out, "demo")


def _cmd_bench_modules(a: argparse.Namespace) -> int:
    from yolo_attn.bench.modules import format_table, run_benchmark

    modules = [m for chunk in a.modules for m in chunk.split(",") if m] if a.modules else None
    reference = None if str(a.reference).lower() == "none" else a.reference
    try:
        rows = run_benchmark(
            a.device, a.shape, a.dtype, a.repeats, modules, reference, a.warmup, budget_s=a.budget, threads=a.threads
        )
    except (RuntimeError, AttributeError) as e:  # no such device, a reference without the module: bad input
        raise ValueError(str(e)) from None
    print(format_table(rows) + "\n")
    print(
        "MMACs: analytic, of our module (conv/linear MACs at this input + one per element per pooling/gating pass "
        "and per functional conv MAC, AttentionSpec.passes); thop MMACs: what Ultralytics' model.info() counts (leaf "
        "layers only)."
    )
    return 0


def _cmd_bench_models(a: argparse.Namespace) -> int:
    import json

    from yolo_attn._io import write_text
    from yolo_attn.bench.models import format_table, run_benchmark

    if a.json and Path(a.json).is_dir():
        raise IsADirectoryError(f"--json {a.json!r} is a folder")
    progress = None if a.quiet else (lambda s: print(f"[bench models] {s}", file=sys.stderr, flush=True))
    result = run_benchmark(
        a.family, a.imgsz, a.batch, a.runtime, a.train, a.device, a.threads, a.rounds,
        a.warmup, a.variants, a.dtype, a.share_passes, a.seed, progress, a.compile,
    )  # fmt: skip
    print(format_table(result))
    if a.json:
        write_text(a.json, json.dumps(result, indent=2) + "\n")
    return 0


def _cmd_bench_passes(a: argparse.Namespace) -> int:
    import torch

    from yolo_attn.bench.passes import format_passes, measure_passes

    torch.set_num_threads(a.threads)
    for mode in a.mode:
        print(format_passes(measure_passes(a.family, mode, a.calls)))
    return 0


def _cmd_bench_bootstrap(a: argparse.Namespace) -> int:
    import statistics

    import numpy as np

    from yolo_attn.bench.bootstrap import METRICS, synthetic_results, time_bootstrap

    rng = np.random.default_rng(0)
    runs = [synthetic_results(rng, a.images, detections=a.detections) for _ in range(2)]
    print(
        f"paired bootstrap, {a.resamples} resamples x 2 models, {a.images} images, 20 classes, "
        f"{a.detections} detections per model, {' + '.join(METRICS)}:"
    )
    times = []
    for i in range(a.rounds):
        cpu, wall = time_bootstrap(runs, a.resamples, seed=i)
        times.append(wall)
        print(f"  round {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"median {statistics.median(times):.2f} s wall (min {min(times):.2f}, max {max(times):.2f})")
    return 0


def _cmd_bench_gpu(a: argparse.Namespace) -> int:
    from yolo_attn.bench.gpu import run_gpu

    return run_gpu(a.out, build_parser().parse_args, a.dry_run)


def _cmd_models(a: argparse.Namespace) -> int:
    from yolo_attn.zoo import check, render_list, render_table, write
    from yolo_attn.zoo.tables import render_placement_table

    if a.models_command == "list":
        print(render_list(), end="")
    elif a.models_command == "write":
        print(*write(a.dir, a.may_head), sep="\n")
    elif a.models_command == "check":
        problems = check(a.dir, a.may_head)
        if problems:
            head = f" --may-head {a.may_head}" if a.may_head != "detect" else ""
            print(*problems, f"run `yolo-attn models write {a.dir}{head}` to regenerate", sep="\n", file=sys.stderr)
            return 1
    else:
        if a.imgsz % 32:
            raise ValueError(f"--imgsz must be a positive multiple of 32, got {a.imgsz}")
        if set(a.scales) - set("nsmlx"):
            raise ValueError(f"--scales takes letters of nsmlx, got {a.scales!r}")
        print(
            render_placement_table(a.placement, "n", a.imgsz)
            if a.placement
            else render_table(a.dir, a.scales, a.imgsz),
            end="",
        )
    return 0


def _cmd_transfer(a: argparse.Namespace) -> int:
    from yolo_attn.transfer import transfer_weights

    print(transfer_weights(a.weights, a.model, a.out, half=not a.fp32, verbose=False, overwrite=a.overwrite).summary())
    return 0


def _shape(text: str) -> tuple[int, ...]:
    """``--shape B,C,H,W``: four positive integers."""
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape must be four positive integers B,C,H,W like 8,64,40,40, got {text!r}")
    return shape


def _add_bench(sub) -> None:
    from yolo_attn.bench.models import FAMILY_HELP
    from yolo_attn.bench.modules import _PACKAGE, DTYPES
    from yolo_attn.bench.passes import MODES
    from yolo_attn.nn.registry import ATTENTION

    bench = sub.add_parser(
        "bench",
        help="benchmarks: attention modules vs their literal forms (modules), variants vs baseline (models)",
        description="Benchmarks that print numbers. Without a subcommand, modules runs; options of each: "
        "yolo-attn bench modules --help, yolo-attn bench models --help, yolo-attn bench passes --help.",
    ).add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser(
        "modules",
        help="each attention module vs its literal transcription",
        description="Params, MACs and forward / forward+backward time of each attention module vs its literal form.",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    p.add_argument("--shape", type=_shape, help="B,C,H,W (default 8,64,40,40 on CPU, 32,256,80,80 on CUDA)")
    p.add_argument("--dtype", choices=list(DTYPES), help="fp32, or bf16/fp16 autocast (default fp32 CPU, bf16 CUDA)")
    p.add_argument("--repeats", type=number(), help="timed calls per measurement (default 10 CPU, 50 CUDA)")
    p.add_argument("--warmup", type=number(int, 0), help="untimed calls first (default 1 CPU, 10 CUDA)")
    p.add_argument("--threads", type=number(), help="CPU intra-op threads (default: torch's default)")
    p.add_argument(
        "--budget",
        type=number(float, 0, lo_open=True),
        help="seconds per measurement before repeats stop (default 1 CPU, 5 CUDA)",
    )
    p.add_argument("--modules", nargs="+", help=f"subset of: {' '.join(ATTENTION)} (commas also work)")
    p.add_argument(
        "--reference",
        default=_PACKAGE,
        help="'package' (default: yolo_attn.nn.reference), the path of another reference.py, or 'none' to skip",
    )
    p.set_defaults(func=_cmd_bench_modules)

    p = bench.add_parser(
        "models",
        help="each attention variant of a model family vs its no-attention baseline",
        description="What each attention variant adds to a whole detector: params, GFLOPs, attention share, and the "
        "interleaved time ratio to the no-attention baseline with a bootstrap interval and an A/A control.",
    )
    p.add_argument("--family", default="may", help=f"model family: {FAMILY_HELP} (default may)")
    p.add_argument("--imgsz", type=number(), help="square input size (default 640; 320 with --train)")
    p.add_argument("--batch", type=number(), help="batch size (default 1; 8 with --train)")
    p.add_argument("--runtime", default="torch", help="torch or onnxruntime (default torch)")
    p.add_argument("--train", action="store_true", help="time forward + loss + backward instead of inference")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--threads", type=number(), default=1, help="CPU threads for torch / ONNX Runtime (default 1)")
    p.add_argument("--rounds", type=number(), default=30, help="timed rounds, each running every model (default 30)")
    p.add_argument("--warmup", type=number(int, 0), default=2, help="untimed rounds first (default 2)")
    p.add_argument("--variants", nargs="+", help="subset of variants by attention tag, e.g. mlca cbam")
    p.add_argument("--dtype", help="fp32, bf16 or fp16 autocast for torch (default fp32 CPU, bf16 CUDA)")
    p.add_argument("--share-passes", type=number(), default=5, help="passes for the attention share (default 5)")
    p.add_argument("--seed", type=number(int, 0), default=0, help="seed of weights, inputs and bootstrap (default 0)")
    p.add_argument("--json", help="also write the result (meta and rows) to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--compile", action="store_true", help="torch.compile every model as Ultralytics' compile=True does")
    p.set_defaults(func=_cmd_bench_models)

    p = bench.add_parser(
        "passes",
        help="each gate's time in elementwise memory passes over a family's slot tensors",
        description="Each gate's cost in memory passes: how close a module is to the floor of what gating costs.",
    )
    p.add_argument("--family", default="may", help="model family as in `yolo-attn bench models` (default may)")
    p.add_argument("--mode", nargs="+", default=list(MODES), choices=list(MODES), help="eval and/or train")
    p.add_argument("--threads", type=number(), default=1, help="torch threads (default 1)")
    p.add_argument("--calls", type=number(), default=20, help="timed calls per measurement (default 20)")
    p.set_defaults(func=_cmd_bench_passes)

    p = bench.add_parser(
        "bootstrap",
        help="the paired bootstrap of yolo_attn.metrics.evidence on a VOC07-test-sized problem",
        description="Time the paired bootstrap of yolo_attn.metrics.evidence on synthetic VOC07-test-sized results.",
    )
    p.add_argument("--resamples", type=number(), default=1000, help="paired resamples (default 1000)")
    p.add_argument("--rounds", type=number(), default=3, help="timed rounds (default 3)")
    p.add_argument("--images", type=number(), default=4952, help="test images (default 4952, VOC2007 test)")
    p.add_argument("--detections", type=number(), default=100_000, help="detections per model (default 100000)")
    p.set_defaults(func=_cmd_bench_bootstrap)

    p = bench.add_parser(
        "gpu",
        help="the prepared GPU run: module bench at bf16, MAY train step, tiny compare (OUT)",
        description="Every GPU number of the README in one run; logs, summary.txt and device.txt go to OUT.",
    )
    p.add_argument("out", type=Path, help="folder for the logs, the JSON and the compare run (created)")
    p.add_argument("--dry-run", action="store_true", help="print and check the commands, run nothing")
    p.set_defaults(func=_cmd_bench_gpu)


def _add_models(sub) -> None:
    from yolo_attn.zoo.template import MAY_HEADS

    models = sub.add_parser(
        "models",
        help="write / check / profile the model YAMLs of cfg/models",
        description="Model zoo: the one template that writes every model YAML in cfg/models, and the profiler for "
        "its table.",
    ).add_subparsers(dest="models_command", required=True)
    p = models.add_parser("list", help="print the model and dataset YAMLs shipped with yolo_attn, usable by name")
    p.set_defaults(func=_cmd_models)
    for cmd, help_ in (
        ("write", "write every model YAML into DIR (never over a file it did not write)"),
        ("check", "compare DIR with the template; exit 1 on a difference"),
        ("table", "profile every model YAML in DIR and print the README's Markdown tables"),
    ):
        p = models.add_parser(cmd, help=help_)
        p.set_defaults(func=_cmd_models)
        p.add_argument("dir", nargs="?", default="cfg/models")
        if cmd in ("write", "check"):
            p.add_argument(
                "--may-head",
                choices=MAY_HEADS,
                default="detect",
                help="head of the MAY and MobileNet-YOLO files: Ultralytics' Detect (default, the shipped files) or "
                "no-dfl (reg_max: 1, a narrower box branch; write it into a folder of its own)",
            )
        else:
            p.add_argument("--scales", default="nsmlx", help="scales of YOLOv8/YOLO11 to profile (default nsmlx)")
            p.add_argument("--imgsz", type=number(int, 32), default=640, help="a multiple of 32 (default 640)")
            p.add_argument(
                "--placement",
                metavar="MODULE",
                help="print the cost-per-place table of MODULE instead (stock model and every place, scale n)",
            )


def _add_export_check(sub) -> None:
    from yolo_attn.deploy import DYNAMIC, FORMATS, run_export_check

    p = sub.add_parser(
        "export-check",
        help="export a model and its baseline with Ultralytics, run each format, compare",
        description="Export MODEL and its baseline with Ultralytics' exporter, run each result in its runtime through "
        "Ultralytics, compare with PyTorch on generated sample images. Exit 0: every pair within its bounds; "
        "1: a mismatch or a failed export/runtime; 2: bad arguments.",
    )
    p.add_argument("models", nargs="+", help="zoo names of one family (may-mlca may-ema, ...) or .pt checkpoints")
    p.add_argument("--formats", default="onnx", help=f"comma-separated, from: {', '.join(FORMATS)} (default onnx)")
    p.add_argument("--imgsz", default="320", help="comma-separated static sizes (default 320), e.g. 320,640")
    p.add_argument(
        "--dynamic", action="store_true", help=f"dynamic-shape export where supported ({', '.join(DYNAMIC)})"
    )
    p.add_argument("--images", type=number(), default=4, help="sample images compared (default 4)")
    p.add_argument(
        "--rounds", type=number(int, 0), default=10, help="interleaved timing rounds; 0 skips timing (default 10)"
    )
    p.add_argument("--baseline", help="for a .pt MODEL: the baseline checkpoint (stock control)")
    p.add_argument("--out", type=Path, help="keep the exported files in this folder (default: a temporary one)")
    p.add_argument("--seed", type=number(int, 0), default=0, help="seed of the sample images (default 0)")
    p.set_defaults(func=run_export_check)


def _add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="copy a stock checkpoint into a variant with inserted attention layers",
        description="Copy a stock Ultralytics checkpoint into a variant with inserted attention layers.",
    )
    p.add_argument("--weights", required=True, help="stock checkpoint, e.g. yolov8s.pt")
    p.add_argument("--model", required=True, help="variant YAML, e.g. cfg/models/yolov8s-mlca.yaml")
    p.add_argument("--out", required=True, help="checkpoint to write, e.g. init.pt")
    p.add_argument("--fp32", action="store_true", help="save FP32 instead of Ultralytics' FP16")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists (default: refuse)")
    p.set_defaults(func=_cmd_transfer)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of yolo_attn's own subcommands."""
    parser = argparse.ArgumentParser(
        prog="yolo-attn",
        description="yolo_attn commands. Any other command (train, val, predict, export, ...) takes the same "
        "key=value arguments as Ultralytics' `yolo` and runs with yolo_attn's modules registered.",
    )
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=version_text(),
        help="print the versions of yolo-attn, Ultralytics, torch, torchvision and Python, and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_bench(sub)
    _add_models(sub)
    _add_transfer(sub)
    _add_export_check(sub)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("sample", help="write the generated VOC-format sample dataset (VOCdevkit layout)")
    p.add_argument("--out", required=True, help="folder; the devkit is written to OUT/VOCdevkit")
    p.add_argument(
        "--images", type=number(int, 4, 100_000), default=300, help="number of images, 4-100000 (default 300)"
    )
    p.add_argument("--seed", type=number(int, 0), default=0, help="random seed >= 0; same seed, same bytes (default 0)")
    p.add_argument(
        "--imgsz", type=number(int, 32, 4096), default=160, help="long image side in pixels, 32-4096 (default 160)"
    )
    p.set_defaults(func=_cmd_data_sample)

    voc = sub.add_parser("voc", help="Pascal VOC").add_subparsers(dest="voc_command", required=True)
    p = voc.add_parser("prepare", help="VOCdevkit -> Ultralytics layout + devkit-metric ground truth + data YAML")
    p.add_argument("--devkit", required=True, help="the VOCdevkit folder (read only: images are linked, not moved)")
    p.add_argument(
        "--out",
        required=True,
        help="output dataset folder: new, empty, or an unchanged earlier result (else refused, naming the files)",
    )
    p.add_argument(
        "--sets",
        default=None,
        help="YEAR:SET list, e.g. 2007:trainval,2012:trainval,2007:test (default: that, or the "
        "generated devkit's own sets)",
    )
    p.add_argument(
        "--skip-bad", action="store_true", help="skip and report bad images/XML/set-file lines instead of failing"
    )
    p.set_defaults(func=_cmd_voc_prepare)

    p = sub.add_parser(
        "score",
        help="score one model with every protocol (VOC07, VOC12, COCO, Ultralytics val), each named; "
        "`yolo-attn val` is Ultralytics' own val",
        description="Score one model on a dataset split with the VOC2007 and VOC2010+ devkit rules, pycocotools and "
        "Ultralytics' val. Prints the numbers in %; out=FILE saves them as JSON in fractions of 1. "
        "Example: yolo-attn score model=runs/detect/train/weights/best.pt data=datasets/voc/data.yaml split=test "
        "out=metrics.json",
    )
    p.add_argument(
        "pairs",
        nargs="*",
        metavar="key=value",
        help=f"{', '.join(SCORE_KEYS)} (model, data required; split default test, imgsz 640, "
        "conf 0.001, iou 0.7, max_det 300 as for `yolo val`; ultralytics_val=False skips Ultralytics' val; "
        "per_image=FILE saves what the paired bootstrap needs; baseline=B0,B1 variant=V0,V1 (per-image files, one "
        "per seed, paired in order; no model=) or baseline=... with model= and per_image=: Δ vs the baseline with a "
        "95%% interval, P(Δ>0) and a verdict; metric= (voc07_map50), resamples= (1000), seed= (0))",
    )
    p.set_defaults(func=_cmd_score)

    add_compare_arguments(sub.add_parser("compare", help="train and score model variants side by side"))
    add_demo_arguments(sub.add_parser("demo", help="the CPU demo: MAY variants on the generated sample dataset"))
    return parser


def _ultralytics(argv: list[str]) -> int:
    from yolo_attn.integration.internals import run_yolo_cli

    return run_yolo_cli(argv)


def main(argv: list[str] | None = None) -> int:
    """Run ``yolo-attn``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from yolo_attn.integration.compat import allow_full_checkpoint_load

    allow_full_checkpoint_load()  # Ultralytics < 8.2.64 under torch >= 2.6 cannot load checkpoints otherwise
    if not argv or argv[0] in {"-h", "--help"}:
        build_parser().print_help()
        return 0
    if argv[0] in {"-V", "--version"}:
        print(version_text())
        return 0
    if argv[0] not in OWN_COMMANDS:
        return _ultralytics(argv)
    if argv[0] == "bench" and (len(argv) == 1 or argv[1] not in (*BENCHMARKS, "-h", "--help")):
        argv.insert(1, "modules")  # `python -m yolo_attn.bench --device cuda` keeps working
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as e:  # a one-line message naming the thing, not a traceback
        if not isinstance(e, (*BAD_INPUT_ERRORS, OSError, KeyboardInterrupt)):
            raise  # a bug: keep the traceback
        return report_error(argv[0], e)


if __name__ == "__main__":
    sys.exit(main())
