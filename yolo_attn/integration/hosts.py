"""Host blocks: Ultralytics' CSP blocks with any registered attention module inside (in-block and C2PSA placement).

Where the field puts attention inside a CSP block (``C3k2_EMA``, ``C2f_CBAM``, ... in public YOLO zoos: one class
per block × module), one host per block here takes the module as an argument, so every registered module is
available in every host with no further code:

- :class:`C2fWith`, :class:`C3With`, :class:`C3k2With` (with or without ``C3k``, and YOLO26's ``attn=True`` form):
  the stock block with an attention module inside every ``Bottleneck`` it contains (``n`` per C2f/C3 block, ``2n``
  per C3k2 block with ``c3k``, since each ``C3k`` holds two bottlenecks);
- :class:`C2PSAWith`: YOLO11's ``C2PSA`` with the position-sensitive self-attention of each ``PSABlock`` replaced by
  the module (``x + module(x)``, then the block's unchanged feed-forward).

YAML: the stock row with the module appended as its last argument, as a name or ``[name, *hyperparameters]``
(MobileNetV3Block's attention argument has the same form)::

    - [-1, 3, C2fWith, [256, True, MLCA]]
    - [-1, 2, C3k2With, [512, False, 0.25, [ELA, S]]]
    - [-1, 2, C2PSAWith, [1024, EMA]]

The host passes its channels to the module (the row carries only hyperparameters). The parser gives the host the
stock block's treatment (``c1`` injected, ``c2`` width-scaled, ``n`` depth-scaled; docs/design.md §5).

State-dict layout: a host is built as the stock block (same constructor, same random-number draws), then each
bottleneck is swapped for a :class:`BottleneckWith` holding the same ``cv1``/``cv2`` modules plus ``attention``, so
every stock key (``m.0.cv1.conv.weight`` ...) is unchanged and stock weights load into it; only ``attention.*``
keys are new. In ``C2PSAWith`` the keys ``m.<i>.attn.*`` are the module's instead of the self-attention's.

This file subclasses Ultralytics' blocks, so it lives in the integration package (the only place that imports
Ultralytics internals) and is imported at registration. Class paths are a checkpoint contract.
"""

from __future__ import annotations

import torch
from torch import nn
from ultralytics.nn.modules.block import C3, Bottleneck, C2f

try:
    from ultralytics.nn.modules.block import C2PSA, C3k2, PSABlock
except ImportError:  # Ultralytics < 8.3.0 (YOLO11's blocks came with 8.3.0): C2fWith and C3With only
    C2PSA = C3k2 = PSABlock = None

from yolo_attn.nn.mobilenetv3 import _attention

__all__ = [
    "HOSTS",
    "BottleneckWith",
    "C2PSAWith",
    "C2fWith",
    "C3With",
    "C3k2With",
    "attention_parts",
    "insert_attention",
]


class BottleneckWith(Bottleneck):
    """Ultralytics' ``Bottleneck`` with an attention module after its second convolution, before the residual add.

    ``y = attention(cv2(cv1(x)))``, output ``x + y`` when the bottleneck has a shortcut, else ``y``.

    Why there: the attention re-weights what the residual branch adds, not the identity path. That is how the
    modules' own papers insert them into residual blocks: SE on the residual branch "before summation with the
    identity branch" (Hu et al. 2018, Fig. 3, SE-ResNet module), CBAM on the residual branch's output before the
    addition (Woo et al. 2018, Fig. 3), ECA in the same place (Wang et al. 2020, Fig. 2 and its ResNet code); the
    YOLO zoos that write ``C3k2_<Module>`` classes mostly do the same inside ``Bottleneck``. Ultralytics' ``Conv``
    ends in BatchNorm and SiLU, so the module sees the activated branch output (a ResNet's last BN has no ReLU before
    the addition; that is the one difference). Built from a stock bottleneck: ``cv1``/``cv2`` and their state-dict
    keys are the stock ones; with ``nn.Identity`` as the module the block computes exactly the stock bottleneck.

    Args:
        bottleneck (Bottleneck): The stock bottleneck whose convolutions and shortcut this block takes over.
        attention (nn.Module): Channel-keeping module on ``bottleneck``'s output channels.
    """

    def __init__(self, bottleneck: Bottleneck, attention: nn.Module):
        nn.Module.__init__(self)  # take over the stock modules instead of building new ones
        self.cv1, self.cv2, self.add = bottleneck.cv1, bottleneck.cv2, bottleneck.add
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + attention(cv2(cv1(x)))`` (without ``x +`` when there is no shortcut)."""
        y = self.attention(self.cv2(self.cv1(x)))
        return x + y if self.add else y


def insert_attention(block: nn.Module, attention, owner: str) -> int:
    """Swap every stock ``Bottleneck`` inside ``block`` for a :class:`BottleneckWith` holding ``attention``.

    Args:
        block (nn.Module): A stock CSP block (C2f, C3, C3k2; nested ``C3k`` blocks included).
        attention: A registered module's name, ``[name, *hyperparameters]``, None for ``nn.Identity``, or a callable
            ``channels -> nn.Module``.
        owner (str): The host's name, for error messages.

    Returns:
        (int): The number of attention modules inserted.
    """
    found = [
        (parent, name, child)
        for parent in block.modules()
        for name, child in parent.named_children()
        if type(child) is Bottleneck  # exact type: never wrap twice
    ]
    for parent, name, child in found:
        setattr(parent, name, BottleneckWith(child, build_attention(attention, child.cv2.conv.out_channels, owner)))
    return len(found)


def build_attention(attention, channels: int, owner: str) -> nn.Module:
    """Build ``attention`` (see :func:`insert_attention`) on ``channels`` channels."""
    if callable(attention) and not isinstance(attention, (str, list, tuple)):
        return attention(channels)
    return _attention(attention, channels, owner)


class C2fWith(C2f):
    """Ultralytics' ``C2f`` with ``attention`` inside each of its ``n`` bottlenecks (see :class:`BottleneckWith`).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        n (int): Bottlenecks.
        shortcut (bool): Residual adds inside the bottlenecks.
        g (int): Groups of the bottlenecks' second convolution.
        e (float): Hidden-width ratio.
        attention: Registered module name or ``[name, *hyperparameters]`` (built on ``int(c2 * e)`` channels),
            None for ``nn.Identity`` (then the block computes exactly ``C2f``), or a callable ``channels -> module``.

    Examples:
        >>> block = C2fWith(64, 64, 2, True, attention="MLCA")
        >>> block(torch.zeros(1, 64, 20, 20)).shape
        torch.Size([1, 64, 20, 20])
    """

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5, attention=None
    ):
        super().__init__(c1, c2, n, shortcut, g, e)
        insert_attention(self, attention, type(self).__name__)


class C3With(C3):
    """Ultralytics' ``C3`` with ``attention`` inside each of its ``n`` bottlenecks (see :class:`BottleneckWith`).

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        n (int): Bottlenecks.
        shortcut (bool): Residual adds inside the bottlenecks.
        g (int): Groups of the bottlenecks' second convolution.
        e (float): Hidden-width ratio.
        attention: As for :class:`C2fWith`.
    """

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5, attention=None):
        super().__init__(c1, c2, n, shortcut, g, e)
        insert_attention(self, attention, type(self).__name__)


class C3k2With(C3k2 or nn.Module):
    """Ultralytics' ``C3k2`` with ``attention`` inside every bottleneck it holds (see :class:`BottleneckWith`).

    ``c3k=False``: ``n`` bottlenecks, ``n`` modules. ``c3k=True``: ``n`` ``C3k`` blocks of two bottlenecks each,
    ``2n`` modules. ``attn=True`` (YOLO26's last neck block): each ``Bottleneck`` + ``PSABlock`` pair gets the module
    in its bottleneck; the PSABlock is unchanged. The parser sets ``c3k=True`` at scales m/l/x as for ``C3k2``.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        n (int): Inner blocks.
        c3k (bool): ``C3k`` inner blocks instead of bottlenecks.
        e (float): Hidden-width ratio.
        attn (bool): YOLO26's bottleneck + PSABlock inner blocks.
        g (int): Groups.
        shortcut (bool): Residual adds inside the bottlenecks.
        attention: As for :class:`C2fWith`.
    """

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        c3k: bool = False,
        e: float = 0.5,
        attn: bool = False,
        g: int = 1,
        shortcut: bool = True,
        attention=None,
    ):
        super().__init__(c1, c2, n, c3k, e, attn, g, shortcut)  # TypeError on Ultralytics < 8.3.0: no C3k2
        insert_attention(self, attention, type(self).__name__)


class C2PSAWith(C2PSA or nn.Module):
    """YOLO11's ``C2PSA`` with the self-attention of each ``PSABlock`` replaced by ``attention``.

    Each PSABlock computes ``x = x + attn(x)`` then ``x = x + ffn(x)``; here ``attn`` is the registered module on
    the block's ``int(c1 * e)`` hidden channels, so the module keeps PSABlock's residual form (``x + module(x)``)
    and the feed-forward after it. Every other key of the stock state dict (``cv1``, ``cv2``, ``m.<i>.ffn``) is
    unchanged; ``m.<i>.attn.*`` are the module's.

    Args:
        c1 (int): Input channels (C2PSA requires ``c2 == c1``).
        c2 (int): Output channels.
        n (int): PSABlocks.
        e (float): Hidden-width ratio.
        attention: As for :class:`C2fWith` (None: ``nn.Identity``).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5, attention=None):
        super().__init__(c1, c2, n, e)
        for block in self.m:
            if isinstance(block, PSABlock):
                block.attn = build_attention(attention, self.c, type(self).__name__)


#: YAML name -> (host class, the Ultralytics block whose parser treatment it gets).
HOSTS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "C2fWith": (C2fWith, C2f),
    "C3With": (C3With, C3),
    **({"C3k2With": (C3k2With, C3k2), "C2PSAWith": (C2PSAWith, C2PSA)} if C3k2 is not None else {}),
}


def attention_parts(host: nn.Module) -> list[tuple[nn.Module, int]]:
    """The attention modules of a host block with their channel counts, one per distinct channel count."""
    if isinstance(host, C2PSAWith):
        found = [(b.attn, host.c) for b in host.m]
    else:
        found = [(b.attention, b.cv2.conv.out_channels) for b in host.modules() if isinstance(b, BottleneckWith)]
    return list({c: (m, c) for m, c in reversed(found)}.values())
