"""The declarative specification of a latent-variable model, and its validation.

A model is a chain of latents ``z_L -> ... -> z_1 -> x`` (a single latent is the common case):

    p(z_L) prod_i p(z_i | z_{i+1}) p(x | z_1),        q(z_1 | x) prod_i q(z_{i+1} | z_i),

optionally with an observed context ``y`` (labels) entering every network of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from ..errors import ModelError
from .nets import MLP, NetSpec
from .priors import PriorSpec, VampPrior, prior_from

LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")


@dataclass
class Latent:
    """A Gaussian latent ``name`` of ``dim`` dimensions.

    :param prior: for a top latent (no ``given``): ``"normal"``, ``"learned"``, ``"mog"``,
        ``"vamp"`` or a :mod:`~pyro_vae.declarative.priors` object.
    :param given: the latent it depends on (the next one up the chain); then ``p(z | given)``
        is a diagonal Gaussian whose parameters ``net`` computes.
    :param net: network of the conditional prior ``p(z | given)``.
    :param encoder: network of ``q(z | .)``: reads ``x`` for the bottom latent, the latent
        below otherwise (default: the model's ``encoder`` for the bottom, ``MLP([100, 100])``).
    :param kl_weight: weight of this latent's terms in the ELBO (beta-VAE); 1 is the true model.
    """

    name: str
    dim: int
    prior: Union[str, PriorSpec] = "normal"
    given: Optional[str] = None
    net: NetSpec = field(default_factory=lambda: MLP([100, 100]))
    encoder: Optional[NetSpec] = None
    kl_weight: float = 1.0


@dataclass
class Likelihood:
    """The distribution of ``x`` given the bottom latent: Bernoulli (logits), Gaussian (learned
    per-pixel scale, or a fixed ``scale``) or continuous Bernoulli (Loaiza-Ganem & Cunningham 2019)."""

    kind: str = "bernoulli"
    net: NetSpec = field(default_factory=lambda: MLP([200, 200]))
    scale: Optional[float] = None


def Bernoulli(net: NetSpec = None) -> Likelihood:
    return Likelihood("bernoulli", net or MLP([200, 200]))


def Gaussian(net: NetSpec = None, scale: Optional[float] = None) -> Likelihood:
    return Likelihood("gaussian", net or MLP([200, 200]), scale)


def ContinuousBernoulli(net: NetSpec = None) -> Likelihood:
    return Likelihood("continuous_bernoulli", net or MLP([200, 200]))


@dataclass
class Context:
    """An observed label ``y`` in ``{0..num_classes-1}``, one-hot into every network."""

    num_classes: int = 10


@dataclass
class Spec:
    latents: Sequence[Latent]
    likelihood: Likelihood = field(default_factory=Likelihood)
    encoder: NetSpec = field(default_factory=lambda: MLP([200, 200]))
    context: Optional[Context] = None


@dataclass
class Plan:
    """A validated spec: latents ordered top -> bottom, with each one's prior object."""

    order: list
    bottom: Latent
    priors: dict
    context_dim: int


def validate(spec: Spec, data: dict) -> Plan:
    """Check ``spec`` against the data; a :class:`ModelError` names the offending field."""
    x_dim = int(data["x_dim"])
    latents = list(spec.latents)
    if not latents:
        raise ModelError("latents: declare at least one Latent")
    names = [lat.name for lat in latents]
    for i, lat in enumerate(latents):
        where = f"latents[{i}] ({lat.name!r})"
        if not isinstance(lat.dim, int) or lat.dim < 1:
            raise ModelError(f"{where}.dim must be a positive integer, got {lat.dim!r}")
        if lat.name in ("x", "data") or names.count(lat.name) > 1:
            raise ModelError(f"{where}.name must be unique and not 'x' or 'data'")
        if lat.given is not None and lat.given not in names:
            raise ModelError(f"{where}.given: {lat.given!r} is not a latent (latents: {', '.join(names)})")
        if lat.given == lat.name:
            raise ModelError(f"{where}.given: a latent cannot depend on itself")
        if lat.kl_weight <= 0:
            raise ModelError(f"{where}.kl_weight must be positive, got {lat.kl_weight}")
    by_name = {lat.name: lat for lat in latents}
    children = {}
    for lat in latents:
        if lat.given is not None:
            if lat.given in children:
                raise ModelError(f"latents: {lat.given!r} is given to both {children[lat.given]!r} and {lat.name!r}; "
                                 f"only chains z_L -> ... -> z_1 are supported")
            children[lat.given] = lat.name
    # walk each latent up its chain: a repeat is a cycle
    for lat in latents:
        seen, cur = [lat.name], lat
        while cur.given is not None:
            cur = by_name[cur.given]
            if cur.name in seen:
                raise ModelError(f"latents: cycle {' -> '.join(seen + [cur.name])}")
            seen.append(cur.name)
    bottoms = [lat for lat in latents if lat.name not in children]
    if len(bottoms) != 1:
        raise ModelError(f"latents: the chain must end in one latent that x depends on, found "
                         f"{[b.name for b in bottoms]}; link them with `given`")
    bottom = bottoms[0]
    order = [bottom]
    while order[-1].given is not None:
        order.append(by_name[order[-1].given])
    if len(order) != len(latents):
        raise ModelError("latents: every latent must lie on one chain from the top to x")
    order.reverse()  # top first

    priors = {}
    for i, lat in enumerate(latents):
        where = f"latents[{i}] ({lat.name!r})"
        if lat.given is not None:
            if lat.prior not in ("normal", None) and not (isinstance(lat.prior, PriorSpec) and lat.prior.name == "normal"):
                raise ModelError(f"{where}.prior: a latent with `given` has the conditional prior "
                                 f"p({lat.name} | {lat.given}) computed by `net`; remove prior")
            lat.net.validate(f"{where}.net", by_name[lat.given].dim, 2 * lat.dim)
            continue
        prior = prior_from(lat.prior, f"{where}.prior")
        if isinstance(prior, VampPrior) and (lat is not bottom or spec.context is not None):
            raise ModelError(f"{where}.prior: the VampPrior needs the latent whose encoder reads x alone "
                             f"(a single-latent model without context)")
        priors[lat.name] = prior
    kind = spec.likelihood.kind
    if kind not in LIKELIHOODS:
        raise ModelError(f"likelihood.kind: unknown likelihood {kind!r}; use one of {', '.join(LIKELIHOODS)}")
    ctx = 0
    if spec.context is not None:
        ctx = int(spec.context.num_classes)
        if ctx < 2:
            raise ModelError(f"context.num_classes must be >= 2, got {ctx}")
        if data.get("num_classes") and int(data["num_classes"]) != ctx:
            raise ModelError(f"context.num_classes is {ctx} but the data have {data['num_classes']} classes")
    spec.likelihood.net.validate("likelihood.net", bottom.dim + ctx, x_dim)
    (bottom.encoder or spec.encoder).validate("encoder", x_dim + ctx, 2 * bottom.dim)
    return Plan(order=order, bottom=bottom, priors=priors, context_dim=ctx)
