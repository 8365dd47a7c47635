r"""Linear-Gaussian latent model (probabilistic PCA / factor analysis) with an exact log p(x).

.. math::
    z \sim \mathcal N(0, I_d), \qquad x \mid z \sim \mathcal N(W z + b, \operatorname{diag}\psi),

so that :math:`x \sim \mathcal N(b, W W^\top + \operatorname{diag}\psi)` in closed form, and the
exact posterior is :math:`q^*(z \mid x) = \mathcal N(M^{-1} W^\top \Psi^{-1}(x - b), M^{-1})`
with :math:`M = I + W^\top \Psi^{-1} W`. With ``guide="exact"`` the guide *is* that posterior,
and every importance weight equals :math:`p(x)`: ELBO = IW_K = log p(x) for every K.
With ``guide="amortized"`` (default) the guide is a linear Gaussian encoder
:math:`\mathcal N(A x + c, \operatorname{diag} s^2)`, which cannot represent the correlated
posterior exactly, so the bounds are strict.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyro_vae.errors import ModelError
from pyro_vae.model import LatentVariableModel
from pyro_vae.registry import register_model


@register_model("linear_gaussian")
class LinearGaussian(LatentVariableModel):
    """Probabilistic PCA / factor analysis: exact log p(x) and optional exact-posterior guide."""

    likelihood = "gaussian"

    def __init__(self, data, z_dim=2, guide="amortized", init_scale=0.5, seed=0):
        super().__init__(data)
        if guide not in ("amortized", "exact"):
            raise ModelError(f"linear_gaussian guide must be 'amortized' or 'exact', got {guide!r}")
        gen = torch.Generator().manual_seed(seed)
        d, D = z_dim, self.x_dim
        self.z_dim, self.guide_kind = d, guide
        self.W = nn.Parameter(init_scale * torch.randn(D, d, generator=gen))
        self.b = nn.Parameter(torch.zeros(D))
        self.log_psi = nn.Parameter(torch.full((D,), -1.0))
        self.encoder = nn.Linear(D, d)  # the amortized guide's mean
        self.encoder_log_scale = nn.Parameter(torch.full((d,), -1.0))

    @property
    def psi(self):
        return self.log_psi.exp()

    # ---- closed forms ---------------------------------------------------------------------------
    def marginal(self) -> dist.MultivariateNormal:
        """:math:`p(x) = \\mathcal N(b, W W^T + \\operatorname{diag}\\psi)`."""
        cov = self.W @ self.W.T + torch.diag(self.psi)
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        return self.marginal().log_prob(x)

    def exact_posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """:math:`p(z \\mid x) = \\mathcal N(M^{-1} W^T \\Psi^{-1} (x - b), M^{-1})`."""
        wt_psi_inv = self.W.T / self.psi  # [d, D]
        precision = torch.eye(self.z_dim, dtype=x.dtype, device=x.device) + wt_psi_inv @ self.W
        cov = torch.linalg.inv(precision)
        cov = 0.5 * (cov + cov.T)
        loc = (x - self.b) @ (cov @ wt_psi_inv).T
        return dist.MultivariateNormal(loc, covariance_matrix=cov)

    # ---- Pyro -----------------------------------------------------------------------------------
    def model(self, x, y=None):
        pyro.module("linear_gaussian", self)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), x.new_ones(self.z_dim)).to_event(1))
            loc = z @ self.W.T + self.b
            pyro.sample("x", dist.Normal(loc, self.psi.sqrt()).to_event(1), obs=x)

    def guide(self, x, y=None):
        pyro.module("linear_gaussian", self)
        with pyro.plate("data", x.shape[0]):
            if self.guide_kind == "exact":
                pyro.sample("z", self.exact_posterior(x))
            else:
                pyro.sample("z", dist.Normal(self.encoder(x), self.encoder_log_scale.exp()).to_event(1))
