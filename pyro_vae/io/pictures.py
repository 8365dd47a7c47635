"""Pictures of a trained model: samples, reconstructions, traversals, interpolations, KL per
latent dimension, training curve, latent scatter; each titled (model, dataset, epoch)."""

from __future__ import annotations

import math
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


def _as_images(images: torch.Tensor, image_shape: Sequence[int]) -> torch.Tensor:
    """``[N, D]`` values in [0, 1] as ``[N, C, H, W]`` (grey: C = 1)."""
    shape = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
    return images.detach().float().cpu().clamp(0, 1).reshape(len(images), *shape)


def save_image_grid(images: torch.Tensor, image_shape: Sequence[int], path, nrow: int = 10, title: str = "",
                    row_labels: Optional[Sequence[str]] = None, cell_inches: float = 0.6) -> Path:
    """``[N, D]`` images in [0, 1] (grey or colour) as a grid of ``nrow`` per row, with a title
    and a label at the left of each row; each image about ``cell_inches`` wide."""
    from torchvision.utils import make_grid

    pad = 2
    grid = make_grid(_as_images(images, image_shape), nrow=nrow, padding=pad, pad_value=0.5)
    rows = math.ceil(len(images) / nrow)
    height, width = grid.shape[1], grid.shape[2]
    label_space = 1.4 if row_labels else 0.2
    axes_w = min(nrow, len(images)) * cell_inches
    axes_h = axes_w * height / max(width, 1)
    fig_w, fig_h = axes_w + label_space + 0.1, axes_h + (0.45 if title else 0.1)
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes([label_space / fig_w, 0.05 / fig_h, axes_w / fig_w, axes_h / fig_h])
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap=None if grid.shape[0] == 3 else "gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.05 / fig_h, va="top")
    for r, label in enumerate(row_labels or []):
        y = pad + r * (height - pad) / rows + (height - pad) / rows / 2
        ax.text(-4, y, label, ha="right", va="center", fontsize=8)
    return save_figure(fig, path)


def save_point_cloud(points: dict, path, title: str = "", axes=("x[0]", "x[1]")) -> Path:
    """Scatter of 2-D point sets ``{label: [N, 2]}`` in one panel."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, pts in points.items():
        pts = pts.detach().cpu()
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.5, label=label)
    ax.legend(markerscale=3)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def save_training_curve(metrics: list, path, title: str = "") -> Path:
    """The training objective and the validation ELBO (and IW bound) per epoch, nats per datapoint."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [m["epoch"] for m in metrics]
    ax.plot(epochs, [m.get("train_objective", m.get("train_elbo")) for m in metrics], "o-",
            label="training objective")
    ax.plot(epochs, [m["valid_elbo"] for m in metrics], "s-", label="valid ELBO")
    if metrics and "valid_log_px_iw" in metrics[0]:
        ax.plot(epochs, [m["valid_log_px_iw"] for m in metrics], "^-", label="valid IW bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per datapoint")
    ax.set_title(title, fontsize=10)
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
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def kl_per_dimension(model, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dict:
    """``{latent: (activity [dim], kl [dim] or None)}`` over the datapoints ``x``.

    Activity is Burda et al.'s :math:`\\mathrm{Cov}_x(E_q[z_u])` (a unit is active above 0.01).
    The KL of each dimension, :math:`E_x\\, KL(q(z_u \\mid x) \\| p(z_u \\mid \\ldots))`, is
    the closed form of two Normals where both the guide and the prior of the latent are
    diagonal Normals (the prior evaluated at the guide's draw of its parents); else ``None``.
    """
    import pyro.poutine as poutine
    from torch.distributions import Independent, Normal, kl_divergence

    args = model.data_args(x, y)
    with poutine.block():
        guide = poutine.trace(model.guide).get_trace(*args)
        prior = poutine.trace(poutine.replay(model.model, trace=guide)).get_trace(*args)
    means = model.posterior_means(x, y)
    out = {}
    for name, m in means.items():
        activity = m.var(0) if len(m) > 1 else torch.zeros(m.shape[1])
        q, p = guide.nodes[name]["fn"], prior.nodes.get(name, {}).get("fn")
        kl = None
        if isinstance(q, Independent) and isinstance(p, Independent) and isinstance(q.base_dist, Normal) \
                and isinstance(p.base_dist, Normal):
            kl = kl_divergence(q.base_dist, p.base_dist).reshape(len(x), -1).mean(0)
        out[name] = (activity.cpu(), None if kl is None else kl.cpu())
    return out


def save_kl_per_dimension(stats: dict, path, title: str = "") -> Path:
    """Bars of the KL (where it has a closed form) and the activity of each latent dimension."""
    fig, axes = plt.subplots(len(stats), 1, figsize=(7, 2.6 * len(stats)), squeeze=False)
    for ax, (name, (activity, kl)) in zip(axes[:, 0], stats.items()):
        dims = range(len(activity))
        active = int((activity > 0.01).sum())
        if kl is not None:
            ax.bar(dims, kl.numpy(), color=["C0" if a > 0.01 else "C7" for a in activity])
            ax.set_ylabel("KL (nats)")
            what = f"KL per dimension, total {float(kl.sum()):.2f} nats"
        else:
            ax.bar(dims, activity.numpy(), color="C1")
            ax.axhline(0.01, color="k", lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.set_ylabel("Cov_x(E_q[z])")
            what = "activity per dimension (the prior has no per-dimension KL)"
        ax.set_title(f"{name}: {what}; {active}/{len(activity)} active units (grey: inactive)", fontsize=9)
        ax.set_xlabel(f"{name} dimension")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def save_model_pictures(model, data, run_dir, metrics: list, seed: int = 0, title: str = "") -> list[Path]:
    """All pictures of a trained model into ``run_dir``; returns the paths written.

    Always: ``training_curve.png``, ``kl_per_dimension.png``. Images: ``samples.png``,
    ``reconstructions.png`` (rows of data above rows of their reconstructions),
    ``traversals.png`` (the most active dimensions of the top latent from -3 to 3) and
    ``interpolations.png`` (between pairs of test images). Low-dimensional real data: samples
    and reconstructions over the data. A 2-D latent: ``latent.png``.
    """
    run_dir = Path(run_dir)
    torch.manual_seed(seed)
    x, y = data.split("test")
    x = x[: min(len(x), 1000)].to(model.device)
    y = y[: len(x)].to(model.device) if y is not None else None
    y_model = y if model.uses_labels else None
    shape = data.image_shape
    prefix = f"{title}: " if title else ""
    out = []
    if metrics:
        out.append(save_training_curve(metrics, run_dir / "training_curve.png", title))
    if shape:
        n = 100
        y_gen = (torch.arange(n, device=model.device) // 10) % (data.num_classes or 1) if model.uses_labels else None
        out.append(save_image_grid(model.sample(n, y_gen), shape, run_dir / "samples.png",
                                   title=prefix + "samples (means of p(x | z), z from the prior)"))
        k = min(50, len(x)) // 10 * 10 or len(x)
        rows = min(10, k)
        recon = model.reconstruct(x[:k], None if y_model is None else y_model[:k])
        pairs = torch.stack([x[:k].reshape(-1, rows, x.shape[1]), recon.reshape(-1, rows, x.shape[1])], 1)
        shown = "data (binarized)" if data.dynamic_binarization else "data"  # the draw the model scores
        labels = [shown, "reconstruction"] * (k // rows)
        what = "binarized test data" if data.dynamic_binarization else "test data"
        out.append(save_image_grid(pairs.reshape(2 * k, -1), shape, run_dir / "reconstructions.png", nrow=rows,
                                   title=prefix + f"{what} and reconstructions", row_labels=labels))
        out.append(_traversals(model, x, y_model, shape, run_dir / "traversals.png", prefix))
        if len(x) >= 2:
            out.append(_interpolations(model, x, y_model, shape, run_dir / "interpolations.png", prefix))
    elif model.x_dim <= 10:
        from pyro.poutine import block, trace

        dummy = torch.zeros(len(x), model.x_dim, device=model.device)
        with block():
            tr = trace(model.model).get_trace(*model.data_args(dummy, y_model))
        drawn = tr.nodes[model.observed_site]["fn"].sample()
        out.append(save_point_cloud({"data": x[:, :2], "model samples": drawn[:, :2]}, run_dir / "samples.png",
                                    prefix + "test data and samples from p(x)"))
        out.append(save_point_cloud({"data": x[:, :2], "reconstruction": model.reconstruct(x, y_model)[:, :2]},
                                    run_dir / "reconstructions.png", prefix + "data and reconstruction means"))
    if len(x) > 1:
        out.append(save_kl_per_dimension(kl_per_dimension(model, x, y_model), run_dir / "kl_per_dimension.png",
                                         title))
    means = model.posterior_means(x, y_model)
    first = next(iter(means.values()), None)
    if first is not None and first.shape[1] == 2:
        out.append(save_latent_scatter(first, y, run_dir / "latent.png", prefix + "posterior means of z (test)"))
    return out


def _traversals(model, x, y, shape, path, prefix: str, dims: int = 8, steps: int = 9) -> Path:
    """Rows: the ``dims`` most active dimensions of the model's top latent, each set from -3 to 3."""
    top = model.latent_sites(y)[0]
    activity = model.posterior_means(x, y)[top].var(0)
    chosen = activity.argsort(descending=True)[: min(dims, len(activity))].tolist()
    values = torch.linspace(-3, 3, steps)
    y0 = None if y is None else y[0]
    rows = [model.traverse(x[0], top, d, values, y0) for d in chosen]
    return save_image_grid(torch.cat(rows), shape, path, nrow=steps, row_labels=[f"{top}[{d}]" for d in chosen],
                           title=prefix + f"traversals of {top} from -3 to 3 (test image 0, most active dims)")


def _interpolations(model, x, y, shape, path, prefix: str, pairs: int = 5, steps: int = 10) -> Path:
    """Rows: decodings along the line between the encodings of two test images."""
    count = min(pairs, len(x) // 2)
    rows = [model.interpolate(x[2 * i], x[2 * i + 1], steps, None if y is None else y[2 * i]) for i in range(count)]
    return save_image_grid(torch.cat(rows), shape, path, nrow=steps,
                           row_labels=[f"{2 * i} -> {2 * i + 1}" for i in range(count)],
                           title=prefix + "interpolations between test images (in every latent's mean)")
