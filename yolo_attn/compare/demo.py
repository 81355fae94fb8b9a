"""The embedded demo: the MAY variants compared on the generated VOC-format sample dataset, on a CPU budget.

``demo()`` generates the sample devkit (``yolo_attn.data.sample.make_sample_dataset``) and prepares it
(``yolo_attn.data.voc.prepare_voc``) when they are missing, then runs ``compare`` with the ``demo`` preset on
``DEMO_MODELS`` (no attention, MobileNetV3 SE, MLCA, ECA and ELA-B in MAY's SE slots), one seed, and prints
the summary table and the plots' paths. Like every sweep it resumes when run again.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_DATA_DIR", "DEMO_IMAGES", "DEMO_OUT", "demo", "prepare_sample"]

DEMO_OUT = "runs/compare/demo"
DEMO_DATA_DIR = "datasets/yolo_attn_sample"
DEMO_IMAGES = 300  # 200 trainval (training) + 100 test (scoring) images at 160 px


def prepare_sample(data_dir: str | Path = DEMO_DATA_DIR, images: int = DEMO_IMAGES, seed: int = 0, log=print) -> Path:
    """Generate (if missing or made with other settings) and prepare the sample dataset; return its data YAML.

    Layout: ``<data_dir>/VOCdevkit`` (the generated devkit) and ``<data_dir>/voc`` (the prepared Ultralytics
    dataset with ``data.yaml``). Both steps write to temporary folders and rename, so an interrupted call is redone.
    """
    from yolo_attn.data.sample import make_sample_dataset, sample_info
    from yolo_attn.data.voc import is_prepared, prepare_voc

    data_dir = Path(data_dir).resolve()
    devkit = data_dir / "VOCdevkit"
    prepared = data_dir / "voc"
    info = sample_info(devkit) if devkit.is_dir() else None
    fresh = False
    if info is None or info.get("images") != images or info.get("seed") != seed:
        if log:
            log(f"[demo] generating the sample dataset ({images} images, seed {seed}) in {devkit}")
        make_sample_dataset(data_dir, images=images, seed=seed)
        fresh = True
    if fresh or not is_prepared(prepared):
        if log:
            log(f"[demo] preparing it for Ultralytics in {prepared}")
        prepare_voc(devkit, prepared, log=log)
    return prepared / "data.yaml"


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
        data_dir: Where the sample dataset is generated and prepared (default ``datasets/yolo_attn_sample``).
        images: Number of sample images (default 300: 200 for training, 100 for scoring).
        models: Models to compare (default the named set ``may-demo``).
        seeds: Seeds (default 0).
        device: Ultralytics device (default: Ultralytics' choice, the first GPU if any, else the CPU).
        log: Where progress and the summary go (``print``; None for silence).
        **compare_kwargs: Further ``compare`` arguments (``epochs``, ``imgsz``, ``batch``, ...); the ``demo`` preset
            supplies the rest.

    Returns:
        (Path): The compare folder with results.csv, summary.md and the plots.
    """
    from yolo_attn.compare.sweep import compare

    data = prepare_sample(data_dir, images, log=log)
    kw = {k: v for k, v in compare_kwargs.items() if v is not None}
    kw.setdefault("preset", "demo")
    return compare(
        models or ["may-demo"], data, seeds=seeds if seeds is not None else 0, device=device, out=out_dir, log=log, **kw
    )
