"""A declared spec as an ordinary Pyro model/guide pair (see :mod:`.spec` and :mod:`.graph`).

``model``: inside ``pyro.plate("data")``, each latent, parents first, is drawn from its prior
(or from ``p(z | given)``, a diagonal Gaussian of the parents' values), then ``x`` is observed under
the likelihood of its parents. ``guide``: the latents in the derived guide order, each from its
posterior family (:mod:`.posteriors`: a diagonal Gaussian, or one through flows) whose network reads
what :func:`.graph.faithful_inverse` gives it (``x``, or its shared features under ``top_down``,
and latents drawn before it).
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
from ..nn import GaussianOutput, activation
from .graph import X
from .nets import with_context
from .spec import FEATURES, Spec, validate


class DeclarativeModel(LatentVariableModel):
    """Subclass, write :meth:`declare` returning a :class:`~pyro_vae.declarative.Spec`, register."""

    def declare(self, **hparams) -> Spec:
        raise NotImplementedError

    def __init__(self, data, **hparams):
        super().__init__(data)
        spec = self.declare(**hparams)
        plan = validate(spec, data)
        self.plan = plan
        self.order = [lat.name for lat in plan.order]
        self.latent = {lat.name: lat for lat in plan.order}
        self.likelihood = spec.likelihood.kind
        self.uses_labels = spec.context is not None
        self.num_classes = plan.context_dim
        ctx = plan.context_dim

        self.generative = nn.ModuleDict()
        self.inference = nn.ModuleDict()
        for lat in plan.order:
            parents = plan.parents[lat.name]
            if not parents:
                self.generative[f"prior_{lat.name}"] = plan.priors[lat.name].build(lat.dim, self.x_dim)
            else:
                net = lat.net.build(sum(self.latent[p].dim for p in parents) + ctx, 2 * lat.dim)
                self.generative[f"prior_{lat.name}"] = GaussianOutput(net, lat.dim)
        x_in = sum(self.latent[p].dim for p in plan.x_parents)
        self.generative["likelihood"] = spec.likelihood.net.build(x_in + ctx, self.x_dim)
        if spec.likelihood.kind == "gaussian":
            scale = spec.likelihood.scale
            if scale is None:
                self.generative.likelihood.log_scale = nn.Parameter(torch.zeros(self.x_dim))
            else:
                self.generative.likelihood.register_buffer("log_scale", torch.full((self.x_dim,), float(scale)).log())
        if plan.inference == "top_down":
            act = activation(getattr(spec.encoder, "activation", "tanh"))
            self.inference[FEATURES] = nn.Sequential(spec.encoder.build(self.x_dim + ctx, spec.features), act)
        for name in plan.guide_order:  # the factor's family wraps its network (see .posteriors)
            family, dim = plan.posteriors[name], self.latent[name].dim
            net = plan.guide_nets[name].build(plan.guide_widths[name] + ctx, family.outputs(dim))
            self.inference[name] = family.build(net, dim)

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
                parents = self.plan.parents[name]
                if not parents:
                    prior = self.generative[f"prior_{name}"](encoder=self.inference[name])
                else:
                    loc, scale = self.generative[f"prior_{name}"](_inputs([z[p] for p in parents], ctx))
                    prior = dist.Normal(loc, scale).to_event(1)
                with self._weighted(name):
                    z[name] = pyro.sample(name, prior)
            pyro.sample("x", self.observation(_inputs([z[p] for p in self.plan.x_parents], ctx)), obs=x)

    def guide(self, x, y=None):
        pyro.module("inference", self.inference)
        ctx = self._context(x, y)
        with pyro.plate("data", x.shape[0]):
            seen = self.inference[FEATURES](with_context(x, ctx)) if self.plan.inference == "top_down" else x
            z = {X: seen}  # what a factor that reads x sees (the context is added to every factor's input)
            for name in self.plan.guide_order:
                factor = self.inference[name](_inputs([z[r] for r in self.plan.guide_parents[name]], ctx))
                if isinstance(factor, tuple):
                    factor = dist.Normal(*factor).to_event(1)
                with self._weighted(name):
                    z[name] = pyro.sample(name, factor)


def _inputs(values: list, ctx):
    """Concatenate values (``[..., B, d]``, broadcast over leading particle dims) and the context."""
    if len(values) > 1:
        lead = torch.broadcast_shapes(*(v.shape[:-1] for v in values))
        values = [v.expand(lead + v.shape[-1:]) for v in values]
    return with_context(torch.cat(values, -1) if len(values) > 1 else values[0], ctx)
