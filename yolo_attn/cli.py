"""The ``yolo-attn`` command line: yolo_attn's own subcommands, and every Ultralytics command with the plugin registered.

Examples:
    yolo-attn train model=cfg/models/yolov8s-mlca.yaml data=VOC.yaml epochs=100   # same arguments as `yolo`
    yolo-attn bench --device cpu
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Subcommands implemented here; anything else is handed to Ultralytics' `yolo` entry point unchanged.
OWN_COMMANDS = ("data", "voc", "score", "compare", "demo")
# Subcommands whose module has its own `main(argv)`: `yolo-attn bench --help` shows their options.
DELEGATED = {
    "bench": (
        "yolo_attn.bench",
        "benchmarks: attention modules vs their literal forms (modules), variants vs baseline (models)",
    ),
    "transfer": ("yolo_attn.transfer", "copy a stock checkpoint into a variant with inserted attention layers"),
    "models": ("yolo_attn.zoo", "write / check / profile the model YAMLs of cfg/models"),
    "export-check": ("yolo_attn.deploy", "export a model and its baseline with Ultralytics, run each format, compare"),
}

# The exit statuses and their mapping from exception types live in yolo_attn/exits.py (compare's CLI uses them too).
from yolo_attn.exits import (  # noqa: E402, F401  (re-exported: yolo_attn.cli.exit_status, ...)
    BAD_INPUT_ERRORS,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_status,
    report_error,
)


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
    "imgsz": int,
    "batch": int,
    "conf": float,
    "iou": float,
    "max_det": int,
    "device": str,
    "ultralytics_val": _bool,
    "out": str,
    "per_image": str,
    **dict.fromkeys(("baseline", "variant", "metric"), str),  # the paired bootstrap (yolo_attn.metrics.evidence)
    **dict.fromkeys(("resamples", "seed"), int),
}


def _int_in(lo: int, hi: int | None):
    """An argparse type: an integer from lo to hi (None: no upper bound), with a message naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            valid = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer {valid}")
        return value

    return parse


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
        except ValueError:
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
    for name, (_, help_) in DELEGATED.items():
        sub.add_parser(name, help=help_, add_help=False)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("sample", help="write the generated VOC-format sample dataset (VOCdevkit layout)")
    p.add_argument("--out", required=True, help="folder; the devkit is written to OUT/VOCdevkit")
    p.add_argument("--images", type=_int_in(4, 100_000), default=300, help="number of images, 4-100000 (default 300)")
    p.add_argument(
        "--seed", type=_int_in(0, None), default=0, help="random seed >= 0; same seed, same bytes (default 0)"
    )
    p.add_argument(
        "--imgsz", type=_int_in(32, 4096), default=160, help="long image side in pixels, 32-4096 (default 160)"
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

    # compare's arguments live beside its code (yolo_attn/compare/cli.py); they are registered here.
    from yolo_attn.compare.cli import add_compare_arguments, add_demo_arguments

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
    if argv[0] not in OWN_COMMANDS and argv[0] not in DELEGATED:
        return _ultralytics(argv)
    try:
        if argv[0] in DELEGATED:
            import importlib

            return int(importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as e:  # a one-line message naming the thing, not a traceback
        if not isinstance(e, (*BAD_INPUT_ERRORS, OSError, KeyboardInterrupt)):
            raise  # a bug: keep the traceback
        return report_error(argv[0], e)


if __name__ == "__main__":
    sys.exit(main())
