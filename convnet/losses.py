"""Cross-entropy losses, numerically safe, with their gradients.

Each loss returns one value per sample; the model averages them over the batch (Keras's
default reduction), so every gradient here is for the **batch mean** and carries a ``1 / N``.

Softmax followed by cross-entropy fuses: with ``p = softmax(z)`` and one-hot ``y``,
``dL/dz = (p - y) / N`` -- no division by tiny probabilities, no softmax Jacobian. The model uses
:func:`softmax_crossentropy_gradient` whenever the last layer's activation is softmax.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convnet import backend


def _clip(p: np.ndarray) -> np.ndarray:
    eps = backend.epsilon()
    return np.clip(p, eps, 1 - eps)


def categorical_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``-sum_k y_true[k] * log(p[k])`` per sample, ``p`` = ``y_pred`` rescaled to sum to 1 and
    clipped to ``[eps, 1 - eps]`` (as Keras does). Shapes ``(N, K)`` -> ``(N,)``."""
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    q = _clip(y_pred / y_pred.sum(axis=-1, keepdims=True))
    return -(y_true * np.log(q)).sum(axis=-1)


def categorical_crossentropy_gradient(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """dL/dy_pred of the batch-mean categorical cross-entropy (through rescaling and clipping)."""
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    eps = backend.epsilon()
    s = y_pred.sum(axis=-1, keepdims=True)
    q = y_pred / s
    inside = (q > eps) & (q < 1 - eps)                   # clipped cells pass no gradient
    g = np.where(inside, -y_true / np.clip(q, eps, 1 - eps), 0.0)   # dL/dq
    # q = p / s: dL/dp_j = (g_j - sum_i g_i q_i) / s
    return ((g - (g * q).sum(axis=-1, keepdims=True)) / s / y_pred.shape[0]).astype(y_pred.dtype)


def sparse_categorical_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Cross-entropy with integer labels: ``-log(clip(p[label]))``. ``(N,)`` or ``(N, 1)`` ints
    and ``(N, K)`` probabilities -> ``(N,)``."""
    labels = _labels(y_true, y_pred)
    picked = np.take_along_axis(y_pred / y_pred.sum(axis=-1, keepdims=True),
                                labels[:, None], axis=-1)[:, 0]
    return -np.log(_clip(picked))


def sparse_categorical_crossentropy_gradient(y_true, y_pred) -> np.ndarray:
    """dL/dy_pred of the batch-mean sparse categorical cross-entropy."""
    onehot = np.zeros_like(y_pred)
    np.put_along_axis(onehot, _labels(y_true, y_pred)[:, None], 1, axis=-1)
    return categorical_crossentropy_gradient(onehot, y_pred)


def softmax_crossentropy_gradient(y_true: np.ndarray, probs: np.ndarray,
                                  sparse: bool = False) -> np.ndarray:
    """Fused gradient w.r.t. the logits ``z`` of ``softmax`` + cross-entropy: ``(p - y) / N``."""
    if sparse:
        dz = probs.copy()
        labels = _labels(y_true, probs)
        dz[np.arange(len(labels)), labels] -= 1
    else:
        dz = probs - np.asarray(y_true, dtype=probs.dtype)
    dz /= probs.shape[0]
    return dz


def _labels(y_true, y_pred) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    return labels.astype(np.int64)


_LOSSES: dict[str, tuple[Callable, Callable]] = {
    "categorical_crossentropy": (categorical_crossentropy, categorical_crossentropy_gradient),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy,
                                        sparse_categorical_crossentropy_gradient),
}


def get(loss) -> tuple[str, Callable, Callable]:
    """Resolve a loss given by name or as one of this module's functions."""
    name = getattr(loss, "__name__", loss)
    if not isinstance(name, str) or name not in _LOSSES:
        raise ValueError(f"Unknown loss {loss!r}; expected one of {sorted(_LOSSES)}")
    return (name, *_LOSSES[name])
