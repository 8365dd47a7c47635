"""Training objectives by name (``--loss``): a registry that estimator modules add themselves to
(the convention of :mod:`pyro_vae.registries`).

Each entry builds a :class:`pyro.infer.ELBO` for ``num_particles`` particles; its other keyword
options are ``--loss-opt KEY=VALUE`` (``pyro-vae losses NAME`` lists them). Pyro's own
``Trace_ELBO`` (``elbo``), ``TraceMeanField_ELBO`` (``meanfield``, analytic KL where available)
and ``TraceEnum_ELBO`` (``enum``) are registered here; the importance-weighted family registers
itself, one file per estimator, from :mod:`pyro_vae.infer.estimators` (imported on first use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyro.infer

from ..errors import ModelError
from ..registries import Registry, keyword_options


@dataclass(frozen=True)
class LossEntry:
    name: str
    description: str
    factory: Callable[..., pyro.infer.ELBO]

    def options(self) -> list[tuple[str, object]]:
        """``--loss-opt`` keys with their defaults (``num_particles`` is ``--num-particles``)."""
        return keyword_options(self.factory, skip=["num_particles", "max_plate_nesting", "data_plate"])


LOSSES: Registry[LossEntry] = Registry("loss", ModelError, target=lambda e: e.factory,
                                       packages=["pyro_vae.infer.estimators"])


def register_loss(name: str, description: str):
    """Decorator adding ``factory(num_particles=..., **options) -> pyro.infer.ELBO`` (a class or a
    function) as ``name``."""

    def decorate(factory):
        LOSSES.add(name, LossEntry(name, description, factory))
        return factory

    return decorate


def loss_entries() -> list[LossEntry]:
    return LOSSES.entries()


def make_loss(name: str, num_particles: int = 1, **options) -> pyro.infer.ELBO:
    """Build the objective registered as ``name``."""
    entry = LOSSES.get(name)
    if num_particles < 1:
        raise ModelError(f"--num-particles must be >= 1, got {num_particles}")
    known = {key for key, _ in entry.options()}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ModelError(f"loss {name!r} does not take the options {unknown}: it takes "
                         f"{', '.join(sorted(known)) or 'none'}")
    return entry.factory(num_particles=num_particles, **options)


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
