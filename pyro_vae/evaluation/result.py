"""The result of a log-likelihood evaluation: per-datapoint values, their summary, files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .diagnostics import KHAT_THRESHOLD, PSIS_MIN_K

#: Per-datapoint columns, in the order they are written to the CSV table.
COLUMNS = ("log_px_iw", "elbo", "elbo_single", "reconstruction", "kl", "kl_mc_se", "ess", "khat", "log_px_var")
#: Per-datapoint columns of the smaller K computed from prefixes of the same draws.
NESTED_COLUMNS = ("log_px_iw", "ess", "khat")


def khat_note(k: int) -> Optional[str]:
    """Why k-hat is absent for ``k`` draws per datapoint (``None`` when it is reported)."""
    if k < PSIS_MIN_K:
        return (f"no k-hat at K={k}: PSIS fits a Pareto tail to the largest min(K/5, 3 sqrt(K)) weights, "
                f"at least 5 of them, so it needs K >= {PSIS_MIN_K}")
    return None


#: What a large share of k-hat > 0.7 means, printed with the report.
KHAT_MEANING = ("k-hat > 0.7 means the importance weights are so heavy-tailed that the IW estimate's variance "
                "may be infinite: it can sit far below log p(x) and its standard error understates the error; "
                "take a larger K or a better proposal before trusting those datapoints")


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean over datapoints (NaNs ignored)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return float("nan"), float("nan")
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se


def column_means(values: dict, columns) -> dict:
    """The summary of per-datapoint columns, by one naming rule: ``X`` is the mean of column ``X``
    over datapoints and ``X_se`` the standard error of that mean over datapoints (the ``±`` every
    report prints); a column ``X_mc_se`` holds each datapoint's own Monte Carlo standard error,
    summarized by its mean over datapoints alone (named as such wherever it is shown)."""
    out = {}
    for col in columns:
        m, se = mean_se(values[col])
        out[col] = m
        if not col.endswith("_mc_se"):
            out[f"{col}_se"] = se
    return out


def _khat_share(khat: np.ndarray) -> Optional[float]:
    finite = khat[np.isfinite(khat)]
    return float(np.mean(finite > KHAT_THRESHOLD)) if len(finite) else None


class PerDatapointResult:
    """Per-datapoint columns (``values``: name -> numpy array of length ``n``, ``columns`` in table
    order) with a summary: attribute access to the columns, the summary as JSON, the columns as CSV."""

    columns: tuple = ()

    @property
    def n(self) -> int:
        return len(self.values[self.columns[0]])

    def __getattr__(self, name):
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def write_json(self, path, summary: Optional[dict] = None) -> dict:
        """``summary`` (default :meth:`summary`) as JSON into ``path``, atomically."""
        from ..io.files import write_json

        summary = self.summary() if summary is None else summary
        write_json(path, summary)
        return summary

    def table_columns(self) -> dict:
        """The per-datapoint columns of the CSV table, name -> values."""
        return {c: self.values[c] for c in self.columns}

    def write_table(self, path, rows: Optional[np.ndarray] = None) -> None:
        """Per-datapoint CSV (one row per datapoint): ``numpy.genfromtxt(path, delimiter=',', names=True)``.
        Its ``index`` column is each datapoint's row in the split (``rows``, from
        :class:`pyro_vae.data.subset.Subset`; default 0..n-1, the whole split in order)."""
        from ..io.files import atomic_write_bytes

        index = np.arange(self.n) if rows is None else np.asarray(rows)
        columns = self.table_columns()
        table = np.column_stack([index] + list(columns.values()))
        atomic_write_bytes(path, lambda f: np.savetxt(f, table, delimiter=",", fmt="%.9g",
                                                      header=",".join(("index",) + tuple(columns)), comments=""))


@dataclass
class LogLikelihoodEstimate(PerDatapointResult):
    r"""Per-datapoint estimates (nats), all numpy arrays of length ``n``.

    * ``log_px_iw``: :math:`\log \frac1K \sum_k p(x, z_k)/q(z_k|x)` (IWAE bound / estimate)
    * ``elbo``: :math:`\frac1K \sum_k \log w_k` (the ELBO averaged over the K draws)
    * ``elbo_single``: :math:`\log w_1` (a single-sample ELBO)
    * ``kl``: :math:`\mathrm{KL}(q(z|x)\,\|\,p(z))`: the closed form where it is the KL
      (``kl_analytic``; see :mod:`.kl` for when), else the K-sample Monte Carlo estimate
      :math:`\frac1K\sum_k \log q(z_k|x) - \log p(z_k)`; ``kl_mc_se`` its standard error over the
      K draws (0 for a closed form without latent parents); ``kl_note`` says why not closed form
    * ``reconstruction``: ``elbo + kl``, so that ``reconstruction - kl == elbo`` per datapoint
      (with the Monte Carlo KL it is :math:`\frac1K\sum_k \log p(x|z_k)`)
    * ``ess``, ``khat``, ``log_px_var``: diagnostics (see :mod:`.diagnostics`)
    """

    k: int
    values: dict
    kl_analytic: bool
    kl_note: Optional[str] = None  # why the KL is a Monte Carlo estimate (None with the closed form)
    active_units: dict = field(default_factory=dict)
    num_dims: Optional[int] = None  # pixels per image, for bits/dim
    seed: Optional[int] = None
    nested: dict = field(default_factory=dict)  # K' -> {column: [n]} from the first K' draws
    proposal: str = "guide"
    columns = COLUMNS

    def summary(self) -> dict:
        out = {"k": self.k, "n": self.n, "seed": self.seed, "kl_analytic": self.kl_analytic,
               "kl_note": self.kl_note}
        out.update(column_means(self.values, COLUMNS))
        out["proposal"] = self.proposal
        out["khat_share_above_0.7"] = _khat_share(self.values["khat"])
        out["khat_note"] = khat_note(self.k)
        out["nll"] = -out["log_px_iw"]
        if self.num_dims:
            out["bits_per_dim"] = out["nll"] / (self.num_dims * math.log(2))
        out["active_units"] = self.active_units
        out["active_units_total"] = int(sum(self.active_units.values())) if self.active_units else None
        return out

    def table_columns(self) -> dict:
        """The columns at ``k``, then each smaller K's (``log_px_iw_k10``, ...) from the first K draws."""
        out = super().table_columns()
        for k in sorted(self.nested):
            out.update({f"{c}_k{k}": v for c, v in self.nested[k].items()})
        return out

    def ks(self) -> list[int]:
        """Every K with an estimate: the nested prefixes and ``k`` itself."""
        return sorted(self.nested) + [self.k]

    def at(self, k: int) -> dict:
        r"""The summary at ``k`` draws per datapoint: the full :meth:`summary` at ``self.k``; for a
        smaller K, the IW estimate, ESS and k-hat from the first K of the same draws.

        Nested prefixes rather than disjoint subsets: the K draws of a datapoint are i.i.d., so
        the first K' of them are a sample of the K'-draw estimator like any other K' (each
        :math:`\hat{\mathcal L}_{K'}` is what an evaluation with K' draws would give, and its
        standard error over datapoints is as valid), the whole curve costs no extra draws, and
        its steps show the estimator's change with K rather than the noise of independent draws.
        """
        if k == self.k:
            return self.summary()
        if k not in self.nested:
            raise KeyError(f"no estimate at K={k}: this evaluation has {self.ks()}")
        cols = self.nested[k]
        iw, iw_se = mean_se(cols["log_px_iw"])
        elbo, elbo_se = mean_se(self.values["elbo"])
        ess, ess_se = mean_se(cols["ess"])
        out = {"k": k, "n": self.n, "seed": self.seed, "proposal": self.proposal, "nested_in": self.k,
               "log_px_iw": iw, "log_px_iw_se": iw_se, "elbo": elbo, "elbo_se": elbo_se, "ess": ess, "ess_se": ess_se,
               "khat_share_above_0.7": _khat_share(cols["khat"]), "khat_note": khat_note(k), "nll": -iw}
        if self.num_dims:
            out["bits_per_dim"] = -iw / (self.num_dims * math.log(2))
        return out
