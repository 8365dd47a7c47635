"""``pyro-vae encode``: the posterior means and scales of every latent, per datapoint, to a file."""

from __future__ import annotations


def add_parser(sub) -> None:
    e = sub.add_parser("encode", help="export the posterior means and scales of a split (npz or csv)",
                       description="Encode a split of the run's data with the trained guide: for each latent "
                       "NAME, NAME_mean and NAME_scale ([N, dim]) and the labels, into an .npz (arrays) or a "
                       ".csv (one row per datapoint: NAME_mean_0, ..., NAME_scale_0, ..., label).")
    e.add_argument("run_dir")
    e.add_argument("--split", default="test", help="test (default), valid or train")
    e.add_argument("--out", help="latents.npz or latents.csv (default RUN_DIR/latents_SPLIT.npz)")
    e.add_argument("--checkpoint", default="best", help="best (default) or last")
    e.add_argument("--batch-size", type=int, default=1000, help="datapoints encoded at a time, >= 1")
    e.add_argument("--dataset", metavar="PATH", help="the new place of the run's data file, if it moved")
    e.add_argument("--data-dir", help="override the data folder saved with the run")
    e.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    e.set_defaults(fn=run)


def run(args) -> int:
    from ..jobs.encode import encode_split, write_latents
    from ..options import EncodeOptions, resolve_device
    from ..runs import load_run

    opts = EncodeOptions(split=args.split, out=args.out, checkpoint=args.checkpoint, batch_size=args.batch_size,
                         device=args.device)
    run = load_run(args.run_dir, opts.checkpoint, resolve_device(opts.device), args.dataset, args.data_dir)
    arrays = encode_split(run.model, run.data, opts.split, opts.batch_size)
    out = opts.out or run.run_dir.file(f"latents_{opts.split}.npz")
    write_latents(arrays, out)
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items())
    print(f"wrote {out}: {shapes}")
    return 0
