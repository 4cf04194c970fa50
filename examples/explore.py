"""See backprop happen: train the tutorial model briefly (or load saved Keras files) and write a
gallery of pictures, with an index.html saying what to look for in each.

    python examples/explore.py --out gallery                        # ~1 min: 1 epoch, 10k images
    python examples/explore.py --model out/model_digit.json --weights out/model_digit.h5 --out g
"""

import argparse
import html
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import convnet as keras  # noqa: E402
from convnet import callbacks, visualize  # noqa: E402
from convnet.datasets import mnist  # noqa: E402
from convnet.models import model_from_json  # noqa: E402
from convnet.tutorial import tutorial_model  # noqa: E402

PICTURES = [
    ("digits.png", "Sample training digits with their labels",
     "The raw material: 28x28 grey images, white ink on black, labels 0-9."),
    ("curves.png", "Accuracy and loss per epoch",
     "Training and test curves should both improve; a test curve that turns back up while the "
     "training one keeps falling means over-fitting."),
    ("filters.png", "First-layer filters",
     "Each 3x3 kernel of conv2d (red positive, blue negative): trained filters look like small "
     "edge and stroke detectors rather than noise."),
    ("feature_maps.png", "Feature maps of one digit",
     "What each convolution and pooling layer outputs: early maps still look like the digit, "
     "later ones respond to parts of it and get coarser after pooling."),
    ("gradients.png", "Where the network looks (dL/dA)",
     "The size of the loss gradient at the input and at every image-shaped activation for one "
     "digit: bright pixels are those that would change the loss most -- mostly on the strokes."),
    ("confusion.png", "Confusion matrix on the test set",
     "Rows are true digits, columns predictions: a strong diagonal, and the few off-diagonal "
     "cells show which digits are mistaken for which (4/9, 3/5, 7/2 ...)."),
    ("misclassified.png", "Misclassified test digits",
     "The mistakes, with the guess and its probability: many are ambiguous even for a person."),
    ("gradient_stats.png", "Gradient norms and dead ReLUs per epoch",
     "Gradient norms per parameter (log scale) show how strongly each layer is still learning; "
     "the lower panel shows how many ReLU units were silent on whole batches."),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="gallery", help="output folder (default: gallery)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit", type=int, default=10000, help="training images (default 10000)")
    p.add_argument("--test-limit", type=int, default=10000, help="test images (default 10000)")
    p.add_argument("--model", help="a Keras model JSON (e.g. model_digit.json) to load")
    p.add_argument("--weights", help="its weights (e.g. model_digit.h5); needs --model")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if (args.model is None) != (args.weights is None):
        p.error("--model and --weights go together")
    if args.epochs < 1 or args.limit < 1 or args.test_limit < 1:
        p.error("--epochs, --limit and --test-limit must be positive")
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train[:args.limit, :, :, None].astype("float32") / 255
    y_train = y_train[:args.limit]
    x_test = x_test[:args.test_limit, :, :, None].astype("float32") / 255
    y_test = y_test[:args.test_limit]
    out = lambda name: os.path.join(args.out, name)  # noqa: E731

    stats = callbacks.GradientStats()
    if args.model:
        with open(args.model) as f:
            model = model_from_json(f.read())
        model.load_weights(args.weights)
        model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adadelta(),
                      metrics=["accuracy"])
        print(f"loaded {args.model} + {args.weights}; one short epoch for the gradient panels")
        history = model.fit(x_train[:2000], keras.utils.to_categorical(y_train[:2000], 10),
                            batch_size=128, epochs=1, verbose=0, callbacks=[stats],
                            validation_data=(x_test, keras.utils.to_categorical(y_test, 10)))
    else:
        model = tutorial_model()
        history = model.fit(x_train, keras.utils.to_categorical(y_train, 10), batch_size=128,
                            epochs=args.epochs, verbose=1, callbacks=[stats],
                            validation_data=(x_test, keras.utils.to_categorical(y_test, 10)))

    visualize.plot_digits(x_train, y_train, path=out("digits.png"))
    visualize.plot_history(history, path=out("curves.png"))
    visualize.plot_filters(model.layers[0], path=out("filters.png"))
    visualize.plot_feature_maps(model, x_test[0], path=out("feature_maps.png"))
    visualize.plot_gradients(model, x_test[0], int(y_test[0]), path=out("gradients.png"))
    probs = model.predict(x_test, batch_size=500)
    visualize.plot_confusion_matrix(y_test, probs.argmax(axis=1), path=out("confusion.png"),
                                    classes=10)
    visualize.plot_misclassified(model, x_test, y_test, path=out("misclassified.png"))
    visualize.plot_gradient_stats(stats, path=out("gradient_stats.png"))
    plt.close("all")

    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    items = "\n".join(
        f'<figure><h2>{html.escape(title)}</h2><img src="{name}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(text)}</figcaption></figure>"
        for name, title, text in PICTURES)
    page = (f"<!doctype html><meta charset='utf-8'><title>convnet gallery</title>"
            f"<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}"
            f"img{{max-width:100%}}figure{{margin:2em 0}}</style>"
            f"<h1>convnet: a CNN learning MNIST</h1><p>Test accuracy of this model: "
            f"{accuracy:.2%} on {len(y_test)} images.</p>\n{items}\n")
    with open(out("index.html"), "w") as f:
        f.write(page)
    print(f"wrote {len(PICTURES)} pictures and {out('index.html')} (test accuracy {accuracy:.2%})")


if __name__ == "__main__":
    main(sys.argv[1:])
