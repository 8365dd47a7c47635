"""Network declarations: what a layer stack is, built later for the input/output sizes it meets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from ..errors import ModelError
from ..nn import ACTIVATIONS, mlp


class NetSpec:
    """A declared network; :meth:`build` makes the module for ``in_dim -> out_dim``."""

    def build(self, in_dim: int, out_dim: int) -> nn.Module:
        raise NotImplementedError

    def validate(self, field_name: str, in_dim: int, out_dim: int) -> None:
        pass


@dataclass
class MLP(NetSpec):
    """Fully connected layers of the given widths with ``activation`` between them."""

    hidden: Sequence[int] = field(default_factory=lambda: [200, 200])
    activation: str = "tanh"

    def validate(self, field_name, in_dim, out_dim):
        if self.activation not in ACTIVATIONS:
            raise ModelError(f"{field_name}: unknown activation {self.activation!r}; use one of {', '.join(ACTIVATIONS)}")
        if any(int(h) < 1 for h in self.hidden):
            raise ModelError(f"{field_name}: hidden widths must be positive, got {list(self.hidden)}")

    def build(self, in_dim, out_dim):
        return mlp(in_dim, [int(h) for h in self.hidden], out_dim, self.activation)


class _Batched(nn.Module):
    """Apply a module on the last dim, whatever the leading (particle, batch) dims are."""

    def __init__(self, net: nn.Module, in_shape: tuple, out_dim: int):
        super().__init__()
        self.net, self.in_shape, self.out_dim = net, in_shape, out_dim

    def forward(self, x):
        lead = x.shape[:-1]
        return self.net(x.reshape((-1,) + self.in_shape)).reshape(lead + (self.out_dim,))


@dataclass
class Conv28(NetSpec):
    """A small convolutional net for 28x28 images: two stride-2 4x4 convolutions (28 -> 14 -> 7).

    As an encoder (input 784 pixels) it convolves then maps to ``out_dim``; as a decoder (input a
    latent vector, output 784 pixels) it mirrors that with transposed convolutions.
    """

    channels: Sequence[int] = (32, 64)
    hidden: int = 256
    activation: str = "relu"

    def validate(self, field_name, in_dim, out_dim):
        if 784 not in (in_dim, out_dim):
            raise ModelError(f"{field_name}: Conv28 maps 28x28 images (784 values), but this network maps "
                             f"{in_dim} -> {out_dim}; use MLP for other data")
        if len(self.channels) != 2:
            raise ModelError(f"{field_name}: Conv28 takes two channel counts, got {list(self.channels)}")

    def build(self, in_dim, out_dim):
        c1, c2 = (int(c) for c in self.channels)
        act = ACTIVATIONS[self.activation]
        if in_dim == 784:
            net = nn.Sequential(
                nn.Conv2d(1, c1, 4, 2, 1), act(), nn.Conv2d(c1, c2, 4, 2, 1), act(), nn.Flatten(),
                nn.Linear(c2 * 49, self.hidden), act(), nn.Linear(self.hidden, out_dim))
            return _Batched(net, (1, 28, 28), out_dim)
        net = nn.Sequential(
            nn.Linear(in_dim, self.hidden), act(), nn.Linear(self.hidden, c2 * 49), act(),
            nn.Unflatten(1, (c2, 7, 7)), nn.ConvTranspose2d(c2, c1, 4, 2, 1), act(),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1), nn.Flatten())
        return _Batched(net, (in_dim,), out_dim)


@dataclass
class Conv(NetSpec):
    """A convolutional net for images of any shape ``C x H x W`` (taken from the data).

    As an encoder (input: the image's ``C*H*W`` values) it runs ``len(channels)`` 4x4 convolutions
    of stride 2, each halving height and width (rounding down), then two linear layers to
    ``out_dim``; as a decoder (input: a latent vector; output: ``C*H*W`` values) it mirrors that
    with transposed convolutions, each doubling the size (with one row or column more where the
    encoder rounded down), so any ``H, W >= 2**len(channels)`` comes back to its own shape. On
    28x28 grey images with two channel counts it is the same network as :class:`Conv28`.

    ``image_shape`` is filled in from the data by :class:`~pyro_vae.declarative.DeclarativeModel`
    when left ``None``.
    """

    channels: Sequence[int] = (32, 64)
    hidden: int = 256
    activation: str = "relu"
    image_shape: Optional[Sequence[int]] = None

    def _shape(self) -> tuple:
        shape = tuple(int(s) for s in self.image_shape)
        return shape if len(shape) == 3 else (1,) + shape

    def _sizes(self) -> list:
        """``(H, W)`` after each convolution, the input's first."""
        sizes = [self._shape()[1:]]
        for _ in self.channels:
            h, w = sizes[-1]
            sizes.append((h // 2, w // 2))
        return sizes

    def validate(self, field_name, in_dim, out_dim):
        if self.image_shape is None:
            raise ModelError(f"{field_name}: Conv needs images, and this data has no image shape; use MLP for "
                             f"tables")
        c, h, w = self._shape()
        pixels = c * h * w
        if pixels not in (in_dim, out_dim):
            raise ModelError(f"{field_name}: Conv maps {c}x{h}x{w} images ({pixels} values), but this network maps "
                             f"{in_dim} -> {out_dim}; use MLP where the network does not read or write the image")
        if not self.channels or any(int(k) < 1 for k in self.channels):
            raise ModelError(f"{field_name}: Conv needs channel counts >= 1, got {list(self.channels)}")
        if min(h, w) < 2 ** len(self.channels):
            raise ModelError(f"{field_name}: {len(self.channels)} stride-2 convolutions need images of at least "
                             f"{2 ** len(self.channels)} pixels a side, got {h}x{w}: give fewer channel counts")

    def build(self, in_dim, out_dim):
        act = ACTIVATIONS[self.activation]
        shape, sizes = self._shape(), self._sizes()
        chans = [shape[0]] + [int(k) for k in self.channels]
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        if in_dim == shape[0] * shape[1] * shape[2]:
            layers = []
            for a, b in zip(chans[:-1], chans[1:]):
                layers += [nn.Conv2d(a, b, 4, 2, 1), act()]
            net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, self.hidden), act(),
                                nn.Linear(self.hidden, out_dim))
            return _Batched(net, shape, out_dim)
        layers = [nn.Linear(in_dim, self.hidden), act(), nn.Linear(self.hidden, flat), act(),
                  nn.Unflatten(1, (chans[-1],) + tuple(sizes[-1]))]
        for i in range(len(chans) - 1, 0, -1):  # back up: each layer doubles, plus what the encoder dropped
            (h, w), (h_small, w_small) = sizes[i - 1], sizes[i]
            layers.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1,
                                             output_padding=(h - 2 * h_small, w - 2 * w_small)))
            if i > 1:
                layers.append(act())
        return _Batched(nn.Sequential(*layers, nn.Flatten()), (in_dim,), out_dim)


def bind_image_shape(obj, image_shape) -> None:
    """Give every :class:`Conv` inside a declared spec (any nesting of dataclasses, lists and
    tuples) the data's ``image_shape`` where it has none."""
    if isinstance(obj, Conv):
        if obj.image_shape is None and image_shape:
            obj.image_shape = tuple(image_shape)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            bind_image_shape(getattr(obj, f.name), image_shape)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            bind_image_shape(item, image_shape)


def with_context(h: torch.Tensor, context) -> torch.Tensor:
    """Concatenate a ``[B, C]`` context to ``h`` of shape ``[..., B, D]`` (broadcast over particles)."""
    if context is None:
        return h
    return torch.cat([h, context.expand(h.shape[:-1] + context.shape[-1:])], -1)
