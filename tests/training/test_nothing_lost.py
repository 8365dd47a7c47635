"""Nothing a user wrote is overwritten; a killed run always resumes; one trainer per run."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import torch

from pyro_vae.errors import OptionError, RunDirError
from pyro_vae.training import RunDir, TrainConfig, resume_config, train

QUICK = dict(dataset="digits", model_options={"z_dim": 4, "hidden": [32]}, batch_size=50, progress=False)


def _cli(*args):
    return [sys.executable, "-m", "pyro_vae", *map(str, args)]


def _valid(run):
    return [r["valid_elbo"] for r in RunDir(run).metrics()]


def test_a_foreign_folder_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "samples.png").write_bytes(b"my own picture")
    (out / "checkpoint_last.pt").write_bytes(b"my own checkpoint, no config.json beside it")
    with pytest.raises(RunDirError, match="is not empty and holds no pyro-vae run"):
        train(TrainConfig(epochs=1, **QUICK), out)
    assert (out / "samples.png").read_bytes() == b"my own picture"
    assert (out / "checkpoint_last.pt").read_bytes().startswith(b"my own checkpoint")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint_last.pt", "samples.png"]


def test_a_run_with_no_checkpoint_resumes_from_the_start_to_the_same_numbers(tmp_path):
    """What a crash or kill before the first checkpoint leaves: config.json, model.json, no epoch."""
    whole = train(TrainConfig(epochs=2, seed=5, **QUICK), tmp_path / "whole")
    crashed = tmp_path / "crashed"
    train(TrainConfig(epochs=2, seed=5, **QUICK), crashed)
    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        (crashed / name).unlink()
    (crashed / "metrics.jsonl").write_text("")
    resumed = train(resume_config(crashed), crashed, resume=True)
    assert [r["epoch"] for r in resumed.metrics] == [1, 2]
    assert _valid(crashed) == [r["valid_elbo"] for r in whole.metrics]


def test_a_torn_metrics_line_is_dropped_on_resume(tmp_path):
    whole = train(TrainConfig(epochs=2, seed=1, **QUICK), tmp_path / "whole")
    run = tmp_path / "torn"
    train(TrainConfig(epochs=1, seed=1, **QUICK), run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "train_elbo": -12')  # a kill during the append
    assert [r["epoch"] for r in RunDir(run).metrics()] == [1]  # readers skip the torn line
    train(resume_config(run, epochs=2), run, resume=True)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert _valid(run) == [r["valid_elbo"] for r in whole.metrics]


def test_stale_temporaries_are_removed_and_every_file_has_the_same_permissions(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(epochs=1, **QUICK), run, pictures=True)
    stale = run / ".checkpoint_last.pt.ab12cd34.tmp"
    stale.write_bytes(b"half a checkpoint")
    train(resume_config(run, epochs=2), run, resume=True, pictures=True)
    assert not stale.exists()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.iterdir()}
    assert {"config.json", "checkpoint_last.pt", "metrics.jsonl", "samples.png", ".lock"} <= set(modes)
    assert len(set(modes.values())) == 1, modes


def test_a_locked_run_is_refused_with_the_holders_pid(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(epochs=1, **QUICK), run)
    with RunDir(run).lock():
        with pytest.raises(RunDirError, match=f"in use by process {os.getpid()}"):
            train(resume_config(run, epochs=2), run, resume=True)
    train(resume_config(run, epochs=2), run, resume=True)  # released: it goes on
    assert [r["epoch"] for r in RunDir(run).metrics()] == [1, 2]


def test_resume_refuses_conflicting_options_and_records_the_ones_that_may_change(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(epochs=1, **QUICK), run)
    saved = resume_config(run)
    with pytest.raises(OptionError, match=r"--lr: the run has 0.001, given 0.01; --seed: the run has 0, given 3"):
        train(TrainConfig(**{**saved.to_dict(), "lr": 0.01, "seed": 3}), run, resume=True)
    train(TrainConfig(**{**saved.to_dict(), "epochs": 2, "on_nan": "skip"}), run, resume=True)
    config = RunDir(run).config()
    assert config["epochs"] == 2 and config["on_nan"] == "skip"


def _start(args, **kw):
    return subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


SLOW = ["--dataset", "mnist5k", "--model-opt", "hidden=[64]", "--model-opt", "z_dim=8", "--batch-size", "10",
        "--seed", "2", "--no-progress"]  # an epoch takes ~2.5 s here


def _kill_when(path, args):
    """Start ``pyro-vae ARGS``, SIGKILL it 0.5 s after ``path`` appears (well inside an epoch)."""
    proc = _start(args)
    deadline = time.time() + 120
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, f"no {path.name} after 120 s"
        time.sleep(0.02)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_kill_9_in_the_first_or_second_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    first, second = tmp_path / "killed_in_epoch_1", tmp_path / "killed_in_epoch_2"
    _kill_when(first / "config.json", ["train", *SLOW, "--epochs", "2", "--out", first])
    assert not (first / "checkpoint_last.pt").exists(), "killed after the first epoch: the test proved nothing"
    _kill_when(second / "checkpoint_last.pt", ["train", *SLOW, "--epochs", "2", "--out", second])
    assert torch.load(second / "checkpoint_last.pt", weights_only=True)["epoch"] == 1, \
        "the run finished before it was killed: the test proved nothing"
    for killed in (first, second):  # fresh processes, as a user resumes (exact numbers across processes)
        subprocess.run(_cli("train", "--resume", killed, "--no-progress"), check=True, capture_output=True)
    subprocess.run(_cli("train", *SLOW, "--epochs", "2", "--out", tmp_path / "whole"), check=True, capture_output=True)
    for killed in (first, second):
        assert [r["epoch"] for r in RunDir(killed).metrics()] == [1, 2]
        assert _valid(killed) == _valid(tmp_path / "whole")


@pytest.mark.slow
def test_two_concurrent_resumes_one_is_refused_and_no_epoch_is_written_twice(tmp_path):
    from pyro_vae.cli import main

    run = tmp_path / "run"
    assert main(["train", *SLOW, "--epochs", "1", "--out", str(run)]) == 0
    first, second = (_start(["train", "--resume", run, "--epochs", "3"]) for _ in range(2))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "is in use by process" in refused and len(refused.strip().splitlines()) == 1
    assert [r["epoch"] for r in RunDir(run).metrics()] == [1, 2, 3]
    assert torch.load(run / "checkpoint_last.pt", weights_only=True)["epoch"] == 3
