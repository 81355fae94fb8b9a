"""The distributions are self-consistent: the wheel ships every model and dataset YAML (byte-identical to cfg/), an
editable install ships none of them (it reads cfg/ itself), and the sdist holds everything its own tests read.

The three are built here with ``build`` (isolated, as pip does). Installing the wheel into a fresh venv and running
the stock ``yolo`` command by name from an empty folder is ``.ci/versions`` (it needs minutes and the network to
the package registry): see tests/test_versions.py, which it runs there.
"""

from __future__ import annotations

import ast
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds three distributions (about 20 s)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The wheel, the sdist and the editable wheel of this checkout, built in isolated environments."""
    import build  # the dev extra's build frontend
    from build.env import DefaultIsolatedEnv

    out = tmp_path_factory.mktemp("dist")
    kinds = ("wheel", "sdist", "editable")
    with DefaultIsolatedEnv() as env:  # one isolated build environment for the three
        builder = build.ProjectBuilder.from_isolated_env(env, REPO)
        env.install(builder.build_system_requires)
        env.install(set().union(*(builder.get_requires_for_build(k) for k in kinds)))
        return {k: Path(builder.build(k, out / k)) for k in kinds}


def _cfg_files() -> dict[str, bytes]:
    return {
        f"{p.parent.name}/{p.name}": p.read_bytes()
        for k in ("models", "datasets")
        for p in (REPO / "cfg" / k).glob("*")
    }


def test_wheel_ships_every_yaml_byte_identical(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = set(z.namelist())
        shipped = {n[len("yolo_attn/cfg/") :]: z.read(n) for n in names if n.startswith("yolo_attn/cfg/")}
    expected = _cfg_files()
    assert len(expected) >= 45 and shipped == expected
    assert {"_yolo_attn_autoload.py", "yolo_attn_autoload.pth", "yolo_attn_autoload.start"} <= names
    assert not any(n.startswith(("tests/", "cfg/", "notebooks/")) for n in names)
    # every module of the package is in it (the hook's source only under its top-level name)
    modules = {str(p.relative_to(REPO)) for p in (REPO / "yolo_attn").rglob("*.py") if "_startup" not in p.parts}
    assert modules - names == {"yolo_attn/_autoload.py"}


def test_editable_wheel_leaves_the_yamls_to_the_checkout(dists):
    with zipfile.ZipFile(dists["editable"]) as z:
        names = set(z.namelist())
    assert {"_yolo_attn_autoload.py", "yolo_attn_autoload.pth", "yolo_attn_autoload.start"} <= names
    assert not any("cfg/" in n for n in names), sorted(n for n in names if "cfg/" in n)


def _tracked() -> list[str]:
    """The checkout's tracked files (git), or every file below the repository when it is not a git checkout."""
    r = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        return [f for f in r.stdout.splitlines() if (REPO / f).is_file()]
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts]


def _folders_tests_read() -> set[str]:
    """Top-level folders of the repository that the test files name in a string (``REPO / "notebooks"`` ...)."""
    tops = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")}
    found = set()
    for f in (REPO / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                head = node.value.split("/")[0]
                if head in tops:
                    found.add(head)
    return found


def test_sdist_holds_everything_its_tests_read(dists):
    with tarfile.open(dists["sdist"]) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if m.isfile() and "/" in m.name}
    needed = {"tests", "yolo_attn", "cfg", "notebooks"} | _folders_tests_read()
    assert {"cfg", "notebooks"} <= needed
    tracked = [f for f in _tracked() if f.split("/")[0] in needed]
    missing = [f for f in tracked if f not in members]
    assert not missing, f"tracked files the sdist lacks: {missing}"
    assert {"pyproject.toml", "hatch_build.py", "README.md", "LICENSE", "Makefile"} <= members
