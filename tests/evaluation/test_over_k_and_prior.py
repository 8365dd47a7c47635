"""IW estimates at several K from one set of draws, and the prior as the proposal, against the
closed-form log p(x) of the linear-Gaussian model."""

import numpy as np
import pytest
import torch

from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.result import PSIS_MIN_K
from pyro_vae.registry import build_model

DATA = {"x_dim": 6, "kind": "real"}


def _pair(guide="amortized"):
    m = build_model("linear_gaussian", DATA, z_dim=3, guide=guide, seed=0)
    with torch.no_grad():
        m.b.copy_(torch.linspace(-1, 1, 6))
    torch.manual_seed(1)
    with torch.no_grad():
        x = m.marginal().sample((300,))
    return m, x


def test_a_smaller_k_is_the_prefix_of_the_same_draws(float64, monkeypatch):
    """IW_K' is log mean exp of the first K' of each datapoint's K log weights, for every block."""
    import pyro_vae.evaluation.chunks as chunks

    m, x = _pair()
    seen = []
    real = chunks.trace_particles

    def recording(*args, **kwargs):
        pt = real(*args, **kwargs)
        seen.append(pt.log_weights().detach().clone())
        return pt

    monkeypatch.setattr(chunks, "trace_particles", recording)
    est = evaluate_log_likelihood(m.model, m.guide, x[:50], k=64, nested_k=[1, 8, 32], max_elements=640,
                                  progress=False)  # 10 datapoints x 64 particles per block, in one chunk
    log_w = torch.cat(seen, 1)  # [64, 50]
    assert log_w.shape == (64, 50)
    for k in (1, 8, 32):
        expected = (log_w[:k].logsumexp(0) - np.log(k)).numpy()
        np.testing.assert_allclose(est.nested[k]["log_px_iw"], expected, atol=1e-12, err_msg=f"K={k}")
    np.testing.assert_allclose(est.log_px_iw, (log_w.logsumexp(0) - np.log(64)).numpy(), atol=1e-12)
    assert est.ks() == [1, 8, 32, 64] and est.at(64)["k"] == 64 and est.at(8)["nested_in"] == 64


def test_bounds_rise_with_k_toward_log_px_for_both_proposals(float64):
    m, x = _pair()
    with torch.no_grad():
        exact = float(m.exact_log_px(x).mean())
    ks = [1, 10, 100, 1000]
    for proposal in ("guide", "prior"):
        est = evaluate_log_likelihood(m.model, m.guide, x, k=ks[-1], nested_k=ks[:-1], proposal=proposal,
                                      progress=False)
        means = [est.at(k)["log_px_iw"] for k in ks]
        ses = [est.at(k)["log_px_iw_se"] for k in ks]
        assert all(a <= b + 3 * s for a, b, s in zip(means, means[1:], ses)), (proposal, means)
        assert means[-1] <= exact + 3 * ses[-1], (proposal, means[-1], exact)
    # against the exact posterior as the guide: the prior's ELBO is E_p(z)[log p(x|z)] = log p(x) - KL(p(z)||p(z|x))
    exact_pair, _ = _pair("exact")
    prior = evaluate_log_likelihood(exact_pair.model, exact_pair.guide, x, k=1000, proposal="prior", progress=False)
    guide = evaluate_log_likelihood(exact_pair.model, exact_pair.guide, x, k=1000, progress=False)
    assert prior.summary()["elbo"] < guide.summary()["elbo"] - 1 and abs(prior.summary()["kl"]) < 1e-9
    np.testing.assert_allclose(guide.log_px_iw.mean(), exact, atol=1e-8)
    assert prior.summary()["log_px_iw"] < exact


def test_khat_is_absent_with_its_reason_below_the_psis_minimum(float64):
    m, x = _pair()
    est = evaluate_log_likelihood(m.model, m.guide, x[:30], k=PSIS_MIN_K, nested_k=[5, PSIS_MIN_K - 1],
                                  progress=False)
    for k in (5, PSIS_MIN_K - 1):
        s = est.at(k)
        assert s["khat_share_above_0.7"] is None and f"K={k}" in s["khat_note"] and f"K >= {PSIS_MIN_K}" in s["khat_note"]
    top = est.at(PSIS_MIN_K)
    assert top["khat_share_above_0.7"] is not None and top["khat_note"] is None
    with pytest.raises(KeyError, match="no estimate at K=7"):
        est.at(7)
