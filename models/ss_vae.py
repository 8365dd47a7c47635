"""Semi-supervised VAE, Kingma et al. (2014)'s M2, written as plain Pyro.

p(y) = Cat(1/C), p(z) = N(0, I), p(x | y, z) = Bernoulli(decoder(z, y));
q(y | x) = Cat(classifier(x)), q(z | x, y) = N(encoder(x, y)).

Trained on ``labelled_examples`` labelled training images (a fixed subset) and the rest
unlabelled. On unlabelled batches ``y`` is a latent summed out by enumeration
(``infer={"enumerate": "parallel"}``: train with ``--loss enum``, Pyro's ``TraceEnum_ELBO``, or
with any importance-weighted estimator, which sums it out exactly). On labelled batches ``y`` is
observed and ``alpha * log q(y | x)`` is added to the model as a ``pyro.factor`` (Kingma et al.'s
classification term), so that the classifier learns from the labels. Evaluation is unsupervised:
``log p(x) = log sum_y p(x, y)``.
"""

import pyro
import pyro.distributions as dist
import torch

from pyro_vae.distributions import BernoulliLogits
from pyro_vae.model import LatentVariableModel
from pyro_vae.nn import GaussianHead, mlp, one_hot
from pyro_vae.registry import register_model


def _join(h, one_hot):
    """Concatenate features [..., B, D] and one-hot labels [..., B or 1, C], broadcast."""
    lead = torch.broadcast_shapes(h.shape[:-1], one_hot.shape[:-1])
    return torch.cat([h.expand(lead + h.shape[-1:]), one_hot.expand(lead + one_hot.shape[-1:])], -1)


@register_model("ss_vae")
class SemiSupervisedVAE(LatentVariableModel):
    """Kingma's M2: labels observed when known, enumerated when not (plain Pyro)."""

    likelihood = "bernoulli"
    default_loss = "enum"  # TraceEnum_ELBO sums the unobserved label out

    def __init__(self, data, z_dim=50, hidden=(500,), activation="softplus", labelled_examples=100, alpha=None):
        super().__init__(data)
        self.num_classes = int(data.get("num_classes") or 10)
        self.z_dim, self.labelled_examples = z_dim, int(labelled_examples)
        # Kingma et al.: alpha = 0.1 N, with N the number of datapoints: 0.1 * 4000 on mnist5k
        self.alpha = float(alpha) if alpha is not None else 0.1 * 4000
        hidden = list(hidden)
        self.classifier = mlp(self.x_dim, hidden, self.num_classes, activation)
        self.encoder = GaussianHead(self.x_dim + self.num_classes, hidden, z_dim, activation)
        self.decoder = mlp(z_dim + self.num_classes, hidden[::-1], self.x_dim, activation)

    def model(self, x, y=None):
        pyro.module("ss_vae_decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            if y is not None:  # M2's classification term, on labelled batches only (a factor in
                # the model adds to the objective; evaluation passes no labels, so log p(x) is untouched)
                pyro.module("ss_vae_classifier", self.classifier)
                pyro.factor("classification", self.alpha * dist.Categorical(logits=self.classifier(x)).log_prob(y))
            prior_y = dist.Categorical(logits=x.new_zeros(self.num_classes))
            y = pyro.sample("y", prior_y, obs=y)
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), 1.0).to_event(1))
            logits = self.decoder(_join(z, one_hot(y, self.num_classes, x.dtype)))
            pyro.sample("x", BernoulliLogits(logits, validate_args=False).to_event(1), obs=x)

    def guide(self, x, y=None):
        pyro.module("ss_vae_encoder", self.encoder)
        pyro.module("ss_vae_classifier", self.classifier)
        with pyro.plate("data", x.shape[0]):
            if y is None:
                y = pyro.sample("y", dist.Categorical(logits=self.classifier(x)), infer={"enumerate": "parallel"})
            loc, scale = self.encoder(_join(x, one_hot(y, self.num_classes, x.dtype)))
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    @torch.no_grad()
    def classify(self, x):
        """Most probable class under q(y | x)."""
        return self.classifier(x).argmax(-1)

    @torch.no_grad()
    def sample(self, n, y=None):
        """Means of p(x | z, y) for n prior draws of z, classes y (0, 1, 2, ... in turn by default)."""
        if y is None:
            y = torch.arange(n, device=self.device) % self.num_classes
        dummy = torch.zeros(n, self.x_dim, device=self.device)
        with torch.no_grad(), pyro.poutine.block():
            trace = pyro.poutine.trace(self.model).get_trace(dummy, y.long())
        return self._observation_mean(trace)
