"""Regenerate benchmarks/README.md from the JSON files in benchmarks/results/ (never by hand).

    python benchmarks/report.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402

SECTIONS = [
    ("reproduce_nll.json", "Reproducing the published log-likelihoods on this CPU (issue 34, in progress)",
     "python benchmarks/reproduce_nll.py --root /work/runs/published",
     "VAE 1L and IWAE 1L k=5 trained with Burda et al. (2015)'s schedule (3280 passes, lr 1e-3 * 10^(-i/7)) at "
     "batch 100 instead of 20 (the same schedule in 1/5 of the steps: 3.2x faster per pass on this CPU, measured), "
     "seed 0, by `benchmarks/reproduce_train.sh` in stages that outlive a session (`--minutes`, `--resume`), a "
     "snapshot after each stage; each snapshot evaluated with IW_5000 and the ELBO on the same 2000 random test "
     "images. The final rows (-IW_5000 on all 10k test images, AIS 16 chains x 1000 steps paired with IW on 500 "
     "images, the BDMC gap) are computed once the 3280-epoch snapshot exists. On a lent GPU, Burda's exact "
     "protocol: `DEVICE=cuda BATCH=20 bash benchmarks/reproduce_train.sh ROW ROOT DEADLINE`, then this script."),
    ("nll_table.json", "Test NLL on static binarized MNIST against the published numbers",
     "python benchmarks/nll_table.py",
     "Each row trains one model with one estimator (Burda et al.'s schedule, batch 20, cut to the budget below) "
     "and evaluates the last checkpoint on the 10k test images: test NLL = -IW_K in nats (lower is better), with "
     "the published number for the same architecture and estimator. The published numbers come from 3280 passes "
     "over the data; rows trained for a few minutes on a CPU are not expected to reach them, and the gap column "
     "says how far each is. `python benchmarks/nll_table.py --epochs 3280 --device cuda` runs the published setting."),
    ("linear_gaussian.json", "Bounds against the closed form (linear-Gaussian model)",
     "python benchmarks/linear_gaussian_table.py",
     "Exact log p(x) of probabilistic PCA next to the ELBO and the IW estimates for growing K; the gap to "
     "the exact value must be negative (a bound) up to Monte Carlo error and shrink to zero as K grows."),
    ("eval_speed_*.json", "Log-likelihood evaluation speed",
     "python benchmarks/eval_speed.py --run-dir RUN --n {n} --k {k}",
     "IW estimate of log p(x) for a trained 1-layer VAE (784-200-200-50) on static binarized MNIST test "
     "images, against a hand-written pure-PyTorch implementation of the same estimate for the same network "
     "(time / pure torch: lower is better; target <= 1.05 for the library with diagnostics off). Arms: the "
     "library as users get it (`capture=auto`: chunks captured once and replayed), the same eager "
     "(`capture=off`), the library with its diagnostics (k-hat, posterior means), and pythae's "
     "one-datapoint-at-a-time loop (timed on a few images, scaled); and `pure_torch + our softplus`, the "
     "hand-written code with the vectorized CPU softplus the library's Bernoulli uses, whose column gives the "
     "library's own overhead apart from that faster softplus. All arms run in one process in paired "
     "rounds, one segment of the images per round, in palindromic order; ratios are per round (median, "
     "quartiles) and totals are over all images. On a 2-core CPU the per-point loop is compute-bound (it "
     "re-encodes the image for every batch of 100 samples), so no vectorized implementation can be 20x faster "
     "there; that is a GPU target (not measured: no GPU was lent). The peak RSS in the notes is the process's "
     "over all arms together, which glibc inflates: once block-sized tensors have been freed, it raises its "
     "mmap threshold and serves them from a heap that fragments. Each arm's own peak is in the memory section "
     "below."),
    ("speed_*.json", "Training speed against pure PyTorch",
     "python benchmarks/speed.py",
     "Steps per second of the trainer's SVI step, eager (`--capture off`) and captured once then replayed (the "
     "default, `pyro_vae/training/capture.py`), against a hand-written PyTorch step of the same network, loss and "
     "optimizer, in one process, in rounds of palindromic order; each ratio = median over rounds of that step's "
     "rate over pure PyTorch's (higher is better; target for the captured step >= 0.95 at batch 100), with "
     "quartiles, the one-off capture cost and the load average. Pure PyTorch uses torch's `softplus`; the column "
     "`captured / pure with our softplus` is the ratio to the same hand-written step with the library's vectorized "
     "CPU softplus (used from 16384 logits: batch 100 and 500 here, not 20), the library's own overhead. The "
     "second table builds the `elbo` step up from "
     "pure PyTorch (with the library's softplus) one stage at a time, each stage timed against it in the same "
     "way: the `handlers` "
     "stage runs the model/guide pair under Pyro's `poutine.trace`/`replay` and sums the log-densities by hand, "
     "the cost of running a Pyro model/guide pair at every step; the `captured` stage runs none of it. On a "
     "lent GPU, `benchmarks/device_check.sh` runs the CUDA tests and this table on CUDA (`speed_cuda.json`), "
     "where the captured step replays one CUDA graph and two arms join: the captured graph op by op, and the "
     "hand-written step under a CUDA graph."),
    ("amortization_gap.json", "Amortization gap",
     "python benchmarks/amortization_gap.py",
     "Cremer, Li & Duvenaud (2018): per test image, a Gaussian q* fitted to that image alone (decoder frozen, "
     "started at the encoder's output). Approximation gap = log p(x) - ELBO[q*] (the Gaussian family's limit), "
     "amortization gap = ELBO[q*] - ELBO[encoder] (the cost of one shared encoder); nats per image. Plot: "
     "amortization_gap.png."),
    ("compare_*.json", "ELBO estimators compared (`pyro-vae compare`)",
     "python benchmarks/compare_estimators.py --name NAME -- ARGS",
     "Made with `pyro-vae compare` (see README): one run per estimator and seed from the same initial weights "
     "and data order; test ELBO and IW bound per run, mean ± standard error over seeds; gradient SNR (mean over "
     "coordinates of |E g| / sd g, Rainforth et al. 2018) and variance at one shared parameter point (a model "
     "pre-trained with elbo), so they compare estimators, not training histories; time per step at that point "
     "in paired interleaved rounds against the elbo step (median ratio, quartiles). The command ran twice on "
     "the same folder; the notes set the time columns of both invocations side by side. Plots in "
     "results/NAME/."),
    ("evaluate_over_k_*/evaluate.json", "IW estimates over runs and K (`pyro-vae evaluate RUN ... --k ...`)",
     "pyro-vae evaluate RUN RUN RUN --k 1,10,100,1000,5000 --out DIR",
     "Three runs of the estimator comparison (elbo, iwae:5, dreg:5; seed 0, last checkpoint) on the 500 "
     "mnist5k test digits. All K come from one set of 5000 draws per datapoint, a smaller K from the first K "
     "(nested prefixes); ± is the standard error over datapoints. k-hat is absent below K = 21 (PSIS needs a "
     "tail of 5 weights). Plot: iw_vs_k.png beside the JSON."),
    ("mmap_memory.json", "Training on a file larger than memory: memory-mapped .npy",
     "python benchmarks/mmap_memory.py --gb 2",
     "Peak memory of one training epoch on the same ~2 GB float32 .npy: `--dataset big.npy` (the training split "
     "stays a memory map, read a batch at a time) against the same array read into memory and given to "
     "`Dataset.from_arrays`. RssAnon is memory that must stay in RAM; RssFile are pages of the mapped file, "
     "which the OS drops and re-reads under memory pressure, so a file larger than RAM trains when RssAnon "
     "stays small. Each variant in its own process, interleaved rounds."),
    ("ais.json", "AIS and BDMC on a trained 1-layer VAE (`pyro-vae evaluate --method ais|bdmc`)",
     "python benchmarks/ais.py --run-dir RUN",
     "IW_5000 on 1000 random test images; AIS (16 chains + 4 tuning chains, 10 leapfrog steps, sigmoid schedule, "
     "from the guide) on the first N of them, paired with IW on the same images; BDMC (forward and reverse AIS) on "
     "images simulated from the model; forward and reverse AIS against the exact log p(x) of a linear-Gaussian "
     "model; time per AIS call against a hand-written PyTorch AIS of the same network and algorithm (with torch's "
     "softplus, and with the library's) in rounds of palindromic order at two block sizes and two step counts. The "
     "parts ran in separate calls on the same results (--skip reuses a part): IW and AIS rows on 2026-12-03 (load "
     "4.2 -> 2.0 while other work ran), BDMC on 100 simulated images on 2026-12-03 (its wall times inflated by a "
     "test run alongside), the timing rows later, each on the otherwise quiet machine (the load of about 2 is the "
     "benchmark's own two threads) and on the run and machine its row names: time per call does not depend on the "
     "weights, and the run the estimates came from was not kept. Plot: results/ais/bdmc_gap.png."),
    ("eval_memory_*.json", "Peak memory of the IW evaluation, each arm in its own process",
     "python benchmarks/eval_memory.py --run-dir RUN --n {n} --k {k}",
     "The evaluation of the speed table above, each arm a fresh process on the same images (`eval_speed.py` "
     "runs all arms in one process, so its peak RSS is theirs together): the hand-written PyTorch IW (the "
     "reference), the library's `evaluate_model` (glibc's default malloc), and `pyro-vae evaluate` as a user "
     "runs it (diagnostics and files included; the command sets glibc's malloc for block-sized tensors, "
     "`pyro_vae/allocator.py`), also with glibc's defaults (`PYRO_VAE_MALLOC=system`) and with glibc's mmap "
     "threshold fixed at 1 MiB (`MALLOC_MMAP_THRESHOLD_`). `load only` is the floor: interpreter, torch, model "
     "and data. Peak RSS is the child's `ru_maxrss`; wall seconds are the whole process's, start-up included. "
     "Target: the library's peak <= 4096 MB."),
    ("distributed_*.json", "Data parallelism on this CPU (`--devices N`, torch.distributed with gloo)",
     "python benchmarks/distributed.py",
     "The library's training epoch (zoo `vae`, mnist5k, the captured step) and IW evaluation (K = 100, 500 test "
     "images) timed inside the job (start-up excluded, barriers around each measurement) in three configurations "
     "of the same 2 cores: 1 process x 2 threads, 2 processes x 1 thread (gloo), 1 process x 1 thread. Rounds in "
     "palindromic order; medians [quartiles] over rounds. `2x1 / 1x2`: processes against threads on the same "
     "cores; scaling efficiency: 2 processes against twice one single-threaded process."),
    ("kl_warmup_*.json", "KL warm-up against posterior collapse, over seeds",
     "python benchmarks/kl_warmup.py",
     "Each model trained with and without `--kl-warmup` over the same seeds on a folder of coloured blobs where "
     "VAEs collapse; test IW bound and active units per seed, and the paired difference over seeds."),
    ("rgb_conv.json", "A convolutional VAE on colour images of any shape",
     "python benchmarks/rgb_conv.py",
     "`conv_vae_cb` (Conv: stride-2 convolutions down, transposed ones up, C x H x W read from the data) on a "
     "folder of 3 x 24 x 32 colour images; its reconstructions are the picture."),
    ("zoo_table.json", "The zoo, briefly trained",
     "python benchmarks/zoo_table.py",
     "Every zoo model trained with the same short budget; test ELBO and IW bound in nats per datapoint."),
]


def render() -> str:
    out = ["# Benchmarks", "",
           "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; every number below "
           "was measured by the script named in its section, on the machine and date given there.", ""]
    for pattern, title, command, what in SECTIONS:
        for path in sorted(p for p in RESULTS.glob(pattern) if not p.name.endswith(".partial.json")):
            data = json.loads(path.read_text())
            m = data.get("machine", {})
            if "notes" not in data and data.get("load_before"):
                data["notes"] = f"load average {data['load_before'][0]:.2f} before, {data['load_after'][0]:.2f} after"
            out += [f"## {title} (`{path.relative_to(RESULTS)}`)", "", what, ""]
            cmd = data.get("command") or command.format(**{k: data.get(k, "") for k in ("n", "k")})
            out += [f"Command: `{cmd}`", ""]
            if data.get("budget"):
                out += [f"Budget: {data['budget']}.", ""]
            if data.get("notes"):
                notes = data["notes"].rstrip()
                out += [f"Notes: {notes}" + ("" if notes.endswith(("|", ".")) else "."), ""]
            if m:
                out += [f"Machine: {m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')}, pyro {m.get('pyro')}, "
                        f"CUDA: {m.get('cuda') or 'none'}; date {m.get('date')}.", ""]
            else:
                out += ["Machine, date and load: per row, in the table.", ""]
            out += [data["table"], ""]
            if data.get("picture"):
                out += [f"![{title}]({data['picture']})", ""]
            if data.get("breakdown"):
                out += [f"Where the time goes — {' '.join(data['breakdown']['stages'].split())}", "", data["breakdown"]["table"], ""]
    return "\n".join(out)


if __name__ == "__main__":
    target = RESULTS.parent / "README.md"
    target.write_text(render())
    print(f"wrote {target}")
