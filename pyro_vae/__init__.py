"""pyro-vae: a model zoo of variational autoencoders in Pyro, with log-likelihood bounds you can trust."""

__version__ = "0.1.0"
