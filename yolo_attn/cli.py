"""The ``yolo-attn`` command line: yolo_attn's own subcommands, and every Ultralytics command with the plugin registered.

Examples:
    yolo-attn train model=cfg/models/yolov8s-mlca.yaml data=VOC.yaml epochs=100   # same arguments as `yolo`
    yolo-attn bench --device cpu
"""

from __future__ import annotations

import argparse
import sys

# Subcommands implemented here; anything else is handed to Ultralytics' `yolo` entry point unchanged.
OWN_COMMANDS = ("bench",)


def _cmd_bench(args: argparse.Namespace) -> int:
    from yolo_attn import bench

    return bench.main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of yolo_attn's own subcommands."""
    parser = argparse.ArgumentParser(
        prog="yolo-attn",
        description="yolo_attn commands. Any other command (train, val, predict, export, ...) takes the same "
        "key=value arguments as Ultralytics' `yolo` and runs with yolo_attn's modules registered.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench", help="benchmark the attention modules against their literal forms", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bench)
    return parser


def _ultralytics(argv: list[str]) -> int:
    from ultralytics.cfg import entrypoint

    import yolo_attn  # registers

    yolo_attn.register()
    sys.argv[:] = ["yolo", *argv]  # Ultralytics reads ultralytics.utils.ARGV, the same list object as sys.argv
    entrypoint()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``yolo-attn``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        build_parser().print_help()
        return 0
    if argv[0] not in OWN_COMMANDS:
        return _ultralytics(argv)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
