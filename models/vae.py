"""VAE (Kingma & Welling 2014) with a Bernoulli likelihood, written as plain Pyro.

Default network: Burda et al. (2015)'s 1-layer architecture, 784-200-200-50 with tanh.
p(z) = N(0, I), p(x | z) = Bernoulli(logits = decoder(z)), q(z | x) = N(mu(x), diag sigma(x)^2).
"""

import pyro
import pyro.distributions as dist

from pyro_vae.distributions import BernoulliLogits
from pyro_vae.model import LatentVariableModel
from pyro_vae.nn import GaussianHead, mlp
from pyro_vae.registry import register_model


@register_model("vae")
class VAE(LatentVariableModel):
    """Bernoulli VAE, Burda et al.'s 1-layer net (784-200-200-50, tanh)."""

    likelihood = "bernoulli"

    def __init__(self, data, z_dim=50, hidden=(200, 200), activation="tanh"):
        super().__init__(data)
        self.z_dim = z_dim
        self.encoder = GaussianHead(self.x_dim, hidden, z_dim, activation)
        self.decoder = mlp(z_dim, list(hidden)[::-1], self.x_dim, activation)

    def observation(self, z):
        """The distribution of x given z (one event of x_dim values)."""
        return BernoulliLogits(self.decoder(z), validate_args=False).to_event(1)

    def model(self, x, y=None):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            prior = dist.Normal(x.new_zeros(self.z_dim), x.new_ones(self.z_dim)).to_event(1)
            z = pyro.sample("z", prior)
            pyro.sample("x", self.observation(z), obs=x)

    def guide(self, x, y=None):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))
