"""``pyro-vae compare`` and ``pyro-vae evaluate`` over runs and K, through the CLI."""

import json

import numpy as np
import pytest

from cli_runner import ok
from pyro_vae.jobs.compare import EstimatorSpec, parse_losses
from pyro_vae.errors import OptionError

SMALL = ["--model-opt", "z_dim=2", "--model-opt", "hidden=[8]", "--batch-size", "200"]




def test_parse_losses():
    specs = parse_losses("elbo,iwae:5,miwae:5x8,ciwae:5@0.5,stl")
    assert specs == [EstimatorSpec("elbo"), EstimatorSpec("iwae", 5), EstimatorSpec("miwae", 5, 8),
                     EstimatorSpec("ciwae", 5, beta=0.5), EstimatorSpec("stl")]
    assert [s.label for s in specs] == ["elbo", "iwae:5", "miwae:5x8", "ciwae:5@0.5", "stl"]
    assert specs[2].loss_options == {"num_outer": 8} and specs[3].loss_options == {"beta": 0.5}
    assert type(specs[2].make()).__name__ == "MIWAE" and specs[2].make().num_particles == 40
    for bad, fragment in (("iwae:0", "K must be >= 1"), ("nope:3", "unknown loss 'nope'"), ("iwae:5x2", "xM"),
                          ("miwae:2@0.3", "@BETA applies to ciwae"), ("iwae:5,iwae:5", "twice"), ("iwae:", r"NAME\[:K")):
        with pytest.raises(OptionError, match=fragment):
            parse_losses(bad)


def test_compare_trains_resumes_and_writes_the_table(cli, tmp_path):
    argv = ["compare", "--dataset", "digits", *SMALL, "--losses", "elbo,iwae:3", "--seeds", "0,1", "--epochs", "1",
            "--eval-k", "25", "--eval-n", "50", "--snr-draws", "5", "--timing-rounds", "3", "--out", tmp_path / "c"]
    first = ok(cli.run(*argv))
    assert first.stdout.count("\n| ") >= 3  # header + 2 rows
    payload = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert [r["estimator"] for r in payload["summary"]] == ["elbo", "iwae:3"]
    for row in payload["summary"]:
        assert row["seeds"] == 2 and row["test_iw_se"] is not None and row["snr_model"] > 0
        assert row["test_iw"] >= row["test_elbo"] - 3 * row["test_elbo_se"]
    for row in payload["summary"]:  # each ± is the standard error over the seeds' runs, recomputed
        runs = [r for r in payload["runs"] if r["estimator"] == row["estimator"]]
        for key in ("test_iw", "test_elbo", "iw_minus_elbo", "snr_model", "variance_guide"):
            values = np.array([r[key] for r in runs], dtype=float)
            assert np.isclose(row[key], values.mean()) and np.isclose(row[key + "_se"], values.std(ddof=1) / np.sqrt(2))
    assert "± is the standard error over the 2 seed(s)" in (tmp_path / "c" / "compare.md").read_text()
    assert "50 random test datapoints" in (tmp_path / "c" / "compare.md").read_text()
    elbo = payload["summary"][0]
    assert 0.5 < elbo["time_vs_elbo"] < 2  # the reference against itself
    assert set(payload) >= {"load_before", "load_after", "machine"}
    for name in ("compare.csv", "compare.md", "bound_vs_epoch.png", "bound_vs_seconds.png", "snr_vs_k.png",
                 "time_per_step.png"):
        assert (tmp_path / "c" / name).exists(), name
    again = ok(cli.run(*argv))
    assert again.stdout.count("finished before") == 4
    again_payload = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert [r["test_iw"] for r in again_payload["runs"]] == [r["test_iw"] for r in payload["runs"]]


def test_compare_takes_a_model_file_with_a_gaussian_likelihood(cli, tmp_path):
    from own_data.test_runs_on_own_data import MODEL  # a user's VAE file with a Gaussian likelihood

    (tmp_path / "m.py").write_text(MODEL)
    ok(cli.run("compare", "--model", tmp_path / "m.py", "--dataset", "moons", "--losses", "elbo,dreg:3",
               "--epochs", "1", "--eval-k", "25", "--eval-n", "40", "--snr-draws", "4", "--timing-rounds", "2",
               "--out", tmp_path / "c"))
    assert len(json.loads((tmp_path / "c" / "compare.json").read_text())["summary"]) == 2


def test_evaluate_over_runs_k_and_proposals(cli, tmp_path):
    for name in ("a", "b"):
        ok(cli.run("train", "--dataset", "digits", *SMALL, "--epochs", "1", "--seed", "3" if name == "b" else "0",
                   "--out", tmp_path / name))
    argv = ["evaluate", tmp_path / "a", tmp_path / "b", "--k", "1,5,30", "--n", "40", "--proposal", "guide,prior",
            "--out", tmp_path / "table", "--no-progress"]
    res = ok(cli.run(*argv))
    table = json.loads((tmp_path / "table" / "evaluate.json").read_text())
    assert [(r["run"], r["proposal"], r["k"]) for r in table["rows"]][:3] == [("a", "guide", 1), ("a", "guide", 5),
                                                                               ("a", "guide", 30)]
    assert len(table["rows"]) == 12
    assert "fewer draws" in res.stdout or "does not beat the prior" in res.stdout
    for k in (1, 5, 30):
        assert json.loads((tmp_path / "a" / f"eval_test_k{k}.json").read_text())["k"] == k
        assert (tmp_path / "b" / f"eval_test_prior_k{k}.json").exists()
    assert json.loads((tmp_path / "a" / "eval_test_k5.json").read_text())["khat_note"].startswith("no k-hat at K=5")
    rows = (tmp_path / "b" / "eval_points_test_prior_k30.csv").read_text().splitlines()
    assert len(rows) == 41 and "log_px_iw" in rows[0]  # header + one row per datapoint
    for name in ("evaluate.md", "evaluate.csv", "iw_vs_k.png"):
        assert (tmp_path / "table" / name).exists()
    ok(cli.run(*argv))  # the same inputs again: the same numbers, replaced without asking
    res = cli.run(*[a if a != "0" else "1" for a in argv[:-1]], "--seed", "1", "--no-progress")
    assert res.rc == 2 and "holds an earlier evaluation with other inputs" in res.stderr
    ok(cli.run(*argv[:-1], "--seed", "1", "--no-progress", "--overwrite"))
