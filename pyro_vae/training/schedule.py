r"""Learning-rate schedules by name (``--lr-schedule``) and the warm-up (``--lr-warmup STEPS``).

The rate of an epoch is a function of what a run records (the epoch, ``--epochs``, the valid
bounds of the epochs before it in metrics.jsonl), so a resumed run continues with exactly the
rates the uninterrupted run would have used.

``constant``: ``lr`` at every epoch.

``burda``: Burda, Grosse & Salakhutdinov (2015), Appendix C: stage ``i = 0, 1, ..., 7`` lasts
``3**i`` passes over the data at rate ``lr * 10**(-i / 7)``; 3280 passes in all. Epochs past
stage 7 keep stage 7's rate. A shorter run is the first ``epochs`` passes of that schedule.

``cosine`` (Loshchilov & Hutter 2017, without restarts): epoch :math:`e` of :math:`E` at
:math:`\mathrm{lr}\,\tfrac12\bigl(1 + \cos(\pi e / E)\bigr)`, from ``lr`` down to near 0 at the last
epoch (over ``--epochs`` as it stands: extending a run with ``--resume --epochs`` stretches the rest).

``plateau`` (as ``torch.optim.lr_scheduler.ReduceLROnPlateau``, mode max): the rate is halved
(:data:`PLATEAU_FACTOR`) each time the valid bound has not improved on its best for
:data:`PLATEAU_PATIENCE` epochs, and the count starts again; computed from the recorded bounds.

``--lr-warmup STEPS`` multiplies any schedule's rate at step :math:`s` (counted from the run's
first step) by :math:`\min(1, (s + 1) / \mathrm{STEPS})` (Goyal et al. 2017).
"""

from __future__ import annotations

import math
from typing import Sequence

from ..errors import ModelError

BURDA_STAGES = 8  # i = 0..7
BURDA_EPOCHS = sum(3 ** i for i in range(BURDA_STAGES))  # 3280


def burda_stage(epoch: int) -> int:
    """The stage ``i`` that the (0-based) ``epoch`` falls in: the first stage whose cumulative
    length ``sum_{j<=i} 3**j = (3**(i+1) - 1) / 2`` exceeds ``epoch``."""
    i, end = 0, 1
    while epoch >= end and i < BURDA_STAGES - 1:
        i += 1
        end += 3 ** i
    return i


#: ``plateau``: the factor of each reduction and the epochs without improvement that trigger one.
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 5


def _constant(lr: float, epoch: int, epochs: int, bounds: Sequence[float]) -> float:
    return lr


def _burda(lr: float, epoch: int, epochs: int, bounds: Sequence[float]) -> float:
    return lr * 10.0 ** (-burda_stage(epoch) / 7.0)


def _cosine(lr: float, epoch: int, epochs: int, bounds: Sequence[float]) -> float:
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / max(epochs, 1)))


def _plateau(lr: float, epoch: int, epochs: int, bounds: Sequence[float]) -> float:
    best, stale, reductions = -math.inf, 0, 0
    for bound in bounds[:epoch]:  # the valid bounds of the epochs before this one
        if bound > best:
            best, stale = bound, 0
        else:
            stale += 1
            if stale >= PLATEAU_PATIENCE:
                reductions, stale = reductions + 1, 0
    return lr * PLATEAU_FACTOR ** reductions


SCHEDULES = {"constant": _constant, "burda": _burda, "cosine": _cosine, "plateau": _plateau}


def learning_rate(schedule: str, lr: float, epoch: int, epochs: int = 1, bounds: Sequence[float] = ()) -> float:
    """The learning rate of (0-based) ``epoch`` of ``epochs`` under ``schedule``; ``bounds``: the
    valid bounds of the epochs before it (``plateau``)."""
    if schedule not in SCHEDULES:
        raise ModelError(f"unknown learning-rate schedule {schedule!r}: choose one of {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[schedule](lr, epoch, epochs, bounds)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """``--lr-warmup``: the factor of (0-based) ``step``, rising linearly to 1 over ``warmup_steps``."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)
