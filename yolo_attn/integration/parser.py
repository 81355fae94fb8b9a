"""Registration into Ultralytics' model-YAML parser: yolo_attn's modules resolvable by name, with the right channels.

Facts relied on: docs/design.md §5. Ultralytics' ``parse_model``
resolves a YAML module name with ``globals()[name]`` in ``ultralytics.nn.tasks`` and hard-codes channel handling
in local frozensets, so a third-party module normally gets its YAML arguments verbatim and no input channels.
Without copying or editing ``parse_model`` we:

1. register one *YAML entry* class per name in ``ultralytics.nn.tasks`` (bare names such as ``MLCA`` unless the
   name already resolves there, e.g. YOLOv10's ``PSA``, and always the qualified ``yolo_attn.MLCA``);
2. give channel-keeping (gating) modules their input channels: the entry reads ``ch``, ``f`` and ``i`` from the
   running ``parse_model`` frame, so YAML rows carry only hyperparameters (``[-1, 1, MLCA, []]``);
3. give channel-changing modules (EPSA as a conv replacement, the MobileNetV3 stem and blocks) the Conv-family
   treatment: their entry class compares equal to ``Conv``, so ``m in base_modules`` holds and the parser injects
   ``c1``, width-scales ``c2`` (``make_divisible(min(c2, max_channels) * width, 8)``) and records the real output
   channels for the layers after them;
4. wrap ``parse_model`` (every model class looks it up as a module global at call time) to report unknown module
   names with the layer index and the closest registered names instead of a bare ``KeyError``.

``register()`` checks each assumption and raises ``UltralyticsCompatibilityError`` naming the supported versions
when a release breaks one.
"""

from __future__ import annotations

import difflib
import logging
import sys
import threading
from dataclasses import dataclass

import torch
from torch import nn

from yolo_attn.integration.compat import SUPPORTED_ULTRALYTICS, check_model_dict, check_supported
from yolo_attn.integration.errors import UltralyticsCompatibilityError, UnknownModuleError, YamlModuleError
from yolo_attn.integration.lookup import install as install_lookup
from yolo_attn.integration.lookup import uninstall as uninstall_lookup

LOGGER = logging.getLogger("yolo_attn")

QUALIFIED_PREFIX = "yolo_attn."
_PARSER_LOCALS = ("ch", "f", "i", "n", "width", "max_channels")  # parse_model locals the entries read


@dataclass(frozen=True)
class YamlModule:
    """How one yolo_attn class appears in model YAMLs.

    Attributes:
        name (str): YAML name (also registered as ``yolo_attn.<name>``).
        cls (type): The module class.
        conv_family (bool): True for channel-changing modules (``[c2, *hyperparameters]`` rows, Conv-family
            channel handling); False for gating modules that keep their input channels.
        scaled_args (tuple[int, ...]): extra constructor positions (after ``c1, c2``) width-scaled like ``c2``.
        aliases (tuple[str, ...]): further YAML names for the same class.
        keep_without_args (bool): A channel-changing attention module whose ``[]`` row keeps its input channels
            (EPSA: ``[-1, 1, EPSA, []]``); such rows are built like a gating module.
        stock (type | None): For a host block (``yolo_attn.integration.hosts``): the Ultralytics block whose parser
            treatment it gets (``C2f``, ``C3``, ``C3k2``, ``C2PSA``); its rows are the stock row plus the attention.
    """

    name: str
    cls: type
    conv_family: bool = False
    scaled_args: tuple[int, ...] = ()
    aliases: tuple[str, ...] = ()
    keep_without_args: bool = False
    stock: type | None = None

    @property
    def keep_name(self) -> str:
        """Internal parser name of the channel-keeping form (``keep_without_args`` modules)."""
        return f"{QUALIFIED_PREFIX}{self.name}(keep channels)"


def _yaml_modules() -> tuple[YamlModule, ...]:
    """Every attention module of the registry, then the MobileNetV3 building blocks of the MAY YAMLs."""
    from yolo_attn.nn import ATTENTION, MobileNetV3Block, MobileNetV3Stem

    attention = tuple(
        YamlModule(s.name, s.cls, s.changes_channels, aliases=s.aliases, keep_without_args=s.changes_channels)
        for s in ATTENTION.values()
    )
    blocks = (
        YamlModule("MobileNetV3Stem", MobileNetV3Stem, conv_family=True),
        YamlModule("MobileNetV3Block", MobileNetV3Block, conv_family=True, scaled_args=(2,)),
    )
    return attention + blocks


YAML_MODULES: tuple[YamlModule, ...] = _yaml_modules()

_lock = threading.RLock()
_state: dict = {"registered": False, "names": {}, "original_parse_model": None}


def _parser_locals(name: str) -> dict:
    """Return the locals of the running ``parse_model`` call that is constructing a yolo_attn module."""
    code = _state["original_parse_model"].__code__ if _state["original_parse_model"] else None
    frame = sys._getframe(2)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    if frame is None:
        raise TypeError(
            f"{name} YAML entry: construct yolo_attn modules directly (e.g. yolo_attn.nn.{name.split('.')[-1]}(c1, ...)); "
            "this entry only works inside ultralytics.nn.tasks.parse_model"
        )
    return frame.f_locals


def _row_error(name: str, loc: dict, args, err: Exception) -> YamlModuleError:
    return YamlModuleError(f"model YAML layer {loc.get('i')} ({name}, args {_plain(args)}): {err}")


#: Largest tensor (elements) a yolo_attn row may hold or compute on a 1 x c1 x 64 x 64 probe input: 2**26, i.e.
#: 256 MiB in float32, far above any real layer (YOLOv8x's largest weight has 2.4 M elements, its largest P3 map at
#: 64 x 64 1.3 M) and far below what an absurd hyperparameter asks (ECA k_size 1e9, MLCA local_size 1e5).
SIZE_LIMIT = 2**26
_PROBE_HW = 64


class _Largest:
    """Records the largest tensor any aten op returns (used on the meta device, where nothing is allocated)."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        largest = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in torch.utils._pytree.tree_leaves(out):
                    if isinstance(t, torch.Tensor):
                        largest.numel = max(largest.numel, t.numel())
                return out

        self.numel, self._mode = 0, Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


def _size(module: nn.Module, c1: int) -> int:
    """Elements of the largest parameter set or tensor ``module`` (on the meta device) holds or computes on a
    1 x c1 x 64 x 64 input."""
    size = sum(t.numel() for t in (*module.parameters(), *module.buffers()))
    if size <= SIZE_LIMIT:
        try:
            with _Largest() as largest, torch.no_grad():
                module.eval()(torch.empty(1, c1, _PROBE_HW, _PROBE_HW, device="meta"))
            size = max(size, largest.numel)
        except (TypeError, ValueError):  # bad arguments that only a forward reveals (e.g. groups=True)
            raise
        except Exception:  # an op without a meta kernel: the real dry forward after the build reports problems
            pass
    return size


def _bounded_build(build, c1: int, display: str, loc: dict, args, parts=None) -> nn.Module:
    """``build()`` once on the meta device (constructor checks, then the size of the yolo_attn module, or of each
    ``parts(module)`` -> [(attention module, its channels)] of a host block), then for real. A row whose module would
    exceed ``SIZE_LIMIT`` elements fails here, naming the layer and the limit, instead of in the allocator;
    constructor errors name the layer too."""
    try:
        with torch.device("meta"):
            probe = build()
        for module, c in parts(probe) if parts else [(probe, c1)]:
            size = _size(module, c)
            if size > SIZE_LIMIT:
                raise ValueError(
                    f"the module would hold or compute a tensor of {size:,} elements (on a 1x{c}x{_PROBE_HW}x"
                    f"{_PROBE_HW} input); the limit is {SIZE_LIMIT:,} (2**26) elements per yolo_attn module: a "
                    "hyperparameter is far too large"
                )
        return build()
    except (ValueError, TypeError, AssertionError) as e:  # Ultralytics' blocks assert (C2PSA: c1 == c2)
        raise _row_error(display, loc, args, e if str(e) else type(e)(f"{type(e).__name__} in the constructor")) from e


class _Verbatim:
    """A string hyperparameter of a yolo_attn row, shielded from ``parse_model``'s own string handling.

    ``parse_model`` replaces every string argument that names one of its local variables by that variable (ELA's
    ``phi='t'`` became the local ``t``, a class) and ``ast.literal_eval``s the rest. The row check wraps our rows'
    strings in this type; the entry unwraps them and applies ``literal_eval`` alone (``"None"`` -> None, ``"7"`` -> 7).
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:  # parse_model prints the arguments of each layer
        return repr(self.text)

    def value(self):
        import ast

        try:
            return ast.literal_eval(self.text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return self.text


def _unwrap(args) -> list:
    return [a.value() if isinstance(a, _Verbatim) else a for a in args]


def _plain(args) -> list:
    return [a.text if isinstance(a, _Verbatim) else a for a in args]


class _HostMeta(type):
    """Metaclass of host-block entries: equal to (and hashing like) the stock block the host extends.

    As for ``_ConvFamilyMeta``: ``m in base_modules`` and ``m in repeat_modules`` then hold, so the parser injects
    ``c1``, width-scales ``c2`` and passes the depth-scaled ``n`` as the block's third argument, exactly as for the
    stock block. Identity tests (``m is C3k2``) do not hold; the entry repeats what they do (see ``_host_entry``).
    """

    def __eq__(cls, other):
        return other is cls or other is cls.yolo_attn_stock

    def __hash__(cls):
        return hash(cls.yolo_attn_stock)


class _ConvFamilyMeta(type):
    """Metaclass of channel-changing YAML entries: equal to (and hashing like) Ultralytics' ``Conv``.

    ``parse_model`` decides channel handling with ``m in base_modules`` (a frozenset holding ``Conv``), so an entry
    that compares equal to ``Conv`` gets exactly the Conv-family treatment. Only the entry class has this
    metaclass; the modules it builds are ordinary classes.
    """

    _conv: type = None

    def __eq__(cls, other):
        return other is cls or (other is _ConvFamilyMeta._conv and other is not None)

    def __hash__(cls):
        return hash(_ConvFamilyMeta._conv)


def _gate_entry(spec: YamlModule, module_cls: type, display: str) -> type:
    def __new__(entry, *args):
        loc = _parser_locals(display)
        c1, hp = loc["ch"][loc["f"]], _unwrap(args)
        return _bounded_build(lambda: module_cls(c1, *hp), c1, display, loc, args)

    return type(module_cls.__name__, (nn.Module,), _entry_namespace(module_cls, __new__, display))


def _conv_entry(spec: YamlModule, module_cls: type, display: str) -> type:
    from ultralytics.utils.ops import make_divisible

    def __new__(entry, c1, c2, *rest):
        loc = _parser_locals(display)
        rest = _unwrap(rest)
        for pos in spec.scaled_args:  # scale further widths exactly like c2
            j = pos - 2
            if j < len(rest) and isinstance(rest[j], (int, float)):
                rest[j] = make_divisible(min(rest[j], loc["max_channels"]) * loc["width"], 8)
        return _bounded_build(lambda: module_cls(c1, c2, *rest), c1, display, loc, [c2, *rest])

    return _ConvFamilyMeta(module_cls.__name__, (nn.Module,), _entry_namespace(module_cls, __new__, display))


def _host_entry(spec: YamlModule, host: type, display: str) -> type:
    """Entry of a host block (``C2fWith`` ...): built like its stock block, plus the attention (the last argument).

    The parser's ``m is C3k2`` rule (``c3k=True`` at scales m/l/x) does not see the entry, so it is applied here.
    """
    from yolo_attn.integration.hosts import C3k2With, attention_parts

    def __new__(entry, c1, c2, n, *rest):
        loc = _parser_locals(display)
        *stock, attention = _unwrap(rest)
        if host is C3k2With and loc.get("scale") in ("m", "l", "x"):
            stock[0:1] = [True]
        return _bounded_build(
            lambda: host(c1, c2, n, *stock, attention=attention),
            c1,
            display,
            loc,
            [c2, *stock, attention],
            attention_parts,
        )

    namespace = {**_entry_namespace(host, __new__, display), "yolo_attn_stock": spec.stock}
    return _HostMeta(host.__name__, (nn.Module,), namespace)


def _entry_namespace(module_cls: type, new, display: str) -> dict:
    # parse_model prints and stores str(m)[8:-2] as the layer type: show the real class path.
    return {
        "__new__": new,
        "__module__": module_cls.__module__,
        "__qualname__": module_cls.__qualname__,
        "__doc__": f"YAML entry for {module_cls.__module__}.{module_cls.__qualname__} (registered as {display}).",
        "yolo_attn_target": module_cls,
    }


def _check_compatibility(tasks) -> None:
    """Fail loudly, naming the supported versions, if Ultralytics lacks what the mechanism relies on."""
    import ultralytics

    problems = []
    parse_model = getattr(tasks, "parse_model", None)
    original = getattr(parse_model, "__wrapped__", parse_model)
    if not callable(original) or not hasattr(original, "__code__"):
        problems.append("ultralytics.nn.tasks.parse_model is missing")
    else:
        code = original.__code__
        missing = [v for v in _PARSER_LOCALS if v not in code.co_varnames + code.co_cellvars]
        if missing:
            problems.append(f"parse_model has no local variable(s) {missing}")
    if not isinstance(getattr(tasks, "Conv", None), type):
        problems.append("ultralytics.nn.tasks.Conv is missing")
    if problems:
        raise UltralyticsCompatibilityError(
            f"yolo_attn cannot register into ultralytics {ultralytics.__version__}: {'; '.join(problems)}. "
            f"Supported: {SUPPORTED_ULTRALYTICS}."
        )


def _self_test(tasks) -> None:
    """Build a tiny YAML through the real parser and check the channels it records (cheap: a few ms)."""
    import ultralytics

    d = {
        "nc": 2,
        "scales": {"s": [1.0, 0.5, 256]},
        "scale": "s",
        "backbone": [
            [-1, 1, "Conv", [32, 3, 2]],  # 16 channels at width 0.5
            [-1, 1, "yolo_attn.EPSA", [256, 2]],  # Conv-family: 16 -> 128 (256 * 0.5), stride 2
            [-1, 1, "yolo_attn.ECA", []],  # gating: must receive and keep 128
            [-1, 1, "Conv", [32, 1, 1]],  # must receive 128 input channels
        ],
        "head": [],
    }
    try:
        model, _ = tasks.parse_model(d, ch=3, verbose=False)
        y = model.eval()(torch.zeros(1, 3, 32, 32))  # wrong c1 or a wrongly recorded c2 cannot run
        ok = y.shape == (1, 16, 8, 8) and model[1].type.endswith("EPSA") and model[2].type.endswith("ECA")
    except Exception as e:  # any failure here means the parser changed under us
        raise UltralyticsCompatibilityError(
            f"yolo_attn's channel injection failed its self-test on ultralytics {ultralytics.__version__} "
            f"({type(e).__name__}: {e}). Supported: {SUPPORTED_ULTRALYTICS}."
        ) from e
    if not ok:
        raise UltralyticsCompatibilityError(
            f"yolo_attn's channel injection gave wrong channels on ultralytics {ultralytics.__version__}. "
            f"Supported: {SUPPORTED_ULTRALYTICS}."
        )


def _resolvable(tasks, name: str) -> bool:
    if name.startswith("nn."):
        return hasattr(torch.nn, name[3:])
    if name.startswith("torchvision.ops."):
        import torchvision

        return hasattr(torchvision.ops, name[16:])
    return name in vars(tasks)


def _suggestions(tasks, name: str) -> list[str]:
    known = sorted(
        {k for k, v in vars(tasks).items() if isinstance(v, type) and issubclass(v, nn.Module)}
        | set(registered_names())
    )
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[c] for c in close]


def _rewrite(d: dict, tasks) -> dict:
    """Check every row; return ``d`` with yolo_attn rows prepared for the parser (see ``_check_row``)."""
    out, i = dict(d), 0
    for part in ("backbone", "head"):
        rows = d.get(part) or []
        if not isinstance(rows, list):
            raise YamlModuleError(
                f"model YAML: '{part}' must be a list of [from, repeats, module, args] rows, got {rows!r}"
            )
        checked = []
        for row in rows:
            if not (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str)):
                raise YamlModuleError(
                    f"model YAML layer {i}: a row is [from, repeats, module, args] with the module's name as a string, "
                    f"got {row!r}"
                )
            checked.append(_check_row(tasks, i, *row))
            i += 1
        if part in d:
            out[part] = checked
    return out


def _check_from(i: int, f, name: str, single: bool) -> None:
    """``from`` of a yolo_attn row: an earlier layer (``-1`` the previous, absolute indices below ``i``)."""
    sources = [f] if single or isinstance(f, int) else f
    ok = isinstance(sources, list) and sources and all(isinstance(s, int) and not isinstance(s, bool) for s in sources)
    if single and not (isinstance(f, int) and not isinstance(f, bool)):
        raise YamlModuleError(
            f"model YAML layer {i} ({name}): a gating module takes exactly one input, got from={f!r}; "
            "use a single index such as -1"
        )

    def earlier(s: int) -> bool:  # layer 0 reads the image, which from=-1 names
        return s == -1 if i == 0 else (-i <= s <= -1 or 0 <= s < i)

    if not ok or not all(earlier(s) for s in sources):
        known = "-1 (the image)" if i == 0 else f"-1 (the previous layer), -{i}..-1, or 0..{i - 1}"
        raise YamlModuleError(f"model YAML layer {i} ({name}): from={f!r} must name earlier layers: {known}")


def _check_row(tasks, i: int, f, n, name: str, args):
    """Check one row and, for a yolo_attn module, its structure; wrap its strings so the parser passes them through.

    Rows of Ultralytics' own modules only get their name checked. A yolo_attn row must be well formed before the
    parser sees it: its ``from`` names earlier layers, ``repeats`` is a positive integer, ``args`` a list, and a
    channel-changing module's first argument (c2) a positive number; otherwise Ultralytics' own code would fail with
    a bare ``TypeError`` or ``IndexError``.
    """
    if not _resolvable(tasks, name):
        hint = _suggestions(tasks, name)
        raise UnknownModuleError(
            f"model YAML layer {i}: unknown module '{name}'."
            + (f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
            + f" yolo_attn registers: {', '.join(registered_names(qualified=False))} (also as yolo_attn.<Name>)."
        )
    spec = _state["names"].get(name)
    if spec is None or name == spec.keep_name:
        return [f, n, name, args]
    if spec.stock is not None:
        return _check_host_row(i, f, n, name, args)
    if not isinstance(args, list):
        raise YamlModuleError(
            f"model YAML layer {i} ({name}): args must be a list of hyperparameters such as [] or ['L'], got {args!r}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise YamlModuleError(f"model YAML layer {i} ({name}): repeats must be an integer >= 1, got {n!r}")
    keeps_channels = not spec.conv_family or (spec.keep_without_args and not args)
    _check_from(i, f, name, single=True)
    if spec.conv_family and n > 1:
        raise YamlModuleError(
            f"model YAML layer {i} ({name}): n={n} repeats of a channel-changing module would all get the same "
            "input channels; write one row per block (n=1)"
        )
    if not keeps_channels:
        c2 = args[0]
        if isinstance(c2, bool) or not isinstance(c2, (int, float)) or not c2 > 0 or c2 != c2 or c2 == float("inf"):
            raise YamlModuleError(
                f"model YAML layer {i} ({name}, args {args}): the first argument is the output channels c2 "
                f"(a positive integer, width-scaled like Conv), got {c2!r}"
            )
        for pos in spec.scaled_args:  # further widths, scaled like c2
            j = pos - 1
            if j < len(args) and (isinstance(args[j], bool) or not isinstance(args[j], (int, float)) or args[j] <= 0):
                raise YamlModuleError(
                    f"model YAML layer {i} ({name}, args {args}): argument {j} is a channel width (a positive "
                    f"integer), got {args[j]!r}"
                )
    args = [_Verbatim(a) if isinstance(a, str) else a for a in args]
    if spec.keep_without_args and not args:
        return [f, n, spec.keep_name, args]
    return [f, n, name, args]


def _check_host_row(i: int, f, n, name: str, args):
    """A host row is the stock block's row plus the attention as its last argument: a registered name or
    ``[name, *hyperparameters]``. Unknown modules fail here, naming the layer; channel fit fails at build."""
    from yolo_attn.nn import find_attention

    example = f"[-1, 2, {name}, {_HOST_EXAMPLES.get(name.removeprefix(QUALIFIED_PREFIX), '[256, MLCA]')}]"
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise YamlModuleError(f"model YAML layer {i} ({name}): repeats must be an integer >= 1, got {n!r}")
    _check_from(i, f, name, single=True)
    c2 = args[0] if isinstance(args, list) and len(args) >= 2 else None
    if isinstance(c2, bool) or not isinstance(c2, (int, float)) or not 0 < c2 < float("inf"):
        raise YamlModuleError(
            f"model YAML layer {i} ({name}, args {args!r}): args are the stock block's arguments (c2 first, a "
            f"positive number) followed by the attention module, e.g. {example}"
        )
    att = args[-1]
    att_name = att if isinstance(att, str) else att[0] if isinstance(att, list) and att else None
    if not isinstance(att_name, str):
        raise YamlModuleError(
            f"model YAML layer {i} ({name}, args {args!r}): the last argument names the attention module, "
            f"got {att!r}; e.g. {example}"
        )
    try:
        find_attention(att_name)
    except ValueError as e:
        raise UnknownModuleError(f"model YAML layer {i} ({name}): {e}") from None
    return [f, n, name, [*args[:-1], _Verbatim(att) if isinstance(att, str) else att]]


_HOST_EXAMPLES = {
    "C2fWith": "[256, True, MLCA]",
    "C3With": "[256, False, [ELA, S]]",
    "C3k2With": "[512, False, 0.25, MLCA]",
    "C2PSAWith": "[1024, EMA]",
}
_LEGACY_OFF = {"C3k2", "A2C2f", "C2fCIB"}  # stock rows that make parse_model build the non-legacy (YOLO11+) heads
_LEGACY_HEADS = {"Detect", "Segment", "Pose", "OBB", "YOLOEDetect", "YOLOESegment"}  # heads that read it


def _check_legacy(d: dict) -> None:
    """``parse_model`` builds Detect's YOLO11 form only after a row whose module *is* ``C3k2`` (``A2C2f``,
    ``C2fCIB``); a YAML whose every C3k2 is a ``C3k2With`` would silently get the YOLOv8 head. Refuse it."""
    names = {r[2] for part in ("backbone", "head") for r in d.get(part) or [] if isinstance(r, (list, tuple))}
    names = {str(x).removeprefix(QUALIFIED_PREFIX) for x in names}
    heads = {x.removesuffix("26") for x in names}
    if "C3k2With" in names and heads & _LEGACY_HEADS and not names & _LEGACY_OFF:
        raise YamlModuleError(
            "model YAML: every C3k2 row is a C3k2With; Ultralytics then builds the YOLOv8 (legacy) form of the head, "
            "not the YOLO11 one. Keep at least one stock C3k2 row (e.g. put the attention in the neck blocks only)"
        )


def _make_wrapper(original):
    import functools

    import ultralytics.nn.tasks as tasks

    @functools.wraps(original)
    def parse_model(d, ch, verbose=True):
        psa = _state["names"].get("PSA")
        check_model_dict(d, psa_is_ours=psa is not None and psa.name != "PSA")
        rows = _rewrite(d, tasks)
        _check_legacy(rows)
        return original(rows, ch, verbose)

    parse_model.__yolo_attn__ = True
    return parse_model


def _fold_after(fuse):
    """``BaseModel.fuse`` followed by ``fold_batchnorms`` (Ultralytics' fuse folds its own layer types only)."""
    import functools

    from yolo_attn.nn._common import fold_batchnorms

    @functools.wraps(fuse)
    def fused(self, *args, **kwargs):
        out = fuse(self, *args, **kwargs)
        fold_batchnorms(self)
        return out

    fused.__yolo_attn__ = True
    return fused


def _checkpoint_classes(classes: list[type]) -> list[type]:
    """Every nn.Module class defined in the modules of ``classes`` (internal sub-blocks are pickled too)."""
    found = []
    for module_name in sorted({c.__module__ for c in classes}):
        for obj in vars(sys.modules[module_name]).values():
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module_name:
                found.append(obj)
    return found


def _ddp_marker_callback(trainer) -> None:
    """Default trainer callback: pickling the trainer's callbacks for DDP references this module, so each DDP rank
    imports yolo_attn (and registers) while unpickling its launch state, before it rebuilds the model from YAML."""


def registered_names(qualified: bool = True) -> list[str]:
    """Return the YAML names yolo_attn registered (bare names first; ``qualified=False`` drops ``yolo_attn.*``)."""
    names = [k for k, spec in _state["names"].items() if k != spec.keep_name]
    return [k for k in names if qualified or not k.startswith(QUALIFIED_PREFIX)]


def is_registered() -> bool:
    """Return True once :func:`register` has completed in this process."""
    return _state["registered"]


def _yaml_names(tasks) -> tuple[list[type], dict[str, object]]:
    """Set every YAML name of the registry's modules and the host blocks on ``tasks`` (never shadowing an Ultralytics
    name); returns the classes (for the safe-load allow-list) and the names set."""
    classes, names = [], {}
    for spec in YAML_MODULES:
        cls = spec.cls
        classes.append(cls)
        factory = _conv_entry if spec.conv_family else _gate_entry
        for name in (spec.name, *spec.aliases):
            qualified = QUALIFIED_PREFIX + name
            setattr(tasks, qualified, factory(spec, cls, qualified))
            names[qualified] = spec
            existing = vars(tasks).get(name)
            if existing is not None and not getattr(existing, "yolo_attn_target", None):
                LOGGER.info(
                    "yolo_attn: '%s' already resolves in ultralytics.nn.tasks to %s; not overriding it. "
                    "Use '%s' for yolo_attn's %s.",
                    name,
                    getattr(existing, "__qualname__", existing),
                    qualified,
                    spec.name,
                )
                continue
            setattr(tasks, name, factory(spec, cls, name))
            names[name] = spec
    from yolo_attn.integration.hosts import HOSTS

    for name, (host, stock) in HOSTS.items():
        spec = YamlModule(name, host, stock=stock)
        classes.append(host)
        for yaml_name in (QUALIFIED_PREFIX + name, name):
            if yaml_name == name and name in vars(tasks):  # never shadow an Ultralytics name
                continue
            setattr(tasks, yaml_name, _host_entry(spec, host, yaml_name))
            names[yaml_name] = spec
    for spec in YAML_MODULES:
        if spec.keep_without_args:
            setattr(tasks, spec.keep_name, _gate_entry(spec, spec.cls, spec.name))
            names[spec.keep_name] = spec
    return classes, names


def register() -> list[str]:
    """Register yolo_attn's modules into Ultralytics' model-YAML parser (idempotent, thread-safe).

    Returns:
        (list[str]): The YAML names now resolvable (bare and ``yolo_attn.``-qualified).

    Raises:
        UltralyticsCompatibilityError: If the installed Ultralytics breaks an assumption; names the supported versions.

    Examples:
        >>> import yolo_attn  # registers on import
        >>> from ultralytics import YOLO
        >>> model = YOLO("cfg/models/yolov8s-mlca.yaml")
    """
    with _lock:
        if _state["registered"]:
            return registered_names()
        version = check_supported()  # before any Ultralytics import: an old release fails here, named
        try:
            import ultralytics.nn.tasks as tasks  # may run the autoload hook, which calls register() re-entrantly
            from ultralytics.utils.callbacks import base as callbacks_base
        except ImportError as e:
            raise UltralyticsCompatibilityError(
                f"yolo_attn cannot import ultralytics {version} ({type(e).__name__}: {e}). "
                f"Supported: {SUPPORTED_ULTRALYTICS}."
            ) from e

        if _state["registered"]:
            return registered_names()
        _check_compatibility(tasks)
        current = tasks.parse_model
        original = current.__wrapped__ if getattr(current, "__yolo_attn__", False) else current
        _state["original_parse_model"] = original
        _ConvFamilyMeta._conv = tasks.Conv

        classes, names = _yaml_names(tasks)
        _state["names"] = names

        if not getattr(tasks.parse_model, "__yolo_attn__", False):
            tasks.parse_model = _make_wrapper(original)
        if not getattr(tasks.BaseModel.fuse, "__yolo_attn__", False):  # then fold the BNs inside attention modules
            tasks.BaseModel.fuse = _fold_after(tasks.BaseModel.fuse)
        install_lookup()  # the shipped model and dataset YAMLs by bare name
        torch.serialization.add_safe_globals(_checkpoint_classes(classes))  # loads under ULTRALYTICS_SAFE_LOAD=1
        hooks = callbacks_base.default_callbacks.setdefault("on_pretrain_routine_start", [])
        if _ddp_marker_callback not in hooks:
            hooks.append(_ddp_marker_callback)
        _state["registered"] = True
        try:
            _self_test(tasks)
        except UltralyticsCompatibilityError:
            unregister()
            raise
        return registered_names()


def unregister() -> None:
    """Undo :func:`register` (restores ``parse_model`` and removes the names); mainly for tests."""
    with _lock:
        import ultralytics.nn.tasks as tasks
        from ultralytics.utils.callbacks import base as callbacks_base

        for name in list(_state["names"]):
            if getattr(vars(tasks).get(name), "yolo_attn_target", None):
                delattr(tasks, name)
        if getattr(tasks.parse_model, "__yolo_attn__", False):
            tasks.parse_model = tasks.parse_model.__wrapped__
        if getattr(tasks.BaseModel.fuse, "__yolo_attn__", False):
            tasks.BaseModel.fuse = tasks.BaseModel.fuse.__wrapped__
        uninstall_lookup()
        hooks = callbacks_base.default_callbacks.get("on_pretrain_routine_start", [])
        if _ddp_marker_callback in hooks:
            hooks.remove(_ddp_marker_callback)
        _state.update(registered=False, names={})
