r"""Per-datapoint Gaussian posteriors fitted by direct optimization: the :math:`q^*` of the
amortization gap (Cremer, Li & Duvenaud 2018).

For each datapoint :math:`x_n` a free Gaussian :math:`q^*_n(z) = \mathcal N(m_n, \operatorname{diag} s_n^2)`
maximizes its own ELBO with the model's parameters frozen,

.. math::
    \mathcal L_n(m_n, s_n) = \mathbb E_{q^*_n}[\log p(x_n, z)] + \mathbb H[q^*_n],

starting from the amortized guide's mean and standard deviation at :math:`x_n`. The three
numbers per datapoint then split the gap between :math:`\log p(x)` and the encoder's ELBO:

* approximation gap :math:`\log p(x) - \mathcal L[q^*]`: what the Gaussian family cannot express,
* amortization gap :math:`\mathcal L[q^*] - \mathcal L[q_\phi]`: what the encoder loses by
  sharing one network across datapoints.

The fit runs all datapoints of a block at once (their objectives are independent, and Adam is
per-coordinate, so this is one optimizer per datapoint) with Pyro's ``TraceMeanField_ELBO``
(analytic KL where Pyro has it) on the model itself, the learning rate decaying along a cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine


def local_pair(model, site: str = "z", data_plate: str = "data"):
    """A model/guide pair over ``(x, loc, scale)``: the model is ``model(x)``; the guide draws
    ``site`` from ``N(loc, diag scale^2)`` in the plate ``data_plate``. Usable with
    :func:`pyro_vae.evaluation.evaluate_log_likelihood` (all three tensors split along dim 0)."""

    def local_model(x, loc, scale):
        model(x)

    def local_guide(x, loc, scale):
        with pyro.plate(data_plate, x.shape[0]):
            pyro.sample(site, dist.Normal(loc, scale).to_event(1))

    return local_model, local_guide


@dataclass
class LocalGaussian:
    """Fitted per-datapoint parameters ``loc``, ``scale`` [N, d] and the mean ELBO per logged step."""

    loc: torch.Tensor
    scale: torch.Tensor
    history: list  # (step, mean ELBO over datapoints in nats, a Monte Carlo estimate)


def guide_moments(guide, x: torch.Tensor, site: str = "z") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the guide's ``site`` at ``x`` (the fit's starting point)."""
    with torch.no_grad():
        tr = poutine.trace(guide).get_trace(x)
    fn = tr.nodes[site]["fn"]
    return fn.mean.detach(), fn.stddev.detach()


def fit_local_gaussian(model, guide, x: torch.Tensor, *, site: str = "z", data_plate: str = "data",
                       steps: int = 1000, lr: float = 1e-2, num_particles: int = 16, block: int = 500,
                       log_every: int = 50, seed: int = 0, progress: bool = False) -> LocalGaussian:
    """Fit :math:`q^*_n` for every row of ``x`` (see the module docstring); the model's own
    parameters receive no update (gradients are taken with respect to ``loc``/``log scale`` only)."""
    from tqdm.auto import tqdm

    pyro.set_rng_seed(seed)
    local_model, local_guide = local_pair(model, site, data_plate)
    elbo = pyro.infer.TraceMeanField_ELBO(num_particles=num_particles, vectorize_particles=True,
                                          max_plate_nesting=1)
    locs, scales, curves = [], [], []
    bar = tqdm(total=steps * ((len(x) + block - 1) // block), desc="fitting q*", disable=not progress)
    for start in range(0, len(x), block):
        xb = x[start:start + block]
        loc0, scale0 = guide_moments(guide, xb, site)
        loc = loc0.clone().requires_grad_(True)
        log_scale = scale0.log().clone().requires_grad_(True)
        optim = torch.optim.Adam([loc, log_scale], lr=lr)
        # cosine decay to lr/100: the last iterates average out the Monte Carlo noise of the gradient
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=steps, eta_min=lr / 100)
        curve = []
        for step in range(1, steps + 1):
            loss = elbo.differentiable_loss(local_model, local_guide, xb, loc, log_scale.exp())
            g_loc, g_log_scale = torch.autograd.grad(loss, [loc, log_scale])
            loc.grad, log_scale.grad = g_loc, g_log_scale
            optim.step()
            schedule.step()
            if step % log_every == 0 or step == steps:
                curve.append((step, -loss.item() / len(xb)))
            bar.update()
        locs.append(loc.detach())
        scales.append(log_scale.detach().exp())
        curves.append(curve)
    bar.close()
    weights = [min(block, len(x) - s) / len(x) for s in range(0, len(x), block)]
    history = [(step, sum(w * c[i][1] for w, c in zip(weights, curves))) for i, (step, _) in enumerate(curves[0])]
    return LocalGaussian(torch.cat(locs), torch.cat(scales), history)
