"""Ladder VAE structure (Sønderby et al. 2016): a chain of Gaussian latents with top-down inference.

p(z_L) prod_i p(z_i | z_{i+1}) p(x | z_1); the guide first runs a deterministic pass over x, then
draws the latents from the top down, q(z_L | x) prod_i q(z_i | z_{i+1}, x): each factor reads the
shared features of x and the latent above it (the faithful inverse of the chain in that order,
:mod:`pyro_vae.declarative.graph`). Deep bottom-up guides tend to switch off their upper layers;
a top-down guide shares the generative direction. (The paper's precision-weighted merge of the
bottom-up and top-down Gaussians is replaced by a network reading both.)
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("lvae")
class LadderVAE(DeclarativeModel):
    """Chain of Gaussian latents (default 64-32-16, top last), top-down ladder guide (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dims=(64, 32, 16), hidden=(200, 200), features=200, activation="tanh"):
        names = [f"z{i + 1}" for i in range(len(z_dims))]  # z1 nearest x
        latents = [Latent(names[-1], int(z_dims[-1]))] + [
            Latent(names[i], int(z_dims[i]), given=names[i + 1], net=MLP([100], activation),
                   encoder=MLP([100], activation)) for i in reversed(range(len(z_dims) - 1))]
        latents[0].encoder = MLP([100], activation)
        return Spec(latents=latents, likelihood=Bernoulli(MLP(list(hidden), activation)),
                    encoder=MLP(list(hidden), activation), inference="top_down", features=int(features))
