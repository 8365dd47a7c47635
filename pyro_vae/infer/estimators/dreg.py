r"""DReG: doubly reparameterized gradients for IWAE (Tucker, Lawson, Gu & Maddison 2018).

The bound is IWAE's. The model's gradient is IWAE's, :math:`\sum_k \tilde w_k \nabla_\theta \log w_k`;
the guide's is

.. math::
    \nabla_\phi^{\mathrm{DReG}} = \sum_k \tilde w_k^2 \, \frac{\partial \log w_k}{\partial z_k}
    \frac{\partial z_k}{\partial \phi},\qquad \tilde w_k = \frac{w_k}{\sum_j w_j},

which has the same expectation as IWAE's guide gradient but no score term, so its signal-to-noise
ratio does not vanish as K grows, and it is exactly zero per sample when q is the posterior.
Two objectives, so :meth:`loss_and_grads` runs two backward passes (model, then guide parameters);
``differentiable_loss`` is refused.
"""

from ..losses import register_loss
from .base import ImportanceWeightedELBO, log_mean_exp


@register_loss("dreg", "IWAE bound, doubly reparameterized guide gradient (Tucker et al. 2018)")
class DReG(ImportanceWeightedELBO):
    """IWAE bound with the doubly reparameterized guide gradient (``num_particles`` = K)."""

    split_gradients = True

    def bound(self, log_w):
        return log_mean_exp(log_w, 0)

    def split_surrogates(self, pt):
        log_w = pt.log_weights(respect_scale=True)
        log_w_path = self.path_log_weights(pt)
        w_tilde = log_w.detach().softmax(0)
        return log_mean_exp(log_w, 0), (w_tilde ** 2 * log_w_path).sum(0)


#: The name of the estimator in Tucker et al.'s paper.
DReG_IWAE = DReG
