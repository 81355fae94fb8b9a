"""Test-session setup: offline Ultralytics, a throw-away settings dir, a headless matplotlib.

The environment is set at import time, before any test module (and so before ultralytics) is imported.
"""

import atexit
import os
import shutil
import tempfile

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
