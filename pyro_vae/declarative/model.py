"""A declared spec as an ordinary Pyro model/guide pair (see :mod:`.spec` and :mod:`.graph`).

``model``: inside ``pyro.plate("data")``, each latent, parents first, is drawn from its prior
(or from ``p(z | given)``, of the latent's kind, computed from the parents' values), then ``x`` is
observed under the likelihood of its parents. ``guide``: the latents in the derived guide order,
each from its posterior family (:mod:`.posteriors`: a diagonal Gaussian, one through flows, or the
discrete latent's own kind, ``infer={"enumerate": "parallel"}`` when it is summed out) whose
network reads what :func:`.graph.faithful_inverse` gives it (``x``, or its shared features under
``top_down``, and latents drawn before it). Networks read a discrete latent as one-hot or bits
(:meth:`.kinds.LatentKind.features`); enumerated values broadcast on the dims left of the plates.
A latent's ``kl_weight`` wraps its sample sites in ``poutine.scale`` in both. A :class:`~.spec.Label`
latent is observed when ``y`` is passed, and then the model adds ``alpha * log q(y | x)``.
"""

from __future__ import annotations

import contextlib

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import nn

from ..distributions import BernoulliLogits, ColumnBlocks
from ..errors import DataError, ModelError
from ..model import LatentVariableModel
from ..nn import activation, one_hot
from .graph import X
from .nets import bind_image_shape, with_context
from .spec import FEATURES, Spec, validate


class DeclarativeModel(LatentVariableModel):
    """Subclass, write :meth:`declare` returning a :class:`~pyro_vae.declarative.Spec`, register."""

    def declare(self, **hparams) -> Spec:
        raise NotImplementedError

    def __init__(self, data, **hparams):
        super().__init__(data)
        spec = self.declare(**hparams)
        bind_image_shape(spec, data.get("image_shape"))  # a Conv reads the data's C x H x W
        plan = validate(spec, data)
        self.plan = plan
        self.order = [lat.name for lat in plan.order]
        self.latent = {lat.name: lat for lat in plan.order}
        self.likelihood = plan.observed[0].likelihood.kind
        self.uses_labels = spec.context is not None or plan.label_part is not None
        self.num_classes = plan.context_dim or (int(data["num_classes"]) if plan.label_part is not None else 0)
        ctx = plan.context_dim
        self.kinds = plan.kinds
        if any(kind.enumerated for kind in plan.kinds.values()):
            self.default_loss = "enum"  # TraceEnum_ELBO sums the discrete latents out
        if plan.label is not None:  # read by the trainer: the labelled subset and its batches
            self.labelled_examples = self.latent[plan.label].label.labelled_examples
            self.alpha = float(self.latent[plan.label].label.alpha)

        self.generative = nn.ModuleDict()
        self.inference = nn.ModuleDict()
        for lat in plan.order:
            parents = plan.parents[lat.name]
            if not parents:
                self.generative[f"prior_{lat.name}"] = plan.priors[lat.name].build(lat.dim, self.x_dim)
            else:
                kind = plan.kinds[lat.name]
                net = lat.net.build(sum(self.latent[p].dim for p in parents) + ctx, kind.params(lat.dim))
                self.generative[f"prior_{lat.name}"] = kind.conditional(net, lat.dim)
        for i, part in enumerate(plan.observed):  # the parts of x, then the label
            start, stop = part.columns
            self.generative[_likelihood_key(i)] = _likelihood_net(part, self.latent, ctx, stop - start)
        if plan.label_part is not None:
            self.generative["likelihood_y"] = _likelihood_net(plan.label_part, self.latent, ctx, self.num_classes)
        if plan.inference == "top_down":
            act = activation(getattr(spec.encoder, "activation", "tanh"))
            self.inference[FEATURES] = nn.Sequential(spec.encoder.build(plan.seen_width + ctx, spec.features), act)
        for name in plan.guide_order:  # the factor's family wraps its network (see .posteriors)
            family, dim = plan.posteriors[name], self.latent[name].dim
            net = plan.guide_nets[name].build(plan.guide_widths[name] + ctx, family.outputs(dim))
            self.inference[name] = family.build(net, dim)

    # ---- helpers ------------------------------------------------------------------------------
    def _context(self, x, y):
        """The one-hot labels every network reads (``Context``), or None."""
        if not self.plan.context_dim:
            return None
        return self._one_hot(x, y)

    def _one_hot(self, x, y):
        if y is None:
            raise DataError("this model is conditioned on labels y: pass them (model(x, y)); the dataset "
                            "needs labels")
        return one_hot(y, self.num_classes, x.dtype)

    def _weighted(self, name):
        w = self.latent[name].kl_weight
        return poutine.scale(scale=w) if w != 1.0 else contextlib.nullcontext()

    def observation(self, h: dict, ctx):
        """``p(x | parents)`` from the latents' values as networks read them (``h``): one part's
        distribution, or :class:`~pyro_vae.distributions.ColumnBlocks` of several."""
        parts = []
        for i, part in enumerate(self.plan.observed):
            net = self.generative[_likelihood_key(i)]
            out = net(_inputs([h[p] for p in part.parents], ctx))
            if self.likelihood == "bernoulli":
                parts.append(BernoulliLogits(out, validate_args=False).to_event(1))
            elif self.likelihood == "continuous_bernoulli":
                parts.append(dist.ContinuousBernoulli(logits=out).to_event(1))
            else:
                parts.append(dist.Normal(out, net.log_scale.clamp(-10.0, 5.0).exp()).to_event(1))
        return parts[0] if len(parts) == 1 else ColumnBlocks(parts)

    def _seen(self, x, y, ctx):
        """What a guide factor that reads ``x`` sees: ``x`` (and the one-hot label when a likelihood
        observes it), or their shared features (``top_down``)."""
        if self.plan.label_part is not None:
            x = torch.cat([x, self._one_hot(x, y)], -1)
        return self.inference[FEATURES](with_context(x, ctx)) if self.plan.inference == "top_down" else x

    def _read(self, name, value, x):
        """What networks reading latent ``name`` see (one-hot or bits for a discrete latent)."""
        return self.kinds[name].features(value, self.latent[name].dim, x.dtype)

    def _label_value(self, name, y):
        """The observed label when ``name`` is the label latent and the batch has labels, else None."""
        return y.long() if name == self.plan.label and y is not None else None

    # ---- Pyro ---------------------------------------------------------------------------------
    def model(self, x, y=None):
        pyro.module("generative", self.generative)
        ctx = self._context(x, y)
        h = {}
        with pyro.plate("data", x.shape[0]):
            for name in self.order:
                parents = self.plan.parents[name]
                if not parents:
                    prior = self.generative[f"prior_{name}"](encoder=self.inference[name])
                else:
                    prior = _distribution(self.generative[f"prior_{name}"](_inputs([h[p] for p in parents], ctx)))
                observed = self._label_value(name, y)
                if observed is not None:  # M2's classification term (labelled batches only)
                    classifier = self.inference[name](self._seen(x, y, ctx))
                    pyro.factor(f"classify_{name}", self.alpha * classifier.log_prob(observed))
                with self._weighted(name):
                    h[name] = self._read(name, pyro.sample(name, prior, obs=observed), x)
            pyro.sample("x", self.observation(h, ctx), obs=x)
            if self.plan.label_part is not None:
                logits = self.generative["likelihood_y"](_inputs([h[p] for p in self.plan.label_part.parents], ctx))
                pyro.sample("y", dist.Categorical(logits=logits), obs=y.long())

    def guide(self, x, y=None):
        pyro.module("inference", self.inference)
        ctx = self._context(x, y)
        with pyro.plate("data", x.shape[0]):
            h = {X: self._seen(x, y, ctx)}  # what factors read (the context is added to every factor's input)
            for name in self.plan.guide_order:
                observed = self._label_value(name, y)
                if observed is not None:  # a known label is no latent
                    h[name] = self._read(name, observed, x)
                    continue
                factor = _distribution(self.inference[name](_inputs([h[r] for r in self.plan.guide_parents[name]], ctx)))
                infer = {"enumerate": "parallel"} if self.kinds[name].enumerated else {}
                with self._weighted(name):
                    h[name] = self._read(name, pyro.sample(name, factor, infer=infer), x)

    @torch.no_grad()
    def classify(self, x):
        """Most probable class under the guide's ``q(y | x)`` (models with a :class:`~.spec.Label`)."""
        if self.plan.label is None:
            raise ModelError("classify: this model has no label latent (declare one with Latent(..., label=Label()))")
        return self.inference[self.plan.label](self._seen(x, None, None)).logits.argmax(-1)


def _likelihood_key(i: int) -> str:
    """Module key of the network of part ``i`` of x (the first keeps the one-part name)."""
    return "likelihood" if i == 0 else f"likelihood_{i}"


def _likelihood_net(part, latent: dict, ctx: int, out: int) -> nn.Module:
    """An observed variable's network (a Gaussian part also holds its per-column log-scale)."""
    net = part.likelihood.net.build(sum(latent[p].dim for p in part.parents) + ctx, out)
    if part.likelihood.kind == "gaussian":
        scale = part.likelihood.scale
        if scale is None:
            net.log_scale = nn.Parameter(torch.zeros(out))
        else:
            net.register_buffer("log_scale", torch.full((out,), float(scale)).log())
    return net


def _distribution(out):
    """A factor module's output as a distribution (Gaussian ones return ``(loc, scale)``)."""
    return dist.Normal(*out).to_event(1) if isinstance(out, tuple) else out


def _inputs(values: list, ctx):
    """Concatenate values (``[..., B, d]``, broadcast over leading particle and enumeration dims)
    and the context (``[B, C]``)."""
    values = values + ([ctx] if ctx is not None else [])
    if len(values) == 1:
        return values[0]
    lead = torch.broadcast_shapes(*(v.shape[:-1] for v in values))
    return torch.cat([v.expand(lead + v.shape[-1:]) for v in values], -1)
