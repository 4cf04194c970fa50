"""Losses and accuracy: values by hand, clipping, names."""

import numpy as np
import pytest

from convnet import losses, metrics


def test_categorical_crossentropy_by_hand():
    y = np.array([[0, 1, 0], [1, 0, 0]], dtype="float32")
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]], dtype="float32")
    # float32: p rounded once, then a sum, a division and a log (a few ulps); 1e-6 is ~16 ulps
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p),
                               [-np.log(0.7), -np.log(0.5)], rtol=1e-6)


def test_sparse_equals_categorical():
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    # float64, the same operations on the same numbers: equal to rounding (default rtol 1e-7)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(np.array([1, 0]), p),
                               losses.categorical_crossentropy(np.eye(3)[[1, 0]], p))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(np.array([[1], [0]]), p),
                               losses.categorical_crossentropy(np.eye(3)[[1, 0]], p))


def test_crossentropy_is_finite_for_zero_probabilities():
    y = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])
    loss = losses.categorical_crossentropy(y, p)
    assert np.isfinite(loss).all() and loss[0] == pytest.approx(-np.log(1e-7))   # clipped, exact
    assert np.isfinite(losses.categorical_crossentropy_gradient(y, p)).all()


def test_loss_names():
    assert losses.get("categorical_crossentropy")[0] == "categorical_crossentropy"
    assert losses.get(losses.sparse_categorical_crossentropy)[0] == \
        "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match="Unknown loss 'no_such_loss'"):
        losses.get("no_such_loss")


def test_accuracy_one_hot_sparse_and_binary():
    p = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(metrics.accuracy(np.eye(2)[[1, 1, 1]], p), [1, 0, 1])
    np.testing.assert_array_equal(metrics.accuracy(np.array([1, 0, 0]), p), [1, 1, 0])
    np.testing.assert_array_equal(metrics.accuracy(np.array([[1], [0], [0]]), p), [1, 1, 0])
    np.testing.assert_array_equal(metrics.accuracy(np.array([1, 0]), np.array([[0.7], [0.6]])),
                                  [1, 0])
    # the name fit logs is the one given, as in Keras
    assert metrics.get("acc")[0] == "acc" and metrics.get("accuracy")[0] == "accuracy"
    assert metrics.get(metrics.accuracy)[0] == "accuracy"
    with pytest.raises(ValueError, match="Unknown metric 'f1'"):
        metrics.get("f1")
