"""Every ± the evaluation prints and writes is the standard error it says it is: recomputed here
from the per-datapoint CSV written with it (mean over datapoints, sd with ddof=1 / sqrt(n)), for
IW at each K (eval.json, the nested K files, the over-K table), AIS and BDMC. The Monte Carlo
standard error of a datapoint's own estimate is a column of its own (*_mc_se), named as such.
(compare's ± over seeds: tests/test_compare_and_evaluate_over_k.py.)"""

import csv
import json
import re

import numpy as np

from cli_runner import ok

AIS = ["--num-chains", "3", "--num-steps", "6", "--leapfrog-steps", "2", "--tune-chains", "1", "--no-progress"]




def _table(path):
    return np.genfromtxt(path, delimiter=",", names=True)


def _mean_se(values):
    return values.mean(), values.std(ddof=1) / np.sqrt(len(values))


def _printed(stdout, label):
    """The ``VALUE ± SE`` printed after ``label``."""
    m = re.search(re.escape(label) + r"\s+(-?[\d.]+) ± ([\d.]+)", stdout)
    assert m, (label, stdout)
    return float(m.group(1)), float(m.group(2))


def test_every_summary_se_is_the_se_over_the_datapoints_of_its_csv(cli, tmp_path):
    run = tmp_path / "run"
    res = ok(cli.run("train", "--dataset", "digits", "--model-opt", "z_dim=2", "--model-opt", "hidden=[8]",
                     "--epochs", "2", "--out", run, "--no-progress"))
    assert [line.split("  ")[0] for line in res.stderr_lines if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]

    res = ok(cli.run("evaluate", run, "--k", "1,10,40", "--n", "45", "--no-progress"))
    points, summary = _table(run / "eval_points.csv"), json.loads((run / "eval.json").read_text())
    assert len(points) == summary["n"] == 45
    for col, label in (("log_px_iw", "log p(x) IW"), ("elbo", "ELBO"), ("reconstruction", "reconstruction"),
                       ("kl", "KL (closed form)"), ("ess", "ESS")):
        mean, se = _mean_se(points[col])
        assert np.isclose(summary[col], mean) and np.isclose(summary[col + "_se"], se, rtol=1e-6), col
        shown, shown_se = _printed(res.stdout, label)
        assert abs(shown - mean) <= 0.006 and abs(shown_se - se) <= 0.006, (label, shown_se, se)
    np.testing.assert_allclose(points["reconstruction"] - points["kl"], points["elbo"], rtol=1e-5, atol=1e-4)
    flagged = summary["khat_share_above_0.7"] > 0  # the k-hat warning is printed exactly when it applies
    assert flagged == ("of datapoints: k-hat > 0.7 means" in res.stdout)
    over_k = {int(r["k"]): r for r in csv.DictReader(open(run / "evaluate.csv"))}
    for k in (1, 10):  # the smaller K: from the first K of the same draws, their own columns in the CSV
        nested = json.loads((run / f"eval_test_k{k}.json").read_text())
        mean, se = _mean_se(points[f"log_px_iw_k{k}"])
        assert np.isclose(nested["log_px_iw"], mean) and np.isclose(nested["log_px_iw_se"], se, rtol=1e-6)
        assert np.isclose(float(over_k[k]["log_px_iw"]), mean) and np.isclose(float(over_k[k]["log_px_iw_se"]), se, rtol=1e-6)
    assert np.isclose(float(over_k[40]["log_px_iw_se"]), summary["log_px_iw_se"], rtol=1e-6)

    res = ok(cli.run("evaluate", run, "--method", "ais", "--n", "25", *AIS))
    points = _table(run / "eval_points_test_ais_c3_t6.csv")
    summary = json.loads((run / "eval_test_ais_c3_t6.json").read_text())
    mean, se = _mean_se(points["log_px_ais"])
    assert np.isclose(summary["log_px_ais"], mean) and np.isclose(summary["log_px_ais_se"], se, rtol=1e-6)
    assert np.isclose(summary["log_px_ais_mc_se"], points["log_px_ais_mc_se"].mean(), rtol=1e-6)
    assert not np.isclose(se, summary["log_px_ais_mc_se"])  # two different numbers (the old ± printed the second)
    shown, shown_se = _printed(res.stdout, "log p(x) AIS")
    assert abs(shown_se - se) <= 0.006 and "se over the 25 datapoints" in res.stdout
    assert "Monte Carlo se of one datapoint's estimate" in res.stdout

    res = ok(cli.run("evaluate", run, "--method", "bdmc", "--n", "25", *AIS))
    points, summary = _table(run / "bdmc_points_n25_c3_t6.csv"), json.loads((run / "bdmc_n25_c3_t6.json").read_text())
    for col in ("lower", "upper", "gap"):
        mean, se = _mean_se(points[col])
        assert np.isclose(summary[col], mean) and np.isclose(summary[col + "_se"], se, rtol=1e-6), col
    m = re.search(r"gap (-?[\d.]+) ± ([\d.]+) nats \(se over the 25 datapoints\)", res.stdout)
    assert m and abs(float(m.group(2)) - _mean_se(points["gap"])[1]) <= 0.0006, res.stdout
