"""The :class:`Dataset` container and the checks every tensor passes before a model sees it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import DataError
from .arrays import DEFAULT_SPLIT, KINDS, dataset_from_arrays

#: What each likelihood needs, and what it accepts after conversion.
LIKELIHOOD_NEEDS = {
    "bernoulli": "binary",  # grey data is binarized (dynamically for training)
    "continuous_bernoulli": "unit",  # values in [0, 1]
    "gaussian": "real",  # anything finite
}

_TEST_BINARIZATION_SEED = 20151231  # fixed: every run evaluates on the same binary test set


@dataclass
class Dataset:
    """Train/valid/test splits of flattened datapoints, ``float32`` tensors of shape ``[N, D]``.

    The training split may instead be a :class:`~pyro_vae.data.rows.MappedRows` (rows of a
    memory-mapped ``.npy``, read a batch at a time); read batches with :meth:`train_rows`.
    ``image_shape`` is ``(H, W)`` or ``(C, H, W)``; ``source`` describes a user's file
    (:func:`pyro_vae.data.source.describe`) so a run can find it again.

    ``kind`` says what the values are: ``binary`` (0/1), ``grey`` ([0, 1] intensities) or
    ``real``. With ``dynamic_binarization`` the training split holds grey intensities and
    :meth:`train_rows` draws a fresh Bernoulli binarization of each batch (Salakhutdinov &
    Murray 2008), while valid/test were binarized once with a fixed seed.
    """

    name: str
    kind: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    train_labels: Optional[torch.Tensor] = None
    valid_labels: Optional[torch.Tensor] = None
    test_labels: Optional[torch.Tensor] = None
    image_shape: Optional[tuple] = None
    num_classes: Optional[int] = None
    dynamic_binarization: bool = False
    source: Optional[dict] = None
    standardized: Optional[dict] = None  # {"mean", "sd", "log_jacobian"} of standardized real columns

    @classmethod
    def from_arrays(cls, train, valid=None, test=None, labels=None, kind: Optional[str] = None,
                    image_shape=None, split=DEFAULT_SPLIT, seed: int = 0, name: str = "arrays",
                    standardize: bool = False) -> "Dataset":
        """A dataset from numpy arrays or tensors (rows ``[N, D]``, images ``[N, H, W]``,
        ``[N, C, H, W]`` or ``[N, H, W, C]``).

        The kind is detected from the values unless ``kind`` is given (all 0/1: ``binary``;
        within [0, 1]: ``grey``; integers 0..255: ``grey`` after division by 255; else ``real``).
        Without ``valid`` / ``test`` the rows are permuted with ``seed`` and cut by ``split``.
        ``labels``: integers 0..C-1, one array for ``train`` or one per split. ``standardize``
        (real data): columns become ``(x - mean) / sd`` of the training split. See
        :mod:`pyro_vae.data.arrays`.
        """
        return dataset_from_arrays(cls, train, valid, test, labels, kind, image_shape, split, seed, name, standardize)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataError(f"dataset kind {self.kind!r} is not one of {KINDS}")
        for split in ("train", "valid", "test"):
            x = getattr(self, split)
            check_finite_2d(x, f"{self.name}/{split}")
            if len(x) == 0:
                raise DataError(f"{self.name}/{split} is empty: every split needs at least one datapoint")
            if x.shape[1] != self.train.shape[1]:
                raise DataError(
                    f"{self.name}/{split} has {x.shape[1]} features per row, train has "
                    f"{self.train.shape[1]}: all splits must have the same width"
                )

    @property
    def image_channels(self) -> int:
        """1 for grey images and tables, C for ``(C, H, W)`` images."""
        return int(self.image_shape[0]) if self.image_shape and len(self.image_shape) == 3 else 1

    @property
    def x_dim(self) -> int:
        return int(self.train.shape[1])

    def split(self, name: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(x, labels)`` of the split ``train``, ``valid`` or ``test``."""
        if name not in ("train", "valid", "test"):
            raise DataError(f"unknown split {name!r}: use train, valid or test")
        return getattr(self, name), getattr(self, f"{name}_labels")

    def info(self) -> dict:
        """What a model needs to know of the data to be built (JSON-serializable)."""
        return {
            "name": self.name,
            "x_dim": self.x_dim,
            "kind": self.kind,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "num_classes": self.num_classes,
        }

    def for_likelihood(self, likelihood: str) -> "Dataset":
        """The dataset as ``likelihood`` needs it, or a :class:`DataError` saying why not.

        Bernoulli on grey data: train is binarized afresh each epoch, valid and test once
        with a fixed seed. Bernoulli or continuous Bernoulli on real-valued data is refused.
        """
        need = LIKELIHOOD_NEEDS.get(likelihood)
        if need is None:
            raise DataError(f"unknown likelihood {likelihood!r}: use one of {sorted(LIKELIHOOD_NEEDS)}")
        if need == "real" or (need == "unit" and self.kind in ("binary", "grey")):
            return self
        if need == "binary" and self.kind == "binary":
            return self
        if need == "binary" and self.kind == "grey":
            gen = torch.Generator().manual_seed(_TEST_BINARIZATION_SEED)
            return dataclasses.replace(
                self,
                kind="binary",
                valid=torch.bernoulli(self.valid, generator=gen),
                test=torch.bernoulli(self.test, generator=gen),
                dynamic_binarization=True,
            )
        raise DataError(
            f"dataset {self.name!r} holds {self.kind} values but a {likelihood} likelihood needs "
            f"{need} data: pick a model with a Gaussian likelihood (e.g. --model vae_gaussian) "
            f"or a dataset of images"
        )

    def train_rows(self, idx: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Rows ``idx`` of the training split as a float tensor; with dynamic binarization a
        fresh Bernoulli draw of them from ``generator``."""
        rows = self.train[idx]
        if self.dynamic_binarization:
            rows = torch.bernoulli(rows, generator=generator)
        return rows


def check_finite_2d(x: torch.Tensor, what: str) -> None:
    """Raise a :class:`DataError` unless ``x`` is a 2-D floating tensor (or a
    :class:`~pyro_vae.data.rows.MappedRows`) without NaN or inf, naming how many rows have them
    and the first. Checked in blocks of rows: the temporaries stay small for any size of data."""
    from .rows import MappedRows, row_blocks

    if not isinstance(x, MappedRows):
        if not isinstance(x, torch.Tensor):
            raise DataError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2:
            raise DataError(
                f"{what} has shape {tuple(x.shape)}; expected [num_datapoints, num_features]: "
                f"flatten images with x.reshape(len(x), -1)"
            )
        if not torch.is_floating_point(x):
            raise DataError(f"{what} has dtype {x.dtype}; convert it with x.float()")
    first, count = None, 0
    for start, block in row_blocks(x):
        bad = ~torch.isfinite(block).all(1)
        n = int(bad.sum())
        if n:
            count += n
            first = start + int(bad.nonzero()[0]) if first is None else first
    if count:
        raise DataError(f"{what} contains NaN or inf in {count} row(s) (first: row {first}): drop or impute those rows")


def check_data_for_model(x: torch.Tensor, x_dim: int, likelihood: str, what: str = "data") -> None:
    """Check ``x`` (a tensor or :class:`~pyro_vae.data.rows.MappedRows`) before it reaches a
    model with ``x_dim`` features and ``likelihood``; values are checked in blocks of rows."""
    from .rows import row_blocks

    check_finite_2d(x, what)
    if x.shape[1] != x_dim:
        raise DataError(
            f"{what} has {x.shape[1]} features per row but the model was built for {x_dim}: "
            f"use the dataset the model was trained on, or build the model for this data"
        )
    need = LIKELIHOOD_NEEDS.get(likelihood)
    if need not in ("binary", "unit"):
        return
    lo, hi, binary = float("inf"), float("-inf"), True
    for _, block in row_blocks(x):
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        binary = binary and bool(((block == 0) | (block == 1)).all())
    if need == "binary" and not binary:
        raise DataError(
            f"{what} is not binary (values in [{lo:.3g}, {hi:.3g}]) but the "
            f"model has a Bernoulli likelihood: binarize it (torch.bernoulli(x)) or use a "
            f"Gaussian / continuous-Bernoulli model"
        )
    if need == "unit" and (lo < 0 or hi > 1):
        raise DataError(
            f"{what} has values outside [0, 1] but the model has a continuous Bernoulli "
            f"likelihood: rescale the data to [0, 1]"
        )
