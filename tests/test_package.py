"""The package's shape: no import cycles, Ultralytics internals in one place, a light ``yolo_attn.nn``, one registry.

These tests read the source (``ast``) or start a fresh interpreter; each asserts a rule that a careless edit breaks.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo_attn.nn import ATTENTION, find_attention
from yolo_attn.nn import reference as literal

PACKAGE = Path(__file__).resolve().parents[1] / "yolo_attn"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports anywhere in its source (module level and inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `from a.b import c` where c is a function: the module is a.b
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    """No two package modules import each other, directly or through others, even inside functions."""
    known = _modules()
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    assert "yolo_attn.nn.registry" in graph["yolo_attn.nn.mobilenetv3"]  # the graph sees relative imports
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Ultralytics' public API; everything below it is reached only through yolo_attn/integration/. ``Conv`` is the unit
# every Ultralytics model YAML names; yolo_attn/nn/layers.py builds the MobileNetV3 blocks from it (lazily).
PUBLIC_ULTRALYTICS = {"ultralytics", "ultralytics.YOLO", "ultralytics.__version__", "ultralytics.nn.modules.Conv"}


def test_ultralytics_internals_only_in_the_integration_package():
    offenders = []
    for name, path in _modules().items():
        if name.startswith("yolo_attn.integration"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                used = [
                    f"{node.module}.{a.name}" if node.module != "ultralytics" else f"ultralytics.{a.name}"
                    for a in node.names
                ]
            else:
                continue
            offenders += [
                f"{name}: {u}" for u in used if u.split(".")[0] == "ultralytics" and u not in PUBLIC_ULTRALYTICS
            ]
    assert offenders == []


def test_importing_the_modules_imports_no_ultralytics(tmp_path):
    code = (
        "import sys, yolo_attn.nn, yolo_attn.nn.reference; print(sorted(m for m in sys.modules if 'ultralytics' in m))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_registration_happens_when_ultralytics_parser_is_imported(tmp_path):
    """`import yolo_attn` first, Ultralytics later: the parser knows our names once it is imported (once)."""
    code = (
        "import yolo_attn, sys; assert 'ultralytics.nn.tasks' not in sys.modules\n"
        "import ultralytics.nn.tasks as t; from yolo_attn.integration import is_registered\n"
        "print(is_registered(), 'MLCA' in vars(t), t.parse_model.__yolo_attn__)"
    )
    env = {**os.environ, "YOLO_ATTN_AUTOLOAD": "0"}  # the start-up hook is off: the package import alone must do it
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].split() == ["True", "True", "True"]  # after Ultralytics' own first-run notes


# ---------------------------------------------------------------------------------------------------------------------
# The registry


def test_registry_entries_are_consistent():
    tags = [s.tag for s in ATTENTION.values()]
    assert len(set(tags)) == len(tags)
    for name, spec in ATTENTION.items():
        assert spec.name == name == spec.cls.__name__  # attention maps and checkpoints name layers by class
        assert spec.paper and spec.official
        assert not re.search(r"\d[nslmx]", spec.tag), spec.tag  # Ultralytics would read a model scale
        assert find_attention(name.lower()) is spec
        for alias in spec.aliases:
            assert find_attention(alias) is spec
        m = spec.build(64, *spec.hp("yolov8"))
        y = m(torch.randn(1, 64, 8, 8))
        assert y.shape == (1, 64, 8, 8)  # every entry can sit in a slot and keep its channels


def test_register_refuses_a_taken_name_alias_or_tag():
    from dataclasses import replace

    from yolo_attn.nn.registry import register

    before = dict(ATTENTION)
    mlca = ATTENTION["MLCA"]
    for dup, what in ((replace(mlca, tag="x"), "'MLCA'"), (replace(mlca, name="X", aliases=("ca",), tag="x"), "'ca'")):
        with pytest.raises(ValueError, match=f"attention name {what} .* is taken"):
            register(dup)
    with pytest.raises(ValueError, match="attention tag 'mlca' of X is taken"):
        register(replace(mlca, name="X"))
    assert ATTENTION == before and list(ATTENTION) == list(before)


def test_yolo_attn_nn_exports_every_registered_module_under_its_name():
    import yolo_attn.nn

    for name, spec in ATTENTION.items():
        assert getattr(yolo_attn.nn, name) is spec.cls and name in yolo_attn.nn.__all__


def test_every_registered_module_has_a_literal_transcription_and_test_variants():
    assert set(literal.REFERENCES) == set(ATTENTION)
    assert set(literal.VARIANTS) == set(ATTENTION)
    assert all(literal.VARIANTS[n] for n in ATTENTION)


@pytest.mark.parametrize(("name", "channels", "fits"), [("ELA", 120, False), ("ELA", 144, True), ("EPSA", 96, False)])
def test_fits_is_decided_by_the_constructor(name, channels, fits):
    spec = ATTENTION[name]
    assert spec.fits(channels, *spec.hp("may")) is fits
    if not fits:
        with pytest.raises(ValueError):
            spec.build(channels, *spec.hp("may"))


def test_find_attention_names_the_valid_choices():
    with pytest.raises(ValueError, match=r"unknown attention module 'MLAC'; valid: ") as e:
        find_attention("MLAC")
    assert "'MLCA'" in str(e.value) and "'CoordAtt' (alias 'CA')" in str(e.value)
