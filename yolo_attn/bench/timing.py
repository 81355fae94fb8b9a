"""Interleaved timing: several models timed as a comparison in one process, and the statistics of that comparison.

One implementation shared by ``yolo-attn bench models`` (`yolo_attn.bench.models`) and the speed step of
``yolo-attn compare`` (`yolo_attn.compare.speed`). Why interleaved (a shared machine drifts; a benchmark that times
each model on its own, or visits the baseline between every variant, B V B V ..., drifted -16% to +11% on its own A/A
control where this design held it within +-4%; independent per-run timings of near-identical networks spread over
41-725 ms on a busy machine):

- every model runs once per round; the order is reversed every other round (A B C, C B A, A B C, ...), so a slow
  drift of the machine weighs on every model alike;
- between rounds one untimed call of another model (the *spacer*: a middle one; with two models the one the next
  round does not start with) keeps the reversal from timing a model right after itself (its weights then sit in cache: 2-3% faster, which biased every ratio against the first model);
- each round gives one ratio per model to the baseline, ``time(model) / time(baseline)`` in the same round; report the
  median of these per-round ratios and a percentile-bootstrap 95% interval of that median (`median_ci`);
- wall time (``time.perf_counter``) and the process's CPU time (``time.process_time``) are both recorded: CPU time is
  what the process itself consumed, less sensitive to other processes taking the CPU away, and ``CPU / wall`` says
  how much of a core the process got (well below 1: a busy machine).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

__all__ = ["cuda_sync", "interleaved_rounds", "median_ci", "round_order", "spacer_of"]


def cuda_sync(device) -> None:
    """Wait for ``device``'s queued kernels when it is a CUDA device (a timed call must include its GPU work)."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def round_order(names: Sequence[str], r: int) -> list[str]:
    """The order of round ``r`` (0-based, warm-up rounds included): ``names`` forward in even rounds, reversed in
    odd ones."""
    return list(names) if r % 2 == 0 else list(names)[::-1]


def spacer_of(names: Sequence[str], r: int = 1) -> str:
    """The model called untimed before round ``r`` (r >= 1): never the first of that round's order, which is the
    model the previous round ended with (with two or more models). A middle one for three or more models; with two
    it alternates (the model the round does not start with)."""
    if len(names) == 2:
        return round_order(names, r)[-1]
    return names[len(names) // 2]


def interleaved_rounds(
    calls: Mapping[str, Callable[[], object]],
    rounds: int,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time every call once per round, order reversed every other round, one untimed spacer call between rounds.

    Args:
        calls (Mapping[str, Callable]): One zero-argument call per model, in the forward order (the first is usually
            the baseline). Each is one timed unit (e.g. one forward pass at batch 1).
        rounds (int): Timed rounds (at least 1).
        warmup (int): Untimed rounds first (same order rule; they count for the alternation).
        sync (Callable | None): Called before and after every timed call (``torch.cuda.synchronize`` on CUDA).
        progress (Callable[[str], None] | None): Called with a short line after every round.

    Returns:
        (tuple[dict, dict]): Wall seconds and process CPU seconds per name, one value per timed round in round order.

    Examples:
        >>> wall, cpu = interleaved_rounds({"a": lambda: None, "b": lambda: None}, rounds=3, warmup=1)
        >>> len(wall["a"]) == len(cpu["b"]) == 3
        True
    """
    names = list(calls)
    if not names:
        raise ValueError("interleaved_rounds needs at least one call")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    sync = sync or (lambda: None)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        if r:
            # untimed: the reversal would otherwise run the last model again first (its weights in cache)
            calls[spacer_of(names, r)]()
        for n in round_order(names, r):
            sync()
            w0, c0 = time.perf_counter(), time.process_time()
            calls[n]()
            sync()
            w1, c1 = time.perf_counter(), time.process_time()
            if r >= warmup:
                wall[n].append(w1 - w0)
                cpu[n].append(c1 - c0)
        if progress is not None:
            progress(f"round {r + 1 - warmup}/{rounds}" if r >= warmup else f"warm-up round {r + 1}/{warmup}")
    return wall, cpu


def median_ci(values: Sequence[float], seed: int, resamples: int = 2000, level: float = 0.95) -> tuple[float, ...]:
    """Median of ``values`` and a percentile-bootstrap interval of that median.

    Args:
        values (Sequence[float]): The sample (e.g. per-round ratios); at least one value.
        seed (int): Seed of the resampling (the interval is reproducible).
        resamples (int): Bootstrap resamples.
        level (float): Coverage of the interval.

    Returns:
        (tuple[float, float, float]): (median, low, high), low <= median <= high for any sample.
    """
    rng = random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(resamples))
    lo = meds[int(math.floor((1 - level) / 2 * (resamples - 1)))]
    hi = meds[int(math.ceil((1 + level) / 2 * (resamples - 1)))]
    med = statistics.median(values)
    return med, min(lo, med), max(hi, med)
