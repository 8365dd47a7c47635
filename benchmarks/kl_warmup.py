"""Does KL warm-up (``--kl-warmup``) help where posterior collapse is the problem? Measured, not assumed.

A folder of coloured blobs (made here, seeded: a red, green or blue square at a random place
on a 12x12 image) is trained with and without warm-up, over seeds, and each run's test IW bound
and active units are tabulated with the paired difference over seeds:

    python benchmarks/kl_warmup.py                         # vae, 100 epochs at batch 20, 5 seeds
    python benchmarks/kl_warmup.py --models vae,vae_cb --warmup 20 --seeds 0,1,2,3,4

Writes benchmarks/results/kl_warmup_bB.json and .md (B: the batch size). The runs live in ``--scratch`` (outside the
repository by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, command_line, machine, markdown_table, write_results  # noqa: E402

from pyro_vae.data import load_dataset  # noqa: E402
from pyro_vae.evaluation import evaluate_model  # noqa: E402
from pyro_vae.training import TrainConfig, train  # noqa: E402


def make_blobs(folder: Path, n: int = 240, size: int = 12, seed: int = 0) -> Path:
    """``n`` size x size colour images, each one square of 4-6 pixels a side in one of three colours."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.zeros((size, size, 3), np.uint8)
        side = int(rng.integers(4, 7))
        top, left = (int(v) for v in rng.integers(0, size - side + 1, 2))
        a[top:top + side, left:left + side, i % 3] = 255
        Image.fromarray(a).save(folder / f"{i:04d}.png")
    return folder


def one_run(model: str, warmup: int, seed: int, data: str, args) -> dict:
    run_dir = Path(args.scratch) / f"{model}_warmup{warmup}_seed{seed}"
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    load_before, t0 = list(os.getloadavg()), time.perf_counter()
    result = train(TrainConfig(model=model, dataset=data, epochs=args.epochs, batch_size=args.batch_size,
                               seed=seed, kl_warmup=warmup, progress=False), run_dir, pictures=False)
    x, y = load_dataset(data).for_likelihood(result.model.likelihood).split("test")
    s = evaluate_model(result.model, x, y, k=args.k, seed=seed, progress=False).summary()
    return {"model": model, "kl_warmup": warmup, "seed": seed, "test_iw": s["log_px_iw"], "test_iw_se": s["log_px_iw_se"],
            "test_elbo": s["elbo"], "test_kl": s["kl"], "active_units": s["active_units_total"],
            "train_s": time.perf_counter() - t0, "load_before": load_before, "load_after": list(os.getloadavg())}


def summarize(runs: list, models: list, warmup: int) -> list:
    rows = []
    for model in models:
        off = {r["seed"]: r for r in runs if r["model"] == model and r["kl_warmup"] == 0}
        on = {r["seed"]: r for r in runs if r["model"] == model and r["kl_warmup"] == warmup}
        seeds = sorted(set(off) & set(on))
        diff = [on[s]["test_iw"] - off[s]["test_iw"] for s in seeds]
        se = lambda v: statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else None  # noqa: E731
        rows.append({"model": model, "seeds": len(seeds),
                     "iw_without": statistics.fmean(off[s]["test_iw"] for s in seeds),
                     "iw_with": statistics.fmean(on[s]["test_iw"] for s in seeds),
                     "iw_gain": statistics.fmean(diff), "iw_gain_se": se(diff),
                     "au_without": " ".join(str(off[s]["active_units"]) for s in seeds),
                     "au_with": " ".join(str(on[s]["active_units"]) for s in seeds),
                     "kl_without": statistics.fmean(off[s]["test_kl"] for s in seeds),
                     "kl_with": statistics.fmean(on[s]["test_kl"] for s in seeds)})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="vae")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--warmup", type=int, default=20, help="--kl-warmup epochs of the runs with warm-up")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--scratch", default="/work/runs/kl_warmup")
    args = p.parse_args()

    data = str(make_blobs(Path(args.scratch) / "blobs"))
    models, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    runs = []
    for model in models:
        for seed in seeds:
            for warmup in (0, args.warmup):  # paired: the same seed with and without
                runs.append(one_run(model, warmup, seed, data, args))
                r = runs[-1]
                print(f"{model} seed {seed} warm-up {warmup}: test IW {r['test_iw']:.2f}, active units "
                      f"{r['active_units']}, KL {r['test_kl']:.2f}", flush=True)
    rows = summarize(runs, models, args.warmup)
    table = markdown_table(rows, [
        ("model", "model"), ("seeds", "seeds"), ("iw_without", "test IW, no warm-up"),
        ("iw_with", f"test IW, warm-up {args.warmup} epochs"), ("iw_gain", "gain (paired over seeds)"),
        ("iw_gain_se", "±"), ("au_without", "active units per seed, no warm-up"),
        ("au_with", "active units per seed, warm-up"), ("kl_without", "test KL, no warm-up"),
        ("kl_with", "test KL, warm-up")])
    budget = (f"240 coloured 12x12 blobs (benchmarks/kl_warmup.py make_blobs, split 0.8/0.1/0.1 by the library's "
              f"seeded rule), {args.epochs} epochs at batch {args.batch_size}, Adam 1e-3, elbo; test IW with "
              f"K={args.k} on the 24 test images; ± is the standard error of the paired difference over seeds")
    name = f"kl_warmup_b{args.batch_size}"
    write_results(name, {"benchmark": "kl_warmup", "command": command_line(), "budget": budget,
                         "machine": machine(), "runs": runs, "rows": rows, "table": table})
    (RESULTS / f"{name}.md").write_text(f"Budget: {budget}.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
