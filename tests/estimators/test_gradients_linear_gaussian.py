"""Gradient properties of the estimators on the linear-Gaussian model (closed-form posterior)."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.infer.estimators import CIWAE, IWAE, MIWAE, PIWAE, STL, DReG
from pyro_vae.registry import build_model


def _setup(perturb=0.0, n=20, seed=0):
    """Model with fixed parameters; a plain-Pyro linear guide with its own parameters A, c, L,
    set to the exact posterior (perturb=0) or off it."""
    torch.manual_seed(seed)
    m = build_model("linear_gaussian", {"x_dim": 5, "kind": "real"}, z_dim=2, seed=seed)
    x = m.marginal().sample((n,)).detach()
    with torch.no_grad():
        wt_psi_inv = m.W.T / m.psi
        cov = torch.linalg.inv(torch.eye(2) + wt_psi_inv @ m.W)
        gain = cov @ wt_psi_inv
        A0, c0, L0 = gain, -(gain @ m.b), torch.linalg.cholesky(cov)
    A = torch.nn.Parameter(A0 + perturb * torch.randn_like(A0))
    c = torch.nn.Parameter(c0 + perturb)
    L = torch.nn.Parameter((L0 * (1 + perturb)).contiguous())  # (the param store keeps contiguous leaves)

    def guide(x):
        a, b, l = pyro.param("A", A), pyro.param("c", c), pyro.param("L", L)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal(x @ a.T + b, scale_tril=torch.tril(l)))

    return m, guide, x, [A, c, L]


def _guide_grads(estimator, m, guide, x, params):
    for p in params:
        p.grad = None
    estimator.loss_and_grads(m.model, guide, x)
    return torch.cat([p.grad.reshape(-1) for p in params])


@pytest.mark.parametrize("estimator", [STL(num_particles=1), STL(num_particles=5), DReG(num_particles=1),
                                       DReG(num_particles=5)], ids=["stl1", "stl5", "dreg1", "dreg5"])
def test_path_derivative_estimators_give_exactly_zero_guide_gradient_at_the_posterior(float64, estimator):
    m, guide, x, params = _setup(perturb=0.0)
    for draw in range(5):  # every sample, not just on average
        g = _guide_grads(estimator, m, guide, x, params)
        assert g.abs().max() < 1e-9, (draw, g.abs().max())


@pytest.mark.parametrize("estimator", [IWAE(num_particles=5), pyro.infer.Trace_ELBO()], ids=["iwae", "elbo"])
def test_standard_estimators_are_noisy_at_the_posterior(float64, estimator):
    m, guide, x, params = _setup(perturb=0.0)
    g = _guide_grads(estimator, m, guide, x, params)
    assert g.abs().max() > 1e-2  # the score term: zero only in expectation


def test_dreg_and_iwae_guide_gradients_agree_in_expectation(float64):
    """Unbiasedness: mean over R draws of each estimator agrees within 4 standard errors of the
    difference (per coordinate), and the tolerance is small against the gradient itself."""
    m, guide, x, params = _setup(perturb=0.3, n=10, seed=1)
    reps = 400
    draws = {name: torch.stack([_guide_grads(est, m, guide, x, params) for _ in range(reps)])
             for name, est in (("iwae", IWAE(num_particles=4)), ("dreg", DReG(num_particles=4)))}
    mean = {k: v.mean(0) for k, v in draws.items()}
    se = (draws["iwae"].var(0) / reps + draws["dreg"].var(0) / reps).sqrt()
    assert torch.all((mean["iwae"] - mean["dreg"]).abs() < 4 * se + 1e-8)
    assert (4 * se).norm() < 0.25 * mean["dreg"].norm()  # the test has teeth: a real gradient, resolved
    # and DReG's variance is lower
    assert draws["dreg"].var(0).sum() < draws["iwae"].var(0).sum()


@pytest.mark.parametrize("make,column", [
    (lambda: IWAE(num_particles=7), "iw"),
    (lambda: DReG(num_particles=7), "iw"),
    (lambda: STL(num_particles=7), "elbo"),
    (lambda: CIWAE(num_particles=7, beta=0.3), "ciwae"),
    (lambda: MIWAE(num_inner=7, num_outer=1), "iw"),
    (lambda: PIWAE(num_inner=7, num_outer=1), "iw"),
], ids=["iwae", "dreg", "stl", "ciwae", "miwae", "piwae"])
def test_loss_equals_the_evaluators_bound_on_the_same_samples(float64, make, column):
    m, guide, x, _ = _setup(perturb=0.3, n=12)
    pyro.set_rng_seed(11)
    loss = make().loss(m.model, guide, x)
    est = evaluate_log_likelihood(m.model, guide, x, k=7, seed=11, progress=False, diagnostics=False)
    expected = {"iw": est.log_px_iw, "elbo": est.elbo, "ciwae": 0.3 * est.elbo + 0.7 * est.log_px_iw}[column]
    assert -loss == pytest.approx(float(np.sum(expected)), abs=1e-8)


def test_miwae_is_the_mean_of_m_iwae_bounds(float64):
    m, guide, x, _ = _setup(perturb=0.3, n=4)
    pyro.set_rng_seed(2)
    miwae = -MIWAE(num_inner=3, num_outer=5).loss(m.model, guide, x)
    pyro.set_rng_seed(2)
    est = evaluate_log_likelihood(m.model, guide, x, k=15, seed=2, progress=False, diagnostics=False)
    assert miwae < float(np.sum(est.log_px_iw)) + 1e-9  # M IWAE_3 <= IWAE_15 on the same draws (Jensen)
    assert miwae > float(np.sum(est.elbo)) - 1e-9  # ... and >= the ELBO
