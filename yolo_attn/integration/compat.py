"""Which Ultralytics releases yolo_attn supports, and what differs between them: every version gate in one place.

Measured on each release named below (torch 2.14.1, CPU; the README's version table): the plugin builds the same
YOLOv8 / MAY / MobileNet-YOLO networks, with the same parameter counts, on every supported release, except where a
release itself builds a stock network differently. What differs:

- ``C3k2`` / ``C2PSA`` (the YOLO11 blocks) exist from 8.3.0, ``A2C2f`` (YOLO12) from 8.3.78, YOLO26's blocks from
  8.4.0. A model YAML that needs a newer release fails with an error naming the minimum version.
- 8.3.0 to 8.3.16 give YOLOv8-style heads (every model without C3k2/A2C2f/C2fCIB) YOLO11's depthwise class branch;
  8.3.17 restored the v8 head (``Detect.legacy``). Building such a model there warns: its parameter count and its
  checkpoints differ from every other release.
- Ultralytics' own ``PSA`` (YOLOv10's position-sensitive attention) exists from 8.2.38. Before, a bare ``PSA`` in a
  YAML resolves to yolo_attn's EPSA (its alias), so the same YAML means something else: building it warns.
- Before 8.2.64 Ultralytics loads checkpoints with ``torch.load``'s default, which torch >= 2.6 made
  ``weights_only=True``: every checkpoint (its own too) fails to load. :func:`allow_full_checkpoint_load` sets
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the ``yolo-attn`` commands (what Ultralytics 8.2.64+ does itself by
  passing ``weights_only=False``); the stock ``yolo`` command needs that variable set by the user there.
- Before 8.0.136 there is no ``ultralytics.utils``; anything older than :data:`MIN_ULTRALYTICS` is refused with an
  ``UltralyticsCompatibilityError`` naming the supported range, before any Ultralytics module is imported.

Importing this module imports no Ultralytics (versions come from the package metadata).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from importlib import metadata

from yolo_attn.integration.errors import UltralyticsCompatibilityError

__all__ = [
    "FAMILY_SINCE",
    "MIN_ULTRALYTICS",
    "MODULE_SINCE",
    "SUPPORTED_ULTRALYTICS",
    "TESTED_ULTRALYTICS",
    "VersionWarning",
    "allow_full_checkpoint_load",
    "check_model_dict",
    "check_supported",
    "needs_full_checkpoint_load",
    "parse_version",
    "ultralytics_version",
]

LOGGER = logging.getLogger("yolo_attn")

MIN_ULTRALYTICS = "8.1.0"  # oldest release the CI matrix tests
BELOW_ULTRALYTICS = "8.5"  # first release not declared (pyproject: ultralytics>=8.1,<8.5)
TESTED_ULTRALYTICS = ("8.1.0", "8.3.78", "8.4.190")  # the CI matrix (.ci/versions)
SUPPORTED_ULTRALYTICS = (
    f"ultralytics>={MIN_ULTRALYTICS},<{BELOW_ULTRALYTICS} (tested in CI with {', '.join(TESTED_ULTRALYTICS)})"
)

# The first release that has each stock block our YAML families use (checked in the released wheels).
MODULE_SINCE = {
    "C3k2": "8.3.0",
    "C2PSA": "8.3.0",
    "A2C2f": "8.3.78",
}
# Stock families by file-name prefix (ours are named <family>-<attention>.yaml): the release that ships the family.
# YOLO26's blocks exist earlier under the same names with other signatures, so its gate is by family, not block.
FAMILY_SINCE = {"yolo11": "8.3.0", "yolo12": "8.3.78", "yolo26": "8.4.0"}
HEAD_CHANGE = ("8.3.0", "8.3.17")  # [first, fixed): YOLO11's class branch in every Detect head
ULTRALYTICS_PSA_SINCE = "8.2.38"  # Ultralytics' own PSA (YOLOv10)
WEIGHTS_ONLY_SAFE_SINCE = "8.2.64"  # Ultralytics passes weights_only=False itself from this release on
_LEGACY_HEAD_FREE = ("C3k2", "A2C2f", "C2fCIB")  # a model with any of these keeps the new head on 8.3.17+ too


class VersionWarning(UserWarning):
    """A model builds on this Ultralytics release, but differently from other releases; the message says how."""


def parse_version(version: str) -> tuple[int, int, int]:
    """``"8.3.17"`` -> ``(8, 3, 17)`` (missing parts are 0, suffixes such as ``.dev0`` or ``rc1`` ignored)."""
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3]]
    if not parts:
        raise ValueError(f"not a version: {version!r}")
    return (*parts, 0, 0)[:3]


def ultralytics_version() -> str:
    """The installed Ultralytics version from its metadata, without importing it ("" when not installed)."""
    try:
        return metadata.version("ultralytics")
    except metadata.PackageNotFoundError:
        return ""


def _at_least(version: str, minimum: str) -> bool:
    return parse_version(version) >= parse_version(minimum)


def check_supported(version: str | None = None) -> str:
    """Refuse an Ultralytics release outside the supported range; warn on a newer one than declared.

    Called by ``register()`` before it imports any Ultralytics module, so an old release fails with this error
    rather than with an ``ImportError`` from inside Ultralytics.

    Args:
        version (str | None): The version to check; None reads the installed one.

    Returns:
        (str): The version checked.

    Raises:
        UltralyticsCompatibilityError: Ultralytics is missing or older than :data:`MIN_ULTRALYTICS`.
    """
    version = ultralytics_version() if version is None else version
    if not version:
        raise UltralyticsCompatibilityError(
            f"yolo_attn needs Ultralytics, which is not installed. Supported: {SUPPORTED_ULTRALYTICS}. "
            f'Install it with: pip install "ultralytics>={MIN_ULTRALYTICS},<{BELOW_ULTRALYTICS}"'
        )
    if not _at_least(version, MIN_ULTRALYTICS):
        raise UltralyticsCompatibilityError(
            f"yolo_attn does not support ultralytics {version}. Supported: {SUPPORTED_ULTRALYTICS}. "
            f'Upgrade with: pip install "ultralytics>={MIN_ULTRALYTICS},<{BELOW_ULTRALYTICS}"'
        )
    if _at_least(version, BELOW_ULTRALYTICS):
        warnings.warn(
            f"yolo_attn was not tested with ultralytics {version} (supported: {SUPPORTED_ULTRALYTICS}); "
            "registration checks its assumptions and fails loudly if one is broken",
            VersionWarning,
            stacklevel=2,
        )
    return version


def module_needs(name: str, version: str | None = None) -> str | None:
    """The minimum Ultralytics version a stock block needs, when the installed one is older; else None.

    Examples:
        >>> module_needs("C3k2", "8.2.103")
        '8.3.0'
    """
    since = MODULE_SINCE.get(name)
    version = ultralytics_version() if version is None else version
    if since and version and not _at_least(version, since):
        return since
    return None


def family_needs(file_name: str, version: str | None = None) -> tuple[str, str] | None:
    """``(family, minimum version)`` when the YAML ``file_name`` belongs to a stock family newer than the installed
    Ultralytics (``yolo26n-mlca.yaml`` on 8.3.x -> ``("yolo26", "8.4.0")``); else None."""
    m = re.match(r"(yolo\d+)", os.path.basename(str(file_name)))
    since = FAMILY_SINCE.get(m.group(1)) if m else None
    version = ultralytics_version() if version is None else version
    if since and version and not _at_least(version, since):
        return m.group(1), since
    return None


def _module_names(d: dict) -> set[str]:
    return {
        row[2]
        for part in ("backbone", "head")
        for row in d.get(part) or []
        if isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str)
    }


def check_model_dict(d: dict, version: str | None = None, psa_is_ours: bool = False) -> None:
    """Refuse a model dict the installed release cannot build; warn when it builds differently than on other releases.

    The parser wrapper calls it before every build.

    Args:
        d (dict): The model dict (``yaml_file`` names the YAML when it came from one).
        version (str | None): Ultralytics version; None reads the installed one.
        psa_is_ours (bool): Whether a bare ``PSA`` resolves to yolo_attn's EPSA here (no Ultralytics PSA).

    Raises:
        UltralyticsCompatibilityError: The YAML's family or one of its stock blocks needs a newer release; the message
            names the minimum version.
    """
    version = ultralytics_version() if version is None else version
    if not version:
        return
    names = _module_names(d)
    source = d.get("yaml_file") or "this model"
    upgrade = f'pip install "ultralytics>={{}},<{BELOW_ULTRALYTICS}"'
    family = family_needs(source, version) if d.get("yaml_file") else None
    if family:
        raise UltralyticsCompatibilityError(
            f"{source}: {family[0].upper()} models need ultralytics>={family[1]} (installed: {version}). "
            f"Upgrade with: {upgrade.format(family[1])}"
        )
    too_new = {n: module_needs(n, version) for n in sorted(names)}
    too_new = {n: v for n, v in too_new.items() if v}
    if too_new:
        since = max(too_new.values(), key=parse_version)
        blocks = ", ".join(f"{n} (ultralytics>={v})" for n, v in too_new.items())
        raise UltralyticsCompatibilityError(
            f"{source} uses {blocks}, which ultralytics {version} does not have: it needs ultralytics>={since}. "
            f"Upgrade with: {upgrade.format(since)}"
        )
    v = parse_version(version)
    if (
        parse_version(HEAD_CHANGE[0]) <= v < parse_version(HEAD_CHANGE[1])
        and "Detect" in names
        and not names & set(_LEGACY_HEAD_FREE)
    ):
        warnings.warn(
            f"ultralytics {version} builds YOLOv8-style Detect heads ({source}) with YOLO11's depthwise class "
            f"branch (Ultralytics' change in {HEAD_CHANGE[0]}, undone in {HEAD_CHANGE[1]}): parameter counts and "
            f"checkpoints differ from every other release. Use ultralytics<{HEAD_CHANGE[0]} or "
            f">={HEAD_CHANGE[1]} to compare with results from other releases.",
            VersionWarning,
            stacklevel=3,
        )
    if psa_is_ours and "PSA" in names:
        warnings.warn(
            f"'PSA' in {source} is yolo_attn's EPSA on ultralytics {version}, which has no PSA of its own; from "
            f"ultralytics {ULTRALYTICS_PSA_SINCE} on, 'PSA' is YOLOv10's position-sensitive attention, an unrelated "
            "module. Write 'EPSA' (or 'yolo_attn.EPSA') so the YAML means the same on every release.",
            VersionWarning,
            stacklevel=3,
        )


def needs_full_checkpoint_load(version: str | None = None, torch_version: str | None = None) -> bool:
    """Whether Ultralytics loads checkpoints with torch's ``weights_only=True`` default (and so fails to load any).

    True for Ultralytics older than 8.2.64 (which leaves ``weights_only`` to torch) under torch >= 2.6 (whose
    default became True).
    """
    if torch_version is None:
        try:
            torch_version = metadata.version("torch")
        except metadata.PackageNotFoundError:
            return False
    version = ultralytics_version() if version is None else version
    return bool(version) and not _at_least(version, WEIGHTS_ONLY_SAFE_SINCE) and _at_least(torch_version, "2.6")


def allow_full_checkpoint_load() -> bool:
    """Let this process (and its children) load Ultralytics checkpoints where Ultralytics cannot by itself.

    On Ultralytics < 8.2.64 under torch >= 2.6, sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: torch then loads with
    ``weights_only=False`` wherever the caller did not choose, which is what Ultralytics 8.2.64+ asks for itself.
    Like any full checkpoint load, it runs the pickle: load only checkpoints you trust. A value the user set is kept.

    Returns:
        (bool): Whether the variable was set here.
    """
    if not needs_full_checkpoint_load() or "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in os.environ:
        return False
    if os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in {"1", "y", "yes", "true"}:
        return False  # the user asked for safe loading everywhere: respect it (torch refuses both)
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    LOGGER.info(
        "yolo_attn: ultralytics %s loads checkpoints with torch's weights_only default, which torch >= 2.6 made "
        "True; set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for this command (as ultralytics>=%s does itself)",
        ultralytics_version(),
        WEIGHTS_ONLY_SAFE_SINCE,
    )
    return True
