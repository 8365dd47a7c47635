r"""Importance-weighted estimates of :math:`\log p(x)` per datapoint, for any Pyro model/guide pair.

For each datapoint :math:`x_n`, with :math:`z_{k} \sim q(z \mid x_n)`, :math:`k = 1..K`:

.. math::
    \hat{\mathcal L}_K(x_n) = \log \frac{1}{K} \sum_{k=1}^K \frac{p(x_n, z_k)}{q(z_k \mid x_n)},
    \qquad \mathbb E\,\hat{\mathcal L}_1 = \mathrm{ELBO} \le \mathbb E\,\hat{\mathcal L}_K
    \le \mathbb E\,\hat{\mathcal L}_{2K} \le \log p(x_n)

(Burda et al. 2015), :math:`\hat{\mathcal L}_K \to \log p(x_n)` as :math:`K \to \infty`.

The work is split into blocks of ``B`` datapoints x ``C`` particles with ``B * C <=
max_elements``; each block is one vectorized run of guide and model (see
:func:`pyro_vae.infer.trace_particles`). Peak memory is therefore bounded by a few tensors of
``max_elements x width`` floats (``width`` = the widest layer or data dim; for 784-pixel images
and the default ``max_elements = 4096``: about 13 MB per tensor) plus the ``[K, B]`` matrix of
log weights of one block of datapoints, independently of ``N``. Pyro's argument validation
(when enabled) runs on the first block only.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import pyro
import pyro.poutine as poutine
import torch

from .. import distributed
from ..infer.particles import guess_max_plate_nesting
from ..errors import DataError, InferenceError
from .chunks import ChunkRunner, chunk_outputs
from .diagnostics import active_units, effective_sample_size, log_estimate_variance, pareto_khat
from .kl import closed_form_kl, closed_form_obstacle, latent_parents
from .result import COLUMNS, NESTED_COLUMNS, LogLikelihoodEstimate
from .settings import DEFAULT_MAX_ELEMENTS  # measured: larger blocks fall out of cache and run slower on CPU

PSIS_ROWS = 256  # datapoints per PSIS call at most (PSIS has a fixed cost per call)
PSIS_BUFFER_BLOCKS = 256  # the PSIS buffer holds at most this many blocks' worth of elements


def psis_rows(k: int, block: int, max_elements: int) -> int:
    """Rows (datapoints) of the ``[rows, k]`` float64 buffer that batches PSIS calls: at most
    :data:`PSIS_ROWS`, at most ``PSIS_BUFFER_BLOCKS * max_elements`` elements (8 MB by default,
    whatever K), and at least one block."""
    return max(block, min(PSIS_ROWS, PSIS_BUFFER_BLOCKS * max_elements // k))


def checked_data(data, max_elements: int) -> tuple[tuple, int]:
    """``data`` as a tuple of tensors of one length ``n`` >= 1, and ``n``; ``max_elements`` checked."""
    data = (data,) if torch.is_tensor(data) else tuple(data)
    n = len(data[0])
    if any(len(t) != n for t in data):
        raise DataError(f"all data tensors need the same length, got {[len(t) for t in data]}")
    if n == 0:
        raise DataError("the data to evaluate are empty (0 datapoints): pass at least one row")
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise InferenceError(f"max_elements must be an integer >= 1, got {max_elements!r}")
    return data, n


def block_sizes(k: int, n: int, max_elements: int) -> tuple[int, int]:
    """``(datapoints per block, particles per chunk)`` with their product at most ``max_elements``."""
    b = max(1, min(n, max_elements // k))
    c = max(1, min(k, max_elements // b))
    return b, c


@torch.no_grad()
def evaluate_log_likelihood(
    model,
    guide,
    data: Union[torch.Tensor, Sequence[torch.Tensor]],
    *,
    k: int = 1000,
    seed: int = 0,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    data_plate: Optional[str] = None,
    diagnostics: bool = True,
    progress: bool = True,
    num_dims: Optional[int] = None,
    device: Optional[Union[str, torch.device]] = None,
    nested_k: Sequence[int] = (),
    proposal: str = "guide",
    capture: str = "auto",
) -> LogLikelihoodEstimate:
    """Per-datapoint IW estimate of log p(x) with ``k`` samples, ELBO, KL and diagnostics.

    ``nested_k``: smaller K whose estimates :math:`\\hat{\\mathcal L}_{K'}` come from the first
    ``K'`` of the same ``k`` draws of each datapoint (nested prefixes, see
    :meth:`LogLikelihoodEstimate.at`). ``proposal="prior"`` draws :math:`z` from the model's prior
    instead of the guide (:func:`prior_proposal`): the naive Monte Carlo estimate of
    :math:`p(x) = E_{p(z)}[p(x \\mid z)]`, against which the guide's saving is measured.
    Annealed importance sampling is :func:`pyro_vae.evaluation.ais.evaluate_ais`.

    :param model, guide: any Pyro pair called as ``model(*batch)`` / ``guide(*batch)`` whose
        observations sit in a vectorized data plate over the batch.
    :param data: a tensor, or a tuple of tensors (e.g. ``(x, y)``) split along dim 0.
    :param k: importance samples per datapoint.
    :param max_elements: bound on datapoints x particles per vectorized run (memory bound).
    :param num_dims: data dimensions per datapoint; when given, bits/dim are reported.
    :param device: where to run the blocks (default: where the data are).
    :param capture: ``"auto"``, ``"on"`` or ``"off"``: run the chunks of guide and model captured
        once and replayed (:mod:`.chunks`; the same values, less Python per chunk); ``auto`` does
        so for long evaluations where capture is valid.
    """
    from tqdm.auto import tqdm

    data, n = checked_data(data, max_elements)
    nested_k = _checked_iw_options(k, nested_k, proposal)
    if proposal == "prior":
        guide = prior_proposal(model)
    b, c = block_sizes(k, n, max_elements)
    first = tuple(t[:b].to(device) if device else t[:b] for t in data)
    parents = latent_parents(model, first)  # restores the RNG state: before the seed, harmless
    pyro.set_rng_seed(seed)
    max_plate_nesting = guess_max_plate_nesting(model, guide, first, {}, data_plate)
    columns = _IWColumns(n, k, nested_k, psis_rows(k, b, max_elements) if diagnostics else 0)
    starts, lo, hi = distributed.my_blocks(n, b)  # all blocks in one process; a contiguous run of them per rank
    draws = _BlockDraws(ChunkRunner(model, guide, max_plate_nesting, data_plate, capture,
                                    len(starts) * math.ceil(k / c)), parents, n, k, c, diagnostics)
    columns.psis_start = lo
    bar = tqdm(total=hi - lo, desc=f"IW log p(x), K={k}", unit="pt", disable=not progress, leave=False)
    for start in starts:
        distributed.seed_block(seed, start)  # draws per block of datapoints, not per process
        batch = tuple(t[start:start + b] for t in data)
        if device is not None:
            batch = tuple(t.to(device) for t in batch)
        stop = start + len(batch[0])
        log_w, kl_draws = draws(batch, columns.means, start, stop)
        columns.add(start, stop, log_w, kl_draws, last=stop == hi, block=b)
        bar.update(len(batch[0]))
    bar.close()
    merged, metas = distributed.gather_rows(n, lo, hi, {"values": columns.values, "nested": columns.nested,
                                                        "means": columns.means},
                                            meta=(draws.kl_closed, draws.kl_note) if starts else None)
    values, nested, means = merged["values"], merged["nested"], merged["means"]
    kl_closed, kl_note = next(m for m in metas if m is not None)
    # reconstruction - kl == elbo per datapoint, by construction: with the Monte Carlo KL this is
    # the mean of log p(x|z_k); with the closed form, E[log w] + KL (the same expectation).
    values["reconstruction"] = values["elbo"] + values["kl"]
    units = {name: int(active_units(m).sum()) for name, m in means.items()} if n > 1 else {}
    return LogLikelihoodEstimate(k=k, values=values, kl_analytic=bool(kl_closed), kl_note=kl_note,
                                 active_units=units, num_dims=num_dims, seed=seed, nested=nested,
                                 proposal=proposal)


def _checked_iw_options(k, nested_k: Sequence[int], proposal: str) -> list[int]:
    """``nested_k`` sorted, below ``k``; one error for a bad ``k``, ``nested_k`` or ``proposal``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InferenceError(f"k (importance samples per datapoint) must be an integer >= 1, got {k!r}")
    nested_k = sorted({int(kk) for kk in nested_k if int(kk) < k})
    if any(kk < 1 for kk in nested_k):
        raise InferenceError(f"nested_k must hold integers >= 1, got {list(nested_k)}")
    if proposal not in ("guide", "prior"):
        raise InferenceError(f"proposal must be guide or prior, got {proposal!r}")
    return nested_k


class _BlockDraws:
    """The K log weights and KL draws of one block of datapoints, chunk by chunk (``c`` particles
    at a time); the first chunk decides whether the KL column is the closed form."""

    def __init__(self, chunks: ChunkRunner, parents, n: int, k: int, c: int, diagnostics: bool):
        self.chunks, self.parents, self.n, self.k, self.c, self.diagnostics = chunks, parents, n, k, c, diagnostics
        self.kl_closed = None  # decided on the first chunk: the structure of the pair does not change
        self.kl_note = None
        self.validate = pyro.poutine.util.is_validation_enabled()

    def __call__(self, batch, means: dict, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_w [K, B], kl_draws [K, B] float64)``; the posterior means go into ``means``."""
        log_w, kl_draws = [], []
        for chunk_start in range(0, self.k, self.c):
            size = min(self.c, self.k - chunk_start)
            with_means = self.diagnostics and chunk_start == 0
            if self.kl_closed is None:
                lw, kl, chunk_means = self._first_chunk(batch, size, with_means)
            else:
                lw, kl, chunk_means = self.chunks(batch, size, self.kl_closed, with_means)
            log_w.append(lw)
            kl_draws.append(kl)
            for name, m in chunk_means.items():
                if name not in means:
                    means[name] = np.empty((self.n, m.shape[1]))
                means[name][start:stop] = m.double().cpu().numpy()
            del lw, kl, chunk_means
        return torch.cat(log_w, 0), torch.cat(kl_draws, 0).double()

    def _first_chunk(self, batch, size: int, with_means: bool):
        """Decides the KL's kind (closed form where every latent has one and its prior's parents
        are drawn before it), then the chunk's outputs."""
        with pyro.validation_enabled(self.validate):
            pt = self.chunks.traces(batch, size)
        self.kl_note = closed_form_obstacle([s["name"] for s in pt.latent_sites()], self.parents)
        if self.kl_note is None and closed_form_kl(pt) is None:
            self.kl_note = "a latent has no registered closed-form KL or is enumerated"
        self.kl_closed = self.kl_note is None
        return chunk_outputs(pt, self.kl_closed, with_means)


class _IWColumns:
    """The per-datapoint result arrays, allocated once (thousands of small long-lived tensors
    interleaved with the large per-block temporaries fragment the heap: measured, RSS grew
    ~3 MB per datapoint), filled block by block; PSIS k-hat in batches of up to ``psis_cap`` rows."""

    def __init__(self, n: int, k: int, nested_k: list[int], psis_cap: int):
        self.k = k
        self.values = {name: np.full(n, np.nan) for name in COLUMNS}
        self.nested = {kk: {name: np.full(n, np.nan) for name in NESTED_COLUMNS} for kk in nested_k}
        self.means: dict = {}  # site -> [n, D] posterior means
        self.psis_cap = psis_cap  # 0: no diagnostics
        self.psis_buffer = np.empty((psis_cap, k)) if psis_cap else None  # rows: datapoints awaiting PSIS
        self.psis_start, self.psis_used = 0, 0

    def add(self, start: int, stop: int, log_w: torch.Tensor, kl_draws: torch.Tensor, last: bool, block: int) -> None:
        """One block's columns; PSIS runs when the buffer could not take another ``block`` or ``last``."""
        k = self.k
        columns = {
            "log_px_iw": log_w.logsumexp(0) - math.log(k),
            "elbo": log_w.double().mean(0),
            "elbo_single": log_w[0],
            "kl": kl_draws.mean(0),
            "kl_mc_se": (kl_draws.std(0) / math.sqrt(k)) if k > 1 else torch.full_like(kl_draws[0], math.nan),
            "ess": effective_sample_size(log_w),
            "log_px_var": log_estimate_variance(log_w),
        }
        for name, v in columns.items():
            self.values[name][start:stop] = v.double().cpu().numpy()
        for kk, arrays in self.nested.items():  # the first kk draws of each datapoint
            prefix = log_w[:kk]
            arrays["log_px_iw"][start:stop] = (prefix.logsumexp(0) - math.log(kk)).double().cpu().numpy()
            arrays["ess"][start:stop] = effective_sample_size(prefix).double().cpu().numpy()
            if self.psis_cap:
                arrays["khat"][start:stop] = pareto_khat(prefix.T.double().cpu().numpy())
        if self.psis_cap:  # PSIS has a fixed cost per call: run it on up to psis_cap datapoints at once
            self.psis_buffer[self.psis_used:self.psis_used + log_w.shape[1]] = log_w.T.double().cpu().numpy()
            self.psis_used += log_w.shape[1]
            if self.psis_used + block > self.psis_cap or last:
                self.values["khat"][self.psis_start:self.psis_start + self.psis_used] = \
                    pareto_khat(self.psis_buffer[:self.psis_used])
                self.psis_start, self.psis_used = self.psis_start + self.psis_used, 0


def prior_proposal(model):
    """The model with its observed sites hidden, used as a guide: it draws every latent from
    its prior, so the importance weights are :math:`p(x \\mid z)` (the pair's ``q = p``)."""
    return poutine.block(model, hide_fn=lambda msg: msg["type"] == "sample" and msg["is_observed"])


def evaluate_model(model, x: torch.Tensor, y: Optional[torch.Tensor] = None, **options):
    """:func:`evaluate_log_likelihood` for a zoo model: checks the data, reports bits/dim for images."""
    model.check_data(x)
    if model.data_info.get("image_shape"):
        options.setdefault("num_dims", model.x_dim)
    options.setdefault("device", model.device)
    return evaluate_log_likelihood(model.model, model.guide, model.data_args(x, y), **options)
