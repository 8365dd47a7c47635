"""CUDA: the captured step replayed as one CUDA graph gives the numbers of the op-by-op replay and of
Pyro's eager step with the same noise; training and evaluation on a GPU end to end. Skipped where
CUDA is not available (run them on a lent GPU: benchmarks/device_check.sh)."""

import math

import pyro
import pytest
import torch

from pyro_vae.evaluation import evaluate_model
from pyro_vae.infer.cuda_graphs import CUDAGraphMismatch, CUDAGraphReplay
from pyro_vae.infer.losses import make_loss
from pyro_vae.registry import build_model
from pyro_vae.training import TrainConfig, train
from pyro_vae.training.capture import CapturedStep

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

DIGITS = {"x_dim": 64, "kind": "binary", "image_shape": [8, 8], "num_classes": 10}


def _x(n=24, seed=0):
    return torch.bernoulli(torch.full((n, 64), 0.3), generator=torch.Generator().manual_seed(seed)).cuda()


def test_a_cuda_graph_replay_draws_the_eager_noise_and_follows_its_state():
    w = torch.randn(5, 3, device="cuda")

    def fn(state, x):
        (w,) = state
        return [x @ w + torch.randn(x.shape[0], 3, device=x.device)]

    x = torch.randn(4, 5, device="cuda")
    torch.cuda.manual_seed(1)
    eager = [fn([w], x)[0] for _ in range(3)]
    torch.cuda.manual_seed(1)
    replay = CUDAGraphReplay(fn, [w], (x,))
    replayed = [replay([w], (x,))[0].clone() for _ in range(3)]
    for a, b in zip(replayed, eager):
        torch.testing.assert_close(a, b)
    assert not torch.equal(replayed[0], replayed[1])  # fresh noise at every replay
    w.mul_(2.0)  # in place: the graph reads the new values
    torch.cuda.manual_seed(2)
    expected = fn([w], x)[0]
    torch.cuda.manual_seed(2)
    torch.testing.assert_close(replay([w], (x,))[0], expected)
    moved = w.clone()  # another address: recorded again
    torch.cuda.manual_seed(3)
    expected = fn([moved], x + 1)[0]
    torch.cuda.manual_seed(3)
    torch.testing.assert_close(replay([moved], (x + 1,))[0], expected)


def test_a_recording_that_does_not_replay_its_function_is_refused_and_leaves_the_generator_alone():
    calls = []

    def fn(state, x):  # a Python value the recording bakes in: the 3rd call's, where op by op gives the 4th's
        calls.append(1)
        return [x * float(len(calls)) + torch.rand_like(x)]

    x = torch.ones(3, device="cuda")
    torch.cuda.manual_seed(7)
    before = torch.cuda.get_rng_state()
    with pytest.raises(CUDAGraphMismatch, match="differs from the op-by-op replay: output 0"):
        CUDAGraphReplay(fn, [], (x,))
    assert torch.equal(torch.cuda.get_rng_state(), before)


@pytest.mark.parametrize("loss_name,particles", [("elbo", 1), ("iwae", 5), ("dreg", 5), ("piwae", 4)])
def test_the_cuda_graph_step_gives_the_eager_loss_and_gradients(loss_name, particles):
    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32]).cuda()
    x = _x()
    steps = {"eager": make_loss(loss_name, particles),
             "ops": CapturedStep(make_loss(loss_name, particles), model, "on", cuda_graphs=False),
             "cuda graph": CapturedStep(make_loss(loss_name, particles), model, "on")}
    for step in range(5):
        out = {}
        for name, loss in steps.items():
            model.zero_grad(set_to_none=True)
            pyro.set_rng_seed(step)
            value = loss.loss_and_grads(model.model, model.guide, x)
            out[name] = (value, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        for name in ("ops", "cuda graph"):
            assert math.isclose(out[name][0], out["eager"][0], rel_tol=1e-5), (name, step)
            assert out[name][1].keys() == out["eager"][1].keys()
            for n, g in out["eager"][1].items():
                torch.testing.assert_close(out[name][1][n], g, rtol=1e-4, atol=1e-5, msg=f"{name} {n}")
    assert steps["cuda graph"].graphs and all(c.cuda is not None for c in steps["cuda graph"].graphs.values())
    assert all(c.cuda is None for c in steps["ops"].graphs.values())


def test_training_on_cuda_with_the_cuda_graph_step_learns(tmp_path):
    common = dict(dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, batch_size=50, progress=False,
                  device="cuda", epochs=3, seed=5)
    captured = train(TrainConfig(capture="on", **common), tmp_path / "on", pictures=False)
    eager = train(TrainConfig(capture="off", **common), tmp_path / "off", pictures=False)
    first, last = captured.metrics[0]["train_objective"], captured.metrics[-1]["train_objective"]
    assert last > first
    # the same draws: the runs agree up to float reassociation on the GPU
    assert math.isclose(last, eager.metrics[-1]["train_objective"], rel_tol=1e-3, abs_tol=0.05)


def test_captured_evaluation_on_cuda_equals_the_eager_one():
    torch.manual_seed(0)
    model = build_model("vae", DIGITS, z_dim=4, hidden=[32]).cuda()
    x = _x(8)
    common = dict(k=50, max_elements=40, progress=False, seed=3)
    eager = evaluate_model(model, x, capture="off", **common)
    replayed = evaluate_model(model, x, capture="on", **common)
    torch.testing.assert_close(torch.as_tensor(replayed.log_px_iw), torch.as_tensor(eager.log_px_iw),
                               rtol=1e-6, atol=1e-5)
