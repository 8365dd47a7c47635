r"""One chunk of the IW evaluator, run eagerly through Pyro or captured once and replayed.

A chunk is one vectorized run of guide and model over ``size`` particles of a block of
datapoints (:func:`pyro_vae.infer.particles.trace_particles`), reduced to what the evaluator
keeps of it: the log weights :math:`\log w` ``[K, B]``, the KL draws ``[K, B]`` (the closed form,
or :math:`\log p(x \mid z) - \log w` by Monte Carlo) and, for the first chunk of a block under
diagnostics, the posterior means.

The chunk's work depends only on the shapes of its inputs, as a training step's does, so it gets
the training step's treatment (:mod:`pyro_vae.training.capture`): per key (the batch's shapes,
dtypes and devices; the number of particles; the KL's kind; with means or not) call 1 runs
eagerly (with Pyro's validation on the evaluation's first chunk), call 2 runs eagerly with the
structure of the traces recorded, call 3 traces the chunk at the ATen level and checks that the
structure is the same, and every later call replays the graph. The sampling operations are in
the graph and draw from the global generator in the eager order, so the replayed values equal the
eager ones for the same seed (a test checks equality). The parameters are read as constants: a
:class:`ChunkRunner` lives for one evaluation, during which they do not change.

A trace costs 0.2-3 s and a replay saves a few milliseconds of Python per chunk (Pyro's handlers,
the trace's bookkeeping; ``benchmarks/eval_speed.py``), so ``capture="auto"`` captures only an
evaluation of at least :data:`CAPTURE_MIN_CHUNKS` chunks, e.g. K=5000 on more than 500 images.
Where capture is not valid (an enumerated or non-reparameterized site, a subsampling plate, a
structure that changes, a trace that fails) the chunks stay eager with one log line (an error
under ``capture="on"``).
"""

from __future__ import annotations

import logging
from typing import Optional

import torch

from ..errors import InferenceError
from ..infer.particles import _is_enumerated, trace_particles
from ..options import CAPTURE_MODES
from .kl import closed_form_kl

LOG = logging.getLogger("pyro_vae")

#: ``capture="auto"`` captures an evaluation of at least this many chunks (module docstring).
CAPTURE_MIN_CHUNKS = 1000


def posterior_means(pt) -> dict:
    """``{site: [N, D]}`` of :math:`E_q[z]` (averaged over particles) for continuous latents.

    A latent drawn after enumerated guide sites (``z`` given the label ``y`` of M2) has one mean
    per enumerated value; they are averaged with the guide's weights :math:`q(y \\mid x)`.
    """
    enumerated = [s for s in pt.guide_trace.nodes.values() if s["type"] == "sample" and _is_enumerated(s)]
    out = {}
    for site in pt.latent_sites():
        if not torch.is_floating_point(site["value"]):
            continue
        try:  # a mean that is itself a Monte Carlo estimate (a flow posterior's): the K particles already are one
            mean = site["value"] if getattr(site["fn"], "mean_is_monte_carlo", False) else site["fn"].mean
        except (NotImplementedError, AttributeError):
            mean = site["value"]
        event_dim = site["fn"].event_dim
        mean = mean.expand(site["value"].shape)
        batch_shape = mean.shape[: mean.dim() - event_dim]
        n_enum = len(batch_shape) + pt.particle_dim  # dims left of the particle dim
        if n_enum > 0:
            log_q = sum(s["fn"].log_prob(s["value"]) for s in enumerated).expand(batch_shape)
            weights = (log_q - log_q.logsumexp(tuple(range(n_enum)), keepdim=True)).exp()
            mean = (weights.reshape(batch_shape + (1,) * event_dim) * mean).sum(tuple(range(n_enum)))
        # [K, ..., N, ..., event] -> average over particles -> [N, D]
        mean = mean.mean(pt.particle_dim - event_dim, keepdim=True)
        out[site["name"]] = mean.movedim(pt.data_plate.dim - event_dim, 0).reshape(pt.num_data, -1)
    return out


def chunk_outputs(pt, kl_closed: bool, with_means: bool) -> tuple:
    """``(log_w, kl, means)`` of one chunk's traces ``pt``: ``[K, B]``, ``[K, B]`` and
    ``{site: [B, D]}`` (empty unless ``with_means``)."""
    log_w = pt.log_weights()
    if kl_closed:
        kl = closed_form_kl(pt)
    else:  # Monte Carlo: log q(z|x) - log p(z) = log p(x|z) - log w per draw
        kl = pt.sum_out_enumeration(pt.model_log_joint(observed=True)) - log_w
    return log_w, kl, (posterior_means(pt) if with_means else {})


class ChunkRunner:
    """Runs the evaluator's chunks of one evaluation (module docstring).

    :param mode: ``"auto"``, ``"on"`` or ``"off"`` (as the trainer's ``--capture``).
    :param planned_chunks: how many chunks the evaluation will run (``auto`` captures from
        :data:`CAPTURE_MIN_CHUNKS`).
    """

    def __init__(self, model, guide, max_plate_nesting: int, data_plate: Optional[str], mode: str = "auto",
                 planned_chunks: int = 0):
        if mode not in CAPTURE_MODES:
            raise InferenceError(f"capture must be one of {', '.join(CAPTURE_MODES)}, got {mode!r}")
        self.model, self.guide = model, guide
        self.max_plate_nesting, self.data_plate, self.mode = max_plate_nesting, data_plate, mode
        self.eager_reason: Optional[str] = None
        if mode == "off":
            self.eager_reason = "capture is off"
        elif mode == "auto" and planned_chunks < CAPTURE_MIN_CHUNKS:
            self.eager_reason = f"{planned_chunks} chunks (capture from {CAPTURE_MIN_CHUNKS})"
        self.calls: dict = {}      # key -> eager calls made
        self.structure: dict = {}  # key -> the sites of its second eager call
        self.graphs: dict = {}     # key -> captured graph

    @property
    def captured(self) -> bool:
        return bool(self.graphs)

    def traces(self, batch: tuple, size: int, model=None, guide=None):
        """One eager run of the chunk: :class:`~pyro_vae.infer.particles.ParticleTraces`."""
        return trace_particles(model or self.model, guide or self.guide, batch, num_particles=size,
                               max_plate_nesting=self.max_plate_nesting, data_plate=self.data_plate)

    def _refuse(self, reason: str) -> None:
        from ..training.capture import CaptureError  # (training imports evaluation: not at the top)

        if self.mode == "on":
            raise CaptureError(f"capture on: the IW evaluation cannot be captured: {reason}; use capture auto or off")
        LOG.warning(f"IW evaluation not captured (runs eagerly): {reason}")
        self.eager_reason = reason

    def __call__(self, batch: tuple, size: int, kl_closed: bool, with_means: bool) -> tuple:
        """``(log_w, kl, means)`` of one chunk of ``size`` particles on ``batch``."""
        from ..training.capture import capture_failure, input_signature, recording, trace_graph, why_not_capturable

        if self.eager_reason is not None:
            return chunk_outputs(self.traces(batch, size), kl_closed, with_means)
        key = (input_signature(batch), size, kl_closed, with_means)
        if key in self.graphs:
            return self.graphs[key](*batch)
        calls = self.calls[key] = self.calls.get(key, 0) + 1
        if calls == 1:
            return chunk_outputs(self.traces(batch, size), kl_closed, with_means)
        if calls == 2:
            model, guide, sites = recording(self.model, self.guide)
            out = chunk_outputs(self.traces(batch, size, model, guide), kl_closed, with_means)
            self.structure[key] = sites
            reason = why_not_capturable(sites)
            if reason is not None:
                self._refuse(reason)
            return out
        model, guide, sites = recording(self.model, self.guide)

        def chunk(*inputs):
            return chunk_outputs(self.traces(inputs, size, model, guide), kl_closed, with_means)

        try:
            graph = trace_graph(chunk, *batch, scoped_params=False)
        except Exception as e:  # noqa: BLE001 - any failure of the tracer means: run eagerly
            self._refuse(capture_failure(e))
            return chunk_outputs(self.traces(batch, size), kl_closed, with_means)
        if sites != self.structure[key]:
            self._refuse("the model's structure changed between two calls with the same input shapes")
            return chunk_outputs(self.traces(batch, size), kl_closed, with_means)
        self.graphs[key] = graph
        return graph(*batch)
