"""The module registry: one declaration per attention module, read by everything that lists modules.

The Ultralytics integration (YAML names), the MobileNetV3 attention slot, the model zoo (file tags, hyperparameters per
family), the benchmark, compare (named sets, attention maps), the weight transfer and the tests all read
``ATTENTION``. Each module file registers itself (``SPEC = register(AttentionSpec(...))`` at its end) and
``yolo_attn.nn`` imports every module file, so adding a module is one file in ``yolo_attn/nn/`` and its literal
transcription in ``yolo_attn/nn/reference.py``; YAMLs, README tables, bench rows, compare sets and parametrised tests follow by
regeneration. Whether a module fits a slot is decided by building it (its own constructor's validation, see
``AttentionSpec.fits``), never by a second copy of its rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = [
    "ATTENTION",
    "FAMILIES",
    "AttentionSpec",
    "ZooVariant",
    "attention_classes",
    "find_attention",
    "register",
    "valid_names",
]

#: Model families of the zoo whose hyperparameters an entry may choose (``"*"``: any other family).
FAMILIES = ("may", "mobilenet-yolo", "yolov8", "yolo11")


@dataclass(frozen=True)
class ZooVariant:
    """A further zoo variant of a module: other hyperparameters under a file tag of their own.

    Used where a paper's code built a module differently from the module's own paper (the MLCA paper's MAY code
    has its own CBAM and CoordAtt): both networks get a file, each under a name that says which it is.

    Attributes:
        tag (str): File-name tag (``may-<tag>.yaml``); no digit followed by n/s/m/l/x.
        families (tuple[str, ...]): Zoo families it appears in.
        hyperparameters (tuple): Constructor arguments after the channel count.
        label (str): Display name in tables.
        source (str): Where the choice comes from (written into the YAML header).
    """

    tag: str
    families: tuple[str, ...]
    hyperparameters: tuple
    label: str
    source: str


@dataclass(frozen=True)
class AttentionSpec:
    """How one attention module is known to the rest of the package.

    Attributes:
        name (str): Class name, YAML name and key of ``ATTENTION`` (also registered as ``yolo_attn.<name>``).
        cls (type[nn.Module]): The module; its constructor takes the input channels first.
        paper (str): The paper that defines it.
        official (str): The official code it reproduces (repository and file).
        tag (str): File-name tag of its zoo YAMLs (``may-<tag>.yaml``); no digit followed by n/s/m/l/x, which
            Ultralytics would read as a model scale.
        aliases (tuple[str, ...]): Further YAML names.
        changes_channels (bool): A convolution replacement (``cls(c1, c2, ...)``; YAML rows ``[c2, ...]``, width
            scaled like ``Conv``); ``[]`` or an attention slot keeps the channels (``c2 = c1``).
        gate (bool): ``forward`` returns ``x * a`` with a gate ``a`` in (0, 1) (attention maps show ``a``).
        hyperparameters (Mapping[str, tuple]): Zoo hyperparameters per family in ``FAMILIES``, ``"*"`` for the rest.
        label (str): Display name, formatted with the hyperparameters (``"ELA-{0}"`` -> ``ELA-B``).
        families (tuple[str, ...] | None): Zoo families it appears in (None: every family).
        passes (tuple[int, int]): Full elementwise passes of its pooling and gating ops per input and per output
            element, plus the MACs per element of convolutions it calls functionally (which no module hook sees);
            the benchmark's analytic MAC count adds them to the conv/linear MACs.
        notes (Mapping[str, str]): Why ``hyperparameters`` were chosen, per family (``"*"`` for the rest); the zoo
            writes it into the YAML headers.
        variants (tuple[ZooVariant, ...]): Further zoo variants with other hyperparameters and their own file tags.
        order (int): Place in ``ATTENTION`` (the zoo's order, baselines first): entries are sorted by it.
    """

    name: str
    cls: type[nn.Module]
    paper: str
    official: str
    tag: str
    aliases: tuple[str, ...] = ()
    changes_channels: bool = False
    gate: bool = True
    hyperparameters: Mapping[str, tuple] = field(default_factory=lambda: {"*": ()})
    label: str = ""
    families: tuple[str, ...] | None = None
    passes: tuple[int, int] = (2, 0)
    notes: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[ZooVariant, ...] = ()
    order: int = 0

    def hp(self, family: str = "*") -> tuple:
        """Return the zoo hyperparameters for ``family``."""
        return tuple(self.hyperparameters.get(family, self.hyperparameters.get("*", ())))

    def note(self, family: str = "*") -> str:
        """Return why the zoo uses ``hp(family)`` for ``family`` ("" when there is nothing to say)."""
        return self.notes.get(family, self.notes.get("*", ""))

    def display(self, hp: tuple = ()) -> str:
        """Return the display name with hyperparameters, e.g. ``ELA-B``."""
        return (self.label or self.name).format(*hp)

    def build(self, c1: int, *hp) -> nn.Module:
        """Build the module on ``c1`` channels, keeping them (a conv replacement gets ``c2 = c1``)."""
        return self.cls(c1, c1, *hp) if self.changes_channels else self.cls(c1, *hp)

    def fits(self, c1: int, *hp) -> bool:
        """Whether the module accepts ``c1`` channels with ``hp``: its own constructor decides (on the meta device,
        so nothing is allocated)."""
        try:
            with torch.device("meta"):
                self.build(c1, *hp)
        except (ValueError, TypeError):
            return False
        return True

    def in_family(self, family: str) -> bool:
        """Whether the zoo has a variant of ``family`` with this module."""
        return self.families is None or family in self.families


#: Every attention module, in the zoo's order (``AttentionSpec.order``, baselines first). Keyed by
#: ``AttentionSpec.name``; filled by the module files themselves (`register`) when ``yolo_attn.nn`` is imported.
ATTENTION: dict[str, AttentionSpec] = {}


def register(spec: AttentionSpec) -> AttentionSpec:
    """Add ``spec`` to ``ATTENTION`` (each module file calls this for itself) and keep ``ATTENTION`` in ``order``.

    Raises:
        ValueError: Another entry already has the name, an alias or the tag.
    """
    taken = {n.lower(): s.name for s in ATTENTION.values() for n in (s.name, *s.aliases)}
    for n in (spec.name, *spec.aliases):
        if n.lower() in taken:
            raise ValueError(f"attention name {n!r} of {spec.cls.__qualname__} is taken by {taken[n.lower()]}")
    if any(s.tag == spec.tag for s in ATTENTION.values()):
        raise ValueError(f"attention tag {spec.tag!r} of {spec.name} is taken")
    specs = sorted([*ATTENTION.values(), spec], key=lambda s: s.order)
    ATTENTION.clear()
    ATTENTION.update((s.name, s) for s in specs)
    return spec


def attention_classes() -> tuple[type[nn.Module], ...]:
    """Every registered attention class (what counts as an inserted attention layer)."""
    return tuple(s.cls for s in ATTENTION.values())


def find_attention(name: str) -> AttentionSpec:
    """Return the entry named ``name`` (a name or alias, case-insensitive); ``ValueError`` naming the valid ones."""
    if isinstance(name, str):
        key = name.strip().lower()
        for spec in ATTENTION.values():
            if key in (spec.name.lower(), *(a.lower() for a in spec.aliases)):
                return spec
    raise ValueError(f"unknown attention module {name!r}; valid: {valid_names()}")


def valid_names() -> str:
    """The registered names for messages: ``'MobileNetV3SE', 'SE', ..., 'CoordAtt' (alias 'CA'), ...``."""
    return ", ".join(
        repr(s.name) + (f" (alias {', '.join(map(repr, s.aliases))})" if s.aliases else "") for s in ATTENTION.values()
    )
