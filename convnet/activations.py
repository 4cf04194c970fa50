"""Activation functions, each with its derivative beside it.

Every activation is a pair: ``f(z)`` and ``backward(dy, y)``, which turns dL/dy into dL/dz using
only the output ``y = f(z)`` -- for all of these the derivative is a simple function of ``y``, so
layers need not keep ``z``. The forward functions accept ``out=`` so a layer that owns ``z`` can
overwrite it instead of allocating another array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def linear(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Identity: ``y = z``."""
    return z


def linear_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # dy/dz = 1
    return dy


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rectified linear unit: ``y = max(z, 0)``."""
    return np.maximum(z, 0, out=out)


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # dy/dz = 1 where z > 0 (equivalently y > 0), else 0 (Keras also uses 0 at z == 0).
    return dy * (y > 0)


def tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(z, out=out)


def tanh_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d tanh(z)/dz = 1 - tanh(z)^2 = 1 - y^2
    return dy * (1 - y * y)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, computed without overflow."""
    result = np.empty_like(z) if out is None else out
    pos = z >= 0
    ez = np.exp(-np.abs(z))                  # never overflows
    result[...] = np.where(pos, 1 / (1 + ez), ez / (1 + ez))
    return result


def sigmoid_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d sigma(z)/dz = sigma(z) (1 - sigma(z)) = y (1 - y)
    return dy * y * (1 - y)


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis: ``y_i = exp(z_i) / sum_j exp(z_j)``."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.divide(e, e.sum(axis=-1, keepdims=True), out=out)


def softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Jacobian-vector product: dz_i = y_i (dy_i - sum_j dy_j y_j).
    # (With cross-entropy the model skips this and uses the fused gradient p - y instead.)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "softmax": (softmax, softmax_backward),
}


def get(name: str | Callable | None) -> tuple[str, Callable, Callable]:
    """Return ``(name, forward, backward)`` for an activation name (``None`` means linear).

    A callable named like one (e.g. ``activations.relu``) stands for that name."""
    if name is None:
        name = "linear"
    if callable(name) and getattr(name, "__name__", None) in _ACTIVATIONS:
        name = name.__name__
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; "
                         f"expected one of {sorted(_ACTIVATIONS)}")
    forward, backward = _ACTIVATIONS[name]
    return name, forward, backward


def names() -> list[str]:
    """The activation names convnet knows."""
    return sorted(_ACTIVATIONS)
