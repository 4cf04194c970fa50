"""Metrics reported during training: accuracy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1.0 where the predicted class is right, else 0.0, per sample.

    Accepts one-hot ``y_true`` (same shape as ``y_pred``: categorical accuracy), integer labels
    ``(N,)``/``(N, 1)`` (sparse categorical accuracy), and a single sigmoid output (threshold 0.5).
    """
    y_true = np.asarray(y_true)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        return ((y_pred[:, 0] > 0.5) == (y_true.reshape(-1) > 0.5)).astype(np.float64)
    pred = y_pred.argmax(axis=-1)
    if y_true.shape == y_pred.shape:
        true = y_true.argmax(axis=-1)
    else:
        true = y_true.reshape(pred.shape)
    return (pred == true).astype(np.float64)


_METRICS = {"accuracy": accuracy, "acc": accuracy}


def get(metric) -> tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Resolve a metric by name (``'accuracy'``/``'acc'``, any case) or function.

    Returns ``(name, function)``; ``name`` is the key ``fit`` logs, as in Keras: the string the
    user gave (``'acc'`` logs ``acc`` and ``val_acc``), or a function's ``__name__``."""
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", None)
    if not isinstance(name, str) or name.lower() not in _METRICS:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {sorted(_METRICS)}")
    return name, _METRICS[name.lower()]
