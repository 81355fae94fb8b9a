"""The embedded demo: the MAY variants compared on the generated VOC-format sample dataset, on a CPU budget.

``demo()`` generates the sample devkit (``yolo_attn.data.sample.make_sample_dataset``) and prepares it
(``yolo_attn.data.voc.prepare_voc``) when they are missing, then runs ``compare`` with the ``demo`` preset on
``DEMO_MODELS`` (no attention, MobileNetV3 SE, MLCA, ECA and ELA-B in MAY's SE slots), one seed, prints the summary
table and the plots' paths, and ends with the next steps (``next_steps``): where the data is, how to train a model
on it, how to compare your own models, how to open the notebooks. Like every sweep it resumes when run again.

The data lives where the README's manual commands put it, so the demo and the README share one dataset:

- ``datasets/VOC-sample-devkit/VOCdevkit``: the generated devkit (``yolo-attn data sample --out
  datasets/VOC-sample-devkit``);
- ``datasets/VOC-sample``: the prepared Ultralytics dataset with its ``data.yaml`` (``yolo-attn voc prepare --devkit
  datasets/VOC-sample-devkit/VOCdevkit --out datasets/VOC-sample``), also described by
  ``cfg/datasets/VOC-sample.yaml``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = [
    "DEMO_DATA_DIR",
    "DEMO_IMAGES",
    "DEMO_OUT",
    "demo",
    "devkit_root",
    "next_steps",
    "notebooks_dir",
    "prepare_sample",
]

DEMO_OUT = "runs/compare/demo"
DEMO_DATA_DIR = "datasets/VOC-sample"  # the prepared dataset; the generated devkit is its sibling <dir>-devkit
DEMO_IMAGES = 300  # 200 trainval (training) + 100 test (scoring) images at 160 px


def devkit_root(data_dir: str | Path = DEMO_DATA_DIR) -> Path:
    """The folder the sample devkit is generated into for the prepared dataset ``data_dir``: ``<data_dir>-devkit``
    (it holds ``VOCdevkit/``). A sibling, not a child: ``voc prepare`` replaces ``data_dir`` as a whole."""
    p = Path(data_dir)
    return p.with_name(f"{p.name}-devkit")


def prepare_sample(data_dir: str | Path = DEMO_DATA_DIR, images: int = DEMO_IMAGES, seed: int = 0, log=print) -> Path:
    """Generate (if missing or made with other settings) and prepare the sample dataset; return its data YAML.

    Layout: ``<data_dir>-devkit/VOCdevkit`` (the generated devkit) and ``<data_dir>`` (the prepared Ultralytics
    dataset with ``data.yaml``). Both steps write to temporary folders and rename, so an interrupted call is redone.
    """
    from yolo_attn.data.sample import make_sample_dataset, sample_info
    from yolo_attn.data.voc import is_prepared, prepare_voc

    prepared = Path(data_dir).resolve()
    root = devkit_root(prepared)
    devkit = root / "VOCdevkit"
    info = sample_info(devkit) if devkit.is_dir() else None
    fresh = False
    if info is None or info.get("images") != images or info.get("seed") != seed:
        if log:
            log(f"[demo] generating the sample dataset ({images} images, seed {seed}) in {devkit}")
        make_sample_dataset(root, images=images, seed=seed)
        fresh = True
    if fresh or not is_prepared(prepared):
        if log:
            log(f"[demo] preparing it for Ultralytics in {prepared}")
        prepare_voc(devkit, prepared, log=log)
    return prepared / "data.yaml"


def notebooks_dir() -> Path | None:
    """The folder holding ``compare.ipynb`` and ``attention_maps.ipynb`` (working directory first, then the source
    tree of a checkout), or None (a wheel install without them)."""
    import yolo_attn

    for root in (Path.cwd(), Path(yolo_attn.__file__).resolve().parent.parent):
        d = root / "notebooks"
        if (d / "compare.ipynb").is_file():
            return d
    return None


def _shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _command(name: str) -> str:
    """How to call this environment's console script ``name``: the bare name when it is the one on PATH, else its
    path (e.g. ``.venv/bin/yolo-attn`` after ``make demo`` without an activated environment)."""
    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and here.exists() and Path(found).resolve() == here.resolve():
        return name
    return _shown(here) if here.exists() else name


def next_steps(out_dir: str | Path = DEMO_OUT, data_dir: str | Path = DEMO_DATA_DIR, imgsz: int = 160) -> str:
    """The lines the demo ends with: where the data and results are and what to run next (commands as they work in
    this shell: paths relative to the working directory, console scripts by path when not on PATH)."""
    from yolo_attn.compare.models import find_models_dir

    data_yaml = _shown(Path(data_dir) / "data.yaml")
    devkit = _shown(devkit_root(Path(data_dir).resolve()) / "VOCdevkit")
    out = _shown(out_dir)
    yolo_attn = _command("yolo-attn")
    models = find_models_dir()
    mlca = _shown(models / "may-mlca.yaml") if models is not None else "may-mlca.yaml"
    lines = [
        "[demo] next steps",
        f"  results:           {out}/summary.md, {out}/results.csv (metrics as fractions 0-1), {out}/*.png",
        f"  the data:          {devkit} (generated VOC devkit) -> {_shown(data_dir)} (prepared, {data_yaml})",
        f"  train one model:   {yolo_attn} train model={mlca} data={data_yaml} imgsz={imgsz} epochs=30",
        f"  compare your own:  {yolo_attn} compare --models may-none my-model.yaml --data {data_yaml} --preset demo "
        f"--out runs/compare/mine",
    ]
    nb = notebooks_dir()
    if nb is not None:
        if Path("Makefile").is_file() and nb.resolve() == (Path.cwd() / "notebooks").resolve():
            lines.append(f"  the notebooks:     make notebooks   (opens {_shown(nb)}/ in JupyterLab on {out})")
        else:
            jupyter = _command("jupyter")
            lines.append(f"  the notebooks:     YOLO_ATTN_COMPARE_DIR={out} {jupyter} lab {_shown(nb)}/")
            lines.append('                     (needs the notebooks extra: pip install "yolo-attn[notebooks]")')
    else:
        lines.append('  the notebooks:     notebooks/ of the source repository (pip install "yolo-attn[notebooks]")')
    return "\n".join(lines)


def demo(
    out_dir: str | Path = DEMO_OUT,
    data_dir: str | Path = DEMO_DATA_DIR,
    images: int = DEMO_IMAGES,
    models: list[str] | None = None,
    seeds=None,
    device: str | int | None = None,
    log=print,
    **compare_kwargs,
) -> Path:
    """Run the demo and return its compare folder.

    Args:
        out_dir: The compare folder (default ``runs/compare/demo``).
        data_dir: The prepared sample dataset (default ``datasets/VOC-sample``); the devkit is generated into the
            sibling ``<data_dir>-devkit``.
        images: Number of sample images (default 300: 200 for training, 100 for scoring).
        models: Models to compare (default the named set ``may-demo``).
        seeds: Seeds (default 0).
        device: Ultralytics device (default: Ultralytics' choice, the first GPU if any, else the CPU).
        log: Where progress, the summary and the next steps go (``print``; None for silence).
        **compare_kwargs: Further ``compare`` arguments (``epochs``, ``imgsz``, ``batch``, ...); the ``demo`` preset
            supplies the rest.

    Returns:
        (Path): The compare folder with results.csv, summary.md and the plots.

    Raises:
        ValueError: An unknown model (checked before the dataset is generated or anything is written).
    """
    from yolo_attn.compare.models import check_models
    from yolo_attn.compare.presets import PRESETS
    from yolo_attn.compare.sweep import compare

    models = list(models) if models else ["may-demo"]
    check_models(models)
    data = prepare_sample(data_dir, images, log=log)
    kw = {k: v for k, v in compare_kwargs.items() if v is not None}
    kw.setdefault("preset", "demo")
    out = compare(models, data, seeds=seeds if seeds is not None else 0, device=device, out=out_dir, log=log, **kw)
    if log:
        imgsz = kw.get("imgsz") or (PRESETS.get(kw["preset"]) or {}).get("imgsz") or 160
        log("\n" + next_steps(out, data_dir, imgsz=int(imgsz)))
    return Path(out)
