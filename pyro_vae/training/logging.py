"""Watching a run: one summary line per epoch, and a tracker (``--logger tensorboard|mlflow``).

* :func:`epoch_line` is what the trainer logs after each epoch on the ``pyro_vae`` logger
  (Python's :mod:`logging`; the CLI prints it on stderr)::

      epoch 3/10  train objective (elbo) -98.12  valid ELBO -99.01  valid IW(5) -97.50  12.3 s

  A beta-weighted or annealed loss is labelled as the training objective: only the valid
  ELBO is the ELBO.
* :class:`~pyro_vae.training.tensorboard_log.TensorBoardLog` writes into ``RUN_DIR/tb/`` with
  ``torch.utils.tensorboard`` (the optional extra ``pip install 'pyro-vae[tensorboard]'``): scalars ``train/objective``,
  ``train/grad_norm``, ``train/lr``, ``train/seconds_per_epoch``, ``valid/elbo``,
  ``valid/iw_bound`` each epoch, and for image data the grids ``samples`` and
  ``reconstructions`` (data above reconstruction).
* :class:`pyro_vae.training.mlflow_log.MLflowLog` (``--logger mlflow``, the extra
  ``pip install 'pyro-vae[mlflow]'``) logs the same scalars under the same names, the same grids
  as image artifacts, the config as parameters and the run's pictures at the end.
* :mod:`pyro_vae.training.trackers` picks the tracker ``--logger`` names.
"""

from __future__ import annotations

import logging
from typing import Optional

import torch

from ..errors import OptionError

LOG = logging.getLogger("pyro_vae")

#: metrics.jsonl key -> TensorBoard tag.
SCALARS = {
    "train_objective": "train/objective",
    "grad_norm": "train/grad_norm",
    "lr": "train/lr",
    "kl_weight": "train/kl_weight",
    "train_time_s": "train/seconds_per_epoch",
    "valid_elbo": "valid/elbo",
    "valid_log_px_iw": "valid/iw_bound",
}
TB_FOLDER = "tb"


def epoch_line(row: dict, epochs: int, loss: str, valid_k: int) -> str:
    """The one-line summary of a metrics row."""
    annealed = f", KL weight {row['kl_weight']:.2f}" if row.get("kl_weight", 1.0) < 1.0 else ""
    text = (f"epoch {row['epoch']}/{epochs}  train objective ({loss}{annealed}) {row['train_objective']:.2f}  "
            f"valid ELBO {row['valid_elbo']:.2f}")
    if "valid_log_px_iw" in row:
        text += f"  valid IW({valid_k}) {row['valid_log_px_iw']:.2f}"
    if row.get("skipped_steps"):
        text += f"  skipped steps {row['skipped_steps']}"
    return text + f"  {row['train_time_s']:.1f} s"


#: ``--logger`` name -> (the package it imports, the pyro-vae extra that installs it).
TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}


def require_tracker(name: Optional[str]) -> None:
    """Fail in one line, before a run starts, when the extra of ``--logger NAME`` is missing."""
    import importlib.util

    if name is None:
        return
    package, extra = TRACKER_PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise OptionError(f"--logger {name} needs the {package} package: pip install 'pyro-vae[{extra}]'")


@torch.no_grad()
def sample_images(model, data, seed: int, n: int = 64) -> torch.Tensor:
    state = torch.random.get_rng_state()  # pictures draw without moving the training's stream
    torch.manual_seed(seed)
    try:
        return model.sample(n)
    finally:
        torch.random.set_rng_state(state)


@torch.no_grad()
def reconstruction_images(model, data, n: int = 8) -> torch.Tensor:
    x, y = data.split("valid")
    x = x[:n].to(model.device)
    y = y[:n].to(model.device) if (y is not None and model.uses_labels) else None
    return torch.cat([x, model.reconstruct(x, y)])


def image_grid(images: torch.Tensor, data, nrow: int = 8) -> torch.Tensor:
    from torchvision.utils import make_grid

    shape = tuple(data.image_shape) if len(data.image_shape) == 3 else (1, *data.image_shape)
    return make_grid(images.detach().cpu().clamp(0, 1).reshape(len(images), *shape), nrow=nrow, pad_value=0.5)
