"""Which models a sweep compares: YAML files, globs and named sets of the zoo.

A ``--models`` entry is one of:

- a model YAML path, e.g. ``cfg/models/may-mlca.yaml``; a scaled name such as ``cfg/models/yolov8s-mlca.yaml`` is
  accepted when ``cfg/models/yolov8-mlca.yaml`` exists (Ultralytics takes the scale letter from the file name), and
  so is a stock Ultralytics name such as ``yolov8n.yaml``;
- a glob, e.g. ``'cfg/models/may-*.yaml'`` (quote it so the shell does not expand it; expanded ones work too);
- a named set (see ``NAMED_SETS``): ``may``, ``may-demo``, ``mobilenet-neck``, ``yolov8`` / ``yolo11`` (scale n)
  or with a scale letter, ``yolov8s`` / ``yolo11m``: Ultralytics' stock model first, then every attention variant.

Sets are read from the repository's ``cfg/models`` (found from the working directory or the package location);
when neither exists (a wheel install) the zoo template writes the files into ``<out>/models`` first.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from yolo_attn.nn.registry import ATTENTION

__all__ = ["DEMO_MODELS", "NAMED_SETS", "ModelSpec", "default_baseline", "find_models_dir", "resolve_models"]

#: Named sets and what they hold (the text is shown by ``--help``).
NAMED_SETS: dict[str, str] = {
    "may": "every MAY variant, may-*.yaml (none = SEOFF baseline first, then MobileNetV3 SE and every other module)",
    "may-demo": "the demo's MAY variants: none, MobileNetV3 SE, MLCA, ECA, ELA",
    "mobilenet-neck": "MobileNet-YOLO with attention in the neck, mobilenet-yolo-*.yaml (baseline first)",
    "yolov8[nslmx]": "Ultralytics' yolov8<scale>.yaml, then yolov8<scale>-<module>.yaml for every module (scale n "
    "when omitted)",
    "yolo11[nslmx]": "as yolov8, for YOLO11",
}
#: The demo's variants (file stems in cfg/models): the two baselines of the MLCA paper, MLCA and two more.
DEMO_MODELS: tuple[str, ...] = ("may-none", "may-mbse", "may-mlca", "may-eca", "may-ela")
# File-name tags in the zoo's order (baselines first); files with other tags follow, sorted.
_TAG_ORDER = ("none", *(spec.tag for spec in ATTENTION.values()))
_SCALED_SET = re.compile(r"^(yolov8|yolo11)([nslmx]?)$")
_SCALE_IN_NAME = re.compile(r"^(.*?\d+)([nslmx])(-.+)?$")  # yolov8s-mlca -> yolov8 + s + -mlca


@dataclass(frozen=True)
class ModelSpec:
    """One model of a sweep.

    Attributes:
        label (str): Short unique name used in tables, plots and folder names (the file stem, e.g. ``may-mlca``).
        model (str): What is passed to ``YOLO(...)``: a YAML path (absolute) or a stock Ultralytics name.
        file (str): The file that will be read (the unscaled YAML for scaled names), or "" when not found.
        error (str): Why the model cannot be used (e.g. file not found); "" when fine. Such a model is reported as
            a failed run without starting a worker.
    """

    label: str
    model: str
    file: str = ""
    error: str = ""


def find_models_dir() -> Path | None:
    """Return the zoo's ``cfg/models`` folder (working directory first, then the source tree or the installed
    wheel's copy), or None."""
    from yolo_attn.integration.lookup import cfg_dir

    d = Path.cwd() / "cfg" / "models"
    if d.is_dir() and any(d.glob("*.yaml")):
        return d
    return cfg_dir("models")


def _ultralytics_stock(name: str) -> Path | None:
    """Return the stock Ultralytics model YAML for ``name`` (``yolov8n.yaml`` -> .../v8/yolov8.yaml), or None."""
    from yolo_attn.integration.internals import stock_models_dir

    root = stock_models_dir()
    if root is None:
        return None
    stem = Path(name).stem
    m = _SCALE_IN_NAME.match(stem)
    unified = (m.group(1) + (m.group(3) or "")) if m else stem
    for cand in (stem, unified):
        hits = sorted(root.rglob(f"{cand}.yaml"))
        if hits:
            return hits[0]
    return None


def _locate(entry: str) -> tuple[str, str]:
    """Return (model argument, file read) for a path-like entry; file "" when it cannot be found."""
    p = Path(entry).expanduser()
    if p.is_file():
        return str(p.resolve()), str(p.resolve())
    m = _SCALE_IN_NAME.match(p.stem)
    if m and p.suffix in (".yaml", ".yml"):
        unified = p.with_name(m.group(1) + (m.group(3) or "") + p.suffix)
        if unified.is_file():  # a scaled name: keep the scaled name, Ultralytics reads the scale letter from it
            return str(p.parent.resolve() / p.name), str(unified.resolve())
    if p.parent == Path(".") and p.suffix in (".yaml", ".yml"):
        stock = _ultralytics_stock(p.name)
        if stock is not None:
            return p.name, str(stock)
    return str(p), ""


def _tag_key(path: Path) -> tuple[int, str]:
    tag = path.stem.rsplit("-", 1)[-1]
    return (_TAG_ORDER.index(tag), "") if tag in _TAG_ORDER else (len(_TAG_ORDER), path.stem)


def _named_set(name: str, models_dir: Path) -> list[str]:
    """Return the entries of a named set (paths)."""
    if name == "may":
        files = sorted(models_dir.glob("may-*.yaml"), key=_tag_key)
    elif name == "may-demo":
        files = [models_dir / f"{stem}.yaml" for stem in DEMO_MODELS]
    elif name in ("mobilenet-neck", "mobilenet-yolo"):
        files = sorted(models_dir.glob("mobilenet-yolo-*.yaml"), key=_tag_key)
    else:
        m = _SCALED_SET.match(name)
        assert m, name
        family, scale = m.group(1), m.group(2) or "n"
        variants = sorted(models_dir.glob(f"{family}-*.yaml"), key=_tag_key)
        return [f"{family}{scale}.yaml"] + [
            str(v.with_name(f"{family}{scale}-{v.stem.split('-', 1)[1]}.yaml")) for v in variants
        ]
    if not files:
        raise ValueError(f"the named set {name!r} found no files in {models_dir}")
    return [str(f) for f in files]


def is_named_set(entry: str) -> bool:
    """True when ``entry`` names a set rather than a file or glob."""
    return entry in ("may", "may-demo", "mobilenet-neck", "mobilenet-yolo") or bool(_SCALED_SET.match(entry))


def resolve_models(entries: list[str] | tuple[str, ...] | str, models_dir: str | Path | None = None) -> list[ModelSpec]:
    """Expand YAML files, globs and named sets into the sweep's model list, in order, without duplicates.

    Args:
        entries: The ``--models`` values (a comma-separated string is split too).
        models_dir: Where named sets are read; default ``find_models_dir()``.

    Returns:
        (list[ModelSpec]): One spec per model. A path that does not exist is kept with ``error`` set (reported as
        a failed run); a glob that matches nothing or an empty set raises ``ValueError``.
    """
    if isinstance(entries, str):
        entries = [entries]
    flat = [e.strip() for entry in entries for e in str(entry).split(",") if e.strip()]
    if not flat:
        raise ValueError("no models given")
    paths: list[str] = []
    for e in flat:
        if is_named_set(e):
            d = Path(models_dir) if models_dir else find_models_dir()
            if d is None:
                raise ValueError(f"the named set {e!r} needs the zoo's cfg/models folder, which was not found")
            paths += _named_set(e, d)
        elif glob.has_magic(e):
            hits = sorted(glob.glob(str(Path(e).expanduser())))
            if not hits:
                raise ValueError(f"the glob {e!r} matches no file")
            paths += hits
        else:
            paths.append(e)
    specs: list[ModelSpec] = []
    seen: dict[str, str] = {}
    for p in paths:
        model, file = _locate(p)
        if model in seen.values():
            continue
        label = Path(p).stem
        if label in seen:  # same stem from another folder: qualify with the folder name
            label = f"{Path(p).resolve().parent.name}__{label}"
        seen[label] = model
        error = "" if file else f"model YAML not found: {p}"
        specs.append(ModelSpec(label=label, model=model, file=file, error=error))
    return specs


def default_baseline(specs: list[ModelSpec], baseline: str | None = None) -> str:
    """Return the label of the baseline: ``baseline`` (a label, file name or path), else the first model named
    ``none`` / ``*-none`` or a stock Ultralytics model, else the first model."""
    labels = [s.label for s in specs]
    if baseline:
        cands = {baseline, Path(baseline).stem}
        for s in specs:
            if s.label in cands or Path(s.model).stem in cands or s.model == baseline:
                return s.label
        raise ValueError(f"baseline {baseline!r} is not one of the compared models: {', '.join(labels)}")
    for s in specs:
        if s.label == "none" or s.label.endswith("-none"):
            return s.label
    for s in specs:
        if s.file and "/ultralytics/cfg/models/" in s.file.replace("\\", "/"):
            return s.label
    return labels[0]
