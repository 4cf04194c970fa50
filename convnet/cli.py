"""The ``convnet`` command: train, evaluate, predict and summarise Keras-format models.

    convnet train --out runs/mnist                       # the tutorial model, 10 epochs
    convnet evaluate runs/mnist/model.json runs/mnist/model.h5
    convnet predict runs/mnist/model.json runs/mnist/model.h5 my_digit.png --show
    convnet summary runs/mnist/model.json
    convnet serve runs/mnist/model.json runs/mnist/model.h5   # the model in the browser
    convnet train --live --out runs/live                 # watch training in the browser

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
    live = _live_view(args, model) if args.live else None
    started = time.perf_counter()
    history = model.fit(x, keras.utils.to_categorical(y, 10), batch_size=args.batch_size,
                        epochs=args.epochs, verbose=1,
                        validation_data=(xt, keras.utils.to_categorical(yt, 10)),
                        callbacks=[live] if live is not None else None)
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
    if live is not None:
        _serve_until_interrupted(live.server, "the live view stays open (the trained model, "
                                 "every snapshot to scrub back through)")


def _live_view(args, model):
    """Start the LiveView page of ``train --live``; its URL is printed first."""
    from convnet.serve.live import LiveView

    _warn_host(args.host, args.live_port)
    live = LiveView(port=args.live_port, host=args.host, every_n_batches=args.live_every,
                    open_browser=not args.no_browser)
    try:
        url = live.start(model)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.live_port} ({exc})") from None
    print(f"Live view: {url}", flush=True)
    return live


def cmd_evaluate(args) -> None:
    model = _load(args.model, args.weights)
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    _, (xt, yt) = _load_dataset(args.dataset)
    if model.input_shape != (None, 28, 28, 1):
        raise CommandError(f"the model expects input {model.input_shape}, the {args.dataset} "
                           "images are (None, 28, 28, 1)")
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
    if model.input_shape != (None, 28, 28, 1):
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


def cmd_export(args) -> None:
    if not args.out.endswith(".onnx"):
        raise CommandError(f"{args.out}: the output must be an .onnx file (convnet exports ONNX)")
    model = _load(args.model, args.weights)
    if not model.built:
        raise CommandError(f"{args.model} does not say its input shape; ONNX needs it")
    try:
        model.export(args.out, format="onnx")
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {args.out}")


QUICK_SAMPLES = 4000     # `convnet serve` without a model trains on this many MNIST images


def cmd_serve(args) -> None:
    from convnet.serve import server

    if args.model is None:
        model = _quick_model()
    else:
        model = _load(args.model, args.weights)
    if not model.built:
        raise CommandError(f"{args.model} does not say its input shape; serve needs a built "
                           "model")
    _warn_host(args.host, args.port)
    try:
        running = server.Server(server.api.Session(model), args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port} ({exc})") from None
    print(running.url, flush=True)              # the first line: scripts and tests read it
    if not args.no_browser:
        import webbrowser
        webbrowser.open(running.url)
    _serve_until_interrupted(running.start(), "serving")


def _quick_model() -> Model:
    """The tutorial model after one quick epoch on the first QUICK_SAMPLES MNIST images."""
    print(f"No model given: training the tutorial model for one epoch on {QUICK_SAMPLES} MNIST "
          "images first (10-20 s; about 90% accurate, not the tutorial's 99%)",
          file=sys.stderr, flush=True)
    keras.utils.set_random_seed(0)
    (x, y), _ = _load_dataset("mnist", QUICK_SAMPLES)
    model = tutorial_model()
    model.fit(x, keras.utils.to_categorical(y, 10), batch_size=32, epochs=1, verbose=0)
    return model


def _warn_host(host: str, port: int) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine "
              f"on port {port or 'chosen'} can use the page, read the model and change its "
              "weights (Step)", file=sys.stderr, flush=True)


def _serve_until_interrupted(running, what: str) -> None:
    print(f"{what} at {running.url}; press Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.close()


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
    t.add_argument("--live", action="store_true",
                   help="watch training in the browser (convnet serve's page, live); its URL "
                        "is printed first, and it stays open after training until Ctrl-C")
    t.add_argument("--live-port", type=_port, default=0, help="port of --live (0: a free one)")
    t.add_argument("--live-every", type=_positive, default=20,
                   help="with --live, also a snapshot every N batches (default 20)")
    t.add_argument("--host", default="127.0.0.1",
                   help="address --live listens on (default 127.0.0.1, this machine only)")
    t.add_argument("--no-browser", action="store_true", help="with --live, open no browser")
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

    v = sub.add_parser("serve", formatter_class=fmt, help="the model in the browser",
                       description="Serve a local page where you draw a digit and watch the "
                                   "model's forward and backward pass, check a gradient and "
                                   "take an optimizer step (docs/serve.md). Prints the URL "
                                   "first. Without MODEL, trains the tutorial model for one "
                                   f"quick epoch ({QUICK_SAMPLES} images) first.",
                       epilog="example:\n  convnet serve runs/mnist/model.json "
                              "runs/mnist/model.h5\n  convnet serve --port 8000 --no-browser")
    v.add_argument("model", nargs="?", default=None,
                   help="model JSON, or a whole-model .h5 (none: train a quick one)")
    v.add_argument("weights", nargs="?", default=None, help="weights .h5 (with a JSON model)")
    v.add_argument("--port", type=_port, default=0, help="port (default 0: a free one)")
    v.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; any "
                        "other prints a warning)")
    v.add_argument("--no-browser", action="store_true", help="do not open a browser")
    v.set_defaults(run=cmd_serve)

    x = sub.add_parser("export", formatter_class=fmt, help="write a model as ONNX",
                       description="Write a saved model (JSON + weights, or a whole-model .h5 "
                                   "or .keras) as an ONNX file for inference elsewhere "
                                   "(onnxruntime, ...). Needs the onnx package: "
                                   "pip install convnet[onnx].",
                       epilog="example:\n  convnet export runs/mnist/model.json "
                              "runs/mnist/model.h5 digit.onnx")
    x.add_argument("model", help="model JSON, or a whole-model .h5 / .keras")
    x.add_argument("weights", nargs="?", default=None, help="weights .h5 (with a JSON model)")
    x.add_argument("out", help="the .onnx file to write")
    x.set_defaults(run=cmd_export)
    return p


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535, got {value}")
    return value


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
