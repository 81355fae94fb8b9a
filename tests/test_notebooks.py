"""The notebooks run against the tiny compare folder of test_compare and show its tables, plots and attention gates:
headless through nbclient, and through the README's commands: ``jupyter lab notebooks/`` (the server is started
exactly so, its kernel runs every cell) and ``jupyter nbconvert --to html --execute``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_compare import tiny_sweep

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow  # fresh processes: training, export, notebooks


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    return tiny_sweep(tmp_path_factory)["out"]


def _run(name: str, compare_dir: Path, monkeypatch, tmp_path) -> list[dict]:
    monkeypatch.setenv("YOLO_ATTN_COMPARE_DIR", str(compare_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o.data.get("text/markdown", "") + o.data.get("text/html", ""))
    return "\n".join(parts)


def _pngs(outputs) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_compare_notebook(compare_dir, monkeypatch, tmp_path):
    outputs = _run("compare", compare_dir, monkeypatch, tmp_path)
    text = _text(outputs)
    assert f"compare folder: {compare_dir}" in text
    assert "3 runs: ok 2, failed 1, pending 0" in text
    assert "## Ranking" in text and "tiny-att" in text and "NoSuchModule" in text
    assert "forest.png" in text and "not written" not in text
    assert _pngs(outputs) == 5  # the folder's three plots, its forest plot and the training curves


def test_attention_maps_notebook(compare_dir, monkeypatch, tmp_path):
    outputs = _run("attention_maps", compare_dir, monkeypatch, tmp_path)
    text = _text(outputs)
    assert "models: tiny-none, tiny-att" in text
    assert "tiny-none: no attention layers (baseline)" in text
    assert _pngs(outputs) == 2  # tiny-att's gate maps (MLCA, ECA) and the channel-gate plot
    assert os.environ.get("YOLO_ATTN_COMPARE_DIR") == str(compare_dir)


def test_gate_capture_is_the_gate(compare_dir):
    """On a trained model, the hook's output/input ratio is the gate: an ECA layer is detected as a channel-only gate
    (flat map) while MLCA's map varies, and both lie in (0, 1)."""
    import numpy as np
    from ultralytics import YOLO

    from yolo_attn.compare.attention import capture_gates

    weights = compare_dir / "runs" / "tiny-att" / "seed0" / "train" / "weights" / "last.pt"
    model = YOLO(str(weights)).model.float()
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    gates = {g.kind: g for g in capture_gates(model, image)}
    assert set(gates) == {"MLCA", "ECA"}
    eca, mlca = gates["ECA"], gates["MLCA"]
    assert eca.size == (4, 4) and mlca.size == (8, 8) and eca.channels == 32 and mlca.channels == 16
    assert eca.channel_only and not mlca.channel_only
    assert np.nanmax(eca.spatial) == np.nanmin(eca.spatial) == pytest.approx(np.nanmean(eca.channel))
    assert np.nanmax(mlca.spatial) - np.nanmin(mlca.spatial) > 1e-6
    for g in (eca, mlca):
        assert g.is_gate and 0 < np.nanmin(g.channel) and np.nanmax(g.channel) < 1


# ------------------------------------------------------------------------------ the README's commands, as written

JUPYTER = Path(sys.executable).with_name("jupyter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_env(root: Path, compare_dir: Path, port: int | None = None, token: str = "") -> dict[str, str]:
    """The environment of a user who ran ``make`` (the venv's bin first on PATH) and set YOLO_ATTN_COMPARE_DIR as the
    README says; Jupyter's own folders in ``root`` so nothing of the machine's is read or written. The config holds only
    what a headless run needs (no browser, a known port and token, root allowed as on CI's machine)."""
    cfg = root / "jupyter-config"
    cfg.mkdir(parents=True, exist_ok=True)
    server = {"ServerApp": {"open_browser": False, "ip": "127.0.0.1", "allow_root": True, "port_retries": 0}}
    if port is not None:
        server["ServerApp"]["port"] = port
        server["IdentityProvider"] = {"token": token}
    (cfg / "jupyter_server_config.json").write_text(json.dumps(server))
    env = {
        **os.environ,
        "PATH": f"{JUPYTER.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(cfg),
        "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "jupyter-workspaces"),
        "YOLO_ATTN_COMPARE_DIR": str(compare_dir),
        "MPLBACKEND": "Agg",
    }
    env.pop("JPY_PARENT_PID", None)
    return env


def _clone_notebooks(root: Path) -> Path:
    """A copy of the repository's notebooks/ in ``root`` (the working directory the commands run in)."""
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    return root


def _run_cells(client, cells: list[str], timeout: float = 300) -> list[dict]:
    """Execute each code cell in the kernel as JupyterLab's Run All does; return the iopub outputs."""
    outputs: list[dict] = []

    def hook(msg):
        kind = msg["msg_type"]
        if kind in ("stream", "display_data", "execute_result", "error"):
            outputs.append({"output_type": kind, **msg["content"]})

    for code in cells:
        reply = client.execute_interactive(code, output_hook=hook, timeout=timeout, allow_stdin=False)
        assert reply["content"]["status"] == "ok", [o for o in outputs if o["output_type"] == "error"]
    return outputs


def _nb_text(outputs: list[dict]) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "") for o in outputs)


def _nb_pngs(outputs: list[dict]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def test_readme_jupyter_lab_command(compare_dir, tmp_path):
    """``YOLO_ATTN_COMPARE_DIR=... jupyter lab notebooks/``: the server starts from the venv's ``jupyter``, serves
    JupyterLab's page and both notebooks, and a kernel it starts for each notebook runs every cell without an error,
    showing the compare folder's tables and plots."""
    requests = pytest.importorskip("requests")
    from jupyter_client import BlockingKernelClient

    assert JUPYTER.is_file(), f"{JUPYTER} missing: the notebooks extra (pip install -e '.[notebooks]') is not installed"
    port, token = _free_port(), "yolo-attn-test"
    env = _jupyter_env(tmp_path, compare_dir, port, token)
    cwd = _clone_notebooks(tmp_path / "clone")
    log = tmp_path / "jupyter.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(
            ["jupyter", "lab", "notebooks/"],
            cwd=cwd,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(f"{base}/api/status", headers=auth, timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, f"jupyter lab did not answer in 180 s:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        page = requests.get(f"{base}/lab", headers=auth, timeout=30)
        assert page.status_code == 200 and "JupyterLab" in page.text  # the lab frontend is installed, not just a server
        listing = requests.get(f"{base}/api/contents/", headers=auth, timeout=30).json()
        assert {c["name"] for c in listing["content"]} >= {"compare.ipynb", "attention_maps.ipynb"}
        expected = {
            "compare.ipynb": (f"compare folder: {compare_dir}", 5),  # three plots, the forest plot, the curves
            "attention_maps.ipynb": ("models: tiny-none, tiny-att", 2),
        }
        for name, (text, pngs) in expected.items():
            nb = requests.get(f"{base}/api/contents/{name}", headers=auth, timeout=30).json()["content"]
            cells = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
            session = requests.post(
                f"{base}/api/sessions",
                headers=auth,
                json={"path": name, "type": "notebook", "name": name, "kernel": {"name": "python3"}},
                timeout=60,
            ).json()
            kernel_id = session["kernel"]["id"]
            conn = Path(env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel_id}.json"
            client = BlockingKernelClient(connection_file=str(conn))
            client.load_connection_file()
            client.start_channels(hb=False)  # no heartbeat: a client without a manager reads a slow first beat as death
            try:
                client.wait_for_ready(timeout=120)
                outputs = _run_cells(client, cells)
            finally:
                client.stop_channels()
                requests.delete(f"{base}/api/sessions/{session['id']}", headers=auth, timeout=60)
            assert text in _nb_text(outputs), name
            assert _nb_pngs(outputs) == pngs, name
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: Jupyter asks to confirm; a second one stops it
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not list((cwd / "notebooks").glob("*.ipynb.*")), "the server must not have rewritten the notebooks"


def test_readme_nbconvert_command(compare_dir, tmp_path):
    """``jupyter nbconvert --to html --execute notebooks/compare.ipynb --output-dir ...``: a stand-alone HTML report of
    the compare folder, written without a browser."""
    env = _jupyter_env(tmp_path, compare_dir)
    cwd = _clone_notebooks(tmp_path / "clone")
    out = tmp_path / "html"
    r = subprocess.run(
        ["jupyter", "nbconvert", "--to", "html", "--execute", "notebooks/compare.ipynb", "--output-dir", str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    html = (out / "compare.html").read_text()
    assert f"compare folder: {compare_dir}" in html and html.count("data:image/png;base64") >= 4
    assert "Traceback" not in html
