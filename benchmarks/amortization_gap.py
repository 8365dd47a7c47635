"""Amortization gap (Cremer, Li & Duvenaud 2018) of trained VAEs on static binarized MNIST.

For each of ``--n`` test images (a fixed random subset), a free Gaussian q*(z|x) is fitted to that
image alone (decoder frozen, started at the encoder's output; see
``pyro_vae.evaluation.local_posterior``). Reported per model, in nats per image (mean and
standard error over images):

* log p(x): IW estimate with K samples from each of the two proposals (encoder and q*), pooled
  as log((p_hat_enc + p_hat_q*) / 2), an unbiased p(x) estimate, hence a stochastic lower bound;
* ELBO[q*] and ELBO[encoder], each averaged over the same K samples;
* approximation gap = log p(x) - ELBO[q*], amortization gap = ELBO[q*] - ELBO[encoder].

    python benchmarks/amortization_gap.py --run-dir runs/bmnist10
    python benchmarks/amortization_gap.py --run-dir runs/nll_table/vae-1l --run-dir runs/nll_table/iwae-1l-k50

Writes benchmarks/results/amortization_gap.json, .md and amortization_gap.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, RESULTS, command_line, machine, markdown_table, reference_vae_run, write_results  # noqa: E402


def gaps_for_run(run_dir: str, x, args) -> tuple[dict, dict]:
    from pyro_vae.evaluation import evaluate_log_likelihood, evaluate_model
    from pyro_vae.evaluation.local_posterior import fit_local_gaussian, local_pair
    from pyro_vae.evaluation.result import mean_se
    from pyro_vae.training import RunDir, load_trained_model

    model = load_trained_model(run_dir, "best")
    for p in model.parameters():
        p.requires_grad_(False)  # frozen: only q*'s parameters move
    t0 = time.perf_counter()
    enc = evaluate_model(model, x, k=args.k, seed=args.seed, progress=args.progress)
    fit = fit_local_gaussian(model.model, model.guide, x, steps=args.steps, lr=args.lr,
                             num_particles=args.particles, seed=args.seed, progress=args.progress)
    local_model, local_guide = local_pair(model.model)
    star = evaluate_log_likelihood(local_model, local_guide, (x, fit.loc, fit.scale), k=args.k, seed=args.seed + 1,
                                   progress=args.progress)
    seconds = time.perf_counter() - t0
    log_px = np.logaddexp(enc.log_px_iw, star.log_px_iw) - math.log(2)
    per_point = {"log_px": log_px, "elbo_star": star.elbo, "elbo_encoder": enc.elbo,
                 "approximation_gap": log_px - star.elbo, "amortization_gap": star.elbo - enc.elbo}
    cfg = RunDir(run_dir).config()
    row = {"run": str(run_dir), "model": cfg["model"], "loss": cfg.get("loss"), "train_k": cfg.get("num_particles"),
           "seconds": seconds, "fit_curve": fit.history,
           "iw_encoder": float(enc.log_px_iw.mean()), "iw_star": float(star.log_px_iw.mean())}
    for name, values in per_point.items():
        row[name], row[name + "_se"] = mean_se(np.asarray(values))
    return row, per_point


def plot(per_run: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = list(per_run)
    approx = [per_run[n]["approximation_gap"].mean() for n in names]
    amort = [per_run[n]["amortization_gap"].mean() for n in names]
    axes[0].bar(names, approx, label="approximation gap")
    axes[0].bar(names, amort, bottom=approx, label="amortization gap")
    axes[0].set_ylabel("nats per image")
    axes[0].set_title("log p(x) - ELBO[encoder], split")
    axes[0].legend()
    for n in names:
        axes[1].hist(per_run[n]["amortization_gap"], bins=40, alpha=0.5, label=f"{n}: amortization")
        axes[1].hist(per_run[n]["approximation_gap"], bins=40, alpha=0.5, histtype="step", lw=2,
                     label=f"{n}: approximation")
    axes[1].set_xlabel("gap per image (nats)")
    axes[1].set_title("per-image gaps")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", action="append", default=[], help="trained run(s) on binarized-mnist "
                   "(default: train a 1-layer VAE for 1 epoch)")
    p.add_argument("--n", type=int, default=500, help="test images")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image and proposal")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps fitting q* per image")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--particles", type=int, default=16, help="samples per step of the q* fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--scratch", default="runs/benchmarks")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args()

    import torch

    from pyro_vae.data import load_dataset
    from pyro_vae.data.subset import choose_rows
    from pyro_vae.errors import PyroVAEError

    try:
        x = load_dataset("binarized-mnist", args.data_dir, download=False).test
    except PyroVAEError as e:
        sys.exit(f"error: {e}")
    (x,) = choose_rows(len(x), args.n, args.seed).take(x)  # random rows (pyro_vae.data.subset): grouped by class
    runs = args.run_dir or [reference_vae_run(None, args.data_dir, args.scratch)]
    rows, per_run = [], {}
    for run_dir in runs:
        row, per_point = gaps_for_run(run_dir, x, args)
        rows.append(row)
        per_run[Path(run_dir).name] = per_point
        print(f"{run_dir}: log p(x) {row['log_px']:.2f}, ELBO[q*] {row['elbo_star']:.2f}, ELBO[enc] "
              f"{row['elbo_encoder']:.2f}; approximation gap {row['approximation_gap']:.2f}, amortization gap "
              f"{row['amortization_gap']:.2f} ({row['seconds']:.0f} s)", flush=True)
    table = markdown_table(rows, [
        ("run", "run"), ("model", "model"), ("loss", "trained with"), ("log_px", "log p(x)"), ("log_px_se", "se"),
        ("elbo_star", "ELBO[q*]"), ("elbo_encoder", "ELBO[encoder]"), ("approximation_gap", "approximation gap"),
        ("approximation_gap_se", "se"), ("amortization_gap", "amortization gap"), ("amortization_gap_se", "se"),
        ("seconds", "seconds")])
    budget = (f"{len(x)} test images (random, seed {args.seed}); q* fitted with {args.steps} Adam steps, lr {args.lr:g}, "
              f"{args.particles} samples per step; K={args.k} per proposal")
    png = RESULTS / "amortization_gap.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(per_run, png)
    path = write_results("amortization_gap", {"benchmark": "amortization_gap", "budget": budget, "command": command_line(), "machine": machine(),
                                              "rows": rows, "table": table, "plot": png.name})
    (RESULTS / "amortization_gap.md").write_text(f"Budget: {budget}.\n\n{table}\n")
    print(table)
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
