"""The evaluator on pairs beyond the zoo: plain Pyro, subsampling, discrete latents, errors."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F

from pyro_vae.errors import InferenceError
from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.importance import block_sizes
from pyro_vae.evaluation.posterior import posterior_draws
from pyro_vae.infer import log_mean_exp, trace_particles
from pyro_vae.registry import build_model


def test_vae_log_weights_match_pure_pytorch_on_the_same_samples():
    torch.manual_seed(0)
    vae = build_model("vae", {"x_dim": 784, "kind": "binary"})
    x = torch.bernoulli(torch.full((7, 784), 0.3))
    with torch.no_grad():
        pt = trace_particles(vae.model, vae.guide, (x,), num_particles=50, max_plate_nesting=1)
        ours = log_mean_exp(pt.log_weights())
        z = pt.guide_trace.nodes["z"]["value"]  # [K, N, 50]: the same draws, scored by hand
        loc, scale = vae.encoder(x)
        log_q = (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        logits = vae.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        by_hand = torch.logsumexp(log_prior + log_lik - log_q, 0) - math.log(50)
    assert (ours - by_hand).abs().max() < 1e-4


def test_log_weights_are_computed_once_per_run_but_path_variants_are_not_memoized():
    torch.manual_seed(0)
    vae = build_model("vae", {"x_dim": 784, "kind": "binary"})
    x = torch.bernoulli(torch.full((3, 784), 0.3))
    pt = trace_particles(vae.model, vae.guide, (x,), num_particles=4, max_plate_nesting=1)
    log_w = pt.log_weights()
    assert log_w.shape == (4, 3) and pt.log_weights() is log_w
    detached = pt.log_weights(site_log_prob=lambda s: s["fn"].log_prob(s["value"].detach()))
    assert detached is not log_w and torch.allclose(detached, log_w)  # same values, other gradient path
    assert pt.log_weights() is log_w


def _gaussian_pair(subsample_size=None, n_total=None):
    """x_n ~ N(z_n, 1), z_n ~ N(0, 1): log p(x_n) = log N(x_n; 0, 2). Guide N(x/2, 0.8)."""

    def model(x, idx=None):
        with pyro.plate("data", n_total or len(x), subsample=idx):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x, idx=None):
        with pyro.plate("data", n_total or len(x), subsample=idx):
            pyro.sample("z", dist.Normal(x / 2, 0.8))

    return model, guide


def test_subsample_scale_stays_outside_the_logsumexp():
    x_all = torch.randn(40)
    idx = torch.arange(10, 20)
    model, guide = _gaussian_pair(n_total=40)
    pyro.set_rng_seed(3)
    sub = trace_particles(model, guide, (x_all[idx], idx), num_particles=20, max_plate_nesting=1)
    assert sub.data_scale == 4.0
    with torch.no_grad():
        lw_sub = sub.log_weights()
        lw_model = sub.model_log_joint() - sub.guide_log_density()
        # the guide draws were replayed: same z, same weights, no factor 4 anywhere inside
        expected = (dist.Normal(0, 1).log_prob(sub.guide_trace.nodes["z"]["value"])
                    + dist.Normal(sub.guide_trace.nodes["z"]["value"], 1).log_prob(x_all[idx])
                    - dist.Normal(x_all[idx] / 2, 0.8).log_prob(sub.guide_trace.nodes["z"]["value"]))
    assert torch.allclose(lw_sub, expected, atol=1e-5) and torch.allclose(lw_model, expected, atol=1e-5)
    est = evaluate_log_likelihood(model, guide, (x_all[idx], idx), k=2000, progress=False)
    exact = dist.Normal(0, math.sqrt(2)).log_prob(x_all[idx]).numpy()
    assert np.abs(est.log_px_iw - exact).max() < 0.01


def _mixture_toy(enumerate_in):
    """y ~ Cat(pi), z | y ~ N(mu_y, 1), x | z ~ N(z, 0.5): p(x) = sum_y pi_y N(x; mu_y, 1.25)."""
    pi, mu = torch.tensor([0.3, 0.7]), torch.tensor([-2.0, 2.0])

    def model(x):
        with pyro.plate("data", len(x)):
            infer = {"enumerate": "parallel"} if enumerate_in == "model" else {}
            y = pyro.sample("y", dist.Categorical(pi), infer=infer)
            z = pyro.sample("z", dist.Normal(mu[y], 1.0))
            pyro.sample("x", dist.Normal(z, 0.5), obs=x)

    def guide(x):
        with pyro.plate("data", len(x)):
            if enumerate_in == "model":
                pyro.sample("z", dist.Normal(x * 0.8, 0.8))
                return
            infer = {"enumerate": "parallel"} if enumerate_in == "guide" else {}
            y = pyro.sample("y", dist.Categorical(torch.tensor([0.5, 0.5])), infer=infer)
            pyro.sample("z", dist.Normal(0.8 * x + 0.2 * mu[y], 0.6))

    def exact(x):
        comps = dist.Normal(mu, math.sqrt(1.25)).log_prob(x[:, None]) + pi.log()
        return comps.logsumexp(-1)

    return model, guide, exact


@pytest.mark.parametrize("enumerate_in", ["guide", "model", "none"])
def test_discrete_latents_enumerated_or_sampled_converge_to_log_px(enumerate_in):
    model, guide, exact = _mixture_toy(enumerate_in)
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 2.0, 4.0])
    est = evaluate_log_likelihood(model, guide, x, k=4000, progress=False, seed=1)
    # within 4 delta-method standard deviations of the estimate (and those are small)
    sd = np.sqrt(est.log_px_var)
    assert sd.max() < 0.02
    assert np.all(np.abs(est.log_px_iw - exact(x).numpy()) < 4 * sd + 1e-3)
    assert est.active_units == {"z": 1}  # one unit, averaged over the enumerated label by q(y | x)
    assert all(len(v) == len(x) for v in est.values.values())
    assert est.kl_analytic is (enumerate_in == "none")  # with y enumerated, q or p of z is a mixture
    small = evaluate_log_likelihood(model, guide, x, k=3, progress=False, seed=1)
    assert np.mean(small.elbo) < np.mean(exact(x).numpy()) - 0.05  # a strict bound at small K


def test_same_seed_same_numbers_and_chunking_does_not_change_exact_answers(float64):
    m = build_model("linear_gaussian", {"x_dim": 4, "kind": "real"}, z_dim=2, guide="exact")
    x = m.marginal().sample((30,)).detach()
    a = evaluate_log_likelihood(m.model, m.guide, x, k=64, progress=False, seed=5)
    b = evaluate_log_likelihood(m.model, m.guide, x, k=64, progress=False, seed=5, max_elements=100)
    np.testing.assert_allclose(a.log_px_iw, b.log_px_iw, atol=1e-10)
    vae = build_model("vae", {"x_dim": 16, "kind": "binary"}, z_dim=3, hidden=[8])
    xb = torch.bernoulli(torch.full((20, 16), 0.5))
    r1 = evaluate_log_likelihood(vae.model, vae.guide, xb, k=30, progress=False, seed=9)
    r2 = evaluate_log_likelihood(vae.model, vae.guide, xb, k=30, progress=False, seed=9)
    np.testing.assert_array_equal(r1.log_px_iw, r2.log_px_iw)
    r3 = evaluate_log_likelihood(vae.model, vae.guide, xb, k=30, progress=False, seed=10)
    assert not np.array_equal(r1.log_px_iw, r3.log_px_iw)


def test_block_sizes_respect_the_memory_bound():
    assert block_sizes(5000, 10000, 32768) == (6, 5000)
    assert block_sizes(100000, 10, 32768) == (1, 32768)
    assert block_sizes(10, 7, 32768) == (7, 10)
    for k, n, m in [(5000, 10000, 32768), (3, 100, 10), (1000, 1, 999)]:
        b, c = block_sizes(k, n, m)
        assert b * c <= max(m, 1) and b >= 1 and c >= 1


def test_pairs_the_evaluator_cannot_weigh_get_a_clear_error():
    def no_plate_model(x):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0).expand([len(x)]).to_event(1), obs=x)

    def no_plate_guide(x):
        pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(InferenceError, match="data plate"):
        evaluate_log_likelihood(no_plate_model, no_plate_guide, torch.zeros(5), k=2, progress=False)

    def global_model(x):
        s = pyro.sample("s", dist.LogNormal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("x", dist.Normal(0.0, s), obs=x)

    def global_guide(x):
        pyro.sample("s", dist.LogNormal(0.0, 0.5))

    with pytest.raises(InferenceError, match="'s' lies outside the data plate"):
        evaluate_log_likelihood(global_model, global_guide, torch.zeros(5), k=2, progress=False)

    def missing_guide(x):
        pass

    model, _ = _gaussian_pair()
    with pytest.raises(InferenceError, match="'z' is latent but the guide does not sample it"):
        evaluate_log_likelihood(model, missing_guide, torch.zeros(5), k=2, progress=False)


def test_posterior_draws_are_inference_data_near_the_exact_posterior(float64):
    import arviz as az

    m = build_model("linear_gaussian", {"x_dim": 5, "kind": "real"}, z_dim=2)  # amortized, untrained guide
    x = m.marginal().sample((3,)).detach()
    idata = posterior_draws(m.model, m.guide, x, num_draws=4000, seed=0)
    assert idata.posterior["z"].shape == (1, 4000, 3, 2)
    summary = az.summary(idata, var_names=["z"], kind="stats")
    assert len(summary) == 6
    exact = m.exact_posterior(x).mean.detach().numpy()
    sir_mean = idata.posterior["z"].values[0].mean(0)
    raw = posterior_draws(m.model, m.guide, x, num_draws=4000, seed=0, resample=False)
    raw_mean = raw.posterior["z"].values[0].mean(0)
    # resampling moves the guide's draws towards the true posterior
    assert np.abs(sir_mean - exact).mean() < 0.5 * np.abs(raw_mean - exact).mean()
