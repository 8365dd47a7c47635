"""VAE with an inverse autoregressive flow posterior (Kingma et al. 2016; pythae's VAE_IAF).

p(z) = N(0, I), p(x | z) Bernoulli, as ``vae``; q(z | x): a diagonal Gaussian from the encoder,
pushed through ``num_flows`` affine autoregressive flows conditioned on a context the encoder also
returns (:mod:`pyro_vae.declarative.posteriors`), with the exact log q.
"""

from pyro_vae.declarative import IAF, MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("vae_iaf")
class IAFVAE(DeclarativeModel):
    """Bernoulli VAE, Burda's 1-layer net, IAF posterior (2 flows; declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dim=50, hidden=(200, 200), num_flows=2, flow_hidden=(100,), context=32, activation="tanh"):
        net = MLP(list(hidden), activation)
        posterior = IAF(int(num_flows), [int(h) for h in flow_hidden], int(context))
        return Spec(latents=[Latent("z", int(z_dim), posterior=posterior)], likelihood=Bernoulli(net), encoder=net)
