"""The training configuration: every choice that determines a run, saved as ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional


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
    progress: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
