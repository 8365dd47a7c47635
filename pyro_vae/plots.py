"""Pictures of a trained model: samples, reconstructions, training curve, latent scatter."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .files import atomic_write_bytes  # noqa: E402


def _format(path) -> str:
    """The image format of ``path`` from its extension (``.jpg`` -> ``jpeg``)."""
    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    return "jpeg" if suffix == "jpg" else suffix


def save_figure(fig, path, dpi: int = 100) -> Path:
    """``fig`` into ``path`` atomically, then closed."""
    try:
        return atomic_write_bytes(path, lambda f: fig.savefig(f, dpi=dpi, format=_format(path)))
    finally:
        plt.close(fig)


def save_image_grid(images: torch.Tensor, image_shape: Sequence[int], path, nrow: int = 10) -> Path:
    """Save ``[N, D]`` images in [0, 1] as a grid (torchvision's ``save_image``)."""
    from torchvision.utils import save_image

    imgs = images.detach().cpu().clamp(0, 1).reshape(len(images), 1, *image_shape)
    return atomic_write_bytes(path, lambda f: save_image(imgs, f, nrow=nrow, padding=2, pad_value=0.5,
                                                         format=_format(path).upper()))


def save_point_cloud(points: dict, path, title: str = "") -> Path:
    """Scatter of 2-D point sets ``{label: [N, 2]}`` in one panel."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, pts in points.items():
        pts = pts.detach().cpu()
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.5, label=label)
    ax.legend(markerscale=3)
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_training_curve(metrics: list, path) -> Path:
    """Train and validation ELBO (nats per datapoint) per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [m["epoch"] for m in metrics]
    ax.plot(epochs, [m["train_elbo"] for m in metrics], "o-", label="train ELBO")
    ax.plot(epochs, [m["valid_elbo"] for m in metrics], "s-", label="valid ELBO")
    if metrics and "valid_log_px_iw" in metrics[0]:
        ax.plot(epochs, [m["valid_log_px_iw"] for m in metrics], "^-", label="valid IW bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per datapoint")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def save_latent_scatter(means: torch.Tensor, labels: Optional[torch.Tensor], path, title: str = "") -> Path:
    """Posterior means of a 2-D latent, coloured by label."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    means = means.detach().cpu()
    c = labels.cpu().numpy() if labels is not None else None
    sc = ax.scatter(means[:, 0], means[:, 1], c=c, cmap="tab10", s=5, alpha=0.7)
    if c is not None:
        fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def save_model_pictures(model, data, run_dir, metrics: list, seed: int = 0) -> list[Path]:
    """All pictures of a trained model into ``run_dir``; returns the paths written."""
    run_dir = Path(run_dir)
    torch.manual_seed(seed)
    x, y = data.split("test")
    x, y = x.to(model.device), (y.to(model.device) if y is not None else None)
    shape = data.image_shape
    out = []
    if metrics:
        out.append(save_training_curve(metrics, run_dir / "training_curve.png"))
    if shape:
        n = 100
        y_gen = (torch.arange(n, device=model.device) // 10) % (data.num_classes or 1) if model.uses_labels else None
        out.append(save_image_grid(model.generate(n, y_gen), shape, run_dir / "samples.png"))
        k = min(50, len(x)) // 10 * 10 or len(x)
        recon = model.reconstruct(x[:k], None if y is None else y[:k])
        rows = min(10, k)  # a row of data above the row of its reconstructions
        pairs = torch.stack([x[:k].reshape(-1, rows, x.shape[1]), recon.reshape(-1, rows, x.shape[1])], 1)
        out.append(save_image_grid(pairs.reshape(2 * k, -1), shape, run_dir / "reconstructions.png", nrow=rows))
    elif model.x_dim == 2:
        from pyro.poutine import block, trace

        dummy = torch.zeros(len(x), 2, device=model.device)
        with block():
            tr = trace(model.model).get_trace(*model.data_args(dummy, y))
        drawn = tr.nodes[model.observed_site]["fn"].sample()
        out.append(save_point_cloud({"data": x, "model samples": drawn}, run_dir / "samples.png",
                                    "test data vs samples from p(x)"))
        out.append(save_point_cloud({"data": x, "reconstruction": model.reconstruct(x, y)},
                                    run_dir / "reconstructions.png", "data vs reconstruction means"))
    means = model.posterior_means(x, y)
    first = next(iter(means.values()), None)
    if first is not None and first.shape[1] == 2:
        out.append(save_latent_scatter(first, y, run_dir / "latent.png", "posterior means of z (test)"))
    return out
