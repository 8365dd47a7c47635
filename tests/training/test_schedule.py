"""Learning-rate schedules and the training time budget."""

import math

import pytest
import torch

from pyro_vae.errors import OptionError
from pyro_vae.training import TrainConfig, train
from pyro_vae.training.schedule import BURDA_EPOCHS, burda_stage, learning_rate

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
    with pytest.raises(OptionError, match="--lr-schedule must be one of burda, constant, got 'cosine'"):
        train(TrainConfig(epochs=1, lr_schedule="cosine", **QUICK), tmp_path / "run")
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
