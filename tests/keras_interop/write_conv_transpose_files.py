"""Write a convnet model with Conv2DTranspose layers in the Keras formats, for
``check_with_keras.py`` (real tf-keras and Keras 3 load it and must predict the same).

    PYTHONPATH=. python tests/keras_interop/write_conv_transpose_files.py FOLDER
    /tmp/tf/bin/python tests/keras_interop/check_with_keras.py FOLDER
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/check_with_keras.py FOLDER
"""

import sys
from pathlib import Path

import numpy as np
from model_files import random_weights, write_files

from convnet.layers import Conv2D, Conv2DTranspose, Dense, Flatten
from convnet.models import Sequential


def conv_transpose_model() -> Sequential:
    return Sequential([
        Conv2D(3, 3, strides=2, padding="same", activation="relu", input_shape=(6, 6, 2)),
        Conv2DTranspose(4, 3, strides=2, padding="same", activation="tanh"),
        Conv2DTranspose(2, (2, 3), strides=(2, 1), use_bias=False),
        Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    model = conv_transpose_model()
    rng = np.random.default_rng(0)
    random_weights(model, rng)
    write_files(model, Path(folder), rng.uniform(0, 1, (4, 6, 6, 2)).astype("float32"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
