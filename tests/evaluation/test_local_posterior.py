"""The per-datapoint q* fit (amortization gap) against the closed-form mean-field optimum.

For a Gaussian posterior N(mu, Lambda^-1) the best diagonal Gaussian has mean mu and variances
1 / Lambda_ii, and its ELBO is log p(x) - KL = log p(x) - 0.5 (sum_i log Lambda_ii - log det Lambda).
The linear-Gaussian model has that posterior in closed form, so the fit can be checked exactly.
"""

import numpy as np
import pyro
import torch

from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.local_posterior import fit_local_gaussian, guide_moments, local_pair
from pyro_vae.registry import build_model


def _model_and_data(n=12):
    m = build_model("linear_gaussian", {"x_dim": 5, "kind": "real"}, z_dim=3, guide="amortized", init_scale=1.0, seed=3)
    torch.manual_seed(1)
    with torch.no_grad():
        x = m.marginal().sample((n,))
    return m, x


def test_fit_reaches_the_mean_field_optimum_and_leaves_the_model_alone(float64):
    m, x = _model_and_data()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    post = m.exact_posterior(x)
    precision = torch.linalg.inv(post.covariance_matrix[0])  # the same for every x
    assert (precision - torch.diag(torch.diagonal(precision))).abs().max() > 0.3  # correlated: a real gap

    fit = fit_local_gaussian(m.model, m.guide, x, steps=800, lr=0.05, num_particles=64, seed=0)

    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=f"model parameter {k} moved")
    torch.testing.assert_close(fit.loc, post.loc.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(fit.scale, torch.diagonal(precision).rsqrt().expand_as(fit.scale).detach(),
                               atol=0, rtol=0.03)

    with torch.no_grad():
        exact = m.exact_log_px(x).numpy()
        kl_opt = 0.5 * (torch.diagonal(precision).log().sum() - torch.logdet(precision)).item()
    local_model, local_guide = local_pair(m.model)
    star = evaluate_log_likelihood(local_model, local_guide, (x, fit.loc, fit.scale), k=2000, progress=False)
    np.testing.assert_allclose(star.elbo, exact - kl_opt, atol=0.03)  # MC error of the ELBO mean ~0.01
    enc = evaluate_log_likelihood(m.model, m.guide, x, k=2000, progress=False)
    amortization_gap = star.elbo - enc.elbo
    assert (amortization_gap > 0.1).all()  # the untrained linear encoder is far from q*
    # mean-field q* is narrower than the posterior (heavier-tailed weights): IW is near exact, not at it
    np.testing.assert_allclose(star.log_px_iw, exact, atol=0.1)
    assert abs(np.mean(star.log_px_iw - exact)) < 0.03
    assert np.all(star.log_px_iw > star.elbo)
    assert fit.history[-1][1] > fit.history[0][1]


def test_guide_moments_read_the_encoder_output(float64):
    m, x = _model_and_data(4)
    loc, scale = guide_moments(m.guide, x)
    torch.testing.assert_close(loc, m.encoder(x).detach())
    torch.testing.assert_close(scale, m.encoder_log_scale.exp().detach().expand_as(loc))
    pyro.clear_param_store()
