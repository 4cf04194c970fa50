"""The IDX reader and Fashion-MNIST loading (synthetic files; the real package when installed)."""

import numpy as np
import pytest

from convnet.datasets import fashion_mnist, idx
from convnet.datasets.mnist import DatasetError


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, compress, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "uint8":
        a = np.arange(24, dtype="uint8").reshape(2, 3, 4)
    idx.write_idx(tmp_path / "a", a, compress=compress)
    b = idx.read_idx(tmp_path / "a")
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_by_hand(tmp_path):
    (tmp_path / "l").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))   # labels 7 2 1
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "l"), [7, 2, 1])


@pytest.mark.parametrize("content,message", [
    (b"", "too short"),
    (b"PK\x03\x04rest", "not an IDX file"),
    (bytes([0, 0, 8, 2, 0, 0]), "truncated header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), r"shape \(5,\) .* holds 2 bytes"),
    (b"\x1f\x8bnot really gzip", "damaged gzip"),
])
def test_bad_idx_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(idx.IDXError, match=f"bad-idx.*{message}|{message}"):
        idx.read_idx(path)


def _fake_fashion(folder, n_train=6, n_test=3, compress=True):
    rng = np.random.default_rng(0)
    for key, stem in fashion_mnist.FILES.items():
        n = n_train if "train" in key else n_test
        a = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if key.startswith("x") \
            else rng.integers(0, 10, n, dtype=np.uint8)
        idx.write_idx(folder / (stem + (".gz" if compress else "")), a, compress=compress)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_a_folder(tmp_path, compress):
    _fake_fashion(tmp_path, compress=compress)
    (x, y), (xt, yt) = fashion_mnist.load_data(path=tmp_path)
    assert x.shape == (6, 28, 28) and x.dtype == np.uint8 and yt.shape == (3,)


def test_fashion_mnist_missing_files_say_what_is_missing(tmp_path):
    with pytest.raises(DatasetError, match=r"missing Fashion-MNIST files \['train-images"):
        fashion_mnist.load_data(path=tmp_path)


def test_fashion_mnist_without_any_source_explains_how(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(fashion_mnist, "MIRROR", "http://127.0.0.1:9/")   # nothing listens
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist.*"
                                           "load_data\\(path=FOLDER\\).*download failed"):
        fashion_mnist.load_data()


@pytest.mark.skipif(not fashion_mnist._folder_with_files(fashion_mnist.DEBIAN_DIR),
                    reason="the Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package():
    (x, y), (xt, yt) = fashion_mnist.load_data()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert list(np.bincount(y)) == [6000] * 10 and list(np.bincount(yt)) == [1000] * 10
