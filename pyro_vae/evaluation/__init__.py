"""Log-likelihood evaluation of any Pyro model/guide pair, with diagnostics of the estimate."""

from .ais import AISEstimate, evaluate_ais
from .bdmc import BDMCResult, bdmc
from .importance import evaluate_log_likelihood, evaluate_model
from .result import LogLikelihoodEstimate

__all__ = ["AISEstimate", "BDMCResult", "LogLikelihoodEstimate", "bdmc", "evaluate_ais", "evaluate_log_likelihood",
           "evaluate_model"]
