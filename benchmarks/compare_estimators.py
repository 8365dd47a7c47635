"""The committed estimator comparisons, made with ``pyro-vae compare`` (a thin wrapper).

Runs ``pyro-vae compare ARGS --out SCRATCH/NAME`` twice on the same folder (the second run skips
the finished training runs and measures again), so the time-per-step column of two invocations
can be set side by side; copies the report into ``benchmarks/results/NAME/`` and its JSON (with
both timings) to ``benchmarks/results/NAME.json`` for ``report.py``.

    python benchmarks/compare_estimators.py --name compare_mnist5k -- \\
        --model vae --dataset mnist5k --losses elbo,iwae:5,dreg:5,stl --seeds 0,1 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, markdown_table  # noqa: E402

REPORT = ("compare.json", "compare.csv", "compare.md", "bound_vs_epoch.png", "bound_vs_seconds.png", "snr_vs_k.png",
          "time_per_step.png")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="results name, e.g. compare_mnist5k")
    p.add_argument("--scratch", default="runs/benchmark_compare", help="where the training runs go (not committed)")
    p.add_argument("compare_args", nargs=argparse.REMAINDER, help="-- then the arguments of pyro-vae compare")
    args = p.parse_args()
    rest = [a for a in args.compare_args if a != "--"]
    from pyro_vae.cli import main as cli

    out = Path(args.scratch) / args.name
    payloads = []
    for _ in range(2):
        code = cli(["compare", *rest, "--out", str(out)])
        if code != 0:
            raise SystemExit(code)
        payloads.append(json.loads((out / "compare.json").read_text()))
    target = RESULTS / args.name
    target.mkdir(parents=True, exist_ok=True)
    for name in REPORT:
        shutil.copy(out / name, target / name)
    first, second = payloads
    rows = [{"estimator": a["estimator"], "ms_1": a["ms_per_step"], "ratio_1": a["time_vs_elbo"],
             "ms_2": b["ms_per_step"], "ratio_2": b["time_vs_elbo"],
             "ratio_change": b["time_vs_elbo"] / a["time_vs_elbo"] - 1}
            for a, b in zip(first["summary"], second["summary"])]
    repeat = markdown_table(rows, [("estimator", "estimator"), ("ms_1", "ms/step (1st)"), ("ratio_1", "/ elbo (1st)"),
                                   ("ms_2", "ms/step (2nd)"), ("ratio_2", "/ elbo (2nd)"),
                                   ("ratio_change", "ratio change")])
    result = {**first, "command": "pyro-vae compare " + " ".join(rest), "timing_repeat": rows,
              "notes": f"loads {first['load_before'][0]:.2f} -> {first['load_after'][0]:.2f} (1st), "
                       f"{second['load_before'][0]:.2f} -> {second['load_after'][0]:.2f} (2nd); report and plots in "
                       f"benchmarks/results/{args.name}/. Time per step of two invocations:\n\n{repeat}"}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    print(repeat)


if __name__ == "__main__":
    main()
