"""A small residual CNN, written with the functional API: keras.Input, Add, BatchNormalization,
GlobalAveragePooling2D. Trains on MNIST (or Fashion-MNIST) and saves the model.

    python examples/residual_cnn.py                          # MNIST, 5 epochs
    python examples/residual_cnn.py --dataset fashion_mnist  # Fashion-MNIST
    python examples/residual_cnn.py --epochs 1 --limit 2000  # a quick look

The shortcut ``x`` feeds both the block and the Add, so in the backward pass its gradient is the
sum of the two (docs/backprop.md, "Models are graphs").
"""

import argparse
import time
from pathlib import Path

import convnet as keras
import numpy as np
from convnet import layers


def residual_block(x, filters: int):
    """conv-BN-ReLU-conv-BN, plus the block's input, then ReLU.

    BatchNormalization's moving statistics use momentum 0.9 (PyTorch's default, 0.1 in its
    convention) instead of Keras's 0.99: in a run of a few epochs with Adam the batch statistics
    move quickly, and a 100-step average lags behind them (measured on 6,000 MNIST images, 12
    epochs: test accuracy 95.8 % with 0.99 against 97.9 % with 0.9, and 98.0 % with the exact
    population statistics)."""
    shortcut = x
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization(momentum=0.9)(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization(momentum=0.9)(y)
    y = layers.Add()([y, shortcut])
    return layers.Activation("relu")(y)


def residual_cnn(input_shape=(28, 28, 1), classes: int = 10) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)          # 26 x 26 x 32
    x = layers.MaxPooling2D(2)(x)                                # 13 x 13 x 32
    x = residual_block(x, 32)
    x = layers.Conv2D(64, 3, activation="relu")(x)               # 11 x 11 x 64
    x = layers.MaxPooling2D(2)(x)                                # 5 x 5 x 64
    x = residual_block(x, 64)
    x = layers.GlobalAveragePooling2D()(x)                       # 64
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual_cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, help="folder for model.json and weights.h5")
    args = parser.parse_args()
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    dataset = getattr(keras.datasets, args.dataset)
    (x_train, y_train), (x_test, y_test) = dataset.load_data()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = residual_cnn()
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test))
    took = time.perf_counter() - started
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {loss:.4f}  Test accuracy: {accuracy:.4f}  ({took:.0f} s training)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        model.save_weights(out / "weights.h5")
        print(f"wrote {out / 'weights.h5'}")


if __name__ == "__main__":
    main()
