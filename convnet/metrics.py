"""Metrics reported during training, streaming over an epoch as in Keras.

A metric is an object with ``reset_state()``, ``update_state(y_true, y_pred)`` (one batch) and
``result()`` (the value over every batch since the reset). ``fit`` resets its metrics at the start
of each epoch and ``evaluate`` at its start, so the value logged for an epoch is the metric over
all its samples -- for Precision, Recall and AUC that is not the mean of the batch values.

Per-sample metrics (accuracy, mae, ...) are plain functions ``f(y_true, y_pred) -> (N,)`` wrapped
in :class:`MeanMetricWrapper`; a function of your own works the same way (metrics need no
gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convnet import not_supported


# ----- per-sample functions ---------------------------------------------------------------
def _flat_labels(y_true, n: int) -> np.ndarray:
    return np.asarray(y_true).reshape(n, -1)[:, 0]


def categorical_accuracy(y_true, y_pred: np.ndarray) -> np.ndarray:
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets), per sample."""
    return (np.asarray(y_pred).argmax(axis=-1)
            == np.asarray(y_true).argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred: np.ndarray) -> np.ndarray:
    """1.0 where ``argmax(y_pred)`` equals the integer label (``(N,)`` or ``(N, 1)``)."""
    pred = np.asarray(y_pred).argmax(axis=-1)
    return (pred == _flat_labels(y_true, len(pred)).astype(np.int64)).astype(np.float64)


def binary_accuracy(y_true, y_pred: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Mean over the last axis of ``(y_pred > threshold) == y_true`` (targets in {0, 1})."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape)
    return ((y_pred > threshold) == (y_true > 0.5)).mean(axis=-1)


def top_k_categorical_accuracy(y_true, y_pred: np.ndarray, k: int = 5) -> np.ndarray:
    """1.0 where the true class (``argmax(y_true)``) is among the ``k`` largest predictions."""
    return _in_top_k(np.asarray(y_true).argmax(axis=-1), np.asarray(y_pred), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred: np.ndarray, k: int = 5) -> np.ndarray:
    """:func:`top_k_categorical_accuracy` with integer labels."""
    y_pred = np.asarray(y_pred)
    return _in_top_k(_flat_labels(y_true, len(y_pred)).astype(np.int64), y_pred, k)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    # in the top k <=> fewer than k classes score strictly higher (ties count in, as in TF)
    true_score = np.take_along_axis(y_pred, labels[:, None], axis=-1)
    return ((y_pred > true_score).sum(axis=-1) < k).astype(np.float64)


def accuracy(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``'accuracy'`` as Keras resolves it from the shapes, per sample: categorical for one-hot
    ``y_true`` (shaped like ``y_pred``), sparse for integer labels ``(N,)``/``(N, 1)``, binary
    (threshold 0.5) for a single sigmoid output."""
    y_true = np.asarray(y_true)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.shape == y_pred.shape:
        return categorical_accuracy(y_true, y_pred)
    return sparse_categorical_accuracy(y_true, y_pred)


def mean_absolute_error(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``mean_k |p - y|`` per sample."""
    y_pred = np.asarray(y_pred)
    return np.abs(y_pred - np.asarray(y_true).reshape(y_pred.shape)).mean(axis=-1)


def mean_squared_error(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``mean_k (p - y)^2`` per sample."""
    y_pred = np.asarray(y_pred)
    return ((y_pred - np.asarray(y_true).reshape(y_pred.shape)) ** 2).mean(axis=-1)


def exact_match(y_true, y_pred: np.ndarray) -> np.ndarray:
    """Keras's ``Accuracy`` metric, per sample: the fraction of entries where ``y_pred`` equals
    ``y_true`` exactly (for predictions already turned into labels; the string
    ``'accuracy'`` instead picks categorical/sparse/binary accuracy from the shapes)."""
    y_pred = np.asarray(y_pred)
    equal = (np.asarray(y_true).reshape(y_pred.shape) == y_pred).astype(np.float64)
    return equal.reshape(len(equal), -1).mean(axis=-1) if equal.ndim > 1 else equal


mae = mean_absolute_error
mse = mean_squared_error


# ----- stateful metrics -------------------------------------------------------------------
class Metric:
    """Streaming metric: ``reset_state()``, ``update_state(y_true, y_pred)``, ``result()``."""

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true, y_pred) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def reset_states(self) -> None:
        """tf.keras's older spelling of :meth:`reset_state`."""
        self.reset_state()

    def __call__(self, y_true, y_pred) -> float:
        """Update with one batch and return the result (as Keras's ``metric(y_true, y_pred)``)."""
        self.update_state(y_true, y_pred)
        return self.result()


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``."""

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            self.total += float(values.sum()) * float(sample_weight)
            self.count += values.size * float(sample_weight)

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean over all samples seen of a per-sample function ``fn(y_true, y_pred)``."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs):
        self.fn, self.kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:  # type: ignore[override]
        super().update_state(self.fn(y_true, np.asarray(y_pred), **self.kwargs))


def _wrapper(fn: Callable, default: str, **fixed):
    class _Wrapped(MeanMetricWrapper):
        __doc__ = f"Streaming mean of :func:`{fn.__name__}`."

        def __init__(self, name: str = default, **kwargs):
            super().__init__(fn, name, **{**fixed, **kwargs})
    return _Wrapped


CategoricalAccuracy = _wrapper(categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy")
MeanAbsoluteError = _wrapper(mean_absolute_error, "mean_absolute_error")
MeanSquaredError = _wrapper(mean_squared_error, "mean_squared_error")
Accuracy = _wrapper(exact_match, "accuracy")
for _cls, _name in [(CategoricalAccuracy, "CategoricalAccuracy"),
                    (SparseCategoricalAccuracy, "SparseCategoricalAccuracy"),
                    (MeanAbsoluteError, "MeanAbsoluteError"),
                    (MeanSquaredError, "MeanSquaredError"), (Accuracy, "Accuracy")]:
    _cls.__name__ = _cls.__qualname__ = _name


class BinaryAccuracy(MeanMetricWrapper):
    """Streaming :func:`binary_accuracy` with ``threshold`` (default 0.5)."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Streaming :func:`top_k_categorical_accuracy` (default ``k=5``)."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Streaming :func:`sparse_top_k_categorical_accuracy` (default ``k=5``)."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class _Confusion(Metric):
    """Counts of true/false positives/negatives at each threshold, summed over batches.

    A prediction is positive at threshold ``t`` when ``y_pred > t``; a target is positive when
    ``y_true > 0.5``. All outputs count (a ``(N, K)`` output is ``N K`` binary decisions)."""

    def __init__(self, thresholds, name: str | None = None):
        self.thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        super().__init__(name)

    def reset_state(self) -> None:
        shape = self.thresholds.shape
        self.tp, self.fp, self.tn, self.fn = (np.zeros(shape) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        true = np.asarray(y_true).reshape(-1) > 0.5
        if true.size != pred.size:
            raise ValueError(f"{type(self).__name__}: y_true has {true.size} values, y_pred "
                             f"{pred.size}; they must match one for one")
        above = pred[None, :] > self.thresholds[:, None]     # (thresholds, values)
        self.tp += (above & true).sum(axis=1)
        self.fp += (above & ~true).sum(axis=1)
        self.fn += (~above & true).sum(axis=1)
        self.tn += (~above & ~true).sum(axis=1)


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


class Precision(_Confusion):
    """``tp / (tp + fp)`` over every sample since the reset (0 when nothing is predicted
    positive). ``y_pred > thresholds`` (default 0.5) is a positive prediction."""

    def __init__(self, thresholds: float = 0.5, name: str = "precision"):
        super().__init__(thresholds, name)

    def result(self) -> float:
        return float(_ratio(self.tp, self.tp + self.fp)[0])


class Recall(_Confusion):
    """``tp / (tp + fn)`` over every sample since the reset (0 when there is no positive)."""

    def __init__(self, thresholds: float = 0.5, name: str = "recall"):
        super().__init__(thresholds, name)

    def result(self) -> float:
        return float(_ratio(self.tp, self.tp + self.fn)[0])


class AUC(_Confusion):
    """Area under the ROC curve, as Keras approximates it: confusion counts at
    ``num_thresholds`` evenly spaced thresholds (the end ones just outside [0, 1]) summed over
    every batch since the reset, then the trapezoid rule over (false positive rate, true
    positive rate)."""

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", name: str = "auc"):
        if curve != "ROC":
            raise ValueError(f"AUC: only curve='ROC' is supported, got {curve!r}")
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds}")
        eps = 1e-7
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = num_thresholds
        super().__init__([-eps] + inner + [1 + eps], name)

    def result(self) -> float:
        tpr = _ratio(self.tp, self.tp + self.fn)
        fpr = _ratio(self.fp, self.fp + self.tn)
        # thresholds rise, so the rates fall: each slice has width fpr[i] - fpr[i + 1]
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


# ----- lookup -----------------------------------------------------------------------------
_FUNCTIONS: dict[str, Callable] = {
    "accuracy": accuracy, "acc": accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
}
_CLASSES: dict[str, Callable[..., Metric]] = {cls.__name__.lower(): cls for cls in (
    CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError, MeanSquaredError,
    Precision, Recall, AUC)}


def get(metric) -> tuple[str, Metric]:
    """Resolve a metric to ``(name, Metric)``: a name (``'accuracy'``/``'acc'``, ``'mae'``,
    ``'auc'``, a class name; any case), a :class:`Metric` instance or class, or a function
    ``f(y_true, y_pred) -> (N,)`` (averaged over all samples).

    ``name`` is the key ``fit`` logs, as in Keras: the string the user gave (``'acc'`` logs
    ``acc`` and ``val_acc``), a function's ``__name__``, a metric object's ``name``."""
    if isinstance(metric, Metric):
        return metric.name, metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        obj = metric()
        return obj.name, obj
    if isinstance(metric, str):
        key = metric.lower()
        if key in _FUNCTIONS:
            return metric, MeanMetricWrapper(_FUNCTIONS[key], metric)
        if key in _CLASSES:
            obj = _CLASSES[key]()
            obj.name = metric if metric.islower() else obj.name
            return obj.name, obj
        raise ValueError(f"Unknown metric {metric!r}; expected one of "
                         f"{sorted(set(_FUNCTIONS) | set(_CLASSES))}, a function "
                         "f(y_true, y_pred) or a convnet.metrics.Metric")
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        return name, MeanMetricWrapper(metric, name)
    raise ValueError(f"Unknown metric {metric!r}; give a name, a function f(y_true, y_pred) or "
                     "a convnet.metrics.Metric")


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
