"""Shared helpers of the benchmark scripts: machine description, timing, results files."""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from pyro_vae.io.tables import machine, markdown_table  # noqa: F401  (one description, the library's)

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = os.environ.get("PYRO_VAE_DATA", str(REPO.parent / "shared" / "data"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def run_isolated(script: Path, args: list[str]) -> dict:
    """Run ``script --worker args`` in a fresh process (for its own peak RSS); parse its JSON line."""
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def command_line(args: Optional[list[str]] = None) -> str:
    """How this script was called, for the report (``python benchmarks/<script> <args>``);
    ``args`` replaces the call's own arguments."""
    return shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *(sys.argv[1:] if args is None else args)])


def measured(row: dict) -> str:
    """Where and when a table row was measured: date, CPU and load average before -> after (rows of
    one table may come from different calls)."""
    m = row.get("machine", {})
    load = f", load {row['load_before'][0]:.2f} -> {row['load_after'][0]:.2f}" if row.get("load_before") else ""
    return f"{m.get('date', '?')}, {m.get('cpu', '?')}{load}"


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def reference_vae_run(run_dir, data_dir, scratch) -> str:
    """``run_dir`` if given, else a 1-layer VAE trained for 1 epoch on binarized MNIST under ``scratch``."""
    if run_dir:
        return str(run_dir)
    from pyro_vae.training import TrainConfig, train

    run_dir = Path(scratch) / "vae_1epoch"
    if not (run_dir / "checkpoint_best.pt").exists():
        train(TrainConfig(dataset="binarized-mnist", data_dir=data_dir, epochs=1, progress=False), run_dir)
    return str(run_dir)
