"""Log-likelihood evaluation of any Pyro model/guide pair, with diagnostics of the estimate.

The front names (``evaluate_log_likelihood``, ``evaluate_model``, ``evaluate_ais``, their result
classes and :class:`~pyro_vae.evaluation.settings.AISSettings`) are imported on first use, so
that the torch-free :mod:`.settings` can be read by the CLI's help quickly. BDMC is
:func:`pyro_vae.evaluation.bdmc.bdmc`.
"""

import importlib

_FRONT = {"AISEstimate": "ais", "evaluate_ais": "ais",
          "evaluate_log_likelihood": "importance", "evaluate_model": "importance",
          "LogLikelihoodEstimate": "result", "AISSettings": "settings"}

__all__ = sorted(_FRONT)


def __getattr__(name):
    if name in _FRONT:
        return getattr(importlib.import_module(f".{_FRONT[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
