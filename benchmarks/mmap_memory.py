"""Peak memory of training on a ~2 GB ``.npy``: memory-mapped (``--dataset x.npy``) vs read into memory.

One epoch of the library's trainer (``pyro_vae.training.train``) on the same float32 file,
``[N, 784]`` rows of grey values, a small VAE, split 0.98/0.01/0.01:

* ``mapped``: ``--dataset big.npy``; the training split stays a memory map read a batch at a time;
* ``in_memory``: the same array read with ``np.load`` (no map) and given to
  ``Dataset.from_arrays``, which copies it into a float32 tensor (what every other format does).

Each variant runs in its own process (peak RSS is per process), in interleaved rounds. Every
50 ms a thread samples the process's ``RssAnon`` (memory that must stay in RAM) and
``RssFile`` (pages of mapped files, which the OS drops and re-reads under pressure): a file
larger than RAM can train if ``RssAnon`` stays small. Also reported: ``VmHWM`` (peak RSS, both
kinds together) and the epoch's wall time. Load average before and after.

    python benchmarks/mmap_memory.py --gb 2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, machine, markdown_table, write_results  # noqa: E402

D = 784


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Peak RssAnon and RssFile of this process, sampled every ``every`` seconds."""

    def __init__(self, every=0.05):
        super().__init__(daemon=True)
        self.every, self.stop, self.anon, self.file = every, threading.Event(), 0, 0

    def run(self):
        while not self.stop.is_set():
            self.anon = max(self.anon, status_kb("RssAnon"))
            self.file = max(self.file, status_kb("RssFile"))
            time.sleep(self.every)


def worker(variant: str, path: str, out: str) -> dict:
    import numpy as np

    from pyro_vae.data import Dataset
    from pyro_vae.training import TrainConfig, train

    sampler = Sampler()
    sampler.start()
    base = {"model": "vae", "epochs": 1, "batch_size": 1000, "progress": False,
            "model_options": {"z_dim": 8, "hidden": [64]}}
    t0 = time.perf_counter()
    if variant == "mapped":
        cfg = TrainConfig(dataset=path, split=[0.98, 0.01, 0.01], **base)
        result = train(cfg, out, pictures=False)
    else:  # the same rows in memory: a registered in-memory dataset
        from pyro_vae.data.registry import register_dataset

        array = np.load(path)  # no mmap: the whole file in RAM

        @register_dataset("bench-in-memory", "the benchmark's array, in memory")
        def _load(data_dir, download):
            return Dataset.from_arrays(array, split=(0.98, 0.01, 0.01), name="bench-in-memory")

        result = train(TrainConfig(dataset="bench-in-memory", **base), out, pictures=False)
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    return {"variant": variant, "seconds": seconds, "peak_rss_mb": status_kb("VmHWM") / 1024,
            "peak_anon_mb": sampler.anon / 1024, "peak_file_mb": sampler.file / 1024,
            "valid_elbo": result.metrics[-1]["valid_elbo"]}


def make_file(path: Path, gb: float) -> int:
    """A float32 [N, 784] .npy of ~``gb`` GB, written block by block (grey strokes on black)."""
    import numpy as np

    n = int(gb * 1e9 / (4 * D))
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
    rng = np.random.default_rng(0)
    for start in range(0, n, 65536):
        rows = min(65536, n - start)
        array[start:start + rows] = rng.random((rows, D), dtype=np.float32) * (rng.random((rows, D)) < 0.2)
    array.flush()
    del array
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gb", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--scratch", default=None, help="folder for the file (default: a temporary folder)")
    p.add_argument("--worker", nargs=3, metavar=("VARIANT", "PATH", "OUT"))
    p.add_argument("--render", action="store_true", help="rewrite the table of results/mmap_memory.json")
    args = p.parse_args()
    if args.render:
        target = Path(__file__).parent / "results" / "mmap_memory.json"
        payload = json.loads(target.read_text())
        payload["table"], payload["notes"] = render(payload)
        target.write_text(json.dumps(payload, indent=2))
        return
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    import subprocess

    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="pyro_vae_mmap_"))
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "big.npy"
    rows = make_file(path, args.gb)
    load_before = os.getloadavg()
    runs = []
    for r in range(args.rounds):
        for variant in (("mapped", "in_memory") if r % 2 == 0 else ("in_memory", "mapped")):
            out = scratch / f"run_{variant}_{r}"
            proc = subprocess.run([sys.executable, __file__, "--worker", variant, str(path), str(out)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            runs.append({"round": r, **json.loads(proc.stdout.strip().splitlines()[-1])})
            print(runs[-1], flush=True)
    load_after = os.getloadavg()
    summary = []
    for variant in ("mapped", "in_memory"):
        mine = [x for x in runs if x["variant"] == variant]
        row = {"variant": variant}
        for key in ("peak_anon_mb", "peak_file_mb", "peak_rss_mb", "seconds"):
            values = sorted(x[key] for x in mine)
            row[key] = statistics.median(values)
            row[key + "_range"] = [values[0], values[-1]]
        summary.append(row)
    payload = {"command": command_line(), "machine": machine(), "file_gb": path.stat().st_size / 1e9,
               "rows": rows, "columns": D, "rounds": args.rounds, "load_before": load_before,
               "load_after": load_after, "summary": summary, "runs": runs}
    payload["table"], payload["notes"] = render(payload)
    write_results("mmap_memory", payload)
    path.unlink()
    print(payload["notes"] + "\n\n" + payload["table"])


def render(payload: dict) -> tuple[str, str]:
    """The Markdown table and the notes line of a results payload (also: ``--render``)."""
    table = markdown_table(payload["summary"], [
        ("variant", "data"), ("peak_anon_mb", "peak RssAnon (MB)"), ("peak_file_mb", "peak RssFile (MB)"),
        ("peak_rss_mb", "peak RSS (MB)"), ("seconds", "setup + 1 epoch (s)")])
    lb, la = payload["load_before"], payload["load_after"]
    notes = (f"one epoch on a {payload['file_gb']:.2f} GB float32 .npy ({payload['rows']} x {payload['columns']}); "
             f"medians of {payload.get('rounds', 2)} processes per variant; load average {lb[0]:.2f} before, "
             f"{la[0]:.2f} after")
    return table, notes


if __name__ == "__main__":
    main()
