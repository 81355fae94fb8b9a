"""Host blocks (attention inside C2f / C3 / C3k2 bottlenecks and inside C2PSA): exactness, parser treatment, bad rows.

- With ``nn.Identity`` as the attention a host computes exactly the stock block (float64, same weights): the
  position is the only change. With a registered module, the block equals the stock block's computation with the
  module applied alone at the documented position (after the bottleneck's cv2, before the residual add).
- Through the parser a host row gets the stock block's treatment at every scale: the stock state-dict keys and
  shapes are all present (stock weights transfer), only ``attention`` keys are new.
- Stock YAMLs keep the parameter counts Ultralytics prints in their own headers.
- Bad rows fail at build, naming the layer, the module, the channel count and the valid choice; absurd
  hyperparameters fail at build naming the limit instead of in the allocator.
"""

from __future__ import annotations

import copy
import pickle
import re

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

import yolo_attn
from yolo_attn.integration import UnknownModuleError, YamlModuleError
from yolo_attn.nn import ATTENTION

yolo_attn.register()
import ultralytics.nn.tasks as tasks  # noqa: E402
from ultralytics.nn.modules.block import C2PSA, C3, C2f, C3k2  # noqa: E402

from yolo_attn.integration.hosts import BottleneckWith, C2fWith, C2PSAWith, C3k2With, C3With  # noqa: E402
from yolo_attn.integration.internals import stock_models_dir  # noqa: E402

CASES = {  # id: (stock factory, host factory taking attention)
    "C2f": (lambda: C2f(32, 48, 2, True), lambda a: C2fWith(32, 48, 2, True, attention=a)),
    "C2f-noshortcut": (lambda: C2f(32, 48, 2, False), lambda a: C2fWith(32, 48, 2, False, attention=a)),
    "C3": (lambda: C3(32, 48, 2), lambda a: C3With(32, 48, 2, attention=a)),
    "C3k2": (lambda: C3k2(32, 48, 2, False, 0.25), lambda a: C3k2With(32, 48, 2, False, 0.25, attention=a)),
    "C3k2-c3k": (lambda: C3k2(32, 48, 2, True), lambda a: C3k2With(32, 48, 2, True, attention=a)),
    "C3k2-attn": (
        lambda: C3k2(64, 128, 1, True, 0.5, True),
        lambda a: C3k2With(64, 128, 1, True, 0.5, True, attention=a),
    ),
}


def _pair(case: str, attention=None):
    stock_f, host_f = CASES[case]
    torch.manual_seed(0)
    stock = stock_f().double()
    torch.manual_seed(0)
    host = host_f(attention).double()
    return stock, host


def _randomise_bn(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so eval mode is not an identity on the convs."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)


@pytest.mark.parametrize("case", list(CASES))
def test_identity_attention_is_exactly_the_stock_block(case):
    stock, host = _pair(case)
    assert list(host.state_dict()) == list(stock.state_dict())  # same layout: stock weights load strictly
    _randomise_bn(stock)
    host.load_state_dict(stock.state_dict(), strict=True)
    inserted = sum(isinstance(m, BottleneckWith) for m in host.modules())
    assert inserted == {"C3k2-c3k": 4, "C3k2-attn": 1}.get(case, 2)
    x = torch.randn(2, stock.cv1.conv.in_channels, 13, 17, dtype=torch.float64)
    for mode in (True, False):
        stock.train(mode), host.train(mode)
        assert torch.equal(host(x), stock(x)), f"{case} train={mode}"


def _bottleneck(b, x, att):
    """The documented position: after cv2 (conv, BN, SiLU), before the residual add."""
    y = att(b.cv2(b.cv1(x)))
    return x + y if b.add else y


@pytest.mark.parametrize("name", list(ATTENTION))
def test_attention_inside_equals_the_module_alone(name):
    """C2fWith with the module = the stock C2f computation with a separately built copy of the module inserted."""
    spec = ATTENTION[name]
    hp = () if spec.changes_channels else spec.hp()
    torch.manual_seed(0)
    host = C2fWith(64, 128, 2, True, attention=[name, *hp]).double().eval()
    x = torch.randn(2, 64, 11, 14, dtype=torch.float64)
    alone = []
    for b in host.m:
        assert isinstance(b, BottleneckWith) and type(b.attention) is spec.cls
        m = spec.build(64, *hp).double().eval()
        m.load_state_dict(b.attention.state_dict())
        alone.append(m)
    y = list(host.cv1(x).chunk(2, 1))
    for b, m in zip(host.m, alone, strict=True):
        y.append(_bottleneck(b, y[-1], m))
    torch.testing.assert_close(host(x), host.cv2(torch.cat(y, 1)), rtol=0, atol=1e-12)


def test_c2psa_host_with_the_stock_attention_is_the_stock_block():
    """C2PSAWith puts the module where PSABlock's self-attention is: given that self-attention, it is C2PSA."""
    torch.manual_seed(0)
    stock = C2PSA(128, 128, 2).double()
    _randomise_bn(stock)
    host = C2PSAWith(128, 128, 2, attention=None).double()
    for hb, sb in zip(host.m, stock.m, strict=True):
        hb.attn = copy.deepcopy(sb.attn)
    host.load_state_dict(stock.state_dict(), strict=True)
    x = torch.randn(2, 128, 9, 10, dtype=torch.float64)
    stock.eval(), host.eval()
    assert torch.equal(host(x), stock(x))


def test_c2psa_host_applies_the_module_in_the_residual_form():
    torch.manual_seed(0)
    host = C2PSAWith(128, 128, 1, attention="MLCA").double().eval()
    mlca = ATTENTION["MLCA"].build(64).double()
    mlca.load_state_dict(host.m[0].attn.state_dict())
    x = torch.randn(1, 128, 12, 12, dtype=torch.float64)
    a, b = host.cv1(x).split((64, 64), 1)
    b = b + mlca(b)
    b = b + host.m[0].ffn(b)
    torch.testing.assert_close(host(x), host.cv2(torch.cat((a, b), 1)), rtol=0, atol=1e-12)
    stock_keys = {k for k in C2PSA(128, 128, 1).state_dict() if ".attn." not in k}
    assert stock_keys <= set(host.state_dict())


# ---------------------------------------------------------------------------------------------------------------------
# Through the parser


def _stock_yaml(rel: str) -> dict:
    return yaml.safe_load((stock_models_dir() / rel).read_text(encoding="utf-8"))


def _with_hosts(d: dict, att) -> dict:
    """The neck's C2f/C3k2 rows as hosts, and C2PSA as C2PSAWith, each with ``att`` appended."""
    d = copy.deepcopy(d)
    for r in d["head"]:
        if r[2] in ("C2f", "C3k2"):
            r[2], r[3] = r[2] + "With", [*r[3], att]
    for r in d["backbone"]:
        if r[2] == "C2PSA":
            r[2], r[3] = "C2PSAWith", [*r[3], att]
    return d


@pytest.mark.parametrize(
    ("rel", "scale"), [("v8/yolov8.yaml", "n"), ("26/yolo26.yaml", "n"), *(("11/yolo11.yaml", s) for s in "nm")]
)
def test_host_rows_keep_every_stock_tensor_at_every_scale(rel, scale):
    stock = _stock_yaml(rel)
    ref = tasks.DetectionModel({**copy.deepcopy(stock), "scale": scale}, verbose=False)
    model = tasks.DetectionModel({**_with_hosts(stock, "ECA"), "scale": scale}, verbose=False)
    sd, rsd = model.state_dict(), ref.state_dict()
    psa = re.compile(r"model\.\d+\.m\.\d+\.attn\.")  # C2PSA's self-attention, replaced by the module
    lost = [k for k in rsd if (k not in sd or sd[k].shape != rsd[k].shape) and not psa.match(k)]
    assert not lost
    new = [k for k in sd if k not in rsd]
    assert new and all(".attention." in k or psa.match(k) for k in new)
    hosts = [m for m in model.model if type(m).__name__.endswith("With")]
    assert hosts and all(m.type.startswith("yolo_attn.integration.hosts.") for m in hosts)
    for h in hosts:  # same inner blocks as the stock layer (the parser's c3k rule at m/l/x reaches C3k2With)
        inner = [type(b).__name__.replace("With", "") for b in h.m]
        assert inner == [type(b).__name__ for b in ref.model[h.i].m]
    out = model.eval()(torch.zeros(1, 3, 64, 64))
    assert out[0].shape[0] == 1


def _summary_params(rel: str) -> dict[str, int]:
    """Parameter counts per scale from the comments of Ultralytics' own YAML (``summary: ..., N parameters``)."""
    text = (stock_models_dir() / rel).read_text(encoding="utf-8")
    return {
        s: int(n.replace(",", ""))
        for s, n in re.findall(r"^\s+([nslmx]):.*?summary:.*?([\d,]+) parameters", text, re.M)
    }


@pytest.mark.parametrize(
    ("rel", "scales"), [("v8/yolov8.yaml", "n"), ("11/yolo11.yaml", "nl"), ("26/yolo26.yaml", "n")]
)
def test_stock_yamls_keep_their_parameter_counts(rel, scales):
    expected = _summary_params(rel)
    assert set(expected) == set("nslmx")
    for scale in scales:  # l: full depth
        n = expected[scale]
        model = tasks.DetectionModel({**_stock_yaml(rel), "scale": scale}, verbose=False)
        assert sum(p.numel() for p in model.parameters()) == n, scale


def test_qualified_names_and_pickling():
    d = {"nc": 2, "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 2, "yolo_attn.C2fWith", [64, True, ["ELA", "S"]]]]}
    model, _ = tasks.parse_model({**d, "head": []}, ch=3, verbose=False)
    assert type(model[1]) is C2fWith and type(model[1].m[0].attention).__name__ == "ELA"
    clone = pickle.loads(pickle.dumps(model))
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(clone.eval()(x), model.eval()(x))


# ---------------------------------------------------------------------------------------------------------------------
# Bad rows


def parse(row, c=96):
    d = {"nc": 2, "backbone": [[-1, 1, "Conv", [c, 3, 2]], row], "head": []}
    return tasks.parse_model(d, ch=3, verbose=False)[0]


BAD = [
    # row, words the message must contain (layer, module, channel count, the valid choice)
    ([-1, 1, "C2fWith", [96, True, ["ELA", "T"]]], ["layer 1", "C2fWith", "ELA", "48 hidden channels", "32, 64, 96"]),
    ([-1, 1, "C3k2With", [96, False, 0.25, "EPSA"]], ["layer 1", "EPSA", "24 hidden channels", "64, 128"]),
    ([-1, 1, "C2PSAWith", [96, "EMA"]], ["layer 1", "C2PSAWith", "EMA", "48"]),
    ([-1, 1, "C2fWith", [96]], ["layer 1", "C2fWith", "followed by the attention module"]),
    ([-1, 1, "C2fWith", [96, True, 3]], ["layer 1", "last argument names the attention module", "3"]),
    ([-1, 1, "C2fWith", ["a", True, "ECA"]], ["layer 1", "c2 first"]),
    ([[-1, 0], 1, "C2fWith", [96, True, "ECA"]], ["layer 1", "exactly one input"]),
    ([-1, 0, "C3With", [96, "ECA"]], ["layer 1", "repeats"]),
    ([-1, 1, "C2fWith", [96, True, ["MLCA", 100000]]], ["layer 1", "C2fWith", "2**26", "67,108,864"]),
    ([-1, 1, "MLCA", [100000]], ["layer 1", "MLCA", "2**26"]),
    ([-1, 1, "MLCA", [1000]], ["layer 1", "MLCA", "96,000,000 elements", "2**26"]),
    ([-1, 1, "ECA", [1000000001]], ["layer 1", "ECA", "2**26"]),
    ([-1, 1, "EPSA", [1e9]], ["layer 1", "EPSA", "2**26"]),
]


@pytest.mark.parametrize(("row", "needles"), BAD, ids=[f"{r[2]}-{i}" for i, (r, _) in enumerate(BAD)])
def test_bad_rows_fail_at_build_naming_layer_module_and_choice(row, needles):
    with pytest.raises(YamlModuleError) as e:
        parse(row)
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


def test_unknown_attention_in_a_host_names_the_layer_and_the_valid_modules():
    with pytest.raises(UnknownModuleError, match=r"layer 1 \(C2fWith\): unknown attention module 'Foo'; valid: .*MLCA"):
        parse([-1, 1, "C2fWith", [96, True, "Foo"]])


def test_replacing_every_c3k2_is_refused_instead_of_a_silent_yolov8_head():
    d = copy.deepcopy(_stock_yaml("11/yolo11.yaml"))
    for r in d["backbone"] + d["head"]:
        if r[2] == "C3k2":
            r[2], r[3] = "C3k2With", [*r[3], "ECA"]
    with pytest.raises(YamlModuleError, match="every C3k2 row is a C3k2With.*Keep at least one stock C3k2 row"):
        tasks.DetectionModel({**d, "scale": "n"}, verbose=False)


# ---------------------------------------------------------------------------------------------------------------------
# Weight transfer into host variants


def test_transfer_into_host_blocks_moves_every_stock_tensor(tmp_path):
    """A stock YOLO11n checkpoint (made here, distinct random values) into YOLO11n with every neck C3k2 a C3k2With
    and C2PSA a C2PSAWith: every stock tensor lands at its key, the attention starts fresh, and only C2PSA's
    replaced self-attention is dropped."""
    from ultralytics import YOLO

    from yolo_attn.transfer import transfer_weights

    stock = YOLO("yolo11n.yaml")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in stock.model.state_dict().items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand(t.shape, generator=g) + 0.5
                    if name.endswith("running_var")
                    else torch.randn(t.shape, generator=g)
                )
    pt = tmp_path / "yolo11n.pt"
    stock.save(pt)
    variant = tmp_path / "yolo11n-hosts.yaml"
    variant.write_text(yaml.safe_dump(_with_hosts(_stock_yaml("11/yolo11.yaml"), ["ELA", "S"])), encoding="utf-8")
    report = transfer_weights(pt, variant, tmp_path / "init.pt", verbose=False)

    src = torch.load(pt, weights_only=False)["model"].float().state_dict()
    dst = torch.load(tmp_path / "init.pt", weights_only=False)["model"].float().state_dict()
    psa = re.compile(r"model\.10\.m\.\d+\.attn\.")
    assert report.dropped_tensors and all(psa.match(k) for k in report.dropped_tensors)
    assert report.moved + len(report.dropped_tensors) == len(src)
    assert report.moved + len(report.fresh_tensors) == len(dst)
    assert set(report.fresh_tensors) == {k for k in dst if ".attention." in k or psa.match(k)}
    for k, v in src.items():
        if not psa.match(k):
            assert torch.equal(dst[k], v), k  # same key: no layer was inserted, hosts keep the stock layout
    assert report.layer_map == {i: i for i in range(len(stock.model.model))}
    assert "Dropped" in report.summary()


HOST_NAMES = ["C2fWith", "C3With", "C3k2With", "C2PSAWith", "yolo_attn.C2fWith"]
attention_args = st.one_of(
    st.sampled_from([*ATTENTION, "CA", "Nope", "none", ""]),
    st.lists(
        st.one_of(st.sampled_from([*ATTENTION, "ELA"]), st.sampled_from(["T", "S", 3, 0, -1, 1e9, None])), max_size=3
    ),
    st.integers(-2, 5),
)
host_rows = st.tuples(
    st.sampled_from([-1, 0, [-1], 2]),
    st.integers(-1, 3),
    st.sampled_from(HOST_NAMES),
    st.tuples(
        st.one_of(st.sampled_from([32, 64, 96, 128, 256]), st.integers(-8, 8), st.floats(allow_nan=True, width=16)),
        st.lists(st.one_of(st.booleans(), st.sampled_from([0.25, 0.5, 1, 0])), max_size=3),
        attention_args,
    ).map(lambda t: [t[0], *t[1], t[2]]),
).map(list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(row=host_rows)
def test_any_host_row_builds_with_its_channels_or_is_refused_naming_the_layer(row):
    """Property: a host row builds a block whose output has the width-scaled c2 channels, or is refused naming the
    layer (YamlModuleError / UnknownModuleError); never another exception."""
    try:
        model = parse(row, c=64)
    except (YamlModuleError, UnknownModuleError) as e:
        assert "model YAML layer 1" in str(e), str(e)
        event("refused, naming the layer")
        return
    event("built")
    with torch.no_grad():
        y = model.eval()(torch.zeros(1, 3, 32, 32))
    assert y.shape[1] == -(-row[3][0] // 8) * 8 and y.shape[-2:] == (16, 16)  # c2 made divisible by 8


@pytest.mark.slow
def test_hosts_without_yolo11_blocks_leave_c2f_and_c3(tmp_path):
    """Ultralytics 8.1/8.2 have no C3k2, C2PSA or PSABlock: the integration still imports and registers C2fWith and
    C3With (simulated in a fresh process by removing the three names before the hosts module is imported)."""
    import os
    import subprocess
    import sys

    code = (
        "import ultralytics.nn.tasks as t, ultralytics.nn.modules.block as b\n"
        "del b.C3k2, b.C2PSA, b.PSABlock\n"
        "import yolo_attn.integration.hosts as h\n"
        "assert set(h.HOSTS) == {'C2fWith', 'C3With'}, h.HOSTS\n"
        "import yolo_attn; yolo_attn.register()\n"
        "assert 'C2fWith' in vars(t) and 'C3k2With' not in vars(t)\n"
        "m, _ = t.parse_model({'nc': 2, 'backbone': [[-1, 1, 'Conv', [32, 3, 2]], [-1, 1, 'C2fWith', [32, True, 'ECA']]],"
        " 'head': []}, ch=3, verbose=False)\n"
        "print(type(m[1]).__name__)\n"
    )
    env = {**os.environ, "YOLO_ATTN_AUTOLOAD": "0", "YOLO_CONFIG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("C2fWith"), r.stderr[-3000:]
