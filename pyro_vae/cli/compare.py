"""``pyro-vae compare``: several ELBO estimators on one model and dataset, one table and plots."""

from __future__ import annotations


def add_parser(sub) -> None:
    from .train import key_value

    c = sub.add_parser(
        "compare", help="compare ELBO estimators on one model (train, evaluate, SNR, time per step)",
        description="Train one run per (estimator, seed) into OUT/<estimator>_seed<S> (a re-run skips finished runs "
        "and resumes unfinished ones), evaluate each on the test split, and measure gradient SNR/variance and time "
        "per step at one shared parameter point (a model pre-trained with elbo). Estimators are NAME[:K[xM]][@BETA]: "
        "iwae:5 (K = 5 particles), miwae:5x8 (M = 8 groups of K = 5), ciwae:5@0.5 (beta = 0.5). Writes "
        "compare.json/.csv/.md and bound_vs_epoch.png, bound_vs_seconds.png, snr_vs_k.png, time_per_step.png.")
    c.add_argument("--model", default="vae", help="zoo name or path/to/file.py[:NAME] (default vae)")
    c.add_argument("--model-opt", action="append", type=key_value, metavar="KEY=VALUE", help="model option; repeatable")
    c.add_argument("--dataset", default="mnist5k", help="dataset name or PATH (default mnist5k)")
    c.add_argument("--data-dir", help="folder with downloaded data")
    c.add_argument("--losses", required=True, help="estimators, e.g. elbo,meanfield,iwae:5,dreg:5,stl,miwae:5x8,ciwae:5@0.5")
    c.add_argument("--seeds", default="0", help="training seeds, e.g. 0,1,2 (default 0); also a seed sweep of one loss")
    c.add_argument("--epochs", type=int, help="epochs per run (default 5)")
    c.add_argument("--minutes", type=float, help="training minutes per run instead of --epochs")
    c.add_argument("--batch-size", type=int, default=20, help="datapoints per step (default 20, Burda et al.'s)")
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--eval-k", type=int, default=1000, help="importance samples for the test IW bound (default 1000)")
    c.add_argument("--eval-n", type=int, help="test datapoints to evaluate (default all)")
    c.add_argument("--snr-draws", type=int, default=100, help="gradient draws for SNR and variance (default 100)")
    c.add_argument("--snr-batch", type=int, default=64, help="datapoints of the fixed batch (default 64)")
    c.add_argument("--ref-epochs", type=int, default=1, help="elbo epochs of the shared point (default 1)")
    c.add_argument("--timing-rounds", type=int, default=20, help="paired rounds of the time per step (default 20)")
    c.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    c.add_argument("--out", required=True, help="folder for the runs and the report (new, or an earlier comparison's)")
    c.set_defaults(fn=run)


def run(args) -> int:
    from ..jobs.compare import CompareOptions, parse_losses, parse_seeds, run_comparison
    from ..options import check_device, resolve_device

    resolve_device(check_device("--device", args.device))
    opts = CompareOptions(model=args.model, dataset=args.dataset, losses=parse_losses(args.losses), out=args.out,
                          seeds=parse_seeds(args.seeds), epochs=args.epochs, minutes=args.minutes,
                          batch_size=args.batch_size, lr=args.lr, eval_k=args.eval_k, eval_n=args.eval_n,
                          snr_draws=args.snr_draws, snr_batch=args.snr_batch, ref_epochs=args.ref_epochs,
                          timing_rounds=args.timing_rounds, model_options=dict(args.model_opt or []),
                          data_dir=args.data_dir, device=args.device)
    payload = run_comparison(opts)
    print(payload["table"])
    print(f"wrote {opts.out}/compare.json, compare.csv, compare.md and {len(payload['plots'])} plots")
    return 0
