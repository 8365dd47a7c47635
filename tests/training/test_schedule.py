"""Learning-rate schedules and the training time budget."""

import math

import pytest
import torch

from pyro_vae.errors import OptionError
from pyro_vae.training import TrainConfig, train
from pyro_vae.training.schedule import (BURDA_EPOCHS, PLATEAU_FACTOR, PLATEAU_PATIENCE, burda_stage, learning_rate,
                                        warmup_factor)

QUICK = dict(dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, batch_size=50, progress=False)


def test_burda_schedule_has_3_to_the_i_epochs_per_stage():
    assert BURDA_EPOCHS == 3280
    stages = [burda_stage(e) for e in range(BURDA_EPOCHS)]
    assert [stages.count(i) for i in range(8)] == [1, 3, 9, 27, 81, 243, 729, 2187]
    assert stages == sorted(stages)  # contiguous, in order
    assert burda_stage(BURDA_EPOCHS + 100) == 7  # past the end: the last rate
    assert learning_rate("burda", 1e-3, 0) == 1e-3
    assert math.isclose(learning_rate("burda", 1e-3, 1), 1e-3 * 10 ** (-1 / 7))
    assert math.isclose(learning_rate("burda", 1e-3, 3279), 1e-4)  # 10**(-7/7)
    assert learning_rate("constant", 3e-4, 999) == 3e-4


def test_unknown_schedule_fails_before_the_run_starts(tmp_path):
    with pytest.raises(OptionError, match="--lr-schedule must be one of burda, constant, cosine, plateau, got 'step'"):
        train(TrainConfig(epochs=1, lr_schedule="step", **QUICK), tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()


def test_trainer_uses_the_schedule_and_a_resumed_run_continues_it(tmp_path):
    result = train(TrainConfig(epochs=4, lr_schedule="burda", **QUICK), tmp_path / "full")
    assert [r["lr"] for r in result.metrics] == pytest.approx([1e-3 * 10 ** (-s / 7) for s in (0, 1, 1, 1)])
    train(TrainConfig(epochs=2, lr_schedule="burda", **QUICK), tmp_path / "split")
    resumed = train(TrainConfig(epochs=4, lr_schedule="burda", **QUICK), tmp_path / "split", resume=True)
    assert [r["valid_elbo"] for r in resumed.metrics] == [r["valid_elbo"] for r in result.metrics]


def test_time_budget_stops_after_the_epoch_that_crosses_it_and_resume_goes_on(tmp_path):
    first = train(TrainConfig(epochs=5, **QUICK), tmp_path / "run", max_seconds=0.0)
    assert [r["epoch"] for r in first.metrics] == [1]
    again = train(TrainConfig(epochs=5, **QUICK), tmp_path / "run", resume=True, max_seconds=0.0)
    assert [r["epoch"] for r in again.metrics] == [1, 2]
    rest = train(TrainConfig(epochs=5, **QUICK), tmp_path / "run", resume=True)
    assert [r["epoch"] for r in rest.metrics] == [1, 2, 3, 4, 5]
    assert all(torch.isfinite(p).all() for p in rest.model.parameters())


def test_cosine_plateau_and_warmup_by_their_formulas():
    assert learning_rate("cosine", 1e-3, 0, 10) == pytest.approx(1e-3)
    assert learning_rate("cosine", 1e-3, 5, 10) == pytest.approx(0.5e-3)
    assert learning_rate("cosine", 1e-3, 9, 10) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    rising = [-10.0, -9.0, -8.0]
    stalled = rising + [-8.5] * PLATEAU_PATIENCE  # 5 epochs without beating -8: one reduction
    assert learning_rate("plateau", 1e-3, len(rising), 20, rising) == 1e-3
    assert learning_rate("plateau", 1e-3, len(stalled) - 1, 20, stalled) == 1e-3
    assert learning_rate("plateau", 1e-3, len(stalled), 20, stalled) == pytest.approx(1e-3 * PLATEAU_FACTOR)
    twice = stalled + [-8.5] * PLATEAU_PATIENCE
    assert learning_rate("plateau", 1e-3, len(twice), 20, twice) == pytest.approx(1e-3 * PLATEAU_FACTOR ** 2)
    assert [warmup_factor(s, 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0] and warmup_factor(0, 0) == 1.0


def test_plateau_and_warmup_runs_resume_to_the_same_numbers(tmp_path, monkeypatch):
    from pyro_vae.training import resume_config
    from pyro_vae.training import trainer as trainer_module

    bounds = [-50.0, -40.0] + [-45.0] * 8
    real_validate = trainer_module.Trainer.validate

    def scripted(self):  # the true valid ELBO, but a scripted bound for the plateau schedule to read
        out = real_validate(self)
        out["valid_elbo"] = bounds[len(self.bounds)]
        return out

    monkeypatch.setattr(trainer_module.Trainer, "validate", scripted)
    cfg = dict(lr_schedule="plateau", lr_warmup=20, **QUICK)
    whole = train(TrainConfig(epochs=9, **cfg), tmp_path / "whole", pictures=False).metrics
    assert [r["lr"] for r in whole] == pytest.approx([1e-3] * 7 + [1e-3 * PLATEAU_FACTOR] * 2)
    train(TrainConfig(epochs=8, **cfg), tmp_path / "split", pictures=False)
    resumed = train(resume_config(tmp_path / "split", epochs=9), tmp_path / "split", resume=True,
                    pictures=False).metrics
    assert [r["train_objective"] for r in resumed] == [r["train_objective"] for r in whole]
    assert [r["lr"] for r in resumed] == [r["lr"] for r in whole]
    plain = train(TrainConfig(epochs=1, lr_schedule="plateau", **QUICK), tmp_path / "plain", pictures=False).metrics
    assert plain[0]["train_objective"] != whole[0]["train_objective"]  # the warm-up's smaller first steps
