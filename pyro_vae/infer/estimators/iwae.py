r"""IWAE (Burda et al. 2015): the importance-weighted bound with its reparameterized gradient.

.. math::
    \mathcal L_K(x) = \mathbb E_{z_{1:K} \sim q}\Big[\log \frac1K \sum_{k=1}^K
    \frac{p(x, z_k)}{q(z_k \mid x)}\Big], \qquad \nabla = \sum_k \tilde w_k \nabla \log w_k,
    \quad \tilde w_k = w_k / \textstyle\sum_j w_j.

The logsumexp runs over the K particles of each datapoint separately.
"""

from ..losses import register_loss
from .base import ImportanceWeightedELBO, log_mean_exp


@register_loss("iwae", "IWAE bound, per datapoint (Burda et al. 2015)")
class IWAE(ImportanceWeightedELBO):
    """Per-datapoint IWAE bound with ``num_particles`` = K samples."""

    def bound(self, log_w):
        return log_mean_exp(log_w, 0)
