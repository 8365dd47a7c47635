r"""Priors of a top-level latent :math:`z \in \mathbb R^d`, each a module returning a distribution.

* ``normal``: :math:`\mathcal N(0, I)`.
* ``learned``: :math:`\mathcal N(\mu, \operatorname{diag}\sigma^2)` with learned :math:`\mu, \sigma`.
* ``mog``: a mixture of ``components`` Gaussians with learned weights, means and scales
  (GMVAE-style; marginalized exactly, no discrete latent to sample).
* ``vamp``: VampPrior (Tomczak & Welling 2018), :math:`p(z) = \frac1K \sum_k q(z \mid u_k)` with
  ``num_pseudo`` learned pseudo-inputs :math:`u_k` passed through the latent's own encoder.

Both mixtures are :class:`~pyro_vae.distributions.DiagNormalMixture` (log-density by GEMM).

A top discrete latent (:mod:`.kinds`) has a ``uniform`` prior (zero logits) or ``learned`` logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro.distributions as dist
import torch
from torch import nn

from ..distributions import DiagNormalMixture
from ..errors import ModelError
from .kinds import DiscretePrior


class PriorSpec:
    name = "?"

    def build(self, dim: int, x_dim: int) -> nn.Module:
        raise NotImplementedError


@dataclass
class StandardNormal(PriorSpec):
    name = "normal"

    def build(self, dim, x_dim):
        return _StandardNormal(dim)


@dataclass
class LearnedNormal(PriorSpec):
    name = "learned"

    def build(self, dim, x_dim):
        return _LearnedNormal(dim)


@dataclass
class MixtureOfGaussians(PriorSpec):
    components: int = 10
    name = "mog"

    def build(self, dim, x_dim):
        if self.components < 1:
            raise ModelError(f"prior mog: components must be >= 1, got {self.components}")
        return _MixtureOfGaussians(dim, self.components)


@dataclass
class VampPrior(PriorSpec):
    num_pseudo: int = 500
    name = "vamp"

    def build(self, dim, x_dim):
        if self.num_pseudo < 1:
            raise ModelError(f"prior vamp: num_pseudo must be >= 1, got {self.num_pseudo}")
        return _VampPrior(x_dim, self.num_pseudo)


PRIORS = {"normal": StandardNormal, "learned": LearnedNormal, "mog": MixtureOfGaussians, "vamp": VampPrior}


@dataclass
class DiscretePriorSpec(PriorSpec):
    """A top discrete latent's prior (:mod:`.kinds`): uniform, or learned logits."""

    kind: object
    learned: bool = False

    @property
    def name(self):
        return "learned" if self.learned else "uniform"

    def build(self, dim, x_dim):
        return DiscretePrior(self.kind, dim, self.learned)


def prior_from(value, field_name: str) -> PriorSpec:
    """A Gaussian top latent's prior from a name (None: ``"normal"``) or a :class:`PriorSpec`."""
    if value is None:
        value = "normal"
    if isinstance(value, PriorSpec):
        return value
    if isinstance(value, str) and value in PRIORS:
        return PRIORS[value]()
    raise ModelError(f"{field_name}: unknown prior {value!r}; use one of {', '.join(PRIORS)} "
                     f"(or StandardNormal(), LearnedNormal(), MixtureOfGaussians(k), VampPrior(k))")


class _StandardNormal(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("zero", torch.zeros(dim))

    def forward(self, encoder=None):
        return dist.Normal(self.zero, torch.ones_like(self.zero)).to_event(1)


class _LearnedNormal(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def forward(self, encoder=None):
        return dist.Normal(self.loc, self.log_scale.exp()).to_event(1)


class _MixtureOfGaussians(nn.Module):
    def __init__(self, dim, k):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))
        self.locs = nn.Parameter(torch.randn(k, dim))
        self.log_scales = nn.Parameter(torch.zeros(k, dim))

    def forward(self, encoder=None):
        return DiagNormalMixture(self.logits, self.locs, self.log_scales.exp())


class _VampPrior(nn.Module):
    def __init__(self, x_dim, k):
        super().__init__()
        self.pseudo_logits = nn.Parameter(0.1 * torch.randn(k, x_dim) - 2.0)  # pixels start near 0.12

    def forward(self, encoder=None):
        loc, scale = encoder(torch.sigmoid(self.pseudo_logits))
        return DiagNormalMixture(loc.new_zeros(loc.shape[0]), loc, scale)
