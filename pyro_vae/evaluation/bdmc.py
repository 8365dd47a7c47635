r"""Bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015): bracket :math:`\log p(x)` on data
simulated from the model.

Draw :math:`(z_n, x_n) \sim p(z)\,p(x \mid z)`; then :math:`z_n` is an exact sample of
:math:`p(z \mid x_n)`. Forward AIS on :math:`x_n` gives :math:`\mathcal L_n`,
:math:`E\,\mathcal L_n \le \log p(x_n)`; reverse AIS started at :math:`z_n` gives
:math:`\mathcal U_n = -\log\frac1C\sum_c w^{\text{rev}}_c` with :math:`E\,\mathcal U_n \ge \log p(x_n)`.
The gap :math:`\mathcal U_n - \mathcal L_n` bounds (in expectation) the error of forward AIS with
the same settings on that datapoint; a small mean gap on simulated data is the evidence that AIS with
these settings is accurate for this model (Wu et al. 2017), and the gap against ``num_steps``
shows how many steps that takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.util import prune_subsample_sites

from ..errors import InferenceError
from .ais import AISEstimate, evaluate_ais
from .result import PerDatapointResult, column_means

#: Per-datapoint columns of a BDMC result.
BDMC_COLUMNS = ("lower", "upper", "gap", "lower_mc_se", "upper_mc_se", "acceptance_forward", "acceptance_reverse")


@torch.no_grad()
def simulate(model, template: Sequence[torch.Tensor], seed: int = 0) -> tuple[tuple, dict]:
    """Draw ``(x, z)`` from the model, one per row of ``template`` (whose values are not used,
    only its shape): returns the data tuple with the simulated observations in place of the first
    tensor, and the latent values (site -> ``[n, ...]``).

    The model must observe one site, the first data argument (``obs=x``), as every zoo model does.
    """
    pyro.set_rng_seed(seed)
    trace = prune_subsample_sites(poutine.trace(poutine.uncondition(model)).get_trace(*template))
    sites = [s for s in trace.nodes.values() if s["type"] == "sample"]
    observed = [s for s in sites if s["infer"].get("was_observed")]  # (uncondition marks them so)
    if len(observed) != 1:
        raise InferenceError(f"BDMC simulates data from a model that observes one site (its first argument); this "
                             f"model observes {[s['name'] for s in observed] or 'nothing'}")
    x = observed[0]["value"]
    if x.shape != template[0].shape:
        raise InferenceError(f"the simulated {observed[0]['name']!r} has shape {tuple(x.shape)}, the data "
                             f"{tuple(template[0].shape)}: BDMC needs the observed site to be the first argument")
    latents = {s["name"]: s["value"] for s in sites if not s["infer"].get("was_observed")}
    return (x.to(template[0].dtype),) + tuple(template[1:]), latents


@dataclass
class BDMCResult(PerDatapointResult):
    """Forward (lower) and reverse (upper) AIS on the same simulated data, per datapoint."""

    values: dict
    settings: dict
    num_dims: Optional[int] = None
    forward: Optional[AISEstimate] = field(default=None, repr=False)
    reverse: Optional[AISEstimate] = field(default=None, repr=False)
    columns = BDMC_COLUMNS

    def summary(self) -> dict:
        out = {"method": "bdmc", "n": self.n, **self.settings}
        out.update(column_means(self.values, BDMC_COLUMNS))  # gap_se etc.: over datapoints
        return out


def bdmc(model, guide, template: Sequence[torch.Tensor], *, seed: int = 0, **ais_options) -> BDMCResult:
    """Simulate ``len(template[0])`` datapoints from the model and bracket their log p(x) with
    forward and reverse AIS (``ais_options`` as :func:`.ais.evaluate_ais`; the three stages use
    seeds ``seed``, ``seed + 1``, ``seed + 2``). The reverse run replays the forward run's step
    sizes (see :mod:`.ais`), so it runs no tuning chains."""
    template = (template,) if torch.is_tensor(template) else tuple(template)
    x, z = simulate(model, template, seed)
    forward = evaluate_ais(model, guide, x, seed=seed + 1, record_step_sizes=True, **ais_options)
    reverse = evaluate_ais(model, guide, x, seed=seed + 2, start=z, step_sizes=forward.step_sizes, **ais_options)
    lower, upper = forward.log_px_ais, -reverse.log_px_ais
    values = {"lower": lower, "upper": upper, "gap": upper - lower, "lower_mc_se": forward.log_px_ais_mc_se,
              "upper_mc_se": reverse.log_px_ais_mc_se, "acceptance_forward": forward.acceptance,
              "acceptance_reverse": reverse.acceptance}
    settings = {k: v for k, v in forward.settings.items() if k != "direction"}
    settings["seed"] = seed
    return BDMCResult(values=values, settings=settings, num_dims=forward.num_dims, forward=forward, reverse=reverse)
