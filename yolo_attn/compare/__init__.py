"""Compare attention variants of a YOLO detector: train, score and measure each, then tables, plots, notebooks.

Python API::

    from yolo_attn.compare import compare, demo
    out = compare(["may"], "datasets/voc/data.yaml", preset="may-paper", seeds="0,1,2", device=0,
                  out="runs/compare/may-voc")               # -> Path of the compare folder
    demo()                                                   # the embedded CPU demo (runs/compare/demo)

Command line (the same functions): ``yolo-attn compare --models ... --data ... --out ...`` and ``yolo-attn demo``
(their arguments are defined in ``yolo_attn/cli.py`` and fill one `SweepConfig`).

Modules: ``config`` (`SweepConfig`: every setting, checked once), ``sweep`` (``compare()``: plan, run, report),
``plan`` (inputs checked, models resolved, runs listed), ``executors`` (device slots fed by a thread pool, one
worker process per run, one compare process per folder), ``slurm`` (one array task per run through submitit, the
speed step as a dependent job), ``worker`` (one run in its own process), ``records`` (typed,
versioned sweep.json / spec.json / run.json / speed.json), ``models`` (YAML files, globs, named sets), ``presets``,
``measure`` (params, GFLOPs, device names), ``speed`` (all models timed interleaved after the sweep, also by ``remeasure``),
``report`` (CSV, Markdown), ``plots`` (PNG), ``attention`` (gate maps for the
attention_maps notebook), ``demo``.
"""

from yolo_attn.compare.config import SweepConfig
from yolo_attn.compare.demo import demo, prepare_sample
from yolo_attn.compare.models import NAMED_SETS, ModelSpec, resolve_models
from yolo_attn.compare.presets import PRESETS
from yolo_attn.compare.sweep import compare, parse_seeds, remeasure, report_only, sweep_status
from yolo_attn.metrics import METRICS

__all__ = [
    "METRICS",
    "NAMED_SETS",
    "PRESETS",
    "ModelSpec",
    "SweepConfig",
    "compare",
    "demo",
    "parse_seeds",
    "prepare_sample",
    "remeasure",
    "report_only",
    "resolve_models",
    "sweep_status",
]
