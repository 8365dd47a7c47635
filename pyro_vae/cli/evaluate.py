"""``pyro-vae evaluate``: IW estimates of log p(x), ELBO, KL and diagnostics of trained runs, at one
or several K (one set of draws per datapoint), with the guide or the prior as the proposal."""

from __future__ import annotations

import argparse

from .. import distributed
from ..errors import OptionError
from ..evaluation.settings import AIS_INITS, AIS_SCHEDULES, DEFAULT_MAX_ELEMENTS, AISSettings
from .evaluation_inputs import evaluation_inputs, evaluation_rows, refuse_changed_results, rows_line


def k_list(text: str) -> list:
    """``1000`` or ``1,10,100`` -> a list of integers (range-checked with the options)."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or a list like 1,10,100, got {text!r}") from None


def add_parser(sub) -> None:
    e = sub.add_parser(
        "evaluate", help="IW estimates of log p(x) at one or several K, ELBO, KL and diagnostics of runs",
        description="Per-datapoint importance-weighted log-likelihood. All K come from one set of max(K) draws per "
        "datapoint (a smaller K from the first K of them, see docs/evaluation.md). For each run writes "
        "RUN_DIR/eval_SPLIT_kK.json per K and eval_points_SPLIT_kK.csv for max K (replaced only by an "
        "evaluation with the same inputs, else with --overwrite) and RUN_DIR/eval.json + "
        "eval_points.csv (the latest evaluation at max K); with several runs or K also the table over runs and K "
        "(evaluate.md/.csv/.json) and iw_vs_k.png into --out.")
    e.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    e.add_argument("--method", default="iw", metavar="iw|ais|bdmc",
                   help="iw: importance weighting (default); ais: annealed importance sampling with HMC (a tighter "
                        "stochastic lower bound, slow); bdmc: forward and reverse AIS on --n datapoints simulated "
                        "from the model (default 100), whose gap says how accurate AIS is with these settings")
    e.add_argument("--k", type=k_list, default=None, help="importance samples per datapoint, >= 1, or a list "
                   "like 1,10,100,1000 (default 1000; --method iw)")
    e.add_argument("--proposal", default="guide", metavar="guide|prior|guide,prior",
                   help="draw z from the trained guide (default) or from the prior: the naive Monte Carlo "
                        "estimate of p(x); guide,prior puts both in the table, which then says how many draws "
                        "the guide saves")
    ais = AISSettings()  # the defaults, written once there
    a = e.add_argument_group("AIS and BDMC (--method ais|bdmc)")
    a.add_argument("--num-chains", type=int, help=f"AIS chains per datapoint (default {ais.num_chains})")
    a.add_argument("--num-steps", type=k_list, help="intermediate distributions, or a list like 100,1000,10000 "
                   f"(one evaluation each; default {ais.num_steps})")
    a.add_argument("--leapfrog-steps", type=int, help=f"leapfrog steps per HMC transition (default {ais.leapfrog_steps})")
    a.add_argument("--schedule", metavar="|".join(AIS_SCHEDULES),
                   help=f"spacing of the inverse temperatures (default {ais.schedule})")
    a.add_argument("--init", metavar="|".join(AIS_INITS), help=f"anneal from the trained guide or the prior (default "
                   f"{ais.init})")
    a.add_argument("--tune-chains", type=int, help="extra chains per datapoint that set the step size and are "
                   f"left out of the estimate (default {ais.tune_chains}; see docs/evaluation.md)")
    a.add_argument("--step-size", type=float, help="initial leapfrog step size, in units of the guide's standard "
                   f"deviations (default {ais.step_size})")
    e.add_argument("--split", default="test", choices=["test", "valid", "train"])
    e.add_argument("--seed", type=int, default=0, help="in [0, 2**32 - 1]")
    e.add_argument("--n", type=int, default=None, help="evaluate N datapoints of the split (N >= 1): a seeded random "
                   "sample, the same rows for every run, K and method (see --subset); default all")
    e.add_argument("--subset", default="random", metavar="random|first", help="how --n takes its rows: a random "
                   "sample drawn with --subset-seed (default), or the first N rows of the split")
    e.add_argument("--subset-seed", type=int, default=None, help="seed of --n's random rows (default 0)")
    e.add_argument("--checkpoint", default="best", choices=["best", "last"])
    e.add_argument("--out", help="folder for the table over runs and K (default: the run's folder when there is "
                   "one run; needed for several)")
    e.add_argument("--overwrite", action="store_true", help="replace result files of an earlier evaluation")
    e.add_argument("--data-dir", help="override the data folder saved with the run")
    e.add_argument("--dataset", metavar="PATH", help="the new place of the run's data file, if it moved "
                   "(checked to be the same data by its content hash; one run only)")
    e.add_argument("--max-elements", type=int, default=DEFAULT_MAX_ELEMENTS,
                   help="datapoints x particles per vectorized block, >= 1: bounds memory (see docs/performance.md)")
    e.add_argument("--capture", default="auto", metavar="auto|on|off",
                   help="run guide and model captured once and replayed, with the same numbers (default auto: for "
                        "long evaluations, where valid; on: an error where not valid)")
    e.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--devices", type=int, metavar="N", help="evaluate in N processes, the datapoints shared out "
                   "(the same as `torchrun --nproc_per_node N -m pyro_vae evaluate ...`; the numbers are those of "
                   "one process)")
    e.set_defaults(fn=run)


def result_name(split: str, proposal: str, k: int, points: bool = False) -> str:
    """``eval_SPLIT_[prior_]kK.json``, or with ``points`` the per-datapoint table ``eval_points_...csv``."""
    stem = "eval_points" if points else "eval"
    return f"{stem}_{split}_{'prior_' if proposal == 'prior' else ''}k{k}.{'csv' if points else 'json'}"


def run(args) -> int:
    if args.devices is not None and not distributed.launched():
        from .launcher import check_devices, launch

        check_devices(args.devices, args.device)
        return launch(args.argv, args.devices, args.device)
    with distributed.session(args.device):
        return _evaluate(args)


def _evaluate(args) -> int:
    from pathlib import Path

    from ..options import EvaluateOptions, resolve_device

    opts = EvaluateOptions(k=args.k, split=args.split, seed=args.seed, n=args.n, subset=args.subset,
                           subset_seed=args.subset_seed, checkpoint=args.checkpoint,
                           max_elements=args.max_elements, device=args.device, proposal=args.proposal,
                           method=args.method, num_chains=args.num_chains, num_steps=args.num_steps,
                           schedule=args.schedule, leapfrog_steps=args.leapfrog_steps, init=args.init,
                           tune_chains=args.tune_chains, step_size=args.step_size, capture=args.capture)
    if opts.method != "iw":
        from .evaluate_annealed import run_annealed

        return run_annealed(args, opts)
    if len(args.run_dirs) > 1 and args.dataset:
        raise OptionError("--dataset points to one run's moved data: evaluate that run on its own")
    several = len(args.run_dirs) > 1 or len(opts.ks) > 1 or len(opts.proposals) > 1
    if len(args.run_dirs) > 1 and not args.out:
        raise OptionError("evaluate of several runs needs --out DIR for the table over runs and K")
    out = Path(args.out or args.run_dirs[0])
    if several and out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} is a file, not a folder: choose a folder for the table")
    inputs = {str(r): evaluation_inputs(r, opts) for r in args.run_dirs}
    planned = [(Path(r) / result_name(opts.split, p, k), {**inputs[str(r)], "proposal": p})
               for r in args.run_dirs for p in opts.proposals for k in opts.ks]
    planned += [(Path(r) / result_name(opts.split, p, opts.k, points=True), None) for r in args.run_dirs
                for p in opts.proposals]  # a per-datapoint table goes with its summary file
    if several:
        planned.append((out / "evaluate.json", inputs))
    if not args.overwrite:
        refuse_changed_results(planned)
    import os

    from ..evaluation.report import COLUMNS, guide_savings, rows_over_k, write_report
    from ..io.tables import machine, markdown_table

    device = resolve_device(opts.device)
    load_before = os.getloadavg()
    rows, names = [], _short_names(args.run_dirs)
    for run_dir, name in zip(args.run_dirs, names):
        for proposal in opts.proposals:
            estimate = evaluate_run(run_dir, opts, device, args, proposal)
            if several:
                rows += rows_over_k(name, estimate)
    if several and distributed.current().is_main:
        meta = {"inputs": inputs, "runs": [str(r) for r in args.run_dirs], "split": opts.split,
                "proposals": opts.proposals, "seed": opts.seed, "k": opts.ks, "title": f"IW_K and ELBO on "
                f"{opts.split}, {' and '.join(opts.proposals)} proposal, one set of {max(opts.ks)} draws each; ± is the standard error over the datapoints"}
        meta.update({"machine": machine(), "load_before": list(load_before), "load_after": list(os.getloadavg()),
                     "command": "pyro-vae evaluate " + " ".join(str(r) for r in args.run_dirs) +
                     f" --k {','.join(map(str, opts.ks))} --proposal {','.join(opts.proposals)} --split {opts.split}"
                     + (f" --n {opts.n} --subset {opts.subset} --subset-seed {opts.subset_seed}" if opts.n else "")})
        out.mkdir(parents=True, exist_ok=True)
        paths = write_report(rows, out, meta)
        print(markdown_table(rows, COLUMNS))
        for line in guide_savings(rows):
            print(line)
        print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _short_names(run_dirs: list) -> list[str]:
    from pathlib import Path

    names = [Path(r).name or str(r) for r in run_dirs]
    return names if len(set(names)) == len(names) else [str(r) for r in run_dirs]


def evaluate_run(run_dir, opts, device, args, proposal: str = "guide"):
    """Evaluate one run at every K of ``opts`` (one set of draws); write its files; print its report."""
    import os
    import sys

    from ..evaluation import evaluate_model
    from ..evaluation.result import KHAT_MEANING
    from ..io.tables import machine
    from ..io.files import write_json
    from ..runs import load_run

    load_before = os.getloadavg()  # the shared machine's load around the work, with every result
    run = load_run(run_dir, opts.checkpoint, device, args.dataset, args.data_dir)
    cfg, model = run.config.to_dict(), run.model
    x, y, subset = evaluation_rows(run, opts, opts.n)
    est = evaluate_model(model, x, y, k=opts.k, seed=opts.seed, max_elements=opts.max_elements,
                         progress=not args.no_progress and sys.stderr.isatty(), nested_k=opts.ks[:-1],
                         proposal=proposal, capture=opts.capture)
    about = {"split": opts.split, "checkpoint": opts.checkpoint, "dataset": cfg["dataset"], "model": cfg["model"],
             "loss": cfg["loss"], "rows": subset.describe(), "machine": machine(), "load_before": list(load_before),
             "load_after": list(os.getloadavg())}
    about["inputs"] = {**evaluation_inputs(run_dir, opts), "proposal": proposal}
    summary = {**est.summary(), **about}
    if run.data.standardized:  # densities of the standardized columns; the original values' differ by J
        jac = run.data.standardized["log_jacobian"]
        summary.update({"standardized": True, "log_jacobian": jac,
                        "log_px_iw_original_units": summary["log_px_iw"] + jac,
                        "elbo_original_units": summary["elbo"] + jac})
    if not distributed.current().is_main:  # in a multi-process job rank 0 writes and prints
        return est
    for k in opts.ks:
        write_json(run.run_dir.file(result_name(opts.split, proposal, k)),
                   summary if k == opts.k else {**est.at(k), **about})
    est.write_table(run.run_dir.file(result_name(opts.split, proposal, opts.k, points=True)), subset.rows)
    latest = []
    if proposal == "guide":  # eval.json / eval_points.csv: the latest evaluation with the guide
        est.write_json(run.run_dir.file("eval.json"), summary)
        est.write_table(run.run_dir.file("eval_points.csv"), subset.rows)
        latest = [str(run.run_dir.file("eval.json")), str(run.run_dir.file("eval_points.csv"))]
    kl_label = "KL (closed form)" if est.kl_analytic else "KL (Monte Carlo)"
    rows = [("log p(x) IW", "log_px_iw"), ("ELBO", "elbo"), ("reconstruction", "reconstruction"),
            (kl_label, "kl"), ("ESS", "ess")]
    shown = "" if proposal == "guide" else ", proposal=prior"
    print(f"{cfg['model']} on {cfg['dataset']}/{opts.split}: {rows_line(subset)}, K={opts.k}, "
          f"checkpoint={opts.checkpoint}{shown} (± is the standard error over the {est.n} datapoints)")
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
    share = summary["khat_share_above_0.7"]
    if share is not None:
        print(f"  {'share k-hat > 0.7':<20} {share:>10.3f}")
        if share > 0:
            print(f"  ({share:.0%} of datapoints: {KHAT_MEANING})")
    else:
        print(f"  ({summary['khat_note']})")
    print(f"  {'active units':<20} {summary['active_units_total']!s:>10}")
    written = [result_name(opts.split, proposal, k) for k in opts.ks] + [result_name(opts.split, proposal, opts.k, True)]
    print(f"wrote {', '.join(latest + [str(run.run_dir.file(name)) for name in written])}")
    return est
