"""The classic Keras MNIST tutorial, end to end, on convnet.

Only the imports differ from the Keras original: load MNIST, look at nine digits, train the
two-convolution network with Adadelta for 10 epochs (about 99 % test accuracy), plot the
accuracy/loss curves, save the model in the Keras format (model_digit.json + model_digit.h5,
which real tf-keras 2.x and Keras 3 load) and reload it in a fresh model to check.

    python examples/mnist.py                       # the full tutorial (10 epochs)
    python examples/mnist.py --epochs 1 --limit 2000 --out /tmp/run   # a quick look
"""

import argparse
import os
import sys
import time

import convnet as keras  # first: it tunes the thread pools before NumPy starts them

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write PNG files; no screen needed
import matplotlib.pyplot as plt  # noqa: E402

from convnet import backend as k  # noqa: E402
from convnet.datasets import mnist  # noqa: E402
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from convnet.models import Sequential, model_from_json  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images only (default: all 60,000)")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")
    p.add_argument("--out", default=".", help="folder for the PNGs and model files (default .)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.limit is not None and not 1 <= args.limit <= 60000:
        p.error("--limit must be between 1 and 60000")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)  # noqa: E731
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()

    # ---- the tutorial, as written for Keras --------------------------------------------------
    (X_train, y_train), (X_test, y_test) = mnist.load_data()
    if args.limit is not None:
        X_train, y_train = X_train[:args.limit], y_train[:args.limit]

    fig = plt.figure()
    for i in range(9):
        plt.subplot(3, 3, i + 1)
        plt.tight_layout()
        plt.imshow(X_train[i], cmap="gray", interpolation="none")
        plt.title("Digit: {}".format(y_train[i]))  # noqa: UP032 (the tutorial's line)
        plt.xticks([])
        plt.yticks([])
    fig.savefig(out("digits.png"))
    plt.close(fig)

    img_rows, img_cols = 28, 28
    if k.image_data_format() == "channels_first":
        X_train = X_train.reshape(X_train.shape[0], 1, img_rows, img_cols)
        X_test = X_test.reshape(X_test.shape[0], 1, img_rows, img_cols)
        input_shape = (1, img_rows, img_cols)
    else:
        X_train = X_train.reshape(X_train.shape[0], img_rows, img_cols, 1)
        X_test = X_test.reshape(X_test.shape[0], img_rows, img_cols, 1)
        input_shape = (img_rows, img_cols, 1)

    X_train = X_train.astype("float32")
    X_test = X_test.astype("float32")
    X_train /= 255
    X_test /= 255

    num_category = 10
    y_train = keras.utils.to_categorical(y_train, num_category)
    y_test = keras.utils.to_categorical(y_test, num_category)

    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=input_shape))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(num_category, activation="softmax"))
    model.summary()

    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adadelta(),
                  metrics=["accuracy"])

    batch_size = args.batch_size
    num_epoch = args.epochs
    train_started = time.perf_counter()
    model_log = model.fit(X_train, y_train,
                          batch_size=batch_size,
                          epochs=num_epoch,
                          verbose=1,
                          validation_data=(X_test, y_test))
    train_seconds = time.perf_counter() - train_started

    score = model.evaluate(X_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])

    fig = plt.figure()
    plt.subplot(2, 1, 1)
    plt.plot(model_log.history["acc"], marker="o")
    plt.plot(model_log.history["val_acc"], marker="o")
    plt.title("model accuracy")
    plt.ylabel("accuracy")
    plt.xlabel("epoch")
    plt.legend(["train", "test"], loc="lower right")
    plt.subplot(2, 1, 2)
    plt.plot(model_log.history["loss"], marker="o")
    plt.plot(model_log.history["val_loss"], marker="o")
    plt.title("model loss")
    plt.ylabel("loss")
    plt.xlabel("epoch")
    plt.legend(["train", "test"], loc="upper right")
    plt.tight_layout()
    fig.savefig(out("curves.png"))
    plt.close(fig)

    # ---- save the model (Keras format) -------------------------------------------------------
    model_digit_json = model.to_json()
    with open(out("model_digit.json"), "w") as json_file:
        json_file.write(model_digit_json)
    model.save_weights(out("model_digit.h5"))
    print("Saved model to disk")

    # ---- reuse it: rebuild from the files in a fresh model ----------------------------------
    with open(out("model_digit.json")) as json_file:
        reloaded = model_from_json(json_file.read())
    reloaded.load_weights(out("model_digit.h5"))
    sample = X_test[:1000]
    diff = float(abs(reloaded.predict(sample) - model.predict(sample)).max())
    verdict = "match" if diff <= 1e-6 else "DIFFER"
    print(f"Reloaded {out('model_digit.json')} + {out('model_digit.h5')}: predictions on "
          f"{len(sample)} test images {verdict} (max |diff| = {diff:.2g})")

    print(f"Training took {train_seconds:.1f} s; whole run {time.perf_counter() - started:.1f} s")
    print(f"Wrote {out('digits.png')}, {out('curves.png')}, {out('model_digit.json')} and "
          f"{out('model_digit.h5')}")
    return score


if __name__ == "__main__":
    main(sys.argv[1:])
