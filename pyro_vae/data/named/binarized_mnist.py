"""Statically binarized MNIST (Larochelle & Murray 2011), 50k/10k/10k, 28x28 binary.

Read from ``binarized_mnist.npz`` (arrays ``train``, ``valid``, ``test``; uint8 0/1, 784 columns)
in the data directory. When it is missing, the three published ``.amat`` text files (one image
per line, 784 space-separated 0/1 values) are downloaded, parsed and cached as that ``.npz``.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import Dataset
from ..registry import DATA_DIR_ENV, register_dataset

NPZ_NAME = "binarized_mnist.npz"
AMAT_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{}.amat"
SPLITS = {"train": 50_000, "valid": 10_000, "test": 10_000}
NUM_PIXELS = 784


def parse_amat(path: os.PathLike, num_columns: int = NUM_PIXELS) -> np.ndarray:
    """Parse an ``.amat`` file: one row per line, whitespace-separated 0/1 values -> uint8 array."""
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            values = line.split()
            if len(values) != num_columns:
                raise DataError(
                    f"{path}:{line_no} has {len(values)} values, expected {num_columns}: "
                    f"the file is truncated or not a binarized-MNIST .amat file; delete it to re-download"
                )
            rows.append(values)
    if not rows:
        raise DataError(f"{path} holds no rows: delete it to re-download")
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{path} holds a value that is not a number ({e}): delete it to re-download")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise DataError(f"{path} holds values other than 0 and 1: it is not binarized MNIST")
    return arr.astype(np.uint8)


def _download(url: str, dest: Path) -> None:
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            tmp = dest.with_suffix(dest.suffix + ".part")
            with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                             desc=dest.name, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
            os.replace(tmp, dest)
    except OSError as e:
        raise DataError(
            f"could not download {url} ({e}): check the network, or put {NPZ_NAME} into "
            f"{dest.parent} (or point --data-dir / ${DATA_DIR_ENV} at the folder that has it)"
        ) from None


def build_npz_from_amat(data_dir: Path, download: bool) -> Path:
    """Download (if needed) and parse the three ``.amat`` files into ``data_dir/binarized_mnist.npz``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split in SPLITS:
        amat = data_dir / f"binarized_mnist_{split}.amat"
        if not amat.exists():
            if not download:
                raise DataError(
                    f"{data_dir / NPZ_NAME} not found and downloads are off: put the file there or "
                    f"point --data-dir / ${DATA_DIR_ENV} at the folder that holds it"
                )
            _download(AMAT_URL.format(split), amat)
        arrays[split] = parse_amat(amat)
    out = data_dir / NPZ_NAME
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays)
    os.replace(tmp.name, out)
    return out


def read_npz(path: Path) -> dict:
    """The three splits of ``path`` as uint8 arrays, checked for names, shapes and values."""
    fix = "delete it (it is rebuilt from the .amat files) or replace it with a good copy"
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [split for split in SPLITS if split not in npz.files]
            if missing:
                raise DataError(f"{path} has no array {', '.join(map(repr, missing))}: expected arrays "
                                f"train, valid, test; {fix}")
            arrays = {split: npz[split] for split in SPLITS}
    except DataError:
        raise
    except Exception as e:  # truncated or not a zip: numpy and zipfile raise many kinds
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DataError(f"{path} is not a readable .npz file ({reason}): {fix}") from None
    for split, arr in arrays.items():
        if arr.ndim != 2 or arr.shape[1] != NUM_PIXELS:
            raise DataError(f"{path}:{split} has shape {arr.shape}, expected (N, {NUM_PIXELS})")
        if len(arr) == 0:
            raise DataError(f"{path}:{split} is empty: {fix}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DataError(f"{path}:{split} holds {arr.dtype} values, not numbers: {fix}")
        if not ((arr == 0) | (arr == 1)).all():
            raise DataError(f"{path}:{split} holds values other than 0 and 1: it is not binarized MNIST; {fix}")
    return arrays


@register_dataset("binarized-mnist", "static binarized MNIST (Larochelle & Murray), 50k/10k/10k, "
                  f"28x28 binary; reads {NPZ_NAME} from --data-dir / ${DATA_DIR_ENV}, else downloads")
def load_binarized_mnist(data_dir: Path, download: bool) -> Dataset:
    path = data_dir / NPZ_NAME
    if not path.exists():
        path = build_npz_from_amat(data_dir, download)
    arrays = read_npz(path)
    tensors = {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()}
    return Dataset(name="binarized-mnist", kind="binary", image_shape=(28, 28), **tensors)
