"""The ``pyro-vae`` command line: one module per command (parse -> call the library -> print).

This module holds the one error boundary: whatever goes wrong becomes a single line on
stderr, ``pyro-vae: error: <the problem, the value, the fix>``, and exit code 2, never a
traceback:

* :class:`~pyro_vae.errors.PyroVAEError` (bad options, data, models, run directories) and
  argparse's usage errors: their message;
* ``OSError`` from anywhere (a file that cannot be read or written): the path and the reason;
* an exception raised inside a user's model file (:func:`~pyro_vae.registry.user_code_frame`):
  the file, line and exception, and what to do; exit code 2;
* anything else is a bug of ours: ``pyro-vae: internal error: ...`` and exit code 1;
  ``PYRO_VAE_TRACEBACK=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import distributed
from ..allocator import tune_malloc
from ..errors import DistributedError, OptionError, PyroVAEError
from ..registry import user_code_frame
from . import compare, encode, evaluate, listings, sample, train

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


class UsageError(OptionError):
    """An argparse error (unknown flag, a value that is not a number, a missing argument)."""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors raised (to the boundary) instead of printed over lines, and
    no abbreviated flags: ``--epoch 3`` is an unknown flag, not a silent ``--epochs 3``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pyro-vae", description="Variational autoencoders in Pyro: train on a dataset or "
                "your own data, evaluate log-likelihood bounds, sample, encode.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listings.add_parsers(sub)
    train.add_parser(sub)
    evaluate.add_parser(sub)
    sample.add_parser(sub)
    encode.add_parser(sub)
    compare.add_parser(sub)
    return p


def one_line(text: str) -> str:
    """``text`` on one line (newlines and runs of blanks become one space)."""
    return " ".join(str(text).split())


def _os_error_line(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    reason = e.strerror or str(e)
    return f"cannot access {where}: {reason}" if where else reason


class _StderrLines(logging.Handler):
    """The library's log lines (one per epoch) on whatever ``sys.stderr`` is at the time."""

    def emit(self, record):
        print(record.getMessage(), file=sys.stderr, flush=True)


def _log_to_stderr() -> None:
    log = logging.getLogger("pyro_vae")
    if not any(isinstance(h, _StderrLines) for h in log.handlers):
        log.addHandler(_StderrLines())
    log.setLevel(logging.INFO)
    log.propagate = False


def _where() -> str:
    """`` (rank R of W)`` in a multi-process job: which process's line it is."""
    ranks = distributed.job()
    return f" ({ranks.label()})" if ranks.active else ""


def _user_code_line(e: Exception, first: str, file: str, line: int, function: str) -> str:
    """What the user reads when their model code raised: where, what, and how to go on."""
    from pathlib import Path

    from ..training.run_dir import MODEL_COPY  # (only here: the error path may import torch)

    what = f"your model code raised {type(e).__name__}: {one_line(first)} (at {file}, line {line}, in {function})"
    copy = Path(file)
    if copy.name == MODEL_COPY and (copy.parent / "config.json").exists():  # the copy kept in a run
        return (f"{what}: that is the copy of your model file kept in the run {copy.parent}; fix your own file and "
                f"train again with `pyro-vae train --model YOUR_FILE ... --out {copy.parent}`, which starts anew a run "
                f"that has not finished an epoch (one with checkpoints keeps the code it was trained with: "
                f"train a new run)")
    return f"{what}: fix it and run the same command again (a run that has not finished an epoch is started anew)"


def main(argv=None) -> int:
    _log_to_stderr()
    tune_malloc()  # the command owns its process: glibc set for block-sized tensors (pyro_vae/allocator.py)
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for --devices: the same command, N times
        return args.fn(args)
    except DistributedError as e:
        print(f"pyro-vae: error{_where()}: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except PyroVAEError as e:
        if distributed.job().is_main:  # every rank checks the same options: rank 0 says it once
            print(f"pyro-vae: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pyro-vae: interrupted; a training run continues with `pyro-vae train --resume RUN_DIR`",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout left (`pyro-vae models | head`): nothing to say, nowhere to say it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python's docs: no second error at exit)
        return 1
    except OSError as e:
        print(f"pyro-vae: error{_where()}: {one_line(_os_error_line(e))}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:
        if os.environ.get("PYRO_VAE_TRACEBACK"):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        user = user_code_frame(e)
        if user is not None:  # raised inside a user's model file: theirs to fix
            print(f"pyro-vae: error{_where()}: {_user_code_line(e, first, *user)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"pyro-vae: internal error{_where()}: {type(e).__name__}: {one_line(first)} (a bug in pyro-vae: please "
              f"report it; PYRO_VAE_TRACEBACK=1 shows where)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
