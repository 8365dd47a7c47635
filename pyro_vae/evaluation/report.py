"""Tables and plots over runs and K (``pyro-vae evaluate RUN [RUN ...] --k 1,10,100``).

One row per (run, K): the IW estimate with its standard error over datapoints, the ELBO, their
gap, ESS and the share of k-hat above 0.7 (absent, with the reason, where K is too small for
PSIS). Written as Markdown, CSV and JSON, with ``iw_vs_k.png``: IW_K and the ELBO against K per
run, log x-axis, error bars of one standard error.
"""

from __future__ import annotations

from pathlib import Path

from ..io.tables import markdown_table, write_csv

COLUMNS = [("run", "run"), ("proposal", "proposal"), ("k", "K"), ("log_px_iw", "IW_K"), ("log_px_iw_se", "±"),
           ("elbo", "ELBO"), ("elbo_se", "±"), ("gap", "IW_K - ELBO"), ("ess", "ESS"),
           ("khat_share_above_0.7", "share k-hat > 0.7"), ("n", "n")]


def rows_over_k(name: str, estimate) -> list[dict]:
    """The table rows of one run's evaluation at each of its K."""
    rows = []
    for k in estimate.ks():
        s = estimate.at(k)
        rows.append({"run": name, "proposal": s["proposal"], "k": k, "log_px_iw": s["log_px_iw"],
                     "log_px_iw_se": s["log_px_iw_se"], "elbo": s["elbo"], "elbo_se": s["elbo_se"],
                     "gap": s["log_px_iw"] - s["elbo"], "ess": s["ess"],
                     "khat_share_above_0.7": s["khat_share_above_0.7"], "khat_note": s["khat_note"], "n": s["n"]})
    return rows


def guide_savings(rows: list[dict]) -> list[str]:
    """Per run with both proposals: the smallest K at which the guide's IW_K reaches the prior's
    estimate at its largest K (the draws the learned guide saves for the same accuracy)."""
    lines = []
    for run in dict.fromkeys(r["run"] for r in rows):
        guide = sorted((r for r in rows if r["run"] == run and r["proposal"] == "guide"), key=lambda r: r["k"])
        prior = sorted((r for r in rows if r["run"] == run and r["proposal"] == "prior"), key=lambda r: r["k"])
        if not guide or not prior:
            continue
        target = prior[-1]
        reach = next((r for r in guide if r["log_px_iw"] >= target["log_px_iw"]), None)
        if reach is None:
            lines.append(f"{run}: the prior proposal's K={target['k']} estimate {target['log_px_iw']:.2f} is above the "
                         f"guide's at every K (up to {guide[-1]['k']}): the guide does not beat the prior here")
        else:
            lines.append(f"{run}: the prior proposal reaches {target['log_px_iw']:.2f} with K={target['k']}; the guide "
                         f"reaches it with K={reach['k']} ({reach['log_px_iw']:.2f}): {target['k'] / reach['k']:.0f}x "
                         f"fewer draws, and goes on to {guide[-1]['log_px_iw']:.2f} at K={guide[-1]['k']}")
    return lines


def write_report(rows: list[dict], out, meta: dict) -> list[Path]:
    """``evaluate.md``, ``evaluate.csv``, ``evaluate.json`` and ``iw_vs_k.png`` into ``out``."""
    from ..io.files import atomic_write_bytes, write_json

    out = Path(out)
    table = markdown_table(rows, COLUMNS)
    notes = guide_savings(rows) + sorted({r["khat_note"] for r in rows if r.get("khat_note")})
    text = table + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"
    paths = [atomic_write_bytes(out / "evaluate.md", lambda f: f.write(text.encode())),
             write_csv(out / "evaluate.csv", rows, COLUMNS + [("khat_note", "k-hat note")])]
    write_json(out / "evaluate.json", {**meta, "rows": rows, "table": table})
    paths.append(out / "evaluate.json")
    paths.append(plot_iw_vs_k(rows, out / "iw_vs_k.png", meta.get("title", "")))
    return paths


def plot_iw_vs_k(rows: list[dict], path, title: str = "") -> Path:
    """One panel per run (their scales differ): IW_K with error bars against K, log x-axis, and
    the ELBO as a dashed line; a prior-proposal series in the same panel as squares."""
    import math

    from ..io.pictures import plt, save_figure

    runs = list(dict.fromkeys(r["run"] for r in rows))
    cols = min(3, len(runs))
    nrows = math.ceil(len(runs) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    ks = sorted({r["k"] for r in rows})
    for ax, run in zip(axes.flat, runs):
        for i, proposal in enumerate(dict.fromkeys(r["proposal"] for r in rows if r["run"] == run)):
            mine = sorted((r for r in rows if (r["run"], r["proposal"]) == (run, proposal)), key=lambda r: r["k"])
            ax.errorbar([r["k"] for r in mine], [r["log_px_iw"] for r in mine],
                        yerr=[r["log_px_iw_se"] for r in mine], fmt="o-" if proposal == "guide" else "s:",
                        color=f"C{i}", capsize=3, label=f"IW_K ({proposal} proposal)")
            ax.axhline(mine[-1]["elbo"], color=f"C{i}", ls="--", lw=0.8, label=f"ELBO ({proposal})")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_title(run, fontsize=9)
        ax.set_xlabel("K (importance samples per datapoint)")
        ax.set_ylabel("nats per datapoint (mean ± se)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(runs):]:
        ax.set_axis_off()
    fig.suptitle(title or "IW estimate of log p(x) against K", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


#: Columns of the BDMC gap table (``evaluate --method bdmc --num-steps 10,100,1000``).
BDMC_COLUMNS = [("num_steps", "AIS steps"), ("lower", "forward AIS (lower)"), ("upper", "reverse AIS (upper)"),
                ("gap", "gap"), ("gap_se", "± (se over data)"), ("acceptance_forward", "acceptance"),
                ("n", "n")]


def write_bdmc_gap(rows: list[dict], out, meta: dict) -> list[Path]:
    """``bdmc_gap.md``, ``bdmc_gap.json`` and ``bdmc_gap.png`` (the gap against AIS steps) into ``out``."""
    from ..io.files import atomic_write_bytes, write_json

    out = Path(out)
    table = markdown_table(rows, BDMC_COLUMNS)
    paths = [atomic_write_bytes(out / "bdmc_gap.md", lambda f: f.write((table + "\n").encode()))]
    write_json(out / "bdmc_gap.json", {**meta, "rows": rows, "table": table})
    paths.append(out / "bdmc_gap.json")
    paths.append(plot_bdmc_gap(rows, out / "bdmc_gap.png", meta.get("title", "")))
    return paths


def plot_bdmc_gap(rows: list[dict], path, title: str = "") -> Path:
    """Left: the two bounds against AIS steps (mean ± se over the simulated data); right: their gap,
    log-log (it shrinks roughly like 1/steps once the chains track the path)."""
    from ..io.pictures import plt, save_figure

    rows = sorted(rows, key=lambda r: r["num_steps"])
    steps = [r["num_steps"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.errorbar(steps, [r["lower"] for r in rows], yerr=[r["lower_se"] for r in rows], fmt="o-",
                  capsize=3, label="forward AIS (stochastic lower bound)")
    left.errorbar(steps, [r["upper"] for r in rows], yerr=[r["upper_se"] for r in rows], fmt="s-",
                  capsize=3, label="reverse AIS (stochastic upper bound)")
    left.set_ylabel("log p(x), nats per datapoint")
    right.errorbar(steps, [max(r["gap"], 1e-6) for r in rows], yerr=[r["gap_se"] for r in rows],
                   fmt="o-", color="C2", capsize=3)
    right.set_yscale("log")
    right.set_ylabel("gap upper - lower (nats)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.minorticks_off()
        ax.set_xlabel("AIS steps (intermediate distributions)")
        ax.grid(alpha=0.3)
    left.legend(fontsize=7)
    fig.suptitle(title or f"BDMC on {rows[0]['n']} simulated datapoints", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
