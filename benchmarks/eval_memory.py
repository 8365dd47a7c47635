"""Benchmark: peak memory of the IW evaluation, each arm in its own process, against the
hand-written PyTorch code of the same estimate.

``eval_speed.py`` times every arm in one process, so its peak RSS is the process's over all arms
together, and glibc's heap grows with what the earlier arms freed (its dynamic mmap threshold:
once a block-sized tensor has been freed, blocks of that size come from a heap that fragments).
Here each arm is a fresh ``python`` process evaluating the same ``--n`` test images at ``--k``,
started in rounds of palindromic order:

* ``load only``: imports, the model and the images, no evaluation (the floor of every arm),
* ``pure_torch``: :func:`eval_speed.pure_torch_iw` (torch's softplus), the reference,
* ``pure_torch + our softplus``: the same with the library's vectorized CPU softplus,
* ``pyro_vae``: :func:`pyro_vae.evaluation.evaluate_model` (``capture="auto"``, no diagnostics),
* ``pyro-vae evaluate``: the command a user runs (on a copy of the run; it also writes its
  per-datapoint CSV, and computes the diagnostics), on the first n test images where the others
  take a random n; it sets glibc's malloc for block-sized tensors (:mod:`pyro_vae.allocator`),
* ``pyro-vae evaluate with PYRO_VAE_MALLOC=system``: the same with glibc's defaults,
* ``pyro-vae evaluate with MALLOC_MMAP_THRESHOLD_=1048576``: the same with glibc's mmap threshold
  fixed at 1 MiB (every block-sized tensor mapped and unmapped), the other way to keep glibc's
  heap from growing.

Peak RSS is the child's ``ru_maxrss`` (its VmHWM: interpreter, torch, data and evaluation); wall
seconds are the whole process's, start-up and loading included. The load average is recorded
before and after each round.

    python benchmarks/eval_memory.py --run-dir RUN --n 2000 --k 5000 --rounds 2

Writes ``benchmarks/results/eval_memory_n{n}_k{k}.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, command_line, machine, markdown_table, write_results  # noqa: E402

IN_PROCESS = ["load only", "pure_torch", "pure_torch + our softplus", "pyro_vae"]
CLI = "pyro-vae evaluate"
CLI_SYSTEM = "pyro-vae evaluate with PYRO_VAE_MALLOC=system"
CLI_MMAP = "pyro-vae evaluate with MALLOC_MMAP_THRESHOLD_=1048576"
ARMS = IN_PROCESS + [CLI, CLI_SYSTEM, CLI_MMAP]
TARGET_MB = 4096  # the library's peak at the setting (n=10000, K=5000)


def child(arm: str, run_dir: str, data_dir: str, n: int, k: int) -> None:
    """Runs one in-process arm (``load only`` evaluates nothing) and prints its evaluation seconds as JSON."""
    from eval_speed import BLOCK, load, pure_torch_iw

    model, x = load(run_dir, data_dir, n)
    t0 = time.perf_counter()
    if arm == "pure_torch":
        pure_torch_iw(model, x, k)
    elif arm == "pure_torch + our softplus":
        from pyro_vae.distributions.softplus import softplus
        pure_torch_iw(model, x, k, softplus=softplus)
    elif arm == "pyro_vae":
        from pyro_vae.evaluation import evaluate_model
        evaluate_model(model, x, k=k, max_elements=BLOCK, progress=False, seed=0, diagnostics=False)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def run_arm(arm: str, args, scratch: Path) -> dict:
    """One fresh process of ``arm``: its peak RSS (MB), wall seconds and evaluation seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "PYRO_VAE_MALLOC"}
    if arm in IN_PROCESS:
        cmd = [sys.executable, __file__, "--child", arm, "--run-dir", args.run_dir, "--data-dir", args.data_dir,
               "--n", str(args.n), "--k", str(args.k)]
    else:
        run_copy = scratch / "run"
        cmd = [sys.executable, "-m", "pyro_vae", "evaluate", str(run_copy), "--k", str(args.k), "--n", str(args.n),
               "--checkpoint", "best", "--data-dir", args.data_dir, "--no-progress", "--overwrite"]
        if arm == CLI_MMAP:
            env["MALLOC_MMAP_THRESHOLD_"] = "1048576"
        elif arm == CLI_SYSTEM:
            env["PYRO_VAE_MALLOC"] = "system"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"eval_memory.py: the arm {arm!r} exited with {proc.returncode}: {' '.join(cmd)}")
    seconds = json.loads(out.strip().splitlines()[-1])["seconds"] if arm in IN_PROCESS else None
    return {"peak_rss_mb": usage.ru_maxrss / 1024.0, "wall_s": wall, "eval_s": seconds}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, help="a trained VAE run on binarized-mnist")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--n", type=int, default=2000, help="test images")
    p.add_argument("--k", type=int, default=5000, help="importance samples per image")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated, from: " + ", ".join(ARMS))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child, args.run_dir, args.data_dir, args.n, args.k)
    arms = args.arms.split(",")
    if not {"load only", "pure_torch", "pyro_vae"} <= set(arms) or not set(arms) <= set(ARMS):
        sys.exit(f"eval_memory.py: --arms {args.arms!r}: give load only, pure_torch and pyro_vae, and only arms of "
                 f"{ARMS}")

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copytree(args.run_dir, scratch / "run")  # the CLI writes its results beside the run
        load_before = os.getloadavg()
        samples = {arm: [] for arm in arms}
        loads = []
        for r in range(args.rounds):
            before = os.getloadavg()
            for arm in (arms if r % 2 == 0 else arms[::-1]):
                samples[arm].append(run_arm(arm, args, scratch))
                print(f"round {r + 1}/{args.rounds} {arm}: {samples[arm][-1]}", flush=True)
            loads.append({"round": r, "load_before": list(before), "load_after": list(os.getloadavg())})
    med = lambda arm, key: statistics.median(s[key] for s in samples[arm])  # noqa: E731
    pure_mb, pure_wall = med("pure_torch", "peak_rss_mb"), med("pure_torch", "wall_s")
    floor = med("load only", "peak_rss_mb")
    rows = []
    for arm in arms:
        rss = [s["peak_rss_mb"] for s in samples[arm]]
        rows.append({"arm": arm, "peak_rss_mb": med(arm, "peak_rss_mb"), "peak_rss_range": f"{min(rss):.0f} - {max(rss):.0f}",
                     "above_floor_mb": med(arm, "peak_rss_mb") - floor,
                     "peak_vs_pure_torch": med(arm, "peak_rss_mb") / pure_mb, "wall_s": med(arm, "wall_s"),
                     "wall_vs_pure_torch": med(arm, "wall_s") / pure_wall,
                     "eval_s": med(arm, "eval_s") if arm in IN_PROCESS else None, "samples": samples[arm]})
    table = markdown_table(rows, [("arm", "arm (own process)"), ("peak_rss_mb", "peak RSS MB (median)"),
                                  ("peak_rss_range", "range over rounds"), ("above_floor_mb", "MB above load only"),
                                  ("peak_vs_pure_torch", "peak / pure_torch"),
                                  ("wall_s", "process wall s"), ("wall_vs_pure_torch", "wall / pure_torch"),
                                  ("eval_s", "evaluation s")])
    library = next(r for r in rows if r["arm"] == "pyro_vae")
    payload = {"benchmark": "eval_memory", "command": command_line(), "n": args.n, "k": args.k,
               "rounds": args.rounds, "run_dir": args.run_dir, "machine": machine(), "rows": rows, "loads": loads,
               "load_before": list(load_before), "load_after": list(os.getloadavg()),
               "targets": {"peak_rss_mb": f"<= {TARGET_MB} (pyro_vae)"},
               "notes": f"{args.rounds} rounds in palindromic order, medians over rounds; load average "
                        f"{loads[0]['load_before'][0]:.2f} at the first round, {loads[-1]['load_after'][0]:.2f} after "
                        f"the last; pyro_vae's peak {library['peak_rss_mb']:.0f} MB against the target of "
                        f"{TARGET_MB} MB: {'met' if library['peak_rss_mb'] <= TARGET_MB else 'NOT met'}",
               "table": table}
    path = write_results(f"eval_memory_n{args.n}_k{args.k}", payload)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
