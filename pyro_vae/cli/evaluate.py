"""``pyro-vae evaluate``: IW estimate of log p(x), ELBO, KL and diagnostics of a trained run."""

from __future__ import annotations

from ..errors import OptionError


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="IW estimate of log p(x), ELBO, KL and diagnostics; writes eval.json",
                       description="Per-datapoint importance-weighted log-likelihood with K samples. Writes "
                       "RUN_DIR/eval.json (summary) and RUN_DIR/eval_points.csv (one row per datapoint).")
    e.add_argument("run_dir")
    e.add_argument("--k", type=int, default=1000, help="importance samples per datapoint, >= 1 (default 1000)")
    e.add_argument("--split", default="test", choices=["test", "valid", "train"])
    e.add_argument("--seed", type=int, default=0, help="in [0, 2**32 - 1]")
    e.add_argument("--n", type=int, default=None, help="evaluate only the first N datapoints (N >= 1)")
    e.add_argument("--checkpoint", default="best", choices=["best", "last"])
    e.add_argument("--data-dir", help="override the data folder saved with the run")
    e.add_argument("--dataset", metavar="PATH", help="the new place of the run's data file, if it moved "
                   "(checked to be the same data by its content hash)")
    e.add_argument("--max-elements", type=int, default=4096,
                   help="datapoints x particles per vectorized block, >= 1: bounds memory (see README)")
    e.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(fn=run)


def run(args) -> int:
    import sys

    from ..evaluation import evaluate_model
    from ..options import EvaluateOptions, resolve_device
    from ..runs import load_run

    opts = EvaluateOptions(k=args.k, split=args.split, seed=args.seed, n=args.n, checkpoint=args.checkpoint,
                           max_elements=args.max_elements, device=args.device)
    run = load_run(args.run_dir, opts.checkpoint, resolve_device(opts.device), args.dataset, args.data_dir)
    run_dir, cfg, model = run.run_dir, run.config.to_dict(), run.model
    x, y = run.data.split(opts.split)
    if opts.n is not None:
        if opts.n > len(x):
            raise OptionError(f"--n {opts.n} is more than the {len(x)} datapoints of {cfg['dataset']}/{opts.split}: "
                              f"use --n {len(x)} or less, or drop --n")
    n = opts.n or len(x)
    x, y = x[:n], (y[:n] if y is not None else None)  # (a memory-mapped split is read here)
    est = evaluate_model(model, x, y, k=opts.k, seed=opts.seed, max_elements=opts.max_elements,
                         progress=not args.no_progress and sys.stderr.isatty())
    summary = est.summary()
    summary.update({"split": opts.split, "checkpoint": opts.checkpoint, "dataset": cfg["dataset"],
                    "model": cfg["model"], "loss": cfg["loss"]})
    if run.data.standardized:  # densities of the standardized columns; the original values' differ by J
        jac = run.data.standardized["log_jacobian"]
        summary.update({"standardized": True, "log_jacobian": jac,
                        "log_px_iw_original_units": summary["log_px_iw"] + jac,
                        "elbo_original_units": summary["elbo"] + jac})
    est.write_json(run_dir.file("eval.json"), summary)
    est.write_table(run_dir.file("eval_points.csv"))
    kl_label = "KL (closed form)" if est.kl_analytic else "KL (Monte Carlo)"
    rows = [("log p(x) IW", "log_px_iw"), ("ELBO", "elbo"), ("reconstruction", "reconstruction"),
            (kl_label, "kl"), ("ESS", "ess")]
    print(f"{cfg['model']} on {cfg['dataset']}/{opts.split}: n={est.n}, K={opts.k}, checkpoint={opts.checkpoint}")
    for label, key in rows:
        print(f"  {label:<20} {summary[key]:>10.2f} ± {summary[key + '_se']:.2f}")
    if est.kl_note:
        print(f"  (KL by Monte Carlo: {est.kl_note})")
    if summary.get("standardized"):
        print(f"  (densities of the standardized columns; of the original values: log p(x) IW "
              f"{summary['log_px_iw_original_units']:.2f}, ELBO {summary['elbo_original_units']:.2f}, "
              f"log_jacobian {summary['log_jacobian']:.2f})")
    if summary.get("bits_per_dim") is not None:
        print(f"  {'bits/dim':<20} {summary['bits_per_dim']:>10.4f}")
    if summary["khat_share_above_0.7"] is not None:
        print(f"  {'share k-hat > 0.7':<20} {summary['khat_share_above_0.7']:>10.3f}")
    print(f"  {'active units':<20} {summary['active_units_total']!s:>10}")
    print(f"wrote {run_dir.file('eval.json')} and {run_dir.file('eval_points.csv')}")
    return 0
