"""Several observed variables in a declared model: parts of x with their own likelihoods and
parents, and the label as an observed variable; log weights against hand math."""

import numpy as np
import pyro
import pytest
import torch
import torch.nn.functional as F

from pyro_vae.declarative import MLP, Bernoulli, Categorical, DeclarativeModel, Gaussian, Latent, Spec, validate
from pyro_vae.errors import ModelError
from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.infer.losses import make_loss

DATA = {"x_dim": 10, "kind": "binary", "num_classes": 3}


class _Halves(DeclarativeModel):
    """a -> left half of x, b -> right half; and optionally p(y | a, b)."""

    likelihood = "bernoulli"

    def declare(self, label=False):
        parts = [Bernoulli(MLP([8]), given=["b"], columns=(6, 10)), Bernoulli(MLP([8]), given=["a"], columns=(0, 6))]
        if label:
            parts.append(Categorical(MLP([8]), given=["a", "b"]))
        return Spec(latents=[Latent("a", 2), Latent("b", 3)], likelihood=parts, encoder=MLP([8]))


def _data(n=7):
    gen = torch.Generator().manual_seed(0)
    return torch.bernoulli(torch.full((n, 10), 0.4), generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _log_normal(z, loc, scale):
    return torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)


@pytest.mark.parametrize("label", [False, True])
def test_each_observed_variable_has_its_own_network_and_parents(label):
    """One guide draw, scored by hand: log p(a) + log p(b) + log p(x_1 | a) + log p(x_2 | b)
    [+ log p(y | a, b)] - log q(.), with the guide reading x [and y]."""
    torch.manual_seed(0)
    m = _Halves(DATA, label=label)
    x, y = _data()
    args = (x, y) if label else (x,)
    # given the two halves nothing couples a and b; the label, a child of both, does
    assert m.plan.guide_parents == {"b": ["x"], "a": ["x", "b"] if label else ["x"]}
    guide = pyro.poutine.trace(m.guide).get_trace(*args)
    model = pyro.poutine.trace(pyro.poutine.replay(m.model, trace=guide)).get_trace(*args)
    a, b = guide.nodes["a"]["value"], guide.nodes["b"]["value"]
    with torch.no_grad():
        seen = torch.cat([x, F.one_hot(y, 3).float()], -1) if label else x
        q_a = m.inference["a"](torch.cat([seen, b], -1) if label else seen)
        expected = (_log_normal(a, 0.0, 1.0) + _log_normal(b, 0.0, 1.0)
                    - _log_normal(a, *q_a) - _log_normal(b, *m.inference["b"](seen)))
        left, right = m.generative["likelihood"](a), m.generative["likelihood_1"](b)  # parts in column order
        expected += -F.binary_cross_entropy_with_logits(left, x[:, :6], reduction="none").sum(-1)
        expected += -F.binary_cross_entropy_with_logits(right, x[:, 6:], reduction="none").sum(-1)
        if label:
            expected += m.generative["likelihood_y"](torch.cat([a, b], -1)).log_softmax(-1).gather(1, y[:, None])[:, 0]
    model.compute_log_prob()
    guide.compute_log_prob()
    log_w = sum(s["log_prob"] for s in model.nodes.values() if s["type"] == "sample" and "log_prob" in s) - \
        sum(s["log_prob"] for s in guide.nodes.values() if s["type"] == "sample" and "log_prob" in s)
    np.testing.assert_allclose(log_w.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert m.uses_labels == label
    est = evaluate_log_likelihood(m.model, m.guide, *(([x, y],) if label else (x,)), k=20, progress=False)
    assert np.all(est.log_px_iw >= est.elbo - 1e-6)
    make_loss("iwae", 4).differentiable_loss(m.model, m.guide, *args).backward()
    assert all(p.grad is not None for name, p in m.named_parameters() if "likelihood" in name)


def test_a_gaussian_part_has_its_own_scale():
    class TwoGaussianParts(DeclarativeModel):
        likelihood = "gaussian"

        def declare(self):
            return Spec(latents=[Latent("z", 2)], likelihood=[Gaussian(MLP([4]), columns=(0, 4)),
                                                              Gaussian(MLP([4]), scale=0.5, columns=(4, 10))])

    m = TwoGaussianParts({"x_dim": 10, "kind": "real"})
    assert m.generative["likelihood"].log_scale.shape == (4,) and m.generative["likelihood"].log_scale.requires_grad
    assert torch.allclose(m.generative["likelihood_1"].log_scale.exp(), torch.full((6,), 0.5))
    x = torch.randn(5, 10)
    trace = pyro.poutine.trace(m.model).get_trace(x)
    assert trace.nodes["x"]["fn"].mean.shape == (5, 10)


@pytest.mark.parametrize("likelihood,message", [
    ([Bernoulli(columns=(0, 4)), Bernoulli(columns=(5, 10))], r"likelihood\[1\].columns: the parts of x must tile"),
    ([Bernoulli(columns=(0, 6)), Bernoulli(columns=(4, 10))], r"likelihood\[1\].columns: the parts of x must tile"),
    ([Bernoulli(columns=(0, 4))], "the parts of x cover columns 0..4, but x has 10"),
    ([Bernoulli(columns=(0, 4)), Gaussian(columns=(4, 10))], r"likelihood\[1\].kind: every part of x has the same"),
    ([Bernoulli(columns=(4, 0))], r"likelihood\[0\].columns must be \(start, stop\)"),
    ([Bernoulli(), Categorical(), Categorical()], r"likelihood\[2\]: only one Categorical"),
    ([Categorical()], "declare a likelihood of x"),
    ([Bernoulli(), "poisson"], r"likelihood\[1\] must be a Likelihood"),
    ([Bernoulli(given=["w"])], r"likelihood\[0\].given: 'w' is not a latent"),
])
def test_invalid_observed_variables_name_the_field(likelihood, message):
    with pytest.raises(ModelError, match=message):
        validate(Spec(latents=[Latent("z", 2)], likelihood=likelihood), DATA)


def test_a_label_likelihood_needs_labels_and_no_second_label():
    from pyro_vae.declarative import Context, Label

    with pytest.raises(ModelError, match="observes the label, but the data have none"):
        validate(Spec(latents=[Latent("z", 2)], likelihood=[Bernoulli(), Categorical()]), {"x_dim": 10, "kind": "binary"})
    with pytest.raises(ModelError, match="remove context"):
        validate(Spec(latents=[Latent("z", 2)], likelihood=[Bernoulli(), Categorical()], context=Context(3)), DATA)
    with pytest.raises(ModelError, match="both observed"):
        validate(Spec(latents=[Latent("z", 2), Latent("y", 3, kind="categorical", label=Label())],
                      likelihood=[Bernoulli(given=["z", "y"]), Categorical(given=["z"])]), DATA)
