"""The captured training step: the same loss and gradients as Pyro's eager step with the same noise,
for every estimator and the zoo models it applies to; fallback (or an error under "on") where the
step cannot be replayed."""

import logging

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.infer.losses import make_loss
from pyro_vae.model import LatentVariableModel
from pyro_vae.registry import build_model
from pyro_vae.training.capture import CaptureError, CapturedStep

DIGITS = {"x_dim": 64, "kind": "binary", "image_shape": [8, 8], "num_classes": 10}


def _batch(n=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, 64), 0.3), generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _grads(m):
    return {n: (p.grad.clone() if p.grad is not None else None) for n, p in m.named_parameters()}


def _compare(model, loss_name, particles, batch, steps=5):
    """Eager and captured steps side by side, the same seed before each: losses and gradients."""
    pyro.clear_param_store()
    eager, captured = make_loss(loss_name, particles), CapturedStep(make_loss(loss_name, particles), model, "on")
    for step in range(steps):
        out = []
        for loss in (eager, captured):
            model.zero_grad(set_to_none=True)
            pyro.set_rng_seed(step)
            value = loss.loss_and_grads(model.model, model.guide, *batch)
            out.append((value, _grads(model)))
        (v_eager, g_eager), (v_captured, g_captured) = out
        assert v_captured == v_eager, (loss_name, step)
        assert g_eager.keys() == g_captured.keys()
        for name in g_eager:
            assert (g_eager[name] is None) == (g_captured[name] is None), name
            if g_eager[name] is not None:
                torch.testing.assert_close(g_captured[name], g_eager[name], rtol=1e-6, atol=1e-6, msg=name)
    assert captured.captured  # from the third call on, the replayed graph ran
    return captured


@pytest.mark.parametrize("loss_name,particles", [("elbo", 1), ("elbo", 3), ("meanfield", 1), ("iwae", 5),
                                                 ("dreg", 5), ("stl", 1), ("miwae", 4), ("ciwae", 4),
                                                 ("piwae", 4)])
def test_every_estimator_replays_the_eager_step_exactly(loss_name, particles):
    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32])
    x, _ = _batch()
    _compare(model, loss_name, particles, (x,))


@pytest.mark.parametrize("name,options", [
    ("hvae2", {"z1_dim": 8, "z2_dim": 4}), ("vamp", {"z_dim": 4, "hidden": [32], "num_pseudo": 10}),
    ("gmvae", {"z_dim": 4, "hidden": [32], "components": 3}), ("cvae", {"z_dim": 4, "hidden": [32]}),
    ("lvae", {"z_dims": [8, 4], "hidden": [32], "features": 16}),
    ("vae_iaf", {"z_dim": 4, "hidden": [32], "flow_hidden": [16], "context": 8}),
])
def test_zoo_models_replay_the_eager_step_exactly(name, options):
    torch.manual_seed(0)
    model = build_model(name, DIGITS, **options)
    x, y = _batch()
    _compare(model, "iwae", 3, model.data_args(x, y))


class _Flickering(LatentVariableModel):
    """A model whose structure changes from call to call (an extra latent every other call)."""

    def __init__(self, data):
        super().__init__(data)
        self.net = torch.nn.Linear(2, self.x_dim)
        self.calls = 0

    def model(self, x, y=None):
        pyro.module("net", self.net)
        self.calls += 1
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            if self.calls % 2 == 0:
                pyro.sample("w", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.net(z)).to_event(1), obs=x)

    def guide(self, x, y=None):
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            if self.calls % 2 == 1:
                pyro.sample("w", dist.Normal(x.new_zeros(2), 1.0).to_event(1))


def test_a_model_whose_structure_changes_is_not_captured(caplog):
    x, _ = _batch()
    m = _Flickering(DIGITS)
    step = CapturedStep(make_loss("elbo"), m, "auto")
    with caplog.at_level(logging.WARNING, logger="pyro_vae"):
        values = [step.loss_and_grads(m.model, m.guide, x) for _ in range(5)]
    assert not step.captured and "structure changed" in step.eager_reason
    assert len([r for r in caplog.records if "not captured" in r.getMessage()]) == 1  # one line, once
    assert all(isinstance(v, float) for v in values)
    strict = CapturedStep(make_loss("elbo"), _Flickering(DIGITS), "on")
    with pytest.raises(CaptureError, match="structure changed"):
        for _ in range(3):
            strict.loss_and_grads(strict.module.model, strict.module.guide, x)


def test_enumerated_and_subsampled_steps_stay_eager():
    x, y = _batch()
    ss = build_model("ss_vae", DIGITS, z_dim=4, hidden=[16], labelled_examples=10, alpha=1.0)
    step = CapturedStep(make_loss("enum"), ss, "auto")  # TraceEnum_ELBO: refused as it is built
    for _ in range(3):
        step.loss_and_grads(ss.model, ss.guide, x)
    assert not step.captured and "TraceEnum_ELBO is not one capture can reproduce" in step.eager_reason
    with pytest.raises(CaptureError, match="'y' is enumerated"):  # an IW estimator, which sums y out
        strict = CapturedStep(make_loss("iwae", 2), ss, "on")
        for _ in range(2):
            strict.loss_and_grads(ss.model, ss.guide, x)

    class Subsampled(LatentVariableModel):
        def __init__(self, data):
            super().__init__(data)
            self.decoder, self.encoder = torch.nn.Linear(2, self.x_dim), torch.nn.Linear(self.x_dim, 2)

        def model(self, x, y=None):
            pyro.module("decoder", self.decoder)
            with pyro.plate("data", len(x), subsample_size=8) as idx:
                z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
                pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x[idx])

        def guide(self, x, y=None):
            pyro.module("encoder", self.encoder)
            with pyro.plate("data", len(x), subsample_size=8) as idx:
                pyro.sample("z", dist.Normal(self.encoder(x[idx]), 1.0).to_event(1))

    sub = Subsampled(DIGITS)
    step = CapturedStep(make_loss("elbo"), sub, "auto")
    for _ in range(3):
        step.loss_and_grads(sub.model, sub.guide, x)
    assert not step.captured and "subsamples (8 of 24)" in step.eager_reason


def test_each_batch_shape_is_captured_once_and_off_means_eager():
    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32])
    x, _ = _batch(30)
    step = CapturedStep(make_loss("elbo"), model, "auto")
    for _ in range(3):
        for batch in (x[:20], x[20:]):  # a full batch and the short last one
            step.loss_and_grads(model.model, model.guide, batch)
    assert len(step.graphs) == 2
    off = CapturedStep(make_loss("elbo"), model, "off")
    for _ in range(4):
        off.loss_and_grads(model.model, model.guide, x)
    assert not off.captured and off.eager_reason == "capture is off"
    with pytest.raises(Exception, match="capture must be one of auto, on, off"):
        CapturedStep(make_loss("elbo"), model, "sometimes")


def test_a_loss_that_overrides_loss_and_grads_is_not_captured():
    class Noisy(pyro.infer.Trace_ELBO):
        def loss_and_grads(self, model, guide, *args, **kwargs):
            return super().loss_and_grads(model, guide, *args, **kwargs) + 1.0

    model = build_model("vae", DIGITS, z_dim=4, hidden=[32])
    step = CapturedStep(Noisy(), model, "auto")
    assert "Noisy overrides loss_and_grads" in step.eager_reason
    with pytest.raises(CaptureError, match="Noisy overrides loss_and_grads"):
        CapturedStep(Noisy(), model, "on")


def test_a_non_finite_replayed_loss_drops_the_step():
    """A NaN that reaches the replayed graph (here from the data) comes out as the loss: svi_step
    then takes no optimizer step, as it does for the eager step."""
    from pyro_vae.training.trainer import make_optimizer, svi_step

    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32])
    opt = make_optimizer(model, 1e-3)
    step = CapturedStep(make_loss("elbo"), model, "on")
    x, _ = _batch()
    for _ in range(3):
        assert torch.isfinite(torch.tensor(svi_step(step, model, opt, (x,))))
    assert step.captured
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    bad = x.clone()
    bad[0, 0] = float("nan")
    assert svi_step(step, model, opt, (bad,)) != svi_step(step, model, opt, (bad,))  # nan, twice
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())


def test_the_cuda_graph_check_tells_float_noise_from_a_different_result():
    from pyro_vae.infer.cuda_graphs import ATOL, RTOL, mismatch

    a = [torch.tensor(3.0), torch.randn(4, 5, generator=torch.Generator().manual_seed(0))]
    assert mismatch(a, [t.clone() for t in a]) is None
    assert mismatch(a, [a[0] * (1 + RTOL / 2), a[1] + ATOL / 2]) is None  # within the tolerance
    other_noise = a[1] + torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    assert "output 1" in mismatch(a, [a[0], other_noise])
    assert "output 0" in mismatch(a, [a[0] + 1e-2, a[1]])
    assert mismatch([torch.tensor(float("nan"))], [torch.tensor(float("nan"))]) is None  # a NaN step stays NaN
    assert "inf" in mismatch([torch.tensor(float("nan"))], [torch.tensor(1.0)])
    assert "shape" in mismatch([torch.zeros(3)], [torch.zeros(4)])
    assert "1 outputs against 2" == mismatch(a[:1], a)


def test_a_cuda_graph_that_fails_its_check_leaves_the_op_by_op_replay(monkeypatch, caplog):
    """The fallback's wiring, on CPU: where the CUDA graph cannot be used (here it is made to fail
    its check), the step logs one line, replays op by op from then on, and gives the eager numbers."""
    import pyro_vae.training.capture as capture
    from pyro_vae.infer.cuda_graphs import CUDAGraphMismatch

    attempts = []

    def failing_replay(graph, state, batch):
        attempts.append(len(state))
        raise CUDAGraphMismatch("the CUDA graph's replay differs from the op-by-op replay: output 0")

    monkeypatch.setattr(capture, "cuda_device", lambda tensors: torch.device("cpu"))  # as if on CUDA
    monkeypatch.setattr(capture, "CUDAGraphReplay", failing_replay)
    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32])
    x, _ = _batch()
    with caplog.at_level(logging.WARNING, logger="pyro_vae"):
        step = _compare(model, "iwae", 3, (x,))
    assert len(attempts) == 1 and not step.cuda_graphs  # tried once, then op by op
    lines = [r.getMessage() for r in caplog.records if "CUDA graph" in r.getMessage()]
    assert len(lines) == 1 and "replayed op by op" in lines[0] and "differs from the op-by-op" in lines[0]
    assert all(c.cuda is None for c in step.graphs.values())
