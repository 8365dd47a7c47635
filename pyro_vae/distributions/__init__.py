"""Distributions pyro-vae adds to Pyro's (one per module)."""

from .diag_normal_mixture import DiagNormalMixture

__all__ = ["DiagNormalMixture"]
