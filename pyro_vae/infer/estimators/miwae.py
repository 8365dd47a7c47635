r"""MIWAE, CIWAE and PIWAE (Rainforth, Kosiorek, Le, Maddison, Igl, Wood & Teh 2018).

With :math:`M \times K` particles per datapoint, :math:`\log w_{m,k}`:

* MIWAE: :math:`\frac1M \sum_m \log \frac1K \sum_k w_{m,k}` (an average of M IWAE_K bounds).
* CIWAE: :math:`\beta\, \mathrm{ELBO} + (1 - \beta)\, \mathrm{IWAE}_K`, a convex combination
  computed from the same K particles.
* PIWAE: the model is trained on :math:`\mathrm{IWAE}_{MK}` (all particles in one logsumexp), the
  guide on :math:`\mathrm{MIWAE}_{M,K}` from the same particles; the reported bound is
  :math:`\mathrm{IWAE}_{MK}`.
"""

from ...errors import InferenceError
from ..losses import register_loss
from .base import ImportanceWeightedELBO, log_mean_exp


def _miwae(log_w, num_outer, num_inner):
    return log_mean_exp(log_w.reshape((num_outer, num_inner) + log_w.shape[1:]), 1).mean(0)


class MIWAE(ImportanceWeightedELBO):
    """Average of ``num_outer`` (M) IWAE bounds of ``num_inner`` (K) particles each."""

    def __init__(self, num_inner: int = 8, num_outer: int = 8, **kwargs):
        super().__init__(num_particles=int(num_inner) * int(num_outer), **kwargs)
        self.num_inner, self.num_outer = int(num_inner), int(num_outer)

    def bound(self, log_w):
        return _miwae(log_w, self.num_outer, self.num_inner)


@register_loss("ciwae", "beta ELBO + (1-beta) IWAE_K; --loss-opt beta=B (Rainforth et al. 2018)")
class CIWAE(ImportanceWeightedELBO):
    """:math:`\\beta` ELBO + (1 - :math:`\\beta`) IWAE_K from the same ``num_particles`` = K particles."""

    def __init__(self, num_particles: int = 8, beta: float = 0.5, **kwargs):
        if not 0.0 <= beta <= 1.0:
            raise InferenceError(f"CIWAE's beta must lie in [0, 1], got {beta}")
        super().__init__(num_particles=num_particles, **kwargs)
        self.beta = float(beta)

    def bound(self, log_w):
        return self.beta * log_w.mean(0) + (1.0 - self.beta) * log_mean_exp(log_w, 0)


class PIWAE(ImportanceWeightedELBO):
    """Model on IWAE_{M*K}, guide on MIWAE_{M,K}, from the same M*K particles."""

    split_gradients = True

    def __init__(self, num_inner: int = 8, num_outer: int = 8, **kwargs):
        super().__init__(num_particles=int(num_inner) * int(num_outer), **kwargs)
        self.num_inner, self.num_outer = int(num_inner), int(num_outer)

    def bound(self, log_w):
        return log_mean_exp(log_w, 0)

    def split_surrogates(self, pt):
        log_w = pt.log_weights(respect_scale=True)
        return log_mean_exp(log_w, 0), _miwae(log_w, self.num_outer, self.num_inner)


@register_loss("miwae", "mean of M IWAE_K bounds; --loss-opt num_outer=M (Rainforth et al. 2018)")
def miwae(num_particles: int = 1, num_outer: int = 4) -> MIWAE:
    """MIWAE with K = ``num_particles`` (``--num-particles``) and M = ``num_outer``."""
    return MIWAE(num_inner=num_particles, num_outer=num_outer)


@register_loss("piwae", "model on IWAE_MK, guide on MIWAE_M,K; --loss-opt num_outer=M (Rainforth et al. 2018)")
def piwae(num_particles: int = 1, num_outer: int = 4) -> PIWAE:
    """PIWAE with K = ``num_particles`` (``--num-particles``) and M = ``num_outer``."""
    return PIWAE(num_inner=num_particles, num_outer=num_outer)

