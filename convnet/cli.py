"""The ``convnet`` command: train, evaluate, predict and summarise Keras-format models.

    convnet train --out runs/mnist                       # the tutorial model, 10 epochs
    convnet evaluate runs/mnist/model.json runs/mnist/model.h5
    convnet predict runs/mnist/model.json runs/mnist/model.h5 my_digit.png --show
    convnet summary runs/mnist/model.json

Errors (missing files, wrong formats) print one line to stderr and exit with status 1; bad flags
exit with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import convnet as keras  # first: it tunes the thread pools before NumPy starts them

import numpy as np  # noqa: E402

from convnet.datasets import fashion_mnist, mnist  # noqa: E402
from convnet.datasets.mnist import DatasetError  # noqa: E402
from convnet.tutorial import tutorial_model
from convnet.models import Model, load_model, model_from_json  # noqa: E402
from convnet.preprocessing import ImageError  # noqa: E402
from convnet.saving import CorruptFileError, FormatError  # noqa: E402

DATASETS = {"mnist": mnist, "fashion_mnist": fashion_mnist}


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _load_dataset(name: str, limit: int | None = None):
    (x, y), (xt, yt) = DATASETS[name].load_data()
    if limit is not None:
        x, y = x[:limit], y[:limit]
    prep = lambda a: a.reshape(len(a), 28, 28, 1).astype("float32") / 255  # noqa: E731
    return (prep(x), y), (prep(xt), yt)


def _load(model_file: str, weights: str | None) -> Model:
    for f in (model_file, weights):
        if f is not None and not Path(f).is_file():
            raise CommandError(f"file not found: {f}")
    if weights is None:
        if model_file.endswith(".json"):
            raise CommandError(f"{model_file} holds only the architecture; also give its "
                               "weights file (.h5)")
        return load_model(model_file)
    try:
        text = Path(model_file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{model_file} is not a JSON text file") from None
    model = model_from_json(text)
    model.load_weights(weights)
    return model


# ----- commands ---------------------------------------------------------------------------------
def cmd_train(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    (x, y), (xt, yt) = _load_dataset(args.dataset, args.limit)
    model = tutorial_model(compiled=False)
    model.compile(loss="categorical_crossentropy", optimizer=args.optimizer,
                  metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(x, keras.utils.to_categorical(y, 10), batch_size=args.batch_size,
                        epochs=args.epochs, verbose=1,
                        validation_data=(xt, keras.utils.to_categorical(yt, 10)))
    seconds = time.perf_counter() - started
    scores = model.evaluate(xt, keras.utils.to_categorical(yt, 10), verbose=0)
    assert isinstance(scores, list)  # compiled with metrics=["accuracy"]: [loss, accuracy]
    loss, accuracy = scores
    (out / "model.json").write_text(model.to_json())
    model.save_weights(out / "model.h5")
    from convnet import visualize
    visualize.plot_history(history, path=out / "curves.png")
    metrics = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size,
               "optimizer": args.optimizer, "train_images": len(x), "seed": args.seed,
               "test_loss": loss, "test_accuracy": accuracy, "train_seconds": round(seconds, 1),
               "history": {k: list(v) for k, v in history.history.items()}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"Test loss: {loss:.4f}  Test accuracy: {accuracy:.4f}")
    print(f"Wrote {out / 'model.json'}, {out / 'model.h5'}, {out / 'curves.png'}, "
          f"{out / 'metrics.json'}")


def cmd_evaluate(args) -> None:
    model = _load(args.model, args.weights)
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    _, (xt, yt) = _load_dataset(args.dataset)
    if model.input_shape != (28, 28, 1):
        raise CommandError(f"the model expects input {model.input_shape}, the {args.dataset} "
                           "images are (28, 28, 1)")
    scores = model.evaluate(xt, keras.utils.to_categorical(yt, 10), verbose=0)
    assert isinstance(scores, list)  # compiled with metrics=["accuracy"]: [loss, accuracy]
    loss, accuracy = scores
    print(f"{args.dataset} test set ({len(xt)} images): loss {loss:.4f}, "
          f"accuracy {accuracy:.4f}")
    from convnet import visualize
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pred = model.predict(xt, batch_size=500).argmax(axis=1)
    visualize.plot_confusion_matrix(yt, pred, path=out / "confusion_matrix.png", classes=10)
    print(f"Wrote {out / 'confusion_matrix.png'}")


def cmd_predict(args) -> None:
    from convnet.preprocessing import load_image, prepare_digit

    model = _load(args.model, args.weights)
    if model.input_shape != (28, 28, 1):
        raise CommandError(f"the model expects input {model.input_shape}; predict prepares "
                           "28x28 grayscale digits")
    for image_path in args.images:
        original = load_image(image_path)
        prepared = prepare_digit(original)
        probs = model.predict(prepared[None, :, :, None])[0]
        top = np.argsort(probs)[::-1][:3]
        print(f"{image_path}: " + ", ".join(f"{int(k)} ({probs[k]:.1%})" for k in top))
        if args.show:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, axes = plt.subplots(1, 2, figsize=(6, 3))
            axes[0].imshow(original, cmap=None if original.ndim == 3 else "gray")
            axes[0].set_title("original")
            axes[1].imshow(prepared, cmap="gray")
            axes[1].set_title(f"what the network saw: {int(top[0])}")
            for ax in axes:
                ax.axis("off")
            target = Path(image_path).with_suffix(".prepared.png")
            fig.savefig(target)
            plt.close(fig)
            print(f"  wrote {target}")


def cmd_summary(args) -> None:
    model = _load(args.model, None) if not args.model.endswith(".json") else None
    if model is None:
        if not Path(args.model).is_file():
            raise CommandError(f"file not found: {args.model}")
        model = model_from_json(Path(args.model).read_text(encoding="utf-8"))
    if not model.built:
        raise CommandError(f"{args.model} does not say its input shape, so its layers' shapes "
                           "are unknown")
    model.summary()


# ----- argument parsing -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="convnet", formatter_class=fmt,
                                description="Train, evaluate and use Keras-format CNN models.",
                                epilog="example:\n  convnet train --epochs 1 --limit 2000 "
                                       "--out runs/quick")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", formatter_class=fmt, help="train the tutorial model",
                       description="Train the Keras MNIST tutorial model and write model.json, "
                                   "model.h5 (Keras format), curves.png and metrics.json.",
                       epilog="example:\n  convnet train --dataset fashion_mnist --epochs 1 "
                              "--out runs/fashion")
    t.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    t.add_argument("--epochs", type=_positive, default=10)
    t.add_argument("--batch-size", type=_positive, default=128)
    t.add_argument("--optimizer", default="adadelta",
                   choices=["adadelta", "sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam",
                            "adamax", "lion"])
    t.add_argument("--limit", type=_positive, default=None, help="train on the first N images")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--out", required=True, help="output folder")
    t.set_defaults(run=cmd_train)

    e = sub.add_parser("evaluate", formatter_class=fmt, help="test loss/accuracy + confusion",
                       description="Evaluate a saved model on a dataset's test set and write "
                                   "confusion_matrix.png.",
                       epilog="example:\n  convnet evaluate runs/mnist/model.json "
                              "runs/mnist/model.h5\n  convnet evaluate whole_model.h5")
    e.add_argument("model", help="model JSON, or a whole-model .h5")
    e.add_argument("weights", nargs="?", default=None, help="weights .h5 (with a JSON model)")
    e.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    e.add_argument("--out", default=".", help="folder for confusion_matrix.png (default .)")
    e.set_defaults(run=cmd_evaluate)

    r = sub.add_parser("predict", formatter_class=fmt, help="read digits from images",
                       description="Print the top-3 digits with probabilities for each image. "
                                   "Images of any size and colour are prepared like MNIST.",
                       epilog="example:\n  convnet predict model.json model.h5 seven.png "
                              "--show")
    r.add_argument("model")
    r.add_argument("weights")
    r.add_argument("images", nargs="+")
    r.add_argument("--show", action="store_true",
                   help="write IMAGE.prepared.png: the original next to what the network saw")
    r.set_defaults(run=cmd_predict)

    s = sub.add_parser("summary", formatter_class=fmt, help="print a model's layer table",
                       description="Print the summary table of a Keras-format model (JSON or "
                                   "whole-model .h5), written by Keras or by convnet.",
                       epilog="example:\n  convnet summary model_digit.json")
    s.add_argument("model")
    s.set_defaults(run=cmd_summary)
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, FormatError, CorruptFileError, DatasetError, ImageError,
            FileNotFoundError, ValueError) as exc:
        print(f"convnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
