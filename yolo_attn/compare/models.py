"""Which models a sweep compares: names, YAML files, globs and named sets of the zoo.

A ``--models`` entry is one of:

- a model name, as the tables print it: ``may-mlca``, ``yolov8s-mlca`` (a zoo YAML, with the scale letter that
  Ultralytics reads from the name), ``yolov8s`` (Ultralytics' stock model), or a model YAML of the working directory
  named without ``.yaml``; ``may-mlca.yaml`` works too. Names are looked up by ``locate_model`` in
  ``model_search_dirs()`` (``./cfg/models``, then the source tree's ``cfg/models``), then among Ultralytics' own
  model YAMLs;
- a model YAML path, e.g. ``cfg/models/may-mlca.yaml``; a scaled name such as ``cfg/models/yolov8s-mlca.yaml`` is
  accepted when ``cfg/models/yolov8-mlca.yaml`` exists;
- a glob, e.g. ``'cfg/models/may-*.yaml'`` (quote it so the shell does not expand it; expanded ones work too);
- a named set (see ``NAMED_SETS``): ``may``, ``may-paper``, ``may-demo``, ``mobilenet-neck``, and ``yolov8-all`` /
  ``yolo11-all`` (scale n) or with a scale letter, ``yolov8s-all`` / ``yolo11m-all``: Ultralytics' stock model first, then every
  attention variant. (A set is never spelled like a model: ``yolov8s`` is the stock model alone.)

Every label a sweep prints (tables, plots, folder names) is accepted back as an entry and means the same model. An
entry that resolves to nothing is an argument error (``ValueError``, exit status 2) raised before anything is
written, naming the closest known names.

Sets are read from the repository's ``cfg/models`` (found from the working directory or the package location);
when neither exists (a wheel install) the zoo template writes the files into ``<out>/models`` first.
"""

from __future__ import annotations

import difflib
import glob
import re
from dataclasses import dataclass
from pathlib import Path

from yolo_attn.nn.registry import ATTENTION
from yolo_attn.zoo import MAY_PAPER

__all__ = [
    "DEMO_MODELS",
    "NAMED_SETS",
    "ModelSpec",
    "check_models",
    "default_baseline",
    "find_models_dir",
    "known_model_names",
    "locate_model",
    "model_search_dirs",
    "resolve_models",
]

#: Named sets and what they hold (the text is shown by ``--help``).
NAMED_SETS: dict[str, str] = {
    "may": "every MAY variant, may-*.yaml (none = SEOFF baseline first, then MobileNetV3 SE, every other module and "
    "the MLCA paper's own CBAM and CA)",
    "may-paper": "the six MAY networks of the MLCA paper's code: SEOFF (may-none), SE (may-mbse), ECA, CBAM "
    "(may-paper-cbam), CA (may-paper-ca), MLCA",
    "may-demo": "the demo's MAY variants: none, MobileNetV3 SE, MLCA, ECA, ELA",
    "mobilenet-neck": "MobileNet-YOLO with attention in the neck, mobilenet-yolo-*.yaml (baseline first)",
    "yolov8[nslmx]-all": "Ultralytics' yolov8<scale>.yaml, then yolov8<scale>-<module>.yaml for every module (scale n "
    "when omitted; `yolov8s` alone is the stock model)",
    "yolo11[nslmx]-all": "as yolov8-all, for YOLO11 (likewise yolo12-all, yolo26-all where the zoo has them)",
    "placement:<module>[@<family><scale>]": "the stock model, then the module in every place the zoo has (head-in, "
    "backbone, c2f/c3k2, psa); YOLO11 n unless named, e.g. placement:mlca, placement:ema@yolov8s",
}
#: The demo's variants (file stems in cfg/models): the two baselines of the MLCA paper, MLCA and two more.
DEMO_MODELS: tuple[str, ...] = ("may-none", "may-mbse", "may-mlca", "may-eca", "may-ela")
# File-name tags in the zoo's order (baselines first; a conv replacement, its added-layer variant, then a module's
# registry variants); files with other tags follow, sorted.
_TAG_ORDER = (
    "none",
    *(
        t
        for spec in ATTENTION.values()
        for t in (spec.tag, *((f"{spec.tag}-add",) if spec.changes_channels else ()), *(v.tag for v in spec.variants))
    ),
)
_PLAIN_SETS = ("may", "may-paper", "may-demo", "mobilenet-neck", "mobilenet-yolo")
_SCALED_FAMILIES = ("yolov8", "yolo11", "yolo12", "yolo26")  # zoo families with Ultralytics' n/s/m/l/x scales
_SCALED_SET = re.compile(rf"^({'|'.join(_SCALED_FAMILIES)})([nslmx]?)-all$")
_SCALE_IN_NAME = re.compile(r"^(.*?\d+)([nslmx])(-.+)?$")  # yolov8s-mlca -> yolov8 + s + -mlca
_SCALES = "nslmx"
_YAML = (".yaml", ".yml")


@dataclass(frozen=True)
class ModelSpec:
    """One model of a sweep.

    Attributes:
        label (str): Short unique name used in tables, plots and folder names (the file stem, e.g. ``may-mlca``);
            given back as a ``--models`` entry it resolves to the same model.
        model (str): What is passed to ``YOLO(...)``: a YAML path (absolute) or a stock Ultralytics name.
        file (str): The file that will be read (the unscaled YAML for scaled names).
        error (str): Kept for records written by older versions (a model that could not be found); ``resolve_models``
            now raises instead, so it is always "".
    """

    label: str
    model: str
    file: str = ""
    error: str = ""


def find_models_dir() -> Path | None:
    """Return the zoo's ``cfg/models`` folder: the first of ``model_search_dirs()``, or None."""
    dirs = model_search_dirs()
    return dirs[0] if dirs else None


def model_search_dirs() -> list[Path]:
    """The folders where a model named without a path (``may-mlca``) is looked up, in order: ``./cfg/models``, then
    the YAMLs yolo_attn ships (``yolo_attn.integration.lookup.cfg_dir``: a source checkout's ``cfg/models``, else the
    installed wheel's copy). Only existing folders holding YAMLs are returned.

    This is the one place to add further locations.
    """
    from yolo_attn.integration.lookup import cfg_dir

    out: list[Path] = []
    for d in (Path.cwd() / "cfg" / "models", cfg_dir("models")):
        if d is not None and d.is_dir() and d.resolve() not in out and any(d.glob("*.yaml")):
            out.append(d.resolve())
    return out


def _unscaled(stem: str) -> str | None:
    """``yolov8s-mlca`` -> ``yolov8-mlca``, ``yolov8s`` -> ``yolov8``; None when the name carries no scale letter."""
    m = _SCALE_IN_NAME.match(stem)
    return m.group(1) + (m.group(3) or "") if m else None


def _ultralytics_stock(name: str) -> Path | None:
    """Return the stock Ultralytics model YAML for ``name`` (``yolov8n.yaml`` -> .../v8/yolov8.yaml), or None."""
    from yolo_attn.integration.internals import stock_models_dir

    root = stock_models_dir()
    if root is None or not root.is_dir():
        return None
    stem = Path(name).stem if Path(name).suffix in _YAML else Path(name).name
    for cand in (stem, _unscaled(stem)):
        if cand:
            hits = sorted(root.rglob(f"{cand}.yaml"))
            if hits:
                return hits[0]
    return None


def _in_dir(d: Path, stem: str, suffix: str = ".yaml") -> tuple[str, str] | None:
    """(model, file) for the model ``stem`` in folder ``d``: the file itself, or its unscaled file; else None."""
    f = d / f"{stem}{suffix}"
    if f.is_file():
        return str(f.resolve()), str(f.resolve())
    unscaled = _unscaled(stem)
    if unscaled and (d / f"{unscaled}{suffix}").is_file():
        # a scaled name: keep it (Ultralytics reads the scale letter from it), read the unscaled file
        return str(d.resolve() / f"{stem}{suffix}"), str((d / f"{unscaled}{suffix}").resolve())
    return None


def locate_model(entry: str, models_dir: str | Path | None = None) -> tuple[str, str] | None:
    """Find the model an entry (not a glob, not a named set) names.

    Args:
        entry: A YAML path (``cfg/models/may-mlca.yaml``, ``cfg/models/yolov8s-mlca.yaml``) or a name as the tables
            print it (``may-mlca``, ``yolov8s-mlca``, ``yolov8s``, ``may-mlca.yaml``).
        models_dir: A folder searched first for names (e.g. where the zoo template was written).

    Returns:
        (tuple[str, str] | None): ``(model, file)``: what ``YOLO(...)`` gets and the file it reads; None when the
            entry names nothing.
    """
    p = Path(entry).expanduser()
    if p.is_file():
        return str(p.resolve()), str(p.resolve())
    suffix = p.suffix if p.suffix in _YAML else ""
    stem = p.name[: -len(suffix)] if suffix else p.name
    if suffix and p.parent != Path("."):
        hit = _in_dir(p.parent, stem, suffix)  # a scaled path: cfg/models/yolov8s-mlca.yaml
        if hit:
            return hit
    if p.parent != Path(".") or not stem:
        return None
    # a bare name: a YAML of the working directory, the zoo's folders, Ultralytics' stock models
    if not suffix and Path(f"{stem}.yaml").is_file():
        f = Path(f"{stem}.yaml").resolve()
        return str(f), str(f)
    folder, sep, base = stem.partition("__")
    if sep and folder and base and (Path(folder) / f"{base}.yaml").is_file():  # a label qualified by its folder
        f = (Path(folder) / f"{base}.yaml").resolve()
        return str(f), str(f)
    dirs = ([Path(models_dir)] if models_dir else []) + model_search_dirs()
    for d in dirs:
        hit = _in_dir(d, stem, suffix or ".yaml")
        if hit:
            return hit
    stock = _ultralytics_stock(stem)
    if stock is not None:
        return f"{stem}{suffix or '.yaml'}", str(stock)
    return None


def known_model_names(models_dir: str | Path | None = None) -> list[str]:
    """Every name ``locate_model`` and the named sets accept (for suggestions): the sets, the zoo's files (with each
    scale letter for YOLOv8 / YOLO11) and Ultralytics' stock models."""
    names: list[str] = [k for k in _PLAIN_SETS] + [f"{f}{s}-all" for f in _SCALED_FAMILIES for s in ("", *_SCALES)]
    dirs = ([Path(models_dir)] if models_dir else []) + model_search_dirs()
    for d in dirs:
        for f in sorted(d.glob("*.yaml")):
            names.append(f.stem)
            fam, _, tag = f.stem.partition("-")
            if fam in _SCALED_FAMILIES and tag:
                names += [f"{fam}{s}-{tag}" for s in _SCALES]
    from yolo_attn.integration.internals import stock_models_dir

    root = stock_models_dir()
    if root is not None and root.is_dir():
        for f in sorted(root.rglob("*.yaml")):
            names.append(f.stem)
            if re.fullmatch(r"yolo(v\d+|\d+)(-.+)?", f.stem):  # scalable: yolov8 -> yolov8n ... yolov8x
                head, _, tail = f.stem.partition("-")
                names += [f"{head}{s}" + (f"-{tail}" if tail else "") for s in _SCALES]
    return list(dict.fromkeys(names))


def _unknown(entry: str, models_dir: str | Path | None) -> ValueError:
    p = Path(entry)
    if p.parent != Path(".") and p.parent.is_dir():  # a path: suggest files of that folder
        pool = [str(p.parent / f.name) for f in sorted(p.parent.iterdir()) if f.suffix in _YAML]
        what = f"model YAML not found: {entry}"
    elif p.parent != Path("."):
        pool = []
        what = f"model YAML not found: {entry} (no folder {p.parent})"
    else:
        pool = known_model_names(models_dir)
        where = ", ".join(str(d) for d in ([Path(models_dir)] if models_dir else []) + model_search_dirs())
        what = (
            f"unknown model {entry!r}: not a file, a named set ({', '.join(NAMED_SETS)}) or a model name of "
            f"{where or 'cfg/models (none found)'} or Ultralytics (a YAML elsewhere is given by its path)"
        )
    key = p.name if p.parent == Path(".") else entry
    if p.parent == Path(".") and p.suffix in _YAML:
        key = p.stem
    close = difflib.get_close_matches(key, pool, n=5, cutoff=0.6)
    return ValueError(what + (f". Did you mean: {', '.join(close)}?" if close else ""))


def _tag_key(path: Path) -> tuple[int, str]:
    """Sort key: the position of the file's tag (its longest known suffix) in the zoo's order, then the name."""
    for tag in sorted(_TAG_ORDER, key=len, reverse=True):
        if path.stem.endswith(f"-{tag}"):
            return _TAG_ORDER.index(tag), path.stem
    return len(_TAG_ORDER), path.stem


def _named_set(name: str, models_dir: Path) -> list[str]:
    """Return the entries of a named set (paths, and a stock name for the YOLO families)."""
    from yolo_attn.zoo import place_of, placement_set

    if name.startswith("placement:"):
        stock, *variants = placement_set(name.removeprefix("placement:"))
        return [stock] + [str(models_dir / v) for v in variants]
    if name == "may":
        files = sorted(models_dir.glob("may-*.yaml"), key=_tag_key)
    elif name == "may-demo":
        files = [models_dir / f"{stem}.yaml" for stem in DEMO_MODELS]
    elif name == "may-paper":
        files = [models_dir / f"may-{tag}.yaml" for _, tag in MAY_PAPER]
    elif name in ("mobilenet-neck", "mobilenet-yolo"):
        files = sorted(models_dir.glob("mobilenet-yolo-*.yaml"), key=_tag_key)
    else:
        m = _SCALED_SET.match(name)
        assert m, name
        family, scale = m.group(1), m.group(2) or "n"
        variants = sorted(
            (v for v in models_dir.glob(f"{family}-*.yaml") if place_of(v.name) == "head-in"), key=_tag_key
        )
        return [f"{family}{scale}.yaml"] + [
            str(v.with_name(f"{family}{scale}-{v.stem.split('-', 1)[1]}.yaml")) for v in variants
        ]
    if not files:
        raise ValueError(f"the named set {name!r} found no files in {models_dir}")
    return [str(f) for f in files]


def is_named_set(entry: str) -> bool:
    """True when ``entry`` names a set rather than a model, file or glob."""
    return entry in _PLAIN_SETS or bool(_SCALED_SET.match(entry)) or entry.startswith("placement:")


def _split(entries: list[str] | tuple[str, ...] | str) -> list[str]:
    if isinstance(entries, str):
        entries = [entries]
    flat = [e.strip() for entry in entries for e in str(entry).split(",") if e.strip()]
    if not flat:
        raise ValueError("no models given")
    return flat


def check_models(entries: list[str] | tuple[str, ...] | str, models_dir: str | Path | None = None) -> None:
    """Raise ``ValueError`` (naming the closest known names) when an entry resolves to no model. Writes nothing.

    Named sets are accepted without a ``cfg/models`` folder (the zoo template provides them), so this is what a
    caller runs before it creates its output folder; ``resolve_models`` then gives the same answer.
    """
    d = Path(models_dir) if models_dir else find_models_dir()
    for e in _split(entries):
        if is_named_set(e):
            if d is not None:
                _named_set(e, d)
        elif glob.has_magic(e):
            if not glob.glob(str(Path(e).expanduser())):
                raise ValueError(f"the glob {e!r} matches no file")
        elif locate_model(e, models_dir) is None:
            raise _unknown(e, models_dir)


def resolve_models(entries: list[str] | tuple[str, ...] | str, models_dir: str | Path | None = None) -> list[ModelSpec]:
    """Expand names, YAML files, globs and named sets into the sweep's model list, in order, without duplicates.

    Args:
        entries: The ``--models`` values (a comma-separated string is split too).
        models_dir: Where named sets are read, and the first folder names are looked up in; default
            ``find_models_dir()``.

    Returns:
        (list[ModelSpec]): One spec per model. Each label, given back as an entry, resolves to the same model.

    Raises:
        ValueError: An entry that names no model (with the closest names), a glob that matches nothing, an empty set.
    """
    paths: list[str] = []
    for e in _split(entries):
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
        hit = locate_model(p, models_dir)
        if hit is None:
            raise _unknown(p, models_dir)
        model, file = hit
        if model in seen.values():
            continue
        label = Path(p).stem if Path(p).suffix in _YAML else Path(p).name
        if label in seen:  # same stem from another folder: qualify with the folder name
            label = f"{Path(p).resolve().parent.name}__{label}"
        seen[label] = model
        specs.append(ModelSpec(label=label, model=model, file=file))
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
