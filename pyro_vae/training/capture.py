r"""Capture a training step's loss and gradients once, replay it at every later step.

A VAE's Pyro model and guide do the same work at every step: the handlers (trace, replay,
plates, particle vectorization) only decide *which* tensor operations run, and they decide the
same each time. So the step is traced once, at the ATen level, with
``torch.fx.experimental.proxy_tensor.make_fx``: parameters, buffers and the batch are the
graph's inputs; the loss and each parameter's gradient its outputs; the sampling operations are
inside the graph, so each replay draws fresh noise from the global generator, as the eager step
does. Replaying runs the recorded operations with no Python from Pyro, no handler stack and no
autograd bookkeeping (the backward operations are in the graph, run under ``no_grad``).

Per input signature (the batch's shapes, dtypes and devices: the short last batch is another
one) the first call runs the ordinary eager Pyro step and records the structure of the traces
(every sample site's name, shape, distribution and flags); the second call captures, checking
that the structure is the same, and later calls replay.

Capture is not valid, and the step stays eager (``capture="auto"``, with one line saying why;
an error under ``capture="on"``) when the step's work can change between calls without the input
shapes changing: an enumerated or non-reparameterized latent (``TraceEnum_ELBO``, score-function
terms), subsampling (indices drawn in Python), a structure that differs between two calls, a
loss whose step capture cannot reproduce, or a capture that fails (Python control flow on tensor
*values* reads a value back, which the tracer refuses). What no check sees is a model that
changes its work by Python state after its first three steps: train it with ``capture="off"``.

Pyro's ``Trace_ELBO`` converts partial sums to Python floats while it runs; while tracing, those
become float64 tensors (:func:`_tensor_valued_pyro_elbos`), the same arithmetic.

Pyro's own JIT (``JitTrace_ELBO``) cannot serve here: it retraces at every step when the guide is a
bound method, refuses networks registered with ``pyro.module``, and TorchScript is deprecated.
"""

from __future__ import annotations

import contextlib
import time
from typing import NamedTuple, Optional

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.subsample_messenger import _Subsample

from ..errors import OptionError
from ..options import CAPTURE_MODES
from .graph_passes import simplify
from .logging import LOG

class CaptureError(OptionError):
    """``capture="on"`` and the step cannot be captured."""


class Site(NamedTuple):
    """One sample site of a step, as the structure check compares it (a plate: ``kind="plate"``,
    ``shape=(size, subsample_size)``)."""

    role: str  # "model" or "guide"
    name: str
    kind: str  # the distribution's class name
    shape: tuple
    observed: bool
    enumerated: bool
    reparameterized: bool


class _Structure(Messenger):
    """Records each sample site of ``role`` (``model``/``guide``) as the step runs, into a list
    the model's and the guide's recorder share."""

    def __init__(self, role: str, sites: list):
        super().__init__()
        self.role, self.sites = role, sites

    def _postprocess_message(self, msg):
        if msg["type"] != "sample":
            return
        fn, value = msg["fn"], msg["value"]
        if isinstance(fn, _Subsample):
            size = fn.size if fn.subsample_size is None else fn.subsample_size
            self.sites.append(Site(self.role, msg["name"], "plate", (fn.size, size), True, False, True))
            return
        self.sites.append(Site(self.role, msg["name"], type(fn).__name__, tuple(getattr(value, "shape", ())),
                               bool(msg["is_observed"]), bool(msg["infer"].get("enumerate")),
                               bool(getattr(fn, "has_rsample", False))))


def recording(model, guide) -> tuple:
    """``(model, guide, sites)``: both wrapped to record their :class:`Site` s into ``sites``."""
    sites: list = []
    return _Structure("model", sites)(model), _Structure("guide", sites)(guide), sites


def why_not_capturable(sites: list) -> Optional[str]:
    """The reason a step with these :class:`Site` s cannot be replayed, or None."""
    for site in sites:
        if site.kind == "plate":
            size, taken = site.shape
            if taken < size:
                return f"plate {site.name!r} subsamples ({taken} of {size}): its indices are drawn in Python"
        elif site.enumerated:
            return f"site {site.name!r} is enumerated (its sum over values is Pyro's job at each step)"
        elif site.role == "guide" and not site.observed and not site.reparameterized:
            return f"site {site.name!r} ({site.kind}) is not reparameterized (a score-function gradient)"
    return None


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


def capture_failure(e: Exception) -> str:
    """The one-line reason a trace failed (the error's type and the first line of its message)."""
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return f"capture failed ({type(e).__name__}: {first})"


def input_signature(batch: tuple) -> tuple:
    """What a captured graph is specific to: each input's shape, dtype and device (a constant's value)."""
    return tuple((tuple(t.shape), t.dtype, str(t.device)) if torch.is_tensor(t) else ("const", t) for t in batch)


def trace_graph(fn, *inputs, scoped_params: bool = True) -> "torch.fx.GraphModule":
    """``fn(*inputs)`` traced at the ATen level (``make_fx``) and simplified (:mod:`.graph_passes`).

    Tracing runs ``fn`` once: on a forked generator, so the replay that follows draws the noise the
    eager call would have drawn; with validation off and the handlers above blocked; with
    ``scoped_params``, in a scoped param store, so that ``pyro.module`` leaves the user's store alone
    (the training step swaps the parameters for graph inputs); without, against the user's store
    (an evaluation reads the parameters as they are, ``pyro.param`` ones included)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    leaves = [t for t in torch.utils._pytree.tree_leaves(inputs) if torch.is_tensor(t)]
    devices = sorted({t.device.index or 0 for t in leaves if t.device.type == "cuda"})
    store = pyro.get_param_store().scope() if scoped_params else contextlib.nullcontext()
    with torch.random.fork_rng(devices=devices), store, pyro.validation_enabled(False), poutine.block():
        graph = make_fx(fn, tracing_mode="real")(*inputs)
    return simplify(graph)


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


class CapturedStep:
    """``loss.loss_and_grads`` for ``module``'s model and guide, captured per batch signature and
    replayed (module docstring). Drop-in for the loss in :func:`~.trainer.svi_step`.

    :param mode: ``"auto"`` (capture where valid, else eager with one warning), ``"on"`` (an
        error where not valid), ``"off"`` (always eager).
    """

    def __init__(self, loss, module: torch.nn.Module, mode: str = "auto"):
        if mode not in CAPTURE_MODES:
            raise OptionError(f"capture must be one of {', '.join(CAPTURE_MODES)}, got {mode!r}")
        self.loss, self.module, self.mode = loss, module, mode
        self.calls: dict = {}      # signature -> eager calls made
        self.structure: dict = {}  # signature -> the sites of its second eager step
        self.graphs: dict = {}     # signature -> (captured graph, which parameters get a gradient)
        self.eager_reason: Optional[str] = None if mode != "off" else "capture is off"
        self.capture_seconds = 0.0
        unreproducible = _replayable_loss(loss) if self.eager_reason is None else None
        if unreproducible is not None:
            self._refuse(unreproducible)

    def __getattr__(self, name):  # num_particles etc. of the wrapped loss
        return getattr(self.__dict__["loss"], name)

    @property
    def captured(self) -> bool:
        return bool(self.graphs)

    def _refuse(self, reason: str) -> None:
        if self.mode == "on":
            raise CaptureError(f"--capture on: the training step cannot be captured: {reason}; "
                               f"use --capture auto or off")
        LOG.warning(f"training step not captured (runs eagerly): {reason}")
        self.eager_reason = reason

    # ---- the step ---------------------------------------------------------------------------------
    def loss_and_grads(self, model, guide, *batch) -> float:
        """The first call per signature runs eagerly (it may guess plate nesting, validate), the
        second eagerly with its structure recorded, the third captures (and checks the structure
        is the same), the rest replay."""
        if self.eager_reason is not None:
            return self.loss.loss_and_grads(model, guide, *batch)
        key = input_signature(batch)
        if key in self.graphs:
            return self._replay(*self.graphs[key], batch)
        calls = self.calls[key] = self.calls.get(key, 0) + 1
        if calls == 1:
            return self.loss.loss_and_grads(model, guide, *batch)
        if calls == 2:
            recorded_model, recorded_guide, sites = recording(model, guide)
            value = self.loss.loss_and_grads(recorded_model, recorded_guide, *batch)
            self.structure[key] = sites
            reason = why_not_capturable(sites)
            if reason is not None:
                self._refuse(reason)
            return value
        try:
            graph, has_grad, sites = self._capture(model, guide, batch)
        except Exception as e:  # noqa: BLE001 - any failure of the tracer means: run eagerly
            self._refuse(capture_failure(e))
            return self.loss.loss_and_grads(model, guide, *batch)
        if sites != self.structure[key]:
            self._refuse("the model's structure changed between two calls with the same input shapes")
            return self.loss.loss_and_grads(model, guide, *batch)
        self.graphs[key] = (graph, has_grad)
        return self._replay(graph, has_grad, batch)

    def _state(self):
        params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        return params, list(self.module.named_buffers())

    def _capture(self, model, guide, batch):
        params, buffers = self._state()
        recorded_model, recorded_guide, sites = recording(model, guide)
        program = _Program(self.module, self.loss, recorded_model, recorded_guide)
        n_params = len(params)

        def step(flat, *inputs):
            live = [t.requires_grad_() for t in flat[:n_params]]
            swapped = {f"vae.{n}": t for (n, _), t in zip(params + buffers, live + list(flat[n_params:]))}
            return torch.func.functional_call(program, swapped, (live,) + inputs)

        start = time.perf_counter()
        flat = [p.detach() for _, p in params] + [b for _, b in buffers]
        graph = trace_graph(step, flat, *batch)
        self.capture_seconds += time.perf_counter() - start
        return graph, program.has_grad, sites

    def _replay(self, graph, has_grad: list, batch) -> float:
        params, buffers = self._state()
        with torch.no_grad():
            out = graph([p for _, p in params] + [b for _, b in buffers], *batch)
        grads = iter(out[1:])
        for (_, p), has in zip(params, has_grad):
            if has:
                g = next(grads)
                if p.grad is None:
                    p.grad = g
                else:
                    p.grad.add_(g)
        return float(out[0])
