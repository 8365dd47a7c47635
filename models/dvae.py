"""A VAE with a discrete latent layer: a category c above a Gaussian z (a Gaussian-mixture VAE with
an explicit cluster variable; Dilokthanakul et al. 2016).

p(c) = Cat(1/C), p(z | c) = N(mu(c), sigma(c)), p(x | z) Bernoulli. The derived bottom-up guide
is q(z | x) q(c | z): given z, c is independent of x in the model, so its factor reads z alone
(the faithful inverse, :mod:`pyro_vae.declarative.graph`). ``c`` is summed out exactly by
enumeration (train with TraceEnum_ELBO, the default, or any IW estimator), or, with
``temperature``, replaced by its Concrete relaxation (log-space ExpRelaxedCategorical) so that
Trace_ELBO, STL and DReG differentiate through it.
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("dvae")
class DiscreteLayerVAE(DeclarativeModel):
    """A category (10 by default, enumerated or relaxed) above a Gaussian latent (declarative)."""

    likelihood = "bernoulli"

    def declare(self, categories=10, z_dim=20, hidden=(200, 200), activation="tanh", temperature=None):
        c = Latent("c", int(categories), kind="categorical", relaxed=temperature, encoder=MLP([100], activation))
        z = Latent("z", int(z_dim), given="c", net=MLP([100], activation))
        net = MLP(list(hidden), activation)
        return Spec(latents=[c, z], likelihood=Bernoulli(net), encoder=net)
