"""Write a convnet model of dilated Conv2D and Conv1D layers in the Keras formats, for
``check_with_keras.py``: real tf-keras and Keras 3 load it and must predict the same.

    PYTHONPATH=. python tests/keras_interop/write_dilation_files.py FOLDER
    /tmp/tf/bin/python tests/keras_interop/check_with_keras.py FOLDER
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/check_with_keras.py FOLDER

The same architecture as ``write_dilation_fixtures.py`` (real Keras's own files, read by
``tests/test_dilation.py``), plus a channels_first dilated Conv2D.
"""

import sys
from pathlib import Path

import numpy as np
from model_files import random_weights, write_files

from convnet.layers import Conv1D, Conv2D, Flatten, Reshape
from convnet.models import Sequential


def dilation_model() -> Sequential:
    return Sequential([
        Conv2D(3, (2, 3), dilation_rate=(2, 1), padding="same", activation="relu",
               input_shape=(8, 8, 2)),
        Conv2D(2, 2, dilation_rate=3, use_bias=False),
        Reshape((5, 10)),
        Conv1D(3, 2, dilation_rate=2, padding="causal", activation="tanh"),
        Conv1D(4, 2, dilation_rate=2, padding="same", data_format="channels_first"),
        Reshape((4, 3, 1)),
        Conv2D(2, (2, 1), dilation_rate=(2, 1), padding="same", data_format="channels_first"),
        Flatten(),
    ])


def main(folder: str) -> int:
    model = dilation_model()
    rng = np.random.default_rng(0)
    random_weights(model, rng)
    write_files(model, Path(folder), rng.uniform(0, 1, (4, 8, 8, 2)).astype("float32"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
