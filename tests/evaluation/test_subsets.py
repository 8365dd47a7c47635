"""``--n N`` takes a seeded random sample of the split (pyro_vae.data.subset): on a split stored in
class order its mean is within its standard error of the whole split's, where the first N rows are
far off; the same rows for every K and method with the same seed; each CSV row names its index."""

import json

import numpy as np

from cli_runner import ok
from pyro_vae.data.subset import choose_rows

AIS = ["--method", "ais", "--num-chains", "2", "--num-steps", "3", "--leapfrog-steps", "1", "--tune-chains", "1",
       "--no-progress"]




def test_the_rule():
    whole = choose_rows(50)
    assert whole.rule == "all" and list(whole.rows) == list(range(50))
    assert choose_rows(50, 50).rule == "all" and choose_rows(50, 80).n == 50
    a, b = choose_rows(1000, 100, seed=3), choose_rows(1000, 100, seed=3)
    assert list(a.rows) == list(b.rows) and np.all(np.diff(a.rows) > 0)  # the same rows, in split order
    assert set(a.rows) <= set(choose_rows(1000, 400, seed=3).rows)  # a smaller N: among a larger N's rows
    assert list(a.rows) != list(choose_rows(1000, 100, seed=4).rows)
    assert a.rows.max() > 500  # not the first rows
    assert list(choose_rows(1000, 5, rule="first").rows) == [0, 1, 2, 3, 4]
    assert a.describe() == {"rows": "random", "n": 100, "split_size": 1000, "subset_seed": 3}


def test_a_subset_of_a_class_sorted_split_is_within_its_se_and_the_first_rows_are_not(cli, tmp_path):
    rng = np.random.default_rng(0)

    def sorted_by_class(n):  # half sparse images, then half dense ones, as a class-grouped file is stored
        return np.concatenate([rng.random((n // 2, 36)) < 0.03, rng.random((n // 2, 36)) < 0.5]).astype(np.uint8)

    np.savez(tmp_path / "sorted.npz", train=sorted_by_class(400), valid=sorted_by_class(100),
             test=sorted_by_class(600))
    run = tmp_path / "run"
    ok(cli.run("train", "--dataset", tmp_path / "sorted.npz", "--model-opt", "z_dim=2", "--model-opt", "hidden=[8]",
               "--epochs", "5", "--lr", "0.01", "--batch-size", "50", "--out", run, "--no-progress"))
    ok(cli.run("evaluate", run, "--k", "10", "--no-progress"))
    full = np.genfromtxt(run / "eval_points.csv", delimiter=",", names=True)
    assert list(full["index"]) == list(range(600))
    truth = full["log_px_iw"].mean()

    for seed in (0, 1, 2):
        ok(cli.run("evaluate", run, "--k", "10", "--n", "60", "--subset-seed", seed, "--overwrite", "--no-progress"))
        summary = json.loads((run / "eval.json").read_text())
        points = np.genfromtxt(run / "eval_points.csv", delimiter=",", names=True)
        assert summary["rows"] == {"rows": "random", "n": 60, "split_size": 600, "subset_seed": seed}
        assert list(points["index"]) == list(choose_rows(600, 60, seed).rows)
        assert abs(summary["log_px_iw"] - truth) < 3 * summary["log_px_iw_se"], (seed, summary["log_px_iw"], truth)

    ok(cli.run("evaluate", run, "--k", "10", "--n", "60", "--subset", "first", "--overwrite", "--no-progress"))
    first = json.loads((run / "eval.json").read_text())
    assert first["rows"]["rows"] == "first"
    assert first["log_px_iw"] - truth > 10 * first["log_px_iw_se"]  # the sparse class alone: far above the truth

    # AIS with the same --n and seed takes the same rows, so its numbers pair with IW's
    ok(cli.run("evaluate", run, "--n", "20", *AIS))
    ok(cli.run("evaluate", run, "--k", "10", "--n", "20", "--overwrite", "--no-progress"))
    ais = np.genfromtxt(run / "eval_points_test_ais_c2_t3.csv", delimiter=",", names=True)
    iw = np.genfromtxt(run / "eval_points.csv", delimiter=",", names=True)
    assert list(ais["index"]) == list(iw["index"]) == list(choose_rows(600, 20).rows)
