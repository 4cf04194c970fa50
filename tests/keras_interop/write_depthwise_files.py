"""Write a convnet model with DepthwiseConv2D and SeparableConv2D in the Keras formats, for
``check_with_keras.py`` (real tf-keras and Keras 3 load it and must predict the same)::

    PYTHONPATH=. python tests/keras_interop/write_depthwise_files.py FOLDER
    /tmp/tf/bin/python tests/keras_interop/check_with_keras.py FOLDER
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/check_with_keras.py FOLDER

The model is the one ``write_depthwise_fixtures.py`` has real Keras write (strides, 'same'
padding, depth_multiplier 2, regularizers and constraints under Keras's names, no bias).
"""

import sys
from pathlib import Path

import numpy as np
from model_files import random_weights, write_files

from convnet import constraints, regularizers
from convnet.layers import Dense, DepthwiseConv2D, Flatten, SeparableConv2D
from convnet.models import Sequential


def depthwise_model() -> Sequential:
    return Sequential([
        DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                        depthwise_regularizer=regularizers.L2(0.01),
                        depthwise_constraint=constraints.MaxNorm(2.0, axis=[0, 1]),
                        input_shape=(7, 7, 3)),
        SeparableConv2D(4, (2, 3), depth_multiplier=2, activation="tanh",
                        pointwise_regularizer="l1", bias_constraint=constraints.NonNeg()),
        DepthwiseConv2D((1, 2), use_bias=False),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    model = depthwise_model()
    rng = np.random.default_rng(0)
    random_weights(model, rng)
    write_files(model, Path(folder), rng.uniform(0, 1, (4, 7, 7, 3)).astype("float32"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
