"""Encoder and decoder networks, chosen from the sample shape: MLPs for vectors, conv nets for images.

Every network maps flat rows: encoders take (B, n_features), decoders return (B, n_features), so the
training engine and the model contract never care which kind is inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], act=nn.ReLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def conv_sizes(h: int, w: int, n_layers: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 conv (kernel 4, padding 1 halves, rounding down)."""
    sizes = [(h, w)]
    for _ in range(n_layers):
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes


def usable_conv_layers(h: int, w: int, wanted: int) -> int:
    """How many halvings the image allows while keeping at least 2x2 pixels."""
    n = 0
    while n < wanted and min(h, w) // 2 ** (n + 1) >= 2:
        n += 1
    return n


class ConvEncoder(nn.Module):
    """Stride-2 convolutions, then dense layers: (B, c*h*w) -> (B, out_dim)."""

    def __init__(
        self, sample_shape, channels: Sequence[int], hidden: Sequence[int], out_dim: int, act=nn.ReLU
    ):
        super().__init__()
        c, h, w = sample_shape
        self.sample_shape = tuple(sample_shape)
        n = usable_conv_layers(h, w, len(channels))
        chans = [c, *channels[:n]]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, kernel_size=4, stride=2, padding=1), act()]
        self.convs = nn.Sequential(*layers)
        fh, fw = conv_sizes(h, w, n)[-1]
        self.head = mlp([chans[-1] * fh * fw, *hidden, out_dim], act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.shape[0], *self.sample_shape)  # (B, c, h, w)
        return self.head(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """Dense layers, then stride-2 transposed convolutions back to the exact image size."""

    def __init__(self, sample_shape, channels: Sequence[int], hidden: Sequence[int], latent_dim: int):
        super().__init__()
        c, h, w = sample_shape
        n = usable_conv_layers(h, w, len(channels))
        chans = list(channels[:n])[::-1]  # deepest first
        sizes = conv_sizes(h, w, n)[::-1]  # smallest first
        self.start = (chans[0] if n else c, *sizes[0])
        self.head = mlp([latent_dim, *hidden[::-1], self.start[0] * sizes[0][0] * sizes[0][1]])
        layers: list[nn.Module] = []
        outs = [*chans[1:], c] if n else []
        for i, (a, b) in enumerate(zip(chans, outs, strict=True)):
            (ih, iw), (oh, ow) = sizes[i], sizes[i + 1]
            pad = (oh - 2 * ih, ow - 2 * iw)  # 0 or 1: restores odd sizes (7 -> 14 -> 28, 3 -> 7)
            layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, output_padding=pad))
            if i < n - 1:
                layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.head(z).view(z.shape[0], *self.start)
        return self.convs(x).flatten(1)


def build_encoder(
    arch: str, n_features: int, sample_shape, hidden, channels, out_dim: int, act=nn.ReLU
) -> nn.Module:
    if arch == "conv":
        return ConvEncoder(sample_shape, channels, hidden, out_dim, act)
    return mlp([n_features, *hidden, out_dim], act)


def build_decoder(arch: str, n_features: int, sample_shape, hidden, channels, latent_dim: int) -> nn.Module:
    if arch == "conv":
        return ConvDecoder(sample_shape, channels, hidden, latent_dim)
    return mlp([latent_dim, *hidden[::-1], n_features])
