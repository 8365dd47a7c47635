"""Flow posteriors (IAF, planar): the exact log q against a numerical change of variables, the
planar inverse and its implicit gradient, DReG through the flows, and a better ELBO than a
Gaussian guide where the posterior is not Gaussian."""

import math

import pyro
import pytest
import torch

from guide_fitting import fit_guide

from pyro_vae.declarative import IAF, MLP, Bernoulli, DeclarativeModel, Gaussian, Latent, Planar, Spec, validate
from pyro_vae.distributions.invertible_planar import InvertiblePlanar
from pyro_vae.errors import ModelError
from pyro_vae.infer import trace_particles
from pyro_vae.infer.estimators import DReG

SMALL = {"x_dim": 12, "kind": "binary"}


class _Tiny(DeclarativeModel):
    likelihood = "bernoulli"

    def declare(self, flow="iaf"):
        posterior = IAF(2, [16], context=4) if flow == "iaf" else Planar(3, context=4)
        return Spec(latents=[Latent("z", 3, posterior=posterior)], likelihood=Bernoulli(MLP([16])), encoder=MLP([16]))


@pytest.mark.parametrize("flow", ["iaf", "planar"])
def test_flow_log_q_is_the_change_of_variables(flow):
    """log q(z) = log N(eps; mu, sigma) - log|det dz/deps|, the Jacobian taken numerically; the
    density of a point the flow did not draw (inverted flow) agrees too."""
    torch.manual_seed(0)
    m = _Tiny(SMALL, flow=flow)
    x = torch.bernoulli(torch.full((4, 12), 0.5))
    q = m.inference["z"](x)
    eps = q.base_dist.sample()

    def push(e):
        for t in q.transforms:
            e = t(e)
        return e

    z = push(eps)
    expected = q.base_dist.log_prob(eps)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda e: push(torch.cat([eps[:i], e[None], eps[i + 1:]]))[i], eps[i])
        expected[i] = expected[i] - torch.linalg.slogdet(jac)[1]
    assert torch.allclose(q.log_prob(z), expected, atol=1e-4)  # cached: the flow's own draw
    fresh = _Tiny(SMALL, flow=flow)
    fresh.load_state_dict(m.state_dict())
    assert torch.allclose(fresh.inference["z"](x).log_prob(z.detach().clone()), expected, atol=1e-4)  # inverted


def test_planar_inverse_and_its_implicit_gradient(float64):
    """The inverse recovers the base point to float64 precision, and the gradient of log q at a
    fixed (detached) z, which STL and DReG take, matches central finite differences."""
    torch.manual_seed(0)
    bias, u, w = torch.randn(5, 1), 2 * torch.randn(5, 3), torch.randn(5, 3)
    base = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(3), 1.0), 1)
    eps = base.sample((5,))
    z = InvertiblePlanar(bias, u, w)(eps).detach()
    assert torch.allclose(InvertiblePlanar(bias, u, w).inv(z.clone()), eps, atol=1e-12)

    def log_q(w_):
        flow = InvertiblePlanar(bias, u, w_)
        return torch.distributions.TransformedDistribution(base, [flow]).log_prob(z.clone()).sum()

    w_live = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_q(w_live), w_live)
    numeric = torch.zeros_like(w)
    for idx in torch.cartesian_prod(torch.arange(5), torch.arange(3)):
        step = torch.zeros_like(w)
        step[tuple(idx)] = 1e-6
        numeric[tuple(idx)] = (log_q(w + step) - log_q(w - step)) / 2e-6
    assert torch.allclose(grad, numeric, atol=1e-6)


@pytest.mark.parametrize("flow", ["iaf", "planar"])
def test_flow_guide_gives_iw_weights_and_dreg_path_gradients(flow):
    torch.manual_seed(0)
    m = _Tiny(SMALL, flow=flow)
    x = torch.bernoulli(torch.full((5, 12), 0.4))
    pyro.set_rng_seed(1)
    with torch.no_grad():
        lw = trace_particles(m.model, m.guide, (x,), num_particles=7, max_plate_nesting=1).log_weights()
    assert lw.shape == (7, 5) and torch.isfinite(lw).all()
    m.zero_grad()
    DReG(num_particles=3).loss_and_grads(m.model, m.guide, x)  # path derivative through the flows
    flows = m.inference["z"].flows if flow == "iaf" else m.inference["z"].flow_params
    flow_grads = [p.grad for p in flows.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in flow_grads)
    assert any(g.abs().sum() > 0 for g in flow_grads)


class _Ridge(DeclarativeModel):
    """Two latents, two outputs of a random tanh net with small noise: the posterior is a curved ridge."""

    likelihood = "gaussian"

    def declare(self, posterior="normal"):
        return Spec(latents=[Latent("z", 2, posterior=posterior)], likelihood=Gaussian(MLP([16]), scale=0.1),
                    encoder=MLP([32]))


def test_flow_guides_beat_the_gaussian_guide_on_a_non_gaussian_posterior():
    """Same model, same data, same budget (300 Adam steps on the guide only): the IAF and planar
    guides' ELBOs are higher, and all stay below the IW_2000 estimate of log p(x)."""
    data = {"x_dim": 2, "kind": "continuous"}
    torch.manual_seed(0)
    model = _Ridge(data)
    with torch.no_grad():
        x = model.generative["likelihood"](torch.randn(64, 2))[:, :2] + 0.1 * torch.randn(64, 2)
    elbo, iw = {}, {}
    for name, posterior in (("normal", "normal"), ("iaf", IAF(2, [32], 8)), ("planar", Planar(8, 8))):
        torch.manual_seed(1)
        m = _Ridge(data, posterior=posterior)
        m.generative.load_state_dict(model.generative.state_dict())
        fit_guide(m.model, m.guide, m.inference.parameters(), x, steps=300, lr=0.01, particles=8)
        pyro.set_rng_seed(2)
        with torch.no_grad():
            lw = trace_particles(m.model, m.guide, (x,), num_particles=2000, max_plate_nesting=1).log_weights()
        elbo[name], iw[name] = float(lw.mean(0).mean()), float((lw.logsumexp(0) - math.log(2000)).mean())
    assert elbo["iaf"] > elbo["normal"] + 0.05 and elbo["planar"] > elbo["normal"] + 0.05, elbo
    assert max(iw.values()) - min(iw.values()) < 0.02  # the same log p(x), estimated through each guide
    assert max(elbo.values()) < min(iw.values())


@pytest.mark.parametrize("posterior,message", [
    ("flowy", r"latents\[0\] \('z'\).posterior: unknown posterior 'flowy'"),
    (IAF(0), r"posterior.num_flows must be a positive integer"),
    (IAF(2, [0]), r"posterior.hidden widths must be positive"),
    (IAF(2, context=0), r"posterior.context must be a positive integer"),
    (Planar(0), r"posterior.num_flows must be a positive integer"),
    (Planar(2, context=-1), r"posterior.context must be a positive integer"),
])
def test_bad_posteriors_name_the_field(posterior, message):
    with pytest.raises(ModelError, match=message):
        validate(Spec(latents=[Latent("z", 3, posterior=posterior)]), SMALL)
