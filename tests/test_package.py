"""The package's shape: no import cycles, a light ``yolo_attn.nn``, one registry.

The import rules are tool configuration in pyproject.toml: import-linter's contracts (run here and by `make lint`) and
ruff's banned-api (Ultralytics' internals only in yolo_attn/integration/, run by `make lint`). Each test asserts a rule
that a careless edit breaks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yolo_attn.nn import ATTENTION, find_attention
from yolo_attn.nn import reference as literal

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts: no cycles between sibling modules or packages, at any depth."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_no_module_imports_a_package_that_contains_it():
    """The cycles import-linter's sibling contract cannot see: through the ``__init__`` of a package holding them.

    A module may import its ancestor package (``from yolo_attn import __version__``) as long as that package does not
    reach back to it. With the sibling contract this covers every cycle: one that is not between siblings runs through
    its topmost package's ``__init__``, reached directly from a module inside that package.
    """
    import grimp

    graph = grimp.build_graph("yolo_attn", cache_dir=None)
    upward = [
        (m, p)
        for m in graph.modules
        for p in (m.rsplit(".", k)[0] for k in range(1, m.count(".") + 1))
        if graph.direct_import_exists(importer=m, imported=p) and graph.chain_exists(importer=p, imported=m)
    ]
    assert graph.direct_import_exists(importer="yolo_attn.nn.mlca", imported="yolo_attn.nn.registry")  # it sees them
    assert graph.chain_exists(importer="yolo_attn.nn", imported="yolo_attn.nn.registry")  # nn/__init__ reaches down
    assert upward == []


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_modules_imports_no_ultralytics(tmp_path):
    code = (
        "import sys, yolo_attn.nn, yolo_attn.nn.reference; print(sorted(m for m in sys.modules if 'ultralytics' in m))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.slow  # a fresh interpreter
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
