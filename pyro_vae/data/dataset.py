"""The :class:`Dataset` container and the checks every tensor passes before a model sees it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import DataError

#: What kind of values a dataset holds.
KINDS = ("binary", "grey", "real")

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

    ``kind`` says what the values are: ``binary`` (0/1), ``grey`` ([0, 1] intensities) or
    ``real``. With ``dynamic_binarization`` the training split holds grey intensities and
    :meth:`train_epoch` draws a fresh Bernoulli binarization for each epoch (Salakhutdinov &
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

    def train_epoch(self, epoch: int, seed: int) -> torch.Tensor:
        """The training split for ``epoch``: freshly binarized if the dataset is dynamic."""
        if not self.dynamic_binarization:
            return self.train
        gen = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
        return torch.bernoulli(self.train, generator=gen)


def check_finite_2d(x: torch.Tensor, what: str) -> None:
    """Raise a :class:`DataError` unless ``x`` is a 2-D floating tensor without NaN or inf."""
    if not isinstance(x, torch.Tensor):
        raise DataError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise DataError(
            f"{what} has shape {tuple(x.shape)}; expected [num_datapoints, num_features]: "
            f"flatten images with x.reshape(len(x), -1)"
        )
    if not torch.is_floating_point(x):
        raise DataError(f"{what} has dtype {x.dtype}; convert it with x.float()")
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.any(1).nonzero().flatten()
        raise DataError(
            f"{what} contains NaN or inf in {len(rows)} row(s) (first: row {int(rows[0])}): "
            f"drop or impute those rows"
        )


def check_data_for_model(x: torch.Tensor, x_dim: int, likelihood: str, what: str = "data") -> None:
    """Check ``x`` before it reaches a model with ``x_dim`` features and ``likelihood``."""
    check_finite_2d(x, what)
    if x.shape[1] != x_dim:
        raise DataError(
            f"{what} has {x.shape[1]} features per row but the model was built for {x_dim}: "
            f"use the dataset the model was trained on, or build the model for this data"
        )
    need = LIKELIHOOD_NEEDS.get(likelihood)
    if need == "binary" and not ((x == 0) | (x == 1)).all():
        raise DataError(
            f"{what} is not binary (values in [{float(x.min()):.3g}, {float(x.max()):.3g}]) but the "
            f"model has a Bernoulli likelihood: binarize it (torch.bernoulli(x)) or use a "
            f"Gaussian / continuous-Bernoulli model"
        )
    if need == "unit" and ((x < 0) | (x > 1)).any():
        raise DataError(
            f"{what} has values outside [0, 1] but the model has a continuous Bernoulli "
            f"likelihood: rescale the data to [0, 1]"
        )
