"""The three "adding a ..." guides of docs/, followed as a reader would: each page's code block
is saved as a file and used the way the page says, and what the page promises is checked."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

import pyro_vae
from cli_runner import ok

DOCS = Path(__file__).resolve().parents[2] / "docs"


def code_block(page: str, file_name: str) -> str:
    """The ```python block of ``docs/page`` whose first line is ``# file_name``."""
    text = (DOCS / page).read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        first, _, rest = block.partition("\n")
        if first.strip() == f"# {file_name}":
            return rest
    raise AssertionError(f"docs/{page} has no python block starting with '# {file_name}'")


@pytest.fixture
def package_of(tmp_path, monkeypatch):
    """``package_of(registry, page, file)``: the guide's block saved as a module of a new package
    that ``registry`` searches (as it searches its home package), undone after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(registry, page, file_name):
        name = f"guide_{Path(file_name).stem}_{abs(hash(str(tmp_path))) % 10**8}"
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / file_name).write_text(code_block(page, file_name))
        registry.discover()  # first: its modules register once per process, whatever is restored after
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "packages", (*registry.packages, name))
        monkeypatch.setattr(registry, "_discovered", False)
        return sys.modules.get(f"{name}.{Path(file_name).stem}")

    return make


def test_adding_a_model(cli, tmp_path):
    source = tmp_path / "my_model.py"
    source.write_text(code_block("adding-a-model.md", "my_model.py"))
    listed = ok(cli.run("models", source)).stdout
    assert "laplace_vae: Bernoulli VAE with a Laplace(0, 1) prior" in listed
    assert re.search(r"--model-opt z_dim\s+default 8", listed) and re.search(r"--model-opt hidden\s+default \[64\]", listed)
    run = tmp_path / "runs" / "laplace"
    ok(cli.run("train", "--model", source, "--model-opt", "z_dim=4", "--dataset", "digits", "--epochs", "3",
               "--batch-size", "50", "--out", run))
    source.unlink()  # the run keeps its copy: evaluate needs no original
    ok(cli.run("evaluate", run, "--k", "20", "--n", "100"))
    metrics = pyro_vae.load_run(run).metrics
    assert metrics[-1]["valid_elbo"] > metrics[0]["valid_elbo"]
    summary = json.loads((run / "eval.json").read_text())
    assert summary["elbo"] <= summary["log_px_iw"] < 0
    assert json.loads((run / "model.json").read_text())["hparams"] == {"z_dim": 4}


def test_adding_an_estimator(package_of, capsys, float64):
    from pyro_vae.cli import main
    from pyro_vae.infer.estimators import IWAE
    from pyro_vae.infer.losses import LOSSES, make_loss
    from pyro_vae.registry import build_model

    package_of(LOSSES, "adding-an-estimator.md", "renyi.py")
    assert "renyi" in LOSSES.names()
    assert main(["losses", "renyi"]) == 0
    assert re.search(r"--loss-opt alpha\s+default 0.5", capsys.readouterr().out)
    renyi = make_loss("renyi", 5, alpha=0.5)
    assert type(renyi).__name__ == "RenyiBound"

    # on the same log weights: alpha = 0 is IWAE, alpha = 0.5 lies between the ELBO and IWAE
    log_w = 3 * torch.randn(7, 40)
    iwae = IWAE(num_particles=7).bound(log_w)
    torch.testing.assert_close(make_loss("renyi", 7, alpha=0.0).bound(log_w), iwae)
    middle = make_loss("renyi", 7, alpha=0.5).bound(log_w)
    assert (log_w.mean(0) <= middle + 1e-12).all() and (middle <= iwae + 1e-12).all()
    assert (middle < iwae - 1e-3).any()  # not IWAE in disguise

    # on the linear-Gaussian model, through Pyro's traces: a bound of the closed-form log p(x)
    m = build_model("linear_gaussian", {"x_dim": 6, "kind": "real"}, z_dim=3, guide="exact", seed=0)
    with torch.no_grad():
        m.b.copy_(torch.linspace(-1, 1, 6))
        x = m.marginal().sample((300,))
        exact = m.exact_log_px(x).mean().item()

    def guide(x):  # the exact posterior, shifted and widened: a strict bound
        with pyro.plate("data", x.shape[0]):
            post = m.exact_posterior(x)
            pyro.sample("z", dist.MultivariateNormal(post.loc + 0.3, scale_tril=1.3 * post.scale_tril))

    means = {}
    for label, loss in (("iwae", IWAE(num_particles=5)), ("renyi0", make_loss("renyi", 5, alpha=0.0)),
                        ("renyi", make_loss("renyi", 5, alpha=0.5))):
        pyro.set_rng_seed(0)  # the same draws for each
        means[label] = -loss.loss(m.model, guide, x) / len(x)
    assert means["renyi0"] == pytest.approx(means["iwae"], abs=1e-9)
    assert means["renyi"] < means["iwae"] < exact


def test_training_with_the_guides_estimator(package_of, tmp_path):
    from pyro_vae.infer.losses import LOSSES
    from pyro_vae.training import TrainConfig, train

    package_of(LOSSES, "adding-an-estimator.md", "renyi.py")
    result = train(TrainConfig(model="vae", dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, epochs=3,
                               batch_size=50, loss="renyi", num_particles=3, loss_options={"alpha": 0.5},
                               progress=False), tmp_path / "run", pictures=False)
    assert result.metrics[-1]["valid_elbo"] > result.metrics[0]["valid_elbo"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss_options"] == {"alpha": 0.5}


def test_adding_a_dataset_format(package_of, tmp_path, capsys):
    from pyro_vae.cli import main
    from pyro_vae.data import load_dataset
    from pyro_vae.data.formats import FILE_FORMATS
    from pyro_vae.errors import DataError

    package_of(FILE_FORMATS, "adding-a-dataset-format.md", "amat.py")
    rows = (np.random.default_rng(0).random((50, 12)) > 0.5).astype(np.float32)
    path = tmp_path / "bits.amat"
    path.write_text("\n".join(" ".join(str(int(v)) for v in row) for row in rows) + "\n")

    assert main(["datasets"]) == 0
    assert re.search(r"PATH\.amat\s+yours\s+whitespace-separated rows", capsys.readouterr().out)
    data = load_dataset(str(path))
    assert data.kind == "binary" and data.x_dim == 12
    assert (len(data.train), len(data.valid), len(data.test)) == (40, 5, 5)  # the seeded 0.8/0.1/0.1 split
    together = np.concatenate([np.asarray(data.train), np.asarray(data.valid), np.asarray(data.test)])
    assert sorted(map(tuple, together)) == sorted(map(tuple, rows))  # every row once, in a seeded order
    assert data.source["sha256"] and data.source["path"] == str(path.resolve())
    assert np.array_equal(np.asarray(load_dataset(str(path)).test), np.asarray(data.test))  # the same split again

    (tmp_path / "bad.amat").write_text("0 1 x\n1 0 1\n")
    with pytest.raises(DataError, match=r"^cannot read .*bad\.amat as rows of numbers \(.*\): write one datapoint"):
        load_dataset(str(tmp_path / "bad.amat"))
