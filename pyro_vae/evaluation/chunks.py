r"""One chunk of the IW evaluator, run eagerly through Pyro or captured once and replayed.

A chunk is one vectorized run of guide and model over ``size`` particles of a block of
datapoints (:func:`pyro_vae.infer.particles.trace_particles`), reduced to what the evaluator
keeps of it: the log weights :math:`\log w` ``[K, B]``, the KL draws ``[K, B]`` (the closed form,
or :math:`\log p(x \mid z) - \log w` by Monte Carlo) and, for the first chunk of a block under
diagnostics, the posterior means.

The chunk's work depends only on the shapes of its inputs, as a training step's does, so it gets
the training step's treatment (:class:`pyro_vae.infer.graph_capture.CaptureSchedule`): per key
(the batch's shapes, dtypes and devices; the number of particles; the KL's kind; with means or
not) call 1 runs eagerly (with Pyro's validation on the evaluation's first chunk), call 2 runs
eagerly with the structure of the traces recorded, call 3 traces the chunk at the ATen level and
checks that the structure is the same, and every later call replays the graph. The sampling
operations are in the graph and draw from the global generator in the eager order, so the
replayed values equal the eager ones for the same seed (tests check equality; a moved operation
can change the last bit, :mod:`pyro_vae.infer.graph_passes`). The parameters are read as constants: a
:class:`ChunkRunner` lives for one evaluation, during which they do not change.

A trace costs 0.2-3 s and a replay saves a few milliseconds of Python per chunk (Pyro's handlers,
the trace's bookkeeping; ``benchmarks/eval_speed.py``), so ``capture="auto"`` captures only an
evaluation of at least :data:`CAPTURE_MIN_CHUNKS` chunks, e.g. K=5000 on more than 500 images.
Where capture is not valid (an enumerated site, a subsampling plate, a structure that changes, a
trace that fails; a non-reparameterized site is not a reason here: nothing is differentiated) the
chunks stay eager with one log line (an error under ``capture="on"``).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..infer.graph_capture import CaptureSchedule, input_signature, trace_graph
from ..infer.particles import is_enumerated, trace_particles
from .kl import closed_form_kl

#: ``capture="auto"`` captures an evaluation of at least this many chunks (module docstring).
CAPTURE_MIN_CHUNKS = 1000


def posterior_means(pt) -> dict:
    """``{site: [N, D]}`` of :math:`E_q[z]` (averaged over particles) for continuous latents.

    A latent drawn after enumerated guide sites (``z`` given the label ``y`` of M2) has one mean
    per enumerated value; they are averaged with the guide's weights :math:`q(y \\mid x)`.
    """
    enumerated = [s for s in pt.guide_trace.nodes.values() if s["type"] == "sample" and is_enumerated(s)]
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
        self.model, self.guide = model, guide
        self.max_plate_nesting, self.data_plate = max_plate_nesting, data_plate
        self.schedule = CaptureSchedule("IW evaluation", mode, gradients=False)
        if mode == "auto" and planned_chunks < CAPTURE_MIN_CHUNKS:
            self.schedule.eager_reason = f"{planned_chunks} chunks (capture from {CAPTURE_MIN_CHUNKS})"

    @property
    def captured(self) -> bool:
        return self.schedule.captured

    @property
    def eager_reason(self) -> Optional[str]:
        return self.schedule.eager_reason

    def traces(self, batch: tuple, size: int, model=None, guide=None):
        """One eager run of the chunk: :class:`~pyro_vae.infer.particles.ParticleTraces`."""
        return trace_particles(model or self.model, guide or self.guide, batch, num_particles=size,
                               max_plate_nesting=self.max_plate_nesting, data_plate=self.data_plate)

    def __call__(self, batch: tuple, size: int, kl_closed: bool, with_means: bool) -> tuple:
        """``(log_w, kl, means)`` of one chunk of ``size`` particles on ``batch``."""
        def eager(model, guide):
            return chunk_outputs(self.traces(batch, size, model, guide), kl_closed, with_means)

        def trace(model, guide):
            return trace_graph(lambda *inputs: chunk_outputs(self.traces(inputs, size, model, guide), kl_closed,
                                                             with_means), *batch, scoped_params=False)

        key = (input_signature(batch), size, kl_closed, with_means)
        return self.schedule.run(key, self.model, self.guide, eager, trace, replay=lambda graph: graph(*batch))
