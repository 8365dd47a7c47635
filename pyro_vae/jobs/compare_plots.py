"""Plots of an estimator comparison (``pyro-vae compare``): titled, axes labelled, with legends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.pictures import plt, save_figure


def _curves(payload: dict, label: str, x_key: str):
    """``(x, mean, low, high)`` of the valid ELBO over seeds, on the epochs all seeds reached."""
    runs = [r for r in payload["runs"] if r["estimator"] == label]
    length = min(len(r["curve"]) for r in runs)
    y = np.array([[p["valid_elbo"] for p in r["curve"][:length]] for r in runs])
    x = np.array([[p[x_key] for p in r["curve"][:length]] for r in runs]).mean(0)
    return x, y.mean(0), y.min(0), y.max(0)


def save_comparison_plots(payload: dict, out) -> list[Path]:
    out = Path(out)
    labels = [row["estimator"] for row in payload["summary"]]
    opts = payload["options"]
    title = f"{opts['model']} on {Path(str(opts['dataset'])).name}"
    paths = []
    for x_key, xlabel, name in (("epoch", "epoch", "bound_vs_epoch.png"),
                                ("elapsed_s", "training seconds (wall clock)", "bound_vs_seconds.png")):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for i, label in enumerate(labels):
            x, mean, low, high = _curves(payload, label, x_key)
            ax.plot(x, mean, "o-", ms=3, color=f"C{i}", label=label)
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("valid ELBO (nats per datapoint)")
        ax.set_title(f"{title}: valid ELBO, mean and range over {len(opts['seeds'])} seed(s)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(save_figure(fig, out / name))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    by_name: dict = {}
    for row in payload["summary"]:
        name, k = row["estimator"].split(":")[0].split("@")[0], _particles(row["estimator"])
        by_name.setdefault(name, []).append((k, row))
    for ax, key, what in ((axes[0], "snr_guide", "guide (inference network)"),
                          (axes[1], "snr_model", "model (generative network)")):
        for i, (name, pts) in enumerate(by_name.items()):
            pts = sorted(pts, key=lambda p: p[0])
            ax.errorbar([k for k, _ in pts], [r[key] for _, r in pts], yerr=[r.get(key + "_se") or 0 for _, r in pts],
                        fmt="o-", color=f"C{i}", label=name, capsize=3)
        ax.set_xscale("log")
        ks = sorted({k for pts in by_name.values() for k, _ in pts})
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("K (particles per datapoint)")
        ax.set_ylabel("mean SNR |E g| / sd g")
        ax.set_title(what, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: gradient SNR at the shared point ({opts['snr_draws']} draws)", fontsize=10)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "snr_vs_k.png"))

    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(labels) + 1.6))
    rows = payload["summary"]
    y = np.arange(len(rows))
    ratio = np.array([r["time_vs_elbo"] for r in rows])
    err = np.array([[r["time_vs_elbo"] - r["time_vs_elbo_q1"], r["time_vs_elbo_q3"] - r["time_vs_elbo"]] for r in rows]).T
    ax.barh(y, ratio, xerr=err, color="C0", capsize=3)
    for yi, r in zip(y, rows):
        ax.text(r["time_vs_elbo_q3"], yi, f"  {r['ms_per_step']:.1f} ms", va="center", fontsize=8)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, labels)
    ax.set_xlabel("time per step / time of an elbo step (median, quartiles)")
    ax.set_title(f"{title}: time per step at the shared point", fontsize=9)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "time_per_step.png"))
    return paths


def _particles(label: str) -> int:
    """Particles per datapoint of ``NAME[:K[xM]][@B]`` (K times M)."""
    if ":" not in label:
        return 1
    k = label.split(":")[1].split("@")[0]
    inner, _, outer = k.partition("x")
    return int(inner) * (int(outer) if outer else 1)
