"""Runs on a user's data through the CLI, picked up again in Python; self-contained run folders;
experiments as config files; what a run shows while it trains (epoch lines, TensorBoard)."""

import json
import shutil
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
import torch

import pyro_vae
from cli_runner import ok

TINY = ["--model-opt", "z_dim=3", "--model-opt", "hidden=[16]", "--epochs", "2", "--batch-size", "40"]



def grey16(path, n=150, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 16, 16)) * (rng.random((n, 1, 1)) < 0.5) * 255).astype(np.uint8)
    np.savez(path, x)
    return x



def test_npz_train_evaluate_sample_encode_and_load_in_python(cli, tmp_path):
    grey16(tmp_path / "imgs.npz")
    run = tmp_path / "run"
    res = ok(cli.run("train", "--dataset", tmp_path / "imgs.npz", *TINY, "--out", run))
    notice, *lines = res.stderr_lines  # what is done to the data, then one line per epoch, no progress bar
    assert "holds grey values and vae a bernoulli likelihood: the images are binarized" in notice
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"] and "\r" not in res.stderr
    assert "train objective (elbo)" in lines[0] and "valid ELBO" in lines[0]
    assert {"samples.png", "reconstructions.png", "traversals.png", "interpolations.png",
            "kl_per_dimension.png", "training_curve.png"} <= {p.name for p in run.iterdir()}
    ok(cli.run("evaluate", run, "--k", "5"))
    assert json.loads((run / "eval.json").read_text())["n"] == 15
    ok(cli.run("sample", run, "--n", "8", "--out", tmp_path / "s.png"))
    ok(cli.run("encode", run, "--out", tmp_path / "z.npz"))
    ok(cli.run("encode", run, "--split", "valid", "--out", tmp_path / "z.csv"))

    loaded = pyro_vae.load_run(run)
    assert loaded.config.data_source["kind"] == "grey" and len(loaded.metrics) == 2
    x = loaded.data.test
    enc = loaded.model.encode(x)
    z = np.load(tmp_path / "z.npz")
    assert np.allclose(z["z_mean"], enc["z"].mean.numpy(), atol=1e-6)
    assert np.allclose(z["z_scale"], enc["z"].scale.numpy(), atol=1e-6)
    header = (tmp_path / "z.csv").read_text().splitlines()[0].split(",")
    assert header == [f"z_mean_{i}" for i in range(3)] + [f"z_scale_{i}" for i in range(3)]
    path = loaded.model.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 256)
    assert torch.allclose(path[0], loaded.model.decode(enc["z"].mean[:1])[0], atol=1e-6)
    assert torch.allclose(path[-1], loaded.model.reconstruct(x[1:2])[0], atol=1e-6)


def test_moved_or_changed_data_is_refused_and_found_with_dataset(cli, tmp_path):
    x = grey16(tmp_path / "imgs.npz")
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", tmp_path / "imgs.npz", *TINY, "--out", run))
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "imgs.npz", tmp_path / "moved" / "imgs.npz")
    res = cli.run("evaluate", run, "--k", "2")
    assert res.rc == 2 and "is gone: if it moved, point to it with --dataset PATH" in res.stderr
    ok(cli.run("evaluate", run, "--k", "2", "--dataset", tmp_path / "moved" / "imgs.npz"))
    np.savez(tmp_path / "other.npz", x[::-1])
    res = cli.run("evaluate", run, "--k", "2", "--dataset", tmp_path / "other.npz")
    assert res.rc == 2 and "is not the data the run was trained on" in res.stderr
    assert len(res.stderr_lines) == 1


def test_resume_after_the_data_moved(cli, tmp_path):
    grey16(tmp_path / "imgs.npz")
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", tmp_path / "imgs.npz", *TINY, "--out", run))
    shutil.move(tmp_path / "imgs.npz", tmp_path / "new.npz")
    res = cli.run("train", "--resume", run, "--epochs", "3")
    assert res.rc == 2 and "point to it with --dataset PATH" in res.stderr
    ok(cli.run("train", "--resume", run, "--epochs", "3", "--dataset", tmp_path / "new.npz"))
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_source"]["path"] == str(tmp_path / "new.npz") and cfg["epochs"] == 3
    ok(cli.run("evaluate", run, "--k", "2"))  # the run now finds its data at the new place


MODEL = '''
import pyro, pyro.distributions as dist
from pyro_vae.model import LatentVariableModel
from pyro_vae.nn import GaussianHead, mlp
from pyro_vae.registry import register_model

@register_model("tiny_user_vae")
class Tiny(LatentVariableModel):
    """A user's VAE."""
    likelihood = "gaussian"

    def __init__(self, data, z_dim=2):
        super().__init__(data)
        self.z_dim = z_dim
        self.enc = GaussianHead(self.x_dim, [8], z_dim, "tanh")
        self.dec = mlp(z_dim, [8], self.x_dim, "tanh")

    def model(self, x, y=None):
        pyro.module("dec", self.dec)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(self.z_dim), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.dec(z), 0.5).to_event(1), obs=x)

    def guide(self, x, y=None):
        pyro.module("enc", self.enc)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(*self.enc(x)).to_event(1))
'''


def test_a_model_file_is_kept_in_the_run(cli, tmp_path):
    lines = ["a,b,c,label"] + [f"{i % 5},{(i * 7) % 3},{i / 10},{i % 2}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    (tmp_path / "my_model.py").write_text(MODEL)
    run = tmp_path / "run"
    ok(cli.run("train", "--model", tmp_path / "my_model.py", "--dataset", tmp_path / "t.csv", "--label-column",
               "label", "--epochs", "1", "--batch-size", "16", "--out", run))
    spec = json.loads((run / "model.json").read_text())
    assert spec["source"] == "model.py" and (run / "model.py").read_text() == MODEL
    (tmp_path / "my_model.py").unlink()  # the original is gone: the run still works
    ok(cli.run("sample", run, "--out", tmp_path / "s.png"))
    ok(cli.run("evaluate", run, "--k", "3"))
    assert pyro_vae.load_run(run).data.num_classes == 2
    (run / "model.py").write_text(MODEL.replace("0.5", "0.25"))
    res = cli.run("evaluate", run, "--k", "3")
    assert res.rc == 2 and "model.py changed since the run was trained" in res.stderr


def test_a_runs_config_json_reproduces_it_exactly(cli, tmp_path):
    grey16(tmp_path / "imgs.npz")
    a, b = tmp_path / "a", tmp_path / "b"
    ok(cli.run("train", "--dataset", tmp_path / "imgs.npz", *TINY, "--seed", "7", "--lr", "0.003", "--out", a))
    ok(cli.run("train", "--config", a / "config.json", "--out", b))
    metrics = [[{k: v for k, v in row.items() if "time" not in k and "elapsed" not in k}
                for row in pyro_vae.load_run(r).metrics] for r in (a, b)]
    assert metrics[0] == metrics[1] and len(metrics[0]) == 2
    sa, sb = (torch.load(r / "checkpoint_last.pt", weights_only=True)["model"] for r in (a, b))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert json.loads((a / "config.json").read_text()) == json.loads((b / "config.json").read_text())


def test_a_toml_config_with_set_and_unknown_keys(cli, tmp_path):
    (tmp_path / "exp.toml").write_text('dataset = "digits"\nepochs = 1\nbatch_size = 200\n'
                                       '[model_options]\nz_dim = 2\nhidden = [8]\n')
    ok(cli.run("train", "--config", tmp_path / "exp.toml", "--set", "lr=0.01", "--set", "model_options.z_dim=4",
               "--out", tmp_path / "r"))
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["lr"], cfg["model_options"], cfg["epochs"]) == (0.01, {"z_dim": 4, "hidden": [8]}, 1)
    (tmp_path / "bad.toml").write_text('dataset = "digits"\nepoch = 1\nlearning_rate = 2\n')
    res = cli.run("train", "--config", tmp_path / "bad.toml", "--out", tmp_path / "r2")
    assert res.rc == 2 and "has unknown keys epoch, learning_rate" in res.stderr and len(res.stderr_lines) == 1


def test_tensorboard_scalars_and_images_match_the_metrics(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", "digits", *TINY, "--valid-k", "3", "--logger", "tensorboard", "--log-every", "10",
               "--kl-warmup", "1", "--out", run))
    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0, "images": 0}).Reload()
    metrics = pyro_vae.load_run(run).metrics
    for key, tag in (("train_objective", "train/objective"), ("valid_elbo", "valid/elbo"),
                     ("valid_log_px_iw", "valid/iw_bound"), ("grad_norm", "train/grad_norm"), ("lr", "train/lr"),
                     ("train_time_s", "train/seconds_per_epoch")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        assert np.allclose([s.value for s in scalars], [m[key] for m in metrics], rtol=1e-6), tag
    assert all(m["grad_norm"] > 0 for m in metrics)
    assert {"samples", "reconstructions"} <= set(events.Tags()["images"])
    assert [s.value for s in events.Scalars("train/kl_weight")] == pytest.approx([m["kl_weight"] for m in metrics])
    steps = [s.step for s in events.Scalars("train/objective_step")]  # --log-every 10: every 10th step
    per_epoch = -(-len(pyro_vae.load_run(run).data.train) // 40)
    assert steps == list(range(10, 2 * per_epoch + 1, 10))


def test_mlflow_run_has_the_metrics_params_and_pictures_and_a_resume_continues_it(cli, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # the default store: ./mlruns
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", "digits", *TINY, "--valid-k", "3", "--logger", "mlflow", "--log-every", "10",
               "--out", run, cwd=tmp_path))
    ok(cli.run("train", "--resume", run, "--epochs", "3", cwd=tmp_path))  # the flag stays in config.json

    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    [found] = client.search_runs([client.get_experiment_by_name("pyro-vae").experiment_id])
    assert found.data.tags["pyro_vae.run_dir"] == str(run.resolve()) and found.info.status == "FINISHED"
    assert found.data.params["model"] == "vae" and found.data.params["lr"] == "0.001"
    assert found.data.tags["epochs"] == "3"  # a resumable setting is a tag: the resume changed it
    metrics = pyro_vae.load_run(run).metrics
    for key, tag in (("train_objective", "train/objective"), ("valid_elbo", "valid/elbo"),
                     ("valid_log_px_iw", "valid/iw_bound"), ("lr", "train/lr")):
        history = sorted(client.get_metric_history(found.info.run_id, tag), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2, 3]
        assert np.allclose([m.value for m in history], [m[key] for m in metrics], rtol=1e-6), tag
    per_epoch = -(-len(pyro_vae.load_run(run).data.train) // 40)
    steps = sorted(m.step for m in client.get_metric_history(found.info.run_id, "train/objective_step"))
    assert steps == list(range(10, 3 * per_epoch + 1, 10))
    pictures = {Path(f.path).name for f in client.list_artifacts(found.info.run_id, "pictures")}
    assert {"samples.png", "reconstructions.png", "training_curve.png"} <= pictures
    assert {f.path for f in client.list_artifacts(found.info.run_id)} >= {"images", "pictures"}


def test_the_tensorboard_extra_missing_is_one_line(monkeypatch, tmp_path):
    import importlib.util

    from pyro_vae.errors import OptionError
    from pyro_vae.training import TrainConfig, train

    real = importlib.util.find_spec
    for name in ("tensorboard", "mlflow"):
        monkeypatch.setattr(importlib.util, "find_spec", lambda package, *a: None if package == name else real(package, *a))
        with pytest.raises(OptionError, match=rf"^--logger {name} needs the {name} package: pip install 'pyro-vae\[{name}\]'$"):
            train(TrainConfig(dataset="digits", epochs=1, logger=name), tmp_path / "r")
        assert not (tmp_path / "r").exists()


def test_pictures_after_an_interrupted_run(tmp_path, monkeypatch):
    from pyro_vae.training import TrainConfig, train
    from pyro_vae.training.trainer import Trainer

    calls = {"n": 0}
    real = Trainer.train_epoch

    def second_epoch_interrupted(self, epoch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", second_epoch_interrupted)
    cfg = TrainConfig(dataset="digits", epochs=3, batch_size=200, model_options={"z_dim": 2, "hidden": [8]},
                      progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "r")
    assert (tmp_path / "r" / "samples.png").exists() and (tmp_path / "r" / "latent.png").exists()
    assert len(pyro_vae.load_run(tmp_path / "r").metrics) == 1


def test_memory_mapped_training_equals_training_in_memory(tmp_path):
    from pyro_vae.training import TrainConfig, train

    x = (np.random.default_rng(0).random((300, 36)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x)
    results = []
    for name in ("x.npy", "x.npz"):
        cfg = TrainConfig(dataset=str(tmp_path / name), epochs=2, batch_size=50, progress=False,
                          model_options={"z_dim": 2, "hidden": [8]})
        results.append(train(cfg, tmp_path / name.replace(".", "_"), pictures=False).metrics)
    assert [m["valid_elbo"] for m in results[0]] == [m["valid_elbo"] for m in results[1]]


@pytest.mark.parametrize("argv", [["models"], ["--help"], ["train", "--help"]])
def test_listing_and_help_start_without_torch(argv):
    code = ("import sys\nfrom pyro_vae.cli import main\n"
            "try:\n    code = main(%r)\nexcept SystemExit as e:  # --help exits\n    code = e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(code)\n" % argv)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_static_zoo_listing_agrees_with_the_registry():
    from pyro_vae.registry import model_entries, zoo_listing

    zoo = [e for e in model_entries() if e.cls.__module__.startswith("pyro_vae.zoo.")]  # not the tests' own
    assert zoo_listing() == sorted((e.name, e.cls.likelihood, e.description) for e in zoo) and len(zoo) >= 11


def test_a_memory_mapped_training_split_evaluates_and_encodes(cli, tmp_path):
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((120, 10)) < 0.4).astype(np.float32))
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", tmp_path / "x.npy", *TINY, "--out", run))
    ok(cli.run("evaluate", run, "--split", "train", "--k", "3"))
    assert json.loads((run / "eval.json").read_text())["n"] == 96
    ok(cli.run("encode", run, "--split", "train", "--batch-size", "7", "--out", tmp_path / "z.npz"))
    assert np.load(tmp_path / "z.npz")["z_mean"].shape == (96, 3)


def test_a_run_on_a_dataset_registered_in_python_is_evaluated_from_the_cli(cli, tmp_path):
    """The CLI's process has not run the user's code that registered the data: the run keeps a copy."""
    from pyro_vae import Dataset
    from pyro_vae.data import register_dataset
    from pyro_vae.training import TrainConfig, train

    x = (np.random.default_rng(4).random((120, 5, 5)) < 0.3).astype(np.float32)
    labels = np.arange(120) % 3

    @register_dataset("tests-arrays-in-memory", "arrays that exist only in this process")
    def _arrays(data_dir, download):
        return Dataset.from_arrays(x, labels=labels, name="tests-arrays-in-memory")

    run = tmp_path / "run"
    train(TrainConfig(dataset="tests-arrays-in-memory", epochs=1, batch_size=40, progress=False,
                      model_options={"z_dim": 2, "hidden": [8]}), run, pictures=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_source"]["in_run"] and cfg["data_source"]["path"] == "data.npz" and (run / "data.npz").exists()
    ok(cli.run("evaluate", run, "--k", "4"))
    ok(cli.run("encode", run, "--out", tmp_path / "z.npz"))
    copy = pyro_vae.load_run(run).data
    original = Dataset.from_arrays(x, labels=labels).for_likelihood("bernoulli")
    assert torch.equal(copy.test, original.test) and torch.equal(copy.test_labels, original.test_labels)
    assert copy.image_shape == (5, 5) and copy.kind == "binary"


def test_conv_vae_trains_on_a_colour_folder_and_draws_colour_reconstructions(cli, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "rgb").mkdir()
    for i in range(60):  # 12x10 colour blobs: red, green or blue
        a = np.zeros((12, 10, 3), np.uint8)
        a[2:9, 2:8, i % 3] = 255
        a = np.roll(a, (rng.integers(-2, 3), rng.integers(-2, 3)), (0, 1))
        Image.fromarray(a).save(tmp_path / "rgb" / f"{i}.png")
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", tmp_path / "rgb", "--model", "conv_vae", "--model-opt", "z_dim=4",
               "--model-opt", "channels=[8,16]", "--model-opt", "hidden=32", "--epochs", "3", "--batch-size", "16",
               "--out", run))
    model = pyro_vae.load_run(run).model
    assert model.data_info["image_shape"] == [3, 12, 10]
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    picture = np.asarray(Image.open(run / "reconstructions.png").convert("RGB")).astype(int)
    spread = np.abs(picture - picture.mean(axis=2, keepdims=True)).max()
    assert spread > 100  # channels that differ: a colour picture, not grey
