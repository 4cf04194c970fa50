"""Write a convnet model of the 1-D layers (Conv1D, MaxPooling1D, AveragePooling1D,
GlobalMaxPooling1D, GlobalAveragePooling1D) in the Keras formats, for ``check_with_keras.py``:
real tf-keras and Keras 3 load it and must predict the same.

    PYTHONPATH=. python tests/keras_interop/write_conv1d_files.py FOLDER
    /tmp/tf/bin/python tests/keras_interop/check_with_keras.py FOLDER
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/check_with_keras.py FOLDER

The same architecture as ``write_conv1d_fixtures.py`` (real Keras's own files, read by
``tests/test_conv1d.py``).
"""

import sys
from pathlib import Path

import numpy as np
from model_files import random_weights, write_files

from convnet.layers import (
    AveragePooling1D,
    Conv1D,
    Dense,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)
from convnet.models import Sequential


def conv1d_model() -> Sequential:
    return Sequential([
        Conv1D(4, 3, padding="same", activation="relu", input_shape=(16, 2)),
        MaxPooling1D(2),
        Conv1D(5, 3, strides=2, padding="causal", activation="tanh"),
        AveragePooling1D(3, strides=1, padding="same"),
        Conv1D(3, 2, use_bias=False),
        GlobalMaxPooling1D(keepdims=True),
        GlobalAveragePooling1D(),
        Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    model = conv1d_model()
    rng = np.random.default_rng(0)
    random_weights(model, rng)
    write_files(model, Path(folder), rng.uniform(0, 1, (4, 16, 2)).astype("float32"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
