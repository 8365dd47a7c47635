"""Run the ``pyro-vae`` CLI in separate processes, fast: a fork server.

``python -m pyro_vae ARGS`` costs seconds per call (importing torch and Pyro). The server is a
fresh interpreter that imports the CLI once and then, for each request, forks a child that
calls :func:`pyro_vae.cli.main` (what the ``pyro-vae`` script and ``python -m pyro_vae`` call)
with its stdout and stderr sent to files, and exits with its return code; an exception that
escapes ``main`` prints Python's traceback and exits 1, as the interpreter would. So every
case runs in its own process, from a parent that never ran a torch kernel (fork-safe), at a
few milliseconds of start-up each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER = r'''
import json, os, signal, sys, traceback
import pyro_vae.cli as cli
import torch, pyro, pyro_vae.training, pyro_vae.evaluation, pyro_vae.data, pyro_vae.io.pictures  # warm
from pyro_vae.registry import load_zoo
from pyro_vae.infer.losses import loss_entries
load_zoo(); loss_entries()
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(req.get("timeout", 120))
            for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            os.chdir(req["cwd"])
            os.environ.update(req["env"])
            try:
                code = cli.main(req["argv"])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush(); sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
'''


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


class CliRunner:
    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="pyro_vae_cli_")
        self._proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)

    def run(self, *argv, cwd=None, env=None, timeout=120) -> Result:
        out, err = Path(self._dir, "stdout"), Path(self._dir, "stderr")
        req = {"argv": [str(a) for a in argv], "cwd": str(cwd or os.getcwd()), "env": env or {},
               "stdout": str(out), "stderr": str(err), "timeout": timeout}
        self._proc.stdin.write(json.dumps(req) + "\n")
        self._proc.stdin.flush()
        reply = self._proc.stdout.readline()
        if not reply:
            raise RuntimeError("the CLI fork server died")
        return Result(json.loads(reply)["rc"], out.read_text(), err.read_text())

    def close(self):
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def run_module(*argv, cwd=None) -> Result:
    """``python -m pyro_vae ARGV`` in a fresh interpreter (slow: seconds)."""
    proc = subprocess.run([sys.executable, "-m", "pyro_vae", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ok(res):
    """``res`` of a command that must succeed (its stderr shown when it did not)."""
    assert res.rc == 0, res.stderr
    return res
