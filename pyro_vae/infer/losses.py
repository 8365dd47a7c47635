"""Training objectives by name (``--loss``): a registry that estimator modules add themselves to.

Each entry builds a :class:`pyro.infer.ELBO` for ``num_particles`` particles. Pyro's own
``Trace_ELBO`` (``elbo``) and ``TraceMeanField_ELBO`` (``meanfield``, analytic KL where
available) are registered here; the importance-weighted family registers itself from
:mod:`pyro_vae.infer.estimators`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyro.infer

from ..errors import ModelError


@dataclass(frozen=True)
class LossEntry:
    name: str
    description: str
    factory: Callable[..., pyro.infer.ELBO]


_LOSSES: dict[str, LossEntry] = {}


def register_loss(name: str, description: str):
    """Decorator adding ``factory(num_particles=..., **options) -> pyro.infer.ELBO`` as ``name``."""

    def decorate(factory):
        _LOSSES[name] = LossEntry(name, description, factory)
        return factory

    return decorate


def loss_entries() -> list[LossEntry]:
    _load_estimators()
    return [_LOSSES[n] for n in sorted(_LOSSES)]


def make_loss(name: str, num_particles: int = 1, **options) -> pyro.infer.ELBO:
    """Build the objective registered as ``name``."""
    _load_estimators()
    if name not in _LOSSES:
        raise ModelError(f"unknown loss {name!r}: choose one of {', '.join(sorted(_LOSSES))}")
    if num_particles < 1:
        raise ModelError(f"--num-particles must be >= 1, got {num_particles}")
    try:
        return _LOSSES[name].factory(num_particles=num_particles, **options)
    except TypeError as e:
        raise ModelError(f"loss {name!r} does not take the options {sorted(options)} ({e})") from None


def _load_estimators():
    try:
        from . import estimators  # noqa: F401  (registers the IW family)
    except ImportError:  # not written yet in this checkout
        pass


@register_loss("elbo", "Pyro Trace_ELBO (reparameterized / score-function gradients)")
def _trace_elbo(num_particles=1):
    return pyro.infer.Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)


@register_loss("meanfield", "Pyro TraceMeanField_ELBO (analytic KL where available)")
def _meanfield_elbo(num_particles=1):
    return pyro.infer.TraceMeanField_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)


@register_loss("enum", "Pyro TraceEnum_ELBO: sums out discrete latents marked for enumeration (ss_vae)")
def _trace_enum_elbo(num_particles=1):
    # labelled batches of a semi-supervised model have nothing to enumerate: that is expected
    return pyro.infer.TraceEnum_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1,
                                     strict_enumeration_warning=False)
