"""A dense Gaussian hierarchy: each latent conditioned on all the latents above it.

p(z_L) prod_i p(z_i | z_{i+1}, ..., z_L) p(x | z_1): the Markov chain HVAE (``hvae2``) is the special
case with only the nearest parent. The guide is derived from the graph
(:mod:`pyro_vae.declarative.graph`), bottom-up: q(z_1 | x) then each z_{i+1} given the latents drawn
below it that the model's graph couples it to (here all of them, since they share children).
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("hvae_dense")
class DenseHierarchicalVAE(DeclarativeModel):
    """Gaussian latents (default 64-32-16), each given all above it (declarative DAG)."""

    likelihood = "bernoulli"

    def declare(self, z_dims=(64, 32, 16), hidden=(200, 200), activation="tanh"):
        names = [f"z{i + 1}" for i in range(len(z_dims))]  # z1 nearest x, z_L on top
        latents = [Latent(names[i], int(z_dims[i]), given=names[i + 1:] or None, net=MLP([100], activation),
                          encoder=MLP([100], activation) if i else None) for i in reversed(range(len(z_dims)))]
        return Spec(latents=latents, likelihood=Bernoulli(MLP(list(hidden), activation)),
                    encoder=MLP(list(hidden), activation))
