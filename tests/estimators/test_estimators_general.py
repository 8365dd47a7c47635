"""Estimators on any pair: pure-PyTorch agreement, several latent sites, context, subsampling,
discrete latents, refusals, and use through pyro.infer.SVI and the trainer."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F

from pyro_vae.errors import InferenceError
from pyro_vae.infer.estimators import CIWAE, IWAE, MIWAE, PIWAE, STL, DReG
from pyro_vae.infer.losses import make_loss
from pyro_vae.registry import build_model
from pyro_vae.training import TrainConfig, train


def test_iwae_loss_equals_pure_pytorch_iwae_on_the_same_random_stream():
    torch.manual_seed(0)
    vae = build_model("vae", {"x_dim": 784, "kind": "binary"})
    x = torch.bernoulli(torch.full((9, 784), 0.2))
    k = 12
    pyro.set_rng_seed(5)
    ours = IWAE(num_particles=k, max_plate_nesting=1).loss(vae.model, vae.guide, x)
    torch.manual_seed(5)
    with torch.no_grad():
        loc, scale = vae.encoder(x)
        z = torch.distributions.Normal(loc, scale).rsample((k,))  # [K, N, 50], the same draws
        log_q = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        logits = vae.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        bound = torch.logsumexp(log_prior + log_lik - log_q, 0) - math.log(k)
    assert ours == pytest.approx(-float(bound.sum()), abs=1e-4 * len(x))


def _chain_pair(s=0.5):
    """z1 ~ N(0,1), z2 | z1 ~ N(z1, 1), x | z2 ~ N(z2, s^2); guide q(z2|x) q(z1|z2) with own
    parameters. The exact posterior is p(z2|x) = N(v x / s^2, v), v = 1/(1/2 + 1/s^2), and
    p(z1|z2, x) = p(z1|z2) = N(z2/2, 1/2)."""
    v = 1.0 / (0.5 + 1.0 / s ** 2)
    exact = {"a": v / s ** 2, "sd2": math.sqrt(v), "b": 0.5, "sd1": math.sqrt(0.5)}

    def model(x):
        with pyro.plate("data", len(x)):
            z1 = pyro.sample("z1", dist.Normal(0.0, 1.0))
            z2 = pyro.sample("z2", dist.Normal(z1, 1.0))
            pyro.sample("x", dist.Normal(z2, s), obs=x)

    def guide(x):
        p = {k: pyro.param(k, torch.tensor(v)) for k, v in exact.items()}
        with pyro.plate("data", len(x)):
            z2 = pyro.sample("z2", dist.Normal(p["a"] * x, p["sd2"]))
            pyro.sample("z1", dist.Normal(p["b"] * z2, p["sd1"]))

    return model, guide


@pytest.mark.parametrize("make", [lambda: STL(num_particles=3), lambda: DReG(num_particles=3)], ids=["stl", "dreg"])
def test_zero_guide_gradient_at_the_posterior_with_two_latent_sites(float64, make):
    model, guide = _chain_pair()
    x = torch.randn(15) * 1.5
    est = make()
    for _ in range(3):
        pyro.get_param_store().clear()
        est.loss_and_grads(model, guide, x)
        grads = [pyro.param(k).unconstrained().grad for k in ("a", "sd2", "b", "sd1")]
        assert max(float(g.abs().max()) for g in grads) < 1e-9
    pyro.get_param_store().clear()
    IWAE(num_particles=3).loss_and_grads(model, guide, x)
    assert float(pyro.param("b").unconstrained().grad.abs()) > 1e-3  # the standard estimator is noisy there


def test_observed_context_reaches_model_and_guide(float64):
    """x | z, c ~ N(z + c, 1), z ~ N(0, 1): posterior N((x - c)/2, 1/2); STL is exactly zero there."""

    def model(x, c):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z + c, 1.0), obs=x)

    def guide(x, c):
        w = pyro.param("w", torch.tensor(0.5))
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(w * (x - c), math.sqrt(0.5)))

    x, c = torch.randn(10), torch.randn(10)
    STL(num_particles=4).loss_and_grads(model, guide, x, c)
    assert float(pyro.param("w").unconstrained().grad.abs()) < 1e-9
    bound = -IWAE(num_particles=2000).loss(model, guide, x, c)
    exact = dist.Normal(c, math.sqrt(2.0)).log_prob(x).sum()
    assert bound == pytest.approx(float(exact), abs=1e-6)  # the exact guide: IWAE = log p(x) exactly


def test_subsample_scale_is_applied_after_the_logsumexp():
    def model(x, idx):
        with pyro.plate("data", 40, subsample=idx):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x, idx):
        with pyro.plate("data", 40, subsample=idx):
            pyro.sample("z", dist.Normal(x / 2, 0.9))

    def full_model(x, idx):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def full_guide(x, idx):
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(x / 2, 0.9))

    x, idx = torch.randn(10), torch.arange(10)
    pyro.set_rng_seed(1)
    scaled = IWAE(num_particles=5, max_plate_nesting=1).loss(model, guide, x, idx)
    pyro.set_rng_seed(1)
    unscaled = IWAE(num_particles=5, max_plate_nesting=1).loss(full_model, full_guide, x, idx)
    assert scaled == pytest.approx(4.0 * unscaled, rel=1e-6)
    # Pyro's RenyiELBO(alpha=0) scales inside the logsumexp instead: a different number
    pyro.set_rng_seed(1)
    renyi = pyro.infer.RenyiELBO(alpha=0, num_particles=5, max_plate_nesting=1).loss(model, guide, x, idx)
    assert abs(renyi - scaled) > 1.0


def _bernoulli_toy(enumerate_guide):
    """y ~ Bernoulli(sigmoid(a)), x | y ~ N(2y - 1, 1); guide q(y) = Bernoulli(sigmoid(b))."""

    def model(x):
        a = pyro.param("a", torch.tensor(0.3))
        with pyro.plate("data", len(x)):
            y = pyro.sample("y", dist.Bernoulli(logits=a))
            pyro.sample("x", dist.Normal(2 * y - 1, 1.0), obs=x)

    def guide(x):
        b = pyro.param("b", torch.tensor(-0.2))
        with pyro.plate("data", len(x)):
            infer = {"enumerate": "parallel"} if enumerate_guide else {}
            pyro.sample("y", dist.Bernoulli(logits=b), infer=infer)

    return model, guide


def test_sampled_discrete_latent_is_refused_with_the_way_out():
    model, guide = _bernoulli_toy(enumerate_guide=False)
    with pytest.raises(InferenceError, match="'y'.*not reparameterizable.*enumerate"):
        IWAE(num_particles=4).loss_and_grads(model, guide, torch.tensor([0.5, -1.0]))


def test_enumerated_discrete_latent_gives_the_exact_gradient():
    model, guide = _bernoulli_toy(enumerate_guide=True)
    x = torch.tensor([0.5, -1.0, 2.0])
    loss = IWAE(num_particles=4).loss_and_grads(model, guide, x)
    a = torch.tensor(0.3, requires_grad=True)  # exact: log p(x) = log sum_y p(y) N(x; 2y-1, 1)
    log_px = torch.logsumexp(torch.stack([
        F.logsigmoid(-a) + dist.Normal(-1.0, 1.0).log_prob(x),
        F.logsigmoid(a) + dist.Normal(1.0, 1.0).log_prob(x)]), 0).sum()
    log_px.backward()
    assert loss == pytest.approx(-log_px.item(), abs=1e-5)
    assert float(pyro.param("a").unconstrained().grad) == pytest.approx(-float(a.grad), abs=1e-5)
    # the summed-out bound does not depend on q(y): its exact gradient there is zero
    grad_b = pyro.param("b").unconstrained().grad
    assert grad_b is None or float(grad_b.abs()) < 1e-7


def test_refusals_are_clear():
    vae = build_model("vae", {"x_dim": 8, "kind": "binary"}, z_dim=2, hidden=[4])
    x = torch.bernoulli(torch.full((3, 8), 0.5))
    with pytest.raises(InferenceError, match="different objectives.*loss_and_grads"):
        DReG(num_particles=2).differentiable_loss(vae.model, vae.guide, x)
    with pytest.raises(InferenceError, match="different objectives"):
        PIWAE(num_inner=2, num_outer=2).differentiable_loss(vae.model, vae.guide, x)

    def no_plate(x):
        pyro.sample("x", dist.Normal(0.0, 1.0).expand([len(x)]).to_event(1), obs=x)

    with pytest.raises(InferenceError, match="data plate"):
        IWAE(num_particles=2).loss(no_plate, lambda x: None, torch.zeros(3))
    with pytest.raises(InferenceError, match="beta"):
        CIWAE(num_particles=2, beta=1.5)


def test_differentiable_loss_gradient_equals_loss_and_grads():
    vae = build_model("vae", {"x_dim": 8, "kind": "binary"}, z_dim=2, hidden=[4])
    x = torch.bernoulli(torch.full((3, 8), 0.5))
    for est in (IWAE(num_particles=3, max_plate_nesting=1), STL(num_particles=3, max_plate_nesting=1),
                MIWAE(num_inner=2, num_outer=2, max_plate_nesting=1), CIWAE(3, 0.4, max_plate_nesting=1)):
        pyro.set_rng_seed(0)
        vae.zero_grad()
        est.loss_and_grads(vae.model, vae.guide, x)
        g1 = [p.grad.clone() for p in vae.parameters()]
        pyro.set_rng_seed(0)
        vae.zero_grad()
        est.differentiable_loss(vae.model, vae.guide, x).backward()
        assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(g1, vae.parameters()))


def test_swap_the_estimator_keep_the_model_with_pyro_svi():
    from pyro_vae.data import load_dataset

    x = load_dataset("digits").for_likelihood("bernoulli").test[:100]
    torch.manual_seed(0)
    vae = build_model("vae", {"x_dim": 64, "kind": "binary"}, z_dim=4, hidden=[32])
    svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-2}), loss=DReG(num_particles=5))
    losses = [svi.step(x) for _ in range(60)]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 5 * len(x)  # 5 nats per datapoint better


@pytest.mark.parametrize("loss", ["iwae", "dreg", "stl", "miwae", "ciwae", "piwae"])
def test_every_loss_trains_a_zoo_model(tmp_path, loss):
    cfg = TrainConfig(dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, batch_size=50,
                      loss=loss, num_particles=3, epochs=3, progress=False, lr=3e-3)
    m = train(cfg, tmp_path / loss).metrics
    assert m[-1]["valid_elbo"] > m[0]["valid_elbo"] + 1.0
    assert make_loss(loss, 3).num_particles in (3, 12)
