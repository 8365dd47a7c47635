import json
import subprocess
import sys
import textwrap

import pytest

from pyro_vae.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "pyro_vae", *args], capture_output=True, text=True)


# Bad inputs (one line, exit 2, no traceback) are walked as a table in test_bad_inputs.py.


def test_listings(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "vae " in out and "linear_gaussian" in out and "vae_gaussian" in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist5k" in out and "binarized-mnist" in out
    assert main(["losses"]) == 0
    assert "meanfield" in capsys.readouterr().out


def test_train_evaluate_sample_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--model-opt", "z_dim=2", "--lr-schedule", "burda",
                 "--model-opt", "hidden=[32]", "--loss", "meanfield", "--out", str(run), "--no-progress"]) == 0
    for name in ("config.json", "model.json", "metrics.jsonl", "checkpoint_best.pt", "checkpoint_last.pt",
                 "samples.png", "reconstructions.png", "training_curve.png", "latent.png"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["loss"] == "meanfield" and config["lr_schedule"] == "burda"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["lr"] for m in metrics] == pytest.approx([1e-3, 1e-3 * 10 ** (-1 / 7)])
    assert main(["evaluate", str(run), "--k", "50", "--no-progress"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert {"k", "n", "elbo", "log_px_iw", "log_px_iw_se"} <= set(ev)
    assert ev["k"] == 50 and ev["n"] == 250
    assert ev["elbo"] <= ev["log_px_iw"] < 0
    assert "log p(x) IW" in capsys.readouterr().out
    lines = (run / "eval_points.csv").read_text().splitlines()
    assert lines[0].startswith("index,log_px_iw,elbo") and len(lines) == 251
    assert main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 100


USER_MODEL = textwrap.dedent('''
    """A user's own model, not in the zoo: a VAE with a 1-hidden-layer softplus net."""
    import pyro
    import pyro.distributions as dist

    from pyro_vae.model import LatentVariableModel
    from pyro_vae.nn import GaussianHead, mlp
    from pyro_vae.registry import register_model


    @register_model("my_tiny_vae")
    class MyTinyVAE(LatentVariableModel):
        """A tiny softplus VAE written in a scratch file."""

        likelihood = "bernoulli"

        def __init__(self, data, z_dim=3):
            super().__init__(data)
            self.z_dim = z_dim
            self.encoder = GaussianHead(self.x_dim, [16], z_dim, "softplus")
            self.decoder = mlp(z_dim, [16], self.x_dim, "softplus")

        def model(self, x, y=None):
            pyro.module("decoder", self.decoder)
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), 1.0).to_event(1))
                pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

        def guide(self, x, y=None):
            pyro.module("encoder", self.encoder)
            with pyro.plate("data", x.shape[0]):
                loc, scale = self.encoder(x)
                pyro.sample("z", dist.Normal(loc, scale).to_event(1))
''')


@pytest.mark.slow
def test_a_users_model_file_trains_and_reloads_from_the_cli(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(USER_MODEL)
    run = tmp_path / "run"
    proc = _run("train", "--model", str(path), "--dataset", "digits", "--epochs", "2", "--out", str(run),
                "--no-progress")
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((run / "model.json").read_text())
    assert spec["model"] == "my_tiny_vae" and spec["source_origin"] == str(path.resolve())
    assert spec["source"] == "model.py" and (run / "model.py").read_text() == USER_MODEL  # kept in the run
    proc = _run("evaluate", str(run), "--k", "10", "--no-progress")  # a fresh process finds the file again
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "eval.json").read_text())["model"] == str(path)


def test_minutes_budget_stops_early_and_resume_continues(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--no-progress", "--minutes", "0"]
    assert main(["train", "--dataset", "digits", "--epochs", "5", "--model-opt", "hidden=[16]", "--model-opt", "z_dim=2",
                 "--out", str(run), *common]) == 0
    assert "1 epochs" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), *common]) == 0
    assert "2 epochs" in capsys.readouterr().out
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_reader_that_leaves_early_gets_no_error_line(monkeypatch, capsys):
    """``pyro-vae models | head -1``: when the reader has closed the pipe, the command stops quietly."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone
    stdout = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["models"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err == ""
    stdout.close()
