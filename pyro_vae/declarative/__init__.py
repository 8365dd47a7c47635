"""Declare a latent-variable model in a few lines; get an ordinary Pyro model/guide pair.

    from pyro_vae.declarative import DeclarativeModel, Latent, Spec, Bernoulli, MLP
    from pyro_vae.registry import register_model

    @register_model("my_vae")
    class MyVAE(DeclarativeModel):
        def declare(self, z_dim=32):
            return Spec(latents=[Latent("z", z_dim, prior="vamp")],
                        likelihood=Bernoulli(MLP([300, 300])), encoder=MLP([300, 300]))
"""

from .model import DeclarativeModel
from .nets import MLP, Conv, Conv28
from .posteriors import IAF, Planar
from .priors import LearnedNormal, MixtureOfGaussians, StandardNormal, VampPrior
from .spec import (Bernoulli, Categorical, Context, ContinuousBernoulli, Gaussian, Label, Latent, Likelihood, Spec,
                   validate)

__all__ = [
    "Bernoulli", "Categorical", "Context", "Conv", "Conv28", "ContinuousBernoulli", "DeclarativeModel", "Gaussian", "IAF",
    "Label", "LearnedNormal", "Latent", "Likelihood", "MLP", "MixtureOfGaussians", "Planar", "Spec", "StandardNormal",
    "VampPrior", "validate",
]
