"""``--logger tensorboard``: scalars and image grids of each epoch into ``RUN_DIR/tb`` (see
:mod:`pyro_vae.training.logging` for what is logged)."""

from __future__ import annotations

from pathlib import Path

from .logging import SCALARS, TB_FOLDER, image_grid, reconstruction_images, require_tracker, sample_images


class TensorBoardLog:
    """Scalars and image grids of each epoch into ``RUN_DIR/tb`` (see the module docstring)."""

    def __init__(self, run_path):
        require_tracker("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(run_path) / TB_FOLDER
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def epoch(self, row: dict, model, data, seed: int) -> None:
        step = int(row["epoch"])
        for key, tag in SCALARS.items():
            if key in row:
                self.writer.add_scalar(tag, float(row[key]), step)
        if data.image_shape:
            self.writer.add_image("samples", image_grid(sample_images(model, data, seed), data), step)
            self.writer.add_image("reconstructions", image_grid(reconstruction_images(model, data), data, nrow=8), step)
        self.writer.flush()

    def step(self, step: int, objective: float) -> None:
        """The training objective (per datapoint) of one step, at ``--log-every``."""
        self.writer.add_scalar("train/objective_step", objective, step)

    def close(self) -> None:
        self.writer.close()
