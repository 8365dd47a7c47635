"""Datasets by name: a registry that loader functions add themselves to (the convention of
:mod:`pyro_vae.registries`; pyro-vae's own loaders live in :mod:`pyro_vae.data.named`).

A loader is ``fn(data_dir: Path, download: bool) -> Dataset``. Register one with::

    @register_dataset("my-data", "what it is")
    def load_my_data(data_dir, download): ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import DataError
from ..registries import Registry
from .dataset import Dataset

#: Environment variable naming the directory that holds downloaded / cached data.
DATA_DIR_ENV = "PYRO_VAE_DATA"


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    bundled: bool  # ships with a PyPI package: no download, no data dir
    loader: Callable[[Path, bool], Dataset]


DATASETS: Registry[DatasetEntry] = Registry("dataset", DataError, target=lambda e: e.loader,
                                         packages=["pyro_vae.data.named"],
                                         hint=", or give the path of a .npy/.npz/.pt/.csv file or a folder of images")


def register_dataset(name: str, description: str, bundled: bool = False):
    """Decorator adding a loader to the registry under ``name``."""

    def decorate(loader):
        DATASETS.add(name, DatasetEntry(name, description, bundled, loader))
        return loader

    return decorate


def dataset_names() -> list[str]:
    return DATASETS.names()


def dataset_entries() -> list[DatasetEntry]:
    return DATASETS.entries()


def refuse_file_options(name: str, given: list) -> None:
    """Refuse the data-file flags ``given`` (``--split``, ...) for the named dataset ``name``."""
    if given:
        raise DataError(f"{', '.join(given)} apply to your own data files; dataset {name!r} has fixed splits and "
                        f"kind: drop {', '.join(given)}")


def registered_by_user(name: str) -> bool:
    """Whether ``name`` is a dataset that a user's code registered (not one pyro-vae ships): such
    data exists only in that code's process, so a run keeps a copy of it."""
    entry = DATASETS.find(name)
    return entry is not None and not getattr(entry.loader, "__module__", "").startswith("pyro_vae.")


def default_data_dir(data_dir: Optional[os.PathLike] = None) -> Path:
    """``data_dir`` if given, else ``$PYRO_VAE_DATA``, else ``~/.cache/pyro-vae``."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "pyro-vae"


def load_dataset(name: str, data_dir: Optional[os.PathLike] = None, download: bool = True,
                 kind: Optional[str] = None, split=None, label_column=None, image_size=None,
                 standardize: Optional[bool] = None) -> Dataset:
    """The dataset registered as ``name`` (see ``pyro-vae datasets``), or the user's file or
    folder at the path ``name`` (:func:`pyro_vae.data.files.load_data_file`, which takes
    ``kind``, ``split``, ``label_column``, ``image_size`` and ``standardize``)."""
    from .files import load_data_file, looks_like_path

    file_options = {"--data-kind": kind, "--split": split, "--label-column": label_column,
                    "--image-size": image_size, "--standardize": standardize or None}
    if name not in DATASETS and looks_like_path(name):
        return load_data_file(name, kind=kind, split=split, label_column=label_column, image_size=image_size,
                              standardize=bool(standardize))
    entry = DATASETS.get(name)  # an unknown name: one error listing the names
    refuse_file_options(name, [flag for flag, value in file_options.items() if value is not None])
    folder = default_data_dir(data_dir)
    if not entry.bundled and folder.exists() and not folder.is_dir():
        raise DataError(f"the data folder {folder} is a file: point --data-dir / ${DATA_DIR_ENV} at a folder")
    return entry.loader(folder, download)
