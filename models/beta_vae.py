"""beta-VAE (Higgins et al. 2017): E_q[log p(x|z)] - beta KL(q(z|x) || p(z)), beta > 1 for disentangling.

beta scales the latent's sample sites in model and guide (``poutine.scale``), so every ELBO
estimator trains the beta-weighted objective, while the evaluator reports the true model's
log p(x) and ELBO (beta = 1).
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.registry import register_model


@register_model("beta_vae")
class BetaVAE(DeclarativeModel):
    """Bernoulli VAE trained on the beta-weighted ELBO (default beta = 4; declarative)."""

    likelihood = "bernoulli"

    def declare(self, beta=4.0, z_dim=10, hidden=(200, 200), activation="tanh"):
        net = MLP(list(hidden), activation)
        return Spec(latents=[Latent("z", z_dim, kl_weight=beta)], likelihood=Bernoulli(net), encoder=net)
