import pyro.distributions as dist
import torch

from pyro_vae.distributions import BernoulliLogits


def test_log_density_and_gradient_are_torchs_bernoulli(float64):
    logits = torch.tensor([[-60.0, -3.0, -1e-3, 0.0, 2.5, 60.0]] * 3, requires_grad=True)
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.3, 0.0], [1.0] * 6, [0.0] * 6])  # a fractional value too
    ours = BernoulliLogits(logits, validate_args=False).to_event(1).log_prob(x)
    theirs = dist.Bernoulli(logits=logits, validate_args=False).to_event(1).log_prob(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), logits)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-12, atol=1e-12)
    expanded = BernoulliLogits(logits[0], validate_args=False).expand((4, 6))
    assert isinstance(expanded, BernoulliLogits) and expanded.log_prob(x[0]).shape == (4, 6)
