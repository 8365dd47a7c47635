r"""Diagnostics of an importance-weighted estimate, per datapoint, from its log weights.

All functions take ``log_w`` of shape ``[K, N]`` (particles x datapoints).

* Effective sample size of the normalized weights (Kish):
  :math:`\mathrm{ESS} = (\sum_k w_k)^2 / \sum_k w_k^2`, computed in log space.
* Delta-method variance of :math:`\log \hat p_K = \log \frac1K \sum_k w_k`:
  :math:`\mathrm{Var}[\hat p_K]/p^2 \approx \frac1K(\frac{K}{\mathrm{ESS}} - 1)`, i.e.
  :math:`\mathrm{Var}[\log \hat p_K] \approx 1/\mathrm{ESS} - 1/K`.
* Pareto :math:`\hat k` of the weights' upper tail from ArviZ's PSIS (Vehtari et al. 2024):
  above 0.7 the estimate is unreliable (the weights' variance is likely infinite).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

KHAT_THRESHOLD = 0.7
#: Fewest draws per datapoint with a k-hat: ArviZ's PSIS fits the largest ceil(min(K/5, 3 sqrt(K)))
#: weights and reports inf below a tail of 5, i.e. for K <= 20.
PSIS_MIN_K = 21


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    return (2 * log_w.logsumexp(0) - (2 * log_w).logsumexp(0)).exp()


def log_estimate_variance(log_w: torch.Tensor) -> torch.Tensor:
    """Delta-method variance of the log of the IW estimate (see module docstring)."""
    k = log_w.shape[0]
    return (1.0 / effective_sample_size(log_w) - 1.0 / k).clamp(min=0.0)


def pareto_khat(log_w_rows: np.ndarray) -> np.ndarray:
    """PSIS shape parameter :math:`\\hat k` per datapoint (``arviz.psislw``), NaN when K < :data:`PSIS_MIN_K`.

    :param log_w_rows: ``[N, K]`` log weights, one row per datapoint (note: rows, not ``[K, N]``).
    """
    lw = np.asarray(log_w_rows, dtype=np.float64)
    if lw.shape[1] < PSIS_MIN_K:
        return np.full(lw.shape[0], np.nan)
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns on every k-hat > 0.7; we report the share
        _, khat = az.psislw(lw)
    return np.asarray(khat, dtype=np.float64)


def active_units(posterior_means: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    r"""Burda et al. (2015): unit :math:`u` is active if :math:`\mathrm{Cov}_x(E_{q(z|x)}[z_u]) > 0.01`.

    :param posterior_means: ``[N, D]`` posterior means, one row per datapoint.
    :return: boolean mask of length ``D``.
    """
    return posterior_means.var(axis=0, ddof=1) > threshold
