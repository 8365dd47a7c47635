"""Datasets by name (``load_dataset``) and the checks data passes before reaching a model."""

from .dataset import Dataset, check_data_for_model, check_finite_2d
from .registry import DATA_DIR_ENV, dataset_entries, dataset_names, load_dataset, register_dataset

__all__ = [
    "DATA_DIR_ENV", "Dataset", "check_data_for_model", "check_finite_2d", "dataset_entries",
    "dataset_names", "load_dataset", "register_dataset",
]
