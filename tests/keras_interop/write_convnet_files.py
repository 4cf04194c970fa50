"""Write a convnet model in every Keras format, with inputs and convnet's predictions.

    PYTHONPATH=. python tests/keras_interop/write_convnet_files.py FOLDER [--weights W.h5]

Without ``--weights`` the tutorial model gets seeded random weights; with it, the weights of a
trained tutorial model (e.g. ``model_digit.h5`` from ``examples/mnist.py``) are loaded first.
"""

import argparse
from pathlib import Path

import numpy as np

import convnet as keras
from convnet.datasets import mnist
from convnet.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from convnet.models import Sequential
from convnet.tutorial import tutorial_model


def variants_model() -> Sequential:
    """Options beyond the tutorial: 'same' + strides, separate activations, both poolings."""
    return Sequential([
        Conv2D(6, (3, 3), strides=2, padding="same", activation="relu", input_shape=(17, 15, 3)),
        Conv2D(8, (2, 3), padding="same"),
        Activation("relu"),
        AveragePooling2D((2, 2), padding="same"),
        MaxPooling2D((3, 3), strides=(2, 1), padding="same"),
        Flatten(),
        Dense(16, use_bias=False),
        Activation("tanh"),
        Dropout(0.2),
        Dense(5, activation="softmax"),
    ])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--weights", default=None)
    p.add_argument("--model", choices=["tutorial", "variants"], default="tutorial")
    args = p.parse_args()
    out = Path(args.folder)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    if args.model == "variants":
        model = variants_model()
        x = np.random.default_rng(1).uniform(0, 1, (16, 17, 15, 3)).astype("float32")
    else:
        model = tutorial_model(compiled=False)
        (_, _), (x_test, _) = mnist.load_data()
        x = x_test[:64].reshape(-1, 28, 28, 1).astype("float32") / 255
    if args.weights:
        model.load_weights(args.weights)
    (out / "model.json").write_text(model.to_json())
    model.save_weights(out / "weights.h5")
    model.save_weights(out / "model.weights.h5")
    model.save(out / "model.h5")
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", model.predict(x))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
