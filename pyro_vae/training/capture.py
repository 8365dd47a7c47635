r"""Capture a training step's loss and gradients once, replay it at every later step.

The step is traced at the ATen level (:func:`pyro_vae.infer.graph_capture.trace_graph`) with the
parameters, buffers and the batch as the graph's inputs and the loss and each parameter's
gradient as its outputs; the sampling operations are inside the graph, so each replay draws
fresh noise from the global generator, as the eager step does. Replaying runs the recorded
operations with no Python from Pyro, no handler stack and no autograd bookkeeping (the backward
operations are in the graph, run under ``no_grad``).

Per input signature (the batch's shapes, dtypes and devices: the short last batch is another
one) the schedule is :class:`~pyro_vae.infer.graph_capture.CaptureSchedule`'s: the first call
runs the ordinary eager Pyro step, the second records the structure of the traces, the third
captures (checking that the structure is the same), and later calls replay.

Capture is not valid, and the step stays eager (``capture="auto"``, with one line saying why;
an error under ``capture="on"``) when the step's work can change between calls without the input
shapes changing: an enumerated or non-reparameterized latent (``TraceEnum_ELBO``, score-function
terms), subsampling (indices drawn in Python), a structure that differs between two calls, a
loss whose step capture cannot reproduce, or a capture that fails (Python control flow on tensor
*values* reads a value back, which the tracer refuses). What no check sees is a model that
changes its work by Python state after its first three steps: train it with ``capture="off"``.

On CUDA the replay is one CUDA graph (:class:`~pyro_vae.infer.cuda_graphs.CUDAGraphReplay`), which
launches the step's hundred-odd kernels with one call; each recording is checked against the op-by-op
replay first, and where recording fails or its check does, the step replays the ATen graph op by op,
with one line saying why.

Pyro's ``Trace_ELBO`` converts partial sums to Python floats while it runs; while tracing, those
become float64 tensors (:func:`_tensor_valued_pyro_elbos`), the same arithmetic.
"""

from __future__ import annotations

import contextlib
import time
from typing import Optional

import torch

from ..infer.cuda_graphs import CUDAGraphReplay, cuda_device
from ..infer.graph_capture import LOG, CaptureError, CaptureSchedule, capture_failure, input_signature, trace_graph

__all__ = ["CaptureError", "CapturedStep", "loss_and_gradients"]


def _replayable_loss(loss) -> Optional[str]:
    """Why ``loss``'s step cannot be reproduced by :func:`loss_and_gradients`, or None: only
    pyro-vae's estimators and Pyro's ``Trace_ELBO`` / ``TraceMeanField_ELBO`` are, and only when
    ``loss_and_grads`` is theirs (a subclass that overrides it does something capture would skip)."""
    from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

    from ..infer.estimators.base import ImportanceWeightedELBO

    for known in (ImportanceWeightedELBO, TraceMeanField_ELBO, Trace_ELBO):
        if isinstance(loss, known):
            if type(loss).loss_and_grads is not known.loss_and_grads:
                return f"{type(loss).__name__} overrides loss_and_grads"
            return None
    return f"the loss {type(loss).__name__} is not one capture can reproduce (pyro-vae's estimators, Trace_ELBO, " \
           f"TraceMeanField_ELBO)"


def loss_and_gradients(loss, model, guide, params: list, *batch) -> tuple:
    """``(loss, grads)`` of one step without touching ``.grad``: pyro-vae's estimators say it
    themselves; a Pyro ELBO's gradient is that of its ``differentiable_loss`` (reparameterized
    guides, which capture requires)."""
    if hasattr(loss, "loss_and_gradients"):
        return loss.loss_and_gradients(model, guide, params, *batch)
    with _tensor_valued_pyro_elbos():
        value = loss.differentiable_loss(model, guide, *batch)
    return value.detach(), list(torch.autograd.grad(value, params, allow_unused=True))


@contextlib.contextmanager
def _tensor_valued_pyro_elbos():
    """Pyro's ``Trace_ELBO`` and ``TraceMeanField_ELBO`` turn partial sums into Python floats
    (``torch_item``) and test for NaN in Python (``warn_if_nan``): value-dependent calls that a
    graph cannot hold. While one is traced, ``torch_item`` keeps a float64 tensor (Python floats are
    float64: the same sums, the same loss to the last bit) and the NaN test is left to the trainer,
    which skips a step whose loss is not finite."""
    import pyro.infer.trace_elbo as trace_elbo
    import pyro.infer.trace_mean_field_elbo as trace_mean_field_elbo

    replaced = [(module, name, getattr(module, name)) for module in (trace_elbo, trace_mean_field_elbo)
                for name in ("torch_item", "warn_if_nan")]
    try:
        for module, name, _ in replaced:
            setattr(module, name, _float64 if name == "torch_item" else (lambda *a, **k: None))
        yield
    finally:
        for module, name, original in replaced:
            setattr(module, name, original)


def _float64(x):
    return x.double() if torch.is_tensor(x) else x


class _Program(torch.nn.Module):
    """The step as a module whose parameters :func:`torch.func.functional_call` can swap for the
    graph's inputs: ``forward(batch) -> [loss, grad, ...]`` for the parameters with a gradient."""

    def __init__(self, module: torch.nn.Module, loss, model, guide):
        super().__init__()
        self.vae, self.loss, self.model, self.guide = module, loss, model, guide
        self.has_grad: list = []  # per parameter, whether the traced step gave it a gradient

    def forward(self, params: list, *batch):
        value, grads = loss_and_gradients(self.loss, self.model, self.guide, params, *batch)
        self.has_grad = [g is not None for g in grads]
        return [value] + [g for g in grads if g is not None]


class _Captured:
    """One captured step: the ATen ``graph``, which parameters it gives a gradient
    (``has_grad``), and on CUDA its :class:`CUDAGraphReplay` once recorded (``cuda``)."""

    def __init__(self, graph, has_grad: list):
        self.graph, self.has_grad = graph, has_grad
        self.cuda: Optional[CUDAGraphReplay] = None


class CapturedStep:
    """``loss.loss_and_grads`` for ``module``'s model and guide, captured per batch signature and
    replayed (module docstring). Drop-in for the loss in :func:`~.trainer.svi_step`.

    :param mode: ``"auto"`` (capture where valid, else eager with one warning), ``"on"`` (an
        error where not valid), ``"off"`` (always eager).
    :param cuda_graphs: on CUDA, replay as one CUDA graph (module docstring); False replays the
        ATen graph op by op.
    """

    def __init__(self, loss, module: torch.nn.Module, mode: str = "auto", cuda_graphs: bool = True):
        self.loss, self.module, self.cuda_graphs = loss, module, cuda_graphs
        self.schedule = CaptureSchedule("training step", mode, gradients=True, flag="--capture")
        unreproducible = _replayable_loss(loss) if self.schedule.eager_reason is None else None
        if unreproducible is not None:
            self.schedule.refuse(unreproducible)

    def __getattr__(self, name):  # num_particles etc. of the wrapped loss
        return getattr(self.__dict__["loss"], name)

    @property
    def captured(self) -> bool:
        return self.schedule.captured

    @property
    def eager_reason(self) -> Optional[str]:
        return self.schedule.eager_reason

    @property
    def graphs(self) -> dict:
        return self.schedule.graphs

    @property
    def capture_seconds(self) -> float:
        return self.schedule.capture_seconds

    # ---- the step ---------------------------------------------------------------------------------
    def loss_and_grads(self, model, guide, *batch) -> float:
        """The eager step, or the replay of its capture (:class:`CaptureSchedule`)."""
        return self.schedule.run(input_signature(batch), model, guide,
                                 eager=lambda m, g: self.loss.loss_and_grads(m, g, *batch),
                                 trace=lambda m, g: self._capture(m, g, batch),
                                 replay=lambda captured: self._replay(captured, batch))

    def _state(self):
        params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        return params, list(self.module.named_buffers())

    def _capture(self, model, guide, batch) -> _Captured:
        """The step traced with the parameters and buffers as inputs."""
        params, buffers = self._state()
        program = _Program(self.module, self.loss, model, guide)
        n_params = len(params)

        def step(flat, *inputs):
            live = [t.requires_grad_() for t in flat[:n_params]]
            swapped = {f"vae.{n}": t for (n, _), t in zip(params + buffers, live + list(flat[n_params:]))}
            return torch.func.functional_call(program, swapped, (live,) + inputs)

        flat = [p.detach() for _, p in params] + [b for _, b in buffers]
        graph = trace_graph(step, flat, *batch)
        return _Captured(graph, program.has_grad)

    def _cuda_graph_outputs(self, captured: _Captured, state: list, batch) -> Optional[list]:
        """The step's outputs replayed as a CUDA graph (recorded on first use, and again when the
        state moved), or None where no CUDA graph is used: not on CUDA, turned off, or its recording
        failed or failed its check (then one line, and op by op from here on)."""
        if not self.cuda_graphs or cuda_device(batch) is None:
            return None
        start, recording = time.perf_counter(), captured.cuda is None
        try:
            if recording:
                captured.cuda = CUDAGraphReplay(captured.graph, state, batch)
            return captured.cuda(state, batch)
        except Exception as e:  # noqa: BLE001 - the op-by-op replay stays
            LOG.warning(f"training step not recorded as a CUDA graph (replayed op by op): {capture_failure(e)}")
            self.cuda_graphs, captured.cuda = False, None
            return None
        finally:
            if recording:  # a one-off cost, like the capture's
                self.schedule.capture_seconds += time.perf_counter() - start

    def _replay(self, captured: _Captured, batch) -> float:
        params, buffers = self._state()
        state = [p for _, p in params] + [b for _, b in buffers]
        out = self._cuda_graph_outputs(captured, state, batch)
        static = out is not None  # a CUDA graph's outputs are overwritten by its next replay
        if out is None:
            with torch.no_grad():
                out = captured.graph(state, *batch)
        grads = iter(out[1:])
        for (_, p), has in zip(params, captured.has_grad):
            if has:
                g = next(grads)
                if p.grad is None:
                    p.grad = g.clone() if static else g
                else:
                    p.grad.add_(g)
        return float(out[0])
