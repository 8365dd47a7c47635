"""Inference: per-datapoint importance weights and the ELBO estimators built on them."""

from .particles import ParticleTraces, guess_max_plate_nesting, log_mean_exp, trace_particles

__all__ = ["ParticleTraces", "guess_max_plate_nesting", "log_mean_exp", "trace_particles"]
