"""A user's data: .npy (memory-mapped) / .npz / .pt / .csv / image folders, kinds, splits, labels."""

import numpy as np
import pytest
import torch
from PIL import Image

from pyro_vae.data import Dataset, load_dataset
from pyro_vae.data.rows import MappedRows
from pyro_vae.errors import DataError


def grey_images(n=50, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def test_npz_of_grey_images_is_scaled_split_and_shaped(tmp_path):
    x = grey_images(200)
    np.savez(tmp_path / "imgs.npz", x)
    d = load_dataset(str(tmp_path / "imgs.npz"))
    assert d.kind == "grey" and d.image_shape == (16, 16) and d.x_dim == 256
    assert (len(d.train), len(d.valid), len(d.test)) == (160, 20, 20)
    # the rows are the file's rows / 255, each in exactly one split, the same split every time
    every = torch.cat([d.train, d.valid, d.test])
    expected = torch.as_tensor(x.reshape(200, -1) / 255.0, dtype=torch.float32)
    assert torch.allclose(every.sort(0).values, expected.sort(0).values)
    again = load_dataset(str(tmp_path / "imgs.npz"))
    assert torch.equal(d.test, again.test)
    assert d.source["sha256"] == again.source["sha256"] and d.source["split"] == [0.8, 0.1, 0.1]


def test_npz_with_splits_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {s: (rng.random((n, 6)) < 0.5).astype(np.float32) for s, n in (("train", 30), ("valid", 5), ("test", 7))}
    labels = {f"y_{s}": rng.integers(0, 3, len(a)) for s, a in arrays.items()}
    np.savez(tmp_path / "d.npz", **arrays, **labels)
    d = load_dataset(str(tmp_path / "d.npz"))
    assert d.kind == "binary" and d.num_classes == 3 and d.image_shape is None
    assert torch.equal(d.test, torch.as_tensor(arrays["test"])) and torch.equal(d.valid_labels, torch.as_tensor(labels["y_valid"]))
    assert "split" not in d.source  # the file's own splits


def test_pt_tensor_and_dict(tmp_path):
    x = torch.randn(40, 3)
    torch.save(x, tmp_path / "x.pt")
    d = load_dataset(str(tmp_path / "x.pt"))
    assert d.kind == "real" and (len(d.train), len(d.valid), len(d.test)) == (32, 4, 4)
    torch.save({"train": x[:30], "test": x[30:]}, tmp_path / "d.pt")
    d = load_dataset(str(tmp_path / "d.pt"))
    assert torch.equal(d.test, x[30:]) and len(d.valid) + len(d.train) == 30  # valid carved from train
    torch.save({"train": x, "other": x}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="unknown keys other"):
        load_dataset(str(tmp_path / "bad.pt"))


def test_csv_with_header_label_names_and_missing_cells(tmp_path):
    lines = ["height,width,species"] + [f"{i * 0.5},{i % 7},{'ab'[i % 2]}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    d = load_dataset(str(tmp_path / "t.csv"), label_column="species")
    assert d.x_dim == 2 and d.kind == "real" and d.num_classes == 2
    all_rows = torch.cat([d.train, d.valid, d.test])
    all_labels = torch.cat([d.train_labels, d.valid_labels, d.test_labels])
    for row, label in zip(all_rows, all_labels):  # labels stay with their rows: 'a' (0) on even i
        i = round(float(row[0]) / 0.5)
        assert int(label) == i % 2 and float(row[1]) == i % 7
    (tmp_path / "nan.csv").write_text("1,2\n3,\n5,6\n" * 5)  # named by its line in the file, not a split's row
    with pytest.raises(DataError, match=r"nan.csv line 2: an empty cell, NaN or inf \(5 row\(s\) have one\)"):
        load_dataset(str(tmp_path / "nan.csv"))
    (tmp_path / "nan_header.csv").write_text("a,b\n" + "1,2\n" * 123 + "3,nan\n")
    with pytest.raises(DataError, match=r"nan_header.csv line 125: an empty cell, NaN or inf"):
        load_dataset(str(tmp_path / "nan_header.csv"))
    (tmp_path / "word.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(DataError, match=r"line 3, b: 'x' is not a number"):
        load_dataset(str(tmp_path / "word.csv"))


def test_image_folder_with_classes_colour_and_resize(tmp_path):
    rng = np.random.default_rng(2)
    pixels = {}
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(10):
            a = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / "imgs" / cls / f"{i}.png")
            pixels[(cls, i)] = a
    d = load_dataset(str(tmp_path / "imgs"))
    assert d.image_shape == (3, 12, 10) and d.x_dim == 360 and d.num_classes == 2 and d.kind == "grey"
    # channels-first flattening: one image's row is its [C, H, W] pixels / 255
    all_rows = torch.cat([d.train, d.valid, d.test])
    a = pixels[("dog", 3)]
    expected = torch.as_tensor(np.moveaxis(a, -1, 0).reshape(-1) / 255.0, dtype=torch.float32)
    assert (all_rows - expected).abs().max(1).values.min() < 1e-6
    d = load_dataset(str(tmp_path / "imgs"), image_size=(6, 5))
    assert d.image_shape == (3, 6, 5)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "cat" / "odd.png")
    with pytest.raises(DataError, match="pass --image-size H W"):
        load_dataset(str(tmp_path / "imgs"))


def test_grey_image_folder_without_classes(tmp_path):
    for i in range(10):
        Image.fromarray(grey_images(1, 8, i)[0]).save(tmp_path / f"{i}.png")
    d = load_dataset(str(tmp_path))
    assert d.image_shape == (8, 8) and d.train_labels is None


@pytest.mark.parametrize("values,kind", [
    (np.array([[0, 1], [1, 0], [1, 1]] * 4, dtype=np.float32), "binary"),
    (np.array([[0.2, 1], [0.5, 0]] * 6, dtype=np.float32), "grey"),
    (np.array([[0, 255], [3, 8]] * 6, dtype=np.uint8), "grey"),
    (np.array([[-1.5, 2], [3, 8]] * 6, dtype=np.float32), "real"),
])
def test_kind_is_detected_from_the_values(values, kind):
    d = Dataset.from_arrays(values)
    assert d.kind == kind and float(d.train.max()) <= (1 if kind != "real" else 10)


def test_kind_override_is_checked():
    grey = np.full((20, 3), 0.5, dtype=np.float32)
    assert Dataset.from_arrays(grey, kind="real").kind == "real"
    with pytest.raises(DataError, match="--data-kind binary but"):
        Dataset.from_arrays(grey, kind="binary")
    with pytest.raises(DataError, match="--data-kind grey but"):
        Dataset.from_arrays(grey * 4, kind="grey")


def test_from_arrays_with_labels_and_split():
    x = np.arange(100 * 4, dtype=np.float32).reshape(100, 4)
    y = np.arange(100) % 5
    d = Dataset.from_arrays(x, labels=y, split=(0.6, 0.2, 0.2), seed=3)
    assert (len(d.train), len(d.valid), len(d.test)) == (60, 20, 20) and d.num_classes == 5
    assert torch.equal(d.test_labels, (d.test[:, 0] / 4).long() % 5)  # each label stayed with its row
    other = Dataset.from_arrays(x, labels=y, split=(0.6, 0.2, 0.2), seed=4)
    assert not torch.equal(d.test, other.test)
    with pytest.raises(DataError, match="three fractions > 0 that sum to 1"):
        Dataset.from_arrays(x, split=(0.9, 0.2, 0.1))


def test_npy_is_memory_mapped_and_reads_the_same_rows(tmp_path):
    x = np.random.default_rng(0).random((500, 3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x)
    mapped, loaded = load_dataset(str(tmp_path / "x.npy")), load_dataset(str(tmp_path / "x.npz"))
    assert isinstance(mapped.train, MappedRows) and isinstance(mapped.train.array, np.memmap)
    assert mapped.image_shape == (3, 4, 4) == loaded.image_shape
    idx = torch.tensor([7, 2, 399, 2])
    assert torch.equal(mapped.train[idx], loaded.train[idx])
    assert torch.equal(mapped.test, loaded.test)


def test_mapped_rows_find_nan_block_by_block(tmp_path):
    x = np.zeros((20000, 2), dtype=np.float32)
    x[12345, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"NaN or inf"):
        load_dataset(str(tmp_path / "x.npy"), split=(0.998, 0.001, 0.001))


def test_file_options_are_refused_for_a_named_dataset():
    with pytest.raises(DataError, match="--split apply to your own data files"):
        load_dataset("digits", split=(0.8, 0.1, 0.1))


def test_standardized_columns_and_their_log_jacobian(tmp_path):
    rng = np.random.default_rng(5)
    x = np.stack([rng.normal(1000, 300, 400), rng.normal(-2, 0.01, 400), np.full(400, 7.0)], 1).astype(np.float32)
    d = Dataset.from_arrays(x, standardize=True)
    mean, sd = d.train.double().mean(0), d.train.double().std(0, unbiased=False)
    assert torch.allclose(mean[:2], torch.zeros(2, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(sd[:2], torch.ones(2, dtype=torch.float64), atol=1e-4)
    assert float(d.train[:, 2].abs().max()) == 0  # a constant column: sd taken as 1, centred
    # the change of variables x -> (x - m) / s has log|det| = -sum(log s): by hand from the raw train rows
    raw = torch.as_tensor(x, dtype=torch.float64)[torch.as_tensor(np.sort(np.random.default_rng(0).permutation(400)[:320]))]
    s = raw.std(0, unbiased=False)
    s[2] = 1.0
    assert abs(d.standardized["log_jacobian"] + float(s.log().sum())) < 1e-3
    np.save(tmp_path / "x.npy", x)  # the memory-mapped split is standardized as it is read
    mapped = load_dataset(str(tmp_path / "x.npy"), standardize=True)
    assert torch.allclose(mapped.train[torch.arange(len(mapped.train))], d.train, atol=1e-5)
    with pytest.raises(DataError, match="--standardize applies to real-valued data"):
        Dataset.from_arrays(np.full((20, 2), 0.5, np.float32), standardize=True)


def test_a_folder_read_class_by_class_gives_splits_in_random_order(tmp_path):
    """The folder is read class by class; its splits are not: the first test rows mix the classes."""
    for c, cls in enumerate(("a", "b", "c", "d")):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(np.full((4, 4), 10 * c + i % 5, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    d = load_dataset(str(tmp_path / "imgs"))
    for labels in (d.train_labels, d.test_labels):
        assert len(set(labels[:6].tolist())) >= 2, labels  # sorted splits would start with six of class a
        assert not bool((labels[1:] >= labels[:-1]).all()), labels
    assert sorted(torch.cat([d.train_labels, d.valid_labels, d.test_labels]).tolist()) == [0] * 30 + [1] * 30 + \
        [2] * 30 + [3] * 30
