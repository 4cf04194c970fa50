"""The ``keras.backend`` (``K``) and ``keras.utils`` helpers tutorials call (issue 15):
``K.backend()``, ``get_value``/``set_value``, ``int_shape``, ``K.function`` for feature maps,
``utils.normalize`` and Keras 2's ``np_utils``."""

import numpy as np
import pytest

from convnet import backend as K
from convnet import utils
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential


def cnn():
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(),
                       Dropout(0.5), Flatten(), Dense(3, activation="softmax")])


def test_backend_name_is_numpy():
    assert K.backend() == "numpy"


def test_get_and_set_value():
    model = cnn()
    kernel = model.layers[0].params["kernel"]
    copy = K.get_value(kernel)
    K.set_value(kernel, np.zeros_like(kernel))
    assert not kernel.any() and copy.any()            # in place; get_value gave a copy
    with pytest.raises(ValueError, match=r"shape \(3, 3, 1, 4\), the value \(2,\)"):
        K.set_value(kernel, [1, 2])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert K.get_value(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert type(K.get_value(model.optimizer.lr)) is float
    K.set_value(model.optimizer.lr, 0.001)             # the Keras 2 idiom sets the rate
    assert model.optimizer.learning_rate == 0.001
    assert model.optimizer.get_config()["learning_rate"] == 0.001
    with pytest.raises(TypeError, match=r"not an array, so it cannot be changed in place"):
        K.set_value(0.5, 0.001)                        # a plain number has no owner


def test_a_learning_rate_is_a_float_and_copies_as_one():
    import copy
    import json
    import pickle
    model = cnn()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    lr = model.optimizer.learning_rate
    assert isinstance(lr, float) and lr * 2 == 0.002 and json.dumps(lr) == "0.001"
    assert type(copy.deepcopy(lr)) is float and type(pickle.loads(pickle.dumps(lr))) is float


def test_int_shape():
    model = cnn()
    assert K.int_shape(model.input) == (None, 8, 8, 1)
    assert K.int_shape(model.layers[0].output) == (None, 6, 6, 4)
    assert K.int_shape(np.zeros((2, 3))) == (2, 3)
    with pytest.raises(TypeError, match="int_shape"):
        K.int_shape("x")


def test_function_gives_feature_maps():
    model = cnn()
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 1)).astype("float32")
    maps, pooled = K.function([model.input], [model.layers[0].output, model.layers[1].output])([x])
    np.testing.assert_array_equal(maps, model.layers[0].forward(x))
    assert pooled.shape == (2, 3, 3, 4)
    probabilities = K.function(model.input, model.output)(x)[0]
    np.testing.assert_array_equal(probabilities, model.predict(x))
    with_phase = K.function([model.input, K.learning_phase()], [model.output])
    np.testing.assert_array_equal(with_phase([x, 0])[0], probabilities)    # dropout off
    with pytest.raises(ValueError, match="expects 2 input values"):
        with_phase([x])
    with pytest.raises(TypeError, match="symbolic tensors"):
        K.function([x], [model.output])


def test_normalize_as_keras():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0, 0], [0.5 ** 0.5, -0.5 ** 0.5]])
    np.testing.assert_allclose(utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [0.5, -0.5]])
    np.testing.assert_allclose(utils.normalize(x, axis=0)[:, 0], [3 / 10 ** 0.5, 0, 1 / 10 ** 0.5])


def test_np_utils_is_keras_2s_module():
    from convnet.utils import np_utils
    from convnet.utils.np_utils import to_categorical

    assert to_categorical is utils.to_categorical is np_utils.to_categorical
    np.testing.assert_array_equal(np_utils.to_categorical([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
