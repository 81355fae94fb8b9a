"""Test-session setup: offline Ultralytics, a throw-away settings dir, a headless matplotlib.

The environment is set at import time, before any test module (and so before ultralytics) is imported.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
if "YOLO_CONFIG_DIR" not in os.environ:
    _config_dir = tempfile.mkdtemp(prefix="yolo_attn_cfg_")
    os.environ["YOLO_CONFIG_DIR"] = _config_dir
    atexit.register(shutil.rmtree, _config_dir, ignore_errors=True)

import pytest  # noqa: E402  (after the environment is set)
import torch  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's small forwards (faster on shared CPUs); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny 2-class YOLO dataset (4 images of 64 px), written once per test session; returns its data YAML."""
    from helpers import write_tiny_yolo_dataset

    return write_tiny_yolo_dataset(tmp_path_factory.mktemp("tiny"), images=4)


@pytest.fixture(scope="session")
def sample_devkits(tmp_path_factory):
    """``copy(dest, images=24, imgsz=64)``: a private copy (``dest/VOCdevkit``) of a generated VOC devkit, each size
    generated once per test session."""
    from yolo_attn.data.sample import make_sample_dataset

    made: dict[tuple[int, int], Path] = {}

    def copy(dest: Path, images: int = 24, imgsz: int = 64) -> Path:
        if (images, imgsz) not in made:
            base = tmp_path_factory.mktemp(f"devkit{images}x{imgsz}")
            made[images, imgsz] = make_sample_dataset(base, images=images, seed=0, imgsz=imgsz)
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copytree(made[images, imgsz], dest / "VOCdevkit"))

    return copy


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(request, monkeypatch):
    """The tiering rule, checked: a test that starts a process (a CLI, ``yolo train``, a pool) is marked slow.

    `make test-fast` skips slow tests; with ``YOLO_ATTN_TIER_CHECK=1`` (`make check-tiers`) one that starts a process
    unmarked fails here, naming the command. The failure is pytest's `Failed`, a `BaseException`, so library code
    catching `Exception` around a subprocess cannot hide it. Opt-in until every test file is tiered (the compare and
    Slurm tests are not yet).
    """
    if os.environ.get("YOLO_ATTN_TIER_CHECK") != "1" or request.node.get_closest_marker("slow") is not None:
        yield
        return
    import multiprocessing.process
    import subprocess

    def refuse(what: str):
        pytest.fail(f"{request.node.nodeid} starts a process ({what}) but is not marked @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", lambda self, args, *a, **k: refuse(repr(args)[:200]))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", lambda self: refuse(f"multiprocessing {self}"))
    yield
