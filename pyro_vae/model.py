"""The base class of zoo models: a ``torch.nn.Module`` holding a Pyro ``model``/``guide`` pair.

A zoo model is plain Pyro: ``model(x, y=None)`` draws the latents and observes ``x`` inside
``pyro.plate("data", len(x))``; ``guide(x, y=None)`` draws the same latents from the
amortized posterior. Networks are attributes of the module and are registered with Pyro by
``pyro.module`` inside ``model`` / ``guide``. Everything else here (sampling, reconstruction,
posterior means) is derived from those two functions with Pyro's tracing, so a new model
writes only ``__init__``, ``model`` and ``guide``, and gets :meth:`~LatentVariableModel.encode`,
:meth:`~LatentVariableModel.decode`, :meth:`~LatentVariableModel.reconstruct`,
:meth:`~LatentVariableModel.sample`, :meth:`~LatentVariableModel.interpolate` and
:meth:`~LatentVariableModel.traverse`.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from torch import nn

from .data.dataset import check_data_for_model
from .errors import ModelError


class _UseMeans(Messenger):
    """Replace each latent draw by its distribution's mean, a discrete one's by its mode (for
    deterministic reconstructions)."""

    def _pyro_sample(self, msg):
        if msg["is_observed"] or msg["value"] is not None:
            return
        support = getattr(msg["fn"], "support", None)  # plate subsample sites have none
        if support is None:
            return
        try:
            msg["value"] = msg["fn"].mode if support.is_discrete else msg["fn"].mean
        except (NotImplementedError, AttributeError):  # a transformed distribution: keep a draw
            return
        msg["done"] = True


class Encoding(NamedTuple):
    """The guide's posterior of one latent for a batch: ``mean`` and ``scale``, ``[N, dim]``."""

    mean: torch.Tensor
    scale: torch.Tensor


def _one_row(x: torch.Tensor, what: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2 or len(x) != 1:
        raise ModelError(f"{what} must be one datapoint, [D] or [1, D], got shape {tuple(x.shape)}")
    return x


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

    # ---- the latent space: written once here, on top of model and guide -------------------------
    def latent_sites(self, y: Optional[torch.Tensor] = None) -> list[str]:
        """Names of the continuous latent sites in the order ``model`` samples them (top first)."""
        dummy = torch.zeros(1, self.x_dim, device=self.device)
        if self.uses_labels and y is None:
            y = torch.zeros(1, dtype=torch.long, device=self.device)
        with torch.no_grad(), poutine.block():
            trace = poutine.trace(self.model).get_trace(*self.data_args(dummy, y[:1] if y is not None else None))
        return [name for name, site in trace.nodes.items()
                if site["type"] == "sample" and not site["is_observed"] and torch.is_floating_point(site["value"])
                and not site["infer"].get("is_auxiliary")]

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dict:
        """``{latent: Encoding(mean, scale)}``: the guide's :math:`q(z \\mid x)` of each continuous
        latent, ``[N, dim]`` each. Up a hierarchy each latent is encoded given the means of the
        ones below it (the guide run at its means)."""
        self.check_data(x, "x")
        with poutine.block():
            trace = poutine.trace(_UseMeans()(self.guide)).get_trace(*self.data_args(x, y))
        out = {}
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"] or not torch.is_floating_point(site["value"]):
                continue
            fn = site["fn"]
            try:
                scale = fn.stddev
            except (NotImplementedError, AttributeError):
                scale = torch.full_like(site["value"], float("nan"))
            out[name] = Encoding(site["value"].reshape(len(x), -1), scale.reshape(len(x), -1))
        return out

    @torch.no_grad()
    def decode(self, z, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The likelihood's mean :math:`E[x \\mid z]`, ``[N, D]``.

        ``z``: a tensor ``[N, dim]`` for the model's first (top) latent, or a dict
        ``{latent: [N, dim]}``. The model runs conditioned on those values
        (``poutine.condition``); a latent not given takes the mean of its conditional prior.
        """
        values = dict(z) if isinstance(z, dict) else {self.latent_sites(y)[0]: z}
        n = len(next(iter(values.values())))
        dummy = torch.zeros(n, self.x_dim, device=self.device)
        if self.uses_labels and y is None:
            y = torch.arange(n, device=self.device) % int(self.data_info.get("num_classes") or 1)
        conditioned = poutine.condition(self.model, data={k: v.to(self.device) for k, v in values.items()})
        with poutine.block():
            trace = poutine.trace(_UseMeans()(conditioned)).get_trace(*self.data_args(dummy, y))
        return self._observation_mean(trace)

    @torch.no_grad()
    def sample(self, n: int, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Means of :math:`p(x \\mid z)` for ``n`` prior draws :math:`z \\sim p(z)`, ``[n, D]``
        (conditional models: ``y`` the classes, by default 0, 1, 2, ... in turn)."""
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
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8,
                    y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Decodings along the straight line between the encodings of ``x_a`` and ``x_b``
        (every latent's mean, :math:`(1 - t) \\mu_a + t \\mu_b`, ``t`` in ``steps`` even steps
        from 0 to 1), ``[steps, D]``; ``y``: the class of both (conditional models)."""
        x_a, x_b = _one_row(x_a, "x_a"), _one_row(x_b, "x_b")
        y = None if y is None else torch.as_tensor(y, device=self.device).reshape(1).long()
        a, b = self.encode(x_a, y), self.encode(x_b, y)
        t = torch.linspace(0, 1, int(steps), device=self.device).unsqueeze(1)
        path = {name: (1 - t) * a[name].mean + t * b[name].mean for name in a}
        return self.decode(path, None if y is None else y.expand(int(steps)))

    @torch.no_grad()
    def traverse(self, x: torch.Tensor, latent: str, dim: int, values, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Decodings of ``x``'s encoding with coordinate ``dim`` of ``latent`` set to each of
        ``values``, ``[len(values), D]``. The latents the model samples before ``latent`` keep
        ``x``'s means; those after it take their conditional prior means (so traversing the top
        of a hierarchy changes what lies below it)."""
        x = _one_row(x, "x")
        y = None if y is None else torch.as_tensor(y, device=self.device).reshape(1).long()
        order = self.latent_sites(y)
        if latent not in order:
            raise ModelError(f"traverse: {latent!r} is not a continuous latent of the model: choose one of {order}")
        enc = self.encode(x, y)
        width = enc[latent].mean.shape[1]
        if not 0 <= int(dim) < width:
            raise ModelError(f"traverse: dim {dim} is outside latent {latent!r}, which has {width} dimensions")
        values = torch.as_tensor(values, dtype=torch.float32, device=self.device).flatten()
        keep = order[: order.index(latent) + 1]
        fixed = {name: enc[name].mean.expand(len(values), -1).clone() for name in keep}
        fixed[latent][:, int(dim)] = values
        return self.decode(fixed, None if y is None else y.expand(len(values)))

    @torch.no_grad()
    def posterior_means(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dict:
        """``{site: E_q[z | x]}`` for every continuous latent the guide samples, each ``[N, dim]``."""
        return {name: e.mean for name, e in self.encode(x, y).items()}

    def _observation_mean(self, trace) -> torch.Tensor:
        if self.observed_site not in trace.nodes:
            raise ModelError(f"the model has no sample site named {self.observed_site!r} (observed_site)")
        fn = trace.nodes[self.observed_site]["fn"]
        return fn.mean.reshape(-1, self.x_dim)
