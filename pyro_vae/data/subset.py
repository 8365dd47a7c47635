"""Which rows of a split an evaluation of ``n`` datapoints takes: one rule for every place that
takes a subset (``evaluate --n`` with IW, AIS and BDMC, ``compare --eval-n``, the benchmarks).

A split is often stored in an order: static binarized MNIST's test rows are grouped roughly by
digit class, a folder of class sub-folders is read class by class, a user's file may be sorted by
anything. The first ``n`` rows of such a split are a biased sample (on binarized MNIST the first
2000 test images score 19 nats above the whole split), and their standard error says nothing of
that bias. So a subset is a seeded random sample of the split, drawn without replacement:

* the same ``(n, seed)`` gives the same rows for every run, K and method, so numbers of two runs,
  or IW and AIS of one run, are paired on the same datapoints;
* the rows of a smaller ``n`` are among those of a larger one with the same seed (both are
  prefixes of one permutation), so AIS on 100 images is paired with IW on 1000;
* the rows are returned in split order (sorted), and every per-datapoint table names each row's
  index in the split;
* ``n`` of at least the split's size is the whole split, in order; ``first=True`` takes the first
  ``n`` rows, for a user who wants exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

#: The seed of a subset when none is given: the same rows everywhere by default.
SUBSET_SEED = 0
#: How a subset is taken (``--subset``).
SUBSET_RULES = ("random", "first")


@dataclass(frozen=True)
class Subset:
    """The rows of a split that an evaluation takes (``rows``: indices in split order)."""

    rows: np.ndarray
    size: int  # rows in the whole split
    rule: str  # "all", "random" or "first"
    seed: Optional[int]  # the random rule's seed (None for the others)

    @property
    def n(self) -> int:
        return len(self.rows)

    def take(self, *tensors):
        """Each tensor (or None) restricted to the rows: the whole tensor when the rule is "all"."""
        if self.rule == "all":
            return tensors
        index = torch.as_tensor(self.rows)
        return tuple(None if t is None else t[index] for t in tensors)

    def describe(self) -> dict:
        """What a result records of its rows (JSON)."""
        return {"rows": self.rule, "n": self.n, "split_size": self.size, "subset_seed": self.seed}


def choose_rows(size: int, n: Optional[int] = None, seed: int = SUBSET_SEED, rule: str = "random") -> Subset:
    """The :class:`Subset` of ``n`` of ``size`` rows by ``rule`` (module docstring); ``n=None``:
    the whole split."""
    if n is None or n >= size:
        return Subset(np.arange(size), size, "all", None)
    if rule == "first":
        return Subset(np.arange(n), size, "first", None)
    if rule != "random":
        raise ValueError(f"rule must be one of {SUBSET_RULES}, got {rule!r}")
    rows = np.sort(np.random.default_rng(seed).permutation(size)[:n])
    return Subset(rows, size, "random", seed)
