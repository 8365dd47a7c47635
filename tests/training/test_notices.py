"""What training says about the data before it starts: grey images binarized by a Bernoulli model,
real-valued columns whose scales are orders of magnitude apart (the --standardize hint)."""

import logging

import numpy as np

from pyro_vae.training import TrainConfig, train


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "pyro_vae"]


def test_a_bernoulli_model_on_grey_images_says_they_are_binarized(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pyro_vae")
    grey = np.random.default_rng(0).random((60, 4, 4)).astype(np.float32)
    np.save(tmp_path / "grey.npy", grey)
    train(TrainConfig(dataset=str(tmp_path / "grey.npy"), model_options={"z_dim": 2, "hidden": [8]}, epochs=1,
                      progress=False), tmp_path / "run", pictures=False)
    assert any("holds grey values and vae a bernoulli likelihood: the images are binarized" in line
               for line in _lines(caplog))
    caplog.clear()
    np.save(tmp_path / "binary.npy", (grey > 0.5).astype(np.float32))
    train(TrainConfig(dataset=str(tmp_path / "binary.npy"), model_options={"z_dim": 2, "hidden": [8]}, epochs=1,
                      progress=False), tmp_path / "run2", pictures=False)
    assert not any("binarized" in line for line in _lines(caplog))


def test_columns_of_very_different_scales_get_the_standardize_hint(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pyro_vae")
    r = np.random.default_rng(0)
    wide = np.c_[r.normal(size=200), 1000 * r.normal(size=200), 0.001 * r.normal(size=200)].astype(np.float32)
    np.save(tmp_path / "wide.npy", wide)
    common = dict(model="vae_gaussian", model_options={"z_dim": 1, "hidden": [8]}, epochs=1, progress=False)
    train(TrainConfig(dataset=str(tmp_path / "wide.npy"), **common), tmp_path / "run", pictures=False)
    hint = [line for line in _lines(caplog) if "--standardize" in line]
    assert len(hint) == 1 and "apart" in hint[0], _lines(caplog)
    caplog.clear()
    train(TrainConfig(dataset=str(tmp_path / "wide.npy"), standardize=True, **common), tmp_path / "std",
          pictures=False)
    np.save(tmp_path / "even.npy", r.normal(size=(200, 3)).astype(np.float32))
    train(TrainConfig(dataset=str(tmp_path / "even.npy"), **common), tmp_path / "even", pictures=False)
    assert not any("--standardize" in line for line in _lines(caplog))
