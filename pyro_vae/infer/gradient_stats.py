r"""Gradient statistics of an estimator at fixed parameters (Rainforth et al. 2018).

For each parameter coordinate :math:`j`, from :math:`R` independent gradient draws
:math:`g^{(r)}` of the estimator's objective at the same parameters and the same batch:

.. math::
    \mathrm{SNR}_j = \frac{|\bar g_j|}{\hat\sigma_j},\qquad
    \bar g_j = \frac1R\sum_r g^{(r)}_j,\qquad
    \hat\sigma_j^2 = \frac{1}{R-1}\sum_r (g^{(r)}_j - \bar g_j)^2.

Reported separately for the model's (generative) and the guide's (inference) parameters, as the
mean SNR over coordinates and the total variance :math:`\sum_j \hat\sigma_j^2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import torch

from .estimators.base import model_and_guide_params
from .particles import guess_max_plate_nesting, trace_particles


@dataclass
class GradientStats:
    snr_model: float
    snr_guide: float
    variance_model: float
    variance_guide: float
    num_draws: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _summary(draws: torch.Tensor) -> tuple[float, float]:
    mean, std = draws.mean(0), draws.std(0, unbiased=True)
    ok = std > 0
    snr = (mean[ok].abs() / std[ok]).mean() if ok.any() else torch.tensor(float("nan"))
    return float(snr), float((std ** 2).sum())


def gradient_stats(model, guide, loss: pyro.infer.ELBO, args=(), kwargs=None, num_draws: int = 100,
                   seed: int = 0) -> GradientStats:
    """SNR and variance of ``loss``'s gradients for model and guide parameters (``num_draws`` draws).

    Parameters are found as the ``param`` sites of one traced run (``pyro.module`` / ``pyro.param``).
    """
    kwargs = kwargs or {}
    nesting = guess_max_plate_nesting(model, guide, args, kwargs)
    pt = trace_particles(model, guide, args, kwargs, num_particles=1, max_plate_nesting=nesting)
    model_params, guide_params = model_and_guide_params(pt)
    params = model_params + guide_params
    pyro.set_rng_seed(seed)
    rows = []
    for _ in range(num_draws):
        for p in params:
            p.grad = None
        loss.loss_and_grads(model, guide, *args, **kwargs)
        rows.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]))
    draws = torch.stack(rows)
    split = sum(p.numel() for p in model_params)
    snr_m, var_m = _summary(draws[:, :split])
    snr_g, var_g = _summary(draws[:, split:])
    for p in params:
        p.grad = None
    return GradientStats(snr_m, snr_g, var_m, var_g, num_draws)
