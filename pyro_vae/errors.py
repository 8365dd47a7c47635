"""Exceptions whose message is meant for the user: the problem and the fix, in one line.

The CLI prints ``str(error)`` of any :class:`PyroVAEError` and exits non-zero, without a
traceback. Library callers can catch the specific subclasses.
"""


class PyroVAEError(Exception):
    """Base class of every error pyro-vae raises on purpose."""


class DataError(PyroVAEError, ValueError):
    """Bad or missing data: unknown dataset, missing file, wrong shape, NaN, wrong value range."""


class ModelError(PyroVAEError, ValueError):
    """Unknown model name, bad model file, invalid model specification."""


class InferenceError(PyroVAEError, ValueError):
    """A model/guide pair an estimator or the evaluator cannot handle (no data plate, ...)."""


class TrainingDiverged(PyroVAEError, RuntimeError):
    """The loss became NaN or infinite during training."""


class RunDirError(PyroVAEError, ValueError):
    """A run directory that is missing, incomplete or already in use."""


class OptionError(PyroVAEError, ValueError):
    """An option or configuration value out of its range or of the wrong type."""


class OutputError(PyroVAEError, OSError):
    """A file or folder that cannot be written (missing folder, read-only, a file in the way)."""


class DistributedError(PyroVAEError, RuntimeError):
    """A multi-process job that cannot start or goes on no longer (a port in use, a process that died)."""
