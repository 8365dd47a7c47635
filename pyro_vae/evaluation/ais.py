r"""Annealed importance sampling (AIS) estimates of :math:`\log p(x)` per datapoint, for any Pyro
model/guide pair (Neal 2001; Wu, Burda, Salakhutdinov & Grosse 2017 for decoders).

Each of ``C`` chains per datapoint starts at :math:`u_0 \sim \pi_0` (the guide or the prior) and
moves along :math:`\gamma_{\beta_t}` (:mod:`.annealing_path`), :math:`0=\beta_0<\dots<\beta_T=1`,
by HMC transitions :math:`\mathcal T_t` that leave :math:`\gamma_{\beta_t}` invariant
(:mod:`.hmc`), accumulating

.. math::
    \log w = \sum_{t=1}^{T} \bigl[\log\gamma_{\beta_t}(u_{t-1}) - \log\gamma_{\beta_{t-1}}(u_{t-1})\bigr]
           = \sum_{t=1}^{T} (\beta_t - \beta_{t-1})\,\bigl[b(u_{t-1}) - a(u_{t-1})\bigr],

in float64 (10,000 increments of a few nats each lose digits in float32). :math:`E[w] = p(x)`
exactly, whatever ``T`` and however well the chains mix; so
:math:`\log \hat p(x) = \log \frac1C \sum_c w_c` is a stochastic lower bound
(:math:`E \log \hat p \le \log p(x)`, Jensen), tight when the chains track the path. With ``T = 1``
there is no transition and :math:`\log w = \log p(x, z_0) - \log q(z_0 \mid x)`: the IW estimate with
``K = C`` on the same draws.

**Step size without bias.** :math:`E[w] = p(x)` needs every :math:`\mathcal T_t` to be fixed
before the chain it moves reaches step ``t``, *independently of that chain*: a step size adapted
from a chain's own acceptance makes the kernel depend on its past, and the telescoping argument
behind AIS no longer holds. So each datapoint also runs ``tune_chains`` extra chains along the same
path; only their acceptance steers the shared step size (:class:`.hmc.StepSize`), and their
weights are dropped. The estimation chains' kernels are then a function of the tuning chains'
randomness alone, which is independent of theirs, and the estimate stays unbiased while the step
size follows the path (small near the posterior, large near :math:`\pi_0`). The mass matrix is
likewise set from the first tuning chain's :math:`\pi_0` (the guide's standard deviations).

**Reverse AIS** runs the same path backwards (:math:`\beta` from 1 to 0) from an exact posterior
sample; its weights estimate :math:`1/p(x)` unbiasedly, so :math:`-\log\frac1C\sum_c w_c` is a
stochastic *upper* bound (used by :mod:`.bdmc`). All its chains start from that one sample, so
tuning chains there would start from it too and make the kernels depend on the start: reverse
AIS instead replays the step sizes a forward run on the same data used (a function of the data
and of independent randomness only), reversed.

Pyro has no AIS (its MCMC runs a chain per process and does not vectorize chains); this module's
weights are checked against the closed-form :math:`\log p(x)` of a linear-Gaussian model in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
import pyro
import torch

from .. import distributed
from ..errors import InferenceError
from ..infer.graph_capture import check_capture_mode, refuse
from ..infer.particles import guess_max_plate_nesting
from .annealing_path import AnnealingPath, draw_start, scales, summed_sites
from .hmc import StepSize, hmc_transition
from .importance import checked_data
from .result import PerDatapointResult, column_means
from .settings import AIS_SCHEDULES, DEFAULT_MAX_ELEMENTS, AISSettings

#: ``capture="auto"`` traces a block's densities when each chain evaluates them at least this many
#: times (100 steps x 10 leapfrog steps do): a trace costs 0.1-1 s, a replay saves about 2 ms of
#: Python per evaluation (Pyro's handlers), so short runs stay eager.
CAPTURE_MIN_EVALUATIONS = 500
#: Per-datapoint columns of an AIS estimate, in the order they are written to the CSV table.
AIS_COLUMNS = ("log_px_ais", "log_px_ais_mc_se", "acceptance", "ess", "log_w_var")


def beta_schedule(kind: str, num_steps: int, sharpness: float = 4.0) -> np.ndarray:
    r""":math:`\beta_0 = 0, \dots, \beta_T = 1` (float64).

    ``linear``: :math:`t/T`. ``sigmoid`` (Grosse, Ghahramani & Adams 2015):
    :math:`\tilde\beta_t = \sigma(\delta (2t/T - 1))` rescaled to :math:`[0, 1]`, :math:`\delta = 4`:
    denser steps at both ends, where the path changes fastest.
    """
    t = np.arange(num_steps + 1) / num_steps
    if kind == "linear":
        return t
    if kind == "sigmoid":
        s = 1 / (1 + np.exp(-sharpness * (2 * t - 1)))
        return (s - s[0]) / (s[-1] - s[0])
    raise InferenceError(f"schedule must be one of {', '.join(AIS_SCHEDULES)}, got {kind!r}")


@dataclass
class AISEstimate(PerDatapointResult):
    r"""Per-datapoint AIS results (numpy arrays of length ``n``).

    * ``log_px_ais``: :math:`\log\frac1C\sum_c w_c` (forward: a stochastic lower bound of
      :math:`\log p(x)`; ``direction="reverse"``: the estimate of :math:`\log 1/p(x)`, see :mod:`.bdmc`)
    * ``log_px_ais_mc_se``: its Monte Carlo (delta-method) standard error over the chains :math:`\mathrm{sd}(w)/(\sqrt C\,\bar w)`
    * ``acceptance``: mean HMC acceptance probability of the estimation chains over all transitions
    * ``ess``: :math:`(\sum_c w_c)^2 / \sum_c w_c^2` of the final weights (``C`` when equal)
    * ``log_w_var``: variance of :math:`\log w_c` over the chains
    """

    values: dict
    settings: dict
    num_dims: Optional[int] = None
    log_w: Optional[np.ndarray] = field(default=None, repr=False)  # [n, C] final log weights
    step_sizes: Optional[np.ndarray] = field(default=None, repr=False)  # [n, transitions] if recorded
    columns = AIS_COLUMNS

    def summary(self) -> dict:
        out = {"method": "ais", "n": self.n, **self.settings}
        out.update(column_means(self.values, AIS_COLUMNS))  # log_px_ais_se: over datapoints
        out["nll"] = -out["log_px_ais"]
        if self.num_dims:
            out["bits_per_dim"] = out["nll"] / (self.num_dims * math.log(2))
        return out


def weight_summary(log_w: torch.Tensor) -> dict:
    """``log_w``: ``[C, N]`` float64 -> per-datapoint logmeanexp, its standard error, ESS, variance."""
    c = log_w.shape[0]
    top = log_w.max(0).values
    w = (log_w - top).exp()
    mean = w.mean(0)
    se = (w.std(0) / (math.sqrt(c) * mean)) if c > 1 else torch.full_like(mean, math.nan)
    return {"log_px_ais": top + mean.log(), "log_px_ais_mc_se": se, "ess": w.sum(0) ** 2 / (w ** 2).sum(0),
            "log_w_var": log_w.var(0) if c > 1 else torch.zeros_like(mean)}


def anneal(path: AnnealingPath, betas: np.ndarray, num_leapfrog: int, step_size: StepSize, scale: dict,
           tuning: slice, state=None, on_step=None, replay: Optional[torch.Tensor] = None):
    """Run every chain of one block along ``betas``; returns (``log_w`` ``[chains, N]`` float64,
    mean acceptance of each chain ``[chains, N]``, the step sizes used ``[N, transitions]``).

    ``replay``: step sizes ``[N, transitions]`` to use instead of adapting them."""
    state = path.evaluate(path.initial_u()) if state is None else state
    log_w = torch.zeros(state.log_a.shape, dtype=torch.float64, device=state.log_a.device)
    accept = torch.zeros_like(state.log_a)
    moves = 0
    transitions = max(len(betas) - 2, 0) if num_leapfrog > 0 else 0
    used = torch.empty((state.log_a.shape[-1], transitions), dtype=state.log_a.dtype, device=state.log_a.device)
    for t in range(1, len(betas)):
        log_w += float(betas[t] - betas[t - 1]) * (state.log_b - state.log_a).double()
        if t < len(betas) - 1 and num_leapfrog > 0:
            eps = step_size.value if replay is None else replay[:, t - 1].to(used)
            used[:, t - 1] = eps
            state, prob = hmc_transition(state, float(betas[t]), path.evaluate, eps, num_leapfrog, scale)
            if replay is None and tuning.stop > tuning.start:
                step_size.update(prob[tuning])
            accept += prob
            moves += 1
        if on_step is not None:
            on_step()
    return log_w, accept / max(moves, 1), used


@torch.no_grad()
def evaluate_ais(
    model,
    guide,
    data: Union[torch.Tensor, Sequence[torch.Tensor]],
    settings: Optional[AISSettings] = None,
    *,
    seed: int = 0,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    data_plate: Optional[str] = None,
    progress: bool = True,
    num_dims: Optional[int] = None,
    device: Optional[Union[str, torch.device]] = None,
    capture: str = "auto",
    start: Optional[dict] = None,
    step_sizes: Optional[np.ndarray] = None,
    record_step_sizes: bool = False,
    **options,
) -> AISEstimate:
    """Per-datapoint AIS estimate of log p(x): ``settings`` (:class:`AISSettings`: chains, steps,
    schedule, HMC; its fields may also be given as keywords, ``num_steps=100``, which replace
    those of ``settings``) on ``data``. The one door to AIS in the library.

    Blocks of datapoints x (``num_chains + tune_chains``) chains are bounded by ``max_elements``
    (all chains of a datapoint share a block). ``start`` (site -> ``[n, ...]`` latent values, an
    exact posterior sample per datapoint) runs *reverse* AIS from it, :math:`\\beta` from 1 to 0
    (see the module docstring); ``log_px_ais`` is then the estimate of :math:`\\log 1/p(x)`.
    ``step_sizes`` ``[n, num_steps - 1]``: use these per-transition step sizes instead of tuning
    chains (reverse AIS replays a forward run's, reversed); ``record_step_sizes`` keeps the ones
    used in ``AISEstimate.step_sizes``. ``capture``: ``"auto"`` traces each block's densities
    once and replays them (:meth:`AnnealingPath.capture`) when the block evaluates them at least
    :data:`CAPTURE_MIN_EVALUATIONS` times per chain, ``"on"`` always (an error where it fails),
    ``"off"`` never; the numbers are the same either way.
    """
    from tqdm.auto import tqdm

    s = (settings or AISSettings()).replace(**options)
    check_capture_mode(capture)
    data, n = checked_data(data, max_elements)
    if step_sizes is not None:
        s = s.replace(tune_chains=0)  # the step sizes are given: no chain tunes them
    run = _AISRun(model, guide, s, data, n, max_elements, data_plate, device, seed, start, capture)
    run.step_sizes = _given_step_sizes(step_sizes, n, run.transitions, reverse=start is not None)
    values = {name: np.full(n, np.nan) for name in AIS_COLUMNS}
    all_log_w = np.full((n, s.num_chains), np.nan)
    used_all = np.full((n, run.transitions), np.nan) if record_step_sizes else None
    starts, mine_lo, mine_hi = distributed.my_blocks(n, run.block)  # all blocks in one process; a run per rank
    bar = tqdm(total=(mine_hi - mine_lo) * s.num_steps, desc=f"AIS log p(x), {s.num_chains} chains x {s.num_steps} "
               f"steps", unit="pt-step", disable=not progress, leave=False)
    for lo in starts:
        hi, log_w, accept, used = run.block_weights(lo, first=lo == starts[0], on_step=bar.update)
        if record_step_sizes:
            used_all[lo:hi] = used.cpu().numpy()
        for name, v in weight_summary(log_w).items():
            values[name][lo:hi] = v.double().cpu().numpy()
        values["acceptance"][lo:hi] = (accept.mean(0).double().cpu().numpy()
                                       if s.num_steps > 1 and s.leapfrog_steps > 0 else np.nan)
        all_log_w[lo:hi] = log_w.T.cpu().numpy()
    bar.close()
    rows = {"values": values, "log_w": all_log_w, **({"step_sizes": used_all} if record_step_sizes else {})}
    rows, _ = distributed.gather_rows(n, mine_lo, mine_hi, rows)
    return AISEstimate(values=rows["values"], settings=_recorded(s, seed, start, step_sizes), num_dims=num_dims,
                       log_w=rows["log_w"], step_sizes=rows.get("step_sizes"))


class _AISRun:
    """What stays fixed over the blocks of one :func:`evaluate_ais` call, and one block's run."""

    def __init__(self, model, guide, s: AISSettings, data, n, max_elements, data_plate, device, seed, start, capture):
        self.model, self.guide, self.settings, self.data, self.device, self.seed = model, guide, s, data, device, seed
        self.start, self.capture = start, capture
        self.chains = s.num_chains + s.tune_chains
        self.estimate, self.tuning = slice(0, s.num_chains), slice(s.num_chains, self.chains)
        betas = beta_schedule(s.schedule, s.num_steps)
        self.betas = betas if start is None else betas[::-1].copy()
        self.block = max(1, min(n, max_elements // self.chains))
        first = tuple(t[:self.block].to(device) if device else t[:self.block] for t in data)
        self.summed = summed_sites(model, first)
        pyro.set_rng_seed(seed)
        self.max_plate_nesting = guess_max_plate_nesting(model, guide, first, {}, data_plate)
        self.data_plate, self.first_device = data_plate, first[0].device
        self.transitions = s.num_steps - 1 if s.leapfrog_steps > 0 else 0
        self.captured = capture == "on" or (capture == "auto" and model_evaluations(1, s.num_steps, s.leapfrog_steps)
                                            >= CAPTURE_MIN_EVALUATIONS)
        self.validate = pyro.poutine.util.is_validation_enabled()
        self.step_sizes = None

    def block_weights(self, lo: int, first: bool, on_step):
        """``(hi, log_w [C, B], acceptance [C + tune, B], step sizes used)`` of the block from ``lo``."""
        settings = self.settings
        distributed.seed_block(self.seed, lo)  # draws per block of datapoints, not per process
        batch = tuple(t[lo:lo + self.block] for t in self.data)
        if self.device is not None:
            batch = tuple(t.to(self.device) for t in batch)
        hi = lo + len(batch[0])
        with pyro.validation_enabled(self.validate and first):
            pt = draw_start(self.model, self.guide, batch, self.chains, self.max_plate_nesting, self.data_plate,
                            settings.init, self.summed)
            path = AnnealingPath(self.model, self.guide, batch, pt, settings.init, self.summed)
        if self.captured:
            reason = path.capture()
            if reason is not None:
                self.captured = not refuse("AIS densities", self.capture, reason)
        state = None if self.start is None else path.evaluate(path.to_u(_start_values(path, self.start, lo, hi)))
        eps = StepSize(settings.step_size, hi - lo, settings.target_accept, device=self.first_device)
        replay = None if self.step_sizes is None else torch.as_tensor(self.step_sizes[lo:hi])
        # the mass matrix from a chain whose draw no estimate starts from (the start replaces all draws in reverse)
        scale = scales(path, self.tuning if settings.tune_chains else slice(0, 1))
        with pyro.validation_enabled(False):  # checked on the first draw; the path only moves continuous values
            log_w, accept, used = anneal(path, self.betas, settings.leapfrog_steps, eps, scale, self.tuning, state,
                                         on_step=lambda: on_step(hi - lo), replay=replay)
        return hi, log_w[self.estimate], accept[self.estimate], used


def _start_values(path, start: dict, lo: int, hi: int) -> dict:
    """Reverse AIS: the given exact posterior values of the block's datapoints, one per chain."""
    missing = [s for s in path.sites if s not in start]
    if missing:
        raise InferenceError(f"reverse AIS needs a start value for every latent; missing {missing}")
    return {s["name"]: start[s["name"]][lo:hi].to(s["value"]).expand(s["value"].shape) for s in path.latent_sites}


def _given_step_sizes(step_sizes, n: int, transitions: int, reverse: bool) -> Optional[np.ndarray]:
    if step_sizes is None:
        return None
    step_sizes = np.asarray(step_sizes, dtype=np.float64)
    if step_sizes.shape != (n, transitions):
        raise InferenceError(f"step_sizes must have shape (n, num_steps - 1) = {(n, transitions)}, "
                             f"got {step_sizes.shape}")
    # reversed: the transition at beta_t used the forward run's step at beta_t
    return step_sizes[:, ::-1].copy() if reverse else step_sizes


def _recorded(s: AISSettings, seed: int, start, step_sizes) -> dict:
    """The settings an AIS result records (those of :class:`AISSettings` and how it ran)."""
    settings = {"num_chains": s.num_chains, "num_steps": s.num_steps, "schedule": s.schedule,
                "leapfrog_steps": s.leapfrog_steps, "init": s.init, "tune_chains": s.tune_chains,
                "initial_step_size": s.step_size, "target_accept": s.target_accept, "seed": seed,
                "direction": "forward" if start is None else "reverse",
                "model_evaluations_per_datapoint": model_evaluations(s.num_chains + s.tune_chains, s.num_steps,
                                                                     s.leapfrog_steps)}
    if step_sizes is not None:
        settings["step_sizes"] = "replayed from the forward run" if start is not None else "given"
    return settings


def model_evaluations(chains: int, num_steps: int, leapfrog_steps: int) -> int:
    """Evaluations of :math:`\\log p(x, z)` and its gradient per datapoint: one at the start and
    ``leapfrog_steps`` per transition (``num_steps - 1`` transitions), for every chain."""
    return chains * (1 + (num_steps - 1) * leapfrog_steps)
