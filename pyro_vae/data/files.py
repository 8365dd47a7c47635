"""A user's data files -> a :class:`~pyro_vae.data.Dataset` (``--dataset PATH``, ``load_dataset(PATH)``).

What a path may be (each file format is a reader in :mod:`pyro_vae.data.formats`, found by its
suffix; ``pyro-vae datasets`` lists them):

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

from pathlib import Path
from typing import Optional, Sequence

from ..errors import DataError
from .arrays import DEFAULT_SPLIT
from .dataset import Dataset
from .formats import FILE_FORMATS
from .formats.image_folder import IMAGE_SUFFIXES, read_image_folder
from .source import describe


def formats_text() -> str:
    """``.csv, .npy, .npz or .pt``: the registered suffixes, for messages."""
    names = FILE_FORMATS.names()
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def looks_like_path(name: str) -> bool:
    """Whether ``--dataset name`` means a file or folder rather than a registered name."""
    return ("/" in name or "\\" in name or Path(name).suffix.lower() in FILE_FORMATS
            or Path(name).expanduser().exists())


def load_data_file(path, kind: Optional[str] = None, split: Optional[Sequence[float]] = None,
                   label_column=None, image_size: Optional[Sequence[int]] = None, seed: int = 0,
                   standardize: bool = False) -> Dataset:
    """The dataset in the file or folder ``path`` (see the module docstring); ``split`` (default
    0.8, 0.1, 0.1 with ``seed``) applies when the file has no valid/test arrays; ``standardize``
    makes real-valued columns ``(x - mean) / sd`` of the training split."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"--dataset {path}: no such file or folder: give a {formats_text()} file, a "
                        f"folder of images, or a dataset name (see `pyro-vae datasets`)")
    split = tuple(split) if split is not None else DEFAULT_SPLIT
    suffix = p.suffix.lower()
    fmt = None if p.is_dir() else FILE_FORMATS.find(suffix)
    if label_column is not None and (fmt is None or not fmt.label_column):
        takes = " and ".join(f.suffix for f in FILE_FORMATS.entries() if f.label_column)
        raise DataError(f"--label-column applies to {takes} files, not {p.name}: drop it (labels of arrays are "
                        f"y_train/y_valid/y_test, of image folders their sub-folders)")
    if image_size is not None and not p.is_dir():
        raise DataError(f"--image-size applies to folders of images, not {p.name}: drop it")
    if p.is_dir():
        arrays, labels = read_image_folder(p, image_size)
    elif fmt is None:
        raise DataError(f"--dataset {path}: cannot read {suffix or 'files without a suffix'}: give a "
                        f"{formats_text()} file or a folder of {'/'.join(IMAGE_SUFFIXES)} images")
    elif fmt.label_column:
        arrays, labels = fmt.reader(p, label_column=label_column)
    else:
        arrays, labels = fmt.reader(p)
    data = Dataset.from_arrays(arrays["train"], arrays.get("valid"), arrays.get("test"), labels, kind=kind,
                               split=split, seed=seed, name=p.name, standardize=bool(standardize))
    data.source = describe(p, split=list(split) if len(arrays) < 3 else None, seed=seed, kind=data.kind,
                           requested_kind=kind, label_column=label_column,
                           image_size=list(image_size) if image_size else None, standardize=standardize or None)
    return data
