"""The IW evaluator's captured chunks (pyro_vae.evaluation.chunks): the same per-datapoint numbers as
the eager chunks with the same seed, bit for bit; the eager fallback (or an error under "on") where
capture is not valid; the graph pass that moves broadcast work back to the small tensors."""

import logging

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyro_vae.evaluation import chunks, evaluate_log_likelihood, evaluate_model
from pyro_vae.evaluation.result import COLUMNS
from pyro_vae.infer.graph_capture import CaptureError, trace_graph
from pyro_vae.registry import build_model
from pyro_vae.training.capture import CapturedStep

DIGITS = {"x_dim": 64, "kind": "binary", "image_shape": [8, 8], "num_classes": 10}


def _x(n=8, seed=0):
    return torch.bernoulli(torch.full((n, 64), 0.3), generator=torch.Generator().manual_seed(seed))


def _counting_traces(monkeypatch) -> list:
    """Counts the eager runs of guide and model the evaluator's chunks make (a trace makes one)."""
    calls = []
    original = chunks.trace_particles

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(chunks, "trace_particles", counted)
    return calls


@pytest.mark.parametrize("name,options,kl_analytic", [
    ("vae", {"z_dim": 4, "hidden": [32]}, True),                    # closed-form KL
    ("hvae2", {"z1_dim": 8, "z2_dim": 4}, False),                   # bottom-up: Monte Carlo KL
    ("vae_iaf", {"z_dim": 4, "hidden": [32], "flow_hidden": [16], "context": 8}, False),  # a flow
])
def test_captured_chunks_give_the_eager_numbers_exactly(name, options, kl_analytic, monkeypatch):
    torch.manual_seed(0)
    model = build_model(name, DIGITS, **options)
    x = _x()
    # K = 50 in blocks of at most 40 elements: one datapoint per block, chunks of 40 and 10
    # particles (two graphs); diagnostics on: the first chunk of each block also gives the means
    common = dict(k=50, max_elements=40, progress=False, seed=3)
    eager = evaluate_model(model, x, capture="off", **common)
    calls = _counting_traces(monkeypatch)
    replayed = evaluate_model(model, x, capture="on", **common)
    assert len(calls) == 1 + 2 * 3 < 2 * len(x)  # the first chunk, then per graph two eager calls and a trace
    assert replayed.kl_analytic == eager.kl_analytic == kl_analytic
    for column in COLUMNS:
        np.testing.assert_array_equal(replayed.values[column], eager.values[column], err_msg=column)
    assert replayed.active_units == eager.active_units and eager.active_units


def test_enumerated_pairs_stay_eager_and_short_evaluations_are_not_captured(monkeypatch, caplog):
    torch.manual_seed(0)
    ss = build_model("ss_vae", DIGITS, z_dim=4, hidden=[16], labelled_examples=10, alpha=1.0)
    x = _x()
    common = dict(k=6, max_elements=12, progress=False, seed=1, diagnostics=False)
    with pytest.raises(CaptureError, match="'y' is enumerated.*use capture auto or off"):
        evaluate_model(ss, x, capture="on", **common)
    eager = evaluate_model(ss, x, capture="off", **common)
    monkeypatch.setattr(chunks, "CAPTURE_MIN_CHUNKS", 1)  # auto would capture this evaluation
    with caplog.at_level(logging.WARNING, logger="pyro_vae"):
        auto = evaluate_model(ss, x, capture="auto", **common)
    assert [r.getMessage() for r in caplog.records if "not captured" in r.getMessage()] == [
        "IW evaluation not captured (eager from here on): site 'y' is enumerated (its sum over values is Pyro's job at "
        "each step)"]
    np.testing.assert_array_equal(auto.log_px_iw, eager.log_px_iw)
    monkeypatch.undo()
    short = chunks.ChunkRunner(ss.model, ss.guide, 1, None, "auto", planned_chunks=999)
    assert short.eager_reason == "999 chunks (capture from 1000)"


def _discrete_pair():
    """A Bernoulli latent the guide draws (not enumerated, no reparameterization) beside a Normal one."""
    w = torch.tensor([[1.0, -0.5, 0.3, 0.2], [0.4, 0.8, -1.0, 0.1]])

    def model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Bernoulli(0.5))
            z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ w + c.unsqueeze(-1), 1.0).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Bernoulli(logits=0.3 * x.sum(-1)))
            pyro.sample("z", dist.Normal(0.5 * x[..., :2], 0.8).to_event(1))

    return model, guide


def test_a_discrete_guide_draw_is_replayed_in_evaluation_and_refused_in_training(monkeypatch):
    """An evaluation differentiates nothing: a non-reparameterized draw is one more random
    operation in the graph. A training step needs its score-function term: not captured."""
    model, guide = _discrete_pair()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    common = dict(k=50, max_elements=40, progress=False, seed=3, diagnostics=False)
    eager = evaluate_log_likelihood(model, guide, x, capture="off", **common)
    calls = _counting_traces(monkeypatch)
    replayed = evaluate_log_likelihood(model, guide, x, capture="on", **common)
    assert len(calls) == 1 + 2 * 3 < 2 * len(x)  # replayed from the third call of each chunk shape
    assert np.isfinite(eager.log_px_iw).all()
    for column in ("log_px_iw", "elbo"):
        np.testing.assert_array_equal(replayed.values[column], eager.values[column], err_msg=column)
    # the Monte Carlo KL differs in the last bit: sink_expands moves work off a strided broadcast
    # onto a contiguous tensor, where torch takes another kernel path (graph_passes' docstring)
    np.testing.assert_allclose(replayed.values["kl"], eager.values["kl"], rtol=2e-7, atol=0)
    step = CapturedStep(Trace_ELBO(), torch.nn.Module(), "on")
    step.loss_and_grads(model, guide, x)
    with pytest.raises(CaptureError, match="site 'c' \\(Bernoulli\\) is not reparameterized"):
        step.loss_and_grads(model, guide, x)


def test_the_capture_option_reaches_ais():
    """``capture="on"`` errors where AIS's densities cannot be traced."""
    from pyro_vae.evaluation import evaluate_ais

    torch.manual_seed(0)
    m = build_model("vae_iaf", DIGITS, z_dim=4, hidden=[32], flow_hidden=[16], context=8)
    common = dict(num_chains=2, num_steps=3, leapfrog_steps=2, seed=1, progress=False)
    with pytest.raises(CaptureError, match="AIS densities cannot be captured"):
        evaluate_ais(m.model, m.guide, _x(3), capture="on", **common)


def test_broadcast_work_moves_back_to_the_small_tensors():
    """A guide Normal(loc, scale) and its KL to N(0, 1), scored at K particles: the work that
    depends only on (loc, scale) is done once on [B, D], not K times, with the same values."""
    d = torch.distributions

    def scored(loc, log_scale, eps):
        shape = eps.shape
        q = d.Normal(loc.expand(shape), log_scale.exp().expand(shape))
        p = d.Normal(loc.new_zeros(()).expand(shape), loc.new_ones(()).expand(shape))
        z = loc + log_scale.exp() * eps
        return q.log_prob(z).sum(-1), d.kl_divergence(q, p).sum(-1)

    loc, log_scale, eps = torch.randn(3, 5), torch.randn(3, 5), torch.randn(64, 3, 5)
    graph = trace_graph(scored, loc, log_scale, eps)
    small = {n.target for n in graph.graph.nodes if n.op == "call_function"
             and n.meta["val"].numel() == 15 and n.target != torch.ops.aten.expand.default}
    assert {torch.ops.aten.log.default, torch.ops.aten.pow.Tensor_Scalar} <= small  # log scale, var, the KL's terms
    logs = [n for n in graph.graph.nodes if n.target == torch.ops.aten.log.default]
    assert logs and all(n.meta["val"].numel() == 15 for n in logs)
    big = [n for n in graph.graph.nodes if n.op == "call_function" and n.meta["val"].numel() == 64 * 15
           and n.target not in (torch.ops.aten.expand.default, torch.ops.aten.clone.default)]
    assert len(big) == 8  # z = loc + s * eps, and log q's (z - loc)^2 / (2 s^2) - log s - log sqrt(2 pi) at z
    for out, expected in zip(graph(loc, log_scale, eps), scored(loc, log_scale, eps)):
        assert out.shape == expected.shape == (64, 3) and 0 not in out.stride()  # outputs are not broadcast views
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_a_traced_graph_takes_inputs_of_any_layout():
    """make_fx records a view that was valid for the traced (contiguous) input; a transposed input
    of the same shape is copied into the traced layout first, with its gradient."""
    def fn(a):
        return (a.view(-1) * torch.arange(12.0)).sum()

    graph = trace_graph(fn, torch.ones(3, 4), scoped_params=False)
    other = torch.arange(12.0).reshape(4, 3).t().requires_grad_(True)  # shape (3, 4), not contiguous
    assert not other.is_contiguous()
    value = graph(other)
    assert value == fn(other.contiguous())
    (grad,) = torch.autograd.grad(value, other)
    torch.testing.assert_close(grad, torch.arange(12.0).reshape(3, 4))
