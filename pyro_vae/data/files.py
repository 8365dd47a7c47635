"""A user's data files -> a :class:`~pyro_vae.data.Dataset` (``--dataset PATH``, ``load_dataset(PATH)``).

What a path may be:

* ``.npy``: one array ``[N, ...]``, opened memory-mapped (``mmap_mode="r"``): the training
  split is read a batch at a time, so the file may be larger than memory;
* ``.npz`` / ``.pt``: one array (tensor), or the keys ``train`` / ``valid`` / ``test`` with
  optional labels ``y_train`` / ``y_valid`` / ``y_test``;
* ``.csv``: numeric columns, a header row optional; ``label_column`` (a header name or a
  0-based column number) holds the labels, numbers or class names;
* a folder of PNG / JPEG images, grey or RGB (read with PIL); sub-folders are classes, as in
  torchvision's ``ImageFolder``; ``image_size=(H, W)`` resizes them.

Shapes, kind detection and the split are :mod:`pyro_vae.data.arrays`'s. The dataset records
where it came from (:mod:`pyro_vae.data.source`), so a run can find the same data again.
"""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import DataError
from .arrays import DEFAULT_SPLIT, SPLITS, dataset_from_arrays
from .dataset import Dataset
from .source import describe

FILE_SUFFIXES = (".npy", ".npz", ".pt", ".csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LABEL_KEYS = tuple(f"y_{s}" for s in SPLITS)


def looks_like_path(name: str) -> bool:
    """Whether ``--dataset name`` means a file or folder rather than a registered name."""
    return ("/" in name or "\\" in name or Path(name).suffix.lower() in FILE_SUFFIXES
            or Path(name).expanduser().exists())


def load_data_file(path, kind: Optional[str] = None, split: Optional[Sequence[float]] = None,
                   label_column=None, image_size: Optional[Sequence[int]] = None, seed: int = 0,
                   standardize: bool = False) -> Dataset:
    """The dataset in the file or folder ``path`` (see the module docstring); ``split`` (default
    0.8, 0.1, 0.1 with ``seed``) applies when the file has no valid/test arrays; ``standardize``
    makes real-valued columns ``(x - mean) / sd`` of the training split."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"--dataset {path}: no such file or folder: give a .npy, .npz, .pt or .csv file, a "
                        f"folder of images, or a dataset name (see `pyro-vae datasets`)")
    split = tuple(split) if split is not None else DEFAULT_SPLIT
    suffix = p.suffix.lower()
    if label_column is not None and (p.is_dir() or suffix != ".csv"):
        raise DataError(f"--label-column applies to .csv files, not {p.name}: drop it (labels of arrays are "
                        f"y_train/y_valid/y_test, of image folders their sub-folders)")
    if image_size is not None and not p.is_dir():
        raise DataError(f"--image-size applies to folders of images, not {p.name}: drop it")
    if p.is_dir():
        arrays, labels = read_image_folder(p, image_size)
    elif suffix == ".npy":
        arrays, labels = {"train": read_npy(p)}, None
    elif suffix == ".npz":
        arrays, labels = read_mapping(_read_npz(p), p)
    elif suffix == ".pt":
        arrays, labels = read_mapping(_read_pt(p), p)
    elif suffix == ".csv":
        arrays, labels = read_csv(p, label_column)
    else:
        raise DataError(f"--dataset {path}: cannot read {suffix or 'files without a suffix'}: give a .npy, .npz, "
                        f".pt or .csv file or a folder of {'/'.join(IMAGE_SUFFIXES)} images")
    data = dataset_from_arrays(arrays["train"], arrays.get("valid"), arrays.get("test"), labels, kind=kind,
                               split=split, seed=seed, name=p.name, standardize=bool(standardize))
    data.source = describe(p, split=list(split) if len(arrays) < 3 else None, seed=seed, kind=data.kind,
                           requested_kind=kind, label_column=label_column,
                           image_size=list(image_size) if image_size else None, standardize=standardize or None)
    return data


# ---- arrays ----------------------------------------------------------------------------------------
def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"cannot read {path} as a .npy array ({_first(e)}): save it with numpy.save of a "
                        f"numeric array") from None


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} as a .npz archive ({_first(e)}): save it with numpy.savez of "
                        f"numeric arrays") from None


def _read_pt(path: Path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged or pickled-object file
        raise DataError(f"cannot read {path} as a tensor file ({_first(e)}): save a tensor or a dict of "
                        f"tensors with torch.save") from None


def read_mapping(content, path: Path) -> tuple[dict, Optional[dict]]:
    """``(arrays, labels)`` of an .npz / .pt: one array, or train/valid/test (+ y_ labels)."""
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


# ---- CSV -------------------------------------------------------------------------------------------
def read_csv(path: Path, label_column=None) -> tuple[dict, Optional[np.ndarray]]:
    """Numeric columns (an empty cell, NaN or inf is refused, naming its line); a header row
    is recognised by a cell that is not a number."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path} as CSV ({_first(e)}): save a comma-separated table") from None
    if not rows:
        raise DataError(f"{path} has no rows: give a table with one datapoint per row")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path} has a header but no rows: give one datapoint per row")
    width = len(rows[0])
    label_at = _label_index(label_column, header, width, path)
    values, names = [], []
    for i, r in enumerate(body, 2 if header else 1):
        if len(r) != width:
            raise DataError(f"{path} line {i} has {len(r)} columns, the first line has {width}: every row needs "
                            f"the same columns")
        row = []
        for j, cell in enumerate(r):
            if j == label_at:
                names.append(cell.strip())
                continue
            if cell.strip() == "":
                row.append(math.nan)
            elif _is_number(cell):
                row.append(float(cell))
            else:
                col = header[j] if header else f"column {j}"
                raise DataError(f"{path} line {i}, {col}: {cell.strip()!r} is not a number: give numeric columns "
                                f"(class names belong in --label-column)")
        values.append(row)
    x = np.asarray(values, dtype=np.float32)
    if x.shape[1] == 0:
        raise DataError(f"{path} has no columns besides the label column: give at least one numeric column")
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if len(bad):  # named here by its line in the file: the checks after the split see shuffled rows
        line = int(bad[0]) + (2 if header else 1)
        raise DataError(f"{path} line {line}: an empty cell, NaN or inf ({len(bad)} row(s) have one): fill in or "
                        f"drop those rows")
    return {"train": x}, (_encode_labels(names) if label_at is not None else None)


def _label_index(label_column, header, width, path) -> Optional[int]:
    if label_column is None:
        return None
    if header and str(label_column) in header:
        return header.index(str(label_column))
    if str(label_column).isdigit() and int(label_column) < width:
        return int(label_column)
    columns = ", ".join(header) if header else f"0..{width - 1} (no header)"
    raise DataError(f"--label-column {label_column} is not a column of {path}: its columns are {columns}")


def _encode_labels(names: list) -> np.ndarray:
    """Integer labels stay as they are; class names become 0..C-1 in sorted order."""
    if all(_is_number(n) and float(n).is_integer() for n in names):
        return np.asarray([int(float(n)) for n in names], dtype=np.int64)
    classes = sorted(set(names))
    return np.asarray([classes.index(n) for n in names], dtype=np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ---- image folders ---------------------------------------------------------------------------------
def read_image_folder(root: Path, image_size=None) -> tuple[dict, Optional[np.ndarray]]:
    """``[N, H, W]`` (grey) or ``[N, H, W, 3]`` (any colour image) uint8 pixels, and the class of
    each image when the folder has one sub-folder per class."""
    from PIL import Image, UnidentifiedImageError

    def images_in(folder):
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and images_in(d))
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if classes and loose:
        raise DataError(f"{root} holds images both in sub-folders ({', '.join(classes[:3])}) and directly "
                        f"({loose[0].name}): put every image in a class folder, or none")
    files = [(p, classes.index(p.relative_to(root).parts[0]) if classes else None) for p in images_in(root)]
    if not files:
        raise DataError(f"{root} holds no {'/'.join(IMAGE_SUFFIXES)} images: give a folder of images (sub-folders "
                        f"as classes)")
    pictures = []
    for p, _ in files:
        try:
            img = Image.open(p)
            img.load()
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read the image {p} ({_first(e)}): remove or replace it") from None
        pictures.append(img)
    grey = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for img in pictures)
    size = (int(image_size[1]), int(image_size[0])) if image_size else pictures[0].size  # PIL: (W, H)
    pixels = []
    for (p, _), img in zip(files, pictures):
        img = img.convert("L" if grey else "RGB")
        if img.size != size:
            if not image_size:
                raise DataError(f"{p} is {img.size[0]}x{img.size[1]} (WxH) but {files[0][0].name} is "
                                f"{size[0]}x{size[1]}: pass --image-size H W to resize them all")
            img = img.resize(size, Image.BILINEAR)
        pixels.append(np.asarray(img, dtype=np.uint8))
    labels = np.asarray([c for _, c in files], dtype=np.int64) if classes else None
    return {"train": np.stack(pixels)}, labels


def _first(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:160] if text else type(e).__name__
