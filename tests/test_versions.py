"""What works on which Ultralytics release: version gates, YAMLs by name, the same networks everywhere, the stock CLI.

Runs against whatever Ultralytics is installed: in the main suite (the newest 8.4) and, from ``.ci/versions``, in
fresh venvs holding the oldest supported release and an 8.3.x, with yolo_attn installed from its wheel. Each test
asserts the behaviour the installed release should have (``yolo_attn.integration.compat`` says which), so the same
file proves the support matrix on every leg.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from yolo_attn.integration import compat, lookup
from yolo_attn.integration.errors import UltralyticsCompatibilityError

VERSION = compat.ultralytics_version()
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Parameter counts of zoo networks, the same on every supported release (measured on 8.1.0, 8.2.x, 8.3.17+, 8.4.190;
# nc 80 / 20 as in the files). 8.3.0-8.3.16 build YOLOv8-style heads differently (compat.HEAD_CHANGE).
PARAMS = {
    ("yolov8s-mlca.yaml", "yolov8"): 11_166_590,
    ("yolov8n-mlca.yaml", "yolov8"): 3_157_226,
    ("may-mlca.yaml", "may"): 5_194_418,
    ("mobilenet-yolo-eca.yaml", "mobilenet-yolo"): 5_194_355,
    ("yolo11n-eca.yaml", "yolo11"): 2_624_093,
    ("yolo11s-eca.yaml", "yolo11"): 9_458_767,
    ("yolo12n-mlca.yaml", "yolo12"): 2_602_314,
    ("yolo26n-mlca.yaml", "yolo26"): 2_572_306,
}


def _available(family: str) -> bool:
    since = compat.FAMILY_SINCE.get(family)
    return since is None or compat.parse_version(VERSION) >= compat.parse_version(since)


def _in_head_change_window() -> bool:
    first, fixed = (compat.parse_version(v) for v in compat.HEAD_CHANGE)
    return first <= compat.parse_version(VERSION) < fixed


# ---------------------------------------------------------------------------------------------------------------------
# The declared range and the gates (pure functions of a version string)


def test_declared_range_is_the_one_compat_enforces():
    """pyproject (or the installed metadata) declares exactly compat's range, and the installed release is in it."""
    pyproject = REPO / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        req = re.search(r'"(ultralytics[^"]*)"', text).group(1)
    else:
        req = next(r for r in metadata.requires("yolo-attn") if r.startswith("ultralytics"))
    lo, hi = re.fullmatch(r"ultralytics\s*>=\s*([\d.]+)\s*,\s*<\s*([\d.]+)", req.replace(" ", "")).groups()
    assert compat.parse_version(lo) == compat.parse_version(compat.MIN_ULTRALYTICS)
    assert compat.parse_version(hi) == compat.parse_version(compat.BELOW_ULTRALYTICS)
    assert compat.parse_version(compat.MIN_ULTRALYTICS) <= compat.parse_version(VERSION)
    assert compat.parse_version(VERSION) < compat.parse_version(compat.BELOW_ULTRALYTICS)
    assert compat.check_supported() == VERSION


@pytest.mark.parametrize("old", ["8.0.100", "8.0.136", "8.0.239", "7.0.0"])
def test_older_releases_refused_naming_the_range(old):
    with pytest.raises(UltralyticsCompatibilityError, match=re.escape(compat.SUPPORTED_ULTRALYTICS)):
        compat.check_supported(old)


def test_newer_release_warns_untested():
    with pytest.warns(compat.VersionWarning, match="not tested with ultralytics 8.5.0"):
        assert compat.check_supported("8.5.0") == "8.5.0"


def test_missing_ultralytics_is_a_compatibility_error(monkeypatch):
    monkeypatch.setattr(compat, "ultralytics_version", lambda: "")
    with pytest.raises(UltralyticsCompatibilityError, match="not installed"):
        compat.check_supported()


@pytest.mark.slow  # a fresh interpreter
def test_register_refuses_old_release_before_importing_it(tmp_path):
    """With an old version reported and Ultralytics unimportable, register() raises our error, not an ImportError."""
    code = (
        "import sys; sys.modules['ultralytics'] = None\n"  # any import of ultralytics now raises ImportError
        "import yolo_attn.integration.compat as c; c.ultralytics_version = lambda: '8.0.100'\n"
        "from yolo_attn.integration import register, UltralyticsCompatibilityError\n"
        "try:\n    register()\nexcept UltralyticsCompatibilityError as e:\n    print('REFUSED', e)\n"
    )
    env = {**os.environ, "YOLO_ATTN_AUTOLOAD": "0"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "REFUSED yolo_attn does not support ultralytics 8.0.100" in r.stdout
    assert compat.SUPPORTED_ULTRALYTICS in r.stdout


def _dict(*modules: str, yaml_file: str | None = None) -> dict:
    rows = [[-1, 1, m, []] for m in modules]
    d = {"nc": 2, "backbone": rows[:-1], "head": rows[-1:]}
    if yaml_file:
        d["yaml_file"] = yaml_file
    return d


@pytest.mark.parametrize(
    ("modules", "yaml_file", "version", "needs"),
    [
        (("Conv", "C3k2", "Detect"), None, "8.2.103", "8.3.0"),
        (("Conv", "A2C2f", "C3k2", "Detect"), None, "8.3.40", "8.3.78"),
        (("Conv", "Detect"), "yolo11n-eca.yaml", "8.1.0", "8.3.0"),
        (("Conv", "Detect"), "/some/dir/yolo12s-mlca.yaml", "8.3.50", "8.3.78"),
        (("Conv", "Detect"), "yolo26x-se.yaml", "8.3.253", "8.4.0"),
    ],
)
def test_newer_blocks_and_families_name_the_minimum_version(modules, yaml_file, version, needs):
    with pytest.raises(UltralyticsCompatibilityError, match=rf"needs? ultralytics>={re.escape(needs)}") as e:
        compat.check_model_dict(_dict(*modules, yaml_file=yaml_file), version=version)
    assert version in str(e.value) and f'pip install "ultralytics>={needs},<' in str(e.value)


@pytest.mark.parametrize(
    ("modules", "yaml_file", "version"),
    [
        (("Conv", "C3k2", "Detect"), None, "8.3.0"),
        (("Conv", "A2C2f", "Detect"), "yolo12n-mlca.yaml", "8.3.78"),
        (("Conv", "Detect"), "yolo26n-mlca.yaml", "8.4.0"),
        (("Conv", "Detect"), "yolov8n-mlca.yaml", "8.1.0"),
        (("Conv", "Detect"), "my-yolo11-variant.yaml", "8.1.0"),  # only our family prefix is gated
    ],
)
def test_supported_combinations_pass_silently(modules, yaml_file, version):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_model_dict(_dict(*modules, yaml_file=yaml_file), version=version)


@pytest.mark.parametrize("version", ["8.3.0", "8.3.5", "8.3.16"])
def test_head_change_window_warns_for_v8_style_heads(version):
    with pytest.warns(compat.VersionWarning, match=r"YOLO11's depthwise class branch.*8\.3\.17"):
        compat.check_model_dict(_dict("Conv", "C2f", "Detect", yaml_file="yolov8n-mlca.yaml"), version=version)
    with warnings.catch_warnings():  # YOLO11-style models have that head on every release: nothing to say
        warnings.simplefilter("error")
        compat.check_model_dict(_dict("Conv", "C3k2", "Detect"), version=version)
    for outside in ("8.2.103", "8.3.17", "8.4.0"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compat.check_model_dict(_dict("Conv", "C2f", "Detect"), version=outside)


def test_bare_psa_warns_where_it_is_ours():
    with pytest.warns(compat.VersionWarning, match=r"'PSA' in x.yaml is yolo_attn's EPSA.*8\.2\.38"):
        compat.check_model_dict(_dict("Conv", "PSA", "Detect", yaml_file="x.yaml"), version="8.2.0", psa_is_ours=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_model_dict(_dict("Conv", "PSA", "Detect"), version="8.4.0", psa_is_ours=False)


def test_bare_psa_on_this_release():
    """Below 8.2.38 bare PSA is our EPSA alias; from 8.2.38 on it is Ultralytics' own and never overwritten."""
    import ultralytics.nn.tasks as tasks

    from yolo_attn.integration import register, registered_names

    register()
    ours = compat.parse_version(VERSION) < compat.parse_version(compat.ULTRALYTICS_PSA_SINCE)
    assert ("PSA" in registered_names()) is ours
    assert (
        getattr(tasks.PSA, "yolo_attn_target", None) is not None if ours else tasks.PSA.__module__.startswith("ultra")
    )


@pytest.mark.parametrize(
    ("ul", "torch_version", "needed"),
    [("8.1.0", "2.14.1", True), ("8.2.63", "2.6.0", True), ("8.2.64", "2.14.1", False), ("8.1.0", "2.5.1", False)],
)
def test_full_checkpoint_load_needed_exactly_below_8_2_64_under_torch_2_6(ul, torch_version, needed):
    assert compat.needs_full_checkpoint_load(ul, torch_version) is needed


def test_allow_full_checkpoint_load_keeps_the_users_choice(monkeypatch):
    monkeypatch.setattr(compat, "needs_full_checkpoint_load", lambda *a: True)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")
    assert compat.allow_full_checkpoint_load() is False and os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "0"
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    assert compat.allow_full_checkpoint_load() is False and "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    assert compat.allow_full_checkpoint_load() is True and os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"


# ---------------------------------------------------------------------------------------------------------------------
# Model and dataset YAMLs by name, on this release


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    """The current folder is an empty one (names must resolve without a checkout's cfg/ beside them)."""
    d = tmp_path / "empty"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def test_shipped_yamls_are_found_and_none_shadows_a_stock_name():
    from yolo_attn.integration.internals import stock_models_dir

    models = {p.name for p in lookup.available_models()}
    datasets = {p.name for p in lookup.available_datasets()}
    assert {"yolov8-mlca.yaml", "may-mlca.yaml", "mobilenet-yolo-eca.yaml", "yolo11-eca.yaml"} <= models
    assert {"yolo-attn-voc.yaml", "yolo-attn-sample.yaml"} == datasets
    stock_root = stock_models_dir().parent  # ultralytics/cfg: models and datasets
    stock = {p.name for p in stock_root.rglob("*.yaml")}
    assert not (set(lookup.model_names()) | datasets) & stock
    assert "yolov8s-mlca.yaml" in lookup.model_names() and "may-mlca.yaml" in lookup.model_names()


@pytest.mark.parametrize(("name", "family"), list(PARAMS))
def test_model_by_name_builds_the_same_network_on_every_release(name, family, in_empty_dir):
    """By bare name from an empty folder: the scale letter is honoured and the parameter count is the same as on
    every other supported release; a family newer than this release is refused naming its minimum version."""
    from ultralytics import YOLO

    from yolo_attn.integration import register

    register()
    if not _available(family):
        with pytest.raises(UltralyticsCompatibilityError, match=rf"need ultralytics>={compat.FAMILY_SINCE[family]}"):
            YOLO(name)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", compat.VersionWarning)
        model = YOLO(name)
    scale = re.match(r"yolov?\d+([nslmx])", name)
    assert model.model.yaml.get("scale", "") == (scale.group(1) if scale else "")
    params = sum(p.numel() for p in model.model.parameters())
    if _in_head_change_window() and family in ("yolov8", "may", "mobilenet-yolo"):
        assert params != PARAMS[(name, family)]  # Ultralytics' own head change; compat warns about it
    else:
        assert params == PARAMS[(name, family)]


def test_stock_names_resolve_to_ultralytics_and_explicit_paths_win(in_empty_dir):
    from ultralytics.nn.tasks import yaml_model_load

    from yolo_attn.integration import register
    from yolo_attn.integration.internals import stock_models_dir

    register()
    assert Path(lookup.find_model("yolov8-mlca.yaml")).parent == lookup.cfg_dir("models")
    d = yaml_model_load("yolov8s.yaml")
    assert d["scale"] == "s" and "C2f" in str(d["backbone"])
    assert not any("MLCA" in str(r) for r in d["head"])
    assert stock_models_dir().exists()
    # a local file with one of our names wins over the shipped one
    local = (lookup.cfg_dir("models") / "yolov8-mlca.yaml").read_text().replace("nc: 80", "nc: 3")
    (in_empty_dir / "yolov8-mlca.yaml").write_text(local)
    assert yaml_model_load("yolov8n-mlca.yaml")["nc"] == 3
    (in_empty_dir / "yolov8-mlca.yaml").unlink()
    assert yaml_model_load("yolov8n-mlca.yaml")["nc"] == 80


def test_unknown_name_keeps_ultralytics_error_with_a_hint(in_empty_dir):
    from ultralytics.nn.tasks import yaml_model_load

    from yolo_attn.integration import register

    register()
    with pytest.raises(FileNotFoundError, match=r"does not exist. yolo_attn ships close names: .*-mlca\.yaml") as e:
        yaml_model_load("yolov8n-mlac.yaml")
    assert isinstance(e.value.__cause__, FileNotFoundError)  # Ultralytics' own error, kept as the cause
    with pytest.raises(FileNotFoundError) as e:
        yaml_model_load("completely-unrelated-net.yaml")
    assert "yolo_attn" not in str(e.value)


def _check_file_as_data_utils(name: str, **kwargs):
    """Call ``check_file`` the way ``ultralytics.data.utils`` does (the only caller the dataset lookup serves)."""
    import ultralytics.data.utils as data_utils

    scope = {"__name__": "ultralytics.data.utils", "check_file": data_utils.check_file, "a": name, "kw": kwargs}
    exec("result = check_file(a, **kw)", scope)
    return scope["result"]


def test_dataset_by_name_and_stock_dataset_untouched(in_empty_dir):
    import ultralytics.utils.checks as checks
    from ultralytics.data.utils import check_det_dataset

    from yolo_attn.integration import register
    from yolo_attn.integration.internals import no_font_download

    register()
    found = Path(_check_file_as_data_utils("yolo-attn-sample.yaml"))
    assert found == lookup.cfg_dir("datasets") / "yolo-attn-sample.yaml"
    stock = Path(_check_file_as_data_utils("VOC.yaml"))
    assert stock.name == "VOC.yaml" and "ultralytics" in stock.parts
    assert _check_file_as_data_utils("yolo-attn-nothing.yaml", hard=False) == []
    with pytest.raises(FileNotFoundError, match="close names: yolo-attn-sample.yaml"):
        _check_file_as_data_utils("yolo-attn-smaple.yaml")
    with pytest.raises(FileNotFoundError):  # any other caller of check_file gets Ultralytics' function unchanged
        checks.check_file("yolo-attn-sample.yaml")
    # Ultralytics' dataset check reads our YAML by name: it fails only because the images are not prepared here
    with no_font_download(), pytest.raises(FileNotFoundError, match="VOC-sample"):
        check_det_dataset("yolo-attn-sample.yaml")


# ---------------------------------------------------------------------------------------------------------------------
# The command line by name from an empty folder: train, val, ONNX export, reload in a fresh process


def _cli() -> Path:
    """The stock ``yolo`` where it can load checkpoints; ``yolo-attn`` where Ultralytics cannot by itself (< 8.2.64
    under torch >= 2.6), which is the documented way there."""
    return BIN / ("yolo-attn" if compat.needs_full_checkpoint_load() else "yolo")


def _run(cwd: Path, *args: str, exe: Path | None = None, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_CONFIG_DIR": str(cwd / ".cfg")}
    env.pop("YOLO_ATTN_AUTOLOAD", None)
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env.update(extra_env)
    exe = exe or _cli()
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _train(cwd: Path, model: str, data: Path) -> subprocess.CompletedProcess:
    args = ("epochs=1", "imgsz=64", "batch=4", "workers=0", "device=cpu", "plots=False", "exist_ok=True")
    return _run(cwd, "train", f"model={model}", f"data={data}", f"project={cwd / 'runs'}", "name=t", *args)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "family"), [("may-mlca.yaml", "may"), ("yolo11n-eca.yaml", "yolo11")])
def test_cli_trains_by_name(name, family, tiny_data, tmp_path):
    r = _train(tmp_path, name, tiny_data)
    if not _available(family):
        assert r.returncode != 0
        assert f"need ultralytics>={compat.FAMILY_SINCE[family]}" in r.stdout + r.stderr
        return
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert (tmp_path / "runs" / "t" / "weights" / "best.pt").is_file()


@pytest.mark.slow
def test_cli_train_val_export_reload_by_name(tiny_data, tmp_path):
    """yolov8n-mlca.yaml by name: 1-epoch train, val and ONNX export of the result; a fresh process reloads the
    checkpoint, and onnxruntime matches PyTorch on the exported graph.

    Where Ultralytics cannot load checkpoints by itself (< 8.2.64 under torch >= 2.6), the stock ``yolo val`` fails
    on the checkpoint, as the README says, and works with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (what ``yolo-attn``
    sets); train and export run through ``yolo-attn`` there.
    """
    r = _train(tmp_path, "yolov8n-mlca.yaml", tiny_data)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    best = tmp_path / "runs" / "t" / "weights" / "best.pt"
    val = ("val", f"model={best}", f"data={tiny_data}", "imgsz=64", "batch=4", "workers=0", "plots=False")
    if compat.needs_full_checkpoint_load():
        r = _run(tmp_path, *val, exe=BIN / "yolo")
        assert r.returncode != 0 and "weights_only" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
        r = _run(tmp_path, *val, exe=BIN / "yolo", TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    else:
        r = _run(tmp_path, *val, exe=BIN / "yolo")
    assert r.returncode == 0 and re.search(r"\ball\s+4\s+\d+", r.stdout + r.stderr), (r.stdout + r.stderr)[-3000:]
    r = _run(tmp_path, "export", f"model={best}", "format=onnx", "imgsz=64")
    onnx_file = best.with_suffix(".onnx")
    assert r.returncode == 0 and onnx_file.is_file(), (r.stdout + r.stderr)[-3000:]
    code = (
        "import numpy as np, onnxruntime as ort, torch, sys\n"
        "from yolo_attn.integration.internals import load_checkpoint\n"
        "model, ckpt = load_checkpoint(sys.argv[1])\n"
        "assert any(type(m).__name__ == 'MLCA' for m in model.modules()), 'MLCA lost in the checkpoint'\n"
        "x = torch.rand(1, 3, 64, 64)\n"
        "with torch.no_grad():\n    y = model.eval()(x)\ny = (y[0] if isinstance(y, (list, tuple)) else y).numpy()\n"
        "o = ort.InferenceSession(sys.argv[2], providers=['CPUExecutionProvider']).run(None, {'images': x.numpy()})[0]\n"
        "print('max abs diff', float(np.abs(o - y).max()))\n"
        "assert o.shape == y.shape and np.allclose(o, y, rtol=1e-3, atol=1e-3)\n"
    )
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / ".cfg")}
    if compat.needs_full_checkpoint_load():
        env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # what the yolo-attn commands set there (README)
    r = subprocess.run(
        [sys.executable, "-c", code, str(best), str(onnx_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and "max abs diff" in r.stdout, (r.stdout + r.stderr)[-3000:]


def test_models_list_names_every_shipped_yaml_and_what_this_release_builds(capsys):
    from yolo_attn.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for p in lookup.available_models() + lookup.available_datasets():
        assert f"  {p.name}\n" in out
    for family, since in compat.FAMILY_SINCE.items():
        line = next(x for x in out.splitlines() if x.startswith(f"{family}:"))
        assert ("available" in line) is _available(family) and (f"needs ultralytics>={since}" in line) is not (
            _available(family)
        )
    assert f"Ultralytics {VERSION}." in out
