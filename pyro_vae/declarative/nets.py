"""Network declarations: what a layer stack is, built later for the input/output sizes it meets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

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


def with_context(h: torch.Tensor, context) -> torch.Tensor:
    """Concatenate a ``[B, C]`` context to ``h`` of shape ``[..., B, D]`` (broadcast over particles)."""
    if context is None:
        return h
    return torch.cat([h, context.expand(h.shape[:-1] + context.shape[-1:])], -1)
