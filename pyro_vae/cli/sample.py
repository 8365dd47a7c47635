"""``pyro-vae sample``: draws from a trained model's p(x), as an image grid or a point cloud."""

from __future__ import annotations


def add_parser(sub) -> None:
    s = sub.add_parser("sample", help="draw images from a trained model")
    s.add_argument("run_dir")
    s.add_argument("--n", type=int, default=64, help="how many, >= 1")
    s.add_argument("--out", help="picture file, .png or .jpg (default RUN_DIR/samples.png)")
    s.add_argument("--label", type=int, default=None, help="class to generate (conditional models)")
    s.add_argument("--seed", type=int, default=0, help="in [0, 2**32 - 1]")
    s.add_argument("--checkpoint", default="best", choices=["best", "last"])
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    s.set_defaults(fn=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from ..options import SampleOptions, check_label, resolve_device
    from ..io.pictures import save_image_grid, save_point_cloud
    from ..training import RunDir, load_trained_model

    opts = SampleOptions(n=args.n, out=args.out, label=args.label, seed=args.seed,
                         checkpoint=args.checkpoint, device=args.device)
    device = resolve_device(opts.device)
    model = load_trained_model(args.run_dir, opts.checkpoint, device)
    classes = model.data_info.get("num_classes")
    check_label(opts.label, model.uses_labels, int(classes) if classes else None)
    torch.manual_seed(opts.seed)
    y = None
    if model.uses_labels:
        y = (torch.full((opts.n,), opts.label) if opts.label is not None
             else torch.arange(opts.n) % int(classes or 1)).to(device)
    images = model.sample(opts.n, y)
    out = opts.out or RunDir(args.run_dir).file("samples.png")
    shape = model.data_info.get("image_shape")
    if shape:
        save_image_grid(images, shape, out, nrow=min(10, opts.n), title=f"{Path(args.run_dir).name}: {opts.n} samples")
    else:
        save_point_cloud({"samples (means)": images[:, :2]}, out)
    print(f"wrote {opts.n} samples to {out}")
    return 0
