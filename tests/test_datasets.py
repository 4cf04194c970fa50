"""MNIST loads offline from the bundled, hash-checked copy, in Keras's layout."""

import numpy as np
import pytest

from convnet.datasets import mnist


def test_load_data_matches_keras_layout():
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(y_test)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_user_path_is_accepted(tmp_path):
    f = tmp_path / "mine.npz"
    x = np.zeros((3, 28, 28), np.uint8)
    y = np.array([1, 2, 3], np.uint8)
    np.savez(f, x_train=x, y_train=y, x_test=x[:1], y_test=y[:1])
    (xt, yt), (xs, ys) = mnist.load_data(path=f)
    assert xt.shape == (3, 28, 28) and list(ys) == [1]


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(mnist.DatasetError, match="MNIST file not found: .*nope.npz"):
        mnist.load_data(path=tmp_path / "nope.npz")


def test_corrupt_file_names_the_file(tmp_path):
    f = tmp_path / "broken.npz"
    f.write_bytes(b"this is not a zip file")
    with pytest.raises(mnist.DatasetError, match="broken.npz: cannot read it"):
        mnist.load_data(path=f)


def test_wrong_content_is_refused(tmp_path):
    f = tmp_path / "other.npz"
    np.savez(f, a=np.zeros(3))
    with pytest.raises(mnist.DatasetError, match=r"missing arrays \['x_train'"):
        mnist.load_data(path=f)
    g = tmp_path / "floats.npz"
    x = np.zeros((2, 28, 28))
    np.savez(g, x_train=x, y_train=np.zeros(2, np.uint8), x_test=x, y_test=np.zeros(2, np.uint8))
    with pytest.raises(mnist.DatasetError, match="must be uint8"):
        mnist.load_data(path=g)


def test_pickled_objects_are_never_loaded(tmp_path):
    f = tmp_path / "pickled.npz"
    obj = np.array([{"evil": 1}], dtype=object)
    np.savez(f, x_train=obj, y_train=obj, x_test=obj, y_test=obj)
    with pytest.raises(mnist.DatasetError, match="pickled.npz"):
        mnist.load_data(path=f)


def test_damaged_bundled_copy_is_detected(tmp_path, monkeypatch):
    f = tmp_path / "mnist.npz"
    (x, y), (xt, yt) = mnist.load_data()
    x = x.copy()
    x[0, 0, 0] = 1
    np.savez(f, x_train=x, y_train=y, x_test=xt, y_test=yt)
    monkeypatch.setattr(mnist, "BUNDLED", f)
    with pytest.raises(mnist.DatasetError, match="hash mismatch"):
        mnist.load_data()
