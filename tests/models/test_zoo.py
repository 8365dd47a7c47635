"""Every zoo model: trains (loss decreases on a fixed seed), samples with the right shape and
range, evaluates with the IW evaluator, and reloads in a fresh process to the same numbers."""

import json
import subprocess
import sys

import pytest
import torch

from pyro_vae.data import load_dataset
from pyro_vae.evaluation import evaluate_model
from pyro_vae.registry import model_entries
from pyro_vae.training import TrainConfig, load_trained_model, train

# model -> (dataset, options that keep the test small)
SETUPS = {
    "vae": ("digits", {"z_dim": 4, "hidden": [32]}),
    "vae_gaussian": ("moons", {}),
    "vae_cb": ("digits", {"z_dim": 4, "hidden": [32]}),
    "beta_vae": ("digits", {"z_dim": 4, "hidden": [32]}),
    "cvae": ("digits", {"z_dim": 4, "hidden": [32]}),
    "hvae2": ("digits", {"z1_dim": 8, "z2_dim": 4}),
    "hvae_dense": ("digits", {"z_dims": [8, 4, 2], "hidden": [32]}),
    "lvae": ("digits", {"z_dims": [8, 4], "hidden": [32], "features": 32}),
    "vae_iaf": ("digits", {"z_dim": 4, "hidden": [32], "flow_hidden": [16], "context": 8}),
    "vamp": ("digits", {"z_dim": 4, "hidden": [32], "num_pseudo": 20}),
    "gmvae": ("digits", {"z_dim": 4, "hidden": [32], "components": 5}),
    "conv_vae": ("digits", {"z_dim": 4, "channels": [4, 8], "hidden": 32}),
    "conv_vae_cb": ("digits", {"z_dim": 4, "channels": [4, 8], "hidden": 32}),
    "linear_gaussian": ("moons", {"z_dim": 1}),
    "ss_vae": ("digits", {"z_dim": 4, "hidden": [32], "labelled_examples": 50, "alpha": 100}),
    "m2": ("digits", {"z_dim": 4, "hidden": [32], "labelled_examples": 50, "alpha": 100}),
    "dvae": ("digits", {"categories": 4, "z_dim": 4, "hidden": [32]}),
}


def zoo_setups() -> dict:
    """Every registered zoo model: its entry in SETUPS (made small), else its defaults on digits
    (moons for a Gaussian likelihood). A new file in models/ is tested without an entry here."""
    setups = {}
    for entry in model_entries():
        if entry.cls.__module__.startswith("pyro_vae.zoo."):
            default = ("moons" if entry.cls.likelihood == "gaussian" else "digits", {})
            setups[entry.name] = SETUPS.get(entry.name, default)
    return setups


ZOO = zoo_setups()


def test_every_setup_names_a_zoo_model():
    assert set(SETUPS) <= set(ZOO) and len(ZOO) >= 17


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train every zoo model for 2 short epochs once; the tests below share the runs."""
    root = tmp_path_factory.mktemp("zoo")
    runs = {}
    for name, (dataset, options) in ZOO.items():
        cfg = TrainConfig(model=name, dataset=dataset, model_options=options, epochs=2, batch_size=100,
                          lr=3e-3, progress=False, seed=0)  # each model's default loss (ss_vae: enum)
        runs[name] = (root / name, train(cfg, root / name))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_trains_samples_and_evaluates(trained, name):
    run_dir, result = trained[name]
    m = result.metrics
    assert m[-1]["train_objective"] > m[0]["train_objective"], "the training objective did not improve"
    assert m[-1]["valid_elbo"] > m[0]["valid_elbo"], "the validation ELBO did not improve"
    model = result.model
    data = load_dataset(ZOO[name][0]).for_likelihood(model.likelihood)
    y = torch.arange(16) % 10 if model.uses_labels else None
    samples = model.sample(16, y)
    assert samples.shape == (16, data.x_dim) and torch.isfinite(samples).all()
    if model.likelihood in ("bernoulli", "continuous_bernoulli"):
        assert samples.min() >= 0 and samples.max() <= 1
    x, labels = data.split("test")
    est = evaluate_model(model, x[:40], labels[:40] if labels is not None else None, k=50, progress=False)
    assert est.n == 40 and (est.log_px_iw.mean() >= est.elbo.mean() - 1e-6)
    assert abs(est.log_px_iw.mean() - m[-1]["valid_elbo"]) < 0.5 * abs(m[-1]["valid_elbo"]) + 5


@pytest.mark.slow
def test_every_zoo_checkpoint_reloads_in_a_fresh_process_to_the_same_numbers(trained):
    code = """
import json, sys, torch
from pyro_vae.data import load_dataset
from pyro_vae.evaluation import evaluate_model
from pyro_vae.training import load_trained_model
out = {}
for name, run_dir, dataset in json.loads(sys.argv[1]):
    model = load_trained_model(run_dir, "last")
    x, y = load_dataset(dataset).for_likelihood(model.likelihood).split("test")
    est = evaluate_model(model, x[:20], y[:20] if model.uses_labels else None, k=10, seed=3, progress=False)
    out[name] = float(est.log_px_iw.mean())
print(json.dumps(out))
"""
    jobs = [(name, str(run_dir), ZOO[name][0]) for name, (run_dir, _) in trained.items()]
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, run_dir, dataset in jobs:
        model = load_trained_model(run_dir, "last")
        x, y = load_dataset(dataset).for_likelihood(model.likelihood).split("test")
        ours = evaluate_model(model, x[:20], y[:20] if model.uses_labels else None, k=10, seed=3, progress=False)
        assert theirs[name] == pytest.approx(float(ours.log_px_iw.mean()), abs=1e-9), name


def test_conditional_vae_samples_the_chosen_digit_class(trained):
    _, result = trained["cvae"]
    model = result.model
    a = model.sample(4, torch.full((4,), 3))
    b = model.sample(4, torch.full((4,), 3))
    c = model.sample(4, torch.full((4,), 7))
    assert torch.isfinite(a).all() and a.shape == (4, 64)
    assert (a - c).abs().mean() > (a - b).abs().mean()  # the label changes what is drawn


@pytest.mark.parametrize("name", ["ss_vae", "m2"])
def test_semi_supervised_vae_classifies_better_than_chance_from_50_labels(trained, name):
    _, result = trained[name]
    data = load_dataset("digits")
    accuracy = float((result.model.classify(data.test) == data.test_labels).float().mean())
    assert accuracy > 0.4  # chance is 0.1; 5 labels per class


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_latent_space_api_on_every_model(trained, name):
    """encode / decode / reconstruct / sample / interpolate / traverse, written once in the base
    class, agree with each other on every zoo model (declared or hand-written)."""
    _, result = trained[name]
    model = result.model.eval()
    x, y = result.data.split("test")
    x, y = x[:6], (y[:6] if (y is not None and model.uses_labels) else None)
    enc = model.encode(x, y)
    assert list(enc) != [] and set(enc) == set(model.latent_sites(y))
    for e in enc.values():
        assert e.mean.shape == e.scale.shape and e.mean.shape[0] == 6 and bool((e.scale > 0).all())
    y0 = None if y is None else y[0]
    line = model.interpolate(x[0], x[1], 4, y0)
    top = model.latent_sites(y)[0]
    trav = model.traverse(x[0], top, 0, [-2.0, 0.0, 2.0], y0)
    assert line.shape == (4, model.x_dim) and trav.shape == (3, model.x_dim)
    assert not torch.allclose(trav[0], trav[2], atol=0, rtol=0)
    assert model.sample(5).shape == (5, model.x_dim)
    if name in ("ss_vae", "m2"):  # decode takes the class from the prior, reconstruct from q(y | x)
        return
    means = {k: v.mean for k, v in enc.items()}
    assert torch.allclose(model.decode(means, y), model.reconstruct(x, y), atol=1e-5)
    first = model.decode({k: v[:1] for k, v in means.items()}, None if y is None else y[:1])[0]
    # (a conditional model interpolates within x[0]'s class: both ends decoded with y[0])
    x1_as_y0 = model.encode(x[1:2], None if y is None else y[:1])
    last = model.decode({k: v.mean for k, v in x1_as_y0.items()}, None if y is None else y[:1])[0]
    assert torch.allclose(line[0], first, atol=1e-5) and torch.allclose(line[-1], last, atol=1e-5)
    if len(enc) == 1:  # one latent: traversing to x's own value of the coordinate gives x's reconstruction
        own = model.traverse(x[0], top, 0, [float(means[top][0, 0])], y0)[0]
        assert torch.allclose(own, model.reconstruct(x[:1], None if y is None else y[:1])[0], atol=1e-5)
