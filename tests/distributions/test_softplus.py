import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from pyro_vae.distributions import BernoulliLogits
from pyro_vae.distributions.softplus import MIN_ELEMENTS, softplus

EXTREMES = [-float("inf"), -200.0, -60.0, -17.5, -3.0, -1e-3, 0.0, 1e-3, 2.5, 19.9, 20.1, 60.0, 200.0, float("inf")]


def block(dtype, seed=0):
    """A block large enough for the vectorized form, with the extreme values in it."""
    g = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(MIN_ELEMENTS // 784 + 3, 784, generator=g, dtype=dtype)
    logits[0, : len(EXTREMES)] = torch.tensor(EXTREMES, dtype=dtype)
    return logits


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-6), (torch.float64, 1e-14)])
def test_values_and_gradient_are_torchs_softplus(dtype, atol):
    logits = block(dtype).requires_grad_()
    ours, theirs = softplus(logits), F.softplus(logits)
    assert torch.equal(ours[0, [0, len(EXTREMES) - 1]], torch.tensor([0.0, float("inf")], dtype=dtype))
    # torch's returns l above 20, dropping exp(-l) (2e-9 at 20.1): in float64 the reference is logaddexp
    reference = theirs if dtype == torch.float32 else torch.logaddexp(logits, torch.zeros((), dtype=dtype))
    torch.testing.assert_close(ours, reference, rtol=0, atol=atol)
    # the error is at most 2^-24 (2^-53) absolute per element, plus the result's rounding (docstring)
    exact = torch.logaddexp(logits.detach().double(), torch.zeros((), dtype=torch.float64))
    finite = exact.isfinite()
    err = (ours.detach().double() - exact)[finite].abs()
    bound = torch.finfo(dtype).eps / 2 + torch.finfo(dtype).eps * exact[finite].abs()
    assert (err <= bound).all()
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    torch.testing.assert_close(g_ours, logits.detach().sigmoid(), rtol=0, atol=0)
    if dtype == torch.float32:
        torch.testing.assert_close(g_ours, torch.autograd.grad(theirs.sum(), logits)[0], rtol=0, atol=atol)


def test_bernoulli_row_sums_match_torch_on_an_image_block():
    logits = block(torch.float32, seed=1)[1:]  # finite logits: a decoder's
    x = (torch.rand(logits.shape, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    ours = BernoulliLogits(logits, validate_args=False).to_event(1).log_prob(x)
    torchs = (x * logits - F.softplus(logits)).sum(-1)
    torch.testing.assert_close(ours, torchs, rtol=1e-6, atol=0)  # float32 rounding of sums of ~1000


def test_one_node_in_a_captured_graph_with_the_sigmoid_as_its_backward():
    def loss_and_grad(logits):
        return torch.autograd.grad(softplus(logits).sum(), logits)

    logits = block(torch.float32).requires_grad_()
    graph = make_fx(loss_and_grad)(logits)
    targets = [n.target for n in graph.graph.nodes if n.op == "call_function"]
    assert torch.ops.pyro_vae.softplus.default in targets and torch.ops.aten.sigmoid.default in targets
    assert torch.ops.aten.log.default not in targets  # the forward's passes are inside the one node
    assert torch.equal(graph(logits)[0], logits.sigmoid())


def test_small_tensors_and_other_paths_use_torchs_softplus():
    small = torch.randn(MIN_ELEMENTS - 1)
    assert torch.equal(softplus(small), F.softplus(small))
    graph = make_fx(softplus)(small)
    assert torch.ops.pyro_vae.softplus.default not in [n.target for n in graph.graph.nodes]
