"""Losses with their gradients: Keras 3's catalogue, by name, function or class.

convnet has no automatic differentiation, so every loss comes as a pair:

* the **value per sample** (Keras reduces over the last axis: ``(N, K)`` -> ``(N,)``), and
* the **gradient dL/dy_pred of the batch mean** of those values (Keras's default reduction,
  ``sum_over_batch_size``), so every gradient here carries a ``1 / M``, where ``M`` is the number
  of per-sample values (``N`` for ``(N, K)`` outputs).

Probabilities are clipped to ``[eps, 1 - eps]`` as Keras does (``eps = backend.epsilon()``); a
clipped cell passes no gradient. With ``from_logits=True`` the loss takes raw scores ``z`` and
uses log-sum-exp, so nothing is clipped and the gradient is ``(softmax(z) - y) / M`` (categorical)
or ``(sigmoid(z) - y) / (K M)`` (binary).

Softmax followed by cross-entropy fuses: with ``p = softmax(z)`` and one-hot ``y``,
``dL/dz = (p - y) / N`` -- no division by tiny probabilities, no softmax Jacobian. The model uses
:meth:`Loss.softmax_gradient` whenever the last layer's activation is softmax and the loss a
cross-entropy on probabilities.

A loss of your own subclasses :class:`Loss` and defines ``call`` and ``gradient``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convnet import backend, not_supported


# ----- helpers ------------------------------------------------------------------------------
def _clip(p: np.ndarray, high: float | None = None) -> np.ndarray:
    eps = backend.epsilon()
    return np.clip(p, eps, 1 - eps if high is None else high)


def _inside(p: np.ndarray, high: float | None = None) -> np.ndarray:
    """Where ``_clip`` leaves ``p`` unchanged (elsewhere the clipped loss is flat)."""
    eps = backend.epsilon()
    return (p > eps) & (p < (1 - eps if high is None else high))


def _as(y_true, y_pred: np.ndarray) -> np.ndarray:
    return np.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape)


def _count(y_pred: np.ndarray) -> int:
    """How many per-sample values the batch mean averages: all but the last axis."""
    return max(y_pred[..., 0].size, 1)


def _labels(y_true, y_pred) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return labels.astype(np.int64)


def _onehot(y_true, y_pred: np.ndarray) -> np.ndarray:
    onehot = np.zeros_like(y_pred)
    np.put_along_axis(onehot, _labels(y_true, y_pred)[..., None], 1, axis=-1)
    return onehot


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """``z - logsumexp(z)`` over the last axis, shifted by the max so ``exp`` never overflows."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    ez = np.exp(-np.abs(z))                      # never overflows
    return np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))


def _smooth(y: np.ndarray, label_smoothing: float, classes: float) -> np.ndarray:
    """Keras's label smoothing: ``y (1 - s) + s / classes`` (``classes`` = 2 for binary)."""
    return y * (1 - label_smoothing) + label_smoothing / classes if label_smoothing else y


# ----- cross-entropies ----------------------------------------------------------------------
def categorical_crossentropy(y_true, y_pred: np.ndarray, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> np.ndarray:
    """``-sum_k y[k] log(p[k])`` per sample. Shapes ``(N, K)`` -> ``(N,)``.

    Probabilities: ``p`` = ``y_pred`` rescaled to sum to 1, clipped to ``[eps, 1 - eps]``.
    Logits: ``log p = z - logsumexp(z)``. ``label_smoothing`` ``s`` uses
    ``y (1 - s) + s / K`` as the target."""
    y = _smooth(_as(y_true, y_pred), label_smoothing, y_pred.shape[-1])
    if from_logits:
        return -(y * _log_softmax(y_pred)).sum(axis=-1)
    q = _clip(y_pred / y_pred.sum(axis=-1, keepdims=True))
    return -(y * np.log(q)).sum(axis=-1)


def categorical_crossentropy_gradient(y_true, y_pred: np.ndarray, from_logits: bool = False,
                                      label_smoothing: float = 0.0) -> np.ndarray:
    """dL/dy_pred of the batch-mean categorical cross-entropy.

    Logits: ``(softmax(z) sum_k y[k] - y) / M`` (``softmax(z) - y`` for one-hot ``y``).
    Probabilities: through the rescaling ``q = p / sum(p)`` and the clipping."""
    y = _smooth(_as(y_true, y_pred), label_smoothing, y_pred.shape[-1])
    m = _count(y_pred)
    if from_logits:
        p = np.exp(_log_softmax(y_pred))
        return ((p * y.sum(axis=-1, keepdims=True) - y) / m).astype(y_pred.dtype)
    s = y_pred.sum(axis=-1, keepdims=True)
    q = y_pred / s
    g = np.where(_inside(q), -y / _clip(q), 0.0)                 # dL/dq
    # q = p / s: dL/dp_j = (g_j - sum_i g_i q_i) / s
    return ((g - (g * q).sum(axis=-1, keepdims=True)) / s / m).astype(y_pred.dtype)


def sparse_categorical_crossentropy(y_true, y_pred: np.ndarray,
                                    from_logits: bool = False) -> np.ndarray:
    """Cross-entropy with integer labels: ``-log p[label]``. ``(N,)`` or ``(N, 1)`` ints and
    ``(N, K)`` probabilities (clipped) or logits (``logsumexp(z) - z[label]``) -> ``(N,)``."""
    labels = _labels(y_true, y_pred)[..., None]
    if from_logits:
        return -np.take_along_axis(_log_softmax(y_pred), labels, axis=-1)[..., 0]
    q = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return -np.log(_clip(np.take_along_axis(q, labels, axis=-1)[..., 0]))


def sparse_categorical_crossentropy_gradient(y_true, y_pred: np.ndarray,
                                             from_logits: bool = False) -> np.ndarray:
    """dL/dy_pred of the batch-mean sparse categorical cross-entropy (the categorical one with
    one-hot labels; with logits ``(softmax(z) - onehot) / M``)."""
    return categorical_crossentropy_gradient(_onehot(y_true, y_pred), y_pred, from_logits)


def softmax_crossentropy_gradient(y_true: np.ndarray, probs: np.ndarray,
                                  sparse: bool = False) -> np.ndarray:
    """Fused gradient w.r.t. the logits ``z`` of ``softmax`` + cross-entropy: ``(p - y) / N``."""
    if sparse:
        dz = probs.copy()
        labels = _labels(y_true, probs)
        np.put_along_axis(dz, labels[..., None],
                          np.take_along_axis(dz, labels[..., None], axis=-1) - 1, axis=-1)
    else:
        dz = probs - np.asarray(y_true, dtype=probs.dtype)
    dz /= _count(probs)
    return dz


def _binary_targets(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``y_true`` as ``y_pred``'s shape, refused unless every target lies in [0, 1] (a 0-9
    digit label would give a negative, meaningless loss)."""
    y = _as(y_true, y_pred)
    low, high = (np.nanmin(y), np.nanmax(y)) if y.size else (0, 1)
    if low < 0 or high > 1:
        raise ValueError(f"binary_crossentropy: targets must lie in [0, 1] (0/1 labels or "
                         f"probabilities), got values from {low:g} to {high:g}; for class "
                         "labels 0-9 use sparse_categorical_crossentropy")
    return y


def binary_crossentropy(y_true, y_pred: np.ndarray, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> np.ndarray:
    """``mean_k -(y log p + (1 - y) log(1 - p))`` per sample. ``(N, K)`` -> ``(N,)``.

    Probabilities are clipped to ``[eps, 1 - eps]``. Logits use the overflow-free form
    ``max(z, 0) - z y + log(1 + exp(-|z|))``. ``label_smoothing`` ``s`` uses
    ``y (1 - s) + s / 2``."""
    y = _smooth(_binary_targets(y_true, y_pred), label_smoothing, 2)
    if from_logits:
        z = y_pred
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
    p = _clip(y_pred)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def binary_crossentropy_gradient(y_true, y_pred: np.ndarray, from_logits: bool = False,
                                 label_smoothing: float = 0.0) -> np.ndarray:
    """dL/dy_pred of the batch-mean binary cross-entropy: ``(sigmoid(z) - y) / (K M)`` for
    logits, ``(-y / p + (1 - y) / (1 - p)) / (K M)`` inside the clip range for probabilities."""
    y = _smooth(_binary_targets(y_true, y_pred), label_smoothing, 2)
    scale = y_pred.shape[-1] * _count(y_pred)
    if from_logits:
        return ((_sigmoid(y_pred) - y) / scale).astype(y_pred.dtype)
    p = _clip(y_pred)
    g = np.where(_inside(y_pred), -y / p + (1 - y) / (1 - p), 0.0)
    return (g / scale).astype(y_pred.dtype)


# ----- regression and the rest --------------------------------------------------------------
def mean_squared_error(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``mean_k (p - y)^2`` per sample. ``(N, K)`` -> ``(N,)``."""
    return ((y_pred - _as(y_true, y_pred)) ** 2).mean(axis=-1)


def mean_squared_error_gradient(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``2 (p - y) / (K M)``."""
    return 2 * (y_pred - _as(y_true, y_pred)) / (y_pred.shape[-1] * _count(y_pred))


def mean_absolute_error(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``mean_k |p - y|`` per sample. ``(N, K)`` -> ``(N,)``."""
    return np.abs(y_pred - _as(y_true, y_pred)).mean(axis=-1)


def mean_absolute_error_gradient(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``sign(p - y) / (K M)`` (0 where ``p == y``, as the subgradient autodiff picks)."""
    return np.sign(y_pred - _as(y_true, y_pred)) / (y_pred.shape[-1] * _count(y_pred))


def huber(y_true, y_pred: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """``mean_k h(p - y)`` with ``h(e) = e^2 / 2`` for ``|e| <= delta``, else
    ``delta |e| - delta^2 / 2`` (quadratic near 0, linear beyond). ``(N, K)`` -> ``(N,)``."""
    e = np.abs(y_pred - _as(y_true, y_pred))
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(axis=-1)


def huber_gradient(y_true, y_pred: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """``clip(p - y, -delta, delta) / (K M)``."""
    e = y_pred - _as(y_true, y_pred)
    return np.clip(e, -delta, delta) / (y_pred.shape[-1] * _count(y_pred))


def categorical_hinge(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``max(0, 1 + neg - pos)`` with ``pos = sum_k y p`` (the true class's score) and
    ``neg = max_k (1 - y) p`` (the best wrong class's). ``(N, K)`` -> ``(N,)``."""
    y = _as(y_true, y_pred)
    pos = (y * y_pred).sum(axis=-1)
    neg = ((1 - y) * y_pred).max(axis=-1)
    return np.maximum(0.0, 1 + neg - pos)


def categorical_hinge_gradient(y_true, y_pred: np.ndarray) -> np.ndarray:
    """Where the margin is violated: ``((1 - y) at the best wrong class - y) / M``, else 0."""
    y = _as(y_true, y_pred)
    wrong = (1 - y) * y_pred
    d_neg = np.zeros_like(y_pred)
    np.put_along_axis(d_neg, wrong.argmax(axis=-1)[..., None], 1, axis=-1)
    d_neg *= 1 - y
    active = (categorical_hinge(y, y_pred) > 0)[..., None]
    return np.where(active, d_neg - y, 0.0).astype(y_pred.dtype) / _count(y_pred)


def kl_divergence(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``sum_k y log(y / p)`` per sample, both clipped to ``[eps, 1]``. ``(N, K)`` -> ``(N,)``."""
    y = _clip(_as(y_true, y_pred), 1.0)
    return (y * np.log(y / _clip(y_pred, 1.0))).sum(axis=-1)


def kl_divergence_gradient(y_true, y_pred: np.ndarray) -> np.ndarray:
    """``-y / p / M`` inside the clip range."""
    y = _clip(_as(y_true, y_pred), 1.0)
    g = np.where(_inside(y_pred, 1.0), -y / _clip(y_pred, 1.0), 0.0)
    return (g / _count(y_pred)).astype(y_pred.dtype)


# ----- sample weights -----------------------------------------------------------------------
def _expand_weights(sample_weight, like: np.ndarray) -> np.ndarray:
    """``sample_weight`` of shape ``(N,)`` (or ``(N, 1)``) broadcast over ``like``'s other axes."""
    w = np.asarray(sample_weight, dtype=like.dtype).reshape(len(like))
    return w.reshape((len(like),) + (1,) * (like.ndim - 1))


def weighted_mean(values: np.ndarray, sample_weight=None) -> float:
    """Keras's ``sum_over_batch_size`` reduction of per-sample losses ``values`` (shape ``(N,)``
    or ``(N, ...)``): ``sum_i w_i l_i / M``, ``M`` the number of values. The weights are *not*
    normalised by their sum (Keras 3's ``reduce_weighted_values``; tf-keras 2 reduces the
    same way): weights of 2 double the loss and its gradient. No weights: the plain mean."""
    values = np.asarray(values)
    if sample_weight is None:
        return float(np.mean(values))
    return float(np.sum(values * _expand_weights(sample_weight, values)) / max(values.size, 1))


def weight_gradient(gradient: np.ndarray, sample_weight=None) -> np.ndarray:
    """dL/dy_pred of :func:`weighted_mean` from the gradient of the plain batch mean: sample
    ``i``'s loss depends on its own row only, so its row is scaled by ``w_i`` (the ``1 / M``
    is already there)."""
    if sample_weight is None:
        return gradient
    return (gradient * _expand_weights(sample_weight, gradient)).astype(gradient.dtype,
                                                                         copy=False)


# ----- classes ------------------------------------------------------------------------------
class Loss:
    """A loss: ``call`` gives one value per sample, ``gradient`` dL/dy_pred of their batch mean.

    ``loss(y_true, y_pred, sample_weight=None)`` returns that batch mean (weighted: see
    :func:`weighted_mean`), as in Keras. A loss of your own (convnet
    cannot differentiate a function for you) subclasses this::

        class MyMSE(convnet.losses.Loss):
            def call(self, y_true, y_pred):           # (N, K) -> (N,)
                return ((y_pred - y_true) ** 2).mean(axis=-1)
            def gradient(self, y_true, y_pred):       # dL/dy_pred of the batch mean, (N, K)
                return 2 * (y_pred - y_true) / y_pred.size

        model.compile(loss=MyMSE(), optimizer="adam")

    ``gradcheck.check_model`` checks a ``gradient`` against ``call``.
    """

    #: True for the cross-entropies on probabilities, whose gradient through a softmax output
    #: the model computes in one step (:meth:`softmax_gradient`).
    fuses_softmax = False
    #: True when ``y_true`` holds integer class labels rather than one target per output.
    sparse_labels = False

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size"):
        if reduction != "sum_over_batch_size":
            raise ValueError(f"{type(self).__name__}: only reduction='sum_over_batch_size' (the "
                             f"batch mean, Keras's default) is supported, got {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true, y_pred: np.ndarray) -> np.ndarray:
        """The loss of each sample: ``(N, ...)`` -> ``(N,)`` (all axes but the last)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def gradient(self, y_true, y_pred: np.ndarray) -> np.ndarray:
        """dL/dy_pred of the batch mean of :meth:`call`, shaped like ``y_pred``."""
        raise NotImplementedError(f"{type(self).__name__} must define gradient(y_true, y_pred)")

    def softmax_gradient(self, y_true, probs: np.ndarray) -> np.ndarray:
        """dL/dz for ``probs = softmax(z)`` (only where ``fuses_softmax``)."""
        raise NotImplementedError(f"{type(self).__name__} does not fuse with softmax")

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        y_pred = np.asarray(y_pred, dtype=np.result_type(np.asarray(y_pred).dtype, np.float32))
        return weighted_mean(self.call(y_true, y_pred), sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


def _label_smoothing(value, owner: str) -> float:
    """``label_smoothing`` as a float in [0, 1]; else a clear error."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: label_smoothing must be in [0, 1], got {value!r}")
    return float(value)


class CategoricalCrossentropy(Loss):
    """:func:`categorical_crossentropy` with one-hot (or soft) targets; ``from_logits=True``
    for a last layer without softmax, ``label_smoothing`` in ``[0, 1]``."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str = "sum_over_batch_size", name: str = "categorical_crossentropy"):
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing, type(self).__name__)
        self.fuses_softmax = not self.from_logits

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def gradient(self, y_true, y_pred):
        return categorical_crossentropy_gradient(y_true, y_pred, self.from_logits,
                                                 self.label_smoothing)

    def softmax_gradient(self, y_true, probs):
        y = _smooth(_as(y_true, probs), self.label_smoothing, probs.shape[-1])
        return softmax_crossentropy_gradient(y, probs)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """:func:`sparse_categorical_crossentropy`: integer labels ``(N,)`` or ``(N, 1)``;
    ``from_logits=True`` for a last layer without softmax (the TF2 quickstart's ``Dense(10)``)."""

    sparse_labels = True

    def __init__(self, from_logits: bool = False, reduction: str = "sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy"):
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)
        self.fuses_softmax = not self.from_logits

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def gradient(self, y_true, y_pred):
        return sparse_categorical_crossentropy_gradient(y_true, y_pred, self.from_logits)

    def softmax_gradient(self, y_true, probs):
        return softmax_crossentropy_gradient(y_true, probs, sparse=True)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits}


class BinaryCrossentropy(Loss):
    """:func:`binary_crossentropy`: targets in {0, 1} (or soft), one per output;
    ``from_logits=True`` for a last layer without sigmoid, ``label_smoothing`` in ``[0, 1]``."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str = "sum_over_batch_size", name: str = "binary_crossentropy"):
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing, type(self).__name__)

    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def gradient(self, y_true, y_pred):
        return binary_crossentropy_gradient(y_true, y_pred, self.from_logits,
                                            self.label_smoothing)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class _Pair(Loss):
    """A loss given by a module-level ``(value, gradient)`` pair."""

    _functions: tuple[Callable, Callable]

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None):
        super().__init__(name or self._functions[0].__name__, reduction)

    def call(self, y_true, y_pred):
        return self._functions[0](y_true, y_pred)

    def gradient(self, y_true, y_pred):
        return self._functions[1](y_true, y_pred)


class MeanSquaredError(_Pair):
    """:func:`mean_squared_error`."""
    _functions = (mean_squared_error, mean_squared_error_gradient)


class MeanAbsoluteError(_Pair):
    """:func:`mean_absolute_error`."""
    _functions = (mean_absolute_error, mean_absolute_error_gradient)


class CategoricalHinge(_Pair):
    """:func:`categorical_hinge`."""
    _functions = (categorical_hinge, categorical_hinge_gradient)


class KLDivergence(_Pair):
    """:func:`kl_divergence`."""
    _functions = (kl_divergence, kl_divergence_gradient)


class Huber(Loss):
    """:func:`huber` with threshold ``delta`` (default 1.0)."""

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size",
                 name: str = "huber_loss"):
        super().__init__(name, reduction)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)

    def gradient(self, y_true, y_pred):
        return huber_gradient(y_true, y_pred, self.delta)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "delta": self.delta}


# Keras 3's short names and tf-keras's spellings (KLD, kullback_leibler_divergence, huber_loss)
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence
huber_loss = huber

# name -> a Loss factory; every module-level loss function above, under each of its names
_BY_NAME: dict[str, Callable[[], Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
}
_CLASSES = {cls.__name__: cls for cls in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
    MeanAbsoluteError, Huber, CategoricalHinge, KLDivergence)}
_FUNCTIONS = {id(f): name for name, f in [
    ("categorical_crossentropy", categorical_crossentropy),
    ("sparse_categorical_crossentropy", sparse_categorical_crossentropy),
    ("binary_crossentropy", binary_crossentropy), ("mean_squared_error", mean_squared_error),
    ("mean_absolute_error", mean_absolute_error), ("huber", huber),
    ("categorical_hinge", categorical_hinge), ("kl_divergence", kl_divergence)]}


def get_loss(loss) -> Loss:
    """Resolve a loss to a :class:`Loss`: a name (``'mse'``, ``'binary_crossentropy'``, a class
    name), one of this module's functions, a :class:`Loss` instance or subclass.

    A plain function of your own is refused: convnet has no autodiff to find its gradient."""
    if isinstance(loss, Loss):
        obj = loss
    elif isinstance(loss, type) and issubclass(loss, Loss):
        obj = loss()
    elif isinstance(loss, str):
        factory = _BY_NAME.get(loss) or _CLASSES.get(loss)
        if factory is None:
            raise ValueError(f"Unknown loss {loss!r}; expected one of "
                             f"{sorted(set(_BY_NAME) | set(_CLASSES))}, or a convnet.losses.Loss")
        obj = factory()
        if loss in _BY_NAME:
            obj.name = loss if loss.islower() else obj.name
    elif callable(loss) and id(loss) in _FUNCTIONS:
        obj = _BY_NAME[_FUNCTIONS[id(loss)]]()
    elif callable(loss):
        name = getattr(loss, "__name__", repr(loss))
        raise TypeError(
            f"loss {name!r} is a plain function: convnet has no automatic differentiation, so it "
            f"cannot compute the gradient of {name} for backpropagation. Subclass "
            "convnet.losses.Loss and define call(y_true, y_pred) (the loss of each sample, "
            "shape (N,)) and gradient(y_true, y_pred) (dL/dy_pred of the batch mean, shaped like "
            "y_pred), then pass an instance: compile(loss=MyLoss())")
    else:
        raise ValueError(f"Unknown loss {loss!r}; give a name such as 'mse' or a "
                         "convnet.losses.Loss")
    if type(obj).gradient is Loss.gradient or type(obj).call is Loss.call:
        raise TypeError(f"loss {type(obj).__name__} must define both call(y_true, y_pred) and "
                        "gradient(y_true, y_pred) (convnet has no automatic differentiation)")
    return obj


def get(loss) -> tuple[str, Callable, Callable]:
    """``(name, per-sample loss, gradient of the batch mean)`` for any loss :func:`get_loss`
    accepts."""
    obj = get_loss(loss)
    return obj.name, obj.call, obj.gradient


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
