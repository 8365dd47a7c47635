"""Training with SVI: any ``pyro.infer.ELBO`` as the loss, a fused PyTorch Adam as the optimizer.

Each step calls ``loss.loss_and_grads(model, guide, *batch)`` (Pyro's SVI contract: it returns
the loss and leaves gradients in ``.grad``) and steps a single ``torch.optim.Adam`` over all
parameters of the model module, instead of ``pyro.optim``'s one Adam per parameter tensor.

Reproducibility: the epoch's shuffling, dynamic binarization and Pyro's sampling are seeded
from ``(seed, epoch)``, so a run resumed from the checkpoint of epoch ``e`` draws exactly what
the uninterrupted run drew from epoch ``e + 1`` on.

Data parallelism (a torchrun or ``--devices N`` job, see :mod:`pyro_vae.distributed`): every
rank shuffles alike and takes its part of each global batch, draws its own noise (seeded from
seed, epoch and rank), and the summed gradients make one identical step on every rank. Only
rank 0 writes the run directory and logs; the checkpoint is the same as one process's (the
parameters and the optimizer are the same on every rank), so a run resumes at any number of
processes: at the same number it continues draw for draw, at another the batches are re-sharded
and the noise is that of the new ranks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pyro
import torch

from .. import distributed
from ..errors import OptionError, RunDirError, TrainingDiverged
from ..evaluation import evaluate_model
from ..infer.losses import make_loss
from ..options import RESUMABLE, check_minutes, flag, resolve_device, resume_conflicts
from ..registry import build_model, model_from_spec
from ..data.registry import registered_by_user
from ..runs import load_config_data
from .capture import CapturedStep
from .config import TrainConfig
from .kl_warmup import ScaleLatents, kl_weight
from .logging import LOG, epoch_line, require_tracker
from .trackers import attach_pictures, make_epoch_logs
from .run_dir import RunDir
from .schedule import learning_rate, warmup_factor


#: The monitored validation bounds, as the early-stopping line names them.
_MONITORED = {"valid_elbo": "the valid ELBO", "valid_log_px_iw": "the valid IW bound"}


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """One Adam over all parameters, multi-tensor (``foreach``) also on CPU."""
    return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)


def svi_step(loss: pyro.infer.ELBO, model, optimizer: torch.optim.Optimizer, batch: tuple,
             grad_norms: Optional[list] = None, kl_factor: float = 1.0) -> float:
    """One training step: ``loss.loss_and_grads`` (Pyro's SVI contract) then the optimizer.

    Returns the loss; when it is not finite the gradients are dropped and no step is taken.
    With ``grad_norms`` the Euclidean norm of all gradients (a 0-d tensor) is appended to it,
    before the step. In a multi-process job ``batch`` is this rank's part (possibly empty) and
    the loss and gradients are summed over the ranks first (:func:`distributed.reduce_step`):
    the returned loss is the global batch's and every rank takes the same step. ``kl_factor``
    < 1 scales the latent terms (KL warm-up, :mod:`.kl_warmup`).
    """
    with ScaleLatents(kl_factor) if kl_factor != 1.0 else contextlib.nullcontext():
        value = loss.loss_and_grads(model.model, model.guide, *batch) if len(batch[0]) else 0.0
    if distributed.current().active:
        value = distributed.reduce_step(list(model.parameters()), value)
    if math.isfinite(value):
        if grad_norms is not None:
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if grads:  # kept as a tensor: no device sync per step
                grad_norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return value


def epoch_seed(seed: int, epoch: int) -> int:
    """The epoch's shuffling seed (the same on every rank); see :func:`distributed.stream_seed`."""
    return distributed.stream_seed(seed, epoch, 0)


@dataclass
class TrainResult:
    model: torch.nn.Module
    run_dir: RunDir
    metrics: list
    data: object  # the Dataset as the model's likelihood needs it
    pictures: list = field(default_factory=list)  # paths of the pictures drawn (train(pictures=True))
    trained_epochs: int = 0  # epochs trained by this call (0: the run already had config.epochs)


class Trainer:
    """Trains ``config.model`` on ``config.dataset`` into ``run_dir`` (see :class:`RunDir`).

    Use :func:`train`, which prepares and locks the run directory around it. With
    ``resume=True`` and no checkpoint yet (a run killed in its first epoch), training starts
    from the beginning with the saved configuration, drawing what the first attempt drew.
    """

    def __init__(self, config: TrainConfig, run_dir, resume: bool = False):
        self.config = config
        self.run = RunDir(run_dir)
        self.ranks = distributed.current()
        distributed.check_batch(config.batch_size, self.ranks.world_size)
        self.device = distributed.rank_device(resolve_device(config.device))
        record = config.data_source
        moved = record is not None and not record.get("in_run") and config.dataset != record["path"]
        dataset = load_config_data(config, config.dataset if moved else None, run_path=self.run.path)
        if dataset.source is not None and (record is None or moved):
            config.data_source = dataset.source  # recorded in config.json: evaluate finds the same data
        self._copy_data = (dataset if (config.data_source is None and registered_by_user(config.dataset)
                                      and self.ranks.is_main) else None)
        pyro.clear_param_store()
        pyro.set_rng_seed(config.seed)  # the network's initial weights
        if resume:
            self.model = model_from_spec(self.run.spec(), self.run.path)
        else:
            self.model = build_model(config.model, dataset.info(), **config.model_options)
        self.data = dataset.for_likelihood(self.model.likelihood)
        self.notices = _data_notices(dataset, self.data, self.model) if self.ranks.is_main else []
        self.model.to(self.device)
        for split in ("train", "valid", "test"):
            x, _ = self.data.split(split)
            if not self.data.dynamic_binarization or split != "train":
                self.model.check_data(x, f"{dataset.name}/{split}")
        self.labelled_idx, self.unlabelled_idx = self._choose_labelled()
        if config.loss is None:
            config.loss = self.model.default_loss
        self.loss = make_loss(config.loss, config.num_particles, **config.loss_options)
        self.step_loss = CapturedStep(self.loss, self.model, config.capture)  # captured once, replayed
        learning_rate(config.lr_schedule, config.lr, 0, config.epochs)  # an unknown schedule fails before the run
        self.optimizer = make_optimizer(self.model, config.lr)
        self.start_epoch = 0
        # the bound that picks checkpoint_best.pt and early stopping: the IW bound when validated with K > 1
        self.monitored = "valid_log_px_iw" if config.valid_k > 1 else "valid_elbo"
        self.best_valid, self.best_epoch = -math.inf, 0
        self.bounds: list = []  # the monitored valid bound of each epoch so far (the plateau schedule)
        self.skipped_total = 0
        if resume and self.run.has_checkpoint("last"):
            state = self.run.load_checkpoint("last", map_location=self.device)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.start_epoch = int(state["epoch"])
            self.best_valid = float(state["best_valid_elbo"])
            self.best_epoch = int(state.get("best_epoch", 0))
            self.skipped_total = int(state.get("skipped_steps", 0))
            if self.ranks.is_main:
                self.run.truncate_metrics(self.start_epoch)
        elif resume and self.ranks.is_main:  # killed before its first checkpoint: start over, same seed, same draws
            self.run.truncate_metrics(0)
        elif self.ranks.is_main:
            self.run.create(config.to_dict(), self.model.spec)
        distributed.broadcast_parameters(self.model)  # identical already (same seed); made certain, as DDP does
        if self._copy_data is not None:  # data only the user's code can make: kept in the run
            config.data_source = self.run.keep_data_copy(self._copy_data)
            self.run.update_config(config.to_dict())

    # ---- one epoch --------------------------------------------------------------------------
    def _batches(self, epoch: int):
        """The epoch's batches as ``(global batch size, this rank's part)``: rows shuffled by
        ``(seed, epoch)``, read with :meth:`Dataset.train_rows` (a memory-mapped split a batch at
        a time; dynamically binarized data drawn afresh from a second generator)."""
        labels = self.data.train_labels
        gen = torch.Generator().manual_seed(epoch_seed(self.config.seed, epoch))
        draws = torch.Generator().manual_seed(distributed.stream_seed(self.config.seed, epoch, 2))
        rows = lambda idx: self.data.train_rows(idx, draws).to(self.device)  # noqa: E731
        if self.labelled_idx is not None:
            yield from self._semi_supervised_batches(rows, labels, gen)
            return
        order = torch.randperm(len(self.data.train), generator=gen)
        for start in range(0, len(order), self.config.batch_size):
            idx = distributed.shard(order[start:start + self.config.batch_size])
            y = labels[idx].to(self.device) if labels is not None else None
            yield min(self.config.batch_size, len(order) - start), self.model.data_args(rows(idx), y)

    def _semi_supervised_batches(self, rows, labels, gen):
        """Each unlabelled batch (model called with ``y=None``) is followed by a batch of the
        labelled subset (cycled, reshuffled each pass), as in Kingma et al. (2014)."""
        bs = self.config.batch_size
        unlabelled = self.unlabelled_idx[torch.randperm(len(self.unlabelled_idx), generator=gen)]
        labelled = self.labelled_idx[torch.randperm(len(self.labelled_idx), generator=gen)]
        at = 0
        for start in range(0, len(unlabelled), bs):
            part = unlabelled[start:start + bs]
            yield len(part), (rows(distributed.shard(part)),)
            take = labelled[at:at + min(bs, len(labelled))]
            at += len(take)
            if at >= len(labelled):
                at = 0
                labelled = self.labelled_idx[torch.randperm(len(self.labelled_idx), generator=gen)]
            mine = distributed.shard(take)
            yield len(take), (rows(mine), labels[mine].to(self.device))

    def _choose_labelled(self):
        """For models with ``labelled_examples``: a class-balanced labelled subset (fixed by the seed)."""
        count = int(getattr(self.model, "labelled_examples", 0) or 0)
        labels = self.data.train_labels
        if count <= 0:
            return None, None
        if labels is None:
            raise RunDirError(f"model {self.config.model!r} is semi-supervised but dataset "
                              f"{self.config.dataset!r} has no labels: use mnist5k, digits, mnist or fashion-mnist")
        gen = torch.Generator().manual_seed(epoch_seed(self.config.seed, 2**31))  # not an epoch
        classes = labels.unique()
        per_class = max(1, count // len(classes))
        chosen = [torch.nonzero(labels == c).flatten()[torch.randperm(int((labels == c).sum()), generator=gen)[:per_class]]
                  for c in classes]
        labelled = torch.cat(chosen).sort().values
        mask = torch.ones(len(labels), dtype=torch.bool)
        mask[labelled] = False
        return labelled, torch.nonzero(mask).flatten()

    def train_epoch(self, epoch: int) -> dict:
        from tqdm.auto import tqdm

        cfg = self.config
        pyro.set_rng_seed(distributed.stream_seed(cfg.seed, epoch, 1))
        rate = learning_rate(cfg.lr_schedule, cfg.lr, epoch, cfg.epochs, self.bounds)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.model.train()
        n_batches = len(self.data.train) if self.unlabelled_idx is None else 2 * len(self.unlabelled_idx)
        total, count, skipped, steps = 0.0, 0, 0, math.ceil(n_batches / cfg.batch_size)
        norms: list = []
        bar = tqdm(self._batches(epoch), total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not cfg.progress or not self.ranks.is_main, leave=False)
        validate = pyro.poutine.util.is_validation_enabled()
        beta = 1.0
        for step, (size, batch) in enumerate(bar, 1):
            beta = kl_weight(epoch * steps + step - 1, cfg.kl_warmup * steps)
            if epoch * steps + step <= cfg.lr_warmup:  # --lr-warmup: the rate ramps up over the first steps
                for group in self.optimizer.param_groups:
                    group["lr"] = rate * warmup_factor(epoch * steps + step - 1, cfg.lr_warmup)
            # while the KL weight changes every step, Pyro's eager step (a captured graph holds it fixed)
            step_loss = self.step_loss if beta == 1.0 else self.loss
            # Pyro's argument and shape validation on the run's first step only: the data were
            # checked up front, and validating every step costs ~0.5 ms (see benchmarks/speed.py)
            with pyro.validation_enabled(validate and epoch == self.start_epoch and step == 1):
                loss = svi_step(step_loss, self.model, self.optimizer, batch, norms, kl_factor=beta)
            if not math.isfinite(loss):
                if cfg.on_nan != "skip":
                    raise TrainingDiverged(
                        f"the loss became {loss} at epoch {epoch + 1}, step {step}: lower --lr (now "
                        f"{cfg.lr}) or pass --on-nan skip; the last good checkpoint is in {self.run.path}")
                skipped += 1
                if skipped > cfg.max_skipped_fraction * steps:
                    raise TrainingDiverged(
                        f"{skipped} of {step} steps of epoch {epoch + 1} had a non-finite loss: "
                        f"lower --lr (now {cfg.lr}); the last good checkpoint is in {self.run.path}")
                continue
            total += loss
            count += size
            if cfg.log_every and (epoch * steps + step) % cfg.log_every == 0:
                for log in self.epoch_logs:
                    log.step(epoch * steps + step, -loss / max(size, 1))
            bar.set_postfix(loss=f"{total / max(count, 1):.2f}")
        bar.close()
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise TrainingDiverged(f"a parameter became NaN/inf in epoch {epoch + 1}: lower --lr (now "
                                   f"{cfg.lr}); the last good checkpoint is in {self.run.path}")
        # the negated training loss: the ELBO for --loss elbo, a weighted or tighter bound for others
        out = {"train_objective": -total / max(count, 1), "skipped_steps": skipped}
        if cfg.kl_warmup:
            out["kl_weight"] = beta  # at the epoch's last step; the objective is annealed while < 1
        return {**out, "lr": self.optimizer.param_groups[0]["lr"],
                "grad_norm": float(torch.stack(norms).mean()) if norms else float("nan")}

    def validate(self) -> dict:
        x, y = self.data.split("valid")
        self.model.eval()
        est = evaluate_model(self.model, x, y, k=self.config.valid_k, seed=self.config.seed,
                             diagnostics=False, progress=False)
        out = {"valid_elbo": float(est.elbo.mean())}
        if self.config.valid_k > 1:
            out["valid_log_px_iw"] = float(est.log_px_iw.mean())
        return out

    def _settle_loss(self) -> None:
        """Call the loss once on the first epoch's first batch, before any epoch seeds the RNG.

        A loss may set itself up on its first call in a way that draws random numbers: Pyro's
        ELBOs with vectorized particles or enumeration, and the importance-weighted family,
        guess ``max_plate_nesting`` by running guide and model once. A fresh run made that call
        in its first epoch and a resumed one in the epoch it resumed at, so from there on the two
        drew different noise. Made here, before :meth:`train_epoch` seeds the epoch, the set-up's
        draws are not part of any epoch's stream, and a resumed run continues draw for draw.
        """
        _, batch = next(iter(self._batches(self.start_epoch)))
        if len(batch[0]):
            with torch.no_grad(), pyro.validation_enabled(False):
                self.loss.loss(self.model.model, self.model.guide, *batch)

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self, max_seconds: Optional[float] = None) -> TrainResult:
        """Train up to ``config.epochs``; with ``max_seconds``, stop after the first epoch that
        ends past that much training time in this call (a time budget; resume continues)."""
        self.epoch_logs = make_epoch_logs(self.config, self.run.path) if self.ranks.is_main else []
        try:
            return self._fit(max_seconds)
        finally:
            for log in self.epoch_logs:
                log.close()

    def _fit(self, max_seconds: Optional[float]) -> TrainResult:
        t0 = time.perf_counter()
        history = [r for r in self.run.metrics() if r["epoch"] <= self.start_epoch]
        elapsed_before = (history or [{"elapsed_s": 0.0}])[-1]["elapsed_s"]
        self.bounds = [r.get(self.monitored, r["valid_elbo"]) for r in history]  # the plateau schedule reads them
        stopped = history[-1].get("early_stop") if history else None
        if stopped and self.ranks.is_main:
            LOG.info(f"the run stopped early at epoch {self.start_epoch}: {stopped}; nothing to train")
        if self.start_epoch < self.config.epochs and not stopped:
            self._settle_loss()
        for epoch in range(self.start_epoch, self.config.epochs if not stopped else self.start_epoch):
            t_epoch = time.perf_counter()
            row = {"epoch": epoch + 1, **self.train_epoch(epoch)}
            row["train_time_s"] = time.perf_counter() - t_epoch
            row.update(self.validate())
            row["elapsed_s"] = elapsed_before + time.perf_counter() - t0
            if self.ranks.active:
                row["processes"] = self.ranks.world_size
            self.skipped_total += row["skipped_steps"]
            bound = row[self.monitored]
            self.bounds.append(bound)
            improved = bound > self.best_valid
            if improved:
                self.best_valid, self.best_epoch = bound, epoch + 1
            state = {"epoch": epoch + 1, "model": self.model.state_dict(),
                     "optimizer": self.optimizer.state_dict(),
                     "best_valid_elbo": self.best_valid,  # (the monitored bound: the IW bound with valid_k > 1)
                     "best_epoch": self.best_epoch, "skipped_steps": self.skipped_total}
            patience = self.config.early_stopping
            if patience and epoch + 1 - self.best_epoch >= patience and epoch + 1 < self.config.epochs:
                row["early_stop"] = (f"{_MONITORED[self.monitored]} has not improved for {patience} epochs "
                                     f"(best {self.best_valid:.2f} at epoch {self.best_epoch}: checkpoint_best.pt)")
            if self.ranks.is_main:  # the run directory is rank 0's alone
                if improved:
                    self.run.save_checkpoint("best", state)
                self.run.append_metrics(row)  # metrics first: resume trims lines past the checkpoint
                self.run.save_checkpoint("last", state)
                for notice in self.notices:  # (after a first epoch: a run that fails says only why)
                    LOG.info(notice)
                self.notices = []
                LOG.info(epoch_line(row, self.config.epochs, self.config.loss, self.config.valid_k))
                for log in self.epoch_logs:
                    log.epoch(row, self.model, self.data, self.config.seed)
            if "early_stop" in row:
                if self.ranks.is_main:
                    LOG.info(f"early stopping at epoch {epoch + 1}: {row['early_stop']}")
                break
            out_of_time = max_seconds is not None and time.perf_counter() - t0 >= max_seconds
            if distributed.agree_any(out_of_time):  # all ranks stop together: none waits alone in a collective
                break
        distributed.barrier()  # rank 0's files are written before any rank reads them
        return TrainResult(self.model, self.run, self.run.metrics(), self.data,
                           trained_epochs=len(self.run.metrics()) - self.start_epoch)


#: Columns whose standard deviations differ by more than this factor get the --standardize hint.
SCALE_SPREAD_HINT = 100.0


def _data_notices(dataset, data, model) -> list[str]:
    """What training does to the data that the user may not expect, one line each, printed with
    the first epoch line: grey images binarized for a Bernoulli likelihood; real-valued columns
    whose scales are orders of magnitude apart (one network then fits the widest columns and the
    narrow ones barely count: a valid ELBO of -779,528 nats on such a file), where
    ``--standardize`` puts every column on unit scale."""
    from ..data.arrays import column_moments

    notices = []
    name = model.spec["model"] if getattr(model, "spec", None) else type(model).__name__
    if data.dynamic_binarization and not dataset.dynamic_binarization:
        notices.append(f"{dataset.name} holds grey values and {name} a {model.likelihood} likelihood: the images "
                       f"are binarized (each pixel 1 with probability its value: train afresh each epoch, valid "
                       f"and test once, seeded), and every bound is of the binarized data; for the grey values "
                       f"themselves use a model with a continuous likelihood (vae_cb, vae_gaussian)")
    if dataset.kind == "real" and not dataset.standardized:
        _, sd = column_moments(dataset.train)
        spread = float(sd.max() / sd.min())
        if spread > SCALE_SPREAD_HINT:
            notices.append(f"the columns of {dataset.name} have standard deviations from {float(sd.min()):.3g} to "
                           f"{float(sd.max()):.3g} ({spread:.3g}x apart): the widest columns dominate the "
                           f"likelihood; train with --standardize to put every column on unit scale (evaluate "
                           f"reports log p of the original values too)")
    return notices


def train(config: TrainConfig, run_dir, resume: bool = False, max_seconds: Optional[float] = None,
          pictures: bool = True) -> TrainResult:
    """Train (or with ``resume=True`` continue) a run; see :class:`Trainer` and :meth:`Trainer.fit`.

    A new run needs ``run_dir`` absent or empty; the run is locked while it trains (a second
    process is refused) and repaired first (:meth:`RunDir.recover`). The pictures of the CLI
    (:func:`pyro_vae.io.pictures.save_model_pictures`) are drawn at the end, still under the lock,
    and also when training stops early (an interrupt, a divergence) after at least one
    completed epoch: then from the last checkpoint, before the error goes on.
    """
    check_minutes(None if max_seconds is None else max_seconds / 60)
    require_tracker(config.logger)
    run = RunDir(run_dir)
    main = distributed.current().is_main  # in a multi-process job only rank 0 guards, locks and writes
    if resume:
        check_resume(run.train_config(), config, run.path)
    elif main:
        run.prepare_new()
    with run.lock() if main else contextlib.nullcontext():
        if resume and main:
            run.recover()
        trainer = Trainer(config, run_dir, resume=resume)
        if resume and main and trainer.start_epoch < config.epochs:
            run.update_config(config.to_dict())  # what may change on resume (epochs, the data's place, ...)
            # (a resume with nothing to train leaves config.json as it was)
        try:
            result = trainer.fit(max_seconds)
        except (KeyboardInterrupt, TrainingDiverged):
            if pictures and main and run.has_checkpoint("last"):  # pictures of the last completed epoch
                _pictures_from_checkpoint(trainer, run, config)
            raise
        if pictures and main:
            from ..io.pictures import save_model_pictures

            result.pictures = save_model_pictures(result.model, result.data, run.path, result.metrics, config.seed,
                                                  title=_title(config, result.metrics))
            attach_pictures(config, run.path, result.pictures)
    return result


def _title(config: TrainConfig, metrics: list) -> str:
    dataset = Path(config.dataset).name if config.data_source else config.dataset
    epoch = metrics[-1]["epoch"] if metrics else 0
    return f"{config.model.rsplit('/', 1)[-1]} on {dataset}, epoch {epoch}"


def _pictures_from_checkpoint(trainer: Trainer, run: RunDir, config: TrainConfig) -> None:
    from ..io.pictures import save_model_pictures

    state = run.load_checkpoint("last", map_location=trainer.device)
    trainer.model.load_state_dict(state["model"])
    metrics = run.metrics()
    save_model_pictures(trainer.model.eval(), trainer.data, run.path, metrics, config.seed,
                        title=_title(config, metrics))


def check_resume(saved: TrainConfig, config: TrainConfig, where) -> None:
    """Refuse, listing them, the fields of ``config`` that differ from the saved run's and may
    not change on resume (:data:`pyro_vae.options.RESUMABLE` may)."""
    given = config.to_dict()
    if saved.data_source is not None:  # the data file may have moved: the trainer checks it is the same
        given.pop("dataset")
    conflicts = resume_conflicts(saved.to_dict(), given)
    if conflicts:
        may = ", ".join(flag(f) for f in RESUMABLE) + ", --minutes"
        raise OptionError(f"--resume {where} conflicts with the saved run: {'; '.join(conflicts)}; drop them "
                          f"(only {may} may change)")


def resume_config(run_dir, epochs: Optional[int] = None) -> TrainConfig:
    """The saved config of ``run_dir``, optionally with more ``epochs`` (checked like any config)."""
    cfg = RunDir(run_dir).train_config()
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    return cfg
