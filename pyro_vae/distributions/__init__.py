"""Distributions pyro-vae adds to Pyro's (one per module)."""

from .column_blocks import ColumnBlocks
from .diag_normal_mixture import DiagNormalMixture

__all__ = ["ColumnBlocks", "DiagNormalMixture"]
