r"""Run a Pyro computation through its handlers twice, trace it once, replay the trace after.

A VAE's model and guide do the same tensor work at every call with the same input shapes: Pyro's
handlers (trace, replay, plates, particle vectorization) decide *which* operations run, and they
decide the same each time. The training step (:mod:`pyro_vae.training.capture`), the IW
evaluator's chunks (:mod:`pyro_vae.evaluation.chunks`) and the AIS densities
(:mod:`pyro_vae.evaluation.annealing_path`) share what this module holds:

* :func:`trace_graph`: a function traced at the ATen level with
  ``torch.fx.experimental.proxy_tensor.make_fx`` and simplified (:mod:`.graph_passes`). The
  sampling operations stay in the graph, so each replay draws fresh noise from the global
  generator in the eager order.
* :class:`CaptureSchedule`: per key (the inputs' shapes, dtypes and devices, and whatever else the
  work depends on), call 1 runs eagerly (Pyro may guess plate nesting and validate), call 2 runs
  eagerly with the structure of the traces recorded (:func:`recording`: every sample site's
  name, distribution, shape and flags), call 3 traces and checks that the structure is the same,
  and every later call replays.
* :func:`why_not_capturable`: what a replay cannot reproduce. A subsampling plate draws its
  indices in Python and an enumerated site is summed by Pyro, at every call; for a gradient, a
  non-reparameterized guide site needs Pyro's score-function terms. A value (an evaluation)
  needs none of that: a discrete draw is one more random operation in the graph.
* :func:`refuse`: where capture is not valid, one log line and eager work from then on
  (``capture="auto"``), or :class:`CaptureError` (``capture="on"``).

What no check sees is a computation that changes its work by Python state after the calls that
were recorded: run it with ``capture="off"``. Pyro's own JIT (``JitTrace_ELBO``) cannot serve: it
retraces at every step when the guide is a bound method, refuses networks registered with
``pyro.module``, and TorchScript is deprecated.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, NamedTuple, Optional

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.subsample_messenger import _Subsample

from ..errors import OptionError
from ..options import CAPTURE_MODES
from .graph_passes import simplify

LOG = logging.getLogger("pyro_vae")


class CaptureError(OptionError):
    """``capture="on"`` and the work cannot be captured."""


def check_capture_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`~pyro_vae.options.CAPTURE_MODES`, else :class:`OptionError`."""
    if mode not in CAPTURE_MODES:
        raise OptionError(f"capture must be one of {', '.join(CAPTURE_MODES)}, got {mode!r}")
    return mode


def refuse(what: str, mode: str, reason: str, flag: str = "capture") -> str:
    """``what`` (e.g. ``"training step"``) cannot be captured for ``reason``: a
    :class:`CaptureError` under ``mode="on"``, else one warning; returns ``reason``."""
    if mode == "on":
        raise CaptureError(f"{flag} on: the {what} cannot be captured: {reason}; use {flag} auto or off")
    LOG.warning(f"{what} not captured (eager from here on): {reason}")
    return reason


class Site(NamedTuple):
    """One sample site of a call, as the structure check compares it (a plate: ``kind="plate"``,
    ``shape=(size, subsample_size)``)."""

    role: str  # "model" or "guide"
    name: str
    kind: str  # the distribution's class name
    shape: tuple
    observed: bool
    enumerated: bool
    reparameterized: bool


class _Structure(Messenger):
    """Records each sample site of ``role`` (``model``/``guide``) as the call runs, into a list
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


def why_not_capturable(sites: list, gradients: bool = True) -> Optional[str]:
    """The reason a call with these :class:`Site` s cannot be replayed, or None; ``gradients``:
    the call differentiates the guide's draws (a training step), so they must be reparameterized."""
    for site in sites:
        if site.kind == "plate":
            size, taken = site.shape
            if taken < size:
                return f"plate {site.name!r} subsamples ({taken} of {size}): its indices are drawn in Python"
        elif site.enumerated:
            return f"site {site.name!r} is enumerated (its sum over values is Pyro's job at each step)"
        elif gradients and site.role == "guide" and not site.observed and not site.reparameterized:
            return f"site {site.name!r} ({site.kind}) is not reparameterized (a score-function gradient)"
    return None


def capture_failure(e: Exception) -> str:
    """The one-line reason a trace failed (the error's type and the first line of its message)."""
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return f"capture failed ({type(e).__name__}: {first})"


def input_signature(batch: tuple) -> tuple:
    """What a captured graph is specific to: each input's shape, dtype and device (a constant's value)."""
    return tuple((tuple(t.shape), t.dtype, str(t.device)) if torch.is_tensor(t) else ("const", t) for t in batch)


class TracedGraph:
    """A traced graph that is always given its inputs in the memory layout it was traced with.

    ``make_fx`` records the operations a call ran for inputs of the traced strides: a ``view``
    that was valid on a contiguous tensor is recorded as a ``view`` and fails ("view size is not
    compatible with input tensor's size and stride") on a transposed or sliced one, where the
    eager call would have taken another path. An input of another layout (a chain's state handed
    over from another computation, a slice of a larger tensor) is therefore first copied into the
    traced strides (a differentiable copy); an input of the traced layout is passed as it is.
    ``graph`` is the ``torch.fx`` graph, ``module`` the ``GraphModule``.
    """

    def __init__(self, module: "torch.fx.GraphModule", inputs: tuple):
        self.module = module
        self.strides = [t.stride() if torch.is_tensor(t) else None for t in torch.utils._pytree.tree_leaves(inputs)]

    @property
    def graph(self) -> "torch.fx.Graph":
        return self.module.graph

    def __call__(self, *inputs):
        leaves, spec = torch.utils._pytree.tree_flatten(inputs)
        if any(s is not None and t.stride() != s for t, s in zip(leaves, self.strides)):
            leaves = [t if s is None or t.stride() == s else
                      torch.empty_strided(t.shape, s, dtype=t.dtype, device=t.device).copy_(t)
                      for t, s in zip(leaves, self.strides)]
            inputs = torch.utils._pytree.tree_unflatten(leaves, spec)
        return self.module(*inputs)


def trace_graph(fn, *inputs, scoped_params: bool = True) -> TracedGraph:
    """``fn(*inputs)`` traced at the ATen level (``make_fx``) and simplified (:mod:`.graph_passes`),
    as a :class:`TracedGraph` (which hands the replay its inputs in the traced layout).

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
    return TracedGraph(simplify(graph), inputs)


class CaptureSchedule:
    """When a repeated computation runs eagerly, is traced, or is replayed (module docstring).

    :param what: what is captured, for the log line and the error (``"training step"``).
    :param mode: ``"auto"``, ``"on"`` or ``"off"``.
    :param gradients: whether the computation differentiates the guide's draws
        (:func:`why_not_capturable`).
    :param flag: the option's name in messages (``"--capture"`` on the command line).
    """

    def __init__(self, what: str, mode: str = "auto", gradients: bool = True, flag: str = "capture"):
        self.what, self.mode, self.gradients, self.flag = what, check_capture_mode(mode), gradients, flag
        self.eager_reason: Optional[str] = "capture is off" if mode == "off" else None
        self.calls: dict = {}      # key -> eager calls made
        self.structure: dict = {}  # key -> the sites of its second eager call
        self.graphs: dict = {}     # key -> what ``trace`` returned
        self.capture_seconds = 0.0

    @property
    def captured(self) -> bool:
        return bool(self.graphs)

    def refuse(self, reason: str) -> None:
        """Eager from now on, with one line (an error under ``mode="on"``)."""
        self.eager_reason = refuse(self.what, self.mode, reason, self.flag)

    def run(self, key, model, guide, eager: Callable, trace: Callable, replay: Callable):
        """The result of one call: ``eager(model, guide)``, or the replay ``replay(graph)`` of
        ``graph = trace(model, guide)`` (both given ``model`` and ``guide`` wrapped to record
        their sites), by the schedule of the module docstring."""
        if self.eager_reason is not None:
            return eager(model, guide)
        if key in self.graphs:
            return replay(self.graphs[key])
        calls = self.calls[key] = self.calls.get(key, 0) + 1
        if calls == 1:
            return eager(model, guide)
        recorded_model, recorded_guide, sites = recording(model, guide)
        if calls == 2:
            out = eager(recorded_model, recorded_guide)
            self.structure[key] = sites
            reason = why_not_capturable(sites, self.gradients)
            if reason is not None:
                self.refuse(reason)
            return out
        start = time.perf_counter()
        try:
            graph = trace(recorded_model, recorded_guide)
        except Exception as e:  # noqa: BLE001 - any failure of the tracer means: run eagerly
            self.refuse(capture_failure(e))
            return eager(model, guide)
        finally:
            self.capture_seconds += time.perf_counter() - start
        if sites != self.structure[key]:
            self.refuse("the model's structure changed between two calls with the same input shapes")
            return eager(model, guide)
        self.graphs[key] = graph
        return replay(graph)
