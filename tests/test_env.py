"""yolo_attn.env: the one home of device names and package versions."""

import os

import torch

from yolo_attn.env import device_name, package_version


def test_device_name_cpu():
    name = device_name(torch.device("cpu"))
    assert name.endswith(f", {os.cpu_count()} logical CPUs") and not name.startswith(",")
    assert device_name("cpu", 1).endswith("logical CPUs, 1 thread")
    assert device_name("cpu", 4, "torch thread").endswith("logical CPUs, 4 torch threads")


def test_package_version():
    assert torch.__version__.startswith(package_version("torch"))
    assert package_version("no-such-distribution-yolo-attn") is None
    assert package_version("no-such-distribution-yolo-attn", "not installed") == "not installed"
