r"""Data parallelism on ``torch.distributed``: ranks, sharding, gradient reduction, gathering.

A job is started by ``torchrun --nproc_per_node N -m pyro_vae train|evaluate ...`` or by the
``--devices N`` shortcut (:func:`launch`, torch's elastic launcher in-process), which set
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every process.
:func:`session` joins the process group they describe (gloo on CPU, nccl on CUDA, each rank on
``cuda:LOCAL_RANK``) and leaves it at the end. Outside such a job every helper here is the
identity: one process is the world of size 1.

Training (see :class:`~pyro_vae.training.trainer.Trainer`): every rank draws the same shuffled
order of an epoch, and each takes a contiguous part of every global batch (:func:`shard`:
``--batch-size`` stays the global batch). Our losses are *sums* over datapoints (the negative
ELBO of the batch, or of the IW bound), so the gradient of the global batch is the **sum** of
the ranks' gradients, :math:`\nabla \sum_{n \in B} \ell_n = \sum_r \nabla \sum_{n \in B_r}
\ell_n`; :func:`reduce_step` all-reduces the loss and all gradients as one flat buffer with
``SUM`` (DDP's mean over ranks is the same thing for a loss that is a per-rank mean of equal
shards). This holds for every estimator, split-gradient (DReG, PIWAE) and enumerated ones
included, because each rank's gradient is already the exact gradient of its own datapoints'
terms: nothing couples datapoints inside a loss. Every rank then takes the same optimizer step
from the same gradients, so the parameters stay identical (they start identical:
:func:`broadcast_parameters`).

Why not ``DistributedDataParallel``: DDP reduces gradients from autograd hooks armed by the
module's ``forward``. The Pyro step calls the model and guide through an ELBO, and the captured
step (:mod:`pyro_vae.training.capture`) replays a graph that *returns* the gradients without an
autograd backward, so DDP's hooks would never fire. One ``all_reduce`` after the step works for
both, and the captured step composes with data parallelism unchanged.

Evaluation: the blocks of datapoints (of a size fixed by the global ``N``) are split in
contiguous runs over the ranks (:func:`my_blocks`), each block seeds its own draws from
``(seed, first datapoint of the block)`` (:func:`seed_block`), and the per-datapoint rows are
gathered in order (:func:`gather_rows`). So the result does not depend on the number of
processes: it is the single-process result, draw for draw.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from .errors import DistributedError, OptionError

if TYPE_CHECKING:  # torch is imported where it is used: the CLI starts without it
    import torch

#: How long a collective waits for a silent peer before the job fails (a rank that died is seen
#: sooner: its sockets close).
TIMEOUT = timedelta(minutes=10)
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the job (``rank`` 0 of ``world_size`` 1 outside one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def label(self) -> str:
        return f"rank {self.rank} of {self.world_size}"


def current() -> Ranks:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Ranks()


def launched() -> bool:
    """Whether this process was started as one of several by torchrun or ``--devices``."""
    return all(k in os.environ for k in LAUNCH_ENV) and int(os.environ["WORLD_SIZE"]) > 1


def _on_sigterm(signum, frame):
    raise DistributedError("stopped because another process of this job ended (its message says why)")


_JOB = Ranks()  # the last session's ranks, for the CLI's error line after the group is gone


def job() -> Ranks:
    """The ranks of the current or last :func:`session` (``Ranks()`` when there was none)."""
    return _JOB


@contextmanager
def session(device: str = "cpu"):
    """Join the process group of a torchrun/``--devices`` job for the block (yield :class:`Ranks`).

    Outside such a job, or when the group is already up (a caller's own), it yields
    :func:`current` and does nothing else. The elastic agent stops the other processes with
    SIGTERM when one fails: they then end with a one-line :class:`DistributedError`. Ranks
    other than 0 log warnings only (rank 0 logs the epoch lines).
    """
    import logging

    import torch
    import torch.distributed as dist

    global _JOB

    if not launched() or dist.is_initialized():
        yield current()
        return
    cuda = str(device).startswith("cuda")
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        dist.init_process_group(backend, timeout=TIMEOUT)
    except Exception as e:  # the store's errors are of several kinds (DistStoreError, RuntimeError, ...)
        raise DistributedError(f"cannot join the process group at {where} ({_first_line(e)}): is another job "
                               f"using port {os.environ['MASTER_PORT']}? set MASTER_PORT to a free port") from None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _JOB = current()
    if not _JOB.is_main:
        logging.getLogger("pyro_vae").setLevel(logging.WARNING)
    try:
        yield _JOB
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            dist.destroy_process_group()
        except Exception:  # a broken group: the process ends anyway
            pass


def rank_device(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:LOCAL_RANK`` in a multi-process job (one device per process)."""
    import torch

    ranks = current()
    if ranks.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ranks.local_rank)
    return device


def check_batch(batch_size: int, world_size: int) -> None:
    if world_size > batch_size:
        raise OptionError(f"--batch-size {batch_size} is smaller than the {world_size} processes: each process "
                          f"takes a part of every batch; use --batch-size >= {world_size} or fewer processes")


def _first_line(e: Exception) -> str:
    """The reason in ``e``, short: its first line without gloo's ``[source.cc:123]`` prefix, to the first full stop."""
    import re

    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    return text.split(". ")[0][:160]


def _collective(fn, *args, **kwargs):
    """Run a collective; a peer that ended becomes a one-line :class:`DistributedError`."""
    try:
        return fn(*args, **kwargs)
    except DistributedError:
        raise
    except (RuntimeError, ConnectionError) as e:
        raise DistributedError(f"lost contact with the other processes ({_first_line(e)}): one of them ended "
                               f"(its message says why)") from None


# ---- training ------------------------------------------------------------------------------------
def shard(index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous part of a global batch's row indices (parts differ by at most one row)."""
    import torch

    ranks = current()
    if not ranks.active:
        return index
    return torch.tensor_split(index, ranks.world_size)[ranks.rank]


def stream_seed(seed: int, epoch: int, stream: int) -> int:
    """The seed of one random stream of an epoch: ``stream`` 0 shuffles (the same on every rank),
    1 drives Pyro's draws and 2 the dynamic binarization; 1 and 2 differ per rank in a
    multi-process job (seeded from seed, epoch and rank). One process draws what it always drew."""
    ranks = current()
    base = int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])
    if stream == 0 or not ranks.active:
        return base + stream
    return int(np.random.SeedSequence([int(seed), int(epoch), ranks.rank, stream]).generate_state(1)[0])


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (DDP does the same when it wraps a module)."""
    import torch.distributed as dist

    if not current().active:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        _collective(dist.broadcast, t.data, 0)


def reduce_step(params: list, loss: float) -> float:
    r"""Sum ``loss`` and every parameter's ``.grad`` over the ranks.

    The gradients travel as one flat buffer in their own dtype (one ``all_reduce``, as DDP's
    bucket), the loss in float64 beside it. A parameter without a gradient on a rank (an empty
    shard, a branch not taken) counts as zero there; it keeps ``grad = None`` only when no rank
    gave it one, as in one process. Returns the summed loss (the global batch's). One process:
    returns ``loss`` untouched.
    """
    import torch
    import torch.distributed as dist

    if not current().active:
        return loss
    reference = params[0]
    parts = [torch.tensor([p.grad is not None for p in params], dtype=reference.dtype, device=reference.device)]
    parts += [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    flat = torch.cat(parts)
    total = torch.tensor([float(loss)], dtype=torch.float64, device=reference.device)
    work = _collective(dist.all_reduce, flat, op=dist.ReduceOp.SUM, async_op=True)
    _collective(dist.all_reduce, total, op=dist.ReduceOp.SUM)
    _collective(work.wait)
    has = flat[:len(params)].tolist()
    at = len(params)
    for p, h in zip(params, has):
        size = p.numel()
        p.grad = flat[at:at + size].view_as(p) if h else None
        at += size
    return float(total)


def agree_any(flag: bool) -> bool:
    """True on every rank when it is true on any (e.g. the time budget ran out on rank 0)."""
    import torch
    import torch.distributed as dist

    if not current().active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    _collective(dist.all_reduce, t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    import torch.distributed as dist

    if current().active:
        _collective(dist.barrier)


# ---- evaluation ----------------------------------------------------------------------------------
def seed_block(seed: int, first: int) -> None:
    """Seed the draws of the evaluation block whose first datapoint is ``first`` (global index).

    The first block continues the stream that ``pyro.set_rng_seed(seed)`` began before it (what
    one process always drew); every other block reseeds from ``(seed, first)``, so a block draws
    the same whichever process evaluates it.
    """
    if first != 0:
        seed_torch(int(np.random.SeedSequence([int(seed), int(first)]).generate_state(1)[0]))


def seed_torch(seed: int) -> None:
    """Seed torch's generators, the ones Pyro's draws come from, as ``torch.manual_seed`` does but
    without its cost per call (about 0.3 ms: while CUDA is not initialized it formats the Python
    stack for a deferred CUDA seeding), which thousands of one-datapoint blocks would pay."""
    import torch

    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)


def my_blocks(n: int, block: int) -> tuple[list, int, int]:
    """``(starts, lo, hi)``: this rank's contiguous run of the blocks of ``block`` datapoints that
    tile ``n`` (all of them in one process), and the rows ``[lo, hi)`` they cover (empty: 0, 0)."""
    starts = list(range(0, n, block))
    ranks = current()
    if ranks.active:
        count = len(starts)
        starts = starts[ranks.rank * count // ranks.world_size:(ranks.rank + 1) * count // ranks.world_size]
    return (starts, starts[0], min(n, starts[-1] + block)) if starts else (starts, 0, 0)


def gather_rows(n: int, lo: int, hi: int, arrays: dict, meta=None) -> tuple[dict, list]:
    """Every rank's rows ``[lo, hi)`` of ``arrays`` (a nested dict of ``[n, ...]`` numpy arrays,
    other rows unset), written into the same rows on every rank, and every rank's ``meta`` (rank
    order). An array a rank never made (it had no rows) is made at its first sight, ``[n, ...]``.
    One process: ``(arrays, [meta])``."""
    import torch.distributed as dist

    ranks = current()
    if not ranks.active:
        return arrays, [meta]
    everyone = [None] * ranks.world_size
    _collective(dist.all_gather_object, everyone, (lo, hi, _take_rows(arrays, lo, hi), meta))
    for r_lo, r_hi, rows, _ in everyone:
        _put_rows(arrays, n, r_lo, r_hi, rows)
    return arrays, [m for *_, m in everyone]


def _take_rows(tree: dict, lo: int, hi: int) -> dict:
    return {k: (_take_rows(v, lo, hi) if isinstance(v, dict) else v[lo:hi]) for k, v in tree.items()}


def _put_rows(tree: dict, n: int, lo: int, hi: int, rows: dict) -> None:
    for k, v in rows.items():
        if isinstance(v, dict):
            _put_rows(tree.setdefault(k, {}), n, lo, hi, v)
        else:
            if k not in tree:
                tree[k] = np.full((n,) + v.shape[1:], np.nan)
            tree[k][lo:hi] = v
