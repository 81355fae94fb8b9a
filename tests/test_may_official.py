"""The `may-paper` set is the MLCA paper's six MAY networks, block by block, and its CBAM and CA are the paper code's.

The official code: github.com/wandahangFY/MLCA (its YOLOv5-6.1 fork), ``models/mobilenetv3-{SEOFF,SE,ECA,CBAM,CA,
MLCA}.yaml`` with the blocks ``MblNetV3_Blk*`` and the modules ``SELayer``, ``ECA``, ``CBAM``, ``CA`` and ``MLCA`` of
``models/common.py``. The per-block parameter counts below are written down from reading that code, not computed
by ours (and were checked once against the fork's own ``Model(cfg)``):

- stem ``ConvBNHswish(3, 16, 2)``: 3x3 conv + BN = 464;
- block ``[out, hidden, k, s, use_se, use_hs]``: (expand 1x1 + BN when hidden != in) + depthwise kxk + BN +
  project 1x1 + BN, plus the module in the SE slot on ``hidden`` channels when use_se:
  SE = ``SELayer(hidden)``: Linear(C, C/4) + Linear(C/4, C) with biases, 2*C*(C/4) + C/4 + C;
  ECA = ``ECA(hidden, hidden)``: one Conv1d(1, 1, k), k = odd(int((log2 C + 1) / 2)): 3 for 16, 5 for 96..576;
  CBAM = ``CBAM(hidden, hidden)``: bias-free 1x1 convs C -> C/16 -> C, 7x7 conv 2 -> 1 without bias: 2*C*(C/16) + 98;
  CA = ``CA(hidden, hidden, 16)``: mip = max(8, C/16), bias-free convs C -> mip, mip -> C twice, BN(mip):
  3*C*mip + 2*mip;
  MLCA = ``MLCA(hidden)``: two Conv1d(1, 1, k): 2k.
- head: YOLOv5's Detect, three 1x1 convs (128/256/512 -> 3 anchors x (20 + 5)) with biases = 67,425.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yolo_attn.zoo import MAY_PAPER, build_model

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = Path(__file__).resolve().parents[1] / "cfg" / "models"

#: Parameters of layers 0 (stem) and 1-11 (blocks) of the official MAY networks.
OFFICIAL_BACKBONE = {
    "SEOFF": (464, 464, 3864, 5416, 9008, 26240, 26240, 14136, 18096, 50016, 127488, 127488),
    "SE": (464, 612, 3864, 5416, 13736, 55340, 55340, 21486, 28644, 91848, 294096, 294096),
    "ECA": (464, 467, 3864, 5416, 9011, 26245, 26245, 14139, 18101, 50021, 127493, 127493),
    "CBAM": (464, 594, 3864, 5416, 10258, 33538, 33538, 15914, 20786, 60482, 169058, 169058),
    "CA": (464, 864, 3864, 5416, 11328, 37070, 37070, 17032, 22002, 65604, 189768, 189768),
    "MLCA": (464, 470, 3864, 5416, 9014, 26250, 26250, 14142, 18106, 50026, 127498, 127498),
}
#: Whole official networks (backbone, YOLOv5 v6.0 C3-PAN neck, YOLOv5's anchor-based Detect).
OFFICIAL_TOTAL = {
    "SEOFF": 3_137_977,
    "SE": 3_593_999,
    "ECA": 3_138_016,
    "CBAM": 3_252_027,
    "CA": 3_309_307,
    "MLCA": 3_138_055,
}
YOLOV5_DETECT = 67_425  # 3 x (20 + 5) outputs per level: (128 + 256 + 512) x 75 weights + 3 x 75 biases
SE_BLOCKS = (1, 4, 5, 6, 7, 8, 9, 10, 11)


def test_the_set_is_the_papers_six():
    from yolo_attn.compare.models import resolve_models

    assert [name for name, _ in MAY_PAPER] == list(OFFICIAL_TOTAL)
    labels = [m.label for m in resolve_models("may-paper", MODELS)]
    assert labels == ["may-none", "may-mbse", "may-eca", "may-paper-cbam", "may-paper-ca", "may-mlca"]
    assert all(m.file for m in resolve_models("may-paper", MODELS))
    may = {m.label for m in resolve_models("may", MODELS)}
    assert set(labels) <= may and {"may-cbam", "may-coordatt", "may-se", "may-ela", "may-epsa-add"} <= may


def test_official_numbers_are_consistent():
    """The hard-coded table adds up: the SE slots hold the only differences, and the totals share one neck + head."""
    base = OFFICIAL_BACKBONE["SEOFF"]
    neck_and_head = OFFICIAL_TOTAL["SEOFF"] - sum(base)
    for name, blocks in OFFICIAL_BACKBONE.items():
        assert [j for j in range(12) if blocks[j] != base[j]] == ([] if name == "SEOFF" else list(SE_BLOCKS))
        assert OFFICIAL_TOTAL[name] - sum(blocks) == neck_and_head


@pytest.mark.parametrize("paper_name, tag", MAY_PAPER)
def test_per_block_parameters_equal_the_official(paper_name, tag):
    model = build_model(MODELS / f"may-{tag}.yaml")
    per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
    assert tuple(per_layer[:12]) == OFFICIAL_BACKBONE[paper_name]
    for j in SE_BLOCKS:  # named again: the blocks whose SE slot holds the module
        assert per_layer[j] == OFFICIAL_BACKBONE[paper_name][j], f"block {j}"
    # backbone + neck equal; only the head differs (Ultralytics' anchor-free Detect vs YOLOv5's anchor-based one)
    assert sum(per_layer[:-1]) + YOLOV5_DETECT == OFFICIAL_TOTAL[paper_name]


def _slot_modules(file: str):
    """The attention modules in the SE slots of a shipped MAY file, with their hidden widths."""
    model = build_model(MODELS / file)
    return [
        (blk.att, blk.block.dw.conv.out_channels) for blk in model.model[1:12] if type(blk.att) is not torch.nn.Identity
    ]


@pytest.mark.parametrize("file, ref_name", [("may-paper-cbam.yaml", "MAYCBAMRef"), ("may-paper-ca.yaml", "MAYCARef")])
def test_slot_modules_equal_the_papers_code(file, ref_name):
    """Every SE-slot module of the file equals a literal transcription of the MAY code's module, in float64."""
    from yolo_attn.nn import reference

    make = getattr(reference, ref_name)
    slots = _slot_modules(file)
    assert [c for _, c in slots] == [16, 96, 240, 240, 120, 144, 288, 576, 576]
    g = torch.Generator().manual_seed(0)
    for att, c in slots:
        ref = make(c, c, 16) if ref_name == "MAYCARef" else make(c, c)  # as MblNetV3_BlkCA / _BlkCBAM build them
        att = att.double()
        with torch.no_grad():
            for p in att.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
            for b in att.buffers():
                if b.is_floating_point():
                    b.copy_(torch.rand(b.shape, generator=g, dtype=torch.float64) + 0.5)
        ref = reference.copy_weights(att, ref.double())
        for m in ref.modules():  # YOLOv5's initialize_weights, like Ultralytics', sets every BN to eps 1e-3
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps, m.momentum = 1e-3, 0.03
        assert sum(p.numel() for p in att.parameters()) == sum(p.numel() for p in ref.parameters())
        for mode in ("train", "eval"):
            att.train(mode == "train")
            ref.train(mode == "train")
            x = torch.randn(2, c, 13, 17, generator=g, dtype=torch.float64)
            torch.testing.assert_close(att(x), ref(x), rtol=0, atol=1e-12, msg=f"{file} C={c} {mode}")


@pytest.mark.parametrize("tag, own", [("paper-cbam", "cbam"), ("paper-ca", "coordatt")])
def test_papers_module_differs_from_the_modules_own(tag, own):
    """may-cbam / may-coordatt keep the modules' own papers' code: a different network (+116,507 vs +114,050; +95,399
    vs +171,330 parameters over SEOFF)."""
    base = sum(p.numel() for p in build_model(MODELS / "may-none.yaml").parameters())
    paper = sum(p.numel() for p in build_model(MODELS / f"may-{tag}.yaml").parameters()) - base
    mine = sum(p.numel() for p in build_model(MODELS / f"may-{own}.yaml").parameters()) - base
    assert (paper, mine) == {"paper-cbam": (114_050, 116_507), "paper-ca": (171_330, 95_399)}[tag]
