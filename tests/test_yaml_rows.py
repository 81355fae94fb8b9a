"""Hostile model-YAML rows with yolo_attn modules: a clear error naming the layer, or a model; never a raw traceback.

Ultralytics' ``parse_model`` fails with bare ``TypeError`` / ``IndexError`` / ``KeyError`` on malformed rows, and it
replaces string arguments that name one of its local variables (ELA's ``phi='t'`` became a class). The row check in
``yolo_attn.integration.parser`` answers every such row before the parser sees it.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import yolo_attn
from yolo_attn.integration import UnknownModuleError, YamlModuleError, registered_names

yolo_attn.register()
import ultralytics.nn.tasks as tasks  # noqa: E402  (after registration, as a user would have it)


def parse(row, base: list | None = None):
    """Build a 2-layer model: a stock Conv (32 channels at stride 2), then ``row`` as layer 1."""
    d = {"nc": 2, "backbone": [[-1, 1, "Conv", [32, 3, 2]], row], "head": []}
    if base is not None:
        d["backbone"] = base
    model, _ = tasks.parse_model(d, ch=3, verbose=False)
    return model


def test_lowercase_ela_phi_is_not_taken_for_a_parser_variable():
    """`t` is a local variable of parse_model (the layer's type string); the row must still mean ELA-T."""
    model = parse([-1, 1, "ELA", ["t"]])
    assert type(model[1]).__name__ == "ELA" and model[1].phi == "T"
    for phi in ("b", "S", "l"):
        assert parse([-1, 1, "ELA", [phi]])[1].phi == phi.upper()


@pytest.mark.parametrize("name", ["i", "f", "n", "m", "c1", "c2", "args", "ch", "d"])
def test_string_arguments_named_like_parser_locals_reach_the_module_verbatim(name):
    with pytest.raises(YamlModuleError, match=rf"layer 1 \(ELA, args \['{name}'\]\): .*unknown phi '{name.upper()}'"):
        parse([-1, 1, "ELA", [name]])


def test_literal_strings_are_still_evaluated_like_the_parser_does():
    """`"7"` means 7 and `"None"` None, as in Ultralytics' own rows (only the local-variable lookup is dropped)."""
    assert parse([-1, 1, "CBAM", ["3"]])[1].conv.kernel_size == (3, 3)
    block = parse([-1, 1, "MobileNetV3Block", [32, 64, 3, 1, "None", "RE"]])[1]
    assert type(block.att).__name__ == "Identity"


MALFORMED = [
    # (row, words the message must contain)
    ([-1, 1, "MLCA", 5], ["layer 1", "MLCA", "args must be a list", "5"]),
    ([-1, 1, "MLCA", "abc"], ["layer 1", "args must be a list", "'abc'"]),
    ([-1, 0, "ECA", []], ["layer 1", "repeats must be an integer >= 1", "0"]),
    ([-1, -2, "ECA", []], ["repeats must be an integer >= 1", "-2"]),
    ([-1, 1.5, "ECA", []], ["repeats", "1.5"]),
    ([-1, "2", "ECA", []], ["repeats", "'2'"]),
    ([-1, True, "ECA", []], ["repeats", "True"]),
    ([5, 1, "SE", []], ["layer 1", "from=5", "earlier layers"]),
    ([-3, 1, "SE", []], ["from=-3", "earlier layers"]),
    ([1, 1, "SE", []], ["from=1", "0..0"]),
    (["x", 1, "SE", []], ["exactly one input", "'x'"]),
    ([None, 1, "SE", []], ["exactly one input", "None"]),
    ([[-1, 0], 1, "CBAM", []], ["exactly one input", "[-1, 0]"]),
    ([-1, 1, "EPSA", ["abc"]], ["layer 1", "EPSA", "output channels c2", "'abc'"]),
    ([-1, 1, "EPSA", [0]], ["output channels c2", "0"]),
    ([-1, 1, "EPSA", [-64]], ["output channels c2", "-64"]),
    ([-1, 1, "EPSA", [None]], ["output channels c2", "None"]),
    ([-1, 1, "EPSA", [math.nan]], ["output channels c2", "nan"]),
    ([-1, 1, "EPSA", [math.inf]], ["output channels c2", "inf"]),
    ([-1, 1, "EPSA", [True]], ["output channels c2", "True"]),
    ([-1, 1, "EPSA", [[64]]], ["output channels c2", "[64]"]),
    ([-1, 2, "EPSA", [64]], ["n=2 repeats of a channel-changing module"]),
    ([-1, 1, "EPSA", [64, "x"]], ["layer 1", "EPSA", "stride"]),
    ([-1, 1, "EPSA", [64, 0]], ["layer 1", "EPSA", "stride", ">= 1"]),
    ([-1, 1, "EPSA", [96]], ["layer 1", "EPSA", "c2 must be a multiple of 64"]),
    ([-1, 1, "MobileNetV3Block", [16, "wide", 3, 1]], ["argument 1 is a channel width", "'wide'"]),
    ([-1, 1, "MobileNetV3Block", [16, 32, 4, 1]], ["layer 1", "kernel k must be odd", "4"]),
    ([-1, 1, "MobileNetV3Block", [16, 32, 3, 1, "MLAC"]], ["layer 1", "attention 'MLAC' is unknown"]),
    ([-1, 1, "ELA", ["Q"]], ["layer 1 (ELA, args ['Q'])", "unknown phi 'Q'"]),
    ([-1, 1, "ELA", ["T", "extra"]], ["layer 1", "ELA"]),
    ([-1, 1, "CBAM", [5]], ["layer 1", "kernel_size must be 3 or 7", "5"]),
    ([-1, 1, "SE", [0]], ["layer 1", "reduction", "0"]),
    ([-1, 1, "SE", [1000]], ["layer 1", "reduction", "1000"]),
    ([-1, 1, "MLCA", [0]], ["layer 1", "local_size", "0"]),
    ([-1, 1, "MLCA", [5, 2, 1, 1.5]], ["layer 1", "local_weight", "1.5"]),
    ([-1, 1, "ECA", [None, None, None, None, None]], ["layer 1", "ECA"]),
    ([-1, 1], ["layer 1", "[from, repeats, module, args]", "[-1, 1]"]),
    ([-1, 1, 7, []], ["layer 1", "module's name as a string", "7"]),
    ("MLCA", ["layer 1", "[from, repeats, module, args]", "'MLCA'"]),
]


@pytest.mark.parametrize(("row", "needles"), MALFORMED, ids=[repr(r)[:60] for r, _ in MALFORMED])
def test_malformed_rows_name_the_layer(row, needles):
    with pytest.raises(YamlModuleError) as e:
        parse(row)
    msg = str(e.value)
    for needle in needles:
        assert needle in msg, (needle, msg)
    assert isinstance(e.value, ValueError)  # the CLI maps it to exit status 2


def test_unknown_module_is_a_keyerror_and_a_valueerror():
    with pytest.raises(UnknownModuleError) as e:
        parse([-1, 1, "MLAC", []])
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)
    assert "layer 1" in str(e.value) and "'MLCA'" in str(e.value)


@pytest.mark.parametrize("part", [{"backbone": "Conv"}, {"head": {"a": 1}}])
def test_sections_must_be_lists(part):
    d = {"nc": 2, "backbone": [[-1, 1, "Conv", [16, 3, 2]]], "head": [], **part}
    with pytest.raises(YamlModuleError, match="must be a list of"):
        tasks.parse_model(d, ch=3, verbose=False)


# ---------------------------------------------------------------------------------------------------------------------
# Property: any row with one of our names either builds a model whose layer keeps its channel contract, or is refused
# with a ValueError naming the layer. Never another exception.

OUR_NAMES = sorted(registered_names())
scalars = st.one_of(
    st.integers(-4, 300),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.sampled_from(["t", "T", "B", "L", "S", "i", "None", "HS", "RE", "MLCA", "mean-max", "7", "nc"]),
)
rows = st.tuples(
    st.one_of(st.integers(-3, 3), st.lists(st.integers(-3, 3), max_size=3), st.text(max_size=2), st.none()),
    st.one_of(st.integers(-1, 4), st.floats(allow_nan=True, width=16), st.booleans(), st.text(max_size=2)),
    st.sampled_from(OUR_NAMES),
    st.one_of(st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=7), scalars),
).map(list)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(row=rows)
def test_any_row_builds_or_is_refused_naming_the_layer(row):
    try:
        model = parse(row)
    except (YamlModuleError, UnknownModuleError) as e:
        assert "model YAML layer 1" in str(e), str(e)
        event("refused, naming the layer")
        return
    event("built")
    layer = model[1]
    with torch.no_grad():
        y = model.eval()[:2](torch.zeros(1, 3, 32, 32))
    assert y.ndim == 4 and y.shape[0] == 1, (row, tuple(y.shape))
    host = type(layer).__module__ == "yolo_attn.integration.hosts"  # a host block takes n itself, like C2f
    parts = list(layer) if isinstance(layer, torch.nn.Sequential) and not host else [layer]  # n > 1: Sequential of n
    assert len(parts) == (row[1] if isinstance(row[1], int) and row[1] > 1 and not host else 1), (row, layer)
    assert all(type(p).__module__.startswith(("yolo_attn.nn", "yolo_attn.integration.hosts")) for p in parts), row
