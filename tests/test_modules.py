"""Numerical tests of the attention modules against the literal transcriptions in ``reference.py``.

Every test compares numbers that a wrong module would get wrong: float64 equality with the official computation
(forward and gradients, train and eval), closed-form parameter counts, ECA's kernel rule, known-wrong variants told
apart, memory formats, autocast, batch 1, gradcheck, copies, and the error messages of bad hyperparameters.
"""

from __future__ import annotations

import copy
import io
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from yolo_attn.nn import ATTENTION, ATTENTION_MODULES, CBAM, ECA, ELA, EPSA, MLCA, SE, CoordAtt, MobileNetV3SE
from yolo_attn.nn.eca import channel_conv1d, eca_kernel_size
from yolo_attn.nn.mlca import bin_average_matrix
from yolo_attn.nn.reference import (
    KEY_MAPS,
    MAY_CA,
    MAY_CBAM,
    REFERENCES,
    CBAMRef,
    ECARef,
    EPSARef,
    MLCARef,
    build_reference,
    copy_weights,
)
from yolo_attn.nn.reference import VARIANTS as REFERENCE_VARIANTS


@pytest.fixture(autouse=True)
def _seed():
    """Every test draws the same numbers whatever ran before it."""
    torch.manual_seed(0)


# (name, positional hyperparameters after c1); the reference classes take the same positional arguments
VARIANTS = [(name, args) for name in ATTENTION for args in REFERENCE_VARIANTS[name]]
VARIANT_IDS = [f"{n}{''.join('-' + str(a) for a in args)}" for n, args in VARIANTS]
CHANNELS = [16, 64, 96, 128, 256, 1024]
SHAPES = [(1, 1, 1), (2, 13, 17), (3, 3, 40), (2, 80, 80)]  # (B, H, W)
BN_MODULES = {"CBAM", "CoordAtt"}


def has_batchnorm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())


def is_valid(name: str, args: tuple, c: int) -> bool:
    """Whether the variant accepts c input channels (mirrors the documented rules, not the code)."""
    if name == "ELA":
        return c % (32 if args[0] == "T" else 16) == 0
    if name == "EPSA":
        c2 = args[0] if args and args[0] is not None else c
        return c % 16 == 0 and c2 % 64 == 0
    if name == "EMA":  # C split into `factor` groups
        return c % (args[0] if args else 32) == 0
    return True


def is_cheap(name: str, args: tuple, c: int, b: int, h: int, w: int) -> bool:
    """Keep the float64 sweep fast: large C only at small maps, EPSA (a conv) smaller still.

    Float64 grouped convolutions on CPU loop over the groups (about 2 ms each), so the depthwise ELA-T/B stop at 128
    (ELA-S covers 256 and 1024) and EPSA stops at 256 except on a 1x1 map.
    """
    if name == "EPSA":
        return c * b * h * w <= 64 * 2 * 80 * 80 and (c <= 256 or h * w == 1)
    if name == "ELA" and args[0] in "TB" and c > 128:
        return False
    return c * b * h * w <= 64 * 2 * 80 * 80 and (c < 1024 or h * w <= 13 * 17)


def compare_gradients(name: str, args: tuple, c: int, shape: tuple) -> bool:
    """Which sweep cases also run in train mode with a gradient comparison (float64 backward is slow on CPU).

    C <= 64 on maps up to 13x17 (BatchNorm modules also at 16x80x80). Grouped float64 convolutions run one group at a
    time, so the depthwise ELA-T/B compare gradients at C=16 only (ELA-T's are covered by gradcheck and the
    channels-last test) and EPSA skips the 3x40 map.
    """
    big = shape[2] * shape[3] > 13 * 17
    if c > 64 or (big and (name not in BN_MODULES or c > 16)):
        return False
    if name == "ELA" and args[0] in "TB" and c > 16:
        return False
    return not (name == "EPSA" and shape[2:] == (3, 40))


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, norm affines and running statistics included, so no identity init hides a bug."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g, dtype=torch.float64) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g, dtype=torch.float64) * 0.5)
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g, dtype=torch.float64) * 0.5)
                    mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g, dtype=torch.float64) + 0.5)
            elif isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g, dtype=torch.float64) * 1.5 / fan_in**0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g, dtype=torch.float64) * 0.5)
    return module


def make_pair(name: str, args: tuple, c: int, seed: int = 0, dtype=torch.float64):
    """A randomised package module and its reference twin with the same weights."""
    ours = randomize_(ATTENTION_MODULES[name](c, *args).to(dtype), seed)
    ref = copy_weights(ours, build_reference(name, c, *args).to(dtype))
    return ours, ref


def rand(*shape, seed: int = 1, dtype=torch.float64, **kw) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_(
        kw.get("requires_grad", False)
    )


def out_channels(name: str, args: tuple, c: int) -> int:
    return args[0] if name == "EPSA" and args and args[0] is not None else c


# ------------------------------------------------------------------ equality with the literal transcription


# every module's first (default) variant, and ELA-S (the grouped-conv ELA)
MAIN_VARIANTS = {vid for (n, args), vid in zip(VARIANTS, VARIANT_IDS, strict=True) if args == REFERENCE_VARIANTS[n][0]}
MAIN_VARIANTS.add("ELA-S")
MAIN_CASES = [(c, s) for c in (16, 64) for s in SHAPES] + [
    (96, (2, 13, 17)),
    (128, (3, 3, 40)),
    (256, (2, 13, 17)),
    (1024, (1, 1, 1)),
    (1024, (2, 13, 17)),
]
EXTRA_CASES = [(64, (1, 1, 1)), (64, (2, 13, 17)), (64, (3, 3, 40))]  # other hyperparameters of the same module


def _reference_cases():
    for (name, args), vid in zip(VARIANTS, VARIANT_IDS, strict=True):
        for c, (b, h, w) in MAIN_CASES if vid in MAIN_VARIANTS else EXTRA_CASES:
            if is_valid(name, args, c) and is_cheap(name, args, c, b, h, w):
                yield pytest.param(name, args, c, (b, c, h, w), False, id=f"eval-{vid}-c{c}-{b}x{h}x{w}")
                if compare_gradients(name, args, c, (b, c, h, w)):
                    yield pytest.param(name, args, c, (b, c, h, w), True, id=f"train-{vid}-c{c}-{b}x{h}x{w}")


@pytest.mark.parametrize("name,args,c,shape,train", list(_reference_cases()))
def test_matches_reference_float64(name, args, c, shape, train):
    ours, ref = make_pair(name, args, c)
    ours.train(train)
    ref.train(train)
    if train and name == "CBAM" and has_batchnorm(ours) and shape[0] * shape[2] * shape[3] == 1:
        # one value per channel: BatchNorm cannot train on it, in the official code as in ours
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ref(rand(*shape))
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ours(rand(*shape))
        return
    x_ours = rand(*shape, requires_grad=train)
    x_ref = rand(*shape, requires_grad=train)
    y_ours = ours(x_ours)
    if name == "SimAM" and shape[2] * shape[3] == 1:
        # the official n = H*W - 1 is 0 on a 1x1 map: 0/0, NaN; d = 0 there, so any finite variance gives
        # e_inv = 0.5, which is ours (see simam.py)
        assert torch.isnan(ref(x_ref)).all()
        y_ref = x_ref * torch.sigmoid(torch.tensor(0.5, dtype=torch.float64))
    elif name == "ELA" and shape[0] == 1 and min(shape[2:]) == 1 and c == (32 if args[0] == "T" else 16):
        # the listing's nn.GroupNorm refuses a one-value group at batch 1 (ours does not, see ela.py); GroupNorm
        # statistics are per sample, so the reference's answer for this sample is its answer within a batch of two
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ref(x_ref)
        y_ref = ref(x_ref.expand(2, -1, -1, -1))[:1]
    else:
        y_ref = ref(x_ref)
    assert y_ours.shape == y_ref.shape == (shape[0], out_channels(name, args, c), *y_ref.shape[2:])
    torch.testing.assert_close(y_ours, y_ref, rtol=0, atol=1e-12)
    if train:  # gradients of the input and of every parameter agree too
        g = rand(*y_ref.shape, seed=2)
        y_ours.backward(g)
        y_ref.backward(g)
        tol = {"rtol": 1e-10, "atol": 1e-11}
        torch.testing.assert_close(x_ours.grad, x_ref.grad, **tol)
        pkg_grads = {k: p.grad for k, p in ours.named_parameters()}
        key_map = KEY_MAPS.get(type(ref), {})
        for k, p in ref.named_parameters():
            torch.testing.assert_close(pkg_grads[key_map.get(k, k)].reshape(p.shape), p.grad, **tol)
        for k, buf in ref.named_buffers():  # running statistics were updated identically
            torch.testing.assert_close(ours.state_dict()[key_map.get(k, k)].reshape(buf.shape), buf, rtol=0, atol=1e-12)


@pytest.mark.parametrize("h,w", [(1, 5), (2, 3), (4, 6), (5, 5), (6, 4), (7, 11), (9, 10), (11, 1), (10, 15), (26, 7)])
@pytest.mark.parametrize("local_size", [5, 3, 7])
def test_mlca_pooling_exact_at_many_sizes(h, w, local_size):
    ours, ref = make_pair("MLCA", (local_size,), 16)
    x = rand(2, 16, h, w)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "n_in,n_out", [(1, 5), (3, 5), (5, 5), (13, 5), (17, 5), (80, 5), (5, 1), (5, 3), (5, 13), (5, 17), (5, 80), (7, 4)]
)
def test_bin_average_matrix_is_adaptive_avg_pool(n_in, n_out):
    v = rand(3, n_in)
    p = bin_average_matrix(n_out, n_in, v)
    assert p.shape == (n_out, n_in)
    torch.testing.assert_close(p.sum(1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(v @ p.T, F.adaptive_avg_pool1d(v.unsqueeze(0), n_out)[0], rtol=0, atol=1e-15)


def test_bin_average_cache_survives_inference_mode():
    """A matrix first built under inference_mode must still be usable in a later training backward."""
    m = MLCA(32)
    with torch.inference_mode():
        m(torch.randn(2, 32, 23, 29))  # sizes no other test uses, so the cache entry is created here
    x = torch.randn(2, 32, 23, 29, requires_grad=True)
    m(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ------------------------------------------------------------------ parameter counts


@pytest.mark.parametrize(
    "name,args,c",
    [
        pytest.param(name, args, c, id=f"{vid}-c{c}")
        for (name, args), vid in zip(VARIANTS, VARIANT_IDS, strict=True)
        for c in (16, 32, 64, 128, 256, 1024)
        if is_valid(name, args, c)
    ],
)
def test_param_count_closed_form(name, args, c):
    from helpers import closed_form_params  # the one oracle, shared with test_zoo

    m = ATTENTION_MODULES[name](c, *args)
    assert sum(p.numel() for p in m.parameters()) == closed_form_params(name, c, *args)


@pytest.mark.parametrize(
    "module,expected",
    [
        (lambda: SE(64), 580),
        (lambda: ECA(64), 3),
        (lambda: CBAM(64), 680),
        (lambda: CoordAtt(64), 1688),
        (lambda: CoordAtt(64, 16, False), 1552),
        (lambda: CBAM(64, 7, 16, False, "mean-max", False), 610),
        (lambda: ELA(64, "T"), 448),
        (lambda: ELA(64, "B"), 576),
        (lambda: ELA(64, "S"), 2688),
        (lambda: ELA(64, "L"), 3712),
        (lambda: MLCA(64), 6),
        (lambda: EPSA(64, 64), 27121),
        (lambda: MobileNetV3SE(64), 2128),
    ],
    ids=[
        "SE",
        "ECA",
        "CBAM",
        "CoordAtt",
        "CoordAtt-MAY",
        "CBAM-MAY",
        "ELA-T",
        "ELA-B",
        "ELA-S",
        "ELA-L",
        "MLCA",
        "EPSA",
        "MobileNetV3SE",
    ],
)
def test_param_count_design_sanity_values(module, expected):
    assert sum(p.numel() for p in module().parameters()) == expected


# ------------------------------------------------------------------ ECA's kernel rule


@pytest.mark.parametrize("c,k", [(8, 3), (16, 3), (64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_eca_kernel_size(c, k):
    assert eca_kernel_size(c) == k
    assert ECA(c).conv.kernel_size == (k,)
    assert MLCA(c).conv.kernel_size == MLCA(c).conv_local.kernel_size == (k,)


def test_eca_kernel_rule_matches_official_formula_and_is_odd():
    for c in sorted({*range(1, 257), *range(257, 4097, 13), *(2**i + d for i in range(13) for d in (-1, 0, 1))} - {0}):
        k = eca_kernel_size(c)
        assert k % 2 == 1, c
        assert ECARef(c).conv.kernel_size == (k,), c  # official: math.log(C, 2), even t -> t + 1


def test_eca_and_mlca_keep_channels_over_a_sweep():
    sweep = sorted({*range(1, 2049, 127), *(2**i + d for i in range(1, 12) for d in (-1, 0, 1))})
    for c in sweep:
        x = torch.randn(1, c, 3, 4)
        assert ECA(c)(x).shape == x.shape, c
        assert MLCA(c)(x).shape == x.shape, c


def test_eca_even_kernel_variant_loses_a_channel():
    """The circulating even-k ECA changes the channel count; ours never does (the sweep above would catch it)."""
    x = torch.randn(1, 128, 4, 4)
    with pytest.raises(RuntimeError):  # (1, 127, 1, 1) gate cannot broadcast against 128 channels
        ECARef(128, make_odd=False)(x)
    assert ECA(128)(x).shape == x.shape


# ------------------------------------------------------------------ known-wrong variants are told apart


def _max_diff(a, b):
    return (a - b).abs().max().item()


def test_cbam_spatial_order_is_max_then_mean():
    ours, ref = make_pair("CBAM", (), 64)
    x = rand(2, 64, 13, 17)
    assert _max_diff(ours(x), ref(x)) < 1e-12
    swapped = copy_weights(ours, CBAMRef(64, spatial_order="mean_max").double())
    assert _max_diff(ours(x), swapped(x)) > 1e-3
    mean_max = randomize_(CBAM(64, spatial_order="mean-max").double())  # the hyperparameter computes that order
    torch.testing.assert_close(mean_max(x), copy_weights(mean_max, swapped)(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("switch", ["mlp_bias", "spatial_order", "spatial_bn"])
def test_cbam_each_variant_switch_changes_the_output(switch):
    """Each of the three switches, flipped alone from the default, computes something else (same shared weights)."""
    default = randomize_(CBAM(64).double().eval())
    flipped = {"mlp_bias": False, "spatial_order": "mean-max", "spatial_bn": False}
    other = CBAM(64, **{switch: flipped[switch]}).double()
    other.load_state_dict({k: v for k, v in default.state_dict().items() if k in other.state_dict()})
    x = rand(2, 64, 13, 17)
    assert _max_diff(default(x), other.eval()(x)) > 1e-4


def test_cbam_mlp_runs_on_avg_and_max_separately():
    ours, _ = make_pair("CBAM", (), 64)
    x = rand(2, 64, 13, 17)
    summed_first = copy_weights(ours, CBAMRef(64, sum_first=True).double())
    assert _max_diff(ours(x), summed_first(x)) > 1e-3


def test_mlca_global_branch_does_not_mix_samples():
    ours, _ = make_pair("MLCA", (), 64)
    x = rand(3, 64, 13, 17)
    x2 = x.clone()
    x2[1:] = rand(2, 64, 13, 17, seed=7)
    torch.testing.assert_close(ours(x2)[0], ours(x)[0], rtol=0, atol=1e-14)
    buggy = copy_weights(ours, MLCARef(64, global_mode="buggy").double())  # the pre-fix (C, B, 1) reshape
    assert _max_diff(buggy(x2)[0], buggy(x)[0]) > 1e-4  # ... which this test detects


def test_mlca_unpooling_is_adaptive_not_nearest():
    ours, _ = make_pair("MLCA", (), 64)
    nearest = copy_weights(ours, MLCARef(64, unpool="nearest").double())
    x = rand(2, 64, 13, 17)
    assert _max_diff(ours(x), nearest(x)) > 1e-3
    x = rand(2, 64, 20, 20)  # multiples of 5: each output cell reads one bin, both rules agree
    assert _max_diff(ours(x), nearest(x)) < 1e-12


def test_mlca_global_comes_from_the_local_map():
    ours, _ = make_pair("MLCA", (), 64)
    from_x = copy_weights(ours, MLCARef(64, global_mode="from_x").double())
    x = rand(2, 64, 13, 17)  # 13 and 17 are not multiples of 5: mean of the 5x5 map != mean of x
    assert _max_diff(ours(x), from_x(x)) > 1e-4
    x = rand(2, 64, 20, 20)
    assert _max_diff(ours(x), from_x(x)) < 1e-12


def test_epsa_concatenates_in_reversed_order():
    ours, _ = make_pair("EPSA", (), 64)
    forward_order = copy_weights(ours, EPSARef(64, reverse=False).double())
    x = rand(2, 64, 13, 17)
    assert _max_diff(ours(x), forward_order(x)) > 1e-3


def test_epsa_softmax_weights_sum_to_one_across_branches():
    """With four identical branch convs the softmax gives each branch weight 1/4: out = conv(x) / 4, repeated."""
    m = EPSA(64, conv_kernels=(3, 3, 3, 3), conv_groups=(1, 1, 1, 1)).double()
    randomize_(m)
    for conv in m.convs[1:]:
        conv.weight.data.copy_(m.convs[0].weight.data)
    x = rand(2, 64, 9, 9)
    y = m(x)
    branch = m.convs[0](x) / 4
    torch.testing.assert_close(y, branch.repeat(1, 4, 1, 1), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ memory formats, autocast, batch 1, gradcheck


def small(name: str, args: tuple, dtype=torch.float32, seed: int = 0) -> tuple[torch.nn.Module, int]:
    """The variant at the smallest channel count valid for all of them (32; EPSA 16 -> 64), randomised."""
    c = 32
    if name == "EPSA":
        c, args = 16, (args or (64,))
    return randomize_(ATTENTION_MODULES[name](c, *args).to(dtype), seed), c


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_channels_last_matches_contiguous(name, args):
    m, c = small(name, args)
    x = torch.randn(2, c, 13, 17, requires_grad=True)
    x_cl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    y, y_cl = m(x), m(x_cl)
    torch.testing.assert_close(y_cl, y, rtol=1e-5, atol=1e-6)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)  # no silent layout change for the next conv
    g = torch.randn(y.shape)
    y.backward(g)
    y_cl.backward(g)
    torch.testing.assert_close(x_cl.grad, x.grad, rtol=1e-5, atol=1e-6)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_autocast_forward_backward_close_to_fp32(name, args, dtype):
    m, c = small(name, args)
    x32 = torch.randn(2, c, 13, 17, requires_grad=True)
    y32 = m(x32)
    y32.float().pow(2).sum().backward()
    g32 = x32.grad
    p32 = torch.cat([torch.zeros(0), *(p.grad.flatten() for p in m.parameters())])
    x = x32.detach().clone().requires_grad_()
    m.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        y = m(x)
    assert y.shape == y32.shape
    assert torch.isfinite(y).all()
    y.float().pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    assert _rel(y, y32) < 2e-2  # worst seen over 30 seeds: 8e-3 (CBAM)
    # over all parameters at once: a parameter whose exact gradient is 0 (a bias before BatchNorm, EPSA's last SE
    # bias under the softmax) has only rounding noise in both, which a per-parameter ratio would blow up
    assert _rel(torch.cat([torch.zeros(0), *(p.grad.flatten() for p in m.parameters())]), p32) < 0.1  # worst seen: 0.04
    if name != "CBAM":  # CBAM's max-pooling gradients jump to another element when low precision flips an argmax
        assert _rel(x.grad, g32) < 0.1  # worst seen: 0.063 (CoordAtt, BatchNorm on 2 x 30 strip values)


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_autocast_output_keeps_input_dtype(name, args):
    """Under autocast a bf16 input (as a conv emits it) gives a bf16 output: fp32 gates (GroupNorm, softmax) are cast
    down instead of promoting the full-size product to fp32."""
    m, c = small(name, args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(torch.randn(2, c, 13, 17, dtype=torch.bfloat16))
        y_cl = m(torch.randn(2, c, 13, 17, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last))
    assert y.dtype == y_cl.dtype == torch.bfloat16


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_batch1_training_forward_backward(name, args):
    m, c = small(name, args)
    x = torch.randn(1, c, 7, 9, requires_grad=True)
    y = m.train()(x)
    y.square().mean().backward()
    assert torch.isfinite(y).all()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for k, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), k


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_tiny_map_1x1(name, args):
    m, c = small(name, args)
    x = torch.randn(2, c, 1, 1, requires_grad=True)
    y = m.train()(x)  # batch 2: BatchNorm sees 2 values per channel
    y.sum().backward()
    assert y.shape[0] == 2 and torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert torch.isfinite(m.eval()(torch.randn(1, c, 1, 1))).all()


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_gradcheck(name, args, train):
    m, c = small(name, args, dtype=torch.float64)
    x = rand(2, c, 6, 7, requires_grad=True)
    assert torch.autograd.gradcheck(m.train(train), (x,), fast_mode=True, eps=1e-6, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------ copies, pickling, import paths


CLASS_PATHS = {
    "SE": "yolo_attn.nn.se",
    "ECA": "yolo_attn.nn.eca",
    "CBAM": "yolo_attn.nn.cbam",
    "CoordAtt": "yolo_attn.nn.coord_att",
    "ELA": "yolo_attn.nn.ela",
    "MLCA": "yolo_attn.nn.mlca",
    "EPSA": "yolo_attn.nn.epsa",
    "MobileNetV3SE": "yolo_attn.nn.mobilenetv3_se",
    "EMA": "yolo_attn.nn.ema",
    "SimAM": "yolo_attn.nn.simam",
}


def test_public_names_and_class_paths():
    assert set(ATTENTION_MODULES) == set(CLASS_PATHS)
    for name, cls in ATTENTION_MODULES.items():
        assert cls.__name__ == name
        assert cls.__module__ == CLASS_PATHS[name]  # checkpoints pickle this path: it must never change


@pytest.mark.parametrize("name,args", VARIANTS, ids=VARIANT_IDS)
def test_deepcopy_pickle_torch_save_round_trips(name, args):
    m, c = small(name, args)
    x = torch.randn(2, c, 13, 17)
    y = m.eval()(x)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m)), torch.load(buf, weights_only=False)):
        assert type(clone) is type(m)
        assert torch.equal(clone(x), y)
    clone = copy.deepcopy(m).train()  # the EMA copy trains on independently
    clone(torch.randn(2, c, 13, 17))
    assert torch.equal(m(x), y)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_dynamo_fullgraph_dynamic_shapes(train):
    """torch.compile can capture every module as one graph (no .item(), no data-dependent branch) with dynamic H, W,
    at sizes MLCA pools as disjoint blocks (multiples of 5) and at sizes it pools with overlapping bins."""
    torch._dynamo.reset()
    for name in ("CoordAtt", "ELA", "MLCA", "CBAM", "ECA"):  # H and W used, or a branch on grad mode / device
        m = ATTENTION_MODULES[name](32).train(train)
        compiled = torch.compile(m, backend="eager", fullgraph=True, dynamic=True)
        for h, w in [(13, 17), (20, 20), (9, 31), (40, 15)]:
            x = torch.randn(2, 32, h, w, requires_grad=train)
            y_ref = m(x)
            y = compiled(x)
            torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
            if train:
                g = torch.randn(y.shape)
                (gx_ref,) = torch.autograd.grad(y_ref, x, g)
                (gx,) = torch.autograd.grad(y, x, g)
                torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ bad hyperparameters


@pytest.mark.parametrize(
    "build,needles",
    [
        (lambda: ELA(64, "Q"), ["ELA", "'Q'", "'T'", "'B'", "'S'", "'L'"]),
        (lambda: ELA(48, "T"), ["ELA", "c1=48", "32"]),
        (lambda: ELA(40, "S"), ["ELA", "c1=40", "16"]),
        (lambda: ELA(24, "B"), ["ELA", "c1=24", "16"]),
        (lambda: EPSA(64, 96), ["EPSA", "c2=96", "64"]),
        (lambda: EPSA(24, 64), ["EPSA", "c1=24", "16"]),
        (lambda: EPSA(64, 32), ["EPSA", "c2=32", "64"]),
        (lambda: EPSA(64, 64, conv_kernels=(3, 5, 7, 8)), ["EPSA", "(3, 5, 7, 8)", "odd"]),
        (lambda: EPSA(64, 64, conv_kernels=(3, 5)), ["EPSA", "equal length"]),
        (lambda: MLCA(64, 0), ["MLCA", "local_size", "0", ">= 1"]),
        (lambda: MLCA(64, local_weight=1.5), ["MLCA", "local_weight", "1.5", "[0, 1]"]),
        (lambda: ECA(64, 4), ["ECA", "k_size", "4", "odd"]),
        (lambda: ECA(64, 0), ["ECA", "k_size", "0", ">= 1"]),
        (lambda: ECA(64, gamma=0), ["ECA", "gamma", "0"]),
        (lambda: SE(8), ["SE", "c1=8", "reduction", "0 hidden"]),
        (lambda: CBAM(8), ["CBAM", "c1=8", "reduction", "0 hidden"]),
        (lambda: CBAM(64, 5), ["CBAM", "kernel_size", "5", "3 or 7"]),
        (lambda: MobileNetV3SE(3), ["MobileNetV3SE", "c1=3", "reduction"]),
        (lambda: CoordAtt(64, 0), ["CoordAtt", "reduction", "0"]),
        (lambda: CoordAtt(64, 16, "False"), ["CoordAtt", "bias", "'False'", "True or False"]),
        (lambda: CBAM(64, 7, 16, 0), ["CBAM", "mlp_bias", "0", "True or False"]),
        (lambda: CBAM(64, 7, 16, True, "avg-max"), ["CBAM", "spatial_order", "'avg-max'", "'max-mean'", "'mean-max'"]),
        (lambda: CBAM(64, 7, 16, True, "max-mean", "no"), ["CBAM", "spatial_bn", "'no'", "True or False"]),
    ],
    ids=lambda v: None if callable(v) else "-".join(v[:2]),
)
def test_invalid_hyperparameters_raise_helpful_valueerror(build, needles):
    with pytest.raises(ValueError) as e:
        build()
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))


@pytest.mark.parametrize("name", list(ATTENTION_MODULES))
@pytest.mark.parametrize("c1", [0, -16, 64.0, "64", True, None])
def test_invalid_channel_count(name, c1):
    with pytest.raises(ValueError) as e:
        ATTENTION_MODULES[name](c1)
    assert name in str(e.value) and "c1" in str(e.value) and repr(c1) in str(e.value)


def test_numpy_integer_channels_accepted():
    np = pytest.importorskip("numpy")
    assert sum(p.numel() for p in SE(np.int64(64)).parameters()) == 580
    assert math.isclose(MLCA(64, local_weight=0.25).local_weight, 0.25)


# ------------------------------------------------------------------ the MAY code's CBAM and CA, fast paths


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("c,shape", [(16, (2, 13, 17)), (96, (2, 20, 20)), (576, (1, 10, 10)), (16, (1, 40, 40))])
@pytest.mark.parametrize("name,args", [("CBAM", MAY_CBAM), ("CoordAtt", MAY_CA)], ids=["CBAM-MAY", "CA-MAY"])
def test_may_code_variants_match_their_transcription(name, args, c, shape, train):
    """``CBAM(c, 7, 16, False, "mean-max", False)`` and ``CoordAtt(c, 16, False)`` equal the MAY code's CBAM and CA
    (transcribed in reference.py) in float64, forward and gradients, at MAY's hidden widths."""
    ours, ref = make_pair(name, args, c)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    ours.train(train)
    ref.train(train)
    b, h, w = shape
    x_ours, x_ref = rand(b, c, h, w, requires_grad=train), rand(b, c, h, w, requires_grad=train)
    y_ours, y_ref = ours(x_ours), ref(x_ref)
    torch.testing.assert_close(y_ours, y_ref, rtol=0, atol=1e-12)
    if train:
        g = rand(*y_ref.shape, seed=2)
        y_ours.backward(g)
        y_ref.backward(g)
        torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-10, atol=1e-11)
        pkg = {k: p.grad for k, p in ours.named_parameters()}
        for k, p in ref.named_parameters():
            torch.testing.assert_close(pkg[KEY_MAPS.get(type(ref), {}).get(k, k)].reshape(p.shape), p.grad)


def test_may_cbam_has_no_batchnorm_and_no_mlp_bias():
    m = CBAM(96, 7, 16, False, "mean-max", False)
    assert not has_batchnorm(m) and m.fc1.bias is None and m.fc2.bias is None
    assert sorted(m.state_dict()) == ["conv.weight", "fc1.weight", "fc2.weight"]
    assert sorted(CBAM(96).state_dict()) == [  # the default's keys are a checkpoint contract
        "bn.bias", "bn.num_batches_tracked", "bn.running_mean", "bn.running_var", "bn.weight", "conv.weight",
        "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight",
    ]  # fmt: skip


@pytest.mark.parametrize("hw", [(20, 20), (20, 17), (17, 20), (10, 10), (5, 5), (40, 15), (13, 17), (3, 40)])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_mlca_block_and_overlapping_bin_paths_match_reference(hw, channels_last):
    """MLCA pools and un-pools as disjoint blocks when H (and W) are multiples of 5 and with bin matrices otherwise,
    in both memory formats; every combination equals the official adaptive pooling, gradients included."""
    ours, ref = make_pair("MLCA", (), 64)
    x = rand(2, 64, *hw)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x_ours, x_ref = x.detach().clone().requires_grad_(), x.detach().contiguous().requires_grad_()
    if channels_last:
        x_ours = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    y_ours, y_ref = ours(x_ours), ref(x_ref)
    torch.testing.assert_close(y_ours, y_ref, rtol=0, atol=1e-12)
    assert y_ours.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    g = rand(*y_ref.shape, seed=2)
    y_ours.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    for (k, p), p_ref in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-10, atol=1e-12, msg=k)


@pytest.mark.parametrize("n,length", [(1, 3), (1, 576), (1, 20000), (2, 64), (8, 14400)])
@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_channel_conv1d_equals_conv1d(n, length, k):
    """Both CPU forms (F.conv1d at batch 1 up to 16k positions, shifted multiply-adds otherwise) equal the Conv1d,
    forward and gradients, and the module's state is the Conv1d's weight alone."""
    conv = torch.nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False).double()
    x = rand(n, 1, length, requires_grad=True)
    y = channel_conv1d(conv, x)
    x_ref = x.detach().clone().requires_grad_()
    y_ref = F.conv1d(x_ref, conv.weight, padding=(k - 1) // 2)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-13)
    g = rand(n, 1, length, seed=3)
    (gx, gw) = torch.autograd.grad(y, (x, conv.weight), g)
    (gx_ref, gw_ref) = torch.autograd.grad(y_ref, (x_ref, conv.weight), g)
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-12, atol=1e-10)


def test_channel_conv1d_autocast_runs_in_weight_dtype():
    conv = torch.nn.Conv1d(1, 1, 5, padding=2, bias=False)
    x = torch.randn(4, 1, 300, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = channel_conv1d(conv, x)  # batch 4: the shifted form, in float32
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, F.conv1d(x.float(), conv.weight, padding=2), rtol=0, atol=1e-6)


YAML_ROWS = {
    "nc": 2,
    "backbone": [
        [-1, 1, "Conv", [16, 3, 2]],
        [-1, 1, "CBAM", [7, 16, False, "mean-max", False]],
        [-1, 1, "CoordAtt", [16, False]],
        [-1, 1, "MobileNetV3Block", [16, 32, 3, 1, ["CBAM", 7, 16, False, "mean-max", False], "RE"]],
        [-1, 1, "Conv", [32, 3, 2]],
        [-1, 1, "CBAM", []],
        [-1, 1, "Conv", [64, 3, 2]],
    ],
    "head": [[[4, 5, 6], 1, "Detect", ["nc"]]],
}


def test_yaml_rows_take_the_variant_hyperparameters():
    """The MAY code's CBAM and CA are plain YAML rows (positional hyperparameters after the existing ones), also in
    a MobileNetV3 block's attention slot; inside the model every BatchNorm gets Ultralytics' eps 1e-3 / momentum 0.03."""
    from ultralytics.nn.tasks import DetectionModel

    import yolo_attn  # noqa: F401  (registers the modules)

    model = DetectionModel(copy.deepcopy(YAML_ROWS), ch=3, verbose=False)
    cbams = [m for m in model.modules() if isinstance(m, CBAM)]
    assert [(m.spatial_order, m.fc1.bias is None, has_batchnorm(m)) for m in cbams] == [
        ("mean-max", True, False), ("mean-max", True, False), ("max-mean", False, True)
    ]  # fmt: skip
    (ca,) = [m for m in model.modules() if isinstance(m, CoordAtt)]
    assert ca.conv1.bias is None and ca.conv1.out_channels == 8  # max(8, 16 // 16)
    bn = cbams[2].bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.03)  # initialize_weights, not CBAM's own 1e-5 / 0.01
    assert (CBAM(32).bn.eps, CBAM(32).bn.momentum) == (1e-5, 0.01)
    model.eval()(torch.zeros(1, 3, 64, 64))


def test_yaml_row_with_a_bad_variant_value_names_module_value_and_choices():
    from ultralytics.nn.tasks import DetectionModel

    import yolo_attn  # noqa: F401

    d = copy.deepcopy(YAML_ROWS)
    d["backbone"][1] = [-1, 1, "CBAM", [7, 16, False, "avg-max", False]]
    with pytest.raises(ValueError) as e:
        DetectionModel(d, ch=3, verbose=False)
    for needle in ("CBAM", "spatial_order", "'avg-max'", "'max-mean'", "'mean-max'"):
        assert needle in str(e.value), (needle, str(e.value))


# ------------------------------------------------------------------ hand-written backwards (MLCA blocks, CBAM)


HAND_BACKWARD = [("MLCA", (), (10, 15)), ("MLCA", (3,), (6, 9)), ("CBAM", (), (6, 7)), ("CBAM", MAY_CBAM, (5, 8))]


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,args,hw", HAND_BACKWARD, ids=lambda v: None)
def test_hand_backward_gradcheck(name, args, hw, train, channels_last):
    """The custom autograd Functions (MLCA on block-divisible maps, CBAM) pass gradcheck for the input and every
    parameter, in both memory formats, and are what autograd records."""
    m = randomize_(ATTENTION_MODULES[name](16, *args).double()).train(train)
    x = rand(2, 16, *hw)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    y = m(x)
    assert type(y.grad_fn).__name__ == ("_MLCABlocksBackward" if name == "MLCA" else "_CBAMGatesBackward")

    def f(inp, *params):
        return torch.func.functional_call(
            m, dict(zip([k for k, _ in m.named_parameters()], params, strict=True)), (inp,)
        )

    if has_batchnorm(m) and train:  # BatchNorm's running statistics move on every call; gradcheck calls many times
        m.bn.momentum = 0.0
    assert torch.autograd.gradcheck(f, (x, *m.parameters()), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_cbam_hand_backward_with_ties_matches_reference():
    """Post-ReLU maps tie at 0 (whole channels and whole pixels here): the max gradients go to the first maximum, as
    the official code's max / max_pool2d backward does."""
    ours, ref = make_pair("CBAM", (), 32)
    x = torch.relu(rand(2, 32, 9, 11))
    with torch.no_grad():
        x[:, 3] = 0.0  # a dead channel: max over H, W ties everywhere
        x[:, :, 4, :] = 0.0  # dead pixels: max over C ties
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = rand(2, 32, 9, 11, seed=5)
    ours.train()(x_ours).backward(g)
    ref.train()(x_ref).backward(g)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-10, atol=1e-12)


def test_cbam_hand_backward_updates_batchnorm_once():
    ours, ref = make_pair("CBAM", (), 32)
    x = rand(4, 32, 7, 7, requires_grad=True)
    ours.train()(x).sum().backward()
    ref.train()(x.detach()).sum()
    assert int(ours.bn.num_batches_tracked) == int(ref.SpatialGate.spatial.bn.num_batches_tracked) == 1
    torch.testing.assert_close(ours.bn.running_mean, ref.SpatialGate.spatial.bn.running_mean, rtol=0, atol=1e-15)


@pytest.mark.parametrize("attention", ["MLCA", "CBAM", ["CBAM", *MAY_CBAM]], ids=["MLCA", "CBAM", "CBAM-MAY"])
def test_hand_backward_inside_a_block_with_inplace_activation(attention, monkeypatch):
    """In a MobileNetV3 block an in-place activation overwrites the attention's output; the hand-written backwards
    save only their inputs, so gradients equal plain autograd's (forced through the same modules)."""
    import yolo_attn.nn.cbam as cbam_mod
    import yolo_attn.nn.mlca as mlca_mod
    from yolo_attn.nn import MobileNetV3Block

    torch.manual_seed(0)
    blk = randomize_(MobileNetV3Block(24, 40, 96, 5, 2, attention, "HS").double()).train()
    x = rand(2, 24, 40, 40)  # stride 2: the attention sees 20 x 20, MLCA's block-divisible case

    def grads():
        xi = x.clone().requires_grad_()
        blk.zero_grad()
        blk(xi).square().mean().backward()
        return [xi.grad] + [p.grad.clone() for p in blk.parameters()]

    fused = grads()
    monkeypatch.setattr(mlca_mod, "hand_backward", lambda *a: False)
    monkeypatch.setattr(cbam_mod, "hand_backward", lambda *a: False)
    plain = grads()
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ EMA and SimAM (added through the registry)

EMA, SimAM = ATTENTION_MODULES["EMA"], ATTENTION_MODULES["SimAM"]
EMARef, SimAMRef = REFERENCES["EMA"], REFERENCES["SimAM"]


@pytest.mark.parametrize(
    "module,expected",
    [
        (lambda: EMA(64), 48),  # cg = 2: GroupNorm 4, Conv1x1 6, Conv3x3 38
        (lambda: EMA(64, 8), 672),  # cg = 8: 16 + 72 + 584
        (lambda: EMA(1024), 10368),  # cg = 32: 64 + 1056 + 9248
        (lambda: SimAM(64), 0),
    ],
    ids=["EMA-64", "EMA-64-8", "EMA-1024", "SimAM"],
)
def test_ema_simam_param_counts(module, expected):
    assert sum(p.numel() for p in module().parameters()) == expected


def test_ema_state_dict_is_the_official_layout():
    """Same tensor names and shapes as the official module (no key map): its checkpoints load with strict=True."""
    assert EMARef not in KEY_MAPS
    official = randomize_(EMARef(64, 8).double(), seed=3)
    ours = EMA(64, 8).double()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in official.state_dict().items()}
    ours.load_state_dict(official.state_dict(), strict=True)
    x = rand(2, 64, 9, 11)
    torch.testing.assert_close(ours(x), official(x), rtol=0, atol=1e-12)


def test_ema_1x1_branch_channel_weights_are_the_groupnorm_bias():
    """The identity EMA's forward relies on: in the official code, agp(x1) (the input of x11's softmax) is exactly
    the GroupNorm bias for every input, because a normalised channel has mean 0."""
    _, ref = make_pair("EMA", (8,), 64)
    seen = []
    ref.gn.register_forward_hook(lambda mod, inp, out: seen.append(out))
    for shape in [(2, 64, 13, 17), (1, 64, 1, 1), (3, 64, 2, 40)]:
        ref(rand(*shape, seed=shape[2]) * 5 + 3)
        means = seen.pop().mean((2, 3))  # (B * G, cg)
        torch.testing.assert_close(means, ref.gn.bias.expand_as(means), rtol=0, atol=1e-11)  # rounding only


def test_ema_matches_official_at_many_small_sizes():
    """The border-sum form of mean(conv3x3(x)) at every map size with 1-6 rows and columns, several group sizes."""
    for factor, c in [(8, 16), (4, 32), (2, 6), (1, 3)]:
        ours, ref = make_pair("EMA", (factor,), c, seed=factor)
        for h in range(1, 7):
            for w in range(1, 7):
                b = 2 if factor == 1 and h * w == 1 else 1  # official GroupNorm refuses 1 value at batch 1, 1 group
                x = rand(b, c, h, w, seed=10 * h + w)
                torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-12, msg=f"factor {factor}, {h}x{w}")


def test_ema_groups_share_weights_and_samples_do_not_mix():
    ours, _ = make_pair("EMA", (8,), 64)
    x = rand(3, 64, 13, 17)
    y = ours(x)
    perm = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])  # reorder the 8 groups of 8 channels: the output follows
    idx = (perm[:, None] * 8 + torch.arange(8)).flatten()
    torch.testing.assert_close(ours(x[:, idx]), y[:, idx], rtol=0, atol=1e-13)
    x2 = x.clone()
    x2[1:] = rand(2, 64, 13, 17, seed=7)  # the official reshape (B * G, ...) keeps samples apart; so does ours
    torch.testing.assert_close(ours(x2)[0], y[0], rtol=0, atol=1e-14)


def test_ema_channels_must_divide_into_groups_as_in_the_official_code():
    """The constructor refuses exactly the channel counts the official forward cannot run."""
    for c in (48, 40, 96 + 8):
        with pytest.raises(RuntimeError):  # the official reshape(b * groups, -1, h, w) fails
            EMARef(c)(torch.randn(2, c, 5, 5))
        with pytest.raises(ValueError, match=f"c1={c}"):
            EMA(c)
    with pytest.raises(AssertionError):  # fewer channels than groups: the official assert
        EMARef(16)
    with pytest.raises(ValueError, match="c1=16"):
        EMA(16)
    assert EMA(96)(torch.randn(1, 96, 4, 4)).shape == (1, 96, 4, 4)


def test_ema_in_every_may_slot_with_the_zoo_factor():
    """The registry's MAY choice (8 groups) fits all 9 SE slots; the official 32 fits only 4 (see registry.py)."""
    from yolo_attn.zoo import MAY_BLOCKS

    spec = ATTENTION["EMA"]
    widths = [hidden for _, hidden, _, _, use_se, _ in MAY_BLOCKS if use_se]
    assert len(widths) == 9
    assert all(spec.fits(c, *spec.hp("may")) for c in widths)
    assert sum(spec.fits(c, 32) for c in widths) == 4


def test_simam_variance_is_unbiased_not_the_circulating_mean():
    ours = SimAM(64)
    x = rand(2, 64, 3, 4)  # n = 11 vs 12: the two variances differ by 9%
    torch.testing.assert_close(ours(x), SimAMRef(64)(x), rtol=0, atol=1e-12)
    assert _max_diff(ours(x), SimAMRef(64, variance="biased")(x)) > 1e-3
    assert _max_diff(ours(x), SimAM(64, 0.1)(x)) > 1e-3  # lambda is used


def test_simam_on_a_1x1_map_is_defined_where_the_official_code_divides_by_zero():
    x = rand(3, 8, 1, 1, requires_grad=True)
    assert torch.isnan(SimAMRef(8)(x)).all()  # n = 0: 0 / 0
    y = SimAM(8)(x)
    torch.testing.assert_close(y, x * torch.sigmoid(torch.tensor(0.5, dtype=torch.float64)), rtol=0, atol=1e-15)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_simam_fp16_variance_does_not_overflow():
    """The official sum of squares overflows fp16 on an 80x80 map of activations around 20 and flattens the gate;
    the mean of squares (ours, the same variance) does not."""
    x = 20 * torch.randn(1, 4, 80, 80, generator=torch.Generator().manual_seed(0))
    exact = SimAM(4)(x.double())
    assert _rel(SimAM(4)(x.half()), exact) < 1e-3
    assert _rel(SimAMRef(4)(x.half()), exact) > 0.1


@pytest.mark.parametrize(
    "build,needles",
    [
        (lambda: EMA(48), ["EMA", "c1=48", "factor=32", "1, 2, 3, 4, 6, 8, 12, 16, 24, 48", "32, 64, 96"]),
        (lambda: EMA(16), ["EMA", "c1=16", "factor=32", "1, 2, 4, 8, 16"]),
        (lambda: EMA(64, 0), ["EMA", "factor", "0", ">= 1"]),
        (lambda: EMA(64, 2.5), ["EMA", "factor", "2.5"]),
        (lambda: SimAM(64, 0), ["SimAM", "e_lambda", "0", "positive"]),
        (lambda: SimAM(64, -1e-4), ["SimAM", "e_lambda", "-0.0001", "positive"]),
        (lambda: SimAM(64, float("nan")), ["SimAM", "e_lambda", "nan"]),
        (lambda: SimAM(64, "0.1"), ["SimAM", "e_lambda", "'0.1'"]),
        (lambda: SimAM(64, True), ["SimAM", "e_lambda", "True"]),
    ],
    ids=[
        "EMA-48",
        "EMA-16",
        "EMA-factor0",
        "EMA-factor2.5",
        "SimAM-0",
        "SimAM-neg",
        "SimAM-nan",
        "SimAM-str",
        "SimAM-t",
    ],
)
def test_ema_simam_invalid_hyperparameters(build, needles):
    with pytest.raises(ValueError) as e:
        build()
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))


@pytest.mark.parametrize("name,args", [("EMA", ()), ("EMA", (8,)), ("SimAM", ())], ids=["EMA", "EMA-8", "SimAM"])
def test_ema_simam_compile_fullgraph_dynamic_shapes(name, args):
    """Both forwards use H and W (EMA's strip split and border sums, SimAM's n): one graph, any size, 1x1 included."""
    torch._dynamo.reset()
    m = randomize_(ATTENTION_MODULES[name](64, *args)).eval()
    compiled = torch.compile(m, backend="eager", fullgraph=True, dynamic=True)
    for h, w in [(13, 17), (9, 31), (1, 1), (2, 1)]:
        x = torch.randn(2, 64, h, w)
        torch.testing.assert_close(compiled(x), m(x), rtol=1e-5, atol=1e-6)
