"""KL warm-up and early stopping: the annealed objective by hand, the weights per step, the true
bounds in validation, resumed draw for draw; a run that stops when the valid bound stalls."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae.data import load_dataset
from pyro_vae.evaluation import evaluate_model
from pyro_vae.training import RunDir, TrainConfig, load_trained_model, resume_config, train
from pyro_vae.training import trainer as trainer_module
from pyro_vae.training.kl_warmup import ScaleLatents, kl_weight
from pyro_vae.training.logging import epoch_line

TINY = dict(dataset="digits", model_options={"z_dim": 2, "hidden": [16]}, batch_size=100, progress=False, seed=4)


def test_the_weight_rises_linearly_per_step_then_stays_1():
    assert [kl_weight(s, 4) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert kl_weight(0, 0) == 1.0


def test_scaled_latents_give_the_annealed_elbo_on_the_same_draws():
    """-loss = log p(x|z) + beta (log p(z) - log q(z|x)): linear in beta on the same draws."""
    def model(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 0.5), obs=x)

    def guide(x):
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(0.3 * x, 0.8))

    x = torch.linspace(-1, 2, 7)
    elbo = pyro.infer.Trace_ELBO()

    def loss(beta):
        pyro.set_rng_seed(0)
        with ScaleLatents(beta):
            return elbo.loss(model, guide, x)

    l0, l1 = loss(0.0), loss(1.0)
    pyro.set_rng_seed(0)
    assert l1 == pytest.approx(elbo.loss(model, guide, x))  # beta = 1: the ELBO itself
    for beta in (0.25, 0.5):
        assert loss(beta) == pytest.approx(l0 + beta * (l1 - l0), rel=1e-6)
    assert l0 != pytest.approx(l1)


def test_kl_warmup_anneals_the_objective_only_and_resumes_draw_for_draw(tmp_path):
    whole = train(TrainConfig(epochs=3, kl_warmup=2, **TINY), tmp_path / "whole", pictures=False).metrics
    steps = math.ceil(len(load_dataset("digits").train) / TINY["batch_size"])
    assert [r["kl_weight"] for r in whole] == pytest.approx([(steps - 1) / (2 * steps), (2 * steps - 1) / (2 * steps),
                                                             1.0])
    plain = train(TrainConfig(epochs=1, **TINY), tmp_path / "plain", pictures=False).metrics
    assert "kl_weight" not in plain[0]
    assert whole[0]["train_objective"] > plain[0]["train_objective"]  # part of the KL: a higher objective
    assert "train objective (elbo, KL weight 0.46)" in epoch_line(whole[0], 3, "elbo", 1)
    assert "train objective (elbo)" in epoch_line(whole[-1], 3, "elbo", 1)  # warm-up over: the ELBO itself
    # the valid ELBO is the true ELBO of the checkpoint, not the annealed one
    model = load_trained_model(tmp_path / "whole", "last")
    valid, _ = load_dataset("digits").for_likelihood("bernoulli").split("valid")
    est = evaluate_model(model, valid, k=1, seed=TINY["seed"], diagnostics=False, progress=False)
    assert float(est.elbo.mean()) == pytest.approx(whole[-1]["valid_elbo"], rel=1e-6)
    assert RunDir(tmp_path / "whole").config()["kl_warmup"] == 2

    train(TrainConfig(epochs=1, kl_warmup=2, **TINY), tmp_path / "split", pictures=False)
    resumed = train(resume_config(tmp_path / "split", epochs=3), tmp_path / "split", resume=True, pictures=False)
    drop = lambda rows: [{k: v for k, v in r.items() if k not in ("train_time_s", "elapsed_s")} for r in rows]  # noqa: E731
    assert drop(resumed.metrics) == drop(whole)


def test_early_stopping_stops_when_the_valid_bound_stalls_and_keeps_the_best(tmp_path, monkeypatch):
    script = iter([-50.0, -40.0, -41.0, -42.0, -39.0, -30.0])
    monkeypatch.setattr(trainer_module.Trainer, "validate", lambda self: {"valid_elbo": next(script)})
    result = train(TrainConfig(epochs=6, early_stopping=2, **TINY), tmp_path / "run", pictures=False)
    rows = result.metrics
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # epoch 2 was best; 2 epochs without improvement
    assert "has not improved for 2 epochs (best -40.00 at epoch 2" in rows[-1]["early_stop"]
    run = RunDir(tmp_path / "run")
    assert run.load_checkpoint("best")["epoch"] == 2
    again = train(resume_config(tmp_path / "run", epochs=8), tmp_path / "run", resume=True, pictures=False)
    assert again.trained_epochs == 0 and [r["epoch"] for r in run.metrics()] == [1, 2, 3, 4]
