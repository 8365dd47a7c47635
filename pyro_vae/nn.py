"""Small network builders shared by the zoo: MLPs and the Gaussian encoder head."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "elu": nn.ELU, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    from .errors import ModelError

    if name not in ACTIVATIONS:
        raise ModelError(f"unknown activation {name!r}: use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``[..., num_classes]`` one-hot rows of integer labels, by comparison: unlike ``F.one_hot`` it
    reads no value back to check the range (the data loaders check labels are ``0..C-1``), so a
    captured training step (:mod:`pyro_vae.training.capture`) can hold it."""
    return (labels.long().unsqueeze(-1) == torch.arange(num_classes, device=labels.device)).to(dtype)


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "tanh") -> nn.Sequential:
    """``in -> hidden[0] -> ... -> out`` with ``act`` after every hidden layer, linear output."""
    layers, width = [], in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        width = h
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class GaussianOutput(nn.Module):
    """Wrap a network with ``2 * out_dim`` outputs as the ``(loc, scale)`` of a diagonal Gaussian.

    ``scale = exp(log_scale)``, the log-scale clamped to [-10, 5] for numerical safety
    (a scale below 4.5e-5 or above 148 is never useful for data scaled to unit range).
    """

    def __init__(self, net: nn.Module, out_dim: int):
        super().__init__()
        self.net = net
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor):
        loc, log_scale = self.net(x).split(self.out_dim, dim=-1)
        return loc, log_scale.clamp(-10.0, 5.0).exp()


class GaussianHead(GaussianOutput):
    """An MLP ``in_dim -> hidden -> 2 * out_dim`` as the ``(loc, scale)`` of a diagonal Gaussian."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "tanh"):
        super().__init__(mlp(in_dim, hidden, 2 * out_dim, act), out_dim)


class GaussianDecoder(nn.Module):
    """An MLP for the mean of a diagonal Gaussian likelihood, with a per-dimension scale that
    is learned (``scale=None``; initialised to 1) or fixed (``scale=float``)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, act: str = "tanh", scale=None):
        super().__init__()
        self.net = mlp(in_dim, hidden, out_dim, act)
        if scale is None:
            self.log_scale = nn.Parameter(torch.zeros(out_dim))
        else:
            self.register_buffer("log_scale", torch.full((out_dim,), float(scale)).log())

    def forward(self, z: torch.Tensor):
        return self.net(z), self.log_scale.clamp(-10.0, 5.0).exp()
