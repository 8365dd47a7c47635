"""NumPy and PyTorch files: ``.npy`` (memory-mapped), ``.npz`` and ``.pt``."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import DataError
from ..arrays import SPLITS
from . import first_line, register_file_format

LABEL_KEYS = tuple(f"y_{s}" for s in SPLITS)


@register_file_format(".npy", "one array [N, ...], memory-mapped: the training split is read a batch at a time")
def read_npy_file(path: Path) -> tuple[dict, None]:
    return {"train": read_npy(path)}, None


@register_file_format(".npz", "one array, or train / valid / test with optional y_train / y_valid / y_test labels")
def read_npz_file(path: Path) -> tuple[dict, Optional[dict]]:
    return read_mapping(_read_npz(path), path)


@register_file_format(".pt", "one tensor, or a dict of train / valid / test (and y_ labels) tensors")
def read_pt_file(path: Path) -> tuple[dict, Optional[dict]]:
    return read_mapping(_read_pt(path), path)


def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"cannot read {path} as a .npy array ({first_line(e)}): save it with numpy.save of a "
                        f"numeric array") from None


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} as a .npz archive ({first_line(e)}): save it with numpy.savez of "
                        f"numeric arrays") from None


def _read_pt(path: Path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged or pickled-object file
        raise DataError(f"cannot read {path} as a tensor file ({first_line(e)}): save a tensor or a dict of "
                        f"tensors with torch.save") from None


def read_mapping(content, path: Path) -> tuple[dict, Optional[dict]]:
    """``(arrays, labels)`` of an .npz / .pt: one array, or train/valid/test (+ ``y_`` labels)."""
    import torch

    if isinstance(content, (torch.Tensor, np.ndarray)):
        return {"train": content}, None
    if not isinstance(content, dict) or not content:
        raise DataError(f"{path} holds a {type(content).__name__}: save one array, or a dict with the keys "
                        f"train/valid/test (and y_train/y_valid/y_test for labels)")
    keys = set(content)
    if not keys & set(SPLITS):
        if len(keys) == 1:
            return {"train": next(iter(content.values()))}, None
        raise DataError(f"{path} holds the arrays {', '.join(sorted(map(str, keys)))}: keep one array, or name "
                        f"them train/valid/test (and y_train/y_valid/y_test for labels)")
    unknown = sorted(map(str, keys - set(SPLITS) - set(LABEL_KEYS)))
    if unknown:
        raise DataError(f"{path} has unknown keys {', '.join(unknown)}: the keys are train, valid, test, "
                        f"y_train, y_valid, y_test")
    if "train" not in keys:
        raise DataError(f"{path} has {', '.join(sorted(keys))} but no train array: add one under the key train")
    arrays = {s: content[s] for s in SPLITS if s in content}
    labels = {s: content[f"y_{s}"] for s in SPLITS if f"y_{s}" in content}
    if labels and len(arrays) < 3:  # the missing splits are carved from train, with its labels
        if set(labels) != set(arrays):
            raise DataError(f"{path} has labels {', '.join('y_' + s for s in sorted(labels))} for the arrays "
                            f"{', '.join(sorted(arrays))}: give one y_ per array")
        return arrays, (labels["train"] if len(arrays) == 1 else labels)
    return arrays, (labels or None)
