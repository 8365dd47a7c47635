"""The training configuration: every choice that determines a run, saved as ``config.json``.

A :class:`TrainConfig` is checked when it is made (:func:`pyro_vae.options.check_train_config`),
whether from flags, from Python or from a saved ``config.json`` (:meth:`TrainConfig.from_dict`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from ..errors import OptionError
from ..options import check_train_config

#: Keys a saved config.json must have (later fields default, so older runs still load).
REQUIRED_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "seed")


@dataclass
class TrainConfig:
    model: str = "vae"  # zoo name, or path/to/file.py[:name]
    dataset: str = "mnist5k"
    data_dir: Optional[str] = None
    model_options: dict = field(default_factory=dict)  # hyper-parameters passed to the model
    loss: Optional[str] = None  # None: the model's default_loss ("elbo" unless it says otherwise)
    num_particles: int = 1
    loss_options: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    lr_schedule: str = "constant"  # see pyro_vae.training.schedule ("burda": Burda et al.'s 3**i passes)
    seed: int = 0
    device: str = "cpu"
    on_nan: str = "stop"  # "stop": raise with the step; "skip": skip the step and count it
    max_skipped_fraction: float = 0.1  # with on_nan="skip": give up above this share of an epoch
    valid_k: int = 1  # particles per datapoint for the per-epoch validation ELBO / IW bound
    kl_warmup: int = 0  # epochs over which the latent terms' weight rises from 0 to 1 (training/kl_warmup.py)
    early_stopping: int = 0  # patience in epochs on the valid bound (0: never stop early)
    lr_warmup: int = 0  # steps over which the learning rate rises linearly to the schedule's (0: none)
    log_every: int = 0  # also log the training objective to the trackers every N steps (0: once per epoch)
    progress: bool = True
    capture: str = "auto"  # "auto" | "on" | "off": the step captured once and replayed (training/capture.py)
    logger: Optional[str] = None  # "tensorboard": scalars and pictures into RUN/tb/ each epoch
    # a user's data file (--dataset PATH): how to read it
    data_kind: Optional[str] = None  # binary, grey or real (None: detected from the values)
    split: Optional[list] = None  # train, valid, test fractions when the file has no splits (0.8, 0.1, 0.1)
    label_column: Optional[str] = None  # CSV column holding the labels
    image_size: Optional[list] = None  # [H, W]: resize a folder's images
    standardize: Optional[bool] = None  # real columns -> (x - mean) / sd of the training split
    data_source: Optional[dict] = None  # written by the trainer: path, bytes, sha256, split, kind

    def __post_init__(self):
        check_train_config(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: Optional[str] = "the configuration", complete: bool = True) -> "TrainConfig":
        """A config from a dict: unknown keys are refused; with ``complete`` (a run's
        config.json) so are missing :data:`REQUIRED_KEYS`, else missing keys take defaults.
        A bad value's error names ``source`` first (``None``: command-line flags, named alone)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise OptionError(f"{source} has unknown keys {', '.join(unknown)}: the keys are {', '.join(sorted(known))}")
        missing = [k for k in REQUIRED_KEYS if k not in d] if complete else []
        if missing:
            raise OptionError(f"{source} lacks the keys {', '.join(missing)}: it is damaged or not a pyro-vae config")
        try:
            return cls(**d)
        except OptionError as e:
            if source is None:
                raise
            raise OptionError(f"{source}: {e}") from None
