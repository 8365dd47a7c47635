"""Convolutional VAE for 28x28 images: two stride-2 convolutions each way (28 -> 14 -> 7)."""

from pyro_vae.declarative import Bernoulli, Conv28, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("conv_vae")
class ConvVAE(DeclarativeModel):
    """Bernoulli VAE with a small conv encoder / transposed-conv decoder for 28x28 (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dim=32, channels=(32, 64), hidden=256):
        net = Conv28(list(channels), hidden)
        return Spec(latents=[Latent("z", z_dim)], likelihood=Bernoulli(net), encoder=net)
