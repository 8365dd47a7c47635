"""Tables of results (Markdown, CSV) and the machine they were measured on: shared by the
commands that write reports (``compare``, ``evaluate`` over runs and K) and by benchmarks/."""

from __future__ import annotations

import csv
import io
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from .files import atomic_write_bytes


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """``columns`` = [(key, header)]; floats get 4 significant digits, a missing value is blank."""
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def write_csv(path, rows: list[dict], columns: list[tuple[str, str]]) -> Path:
    """``rows`` as CSV with the keys as header (full precision), atomically."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([k for k, _ in columns])
    for r in rows:
        writer.writerow(["" if r.get(k) is None else r.get(k) for k, _ in columns])
    return atomic_write_bytes(path, lambda f: f.write(text.getvalue().encode()))


def machine() -> dict:
    """CPU, cores, threads, GPU, versions and the date (UTC) of this measurement."""
    import pyro
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(), "torch": torch.__version__, "pyro": pyro.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
