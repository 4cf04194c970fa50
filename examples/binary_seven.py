"""Is it a 7? A binary classifier on MNIST, Keras style: one sigmoid output, binary
cross-entropy, and the metrics a lopsided yes/no question needs (precision and recall, not only
accuracy).

    python examples/binary_seven.py --seed 1                  # the full run (6 epochs)
    python examples/binary_seven.py --epochs 1 --limit 2000   # a quick look

About one MNIST digit in ten is a 7, so a model that always answers "not a 7" is already about
90 % accurate: accuracy alone hides whether the 7s are found at all. Precision (of the images
called 7, the fraction that are 7s) and recall (of the 7s, the fraction called 7) do not; the
script prints both, with the share of 7s and that always-"no" baseline beside the accuracy.

The targets are 1.0 for a 7 and 0.0 for any other digit, one per image (shape ``(N,)``, which
Keras and convnet both accept for a ``(N, 1)`` output). The model answers ``p = P(7 | image)``;
``binary_accuracy``, ``Precision`` and ``Recall`` call ``p > 0.5`` a 7.
"""

import argparse
import sys
import time

import convnet as keras  # first: it tunes the thread pools before NumPy starts them

import numpy as np  # noqa: E402

from convnet import layers  # noqa: E402

DIGIT = 7


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images only (default: all 60,000)")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.limit is not None and not 1 <= args.limit <= 60000:
        p.error("--limit must be between 1 and 60000")
    return args


def build_model() -> keras.Sequential:
    """keras.io's small MNIST convnet (20,417 weights) ending in one sigmoid unit instead of ten
    softmax ones: P(the image is a 7)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),   # 26 x 26 x 32
        layers.MaxPooling2D(pool_size=(2, 2)),                      # 13 x 13 x 32
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),   # 11 x 11 x 64
        layers.MaxPooling2D(pool_size=(2, 2)),                      # 5 x 5 x 64
        layers.Flatten(),                                           # 1600
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ], name="binary_seven")


def compile_model(model: keras.Sequential) -> None:
    model.compile(loss="binary_crossentropy", optimizer="adam",
                  metrics=["binary_accuracy", keras.metrics.Precision(name="precision"),
                           keras.metrics.Recall(name="recall")])


def main(argv=None):
    args = parse_args(argv)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)

    (x_train, digits_train), (x_test, digits_test) = keras.datasets.mnist.load_data()
    if args.limit is not None:
        x_train, digits_train = x_train[:args.limit], digits_train[:args.limit]
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)   # (N, 28, 28, 1) in [0, 1]
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    # the question "is it a 7?" as targets: 1.0 for a 7, 0.0 for any other digit
    y_train = (digits_train == DIGIT).astype("float32")
    y_test = (digits_test == DIGIT).astype("float32")
    print(f"{len(x_train)} training images ({y_train.mean():.2%} are {DIGIT}s), "
          f"{len(x_test)} test images ({y_test.mean():.2%} are {DIGIT}s)")

    model = build_model()
    model.summary()
    compile_model(model)
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=0.1)
    train_seconds = time.perf_counter() - started

    score = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    always_no = 1 - y_test.mean()   # the accuracy of answering "not a 7" every time
    print(f"Test loss: {score['loss']:.4f}")
    print(f"Test accuracy: {score['binary_accuracy']:.4f}")
    print(f"Test precision: {score['precision']:.4f}")
    print(f"Test recall: {score['recall']:.4f}")
    print(f"Fraction of {DIGIT}s in the test set: {y_test.mean():.4f} "
          f"(always answering 'not a {DIGIT}' scores accuracy {always_no:.4f}, recall 0)")
    print(f"Training took {train_seconds:.0f} s ({train_seconds / args.epochs:.0f} s per epoch "
          f"of {len(x_train)} images)")
    return score


if __name__ == "__main__":
    main(sys.argv[1:])
