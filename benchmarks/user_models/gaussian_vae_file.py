"""A user's model file, as `pyro-vae compare --model FILE` takes it: a VAE with a Gaussian
likelihood of learned per-dimension scale, for real-valued data such as `moons` (plain Pyro)."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyro_vae.model import LatentVariableModel
from pyro_vae.nn import GaussianHead, mlp
from pyro_vae.registry import register_model


@register_model("user_gaussian_vae")
class UserGaussianVAE(LatentVariableModel):
    """Gaussian-likelihood VAE from a user's file (2-D latent, one hidden layer)."""

    likelihood = "gaussian"

    def __init__(self, data, z_dim=2, hidden=(64,)):
        super().__init__(data)
        self.z_dim = z_dim
        self.encoder = GaussianHead(self.x_dim, list(hidden), z_dim, "tanh")
        self.generative = nn.Module()  # the decoder and the likelihood's scale: the model's parameters
        self.generative.decoder = mlp(z_dim, list(hidden)[::-1], self.x_dim, "tanh")
        self.generative.log_scale = nn.Parameter(torch.zeros(self.x_dim))

    def model(self, x, y=None):
        pyro.module("generative", self.generative)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), 1.0).to_event(1))
            scale = self.generative.log_scale.clamp(-7.0, 3.0).exp()
            pyro.sample("x", dist.Normal(self.generative.decoder(z), scale).to_event(1), obs=x)

    def guide(self, x, y=None):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))
