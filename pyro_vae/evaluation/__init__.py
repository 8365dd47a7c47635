"""Log-likelihood evaluation of any Pyro model/guide pair, with diagnostics of the estimate."""

from .importance import evaluate_log_likelihood, evaluate_model
from .result import LogLikelihoodEstimate

__all__ = ["LogLikelihoodEstimate", "evaluate_log_likelihood", "evaluate_model"]
