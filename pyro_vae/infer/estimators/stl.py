r"""STL, "sticking the landing" (Roeder, Wu & Duvenaud 2017): the ELBO with the path derivative only.

.. math::
    \mathcal L = \frac1K \sum_k \big[\log p(x, z_k) - \log q_\phi(z_k \mid x)\big],\qquad
    \nabla_\phi^{\mathrm{STL}} = \frac1K \sum_k \nabla_z \big[\log p(x, z) - \log q_\phi(z \mid x)\big]
    \big|_{z = z_k} \frac{\partial z_k}{\partial \phi}

i.e. the score term :math:`\nabla_\phi \log q_\phi(z)|_{z\,\mathrm{fixed}}` (zero in expectation)
is dropped. When :math:`q` equals the posterior, :math:`\log p(x,z) - \log q(z|x) = \log p(x)` for
every :math:`z`, so the STL gradient of the guide is exactly zero for every sample.
"""

from ..losses import register_loss
from .base import ImportanceWeightedELBO


@register_loss("stl", "ELBO, path-derivative guide gradient: sticking the landing (Roeder et al. 2017)")
class STL(ImportanceWeightedELBO):
    """ELBO averaged over ``num_particles`` draws, path-derivative gradient for the guide."""

    def bound(self, log_w):
        return log_w.mean(0)

    def surrogate(self, pt):
        return self.path_log_weights(pt).mean(0)
