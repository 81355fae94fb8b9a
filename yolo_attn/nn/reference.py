"""SLOW REFERENCES, not for use in models: literal transcriptions of the attention modules, the tests' oracle.

Each class follows the official code of its paper line by line (adaptive pools, explicit view/reshape/transpose,
nn.Linear MLPs, Python loops), written independently of the package's modules (nothing here imports them). Some
classes take switches that reproduce known-wrong variants circulating in blog posts, so the tests can show they are
told apart. ``copy_weights(package_module, reference_module)`` copies the package's weights and buffers into the
reference twin. ``REFERENCES`` maps the registry's names (``yolo_attn.nn.ATTENTION``) to these classes (same
constructor arguments) and ``VARIANTS`` lists the hyperparameter sets the tests check for each; the tests require
an entry in both for every registered module. ``build_reference(name, c1, *args)`` returns the transcription that
computes what ``ATTENTION[name](c1, *args)`` computes (``MAY_VARIANTS``: the MAY code's own CBAM and CA for the
hyperparameters that select them, else ``REFERENCES[name]`` with the same arguments). Shipped with the package so ``yolo-attn bench`` can time them.

Sources: SE — Hu et al., SENet; ECA — BangguWu/ECANet ``eca_module.py``; CBAM — Jongchan/attention-module
``MODELS/cbam.py``; CoordAtt — houqb/CoordAttention ``coordatt.py``; ELA — the listing in Xu & Wan 2024;
MLCA — wandahangFY/MLCA ``MLCA.py`` (after the Dec-2023 global-branch fix); EPSA — murufeng/EPSANet
``models/epsanet.py`` (PSAModule, SEWeightModule); MobileNetV3 SE — YOLOv5-MobileNetV3 ``SELayer``; EMA —
YOLOonMe/EMA-attention-module ``EMA_attention_module`` (commit 71f92d1; the same forward as ``EmaModule`` in its
``timm/models/layers/ema.py``, whose ``(channels, factor)`` signature is used); SimAM — ZjjConan/SimAM
``networks/attentions/simam_module.py``. The CBAM and CA of the MLCA paper's MAY models (``MAYCBAMRef``,
``MAYCARef``) — wandahangFY/MLCA ``models/common.py`` at commit afbeb47a0f140b7ac446405218ac5d993931db28
(``ChannelAttention``, ``SpatialAttention``, ``CBAM``, ``CA``; built as ``CBAM(hidden, hidden)`` and
``CA(hidden, hidden, 16)`` in ``MblNetV3_BlkCBAM`` / ``MblNetV3_BlkCA``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SERef(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=True),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class ECARef(nn.Module):
    """``make_odd=False`` is the known-wrong variant that keeps an even k (its output loses a channel)."""

    def __init__(self, channel, k_size=None, gamma=2, b=1, make_odd=True):
        super().__init__()
        if k_size is None:
            t = int(abs((math.log(channel, 2) + b) / gamma))
            k_size = (t if t % 2 else t + 1) if make_odd else t
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        y = self.sigmoid(y)
        return x * y.expand_as(x)


class _BasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, relu=True, bn=True, bias=False):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class _Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


class _ChannelGate(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=("avg", "max"), sum_first=False):
        super().__init__()
        self.mlp = nn.Sequential(
            _Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels),
        )
        self.pool_types = pool_types
        self.sum_first = sum_first

    def forward(self, x):
        if self.sum_first:  # known-wrong variant: avg + max summed BEFORE the MLP
            avg_pool = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
            max_pool = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
            channel_att_sum = self.mlp(avg_pool + max_pool)
        else:
            channel_att_sum = None
            for pool_type in self.pool_types:
                if pool_type == "avg":
                    avg_pool = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
                    channel_att_raw = self.mlp(avg_pool)
                elif pool_type == "max":
                    max_pool = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
                    channel_att_raw = self.mlp(max_pool)
                channel_att_sum = channel_att_raw if channel_att_sum is None else channel_att_sum + channel_att_raw
        scale = torch.sigmoid(channel_att_sum).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class _ChannelPool(nn.Module):
    def __init__(self, max_first=True):
        super().__init__()
        self.max_first = max_first

    def forward(self, x):
        mx, mean = torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)
        return torch.cat((mx, mean) if self.max_first else (mean, mx), dim=1)


class _SpatialGate(nn.Module):
    def __init__(self, kernel_size=7, max_first=True):
        super().__init__()
        self.compress = _ChannelPool(max_first)
        self.spatial = _BasicConv(2, 1, kernel_size, stride=1, padding=(kernel_size - 1) // 2, relu=False)

    def forward(self, x):
        x_compress = self.compress(x)
        x_out = self.spatial(x_compress)
        scale = torch.sigmoid(x_out)
        return x * scale


class CBAMRef(nn.Module):
    """``sum_first=True`` is a known-wrong variant; ``spatial_order="mean_max"`` differs from the CBAM paper's code
    (it is the order of the MAY code's CBAM, see ``MAYCBAMRef``)."""

    def __init__(self, gate_channels, kernel_size=7, reduction_ratio=16, spatial_order="max_mean", sum_first=False):
        super().__init__()
        self.ChannelGate = _ChannelGate(gate_channels, reduction_ratio, sum_first=sum_first)
        self.SpatialGate = _SpatialGate(kernel_size, max_first=spatial_order == "max_mean")

    def forward(self, x):
        x_out = self.ChannelGate(x)
        x_out = self.SpatialGate(x_out)
        return x_out


class _h_sigmoid(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.relu = nn.ReLU6(inplace=inplace)

    def forward(self, x):
        return self.relu(x + 3) / 6


class _h_swish(nn.Module):
    def __init__(self, inplace=True):
        super().__init__()
        self.sigmoid = _h_sigmoid(inplace=inplace)

    def forward(self, x):
        return x * self.sigmoid(x)


class CoordAttRef(nn.Module):
    def __init__(self, inp, reduction=32):
        super().__init__()
        oup = inp
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = _h_swish()
        self.conv_h = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        identity = x
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = torch.cat([x_h, x_w], dim=2)
        y = self.conv1(y)
        y = self.bn1(y)
        y = self.act(y)
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w).sigmoid()
        out = identity * a_w * a_h
        return out


class _MAYChannelAttention(nn.Module):
    def __init__(self, in_planes, ratio=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.f1 = nn.Conv2d(in_planes, in_planes // ratio, 1, bias=False)
        self.relu = nn.ReLU()
        self.f2 = nn.Conv2d(in_planes // ratio, in_planes, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg_out = self.f2(self.relu(self.f1(self.avg_pool(x))))
        max_out = self.f2(self.relu(self.f1(self.max_pool(x))))
        return self.sigmoid(avg_out + max_out)


class _MAYSpatialAttention(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=3 if kernel_size == 7 else 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg_out = torch.mean(x, dim=1, keepdim=True)
        max_out, _ = torch.max(x, dim=1, keepdim=True)
        return self.sigmoid(self.conv(torch.cat([avg_out, max_out], dim=1)))


class MAYCBAMRef(nn.Module):
    """CBAM of the MAY code: bias-free 1x1-conv MLP, spatial [mean, max] -> conv (no bias) -> sigmoid, no BN."""

    def __init__(self, c1, c2=None, ratio=16, kernel_size=7):
        super().__init__()
        self.channel_attention = _MAYChannelAttention(c1, ratio)
        self.spatial_attention = _MAYSpatialAttention(kernel_size)

    def forward(self, x):
        out = self.channel_attention(x) * x
        return self.spatial_attention(out) * out


class MAYCARef(nn.Module):
    """CA of the MAY code: CoordAtt with three bias-free 1x1 convs (built with reduction 16 in MAY)."""

    def __init__(self, inp, oup=None, reduction=16):
        super().__init__()
        oup = inp if oup is None else oup
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish(inplace=True)
        self.conv_h = nn.Conv2d(mip, oup, 1, 1, bias=False)
        self.conv_w = nn.Conv2d(mip, oup, 1, 1, bias=False)

    def forward(self, x):
        identity = x
        _, _, h, w = x.size()
        x_h = nn.AdaptiveAvgPool2d((h, 1))(x)
        x_w = nn.AdaptiveAvgPool2d((1, w))(x).permute(0, 1, 3, 2)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(y_h).sigmoid()
        a_w = self.conv_w(y_w.permute(0, 1, 3, 2)).sigmoid()
        return identity * a_w * a_h


class ELARef(nn.Module):
    def __init__(self, channel, phi="T"):
        super().__init__()
        kernel_size = {"T": 5, "B": 7, "S": 5, "L": 7}[phi]
        groups = {"T": channel, "B": channel, "S": channel // 8, "L": channel // 8}[phi]
        num_groups = {"T": 32, "B": 16, "S": 16, "L": 16}[phi]
        pad = kernel_size // 2
        self.conv = nn.Conv1d(channel, channel, kernel_size=kernel_size, padding=pad, groups=groups, bias=False)
        self.gn = nn.GroupNorm(num_groups, channel)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c, h, w = x.size()
        x_h = torch.mean(x, dim=3, keepdim=True).view(b, c, h)
        x_w = torch.mean(x, dim=2, keepdim=True).view(b, c, w)
        x_h = self.sigmoid(self.gn(self.conv(x_h))).view(b, c, h, 1)
        x_w = self.sigmoid(self.gn(self.conv(x_w))).view(b, c, 1, w)
        return x * x_h * x_w


class MLCARef(nn.Module):
    """Official MLCA after the Dec-2023 fix.

    Known-wrong switches: ``global_mode="buggy"`` (pre-fix (C, B, 1) reshape that mixes samples),
    ``global_mode="from_x"`` (global mean of x instead of the local map), ``unpool="nearest"``.
    """

    def __init__(self, in_size, local_size=5, gamma=2, b=1, local_weight=0.5, global_mode="fixed", unpool="adaptive"):
        super().__init__()
        self.local_size = local_size
        self.gamma = gamma
        self.b = b
        t = int(abs(math.log(in_size, 2) + self.b) / self.gamma)
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        self.conv_local = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        self.local_weight = local_weight
        self.local_arv_pool = nn.AdaptiveAvgPool2d(local_size)
        self.global_arv_pool = nn.AdaptiveAvgPool2d(1)
        self.global_mode = global_mode
        self.unpool = unpool

    def forward(self, x):
        local_arv = self.local_arv_pool(x)
        global_arv = self.global_arv_pool(x if self.global_mode == "from_x" else local_arv)
        b, c, m, n = x.shape
        b_local, c_local, m_local, n_local = local_arv.shape
        # (b,c,local_size,local_size) -> (b,c,local_size*local_size) -> (b,local_size*local_size,c) -> (b,1,local_size*local_size*c)
        temp_local = local_arv.view(b, c_local, -1).transpose(-1, -2).reshape(b, 1, -1)
        temp_global = global_arv.view(b, c, -1).transpose(-1, -2)
        y_local = self.conv_local(temp_local)
        y_global = self.conv(temp_global)
        # (b,c,local_size,local_size) <- (b,c,local_size*local_size) <- (b,local_size*local_size,c) <- (b,1,local_size*local_size*c)
        y_local_transpose = (
            y_local.reshape(b, self.local_size * self.local_size, c)
            .transpose(-1, -2)
            .view(b, c, self.local_size, self.local_size)
        )
        if self.global_mode == "buggy":
            # pre-fix code: (c, b, 1), which adaptive pooling then averages over the batch axis
            y_global_transpose = y_global.view(b, -1).transpose(-1, -2).unsqueeze(-1)
        else:
            y_global_transpose = y_global.transpose(-1, -2).unsqueeze(-1)
        att_local = y_local_transpose.sigmoid()
        att_global = F.adaptive_avg_pool2d(y_global_transpose.sigmoid(), [self.local_size, self.local_size])
        att = att_global * (1 - self.local_weight) + (att_local * self.local_weight)
        if self.unpool == "nearest":
            att_all = F.interpolate(att, size=(m, n), mode="nearest")
        else:
            att_all = F.adaptive_avg_pool2d(att, [m, n])
        x = x * att_all
        return x


class _SEWeightModule(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        out = self.avg_pool(x)
        out = self.fc1(out)
        out = self.relu(out)
        out = self.fc2(out)
        weight = self.sigmoid(out)
        return weight


def _conv(in_planes, out_planes, kernel_size=3, stride=1, padding=1, dilation=1, groups=1):
    return nn.Conv2d(
        in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        groups=groups, bias=False,
    )  # fmt: skip


class EPSARef(nn.Module):
    """Official PSAModule. ``reverse=False`` is a known-wrong variant (branches concatenated in forward order)."""

    def __init__(
        self, inplans, planes=None, stride=1, conv_kernels=(3, 5, 7, 9), conv_groups=(1, 4, 8, 16), reverse=True
    ):
        super().__init__()
        planes = inplans if planes is None else planes
        self.conv_1 = _conv(inplans, planes // 4, kernel_size=conv_kernels[0], padding=conv_kernels[0] // 2,
                            stride=stride, groups=conv_groups[0])  # fmt: skip
        self.conv_2 = _conv(inplans, planes // 4, kernel_size=conv_kernels[1], padding=conv_kernels[1] // 2,
                            stride=stride, groups=conv_groups[1])  # fmt: skip
        self.conv_3 = _conv(inplans, planes // 4, kernel_size=conv_kernels[2], padding=conv_kernels[2] // 2,
                            stride=stride, groups=conv_groups[2])  # fmt: skip
        self.conv_4 = _conv(inplans, planes // 4, kernel_size=conv_kernels[3], padding=conv_kernels[3] // 2,
                            stride=stride, groups=conv_groups[3])  # fmt: skip
        self.se = _SEWeightModule(planes // 4)
        self.split_channel = planes // 4
        self.softmax = nn.Softmax(dim=1)
        self.reverse = reverse

    def forward(self, x):
        batch_size = x.shape[0]
        x1 = self.conv_1(x)
        x2 = self.conv_2(x)
        x3 = self.conv_3(x)
        x4 = self.conv_4(x)

        feats = torch.cat((x1, x2, x3, x4), dim=1)
        feats = feats.view(batch_size, 4, self.split_channel, feats.shape[2], feats.shape[3])

        x1_se = self.se(x1)
        x2_se = self.se(x2)
        x3_se = self.se(x3)
        x4_se = self.se(x4)

        x_se = torch.cat((x1_se, x2_se, x3_se, x4_se), dim=1)
        attention_vectors = x_se.view(batch_size, 4, self.split_channel, 1, 1)
        attention_vectors = self.softmax(attention_vectors)
        feats_weight = feats * attention_vectors
        for i in range(4):
            x_se_weight_fp = feats_weight[:, i, :, :]
            if i == 0:
                out = x_se_weight_fp
            else:
                out = torch.cat((x_se_weight_fp, out), 1) if self.reverse else torch.cat((out, x_se_weight_fp), 1)

        return out


class MobileNetV3SERef(nn.Module):
    def __init__(self, channel, reduction=4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel),
            _h_sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x)
        y = y.view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y


class EMARef(nn.Module):
    def __init__(self, channels, factor=32):
        super().__init__()
        self.groups = factor
        assert channels // self.groups > 0
        self.softmax = nn.Softmax(-1)
        self.agp = nn.AdaptiveAvgPool2d((1, 1))
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        self.gn = nn.GroupNorm(channels // self.groups, channels // self.groups)
        self.conv1x1 = nn.Conv2d(channels // self.groups, channels // self.groups, kernel_size=1, stride=1, padding=0)
        self.conv3x3 = nn.Conv2d(channels // self.groups, channels // self.groups, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        b, c, h, w = x.size()
        group_x = x.reshape(b * self.groups, -1, h, w)  # b*g,c//g,h,w
        x_h = self.pool_h(group_x)
        x_w = self.pool_w(group_x).permute(0, 1, 3, 2)
        hw = self.conv1x1(torch.cat([x_h, x_w], dim=2))
        x_h, x_w = torch.split(hw, [h, w], dim=2)
        x1 = self.gn(group_x * x_h.sigmoid() * x_w.permute(0, 1, 3, 2).sigmoid())
        x2 = self.conv3x3(group_x)
        x11 = self.softmax(self.agp(x1).reshape(b * self.groups, -1, 1).permute(0, 2, 1))
        x12 = x2.reshape(b * self.groups, c // self.groups, -1)  # b*g, c//g, hw
        x21 = self.softmax(self.agp(x2).reshape(b * self.groups, -1, 1).permute(0, 2, 1))
        x22 = x1.reshape(b * self.groups, c // self.groups, -1)  # b*g, c//g, hw
        weights = (torch.matmul(x11, x12) + torch.matmul(x21, x22)).reshape(b * self.groups, 1, h, w)
        return (group_x * weights.sigmoid()).reshape(b, c, h, w)


class SimAMRef(nn.Module):
    """``variance="biased"`` is the known-wrong variant circulating in ports (mean of d, i.e. n = H*W, not H*W - 1).

    Official on a 1x1 map: n = 0, so 0 / 0 and a NaN output (see ``yolo_attn/nn/simam.py``).
    """

    def __init__(self, channels=None, e_lambda=1e-4, variance="unbiased"):
        super().__init__()
        self.activaton = nn.Sigmoid()
        self.e_lambda = e_lambda
        self.variance = variance

    def forward(self, x):
        b, c, h, w = x.size()
        n = w * h - 1
        x_minus_mu_square = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        if self.variance == "biased":
            y = x_minus_mu_square / (4 * (x_minus_mu_square.mean(dim=[2, 3], keepdim=True) + self.e_lambda)) + 0.5
        else:
            y = x_minus_mu_square / (4 * (x_minus_mu_square.sum(dim=[2, 3], keepdim=True) / n + self.e_lambda)) + 0.5
        return x * self.activaton(y)


REFERENCES: dict[str, type] = {
    "SE": SERef,
    "ECA": ECARef,
    "CBAM": CBAMRef,
    "CoordAtt": CoordAttRef,
    "ELA": ELARef,
    "MLCA": MLCARef,
    "EPSA": EPSARef,
    "MobileNetV3SE": MobileNetV3SERef,
    "EMA": EMARef,
    "SimAM": SimAMRef,
}

#: The package's hyperparameters that select the MAY code's CBAM and CA, and their transcriptions.
MAY_CBAM = (7, 16, False, "mean-max", False)
MAY_CA = (16, False)
MAY_VARIANTS: dict[tuple[str, tuple], tuple[type, tuple]] = {
    ("CBAM", MAY_CBAM): (MAYCBAMRef, ()),  # MAYCBAMRef(c1): CBAM(c1, c1) with ratio 16, kernel 7
    ("CoordAtt", MAY_CA): (MAYCARef, (None, 16)),  # MAYCARef(c1, None, 16): CA(c1, c1, 16)
}


def build_reference(name: str, c1: int, *args) -> nn.Module:
    """The transcription computing what the package's ``name(c1, *args)`` computes (see ``MAY_VARIANTS``)."""
    if (name, tuple(args)) in MAY_VARIANTS:
        cls, extra = MAY_VARIANTS[name, tuple(args)]
        return cls(c1, *extra)
    return REFERENCES[name](c1, *args)


#: Hyperparameter sets (positional, after the channel count) the tests check for each module, in both forms.
VARIANTS: dict[str, tuple[tuple, ...]] = {
    "SE": ((), (4,)),
    "ECA": ((), (7,)),
    "CBAM": ((), (3, 8), MAY_CBAM),
    "CoordAtt": ((), MAY_CA),
    "ELA": (("T",), ("B",), ("S",), ("L",)),
    "MLCA": ((), (3, 2, 1, 0.3)),
    "EPSA": ((), (128, 2)),
    "MobileNetV3SE": ((),),
    "EMA": ((), (8,)),  # the official default 32 groups; 8 groups (the MAY zoo's choice, cg = C / 8 channels each)
    "SimAM": ((), (0.1,)),  # the official default lambda 1e-4; 0.1 (its ImageNet / COCO setting, the zoo's choice)
}

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# reference state-dict key -> package state-dict key (identical names are left out)
KEY_MAPS: dict[type, dict[str, str]] = {
    SERef: {"fc.0.weight": "fc1.weight", "fc.0.bias": "fc1.bias", "fc.2.weight": "fc2.weight", "fc.2.bias": "fc2.bias"},
    MobileNetV3SERef: {
        "fc.0.weight": "fc1.weight", "fc.0.bias": "fc1.bias", "fc.2.weight": "fc2.weight", "fc.2.bias": "fc2.bias"
    },
    CBAMRef: {
        "ChannelGate.mlp.1.weight": "fc1.weight", "ChannelGate.mlp.1.bias": "fc1.bias",
        "ChannelGate.mlp.3.weight": "fc2.weight", "ChannelGate.mlp.3.bias": "fc2.bias",
        "SpatialGate.spatial.conv.weight": "conv.weight",
        **{f"SpatialGate.spatial.bn.{k}": f"bn.{k}" for k in _BN},
    },
    EPSARef: {f"conv_{i + 1}.weight": f"convs.{i}.weight" for i in range(4)},
    MAYCBAMRef: {
        "channel_attention.f1.weight": "fc1.weight", "channel_attention.f2.weight": "fc2.weight",
        "spatial_attention.conv.weight": "conv.weight",
    },
}  # fmt: skip


@torch.no_grad()
def copy_weights(package_module: nn.Module, reference_module: nn.Module) -> nn.Module:
    """Copy every parameter and buffer of a package module into its reference twin (reshaping conv <-> linear).

    Raises if a reference tensor has no source or a package tensor is left unused, so a renamed parameter cannot
    silently leave a random weight in the oracle.
    """
    src = package_module.state_dict()
    key_map = KEY_MAPS.get(type(reference_module), {})
    used = set()
    for key, dst in reference_module.state_dict(keep_vars=True).items():
        src_key = key_map.get(key, key)
        if src_key not in src:
            raise KeyError(f"{type(reference_module).__name__}.{key}: no package tensor {src_key!r}")
        if src[src_key].numel() != dst.numel():
            raise ValueError(f"{key}: {tuple(src[src_key].shape)} cannot fill {tuple(dst.shape)}")
        dst.copy_(src[src_key].reshape(dst.shape))
        used.add(src_key)
    unused = set(src) - used
    if unused:
        raise KeyError(f"package tensors not copied into {type(reference_module).__name__}: {sorted(unused)}")
    reference_module.train(package_module.training)
    return reference_module
