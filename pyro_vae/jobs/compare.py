r"""The estimator comparison job (``pyro-vae compare``): same model, same data, several objectives.

For each estimator and seed a run is trained into ``OUT/<label>_seed<S>`` (a re-run skips
finished runs and resumes unfinished ones); every run of a seed starts from the same weights and
sees the data in the same order (both follow the seed, not the estimator). Then:

* **test numbers** of each run: ELBO, IW bound with ``eval_k`` draws, their gap, active units;
* **gradient statistics** at one shared parameter point, a model pre-trained with ``elbo`` for
  ``ref_epochs`` (``OUT/reference``), on one fixed batch: SNR and variance of the model's and the
  guide's gradients (:mod:`pyro_vae.infer.gradient_stats`), one draw seed per training seed — so
  the numbers compare estimators, not training histories;
* **time per step** at that same point: ``loss_and_grads`` of the estimator and of the reference
  ``elbo`` in paired, interleaved rounds (ABBA order), the median of the per-round ratios with
  quartiles, and the median milliseconds. Wall-clock of training is not used (it mixes in
  validation, I/O and a busy machine).

Estimators are written ``NAME[:K[xM]][@BETA]``: ``iwae:5`` is K = 5 particles, ``miwae:5x8`` is
M = 8 groups of K = 5, ``ciwae:5@0.5`` has beta = 0.5. Results: ``compare.json``,
``compare.csv``, ``compare.md`` and the plots ``bound_vs_epoch.png``,
``bound_vs_seconds.png``, ``snr_vs_k.png``, ``time_per_step.png`` in ``OUT``.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import OptionError

_SPEC = re.compile(r"^(?P<name>[a-z_]+)(?::(?P<k>\d+)(?:x(?P<m>\d+))?)?(?:@(?P<beta>[0-9.eE+-]+))?$")


@dataclass(frozen=True)
class EstimatorSpec:
    """One ``NAME[:K[xM]][@BETA]`` entry of ``--losses``."""

    name: str
    k: int = 1
    outer: Optional[int] = None
    beta: Optional[float] = None

    @property
    def label(self) -> str:
        text = self.name if self.k == 1 and self.outer is None else f"{self.name}:{self.k}"
        text += f"x{self.outer}" if self.outer is not None else ""
        return text + (f"@{self.beta:g}" if self.beta is not None else "")

    @property
    def folder(self) -> str:
        return self.label.replace(":", "-k").replace("@", "-b")

    @property
    def loss_options(self) -> dict:
        opts = {}
        if self.outer is not None:
            opts["num_outer"] = self.outer
        if self.beta is not None:
            opts["beta"] = self.beta
        return opts

    def make(self):
        from ..infer.losses import make_loss

        return make_loss(self.name, self.k, **self.loss_options)


def parse_losses(text: str) -> list[EstimatorSpec]:
    """``"elbo,iwae:5,miwae:5x8,ciwae:5@0.5"`` -> specs, each checked (known loss, K >= 1, ...)."""
    from ..infer.losses import loss_entries

    known = {e.name: {key for key, _ in e.options()} for e in loss_entries()}  # each loss's --loss-opt keys
    takes = {option: sorted(n for n, keys in known.items() if option in keys) for option in ("num_outer", "beta")}
    specs = []
    for item in [s.strip() for s in str(text).split(",") if s.strip()]:
        m = _SPEC.match(item)
        if not m:
            raise OptionError(f"--losses entry {item!r} is not NAME[:K[xM]][@BETA] (e.g. iwae:5, miwae:5x8, "
                              f"ciwae:5@0.5)")
        name = m["name"]
        if name not in known:
            raise OptionError(f"--losses entry {item!r}: unknown loss {name!r}; choose from {', '.join(sorted(known))}")
        k = int(m["k"]) if m["k"] else 1
        if k < 1:
            raise OptionError(f"--losses entry {item!r}: K must be >= 1")
        outer = int(m["m"]) if m["m"] else None
        if outer is not None and (name not in takes["num_outer"] or outer < 1):
            raise OptionError(f"--losses entry {item!r}: xM (groups of K) applies to "
                              f"{' and '.join(takes['num_outer'])}, M >= 1")
        beta = float(m["beta"]) if m["beta"] else None
        if beta is not None and (name not in takes["beta"] or not 0 <= beta <= 1):
            raise OptionError(f"--losses entry {item!r}: @BETA applies to {' and '.join(takes['beta'])}, with "
                              f"0 <= beta <= 1")
        specs.append(EstimatorSpec(name, k, outer, beta))
    if not specs:
        raise OptionError("--losses needs at least one estimator, e.g. elbo,iwae:5")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise OptionError(f"--losses names an estimator twice: {', '.join(labels)}")
    return specs


def parse_seeds(text: str) -> list[int]:
    from ..options import check_seed

    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise OptionError(f"--seeds must be integers like 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise OptionError(f"--seeds must be distinct integers like 0,1,2, got {text!r}")
    return [check_seed("--seeds", s) for s in seeds]


@dataclass
class CompareOptions:
    """Everything ``pyro-vae compare`` takes, checked once."""

    model: str
    dataset: str
    losses: list
    out: str
    seeds: list = field(default_factory=lambda: [0])
    epochs: Optional[int] = None
    minutes: Optional[float] = None
    batch_size: int = 20  # Burda et al.'s batch: 5 epochs of mnist5k are 1000 steps
    lr: float = 1e-3
    eval_k: int = 1000
    eval_n: Optional[int] = None
    snr_draws: int = 100
    snr_batch: int = 64
    ref_epochs: int = 1
    timing_rounds: int = 20
    model_options: dict = field(default_factory=dict)
    data_dir: Optional[str] = None
    device: str = "cpu"

    def __post_init__(self):
        from ..options import check_float, check_int

        if self.epochs is None and self.minutes is None:
            self.epochs = 5
        if self.epochs is not None and self.minutes is not None:
            raise OptionError("compare takes --epochs N or --minutes M (a budget per run), not both")
        if self.epochs is not None:
            self.epochs = check_int("--epochs", self.epochs, 1)
        if self.minutes is not None:
            self.minutes = check_float("--minutes", self.minutes, 0.0, strict=True)
        for name in ("batch_size", "eval_k", "snr_draws", "snr_batch", "ref_epochs", "timing_rounds"):
            setattr(self, name, check_int("--" + name.replace("_", "-"), getattr(self, name), 1))
        if self.snr_draws < 2:
            raise OptionError(f"--snr-draws must be an integer >= 2 (a variance needs two draws), got {self.snr_draws}")
        if self.eval_n is not None:
            self.eval_n = check_int("--eval-n", self.eval_n, 1)
        self.lr = check_float("--lr", self.lr, 0.0, strict=True)

    def train_config(self, spec: Optional[EstimatorSpec], seed: int, epochs: int):
        from ..training import TrainConfig

        return TrainConfig(model=self.model, dataset=self.dataset, data_dir=self.data_dir,
                           model_options=dict(self.model_options), loss=spec.name if spec else "elbo",
                           num_particles=spec.k if spec else 1, loss_options=spec.loss_options if spec else {},
                           epochs=epochs, batch_size=self.batch_size, lr=self.lr, seed=seed, device=self.device,
                           progress=False)


# ---- training ------------------------------------------------------------------------------------
_MANY_EPOCHS = 1_000_000  # a --minutes run: the budget ends it, not the epoch count


def train_or_resume(config, run_dir: Path, minutes: Optional[float]) -> str:
    """Train ``run_dir``, resume it if unfinished, skip it if finished; returns what was done."""
    from ..training import RunDir, train

    run = RunDir(run_dir)
    budget = None if minutes is None else minutes * 60
    if run.exists():
        metrics = run.metrics()
        done = (metrics and metrics[-1]["epoch"] >= config.epochs) if budget is None else \
            (metrics and metrics[-1]["elapsed_s"] >= budget)
        if done:
            return "finished before"
        spent = metrics[-1]["elapsed_s"] if metrics else 0.0
        train(config, run_dir, resume=True, max_seconds=None if budget is None else max(budget - spent, 0.0),
              pictures=False)
        return "resumed"
    train(config, run_dir, max_seconds=budget, pictures=False)
    return "trained"


# ---- measurements at one shared point ------------------------------------------------------------
def fixed_batch(data, size: int, device):
    import torch

    idx = torch.arange(min(size, len(data.train)))
    x = data.train_rows(idx, torch.Generator().manual_seed(0)).to(device)
    y = data.train_labels[idx].to(device) if data.train_labels is not None else None
    return x, y


def time_steps(model, specs: list, batch: tuple, rounds: int, min_seconds: float = 0.1) -> dict:
    """Per estimator: median ms of ``loss_and_grads`` and the median (quartiles) of its ratio to
    the ``elbo`` step, timed in ``rounds`` paired rounds in ABBA order at fixed parameters.

    Each timed call repeats the step enough times to last about ``min_seconds`` (calibrated once
    per estimator), so that a round is not one scheduler tick of a busy machine.
    """
    import pyro

    reference = EstimatorSpec("elbo").make()
    losses = {s.label: s.make() for s in specs}

    def one(loss, repeats: int) -> float:
        t0 = time.perf_counter()
        for _ in range(repeats):
            loss.loss_and_grads(model.model, model.guide, *batch)
            for p in model.parameters():
                p.grad = None
        return (time.perf_counter() - t0) / repeats

    def calibrated(loss) -> int:
        one(loss, 2)  # warm-up: first-call costs are not steps
        return max(1, math.ceil(min_seconds / max(one(loss, 3), 1e-6)))

    pyro.set_rng_seed(0)
    ref_repeats = calibrated(reference)
    out = {}
    for label, loss in losses.items():
        repeats = calibrated(loss)
        ratios, ms = [], []
        for r in range(rounds):
            if r % 2 == 0:
                a, b = one(loss, repeats), one(reference, ref_repeats)
            else:
                b, a = one(reference, ref_repeats), one(loss, repeats)
            ratios.append(a / b)
            ms.append(1000 * a)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        out[label] = {"ms_per_step": statistics.median(ms), "time_vs_elbo": statistics.median(ratios),
                      "time_vs_elbo_q1": q[0], "time_vs_elbo_q3": q[2], "steps_per_timing": repeats}
    return out


# ---- the job ---------------------------------------------------------------------------------------
def run_comparison(opts: CompareOptions, log=print) -> dict:
    """Train, evaluate and measure every (estimator, seed) of ``opts``; write the table and plots."""
    from .compare_plots import save_comparison_plots

    out = _comparison_folder(opts.out)
    load_before = os.getloadavg()
    runs = [_train_and_evaluate(opts, spec, seed, out, log) for seed in opts.seeds for spec in opts.losses]
    ref_dir, timing = _measure_at_the_shared_point(opts, runs, out)
    load_after = os.getloadavg()
    payload = _write_tables(opts, runs, timing, ref_dir, out, load_before, load_after)
    payload["plots"] = [str(p) for p in save_comparison_plots(payload, out)]
    return payload


def _comparison_folder(out) -> Path:
    """``--out``, made; refused when it is a file or holds files that are not a comparison's."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} is a file, not a folder: choose a folder for the comparison")
    out.mkdir(parents=True, exist_ok=True)
    foreign = [p.name for p in out.iterdir() if not (p.is_dir() and (p / "config.json").exists())
               and p.name not in OUTPUTS and not p.name.startswith(".")]
    if foreign:
        raise OptionError(f"--out {out} holds files that are not a comparison's ({', '.join(sorted(foreign)[:3])}): "
                          f"choose a new or empty folder; nothing there is overwritten")
    return out


def _train_and_evaluate(opts: CompareOptions, spec: EstimatorSpec, seed: int, out: Path, log) -> dict:
    """One (estimator, seed): trained (or resumed, or found finished) and evaluated on the test rows."""
    from ..data.subset import choose_rows
    from ..evaluation import evaluate_model
    from ..runs import load_run

    run_dir = out / f"{spec.folder}_seed{seed}"
    epochs = opts.epochs if opts.epochs is not None else _MANY_EPOCHS
    what = train_or_resume(opts.train_config(spec, seed, epochs), run_dir, opts.minutes)
    log(f"{spec.label} seed {seed}: {what} ({run_dir})")
    run = load_run(run_dir, "last", opts.device)
    x, y = run.data.split("test")
    x, y = choose_rows(len(x), opts.eval_n).take(x, y if run.model.uses_labels else None)
    s = evaluate_model(run.model, x, y, k=opts.eval_k, seed=seed, progress=False).summary()
    metrics = run.metrics
    return {"estimator": spec.label, "seed": seed, "run": str(run_dir), "epochs": metrics[-1]["epoch"],
            "train_objective": metrics[-1]["train_objective"], "test_elbo": s["elbo"],
            "test_iw": s["log_px_iw"], "iw_minus_elbo": s["log_px_iw"] - s["elbo"],
            "active_units": s["active_units_total"],
            "curve": [{"epoch": m["epoch"], "elapsed_s": m["elapsed_s"], "valid_elbo": m["valid_elbo"]}
                      for m in metrics]}


def _measure_at_the_shared_point(opts: CompareOptions, runs: list, out: Path):
    """Gradient SNR and variance of each run's estimator (into its row) and time per step, all at
    one shared point: a model pre-trained with elbo (seed of the first run), one fixed batch."""
    import pyro

    from ..infer.gradient_stats import gradient_stats
    from ..runs import load_run

    ref_dir = out / "reference"
    train_or_resume(opts.train_config(None, opts.seeds[0], opts.ref_epochs), ref_dir, None)
    ref = load_run(ref_dir, "last", opts.device)
    batch = ref.model.data_args(*fixed_batch(ref.data, opts.snr_batch, ref.model.device))
    ref.model.train()
    for row in runs:
        spec = next(s for s in opts.losses if s.label == row["estimator"])
        pyro.clear_param_store()
        stats = gradient_stats(ref.model.model, ref.model.guide, spec.make(), batch, num_draws=opts.snr_draws,
                               seed=row["seed"])
        row.update(stats.as_dict())
    return ref_dir, time_steps(ref.model, opts.losses, batch, opts.timing_rounds)


def _write_tables(opts: CompareOptions, runs: list, timing: dict, ref_dir: Path, out: Path, load_before,
                  load_after) -> dict:
    """``compare.json`` / ``.csv`` / ``.md``; returns the JSON's payload."""
    from ..io.files import atomic_write_bytes, write_json
    from ..io.tables import machine, markdown_table, write_csv

    table_rows = summarize(runs, opts.losses, timing)
    columns = SUMMARY_COLUMNS(opts.eval_k)
    table = markdown_table(table_rows, columns)
    payload = {"command": "pyro-vae compare", "options": _json_options(opts), "machine": machine(),
               "load_before": list(load_before), "load_after": list(load_after),
               "reference_point": f"{ref_dir} ({opts.ref_epochs} epoch(s) of elbo, seed {opts.seeds[0]})",
               "summary": table_rows, "runs": runs, "timing": timing, "table": table}
    write_json(out / "compare.json", payload)
    write_csv(out / "compare.csv", table_rows, columns)
    header = (f"{opts.model} on {opts.dataset}; {len(opts.seeds)} seed(s); budget "
              f"{f'{opts.epochs} epochs' if opts.epochs else f'{opts.minutes} min'} per run; test IW with "
              f"K={opts.eval_k} on {_eval_rows(opts)}; ± is the standard error over the {len(opts.seeds)} seed(s) "
              f"(blank for one); SNR from {opts.snr_draws} draws at the shared point; time per step in "
              f"{opts.timing_rounds} paired rounds against elbo. Machine: {payload['machine']['cpu']}, "
              f"{payload['machine']['date']}; load {load_before[0]:.2f} -> {load_after[0]:.2f}.\n\n")
    atomic_write_bytes(out / "compare.md", lambda f: f.write((header + table + "\n").encode()))
    return payload


OUTPUTS = ("compare.json", "compare.csv", "compare.md", "bound_vs_epoch.png", "bound_vs_seconds.png",
           "snr_vs_k.png", "time_per_step.png", "reference")


def SUMMARY_COLUMNS(eval_k: int) -> list:  # noqa: N802  (a table layout, built per K)
    cols = [("estimator", "estimator"), ("seeds", "seeds")]
    for key, head in (("train_objective", "final train objective"), ("test_elbo", "test ELBO"),
                      ("test_iw", f"test IW (K={eval_k})"), ("iw_minus_elbo", "IW - ELBO"),
                      ("active_units", "active units"), ("snr_model", "SNR model"), ("snr_guide", "SNR guide"),
                      ("variance_model", "var model"), ("variance_guide", "var guide")):
        cols += [(key, head), (key + "_se", "±")]
    cols += [("ms_per_step", "ms/step"), ("time_vs_elbo", "time / elbo"), ("time_vs_elbo_iqr", "IQR")]
    return cols


def summarize(runs: list, specs: list, timing: dict) -> list:
    """One row per estimator: mean and standard error over seeds, and the timing."""
    rows = []
    for spec in specs:
        mine = [r for r in runs if r["estimator"] == spec.label]
        row = {"estimator": spec.label, "seeds": len(mine)}
        for key in ("train_objective", "test_elbo", "test_iw", "iw_minus_elbo", "active_units", "snr_model",
                    "snr_guide", "variance_model", "variance_guide"):
            values = [float(r[key]) for r in mine]
            row[key] = statistics.fmean(values)
            row[key + "_se"] = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        t = timing[spec.label]
        row.update(t)
        row["time_vs_elbo_iqr"] = f"{t['time_vs_elbo_q1']:.2f}-{t['time_vs_elbo_q3']:.2f}"
        rows.append(row)
    return rows


def _eval_rows(opts: CompareOptions) -> str:
    from ..data.subset import SUBSET_SEED

    return "all test datapoints" if opts.eval_n is None else \
        f"{opts.eval_n} random test datapoints (subset seed {SUBSET_SEED}, the same for every run)"


def _json_options(opts: CompareOptions) -> dict:
    d = dict(opts.__dict__)
    d["losses"] = [s.label for s in opts.losses]
    return d
