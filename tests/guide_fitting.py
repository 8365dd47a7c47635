"""Train only a guide, its model held fixed: the ELBO by Adam on one batch (for tests that compare guides)."""

import pyro
import torch
from pyro.infer import Trace_ELBO


def fit_guide(model, guide, params, x, *, steps: int, lr: float, particles: int, seed: int = 1) -> None:
    pyro.set_rng_seed(seed)
    opt = torch.optim.Adam(list(params), lr=lr)
    loss = Trace_ELBO(num_particles=particles, vectorize_particles=True, max_plate_nesting=1)
    for _ in range(steps):
        opt.zero_grad()
        loss.differentiable_loss(model, guide, x).backward()
        opt.step()
