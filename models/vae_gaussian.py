"""VAE with a diagonal Gaussian likelihood for real-valued data (e.g. ``moons``).

p(x | z) = N(decoder(z), diag(sigma^2)), sigma learned per dimension (``scale=None``) or fixed.
"""

import pyro.distributions as dist

from pyro_vae.nn import GaussianDecoder
from pyro_vae.registry import register_model
from pyro_vae.zoo.vae import VAE


@register_model("vae_gaussian")
class GaussianVAE(VAE):
    """VAE with a Gaussian likelihood (learned or fixed scale) for real-valued data."""

    likelihood = "gaussian"

    def __init__(self, data, z_dim=2, hidden=(64, 64), activation="tanh", scale=None):
        super().__init__(data, z_dim=z_dim, hidden=hidden, activation=activation)
        self.decoder = GaussianDecoder(z_dim, list(hidden)[::-1], self.x_dim, activation, scale)

    def observation(self, z):
        loc, scale = self.decoder(z)
        return dist.Normal(loc, scale).to_event(1)
