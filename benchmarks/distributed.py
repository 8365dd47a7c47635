"""Data-parallel scaling on this machine: 1 process x 2 threads, 2 processes x 1 thread, 1 x 1.

    python benchmarks/distributed.py [--rounds 3] [--batch-sizes 100,500] [--k 100]

Each configuration is a job of ``torch.multiprocessing.spawn`` workers that join a gloo group
(2 processes) as ``pyro-vae train/evaluate --devices 2`` does, and time, inside the job (start-up
excluded, barriers around each measurement), the library's own work:

* training: :meth:`Trainer.train_epoch` of the zoo ``vae`` on mnist5k (4000 images), after one
  untimed epoch (the captured step is captured there), two timed epochs per batch size;
* evaluation: :func:`evaluate_model` (IW, K draws) on the 500 mnist5k test images.

Rounds run the configurations in palindromic order (A B C, then C B A, ...); per round the rates
are paired, and the table gives medians and quartiles over rounds: steps/s and images/s, and
the two ratios that matter: 2 x 1 against 1 x 2 (processes against threads on the same 2 cores)
and the scaling efficiency rate(2 x 1) / (2 rate(1 x 1)). The load average is recorded before
and after; rounds started above ``--max-load`` are dropped and counted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, machine, markdown_table, write_results  # noqa: E402

CONFIGS = {"1x2": (1, 2), "2x1": (2, 1), "1x1": (1, 1)}  # name: (processes, threads per process)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, world: int, threads: int, port: int, opts: dict, out: str) -> None:
    import torch.distributed as dist

    from pyro_vae.evaluation import evaluate_model
    from pyro_vae.training import TrainConfig
    from pyro_vae.training.trainer import Trainer

    torch.set_num_threads(threads)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)

    def sync():
        if world > 1:
            dist.barrier()

    result = {"train": {}, "evaluate": None}
    with tempfile.TemporaryDirectory() as tmp:
        for bs in opts["batch_sizes"]:
            (Path(tmp) / f"run{bs}").mkdir()  # (train() prepares the folder; the Trainer alone expects it)
            trainer = Trainer(TrainConfig(model="vae", dataset="mnist5k", batch_size=bs, progress=False, seed=0),
                              Path(tmp) / f"run{bs}")
            trainer.train_epoch(0)  # untimed: the captured step is captured here
            times = []
            for epoch in (1, 2):
                sync()
                t0 = time.perf_counter()
                trainer.train_epoch(epoch)
                sync()
                times.append(time.perf_counter() - t0)
            steps = -(-len(trainer.data.train) // bs)
            result["train"][str(bs)] = {"seconds_per_epoch": times, "steps": steps, "images": len(trainer.data.train)}
        x, y = trainer.data.split("test")
        trainer.model.eval()
        evaluate_model(trainer.model, x[:50], y, k=opts["k"], progress=False)  # warm-up
        sync()
        t0 = time.perf_counter()
        evaluate_model(trainer.model, x, y, k=opts["k"], progress=False)
        sync()
        result["evaluate"] = {"seconds": time.perf_counter() - t0, "images": len(x)}
    if world > 1:
        dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(result))


def run_config(name: str, opts: dict) -> dict:
    world, threads = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        torch.multiprocessing.spawn(worker, args=(world, threads, _free_port(), opts, str(out)), nprocs=world)
        return json.loads(out.read_text())


def rates(result: dict) -> dict:
    """workload -> (steps or blocks per second, images per second)."""
    out = {}
    for bs, r in result["train"].items():
        t = statistics.median(r["seconds_per_epoch"])
        out[f"train, batch {bs}"] = (r["steps"] / t, r["images"] / t)
    e = result["evaluate"]
    out["evaluate"] = (None, e["images"] / e["seconds"])
    return out


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-sizes", default="100,500")
    p.add_argument("--k", type=int, default=100, help="IW draws per image in the evaluation")
    p.add_argument("--max-load", type=float, default=1.0, help="drop rounds started above this 1-minute load")
    args = p.parse_args()
    opts = {"batch_sizes": [int(b) for b in args.batch_sizes.split(",")], "k": args.k}
    names = list(CONFIGS)
    load_before = list(os.getloadavg())
    per_round, loads, dropped = [], [], 0
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        load = os.getloadavg()[0]
        got = {n: rates(run_config(n, opts)) for n in order}
        print(f"round {r + 1}: load {load:.2f}: " + "; ".join(
            f"{n} {w}: {v[1]:.0f} img/s" for n in names for w, v in got[n].items()), file=sys.stderr)
        if load > args.max_load:
            dropped += 1
            continue
        loads.append(load)
        per_round.append(got)
    if not per_round:
        raise SystemExit(f"every round started above load {args.max_load}: rerun on a quieter machine")
    rows = []
    for workload in per_round[0]["1x2"]:
        row = {"workload": workload}
        for n in names:
            imgs = [g[n][workload][1] for g in per_round]
            q1, q3 = quartiles(imgs)
            row[f"{n} images/s"] = f"{statistics.median(imgs):.0f} [{q1:.0f}, {q3:.0f}]"
            if workload != "evaluate":
                row[f"{n} steps/s"] = f"{statistics.median([g[n][workload][0] for g in per_round]):.1f}"
        vs_threads = [g["2x1"][workload][1] / g["1x2"][workload][1] for g in per_round]
        efficiency = [g["2x1"][workload][1] / (2 * g["1x1"][workload][1]) for g in per_round]
        q1, q3 = quartiles(vs_threads)
        row["2x1 / 1x2"] = f"{statistics.median(vs_threads):.2f} [{q1:.2f}, {q3:.2f}]"
        q1, q3 = quartiles(efficiency)
        row["scaling efficiency 2x1 / (2 x 1x1)"] = f"{statistics.median(efficiency):.2f} [{q1:.2f}, {q3:.2f}]"
        rows.append(row)
    columns = ["workload"] + [f"{n} {u}" for n in names for u in ("steps/s", "images/s")] + [
        "2x1 / 1x2", "scaling efficiency 2x1 / (2 x 1x1)"]
    table = markdown_table(rows, [(c, c) for c in columns])
    payload = {"benchmark": "distributed", "machine": machine(), "command": command_line(), "options": opts,
               "rounds": per_round, "round_loads": loads, "dropped_rounds": dropped, "table": table,
               "load_before": load_before, "load_after": list(os.getloadavg())}
    path = write_results("distributed_cpu", payload)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
