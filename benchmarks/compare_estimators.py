"""Compare ELBO estimators on one model and dataset (issue: estimator comparison).

For every estimator and K:
* gradient signal-to-noise ratio and variance of the guide's and the model's parameters, from
  ``--draws`` gradient draws at one fixed set of parameters (a VAE pre-trained with ``elbo`` for
  ``--ref-epochs``), on one fixed batch of ``--snr-batch`` training images (Rainforth et al. 2018);
* a training run from the same initialisation and seed with the same budget (``--epochs``):
  the training bound of the last epoch, time per step;
* the test IW bound with ``--eval-k`` samples on ``--eval-n`` test images after that budget.

MIWAE and PIWAE use ``num_outer`` = 2 groups of K particles (2K in all: see the particles column).

    python benchmarks/compare_estimators.py                         # mnist5k, 2 epochs each
    python benchmarks/compare_estimators.py --dataset binarized-mnist --epochs 5 --eval-k 5000

Writes benchmarks/results/compare_<dataset>.json, .md and snr_vs_k_<dataset>.png.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, RESULTS, machine, markdown_table, write_results  # noqa: E402

ESTIMATORS = ["elbo", "iwae", "dreg", "stl", "miwae", "ciwae", "piwae"]
OUTER = {"miwae": 2, "piwae": 2}


def make(name, k):
    from pyro_vae.infer.losses import make_loss

    return make_loss(name, k, **({"num_outer": OUTER[name]} if name in OUTER else {}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--ks", default="1,5,50")
    p.add_argument("--epochs", type=int, default=2, help="training budget per estimator and K")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--ref-epochs", type=int, default=3, help="pre-training of the SNR reference point")
    p.add_argument("--draws", type=int, default=100, help="gradient draws for SNR")
    p.add_argument("--snr-batch", type=int, default=64)
    p.add_argument("--eval-k", type=int, default=1000)
    p.add_argument("--eval-n", type=int, default=500)
    p.add_argument("--scratch", default="runs/compare")
    args = p.parse_args()

    import pyro

    from pyro_vae.data import load_dataset
    from pyro_vae.evaluation import evaluate_model
    from pyro_vae.infer.gradient_stats import gradient_stats
    from pyro_vae.training import TrainConfig, load_trained_model, train

    scratch = Path(args.scratch) / args.dataset
    base = dict(dataset=args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, progress=False, seed=0)
    ref_dir = scratch / "reference"
    if not (ref_dir / "checkpoint_last.pt").exists():
        train(TrainConfig(epochs=args.ref_epochs, **base), ref_dir)
    data = load_dataset(args.dataset, args.data_dir).for_likelihood("bernoulli")
    snr_x = data.train_rows(torch.arange(args.snr_batch), torch.Generator().manual_seed(0))
    test_x = data.test[torch.randperm(len(data.test), generator=torch.Generator().manual_seed(0))[: args.eval_n]]

    rows = []
    for name in args.estimators.split(","):
        for k in [int(v) for v in args.ks.split(",")]:
            pyro.clear_param_store()
            ref = load_trained_model(ref_dir, "last")
            stats = gradient_stats(ref.model, ref.guide, make(name, k), (snr_x,), num_draws=args.draws)
            run_dir = scratch / f"{name}_k{k}"
            if (run_dir / "config.json").exists():
                import shutil

                shutil.rmtree(run_dir)
            loss_opts = {"num_outer": OUTER[name]} if name in OUTER else {}
            result = train(TrainConfig(epochs=args.epochs, loss=name, num_particles=k, loss_options=loss_opts, **base),
                           run_dir)
            steps = math.ceil(len(data.train) / args.batch_size)
            last = result.metrics[-1]
            est = evaluate_model(result.model, test_x, k=args.eval_k, progress=False, diagnostics=False)
            rows.append({
                "estimator": name, "k": k, "particles": k * OUTER.get(name, 1),
                "train_bound": last["train_objective"], "test_iw": float(est.log_px_iw.mean()),
                "test_iw_se": float(est.log_px_iw.std() / math.sqrt(est.n)), "test_elbo": float(est.elbo.mean()),
                "ms_per_step": 1000 * sum(m["train_time_s"] for m in result.metrics) / (steps * args.epochs),
                **stats.as_dict(),
            })
            print(f"{name:>6} K={k:<3} bound {last['train_objective']:.2f}  test IW {rows[-1]['test_iw']:.2f}  "
                  f"SNR guide {stats.snr_guide:.3f} model {stats.snr_model:.3f}", flush=True)

    columns = [("estimator", "estimator"), ("k", "K"), ("particles", "particles"),
               ("train_bound", "train bound (last epoch)"), ("test_iw", f"test IW K={args.eval_k}"),
               ("test_iw_se", "se"), ("ms_per_step", "ms/step"), ("snr_guide", "SNR guide"),
               ("snr_model", "SNR model"), ("variance_guide", "var guide"), ("variance_model", "var model")]
    table = markdown_table(rows, columns)
    budget = (f"{args.dataset}, batch {args.batch_size}, {args.epochs} epochs per run, Adam 1e-3; SNR from "
              f"{args.draws} draws on {args.snr_batch} images at a VAE pre-trained {args.ref_epochs} epochs with elbo; "
              f"test IW with K={args.eval_k} on {args.eval_n} test images")
    payload = {"benchmark": "compare_estimators", "budget": budget, "machine": machine(), "rows": rows, "table": table}
    path = write_results(f"compare_{args.dataset}", payload)
    (RESULTS / f"compare_{args.dataset}.md").write_text(f"Budget: {budget}.\nMachine: {payload['machine']}\n\n{table}\n")
    plot_snr(rows, RESULTS / f"snr_vs_k_{args.dataset}.png", budget)
    print(table)
    print(f"wrote {path}")


def plot_snr(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, key, label in ((axes[0], "snr_guide", "guide (inference network)"), (axes[1], "snr_model", "model (generative network)")):
        for name in dict.fromkeys(r["estimator"] for r in rows):
            pts = sorted((r["k"], r[key]) for r in rows if r["estimator"] == name)
            ax.plot([k for k, _ in pts], [v for _, v in pts], "o-", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("K (particles per group)")
        ax.set_ylabel("mean SNR |E g| / sd g")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
