"""Convolutional VAE with a continuous Bernoulli likelihood (Loaiza-Ganem & Cunningham 2019) for
grey or colour images with intensities in [0, 1], of any shape (``Conv`` reads C x H x W from the
data): the colours are modelled as they are, not binarized as ``conv_vae`` does.
"""

from pyro_vae.declarative import Conv, ContinuousBernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("conv_vae_cb")
class ConvContinuousBernoulliVAE(DeclarativeModel):
    """Continuous-Bernoulli VAE with a conv encoder / decoder for grey or colour images (declarative)."""

    likelihood = "continuous_bernoulli"

    def declare(self, z_dim=32, channels=(32, 64), hidden=256):
        net = Conv(list(channels), hidden)
        return Spec(latents=[Latent("z", z_dim)], likelihood=ContinuousBernoulli(net), encoder=net)
