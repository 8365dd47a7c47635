"""Convolutional VAE for images of any shape: stride-2 convolutions down, transposed ones up.

The data's C x H x W sets the network (``Conv``): grey or colour, 28x28 or 32x32 or 12x10; on
28x28 grey images with the default channels it is the network the zoo has always had here.
"""

from pyro_vae.declarative import Bernoulli, Conv, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("conv_vae")
class ConvVAE(DeclarativeModel):
    """Bernoulli VAE with a conv encoder / transposed-conv decoder for any image shape (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dim=32, channels=(32, 64), hidden=256):
        net = Conv(list(channels), hidden)
        return Spec(latents=[Latent("z", z_dim)], likelihood=Bernoulli(net), encoder=net)
