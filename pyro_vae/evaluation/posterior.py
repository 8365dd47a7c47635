r"""Posterior draws of the latents for chosen datapoints, as ArviZ ``InferenceData``.

Draws come from the guide :math:`q(z \mid x)`; with ``resample=True`` they are importance
resampled (sampling-importance-resampling with the weights :math:`w_k = p(x, z_k)/q(z_k|x)`,
with replacement), which moves them towards the true posterior :math:`p(z \mid x)` as the number
of draws grows. ``arviz.summary`` and ``arviz.plot_pair`` work on the result.
"""

from __future__ import annotations

from typing import Sequence, Union

import pyro
import torch

from ..infer.particles import guess_max_plate_nesting, trace_particles


@torch.no_grad()
def posterior_draws(model, guide, data: Union[torch.Tensor, Sequence[torch.Tensor]], *, num_draws: int = 1000,
                    resample: bool = True, seed: int = 0):
    """``arviz.InferenceData`` with group ``posterior`` (one chain; dims ``datapoint`` and
    ``<site>_dim``) and ``sample_stats.log_weight`` (the raw log importance weights)."""
    import arviz as az

    data = (data,) if torch.is_tensor(data) else tuple(data)
    pyro.set_rng_seed(seed)
    nesting = guess_max_plate_nesting(model, guide, data, {})
    pt = trace_particles(model, guide, data, num_particles=num_draws, max_plate_nesting=nesting)
    log_w = pt.log_weights()  # [K, N]
    n = pt.num_data
    if resample:
        gen = torch.Generator(device=log_w.device).manual_seed(seed)
        idx = torch.multinomial(log_w.T.softmax(-1), num_draws, replacement=True, generator=gen).T  # [K, N]
    else:
        idx = torch.arange(num_draws, device=log_w.device)[:, None].expand(num_draws, n)
    posterior, dims = {}, {}
    for site in pt.latent_sites():
        event_dim = site["fn"].event_dim
        value = site["value"].expand(site["fn"].batch_shape + site["fn"].event_shape)
        value = value.movedim(pt.particle_dim - event_dim, 0).movedim(pt.data_plate.dim - event_dim, 1)
        value = value.reshape(num_draws, n, -1)
        value = torch.gather(value, 0, idx[..., None].expand_as(value))
        posterior[site["name"]] = value[None].cpu().numpy()  # [chain, draw, datapoint, dim]
        dims[site["name"]] = ["datapoint", f"{site['name']}_dim"]
    return az.from_dict(
        posterior=posterior,
        sample_stats={"log_weight": log_w[None].cpu().numpy()},  # [chain, draw, datapoint]
        dims={**dims, "log_weight": ["datapoint"]},
    )
