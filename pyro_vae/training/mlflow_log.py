"""``--logger mlflow``: a run's parameters, metrics and pictures in MLflow (the extra
``pip install 'pyro-vae[mlflow]'``, which installs ``mlflow-skinny``).

Where: ``$MLFLOW_TRACKING_URI`` when set (a server, a database, a folder); otherwise MLflow's
local file store ``./mlruns``. MLflow 3 keeps that store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE=true``; when we choose the store we set that for this process, and a
reader of ``./mlruns`` sets it too (``mlflow ui`` and a database store need the full ``mlflow``
package). The experiment is ``$MLFLOW_EXPERIMENT_NAME`` or ``pyro-vae``.

What: the config as parameters (those a resume may change, such as ``epochs``, as tags, which may
change); each epoch the scalars of TensorBoard under the same names (:data:`SCALARS`), and for
image data the ``samples`` and ``reconstructions`` grids as images with the epoch as their
step; with ``--log-every N`` ``train/objective_step``; at the end the run's pictures under
``pictures/``. The MLflow run is tagged with the run directory (``pyro_vae.run_dir``), and a
resumed run continues the same MLflow run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..options import RESUMABLE
from .logging import SCALARS, image_grid, reconstruction_images, require_tracker, sample_images

DEFAULT_URI = "./mlruns"
DEFAULT_EXPERIMENT = "pyro-vae"
RUN_DIR_TAG = "pyro_vae.run_dir"


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, or the local file store (allowed for this process)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(DEFAULT_URI).resolve().as_uri()


def find_run(client, experiment_id: str, run_path: Path):
    """The MLflow run tagged with ``run_path``, or None."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_DIR_TAG}` = '{run_path}'", max_results=1)
    return runs[0] if runs else None


class MLflowLog:
    """One pyro-vae run as one MLflow run (see the module docstring)."""

    def __init__(self, run_path, config):
        require_tracker("mlflow")
        from mlflow.tracking import MlflowClient

        self.run_path = Path(run_path).resolve()
        self.client = MlflowClient(tracking_uri=tracking_uri())
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        settings = {key: json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                    for key, value in config.to_dict().items()}
        run = find_run(self.client, experiment_id, self.run_path)
        if run is None:
            run = self.client.create_run(experiment_id, run_name=self.run_path.name,
                                         tags={RUN_DIR_TAG: str(self.run_path)})
            for key, value in settings.items():
                if key not in RESUMABLE:
                    self.client.log_param(run.info.run_id, key, value)
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
        for key in RESUMABLE:
            if key in settings:
                self.client.set_tag(run.info.run_id, key, settings[key])
        self.run_id = run.info.run_id

    def epoch(self, row: dict, model, data, seed: int) -> None:
        from mlflow.entities import Metric

        step, now = int(row["epoch"]), int(time.time() * 1000)
        metrics = [Metric(tag, float(row[key]), now, step) for key, tag in SCALARS.items() if key in row]
        self.client.log_batch(self.run_id, metrics=metrics)
        if data.image_shape:
            for key, images in (("samples", sample_images(model, data, seed)),
                                ("reconstructions", reconstruction_images(model, data))):
                grid = image_grid(images, data, nrow=8)
                self.client.log_image(self.run_id, (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8"),
                                      key=key, step=step)

    def step(self, step: int, objective: float) -> None:
        self.client.log_metric(self.run_id, "train/objective_step", objective, step=step)

    def pictures(self, paths) -> None:
        """The run's pictures (``training_curve.png``, ``samples.png``, ...) under ``pictures/``."""
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path="pictures")

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
