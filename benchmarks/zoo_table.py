"""Train every zoo model briefly and tabulate its test ELBO and IW bound (one command).

    python benchmarks/zoo_table.py                # mnist5k (moons for the 2-D models), 5 epochs each
    python benchmarks/zoo_table.py --epochs 20 --k 1000

Writes benchmarks/results/zoo_table.json and .md. A short budget: these numbers show that every
model trains and evaluates, not what each reaches when trained to convergence.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, markdown_table, measured, write_results  # noqa: E402

DATASET = {"vae_gaussian": "moons", "linear_gaussian": "moons"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--eval-n", type=int, default=500, help="test datapoints evaluated")
    p.add_argument("--models", default=None, help="comma-separated subset (default: the whole zoo)")
    p.add_argument("--scratch", default="runs/zoo")
    args = p.parse_args()

    from pyro_vae.data import load_dataset
    from pyro_vae.data.subset import choose_rows
    from pyro_vae.evaluation import evaluate_model
    from pyro_vae.registry import model_entries
    from pyro_vae.training import TrainConfig, train

    names = args.models.split(",") if args.models else [e.name for e in model_entries()]
    rows = []
    for name in names:
        dataset = DATASET.get(name, "mnist5k")
        run_dir = Path(args.scratch) / name
        shutil.rmtree(run_dir, ignore_errors=True)
        load_before = list(os.getloadavg())
        t0 = time.perf_counter()
        cfg = TrainConfig(model=name, dataset=dataset, epochs=args.epochs, batch_size=args.batch_size,
                          progress=False)  # each model's default loss
        result = train(cfg, run_dir)
        seconds = time.perf_counter() - t0
        model = result.model
        x, y = load_dataset(dataset).for_likelihood(model.likelihood).split("test")
        x, y = choose_rows(len(x), args.eval_n).take(x, y)  # random rows (pyro_vae.data.subset)
        est = evaluate_model(model, x, y, k=args.k, progress=False)
        s = est.summary()
        row = {"model": name, "dataset": dataset, "loss": cfg.loss, "epochs": args.epochs,
               "train_s": seconds, "test_elbo": s["elbo"], "test_elbo_se": s["elbo_se"],
               "test_iw": s["log_px_iw"], "test_iw_se": s["log_px_iw_se"], "active_units": s["active_units_total"],
               "khat_share_above_0.7": s["khat_share_above_0.7"], "machine": machine(),
               "load_before": load_before, "load_after": list(os.getloadavg())}
        if getattr(model, "labelled_examples", 0) and y is not None:  # semi-supervised: its classifier's accuracy
            row["accuracy"] = float((model.classify(x) == y).float().mean())
        rows.append(row)
        print(f"{name:>16} {dataset:>8}  ELBO {s['elbo']:8.2f}  IW {s['log_px_iw']:8.2f}  ({seconds:.0f} s)", flush=True)
    columns = [("model", "model"), ("dataset", "dataset"), ("loss", "loss"), ("epochs", "epochs"),
               ("train_s", "train s"), ("test_elbo", "test ELBO"), ("test_elbo_se", "se"),
               ("test_iw", f"test IW K={args.k}"), ("test_iw_se", "se"), ("active_units", "active units"),
               ("accuracy", "accuracy"), ("measured", "measured")]
    budget = (f"{args.epochs} epochs, batch {args.batch_size}, Adam 1e-3, seed 0; evaluated on {args.eval_n} test "
              f"points with K={args.k}")
    previous = RESULTS / "zoo_table.json"
    if args.models and previous.exists():  # a subset: replace those rows of the last full table
        import json

        old = json.loads(previous.read_text())
        if old.get("budget") == budget:
            kept = [r for r in old["rows"] if r["model"] not in names]
            for r in kept:  # rows from before rows recorded their own machine
                r.setdefault("machine", old["machine"])
            rows = sorted(kept + rows, key=lambda r: r["model"])
    table = markdown_table([{**r, "measured": measured(r)} for r in rows], columns)
    payload = {"benchmark": "zoo_table", "budget": budget, "machine": machine(), "rows": rows, "table": table}
    path = write_results("zoo_table", payload)
    (RESULTS / "zoo_table.md").write_text(f"Budget: {budget}.\n\n{table}\n")
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
