"""Named placements: the same module in each place the field puts it, generated from Ultralytics' own YAMLs.

Per stock family (YOLOv8, YOLO11, YOLO12, YOLO26) and per channel-keeping module of the registry, one file per place:

| place | file | where the module goes |
|---|---|---|
| ``head-in`` | ``<family>-<tag>.yaml`` (the zoo's neck files, names unchanged) | on each of the 3 Detect inputs |
| ``backbone`` | ``<family>-<tag>-backbone.yaml`` | after the last two backbone stages (P4, P5), before SPPF: the EMA authors' placement ("behind the last two C3 layers of the backbone") |
| ``c2f`` / ``c3k2`` | ``<family>-<tag>-c2f.yaml`` (YOLOv8), ``-c3k2.yaml`` (YOLO11, YOLO26) | inside every bottleneck of the 4 neck blocks (``C2fWith`` / ``C3k2With``) |
| ``psa`` | ``<family>-<tag>-psa.yaml`` (YOLO11, YOLO26) | in place of C2PSA's self-attention (``C2PSAWith``) |

Why the in-block files hold the neck blocks only: they are the same 4 blocks whose outputs the ``head-in`` files
gate, so ``head-in`` vs ``c3k2`` asks "after the block or inside it" and nothing else; a ``both`` file would double
the file count for a question the two answer separately; and a YAML whose every C3k2 is a host cannot build YOLO11's
head (the parser picks it from a stock C3k2 row, docs/design.md §5). YOLO12's neck is A2C2f blocks (no bottlenecks)
and one C3k2, so it gets the ``backbone`` place only. A module that cannot take some host's channel count at some
scale of a family (the channel counts are computed from the scales, the module's constructor decides) gets no file
for that place and family; conv replacements (EPSA) keep their own ``-epsa`` placement.
"""

from __future__ import annotations

import re

import yaml

from yolo_attn.zoo import _STOCK, Attention, ZooEntry, _renumber, _stock, _stock_families, _wrap, family_attentions

__all__ = ["PLACES", "place_of", "placement_entries", "placement_set"]

#: Place -> what it means (``models list`` and the README table use this order).
PLACES = {
    "head-in": "on each of the 3 Detect inputs (the zoo's neck files)",
    "backbone": "after the last two backbone stages (P4, P5)",
    "c2f": "inside every bottleneck of the 4 neck C2f blocks",
    "c3k2": "inside every bottleneck of the 4 neck C3k2 blocks",
    "psa": "in place of C2PSA's self-attention",
}
_FAMILY_PLACES = {
    "yolov8": ("backbone", "c2f"),
    "yolo11": ("backbone", "c3k2", "psa"),
    "yolo12": ("backbone",),
    "yolo26": ("backbone", "c3k2", "psa"),
}
_STAGES = ("C2f", "C3k2", "A2C2f")  # backbone stage blocks (the rows after which ``backbone`` places the module)


def place_of(file: str) -> str:
    """The place of a zoo file (``yolo11-mlca-c3k2.yaml`` -> ``c3k2``; a file without a place suffix: ``head-in``)."""
    stem = file.removesuffix(".yaml")
    return next((p for p in PLACES if p != "head-in" and stem.endswith(f"-{p}")), "head-in")


def _width(c2: float, scale: list) -> int:
    """``c2`` scaled as the parser scales a Conv-family row: ``make_divisible(min(c2, max_channels) * width, 8)``."""
    x = min(c2, scale[2]) * scale[1]
    return int(-(-x // 8) * 8)


def _channels(place: str, row: list, scale_letter: str, scale: list) -> set[int]:
    """Channel counts the module gets in ``row`` (a stock row) at one scale (mirrors the host blocks' widths)."""
    _, _, m, args = row
    c2 = _width(args[0], scale)
    if place == "backbone":
        return {c2}
    if m == "C2PSA":
        return {int(c2 * 0.5)}
    if m == "C2f":
        return {int(c2 * (args[3] if len(args) > 3 else 0.5))}
    c = int(c2 * (args[2] if len(args) > 2 else 0.5))  # C3k2 [c2, c3k, e, attn, ...]
    c3k = (len(args) > 1 and args[1]) or scale_letter in "mlx"
    attn = len(args) > 3 and args[3]
    return {c} | ({c // 2} if c3k and not attn else set())  # a C3k's bottlenecks have half its width


def _targets(place: str, data: dict) -> list[int]:
    """Indices of the stock rows a place acts on."""
    rows = data["backbone"] + data["head"]
    nb = len(data["backbone"])
    if place == "backbone":
        return [i for i in range(nb) if rows[i][2] in _STAGES][-2:]
    if place == "psa":
        return [i for i, r in enumerate(rows) if r[2] == "C2PSA"]
    block = "C2f" if place == "c2f" else "C3k2"
    return [i for i in range(nb, len(rows)) if rows[i][2] == block]


def _fits(att: Attention, place: str, data: dict, targets: list[int]) -> bool:
    from yolo_attn.nn import find_attention

    spec = find_attention(att.name)
    rows = data["backbone"] + data["head"]
    widths = {c for s, sc in data["scales"].items() for i in targets for c in _channels(place, rows[i], s, sc)}
    return all(spec.fits(c, *att.hp) for c in widths)


def _module_arg(att: Attention):
    return [att.name, *att.hp] if att.hp else att.name


def _insert_after(data: dict, comments: list[str], targets: list[int], att: Attention) -> tuple[dict, list[str]]:
    """Insert a module row after each target row; absolute ``from`` indices to a target read the module instead."""
    nb = len(data["backbone"])
    rows, new_index, out_rows, out_comments = data["backbone"] + data["head"], {}, [], []
    for i, ((f, n, m, args), comment) in enumerate(zip(rows, comments, strict=True)):
        f = [new_index.get(j, j) for j in f] if isinstance(f, list) else new_index.get(f, f)
        out_rows.append([f, n, m, list(args)])
        out_comments.append(_renumber(comment, len(out_rows) - 1))
        if i in targets:
            out_rows.append([-1, 1, att.name, list(att.hp)])
            out_comments.append(f"{len(out_rows) - 1} {att.display} after layer {i} (backbone stage)")
        new_index[i] = len(out_rows) - 1
    nb += sum(t < nb for t in targets)
    out = {k: v for k, v in data.items() if k not in ("backbone", "head")}
    out["backbone"], out["head"] = out_rows[:nb], out_rows[nb:]
    return out, out_comments


def _host_rows(data: dict, comments: list[str], targets: list[int], att: Attention) -> tuple[dict, list[str]]:
    """Turn each target row into its host block (``C2f`` -> ``C2fWith`` ...) with the module as the last argument."""
    nb = len(data["backbone"])
    rows = [list(r) for r in data["backbone"] + data["head"]]
    comments = list(comments)
    for i in targets:
        f, n, m, args = rows[i]
        rows[i] = [f, n, f"{m}With", [*args, _module_arg(att)]]
        comments[i] = f"{comments[i]} | {att.display} inside".strip()
    out = {k: v for k, v in data.items() if k not in ("backbone", "head")}
    out["backbone"], out["head"] = rows[:nb], rows[nb:]
    return out, comments


def _entry(prefix: str, att: Attention, place: str) -> ZooEntry | None:
    family, rel = _STOCK[prefix]
    stock, comments = _stock(rel)
    targets = _targets(place, stock)
    if not targets or not _fits(att, place, stock, targets):
        return None
    rows = stock["backbone"] + stock["head"]
    if place == "backbone":
        data, comments = _insert_after(stock, comments, targets, att)
        what = f"{att.display} after the last two backbone stages (layers {', '.join(map(str, targets))}: P4, P5)"
        why = "the EMA authors' placement (YOLOonMe/EMA-attention-module #2: behind the last two C3 layers)"
    else:
        data, comments = _host_rows(stock, comments, targets, att)
        block, layers = rows[targets[0]][2], ", ".join(map(str, targets))
        if place == "psa":
            what = f"{att.display} in place of C2PSA's self-attention (C2PSAWith, layer {layers})"
            why = "the field's C2PSA_<Module> blocks, written once for every module"
        else:
            what = (
                f"{att.display} inside every bottleneck of the {len(targets)} neck {block} blocks ({block}With, "
                f"layers {layers}; after each bottleneck's second conv, before its residual add)"
            )
            why = "the field's C3k2_<Module> / C2f_<Module> blocks, written once for every module"
    header = _wrap(
        f"{family} with {what}: {why}. Derived from Ultralytics' {rel.split('/')[-1]}; every stock layer keeps its "
        f"weights' shapes and names, so stock checkpoints transfer (yolo-attn transfer). Place '{place}' of the "
        f"placement sweep (compare --models placement:{att.tag}). Use with a scale letter: "
        f"model={prefix}s-{att.tag}-{place}.yaml."
    )
    if att.note:
        header += _wrap("Why these hyperparameters: " + att.note)
    return ZooEntry(
        file=f"{prefix}-{att.tag}-{place}.yaml",
        family=f"{family} placements",
        attention=att,
        where=what,
        baseline=f"ultralytics:{rel.split('/')[-1]}",
        scales=tuple(stock["scales"]),
        header=header,
        data=data,
        comments=comments,
    )


def placement_entries() -> list[ZooEntry]:
    """Every placement file of the installed families (the ``head-in`` files are the zoo's neck files)."""
    out = []
    for prefix in _stock_families():
        for att in family_attentions(prefix).values():
            if att.kind != "gate":
                continue
            out += [e for p in _FAMILY_PLACES.get(prefix, ()) if (e := _entry(prefix, att, p)) is not None]
    return out


def placement_set(module: str, family: str = "yolo11", scale: str = "n") -> list[str]:
    """The named set ``placement:<module>``: the stock baseline, then the module in every place of ``family``, as
    model names (``yolo11n.yaml``, ``yolo11n-mlca.yaml``, ``yolo11n-mlca-backbone.yaml``, ...).

    ``module`` is a registered name, alias or file tag, optionally ``<module>@<family><scale>`` (``mlca@yolov8s``).
    """
    from yolo_attn.nn import ATTENTION, find_attention

    if "@" in module:
        module, where = module.split("@", 1)
        m = re.fullmatch(r"(yolov?\d+)([nslmx])", where.strip().lower())
        if not m or m.group(1) not in _STOCK:
            raise ValueError(f"placement:{module}@{where}: give a family and scale such as yolo11n or yolov8s")
        family, scale = m.groups()
    spec = {s.tag: s for s in ATTENTION.values()}.get(module.strip().lower())
    try:
        spec = spec or find_attention(module)
    except ValueError as e:
        raise ValueError(f"placement:{module}: {e}") from None
    att = family_attentions(family).get(spec.tag)
    if att is None or att.kind != "gate":
        valid = [a.tag for a in family_attentions(family).values() if a.kind == "gate"]
        raise ValueError(f"placement:{module}: {spec.name} has no placement files in {family}; valid: {valid}")
    places = [p for p in _FAMILY_PLACES.get(family, ()) if _entry(family, att, p)]
    return [f"{family}{scale}.yaml", f"{family}{scale}-{spec.tag}.yaml"] + [
        f"{family}{scale}-{spec.tag}-{p}.yaml" for p in places
    ]


def render_placement_table(module: str = "MLCA", scale: str = "n", imgsz: int = 640) -> str:
    """The README's cost-per-place table: for each family, the stock model and the module in every place, with
    parameters, GFLOPs (``profile_model``: thop on the full-size input), their deltas and how many module instances
    the forward calls (an in-block file calls the module once per bottleneck: ``n`` per C2f block, ``2n`` per
    C3k2 block with C3k).
    """
    from yolo_attn.integration import register
    from yolo_attn.integration.internals import detection_model
    from yolo_attn.nn import find_attention
    from yolo_attn.nn.registry import attention_classes
    from yolo_attn.zoo import _stock_path, _yolo_entry, profile_model

    register()
    spec = find_attention(module)
    lines = [
        f"| model ({scale}, {imgsz}x{imgsz}) | place | params | Δ params | GFLOPs | Δ GFLOPs | module calls |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for prefix in _stock_families():
        if prefix == "yolo12":
            continue
        rel = _STOCK[prefix][1]
        stock = {**yaml.safe_load(_stock_path(rel).read_text(encoding="utf-8")), "scale": scale}
        base_p, base_g = profile_model(detection_model(stock), imgsz)
        lines.append(f"| {prefix}{scale}.yaml | none | {base_p:,} | | {base_g:.2f} | | 0 |")
        att = family_attentions(prefix)[spec.tag]
        for e in [_yolo_entry(prefix, att)] + [e for p in _FAMILY_PLACES[prefix] if (e := _entry(prefix, att, p))]:
            model = detection_model({**e.data, "scale": scale})
            p, g = profile_model(model, imgsz)
            calls = sum(isinstance(m, attention_classes()) for m in model.modules())
            name = e.file.replace("-", f"{scale}-", 1)
            lines.append(
                f"| {name} | {place_of(e.file)} | {p:,} | {p - base_p:+,} | {g:.2f} | {g - base_g:+.2f} | {calls} |"
            )
    return "\n".join(lines) + "\n"
