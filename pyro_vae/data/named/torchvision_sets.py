"""MNIST and Fashion-MNIST through torchvision (downloaded into the data directory).

The 60k training images are cut into 50k train / 10k valid (the last 10k); the 10k test
images are the test split. Values are grey intensities in [0, 1]; Bernoulli models binarize
them dynamically (see :meth:`Dataset.for_likelihood`).
"""

from __future__ import annotations

import torch

from ...errors import DataError
from ..dataset import Dataset
from ..registry import DATA_DIR_ENV, register_dataset


def _load(name: str, cls_name: str, data_dir, download: bool) -> Dataset:
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    try:
        train = cls(str(data_dir), train=True, download=download)
        test = cls(str(data_dir), train=False, download=download)
    except (RuntimeError, OSError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]  # torchvision's is several lines
        raise DataError(
            f"could not load {name} from {data_dir} ({reason}): allow the download, or point "
            f"--data-dir / ${DATA_DIR_ENV} at a torchvision root that holds it"
        ) from None

    def flat(ds):
        return ds.data.reshape(len(ds.data), -1).float() / 255.0, ds.targets.long()

    x, y = flat(train)
    x_test, y_test = flat(test)
    return Dataset(
        name=name, kind="grey",
        train=x[:50_000], valid=x[50_000:], test=x_test,
        train_labels=y[:50_000], valid_labels=y[50_000:], test_labels=y_test,
        image_shape=(28, 28), num_classes=10,
    )


@register_dataset("mnist", "MNIST 50k/10k/10k via torchvision (download), 28x28 grey")
def load_mnist(data_dir, download) -> Dataset:
    return _load("mnist", "MNIST", data_dir, download)


@register_dataset("fashion-mnist", "Fashion-MNIST 50k/10k/10k via torchvision (download), 28x28 grey")
def load_fashion_mnist(data_dir, download) -> Dataset:
    return _load("fashion-mnist", "FashionMNIST", data_dir, download)
