"""Real data: a short training run on MNIST learns (1 epoch on 10,000 images -> >= 95 %)."""

import numpy as np
import pytest

import convnet as keras
from convnet.datasets import mnist
from convnet.tutorial import tutorial_model


@pytest.mark.slow
@pytest.mark.needs_jit
def test_one_epoch_on_10000_images_reaches_95_percent():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train[:10000].reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train[:10000], 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    model = tutorial_model()
    history = model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f} after 1 epoch on 10,000 images"
    assert loss < 0.2
