"""The IW estimator against the closed-form log p(x) of the linear-Gaussian model."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.registry import build_model

DATA = {"x_dim": 6, "kind": "real"}


def _model(guide="exact", seed=0):
    m = build_model("linear_gaussian", DATA, z_dim=3, guide=guide, seed=seed)
    with torch.no_grad():
        m.b.copy_(torch.linspace(-1, 1, 6))
    return m


def _data(m, n=200):
    torch.manual_seed(1)
    with torch.no_grad():
        return m.marginal().sample((n,))


@pytest.mark.parametrize("k", [1, 10, 100])
def test_exact_posterior_guide_makes_every_bound_equal_log_px(float64, k):
    m = _model("exact")
    x = _data(m, 50)
    with torch.no_grad():
        exact = m.exact_log_px(x).numpy()
    est = evaluate_log_likelihood(m.model, m.guide, x, k=k, progress=False)
    for column in ("log_px_iw", "elbo", "elbo_single"):
        np.testing.assert_allclose(est.values[column], exact, atol=1e-9, err_msg=column)
    np.testing.assert_allclose(est.ess, k, rtol=1e-9)  # equal weights: ESS = K
    np.testing.assert_allclose(est.log_px_var, 0, atol=1e-9)
    assert est.kl_analytic is False  # MVN guide vs Normal prior: no registered closed form
    np.testing.assert_allclose(est.reconstruction - est.kl, exact, atol=1e-9)


def perturbed_guide(m, shift=0.3, widen=1.3):
    """A plain Pyro guide: the exact posterior, mean shifted and scale widened (a strict bound)."""

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            post = m.exact_posterior(x)
            pyro.sample("z", dist.MultivariateNormal(post.loc + shift, scale_tril=widen * post.scale_tril))

    return guide


def test_bounds_are_ordered_and_converge_to_log_px(float64):
    m = _model("exact")
    x = _data(m, 200)
    with torch.no_grad():
        exact = m.exact_log_px(x).numpy()
    guide = perturbed_guide(m, shift=0.8, widen=1.8)  # heavier-tailed than the posterior: finite variance
    gaps, spreads, results = {}, {}, {}
    for k in (1, 10, 100, 1000, 5000):
        est = evaluate_log_likelihood(m.model, guide, x, k=k, seed=k, progress=False)
        results[k] = est
        gaps[k] = float(np.mean(est.log_px_iw - exact))
        spreads[k] = float(np.std(est.log_px_iw - exact))
    # ELBO <= IW_1 <= IW_10 <= ... <= log p(x) in expectation. The means over 200 datapoints
    # carry Monte Carlo error se_k = spread_k / sqrt(n): strict where the gaps differ by far more
    # than that (K = 1, 10, 100), within 3 standard errors beyond.
    se = {k: spreads[k] / math.sqrt(len(x)) for k in spreads}
    elbo_gap = float(np.mean(results[1000].elbo - exact))
    assert elbo_gap < gaps[10] - 3 * se[10] and gaps[10] < gaps[100] - 3 * (se[10] + se[100])
    assert abs(gaps[1] - elbo_gap) < 3 * se[1]  # IW_1 is a single-draw ELBO
    assert gaps[100] < gaps[1000] + 3 * (se[100] + se[1000])
    assert gaps[1000] < gaps[5000] + 3 * (se[1000] + se[5000])
    assert all(gaps[k] < 3 * se[k] for k in gaps)  # below log p(x): a bound
    # convergence: the gap at K=5000 is within MC error. Its size: bias ~ -Var/2 and standard
    # error sqrt(sum Var)/n, both from the delta-method variance of each log-estimate.
    var = results[5000].log_px_var
    tolerance = 4 * math.sqrt(var.sum()) / len(var) + var.mean() / 2 + 1e-4
    assert tolerance < 0.03, tolerance  # the test has teeth: this guide is good enough
    assert abs(gaps[5000]) < tolerance, (gaps[5000], tolerance)
    # and the estimate's spread around log p(x) shrinks as K grows
    assert spreads[10] > spreads[100] > spreads[1000] > spreads[5000]


def test_amortized_guide_gives_a_strict_bound_and_k_hat_flags_bad_weights(float64):
    m = _model("amortized")
    x = _data(m, 100)
    with torch.no_grad():
        exact = m.exact_log_px(x).numpy()
    bad = evaluate_log_likelihood(m.model, perturbed_guide(m, shift=1.5, widen=0.4), x, k=500, progress=False)
    good = evaluate_log_likelihood(m.model, perturbed_guide(m, shift=0.1, widen=1.1), x, k=500, progress=False)
    assert bad.summary()["khat_share_above_0.7"] > 0.5
    assert good.summary()["khat_share_above_0.7"] < 0.05
    assert np.mean(bad.ess) < 0.1 * np.mean(good.ess)
    assert np.all(good.log_px_iw < exact + 0.05)


def test_active_units_count_latents_that_vary_with_x(float64):
    m = _model("exact")
    with torch.no_grad():
        m.W[:, 2] = 0.0  # the third latent no longer affects x: its posterior mean is always 0
    x = _data(m, 300)
    est = evaluate_log_likelihood(m.model, m.guide, x, k=2, progress=False)
    assert est.active_units == {"z": 2}
