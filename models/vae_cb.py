"""VAE with a continuous Bernoulli likelihood (Loaiza-Ganem & Cunningham 2019) for grey [0, 1] images."""

from pyro_vae.declarative import MLP, ContinuousBernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("vae_cb")
class ContinuousBernoulliVAE(DeclarativeModel):
    """Continuous-Bernoulli VAE for grey images in [0, 1] (declarative)."""

    likelihood = "continuous_bernoulli"

    def declare(self, z_dim=50, hidden=(200, 200), activation="tanh"):
        net = MLP(list(hidden), activation)
        return Spec(latents=[Latent("z", z_dim)], likelihood=ContinuousBernoulli(net), encoder=net)
