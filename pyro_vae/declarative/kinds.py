r"""What a latent's values are: Gaussian vectors, categories or binary units, exact or relaxed.

A kind says how a latent of ``dim`` is distributed given the logits (or Gaussian parameters) a
network computes, and what the networks that read it see (:meth:`LatentKind.features`):

* ``gaussian``: :math:`z \in \mathbb R^{d}`; a network reads ``z``.
* ``categorical`` (``dim`` = the number of categories ``C``): exact, ``c \in \{0..C-1\}`` from
  ``Categorical(logits)``, read one-hot; the guide marks it ``infer={"enumerate": "parallel"}``, so
  ``TraceEnum_ELBO``, the IW family and the evaluator sum it out exactly.
* ``bernoulli`` (``dim`` binary units :math:`b \in \{0,1\}^d`, independent given their parents):
  exact, the :math:`2^d` joint values are enumerated as one categorical site over codes
  :math:`k = \sum_i b_i 2^i`, with

  .. math::
      \log p(k) = \sum_i b_i(k) \log\sigma(\ell_i) + (1 - b_i(k)) \log\sigma(-\ell_i),

  (a parallel-enumerated ``Bernoulli(...).to_event(1)`` is not possible in Pyro: the units of one
  site are not independent under the decoder); read as the bit vector :math:`b(k)`.

Relaxed (``relaxed=temperature``, Maddison et al. 2017, Jang et al. 2017): the discrete latent is
replaced by its Concrete relaxation at temperature :math:`\lambda`, a continuous latent that the
reparameterized estimators differentiate through. To keep densities finite the site holds the
*log-space* value: ``ExpRelaxedCategorical`` (networks read :math:`\exp`, a point of the simplex)
and ``LogitRelaxedBernoulli`` (networks read :math:`\sigma`). Prior and posterior are relaxed at the
same temperature, so the ELBO and the IW evaluator are those of the relaxed model, a proper
continuous-latent model of ``x``: its log-likelihood is comparable to any other model's.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.torch_distribution import TorchDistributionMixin
from torch import nn
from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli as _LogitRelaxedBernoulli
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical as _ExpRelaxedCategorical

from ..nn import GaussianOutput, one_hot

KINDS = ("gaussian", "categorical", "bernoulli")
#: the most binary units an exact Bernoulli latent, summed out over its 2^10 joint values, may have
MAX_ENUMERATED_UNITS = 10


class ExpRelaxedCategorical(_ExpRelaxedCategorical, TorchDistributionMixin):
    """torch's log-space Concrete distribution as a Pyro distribution."""


class LogitRelaxedBernoulli(_LogitRelaxedBernoulli, TorchDistributionMixin):
    """torch's logit-space binary Concrete distribution as a Pyro distribution."""


def unit_bits(code: torch.Tensor, units: int, dtype=torch.float32) -> torch.Tensor:
    """The bits :math:`b_i = \\lfloor k / 2^i \\rfloor \\bmod 2` of integer codes, ``[..., units]``."""
    powers = torch.arange(units, device=code.device)
    return ((code.unsqueeze(-1) >> powers) & 1).to(dtype)


def code_logits(unit_logits: torch.Tensor) -> torch.Tensor:
    """Joint log-probabilities of the :math:`2^d` codes of ``d`` independent units, ``[..., 2^d]``."""
    units = unit_logits.shape[-1]
    bits = unit_bits(torch.arange(2 ** units, device=unit_logits.device), units, unit_logits.dtype)
    return F.logsigmoid(unit_logits) @ bits.T + F.logsigmoid(-unit_logits) @ (1 - bits).T


class LatentKind:
    """How a latent of a kind is distributed and read; ``relaxed`` is the temperature or None."""

    discrete = False

    def __init__(self, relaxed=None):
        self.relaxed = relaxed

    @property
    def enumerated(self) -> bool:
        """Summed out exactly (a parallel-enumerated guide site)."""
        return self.discrete and self.relaxed is None

    def params(self, dim: int) -> int:
        """Width of a network output parameterizing the latent (its logits or loc and log-scale)."""
        return dim

    def distribution(self, params: torch.Tensor, dim: int):
        raise NotImplementedError

    def features(self, value: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
        """What networks reading the latent see, ``[..., dim]`` of ``dtype`` (the data's)."""
        return value

    def conditional(self, net: nn.Module, dim: int) -> nn.Module:
        """``parents -> p(z | parents)`` (or ``q``) from a network with :meth:`params` outputs."""
        return _Conditional(net, dim, self)


class GaussianKind(LatentKind):
    def params(self, dim):
        return 2 * dim

    def conditional(self, net, dim):
        return GaussianOutput(net, dim)  # (loc, scale); the same module the Gaussian posterior uses


class CategoricalKind(LatentKind):
    discrete = True

    def distribution(self, logits, dim):
        if self.relaxed is None:
            return dist.Categorical(logits=logits)
        return ExpRelaxedCategorical(torch.tensor(float(self.relaxed), device=logits.device), logits=logits)

    def features(self, value, dim, dtype):
        if self.relaxed is None:
            return one_hot(value, dim, dtype)
        return value.exp()


class BernoulliKind(LatentKind):
    discrete = True

    def distribution(self, logits, dim):
        if self.relaxed is None:
            return dist.Categorical(logits=code_logits(logits))
        temperature = torch.tensor(float(self.relaxed), device=logits.device)
        return LogitRelaxedBernoulli(temperature, logits=logits).to_event(1)

    def features(self, value, dim, dtype):
        if self.relaxed is None:
            return unit_bits(value.long(), dim, dtype)
        return torch.sigmoid(value)


def kind_from(name: str, relaxed=None) -> LatentKind:
    return {"gaussian": GaussianKind, "categorical": CategoricalKind, "bernoulli": BernoulliKind}[name](relaxed)


class _Conditional(nn.Module):
    """``inputs -> kind.distribution(net(inputs))``."""

    def __init__(self, net: nn.Module, dim: int, kind: LatentKind):
        super().__init__()
        self.net, self.dim, self.kind = net, dim, kind

    def forward(self, inputs):
        return self.kind.distribution(self.net(inputs), self.dim)


class DiscretePrior(nn.Module):
    """A top discrete latent's prior: uniform (fixed zero logits) or with learned logits."""

    def __init__(self, kind: LatentKind, dim: int, learned: bool):
        super().__init__()
        self.kind, self.dim = kind, dim
        if learned:
            self.logits = nn.Parameter(torch.zeros(dim))
        else:
            self.register_buffer("logits", torch.zeros(dim))

    def forward(self, encoder=None):
        return self.kind.distribution(self.logits, self.dim)
