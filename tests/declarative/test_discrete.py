"""Discrete latents in declared models: exact sums against hand math, the declared M2 against the
hand-written ss_vae draw for draw, and the Concrete relaxation."""

import itertools
import math

import numpy as np
import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO

from pyro_vae.declarative import MLP, Bernoulli, DeclarativeModel, Latent, Spec
from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.infer.losses import make_loss
from pyro_vae.registry import build_model

TINY = {"x_dim": 6, "kind": "binary"}


class _OneDiscrete(DeclarativeModel):
    """x depends on one discrete latent only: log p(x) is a finite sum."""

    likelihood = "bernoulli"

    def declare(self, kind="categorical", dim=4, prior=None):
        return Spec(latents=[Latent("c", dim, kind=kind, prior=prior, encoder=MLP([8]))],
                    likelihood=Bernoulli(MLP([8])), encoder=MLP([8]))


def _values(kind, dim):
    """Every value of the latent, as the decoder reads it (one-hot or bits), with its prior log-probability."""
    if kind == "categorical":
        return torch.eye(dim), torch.full((dim,), -math.log(dim))
    bits = torch.tensor(list(itertools.product([0.0, 1.0], repeat=dim)))
    return bits, torch.full((2 ** dim,), -dim * math.log(2))


def _binary_data(n=10, d=6, seed=0):
    return torch.bernoulli(torch.full((n, d), 0.5), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind,dim", [("categorical", 4), ("bernoulli", 3)])
def test_an_enumerated_latent_is_summed_out_exactly(float64, kind, dim):
    """The IW estimate of log p(x) is the exact finite sum for any K; TraceEnum_ELBO's loss is the
    exact expectation under q (no sampling) of log p(x, c) - log q(c | x)."""
    torch.manual_seed(0)
    m = _OneDiscrete(TINY, kind=kind, dim=dim).double()
    x = _binary_data().double()
    values, log_prior = _values(kind, dim)
    values, log_prior = values.double(), log_prior.double()
    with torch.no_grad():
        logits = m.generative["likelihood"](values)  # [V, D]
        log_lik = -F.binary_cross_entropy_with_logits(logits.unsqueeze(1).expand(-1, len(x), -1),
                                                      x.expand(len(values), -1, -1), reduction="none").sum(-1)
        log_joint = log_prior.unsqueeze(1) + log_lik  # [V, N]
        exact = log_joint.logsumexp(0)
        unit_logits = m.inference["c"].net(x)
        log_q = (unit_logits.log_softmax(-1) if kind == "categorical"
                 else F.logsigmoid(unit_logits) @ values.T + F.logsigmoid(-unit_logits) @ (1 - values).T).T  # [V, N]
        elbo = (log_q.exp() * (log_joint - log_q)).sum(0)

    for k in (1, 7):
        iw = evaluate_log_likelihood(m.model, m.guide, x, k=k, seed=k, progress=False, diagnostics=False)
        np.testing.assert_allclose(iw.log_px_iw, exact.numpy(), atol=1e-10)
    loss = make_loss("enum").differentiable_loss(m.model, m.guide, x)
    np.testing.assert_allclose(float(loss.detach()), -float(elbo.sum()), rtol=1e-10)
    assert float(elbo.sum()) < float(exact.sum())


def test_a_learned_discrete_prior_trains_its_logits():
    torch.manual_seed(0)
    m = _OneDiscrete(TINY, kind="categorical", dim=3, prior="learned")
    x = _binary_data(40)
    make_loss("enum").differentiable_loss(m.model, m.guide, x).backward()
    grad = m.generative["prior_c"].logits.grad
    assert grad is not None and float(grad.abs().sum()) > 0 and abs(float(grad.sum())) < 1e-5  # softmax: sums to 0


def _m2_pair(alpha=5.0):
    info = {"x_dim": 20, "num_classes": 3, "kind": "binary"}
    torch.manual_seed(0)
    options = dict(z_dim=4, hidden=[16], labelled_examples=10, alpha=alpha)
    hand, declared = build_model("ss_vae", info, **options), build_model("m2", info, **options)
    declared.inference["y"].net.load_state_dict(hand.classifier.state_dict())
    declared.inference["z"].load_state_dict(hand.encoder.state_dict())
    declared.generative["likelihood"].load_state_dict(hand.decoder.state_dict())
    x = _binary_data(12, 20, seed=1)
    y = torch.arange(12) % 3
    return hand, declared, x, y


def test_declared_m2_is_the_hand_written_ss_vae_draw_for_draw():
    hand, declared, x, y = _m2_pair()
    # the IW evaluator (y summed out) on the same seed: the same log weights
    a = evaluate_log_likelihood(hand.model, hand.guide, x, k=9, seed=3, progress=False)
    b = evaluate_log_likelihood(declared.model, declared.guide, x, k=9, seed=3, progress=False)
    np.testing.assert_allclose(b.log_px_iw, a.log_px_iw, atol=1e-5)
    np.testing.assert_allclose(b.elbo, a.elbo, atol=1e-5)
    # training objectives, unlabelled (enumerated) and labelled (classification term), and their gradients
    for loss_name, args in [("enum", (x,)), ("enum", (x, y)), ("iwae", (x,))]:
        losses, grads = [], []
        for m in (hand, declared):
            m.zero_grad()
            pyro.set_rng_seed(4)
            loss = make_loss(loss_name, 5).differentiable_loss(m.model, m.guide, *args)
            loss.backward()
            losses.append(float(loss.detach()))
            grads.append(sorted(round(float(p.grad.abs().sum()), 3) for p in m.parameters() if p.grad is not None))
        assert losses[1] == pytest.approx(losses[0], rel=1e-5), loss_name
        assert grads[1] == pytest.approx(grads[0], rel=1e-3), loss_name
    np.testing.assert_array_equal(declared.classify(x).numpy(), hand.classify(x).numpy())


def test_the_classification_term_weighs_alpha_log_q_of_the_label():
    _, declared, x, y = _m2_pair(alpha=5.0)
    _, weaker, _, _ = _m2_pair(alpha=1.0)
    pyro.set_rng_seed(0)
    with_term = make_loss("enum").differentiable_loss(declared.model, declared.guide, x, y)
    pyro.set_rng_seed(0)
    plain = make_loss("enum").differentiable_loss(weaker.model, weaker.guide, x, y)
    with torch.no_grad():
        log_q = declared.inference["y"](x).log_prob(y).sum()
    assert float((with_term - plain).detach()) == pytest.approx(-(5.0 - 1.0) * float(log_q), rel=1e-5)


def test_a_relaxed_category_is_a_continuous_latent_the_gradient_goes_through():
    torch.manual_seed(0)
    m = build_model("dvae", TINY, categories=4, z_dim=2, hidden=[8], temperature=0.5)
    x = _binary_data(16)
    trace = pyro.poutine.trace(m.guide).get_trace(x)
    c = trace.nodes["c"]["value"]
    assert c.shape == (16, 4) and torch.allclose(c.exp().sum(-1), torch.ones(16))  # log of a simplex point
    assert m.default_loss == "elbo"  # nothing to enumerate
    Trace_ELBO(max_plate_nesting=1).differentiable_loss(m.model, m.guide, x).backward()
    grad = sum(float(p.grad.abs().sum()) for p in m.inference["c"].parameters())
    assert math.isfinite(grad) and grad > 0
    res = evaluate_log_likelihood(m.model, m.guide, x, k=50, seed=0, progress=False)
    assert np.all(np.isfinite(res.log_px_iw)) and np.mean(res.log_px_iw) > np.mean(res.elbo)
