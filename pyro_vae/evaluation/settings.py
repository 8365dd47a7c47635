"""The evaluators' settings and their defaults, written once here and read by the evaluators,
the option checks and the CLI's help (this module imports no torch: ``--help`` stays fast).

* :data:`DEFAULT_MAX_ELEMENTS`: datapoints x particles (or chains) per vectorized block, the
  memory bound of IW and AIS.
* :class:`AISSettings`: what an AIS run does (chains, steps, schedule, HMC), checked when made,
  recorded with each AIS result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import InferenceError

#: Datapoints x particles per vectorized block (IW) or datapoints x chains (AIS): bounds memory.
DEFAULT_MAX_ELEMENTS = 4096
#: Spacings of AIS's inverse temperatures (:func:`pyro_vae.evaluation.ais.beta_schedule`).
AIS_SCHEDULES = ("sigmoid", "linear")
#: Acceptance rate the tuning chains steer the step size toward (:class:`pyro_vae.evaluation.hmc.StepSize`). Higher than the 0.65 that is optimal for one
#: long HMC run (Beskos et al. 2013): an AIS chain gets one transition per distribution, and runs
#: steered to 0.65 let a few datapoints' chains fall behind the path (on the linear-Gaussian
#: model, 40 datapoints, 8 chains x 80 steps: mean error -0.99 nats at 0.65, -0.07 at 0.8,
#: -0.02 at 0.9; the worst datapoint -14.3, -1.8, -0.24).
TARGET_ACCEPT = 0.9
#: Where AIS chains start: the guide q(z|x) or the prior p(z).
AIS_INITS = ("guide", "prior")


@dataclass(frozen=True)
class AISSettings:
    """One AIS run's settings (see :mod:`pyro_vae.evaluation.ais`).

    :param num_chains: chains per datapoint whose weights make the estimate (C).
    :param num_steps: intermediate distributions (T); one step is IW with K = C.
    :param schedule: ``sigmoid`` (denser at both ends) or ``linear`` spacing of the temperatures.
    :param leapfrog_steps: leapfrog steps per HMC transition (0: no transitions, plain AIS weights).
    :param init: chains start from the ``guide`` or the ``prior``.
    :param tune_chains: extra chains per datapoint whose acceptance alone steers the step size
        (their weights are left out, so the estimate stays unbiased).
    :param step_size: initial leapfrog step size, in units of the guide's standard deviations.
    :param target_accept: the acceptance rate the tuning chains steer toward.
    """

    num_chains: int = 16
    num_steps: int = 1000
    schedule: str = "sigmoid"
    leapfrog_steps: int = 10
    init: str = "guide"
    tune_chains: int = 4
    step_size: float = 0.3
    target_accept: float = TARGET_ACCEPT

    def __post_init__(self):
        for name, low in (("num_chains", 1), ("num_steps", 1), ("leapfrog_steps", 0), ("tune_chains", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InferenceError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.step_size, (int, float)) and 0 < self.step_size < 10):
            raise InferenceError(f"step_size must be a number in (0, 10), got {self.step_size!r}")
        if not (isinstance(self.target_accept, (int, float)) and 0 < self.target_accept < 1):
            raise InferenceError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
        if self.schedule not in AIS_SCHEDULES:
            raise InferenceError(f"schedule must be one of {', '.join(AIS_SCHEDULES)}, got {self.schedule!r}")
        if self.init not in AIS_INITS:
            raise InferenceError(f"init must be guide or prior, got {self.init!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> "AISSettings":
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise InferenceError(f"{', '.join(unknown)}: not AIS settings; they are {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
