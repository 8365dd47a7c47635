r"""The annealing path of a Pyro model/guide pair, per chain and datapoint, in unconstrained space.

AIS moves chains from a normalised start :math:`\pi_0(z)` (the guide :math:`q(z \mid x)` or the
prior :math:`p(z)`) to the posterior through

.. math::
    \gamma_\beta(z) = \pi_0(z)^{1-\beta}\, p(x, z)^{\beta}, \qquad 0 = \beta_0 < \dots < \beta_T = 1,

whose normaliser goes from 1 to :math:`p(x)`. Each continuous latent site is moved to
:math:`\mathbb R^d` with its support's bijection :math:`z = T(u)` (``biject_to(fn.support)``, as
Pyro's HMC does), so the chains see

.. math::
    a(u) = \log \pi_0(T(u)) + \log|\det J_T(u)|, \qquad b(u) = \log p(x, T(u)) + \log|\det J_T(u)|,

and :math:`\log\gamma_\beta = (1-\beta)\,a + \beta\,b` (the Jacobian is counted once, since the two
exponents sum to 1; it cancels in the AIS weight increments :math:`(\beta_t-\beta_{t-1})(b-a)`).
Both come from the same per-site machinery as the IW engine (:class:`pyro_vae.infer.particles.ParticleTraces`):
every site's log-density summed over all plates but the chain and data plates, model sites
marked ``infer={"enumerate": "parallel"}`` summed out exactly (so :math:`p(x, z)` and, from the
prior, :math:`p(z)` are marginals over those sites).

The guide's log-density at a new point reuses the distributions of the first draw when no guide
site's distribution depends on another latent (a mean-field or single-site amortized guide:
the encoder runs once per datapoint); otherwise the guide is re-run conditioned on the point.
"""

from __future__ import annotations

from typing import Optional

import pyro
import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch.distributions import biject_to, transforms
from torch.distributions.utils import _sum_rightmost

from ..errors import InferenceError
from ..infer.graph_capture import capture_failure, trace_graph
from ..infer.particles import PARTICLE_PLATE, is_enumerated, sample_sites, trace_particles
from .hmc import State


def is_identity(t) -> bool:
    """Whether a support bijection is the identity (a real-supported site: no Jacobian)."""
    while isinstance(t, transforms.IndependentTransform):
        t = t.base_transform
    return isinstance(t, transforms.ComposeTransform) and not t.parts


def check_annealable(pt, init: str, summed: frozenset = frozenset()) -> None:
    """One clear error for what AIS here cannot anneal (``summed``: the model's enumerated sites,
    drawn by the prior as start and summed out of the path)."""
    for site in sample_sites(pt.guide_trace):
        if is_enumerated(site):
            raise InferenceError(
                f"the guide enumerates the discrete latent {site['name']!r}: AIS anneals continuous latents; "
                f"mark {site['name']!r} infer={{'enumerate': 'parallel'}} in the model instead (it is then summed "
                f"out of p(x, z)), or use the IW evaluation (method='iw')")
    for site in pt.latent_sites():
        if site["fn"].support.is_discrete and site["name"] not in summed:
            raise InferenceError(
                f"latent {site['name']!r} is discrete and sampled: HMC needs continuous latents; mark it "
                f"infer={{'enumerate': 'parallel'}} in the model so it is summed out, or use method='iw'")
    if init not in ("guide", "prior"):
        raise InferenceError(f"init must be guide or prior, got {init!r}")


class AnnealingPath:
    """:math:`a(u)`, :math:`b(u)` and their gradients for one block of datapoints x chains.

    :param pt: the first draw (``trace_particles`` of the pair, or of the model's prior as
        proposal), whose latent values are the chains' starting points and whose guide
        distributions define :math:`\\pi_0`.
    """

    def __init__(self, model, guide, args, pt, init: str, summed: frozenset = frozenset()):
        check_annealable(pt, init, summed)
        self.model, self.guide, self.args, self.pt, self.init = model, guide, args, pt, init
        self.latent_sites = [s for s in pt.latent_sites() if s["name"] not in summed]  # the annealed ones
        self.sites = [s["name"] for s in self.latent_sites]
        self.event_dims = {s["name"]: s["fn"].event_dim for s in self.latent_sites}
        self.transforms = {s["name"]: biject_to(s["fn"].support) for s in self.latent_sites}
        self.observed = {s["name"] for s in sample_sites(pt.model_trace) if s["is_observed"]}
        self.enum_dims = bool(summed) or any(is_enumerated(s) for s in sample_sites(pt.model_trace))
        self.guide_fns = self._fixed_guide_fns() if init == "guide" else None
        self.graph = None  # a(u), b(u) traced once (capture()), replayed under autograd by evaluate()

    # ---- coordinates ------------------------------------------------------------------------------
    def initial_u(self) -> dict:
        return {s["name"]: self.transforms[s["name"]].inv(s["value"]).detach() for s in self.latent_sites}

    def to_u(self, z: dict) -> dict:
        return {k: self.transforms[k].inv(z[k]).detach() for k in self.sites}

    def to_z(self, u: dict) -> tuple[dict, torch.Tensor]:
        """``z = T(u)`` per site and :math:`\\sum \\log|\\det J|` per ``[C, N]``."""
        z, log_det = {}, 0.0
        for name in self.sites:
            t = self.transforms[name]
            z[name] = t(u[name])
            if is_identity(t):
                continue  # nothing to add
            jac = t.log_abs_det_jacobian(u[name], z[name])
            jac = _sum_rightmost(jac, self.event_dims[name] - t.codomain.event_dim)
            log_det = log_det + self.pt.reduce(jac, name)
        return z, log_det

    # ---- densities --------------------------------------------------------------------------------
    def _model_trace(self, z: dict):
        first = self.pt.particle_dim - 1
        model = pyro.plate(PARTICLE_PLATE, self.pt.num_particles, dim=self.pt.particle_dim)(
            poutine.condition(self.model, data=z))
        if self.enum_dims:
            model = poutine.enum(model, first_available_dim=first)
        return poutine.trace(model).get_trace(*self.args)

    def _sum(self, trace, keep) -> torch.Tensor:
        total = 0.0
        for site in trace.nodes.values():
            if site["type"] != "sample" or site_is_subsample(site) or not keep(site):
                continue
            log_p = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            total = total + self.pt.reduce(scale_and_mask(log_p, 1.0, site["mask"]), site["name"])
        return self.pt.sum_out_enumeration(total)

    def _guide_log_density(self, z: dict) -> torch.Tensor:
        if self.guide_fns is not None:
            total = 0.0
            for name in self.sites:
                total = total + self.pt.reduce(self.guide_fns[name].log_prob(z[name]), name)
            return total
        trace = self.pt.rerun_guide(z)
        return self._sum(trace, lambda s: s["name"] in self.sites)

    def log_densities(self, u: dict, u_start: Optional[dict] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """:math:`(a(u), b(u))`, each ``[C, N]``; ``u_start``: the same point as separate leaves
        for :math:`a` (with the guide as start, so that one backward pass gives both gradients)."""
        z, log_det = self.to_z(u)
        trace = self._model_trace(z)
        log_b = self._sum(trace, lambda s: True) + log_det
        if self.init == "prior":
            return self._sum(trace, lambda s: s["name"] not in self.observed) + log_det, log_b
        if u_start is not None:
            z, log_det = self.to_z(u_start)
        return self._guide_log_density(z) + log_det, log_b

    def _densities(self, *flat):
        """:meth:`log_densities` of the sites' values in order (from the guide: twice, ``u`` then
        ``u_start``), the function :meth:`capture` traces."""
        n = len(self.sites)
        u = dict(zip(self.sites, flat[:n]))
        return self.log_densities(u, dict(zip(self.sites, flat[n:])) if self.init == "guide" else None)

    def capture(self) -> Optional[str]:
        """Trace :math:`a(u), b(u)` once for this block, at the ATen level and without their
        backward (:func:`pyro_vae.infer.graph_capture.trace_graph`); :meth:`evaluate` then replays the
        forward operations under autograd, which differentiates them as it does the eager ones,
        with no Pyro handlers per evaluation. The block's data and guide distributions are
        constants of the graph, hence one trace per block. Returns why it failed, or None."""
        u = self.initial_u()
        values = [u[k] for k in self.sites]
        values += [v.clone() for v in values] if self.init == "guide" else []  # two inputs, not one tensor twice
        try:
            self.graph = trace_graph(self._densities, *values, scoped_params=False)
        except Exception as e:  # noqa: BLE001 - any failure of the tracer means: run eagerly
            return capture_failure(e)
        return None

    def evaluate(self, u: dict) -> State:
        """:math:`a, b` and their gradients at ``u`` (gradients w.r.t. ``u`` only).

        From the guide, :math:`a` and :math:`b` are computed from two copies of ``u`` (leaves of
        their own), and one backward pass of :math:`a + b` gives each its gradient; from the prior
        both come from one model run, and take a backward pass each."""
        densities = self._densities if self.graph is None else self.graph
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_(True) for k, v in u.items()}
            inputs = [leaves[k] for k in self.sites]
            if self.init == "guide":
                starts = {k: v.detach().requires_grad_(True) for k, v in u.items()}
                log_a, log_b = densities(*inputs, *[starts[k] for k in self.sites])
                grads = torch.autograd.grad(log_a.sum() + log_b.sum(), [starts[k] for k in self.sites] + inputs,
                                            allow_unused=True)
                grad_a, grad_b = grads[:len(inputs)], grads[len(inputs):]
            else:
                log_a, log_b = densities(*inputs)
                grad_a = torch.autograd.grad(log_a.sum(), inputs, retain_graph=True, allow_unused=True)
                grad_b = torch.autograd.grad(log_b.sum(), inputs, allow_unused=True)
        def filled(grads):  # a site that a density does not depend on has gradient 0
            return {k: (g if g is not None else torch.zeros_like(leaves[k])) for k, g in zip(self.sites, grads)}

        return State(u={k: v.detach() for k, v in leaves.items()}, log_a=log_a.detach(), log_b=log_b.detach(),
                     grad_a=filled(grad_a), grad_b=filled(grad_b))

    # ---- structure --------------------------------------------------------------------------------
    def _fixed_guide_fns(self) -> Optional[dict]:
        """The guide's distributions at the first draw, if no guide site's distribution depends on
        another latent's value (then they give :math:`\\log q` anywhere); else ``None``.

        Decided by differentiating each site's log-density, re-run at the first draw, with respect
        to the other sites' values. The kept distributions come from a re-run with validation off:
        the first draw was checked, and a distribution keeps the validation flag it was built with,
        which would otherwise check every point of the path (a few per cent of each evaluation)."""
        values = {s["name"]: s["value"].detach() for s in self.latent_sites}
        if len(self.sites) > 1:
            with torch.enable_grad():
                leaves = {k: v.clone().requires_grad_(True) for k, v in values.items()}
                trace = self.pt.rerun_guide(leaves)
                for name in self.sites:
                    others = [leaves[k] for k in self.sites if k != name]
                    grads = torch.autograd.grad(trace.nodes[name]["fn"].log_prob(leaves[name]).sum(), others,
                                                allow_unused=True)
                    if any(g is not None for g in grads):
                        return None
        with pyro.validation_enabled(False), torch.no_grad():
            trace = self.pt.rerun_guide(values)
        return {name: trace.nodes[name]["fn"] for name in self.sites}


def scales(path: AnnealingPath, tuning: slice) -> dict:
    """Per-coordinate scale ``s`` of each site for the HMC mass matrix: the standard deviation of
    :math:`\\pi_0` where it is known (a real-supported site whose distribution reports ``stddev``),
    taken from the first tuning chain so that it does not depend on the estimation chains' draws;
    else 1."""
    out = {}
    for site in path.latent_sites:
        name, value = site["name"], site["value"]
        scale = None
        if is_identity(path.transforms[name]):
            try:
                std = site["fn"].stddev.detach().expand(value.shape)[tuning][:1]
                scale = std.clamp(min=1e-3) if torch.isfinite(std).all() else None
            except (NotImplementedError, AttributeError, RuntimeError):
                scale = None
        out[name] = scale if scale is not None else torch.ones_like(value[:1])
    return out


def summed_sites(model, args) -> frozenset:
    """Names of the model's sites marked ``infer={"enumerate": "parallel"}`` (summed out of the path);
    one traced run of the model (call it before seeding: it draws)."""
    with poutine.block():
        trace = poutine.trace(model).get_trace(*args)
    return frozenset(s["name"] for s in sample_sites(trace) if s["infer"].get("enumerate") == "parallel")


def draw_start(model, guide, args, num_chains: int, max_plate_nesting: int, data_plate: Optional[str], init: str,
               summed: frozenset = frozenset()):
    """The first draw of ``num_chains`` chains per datapoint from :math:`\\pi_0`.

    From the prior, the ``summed`` sites are *sampled* in the draw (a draw of :math:`p(z)` needs a
    value of each), then left out of the annealed state."""
    from .importance import prior_proposal

    proposal = guide
    if init == "prior":
        proposal = poutine.infer_config(prior_proposal(model),
                                        lambda msg: {"enumerate": None} if msg["name"] in summed else {})
    return trace_particles(model, proposal, args, num_particles=num_chains, max_plate_nesting=max_plate_nesting,
                           data_plate=data_plate)
