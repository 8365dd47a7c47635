"""Benchmark: IW estimate of log p(x) for a trained 1-layer VAE on static binarized MNIST.

Three implementations of the same estimate for the same network, each in a fresh process
started by this script (so that each has its own peak RSS), one after the other:

* ``pyro_vae``: :func:`pyro_vae.evaluation.evaluate_model` (any Pyro pair; vectorized over
  K and datapoints in bounded blocks; diagnostics on or off),
* ``pure_torch``: a hand-written PyTorch implementation (logits form, same block sizes),
* ``per_point``: the one-datapoint-at-a-time loop that pythae's ``get_nll`` uses (each point's
  K samples in batches of 100), timed on ``--per-point-n`` points and scaled linearly to n.

Usage::

    python benchmarks/eval_speed.py --run-dir runs/bmnist10 --n 10000 --k 5000   # the issue's setting
    python benchmarks/eval_speed.py --n 1000 --k 1000                             # quick (trains 1 epoch)

Prints a Markdown table and writes ``benchmarks/results/eval_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DEFAULT_DATA_DIR, RESULTS, machine, markdown_table, peak_rss_mb, reference_vae_run,  # noqa: E402
                    run_isolated, timed, write_results)

BLOCK = 4096  # datapoints x particles per vectorized block, for both vectorized implementations


def load(run_dir, data_dir, n):
    from pyro_vae.data import load_dataset
    from pyro_vae.training import load_trained_model

    model = load_trained_model(run_dir, "best")
    x = load_dataset("binarized-mnist", data_dir, download=False).test
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]]  # test rows are sorted by class
    return model, x


def _log_weights(dec, x, loc, scale, eps):
    """log p(z) + log p(x | z) - log q(z | x) at z = loc + scale * eps (logits form)."""
    z = loc + scale * eps
    log_q = (-0.5 * eps ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    logits = dec(z)
    return log_prior + (x * logits - torch.nn.functional.softplus(logits)).sum(-1) - log_q


@torch.no_grad()
def pure_torch_iw(model, x, k, block=BLOCK, chunk=None):
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
            lw.append(_log_weights(dec, xb, loc, scale, torch.randn((min(c, k - j),) + loc.shape)))
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


def worker(args) -> dict:
    import arviz  # noqa: F401  (a one-off ~3 s import, not part of the per-datapoint cost)

    torch.manual_seed(0)
    model, x = load(args.run_dir, args.data_dir, args.n)
    if args.impl == "pyro_vae":
        from pyro_vae.evaluation import evaluate_model

        est, seconds = timed(evaluate_model, model, x, k=args.k, max_elements=BLOCK, progress=False,
                             diagnostics=args.diagnostics)
        values = torch.as_tensor(est.log_px_iw)
    elif args.impl == "pure_torch":
        values, seconds = timed(pure_torch_iw, model, x, args.k)
    else:
        values, seconds = timed(per_point_iw, model, x[: args.per_point_n], args.k)
        seconds *= len(x) / min(len(x), args.per_point_n)  # linear in the number of points
    return {"impl": args.impl, "diagnostics": args.diagnostics, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
            "log_px_iw": float(values.mean()), "log_px_iw_se": float(values.std() / math.sqrt(len(values))),
            "n_timed": len(values)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", help="a trained VAE run on binarized-mnist (default: train 1 epoch)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--n", type=int, default=10000, help="test images")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--per-point-n", type=int, default=100, help="images timed for the per-point loop")
    p.add_argument("--scratch", default="runs/benchmarks")
    p.add_argument("--only", help="comma-separated implementations to re-measure (the others are taken from "
                   "the last partial results of the same n and k)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="pyro_vae", help=argparse.SUPPRESS)
    p.add_argument("--diagnostics", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    args.run_dir = reference_vae_run(args.run_dir, args.data_dir, args.scratch)
    script = Path(__file__).resolve()
    common = ["--worker", "--run-dir", args.run_dir, "--data-dir", args.data_dir, "--n", str(args.n),
              "--k", str(args.k), "--per-point-n", str(args.per_point_n)]
    impls = {"pure_torch": ["--impl", "pure_torch"], "pyro_vae": ["--impl", "pyro_vae"],
             "pyro_vae+diagnostics": ["--impl", "pyro_vae", "--diagnostics"], "per_point": ["--impl", "per_point"]}
    partial = RESULTS / f"eval_speed_n{args.n}_k{args.k}.partial.json"
    done = {}
    if args.only:  # re-measure some implementations, keep the others from the last (partial) run
        only = set(args.only.split(","))
        for r in json.loads(partial.read_text())["rows"] if partial.exists() else []:
            done[r["impl"] + ("+diagnostics" if r["diagnostics"] else "")] = r
        if only - set(impls) or set(impls) - only - set(done):
            sys.exit(f"error: --only takes a subset of {', '.join(impls)} and needs the others in {partial}")
        done = {name: r for name, r in done.items() if name not in only}
    for name, extra in impls.items():
        if name not in done:
            done[name] = run_isolated(script, common + extra)
            write_results(partial.stem, {"rows": [done[n] for n in impls if n in done]})  # a failure loses nothing
    rows = [done[n] for n in impls]
    base = rows[0]["seconds"]
    for r in rows:
        r["name"] = r["impl"] + (" + diagnostics" if r["diagnostics"] else "")
        r["time_vs_pure_torch"] = r["seconds"] / base
        r["speedup_vs_per_point"] = rows[3]["seconds"] / r["seconds"]
    table = markdown_table(rows, [("name", "implementation"), ("seconds", "seconds"),
                                  ("time_vs_pure_torch", "time / pure torch"),
                                  ("speedup_vs_per_point", "speed-up vs per-point loop"),
                                  ("peak_rss_mb", "peak RSS (MB)"), ("log_px_iw", "mean log p(x) IW"),
                                  ("log_px_iw_se", "se"), ("n_timed", "images timed")])
    payload = {"benchmark": "eval_speed", "n": args.n, "k": args.k, "block": BLOCK, "run_dir": args.run_dir,
               "per_point_n": args.per_point_n, "machine": machine(), "rows": rows,
               "targets": {"time_vs_pure_torch": "<= 1.1", "speedup_vs_per_point": ">= 20", "peak_rss_mb": "<= 4096"},
               "notes": "each implementation runs in its own process, one after the other; ArviZ is imported "
                        "before timing; per_point is timed on per_point_n images and scaled linearly"
                        + (f"; re-measured with --only: {args.only}" if args.only else ""),
               "table": table}
    path = write_results(f"eval_speed_n{args.n}_k{args.k}", payload)
    print(f"IW log p(x), K={args.k}, n={args.n} static binarized MNIST test images; {payload['machine']['cpu']}")
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
