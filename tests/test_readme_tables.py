"""README tables match the code they describe.

- A block between ``<!-- generated: COMMAND -->`` and ``<!-- end generated -->`` is COMMAND's output, pasted: the
  model-zoo tables (``yolo-attn models table cfg/models``). Regenerate with ``python tests/test_readme_tables.py
  --write`` (profiles every model at 640 px: minutes); the test regenerates the MAY and MobileNet-YOLO tables and the
  scale-n column of the YOLOv8/YOLO11 table, and compares them and every line of prose with the README.
- A block between ``<!-- measured: COMMAND | machine: MACHINE -->`` and ``<!-- end measured -->`` holds numbers that
  were measured (timings, trained accuracies): they are not regenerated, but the block must name the command and the
  machine, the command's options must exist, and its deterministic columns (params, MACs, GFLOPs) must match the
  code.
- The module table (``params @ C=64``) has each constructor's signature and parameter count checked.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(
    r"<!-- (?P<kind>generated|measured): (?P<cmd>[^|>]+?)(?: \| machine: (?P<machine>[^>]*?))? -->\n"
    r"(?P<body>.*?)\n?<!-- end (?P=kind) -->",
    re.S,
)
ZOO_COMMAND = "yolo-attn models table cfg/models"


def readme_blocks(kind: str, text: str | None = None) -> list[re.Match]:
    text = README.read_text(encoding="utf-8") if text is None else text
    return [m for m in BLOCK.finditer(text) if m.group("kind") == kind]


def md_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of ``text`` as a list of rows (dicts keyed by the header cells)."""
    tables, lines, i = [], text.splitlines(), 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.match(r"^\|[\s:|-]+\|$", lines[i + 1].strip()):
            head = _cells(lines[i])
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(head, _cells(lines[i]), strict=False)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_with(header_cell: str, text: str | None = None) -> list[dict[str, str]]:
    text = README.read_text(encoding="utf-8") if text is None else text
    hits = [t for t in md_tables(text) if t and header_cell in t[0]]
    assert len(hits) == 1, f"expected one README table with a {header_cell!r} column, found {len(hits)}"
    return hits[0]


# ------------------------------------------------------------------------------------------------ the helpers


def test_block_and_table_parsing():
    text = (
        "x\n<!-- measured: make demo | machine: a box -->\n| a | b |\n|---|---:|\n| 1 | 2 |\n<!-- end measured -->\n"
        "<!-- generated: yolo-attn models table cfg/models -->\nprose\n<!-- end generated -->\n"
    )
    (m,) = readme_blocks("measured", text)
    assert (m.group("cmd"), m.group("machine")) == ("make demo", "a box")
    assert md_tables(m.group("body")) == [[{"a": "1", "b": "2"}]]
    (g,) = readme_blocks("generated", text)
    assert g.group("cmd") == ZOO_COMMAND and g.group("machine") is None and g.group("body") == "prose"


# ------------------------------------------------------------------------------------------------ module table


def _module_rows():
    return _table_with("params @ C=64")


def test_module_table_signatures_and_params():
    from yolo_attn.nn.registry import ATTENTION

    rows = _module_rows()
    seen = set()
    for row in rows:
        call = ast.parse(row["module"].strip("`"), mode="eval").body
        name = call.func.id
        spec = ATTENTION[name]
        seen.add(name)
        params = list(inspect.signature(spec.cls).parameters.values())
        shown = [a.id for a in call.args] + [k.arg for k in call.keywords]
        # the README may leave out trailing parameters that have defaults (ECA's gamma and b)
        names = [p.name for p in params]
        assert shown == names[: len(shown)], f"{name}: README {shown}, code {names}"
        assert all(p.default is not inspect.Parameter.empty for p in params[len(shown) :]), name
        for k in call.keywords:
            assert ast.literal_eval(k.value) == inspect.signature(spec.cls).parameters[k.arg].default, (name, k.arg)
        count = sum(p.numel() for p in spec.build(64).parameters())
        assert row["params @ C=64"].split()[0] == f"{count:,}", f"{name}: README {row['params @ C=64']}, code {count}"
    missing = set(ATTENTION) - seen
    assert not missing, f"modules missing from the README's module table: {sorted(missing)}"


# ------------------------------------------------------------------------------------------------ measured blocks


@pytest.mark.slow  # runs `make -n`
def test_measured_blocks_name_their_command_and_machine():
    blocks = readme_blocks("measured")
    assert len(blocks) >= 2
    for m in blocks:
        cmd, machine = m.group("cmd").strip(), (m.group("machine") or "").strip()
        assert machine, f"measured block `{cmd}` does not say on which machine"
        assert md_tables(m.group("body")), f"measured block `{cmd}` holds no table"
        argv = shlex.split(cmd)
        if argv[0] == "make":
            r = subprocess.run(["make", "-n", *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"`make -n {' '.join(argv[1:])}`: {r.stderr}"
            continue
        if argv[:2] == ["python", "-m"]:
            argv = [sys.executable, *argv[1:]]
        if argv[0] == "yolo-attn":  # the console script, whichever environment runs the tests
            argv = [sys.executable, "-m", "yolo_attn.cli", *argv[1:]]
        r = subprocess.run([*argv, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"`{cmd} --help`: {r.stderr[-2000:]}"
        for opt in (a.split("=", 1)[0] for a in argv if a.startswith("--")):
            assert re.search(rf"(^|[\s,\[]){re.escape(opt)}\b", r.stdout), f"`{cmd}`: {opt} is not an option any more"


def _measured(command_prefix: str) -> re.Match:
    hits = [m for m in readme_blocks("measured") if m.group("cmd").startswith(command_prefix)]
    assert len(hits) == 1, f"expected one measured block of `{command_prefix}`, found {len(hits)}"
    return hits[0]


def test_bench_table_params_and_macs_match_the_code():
    import torch

    from yolo_attn.bench.modules import count_macs
    from yolo_attn.nn.registry import ATTENTION

    m = _measured("python -m yolo_attn.bench --")  # the module bench (`... bench models` blocks are the model bench)
    (rows,) = md_tables(m.group("body"))
    assert {r["module"].split()[0] for r in rows} == set(ATTENTION)
    x = torch.zeros(8, 64, 40, 40)  # the block's input, 8x64x40x40
    assert "8×64×40×40" in README.read_text(encoding="utf-8")
    for row in rows:
        name = row["module"].split()[0]
        module = ATTENTION[name].build(64).eval()
        assert row["params"] == f"{sum(p.numel() for p in module.parameters()):,}", name
        with torch.no_grad():
            macs = count_macs(name, module, x)
        assert float(row["MMACs"]) == pytest.approx(macs / 1e6, rel=5e-4, abs=5e-4), (name, row["MMACs"], macs / 1e6)


@pytest.mark.slow
def test_demo_table_params_and_gflops_match_the_code():
    """The demo's summary table: params and GFLOPs @128 of each MAY variant as trained on the sample data (nc 6)."""
    from yolo_attn.integration.internals import detection_model, yaml_model_load
    from yolo_attn.zoo import profile_model

    m = _measured("make demo")
    (rows,) = md_tables(m.group("body"))
    gf_col = next(c for c in rows[0] if c.startswith("GFLOPs @"))
    imgsz = int(gf_col.split("@")[1])
    for row in rows:
        label = row["model"].split("`")[1]
        d = yaml_model_load(REPO / "cfg" / "models" / f"{label}.yaml")
        d["nc"] = 6  # the sample dataset's classes: the trained model's head
        params, gflops = profile_model(detection_model(d), imgsz)
        assert row["params"] == f"{params / 1e6:.3f}M", (label, row["params"], params)
        assert row[gf_col] == f"{gflops:.3f}", (label, row[gf_col], gflops)


# ------------------------------------------------------------------------------------------------ generated blocks


def _zoo_block() -> str:
    hits = [m for m in readme_blocks("generated") if m.group("cmd").strip() == ZOO_COMMAND]
    assert len(hits) == 1, f"expected one `{ZOO_COMMAND}` block in the README"
    return hits[0].group("body")


def _prose(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("|")]


@pytest.mark.slow
def test_zoo_tables_match_the_code():
    """MAY, head and MobileNet-YOLO tables regenerated exactly; the YOLO families' table at scale n (the other scales
    cost minutes: `python tests/test_readme_tables.py --write` regenerates all)."""
    from yolo_attn.zoo import render_table

    readme = _zoo_block()
    fresh = render_table(REPO / "cfg" / "models", scales="n")
    assert _prose(readme) == _prose(fresh)
    ours, theirs = md_tables(readme), md_tables(fresh)
    assert len(ours) == len(theirs) == 4  # MAY, MAY head options, MobileNet-YOLO, the scaled YOLO families
    assert ours[:3] == theirs[:3]
    assert [r["file"] for r in ours[3]] == [r["file"] for r in theirs[3]]
    for a, b in zip(ours[3], theirs[3], strict=True):
        assert a["n"] == b["n"] and a["attention"] == b["attention"], (a, b)


def write_zoo_block() -> None:
    """Regenerate the zoo block of README.md (all scales) in place."""
    from yolo_attn.zoo import render_table

    text = README.read_text(encoding="utf-8")
    body = render_table(REPO / "cfg" / "models").rstrip("\n")
    start = f"<!-- generated: {ZOO_COMMAND} -->\n"
    i = text.index(start) + len(start)
    j = text.index("<!-- end generated -->", i)
    README.write_text(text[:i] + body + "\n" + text[j:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_readme_tables.py --write   (regenerates README.md's generated blocks)")
    write_zoo_block()
