"""``pyro-vae train``: flags -> a checked :class:`TrainConfig` -> :func:`pyro_vae.training.train`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .. import distributed
from ..errors import DistributedError, OptionError
from ..options import CAPTURE_MODES, LOGGERS, RESUMABLE, flag


def key_value(text: str):
    """``KEY=VALUE`` with VALUE parsed as JSON when it is JSON (``z_dim=2``, ``hidden=[400]``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def fractions(text: str) -> list:
    """``0.8,0.1,0.1`` -> ``[0.8, 0.1, 0.1]`` (checked to sum to 1 with the configuration)."""
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three fractions like 0.8,0.1,0.1, got {text!r}") from None


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model; writes a run directory",
                       description="Train a model with SVI. Writes config.json, model.json, metrics.jsonl, "
                       "checkpoints and pictures into --out (a new or empty folder), and one line per epoch on "
                       "stderr. A killed run continues with --resume RUN_DIR; on resume only --minutes, "
                       f"{', '.join(flag(f) for f in RESUMABLE)} (and --dataset, the new place of a "
                       "moved data file) may differ from the saved run.")
    # Every default is None here: the defaults are TrainConfig's, and --resume must know what was given.
    t.add_argument("--config", metavar="FILE", help="options from a .toml, .json (a run's config.json "
                   "reproduces the run) or .yaml file (keys as in config.json); flags given override it")
    t.add_argument("--set", action="append", type=key_value, metavar="KEY=VALUE", dest="sets",
                   help="override one key of --config, VALUE parsed as JSON (e.g. lr=0.0003, "
                        "model_options.z_dim=2); repeatable")
    t.add_argument("--model", help="zoo name (see `pyro-vae models`) or path/to/file.py[:NAME] (default vae)")
    t.add_argument("--dataset", help="dataset name (see `pyro-vae datasets`; default mnist5k) or PATH of your "
                   "data: .npy (memory-mapped), .npz, .pt, .csv, or a folder of PNG/JPEG images")
    t.add_argument("--data-kind", choices=["binary", "grey", "real"],
                   help="override the kind detected from the values of your data (all 0/1: binary; in [0, 1] "
                        "or integers 0..255: grey; else real)")
    t.add_argument("--split", type=fractions, metavar="TRAIN,VALID,TEST",
                   help="fractions for a data file without valid/test arrays (default 0.8,0.1,0.1; seeded, "
                        "the same for every run)")
    t.add_argument("--label-column", metavar="NAME", help="CSV column with the labels (name or 0-based number)")
    t.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize a folder's images")
    t.add_argument("--standardize", action="store_true", default=None,
                   help="real-valued columns -> (x - mean) / sd of the training split (evaluate reports log p "
                        "of the original values too)")
    t.add_argument("--logger", choices=LOGGERS, help="also log scalars and pictures each epoch: tensorboard "
                   "into RUN_DIR/tb (pip install 'pyro-vae[tensorboard]'), mlflow into $MLFLOW_TRACKING_URI or "
                   "./mlruns (pip install 'pyro-vae[mlflow]')")
    t.add_argument("--data-dir", help="folder with downloaded data (default $PYRO_VAE_DATA or ~/.cache/pyro-vae)")
    t.add_argument("--model-opt", action="append", type=key_value, metavar="KEY=VALUE",
                   help="model hyper-parameter, VALUE parsed as JSON (e.g. z_dim=2, hidden=[400]); repeatable")
    t.add_argument("--loss", help="objective (see `pyro-vae losses`; default: the model's, elbo for most)")
    t.add_argument("--num-particles", type=int, help="particles per datapoint (K of the IW bounds; default 1)")
    t.add_argument("--loss-opt", action="append", type=key_value, metavar="KEY=VALUE",
                   help="estimator option, e.g. num_outer=8 (miwae, piwae) or beta=0.5 (ciwae); repeatable")
    t.add_argument("--epochs", type=int, help="epochs in total, >= 1 (default 10; with --resume: extend)")
    t.add_argument("--batch-size", type=int, help="datapoints per step, >= 1 (default 100)")
    t.add_argument("--lr", type=float, help="learning rate, > 0 (default 0.001)")
    t.add_argument("--lr-schedule", metavar="NAME",
                   help="constant (default); burda: 3**i epochs at lr * 10**(-i/7), i = 0..7 (Burda et al. "
                        "2015; 3280 epochs in all); cosine: from lr to 0 over --epochs; plateau: halved after 5 "
                        "epochs without a better valid bound")
    t.add_argument("--lr-warmup", type=int, metavar="STEPS", help="the learning rate rises linearly from "
                   "lr/STEPS to the schedule's over the first STEPS steps, >= 0 (default 0: none)")
    t.add_argument("--minutes", type=float, help="time budget, >= 0: stop after the epoch that ends past it "
                   "(--resume continues)")
    t.add_argument("--seed", type=int, help="in [0, 2**32 - 1] (default 0)")
    t.add_argument("--device", help="cpu (default), cuda or cuda:N")
    t.add_argument("--on-nan", choices=["stop", "skip"],
                   help="a non-finite loss stops the run (default) or skips the step and counts it")
    t.add_argument("--capture", choices=CAPTURE_MODES,
                   help="capture the training step once and replay it (default auto: where valid, else eager "
                        "with one line saying why; on: an error instead; off: always Pyro's eager step)")
    t.add_argument("--log-every", type=int, metavar="N", help="with --logger: also log the training objective of "
                   "every N-th step (train/objective_step), >= 0 (default 0: once per epoch)")
    t.add_argument("--valid-k", type=int, help="particles for the per-epoch validation bound, >= 1 (default 1: the "
                   "valid ELBO; K > 1 also the valid IW bound, which then picks the best checkpoint and early stopping)")
    t.add_argument("--kl-warmup", type=int, metavar="EPOCHS", help="KL warm-up: the weight of the latent terms rises "
                   "linearly from 0 to 1 (to the model's beta) over the first EPOCHS epochs, >= 0 (default 0: none)")
    t.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop when the valid bound (see --valid-k) "
                   "has not improved for PATIENCE epochs, >= 0 (default 0: never); checkpoint_best.pt is the best")
    t.add_argument("--out", help="run directory to create: a new or empty folder")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is "
                   "not a terminal)")
    t.add_argument("--devices", type=int, metavar="N", help="train in N processes (data parallel, one per "
                   "device with --device cuda; gloo on CPU): the same as `torchrun --nproc_per_node N -m pyro_vae "
                   "train ...`; --batch-size stays the global batch (see docs/distributed.md)")
    t.set_defaults(fn=run)


def given_options(args) -> dict:
    """The TrainConfig fields the command line gave (None: not given)."""
    return {
        "model": args.model, "dataset": args.dataset, "data_dir": args.data_dir,
        "model_options": dict(args.model_opt) if args.model_opt is not None else None,
        "loss": args.loss, "num_particles": args.num_particles,
        "loss_options": dict(args.loss_opt) if args.loss_opt is not None else None,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "lr_schedule": args.lr_schedule,
        "seed": args.seed, "device": args.device, "on_nan": args.on_nan, "valid_k": args.valid_k,
        "kl_warmup": args.kl_warmup, "early_stopping": args.early_stopping, "lr_warmup": args.lr_warmup,
        "log_every": args.log_every,
        "capture": args.capture,
        "progress": not args.no_progress and sys.stderr.isatty(),
        "data_kind": args.data_kind, "split": args.split, "label_column": args.label_column,
        "image_size": args.image_size, "logger": args.logger, "standardize": args.standardize,
    }


def build_config(args):
    """``(config, run_dir, resume)`` from the flags: a new run's config, or the saved one with
    the options that may change on resume (any other difference is refused in one line)."""
    from ..io.config_file import apply_sets, read_config_file
    from ..training import RunDir, TrainConfig

    given = given_options(args)
    if args.resume and (args.config or args.sets):
        raise OptionError(f"--resume {args.resume} continues a run with its saved configuration: drop "
                          f"{'--config' if args.config else '--set'}")
    if args.resume:  # train() refuses options that conflict with the saved run, listing them
        if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
            raise OptionError(f"--resume {args.resume} conflicts with --out {args.out}: a resumed run stays "
                              f"in {args.resume}; drop --out")
        saved = RunDir(args.resume).train_config()
        return dataclasses.replace(saved, **{k: v for k, v in given.items() if v is not None}), args.resume, True
    if not args.out:
        raise OptionError("train needs --out RUN_DIR (or --resume RUN_DIR to continue a run)")
    flags = {k: v for k, v in given.items() if v is not None}
    config = TrainConfig.from_dict(flags, complete=False, source=None)  # a bad flag is named as the flag it is
    if not (args.config or args.sets):
        return config, args.out, False
    base = apply_sets(read_config_file(args.config) if args.config else {}, args.sets or [])
    source = args.config or "--set"
    return TrainConfig.from_dict({**base, **flags}, source=source, complete=False), args.out, False


def run(args) -> int:
    from ..options import check_minutes

    minutes = check_minutes(args.minutes)
    cfg, out, resume = build_config(args)
    try:
        if args.devices is not None and not distributed.launched():  # checked here, then N processes start
            from .launcher import launch

            _check_before_launch(cfg, out, resume, args.devices)
            return launch(args.argv, args.devices, cfg.device)
        with distributed.session(cfg.device) as ranks:
            return _train(cfg, out, resume, minutes, ranks.is_main)
    except DistributedError as e:  # a job that lost a process: the run continues from its last checkpoint
        raise DistributedError(f"{e}{_resume_hint(out)}") from None


def _check_before_launch(cfg, out, resume: bool, devices: int) -> None:
    """What rank 0 would refuse, refused here in one line before N processes start."""
    from ..training import RunDir
    from ..training.trainer import check_resume
    from .launcher import check_devices

    check_devices(devices, cfg.device)
    distributed.check_batch(cfg.batch_size, devices)
    run = RunDir(out)
    if resume:
        check_resume(run.train_config(), cfg, run.path)
    else:
        run.prepare_new()


def _resume_hint(out) -> str:
    from ..training import RunDir

    return f"; continue the run with `pyro-vae train --resume {out}`" if RunDir(out).exists() else ""


def _train(cfg, out, resume: bool, minutes, main: bool) -> int:
    from ..training import train

    result = train(cfg, out, resume=resume, max_seconds=minutes * 60 if minutes is not None else None,
                   pictures=True)
    if not main:  # rank 0 of a multi-process job prints
        return 0
    if result.metrics:
        last = result.metrics[-1]
        best = max(m["valid_elbo"] for m in result.metrics)
        if resume and last["epoch"] >= cfg.epochs and not result.trained_epochs:
            print(f"nothing to train: the run already has {last['epoch']} epochs (--epochs {cfg.epochs}); "
                  f"pass a larger --epochs to continue")
        print(f"trained {cfg.model} on {cfg.dataset} with {cfg.loss}: {last['epoch']} epochs, "
              f"{last['elapsed_s']:.1f} s; valid ELBO last {last['valid_elbo']:.2f}, best {best:.2f} nats")
    print(f"run directory: {out}  (pictures: {', '.join(p.name for p in result.pictures)})")
    return 0
