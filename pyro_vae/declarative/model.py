"""A declared spec as an ordinary Pyro model/guide pair (see :mod:`.spec`).

``model``: inside ``pyro.plate("data")``, each latent from the top down is drawn from its prior
(or from ``p(z | given)``), then ``x`` is observed under the likelihood of the bottom latent.
``guide``: the bottom latent from ``q(z_1 | x)``, then up the chain ``q(z_{i+1} | z_i)``.
A latent's ``kl_weight`` wraps its sample sites in ``poutine.scale`` in both.
"""

from __future__ import annotations

import contextlib

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from ..model import LatentVariableModel
from ..nn import GaussianOutput
from .nets import with_context
from .spec import Spec, validate


class DeclarativeModel(LatentVariableModel):
    """Subclass, write :meth:`declare` returning a :class:`~pyro_vae.declarative.Spec`, register."""

    def declare(self, **hparams) -> Spec:
        raise NotImplementedError

    def __init__(self, data, **hparams):
        super().__init__(data)
        spec = self.declare(**hparams)
        plan = validate(spec, data)
        self.order = [lat.name for lat in plan.order]
        self.latent = {lat.name: lat for lat in plan.order}
        self.bottom = plan.bottom.name
        self.likelihood = spec.likelihood.kind
        self.uses_labels = spec.context is not None
        self.num_classes = plan.context_dim
        ctx = plan.context_dim

        self.generative = nn.ModuleDict()
        self.inference = nn.ModuleDict()
        for lat in plan.order:
            if lat.given is None:
                self.generative[f"prior_{lat.name}"] = plan.priors[lat.name].build(lat.dim, self.x_dim)
            else:
                parent = self.latent[lat.given]
                net = lat.net.build(parent.dim + ctx, 2 * lat.dim)
                self.generative[f"prior_{lat.name}"] = GaussianOutput(net, lat.dim)
        self.generative["likelihood"] = spec.likelihood.net.build(plan.bottom.dim + ctx, self.x_dim)
        if spec.likelihood.kind == "gaussian":
            scale = spec.likelihood.scale
            if scale is None:
                self.generative.likelihood.log_scale = nn.Parameter(torch.zeros(self.x_dim))
            else:
                self.generative.likelihood.register_buffer("log_scale", torch.full((self.x_dim,), float(scale)).log())
        for lat in plan.order:
            if lat.name == self.bottom:
                net = (lat.encoder or spec.encoder).build(self.x_dim + ctx, 2 * lat.dim)
            else:
                child = next(c for c in plan.order if c.given == lat.name)
                net = (lat.encoder or _default_up_encoder()).build(child.dim + ctx, 2 * lat.dim)
            self.inference[lat.name] = GaussianOutput(net, lat.dim)

    # ---- helpers ------------------------------------------------------------------------------
    def _context(self, x, y):
        if not self.uses_labels:
            return None
        if y is None:
            raise DataError("this model is conditioned on labels y: pass them (model(x, y)); the dataset "
                            "needs labels")
        return F.one_hot(y.long(), self.num_classes).to(x.dtype)

    def _weighted(self, name):
        w = self.latent[name].kl_weight
        return poutine.scale(scale=w) if w != 1.0 else contextlib.nullcontext()

    def observation(self, h):
        out = self.generative["likelihood"](h)
        if self.likelihood == "bernoulli":
            return dist.Bernoulli(logits=out, validate_args=False).to_event(1)
        if self.likelihood == "continuous_bernoulli":
            return dist.ContinuousBernoulli(logits=out).to_event(1)
        scale = self.generative["likelihood"].log_scale.clamp(-10.0, 5.0).exp()
        return dist.Normal(out, scale).to_event(1)

    # ---- Pyro ---------------------------------------------------------------------------------
    def model(self, x, y=None):
        pyro.module("generative", self.generative)
        ctx = self._context(x, y)
        z = {}
        with pyro.plate("data", x.shape[0]):
            for name in self.order:
                lat = self.latent[name]
                if lat.given is None:
                    prior = self.generative[f"prior_{name}"](encoder=self.inference[name])
                else:
                    loc, scale = self.generative[f"prior_{name}"](with_context(z[lat.given], ctx))
                    prior = dist.Normal(loc, scale).to_event(1)
                with self._weighted(name):
                    z[name] = pyro.sample(name, prior)
            pyro.sample("x", self.observation(with_context(z[self.bottom], ctx)), obs=x)

    def guide(self, x, y=None):
        pyro.module("inference", self.inference)
        ctx = self._context(x, y)
        with pyro.plate("data", x.shape[0]):
            h, name = with_context(x, ctx), self.bottom
            while name is not None:
                loc, scale = self.inference[name](h)
                with self._weighted(name):
                    value = pyro.sample(name, dist.Normal(loc, scale).to_event(1))
                h, name = with_context(value, ctx), self.latent[name].given


def _default_up_encoder():
    from .nets import MLP

    return MLP([100, 100])
