r"""KL warm-up (``--kl-warmup EPOCHS``): the weight of the latent terms ramped from 0 to 1.

Bowman et al. (2016) and Sønderby et al. (2016) train on

.. math::
    \mathcal L_\beta(x) = \mathbb E_{q(z|x)}\bigl[\log p(x \mid z)\bigr] - \beta\,\mathrm{KL}\bigl(q(z|x)\,\|\,p(z)\bigr)

with :math:`\beta` rising linearly from 0 to 1 over the first epochs, so that the decoder learns
to use the latents before the KL term pulls the posterior onto the prior (posterior collapse).

Here :math:`\beta` multiplies the scale of every latent sample site, in the model
(:math:`\log p(z)`) and in the guide (:math:`\log q(z|x)`), through one Pyro handler
(:class:`ScaleLatents`); the observed sites keep scale 1. So any estimator trains the annealed
objective: Trace_ELBO gives :math:`\mathcal L_\beta`, the importance-weighted family the same
weights with :math:`\log p(z) - \log q(z|x)` scaled. A model's own weights (a declared latent's
``kl_weight``, beta-VAE's beta) multiply with it: the warm-up ramps to the model's beta.

The weight is a function of the step alone, :math:`\beta_s = \min(1, s / S)` for step
:math:`s = 0, 1, \dots` and :math:`S` = warm-up epochs x steps per epoch, so a resumed run uses
exactly the weights of the uninterrupted run. The evaluator always reports the true model's
bounds (scales are not part of log p(x)); the training objective is labelled as annealed while
:math:`\beta < 1`.
"""

from __future__ import annotations

from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample


class ScaleLatents(Messenger):
    """Multiplies the scale of every unobserved sample site by ``factor`` (model and guide)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"] and not site_is_subsample(msg):
            msg["scale"] = self.factor * msg["scale"]


def kl_weight(step: int, warmup_steps: int) -> float:
    """:math:`\\beta` of the (0-based, counted from the run's first step) ``step``: linear from 0 to
    1 over ``warmup_steps`` steps, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)
