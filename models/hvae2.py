"""Two stochastic layers, Burda et al. (2015)'s 2-layer architecture: 784-200-200-100z-100-100-50z.

p(z2) p(z1 | z2) p(x | z1) with q(z1 | x) q(z2 | z1), all diagonal Gaussians / Bernoulli, tanh.
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("hvae2")
class TwoLayerVAE(DeclarativeModel):
    """Two stochastic layers (Burda et al.): 784-200-200-100z-100-100-50z (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z1_dim=100, z2_dim=50, activation="tanh"):
        wide, narrow = MLP([200, 200], activation), MLP([100, 100], activation)
        return Spec(
            latents=[Latent("z2", z2_dim),
                     Latent("z1", z1_dim, given="z2", net=narrow, encoder=None)],
            likelihood=Bernoulli(wide),
            encoder=wide,  # q(z1 | x); q(z2 | z1) defaults to MLP([100, 100])
        )
