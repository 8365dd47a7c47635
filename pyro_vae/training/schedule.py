"""Learning-rate schedules by name (``--lr-schedule``): the rate is a function of the epoch alone,
so a resumed run continues with exactly the rate the uninterrupted run would have used.

``constant``: ``lr`` at every epoch.

``burda``: Burda, Grosse & Salakhutdinov (2015), Appendix C: stage ``i = 0, 1, ..., 7`` lasts
``3**i`` passes over the data at rate ``lr * 10**(-i / 7)``; 3280 passes in all. Epochs past
stage 7 keep stage 7's rate. A shorter run is the first ``epochs`` passes of that schedule.
"""

from __future__ import annotations

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


def _constant(lr: float, epoch: int) -> float:
    return lr


def _burda(lr: float, epoch: int) -> float:
    return lr * 10.0 ** (-burda_stage(epoch) / 7.0)


SCHEDULES = {"constant": _constant, "burda": _burda}


def learning_rate(schedule: str, lr: float, epoch: int) -> float:
    """The learning rate of (0-based) ``epoch`` under ``schedule``."""
    if schedule not in SCHEDULES:
        raise ModelError(f"unknown learning-rate schedule {schedule!r}: choose one of {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[schedule](lr, epoch)
