r"""The base of the importance-weighted estimators: one vectorized run, per-datapoint bounds.

Every estimator here is a :class:`pyro.infer.ELBO` built on the matrix of log importance
weights :math:`\log w` of shape ``[S, N]`` (``S`` particles per datapoint, ``N`` datapoints;
see :mod:`pyro_vae.infer.particles`). It defines

* :meth:`bound` — the per-datapoint objective :math:`\mathcal L(x_n)` (shape ``[N]``), whose
  sum, times the data plate's subsample scale, is the negative of :meth:`loss`. The scale is
  applied *after* the logsumexp over particles, never inside it.
* :meth:`surrogate` — a scalar whose gradient is the estimator's gradient (for those whose
  model and guide gradients come from one objective), or :meth:`split_surrogates` — one scalar
  for the model's parameters and one for the guide's (DReG, PIWAE).

Continuous latents must be reparameterized; discrete guide sites must be enumerated
(``infer={"enumerate": "parallel"}``), in which case they are summed out exactly. A sampled
non-reparameterizable site is refused: these bounds' gradients would need a score-function
term, which this family does not estimate (use ``Trace_ELBO`` or enumerate the site).
"""

from __future__ import annotations

from typing import Optional

import torch
from pyro.distributions.util import scale_and_mask
from pyro.infer import ELBO
from pyro.infer.util import torch_item

from ...errors import InferenceError
from ..particles import ParticleTraces, guess_max_plate_nesting, log_mean_exp, trace_particles  # noqa: F401


class ImportanceWeightedELBO(ELBO):
    """Base class: subclasses define :meth:`bound` and :meth:`surrogate` (or :meth:`split_surrogates`).

    :param num_particles: particles per datapoint (``S``; for the MIWAE family ``M * K``).
    :param max_plate_nesting: plate dims of the model; guessed from one run when left infinite.
    :param data_plate: name of the data plate; default the outermost plate of the observations.
    """

    #: Whether the model and guide gradients come from different objectives (DReG, PIWAE).
    split_gradients = False

    def __init__(self, num_particles: int = 1, max_plate_nesting: float = float("inf"),
                 data_plate: Optional[str] = None):
        if int(num_particles) < 1:
            raise InferenceError(f"num_particles must be >= 1, got {num_particles}")
        super().__init__(num_particles=int(num_particles), max_plate_nesting=max_plate_nesting)
        self.data_plate = data_plate

    # ---- to define ----------------------------------------------------------------------------
    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """Per-datapoint objective ``[N]`` from log weights ``[S, N]``."""
        raise NotImplementedError

    def surrogate(self, pt: ParticleTraces) -> torch.Tensor:
        """Per-datapoint surrogate ``[N]`` whose gradient is the estimator's (default: the bound's)."""
        return self.bound(pt.log_weights(respect_scale=True))

    def split_surrogates(self, pt: ParticleTraces) -> tuple[torch.Tensor, torch.Tensor]:
        """``(for the model's parameters, for the guide's parameters)``, each ``[N]``."""
        raise NotImplementedError

    # ---- machinery ----------------------------------------------------------------------------
    def _traces(self, model, guide, args, kwargs) -> ParticleTraces:
        if self.max_plate_nesting == float("inf"):
            self.max_plate_nesting = guess_max_plate_nesting(model, guide, args, kwargs, self.data_plate)
        pt = trace_particles(model, guide, args, kwargs, num_particles=self.num_particles,
                             max_plate_nesting=self.max_plate_nesting, data_plate=self.data_plate)
        for site in pt.latent_sites():
            if not site["fn"].has_rsample:
                raise InferenceError(
                    f"guide site {site['name']!r} ({type(site['fn']).__name__}) is not reparameterizable: "
                    f"{type(self).__name__} has no score-function gradient. Mark it "
                    f"infer={{'enumerate': 'parallel'}} to sum it out exactly, or train with --loss elbo")
        return pt

    def _get_trace(self, model, guide, args, kwargs):
        """Pyro's ELBO interface: the vectorized model and guide traces of one run."""
        pt = self._traces(model, guide, args, kwargs)
        return pt.model_trace, pt.guide_trace

    def path_log_q(self, pt: ParticleTraces) -> torch.Tensor:
        r""":math:`\log q(z)` whose gradient is the path derivative only (``[S, N]``).

        :math:`\log q_\phi(z(\phi)) - \log q_\phi(\bar z) + \mathrm{sg}[\log q_\phi(\bar z)]`, with
        :math:`\bar z` every latent detached; for guides of several sites the subtracted term
        comes from a guide re-run on the detached values, so that no score term survives through
        the parameters of :math:`q(z_2 \mid z_1)` either (Roeder et al. 2017; Tucker et al. 2018).
        """
        sites = pt.latent_sites()
        full = pt.guide_log_density(respect_scale=True)
        if len(sites) == 1:
            direct = pt.guide_log_density(respect_scale=True,
                                          site_log_prob=lambda s: s["fn"].log_prob(s["value"].detach()))
        else:
            values = {name: s["value"].detach() for name, s in pt.guide_trace.nodes.items()
                      if s["type"] == "sample"}
            rerun = pt.rerun_guide(values)
            direct = 0.0
            for site in sites:
                twin = rerun.nodes[site["name"]]
                scale = site["scale"] / pt.data_scale
                direct = direct + pt.reduce(scale_and_mask(twin["fn"].log_prob(twin["value"]), scale, site["mask"]),
                                            site["name"])
        return full - direct + direct.detach()

    def path_log_weights(self, pt: ParticleTraces) -> torch.Tensor:
        """``[S, N]`` log weights whose guide gradient is the path derivative only (STL, DReG)."""
        return pt.sum_out_enumeration(pt.model_log_joint(respect_scale=True) - self.path_log_q(pt))

    def _scaled_sum(self, pt: ParticleTraces, per_datapoint: torch.Tensor) -> torch.Tensor:
        return pt.data_scale * per_datapoint.sum()

    def loss(self, model, guide, *args, **kwargs) -> float:
        """The negative bound, summed over the data plate (times its subsample scale)."""
        with torch.no_grad():
            pt = self._traces(model, guide, args, kwargs)
            return torch_item(-self._scaled_sum(pt, self.bound(pt.log_weights(respect_scale=True))))

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        if self.split_gradients:
            raise InferenceError(
                f"{type(self).__name__} takes the model's and the guide's gradients from different "
                f"objectives, so no single differentiable loss exists: use loss_and_grads "
                f"(pyro.infer.SVI and pyro-vae's trainer do)")
        pt = self._traces(model, guide, args, kwargs)
        return -self._scaled_sum(pt, self.surrogate(pt))

    def _loss_and_objectives(self, model, guide, args, kwargs) -> tuple:
        """``(loss, [(objective, params), ...])``: the reported loss (0-d) and the scalars whose
        gradients are the estimator's, each for its ``params`` (None: every parameter)."""
        pt = self._traces(model, guide, args, kwargs)
        loss = -self._scaled_sum(pt, self.bound(pt.log_weights(respect_scale=True).detach()))
        if not self.split_gradients:
            return loss, [(-self._scaled_sum(pt, self.surrogate(pt)), None)]
        model_params, guide_params = model_and_guide_params(pt)
        for_model, for_guide = self.split_surrogates(pt)
        return loss, [(-self._scaled_sum(pt, for_model), model_params), (-self._scaled_sum(pt, for_guide), guide_params)]

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss, objectives = self._loss_and_objectives(model, guide, args, kwargs)
        for i, (objective, params) in enumerate(objectives):
            if params is None:
                objective.backward()
            elif params:
                torch.autograd.backward(objective, inputs=params, retain_graph=i < len(objectives) - 1)
        return torch_item(loss)

    def loss_and_gradients(self, model, guide, params: list, *args, **kwargs) -> tuple:
        """``(loss, grads)``: :meth:`loss_and_grads` without side effects, the gradient of each of
        ``params`` returned (None where it has none) instead of accumulated into ``.grad`` (what
        :mod:`pyro_vae.training.capture` traces once and replays)."""
        loss, objectives = self._loss_and_objectives(model, guide, args, kwargs)
        grads = [None] * len(params)
        for i, (objective, among) in enumerate(objectives):
            ids = None if among is None else {id(p) for p in among}
            idx = [j for j, p in enumerate(params) if ids is None or id(p) in ids]
            if idx:
                got = torch.autograd.grad(objective, [params[j] for j in idx], allow_unused=True,
                                          retain_graph=i < len(objectives) - 1)
                for j, g in zip(idx, got):
                    grads[j] = g
        return loss, grads


def _params(trace) -> list:
    out = {}
    for site in trace.nodes.values():
        if site["type"] == "param":
            value = site["value"]
            leaf = value.unconstrained() if hasattr(value, "unconstrained") else value
            if leaf.requires_grad:
                out[id(leaf)] = leaf
    return list(out.values())


def model_and_guide_params(pt: ParticleTraces) -> tuple[list, list]:
    model_params, guide_params = _params(pt.model_trace), _params(pt.guide_trace)
    shared = {id(p) for p in model_params} & {id(p) for p in guide_params}
    if shared:
        raise InferenceError(
            f"{len(shared)} parameter(s) are registered in both model and guide: estimators with "
            f"separate model and guide gradients (DReG, PIWAE) need them apart")
    if not model_params and not guide_params:
        raise InferenceError(
            "no parameters were registered in the traces: register networks with pyro.module(name, net) "
            "(or PyroModule) inside model and guide")
    return model_params, guide_params
