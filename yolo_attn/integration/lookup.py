"""Find yolo_attn's model and dataset YAMLs by bare name, through Ultralytics' own YAML lookup.

``model=yolov8s-mlca.yaml`` works like ``model=yolov8s.yaml``: Ultralytics' ``yaml_model_load`` asks
``ultralytics.nn.tasks.check_yaml`` for the file (the scale-free name ``yolov8-mlca.yaml`` and the name as written,
in an order that depends on the release) and takes the scale letter from the name as written. Dataset YAMLs go
through ``check_file`` as called by ``ultralytics.data.utils``. :func:`install` wraps those two module globals (looked up at call
time by every caller) so that a name Ultralytics cannot find is looked up among the YAMLs yolo_attn ships:

- Ultralytics' own lookup always runs first: an existing path (absolute, or relative to the current folder) wins,
  and a stock name (``yolov8s.yaml``, ``VOC.yaml``) is never shadowed.
- Only a bare file name (no folder, no URL) with a ``.yaml``/``.yml`` suffix is looked up among ours.
- A name found nowhere fails with Ultralytics' own ``FileNotFoundError`` (same type, same text), followed by the
  closest names yolo_attn ships, if any.

Where the YAMLs are: a wheel carries them as ``yolo_attn/cfg/{models,datasets}`` (copied there at build time from the
repository's ``cfg/``); a source checkout or an editable install reads the repository's ``cfg/`` itself.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import sys
from pathlib import Path

__all__ = [
    "available_datasets",
    "available_models",
    "cfg_dir",
    "find_dataset",
    "find_model",
    "install",
    "is_installed",
    "model_names",
    "uninstall",
]

_PACKAGE = Path(__file__).resolve().parents[1]  # .../yolo_attn
_SCALES = "nslmx"
_SCALED = re.compile(r"^(yolo(?:v)?\d+)(-.+)$")  # yolov8-mlca -> yolov8 + -mlca (scale letter goes between)


def _repo_root() -> Path | None:
    """The source checkout yolo_attn is imported from (editable install or PYTHONPATH), or None."""
    root = _PACKAGE.parent
    pyproject = root / "pyproject.toml"
    try:
        if pyproject.is_file() and re.search(r'^name\s*=\s*"yolo-attn"', pyproject.read_text("utf-8"), re.M):
            return root
    except OSError:
        pass
    return None


def cfg_dir(kind: str) -> Path | None:
    """The folder of the YAMLs yolo_attn ships: ``kind`` is ``"models"`` or ``"datasets"``; None if absent.

    A source checkout's ``cfg/<kind>`` comes first (an editable install must see the files being edited), then the
    copy inside an installed wheel (``yolo_attn/cfg/<kind>``).
    """
    if kind not in ("models", "datasets"):
        raise ValueError(f"cfg_dir: kind must be 'models' or 'datasets', got {kind!r}")
    root = _repo_root()
    for d in ((root / "cfg" / kind) if root else None, _PACKAGE / "cfg" / kind):
        if d is not None and d.is_dir():
            return d
    return None


def available_models() -> list[Path]:
    """Every model YAML yolo_attn ships (sorted by name)."""
    d = cfg_dir("models")
    return sorted(d.glob("*.yaml")) if d else []


def available_datasets() -> list[Path]:
    """Every dataset YAML yolo_attn ships (sorted by name)."""
    d = cfg_dir("datasets")
    return sorted(d.glob("*.yaml")) if d else []


def _scales(path: Path) -> str:
    """The scale letters a model YAML declares ("" when it has none), read without a YAML parser."""
    text = path.read_text(encoding="utf-8")
    block = re.search(r"^scales:.*?\n((?:[ \t]+.*\n)+)", text, re.M)
    return "".join(re.findall(r"^[ \t]+([nslmx]):", block.group(1), re.M)) if block else ""


def model_names(with_scales: bool = True) -> list[str]:
    """The names ``model=`` accepts for the shipped YAMLs: ``yolov8-mlca.yaml`` and, with ``with_scales``, each
    scale (``yolov8n-mlca.yaml`` ... ``yolov8x-mlca.yaml``) of the files that declare scales."""
    names = []
    for p in available_models():
        names.append(p.name)
        m = _SCALED.match(p.stem)
        if with_scales and m:
            names += [f"{m.group(1)}{s}{m.group(2)}{p.suffix}" for s in _scales(p)]
    return names


def _bare(file) -> str | None:
    """``file`` as a bare YAML file name (no folder, no URL), else None."""
    s = str(file).strip()
    if not s or "://" in s or "/" in s or "\\" in s or Path(s).suffix.lower() not in (".yaml", ".yml"):
        return None
    return s


def find_model(name: str) -> Path | None:
    """The shipped model YAML named exactly ``name`` (scale-free, ``yolov8-mlca.yaml``), or None."""
    bare = _bare(name)
    d = cfg_dir("models")
    return (d / bare) if bare and d and (d / bare).is_file() else None


def find_dataset(name: str) -> Path | None:
    """The shipped dataset YAML named exactly ``name`` (``yolo-attn-voc.yaml``), or None."""
    bare = _bare(name)
    d = cfg_dir("datasets")
    return (d / bare) if bare and d and (d / bare).is_file() else None


def _hint(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in candidates], n=3, cutoff=0.75)
    by_lower = {c.lower(): c for c in candidates}
    if not close:
        return ""
    return (
        f". yolo_attn ships close names: {', '.join(by_lower[c] for c in close)} (yolo-attn models list shows them all)"
    )


def _hard(original, args: tuple, kwargs: dict) -> tuple[inspect.BoundArguments, bool]:
    """Bind a call of Ultralytics' ``check_file``/``check_yaml`` (signatures differ across releases)."""
    bound = inspect.signature(original).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound, bool(bound.arguments.get("hard", True))


def _wrap(original, find, candidates, caller: str | None = None):
    """Ultralytics' lookup first; then ours for a bare name; then Ultralytics' own error, with a hint.

    With ``caller``, only calls made from that module are looked up among ours; others go straight to ``original``.
    """

    @functools.wraps(original)
    def lookup(*args, **kwargs):
        if caller is not None and sys._getframe(1).f_globals.get("__name__") != caller:
            return original(*args, **kwargs)
        bound, hard = _hard(original, args, kwargs)
        name = _bare(bound.arguments.get("file", ""))
        if name is None:
            return original(*bound.args, **bound.kwargs)
        bound.arguments["hard"] = False
        found = original(*bound.args, **bound.kwargs)
        if found:
            return found
        ours = find(name)
        if ours is not None:
            return str(ours)
        if not hard:
            return found
        bound.arguments["hard"] = True
        try:
            return original(*bound.args, **bound.kwargs)
        except FileNotFoundError as e:
            hint = _hint(name, candidates())
            if not hint:
                raise
            raise FileNotFoundError(f"{e}{hint}") from e

    lookup.__yolo_attn__ = True
    return lookup


def _buildable_model_names() -> list[str]:
    """Hint candidates: the shipped names whose family the installed Ultralytics has."""
    from yolo_attn.integration.compat import family_needs

    return [n for n in model_names() if family_needs(n) is None]


def _dataset_names() -> list[str]:
    return [p.name for p in available_datasets()]


_DATA_UTILS = "ultralytics.data.utils"


def install() -> None:
    """Wrap Ultralytics' model-YAML lookup (``ultralytics.nn.tasks.check_yaml``) and dataset-YAML lookup (the
    ``check_file`` that ``ultralytics.data.utils`` calls) so that the shipped YAMLs resolve by bare name (idempotent).

    Registration may run while ``ultralytics.data.utils`` is still being imported (it imports the parser on some
    releases) and has not bound ``check_file`` yet. So ``ultralytics.utils.checks.check_file`` is wrapped too, acting
    only for calls from ``ultralytics.data.utils`` (which binds it when its import resumes); everything else that
    calls it gets Ultralytics' function unchanged.
    """
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils.checks as checks

    if not getattr(tasks.check_yaml, "__yolo_attn__", False):
        tasks.check_yaml = _wrap(tasks.check_yaml, find_model, _buildable_model_names)
    if not getattr(checks.check_file, "__yolo_attn__", False):
        checks.check_file = _wrap(checks.check_file, find_dataset, _dataset_names, caller=_DATA_UTILS)
    data_utils = sys.modules.get(_DATA_UTILS)
    bound = getattr(data_utils, "check_file", None)
    if bound is not None and not getattr(bound, "__yolo_attn__", False):
        data_utils.check_file = _wrap(bound, find_dataset, _dataset_names, caller=_DATA_UTILS)


def uninstall() -> None:
    """Undo :func:`install` (tests)."""
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils.checks as checks

    for module, attr in ((tasks, "check_yaml"), (checks, "check_file"), (sys.modules.get(_DATA_UTILS), "check_file")):
        current = getattr(module, attr, None)
        if getattr(current, "__yolo_attn__", False):
            setattr(module, attr, current.__wrapped__)


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    tasks = sys.modules.get("ultralytics.nn.tasks")
    return bool(tasks is not None and getattr(tasks.check_yaml, "__yolo_attn__", False))
