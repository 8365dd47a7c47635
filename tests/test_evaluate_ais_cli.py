"""``pyro-vae evaluate --method ais|bdmc`` through the CLI: files, numbers, replays, refusals."""

import json

import numpy as np

from cli_runner import ok

SMALL = ["--model-opt", "z_dim=2", "--model-opt", "hidden=[8]", "--batch-size", "200"]
AIS = ["--num-chains", "4", "--leapfrog-steps", "2", "--tune-chains", "2", "--no-progress"]




def test_ais_and_bdmc_write_their_files_and_replay_exactly(cli, tmp_path):
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", "digits", *SMALL, "--epochs", "2", "--out", run))
    argv = ["evaluate", run, "--method", "ais", "--num-steps", "1,8", "--n", "12", *AIS]
    res = ok(cli.run(*argv))
    assert "AIS 4 chains x 8 steps" in res.stdout
    s8 = json.loads((run / "eval_test_ais_c4_t8.json").read_text())
    s1 = json.loads((run / "eval_test_ais_c4_t1.json").read_text())
    assert s8["method"] == "ais" and s8["num_steps"] == 8 and s8["n"] == 12 and s8["init"] == "guide"
    assert s8["inputs"]["num_steps"] == 8 and "load_after" in s8 and s8["machine"]
    assert 0 < s8["acceptance"] <= 1
    assert s1["acceptance"] is None or np.isnan(s1["acceptance"])  # one step: no transition
    table = np.genfromtxt(run / "eval_points_test_ais_c4_t8.csv", delimiter=",", names=True)
    assert len(table) == 12 and np.isclose(table["log_px_ais"].mean(), s8["log_px_ais"])
    assert s8["log_px_ais"] > s1["log_px_ais"]  # 8 steps beat one (IW with 4 draws), on the same images
    ok(cli.run(*argv))  # the same inputs: replaced, the same numbers
    assert json.loads((run / "eval_test_ais_c4_t8.json").read_text())["log_px_ais"] == s8["log_px_ais"]
    res = cli.run(*argv, "--seed", "1")
    assert res.rc == 2 and "holds an earlier evaluation with other inputs" in res.stderr

    res = ok(cli.run("evaluate", run, "--method", "bdmc", "--num-steps", "2,6", "--n", "10", *AIS))
    gap = json.loads((run / "bdmc_gap.json").read_text())
    assert [r["num_steps"] for r in gap["rows"]] == [2, 6] and gap["command"].startswith("pyro-vae evaluate")
    assert len(gap["load_before"]) == 3 and len(gap["load_after"]) == 3
    for r in gap["rows"]:
        assert np.isclose(r["gap"], r["upper"] - r["lower"]) and r["n"] == 10
    assert (run / "bdmc_gap.png").exists() and (run / "bdmc_points_n10_c4_t6.csv").exists()
    assert "reverse AIS (upper)" in res.stdout
