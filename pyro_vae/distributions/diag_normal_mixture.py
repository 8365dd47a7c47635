r"""A mixture of diagonal Gaussians shared by every batch element: the MoG and VampPrior priors.

.. math::
    p(z) = \sum_{c=1}^C \pi_c \, \mathcal N(z; \mu_c, \operatorname{diag} \sigma_c^2), \qquad
    \log \mathcal N(z; \mu_c, \sigma_c) = -\tfrac12 q_c(z) - \sum_d \log \sigma_{cd} - \tfrac D2 \log 2\pi,

with the quadratic form expanded into matrix products (:math:`\tau = \sigma^{-2}`)

.. math::
    q_c(z) = \sum_d \frac{(z_d - \mu_{cd})^2}{\sigma_{cd}^2}
           = (z \odot z)\,\tau_c^\top - 2\, z\,(\mu_c \odot \tau_c)^\top + \textstyle\sum_d \mu_{cd}^2 \tau_{cd}.

``MixtureSameFamily`` computes :math:`(z - \mu_c)/\sigma_c` for every pair of a point and a
component, an ``[M, C, D]`` tensor: for the importance-weighted evaluation of a VampPrior model
(M = 5000 particles, C = 500 pseudo-inputs, D = 40) that is 100 M floats per image. The expansion
is one GEMM of ``[M, 2D] x [2D, C]`` and never materializes ``[M, C, D]``. Its three terms are
large and cancel near the component means, so the products run in float64 (the error of the
float32 expansion would be ~1e-3 nats); the result is cast back to the input's dtype.

The parameters have no batch dims: the mixture is the same for every element of the batch
(a prior), and :meth:`expand` only records a batch shape, which is what Pyro's plates need.
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import Categorical, TorchDistribution, constraints


class DiagNormalMixture(TorchDistribution):
    """Mixture of ``C`` diagonal Gaussians over :math:`\\mathbb R^D` (event shape ``[D]``).

    :param logits: ``[C]`` unnormalized log mixture weights.
    :param locs: ``[C, D]`` component means.
    :param scales: ``[C, D]`` component standard deviations (positive).
    """

    arg_constraints = {"logits": constraints.real_vector, "locs": constraints.real,
                       "scales": constraints.positive}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, logits: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor,
                 batch_shape=torch.Size(), validate_args=None):
        if locs.dim() != 2 or scales.shape != locs.shape or logits.shape != locs.shape[:1]:
            raise ValueError(f"DiagNormalMixture takes logits [C], locs [C, D], scales [C, D]; got "
                             f"{tuple(logits.shape)}, {tuple(locs.shape)}, {tuple(scales.shape)}")
        self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self.locs, self.scales = locs, scales
        super().__init__(torch.Size(batch_shape), locs.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(DiagNormalMixture, _instance)
        new.logits, new.locs, new.scales = self.logits, self.locs, self.scales
        super(DiagNormalMixture, new).__init__(torch.Size(batch_shape), self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def num_components(self) -> int:
        return self.locs.shape[0]

    def component_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log N(value; mu_c, sigma_c)`` for every component: shape ``value.shape[:-1] + [C]``."""
        d = self.locs.shape[-1]
        z = value.reshape(-1, d).double()
        locs = self.locs.double()
        precision = self.scales.double().pow(-2)  # [C, D]
        weighted_locs = locs * precision
        # one GEMM: [z*z, z] @ [tau, -2 mu tau]^T  ([M, 2D] x [2D, C])
        quad = torch.cat([z * z, z], -1) @ torch.cat([precision, -2.0 * weighted_locs], -1).T
        quad = quad + (locs * weighted_locs).sum(-1)
        quad = quad.clamp(min=0.0).to(value.dtype)  # a sum of squares; rounding may leave -1e-12
        norm = self.scales.log().sum(-1) + 0.5 * d * math.log(2 * math.pi)
        return (-0.5 * quad - norm).reshape(value.shape[:-1] + (self.num_components,))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        out = (self.logits + self.component_log_prob(value)).logsumexp(-1)
        return out.expand(torch.broadcast_shapes(out.shape, self.batch_shape))

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)[:-1]
        with torch.no_grad():
            index = Categorical(logits=self.logits).sample(shape)
            eps = torch.randn(shape + self.event_shape, dtype=self.locs.dtype, device=self.locs.device)
            return self.locs[index] + self.scales[index] * eps

    @property
    def mean(self):
        return (self.logits.exp().unsqueeze(-1) * self.locs).sum(0).expand(self.batch_shape + self.event_shape)
