"""The most accurate MNIST model in these examples that a 2-core laptop trains in under half an
hour: the well-known "two VGG-style blocks with BatchNormalization, light augmentation and a
decaying learning rate" recipe, on convnet. It aims at 99.5-99.6 % test accuracy on MNIST;
``--dataset fashion_mnist`` trains the same model, unchanged, on Fashion-MNIST.

    python examples/mnist_best.py --seed 1 --out runs/best     # the full run (25 epochs)
    python examples/mnist_best.py --dataset fashion_mnist --seed 1 --out runs/best
    python examples/mnist_best.py --epochs 1 --limit 2000 --test-limit 1000   # a quick look

(``examples/mnist_995.py``, this script's former name, still runs it.)

The recipe (common practice in Kaggle's "Digit Recognizer" notebooks and keras.io-style
tutorials; one public write-up of it is github.com/mrmoxon/Deep-Image-Learning, README,
"Alternative Method", which reports 99.65 % with this shape of model and augmentation):

* augmentation, active only in ``fit`` (the identity in ``evaluate``/``predict``): rotations up
  to 10 degrees, shifts up to 10 % of the height and width, zooms up to 10 %, filling the
  uncovered border with black (0), the background of both datasets' images;
* two blocks of [3x3 Conv -> BatchNormalization -> ReLU] x 2 -> 2x2 MaxPooling -> Dropout(0.25),
  with 32 then 64 filters (the convolutions have no bias: the BatchNormalization that follows
  adds its own ``beta``);
* Dense(256) -> BatchNormalization -> ReLU -> Dropout(0.4) -> Dense(10, softmax);
* Adam, learning rate 1e-3 falling along a cosine (``optimizers.schedules.CosineDecay``) to
  1e-5 over the whole run: large steps first, then small ones that settle the weights, so the
  last epoch is (nearly) the best one and no checkpoint picking on the test set is needed.

BatchNormalization uses momentum 0.9 instead of Keras's 0.99, for the reason given in
examples/residual_cnn.py (in a short run the 100-step moving average lags behind the weights).

The test set is only watched (``validation_data``, for the history plot): nothing is chosen on
it. Measured on MNIST on 2026-12-05 (2-core AMD EPYC, other work sharing the machine), 25
epochs: ``--seed 1`` 99.51 % test accuracy (test loss 0.0124; 49 s an epoch, 20.5 min of
training), ``--seed 2`` 99.60 % (test loss 0.0116), ``--seed 3`` 99.54 % (test loss 0.0142): a
median of 99.54 %. ``--dataset fashion_mnist --seed 1``: 91.25 % (test loss 0.2332; 52 s an
epoch). With 15 epochs seed 1 ended at 99.43 % (its
best epoch had 99.55 %, but picking an epoch on the test set would be cheating). Hence the
default of 25. The README's "Current figures" has the other seeds and Fashion-MNIST.

Outputs in ``--out``, named after the dataset (``mnist_best`` or ``fashion_mnist_best``):
NAME.json + NAME.weights.h5 (the Keras architecture and weights, which tf-keras and Keras 3
load) and NAME_history.png.
"""

import argparse
import os
import sys
import time

import convnet as keras  # first: it tunes the thread pools before NumPy starts them

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write PNG files; no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from convnet import layers  # noqa: E402
from convnet.optimizers import schedules  # noqa: E402

DEGREES = 1 / 360   # RandomRotation's factor is a fraction of a full turn


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist",
                   help="mnist (bundled) or fashion_mnist (see convnet.datasets.fashion_mnist)")
    p.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images only (default: all 60,000)")
    p.add_argument("--test-limit", type=int, default=None,
                   help="test on the first N test images only (default: all 10,000)")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")
    p.add_argument("--out", default=".", help="folder for the model files and plot (default .)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.limit is not None and not 1 <= args.limit <= 60000:
        p.error("--limit must be between 1 and 60000")
    if args.test_limit is not None and not 1 <= args.test_limit <= 10000:
        p.error("--test-limit must be between 1 and 10000")
    return args


def conv_bn_relu(filters: int):
    """3x3 convolution, BatchNormalization, ReLU: the recipe's building brick."""
    return [layers.Conv2D(filters, 3, use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu")]


def build_model() -> keras.Sequential:
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        # augmentation: a new random warp of every image in every batch, in training only
        layers.RandomRotation(10 * DEGREES, fill_mode="constant"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
        layers.RandomZoom(0.1, fill_mode="constant"),
        # block 1: 28x28 -> 26x26 -> 24x24 -> 12x12, 32 channels
        *conv_bn_relu(32), *conv_bn_relu(32),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        # block 2: 12x12 -> 10x10 -> 8x8 -> 4x4, 64 channels
        *conv_bn_relu(64), *conv_bn_relu(64),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        # classifier: 4*4*64 = 1024 features -> 256 -> 10
        layers.Flatten(),
        layers.Dense(256, use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.Dropout(0.4),
        layers.Dense(10, activation="softmax"),
    ], name="mnist_best")


def plot_history(history, path: str, target: float | None = None) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6))
    epochs = range(1, len(history["loss"]) + 1)
    top.plot(epochs, history["accuracy"], marker="o", label="train (augmented)")
    top.plot(epochs, history["val_accuracy"], marker="o", label="test")
    if target is not None:
        top.axhline(target, color="gray", linestyle=":", label=f"{target:.1%}")
    top.set(title="accuracy", xlabel="epoch")
    top.legend(loc="lower right")
    bottom.plot(epochs, history["loss"], marker="o", label="train (augmented)")
    bottom.plot(epochs, history["val_loss"], marker="o", label="test")
    bottom.set(title="loss", xlabel="epoch", yscale="log")
    bottom.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)  # noqa: E731
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)

    dataset = getattr(keras.datasets, args.dataset)   # mnist or fashion_mnist: the same layout
    (x_train, y_train), (x_test, y_test) = dataset.load_data()
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.test_limit is not None:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)   # (N, 28, 28, 1) in [0, 1]
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = build_model()
    model.summary()
    steps_per_epoch = -(-len(x_train) // args.batch_size)   # ceil: fit's last batch is partial
    learning_rate = schedules.CosineDecay(1e-3, decay_steps=args.epochs * steps_per_epoch,
                                          alpha=0.01)
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  metrics=["accuracy"])

    started = time.perf_counter()
    log = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                    validation_data=(x_test, y_test))
    train_seconds = time.perf_counter() - started

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    print(f"Training took {train_seconds:.0f} s ({train_seconds / args.epochs:.0f} s per epoch "
          f"of {len(x_train)} images)")

    name = f"{args.dataset}_best"
    with open(out(f"{name}.json"), "w") as f:
        f.write(model.to_json())
    model.save_weights(out(f"{name}.weights.h5"))
    plot_history(log.history, out(f"{name}_history.png"),
                 target=0.995 if args.dataset == "mnist" else None)
    print(f"Wrote {out(f'{name}.json')}, {out(f'{name}.weights.h5')} and "
          f"{out(f'{name}_history.png')}")
    return loss, accuracy


if __name__ == "__main__":
    main(sys.argv[1:])
