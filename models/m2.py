"""Kingma et al. (2014)'s M2 semi-supervised VAE, declared: the same model as the hand-written
``ss_vae`` (same networks, same log weights draw for draw given the same weights).

p(y) = Cat(1/C), p(z) = N(0, I), p(x | z, y) Bernoulli; the derived guide (bottom-up, y drawn
first) is q(y | x) q(z | x, y). ``y`` is the dataset's label: observed on labelled batches (with
Kingma et al.'s classification term ``alpha * log q(y | x)``), summed out by enumeration otherwise.
"""

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Label, Latent, Spec
from pyro_vae.registry import register_model


@register_model("m2")
class DeclaredM2(DeclarativeModel):
    """Kingma's M2, declared: a Gaussian z and the label y (observed or enumerated) over x (declarative)."""

    likelihood = "bernoulli"

    def declare(self, z_dim=50, hidden=(500,), activation="softplus", labelled_examples=100, alpha=400.0):
        net = MLP(list(hidden), activation)
        label = Label(int(labelled_examples), float(alpha))
        classes = int(self.data_info.get("num_classes") or 10)
        return Spec(latents=[Latent("z", int(z_dim)), Latent("y", classes, kind="categorical", label=label)],
                    likelihood=Bernoulli(MLP(list(hidden)[::-1], activation)), encoder=net)
