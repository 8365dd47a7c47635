"""pyro-vae: a model zoo of variational autoencoders in Pyro, with log-likelihood bounds you can trust."""

__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import pyro_vae` stays light (the CLI starts without torch)
    if name == "load_run":
        from .runs import load_run

        return load_run
    if name == "Dataset":
        from .data import Dataset

        return Dataset
    if name == "load_dataset":
        from .data import load_dataset

        return load_dataset
    if name in ("train", "TrainConfig"):
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'pyro_vae' has no attribute {name!r}")


__all__ = ["Dataset", "TrainConfig", "load_dataset", "load_run", "train"]
