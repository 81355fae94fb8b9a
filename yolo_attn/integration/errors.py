"""Errors of the Ultralytics integration (plain classes: importing them imports no Ultralytics)."""

from __future__ import annotations

__all__ = ["UltralyticsCompatibilityError", "UnknownModuleError", "YamlModuleError"]


class UltralyticsCompatibilityError(RuntimeError):
    """The installed Ultralytics breaks an assumption the integration relies on; the message names the supported
    versions."""


class UnknownModuleError(KeyError, ValueError):
    """A model YAML names a module the parser cannot resolve.

    A ``KeyError`` like Ultralytics' own lookup failure (callers catching that keep working) and a ``ValueError``
    (bad input: the ``yolo-attn`` commands exit with status 2); the message is shown plainly.
    """

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class YamlModuleError(ValueError):
    """A YAML row with a yolo_attn module is invalid; the message names the layer index and the module."""
