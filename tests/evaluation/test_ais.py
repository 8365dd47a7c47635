"""AIS and BDMC against exact log p(x): a linear-Gaussian model, a bimodal posterior, a constrained
latent (Jacobian), a latent mixture summed out in the model; IW as AIS's one-step special case."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.errors import InferenceError
from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.ais import beta_schedule, evaluate_ais, model_evaluations
from pyro_vae.evaluation.settings import AISSettings
from pyro_vae.evaluation.bdmc import bdmc, simulate
from pyro_vae.registry import build_model


def _linear_gaussian(n=40):
    m = build_model("linear_gaussian", {"x_dim": 6, "kind": "real"}, z_dim=3, guide="amortized", seed=0)
    with torch.no_grad():
        m.b.copy_(torch.linspace(-1, 1, 6))
        torch.manual_seed(1)
        x = m.marginal().sample((n,))
    return m, x, m.exact_log_px(x).detach().numpy()


def _mc_se(values_se: np.ndarray) -> float:
    """Monte Carlo standard error of a mean over datapoints of independent per-datapoint estimates."""
    return float(np.sqrt(np.mean(values_se ** 2) / len(values_se)))


def test_schedules_run_from_zero_to_one():
    for kind in ("sigmoid", "linear"):
        b = beta_schedule(kind, 50)
        assert b[0] == 0 and b[-1] == 1 and np.all(np.diff(b) > 0)
    s = beta_schedule("sigmoid", 100)
    assert s[1] - s[0] < 0.01 < s[51] - s[50]  # dense at the ends


def test_one_step_without_transitions_is_iw_on_the_same_draws(float64):
    m, x, _ = _linear_gaussian(30)
    iw = evaluate_log_likelihood(m.model, m.guide, x, k=16, seed=5, progress=False)
    ais = evaluate_ais(m.model, m.guide, x, num_chains=16, num_steps=1, tune_chains=0, seed=5, progress=False)
    np.testing.assert_allclose(ais.log_px_ais, iw.log_px_iw, atol=1e-10)
    np.testing.assert_allclose(ais.ess, iw.ess, rtol=1e-9)
    assert np.all(np.isnan(ais.acceptance))  # no transition was made


def test_linear_gaussian_forward_below_reverse_above_and_the_gap_shrinks(float64):
    m, x, exact = _linear_gaussian(40)
    iw = evaluate_log_likelihood(m.model, m.guide, x, k=16, progress=False).log_px_iw
    fwd = evaluate_ais(m.model, m.guide, x, num_chains=16, num_steps=100, leapfrog_steps=5, seed=1, progress=False)
    diff, se = float(np.mean(fwd.log_px_ais - exact)), _mc_se(fwd.log_px_ais_mc_se)
    assert abs(diff) < 3 * se + 1e-3, (diff, se)  # within 3 standard errors of exact
    assert diff < 2 * se  # below exact up to Monte Carlo error (a lower bound in expectation)
    assert np.mean(iw - exact) < -1.0  # the untrained guide: IW_16 is far below, AIS is not
    assert 0.3 < np.nanmean(fwd.acceptance) < 1.0
    with torch.no_grad():
        z = m.exact_posterior(x).sample()  # an exact posterior sample per datapoint
    rev = evaluate_ais(m.model, m.guide, x, num_chains=16, num_steps=100, leapfrog_steps=5, seed=2, progress=False,
                       start={"z": z})
    upper = -rev.log_px_ais
    assert float(np.mean(upper - exact)) > -2 * _mc_se(rev.log_px_ais_mc_se)  # above exact up to MC error
    assert rev.settings["direction"] == "reverse"

    template = torch.zeros(40, 6)
    gaps = [bdmc(m.model, m.guide, template, num_chains=8, num_steps=t, leapfrog_steps=5, progress=False)
            for t in (3, 20, 80)]
    means = [float(np.mean(g.values["gap"])) for g in gaps]
    assert means[0] > means[1] > means[2] >= -0.05, means
    assert means[2] < 0.3
    x_sim, _ = simulate(m.model, (template,), 0)  # the bounds bracket the exact value of the simulated data
    exact_sim = m.exact_log_px(x_sim[0]).detach().numpy()
    assert np.mean(gaps[2].values["lower"]) <= np.mean(exact_sim) + 0.05
    assert np.mean(gaps[2].values["upper"]) >= np.mean(exact_sim) - 0.05


def test_same_seed_same_numbers(float64):
    m, x, _ = _linear_gaussian(10)
    a = evaluate_ais(m.model, m.guide, x, num_chains=4, num_steps=10, leapfrog_steps=3, seed=3, progress=False)
    b = evaluate_ais(m.model, m.guide, x, num_chains=4, num_steps=10, leapfrog_steps=3, seed=3, progress=False)
    c = evaluate_ais(m.model, m.guide, x, num_chains=4, num_steps=10, leapfrog_steps=3, seed=4, progress=False)
    np.testing.assert_array_equal(a.log_px_ais, b.log_px_ais)
    assert not np.array_equal(a.log_px_ais, c.log_px_ais)
    # blocks of fewer datapoints give the same kind of estimate (chains of a datapoint stay together)
    d = evaluate_ais(m.model, m.guide, x, num_chains=4, num_steps=10, leapfrog_steps=3, seed=3, progress=False,
                     max_elements=8 * 3)
    assert np.all(np.isfinite(d.log_px_ais)) and d.n == 10


DIGITS = {"x_dim": 64, "kind": "binary", "image_shape": [8, 8], "num_classes": 10}


@pytest.mark.parametrize("name,options,init", [("vae", {"z_dim": 4, "hidden": [32]}, "guide"),
                                               ("hvae2", {"z1_dim": 8, "z2_dim": 4}, "guide"),
                                               ("hvae2", {"z1_dim": 8, "z2_dim": 4}, "prior")])
def test_captured_densities_give_the_eager_numbers_exactly(name, options, init):
    """Each block's a(u), b(u) traced once and replayed under autograd: the same chains, bit for bit."""
    torch.manual_seed(0)
    m = build_model(name, DIGITS, **options)
    x = torch.bernoulli(torch.full((6, 64), 0.3), generator=torch.Generator().manual_seed(0))
    common = dict(num_chains=4, num_steps=5, leapfrog_steps=3, seed=1, progress=False, init=init, max_elements=16)
    eager, replayed = (evaluate_ais(m.model, m.guide, x, capture=mode, **common) for mode in ("off", "on"))
    for column, values in eager.values.items():
        np.testing.assert_array_equal(replayed.values[column], values, err_msg=column)


@pytest.mark.parametrize("name", ["linear_gaussian", "vae"])
def test_bdmc_replays_its_captured_densities_in_both_directions(name, float64):
    """The reverse chains start from the forward pass's simulated latents, a tensor of another memory
    layout than the draw the densities were traced with: captured (as --capture auto does from 500
    evaluations per chain) it crashed in the replayed graph; now the eager numbers (the reverse
    pass's to the last bit but one: the replay reads a contiguous copy, eager the strided tensor)."""
    if name == "vae":
        torch.manual_seed(0)
        m, template = build_model("vae", DIGITS, z_dim=4, hidden=[32]), torch.zeros(6, 64)
    else:
        m, template = _linear_gaussian(6)[0], torch.zeros(6, 6)
    common = dict(num_chains=4, num_steps=5, leapfrog_steps=3, seed=1, progress=False, max_elements=16)
    eager, replayed = (bdmc(m.model, m.guide, template, capture=mode, **common) for mode in ("off", "on"))
    np.testing.assert_array_equal(replayed.values["lower"], eager.values["lower"])
    for column, values in eager.values.items():
        np.testing.assert_allclose(replayed.values[column], values, rtol=1e-13, atol=1e-13, err_msg=column)


def test_densities_that_cannot_be_traced_stay_eager(monkeypatch, caplog):
    """An IAF guide's density at a new point inverts the flow with a value-dependent loop."""
    import logging

    from pyro_vae.evaluation import ais
    from pyro_vae.infer.graph_capture import CaptureError

    torch.manual_seed(0)
    m = build_model("vae_iaf", DIGITS, z_dim=4, hidden=[32], flow_hidden=[16], context=8)
    x = torch.bernoulli(torch.full((3, 64), 0.3), generator=torch.Generator().manual_seed(0))
    common = dict(num_chains=2, num_steps=3, leapfrog_steps=2, seed=1, progress=False)
    with pytest.raises(CaptureError, match="AIS densities cannot be captured: capture failed"):
        evaluate_ais(m.model, m.guide, x, capture="on", **common)
    monkeypatch.setattr(ais, "CAPTURE_MIN_EVALUATIONS", 1)
    with caplog.at_level(logging.WARNING, logger="pyro_vae"):
        auto = evaluate_ais(m.model, m.guide, x, capture="auto", **common)
    assert [r.getMessage()[:47] for r in caplog.records if r.name == "pyro_vae"] == [
        "AIS densities not captured (eager from here on)"]
    np.testing.assert_array_equal(auto.log_px_ais, evaluate_ais(m.model, m.guide, x, capture="off", **common).log_px_ais)


# ---- a bimodal posterior far from the guide ---------------------------------------------------------
SIGMA = 0.05
DIM = 5


def squares_model(x):
    """z ~ N(0, I_5), x_d ~ N(z_d^2, 0.05^2): each x_d > 0 has two narrow modes z_d = ±sqrt(x_d),
    2^5 = 32 modes in all, a tiny part of the guide N(0, I)'s mass."""
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(x.new_zeros(DIM), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z ** 2, SIGMA).to_event(1), obs=x)


def broad_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(x.new_zeros(DIM), 1.0).to_event(1))


def squares_exact(x: torch.Tensor) -> np.ndarray:
    """log p(x) by quadrature, one dimension at a time (the dimensions are independent)."""
    z = torch.linspace(-6, 6, 120001, dtype=torch.float64)
    dz = float(z[1] - z[0])
    log_prior = dist.Normal(0.0, 1.0).log_prob(z)
    out = torch.zeros(x.shape[0], dtype=torch.float64)
    for d in range(x.shape[1]):
        log_lik = dist.Normal(z ** 2, SIGMA).log_prob(x[:, d:d + 1].double())
        out += (log_prior + log_lik).logsumexp(-1) + math.log(dz)
    return out.numpy()


def test_bimodal_posterior_ais_beats_iw_at_equal_model_evaluations(float64):
    torch.manual_seed(0)
    x = torch.rand(20, DIM) * 2 + 0.5
    exact = squares_exact(x)
    ais = evaluate_ais(squares_model, broad_guide, x, num_chains=8, num_steps=200, leapfrog_steps=5, tune_chains=4,
                       seed=0, progress=False)
    k = model_evaluations(12, 200, 5)  # the tuning chains count too
    iw = evaluate_log_likelihood(squares_model, broad_guide, x, k=k, seed=0, progress=False, diagnostics=False)
    err_ais = abs(float(np.mean(ais.log_px_ais - exact)))
    err_iw = abs(float(np.mean(iw.log_px_iw - exact)))
    assert err_ais < err_iw / 10, (err_ais, err_iw, k)  # measured: 2.2 against 64 nats


# ---- a constrained latent: the Jacobian of its bijection ---------------------------------------------
def poisson_gamma_model(x):
    """z ~ Gamma(2, 1), x ~ Poisson(z): x is negative binomial."""
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("rate", dist.Gamma(x.new_tensor(2.0), x.new_tensor(1.0)))
        pyro.sample("x", dist.Poisson(z), obs=x)


def lognormal_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("rate", dist.LogNormal(torch.log1p(x), 0.8))


def test_positive_latent_is_annealed_in_log_space_with_its_jacobian(float64):
    x = torch.tensor([0.0, 1.0, 2.0, 3.0, 5.0, 8.0] * 4)
    a, b = 2.0, 1.0
    exact = (torch.lgamma(x + a) - math.lgamma(a) - torch.lgamma(x + 1) + a * math.log(b / (b + 1))
             - x * math.log(b + 1)).numpy()
    est = evaluate_ais(poisson_gamma_model, lognormal_guide, x, num_chains=16, num_steps=100, leapfrog_steps=5,
                       seed=0, progress=False)
    diff, se = float(np.mean(est.log_px_ais - exact)), _mc_se(est.log_px_ais_mc_se)
    assert abs(diff) < 3 * se + 2e-3, (diff, se)


# ---- a discrete latent summed out in the model -------------------------------------------------------
MU = torch.tensor([-2.0, 2.0])


def mixture_model(x):
    with pyro.plate("data", x.shape[0]):
        y = pyro.sample("y", dist.Categorical(logits=x.new_zeros(2)), infer={"enumerate": "parallel"})
        z = pyro.sample("z", dist.Normal(MU.to(x)[y], 1.0))
        pyro.sample("x", dist.Normal(z, 0.5), obs=x)


def mixture_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(0.8 * x, 0.6))


def test_model_enumerated_site_is_summed_out_of_the_path(float64):
    torch.manual_seed(0)
    x = torch.randn(30) * 2.5
    exact = (torch.stack([dist.Normal(m, math.sqrt(1.25)).log_prob(x) for m in MU.double()]).logsumexp(0)
             - math.log(2)).numpy()
    for init in ("guide", "prior"):
        est = evaluate_ais(mixture_model, mixture_guide, x, num_chains=16, num_steps=80, leapfrog_steps=5, init=init,
                           seed=0, progress=False)
        diff, se = float(np.mean(est.log_px_ais - exact)), _mc_se(est.log_px_ais_mc_se)
        assert abs(diff) < 3 * se + 5e-3, (init, diff, se)


# ---- what cannot be annealed: one clear error each ------------------------------------------------------
def test_what_ais_cannot_anneal_is_one_clear_error():
    x = torch.randn(5, 2)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            y = pyro.sample("y", dist.Bernoulli(0.5))
            pyro.sample("x", dist.Normal(y.unsqueeze(-1), x.new_ones(2)).to_event(1), obs=x)

    def sampled_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Bernoulli(0.5))

    def enumerating_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    with pytest.raises(InferenceError, match="'y' is discrete and sampled"):
        evaluate_ais(model, sampled_guide, x, num_steps=2, progress=False)
    with pytest.raises(InferenceError, match="the guide enumerates the discrete latent 'y'"):
        evaluate_ais(model, enumerating_guide, x, num_steps=2, progress=False)

    def global_model(x):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(w.unsqueeze(-1), x.new_ones(2)).to_event(1), obs=x)

    def global_guide(x):
        pyro.sample("w", dist.Normal(0.0, 1.0))

    with pytest.raises(InferenceError, match="lies outside the data plate"):
        evaluate_ais(global_model, global_guide, x, num_steps=2, progress=False)
    for bad in ({"num_chains": 0}, {"num_steps": 0}, {"schedule": "cosine"}, {"init": "posterior"},
                {"step_size": -1.0}):
        with pytest.raises(InferenceError):
            evaluate_ais(squares_model, broad_guide, torch.rand(3, DIM), progress=False, **bad)
    with pytest.raises(TypeError, match="num_chains"):  # one door to AIS: evaluate_ais
        evaluate_log_likelihood(squares_model, broad_guide, torch.rand(3, DIM), k=2, num_chains=4, progress=False)
    with pytest.raises(InferenceError, match="nope: not AIS settings"):
        evaluate_ais(squares_model, broad_guide, torch.rand(3, DIM), progress=False, nope=1)
    settings = AISSettings(num_chains=2, num_steps=3, leapfrog_steps=1)
    est = evaluate_ais(squares_model, broad_guide, torch.rand(3, DIM), settings, progress=False)
    again = evaluate_ais(squares_model, broad_guide, torch.rand(3, DIM), progress=False, **settings.to_dict())
    assert est.summary()["method"] == "ais" and est.n == 3 and est.settings == again.settings
