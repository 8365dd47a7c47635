"""Arrays from a user -> a :class:`~pyro_vae.data.Dataset`: shapes, kind, scale, split, labels.

This is :meth:`Dataset.from_arrays <pyro_vae.data.Dataset.from_arrays>` and what every file
reader of :mod:`pyro_vae.data.files` ends in. The rules:

* **Shapes.** ``[N, D]`` are tables; ``[N, H, W]`` grey images; ``[N, C, H, W]`` (``C`` 1 or 3)
  or ``[N, H, W, C]`` images with channels, stored channels-first. Rows are flattened to
  ``[N, D]``; ``image_shape`` is ``(H, W)`` or ``(C, H, W)``.
* **Kind**, from the values of all splits: every value 0 or 1 -> ``binary``; within [0, 1] ->
  ``grey``; an integer array within 0..255 -> ``grey`` after division by 255; anything else ->
  ``real``. ``kind=`` overrides it and is checked against the values.
* **Split.** Without valid/test arrays the rows are permuted with ``seed`` and cut by the
  fractions ``split`` (``(0.8, 0.1, 0.1)``); only a missing split is carved from train.
* **Labels**: integers 0..C-1, one per row.
* **Standardize** (``standardize=True``, real data only): each column becomes ``(x - mean) / sd``
  with the training split's moments. Densities are then of the standardized values; add
  ``log_jacobian`` :math:`= -\\sum_d \\log sd_d` (recorded in ``Dataset.standardized``) for
  the density of the original values.

A ``numpy.memmap`` (a ``.npy`` opened with ``mmap_mode="r"``) stays on disk for the training
split (:class:`~pyro_vae.data.rows.MappedRows`); valid and test are read into memory.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import DataError
from .rows import MappedRows, row_blocks

#: The kinds of data values: all 0/1, within [0, 1], anything else.
KINDS = ("binary", "grey", "real")

DEFAULT_SPLIT = (0.8, 0.1, 0.1)
SPLITS = ("train", "valid", "test")


def as_numpy(a, what: str) -> np.ndarray:
    """A numpy view of a tensor / array / nested list, numeric, or a DataError naming ``what``."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise DataError(f"{what} is not an array ({e}): give a numeric array [N, ...]") from None
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"{what} has dtype {a.dtype}: give numbers (float or integer)")
    if a.ndim < 1 or len(a) == 0:
        raise DataError(f"{what} has shape {a.shape}: give at least one row, [N, ...]")
    return a


def image_layout(shape: tuple, image_shape: Optional[Sequence[int]], what: str):
    """``(image_shape, channels_last)`` of rows of ``shape[1:]``."""
    item = tuple(int(s) for s in shape[1:])
    width = int(np.prod(item, dtype=np.int64)) if item else 1
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if int(np.prod(image_shape)) != width:
            raise DataError(f"image_shape {image_shape} has {int(np.prod(image_shape))} values but each row of "
                            f"{what} has {width}: give the shape of one image, (H, W) or (C, H, W)")
        return image_shape, False
    if len(item) <= 1:
        return None, False
    if len(item) == 2:
        return item, False
    if len(item) == 3:
        if item[0] in (1, 3):
            return (item if item[0] == 3 else item[1:]), False
        if item[2] in (1, 3):
            c, h, w = item[2], item[0], item[1]
            return ((c, h, w) if c == 3 else (h, w)), True
    raise DataError(f"{what} has rows of shape {item}: give [N, D] rows, [N, H, W] grey images or "
                    f"[N, C, H, W] / [N, H, W, C] images with 1 or 3 channels")


def _scan(rows) -> dict:
    """Min, max and whether every value is 0 or 1, block by block (NaN/inf left to the checks)."""
    lo, hi, zero_one = math.inf, -math.inf, True
    for _, block in row_blocks(rows):
        finite = block[torch.isfinite(block)]
        if finite.numel():
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            zero_one = zero_one and bool(((finite == 0) | (finite == 1)).all())
    return {"min": lo, "max": hi, "zero_one": zero_one}


def choose_kind(arrays: list, kind: Optional[str], what: str) -> tuple[str, float]:
    """``(kind, scale)`` from the values of ``arrays`` (see the module rules), or ``kind`` checked."""
    if kind is not None and kind not in KINDS:
        raise DataError(f"--data-kind must be one of {', '.join(KINDS)}, got {kind!r}")
    integer = all(np.issubdtype(a.dtype, np.integer) for a in arrays)
    stats = [_scan(MappedRows(a)) for a in arrays]
    lo, hi = min(s["min"] for s in stats), max(s["max"] for s in stats)
    zero_one = all(s["zero_one"] for s in stats)
    scale = 1.0 / 255 if integer and hi > 1 and lo >= 0 and hi <= 255 and kind != "real" else 1.0
    lo_s, hi_s = lo * scale, hi * scale
    detected = ("binary" if zero_one else "grey" if lo_s >= 0 and hi_s <= 1 else "real")
    if kind is None:
        return detected, scale
    if kind == "binary" and not zero_one:
        raise DataError(f"--data-kind binary but {what} holds values in [{lo:g}, {hi:g}], not only 0 and 1: "
                        f"binarize the data or drop --data-kind (detected: {detected})")
    if kind == "grey" and not (lo_s >= 0 and hi_s <= 1):
        raise DataError(f"--data-kind grey but {what} holds values in [{lo:g}, {hi:g}]: grey values lie in "
                        f"[0, 1] (or are integers 0..255); rescale or use --data-kind real")
    return kind, scale


def check_split(split) -> tuple[float, float, float]:
    """Three fractions > 0 that sum to 1 (train, valid, test)."""
    try:
        parts = tuple(float(s) for s in split)
    except (TypeError, ValueError):
        raise DataError(f"--split must be three fractions like 0.8,0.1,0.1, got {split!r}") from None
    if len(parts) != 3 or any(not math.isfinite(p) or p <= 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise DataError(f"--split must be three fractions > 0 that sum to 1 (train,valid,test), got "
                        f"{','.join(f'{p:g}' for p in parts)}")
    return parts


def split_indices(n: int, split, seed: int, what: str) -> dict:
    """Row numbers of each split: a permutation of ``n`` by ``seed`` cut by ``split``, each split in
    that random order. Not sorted: a file stored by class (a folder of class sub-folders is read
    class by class) would otherwise give splits in class order, whose first rows are one class
    (pictures of x[0] and x[1], a user's own first-N slice)."""
    fractions = check_split(split)
    n_valid, n_test = round(n * fractions[1]), round(n * fractions[2])
    n_train = n - n_valid - n_test
    if min(n_train, n_valid, n_test) < 1:
        raise DataError(f"{what} has {n} rows: too few to split {','.join(f'{p:g}' for p in fractions)} with "
                        f"at least one row per split; give more rows or valid/test arrays")
    order = np.random.default_rng(seed).permutation(n)
    cuts = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid], "test": order[n_train + n_valid:]}
    return cuts


def check_labels(labels: dict, sizes: dict, what: str) -> Optional[int]:
    """``num_classes`` of integer labels 0..C-1 (``None`` without labels)."""
    if not labels:
        return None
    if set(labels) != set(sizes):
        missing = sorted(set(sizes) - set(labels))
        raise DataError(f"{what} has labels for {', '.join(sorted(labels))} but not for {', '.join(missing)}: "
                        f"give labels for every split or none")
    top = 0
    for split, y in labels.items():
        if y.ndim != 1 or len(y) != sizes[split]:
            raise DataError(f"labels of {what}/{split} have shape {tuple(y.shape)}; expected ({sizes[split]},), "
                            f"one per row")
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or y.min() < 0:
            raise DataError(f"labels of {what}/{split} must be integers 0..C-1, got values in "
                            f"[{y.min():g}, {y.max():g}]: map the classes to 0, 1, ...")
        top = max(top, int(y.max()))
    return top + 1


def dataset_from_arrays(cls: type, train, valid=None, test=None, labels=None, kind: Optional[str] = None,
                        image_shape=None, split=DEFAULT_SPLIT, seed: int = 0, name: str = "arrays",
                        standardize: bool = False):
    """A ``cls`` (:class:`~pyro_vae.data.Dataset`) made by the module rules: the body of
    :meth:`Dataset.from_arrays <pyro_vae.data.Dataset.from_arrays>`.

    ``labels`` is one array for ``train`` (before splitting), or a dict / 3-tuple with one array
    per split when ``valid`` and ``test`` are given.
    """
    given = {"train": as_numpy(train, f"{name}/train")}
    for split_name, a in (("valid", valid), ("test", test)):
        if a is not None:
            given[split_name] = as_numpy(a, f"{name}/{split_name}")
    shape = given["train"].shape
    for split_name, a in given.items():
        if a.shape[1:] != shape[1:]:
            raise DataError(f"{name}/{split_name} has rows of shape {a.shape[1:]}, train has {shape[1:]}: all "
                            f"splits must have the same shape")
    image_shape, channels_last = image_layout(shape, image_shape, name)
    y = _labels_by_split(labels, given, name)

    missing = [s for s in SPLITS if s not in given]
    if missing:  # carve the missing splits from train
        base = given.pop("train")
        rows = split_indices(len(base), split, seed, f"{name}/train")
        if len(missing) == 1:  # only one to carve: train keeps the other share
            rows = {"train": np.concatenate([rows["train"], rows[[s for s in ("valid", "test") if s not in
                                                                    missing][0]]]),
                    missing[0]: rows[missing[0]]}
        y_base = y.pop("train", None)
        for s, idx in rows.items():
            given[s] = _Indexed(base, idx)
            if y_base is not None:
                y[s] = y_base[idx]
    bases = {id(_base(a)): _base(a) for a in given.values()}  # a carved split is scanned once, as its base
    kind, scale = choose_kind(list(bases.values()), kind, name)
    sizes = {s: len(a) for s, a in given.items()}
    num_classes = check_labels(y, sizes, name)
    shift = divide = None
    if standardize:
        if kind != "real":
            raise DataError(f"--standardize applies to real-valued data; {name} holds {kind} values, which keep "
                            f"their [0, 1] scale: drop --standardize")
        shift, divide = column_moments(_rows(given["train"], scale, channels_last))
    tensors = {}
    for s in SPLITS:
        rows = _rows(given[s], scale, channels_last)
        rows.shift, rows.divide = shift, divide
        tensors[s] = rows if (s == "train" and isinstance(_base(given[s]), np.memmap)) else rows.materialize()
        if y:
            tensors[f"{s}_labels"] = torch.as_tensor(np.asarray(y[s]).astype(np.int64))
    standardized = None if shift is None else {
        "mean": shift.tolist(), "sd": divide.tolist(), "log_jacobian": -float(divide.double().log().sum())}
    return cls(name=name, kind=kind, image_shape=image_shape, num_classes=num_classes,
                   standardized=standardized, **tensors)


def column_moments(rows: MappedRows) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each column of the training rows (in blocks, in float64);
    a constant column gets sd 1."""
    n, total, squares = 0, 0.0, 0.0
    for _, block in row_blocks(rows):
        b = block.double()
        b = b[torch.isfinite(b).all(1)]
        n, total, squares = n + len(b), total + b.sum(0), squares + (b * b).sum(0)
    mean = total / max(n, 1)
    sd = (squares / max(n, 1) - mean * mean).clamp_min(0).sqrt()
    sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
    return mean.float(), sd.float()


class _Indexed:
    """A split that is a subset of rows of a larger array (not copied)."""

    def __init__(self, array, index):
        self.array, self.index = array, index

    def __len__(self):
        return len(self.index)


def _base(a):
    return a.array if isinstance(a, _Indexed) else a


def _rows(a, scale: float, channels_last: bool) -> MappedRows:
    if isinstance(a, _Indexed):
        return MappedRows(a.array, a.index, scale, channels_last)
    return MappedRows(a, None, scale, channels_last)


def _labels_by_split(labels, given: dict, name: str) -> dict:
    if labels is None:
        return {}
    if isinstance(labels, dict):
        out = {s: as_numpy(labels[s], f"labels of {name}/{s}") for s in labels}
    elif isinstance(labels, (tuple, list)) and len(labels) == 3 and len(given) == 3:
        out = {s: as_numpy(v, f"labels of {name}/{s}") for s, v in zip(SPLITS, labels)}
    else:
        out = {"train": as_numpy(labels, f"labels of {name}/train")}
    unknown = sorted(set(out) - set(SPLITS))
    if unknown:
        raise DataError(f"labels of {name} have unknown splits {unknown}: use train, valid, test")
    for s, y in out.items():  # before any split is carved from train
        if s in given and (y.ndim != 1 or len(y) != len(given[s])):
            raise DataError(f"labels of {name}/{s} have shape {tuple(y.shape)}; expected ({len(given[s])},), "
                            f"one per row")
    return out
