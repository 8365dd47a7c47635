"""The declarative specification of a latent-variable model, and its validation.

A model is a DAG of latents over the observed ``x`` (a single latent is the common case), each
Gaussian, categorical or a layer of binary units (:mod:`.kinds`), a discrete one summed out
exactly or relaxed:

    p(x, z) = prod_v p(z_v | z_given(v)) * prod_o p(x_o | z_given(o)),

a top latent (no ``given``) having a prior of its own; the observed variables ``o`` are ``x`` (one
likelihood), or parts of it (``columns`` of x, each with its own likelihood) and optionally the
label ``y`` (a ``Categorical`` likelihood); each depends on the latents no other latent depends on
unless its ``given`` says otherwise. The guide is derived from the graph
(:mod:`.graph`): ``inference="bottom_up"`` (on a chain ``q(z_1 | x) prod q(z_{i+1} | z_i)``) or
``"top_down"`` (a shared deterministic pass over ``x``, then ``q(z_L | x) prod q(z_i | z_{i+1}, x)``,
the ladder VAE's structure), each the faithful inverse of the model for its order. An observed
context ``y`` (labels) enters every network of both; or a categorical latent is the label
(:class:`Label`): observed when a batch has labels, summed out when not (semi-supervised, M2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from ..errors import ModelError
from .graph import X, ancestors, faithful_inverse, topological_order
from .kinds import KINDS, MAX_ENUMERATED_UNITS, kind_from
from .nets import MLP, NetSpec
from .posteriors import DiscretePosterior, NormalPosterior, PosteriorSpec, posterior_from
from .priors import DiscretePriorSpec, PriorSpec, VampPrior, prior_from

LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")
INFERENCE = ("bottom_up", "top_down")
#: the shared deterministic pass over x (``inference="top_down"``): its key in the model's
#: ``inference`` modules, so no latent may take the name
FEATURES = "x_features"


@dataclass
class Label:
    r"""Marks a categorical latent as the dataset's label: observed on labelled batches, summed out
    on the others (Kingma et al. 2014's M2). On labelled batches the model adds
    :math:`\alpha \log q(y \mid x)` (their classification term, ``pyro.factor``) so the guide's
    classifier learns from the labels; evaluation passes no labels, so :math:`\log p(x)` is untouched.

    :param labelled_examples: size of the class-balanced labelled training subset (fixed by the seed).
    :param alpha: weight of the classification term (Kingma et al.: 0.1 times the training-set size).
    """

    labelled_examples: int = 100
    alpha: float = 400.0


@dataclass
class Latent:
    """A latent ``name`` of ``dim`` dimensions (``kind="categorical"``: ``dim`` categories).

    :param kind: ``"gaussian"``, ``"categorical"`` or ``"bernoulli"`` (``dim`` binary units); see
        :mod:`~pyro_vae.declarative.kinds`.
    :param relaxed: for a discrete kind, ``None`` (summed out exactly by enumeration) or the
        temperature of its Concrete relaxation (a continuous stand-in the gradients go through).
    :param label: a :class:`Label`: this categorical latent is the dataset's label.
    :param prior: for a top latent (no ``given``): Gaussian ``"normal"`` (default), ``"learned"``,
        ``"mog"``, ``"vamp"`` or a :mod:`~pyro_vae.declarative.priors` object; discrete
        ``"uniform"`` (default) or ``"learned"`` (learned logits).
    :param given: the latent(s) it depends on (a name or a list of names, declared anywhere in
        ``latents``); then ``p(z | given)`` is of the latent's kind, its parameters computed by
        ``net`` from the parents' values (one-hot or bits for discrete ones), concatenated in the
        order given.
    :param net: network of the conditional prior ``p(z | given)``.
    :param encoder: network of its guide factor ``q(z | .)``, which reads the variables the
        derived guide gives it (:mod:`.graph`). Default: the model's ``encoder`` for a factor
        that reads ``x`` under ``bottom_up``, ``MLP([100, 100])`` otherwise.
    :param kl_weight: weight of this latent's terms in the ELBO (beta-VAE); 1 is the true model.
    :param posterior: family of a Gaussian latent's guide factor: ``"normal"`` (diagonal
        Gaussian) or :class:`~pyro_vae.declarative.posteriors.IAF` (a Gaussian through
        autoregressive flows). A discrete latent's factor is of its own kind.
    """

    name: str
    dim: int
    prior: Union[None, str, PriorSpec] = None
    given: Union[None, str, Sequence[str]] = None
    net: NetSpec = field(default_factory=lambda: MLP([100, 100]))
    encoder: Optional[NetSpec] = None
    kl_weight: float = 1.0
    posterior: Union[str, PosteriorSpec] = "normal"
    kind: str = "gaussian"
    relaxed: Optional[float] = None
    label: Optional[Label] = None


@dataclass
class Likelihood:
    """The distribution of an observed variable given the latents in ``given`` (default: every
    latent no other latent depends on, in declaration order): of ``x`` (or of its ``columns``
    ``(start, stop)``), Bernoulli (logits), Gaussian (learned per-pixel scale, or a fixed
    ``scale``) or continuous Bernoulli (Loaiza-Ganem & Cunningham 2019); or ``categorical``, of
    the dataset's label ``y`` (:func:`Categorical`).

    ``Spec.likelihood`` takes one, or a list: several observed variables, each with its own
    network and parents (parts of ``x`` whose ``columns`` tile it, and at most one label)."""

    kind: str = "bernoulli"
    net: NetSpec = field(default_factory=lambda: MLP([200, 200]))
    scale: Optional[float] = None
    given: Optional[Sequence[str]] = None
    columns: Optional[tuple] = None


def Bernoulli(net: NetSpec = None, given: Optional[Sequence[str]] = None, columns: Optional[tuple] = None) -> Likelihood:
    return Likelihood("bernoulli", net or MLP([200, 200]), given=given, columns=columns)


def Gaussian(net: NetSpec = None, scale: Optional[float] = None, given: Optional[Sequence[str]] = None,
             columns: Optional[tuple] = None) -> Likelihood:
    return Likelihood("gaussian", net or MLP([200, 200]), scale, given, columns)


def ContinuousBernoulli(net: NetSpec = None, given: Optional[Sequence[str]] = None,
                        columns: Optional[tuple] = None) -> Likelihood:
    return Likelihood("continuous_bernoulli", net or MLP([200, 200]), given=given, columns=columns)


def Categorical(net: NetSpec = None, given: Optional[Sequence[str]] = None) -> Likelihood:
    """The label ``y`` as an observed variable, ``p(y | given)``: the model is then of ``(x, y)``
    (its log-likelihood is :math:`\\log p(x, y)`), and the guide reads ``y`` beside ``x``."""
    return Likelihood("categorical", net or MLP([200, 200]), given=given)


@dataclass
class Observed:
    """A validated observed variable: its likelihood, the field that declared it, its parents and
    its ``columns`` of ``x`` (None for the label)."""

    likelihood: Likelihood
    where: str
    parents: list
    columns: Optional[tuple]


@dataclass
class Context:
    """An observed label ``y`` in ``{0..num_classes-1}``, one-hot into every network."""

    num_classes: int = 10


@dataclass
class Spec:
    latents: Sequence[Latent]
    likelihood: Union[Likelihood, Sequence[Likelihood]] = field(default_factory=Likelihood)
    encoder: NetSpec = field(default_factory=lambda: MLP([200, 200]))
    context: Optional[Context] = None
    inference: str = "bottom_up"
    #: width of the shared deterministic pass over ``x`` under ``inference="top_down"``
    features: int = 200


@dataclass
class Plan:
    """A validated spec: the graph and the guide derived from it.

    ``order``: latents, parents before children; ``parents``: latent -> its ``given`` names;
    ``x_parents``: the observed variables' (together); ``guide_order``: the order the guide samples in;
    ``guide_parents``: latent -> what its guide factor reads (:data:`.graph.X` and latents);
    ``guide_nets``/``guide_widths``/``posteriors``: latent -> its factor's network, that network's
    input width (without the context) and its posterior family; ``kinds``: latent -> its
    :class:`~.kinds.LatentKind`; ``label``: the latent that is the dataset's label, or None;
    ``observed``: the parts of ``x`` (:class:`Observed`, column order); ``label_part``: the label
    as an observed variable, or None; ``seen_width``: width of what the guide reads as ``x``."""

    order: list
    parents: dict
    x_parents: list
    guide_order: list
    guide_parents: dict
    guide_nets: dict
    guide_widths: dict
    posteriors: dict
    priors: dict
    context_dim: int
    inference: str
    kinds: dict
    label: Optional[str]
    observed: list
    label_part: Optional[Observed]
    seen_width: int


def _names(given) -> list:
    """A ``given`` field (None, one name or several) as a list of names."""
    return [] if given is None else [given] if isinstance(given, str) else list(given)


def validate(spec: Spec, data: dict) -> Plan:
    """Check ``spec`` against the data; a :class:`ModelError` names the offending field.

    In this order: each latent (dim, name, kl_weight, kind, posterior), the graph (``given``, no
    cycle, every latent reaches ``x``), ``inference`` and ``features``, the context, the priors,
    the observed label, and every network against the width it reads and writes."""
    latents = list(spec.latents)
    if not latents:
        raise ModelError("latents: declare at least one Latent")
    names = [lat.name for lat in latents]
    kinds, posteriors = _kinds_and_posteriors(latents, names)
    by_name = {lat.name: lat for lat in latents}
    parents = _latent_parents(latents, names)
    try:
        topo = topological_order(parents)
    except ValueError as e:
        raise ModelError(f"latents: cycle {e}") from None
    depended_on = {p for pa in parents.values() for p in pa}
    observed = _observed(spec.likelihood, names, [n for n in names if n not in depended_on], data)
    x_parents = list(dict.fromkeys(p for part in observed for p in part.parents))
    unreachable = [n for n in names if n not in ancestors(x_parents, parents)]
    if unreachable:
        raise ModelError(f"latents: x does not depend on {unreachable}, directly or through other latents; "
                         f"add them to likelihood.given or to a latent's given")
    if spec.inference not in INFERENCE:
        raise ModelError(f"inference must be one of {', '.join(INFERENCE)}, got {spec.inference!r}")
    if not isinstance(spec.features, int) or spec.features < 1:
        raise ModelError(f"features must be a positive integer, got {spec.features!r}")
    guide_order = topo if spec.inference == "top_down" else topo[::-1]
    guide_parents = faithful_inverse(parents, [part.parents for part in observed], guide_order)
    ctx = _context_width(spec, data)
    priors = _priors(spec, latents, parents, kinds, posteriors, ctx)
    label_part, seen_width = _seen_width(spec, latents, observed, data)
    for part in observed:
        out = int(data["num_classes"]) if part.columns is None else part.columns[1] - part.columns[0]
        part.likelihood.net.validate(f"{part.where}.net", sum(by_name[p].dim for p in part.parents) + ctx, out)
    if spec.inference == "top_down":
        spec.encoder.validate("encoder", seen_width + ctx, spec.features)
    guide_nets, guide_widths = _guide_nets(spec, latents, guide_parents, posteriors, seen_width, ctx)
    label = _label(latents, kinds, guide_parents, spec, data)
    return Plan(order=[by_name[n] for n in topo], parents=parents, x_parents=x_parents, guide_order=guide_order,
                guide_parents=guide_parents, guide_nets=guide_nets, guide_widths=guide_widths,
                posteriors=posteriors, priors=priors, context_dim=ctx, inference=spec.inference,
                kinds=kinds, label=label, observed=[part for part in observed if part.columns is not None],
                label_part=label_part, seen_width=seen_width)


def _kinds_and_posteriors(latents: list, names: list) -> tuple[dict, dict]:
    """Each latent's dim, name, kl_weight checked; its kind and its guide factor's posterior."""
    posteriors, kinds = {}, {}
    for i, lat in enumerate(latents):
        where = f"latents[{i}] ({lat.name!r})"
        if not isinstance(lat.dim, int) or lat.dim < 1:
            raise ModelError(f"{where}.dim must be a positive integer, got {lat.dim!r}")
        if lat.name in ("x", "data", FEATURES) or names.count(lat.name) > 1:
            raise ModelError(f"{where}.name must be unique and not 'x', 'data' or {FEATURES!r}")
        if lat.kl_weight <= 0:
            raise ModelError(f"{where}.kl_weight must be positive, got {lat.kl_weight}")
        kinds[lat.name] = _kind(lat, where)
        if kinds[lat.name].discrete:
            if lat.posterior not in ("normal", None):
                raise ModelError(f"{where}.posterior: a {lat.kind} latent's guide factor is {lat.kind} "
                                 f"(of the logits its encoder computes); remove posterior")
            posteriors[lat.name] = DiscretePosterior(kinds[lat.name])
        else:
            posteriors[lat.name] = posterior_from(lat.posterior, f"{where}.posterior")
    return kinds, posteriors


def _latent_parents(latents: list, names: list) -> dict:
    """``name -> [the latents it is given]``, each a declared latent other than itself, once."""
    parents = {}
    for i, lat in enumerate(latents):
        where = f"latents[{i}] ({lat.name!r})"
        given = _names(lat.given)
        for g in given:
            if g not in names:
                raise ModelError(f"{where}.given: {g!r} is not a latent (latents: {', '.join(names)})")
            if g == lat.name:
                raise ModelError(f"{where}.given: a latent cannot depend on itself")
        if len(set(given)) != len(given):
            raise ModelError(f"{where}.given names a latent twice: {given}")
        parents[lat.name] = given
    return parents


def _context_width(spec: Spec, data: dict) -> int:
    """The one-hot width of ``Spec.context`` (0 without), checked against the data's classes."""
    if spec.context is None:
        return 0
    ctx = int(spec.context.num_classes)
    if ctx < 2:
        raise ModelError(f"context.num_classes must be >= 2, got {ctx}")
    if data.get("num_classes") and int(data["num_classes"]) != ctx:
        raise ModelError(f"context.num_classes is {ctx} but the data have {data['num_classes']} classes")
    return ctx


def _priors(spec: Spec, latents: list, parents: dict, kinds: dict, posteriors: dict, ctx: int) -> dict:
    """The prior of each top latent; a latent with parents has its conditional prior's network
    checked instead."""
    by_name = {lat.name: lat for lat in latents}
    priors = {}
    for i, lat in enumerate(latents):
        where = f"latents[{i}] ({lat.name!r})"
        if parents[lat.name]:
            if lat.prior not in ("normal", None) and not (isinstance(lat.prior, PriorSpec) and lat.prior.name == "normal"):
                raise ModelError(f"{where}.prior: a latent with `given` has the conditional prior "
                                 f"p({lat.name} | {', '.join(parents[lat.name])}) computed by `net`; remove prior")
            lat.net.validate(f"{where}.net", sum(by_name[p].dim for p in parents[lat.name]) + ctx,
                             kinds[lat.name].params(lat.dim))
            continue
        if kinds[lat.name].discrete:
            if lat.prior not in (None, "uniform", "learned"):
                raise ModelError(f"{where}.prior: a top {lat.kind} latent's prior is 'uniform' or 'learned' "
                                 f"(logits), got {lat.prior!r}")
            priors[lat.name] = DiscretePriorSpec(kinds[lat.name], learned=lat.prior == "learned")
            continue
        prior = prior_from(lat.prior, f"{where}.prior")
        if isinstance(prior, VampPrior) and (len(latents) > 1 or spec.context is not None
                                             or spec.inference != "bottom_up"
                                             or not isinstance(posteriors[lat.name], NormalPosterior)):
            raise ModelError(f"{where}.prior: the VampPrior needs the latent whose encoder reads x alone "
                             f"(a single-latent bottom_up model without context, Gaussian posterior)")
        priors[lat.name] = prior
    return priors


def _seen_width(spec: Spec, latents: list, observed: list, data: dict):
    """``(the observed label's part or None, the width the guide reads as x)``: x, and the
    label's one-hot when a likelihood observes it."""
    label_part = next((part for part in observed if part.columns is None), None)
    seen_width = int(data["x_dim"])
    if label_part is not None:
        if spec.context is not None:
            raise ModelError(f"{label_part.where}: the label is observed by a likelihood and as context; "
                             f"remove context")
        if any(lat.label is not None for lat in latents):
            raise ModelError(f"{label_part.where}: the label cannot be both observed (Categorical "
                             f"likelihood) and a latent (Label); keep one")
        seen_width += int(data["num_classes"])
    return label_part, seen_width


def _guide_nets(spec: Spec, latents: list, guide_parents: dict, posteriors: dict, seen_width: int, ctx: int):
    """``(name -> network, name -> input width)`` of each guide factor, each network checked."""
    by_name, names = {lat.name: lat for lat in latents}, [lat.name for lat in latents]
    guide_nets, guide_widths = {}, {}
    x_width = spec.features if spec.inference == "top_down" else seen_width
    for name, reads in guide_parents.items():
        lat, i = by_name[name], names.index(name)
        guide_nets[name] = lat.encoder or (spec.encoder if X in reads and spec.inference == "bottom_up"
                                           else MLP([100, 100]))
        guide_widths[name] = sum(x_width if r == X else by_name[r].dim for r in reads)
        guide_nets[name].validate(f"latents[{i}] ({name!r}).encoder" if lat.encoder else "encoder",
                                  guide_widths[name] + ctx, posteriors[name].outputs(lat.dim))
    return guide_nets, guide_widths


def _observed(likelihood, names: list, default_parents: list, data: dict) -> list:
    """The observed variables of ``Spec.likelihood`` (one or a list), checked: parts of ``x`` in
    column order (tiling ``x``, of one kind: the data are prepared once for it), then the label."""
    x_dim = int(data["x_dim"])
    many = isinstance(likelihood, (list, tuple))
    items = list(likelihood) if many else [likelihood]
    parts = []
    for i, lik in enumerate(items):
        where = f"likelihood[{i}]" if many else "likelihood"
        if not isinstance(lik, Likelihood):
            raise ModelError(f"{where} must be a Likelihood (Bernoulli(...), Gaussian(...), ...), got {lik!r}")
        if lik.kind not in LIKELIHOODS + ("categorical",):
            raise ModelError(f"{where}.kind: unknown likelihood {lik.kind!r}; use one of "
                             f"{', '.join(LIKELIHOODS + ('categorical',))}")
        given = default_parents if lik.given is None else _names(lik.given)
        if not given:
            raise ModelError(f"{where}.given: an observed variable must depend on at least one latent")
        for g in given:
            if g not in names:
                raise ModelError(f"{where}.given: {g!r} is not a latent (latents: {', '.join(names)})")
        columns = lik.columns
        if lik.kind == "categorical":
            if columns is not None:
                raise ModelError(f"{where}.columns: a Categorical likelihood observes the label y, not columns of x")
            if not data.get("num_classes"):
                raise ModelError(f"{where}: a Categorical likelihood observes the label, but the data have none")
        elif columns is None:
            columns = (0, x_dim)
        elif (not isinstance(columns, (tuple, list)) or len(columns) != 2
              or not all(isinstance(c, int) and not isinstance(c, bool) for c in columns)
              or not 0 <= columns[0] < columns[1] <= x_dim):
            raise ModelError(f"{where}.columns must be (start, stop) with 0 <= start < stop <= {x_dim}, got {columns!r}")
        parts.append(Observed(lik, where, given, None if columns is None else tuple(columns)))
    x_parts = sorted((p for p in parts if p.columns is not None), key=lambda p: p.columns)
    labels = [p for p in parts if p.columns is None]
    if not x_parts:
        raise ModelError("likelihood: declare a likelihood of x (Bernoulli, Gaussian or ContinuousBernoulli)")
    if len(labels) > 1:
        raise ModelError(f"{labels[1].where}: only one Categorical likelihood (of the label) is possible")
    stop = 0
    for part in x_parts:
        if part.columns[0] != stop:
            raise ModelError(f"{part.where}.columns: the parts of x must tile its {x_dim} columns without gap or "
                             f"overlap; this one starts at {part.columns[0]}, after column {stop}")
        stop = part.columns[1]
        if part.likelihood.kind != x_parts[0].likelihood.kind:
            raise ModelError(f"{part.where}.kind: every part of x has the same kind (the data are prepared "
                             f"once for it), got {x_parts[0].likelihood.kind!r} and {part.likelihood.kind!r}")
    if stop != x_dim:
        raise ModelError(f"likelihood: the parts of x cover columns 0..{stop}, but x has {x_dim}")
    return x_parts + labels


def _kind(lat: Latent, where: str):
    """The latent's :class:`~.kinds.LatentKind`, its ``kind``/``relaxed``/``dim`` checked together."""
    if lat.kind not in KINDS:
        raise ModelError(f"{where}.kind: unknown kind {lat.kind!r}; use one of {', '.join(KINDS)}")
    if lat.kind == "gaussian":
        if lat.relaxed is not None:
            raise ModelError(f"{where}.relaxed: only a discrete latent (categorical, bernoulli) is relaxed; remove it")
        return kind_from("gaussian")
    if lat.relaxed is not None and (isinstance(lat.relaxed, bool) or not isinstance(lat.relaxed, (int, float))
                                    or not lat.relaxed > 0):
        raise ModelError(f"{where}.relaxed must be a positive temperature (e.g. 0.5) or None, got {lat.relaxed!r}")
    if lat.kind == "categorical" and lat.dim < 2:
        raise ModelError(f"{where}.dim: a categorical latent needs at least 2 categories, got {lat.dim}")
    if lat.kind == "bernoulli" and lat.relaxed is None and lat.dim > MAX_ENUMERATED_UNITS:
        raise ModelError(f"{where}.dim: summing out {lat.dim} binary units enumerates 2^{lat.dim} values; use at "
                         f"most {MAX_ENUMERATED_UNITS} units or relax them (relaxed=0.5)")
    return kind_from(lat.kind, None if lat.relaxed is None else float(lat.relaxed))


def _label(latents, kinds, guide_parents, spec, data) -> Optional[str]:
    """The name of the latent marked :class:`Label`, checked (or None)."""
    marked = [(i, lat) for i, lat in enumerate(latents) if lat.label is not None]
    if not marked:
        return None
    if len(marked) > 1:
        raise ModelError(f"latents: only one latent can be the label, got {[lat.name for _, lat in marked]}")
    i, lat = marked[0]
    where = f"latents[{i}] ({lat.name!r}).label"
    if not isinstance(lat.label, Label):
        raise ModelError(f"{where} must be Label(labelled_examples, alpha), got {lat.label!r}")
    if lat.kind != "categorical" or lat.relaxed is not None:
        raise ModelError(f"{where}: the label must be an exact categorical latent (kind='categorical', relaxed=None)")
    if spec.context is not None:
        raise ModelError(f"{where}: a model whose label is a latent takes no context; remove context")
    if data.get("num_classes") and int(data["num_classes"]) != lat.dim:
        raise ModelError(f"{where}: the latent has {lat.dim} categories but the data have {data['num_classes']} classes")
    if guide_parents[lat.name] != [X]:
        raise ModelError(f"{where}: the label's guide factor reads {guide_parents[lat.name]}, but the classifier "
                         f"q({lat.name} | x) must read x alone; declare it after the latents it is independent "
                         f"of, so that the guide draws it first")
    count, alpha = lat.label.labelled_examples, lat.label.alpha
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ModelError(f"{where}.labelled_examples must be a positive integer, got {count!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
        raise ModelError(f"{where}.alpha must be a number >= 0, got {alpha!r}")
    return lat.name
