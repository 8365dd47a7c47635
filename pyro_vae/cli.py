"""The ``pyro-vae`` command line: models, datasets, losses, train, evaluate, sample."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import PyroVAEError


def _model_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


# ---- commands ---------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from .registry import model_entries

    for e in model_entries():
        where = f"  [{e.source}]" if e.source else ""
        print(f"{e.name:<16} {getattr(e.cls, 'likelihood', '?'):<21} {e.description}{where}")
    return 0


def cmd_datasets(args) -> int:
    from .data import dataset_entries

    for e in dataset_entries():
        print(f"{e.name:<16} {'bundled ' if e.bundled else 'download'}  {e.description}")
    return 0


def cmd_losses(args) -> int:
    from .infer.losses import loss_entries

    for e in loss_entries():
        print(f"{e.name:<10} {e.description}")
    return 0


def cmd_train(args) -> int:
    from .plots import save_model_pictures
    from .training import TrainConfig, resume_config, train

    if args.resume:
        cfg = resume_config(args.resume, args.epochs)
        if args.no_progress:
            cfg.progress = False
        out = args.resume
    else:
        if not args.out:
            raise PyroVAEError("train needs --out RUN_DIR (or --resume RUN_DIR to continue a run)")
        cfg = TrainConfig(
            model=args.model, dataset=args.dataset, data_dir=args.data_dir, model_options=dict(args.model_opt),
            loss=args.loss, num_particles=args.num_particles, loss_options=dict(args.loss_opt), epochs=args.epochs if args.epochs is not None else 10,
            batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule, seed=args.seed, device=args.device, on_nan=args.on_nan,
            valid_k=args.valid_k, progress=not args.no_progress,
        )
        out = args.out
    result = train(cfg, out, resume=bool(args.resume),
                   max_seconds=args.minutes * 60 if args.minutes is not None else None)
    pictures = save_model_pictures(result.model, result.data, out, result.metrics, cfg.seed)
    if result.metrics:
        last = result.metrics[-1]
        best = max(m["valid_elbo"] for m in result.metrics)
        print(f"trained {cfg.model} on {cfg.dataset} with {cfg.loss}: {last['epoch']} epochs, "
              f"{last['elapsed_s']:.1f} s; valid ELBO last {last['valid_elbo']:.2f}, best {best:.2f} nats")
    print(f"run directory: {out}  (pictures: {', '.join(p.name for p in pictures)})")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .evaluation import evaluate_model
    from .training import RunDir, load_trained_model

    run = RunDir(args.run_dir)
    cfg = run.config()
    model = load_trained_model(args.run_dir, args.checkpoint, args.device)
    data = load_dataset(cfg["dataset"], args.data_dir or cfg.get("data_dir")).for_likelihood(model.likelihood)
    x, y = data.split(args.split)
    if args.n:
        x, y = x[: args.n], (y[: args.n] if y is not None else None)
    est = evaluate_model(model, x, y, k=args.k, seed=args.seed, max_elements=args.max_elements,
                         progress=not args.no_progress)
    summary = est.summary()
    summary.update({"split": args.split, "checkpoint": args.checkpoint, "dataset": cfg["dataset"],
                    "model": cfg["model"], "loss": cfg["loss"]})
    from .training.run_dir import write_json

    write_json(run.file("eval.json"), summary)
    est.write_table(run.file("eval_points.csv"))
    rows = [("log p(x) IW", "log_px_iw"), ("ELBO", "elbo"), ("reconstruction", "reconstruction"),
            ("KL" + (" (analytic)" if est.kl_analytic else " (MC)"), "kl"), ("ESS", "ess")]
    print(f"{cfg['model']} on {cfg['dataset']}/{args.split}: n={est.n}, K={args.k}, checkpoint={args.checkpoint}")
    for label, key in rows:
        print(f"  {label:<20} {summary[key]:>10.2f} ± {summary[key + '_se']:.2f}")
    if summary.get("bits_per_dim") is not None:
        print(f"  {'bits/dim':<20} {summary['bits_per_dim']:>10.4f}")
    if summary["khat_share_above_0.7"] is not None:
        print(f"  {'share k-hat > 0.7':<20} {summary['khat_share_above_0.7']:>10.3f}")
    print(f"  {'active units':<20} {summary['active_units_total']!s:>10}")
    print(f"wrote {run.file('eval.json')} and {run.file('eval_points.csv')}")
    return 0


def cmd_sample(args) -> int:
    import torch

    from .plots import save_image_grid
    from .training import RunDir, load_trained_model

    model = load_trained_model(args.run_dir, args.checkpoint, args.device)
    shape = model.data_info.get("image_shape")
    torch.manual_seed(args.seed)
    y = None
    if model.uses_labels:
        classes = int(model.data_info.get("num_classes") or 1)
        y = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % classes
    images = model.generate(args.n, y)
    out = Path(args.out) if args.out else RunDir(args.run_dir).file("samples.png")
    if shape:
        save_image_grid(images, shape, out, nrow=min(10, args.n))
    else:
        from .plots import save_point_cloud

        save_point_cloud({"samples (means)": images[:, :2]}, out)
    print(f"wrote {args.n} samples to {out}")
    return 0


# ---- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyro-vae", description="Variational autoencoders in Pyro: train, "
                                "evaluate log-likelihood bounds, sample.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="list the model zoo").set_defaults(fn=cmd_models)
    sub.add_parser("datasets", help="list the datasets").set_defaults(fn=cmd_datasets)
    sub.add_parser("losses", help="list the training objectives (--loss)").set_defaults(fn=cmd_losses)

    t = sub.add_parser("train", help="train a model; writes a run directory",
                       description="Train a model with SVI. Writes config.json, model.json, metrics.jsonl, "
                       "checkpoints and pictures into --out. A killed run continues with --resume RUN_DIR.")
    t.add_argument("--model", default="vae", help="zoo name (see `pyro-vae models`) or path/to/file.py[:NAME]")
    t.add_argument("--dataset", default="mnist5k", help="dataset name (see `pyro-vae datasets`)")
    t.add_argument("--data-dir", help="folder with downloaded data (default $PYRO_VAE_DATA or ~/.cache/pyro-vae)")
    t.add_argument("--model-opt", action="append", type=_model_option, default=[], metavar="KEY=VALUE",
                   help="model hyper-parameter, VALUE parsed as JSON (e.g. z_dim=2, hidden=[400]); repeatable")
    t.add_argument("--loss", default=None, help="objective (see `pyro-vae losses`; default: the model's, "
                   "elbo for most)")
    t.add_argument("--num-particles", type=int, default=1, help="particles per datapoint (K of the IW bounds)")
    t.add_argument("--loss-opt", action="append", type=_model_option, default=[], metavar="KEY=VALUE",
                   help="estimator option, e.g. num_outer=8 (miwae, piwae) or beta=0.5 (ciwae); repeatable")
    t.add_argument("--epochs", type=int, default=None, help="epochs in total (default 10; with --resume: extend)")
    t.add_argument("--batch-size", type=int, default=100)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lr-schedule", default="constant", metavar="NAME",  # checked by the schedule registry
                   help="constant (default) or burda: 3**i epochs at lr * 10**(-i/7), i = 0..7 (Burda et al. "
                        "2015; 3280 epochs in all)")
    t.add_argument("--minutes", type=float, default=None,
                   help="time budget: stop after the epoch that ends past it (--resume continues)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    t.add_argument("--on-nan", default="stop", choices=["stop", "skip"],
                   help="a non-finite loss stops the run (default) or skips the step and counts it")
    t.add_argument("--valid-k", type=int, default=1, help="particles for the per-epoch validation bound")
    t.add_argument("--out", help="run directory to create")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", help="IW estimate of log p(x), ELBO, KL and diagnostics; writes eval.json",
                       description="Per-datapoint importance-weighted log-likelihood with K samples. Writes "
                       "RUN_DIR/eval.json (summary) and RUN_DIR/eval_points.csv (one row per datapoint).")
    e.add_argument("run_dir")
    e.add_argument("--k", type=int, default=1000, help="importance samples per datapoint (default 1000)")
    e.add_argument("--split", default="test", choices=["test", "valid", "train"])
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--n", type=int, default=None, help="evaluate only the first N datapoints")
    e.add_argument("--checkpoint", default="best", choices=["best", "last"])
    e.add_argument("--data-dir", help="override the data folder saved with the run")
    e.add_argument("--max-elements", type=int, default=4096, help="datapoints x particles per block (memory bound)")
    e.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("sample", help="draw images from a trained model")
    s.add_argument("run_dir")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--out", help="PNG file (default RUN_DIR/samples.png)")
    s.add_argument("--label", type=int, default=None, help="class to generate (conditional models)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--checkpoint", default="best", choices=["best", "last"])
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.set_defaults(fn=cmd_sample)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except PyroVAEError as e:
        print(f"pyro-vae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyro-vae: interrupted; a training run continues with `pyro-vae train --resume RUN_DIR`",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
