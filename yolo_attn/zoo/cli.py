"""Command line of the model zoo: ``list``, ``write``, ``check``, ``table``.

Command line:
    python -m yolo_attn.zoo write cfg/models    # (re)generate every YAML
    python -m yolo_attn.zoo check cfg/models    # exit 1 when a shipped file differs from the template
    python -m yolo_attn.zoo table cfg/models    # profile every file at 640x640 and print the README tables
    python -m yolo_attn.zoo write DIR --may-head no-dfl    # MAY / MobileNet-YOLO with reg_max 1 (narrower head)
"""

from __future__ import annotations

import argparse
import sys

from yolo_attn.zoo.tables import render_list, render_placement_table, render_table
from yolo_attn.zoo.template import MAY_HEADS, check, write

_DESCRIPTION = (
    "Model zoo: the one template that writes every model YAML in ``cfg/models``, and the profiler for its table."
)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``list``, ``write DIR [--may-head H]``, ``check DIR [--may-head H]``, ``table DIR [--scales nsmlx]
    [--imgsz 640]``."""
    parser = argparse.ArgumentParser(prog="yolo-attn models", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="print the model and dataset YAMLs shipped with yolo_attn, usable by name")
    for cmd, help_ in (
        ("write", "write every model YAML into DIR"),
        ("check", "compare DIR with the template; exit 1 on a difference"),
        ("table", "profile every model YAML in DIR and print the README's Markdown tables"),
    ):
        p = sub.add_parser(cmd, help=help_)
        p.add_argument("dir", nargs="?", default="cfg/models")
        if cmd in ("write", "check"):
            p.add_argument(
                "--may-head",
                choices=MAY_HEADS,
                default="detect",
                help="head of the MAY and MobileNet-YOLO files: Ultralytics' Detect (default, the shipped files) or "
                "no-dfl (reg_max: 1, a narrower box branch; write it into a folder of its own)",
            )
        if cmd == "table":
            p.add_argument("--scales", default="nsmlx", help="scales of YOLOv8/YOLO11 to profile (default nsmlx)")
            p.add_argument("--imgsz", type=int, default=640)
            p.add_argument(
                "--placement",
                metavar="MODULE",
                help="print the cost-per-place table of MODULE instead (stock model and every place, scale n)",
            )
    a = parser.parse_args(argv)
    if a.cmd == "list":
        print(render_list(), end="")
        return 0
    if a.cmd == "write":
        for path in write(a.dir, a.may_head):
            print(path)
        return 0
    if a.cmd == "check":
        problems = check(a.dir, a.may_head)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            head = f" --may-head {a.may_head}" if a.may_head != "detect" else ""
            print(f"run `python -m yolo_attn.zoo write {a.dir}{head}` to regenerate", file=sys.stderr)
        return 1 if problems else 0
    if a.imgsz < 32 or a.imgsz % 32:
        parser.error(f"--imgsz must be a positive multiple of 32, got {a.imgsz}")
    bad = set(a.scales) - set("nsmlx")
    if bad:
        parser.error(f"--scales takes letters of nsmlx, got {''.join(sorted(bad))!r}")
    if a.placement:
        print(render_placement_table(a.placement, "n", a.imgsz), end="")
        return 0
    print(render_table(a.dir, a.scales, a.imgsz), end="")
    return 0
