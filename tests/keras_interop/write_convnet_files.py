"""Write a convnet model in every Keras format, with inputs and convnet's predictions.

    PYTHONPATH=. python tests/keras_interop/write_convnet_files.py FOLDER [--weights W.h5]

Without ``--weights`` the tutorial model gets seeded random weights; with it, the weights of a
trained tutorial model (e.g. ``model_digit.h5`` from ``examples/mnist.py``) are loaded first.
``--model residual`` and ``--model shared`` write functional models (``Model(inputs, outputs)``);
``shared`` has two inputs and two outputs, so its arrays go to ``inputs.npz`` / ``expected.npz``.
"""

import argparse
from pathlib import Path

import numpy as np
from model_files import write_files

import convnet as keras
from convnet.datasets import mnist
from convnet.layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
    Subtract,
)
from convnet.models import Model, Sequential
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


def layers_model() -> Sequential:
    """The layers beyond the tutorial, in one stack (keras.Input first, as Keras 3 writes it)."""
    from convnet.layers import (
        ELU,
        Cropping2D,
        GlobalMaxPooling2D,
        LeakyReLU,
        Permute,
        PReLU,
        ReLU,
        Reshape,
        Softmax,
        ZeroPadding2D,
    )
    model = Sequential([
        Input(shape=(10, 9, 2)),
        ZeroPadding2D(((1, 2), (0, 1))),
        Conv2D(6, 3),
        BatchNormalization(),
        LeakyReLU(0.1),
        Cropping2D(((1, 0), (0, 1))),
        PReLU(alpha_initializer="zeros", shared_axes=[1, 2]),
        Conv2D(4, 2, activation="linear"),
        ELU(0.7),
        ReLU(max_value=1.5),
        Permute((2, 1, 3)),
        Reshape((-1, 4)),
        Softmax(axis=1),
        Reshape((-1, 2, 2)),
        GlobalMaxPooling2D(),
        Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(6)                  # alphas and statistics that matter
    for layer in model.layers:
        if type(layer).__name__ in ("PReLU", "BatchNormalization"):
            layer.set_weights([rng.uniform(0.1, 1.0, w.shape) for w in layer.get_weights()])
    return model


def residual_model() -> Model:
    """A residual block with batch normalisation, then a Concatenate of two poolings."""
    inputs = Input(shape=(12, 12, 3))
    x = Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = BatchNormalization()(y)
    y = Activation("relu")(Add()([y, x]))
    y = Concatenate()([MaxPooling2D()(y), MaxPooling2D()(x)])
    y = GlobalAveragePooling2D()(Dropout(0.2)(y))
    model = Model(inputs, Dense(5, activation="softmax")(y), name="residual")
    bn = model.layers[3]
    rng = np.random.default_rng(5)                  # moving statistics that change something
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.uniform(-0.5, 0.5, 8),
                    rng.uniform(-0.5, 0.5, 8), rng.uniform(0.5, 2.0, 8)])
    return model


def shared_model() -> Model:
    """Two inputs through one Conv2D (a shared layer: two calls), two outputs."""
    left, right = Input(shape=(7, 7, 2), name="left"), Input(shape=(7, 7, 2), name="right")
    conv = Conv2D(4, 3, activation="relu", name="shared_conv")
    a, b = conv(left), conv(right)
    probs = Dense(3, activation="softmax", name="probs")(Flatten()(Concatenate()([a, b])))
    score = Dense(2, name="score")(GlobalAveragePooling2D()(Subtract()([a, b])))
    return Model([left, right], [probs, score], name="two_towers")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--weights", default=None)
    p.add_argument("--model", choices=["tutorial", "variants", "residual", "shared", "layers"],
                   default="tutorial")
    args = p.parse_args()
    out = Path(args.folder)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    if args.model == "shared":
        model = shared_model()
        xs = list(np.random.default_rng(1).uniform(-1, 1, (2, 8, 7, 7, 2)).astype("float32"))
        model.save(out / "model.h5")
        (out / "model.json").write_text(model.to_json())
        model.save_weights(out / "weights.h5")
        model.save_weights(out / "model.weights.h5")
        np.savez(out / "inputs.npz", x0=xs[0], x1=xs[1])
        ys = model(xs)
        np.savez(out / "expected.npz", y0=ys[0], y1=ys[1])
        print(f"wrote {out}")
        return
    if args.model == "residual":
        model = residual_model()
        x = np.random.default_rng(1).uniform(0, 1, (16, 12, 12, 3)).astype("float32")
    elif args.model == "layers":
        model = layers_model()
        x = np.random.default_rng(1).uniform(-1, 1, (16, 10, 9, 2)).astype("float32")
    elif args.model == "variants":
        model = variants_model()
        x = np.random.default_rng(1).uniform(0, 1, (16, 17, 15, 3)).astype("float32")
    else:
        model = tutorial_model(compiled=False)
        (_, _), (x_test, _) = mnist.load_data()
        x = x_test[:64].reshape(-1, 28, 28, 1).astype("float32") / 255
    if args.weights:
        model.load_weights(args.weights)
    write_files(model, out, x)


if __name__ == "__main__":
    main()
