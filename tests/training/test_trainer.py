import json
import math
import subprocess
import sys

import pyro.infer
import pytest
import torch

from pyro_vae.errors import RunDirError, TrainingDiverged
from pyro_vae.infer.losses import register_loss
from pyro_vae.training import RunDir, TrainConfig, load_trained_model, train

QUICK = dict(dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, batch_size=50, progress=False)


def test_training_improves_the_bound_and_writes_the_run(tmp_path):
    result = train(TrainConfig(epochs=4, **QUICK), tmp_path / "run")
    m = result.metrics
    assert [r["epoch"] for r in m] == [1, 2, 3, 4]
    assert m[-1]["valid_elbo"] > m[0]["valid_elbo"] + 3  # nats per datapoint
    assert m[-1]["train_objective"] > m[0]["train_objective"]
    run = RunDir(tmp_path / "run")
    assert run.config()["epochs"] == 4 and run.spec()["model"] == "vae"
    state = run.load_checkpoint("last")
    assert state["epoch"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    with pytest.raises(RunDirError, match="already holds a run.*--resume"):
        train(TrainConfig(epochs=1, **QUICK), tmp_path / "run")


def test_same_seed_same_numbers_and_resume_continues_exactly(tmp_path):
    full = train(TrainConfig(epochs=3, seed=7, **QUICK), tmp_path / "full")
    again = train(TrainConfig(epochs=3, seed=7, **QUICK), tmp_path / "again")
    assert [r["valid_elbo"] for r in full.metrics] == [r["valid_elbo"] for r in again.metrics]
    train(TrainConfig(epochs=1, seed=7, **QUICK), tmp_path / "split")
    resumed = train(TrainConfig(epochs=3, seed=7, **QUICK), tmp_path / "split", resume=True)
    assert [r["valid_elbo"] for r in resumed.metrics] == [r["valid_elbo"] for r in full.metrics]
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train(TrainConfig(epochs=1, seed=8, **QUICK), tmp_path / "other")
    assert other.metrics[0]["valid_elbo"] != full.metrics[0]["valid_elbo"]


class _NaNAfter(pyro.infer.Trace_ELBO):
    """Trace_ELBO whose loss turns NaN on chosen calls (1-based)."""

    def __init__(self, bad_calls, **kw):
        super().__init__(**kw)
        self.bad_calls, self.calls = set(bad_calls), 0

    def loss_and_grads(self, model, guide, *args, **kwargs):
        self.calls += 1
        loss = super().loss_and_grads(model, guide, *args, **kwargs)
        return float("nan") if self.calls in self.bad_calls else loss


register_loss("_test_nan_step3", "test only")(lambda num_particles=1: _NaNAfter({3}))
register_loss("_test_nan_often", "test only")(lambda num_particles=1: _NaNAfter(set(range(3, 100))))


def test_nan_loss_stops_with_the_step_or_is_skipped_and_counted(tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1, step 3.*--lr.*--on-nan skip"):
        train(TrainConfig(epochs=1, loss="_test_nan_step3", **QUICK), tmp_path / "stop")
    assert not (tmp_path / "stop" / "checkpoint_last.pt").exists()  # no NaN checkpoint written

    result = train(TrainConfig(epochs=2, loss="_test_nan_step3", on_nan="skip", **QUICK), tmp_path / "skip")
    assert result.metrics[0]["skipped_steps"] == 1 and result.metrics[1]["skipped_steps"] == 0
    assert math.isfinite(result.metrics[-1]["valid_elbo"])

    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        train(TrainConfig(epochs=1, loss="_test_nan_often", on_nan="skip", **QUICK), tmp_path / "often")


def _cli(*args):
    return [sys.executable, "-m", "pyro_vae", *args]


# kill -9 in the first or second epoch, then resume: tests/training/test_nothing_lost.py


@pytest.mark.slow
def test_checkpoint_reloads_in_a_fresh_process_to_the_same_numbers(tmp_path):
    train(TrainConfig(epochs=1, **QUICK), tmp_path / "run")
    subprocess.run(_cli("evaluate", str(tmp_path / "run"), "--k", "20", "--n", "30", "--no-progress"),
                   check=True, capture_output=True)
    theirs = json.loads((tmp_path / "run" / "eval.json").read_text())
    from pyro_vae.data import load_dataset
    from pyro_vae.evaluation import evaluate_model

    model = load_trained_model(tmp_path / "run", "best")
    from pyro_vae.data.subset import choose_rows

    x = load_dataset("digits").for_likelihood("bernoulli").test
    (x,) = choose_rows(len(x), 30).take(x)  # the rows `--n 30` evaluates
    ours = evaluate_model(model, x, k=20, seed=0, progress=False).summary()
    assert theirs["n"] == 30 and theirs["k"] == 20
    assert theirs["log_px_iw"] == pytest.approx(ours["log_px_iw"], abs=1e-9)
    assert theirs["elbo"] == pytest.approx(ours["elbo"], abs=1e-9)


def test_gaussian_vae_learns_moons_better_than_a_gaussian(tmp_path):
    from pyro_vae.data import load_dataset
    from pyro_vae.evaluation import evaluate_model

    cfg = TrainConfig(model="vae_gaussian", dataset="moons", epochs=20, batch_size=50, lr=3e-3, progress=False)
    result = train(cfg, tmp_path / "moons")
    m = result.metrics
    assert m[-1]["valid_elbo"] > m[0]["valid_elbo"] + 0.3
    data = load_dataset("moons")
    fit = torch.distributions.MultivariateNormal(data.train.mean(0), covariance_matrix=torch.cov(data.train.T))
    baseline = float(fit.log_prob(data.test).mean())  # about -1.89 nats
    est = evaluate_model(result.model, data.test, k=200, progress=False)
    assert est.log_px_iw.mean() > baseline + 0.05
