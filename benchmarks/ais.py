"""Benchmark: AIS and BDMC on a trained 1-layer VAE (static binarized MNIST), against IW_5000 and
against a hand-written pure-PyTorch AIS of the same network and settings.

1. IW with K=5000 on a random subset of the test images (``--iw-n``, default 1000).
2. AIS (16 chains, 10 leapfrog steps, sigmoid schedule, from the guide) at each
   ``STEPS:N`` of ``--ais`` on the first N of the same images: mean log p(x), the nats gained
   over IW_5000 on the same images (paired), acceptance, ESS, wall time.
3. BDMC on ``--bdmc-n`` datapoints simulated from the model at each of ``--bdmc-steps``:
   forward (lower) and reverse (upper) AIS and their gap; ``results/ais/bdmc_gap.png``.
4. Time per AIS call, library (:func:`pyro_vae.evaluation.ais.evaluate_ais` on the Pyro pair)
   against :func:`reference_ais` below, in paired interleaved rounds (ABBA), medians and
   quartiles, and their estimates side by side (different random streams: equal within error),
   for each block size of ``--timing-n``: 204 images x 20 chains is one block of the library's
   default ``max_elements`` (4096), what a run on 1000 images computes; 50 shows the per-call
   Python cost on a small block.

    python benchmarks/ais.py --run-dir runs/ais/vae-1l                    # this CPU's budget
    python benchmarks/ais.py --ais 100:1000,1000:1000,10000:1000 --bdmc-n 100 --bdmc-steps 100,1000,10000 \\
        --device cuda                                                      # the issue's setting

The run is trained first when ``--run-dir`` has no checkpoint (``pyro-vae train --minutes``).
Writes benchmarks/results/ais.json, ais.md and results/ais/ (the gap table and plot).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, RESULTS, command_line, machine, markdown_table, write_results  # noqa: E402

SETTINGS = {"num_chains": 16, "leapfrog_steps": 10, "schedule": "sigmoid", "init": "guide", "tune_chains": 4}


# ---- the reference: the same AIS written by hand in PyTorch for this network ---------------------
def reference_ais(encoder, decoder, x, *, num_chains, tune_chains, num_steps, leapfrog_steps, step_size, gain,
                  target, jitter, betas, generator=None, softplus=torch.nn.functional.softplus):
    """Forward AIS from q(z|x) = N(loc, scale) to p(z|x) for a Bernoulli decoder and N(0, I) prior:
    the algorithm of :mod:`pyro_vae.evaluation.ais` (tuning chains set a per-datapoint step size, each
    chain's step jittered by U(1 - jitter, 1 + jitter), the guide's standard deviations set the mass
    matrix, float64 weights), with the prior, likelihood and guide densities written out and grad of
    log q in closed form. ``softplus`` is torch's by default; the timing's ``reference_same`` arm passes
    :func:`pyro_vae.distributions.softplus.softplus`, the vectorized CPU form the library's Bernoulli
    uses, so that its ratio is the library's own overhead on the same arithmetic. Returns ``[N]`` log p-hat."""
    with torch.no_grad():
        loc, scale = encoder(x)
    c = num_chains + tune_chains
    z = loc + scale * torch.randn((c,) + loc.shape, generator=generator)
    s2 = scale ** 2

    def evaluate(z):
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            logits = decoder(z)
            log_lik = (x * logits - softplus(logits)).sum(-1)  # as BernoulliLogits
            log_b = log_lik - 0.5 * (z ** 2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
            (grad_b,) = torch.autograd.grad(log_b.sum(), z)
        z = z.detach()
        log_a = (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        return z, log_a, log_b.detach(), -(z - loc) / s2, grad_b

    z, a, b, ga, gb = evaluate(z)
    log_w = torch.zeros(a.shape, dtype=torch.float64)
    log_eps = torch.full((x.shape[0],), math.log(step_size))
    for t in range(1, len(betas)):
        log_w += float(betas[t] - betas[t - 1]) * (b - a).double()
        if t == len(betas) - 1:
            break
        beta = float(betas[t])
        eps = log_eps.exp()[:, None] * (1 + jitter * (2 * torch.rand(a.shape + (1,), generator=generator) - 1))
        p = torch.randn(z.shape, generator=generator) / scale
        h0 = -((1 - beta) * a + beta * b) + 0.5 * ((p * scale) ** 2).sum(-1)
        new = (z, a, b, ga, gb)
        p = p + 0.5 * eps * ((1 - beta) * ga + beta * gb)
        for step in range(leapfrog_steps):
            new = evaluate(new[0] + eps * s2 * p)
            g = (1 - beta) * new[3] + beta * new[4]
            p = p + (1.0 if step < leapfrog_steps - 1 else 0.5) * eps * g
        h1 = -((1 - beta) * new[1] + beta * new[2]) + 0.5 * ((p * scale) ** 2).sum(-1)
        prob = torch.nan_to_num((h0 - h1).clamp(max=0).exp(), nan=0.0)
        keep = torch.rand(prob.shape, generator=generator) < prob
        z, ga, gb = (torch.where(keep[..., None], n, o) for n, o in ((new[0], z), (new[3], ga), (new[4], gb)))
        a, b = torch.where(keep, new[1], a), torch.where(keep, new[2], b)
        if tune_chains:
            log_eps = (log_eps + gain * (prob[num_chains:].mean(0) - target)).clamp(-9.2, 2.3)
    lw = log_w[:num_chains]
    return lw.logsumexp(0) - math.log(num_chains)


# ---- the parts -------------------------------------------------------------------------------------
def ensure_run(args) -> Path:
    run = Path(args.run_dir)
    if not (run / "checkpoint_last.pt").exists():
        subprocess.run([sys.executable, "-m", "pyro_vae", "train", "--model", "vae", "--dataset", "binarized-mnist",
                        "--data-dir", args.data_dir, "--epochs", "1000", "--minutes", str(args.train_minutes),
                        "--batch-size", "100", "--out", str(run), "--no-progress"], check=True)
    return run


def fmt_q(q) -> str:
    return f"{q[1]:.3f} [{q[0]:.3f}, {q[2]:.3f}]"


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")


def time_against_reference(model, x, args, run_dir, run_epochs) -> dict:
    """One AIS call per arm per round, in palindromic order (library, reference, reference_same, then
    reversed): ``reference`` is :func:`reference_ais` with torch's softplus, ``reference_same`` with
    the library's vectorized one (same arithmetic as the library). Ratios are per round; the row
    records the run, machine and load it was timed under."""
    from pyro_vae.distributions.softplus import softplus
    from pyro_vae.evaluation.ais import beta_schedule, evaluate_ais
    from pyro_vae.evaluation.hmc import GAIN as gain
    from pyro_vae.evaluation.hmc import JITTER, TARGET_ACCEPT
    betas = beta_schedule(SETTINGS["schedule"], args.timing_steps)
    times = {"library": [], "reference": [], "reference_same": []}
    values = {name: [] for name in times}

    def lib(seed):
        t0 = time.perf_counter()
        est = evaluate_ais(model.model, model.guide, x, num_steps=args.timing_steps, step_size=args.step_size,
                           seed=seed, progress=False, **{k: v for k, v in SETTINGS.items()})
        times["library"].append(time.perf_counter() - t0)
        values["library"].append(float(est.log_px_ais.mean()))

    def by_hand(name, sp):
        def ref(seed):
            gen = torch.Generator().manual_seed(seed)
            t0 = time.perf_counter()
            with torch.no_grad():
                v = reference_ais(model.encoder, model.decoder, x, num_chains=SETTINGS["num_chains"],
                                  tune_chains=SETTINGS["tune_chains"], num_steps=args.timing_steps,
                                  leapfrog_steps=SETTINGS["leapfrog_steps"], step_size=args.step_size, gain=gain,
                                  target=TARGET_ACCEPT, jitter=JITTER, betas=betas, generator=gen, softplus=sp)
            times[name].append(time.perf_counter() - t0)
            values[name].append(float(v.mean()))
        return ref

    arms = [lib, by_hand("reference", torch.nn.functional.softplus), by_hand("reference_same", softplus)]
    for fn in arms:  # warm-up, not counted
        fn(0)
    for name in times:
        times[name].clear(), values[name].clear()
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for fn in (arms if r % 2 == 0 else arms[::-1]):
            fn(r + 1)
    load_after = os.getloadavg()
    q = lambda v: [float(np.percentile(v, 25)), float(np.median(v)), float(np.percentile(v, 75))]  # noqa: E731
    lib_t = np.array(times["library"])
    return {"n": len(x), "num_steps": args.timing_steps, "rounds": args.rounds, "run": str(run_dir),
            "run_epochs": run_epochs, "machine": machine(), "command": command_line(),
            "library_s_q1_median_q3": q(lib_t), "reference_s_q1_median_q3": q(times["reference"]),
            "reference_same_s_q1_median_q3": q(times["reference_same"]),
            "ratio_q1_median_q3": q(lib_t / np.array(times["reference"])),
            "ratio_same_q1_median_q3": q(lib_t / np.array(times["reference_same"])),
            "library_mean_log_px": float(np.mean(values["library"])),
            "reference_mean_log_px": float(np.mean(values["reference"])),
            "reference_same_mean_log_px": float(np.mean(values["reference_same"])),
            "library_values": values["library"], "reference_values": values["reference"],
            "reference_same_values": values["reference_same"], "load_before": list(load_before),
            "load_after": list(load_after)}


def linear_gaussian_check(steps_list=(1, 10, 100, 1000), n=100) -> list[dict]:
    """Forward and reverse AIS against the exact log p(x) of a linear-Gaussian model (float64),
    with an untrained amortized guide: the estimates' mean error over n datapoints at each number
    of steps, with its Monte Carlo standard error."""
    from pyro_vae.evaluation import evaluate_log_likelihood
    from pyro_vae.evaluation.ais import evaluate_ais
    from pyro_vae.registry import build_model

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        m = build_model("linear_gaussian", {"x_dim": 6, "kind": "real"}, z_dim=3, guide="amortized", seed=0)
        with torch.no_grad():
            m.b.copy_(torch.linspace(-1, 1, 6))
            torch.manual_seed(1)
            x = m.marginal().sample((n,))
            exact = m.exact_log_px(x).numpy()
            z = m.exact_posterior(x).sample()
        iw = evaluate_log_likelihood(m.model, m.guide, x, k=16, progress=False).log_px_iw
        rows = []
        for steps in steps_list:
            common = dict(num_chains=16, num_steps=steps, leapfrog_steps=10, progress=False)
            fwd = evaluate_ais(m.model, m.guide, x, seed=1, record_step_sizes=True, **common)
            rev = evaluate_ais(m.model, m.guide, x, seed=2, start={"z": z}, step_sizes=fwd.step_sizes, **common)
            se = lambda e: float(np.sqrt(np.mean(e.log_px_ais_mc_se ** 2) / n))  # noqa: E731
            rows.append({"num_steps": steps, "n": n, "forward_minus_exact": float(np.mean(fwd.log_px_ais - exact)),
                         "forward_se": se(fwd), "reverse_minus_exact": float(np.mean(-rev.log_px_ais - exact)),
                         "reverse_se": se(rev), "iw16_minus_exact": float(np.mean(iw - exact)),
                         "acceptance": float(np.nanmean(fwd.acceptance)) if steps > 1 else None})
        return rows
    finally:
        torch.set_default_dtype(old)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/ais/vae-1l")
    p.add_argument("--train-minutes", type=float, default=6)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--iw-n", type=int, default=1000)
    p.add_argument("--iw-k", type=int, default=5000)
    p.add_argument("--ais", default="100:500,1000:100,10000:5", help="STEPS:N,... AIS settings and their test images")
    p.add_argument("--bdmc-n", type=int, default=100)
    p.add_argument("--bdmc-steps", default="10,100,1000")
    p.add_argument("--step-size", type=float, default=0.3)
    p.add_argument("--timing-n", default="50,204", help="comma-separated images per timed call")
    p.add_argument("--timing-steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip", default="", help="comma-separated parts to reuse from the last results: iw,ais,bdmc,lg,timing")
    args = p.parse_args()

    import json

    from pyro_vae.data.subset import choose_rows
    from pyro_vae.evaluation import evaluate_model
    from pyro_vae.evaluation.ais import evaluate_ais
    from pyro_vae.evaluation.bdmc import bdmc
    from pyro_vae.evaluation.report import BDMC_COLUMNS, write_bdmc_gap
    from pyro_vae.runs import load_run

    out = RESULTS / "ais"
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((RESULTS / "ais.json").read_text()) if (RESULTS / "ais.json").exists() else {}
    skip = set(filter(None, args.skip.split(",")))
    run_dir = ensure_run(args)
    run = load_run(run_dir, "last", torch.device(args.device), data_dir=args.data_dir)
    model = run.model
    x_all, _ = run.data.split("test")
    iw_rows = choose_rows(len(x_all), args.iw_n, args.seed)
    (x,) = iw_rows.take(torch.as_tensor(x_all))
    x = x.float().to(args.device)

    def among_iw(n):  # positions in the IW images of the n random rows (among them: same seed, smaller n)
        return np.searchsorted(iw_rows.rows, choose_rows(len(x_all), n, args.seed).rows)

    metrics = run.metrics[-1] if getattr(run, "metrics", None) else {}
    result = {"benchmark": "ais", "command": command_line(), "machine": machine(), "run": str(run_dir),
              "run_epochs": metrics.get("epoch"), "load_before": list(os.getloadavg()), "settings": SETTINGS,
              "step_size": args.step_size, "images": f"random test images (pyro_vae.data.subset, subset seed {args.seed}); each "
              "AIS row's N images are among the IW row's (the same rule and seed)"}
    estimates = {"iw", "ais", "bdmc"}
    if skip >= estimates:
        # only the timing (and the linear-Gaussian check) re-run: the estimates keep their provenance,
        # and each timing row records its own run and machine
        result.update({k: previous[k] for k in ("command", "machine", "run", "run_epochs", "load_before")})
    elif skip & estimates and previous.get("run") != str(run_dir):
        sys.exit(f"ais.py: --skip {','.join(sorted(skip & estimates))} reuses estimates of run {previous.get('run')}, "
                 f"but --run-dir is {run_dir}: AIS and IW must come from one run; skip all of iw,ais,bdmc or none")

    if "iw" in skip:
        result["iw"], iw_points = previous["iw"], np.array(previous["iw_points"])
    else:
        t0 = time.perf_counter()
        iw = evaluate_model(model, x, k=args.iw_k, seed=args.seed, progress=sys.stderr.isatty())
        s = iw.summary()
        iw_points = iw.log_px_iw
        result["iw"] = {"k": args.iw_k, "n": len(x), "log_px_iw": s["log_px_iw"], "log_px_iw_se": s["log_px_iw_se"],
                        "elbo": s["elbo"], "khat_share_above_0.7": s["khat_share_above_0.7"],
                        "seconds": time.perf_counter() - t0}
        print(f"IW_{args.iw_k} on {len(x)}: {s['log_px_iw']:.2f} ± {s['log_px_iw_se']:.2f} "
              f"({result['iw']['seconds']:.0f} s)", flush=True)
    result["iw_points"] = [float(v) for v in iw_points]

    rows = previous.get("ais_rows", []) if "ais" in skip else []
    if "ais" not in skip:
        for item in args.ais.split(","):
            steps, n = (int(v) for v in item.split(":"))
            t0 = time.perf_counter()
            load0 = os.getloadavg()
            at = among_iw(n)
            est = evaluate_ais(model.model, model.guide, x[at], num_steps=steps, step_size=args.step_size,
                               seed=args.seed, progress=sys.stderr.isatty(), **SETTINGS)
            seconds = time.perf_counter() - t0
            gain, gain_se = paired(est.log_px_ais, iw_points[at])
            s = est.summary()
            rows.append({"num_steps": steps, "n": n, "log_px_ais": s["log_px_ais"], "log_px_ais_se": s["log_px_ais_se"],
                         "iw_same_images": float(iw_points[at].mean()), "gain_over_iw": gain, "gain_se": gain_se,
                         "acceptance": s["acceptance"], "ess": s["ess"], "mc_se_per_point": float(np.mean(est.log_px_ais_mc_se)),
                         "seconds": seconds, "seconds_per_image": seconds / n, "load_before": list(load0),
                         "load_after": list(os.getloadavg())})
            print(f"AIS {steps} steps on {n}: {s['log_px_ais']:.2f}, over IW {gain:+.3f} ± {gain_se:.3f} "
                  f"({seconds:.0f} s)", flush=True)
    result["ais_rows"] = rows
    write_results("ais.partial", result)

    bdmc_rows = previous.get("bdmc_rows", []) if "bdmc" in skip else []
    if "bdmc" not in skip:
        bdmc_load = os.getloadavg()
        for steps in (int(v) for v in args.bdmc_steps.split(",")):
            t0 = time.perf_counter()
            r = bdmc(model.model, model.guide, (x[: args.bdmc_n],), num_steps=steps, step_size=args.step_size,
                     seed=args.seed, progress=sys.stderr.isatty(), **SETTINGS)
            row = {**r.summary(), "seconds": time.perf_counter() - t0}
            bdmc_rows.append(row)
            print(f"BDMC {steps} steps: lower {row['lower']:.3f} upper {row['upper']:.3f} gap {row['gap']:.3f}",
                  flush=True)
        write_bdmc_gap(bdmc_rows, out, {"machine": machine(), "command": command_line(), "load_before": list(bdmc_load),
                                        "load_after": list(os.getloadavg()),
                                        "title": f"BDMC gap, 1-layer VAE on binarized MNIST, {args.bdmc_n} simulated "
                                                 f"images, {SETTINGS['num_chains']} chains"})
    result["bdmc_rows"] = bdmc_rows
    write_results("ais.partial", result)

    result["linear_gaussian"] = linear_gaussian_check() if "lg" not in skip else previous["linear_gaussian"]
    if "timing" in skip:
        result["timing"] = previous["timing"]
    else:
        kept = previous.get("timing", [])
        kept = kept if isinstance(kept, list) else [kept]
        sizes = [int(n) for n in args.timing_n.split(",")]
        result["timing"] = [t for t in kept if (t["num_steps"], t["n"]) not in  # other settings' rows stay
                            {(args.timing_steps, n) for n in sizes}]
        for n in sizes:
            result["timing"].append(time_against_reference(model, x[:n], args, run_dir, metrics.get("epoch")))
            t = result["timing"][-1]
            print(f"time library/reference on {n} images: median {t['ratio_q1_median_q3'][1]:.3f}x, "
                  f"/reference_same {t['ratio_same_q1_median_q3'][1]:.3f}x", flush=True)
    result["load_after"] = list(os.getloadavg())
    result["tables"] = result["table"] = render(result)
    write_results("ais", result)
    (RESULTS / "ais.partial.json").unlink(missing_ok=True)  # the checkpoint of a long run, now complete
    (RESULTS / "ais.md").write_text(result["tables"] + "\n")
    print(result["tables"])


def render(result: dict) -> str:
    iw = result["iw"]
    ais = markdown_table(result["ais_rows"], [
        ("num_steps", "AIS steps"), ("n", "test images"), ("log_px_ais", "log p(x) AIS"), ("log_px_ais_se", "± (se over images)"),
        ("mc_se_per_point", "MC se per image (mean)"),
        ("iw_same_images", f"IW_{iw['k']} same images"), ("gain_over_iw", "AIS - IW (nats)"), ("gain_se", "± (paired)"),
        ("acceptance", "acceptance"), ("ess", "ESS of 16"), ("seconds", "wall s"), ("seconds_per_image", "s / image")])
    bdmc = markdown_table(result["bdmc_rows"], [
        ("num_steps", "AIS steps"), ("n", "simulated images"), ("lower", "forward (lower)"),
        ("upper", "reverse (upper)"), ("gap", "gap"), ("gap_se", "±"), ("seconds", "wall s")])
    timings = result["timing"] if isinstance(result["timing"], list) else [result["timing"]]
    timings = sorted(timings, key=lambda t: (t["num_steps"], t["n"]))
    q = lambda t, key: fmt_q(t[key]) if key in t else "not timed"  # noqa: E731  (rows from before that arm)
    timing = markdown_table([
        {"n": t["n"], "steps": t["num_steps"], "rounds": t["rounds"], "lib": fmt_q(t["library_s_q1_median_q3"]),
         "ref": fmt_q(t["reference_s_q1_median_q3"]), "ratio": fmt_q(t["ratio_q1_median_q3"]),
         "ref_same": q(t, "reference_same_s_q1_median_q3"), "ratio_same": q(t, "ratio_same_q1_median_q3"),
         "means": " / ".join(f"{t[k]:.2f}" for k in ("library_mean_log_px", "reference_mean_log_px",
                                                     "reference_same_mean_log_px") if k in t),
         "where": _where(t.get("machine", result["machine"]), t.get("run", result["run"]),
                         t.get("run_epochs", result["run_epochs"])),
         "load": f"{t['load_before'][0]:.2f} -> {t['load_after'][0]:.2f}"} for t in timings],
        [("n", "images (x 20 chains)"), ("steps", "AIS steps"), ("rounds", "rounds"),
         ("lib", "library s: median [q1, q3]"), ("ref", "by hand s"), ("ratio", "library / by hand"),
         ("ref_same", "by hand, our softplus s"), ("ratio_same", "library / by hand, our softplus"),
         ("means", "mean log p(x): library / by hand / ours"), ("where", "machine, date, run"), ("load", "load")])
    lg = markdown_table(result["linear_gaussian"], [
        ("num_steps", "AIS steps"), ("forward_minus_exact", "forward - exact"), ("forward_se", "±"),
        ("reverse_minus_exact", "reverse (upper) - exact"), ("reverse_se", "±"), ("iw16_minus_exact", "IW_16 - exact"),
        ("acceptance", "acceptance"), ("n", "n")])
    return (f"Machine: {result['machine']}. Run: {result['run']} ({result['run_epochs']} epochs). "
            f"Load {result['load_before'][0]:.2f} before, {result['load_after'][0]:.2f} after.\n\n"
            f"IW_{iw['k']} on {iw['n']} test images ({result['images']}): {iw['log_px_iw']:.2f} ± {iw['log_px_iw_se']:.2f}, "
            f"ELBO {iw['elbo']:.2f}, share k-hat > 0.7: {iw['khat_share_above_0.7']:.3f}.\n\n"
            f"AIS ({SETTINGS['num_chains']} chains + {SETTINGS['tune_chains']} tuning chains, "
            f"{SETTINGS['leapfrog_steps']} leapfrog steps, {SETTINGS['schedule']} schedule, from the guide):\n\n{ais}\n\n"
            f"BDMC on simulated images (plot: results/ais/bdmc_gap.png):\n\n{bdmc}\n\n"
            f"Linear-Gaussian model (exact log p(x); untrained amortized guide, 16 chains, 10 leapfrog steps, "
            f"reverse AIS from exact posterior samples; mean over datapoints ± Monte Carlo se):\n\n{lg}\n\n"
            f"Time per AIS call against the same AIS written by hand in PyTorch, one call per arm per round in "
            f"palindromic order, ratios per round (median [q1, q3]). 'By hand' uses torch's softplus; 'by hand, our "
            f"softplus' uses the vectorized CPU softplus the library's Bernoulli uses, so its ratio is the library's "
            f"own overhead on the same arithmetic. The library's default block is 4096 // 20 = 204 images x 20 "
            f"chains, what a run on 1000 images computes; 50 images show the per-call Python cost:\n\n{timing}")


def _where(machine_info: dict, run: str, epochs) -> str:
    return f"{machine_info['cpu']}, {machine_info['date']}, {Path(run).name} ({epochs} epochs)"


if __name__ == "__main__":
    main()
