"""Write ``mobilenetv3_layout_v1.pt``: MobileNetV3 stem and blocks saved in the layout of yolo_attn up to a1cd16a.

That layout held bare ``nn.Conv2d`` + ``nn.BatchNorm2d`` pairs (state-dict keys ``block.dw.weight``,
``block.dw_bn.*``, stem ``conv.weight``, ``bn.*``), which Ultralytics' ``fuse()`` did not fold. The file holds a
pickled ``nn.Sequential`` of the blocks (fp32) with its state dict, an input and the eval output, and a tiny
pickled ``DetectionModel`` (fp16 weights, as Ultralytics stores checkpoints) with an input and its eval output
computed from the same fp16-exact weights in fp32. ``tests/test_fuse.py`` loads it with the current code.

Run once, at a commit with the old layout: ``python tests/data/make_mobilenetv3_layout_v1.py OUT.pt``. Kept for
the record; rerunning it at a later commit would save the new layout.
"""

import subprocess
import sys

import torch
import torch.nn as nn

import yolo_attn  # noqa: F401  (registers the YAML names)
from yolo_attn.integration.internals import detection_model
from yolo_attn.nn.mobilenetv3 import MobileNetV3Block, MobileNetV3Stem

torch.manual_seed(0)
g = torch.Generator().manual_seed(1)


def randomize(net):
    """Non-trivial BN statistics and affine parameters, so a wrong fold shows in the output."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return net.eval()


net = randomize(
    nn.Sequential(
        MobileNetV3Stem(3, 16, 3, 2, "HS"),
        MobileNetV3Block(16, 16, 16, 3, 2, "MobileNetV3SE", "RE"),  # no expansion, attention after act
        MobileNetV3Block(16, 24, 72, 3, 2, None, "RE"),  # expansion, stride 2
        MobileNetV3Block(24, 24, 88, 3, 1, "ECA", "RE"),  # residual
        MobileNetV3Block(24, 32, 64, 5, 2, "MLCA", "HS"),  # expansion, hard-swish, MLCA
    )
)
x = torch.randn(1, 3, 32, 48, generator=g)
with torch.no_grad():
    y = net(x)
cfg = {
    "nc": 1,
    "depth_multiple": 1.0,
    "width_multiple": 1.0,
    "backbone": [
        [-1, 1, "MobileNetV3Stem", [16, 3, 2, "HS"]],
        [-1, 1, "MobileNetV3Block", [16, 16, 3, 2, "MobileNetV3SE", "RE"]],
        [-1, 1, "MobileNetV3Block", [24, 72, 3, 2, None, "RE"]],
        [-1, 1, "MobileNetV3Block", [24, 88, 3, 1, "ECA", "RE"]],
        [-1, 1, "MobileNetV3Block", [32, 64, 5, 2, "MLCA", "HS"]],
    ],
    "head": [[[4], 1, "Detect", ["nc"]]],
}
det = randomize(detection_model(cfg)).half().float()  # fp16-exact weights, stored in fp16 like Ultralytics
xd = torch.randn(1, 3, 64, 64, generator=g)
with torch.no_grad():
    yd = det(xd)[0].clone()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
torch.save(
    {
        "model": net,
        "state_dict": net.state_dict(),
        "input": x,
        "output": y,
        "detection_model": det.half(),
        "detection_input": xd,
        "detection_output": yd,
        "made_by": f"yolo_attn at commit {commit} (MobileNetV3 layout: bare nn.Conv2d + nn.BatchNorm2d)",
    },
    sys.argv[1],
)
