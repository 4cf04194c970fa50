"""The Keras MNIST tutorial's network, built in one place.

The command line, the examples, the tests and the benchmarks all use :func:`tutorial_model`;
``examples/mnist.py`` writes the same network out line by line, as the tutorial does.
"""

from __future__ import annotations

from convnet import optimizers
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential


def tutorial_model(input_shape: tuple = (28, 28, 1), classes: int = 10,
                   compiled: bool = True) -> Sequential:
    """Conv2D 32 -> Conv2D 64 -> MaxPooling2D -> Dropout 0.25 -> Flatten -> Dense 128 ->
    Dropout 0.5 -> Dense ``classes`` softmax (1,199,882 parameters for MNIST). With
    ``compiled``, compiled as the tutorial does: categorical cross-entropy, Adadelta (Keras 2.2's
    defaults), accuracy."""
    model = Sequential([
        Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=tuple(input_shape)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Dropout(0.25),
        Flatten(),
        Dense(128, activation="relu"),
        Dropout(0.5),
        Dense(classes, activation="softmax"),
    ])
    if compiled:
        model.compile(loss="categorical_crossentropy", optimizer=optimizers.Adadelta(),
                      metrics=["accuracy"])
    return model
