r"""Per-datapoint importance weights of any Pyro model/guide pair.

For a model :math:`p(x, z)` with a data plate over :math:`n = 1..N` and a guide
:math:`q(z \mid x)`, one run of the guide and of the model replayed against it, both inside an
outer *particle plate* of size :math:`K`, gives for every particle :math:`k` and datapoint
:math:`n` the log importance weight

.. math::
    \log w_{k,n} = \sum_{\text{model sites } s} \log p(s_{k,n} \mid \dots)
                 - \sum_{\text{guide sites } s} \log q(s_{k,n} \mid \dots),

with every site's log-density summed over its event dims and over all plates *except* the
particle plate and the data plate. The importance-weighted bounds are functions of the matrix
:math:`\log w` of shape ``[K, N]``:

.. math::
    \mathcal{L}_K(x_n) = \log \frac{1}{K} \sum_k w_{k,n} \quad\text{(logsumexp over k only)}.

Discrete guide sites marked ``infer={"enumerate": "parallel"}`` are summed out exactly: their
values occupy enumeration dims left of the particle dim, their own :math:`\log q` is left out
and :math:`\log w` is ``logsumexp``-ed over those dims, which gives the unbiased estimator
:math:`\sum_y p(x, y, z^y) / q(z^y \mid x, y)`. Model-only sites marked for enumeration are
summed out the same way.

Scales: the subsample scale of the data plate (``full_size / size``) is returned separately as
``data_scale`` so that estimators apply it *after* the logsumexp. Any other scale (e.g. a
:func:`pyro.poutine.scale` used for KL annealing) is applied to its site's log-density when
``respect_scale=True`` and ignored otherwise (the evaluator measures the unscaled model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import pyro
import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_model_guide_match

from ..errors import InferenceError

PARTICLE_PLATE = "_pyro_vae_particles"


def sample_sites(trace):
    return [s for s in trace.nodes.values() if s["type"] == "sample"]


def is_enumerated(site) -> bool:
    return site["infer"].get("_enumerate_dim") is not None


def guess_max_plate_nesting(model, guide, args, kwargs, data_plate: Optional[str] = None) -> int:
    """Number of vectorized plate dims the pair uses (one traced run, like Pyro's ELBO).

    Also checks, before any particle dim is added, that a data plate encloses the observations.
    """
    with poutine.block():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    _find_data_plate(model_trace, data_plate)
    dims = [
        frame.dim
        for trace in (guide_trace, model_trace)
        for site in sample_sites(prune_subsample_sites(trace))
        for frame in site["cond_indep_stack"]
        if frame.vectorized
    ]
    return -min(dims) if dims else 0


@dataclass
class ParticleTraces:
    """One vectorized run of guide and model over ``num_particles`` particles per datapoint."""

    model_trace: "poutine.Trace"
    guide_trace: "poutine.Trace"
    num_particles: int
    particle_dim: int  # negative, left of every plate of the model
    data_plate: "pyro.poutine.indep_messenger.CondIndepStackFrame"
    data_scale: float  # full_size / size of the data plate (1.0 without subsampling)
    rerun_guide: Optional[Callable] = None  # rerun_guide(values) -> guide trace conditioned on values
    _terms: dict = field(default_factory=dict, repr=False)  # memo: (trace, site, scaled) or log_w

    @property
    def num_data(self) -> int:
        return int(self.data_plate.size)

    # ---- shapes ---------------------------------------------------------------------------
    def reduce(self, log_prob: torch.Tensor, site_name: str = "?") -> torch.Tensor:
        """Sum ``log_prob`` over every plate dim but the particle and data dims.

        Returns shape ``[*enum_dims, K, N]`` (enumeration dims, when present, stay on the left).
        """
        n_right = -self.particle_dim  # the particle dim and the plate dims to its right
        if log_prob.shape == (self.num_particles, self.num_data) and n_right == 2:
            return log_prob  # already [K, N]: the common case, no reshape/expand nodes in the graph
        if log_prob.dim() < n_right:
            log_prob = log_prob.reshape((1,) * (n_right - log_prob.dim()) + log_prob.shape)
        data_dim = self.data_plate.dim
        other = [d for d in range(self.particle_dim + 1, 0) if d != data_dim]
        if other:
            log_prob = log_prob.sum(other, keepdim=True)
        left = log_prob.shape[: log_prob.dim() + self.particle_dim]
        n = log_prob.shape[data_dim]
        if n != self.num_data:
            raise InferenceError(
                f"sample site {site_name!r} lies outside the data plate {self.data_plate.name!r}: "
                f"per-datapoint importance weights need every latent inside that plate "
                f"(global latents have no per-datapoint weight; make them parameters)"
            )
        k = log_prob.shape[self.particle_dim]
        return log_prob.reshape(left + (k, n)).expand(left + (self.num_particles, n))

    def site_log_prob(self, site, respect_scale: bool) -> torch.Tensor:
        """Log-density of one site, masked, optionally scaled by its non-subsample scale."""
        log_p = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
        scale = site["scale"] / self.data_scale if respect_scale else 1.0
        return scale_and_mask(log_p, scale, site["mask"])

    def site_term(self, site, respect_scale: bool, trace: str) -> torch.Tensor:
        """``reduce(site_log_prob(site))``, computed once per site (log-densities of the
        observations are the dominant cost of a run: never compute them twice)."""
        key = (trace, site["name"], respect_scale)
        if key not in self._terms:
            self._terms[key] = self.reduce(self.site_log_prob(site, respect_scale), site["name"])
        return self._terms[key]

    # ---- the weights ----------------------------------------------------------------------
    def latent_sites(self) -> list:
        """Guide sample sites that are sampled (not enumerated), in execution order."""
        return [s for s in sample_sites(self.guide_trace) if not is_enumerated(s)]

    def model_log_joint(self, respect_scale: bool = False, observed: Optional[bool] = None) -> torch.Tensor:
        """:math:`\\sum_s \\log p(s)` over model sites (all, only observed, or only latent)."""
        total = 0.0
        for site in sample_sites(self.model_trace):
            if observed is not None and site["is_observed"] != observed:
                continue
            total = total + self.site_term(site, respect_scale, "model")
        return total

    def guide_log_density(
        self,
        respect_scale: bool = False,
        site_log_prob: Optional[Callable] = None,
    ) -> torch.Tensor:
        """:math:`\\sum_s \\log q(s)` over sampled guide sites (enumerated ones are left out).

        ``site_log_prob(site) -> Tensor`` replaces the log-density of each site (estimators
        use it for path-derivative-only terms).
        """
        total = 0.0
        for site in self.latent_sites():
            if site_log_prob is None:
                total = total + self.site_term(site, respect_scale, "guide")
                continue
            scale = site["scale"] / self.data_scale if respect_scale else 1.0
            total = total + self.reduce(scale_and_mask(site_log_prob(site), scale, site["mask"]), site["name"])
        return total

    def log_weights(self, respect_scale: bool = False, site_log_prob: Optional[Callable] = None) -> torch.Tensor:
        """:math:`\\log w` of shape ``[K, N]``, enumeration dims summed out in log space
        (computed once per ``respect_scale`` when ``site_log_prob`` is not given)."""
        key = ("log_w", respect_scale)
        if site_log_prob is None and key in self._terms:
            return self._terms[key]
        log_w = self.model_log_joint(respect_scale) - self.guide_log_density(respect_scale, site_log_prob)
        log_w = self.sum_out_enumeration(log_w)
        if site_log_prob is None:
            self._terms[key] = log_w
        return log_w

    def sum_out_enumeration(self, value: torch.Tensor) -> torch.Tensor:
        """``logsumexp`` over the enumeration dims left of ``[K, N]``."""
        if not torch.is_tensor(value):
            raise InferenceError("the model has no sample sites: nothing to weigh")
        if value.dim() > 2:
            value = value.reshape((-1,) + value.shape[-2:]).logsumexp(0)
        return value


def _find_data_plate(model_trace, data_plate: Optional[str]):
    observed = [s for s in sample_sites(model_trace) if s["is_observed"]]
    if not observed:
        raise InferenceError(
            "the model observes nothing: pass the data to the model and observe it with "
            "pyro.sample(..., obs=x) inside `with pyro.plate('data', len(x))`"
        )
    frames = None
    for site in observed:
        here = {f for f in site["cond_indep_stack"] if f.name != PARTICLE_PLATE}
        frames = here if frames is None else frames & here
    if data_plate is not None:
        match = [f for f in frames if f.name == data_plate]
        if not match:
            raise InferenceError(
                f"no plate named {data_plate!r} encloses every observed site; plates there: "
                f"{sorted(f.name for f in frames) or 'none'}"
            )
        frame = match[0]
    else:
        vectorized = [f for f in frames if f.vectorized]
        if not vectorized:
            raise InferenceError(
                "no vectorized data plate encloses the observed sites: wrap the likelihood in "
                "`with pyro.plate('data', len(x)):` (per-datapoint bounds need it)"
            )
        frame = min(vectorized, key=lambda f: f.dim)  # the outermost common plate
    if not frame.vectorized:
        raise InferenceError(f"the data plate {frame.name!r} is sequential: give it a dim")
    return frame


def trace_particles(
    model,
    guide,
    args=(),
    kwargs=None,
    *,
    num_particles: int,
    max_plate_nesting: int,
    data_plate: Optional[str] = None,
    validate: Optional[bool] = None,
) -> ParticleTraces:
    """Run ``guide`` then ``model`` (replayed) inside a particle plate of ``num_particles``.

    :param max_plate_nesting: plate dims of the model (:func:`guess_max_plate_nesting`).
    :param data_plate: name of the plate over datapoints; default: the outermost vectorized
        plate that encloses every observed site.

    Guide sites marked ``infer={"enumerate": "parallel"}`` are enumerated (``poutine.enum``);
    all others are sampled.
    """
    kwargs = kwargs or {}
    particle_dim = -(max_plate_nesting + 1)

    def in_particles(fn):
        return pyro.plate(PARTICLE_PLATE, num_particles, dim=particle_dim)(fn)

    guide_fn = poutine.enum(in_particles(guide), first_available_dim=particle_dim - 1)
    model_fn = in_particles(model)
    guide_trace = poutine.trace(guide_fn).get_trace(*args, **kwargs)
    enum_dims = [s["infer"]["_enumerate_dim"] for s in sample_sites(guide_trace) if is_enumerated(s)]
    model_first_dim = min(enum_dims, default=particle_dim) - 1
    model_fn = poutine.enum(poutine.replay(model_fn, trace=guide_trace), first_available_dim=model_first_dim)
    model_trace = poutine.trace(model_fn).get_trace(*args, **kwargs)

    if validate if validate is not None else pyro.poutine.util.is_validation_enabled():
        check_model_guide_match(model_trace, guide_trace, max_plate_nesting + 1)
    guide_trace = prune_subsample_sites(guide_trace)
    model_trace = prune_subsample_sites(model_trace)
    _check_latents_have_guide_or_enumeration(model_trace, guide_trace)

    frame = _find_data_plate(model_trace, data_plate)
    full = frame.full_size if frame.full_size is not None else frame.size

    def rerun_guide(values: dict):
        """The guide's trace with every sample site conditioned on ``values`` (same particles)."""
        conditioned = in_particles(poutine.condition(guide, data=values))
        return prune_subsample_sites(poutine.trace(conditioned).get_trace(*args, **kwargs))

    return ParticleTraces(
        model_trace=model_trace,
        guide_trace=guide_trace,
        num_particles=num_particles,
        particle_dim=particle_dim,
        data_plate=frame,
        data_scale=float(full) / float(frame.size),
        rerun_guide=rerun_guide,
    )


def _check_latents_have_guide_or_enumeration(model_trace, guide_trace):
    for site in sample_sites(model_trace):
        if site["is_observed"] or site["name"] in guide_trace.nodes or is_enumerated(site):
            continue
        raise InferenceError(
            f"model site {site['name']!r} is latent but the guide does not sample it: add it to "
            f"the guide, mark it infer={{'enumerate': 'parallel'}} if it is discrete, or "
            f"marginalize it in the model (e.g. MixtureSameFamily)"
        )


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """:math:`\\log \\frac{1}{K}\\sum_k e^{a_k}` along ``dim``, stable (logsumexp)."""
    return log_w.logsumexp(dim) - math.log(log_w.shape[dim])
