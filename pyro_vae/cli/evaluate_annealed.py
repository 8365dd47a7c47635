"""``pyro-vae evaluate --method ais|bdmc``: AIS estimates of log p(x) of trained runs, and BDMC
brackets on data simulated from them; one result per ``--num-steps``, files next to the IW ones."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import distributed
from ..errors import OptionError
from .evaluation_inputs import evaluation_inputs, evaluation_rows, refuse_changed_results, rows_line


def ais_name(split: str, opts, steps: int, points: bool = False) -> str:
    """``eval_SPLIT_ais_[prior_]cC_tT.json`` (or the per-datapoint ``eval_points_...csv``)."""
    stem = "eval_points" if points else "eval"
    init = "prior_" if opts.init == "prior" else ""
    return f"{stem}_{opts.split}_ais_{init}c{opts.num_chains}_t{steps}.{'csv' if points else 'json'}"


def bdmc_name(n: int, opts, steps: int, points: bool = False) -> str:
    """``bdmc_nN_[prior_]cC_tT.json`` (or ``bdmc_points_...csv``)."""
    init = "prior_" if opts.init == "prior" else ""
    return f"bdmc_{'points_' if points else ''}n{n}_{init}c{opts.num_chains}_t{steps}.{'csv' if points else 'json'}"


def run_annealed(args, opts) -> int:
    """Every run x every ``--num-steps``: write the result files, print a line each, and for BDMC
    with several steps the gap table and plot."""
    if args.dataset and len(args.run_dirs) > 1:
        raise OptionError("--dataset points to one run's moved data: evaluate that run on its own")
    if len(args.run_dirs) > 1:
        raise OptionError(f"--method {opts.method} evaluates one run at a time (AIS is long): give one RUN_DIR")
    run_dir = Path(args.run_dirs[0])
    n = opts.n or (100 if opts.method == "bdmc" else None)
    inputs = {**evaluation_inputs(run_dir, opts), "method": opts.method, "n": n}
    inputs.pop("draws", None), inputs.pop("proposals", None)
    planned = []
    for steps in opts.steps:
        settings = {**inputs, **opts.ais_options(steps)}
        if opts.method == "ais":
            planned += [(run_dir / ais_name(opts.split, opts, steps), settings),
                        (run_dir / ais_name(opts.split, opts, steps, True), None)]
        else:
            planned += [(run_dir / bdmc_name(n, opts, steps), settings), (run_dir / bdmc_name(n, opts, steps, True), None)]
    out = Path(args.out) if args.out else run_dir
    if opts.method == "bdmc" and len(opts.steps) > 1:
        planned.append((out / "bdmc_gap.json", {**inputs, **opts.ais_options(0), "num_steps": opts.steps}))
    if not args.overwrite:
        refuse_changed_results(planned)
    from ..options import resolve_device
    from ..runs import load_run

    device = resolve_device(opts.device)
    run = load_run(run_dir, opts.checkpoint, device, args.dataset, args.data_dir)
    x, y, subset = evaluation_rows(run, opts, n)
    run.model.check_data(x)  # once, for every --num-steps
    progress = not args.no_progress and sys.stderr.isatty()
    rows = []
    for steps, (path, settings) in zip(opts.steps, planned[::2]):
        rows.append(_one(run, opts, steps, x, y, subset, progress, path, settings))
    if opts.method == "bdmc" and len(opts.steps) > 1 and distributed.current().is_main:
        _gap_report(rows, out, run_dir, opts, planned[-1][1])
    return 0


def _one(run, opts, steps, x, y, subset, progress, path, settings) -> dict:
    from ..evaluation.ais import evaluate_ais
    from ..io.tables import machine

    load_before = os.getloadavg()
    model, cfg = run.model, run.config.to_dict()
    common = dict(opts.ais_options(steps), seed=opts.seed, max_elements=opts.max_elements, progress=progress,
                  device=model.device, capture=opts.capture)  # (not an input: the numbers are the same)
    about = {"split": opts.split if opts.method == "ais" else "simulated", "checkpoint": opts.checkpoint,
             "dataset": cfg["dataset"], "model": cfg["model"], "loss": cfg["loss"], "machine": machine(),
             "inputs": settings, "rows": subset.describe()}
    if opts.method == "ais":
        num_dims = model.x_dim if model.data_info.get("image_shape") else None
        est = evaluate_ais(model.model, model.guide, model.data_args(x, y), num_dims=num_dims, **common)
        summary = {**est.summary(), **about, "load_before": list(load_before), "load_after": list(os.getloadavg())}
        if not distributed.current().is_main:  # in a multi-process job rank 0 writes and prints
            return summary
        est.write_json(path, summary)
        est.write_table(path.with_name(ais_name(opts.split, opts, steps, True)), subset.rows)
        print(f"{cfg['model']} on {cfg['dataset']}/{opts.split}: {rows_line(subset)}, AIS {opts.num_chains} chains x {steps} "
              f"steps ({opts.leapfrog_steps} leapfrog, {opts.schedule} schedule, from the {opts.init})")
        print(f"  log p(x) AIS  {summary['log_px_ais']:>10.2f} ± {summary['log_px_ais_se']:.2f} (se over the {est.n} "
              f"datapoints; Monte Carlo se of one datapoint's estimate, mean {summary['log_px_ais_mc_se']:.3f})")
        if summary.get("bits_per_dim") is not None:
            print(f"  bits/dim      {summary['bits_per_dim']:>10.4f}")
        print(f"  acceptance    {summary['acceptance']:>10.3f}   ESS of the final weights {summary['ess']:.1f} "
              f"of {opts.num_chains}")
        print(f"wrote {path}, {path.with_name(ais_name(opts.split, opts, steps, True))}")
        return summary
    from ..evaluation.bdmc import bdmc

    result = bdmc(model.model, model.guide, model.data_args(x, None if not model.uses_labels else y), **common)
    summary = {**result.summary(), **about, "load_before": list(load_before), "load_after": list(os.getloadavg())}
    if not distributed.current().is_main:
        return summary
    from ..io.files import write_json

    write_json(path, summary)
    result.write_table(path.with_name(bdmc_name(len(x), opts, steps, True)))  # simulated: numbered 0..n-1
    print(f"BDMC on {result.n} datapoints simulated from {cfg['model']} ({cfg['dataset']}): {opts.num_chains} chains x "
          f"{steps} steps: lower {summary['lower']:.3f}, upper {summary['upper']:.3f}, gap {summary['gap']:.3f} "
          f"± {summary['gap_se']:.3f} nats (se over the {result.n} datapoints)")
    print(f"wrote {path}, {path.with_name(bdmc_name(len(x), opts, steps, True))}")
    return summary


def _gap_report(rows: list, out: Path, run_dir: Path, opts, inputs: dict) -> None:
    from ..evaluation.report import BDMC_COLUMNS, write_bdmc_gap
    from ..io.tables import machine, markdown_table

    meta = {"run": str(run_dir), "inputs": inputs, "machine": machine(), "load_before": rows[0]["load_before"],
            "load_after": rows[-1]["load_after"],
            "command": f"pyro-vae evaluate {run_dir} --method bdmc --n {rows[0]['n']} --num-chains {opts.num_chains} "
                       f"--num-steps {','.join(map(str, opts.steps))} --leapfrog-steps {opts.leapfrog_steps} "
                       f"--init {opts.init} --seed {opts.seed}"}
    out.mkdir(parents=True, exist_ok=True)
    paths = write_bdmc_gap(rows, out, meta)
    print(markdown_table(rows, BDMC_COLUMNS))
    print(f"wrote {', '.join(str(p) for p in paths)}")
