"""The published-setting rows of the NLL table (issue 34): learning curves and, once a row has
trained its 3280 epochs, its test NLL, AIS beside it and the BDMC gap, each with a protocol card.

The runs are trained by ``benchmarks/reproduce_train.sh`` (Burda et al.'s schedule at batch 100,
in stages that outlive a session, a snapshot of the run after each stage's last epoch); this
script only evaluates what is there:

    python benchmarks/reproduce_nll.py --root /work/runs/published               # the curves so far
    python benchmarks/reproduce_nll.py --root /work/runs/published --ais-n 500   # + the final rows

* Curve: each snapshot (epochs 1, 4, 13, 40, 121, 364, 1093, 3280) evaluated with IW_K (K=5000)
  and the ELBO on ``--curve-n`` random test images (pyro_vae.data.subset, subset seed 0: the same
  images at every point), against epochs on a log axis, the published number as a line.
* Final (with ``--ais-n``, once the ``--final-epoch`` snapshot exists): test NLL = -IW_5000 on all 10k test images; AIS
  (16 chains, ``--ais-steps`` steps, 10 leapfrog steps) on ``--ais-n`` random test images paired
  with IW_5000 on the same images; BDMC at the same settings on ``--bdmc-n`` images simulated
  from the model.

An evaluated point is kept in the results file and not evaluated again. Writes
benchmarks/results/reproduce_nll.json, .md and reproduce_nll_curve.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, RESULTS, command_line, machine, markdown_table, write_results  # noqa: E402

from pyro_vae.data import load_dataset  # noqa: E402
from pyro_vae.data.subset import choose_rows  # noqa: E402
from pyro_vae.evaluation import evaluate_model  # noqa: E402
from pyro_vae.training import RunDir, load_trained_model  # noqa: E402

BURDA = "Burda et al. 2015, Appendix D Table 3 (static binarized MNIST, batch 20, 3280 passes, -L_5000 on 10k test)"
ROWS = {"vae-1l": {"label": "VAE 1L", "loss": "elbo", "k": 1, "published": 88.71},
        "iwae-1l-k5": {"label": "IWAE 1L k=5", "loss": "iwae", "k": 5, "published": 87.63}}
STAGE_ENDS = (1, 4, 13, 40, 121, 364, 1093, 3280)
RESULT = "reproduce_nll"


TRAINING_MACHINE = ("the 2-core dev VM (AMD EPYC), 1 thread per run at nice 19, beside the other row's run and "
                    "the session's work (the load was not recorded per epoch)")


def protocol(config: dict, metrics: list, eval_k: int, images: str) -> dict:
    """The protocol card of one number: how the model was trained and how the number was measured."""
    return {"data": "static binarized MNIST (Larochelle & Murray 2011), 50000 train / 10000 valid / 10000 test",
            "binarization": "static", "estimator": config["loss"], "train_k": config["num_particles"],
            "epochs": metrics[-1]["epoch"], "batch": config["batch_size"], "lr": config["lr"],
            "schedule": f"{config['lr_schedule']} (stage i = 0..7: 3**i passes at lr * 10**(-i/7))",
            "seed": config["seed"], "train_wall_s": metrics[-1]["elapsed_s"], "eval_k": eval_k, "eval_images": images,
            "differs_from_published": f"batch {config['batch_size']} instead of 20 (the same schedule in 1/5 of the "
                                      f"steps), lr {config['lr']}",
            "training_machine": TRAINING_MACHINE}


def _card(card: dict) -> str:
    return "; ".join(f"{k.replace('_', ' ')}: {round(v, 1) if isinstance(v, float) else v}" for k, v in card.items())


def _measured(point: dict) -> str:
    m = point.get("machine", {})
    return (f"{m.get('cpu')}, {m.get('date')}, load {point['load_before'][0]:.2f} -> {point['load_after'][0]:.2f}"
            if point.get("load_before") else "")


def curve_point(snapshot: Path, x, rows, args) -> dict:
    config = json.loads((snapshot / "config.json").read_text())
    metrics = RunDir(snapshot).metrics()
    model = load_trained_model(snapshot, "last")
    load_before, t0 = list(os.getloadavg()), time.perf_counter()
    s = evaluate_model(model, x, k=args.k, seed=0, progress=False).summary()
    images = f"{len(x)} random test images (subset seed {rows.seed})" if rows.rule == "random" else "all 10000 test"
    return {"epoch": metrics[-1]["epoch"], "test_nll": s["nll"], "test_nll_se": s["log_px_iw_se"],
            "test_elbo": s["elbo"], "test_elbo_se": s["elbo_se"], "valid_elbo": metrics[-1]["valid_elbo"],
            "khat_share_above_0.7": s["khat_share_above_0.7"], "active_units": s["active_units_total"],
            "eval_s": time.perf_counter() - t0, "protocol": protocol(config, metrics, args.k, images),
            "machine": machine(), "load_before": load_before, "load_after": list(os.getloadavg())}


def final_row(snapshot: Path, x_all, args) -> dict:
    """Test NLL on all test images, AIS paired with IW on random ones, BDMC at the same settings."""
    from pyro_vae.evaluation.ais import evaluate_ais
    from pyro_vae.evaluation.bdmc import bdmc

    config = json.loads((snapshot / "config.json").read_text())
    metrics = RunDir(snapshot).metrics()
    model = load_trained_model(snapshot, "last")
    out = {"machine": machine(), "load_before": list(os.getloadavg())}
    t0 = time.perf_counter()
    iw = evaluate_model(model, x_all, k=args.k, seed=0, progress=False)
    s = iw.summary()
    out.update({"test_nll": s["nll"], "test_nll_se": s["log_px_iw_se"], "test_elbo": s["elbo"],
                "test_elbo_se": s["elbo_se"], "khat_share_above_0.7": s["khat_share_above_0.7"],
                "active_units": s["active_units_total"], "iw_s": time.perf_counter() - t0,
                "protocol": protocol(config, metrics, args.k, f"all {len(x_all)} test images")})
    rows = choose_rows(len(x_all), args.ais_n)
    (x,) = rows.take(x_all)
    settings = dict(num_chains=16, num_steps=args.ais_steps, leapfrog_steps=10, progress=False)
    t0 = time.perf_counter()
    ais = evaluate_ais(model.model, model.guide, x, seed=0, **settings)
    gain = ais.log_px_ais - iw.log_px_iw[rows.rows]
    out.update({"ais_images": f"{len(x)} random test images (subset seed {rows.seed})", "ais_settings": settings,
                "ais_nll": -float(ais.log_px_ais.mean()),
                "ais_nll_se": float(ais.log_px_ais.std(ddof=1) / np.sqrt(len(x))),
                "iw_nll_same_images": -float(iw.log_px_iw[rows.rows].mean()),
                "ais_gain": float(gain.mean()), "ais_gain_se": float(gain.std(ddof=1) / np.sqrt(len(x))),
                "ais_s": time.perf_counter() - t0})
    t0 = time.perf_counter()
    gap = bdmc(model.model, model.guide, torch.zeros(args.bdmc_n, x_all.shape[1]), seed=0, **settings).summary()
    out.update({"bdmc_images": f"{args.bdmc_n} images simulated from the model", "bdmc_lower": gap["lower"],
                "bdmc_upper": gap["upper"], "bdmc_gap": gap["gap"], "bdmc_gap_se": gap["gap_se"],
                "bdmc_s": time.perf_counter() - t0, "load_after": list(os.getloadavg())})
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(result["rows"]), figsize=(5.5 * len(result["rows"]), 4), squeeze=False)
    for ax, (key, row) in zip(axes[0], result["rows"].items()):
        pts = sorted(row["curve"], key=lambda p: p["epoch"])
        if pts:
            e = [p["epoch"] for p in pts]
            ax.errorbar(e, [p["test_nll"] for p in pts], yerr=[p["test_nll_se"] for p in pts], fmt="o-",
                        label=f"test NLL = -IW_{result['k']} ({pts[0]['protocol']['eval_images']})")
            ax.plot(e, [-p["test_elbo"] for p in pts], "s:", label="test -ELBO (same images)")
        ax.axhline(ROWS[key]["published"], color="k", ls="--", lw=1, label=f"published {ROWS[key]['published']}")
        ax.axhline(ROWS[key]["published"] + 1, color="grey", ls=":", lw=1, label="published + 1 nat")
        ax.set_xscale("log")
        ax.set_xlabel("epochs (passes over the 50k training images)")
        ax.set_ylabel("nats per test image (lower is better)")
        ax.set_title(f"{ROWS[key]['label']}: Burda schedule, batch 100")
        ax.set_ylim(ROWS[key]["published"] - 2, None)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(result: dict) -> str:
    lines = []
    for key, row in result["rows"].items():
        pts = sorted(row["curve"], key=lambda p: p["epoch"])
        table = markdown_table([{**p, **{f"card_{k}": v for k, v in p["protocol"].items()}, "measured": _measured(p)}
                                for p in pts], [
            ("epoch", "epochs"), ("test_nll", f"test NLL (-IW_{result['k']})"), ("test_nll_se", "±"),
            ("test_elbo", "test ELBO"), ("test_elbo_se", "±"), ("valid_elbo", "valid ELBO (trainer)"),
            ("active_units", "active units"), ("khat_share_above_0.7", "k-hat > 0.7"),
            ("card_train_wall_s", "train wall s"), ("card_eval_images", "images"), ("eval_s", "eval s"),
            ("measured", "evaluated on (machine, date, load)")])
        lines += [f"### {ROWS[key]['label']} (published {ROWS[key]['published']}: {BURDA})", "",
                  f"Run: `{row['run']}`. Protocol card (last point; earlier points differ only in epochs, train "
                  f"wall s): {_card(pts[-1]['protocol']) if pts else 'no snapshot yet'}.",
                  "", table, ""]
        if row.get("final"):
            f = row["final"]
            lines += [markdown_table([f], [
                ("test_nll", f"test NLL (-IW_{result['k']}, all test images)"), ("test_nll_se", "±"),
                ("test_elbo", "test ELBO"), ("ais_nll", "AIS NLL"), ("ais_nll_se", "±"),
                ("iw_nll_same_images", "IW NLL, same images"), ("ais_gain", "AIS - IW (paired)"),
                ("ais_gain_se", "±"), ("ais_images", "AIS images"), ("bdmc_gap", "BDMC gap"),
                ("bdmc_gap_se", "±"), ("bdmc_images", "BDMC images")]), "",
                f"Final row protocol card: {_card(f['protocol'])}; AIS settings {_card(f['ais_settings'])}; "
                f"evaluated on {_measured(f)}.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="the folder reproduce_train.sh trains in (outside the repository)")
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--k", type=int, default=5000)
    p.add_argument("--curve-n", type=int, default=2000, help="random test images per curve point")
    p.add_argument("--ais-n", type=int, default=0, help="final rows: AIS on this many random test images (0: none)")
    p.add_argument("--ais-steps", type=int, default=1000)
    p.add_argument("--bdmc-n", type=int, default=100)
    p.add_argument("--final-epoch", type=int, default=3280, help="the snapshot the final rows evaluate")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    args = p.parse_args()

    previous = json.loads((RESULTS / f"{RESULT}.json").read_text()) if (RESULTS / f"{RESULT}.json").exists() else {}
    x_all = load_dataset("binarized-mnist", args.data_dir, download=False).test
    rows = choose_rows(len(x_all), args.curve_n)
    (x,) = rows.take(x_all)
    result = {"benchmark": RESULT, "command": command_line(), "k": args.k, "published": BURDA,
              "picture": f"results/{RESULT}_curve.png", "rows": previous.get("rows", {})}
    for row in result["rows"].values():  # cards written before the card named the training machine
        for point in row["curve"] + ([row["final"]] if row.get("final") else []):
            point["protocol"].setdefault("training_machine", TRAINING_MACHINE)
    for key in args.rows.split(","):
        root = Path(args.root) / key
        row = result["rows"].setdefault(key, {"run": str(root / "run"), "curve": []})
        done = {pt["epoch"] for pt in row["curve"]}
        for end in STAGE_ENDS:
            snapshot = root / "snapshots" / f"epoch_{end}"
            if end in done or not snapshot.is_dir():
                continue
            point = curve_point(snapshot, x, rows, args)
            row["curve"].append(point)
            print(f"{key} epoch {end}: test NLL {point['test_nll']:.2f} ± {point['test_nll_se']:.2f}, ELBO "
                  f"{point['test_elbo']:.2f} ({point['eval_s']:.0f} s)", flush=True)
            result["table"] = render(result)
            write_results(RESULT, result)
        final = root / "snapshots" / f"epoch_{args.final_epoch}"
        if args.ais_n and final.is_dir() and row.get("final", {}).get("protocol", {}).get("epochs") != args.final_epoch:
            row["final"] = final_row(final, x_all, args)
            print(f"{key} final: test NLL {row['final']['test_nll']:.2f}, AIS gain {row['final']['ais_gain']:.2f}, "
                  f"BDMC gap {row['final']['bdmc_gap']:.3f}", flush=True)
            write_results(RESULT, result)
    result["table"] = render(result)
    write_results(RESULT, result)
    (RESULTS / f"{RESULT}.md").write_text(result["table"] + "\n")
    plot(result, RESULTS / f"{RESULT}_curve.png")
    print(result["table"])


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    main()
