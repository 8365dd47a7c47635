"""Training runs: configuration, run directories with atomic checkpoints, the SVI trainer."""

from .config import TrainConfig
from .run_dir import RunDir, load_trained_model
from .trainer import Trainer, train, resume_config

__all__ = ["RunDir", "TrainConfig", "Trainer", "load_trained_model", "resume_config", "train"]
