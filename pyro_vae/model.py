"""The base class of zoo models: a ``torch.nn.Module`` holding a Pyro ``model``/``guide`` pair.

A zoo model is plain Pyro: ``model(x, y=None)`` draws the latents and observes ``x`` inside
``pyro.plate("data", len(x))``; ``guide(x, y=None)`` draws the same latents from the
amortized posterior. Networks are attributes of the module and are registered with Pyro by
``pyro.module`` inside ``model`` / ``guide``. Everything else here (sampling, reconstruction,
posterior means) is derived from those two functions with Pyro's tracing, so a new model
writes only ``__init__``, ``model`` and ``guide``.
"""

from __future__ import annotations

from typing import Optional

import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from torch import nn

from .data.dataset import check_data_for_model
from .errors import ModelError


class _UseMeans(Messenger):
    """Replace each latent draw by its distribution's mean (for deterministic reconstructions)."""

    def _pyro_sample(self, msg):
        if msg["is_observed"] or msg["value"] is not None:
            return
        try:
            msg["value"] = msg["fn"].mean
        except (NotImplementedError, AttributeError):  # discrete, transformed, subsample: keep a draw
            return
        msg["done"] = True


class LatentVariableModel(nn.Module):
    """Base of every model in the zoo. Subclasses set :attr:`likelihood` and write
    ``__init__(self, data, **hparams)``, ``model(x, y=None)``, ``guide(x, y=None)``.

    :param data: the dataset's :meth:`~pyro_vae.data.Dataset.info` (``x_dim``, ``kind``,
        ``image_shape``, ``num_classes``).
    """

    #: ``bernoulli``, ``gaussian`` or ``continuous_bernoulli``: decides how data are prepared.
    likelihood: str = "bernoulli"
    #: Name of the observed sample site holding ``x``.
    observed_site: str = "x"
    #: Whether ``model``/``guide`` take the labels ``y`` (conditional models).
    uses_labels: bool = False
    #: The training objective used when none is named (``--loss``).
    default_loss: str = "elbo"

    def __init__(self, data: dict):
        super().__init__()
        self.data_info = dict(data)
        self.x_dim = int(data["x_dim"])

    def model(self, x, y=None):
        raise NotImplementedError

    def guide(self, x, y=None):
        raise NotImplementedError

    # ---- helpers derived from model/guide -------------------------------------------------
    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def check_data(self, x: torch.Tensor, what: str = "data") -> None:
        """Raise :class:`~pyro_vae.errors.DataError` unless ``x`` suits this model."""
        check_data_for_model(x, self.x_dim, self.likelihood, what)

    def data_args(self, x, y=None) -> tuple:
        """The positional arguments of ``model``/``guide`` for a batch."""
        if self.uses_labels:
            return (x, y)
        return (x,)

    @torch.no_grad()
    def generate(self, n: int, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Means of :math:`p(x \\mid z)` for ``n`` prior draws :math:`z \\sim p(z)`, shape ``[n, D]``."""
        dummy = torch.zeros(n, self.x_dim, device=self.device)
        if self.uses_labels and y is None:
            y = torch.arange(n, device=self.device) % int(self.data_info.get("num_classes") or 1)
        with poutine.block():
            trace = poutine.trace(self.model).get_trace(*self.data_args(dummy, y))
        return self._observation_mean(trace)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)` at the guide's posterior mean of every latent."""
        args = self.data_args(x, y)
        with poutine.block():
            guide_trace = poutine.trace(_UseMeans()(self.guide)).get_trace(*args)
            trace = poutine.trace(poutine.replay(self.model, trace=guide_trace)).get_trace(*args)
        return self._observation_mean(trace)

    @torch.no_grad()
    def posterior_means(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dict:
        """``{site: E_q[z | x]}`` for every latent the guide samples, each ``[N, dim]``."""
        with poutine.block():
            trace = poutine.trace(_UseMeans()(self.guide)).get_trace(*self.data_args(x, y))
        return {
            name: site["value"].reshape(len(x), -1)
            for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site["is_observed"] and torch.is_floating_point(site["value"])
        }

    def _observation_mean(self, trace) -> torch.Tensor:
        if self.observed_site not in trace.nodes:
            raise ModelError(f"the model has no sample site named {self.observed_site!r} (observed_site)")
        fn = trace.nodes[self.observed_site]["fn"]
        return fn.mean.reshape(-1, self.x_dim)
