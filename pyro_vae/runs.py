"""A trained run directory as a Python object: ``load_run(path)``.

    run = pyro_vae.load_run("runs/demo")            # best checkpoint, on the CPU
    run.model.encode(x)                             # {latent: (means, scales)}
    run.data.test, run.config.seed, run.metrics[-1]["valid_elbo"]

The run's data is found again from what the run recorded: a registered dataset by name, a
user's file by its path, checked unchanged by content hash (:mod:`pyro_vae.data.source`);
``dataset=PATH`` points to data that moved. Writing, locking and recovery of run directories
stay in :mod:`pyro_vae.training.run_dir`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Optional

from .errors import DataError


def load_config_data(config, dataset: Optional[str] = None, data_dir: Optional[str] = None, run_path=None):
    """The :class:`~pyro_vae.data.Dataset` of a :class:`~pyro_vae.training.TrainConfig`.

    A run on a user's file (``config.data_source`` recorded) reads it from its recorded place,
    or from ``dataset`` when it moved, and refuses it when its content differs from the record.
    A run on a dataset registered by the user's own code keeps a copy in the run folder
    (``data.npz``, recorded with ``in_run``, its path relative to ``run_path``).
    """
    from .data import load_dataset
    from .data.source import check_present, check_unchanged

    options = {"kind": config.data_kind, "split": config.split, "label_column": config.label_column,
               "image_size": config.image_size, "standardize": config.standardize}
    record = config.data_source
    if record is None:
        if dataset is not None and dataset != config.dataset:
            raise DataError(f"--dataset {dataset}: the run was trained on {config.dataset!r}, not on a data "
                            f"file; drop --dataset")
        return load_dataset(config.dataset, data_dir or config.data_dir, **options)
    if record.get("in_run"):  # a copy of data the user's code registered: its arrays as they were
        record = {**record, "path": str(Path(run_path or ".") / record["path"])}
        options = {"kind": record.get("kind")}
    where = check_present(record, dataset)
    data = load_dataset(where, **options)
    check_unchanged(record, data.source, pointed=dataset is not None)
    return data


class Run:
    """A trained run: ``.model`` (eval mode, on ``device``), ``.config`` (a TrainConfig),
    ``.spec`` (model.json), ``.metrics`` (one dict per epoch), ``.data`` (read on first use, as
    the model's likelihood needs it), ``.path``."""

    def __init__(self, path, checkpoint: str = "best", device: str = "cpu", dataset: Optional[str] = None,
                 data_dir: Optional[str] = None):
        from .training.run_dir import RunDir, load_trained_model

        self.path = Path(path)
        self.run_dir = RunDir(self.path)
        self.config = self.run_dir.train_config()
        self.spec = self.run_dir.spec()
        self.checkpoint = checkpoint
        self.model = load_trained_model(self.path, checkpoint, device)
        self._dataset, self._data_dir = dataset, data_dir

    @property
    def metrics(self) -> list:
        return self.run_dir.metrics()

    @cached_property
    def data(self):
        data = load_config_data(self.config, self._dataset, self._data_dir, self.path)
        return data.for_likelihood(self.model.likelihood)

    def __repr__(self) -> str:
        epochs = len(self.metrics)
        return (f"Run({str(self.path)!r}: {self.config.model} on {self.config.dataset}, {epochs} epochs, "
                f"checkpoint {self.checkpoint!r})")


def load_run(path, checkpoint: str = "best", device: str = "cpu", dataset: Optional[str] = None,
             data_dir: Optional[str] = None) -> Run:
    """The run in ``path`` with the weights of ``checkpoint`` (``best`` or ``last``) on ``device``;
    ``dataset``: the new place of the run's data file if it moved."""
    from .options import check_choice

    check_choice("checkpoint", checkpoint, ("best", "last"))
    return Run(path, checkpoint, device, dataset, data_dir)
