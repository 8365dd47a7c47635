"""A table of bad inputs walked through the real CLI, each in its own process.

For every case: a non-zero exit (2), exactly one line on stderr, ``pyro-vae: error: ...``,
naming the problem (the expected fragment), and no traceback. Cases run in processes forked
from a fresh interpreter that imported the CLI (see ``cli_runner``); a sample also runs through
``python -m pyro_vae`` to show the two agree.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_module

TINY = ["--dataset", "digits", "--model-opt", "z_dim=2", "--model-opt", "hidden=[8]", "--epochs", "1",
        "--batch-size", "200"]



@pytest.fixture(scope="module")
def runs(cli, tmp_path_factory):
    """Two trained runs (1 epoch, tiny nets): an unconditional VAE and a conditional one."""
    root = tmp_path_factory.mktemp("runs")
    for name, model in (("vae", "vae"), ("cvae", "cvae")):
        res = cli.run("train", "--model", model, *TINY, "--out", root / name)
        assert res.rc == 0, res.stderr
    return root


# ---- setups: each makes what a case needs in its own folder `case` --------------------------------
def copy_run(runs, case, which="vae"):
    shutil.copytree(runs / which, case / "run")
    return case / "run"


def damage(name, content: bytes):
    def setup(runs, case):
        run = copy_run(runs, case)
        (run / name).write_bytes(content)
    return setup


def edit_json(name, change):
    def setup(runs, case):
        run = copy_run(runs, case)
        obj = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps(change(obj)))
    return setup


def make_file(relpath, content=b"x"):
    def setup(runs, case):
        (case / relpath).parent.mkdir(parents=True, exist_ok=True)
        (case / relpath).write_bytes(content)
    return setup


def user_model(body):
    def setup(runs, case):
        (case / "m.py").write_text(textwrap.dedent(body))
    return setup


def npz(**arrays):
    def setup(runs, case):
        (case / "data").mkdir()
        np.savez(case / "data" / "binarized_mnist.npz", **arrays)
    return setup


def truncated_npz(runs, case):
    npz(train=np.zeros((5, 784), np.uint8), valid=np.zeros((5, 784), np.uint8), test=np.zeros((5, 784), np.uint8))(runs, case)
    path = case / "data" / "binarized_mnist.npz"
    path.write_bytes(path.read_bytes()[:300])


def foreign_folder(runs, case):
    (case / "out").mkdir()
    (case / "out" / "samples.png").write_bytes(b"the user's own picture")


def checkpoints_without_config(runs, case):
    (case / "out").mkdir()
    shutil.copy(runs / "vae" / "checkpoint_last.pt", case / "out")


def swapped_checkpoint(runs, case):
    run = copy_run(runs, case)
    shutil.copy(runs / "cvae" / "checkpoint_best.pt", run / "checkpoint_best.pt")


def torn_middle_metrics(runs, case):
    run = copy_run(runs, case)
    (run / "metrics.jsonl").write_text('{"epoch": 1, "valid_elbo": -1.0}\n{"epo\n{"epoch": 2}\n')


def eval_json_is_a_folder(runs, case):
    run = copy_run(runs, case)
    (run / "eval.json").mkdir()


def locked(runs, case):
    run = copy_run(runs, case)
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242\n")
    return fd  # held (by this test process) until the case ends


def own(name, content):
    """A user's data file ``case/NAME``: bytes, text, or arrays saved by numpy."""
    def setup(runs, case):
        path = case / name
        if isinstance(content, dict):
            np.savez(path, **content)
        elif isinstance(content, np.ndarray):
            np.save(path, content)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def image_folder(sizes):
    def setup(runs, case):
        from PIL import Image

        (case / "imgs").mkdir()
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(np.zeros((h, w), np.uint8)).save(case / "imgs" / f"{i}.png")
    return setup


GREY = np.full((30, 4), 0.5, np.float32)
#: A user's model whose decoder takes one input too many: it fails in the first step, in torch's matmul.
WRONG_WIDTH = '''
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro_vae.model import LatentVariableModel
    from pyro_vae.nn import GaussianHead, mlp
    from pyro_vae.registry import register_model

    @register_model("wrong_width")
    class WrongWidth(LatentVariableModel):
        likelihood = "bernoulli"

        def __init__(self, data, z_dim=2):
            super().__init__(data)
            self.z_dim = z_dim
            self.encoder = GaussianHead(self.x_dim, [8], z_dim, "tanh")
            self.decoder = mlp(z_dim + 1, [8], self.x_dim, "tanh")

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
'''

U = dict(
    raises_in_init='''
        from pyro_vae.model import LatentVariableModel
        from pyro_vae.registry import register_model
        @register_model("boom_init")
        class Boom(LatentVariableModel):
            def __init__(self, data, z_dim=2):
                super().__init__(data)
                raise ValueError("the user's bug")
    ''',
    raises_on_import='raise RuntimeError("broken at import")\n',
    wrong_width=WRONG_WIDTH,
    registers_nothing='x = 1\n',
)

R, C = "{case}/run", "{runs}/cvae"
# (id, argv, expected fragment of the error line, setup or None)
CASES = [
    # -- train: options out of range or of the wrong type
    ("z_dim=0", ["train", *TINY, "--model-opt", "z_dim=0", "--out", "{case}/o"], "z_dim=0: must be >= 1", None),
    ("z_dim<0", ["train", *TINY, "--model-opt", "z_dim=-3", "--out", "{case}/o"], "z_dim=-3: must be >= 1", None),
    ("z_dim=a", ["train", *TINY, "--model-opt", 'z_dim="a"', "--out", "{case}/o"], "z_dim='a': must be an integer", None),
    ("z_dim=2.5", ["train", *TINY, "--model-opt", "z_dim=2.5", "--out", "{case}/o"], "z_dim=2.5: must be an integer", None),
    ("hidden=[0]", ["train", *TINY, "--model-opt", "hidden=[0]", "--out", "{case}/o"], "hidden=[0]: must be a list of integers >= 1", None),
    ("hidden=5", ["train", *TINY, "--model-opt", "hidden=5", "--out", "{case}/o"], "hidden=5: must be a list", None),
    ("unknown model option", ["train", *TINY, "--model-opt", "zdim=3", "--out", "{case}/o"], "has no option 'zdim'", None),
    ("activation=7", ["train", *TINY, "--model-opt", "activation=7", "--out", "{case}/o"], "activation=7: must be a string", None),
    ("activation=nope", ["train", *TINY, "--model-opt", "activation=nope", "--out", "{case}/o"], "unknown activation 'nope': use one of", None),
    ("model-opt without =", ["train", *TINY, "--model-opt", "z_dim", "--out", "{case}/o"], "expected KEY=VALUE", None),
    ("batch 0", ["train", *TINY, "--batch-size", "0", "--out", "{case}/o"], "--batch-size must be an integer >= 1, got 0", None),
    ("batch <0", ["train", *TINY, "--batch-size", "-5", "--out", "{case}/o"], "--batch-size must be an integer >= 1, got -5", None),
    ("batch x", ["train", *TINY, "--batch-size", "x", "--out", "{case}/o"], "--batch-size: invalid int value: 'x'", None),
    ("devices 0", ["train", *TINY, "--devices", "0", "--out", "{case}/o"], "--devices must be >= 1, got 0", None),
    ("devices > batch", ["train", *TINY, "--batch-size", "2", "--devices", "3", "--out", "{case}/o"],
     "--batch-size 2 is smaller than the 3 processes", None),
    ("evaluate devices 0", ["evaluate", "{runs}/vae", "--devices", "0"], "--devices must be >= 1, got 0", None),
    ("evaluate capture", ["evaluate", "{runs}/vae", "--capture", "yes"],
     "--capture must be one of auto, on, off, got 'yes'", None),
    ("lr 0", ["train", *TINY, "--lr", "0", "--out", "{case}/o"], "--lr must be a number > 0, got 0.0", None),
    ("kl warmup < 0", ["train", *TINY, "--kl-warmup", "-1", "--out", "{case}/o"], "--kl-warmup must be an integer >= 0, got -1", None),
    ("kl warmup in config", ["train", "--config", "{case}/c.toml", "--out", "{case}/o"], "c.toml: --kl-warmup must be an integer >= 0, got -2", own("c.toml", "kl_warmup = -2")),
    ("early stopping < 0", ["train", *TINY, "--early-stopping", "-3", "--out", "{case}/o"], "--early-stopping must be an integer >= 0, got -3", None),
    ("abbreviated flag", ["train", *TINY, "--epoch", "3", "--out", "{case}/o"], "unrecognized arguments: --epoch 3", None),
    ("evaluate subset rule", ["evaluate", "{runs}/vae", "--n", "5", "--subset", "last"], "--subset must be one of random, first, got 'last'", None),
    ("evaluate subset seed < 0", ["evaluate", "{runs}/vae", "--n", "5", "--subset-seed", "-1"], "--subset-seed must be an integer in [0, 4294967295], got -1", None),
    ("lr <0", ["train", *TINY, "--lr", "-1", "--out", "{case}/o"], "--lr must be a number > 0, got -1.0", None),
    ("lr nan", ["train", *TINY, "--lr", "nan", "--out", "{case}/o"], "--lr must be a number > 0, got nan", None),
    ("lr inf", ["train", *TINY, "--lr", "inf", "--out", "{case}/o"], "--lr must be a number > 0, got inf", None),
    ("seed <0", ["train", *TINY, "--seed", "-1", "--out", "{case}/o"], "--seed must be an integer in [0, 4294967295], got -1", None),
    ("seed 2^32", ["train", *TINY, "--seed", "4294967296", "--out", "{case}/o"], "--seed must be an integer in [0, 4294967295]", None),
    ("valid-k 0", ["train", *TINY, "--valid-k", "0", "--out", "{case}/o"], "--valid-k must be an integer >= 1, got 0", None),
    ("epochs 0", ["train", *TINY, "--epochs", "0", "--out", "{case}/o"], "--epochs must be an integer >= 1, got 0", None),
    ("epochs <0", ["train", *TINY, "--epochs", "-2", "--out", "{case}/o"], "--epochs must be an integer >= 1, got -2", None),
    ("minutes <0", ["train", *TINY, "--minutes", "-1", "--out", "{case}/o"], "--minutes must be a number >= 0, got -1.0", None),
    ("minutes nan", ["train", *TINY, "--minutes", "nan", "--out", "{case}/o"], "--minutes must be a number >= 0, got nan", None),
    ("particles 0", ["train", *TINY, "--num-particles", "0", "--out", "{case}/o"], "--num-particles must be an integer >= 1", None),
    ("unknown loss", ["train", *TINY, "--loss", "nope", "--out", "{case}/o"], "unknown loss 'nope'", None),
    ("bad loss option", ["train", *TINY, "--loss", "iwae", "--loss-opt", "nope=1", "--out", "{case}/o"], "loss 'iwae' does not take the options ['nope']", None),
    ("unknown schedule", ["train", *TINY, "--lr-schedule", "step", "--out", "{case}/o"], "--lr-schedule must be one of burda, constant, cosine, plateau, got 'step'", None),
    ("log every < 0", ["train", *TINY, "--log-every", "-1", "--out", "{case}/o"], "--log-every must be an integer >= 0, got -1", None),
    ("lr warmup < 0", ["train", *TINY, "--lr-warmup", "-5", "--out", "{case}/o"], "--lr-warmup must be an integer >= 0, got -5", None),
    ("on-nan maybe", ["train", *TINY, "--on-nan", "maybe", "--out", "{case}/o"], "argument --on-nan: invalid choice: 'maybe'", None),
    ("device tpu", ["train", *TINY, "--device", "tpu", "--out", "{case}/o"], "--device must be cpu, cuda or cuda:N, got 'tpu'", None),
    ("unknown model", ["train", *TINY, "--model", "nope", "--out", "{case}/o"], "unknown model 'nope'", None),
    ("model file missing", ["train", *TINY, "--model", "{case}/missing.py", "--out", "{case}/o"], "missing.py does not exist", None),
    ("model __init__ raises", ["train", *TINY[:1], "digits", "--model", "{case}/m.py", "--out", "{case}/o"],
     "building model 'boom_init' (in {case}/m.py) with default options failed: ValueError: the user's bug", user_model(U["raises_in_init"])),
    ("model import raises", ["train", "--dataset", "digits", "--model", "{case}/m.py", "--out", "{case}/o"],
     "m.py failed: RuntimeError: broken at import", user_model(U["raises_on_import"])),
    ("model raises in its first step", ["train", "--dataset", "digits", "--model", "{case}/m.py", "--out", "{case}/o"],
     "your model code raised RuntimeError: mat1 and mat2 shapes cannot be multiplied", user_model(U["wrong_width"])),
    ("model file registers nothing", ["train", "--dataset", "digits", "--model", "{case}/m.py", "--out", "{case}/o"],
     "registers no model", user_model(U["registers_nothing"])),
    ("unknown dataset", ["train", "--dataset", "nope", "--out", "{case}/o"], "unknown dataset 'nope'", None),
    ("likelihood vs data", ["train", "--dataset", "moons", "--out", "{case}/o"], "vae_gaussian", None),
    ("no --out", ["train", *TINY], "train needs --out RUN_DIR", None),
    ("unknown flag", ["train", *TINY, "--foo", "--out", "{case}/o"], "unrecognized arguments: --foo", None),
    # -- damaged data files
    ("data-dir is a file", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/f", "--out", "{case}/o"],
     "is a file: point --data-dir", make_file("f")),
    ("npz truncated", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "is not a readable .npz file", truncated_npz),
    ("npz not a zip", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "is not a readable .npz file", make_file("data/binarized_mnist.npz", b"random bytes, not numpy")),
    ("npz of strings", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "holds <U1 values, not numbers", npz(train=np.full((3, 784), "a"), valid=np.full((3, 784), "a"), test=np.full((3, 784), "a"))),
    ("npz empty split", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "binarized_mnist.npz:valid is empty", npz(train=np.zeros((3, 784), np.uint8), valid=np.zeros((0, 784), np.uint8), test=np.zeros((3, 784), np.uint8))),
    ("npz missing split", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "has no array 'test'", npz(train=np.zeros((3, 784), np.uint8), valid=np.zeros((3, 784), np.uint8))),
    ("npz wrong shape", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "has shape (3, 10), expected (N, 784)", npz(train=np.zeros((3, 10), np.uint8), valid=np.zeros((3, 10), np.uint8), test=np.zeros((3, 10), np.uint8))),
    ("npz not binary", ["train", "--dataset", "binarized-mnist", "--data-dir", "{case}/data", "--out", "{case}/o"],
     "holds values other than 0 and 1", npz(train=np.full((3, 784), 7, np.uint8), valid=np.zeros((3, 784), np.uint8), test=np.zeros((3, 784), np.uint8))),
    # -- train --out: nothing a user wrote is overwritten; paths that cannot be written
    ("out is a file", ["train", *TINY, "--out", "{case}/f"], "is a file, not a folder", make_file("f")),
    ("out is a foreign folder", ["train", *TINY, "--out", "{case}/out"], "is not empty and holds no pyro-vae run (samples.png)", foreign_folder),
    ("out has checkpoints, no config", ["train", *TINY, "--out", "{case}/out"], "holds no pyro-vae run (checkpoint_last.pt)", checkpoints_without_config),
    ("out holds a run", ["train", *TINY, "--out", "{runs}/vae"], "already holds a run: continue it with --resume", None),
    ("out in /proc", ["train", *TINY, "--out", "/proc/pyro-vae-test/run"], "cannot create the run folder /proc/pyro-vae-test/run", None),
    ("out below a file", ["train", *TINY, "--out", "{case}/f/run"], "cannot create the run folder", make_file("f")),
    # -- resume
    ("resume missing", ["train", "--resume", "{case}/none"], "not a pyro-vae run directory", None),
    ("resume conflicting lr", ["train", "--resume", R, "--lr", "0.01"], "conflicts with the saved run: --lr: the run has 0.001, given 0.01", copy_run),
    ("resume conflicting model", ["train", "--resume", R, "--model", "vae_cb"], "--model: the run has 'vae', given 'vae_cb'", copy_run),
    ("resume conflicting options", ["train", "--resume", R, "--model-opt", "z_dim=3"], "--model-opt: the run has", copy_run),
    ("resume conflicting out", ["train", "--resume", R, "--out", "{case}/elsewhere"], "a resumed run stays in {case}/run; drop --out", copy_run),
    ("resume locked", ["train", "--resume", R, "--epochs", "2"], "is in use by process 4242", locked),
    ("config not utf-8", ["train", "--resume", R], "config.json is not UTF-8", damage("config.json", b"\xff\xfe\x00garbage")),
    ("config not json", ["train", "--resume", R], "config.json is not valid JSON", damage("config.json", b"{not json")),
    ("config a list", ["train", "--resume", R], "config.json holds a JSON list, not an object", damage("config.json", b"[1, 2]")),
    ("config lacks keys", ["train", "--resume", R], "config.json lacks the keys", edit_json("config.json", lambda c: {"model": c["model"]})),
    ("config bad value", ["train", "--resume", R], "config.json: --batch-size must be an integer >= 1, got 0", edit_json("config.json", lambda c: {**c, "batch_size": 0})),
    ("config unknown key", ["train", "--resume", R], "config.json has unknown keys colour", edit_json("config.json", lambda c: {**c, "colour": 1})),
    ("model.json lacks keys", ["train", "--resume", R], "model.json lacks the keys hparams", edit_json("model.json", lambda m: {"model": "vae", "data": m["data"]})),
    ("checkpoint truncated", ["train", "--resume", R, "--epochs", "2"], "checkpoint_last.pt is not a readable checkpoint", lambda r, c: _truncate(copy_run(r, c) / "checkpoint_last.pt")),
    ("checkpoint empty", ["train", "--resume", R, "--epochs", "2"], "checkpoint_last.pt is not a readable checkpoint", damage("checkpoint_last.pt", b"")),
    ("checkpoint random", ["train", "--resume", R, "--epochs", "2"], "checkpoint_last.pt is not a readable checkpoint", damage("checkpoint_last.pt", os.urandom(2000))),
    ("metrics middle line torn", ["train", "--resume", R, "--epochs", "2"], "metrics.jsonl:2 is not a metrics line", torn_middle_metrics),
    ("resume epochs x", ["train", "--resume", R, "--epochs", "x"], "--epochs: invalid int value: 'x'", copy_run),
    # -- evaluate
    ("k 0", ["evaluate", "{runs}/vae", "--k", "0"], "--k must be an integer >= 1, got 0", None),
    ("k <0", ["evaluate", "{runs}/vae", "--k", "-1"], "--k must be an integer >= 1, got -1", None),
    ("k abc", ["evaluate", "{runs}/vae", "--k", "abc"], "argument --k: expected an integer or a list like 1,10,100, got 'abc'", None),
    ("n 0", ["evaluate", "{runs}/vae", "--n", "0"], "--n must be an integer >= 1, got 0", None),
    ("n <0", ["evaluate", "{runs}/vae", "--n", "-1"], "--n must be an integer >= 1, got -1", None),
    ("n too large", ["evaluate", "{runs}/vae", "--k", "2", "--n", "100000"], "--n 100000 is more than the 250 datapoints of digits/test", None),
    ("max-elements 0", ["evaluate", "{runs}/vae", "--max-elements", "0"], "--max-elements must be an integer >= 1, got 0", None),
    ("max-elements <0", ["evaluate", "{runs}/vae", "--max-elements", "-5"], "--max-elements must be an integer >= 1, got -5", None),
    ("eval seed <0", ["evaluate", "{runs}/vae", "--seed", "-1"], "--seed must be an integer in [0, 4294967295]", None),
    ("split bogus", ["evaluate", "{runs}/vae", "--split", "bogus"], "argument --split: invalid choice: 'bogus'", None),
    ("checkpoint bogus", ["evaluate", "{runs}/vae", "--checkpoint", "bogus"], "argument --checkpoint: invalid choice", None),
    ("eval device cuda", ["evaluate", "{runs}/vae", "--device", "cuda"], "torch sees no CUDA device: use --device cpu", None),
    ("eval device gpu", ["evaluate", "{runs}/vae", "--device", "gpu"], "--device must be cpu, cuda or cuda:N, got 'gpu'", None),
    ("method bogus", ["evaluate", "{runs}/vae", "--method", "mcmc"], "--method must be one of iw, ais, bdmc, got 'mcmc'", None),
    ("ais with k", ["evaluate", "{runs}/vae", "--method", "ais", "--k", "10"], "--k and --proposal belong to --method iw", None),
    ("ais with proposal", ["evaluate", "{runs}/vae", "--method", "ais", "--proposal", "prior"], "--method ais takes --num-chains, --num-steps and --init", None),
    ("ais flags with iw", ["evaluate", "{runs}/vae", "--num-chains", "4"], "--num-chains belong to --method ais or bdmc", None),
    ("num-chains 0", ["evaluate", "{runs}/vae", "--method", "ais", "--num-chains", "0"], "--num-chains must be an integer >= 1, got 0", None),
    ("num-steps 0", ["evaluate", "{runs}/vae", "--method", "bdmc", "--num-steps", "10,0"], "--num-steps must be an integer >= 1, got 0", None),
    ("num-steps abc", ["evaluate", "{runs}/vae", "--method", "ais", "--num-steps", "many"], "argument --num-steps: expected an integer or a list", None),
    ("leapfrog <0", ["evaluate", "{runs}/vae", "--method", "ais", "--leapfrog-steps", "-1"], "--leapfrog-steps must be an integer >= 0, got -1", None),
    ("schedule bogus", ["evaluate", "{runs}/vae", "--method", "ais", "--schedule", "cosine"], "--schedule must be one of sigmoid, linear, got 'cosine'", None),
    ("init bogus", ["evaluate", "{runs}/vae", "--method", "ais", "--init", "posterior"], "--init must be one of guide, prior, got 'posterior'", None),
    ("step-size 0", ["evaluate", "{runs}/vae", "--method", "ais", "--step-size", "0"], "--step-size must be a number > 0 and <= 10, got 0.0", None),
    ("step-size nan", ["evaluate", "{runs}/vae", "--method", "ais", "--step-size", "nan"], "--step-size must be a number > 0 and <= 10, got nan", None),
    ("tune-chains <0", ["evaluate", "{runs}/vae", "--method", "ais", "--tune-chains", "-2"], "--tune-chains must be an integer >= 0, got -2", None),
    ("ais two runs", ["evaluate", "{runs}/vae", "{runs}/vae", "--method", "ais", "--out", "{case}/t"], "--method ais evaluates one run at a time", None),
    ("bdmc n too large", ["evaluate", "{runs}/vae", "--method", "bdmc", "--n", "100000", "--num-steps", "2"], "--n 100000 is more than the 250 datapoints of digits/test", None),
    ("eval run missing", ["evaluate", "{case}/none"], "not a pyro-vae run directory", None),
    ("eval run is a file", ["evaluate", "{case}/f"], "not a pyro-vae run directory", make_file("f")),
    ("eval run empty folder", ["evaluate", "{case}"], "not a pyro-vae run directory", None),
    ("eval best truncated", ["evaluate", R], "checkpoint_best.pt is not a readable checkpoint", lambda r, c: _truncate(copy_run(r, c) / "checkpoint_best.pt")),
    ("eval best empty", ["evaluate", R], "checkpoint_best.pt is not a readable checkpoint", damage("checkpoint_best.pt", b"")),
    ("eval best random", ["evaluate", R], "checkpoint_best.pt is not a readable checkpoint", damage("checkpoint_best.pt", os.urandom(3000))),
    ("eval best missing", ["evaluate", R], "checkpoint_best.pt not found", lambda r, c: (copy_run(r, c) / "checkpoint_best.pt").unlink()),
    ("eval config not utf-8", ["evaluate", R], "config.json is not UTF-8", damage("config.json", b"\xff\xfe\x00")),
    ("eval config not json", ["evaluate", R], "config.json is not valid JSON", damage("config.json", b"")),
    ("eval model.json not json", ["evaluate", R], "model.json is not valid JSON", damage("model.json", b"{")),
    ("eval model.json unknown model", ["evaluate", R], "unknown model 'gone'", edit_json("model.json", lambda m: {**m, "model": "gone"})),
    ("eval model file gone", ["evaluate", R], "gone.py does not exist", edit_json("model.json", lambda m: {**m, "source": "/nowhere/gone.py"})),
    ("eval checkpoint of another model", ["evaluate", R], "does not fit the model of", swapped_checkpoint),
    ("eval.json cannot be written", ["evaluate", R, "--k", "2", "--n", "3"], "cannot write", eval_json_is_a_folder),
    # -- sample
    ("sample n 0", ["sample", "{runs}/vae", "--n", "0"], "--n must be an integer >= 1, got 0", None),
    ("sample n <0", ["sample", "{runs}/vae", "--n", "-2"], "--n must be an integer >= 1, got -2", None),
    ("label beyond classes", ["sample", C, "--label", "10", "--out", "{case}/s.png"], "--label must be a class in [0, 9], got 10", None),
    ("label <0", ["sample", C, "--label", "-1", "--out", "{case}/s.png"], "--label must be an integer >= 0, got -1", None),
    ("label, unconditional", ["sample", "{runs}/vae", "--label", "3", "--out", "{case}/s.png"], "the model is not conditioned on labels", None),
    ("out .gif", ["sample", "{runs}/vae", "--out", "{case}/s.gif"], "the extension of --out must be one of .png, .jpg, .jpeg, got '.gif'", None),
    ("out no extension", ["sample", "{runs}/vae", "--out", "{case}/s"], "the extension of --out must be one of", None),
    ("out in /proc", ["sample", "{runs}/vae", "--out", "/proc/s.png"], "cannot write /proc/s.png", None),
    ("out folder missing", ["sample", "{runs}/vae", "--out", "{case}/no/s.png"], "cannot write {case}/no/s.png", None),
    ("sample device cuda", ["sample", "{runs}/vae", "--device", "cuda"], "torch sees no CUDA device", None),
    ("sample seed", ["sample", "{runs}/vae", "--seed", "-3"], "--seed must be an integer in [0, 4294967295]", None),
    ("sample last damaged", ["sample", R, "--checkpoint", "last"], "checkpoint_last.pt is not a readable checkpoint", damage("checkpoint_last.pt", b"PK")),
    ("sample run missing", ["sample", "{case}/none"], "not a pyro-vae run directory", None),
    # -- a user's data
    ("data file missing", ["train", "--dataset", "{case}/none.npz", "--out", "{case}/o"], "none.npz: no such file or folder", None),
    ("data unknown suffix", ["train", "--dataset", "{case}/x.txt", "--out", "{case}/o"], "cannot read .txt", own("x.txt", "1 2")),
    ("npy not an array", ["train", "--dataset", "{case}/x.npy", "--out", "{case}/o"], "cannot read {case}/x.npy as a .npy array", own("x.npy", b"junk")),
    ("npz with stray keys", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "has unknown keys extra", own("x.npz", {"train": GREY, "extra": GREY})),
    ("npz of several arrays", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "holds the arrays a, b: keep one array", own("x.npz", {"a": GREY, "b": GREY})),
    ("npz labels without rows", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "labels of x.npz/train have shape (3,); expected (30,)", own("x.npz", {"train": GREY, "y_train": np.zeros(3)})),
    ("negative labels", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "must be integers 0..C-1", own("x.npz", {"train": GREY, "y_train": -np.ones(30)})),
    ("data NaN", ["train", "--dataset", "{case}/x.npy", "--model", "vae_gaussian", "--out", "{case}/o"], "contains NaN or inf", own("x.npy", np.array([[1.0, np.nan]] * 30, np.float32))),
    ("csv ragged", ["train", "--dataset", "{case}/t.csv", "--out", "{case}/o"], "line 3 has 1 columns, the first line has 2", own("t.csv", "1,2\n3,4\n5\n")),
    ("csv word", ["train", "--dataset", "{case}/t.csv", "--out", "{case}/o"], "line 2, column 1: 'x' is not a number", own("t.csv", "1,2\n3,x\n")),
    ("csv label column unknown", ["train", "--dataset", "{case}/t.csv", "--label-column", "kind", "--out", "{case}/o"], "--label-column kind is not a column", own("t.csv", "a,b\n1,2\n")),
    ("label column on npz", ["train", "--dataset", "{case}/x.npz", "--label-column", "y", "--out", "{case}/o"], "--label-column applies to .csv files", own("x.npz", {"train": GREY})),
    ("split two parts", ["train", "--dataset", "{case}/x.npz", "--split", "0.5,0.5", "--out", "{case}/o"], "--split must be three fractions > 0 that sum to 1", own("x.npz", {"train": GREY})),
    ("split not numbers", ["train", "--dataset", "{case}/x.npz", "--split", "a,b,c", "--out", "{case}/o"], "expected three fractions like 0.8,0.1,0.1", None),
    ("split too few rows", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "too few to split", own("x.npz", {"train": GREY[:3]})),
    ("split on a named dataset", ["train", *TINY, "--split", "0.8,0.1,0.1", "--out", "{case}/o"], "--split apply to your own data files", None),
    ("data kind binary on grey", ["train", "--dataset", "{case}/x.npz", "--data-kind", "binary", "--out", "{case}/o"], "--data-kind binary but", own("x.npz", {"train": GREY})),
    ("bernoulli on real data", ["train", "--dataset", "{case}/x.npz", "--out", "{case}/o"], "holds real values but a bernoulli likelihood", own("x.npz", {"train": GREY * 3})),
    ("image size 0", ["train", "--dataset", "{case}/imgs", "--image-size", "0", "4", "--out", "{case}/o"], "--image-size must be an integer >= 1, got 0", image_folder([(4, 4)] * 10)),
    ("images of two sizes", ["train", "--dataset", "{case}/imgs", "--out", "{case}/o"], "pass --image-size H W", image_folder([(4, 4)] * 9 + [(5, 4)])),
    ("image not an image", ["train", "--dataset", "{case}/imgs", "--out", "{case}/o"], "cannot read the image", lambda r, c: (image_folder([(4, 4)] * 9)(r, c), (c / "imgs" / "z.png").write_bytes(b"no"))),
    ("empty image folder", ["train", "--dataset", "{case}/imgs", "--out", "{case}/o"], "holds no .png/.jpg/.jpeg images", make_file("imgs/readme.txt")),
    ("conv_vae on a table", ["train", "--dataset", "{case}/x.npz", "--model", "conv_vae", "--out", "{case}/o"], "Conv needs images, and this data has no image shape", own("x.npz", {"train": np.zeros((30, 20), np.float32)})),
    ("conv_vae on 3x3 images", ["train", "--dataset", "{case}/x.npz", "--model", "conv_vae", "--out", "{case}/o"], "2 stride-2 convolutions need images of at least 4 pixels a side, got 3x3", own("x.npz", {"train": np.zeros((30, 3, 3), np.float32)})),
    ("eval data gone", ["evaluate", R], "/nowhere/x.npz is gone: if it moved, point to it with --dataset PATH", edit_json("config.json", lambda c: {**c, "dataset": "/nowhere/x.npz", "data_source": {"path": "/nowhere/x.npz", "bytes": 1, "sha256": "0" * 64}})),
    ("eval dataset moved elsewhere, missing", ["evaluate", R, "--dataset", "{case}/moved.npz"], "--dataset {case}/moved.npz: no such file or folder", edit_json("config.json", lambda c: {**c, "dataset": "/nowhere/x.npz", "data_source": {"path": "/nowhere/x.npz", "bytes": 1, "sha256": "0" * 64}})),
    ("eval data changed", ["evaluate", R, "--dataset", "{case}/x.npz"], "is not the data the run was trained on", lambda r, c: (own("x.npz", {"train": GREY})(r, c), edit_json("config.json", lambda cfg: {**cfg, "dataset": "/nowhere/x.npz", "data_source": {"path": "/nowhere/x.npz", "bytes": 1, "sha256": "0" * 64}})(r, c))),
    # -- experiments as files
    ("config missing", ["train", "--config", "{case}/none.toml", "--out", "{case}/o"], "--config {case}/none.toml: cannot read it", None),
    ("config bad toml", ["train", "--config", "{case}/c.toml", "--out", "{case}/o"], "is not valid TOML", own("c.toml", "epochs = = 3")),
    ("config bad json", ["train", "--config", "{case}/c.json", "--out", "{case}/o"], "is not valid JSON", own("c.json", "{")),
    ("config suffix", ["train", "--config", "{case}/c.ini", "--out", "{case}/o"], "cannot read .ini; give a .toml, .json or .yaml", own("c.ini", "x")),
    ("config a list", ["train", "--config", "{case}/c.json", "--out", "{case}/o"], "holds a list; it must be a table", own("c.json", "[1]")),
    ("config unknown keys", ["train", "--config", "{case}/c.toml", "--out", "{case}/o"], "has unknown keys epoch: the keys are", own("c.toml", "epoch = 2")),
    ("config bad value", ["train", "--config", "{case}/c.toml", "--out", "{case}/o"], "--batch-size must be an integer >= 1, got 0", own("c.toml", "batch_size = 0")),
    ("set into a number", ["train", "--set", "lr.x=1", "--out", "{case}/o"], "--lr must be a number, got {{'x': 1}}", None),
    ("set on resume", ["train", "--resume", "{runs}/vae", "--set", "lr=0.1"], "continues a run with its saved configuration: drop --set", None),
    ("logger unknown", ["train", *TINY, "--logger", "wandb", "--out", "{case}/o"], "argument --logger: invalid choice: 'wandb'", None),
    # -- encode
    ("encode out .txt", ["encode", "{runs}/vae", "--out", "{case}/z.txt"], "the extension of --out must be one of .npz, .csv", None),
    ("encode split", ["encode", "{runs}/vae", "--split", "dev"], "--split must be one of test, valid, train, got 'dev'", None),
    ("encode batch 0", ["encode", "{runs}/vae", "--batch-size", "0"], "--batch-size must be an integer >= 1, got 0", None),
    ("encode dataset on a named run", ["encode", "{runs}/vae", "--dataset", "{case}/x.npz"], "the run was trained on 'digits', not on a data file", None),
    ("encode run missing", ["encode", "{case}/none"], "not a pyro-vae run directory", None),
    # -- compare
    ("compare no losses", ["compare", "--out", "{case}/c"], "the following arguments are required: --losses", None),
    ("compare K 0", ["compare", "--losses", "iwae:0", "--out", "{case}/c"], "--losses entry 'iwae:0': K must be >= 1", None),
    ("compare unknown loss", ["compare", "--losses", "elbo,nope", "--out", "{case}/c"], "unknown loss 'nope'", None),
    ("compare bad entry", ["compare", "--losses", "iwae:5:3", "--out", "{case}/c"], "is not NAME[:K[xM]][@BETA]", None),
    ("compare M on iwae", ["compare", "--losses", "iwae:5x2", "--out", "{case}/c"], "xM (groups of K) applies to miwae and piwae", None),
    ("compare beta > 1", ["compare", "--losses", "ciwae:5@1.5", "--out", "{case}/c"], "@BETA applies to ciwae, with 0 <= beta <= 1", None),
    ("compare twice", ["compare", "--losses", "iwae:5,iwae:5", "--out", "{case}/c"], "names an estimator twice", None),
    ("compare seeds words", ["compare", "--losses", "elbo", "--seeds", "a,b", "--out", "{case}/c"], "--seeds must be integers like 0,1,2", None),
    ("compare seeds repeated", ["compare", "--losses", "elbo", "--seeds", "0,0", "--out", "{case}/c"], "--seeds must be distinct integers", None),
    ("compare epochs and minutes", ["compare", "--losses", "elbo", "--epochs", "2", "--minutes", "1", "--out", "{case}/c"], "not both", None),
    ("compare snr draws 1", ["compare", "--losses", "elbo", "--snr-draws", "1", "--out", "{case}/c"], "--snr-draws must be an integer >= 2", None),
    ("compare eval k 0", ["compare", "--losses", "elbo", "--eval-k", "0", "--out", "{case}/c"], "--eval-k must be an integer >= 1, got 0", None),
    ("compare out a file", ["compare", "--losses", "elbo", "--out", "{case}/f"], "--out {case}/f is a file", make_file("f")),
    ("compare out foreign", ["compare", "--losses", "elbo", "--out", "{case}/c"], "holds files that are not a comparison's (notes.txt)", make_file("c/notes.txt")),
    ("compare device cuda", ["compare", "--losses", "elbo", "--device", "cuda", "--out", "{case}/c"], "torch sees no CUDA device", None),
    # -- evaluate over runs and K
    ("evaluate k list 0", ["evaluate", "{runs}/vae", "--k", "0,5"], "--k must be an integer >= 1, got 0", None),
    ("evaluate k words", ["evaluate", "{runs}/vae", "--k", "a,b"], "expected an integer or a list like 1,10,100", None),
    ("evaluate proposal", ["evaluate", "{runs}/vae", "--proposal", "posterior"], "--proposal must be one of guide, prior, got 'posterior'", None),
    ("evaluate several no out", ["evaluate", "{runs}/vae", "{runs}/cvae"], "evaluate of several runs needs --out DIR", None),
    ("evaluate out a file", ["evaluate", "{runs}/vae", "--k", "1,2", "--out", "{case}/f"], "--out {case}/f is a file", make_file("f")),
    ("evaluate several with dataset", ["evaluate", "{runs}/vae", "{runs}/cvae", "--dataset", "x.npz", "--out", "{case}/t"], "--dataset points to one run's moved data", None),
    ("evaluate result of other inputs", ["evaluate", R, "--k", "1000"], "eval_test_k1000.json holds an earlier evaluation with other inputs", lambda r, c: (copy_run(r, c), (c / "run" / "eval_test_k1000.json").write_text('{"inputs": {"seed": 5}}'))),
    # -- the command itself
    ("no command", [], "the following arguments are required: command", None),
    ("unknown command", ["fly"], "argument command: invalid choice: 'fly'", None),
]


def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("name,argv,fragment,setup", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(cli, runs, tmp_path, name, argv, fragment, setup):
    case = tmp_path
    held = setup(runs, case) if setup else None
    try:
        fill = {"case": str(case), "runs": str(runs)}
        res = cli.run(*[a.format(**fill) for a in argv], cwd=case)
    finally:
        if isinstance(held, int):
            os.close(held)
    assert res.rc == 2, (res.rc, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr_lines) == 1, res.stderr
    line = res.stderr_lines[0]
    assert line.startswith("pyro-vae: error: "), line
    assert fragment.format(**fill) in line, line


def test_the_table_covers_every_class():
    assert len(CASES) >= 100
    commands = {c[1][0] for c in CASES if c[1]}
    assert commands == {"train", "evaluate", "sample", "encode", "compare", "fly"}


@pytest.mark.parametrize("argv,fragment", [
    (["train", "--dataset", "digits", "--batch-size", "0", "--out", "x"], "--batch-size must be an integer >= 1"),
    (["evaluate", "nowhere", "--k", "0"], "--k must be an integer >= 1, got 0"),
    (["train", "--foo"], "unrecognized arguments: --foo"),
])
def test_the_fork_server_and_python_m_agree(cli, tmp_path, argv, fragment):
    direct, forked = run_module(*argv, cwd=tmp_path), cli.run(*argv, cwd=tmp_path)
    assert (direct.rc, direct.stderr) == (forked.rc, forked.stderr)
    assert direct.rc == 2 and fragment in direct.stderr and len(direct.stderr_lines) == 1


def test_a_bug_is_one_line_with_exit_1_and_the_traceback_on_request(tmp_path):
    """An exception that is no PyroVAEError (a bug of ours) still prints one line, exit 1."""
    import subprocess
    import sys

    from pyro_vae import cli

    code = ("import sys, pyro_vae.cli.listings as l\n"
            "l.run_models = lambda a: 1 / 0\n"
            "from pyro_vae.cli import main\n"
            "sys.exit(main(['models']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("pyro-vae: internal error: ZeroDivisionError") and len(proc.stderr.splitlines()) == 1
    env = {**os.environ, "PYRO_VAE_TRACEBACK": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert cli.one_line("a\n  b") == "a b"  # one_line joins lines


def test_a_users_model_error_names_their_file_and_the_same_command_works_after_the_fix(cli, tmp_path):
    """The model raises in the first step: one line naming the user's file and line (not "a bug in
    pyro-vae"); --resume of the run it left names the run's copy and what to do; after the fix the same
    train command starts the run anew (it had not finished an epoch), where a trained run is kept."""
    model = tmp_path / "m.py"
    model.write_text(textwrap.dedent(WRONG_WIDTH))
    argv = ["train", "--dataset", "digits", "--model", model, "--epochs", "1", "--out", tmp_path / "run"]
    res = cli.run(*argv)
    assert res.rc == 2 and len(res.stderr_lines) == 1, res.stderr
    line = res.stderr_lines[0]
    assert f"at {model}, line 23, in model" in line and "fix it and run the same command again" in line, line
    assert "bug in pyro-vae" not in line
    res = cli.run("train", "--resume", tmp_path / "run")
    assert res.rc == 2 and f"the copy of your model file kept in the run {tmp_path / 'run'}" in res.stderr
    model.write_text(textwrap.dedent(WRONG_WIDTH).replace("mlp(z_dim + 1,", "mlp(z_dim,"))
    res = cli.run(*argv)
    assert res.rc == 0, res.stderr
    res = cli.run(*argv)  # now the folder holds a trained run: kept
    assert res.rc == 2 and "already holds a run" in res.stderr
