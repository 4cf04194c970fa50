"""Pictures of a CNN at work (matplotlib only). Every function returns a Figure and, given
``path``, also saves it as a PNG.

``image`` arguments are one sample without the batch axis (e.g. ``(28, 28, 1)``); labels are
integers.
"""

from __future__ import annotations

import math
import os
from typing import Any

import matplotlib

if "MPLBACKEND" not in os.environ and matplotlib.get_backend().lower() not in ("agg", "pdf"):
    try:
        import tkinter  # noqa: F401  (a screen may exist; otherwise fall back to files only)
    except ImportError:
        matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from convnet import graph, losses  # noqa: E402
from convnet.models import Sequential  # noqa: E402


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def _as_image(sample: np.ndarray) -> np.ndarray:
    """(28, 28), (28, 28, 1) or (1, 28, 28) -> (28, 28) for imshow."""
    a = np.asarray(sample)
    if a.ndim == 3:
        a = a[..., 0] if a.shape[-1] in (1, 3) and a.shape[-1] <= a.shape[0] else a[0]
    return a


def plot_digits(images, labels, path=None, rows: int = 3, cols: int = 3, title: str = "Digit"):
    """The tutorial's grid of sample digits with their labels (3x3 by default)."""
    fig = plt.figure()
    for i in range(min(rows * cols, len(images))):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(_as_image(images[i]), cmap="gray", interpolation="none")
        ax.set_title(f"{title}: {int(labels[i])}")
        ax.set_xticks([])
        ax.set_yticks([])
    return _finish(fig, path)


def plot_history(history, path=None):
    """The tutorial's two panels: accuracy and loss per epoch, for training and test data.

    ``history`` is the History from ``fit`` or its ``.history`` dict (``accuracy``/``acc`` keys).
    """
    h = getattr(history, "history", history)

    def series(*names):
        for name in names:
            if name in h:
                return h[name]
        return None

    fig = plt.figure()
    for row, (metric, label) in enumerate([(("accuracy", "acc"), "accuracy"),
                                           (("loss",), "loss")]):
        ax = fig.add_subplot(2, 1, row + 1)
        train = series(*metric)
        test = series(*("val_" + m for m in metric))
        if train is None:
            raise KeyError(f"plot_history: no {label!r} in the history (keys: {sorted(h)})")
        ax.plot(range(1, len(train) + 1), train, marker="o", label="train")
        if test is not None:
            ax.plot(range(1, len(test) + 1), test, marker="o", label="test")
        ax.set_title(f"model {label}")
        ax.set_ylabel(label)
        ax.set_xlabel("epoch")
        ax.legend(loc="lower right" if label == "accuracy" else "upper right")
    return _finish(fig, path)


def plot_filters(layer, path=None, max_filters: int = 64):
    """A Conv2D layer's kernels, one panel per filter (input channels averaged), on a shared
    symmetric colour scale: red positive, blue negative weights."""
    kernel = layer.params["kernel"]                       # (kh, kw, in, out)
    k = kernel.mean(axis=2)
    count = min(k.shape[-1], max_filters)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    lim = float(np.abs(k).max()) or 1.0
    fig = plt.figure(figsize=(1.2 * cols, 1.2 * rows + 0.4))
    for f in range(count):
        ax = fig.add_subplot(rows, cols, f + 1)
        ax.imshow(k[:, :, f], cmap="bwr", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{layer.name}: {count} filters {kernel.shape[0]}x{kernel.shape[1]}")
    return _finish(fig, path)


def _activations(model, image: np.ndarray) -> list[tuple]:
    """``(layer, its output for the image)`` for every layer (every node of a graph model)."""
    x = np.asarray(image, dtype=model.layers[0].dtype or "float32")[None]
    if not isinstance(model, Sequential):
        values = graph.forward(model.nodes, model.inputs, [x], training=False)
        return [(node.layer, values[node.output.id][0]) for node in model.nodes]
    out = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        out.append((layer, x[0]))
    return out


def plot_feature_maps(model, image, path=None, max_maps: int = 16):
    """What each convolution/pooling layer outputs for one image: a row per layer, up to
    ``max_maps`` channels each, next to the input."""
    maps = [(layer, a) for layer, a in _activations(model, image) if a.ndim == 3]
    fig = plt.figure(figsize=(1.1 * (max_maps + 1), 1.3 * max(len(maps), 1)))
    for r, (layer, a) in enumerate(maps):
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            a = np.moveaxis(a, 0, -1)
        ax = fig.add_subplot(len(maps), max_maps + 1, r * (max_maps + 1) + 1)
        ax.imshow(_as_image(image), cmap="gray")
        ax.set_ylabel(layer.name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        for c in range(min(a.shape[-1], max_maps)):
            ax = fig.add_subplot(len(maps), max_maps + 1, r * (max_maps + 1) + c + 2)
            ax.imshow(a[:, :, c], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("feature maps (first column: input; one row per layer)")
    return _finish(fig, path)


def input_gradients(model, image, label: int) -> list[tuple]:
    """Backpropagate the loss of one image with its true ``label``; return, per layer,
    ``(layer, dL/d(input of that layer))`` -- the first entry is dL/dx for the image itself.
    For a graph model (``Model(inputs, outputs)``) only that first entry."""
    x = np.asarray(image, dtype=model.layers[0].dtype or "float32")[None]
    if not isinstance(model, Sequential):
        out = model.forward(x, training=False)
        y = np.zeros_like(out)
        y[0, int(label)] = 1
        fused = getattr(model.outputs[0].node.layer, "activation", None) == "softmax"
        grad = (losses.softmax_crossentropy_gradient(y, out) if fused
                else losses.categorical_crossentropy_gradient(y, out))
        dx = graph.backward(model.nodes, model.inputs, model.outputs, [grad],
                            preactivation=fused, input_gradient=True)[0]
        assert dx is not None
        return [(model.layers[0], dx[0])]
    out = x
    for layer in model.layers:
        out = layer.forward(out, training=False)
    y = np.zeros_like(out)
    y[0, int(label)] = 1
    last: Any = model.layers[-1]
    if getattr(last, "activation", None) == "softmax":
        grad = last.backward_preactivation(losses.softmax_crossentropy_gradient(y, out))
        rest = model.layers[:-1]
        result = [(last, grad[0])]
    else:
        grad = losses.categorical_crossentropy_gradient(y, out)
        rest, result = model.layers, []
    for layer in reversed(rest):
        below = graph.backward_of(layer, grad, True)
        assert below is not None                  # input_gradient=True: every layer returns it
        grad = below
        result.append((layer, grad[0]))
    return list(reversed(result))


def plot_gradients(model, image, label: int, path=None):
    """Where the network "looks": |dL/dA| summed over channels for the input and every image-
    shaped activation, for one digit and its true label."""
    # dropout, flatten and activation layers pass the gradient on unchanged at inference: skip
    grads = [(layer, g) for layer, g in input_gradients(model, image, label)
             if g.ndim == 3 and type(layer).__name__ not in ("Dropout", "Flatten", "Activation")]
    fig = plt.figure(figsize=(2.4 * (len(grads) + 1), 2.8))
    ax = fig.add_subplot(1, len(grads) + 1, 1)
    ax.imshow(_as_image(image), cmap="gray")
    ax.set_title(f"input (label {int(label)})", fontsize=8)
    ax.axis("off")
    for i, (layer, g) in enumerate(grads):
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            g = np.moveaxis(g, 0, -1)
        ax = fig.add_subplot(1, len(grads) + 1, i + 2)
        ax.imshow(np.abs(g).sum(axis=-1), cmap="hot")
        ax.set_title(f"|dL/d input of {layer.name}|", fontsize=8)
        ax.axis("off")
    return _finish(fig, path)


def confusion_matrix(y_true, y_pred, classes: int | None = None) -> np.ndarray:
    """Counts ``m[true, predicted]`` from integer labels (or one-hot/probabilities: argmax)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 2:
        y_true = y_true.argmax(axis=1)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    classes = classes or int(max(y_true.max(), y_pred.max())) + 1
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (y_true.astype(int), y_pred.astype(int)), 1)
    return m


def plot_confusion_matrix(y_true, y_pred, path=None, classes: int | None = None):
    """Which digits are mistaken for which: rows = true class, columns = predicted class."""
    m = confusion_matrix(y_true, y_pred, classes)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    im = ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    ax.set_title(f"confusion matrix ({m.trace()} of {m.sum()} right)")
    fig.colorbar(im, ax=ax)
    return _finish(fig, path)


def plot_misclassified(model, x, y, path=None, count: int = 9):
    """Test images the model gets wrong, with the true label, the guess and its probability."""
    probs = model.predict(x, batch_size=500)
    y = np.asarray(y)
    labels = y.argmax(axis=1) if y.ndim == 2 else y.reshape(-1)
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)[:count]
    cols = 3
    rows = max(math.ceil(len(wrong) / cols), 1)
    fig = plt.figure(figsize=(6, 2.2 * rows))
    for i, k in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(_as_image(x[k]), cmap="gray")
        guess = int(probs[k].argmax())
        ax.set_title(f"true {labels[k]}, said {guess} ({probs[k, guess]:.0%})", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{len(np.flatnonzero(probs.argmax(axis=1) != labels))} of {len(x)} "
                 "misclassified; the first few:")
    return _finish(fig, path)


def plot_gradient_stats(stats, path=None):
    """Two panels from a :class:`convnet.callbacks.GradientStats`, batch by batch: gradient norm
    per parameter (log scale) and fraction of ReLU units silent on the whole batch; dotted lines
    mark where epochs begin."""
    fig = plt.figure(figsize=(8, 6))
    panels = [(stats.batch_norms, "gradient norm per batch", True),
              (stats.batch_dead_relu, "fraction of ReLU units inactive on a whole batch", False)]
    for row, (series, title, log) in enumerate(panels):
        ax = fig.add_subplot(2, 1, row + 1)
        for name, values in series.items():
            ax.plot(range(1, len(values) + 1), values, label=name, linewidth=1)
        for start in stats.epoch_starts[1:]:
            ax.axvline(start + 0.5, color="gray", linestyle=":")
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.set_xlabel("training batch")
        ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)
