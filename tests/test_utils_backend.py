"""to_categorical, seeds and backend settings."""

import numpy as np
import pytest

from convnet import backend, initializers, utils


def test_to_categorical():
    out = utils.to_categorical(np.array([5, 0, 9], dtype=np.uint8), 10)
    assert out.shape == (3, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1), [5, 0, 9])
    assert out.sum() == 3
    assert utils.to_categorical([[1], [2]]).shape == (2, 3)


@pytest.mark.parametrize("labels,message", [
    ([0, 10], "label 10 is out of range for num_classes=10"),
    ([-1, 2], "labels must be >= 0"),
    ([0.5, 1], "integer class labels"),
    (["a"], "integer class labels"),
])
def test_to_categorical_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        utils.to_categorical(np.array(labels), 10)


def test_seed_makes_draws_reproducible():
    utils.set_random_seed(5)
    a = initializers.initialize("glorot_uniform", (3, 3, 1, 4), "float32")
    utils.set_random_seed(5)
    b = initializers.initialize("glorot_uniform", (3, 3, 1, 4), "float32")
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        utils.set_random_seed(-1)


def test_glorot_uniform_limits_use_keras_fans():
    w = initializers.initialize("glorot_uniform", (3, 3, 32, 64), "float64")
    limit = np.sqrt(6 / (3 * 3 * 32 + 3 * 3 * 64))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


def test_backend_settings_validate():
    assert backend.floatx() == "float32" and backend.epsilon() == 1e-7
    assert backend.image_data_format() == "channels_last"
    with pytest.raises(ValueError, match="unknown float type 'float8'"):
        backend.set_floatx("float8")
    with pytest.raises(ValueError, match="unknown data format 'nchw'"):
        backend.set_image_data_format("nchw")
