"""Weight transfer from a stock Ultralytics checkpoint into a variant with inserted attention layers.

Inserting attention rows shifts layer indices, so ``pretrained=yolov8s.pt`` on ``yolov8s-mlca.yaml`` matches state-dict
keys by index and silently drops every layer after the first insertion (the whole neck and head). This module maps
each layer of the stock model to its counterpart in the variant instead: the variant's layers minus the inserted
attention layers, in order, with the same types, the same wiring (``from`` indices, read through the inserted
layers) and the same tensor shapes. Every tensor (parameters and buffers) is copied; only the attention layers stay
at their fresh initialization.

The written checkpoint has Ultralytics' format (the model in FP16 with its ``yaml`` and ``names``, ``train_args``,
``epoch`` -1, no optimizer), so ``yolo train model=init.pt`` and ``yolo train model=<variant>.yaml
pretrained=init.pt`` both accept it.

Examples:
    >>> from yolo_attn.transfer import transfer_weights
    >>> report = transfer_weights("yolov8s.pt", "cfg/models/yolov8s-mlca.yaml", "init.pt")
    >>> print(report.summary())
"""

from __future__ import annotations

import re
import tempfile
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from yolo_attn._io import write_bytes

__all__ = ("TransferReport", "transfer_weights")


@dataclass
class TransferReport:
    """What ``transfer_weights`` copied and what it left fresh.

    Attributes:
        weights (str): Source checkpoint.
        model (str): Variant model YAML.
        out (str | None): Checkpoint written, None when not written.
        moved (int): Tensors copied (parameters and buffers, state-dict entries).
        moved_numel (int): Elements copied.
        total (int): Tensors in the variant's state dict.
        source_total (int): Tensors in the source model's state dict (all of them are copied).
        layer_map (dict[int, int]): Source layer index -> variant layer index.
        fresh_layers (list[int]): Variant layers left at their initialization (the inserted attention layers).
        fresh_types (list[str]): Class names of the fresh layers.
        fresh_tensors (list[str]): State-dict keys left at their initialization (inserted layers, and the attention
            inside host blocks such as ``C2fWith``).
        nc (int): Number of classes (taken from the source, so the head transfers).
        dropped_tensors (list[str]): Source keys with no place in the variant: the self-attention of C2PSA that
            ``C2PSAWith`` replaces by the module (nothing else is ever dropped).
    """

    weights: str
    model: str
    out: str | None
    moved: int
    moved_numel: int
    total: int
    source_total: int
    layer_map: dict[int, int] = field(default_factory=dict)
    fresh_layers: list[int] = field(default_factory=list)
    fresh_types: list[str] = field(default_factory=list)
    fresh_tensors: list[str] = field(default_factory=list)
    nc: int = 0
    dropped_tensors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a few lines saying what moved and what stayed fresh."""
        shifted = {s: v for s, v in self.layer_map.items() if s != v}
        fresh = ", ".join(f"{i} ({t})" for i, t in zip(self.fresh_layers, self.fresh_types, strict=True)) or "none"
        lines = [
            f"Transferred {self.moved}/{self.source_total} tensors ({self.moved_numel:,} values, parameters and "
            f"buffers) from {self.weights} into {self.model} (nc {self.nc}).",
            f"Layers mapped: {len(self.layer_map)}; shifted by the insertions: "
            + (", ".join(f"{s}->{v}" for s, v in shifted.items()) or "none"),
            f"Fresh layers (initialized, not transferred): {fresh}; {len(self.fresh_tensors)} tensors.",
        ]
        if self.dropped_tensors:
            lines.append(f"Dropped: {len(self.dropped_tensors)} tensors of C2PSA's self-attention (replaced).")
        if self.out:
            lines.append(f"Saved {self.out}: use `yolo train model={self.out} data=...` (or pretrained={self.out}).")
        return "\n".join(lines)


def _sources(model, idx: int) -> list[int]:
    """Return the absolute layer indices that feed layer ``idx`` of an Ultralytics model."""
    f = model.model[idx].f
    return [idx + s if s < 0 else s for s in ([f] if isinstance(f, int) else f)]


def _attention_types() -> tuple[type, ...]:
    """Return the classes that count as inserted attention layers (the gating modules of ``yolo_attn.nn``)."""
    from yolo_attn.nn.registry import attention_classes

    return attention_classes()


def _hosts() -> dict[type, type]:
    """Host block -> the stock block it extends (``C2fWith`` -> ``C2f``): the stock layer's counterpart."""
    from yolo_attn.integration.hosts import HOSTS

    return dict(HOSTS.values())


_REPLACED = re.compile(r"^m\.\d+\.attn\.")  # C2PSA's PSABlock self-attention, which C2PSAWith replaces


def _align(src, dst, att_types) -> tuple[dict[int, int], list[int]]:
    """Map source layers to destination layers, skipping destination attention layers that the source lacks."""
    mapping, inserted, hosts = {}, [], _hosts()
    i = 0
    for j, m in enumerate(dst.model):
        if i < len(src.model) and type(src.model[i]) in (type(m), hosts.get(type(m))):
            mapping[i] = j
            i += 1
        elif isinstance(m, att_types):
            inserted.append(j)
        else:
            expected = type(src.model[i]).__name__ if i < len(src.model) else "nothing (source exhausted)"
            raise ValueError(
                f"transfer: variant layer {j} is {type(m).__name__} but the source's layer {i} is {expected}; "
                "the variant must be the source model with attention layers inserted (same layers otherwise)"
            )
    if i != len(src.model):
        raise ValueError(
            f"transfer: source layers {i}..{len(src.model) - 1} ({type(src.model[i]).__name__}, ...) have no "
            "counterpart in the variant"
        )
    return mapping, inserted


def _check_wiring(src, dst, mapping: dict[int, int], inserted: list[int]) -> None:
    """Check that every mapped layer reads the mapped counterparts of its source inputs (through inserted layers)."""
    back = {-1: -1, **{j: i for i, j in mapping.items()}}  # -1: the model input (layer 0 reads the image)
    ins = set(inserted)

    def root(j: int) -> int:
        while j in ins:
            srcs = _sources(dst, j)
            if len(srcs) != 1:
                raise ValueError(f"transfer: inserted attention layer {j} has {len(srcs)} inputs, expected one")
            j = srcs[0]
        return j

    for i, j in mapping.items():
        want = _sources(src, i)
        got = [back.get(root(k), f"unmapped {k}") for k in _sources(dst, j)]
        if got != want:
            raise ValueError(
                f"transfer: variant layer {j} ({type(dst.model[j]).__name__}) reads layers {got} of the source "
                f"numbering, but its counterpart, source layer {i}, reads {want}"
            )


def _check_arguments(model_yaml: str | Path, out: str | Path | None, overwrite: bool) -> None:
    """Refuse bad paths before any work: a checkpoint given as the variant, an ``out`` that is a folder, exists, or
    lies in a folder nobody can write into (tried with a temporary file: read-only mounts count too)."""
    if Path(model_yaml).suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"--model {model_yaml}: give the variant's YAML (e.g. yolov8s-mlca.yaml), not a checkpoint")
    if out is None:
        return
    if Path(out).is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give the path of the .pt file to write")
    if Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite to replace it")
    folder = next(p for p in Path(out).absolute().parents if p.exists())  # the folder the output goes into
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise PermissionError(f"--out {out}: cannot write into {folder} ({e.strerror}); choose another --out") from None


def transfer_weights(
    weights: str | Path,
    model_yaml: str | Path,
    out: str | Path | None = None,
    *,
    half: bool = True,
    verbose: bool = True,
    overwrite: bool = False,
) -> TransferReport:
    """Copy every tensor of a stock Ultralytics checkpoint into a variant with inserted attention layers.

    Args:
        weights (str | Path): Source checkpoint, e.g. ``yolov8s.pt`` (any Ultralytics checkpoint: EMA preferred).
        model_yaml (str | Path): Variant YAML, e.g. ``cfg/models/yolov8s-mlca.yaml`` (the scale letter picks the
            scale; without one, the source's scale is used); it must be the source architecture plus inserted
            attention layers, at the same scale.
        out (str | Path, optional): Where to write the checkpoint (written to a temporary sibling and renamed, so it
            is never half-written); nothing is written when None.
        half (bool): Save the model in FP16 as Ultralytics does (lossless for FP16 source checkpoints).
        verbose (bool): Log the summary.
        overwrite (bool): Replace an existing ``out``; by default an existing file is refused before any work.

    Returns:
        (TransferReport): What moved and what stayed fresh.

    Raises:
        ValueError: When the variant is not the source plus inserted attention layers (types, wiring, shapes or
            tensor names differ), e.g. a different scale; or ``weights`` is not an Ultralytics checkpoint.
        FileNotFoundError: ``weights`` does not exist.
        FileExistsError: ``out`` exists and ``overwrite`` is False.

    Examples:
        >>> report = transfer_weights("yolov8s.pt", "cfg/models/yolov8s-mlca.yaml", "init.pt")
        >>> report.fresh_layers  # the three MLCA layers
        [22, 23, 24]
    """
    from yolo_attn.integration import register
    from yolo_attn.integration.internals import (
        default_cfg_keys,
        load_checkpoint,
        ultralytics_logger,
        ultralytics_version,
        yaml_model_load,
    )

    _check_arguments(model_yaml, out, overwrite)
    register()

    src, ckpt = load_checkpoint(weights)  # FP32, eval mode, EMA preferred
    if getattr(src, "is_fused", lambda: False)():
        raise ValueError(f"transfer: {weights} holds a fused model (Conv and BN folded); use an unfused checkpoint")
    head = src.model[-1]
    nc = int(getattr(head, "nc", 0) or src.yaml.get("nc", 0))
    ch = int(src.yaml.get("channels", 3))
    cfg = yaml_model_load(model_yaml)
    if cfg.get("scales") and not cfg.get("scale") and src.yaml.get("scale") in cfg["scales"]:
        cfg["scale"] = src.yaml["scale"]  # a YAML named without a scale letter takes the source's scale
    dst = type(src)(cfg, ch=ch, nc=nc, verbose=False)

    from yolo_attn.integration.hosts import C2PSAWith

    mapping, inserted = _align(src, dst, _attention_types())
    _check_wiring(src, dst, mapping, inserted)

    moved = numel = 0
    fresh_tensors = [f"model.{j}.{k}" for j in inserted for k in dst.model[j].state_dict()]
    dropped = []
    with torch.no_grad():
        for i, j in mapping.items():
            s_sd, d_sd = src.model[i].state_dict(), dst.model[j].state_dict()
            if type(src.model[i]) is not type(dst.model[j]):  # a host block: its attention starts fresh
                replaced = isinstance(dst.model[j], C2PSAWith)  # its m.<i>.attn is the module, not the stock one
                gone = [k for k in s_sd if replaced and _REPLACED.match(k)]
                new = [k for k in d_sd if ".attention." in k or (replaced and _REPLACED.match(k))]
                fresh_tensors += [f"model.{j}.{k}" for k in new]
                dropped += [f"model.{i}.{k}" for k in gone]
                s_sd = {k: v for k, v in s_sd.items() if k not in gone}
                d_sd = {k: v for k, v in d_sd.items() if k not in new}
            if s_sd.keys() != d_sd.keys():
                raise ValueError(
                    f"transfer: layer {i} -> {j} ({type(src.model[i]).__name__}) has different tensors: "
                    f"source only {sorted(s_sd.keys() - d_sd.keys())}, variant only {sorted(d_sd.keys() - s_sd.keys())}"
                )
            for k, s in s_sd.items():
                d = d_sd[k]
                if s.shape != d.shape:
                    raise ValueError(
                        f"transfer: layer {i} -> {j} ({type(src.model[i]).__name__}) tensor {k!r} is "
                        f"{tuple(s.shape)} in {weights} but {tuple(d.shape)} in {model_yaml}; "
                        "is the variant at the same scale as the source?"
                    )
                d.copy_(s.to(d.dtype))
                moved += 1
                numel += s.numel()
    if not torch.equal(torch.as_tensor(src.stride), torch.as_tensor(dst.stride)):
        raise ValueError(f"transfer: strides differ: source {src.stride.tolist()}, variant {dst.stride.tolist()}")
    dst.names = dict(getattr(src, "names", {}) or dst.names)

    report = TransferReport(
        weights=str(weights),
        model=str(model_yaml),
        out=None if out is None else str(out),
        moved=moved,
        moved_numel=numel,
        total=len(dst.state_dict()),
        source_total=len(src.state_dict()),
        layer_map=mapping,
        fresh_layers=inserted,
        fresh_types=[type(dst.model[j]).__name__ for j in inserted],
        fresh_tensors=fresh_tensors,
        nc=nc,
        dropped_tensors=dropped,
    )
    if moved + len(dropped) != report.source_total or moved + len(fresh_tensors) != report.total:
        raise ValueError(f"transfer: internal count mismatch ({moved=}, {report.source_total=}, {report.total=})")

    if out is not None:
        model = deepcopy(dst).to(memory_format=torch.contiguous_format)
        model = model.half() if half else model.float()
        cfg_keys = default_cfg_keys()
        train_args = {k: v for k, v in (ckpt.get("train_args") or {}).items() if k in cfg_keys}
        ckpt_out = {
            "date": datetime.now().astimezone().isoformat(),
            "version": ultralytics_version(),
            "license": "AGPL-3.0 License (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
            "epoch": -1,
            "best_fitness": None,
            "model": model,
            "ema": None,
            "updates": None,
            "optimizer": None,
            "train_args": train_args,
            "yolo_attn_transfer": {
                "source": str(weights),
                "model_yaml": str(model_yaml),
                "layer_map": {int(i): int(j) for i, j in mapping.items()},
                "fresh_layers": [int(j) for j in inserted],
                "moved": moved,
            },
        }
        write_bytes(out, lambda f: torch.save(ckpt_out, f))  # complete or absent, never half-written
    if verbose:
        ultralytics_logger().info(report.summary())
    return report
