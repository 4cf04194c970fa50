"""Write a convnet model with issue 14's new layers, regularizers, constraints and activations
in the Keras formats, for ``check_with_keras.py`` (real tf-keras and Keras 3 load it and must
predict the same), and read real Keras's own files of the same layers back into convnet.

    PYTHONPATH=. python tests/keras_interop/write_new_layers_files.py FOLDER
    /tmp/tf/bin/python tests/keras_interop/check_with_keras.py FOLDER
    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/check_with_keras.py FOLDER

The model holds the augmentation layers (the identity in ``predict``), the noise layers, the
upsampling, rescaling and activity-regularization layers, kernel/bias regularizers and
constraints on Conv2D and Dense, and the gelu/silu/mish activations.
"""

import sys
from pathlib import Path

import numpy as np
from model_files import random_weights, write_files

from convnet import constraints, regularizers
from convnet.layers import (
    ActivityRegularization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    SpatialDropout2D,
    UpSampling2D,
)
from convnet.models import Sequential


def new_layers_model() -> Sequential:
    return Sequential([
        RandomFlip("horizontal", input_shape=(6, 6, 2)),
        RandomTranslation(0.1, 0.1),
        RandomRotation(0.05),
        RandomZoom(0.1),
        RandomContrast(0.2),
        Rescaling(0.5, offset=0.1),
        Conv2D(3, 3, padding="same", activation="gelu",
               kernel_regularizer=regularizers.L2(0.01), bias_regularizer="l1",
               kernel_constraint=constraints.MaxNorm(2.0, axis=[0, 1, 2]),
               bias_constraint=constraints.NonNeg()),
        SpatialDropout2D(0.1),
        UpSampling2D((2, 2), interpolation="bilinear"),
        Conv2D(2, 3, strides=2, activation="silu"),
        UpSampling2D(2),
        GaussianNoise(0.1),
        Flatten(),
        GaussianDropout(0.1),
        Dropout(0.1, noise_shape=(None, 1)),
        Dense(5, activation="mish", kernel_regularizer=regularizers.L1L2(0.01, 0.02),
              activity_regularizer=regularizers.L2(0.01),
              kernel_constraint=constraints.UnitNorm()),
        ActivityRegularization(l1=0.01),
        Dense(3, activation="softmax"),
    ])


def main(folder: str) -> int:
    model = new_layers_model()
    rng = np.random.default_rng(0)
    random_weights(model, rng)
    write_files(model, Path(folder), rng.uniform(0, 1, (4, 6, 6, 2)).astype("float32"), whole=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
