"""Conditional VAE (Sohn et al. 2015): p(x | z, y), q(z | x, y) with the digit label y observed.

``pyro-vae sample RUN --label 3`` draws digits of a chosen class.
"""

from pyro_vae.declarative import MLP, Bernoulli, Context, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("cvae")
class ConditionalVAE(DeclarativeModel):
    """Bernoulli VAE conditioned on the label y in model and guide (declarative)."""

    likelihood = "bernoulli"
    uses_labels = True

    def declare(self, z_dim=20, hidden=(200, 200), activation="tanh", num_classes=10):
        net = MLP(list(hidden), activation)
        return Spec(latents=[Latent("z", z_dim)], likelihood=Bernoulli(net), encoder=net,
                    context=Context(num_classes))
