r"""A distribution of a vector made of consecutive column blocks, independent given their parameters.

:math:`x = [x_1, \dots, x_P]` (block :math:`p` is :math:`d_p` columns wide), each block with its own
distribution (a different likelihood network, different parent latents):

.. math::
    \log p(x) = \sum_p \log p_p(x_p).

A declared model with several observed parts of ``x`` (two modalities side by side, an image in
halves) observes them as one site ``x`` of this distribution, so the evaluator, pictures and every
estimator see one observed vector as for any other model.
"""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints


class ColumnBlocks(TorchDistribution):
    """``parts``: distributions with one event dim each (``Bernoulli(...).to_event(1)``), in column order."""

    arg_constraints = {}
    support = constraints.real_vector

    def __init__(self, parts, validate_args=None):
        self.parts = list(parts)
        self.widths = [int(p.event_shape[-1]) for p in self.parts]
        batch_shape = torch.broadcast_shapes(*(p.batch_shape for p in self.parts))
        super().__init__(batch_shape, torch.Size([sum(self.widths)]), validate_args=False)

    def expand(self, batch_shape, _instance=None):
        return ColumnBlocks([p.expand(torch.Size(batch_shape)) for p in self.parts])

    def log_prob(self, value):
        return sum(p.log_prob(v) for p, v in zip(self.parts, value.split(self.widths, -1)))

    def _join(self, blocks):
        shape = torch.broadcast_shapes(*(b.shape[:-1] for b in blocks))
        return torch.cat([b.expand(shape + b.shape[-1:]) for b in blocks], -1)

    @property
    def mean(self):
        return self._join([p.mean for p in self.parts])

    def sample(self, sample_shape=torch.Size()):
        return self._join([p.sample(sample_shape) for p in self.parts])
