"""Every Ultralytics internal the package uses outside the parser registration, behind one small API.

The rest of yolo_attn calls Ultralytics' public API (``from ultralytics import YOLO``) directly and reaches
anything below it only through this module, so a new Ultralytics release means one place to look (together with
``yolo_attn.integration.parser``). Every function imports Ultralytics when called, never at import time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "attempt_compile",
    "autobackend",
    "check_dataset",
    "cpu_name",
    "default_cfg_keys",
    "detection_model",
    "image_suffixes",
    "label_paths",
    "letterbox",
    "load_checkpoint",
    "nms",
    "no_font_download",
    "run_yolo_cli",
    "stock_models_dir",
    "ultralytics_logger",
    "ultralytics_version",
    "yaml_model_load",
]


def ultralytics_version() -> str:
    """The installed Ultralytics version (from its metadata, without importing it); "" when not installed."""
    from importlib import metadata

    try:
        return metadata.version("ultralytics")
    except metadata.PackageNotFoundError:
        return ""


def cpu_name() -> str:
    """The CPU model, cleaned up (e.g. "AMD EPYC"), from Ultralytics' ``get_cpu_info`` (cached there)."""
    from ultralytics.utils.torch_utils import get_cpu_info

    return get_cpu_info()


def attempt_compile(model, device):
    """``model`` through Ultralytics' ``attempt_compile`` (what its ``compile=True`` train argument runs), or the
    same model when Ultralytics declines; raises AttributeError on releases without it (before 8.3.x)."""
    from ultralytics.utils import torch_utils

    return torch_utils.attempt_compile(model, device=device, mode=True)


def stock_models_dir() -> Path | None:
    """Ultralytics' own ``cfg/models`` folder (found without importing Ultralytics), or None when not installed."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"


@contextlib.contextmanager
def no_font_download() -> Iterator[None]:
    """Within the block, Ultralytics' dataset check looks for its font locally only and never downloads one.

    ``ultralytics.data.utils.check_det_dataset`` (run by train, val and the scorer) calls ``check_font``, which sends
    a request and downloads Arial.ttf when it is not found locally. Nothing here draws text, so a missing font is
    fine. The patch is undone on exit.
    """
    import ultralytics.data.utils as du
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    original = du.check_font

    def local_font(font: str = "Arial.ttf"):
        name = Path(font).name
        if (USER_CONFIG_DIR / name).exists():
            return USER_CONFIG_DIR / name
        return next((f.fname for f in font_manager.fontManager.ttflist if font in f.fname), None)

    du.check_font = local_font
    try:
        yield
    finally:
        du.check_font = original


def check_dataset(data: str | Path) -> dict:
    """Ultralytics' resolved dataset dict of a dataset YAML (``check_det_dataset``), without a font download."""
    from ultralytics.data.utils import check_det_dataset

    with no_font_download():
        return check_det_dataset(str(data))


def label_paths(images: Sequence[str | Path]) -> list[str]:
    """The YOLO label file of each image path, by Ultralytics' images/ -> labels/ rule."""
    from ultralytics.data.utils import img2label_paths

    return img2label_paths([str(p) for p in images])


def image_suffixes() -> frozenset[str]:
    """Image file suffixes Ultralytics reads (lower case, without the dot)."""
    from ultralytics.data.utils import IMG_FORMATS

    return frozenset(IMG_FORMATS)


def yaml_model_load(path: str | Path) -> dict:
    """Ultralytics' model dict of a model YAML (scale letter from the file name, unified file name resolved)."""
    from ultralytics.nn.tasks import yaml_model_load as load

    return load(path)


def detection_model(cfg: dict | str | Path, ch: int = 3, nc: int | None = None, verbose: bool = False):
    """Build Ultralytics' ``DetectionModel`` from a model dict or YAML (training mode)."""
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(cfg, ch=ch, nc=nc, verbose=verbose)


def load_checkpoint(weights: str | Path):
    """Load an Ultralytics checkpoint file: ``(model in FP32 eval mode, EMA preferred; the checkpoint dict)``.

    Only a file that exists is read (Ultralytics would try to download a missing ``yolov8s.pt``; nothing downloads
    here). Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for anything that is
    not an Ultralytics checkpoint (garbage, a bare state dict, a truncated file).
    """
    import ultralytics.nn.tasks as tasks

    load = getattr(tasks, "load_checkpoint", None) or tasks.attempt_load_one_weight  # older releases: the old name

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {weights} (give the path of a .pt file; nothing is downloaded)")
    try:
        model, ckpt = load(str(path))
    except Exception as e:  # torch/pickle/Ultralytics raise many types for a bad file
        hint = ""
        if "outside the supported" in str(e):  # Ultralytics' safe loader met classes it does not know
            hint = "; with yolo_attn layers inside, register yolo_attn first (import yolo_attn, or use yolo-attn)"
        raise ValueError(f"{weights} is not a loadable Ultralytics checkpoint ({type(e).__name__}: {e}){hint}") from e
    if not hasattr(model, "model") or not isinstance(ckpt, dict):
        raise ValueError(f"{weights} is not an Ultralytics checkpoint (no model inside)")
    return model, ckpt


def autobackend(weights: str | Path):
    """Ultralytics' ``AutoBackend`` for an exported model or checkpoint on the CPU in FP32 (what ``predict`` runs)."""
    import torch
    from ultralytics.nn.autobackend import AutoBackend

    return AutoBackend(str(weights), device=torch.device("cpu"), fp16=False, verbose=False)


def letterbox(imgsz: int):
    """Ultralytics' predict letterbox to an ``imgsz`` square: a callable ``image -> image``."""
    from ultralytics.data.augment import LetterBox

    lb = LetterBox((imgsz, imgsz), auto=False)
    return lambda im: lb(image=im)


def nms(prediction, conf: float, iou: float):
    """Ultralytics' ``non_max_suppression`` (``utils.nms`` since 8.3.176, ``utils.ops`` before)."""
    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:
        from ultralytics.utils.ops import non_max_suppression
    return non_max_suppression(prediction, conf, iou)


def default_cfg_keys() -> frozenset[str]:
    """The names of Ultralytics' train/val/predict arguments (``DEFAULT_CFG_KEYS``)."""
    from ultralytics.utils import DEFAULT_CFG_KEYS

    return frozenset(DEFAULT_CFG_KEYS)


def check_train_values(args: dict) -> None:
    """Check train argument values with Ultralytics' own ``check_cfg`` (types, fractions in [0, 1]); ``ValueError``
    with its message (e.g. ``'lr0=abc' is of invalid type str``)."""
    from ultralytics.cfg import check_cfg

    try:
        check_cfg(dict(args), hard=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--train-arg: {e}") from None


def ultralytics_logger():
    """Ultralytics' logger (prints to stdout at INFO), for messages that belong beside its own."""
    from ultralytics.utils import LOGGER

    return LOGGER


def run_yolo_cli(argv: Sequence[str]) -> int:
    """Run Ultralytics' ``yolo`` command line with ``argv`` (yolo_attn registered first); return 0."""
    from ultralytics.cfg import entrypoint

    from yolo_attn.integration.parser import register

    register()
    sys.argv[:] = ["yolo", *argv]  # Ultralytics reads ultralytics.utils.ARGV, the same list object as sys.argv
    entrypoint()
    return 0
