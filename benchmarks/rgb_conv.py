"""A colour image folder of a shape that is not 28x28, trained with ``conv_vae_cb``: the picture of
its reconstructions for the docs, and the run's numbers with their protocol.

The folder is made here (seeded): 600 images of 24 x 32 pixels, each a disc or a square of a
random colour on a background of another random colour. ``conv_vae_cb`` reads C x H x W = 3 x 24 x 32
from the data (``Conv``: stride-2 convolutions down, transposed ones up)::

    python benchmarks/rgb_conv.py                 # conv_vae_cb, 60 epochs, batch 20, seed 0 (minutes, 1 core)
    python benchmarks/rgb_conv.py --model conv_vae  # the Bernoulli one: binarized colours

Writes benchmarks/results/rgb_conv.json and .md, and docs/images/rgb_conv_reconstructions.png
(rows of test images above rows of their reconstructions). The run lives in ``--scratch``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, command_line, machine, markdown_table, write_results  # noqa: E402

from pyro_vae.data import load_dataset  # noqa: E402
from pyro_vae.evaluation import evaluate_model  # noqa: E402
from pyro_vae.training import TrainConfig, train  # noqa: E402

MODEL_NOTE = {"conv_vae_cb": "continuous Bernoulli likelihood of the intensities in [0, 1]",
              "conv_vae": "Bernoulli likelihood, the intensities binarized afresh each epoch"}
PICTURE = REPO / "docs" / "images" / "rgb_conv_reconstructions.png"


def make_shapes(folder: Path, n: int = 600, height: int = 24, width: int = 32, seed: int = 0) -> Path:
    """``n`` colour images: a disc or a square of one random colour on a background of another."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[:height, :width]
    for i in range(n):
        image = np.empty((height, width, 3), np.float64)
        image[:] = rng.uniform(0, 1, 3)
        radius = rng.uniform(4, 9)
        cy, cx = rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)
        if i % 2:
            inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
        else:
            inside = (abs(rows - cy) <= radius) & (abs(cols - cx) <= radius)
        image[inside] = rng.uniform(0, 1, 3)
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_NOTE), default="conv_vae_cb")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=100, help="K of the test IW bound")
    parser.add_argument("--scratch", default="/tmp/pyro_vae_rgb_conv")
    args = parser.parse_args()

    data = str(make_shapes(Path(args.scratch) / "shapes"))
    run_dir = Path(args.scratch) / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    load_before, t0 = list(os.getloadavg()), time.perf_counter()
    result = train(TrainConfig(model=args.model, dataset=data, epochs=args.epochs, batch_size=args.batch_size,
                               seed=args.seed, progress=False), run_dir)
    train_s = time.perf_counter() - t0
    dataset = load_dataset(data)
    x, y = dataset.for_likelihood(result.model.likelihood).split("test")
    s = evaluate_model(result.model, x, y, k=args.k, seed=args.seed, progress=False).summary()
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "reconstructions.png", PICTURE)
    row = {"model": args.model, "image_shape": list(dataset.image_shape), "test_images": len(x),
           "test_iw": s["log_px_iw"], "test_iw_se": s["log_px_iw_se"], "test_elbo": s["elbo"],
           "test_elbo_se": s["elbo_se"], "active_units": s["active_units_total"], "train_s": train_s}
    protocol = (f"600 seeded colour shapes, 3x24x32 (benchmarks/rgb_conv.py make_shapes), split 0.8/0.1/0.1 by the "
                f"library's seeded rule; {args.model} defaults ({MODEL_NOTE[args.model]}); "
                f"{args.epochs} epochs, batch {args.batch_size}, lr 1e-3, seed {args.seed}; test IW with K={args.k} "
                f"on the {len(x)} test images, +- the se over images")
    shown = {"model": row["model"], "shape": " x ".join(map(str, row["image_shape"])),
             "iw": f"{row['test_iw']:.2f} ± {row['test_iw_se']:.2f}",
             "elbo": f"{row['test_elbo']:.2f} ± {row['test_elbo_se']:.2f}", "au": row["active_units"],
             "s": f"{train_s:.0f}"}
    table = markdown_table([shown], [("model", "model"), ("shape", "C x H x W"), ("iw", f"test IW (K={args.k})"),
                                     ("elbo", "test ELBO"), ("au", "active units"), ("s", "train s")])
    load_after = list(os.getloadavg())
    write_results("rgb_conv", {
        "command": command_line(), "machine": machine(), "protocol": protocol, "rows": [row], "table": table,
        "notes": f"{protocol}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        "picture": f"../{PICTURE.relative_to(REPO)}", "load_before": load_before, "load_after": load_after})
    (RESULTS / "rgb_conv.md").write_text(f"# {args.model} on a colour folder\n\n{protocol}.\n\n{table}\n\n"
                                         f"![reconstructions](../../{PICTURE.relative_to(REPO)})\n")
    print(table)


if __name__ == "__main__":
    main()
