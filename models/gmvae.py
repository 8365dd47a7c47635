"""VAE with a learned mixture-of-Gaussians prior (GMVAE-style), marginalized exactly in p(z)."""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, MixtureOfGaussians, Spec
from pyro_vae.registry import register_model


@register_model("gmvae")
class MixturePriorVAE(DeclarativeModel):
    """Bernoulli VAE with a learned 10-component Gaussian-mixture prior (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dim=20, components=10, hidden=(200, 200), activation="tanh"):
        net = MLP(list(hidden), activation)
        return Spec(latents=[Latent("z", z_dim, prior=MixtureOfGaussians(components))],
                    likelihood=Bernoulli(net), encoder=net)
