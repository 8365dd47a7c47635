"""Distributions pyro-vae adds to Pyro's (one per module)."""

from .bernoulli_logits import BernoulliLogits
from .column_blocks import ColumnBlocks
from .diag_normal_mixture import DiagNormalMixture

__all__ = ["BernoulliLogits", "ColumnBlocks", "DiagNormalMixture"]
