import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.distributions import DiagNormalMixture


def _params(c=7, d=5, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(c, generator=g, dtype=dtype)
    locs = 3 * torch.randn(c, d, generator=g, dtype=dtype)
    scales = torch.rand(c, d, generator=g, dtype=dtype) * 1.5 + 0.05  # down to sigma = 0.05: tau = 400
    return logits, locs, scales


def _reference(logits, locs, scales):
    comps = dist.Normal(locs.double(), scales.double()).to_event(1)
    return dist.MixtureSameFamily(dist.Categorical(logits=logits.double()), comps)


def test_log_prob_matches_mixture_same_family_in_float64():
    logits, locs, scales = _params()
    g = torch.Generator().manual_seed(1)
    near = locs[torch.randint(7, (200,), generator=g)] + 0.01 * torch.randn(200, 5, generator=g)  # cancellation
    far = 10 * torch.randn(200, 5, generator=g)
    value = torch.cat([near, far]).reshape(4, 100, 5)
    ours = DiagNormalMixture(logits, locs, scales).expand([4, 100]).log_prob(value)
    ref = _reference(logits, locs, scales).expand([4, 100]).log_prob(value.double())
    assert ours.shape == (4, 100) and ours.dtype == torch.float32
    assert torch.allclose(ours.double(), ref, rtol=1e-6, atol=1e-4), (ours.double() - ref).abs().max()


def test_gradients_match_mixture_same_family():
    params = [p.double().requires_grad_() for p in _params(c=4, d=3)]
    value = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(DiagNormalMixture(*params).log_prob(value).sum(), params + [value])
    ref = torch.autograd.grad(_reference(*params).log_prob(value).sum(), params + [value])
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-8)


def test_samples_have_the_mixture_moments():
    logits, locs, scales = _params(c=3, d=2)
    torch.manual_seed(0)
    z = DiagNormalMixture(logits, locs, scales).sample((200000,))
    w = logits.softmax(0).unsqueeze(-1)
    mean = (w * locs).sum(0)
    var = (w * (scales ** 2 + locs ** 2)).sum(0) - mean ** 2
    assert z.shape == (200000, 2)
    assert torch.allclose(z.mean(0), mean, atol=4 * (var / 200000).sqrt().max())
    assert torch.allclose(z.var(0), var, rtol=0.02)


def test_expands_under_pyro_plates_like_any_prior():
    logits, locs, scales = _params(c=3, d=2)

    def model():
        with pyro.plate("particles", 4, dim=-2), pyro.plate("data", 3, dim=-1):
            return pyro.sample("z", DiagNormalMixture(logits, locs, scales))

    trace = pyro.poutine.trace(model).get_trace()
    site = trace.nodes["z"]
    assert site["value"].shape == (4, 3, 2)
    assert site["fn"].batch_shape == (4, 3)
    expected = _reference(logits, locs, scales).log_prob(site["value"].double())
    assert torch.allclose(site["fn"].log_prob(site["value"]).double(), expected, atol=1e-5)


def test_wrong_parameter_shapes_are_named():
    logits, locs, scales = _params(c=3, d=2)
    with pytest.raises(ValueError, match=r"locs \[C, D\]"):
        DiagNormalMixture(logits, locs[0], scales[0])


def test_single_component_is_the_diagonal_normal():
    loc, scale = torch.tensor([[0.5, -1.0]]), torch.tensor([[2.0, 0.3]])
    z = torch.tensor([[0.0, 0.0], [3.0, -1.2]])
    ours = DiagNormalMixture(torch.zeros(1), loc, scale).log_prob(z)
    by_hand = (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    assert torch.allclose(ours, by_hand, atol=1e-6)
