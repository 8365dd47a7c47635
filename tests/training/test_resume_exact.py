"""A resumed run is the uninterrupted run, draw for draw: every estimator, every capture mode,
stopped at an epoch boundary or interrupted inside an epoch. Metrics (but wall times), the last
checkpoint's parameters and optimizer state: identical to the last bit."""

import pytest
import torch

from pyro_vae.training import RunDir, TrainConfig, resume_config, train
from pyro_vae.training import trainer as trainer_module

TINY = dict(dataset="digits", batch_size=100, progress=False, seed=3, valid_k=2)
VAE = dict(model="vae", model_options={"z_dim": 2, "hidden": [16]})
SS_VAE = dict(model="ss_vae", model_options={"z_dim": 2, "hidden": [16], "labelled_examples": 50})
TIMES = ("train_time_s", "elapsed_s")

# (model, loss, particles, loss options); the IW family's first call guesses the plate nesting by
# running guide and model once, which drew from the RNG in the epoch a process started with
CASES = [(VAE, "elbo", 1, {}), (VAE, "elbo", 3, {}), (VAE, "meanfield", 1, {}), (VAE, "iwae", 3, {}),
         (VAE, "dreg", 3, {}), (VAE, "stl", 1, {}), (VAE, "miwae", 4, {"num_outer": 2}),
         (VAE, "ciwae", 3, {"beta": 0.5}), (VAE, "piwae", 4, {"num_outer": 2}), (SS_VAE, "enum", 1, {})]
# "auto" is "on" where the step can be captured and "off" where it cannot (enumeration): both are
# run. Every estimator resumes with the captured step; the eager step (its own noise stream) with
# one estimator of each family (tests/training/test_capture.py holds the two steps to the same
# numbers for every estimator).
EAGER_TOO = ("elbo", "iwae", "dreg", "enum")
MATRIX = [(*case, capture) for case in CASES
          for capture in (("off", "auto") if case[1] == "enum" else ("off", "on") if case[1] in EAGER_TOO else ("on",))]


def _config(model, loss, particles, options, capture, epochs):
    return TrainConfig(**TINY, **model, loss=loss, num_particles=particles, loss_options=options,
                       capture=capture, epochs=epochs)


def _metrics(run):
    return [{k: v for k, v in row.items() if k not in TIMES} for row in RunDir(run).metrics()]


def _same_checkpoints(a, b):
    sa, sb = RunDir(a).load_checkpoint("last"), RunDir(b).load_checkpoint("last")
    assert sa["epoch"] == sb["epoch"]
    assert sa["model"].keys() == sb["model"].keys()
    for name in sa["model"]:
        assert torch.equal(sa["model"][name], sb["model"][name]), name
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)


class _Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("model,loss,particles,options,capture", MATRIX,
                         ids=[f"{m['model']}-{loss}{p}-{c}" for m, loss, p, _, c in MATRIX])
def test_resume_is_the_uninterrupted_run(tmp_path, monkeypatch, model, loss, particles, options, capture):
    make = lambda epochs: _config(model, loss, particles, options, capture, epochs)  # noqa: E731
    real_step, calls = trainer_module.svi_step, []

    def counted(*args, **kw):
        calls.append(1)
        if len(calls) == interrupt_at:
            raise _Interrupt
        return real_step(*args, **kw)

    interrupt_at = None
    monkeypatch.setattr(trainer_module, "svi_step", counted)
    train(make(2), tmp_path / "whole", pictures=False)
    steps_per_epoch, interrupt_at = len(calls) // 2, len(calls) // 2 + 5  # a Ctrl-C at step 5 of epoch 2

    assert steps_per_epoch >= 10
    train(make(1), tmp_path / "boundary", pictures=False)  # stopped at the end of epoch 1
    train(resume_config(tmp_path / "boundary", epochs=2), tmp_path / "boundary", resume=True, pictures=False)

    calls.clear()
    with pytest.raises(_Interrupt):
        train(make(2), tmp_path / "mid_epoch", pictures=False)
    monkeypatch.setattr(trainer_module, "svi_step", real_step)
    assert [r["epoch"] for r in RunDir(tmp_path / "mid_epoch").metrics()] == [1]
    train(resume_config(tmp_path / "mid_epoch"), tmp_path / "mid_epoch", resume=True, pictures=False)

    whole = _metrics(tmp_path / "whole")
    assert [r["epoch"] for r in whole] == [1, 2] and "valid_log_px_iw" in whole[0]
    for stopped in ("boundary", "mid_epoch"):
        assert _metrics(tmp_path / stopped) == whole, stopped
        _same_checkpoints(tmp_path / stopped, tmp_path / "whole")
