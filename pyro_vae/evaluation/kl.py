r"""The KL column of an evaluation: :math:`\mathrm{KL}(q(z \mid x) \,\|\, p(z))` per datapoint.

With the guide drawing latents :math:`s_1, s_2, \dots` in order and the model's prior of each
latent :math:`p(s \mid \mathrm{pa}_p(s))`,

.. math::
    \mathrm{KL}(q \,\|\, p) = \sum_s \mathbb E_q\big[\log q(s \mid \mathrm{pa}_q(s))
                                                  - \log p(s \mid \mathrm{pa}_p(s))\big].

The per-site closed form :math:`\mathbb E_{q}\,\mathrm{KL}(q(s \mid \mathrm{pa}_q(s)) \,\|\,
p(s \mid \mathrm{pa}_p(s)))` (the parents held at their sampled values) equals the site's term
only when, under :math:`q`, :math:`s` given everything drawn before it is distributed as
:math:`q(s \mid \mathrm{pa}_q(s))` *and* :math:`\mathrm{pa}_p(s)` is among what was drawn before
it. So the closed form is used only when **every latent's model parents are drawn before it in
the guide** (true when no prior has a latent parent, and for top-down guides). A bottom-up
guide of a chain :math:`p(z_2)\,p(z_1 \mid z_2)` with :math:`q(z_1 \mid x)\,q(z_2 \mid z_1)`
draws :math:`z_2` *after* :math:`z_1`, so :math:`z_1`'s term has no closed form; there the
Monte Carlo estimate :math:`\frac1K \sum_k [\log q(z_k \mid x) - \log p(z_k)]` is reported,
with its standard error over the K draws.

The model's parents come from Pyro's provenance tracking
(:func:`pyro.infer.inspect.get_dependencies`); when that cannot trace a model, the Monte Carlo
estimate is used (always correct, only noisier).
"""

from __future__ import annotations

from typing import Optional

import pyro
import torch
from torch.distributions import kl_divergence

from ..infer.particles import is_enumerated


def latent_parents(model, args: tuple) -> Optional[dict]:
    """``{site: set of sites its model distribution depends on}``, or None if untraceable.

    Runs the model once under Pyro's provenance tracking; the global RNG state is restored
    afterwards so that evaluations stay reproducible from their seed.
    """
    from pyro.infer.inspect import get_dependencies

    state = pyro.util.get_rng_state()
    try:
        with pyro.poutine.block():
            deps = get_dependencies(model, args)["prior_dependencies"]
    except Exception:  # provenance tracking fails on some torch ops: fall back to Monte Carlo
        return None
    finally:
        pyro.util.set_rng_state(state)
    return {site: set(parents) - {site} for site, parents in deps.items()}


def closed_form_obstacle(guide_order: list, parents: Optional[dict]) -> Optional[str]:
    """Why the per-site closed form is not the KL for this pair (None when it is).

    :param guide_order: the guide's latent sites in the order it draws them.
    :param parents: :func:`latent_parents` of the model.
    """
    if parents is None:
        return "the model's dependencies could not be traced"
    drawn = set()
    latents = set(guide_order)
    for site in guide_order:
        late = sorted((parents.get(site, set()) & latents) - drawn)
        if late:
            return (f"the prior of {site!r} depends on {', '.join(map(repr, late))}, which the guide "
                    f"draws after {site!r}")
        drawn.add(site)
    return None


def closed_form_kl(pt) -> Optional[torch.Tensor]:
    r"""``[K, N]``: :math:`\sum_s \mathrm{KL}(q_s \,\|\, p_s)` per particle, each site's parents held
    at the particle's values, or None when some site has no registered closed form or is
    enumerated. Valid as the KL only where :func:`closed_form_obstacle` is None."""
    total = 0.0
    for site in pt.latent_sites():
        prior = pt.model_trace.nodes[site["name"]]
        if is_enumerated(prior):
            return None
        try:
            kl = kl_divergence(site["fn"], prior["fn"])
        except NotImplementedError:
            return None
        kl = pt.reduce(kl, site["name"])
        if kl.dim() > 2:  # depends on an enumerated site: a mixture, no closed form here
            return None
        total = total + kl
    return total if torch.is_tensor(total) else None
