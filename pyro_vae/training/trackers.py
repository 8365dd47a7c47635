"""The tracker ``--logger`` names (:mod:`~pyro_vae.training.tensorboard_log`,
:mod:`~pyro_vae.training.mlflow_log`), made for a run and given its pictures at the end."""

from __future__ import annotations


def make_epoch_logs(config, run_path) -> list:
    """The trackers ``config.logger`` asks for (the epoch line is always logged)."""
    if config.logger == "tensorboard":
        from .tensorboard_log import TensorBoardLog

        return [TensorBoardLog(run_path)]
    if config.logger == "mlflow":
        from .mlflow_log import MLflowLog

        return [MLflowLog(run_path, config)]
    return []


def attach_pictures(config, run_path, paths) -> None:
    """Hand the run's finished pictures to a tracker that keeps files (MLflow's artifacts)."""
    if config.logger == "mlflow" and paths:
        from .mlflow_log import MLflowLog

        log = MLflowLog(run_path, config)
        try:
            log.pictures(paths)
        finally:
            log.close()
