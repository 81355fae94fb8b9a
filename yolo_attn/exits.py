"""Exit statuses of every ``yolo-attn`` command, their mapping from the exception that ended it, and the one validator
of numeric options (stdlib only).

Used by ``yolo_attn.cli`` for every command, so all answer alike.
"""

from __future__ import annotations

import argparse
import sys

__all__ = [
    "BAD_INPUT_ERRORS",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "exit_status",
    "number",
    "report_error",
]

#: Exit statuses of every `yolo-attn` command (README, "Exit status").
EXIT_OK = 0
EXIT_FAILED = 1  # the work started and failed (e.g. out of disk, every run of a sweep failed)
EXIT_BAD_INPUT = 2  # bad arguments or input, found before any work started
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT
# Exceptions that mean "bad arguments or input". Other OSErrors (ENOSPC, EIO, ...) happen while working: EXIT_FAILED.
BAD_INPUT_ERRORS = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def exit_status(exc: BaseException) -> int:
    """Return the documented exit status for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BAD_INPUT_ERRORS):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def report_error(command: str, exc: BaseException) -> int:
    """Print a one-line message for ``exc`` (no traceback) on stderr and return its exit status."""
    status = exit_status(exc)
    if status == EXIT_INTERRUPTED:
        print(f"yolo-attn {command}: interrupted", file=sys.stderr)
    else:
        kind = "" if status == EXIT_BAD_INPUT else f" ({type(exc).__name__})"
        print(f"yolo-attn {command}: error{kind}: {exc}", file=sys.stderr)
    return status


def number(kind: type = int, lo: float = 1, hi: float | None = None, lo_open: bool = False):
    """The one validator of numeric options (argparse ``type=`` and ``score``'s key=value): a ``kind`` (int or float)
    from ``lo`` to ``hi`` (None: no upper bound; ``lo_open``: ``lo`` itself excluded), refused with a message naming
    the value and the valid range."""
    what = "an integer" if kind is int else "a number"
    if hi is None or lo_open:
        valid = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
    else:
        valid = f"from {lo:g} to {hi:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if (
            value is None
            or value != value
            or (value <= lo if lo_open else value < lo)
            or (hi is not None and value > hi)
        ):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} {valid}")
        return value

    parse.__name__ = f"{kind.__name__} {valid}"
    return parse
