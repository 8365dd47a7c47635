r"""Posterior families of a latent's guide factor: a diagonal Gaussian, or one pushed through an
inverse autoregressive flow (IAF; Kingma et al. 2016).

``IAF(num_flows, hidden, context)``: the factor's network reads its inputs (``x`` and/or latents)
and returns :math:`(\mu, \sigma, h)`; then

.. math::
    \epsilon \sim \mathcal N(\mu, \operatorname{diag}\sigma^2), \qquad
    z = f_K \circ \dots \circ f_1(\epsilon), \qquad
    f_k(u) = m_k(u; h) + s_k(u; h) \odot u,

each :math:`f_k` a Pyro ``ConditionalAffineAutoregressive`` transform whose shift and scale for
coordinate ``i`` come from a MADE network of :math:`u_{<i}` (in that flow's own random order)
and of the context ``h``, so the Jacobian is triangular and

.. math::
    \log q(z) = \log \mathcal N(\epsilon; \mu, \sigma^2) - \sum_k \sum_i \log s_{k,i}.

Sampling is one pass per flow. The density of a point the factor did not draw itself (a path
derivative's detached copy in STL/DReG, the IW evaluator's re-scoring, an AIS chain) inverts
each flow, one pass per coordinate: exact, and slower by the latent's dimension.

``Planar(num_flows, context)`` (Rezende & Mohamed 2015; pythae's VAE_LinNF): the same Gaussian
pushed through planar flows :math:`f_k(u) = u + \hat{u}_k \tanh(w_k^\top u + b_k)`, whose
parameters a linear map computes from the context ``h`` (amortized), with
:math:`\log q(z) = \log \mathcal N(\epsilon; \mu, \sigma^2) - \sum_k \log(1 + (1 -
\tanh^2(\cdot))\, w_k^\top \hat u_k)`. Pyro's planar transforms score only their own cached draws;
:class:`~pyro_vae.distributions.invertible_planar.InvertiblePlanar` inverts (a scalar root along
:math:`w_k`, with the implicit function's gradient), so the path derivatives of STL and DReG, the
evaluator and AIS score any point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pyro.distributions as dist
import torch
from pyro.distributions.transforms import conditional_affine_autoregressive
from torch import nn

from ..distributions.invertible_planar import InvertiblePlanar
from ..errors import ModelError
from ..nn import GaussianOutput


class PosteriorSpec:
    """A guide factor's family: :meth:`build` wraps a network with :meth:`outputs` outputs into the
    factor's module."""

    def outputs(self, dim: int) -> int:
        """Width of the factor network's output for a ``dim``-dimensional latent."""
        return 2 * dim

    def validate(self, field_name: str) -> None:
        pass

    def build(self, net: nn.Module, dim: int) -> nn.Module:
        raise NotImplementedError


class NormalPosterior(PosteriorSpec):
    """The diagonal Gaussian: the module returns ``(loc, scale)``."""

    def build(self, net: nn.Module, dim: int) -> nn.Module:
        return GaussianOutput(net, dim)


class DiscretePosterior(PosteriorSpec):
    """A discrete latent's factor: its kind's distribution (:mod:`.kinds`) of the network's logits."""

    def __init__(self, kind):
        self.kind = kind

    def outputs(self, dim: int) -> int:
        return self.kind.params(dim)

    def build(self, net: nn.Module, dim: int) -> nn.Module:
        return self.kind.conditional(net, dim)


class _Flows(PosteriorSpec):
    """A Gaussian factor pushed through ``num_flows`` flows conditioned on a ``context``-wide
    vector the factor's network also returns."""

    num_flows: int
    context: int

    def outputs(self, dim: int) -> int:
        return 2 * dim + int(self.context)

    def validate(self, field_name: str) -> None:
        if isinstance(self.num_flows, bool) or not isinstance(self.num_flows, int) or self.num_flows < 1:
            raise ModelError(f"{field_name}.num_flows must be a positive integer, got {self.num_flows!r}")
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 1:
            raise ModelError(f"{field_name}.context must be a positive integer, got {self.context!r}")


@dataclass
class IAF(_Flows):
    """``num_flows`` conditional affine autoregressive flows after the Gaussian (module docstring).

    :param hidden: widths of each flow's MADE network (default: Pyro's, ``[10 * dim]``).
    :param context: width of the context ``h`` the factor's network hands to the flows.
    """

    num_flows: int = 2
    hidden: Sequence[int] = field(default_factory=list)
    context: int = 32

    def validate(self, field_name: str) -> None:
        super().validate(field_name)
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ModelError(f"{field_name}.hidden widths must be positive integers, got {list(self.hidden)}")

    def build(self, net: nn.Module, dim: int) -> nn.Module:
        return IAFPosterior(net, dim, self)


@dataclass
class Planar(_Flows):
    """``num_flows`` amortized planar flows after the Gaussian (module docstring).

    :param context: width of the context ``h`` from which a linear map computes each flow's
        parameters :math:`(b_k, u_k, w_k)`.
    """

    num_flows: int = 4
    context: int = 32

    def build(self, net: nn.Module, dim: int) -> nn.Module:
        return PlanarPosterior(net, dim, self)


class FlowPosterior(dist.TransformedDistribution):
    """A Gaussian pushed through flows, with Monte Carlo moments: ``mean`` and ``stddev`` (which
    have no closed form) are estimated from :attr:`num_moment_draws` fixed-seed draws, for
    :meth:`~pyro_vae.model.LatentVariableModel.encode` and the pictures built on it."""

    num_moment_draws = 500
    #: read by the IW evaluator, which then averages its own K draws instead of calling ``mean``
    mean_is_monte_carlo = True

    def _draws(self) -> torch.Tensor:
        """The same standard-normal noise for every row and call (a fixed seed on a forked RNG, the
        global stream untouched), so the moments are a deterministic function of each row's input."""
        normal = self.base_dist.base_dist  # Independent(Normal(loc, scale))
        device = normal.loc.device
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)
            noise = torch.randn((self.num_moment_draws,) + (1,) * len(self.batch_shape) + self.event_shape,
                                device=device, dtype=normal.loc.dtype)
            z = normal.loc + normal.scale * noise
            for t in self.transforms:
                z = t(z)
            return z

    @property
    def mean(self) -> torch.Tensor:
        return self._draws().mean(0)

    @property
    def stddev(self) -> torch.Tensor:
        return self._draws().std(0)

    @property
    def variance(self) -> torch.Tensor:
        return self.stddev ** 2


class IAFPosterior(nn.Module):
    """``inputs -> TransformedDistribution(N(mu, sigma^2), flows conditioned on h)``."""

    def __init__(self, net: nn.Module, dim: int, spec: IAF):
        super().__init__()
        self.net, self.dim, self.context = net, dim, int(spec.context)
        hidden = [int(h) for h in spec.hidden] or None
        self.flows = nn.ModuleList(conditional_affine_autoregressive(dim, self.context, hidden_dims=hidden)
                                   for _ in range(spec.num_flows))

    def forward(self, inputs: torch.Tensor):
        loc, log_scale, h = self.net(inputs).split([self.dim, self.dim, self.context], dim=-1)
        base = dist.Normal(loc, log_scale.clamp(-10.0, 5.0).exp()).to_event(1)
        return FlowPosterior(base, [flow.condition(h) for flow in self.flows])


class PlanarPosterior(nn.Module):
    """``inputs -> TransformedDistribution(N(mu, sigma^2), planar flows whose parameters are linear in h)``."""

    def __init__(self, net: nn.Module, dim: int, spec: Planar):
        super().__init__()
        self.net, self.dim, self.context, self.num_flows = net, dim, int(spec.context), int(spec.num_flows)
        self.flow_params = nn.Linear(self.context, self.num_flows * (1 + 2 * dim))

    def forward(self, inputs: torch.Tensor):
        loc, log_scale, h = self.net(inputs).split([self.dim, self.dim, self.context], dim=-1)
        base = dist.Normal(loc, log_scale.clamp(-10.0, 5.0).exp()).to_event(1)
        params = self.flow_params(h).chunk(self.num_flows, dim=-1)
        flows = [InvertiblePlanar(*p.split([1, self.dim, self.dim], dim=-1)) for p in params]
        return FlowPosterior(base, flows)


def posterior_from(value, field_name: str) -> PosteriorSpec:
    """``"normal"`` (or None): :class:`NormalPosterior`; an :class:`IAF` or :class:`Planar`, checked."""
    if value in ("normal", None):
        return NormalPosterior()
    if isinstance(value, (IAF, Planar)):
        value.validate(field_name)
        return value
    raise ModelError(f"{field_name}: unknown posterior {value!r}; use 'normal', IAF(num_flows, hidden, context) "
                     f"or Planar(num_flows, context)")
