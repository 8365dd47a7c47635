"""``--devices N``: the same command in N processes, started by torch's elastic launcher.

``pyro-vae train --devices 2 ...`` is ``torchrun --nproc_per_node 2 -m pyro_vae train ...``
without torchrun: :func:`launch` runs :func:`torch.distributed.launcher.api.elastic_launch` in
this process (one node, a free port found by the rendezvous, no restarts), and each worker runs
the command line without ``--devices`` as one rank (:mod:`pyro_vae.distributed`). On CPU each
worker gets ``OMP_NUM_THREADS`` = cores / N (torchrun sets 1), unless it is set.

A worker that fails ends the job: the launcher stops the others (they print one line each) and
this process prints which rank ended and how, in one line, and exits 2.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from ..errors import DistributedError, OptionError


def strip_devices(argv: list) -> list:
    """``argv`` without ``--devices N`` / ``--devices=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--devices":
            skip = True
        elif not a.startswith("--devices="):
            out.append(a)
    return out


def check_devices(n: int, device: str) -> None:
    """``--devices N``: N >= 1, and as many CUDA devices as processes when ``device`` is CUDA."""
    import torch

    from ..options import resolve_device

    if n < 1:
        raise OptionError(f"--devices must be >= 1, got {n}")
    if resolve_device(str(device)).type == "cuda" and n > torch.cuda.device_count():
        raise OptionError(f"--devices {n} with --device {device}: torch sees {torch.cuda.device_count()} CUDA "
                          f"device(s): use --devices {max(1, torch.cuda.device_count())} or fewer")


def _worker(argv: list) -> int:
    """One rank: the command line, run as ``pyro-vae ARGV`` would (its error line included)."""
    from . import main

    code = main(argv)
    if code:  # a failed rank must fail the job, so that the launcher stops the others
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def launch(argv: list, n: int, device: str = "cpu") -> int:
    """Run ``pyro-vae ARGV`` (without ``--devices``) as ``n`` ranks; 0 when all succeed. The caller
    has checked ``n`` (:func:`check_devices`) with the command's own options.

    ``MASTER_PORT``, when set, is the rendezvous port (refused in one line when it is taken);
    else the rendezvous takes a free one."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    argv = strip_devices(argv)  # (the command checked its options and check_devices before: nothing started)
    if n == 1:
        from . import main

        return main(argv)
    if not str(device).startswith("cuda") and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
    # a killed worker leaves its semaphores to multiprocessing's tracker, which warns at exit: said in our line
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    for name in ("torch.distributed.elastic", "torch.multiprocessing"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # its tracebacks: ours is the one line below
    port = _free_port_or_refuse(os.environ.get("MASTER_PORT"))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=f"pyro-vae-{os.getpid()}",
                          rdzv_backend="c10d", rdzv_endpoint=f"localhost:{port}", max_restarts=0, monitor_interval=0.1,
                          start_method="spawn")
    try:
        elastic_launch(config, _worker)(argv)
    except ChildFailedError as e:
        # the root cause: a rank that died (a signal, a crash) before ranks that ended because they lost it (exit 2)
        rank, failure = min(e.failures.items(), key=lambda item: (item[1].exitcode == 2, item[0]))
        raise DistributedError(f"process {rank} of {n} ended {_how(failure.exitcode)}; the launcher stopped the "
                               f"others") from None
    return 0


def _free_port_or_refuse(port) -> int:
    """``port`` (``MASTER_PORT``) when it can be listened on, 0 (any free port) when not given."""
    import socket

    if port is None:
        return 0
    try:
        number = int(port)
    except ValueError:
        raise OptionError(f"MASTER_PORT={port!r} is not a port number: set it to a free port (1024-65535) or "
                          f"unset it (a free port is found)") from None
    with socket.socket() as s:
        try:
            s.bind(("localhost", number))
        except OSError as e:
            raise DistributedError(f"port {number} (MASTER_PORT) is in use ({e.strerror}): set MASTER_PORT to a free "
                                   f"port or unset it (a free port is found)") from None
    return number


def _how(exitcode: int) -> str:
    if exitcode == 2:
        return "with an error (its line is above)"
    if exitcode is not None and exitcode < 0:
        try:
            return f"by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"by signal {-exitcode}"
    return f"with exit code {exitcode}"
