"""Benchmark: IW estimate of log p(x) for a trained 1-layer VAE on static binarized MNIST, the library
against a hand-written pure-PyTorch implementation of the same estimate for the same network.

Arms, all in this one process, on the same images:

* ``pure_torch``: :func:`pure_torch_iw` below (logits form with torch's softplus, the library's
  block sizes): the reference of every ratio,
* ``pure_torch + our softplus``: the same with :func:`pyro_vae.distributions.softplus.softplus`,
  the vectorized CPU softplus the library's ``BernoulliLogits`` uses: the same arithmetic as the
  library, so the library's ratio to this arm is its own overhead (Pyro, the evaluator's loop),
  while its ratio to ``pure_torch`` includes the faster softplus,
* ``pyro_vae``: :func:`pyro_vae.evaluation.evaluate_model` with ``diagnostics=False`` and
  ``capture="auto"`` (the chunks of guide and model captured once and replayed),
* ``pyro_vae eager``: the same with ``capture="off"`` (Pyro's handlers at every chunk),
* ``pyro_vae + diagnostics``: ``diagnostics=True`` (k-hat, posterior means), captured,
* ``per_point``: the one-datapoint-at-a-time loop that pythae's ``get_nll`` uses (each point's
  K samples in batches of 100), timed once on ``--per-point-n`` points and scaled linearly to n.

The n images are cut into ``--rounds`` segments; each round evaluates one segment with every arm,
in palindromic order (A B C D, then D C B A), so that drift of the machine hits every arm alike.
Each arm's ratio to ``pure_torch`` is taken per round (median and quartiles over rounds); its
total is the sum over rounds, i.e. the whole n. Each call of the library is one evaluation of a
segment, which traces its graphs once (a fraction of a second per call, included). The load
average is recorded before and after each round. Peak RSS is the whole process's (every arm);
``eval_memory.py`` measures each arm's in its own process.

    python benchmarks/eval_speed.py --run-dir RUN --n 10000 --k 5000 --rounds 10   # the issue's setting

Writes ``benchmarks/results/eval_speed_n{n}_k{k}.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA_DIR, command_line, machine, markdown_table, peak_rss_mb,  # noqa: E402
                    reference_vae_run, write_results)

BLOCK = 4096  # datapoints x particles per vectorized block, for every vectorized arm
SAME_ARITHMETIC = "pure_torch + our softplus"  # the hand-written arm that does the library's arithmetic


def load(run_dir, data_dir, n):
    from pyro_vae.data import load_dataset
    from pyro_vae.data.subset import choose_rows
    from pyro_vae.training import load_trained_model

    model = load_trained_model(run_dir, "best")
    x = load_dataset("binarized-mnist", data_dir, download=False).test
    (x,) = choose_rows(len(x), n).take(x)  # random rows: the test rows are grouped by class
    return model, x


def _log_weights(dec, x, loc, scale, eps, softplus=torch.nn.functional.softplus):
    """log p(z) + log p(x | z) - log q(z | x) at z = loc + scale * eps (logits form)."""
    z = loc + scale * eps
    log_q = (-0.5 * eps ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    logits = dec(z)
    return log_prior + (x * logits - softplus(logits)).sum(-1) - log_q


@torch.no_grad()
def pure_torch_iw(model, x, k, block=BLOCK, chunk=None, softplus=torch.nn.functional.softplus):
    """log (1/K) sum_k p(x, z_k) / q(z_k | x), written by hand for the VAE's networks."""
    enc, dec = model.encoder, model.decoder
    out = []
    b = max(1, min(len(x), block // k))
    c = chunk or max(1, min(k, block // b))
    for i in range(0, len(x), b):
        xb = x[i:i + b]
        loc, scale = enc(xb)
        lw = []
        for j in range(0, k, c):
            lw.append(_log_weights(dec, xb, loc, scale, torch.randn((min(c, k - j),) + loc.shape), softplus))
        out.append(torch.cat(lw).logsumexp(0) - math.log(k))
    return torch.cat(out)


@torch.no_grad()
def per_point_iw(model, x, k, batch=100):
    """pythae's ``get_nll`` loop: one datapoint at a time; for each batch of ``batch`` samples the
    datapoint is replicated and re-encoded; one ``.item()`` per datapoint."""
    enc, dec = model.encoder, model.decoder
    out = []
    for i in range(len(x)):
        lw = []
        for _ in range(k // batch):
            x_rep = x[i:i + 1].expand(batch, -1)
            loc, scale = enc(x_rep)
            lw.append(_log_weights(dec, x_rep, loc, scale, torch.randn_like(loc)))
        out.append((torch.cat(lw).logsumexp(0) - math.log(len(lw) * batch)).item())
    return torch.tensor(out)


def arms(model, k):
    """name -> ``x -> [n] log p-hat`` for each arm."""
    from pyro_vae.distributions.softplus import softplus
    from pyro_vae.evaluation import evaluate_model

    def library(capture, diagnostics):
        return lambda x: torch.as_tensor(evaluate_model(model, x, k=k, max_elements=BLOCK, progress=False, seed=0,
                                                        diagnostics=diagnostics, capture=capture).log_px_iw)

    return {"pure_torch": lambda x: pure_torch_iw(model, x, k),
            SAME_ARITHMETIC: lambda x: pure_torch_iw(model, x, k, softplus=softplus),
            "pyro_vae": library("auto", False),
            "pyro_vae eager": library("off", False), "pyro_vae + diagnostics": library("auto", True)}


def paired_rounds(model, x, k, rounds: int, names: list) -> tuple[dict, list]:
    """Per arm: per-round seconds and the estimates; per round: the load before and after."""
    fns = arms(model, k)
    segments = torch.tensor_split(x, rounds)
    for name in names:  # warm-up on a few images: imports, the first trace's one-off set-up
        fns[name](x[: max(1, BLOCK // k)])
    seconds = {name: [] for name in names}
    values = {name: [] for name in names}
    loads = []
    for r, segment in enumerate(segments):
        before = os.getloadavg()
        for name in (names if r % 2 == 0 else names[::-1]):
            torch.manual_seed(r)
            t0 = time.perf_counter()
            values[name].append(fns[name](segment))
            seconds[name].append(time.perf_counter() - t0)
        loads.append({"round": r, "images": len(segment), "load_before": list(before),
                      "load_after": list(os.getloadavg())})
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {seconds[n][-1]:.1f} s" for n in names), flush=True)
    return {name: {"seconds": seconds[name], "values": torch.cat(values[name])} for name in names}, loads


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", help="a trained VAE run on binarized-mnist (default: train 1 epoch)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--n", type=int, default=10000, help="test images")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--rounds", type=int, default=10, help="segments of the images, one paired round each")
    p.add_argument("--per-point-n", type=int, default=100, help="images timed for the per-point loop")
    p.add_argument("--arms", default="pure_torch,pure_torch + our softplus,pyro_vae,pyro_vae eager,pyro_vae + diagnostics")
    p.add_argument("--scratch", default="runs/benchmarks")
    args = p.parse_args()
    names = args.arms.split(",")
    if names[0] != "pure_torch":
        sys.exit("error: --arms must start with pure_torch (the reference of every ratio)")
    import arviz  # noqa: F401  (a one-off ~3 s import, not part of the per-datapoint cost)

    run_dir = reference_vae_run(args.run_dir, args.data_dir, args.scratch)
    model, x = load(run_dir, args.data_dir, args.n)
    load_before = os.getloadavg()
    results, loads = paired_rounds(model, x, args.k, args.rounds, names)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    per_point = per_point_iw(model, x[: args.per_point_n], args.k)
    per_point_s = (time.perf_counter() - t0) * len(x) / min(len(x), args.per_point_n)
    pure = np.array(results["pure_torch"]["seconds"])
    same = np.array(results[SAME_ARITHMETIC]["seconds"]) if SAME_ARITHMETIC in results else None
    rows = []
    for name in names:
        s = np.array(results[name]["seconds"])
        v = results[name]["values"]
        ratio = s / pure
        rows.append({"name": name, "seconds": float(s.sum()), "ratio_median": float(np.median(ratio)),
                     "ratio_q1": float(np.percentile(ratio, 25)), "ratio_q3": float(np.percentile(ratio, 75)),
                     "time_vs_pure_torch": float(s.sum() / pure.sum()), "speedup_vs_per_point": per_point_s / s.sum(),
                     "log_px_iw": float(v.mean()), "log_px_iw_se": float(v.std() / math.sqrt(len(v))),
                     "n_timed": len(v), "round_seconds": s.tolist()})
        if same is not None:  # the library's own overhead: against the hand-written code of its arithmetic
            rows[-1]["ratio_same_arithmetic_median"] = float(np.median(s / same))
    rows.append({"name": f"per_point ({args.per_point_n} images, scaled)", "seconds": per_point_s,
                 "time_vs_pure_torch": per_point_s / pure.sum(), "speedup_vs_per_point": 1.0,
                 "log_px_iw": float(per_point.mean()), "log_px_iw_se": float(per_point.std() / math.sqrt(len(per_point))),
                 "n_timed": len(per_point)})
    for r in rows:
        r["ratio_quartiles"] = f"{r['ratio_q1']:.3f} - {r['ratio_q3']:.3f}" if "ratio_q1" in r else ""
    table = markdown_table(rows, [("name", "implementation"), ("seconds", f"seconds for {args.n} images"),
                                  ("ratio_median", "time / pure torch, median over rounds"),
                                  ("ratio_quartiles", "quartiles"), ("time_vs_pure_torch", "total / pure torch total"),
                                  ("ratio_same_arithmetic_median", f"time / {SAME_ARITHMETIC}, median"),
                                  ("speedup_vs_per_point", "speed-up vs per-point loop"),
                                  ("log_px_iw", "mean log p(x) IW"), ("log_px_iw_se", "se"), ("n_timed", "images")])
    busy = [lo["round"] for lo in loads if lo["load_before"][0] > 0.5 * (os.cpu_count() or 1) + 2]
    payload = {"benchmark": "eval_speed", "command": command_line(), "n": args.n, "k": args.k, "block": BLOCK,
               "rounds": args.rounds, "run_dir": str(run_dir), "machine": machine(), "rows": rows, "loads": loads,
               "load_before": list(load_before), "load_after": list(os.getloadavg()),
               "peak_rss_mb_process": peak_rss_mb(),
               "targets": {"time_vs_pure_torch": "<= 1.05 (pyro_vae)"},  # memory: eval_memory.py, per arm
               "notes": f"{args.rounds} paired rounds in palindromic order, one segment of {args.n // args.rounds} "
                        f"images each; load average {loads[0]['load_before'][0]:.2f} at the first round, "
                        f"{loads[-1]['load_after'][0]:.2f} after the last (this process's 2 threads count about 2); "
                        f"rounds started above 0.5 per core plus our 2: {busy or 'none'}; peak RSS of the process "
                        f"(all arms) {peak_rss_mb():.0f} MB",
               "table": table}
    path = write_results(f"eval_speed_n{args.n}_k{args.k}", payload)
    print(f"IW log p(x), K={args.k}, n={args.n} static binarized MNIST test images; {payload['machine']['cpu']}")
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
