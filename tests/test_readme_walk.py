"""The README, walked top to bottom on a fresh copy of the repository: every shell command and Python block in it
runs as written, except the ones listed in ``NOT_RUN`` (each with the reason it cannot run on CI's machine and, where
one exists, the test that covers it another way) and the ones in ``SHORTENED`` (training commands, run as written
with a smaller budget appended: later ``key=value`` / ``--option`` values win, so the command is checked as written).

The walk finds commands by their text, not by the prose around them: a README command that breaks fails the walk;
a reworded paragraph does not. A new command runs unless it is listed here, and a listed command that is no longer in
the README fails ``test_every_listed_command_is_in_the_readme`` (so the lists cannot rot).

Run it alone with ``pytest -m slow tests/test_readme_walk.py``; the wheel side of the walk (a wheel in a fresh venv)
is a separate test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL_LANGS = ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Command:
    """One command of the README: ``kind`` is ``shell`` (one command line, continuations joined, comment dropped) or
    ``python`` (a whole fenced block); ``heading`` the section it is in; ``line`` its first line (1-based)."""

    kind: str
    text: str
    heading: str
    line: int


@dataclass(frozen=True)
class NotRun:
    """README commands (``pattern``, a regex searched in the command text) the walk cannot run, and why."""

    pattern: str
    reason: str
    covered_by: str = ""  # "tests/test_x.py::test_name" that runs the same command or code another way
    stand_in: str = ""  # shell run instead, for what later commands need from this one


@dataclass(frozen=True)
class Shortened:
    """Training commands run as written plus ``append`` (later values win), so they take seconds."""

    pattern: str
    append: str
    reason: str


NOT_RUN: tuple[NotRun, ...] = (
    NotRun(
        r"^make demo\b",
        "builds .venv (torch, ~6 GB on Linux) and trains 5 networks for ~15 min; CI builds the same .venv with `make "
        "test`. Its data step stands in, so the commands after it find datasets/VOC-sample",
        covered_by="tests/test_names.py::test_demo_unknown_model_generates_nothing",
        stand_in="python -c 'from yolo_attn.compare.demo import prepare_sample; prepare_sample()'",
    ),
    NotRun(r"^make test\b", "the test suite itself (CI runs it)"),
    NotRun(
        r"^make notebooks\b",
        "starts JupyterLab and waits for Ctrl-C; the test starts `jupyter lab notebooks/` headless and runs each cell",
        covered_by="tests/test_notebooks.py::test_readme_jupyter_lab_command",
    ),
    NotRun(
        r"\bjupyter lab notebooks/",
        "starts a server and waits for Ctrl-C",
        covered_by="tests/test_notebooks.py::test_readme_jupyter_lab_command",
    ),
    NotRun(
        r"\bjupyter nbconvert\b.*--execute",
        "needs the demo's compare folder (a 15-minute sweep)",
        covered_by="tests/test_notebooks.py::test_readme_nbconvert_command",
    ),
    NotRun(r"^pip install\b", "installs into the environment the walk runs in; the wheel walk installs a real wheel"),
    NotRun(
        r"download\.pytorch\.org",
        "the PyTorch package index is not reachable from CI's machine (only the package registries are)",
    ),
    NotRun(r"/data/VOCdevkit", "needs the real Pascal VOC devkit (not downloadable on CI's machine)"),
    NotRun(r"datasets/voc/data\.yaml", "needs datasets/voc, prepared from the real Pascal VOC devkit"),
    NotRun(r"data=VOC\.yaml", "Ultralytics' own VOC.yaml downloads Pascal VOC (not reachable from CI's machine)"),
    NotRun(
        r"--weights yolov8s\.pt",
        "needs Ultralytics' yolov8s.pt, a download; the transfer is tested on a checkpoint trained in the test",
        covered_by="tests/test_transfer.py",
    ),
    NotRun(r"model=init\.pt", "trains from init.pt, which the command before it (not run) writes"),
)

#: Appended to a `yolo` / `yolo-attn` key=value training command: one short CPU epoch on the sample data's 64 px.
_YOLO_BUDGET = "epochs=1 imgsz=64 batch=8 workers=0 device=cpu plots=False"
SHORTENED: tuple[Shortened, ...] = (
    Shortened(r"^(yolo|yolo-attn) train\b", _YOLO_BUDGET, "training to convergence takes hours"),
    Shortened(
        r"^yolo-attn compare\b",
        "--epochs 1 --imgsz 64 --batch 8 --device cpu --latency-repeats 3",
        "a sweep trains every model for the preset's epochs",
    ),
)

# Placeholders that mark a command as a template rather than a command: it must then be listed in NOT_RUN.
PLACEHOLDER = re.compile(r"(=\.\.\.|\s\.\.\.(\s|$)|<[a-z][\w -]*>|\[--?\w)")


def readme_commands(text: str | None = None) -> list[Command]:
    """Every shell command line and Python block of the README's fenced blocks, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    out: list[Command] = []
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        fence = re.match(r"^```(\w+)?\s*$", line)
        if not fence:
            i += 1
            continue
        lang, start = (fence.group(1) or "").lower(), i + 2  # 1-based number of the block's first line
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if lang == "python":
            out.append(Command("python", "\n".join(body), heading, start))
        elif lang in SHELL_LANGS:
            out += [Command("shell", c, heading, start + k) for k, c in _shell_lines(body)]
    return out


def _shell_lines(body: list[str]) -> list[tuple[int, str]]:
    """(offset of its first line, command) per command: ``\\`` continuations joined, comment lines and trailing
    comments dropped, blanks skipped."""
    cmds: list[tuple[int, str]] = []
    cur, first = "", 0
    for k, raw in enumerate(body):
        line = raw.strip() if cur else raw.rstrip()
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not cur:
            first = k
        if line.endswith("\\"):
            cur += line[:-1].rstrip() + " "
            continue
        cur += line
        cmds.append((first, _strip_comment(cur.strip())))
        cur = ""
    if cur.strip():
        cmds.append((first, _strip_comment(cur.strip())))
    return cmds


def _strip_comment(cmd: str) -> str:
    """Drop a trailing ``# comment`` (a ``#`` after whitespace, outside quotes), as bash would."""
    single = double = False
    for i, ch in enumerate(cmd):
        if ch == "'" and not double:
            single = not single
        elif ch == '"' and not single:
            double = not double
        elif ch == "#" and not (single or double) and (i == 0 or cmd[i - 1].isspace()):
            return cmd[:i].rstrip()
    return cmd


def classify(cmd: Command) -> tuple[str, NotRun | Shortened | None]:
    """``("not run", rule)``, ``("shortened", rule)`` or ``("run", None)``."""
    if cmd.kind == "shell":
        for rule in NOT_RUN:
            if re.search(rule.pattern, cmd.text):
                return "not run", rule
        for rule in SHORTENED:
            if re.search(rule.pattern, cmd.text):
                return "shortened", rule
    return "run", None


# ------------------------------------------------------------------------------------------------ fast checks


def test_readme_has_commands_and_they_parse():
    cmds = readme_commands()
    shell = [c for c in cmds if c.kind == "shell"]
    assert len(shell) >= 10 and any(c.kind == "python" for c in cmds)
    for c in shell:
        assert "\\\n" not in c.text and not c.text.startswith("#"), c
        shlex.split(c.text)  # balanced quotes


def test_extraction_joins_continuations_and_drops_comments():
    text = (
        "# Top\n\n```bash\nmake demo   # the demo\n# a comment line\nyolo-attn compare --models may \\\n"
        "    --data d.yaml --out 'a # b'   # trailing\n```\n\n## Py\n\n```python\nimport yolo_attn  # registers\n```\n"
        "```yaml\n- [-1, 1, MLCA, []]\n```\n"
    )
    cmds = readme_commands(text)
    assert [(c.kind, c.text, c.heading, c.line) for c in cmds] == [
        ("shell", "make demo", "Top", 4),
        ("shell", "yolo-attn compare --models may --data d.yaml --out 'a # b'", "Top", 6),
        ("python", "import yolo_attn  # registers", "Py", 13),
    ]


def test_every_listed_command_is_in_the_readme():
    """A rule that matches nothing is stale: the README changed and the list must follow."""
    cmds = [c for c in readme_commands() if c.kind == "shell"]
    for rule in (*NOT_RUN, *SHORTENED):
        assert any(re.search(rule.pattern, c.text) for c in cmds), f"no README command matches {rule.pattern!r}"
        assert rule.reason


def test_covering_tests_exist():
    for rule in NOT_RUN:
        if not rule.covered_by:
            continue
        path, _, name = rule.covered_by.partition("::")
        source = (REPO / path).read_text(encoding="utf-8")
        assert not name or re.search(rf"^def {re.escape(name)}\(", source, re.M), rule.covered_by


def test_commands_run_as_written_have_no_placeholders():
    """A command the walk runs must be runnable as written: `data=...`, `<folder>` or `[--option]` belong in prose
    or in a NOT_RUN entry with a reason."""
    bad = [c.text for c in readme_commands() if classify(c)[0] != "not run" and PLACEHOLDER.search(c.text)]
    assert not bad, f"README commands with placeholders that the walk would run: {bad}"


# ----------------------------------------------------------------------------------------------------- the walk


def _fresh_copy(dest: Path) -> Path:
    """The files a fresh clone has (tracked and not-ignored files of this checkout), else the tree without build
    outputs (an sdist)."""
    try:
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        ignore = shutil.ignore_patterns(".venv", ".git", "runs", "datasets", "*.egg-info", "__pycache__", ".*cache")
        shutil.copytree(REPO, dest, ignore=ignore)
        return dest
    for f in files:
        if not f:
            continue
        src = REPO / f.decode()
        if src.is_file():
            (dest / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f.decode())
    return dest


def _env(clone: Path, home: Path) -> dict[str, str]:
    """A shell after `make` and `source .venv/bin/activate` in the clone: the venv's bin first on PATH, the clone's
    package first on the import path, Ultralytics offline with its own settings folder."""
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(
        {
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": sys.prefix,
            "PYTHONPATH": str(clone),
            "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "False",
            "YOLO_CONFIG_DIR": str(home / "ultralytics"),
            "MPLBACKEND": "Agg",
            "HOME": str(home),
        }
    )
    return env


def _run(cmd: str, clone: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", cmd],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def walk(tmp_path: Path, text: str | None = None) -> tuple[list[str], list[str]]:
    """Walk the README (or ``text``) in a fresh copy of the repository; return (commands run, commands not run).
    Raises AssertionError naming the README line of the first command that fails."""
    if sys.prefix == sys.base_prefix:
        pytest.fail("the walk needs the virtual environment `make` builds (sys.prefix is not a venv)")
    clone = _fresh_copy(tmp_path / "clone")
    (clone / ".venv").symlink_to(sys.prefix)  # what `make` leaves: .venv/bin/activate, .venv/bin/yolo-attn, ...
    env = _env(clone, tmp_path / "home")
    ran, skipped = [], []
    for cmd in readme_commands(text):
        status, rule = classify(cmd)
        where = f"README line {cmd.line} ({cmd.heading})"
        if status == "not run":
            skipped.append(cmd.text)
            if rule.stand_in:
                r = _run(rule.stand_in, clone, env)
                assert r.returncode == 0, f"stand-in for {cmd.text!r} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
            continue
        if cmd.kind == "python":
            script = tmp_path / f"block_{cmd.line}.py"
            script.write_text(cmd.text + "\n", encoding="utf-8")
            line = f"python {shlex.quote(str(script))}"
        else:
            line = cmd.text if status == "run" else f"{cmd.text} {rule.append}"
        r = _run(line, clone, env)
        assert r.returncode == 0, (
            f"{where}: `{line}` exited with {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-4000:]}"
        )
        ran.append(cmd.text)
    return ran, skipped


@pytest.mark.slow
def test_walk_reports_a_broken_command(tmp_path):
    """The walk fails on a README command that fails, naming its line, and runs the ones before it."""
    text = "# Try\n\n```bash\nyolo-attn --version\nyolo-attn data sampel --out x   # typo\n```\n"
    with pytest.raises(AssertionError, match=r"README line 5 \(Try\): `yolo-attn data sampel --out x` exited with 2"):
        walk(tmp_path, text)


@pytest.mark.slow
def test_readme_walk(tmp_path):
    """Every README command, top to bottom, in a fresh copy of the repository."""
    ran, skipped = walk(tmp_path)
    print(f"README walk: {len(ran)} commands run, {len(skipped)} not run (listed in NOT_RUN)")
    assert len(ran) >= 6, ran
