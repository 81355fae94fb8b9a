"""Exit statuses of every ``yolo-attn`` command and their mapping from the exception that ended it (stdlib only).

Used by ``yolo_attn.cli`` for every command, so all answer alike.
"""

from __future__ import annotations

import sys

__all__ = [
    "BAD_INPUT_ERRORS",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "exit_status",
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
