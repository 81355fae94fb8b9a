"""Each gate's cost in memory passes: how close a module is to the floor of what gating a tensor must cost.

A gating module reads x at least twice (to pool it, then to write ``y = x * gate``): about 3 elementwise passes over
x forward and 4 more backward, twice that for CBAM's two gates in sequence. This benchmark measures one such pass,
``y = x * g`` with a per-channel ``g``, over the tensors a model family's attention slots receive, and each module's
time on the same tensors in that unit (process CPU time, median of repeated calls, one torch thread by default):

    yolo-attn bench passes                           # MAY's nine SE slots, eval at 1x640 and a train step at 8x320
    yolo-attn bench passes --family yolov8n

Prints numbers; it is never a timed test. A module far above its pass count is paying something other than memory
traffic (per-call overhead on small maps, extra intermediates), which fusing (``torch.compile``) can remove.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from yolo_attn._io import markdown_table
from yolo_attn.bench.timing import interleaved_rounds

__all__ = ["measure_passes", "slot_shapes"]

MODES = {"eval": (1, 640), "train": (8, 320)}  # mode -> (batch, imgsz), as `yolo-attn bench models`


def slot_shapes(family: str, batch: int, imgsz: int) -> list[tuple[int, ...]]:
    """Input shapes of the attention layers of ``family``'s CBAM variant (every gating slot of the family) at
    ``batch`` x 3 x ``imgsz`` x ``imgsz``."""
    from yolo_attn.bench.models import family_specs
    from yolo_attn.nn.registry import attention_classes

    spec = next((s for s in family_specs(family) if s.name.endswith("-cbam")), None)
    if spec is None:
        raise ValueError(f"family {family!r} has no CBAM variant to locate its attention slots")
    model = spec.build().eval()
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: shapes.append(tuple(args[0].shape)))
        for m in model.modules()
        if isinstance(m, attention_classes())
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(batch, 3, imgsz, imgsz))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _module_call(pairs: list, train: bool) -> Callable[[], None]:
    """One timed unit: the module on each of its slot tensors (eval: forward in inference mode; train: forward and
    backward with a fixed upstream gradient)."""
    if not train:

        def forward() -> None:
            with torch.inference_mode():
                for m, x in pairs:
                    m(x)

        return forward
    leaves = [(m, x.clone().requires_grad_(), torch.ones_like(x)) for m, x in pairs]

    def step() -> None:
        for m, x, dy in leaves:
            m(x).backward(dy)

    return step


def measure_passes(family: str = "may", mode: str = "eval", calls: int = 20, seed: int = 0) -> dict:
    """One elementwise pass over ``family``'s slot tensors and every channel-keeping registered module's time there.

    Args:
        family (str): A ``yolo-attn bench models`` family (``may``, ``yolov8n``, ...).
        mode (str): ``eval`` (forward, batch 1 at 640) or ``train`` (forward + backward, batch 8 at 320).
        calls (int): Timed interleaved rounds (median of each), after 3 warm-up rounds.
        seed (int): Seed of the inputs and weights.

    Returns:
        (dict): ``shapes``, ``pass_ms`` and per module ``{"ms", "passes", "slots"}`` (slots it fits in).
    """
    from yolo_attn.nn.registry import ATTENTION

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    batch, imgsz = MODES[mode]
    shapes = slot_shapes(family, batch, imgsz)
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(s, generator=g) for s in shapes]
    gates = [torch.rand(s[0], s[1], 1, 1, generator=g) for s in shapes]
    zoo_family = family if family in ("may", "mobilenet-yolo") else family[:-1]  # yolov8n -> yolov8
    timed: dict[str, Callable[[], object]] = {}

    def gate_pass() -> None:
        with torch.no_grad():
            for x, w in zip(xs, gates, strict=True):
                x * w

    timed["pass"] = gate_pass
    slots = {}
    for name, spec in ATTENTION.items():
        if spec.changes_channels or not spec.in_family(zoo_family):
            continue
        torch.manual_seed(seed)
        hp = spec.hp(zoo_family)
        pairs = [
            (spec.build(s[1], *hp).train(mode == "train"), x)
            for s, x in zip(shapes, xs, strict=True)
            if spec.fits(s[1], *hp)
        ]
        slots[name] = len(pairs)
        timed[name] = _module_call(pairs, train=mode == "train")
    # the pass and every module in the same interleaved rounds (yolo_attn.bench.timing): drift hits all alike
    _, cpu = interleaved_rounds(timed, rounds=calls, warmup=3)
    ms = {k: statistics.median(v) * 1e3 for k, v in cpu.items()}
    pass_ms = ms.pop("pass")
    out: dict = {"family": family, "mode": mode, "batch": batch, "imgsz": imgsz, "shapes": shapes, "pass_ms": pass_ms}
    out["modules"] = {k: {"ms": v, "passes": v / pass_ms, "slots": slots[k]} for k, v in ms.items()}
    return out


def format_passes(result: dict) -> str:
    """Markdown: the pass time and each module's time and pass count."""
    n = len(result["shapes"])
    lines = [
        f"{result['family']}, {result['mode']} ({'forward' if result['mode'] == 'eval' else 'forward + backward'}), "
        f"batch {result['batch']} at {result['imgsz']}: one elementwise pass (x * g) over the {n} slot tensors "
        f"takes {result['pass_ms']:.2f} ms (process CPU time, {torch.get_num_threads()} torch thread"
        f"{'s' if torch.get_num_threads() != 1 else ''}).",
        "",
    ]
    rows = [(name, r["slots"], f"{r['ms']:.2f}", f"{r['passes']:.1f}") for name, r in result["modules"].items()]
    lines += markdown_table(["module", "slots", "ms", "passes"], rows, "lrrr")
    return "\n".join(lines) + "\n"
