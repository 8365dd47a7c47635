"""Test NLL on static binarized MNIST next to the published numbers (Burda et al. 2015, VampPrior).

Each row trains one model/estimator pair on the 50k training images with Burda et al.'s
schedule (batch 20; stage i = 0..7 runs 3**i passes at lr 1e-3 * 10**(-i/7), 3280 passes in
all), cut to a budget, then evaluates the last checkpoint on the 10k test images: test NLL =
-IW_K (K=5000) with its standard error, test ELBO, active units, PSIS share of k-hat > 0.7.

    python benchmarks/nll_table.py --minutes 3                  # per-row time budget (this CPU)
    python benchmarks/nll_table.py --epochs 3280 --device cuda  # the published setting
    python benchmarks/nll_table.py --rows vae-1l,iwae-1l-k5 --epochs 10
    python benchmarks/nll_table.py --minutes 3 --rows vae-1l --ais-n 100 --ais-steps 1000  # + AIS columns

A row whose run already reached the budget is evaluated again without retraining (delete
``--scratch`` to start over); an interrupted run resumes from its last epoch. Writes
benchmarks/results/nll_table.json (results so far after every row) and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA_DIR, RESULTS, command_line, machine, markdown_table, measured,  # noqa: E402
                    write_results)

from pyro_vae.training.schedule import SCHEDULES  # noqa: E402
from pyro_vae.data.subset import choose_rows  # noqa: E402

BURDA = "Burda et al. 2015"
VAMP = "Tomczak & Welling 2018"
PYTHAE = "pythae"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    model: str
    loss: str
    k: int
    published: dict = field(default_factory=dict)  # source -> test NLL in nats


ROWS = [
    Row("vae-1l", "VAE 1L", "vae", "elbo", 1, {BURDA: 88.71, PYTHAE: 89.78}),
    Row("vae-2l", "VAE 2L", "hvae2", "elbo", 1, {BURDA: 88.08}),
    Row("iwae-1l-k5", "IWAE 1L k=5", "vae", "iwae", 5, {BURDA: 87.63}),
    Row("iwae-1l-k50", "IWAE 1L k=50", "vae", "iwae", 50, {BURDA: 87.10, PYTHAE: 86.82}),
    Row("iwae-2l-k5", "IWAE 2L k=5", "hvae2", "iwae", 5, {BURDA: 86.17}),
    Row("iwae-2l-k50", "IWAE 2L k=50", "hvae2", "iwae", 50, {BURDA: 85.32}),
    Row("dreg-1l-k5", "DReG 1L k=5", "vae", "dreg", 5, {}),
    Row("vamp", "VampPrior", "vamp", "elbo", 1, {VAMP: 85.57, PYTHAE: 85.79}),
]


def train_row(row: Row, args, run_dir: Path):
    """Train (or resume, or reuse) the row's run; returns (model, epochs done, training seconds)."""
    from pyro_vae.training import RunDir, TrainConfig, load_trained_model, resume_config, train

    run = RunDir(run_dir)
    metrics = run.metrics() if run.exists() else []
    done = metrics[-1]["epoch"] if metrics else 0
    budget_met = done >= args.epochs or (args.minutes is not None and metrics
                                         and metrics[-1]["elapsed_s"] >= args.minutes * 60)
    if not budget_met:
        if run.exists() and (run_dir / "checkpoint_last.pt").exists():
            cfg = resume_config(run_dir, args.epochs)
            left = None if args.minutes is None else args.minutes * 60 - (metrics[-1]["elapsed_s"] if metrics else 0)
            train(cfg, run_dir, resume=True, max_seconds=left)
        else:
            cfg = TrainConfig(model=row.model, dataset="binarized-mnist", data_dir=args.data_dir, loss=row.loss,
                              num_particles=row.k, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              lr_schedule=args.lr_schedule, seed=args.seed, device=args.device,
                              progress=args.progress)
            train(cfg, run_dir, max_seconds=None if args.minutes is None else args.minutes * 60)
        metrics = run.metrics()
    return load_trained_model(run_dir, "last", args.device), metrics[-1]["epoch"], metrics[-1]["elapsed_s"]


def evaluate_row(row: Row, args, model, x) -> dict:
    from pyro_vae.evaluation import evaluate_model

    t0 = time.perf_counter()
    est = evaluate_model(model, x, k=args.k, seed=args.seed, progress=args.progress)
    s = est.summary()
    out = {"test_nll": s["nll"], "test_nll_se": s["log_px_iw_se"], "test_elbo": s["elbo"],
           "test_elbo_se": s["elbo_se"], "bits_per_dim": s.get("bits_per_dim"),
           "active_units": s["active_units_total"], "khat_share_above_0.7": s["khat_share_above_0.7"],
           "eval_s": time.perf_counter() - t0}
    if args.ais_n:
        out.update(ais_cells(model, x, est.log_px_iw, args))
    return out


def ais_cells(model, x, iw_points, args) -> dict:
    """AIS (16 chains, 10 leapfrog steps, ``--ais-steps``) on ``--ais-n`` random test images, with
    IW_K on the same images (paired), for the AIS columns."""
    import numpy as np
    import torch

    from pyro_vae.evaluation.ais import evaluate_ais

    idx = torch.as_tensor(choose_rows(len(x), args.ais_n, args.seed + 1).rows)
    t0 = time.perf_counter()
    est = evaluate_ais(model.model, model.guide, x[idx], num_chains=16, num_steps=args.ais_steps, leapfrog_steps=10,
                       seed=args.seed, progress=args.progress)
    iw = np.asarray(iw_points)[idx.numpy()]
    gain = est.log_px_ais - iw
    return {"ais_n": int(len(idx)), "ais_steps": args.ais_steps, "ais_nll": float(-est.log_px_ais.mean()),
            "ais_nll_se": float(est.log_px_ais.std(ddof=1) / np.sqrt(len(idx))), "iw_nll_same_images": float(-iw.mean()),
            "ais_gain": float(gain.mean()), "ais_gain_se": float(gain.std(ddof=1) / np.sqrt(len(idx))),
            "ais_s": time.perf_counter() - t0}


def published_cells(row: Row, nll: float) -> dict:
    return {"published": "; ".join(f"{v:.2f} ({src})" for src, v in row.published.items()) or "n/a",
            "gap_to_best_published": nll - min(row.published.values()) if row.published else None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=None, help=f"comma-separated subset of: {', '.join(r.key for r in ROWS)}")
    p.add_argument("--epochs", type=int, default=3280, help="passes over the data per row (3280 = Burda's)")
    p.add_argument("--minutes", type=float, default=None, help="training-time budget per row")
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="burda", choices=sorted(SCHEDULES))
    p.add_argument("--k", type=int, default=5000, help="importance samples per test image")
    p.add_argument("--n-test", type=int, default=10000, help="test images evaluated (all 10k by default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ais-n", type=int, default=0, help="also AIS on this many random test images (0: none)")
    p.add_argument("--ais-steps", type=int, default=1000, help="AIS intermediate distributions (16 chains)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--scratch", default="runs/nll_table")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args()

    import torch

    from pyro_vae.data import load_dataset
    from pyro_vae.errors import PyroVAEError

    by_key = {r.key: r for r in ROWS}
    try:
        keys = args.rows.split(",") if args.rows else list(by_key)
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise PyroVAEError(f"unknown row(s) {unknown}: choose from {', '.join(by_key)}")
        x = load_dataset("binarized-mnist", args.data_dir, download=False).test
    except PyroVAEError as e:
        sys.exit(f"error: {e}")
    (x,) = choose_rows(len(x), args.n_test, args.seed).take(x)  # random rows: the test rows are grouped by class
    x = x.to(args.device)

    budget = (f"Burda schedule ({args.lr_schedule}, lr {args.lr:g}), batch {args.batch_size}, at most "
              f"{args.epochs} epochs" + (f" and {args.minutes:g} min of training" if args.minutes else "")
              + f" per row, seed {args.seed}; test NLL = -IW with K={args.k} on {len(x)} test images "
              f"(static binarized MNIST, {args.device})")
    previous = RESULTS / "nll_table.json"
    rows = []
    if previous.exists():  # rows measured earlier under the same budget are kept
        old = json.loads(previous.read_text())
        if old.get("budget") == budget:
            rows = [r for r in old["rows"] if r["key"] not in keys]
            for r in rows:  # rows from before rows recorded their own machine and command
                r.setdefault("machine", old["machine"])
                r.setdefault("command", old["command"])
    for key in keys:
        row = by_key[key]
        torch.manual_seed(args.seed)
        load_before = list(os.getloadavg())
        model, epochs, train_s = train_row(row, args, Path(args.scratch) / key)
        result = {"key": key, "model": row.label, "zoo_model": row.model, "loss": row.loss, "train_k": row.k,
                  "epochs": epochs, "train_min": train_s / 60, **evaluate_row(row, args, model, x),
                  "machine": machine(), "command": command_line(), "load_before": load_before,
                  "load_after": list(os.getloadavg())}
        result.update(published_cells(row, result["test_nll"]))
        rows = [r for r in rows if r["key"] != key] + [result]
        rows.sort(key=lambda r: list(by_key).index(r["key"]))
        table = render(rows, args.k)
        write_results("nll_table", {"benchmark": "nll_table", "budget": budget,
                                    "command": table_command([r["key"] for r in rows], list(by_key)),
                                    "machine": machine(), "rows": rows, "table": table})
        (RESULTS / "nll_table.md").write_text(f"Budget: {budget}.\n\n{table}\n")  # after every row, too
        print(f"{row.label:>14}: NLL {result['test_nll']:.2f} ± {result['test_nll_se']:.2f}, ELBO "
              f"{result['test_elbo']:.2f} ({epochs} epochs, {train_s / 60:.1f} min train, "
              f"{result['eval_s'] / 60:.1f} min eval)", flush=True)
    print(render(rows, args.k))
    print(f"wrote {RESULTS / 'nll_table.json'}")


def table_command(table_keys: list[str], all_keys: list[str]) -> str:
    """The command that regenerates the whole table: this call's, with ``--rows`` naming the table's rows
    (dropped when it has them all), since a table merges rows measured by several calls."""
    args, rest = [], iter(sys.argv[1:])
    for arg in rest:
        if arg == "--rows":
            next(rest, None)  # and its value
        elif not arg.startswith("--rows="):
            args.append(arg)
    if sorted(table_keys) != sorted(all_keys):
        args += ["--rows", ",".join(table_keys)]
    return command_line(args)


def render(rows: list[dict], k: int) -> str:
    rows = [{**r, "measured": measured(r)} for r in rows]
    return markdown_table(rows, [
        ("model", "model"), ("epochs", "epochs"), ("train_min", "train min"),
        ("test_nll", f"test NLL (-IW K={k})"), ("test_nll_se", "se"), ("test_elbo", "test ELBO"),
        ("active_units", "active units"), ("khat_share_above_0.7", "k-hat > 0.7"), ("eval_s", "eval s"),
        ("published", "published NLL"), ("gap_to_best_published", "ours - best published"),
        ("ais_nll", "AIS NLL"), ("iw_nll_same_images", f"IW K={k} NLL, same images"), ("ais_gain", "AIS gain (nats)"),
        ("ais_gain_se", "±"), ("ais_n", "AIS images"), ("ais_steps", "AIS steps"), ("measured", "measured")])


if __name__ == "__main__":
    main()
