"""Activation functions, each with its derivative beside it.

Every activation is a pair: ``f(z)`` and ``backward(dy, y)``, which turns dL/dy into dL/dz using
only the output ``y = f(z)`` -- for most of these the derivative is a simple function of ``y``, so
layers need not keep ``z``. The forward functions accept ``out=`` so a layer that owns ``z`` can
overwrite it instead of allocating another array.

GELU, SiLU/swish and mish are the exceptions: their curves dip below zero and come back, so one
``y`` comes from two ``z`` and the derivative is not a function of ``y``. Their pairs are
``f(z)`` and ``backward(dy, z)``, and :func:`needs_input` says so: a layer using one keeps a copy
of ``z`` in its forward pass (:class:`convnet.layers.activated.ActivationMixin`).

The definitions are Keras 3's (``keras.activations``). Where tf-keras 2.x differed it is said at
the function (``hard_sigmoid``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convnet.kernels.erf import erf


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


def _into(out: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    """``value`` written into ``out`` when one is given (``out`` may be the input itself)."""
    if out is None:
        return value
    out[...] = value
    return out


def elu(z: np.ndarray, out: np.ndarray | None = None, *, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: ``y = z`` for ``z > 0``, else ``alpha (exp(z) - 1)``."""
    return _into(out, np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))))


def elu_backward(dy: np.ndarray, y: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    # z < 0: dy/dz = alpha exp(z) = y + alpha; z > 0: 1. (y < 0 exactly when z < 0.)
    return np.where(y < 0, dy * (y + alpha), dy)


# SELU's constants (Klambauer et al. 2017, "Self-Normalizing Neural Networks") in full, as
# Keras 3's backends (torch, jax, tf.nn.selu) use them; its docstring shows them rounded.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def selu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Scaled ELU: ``y = scale * elu(z, alpha)`` with ``alpha ~ 1.6733``, ``scale ~ 1.0507``."""
    return _into(out, SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))))


def selu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # z < 0: dy/dz = scale alpha exp(z) = y + scale alpha; z > 0: scale.
    return np.where(y < 0, dy * (y + SELU_SCALE * SELU_ALPHA), dy * SELU_SCALE)


def softplus(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``y = log(1 + exp(z))``, computed without overflow (``logaddexp(0, z)``)."""
    return np.logaddexp(0, z, out=out)


def softplus_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # dy/dz = sigmoid(z) = 1 - exp(-y) (since exp(y) = 1 + exp(z)); expm1 keeps small y exact.
    return dy * -np.expm1(-y)


def softsign(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``y = z / (1 + |z|)``."""
    return _into(out, z / (1 + np.abs(z)))


def softsign_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # dy/dz = 1 / (1 + |z|)^2, and 1 / (1 + |z|) = 1 - |y|.
    return dy * np.square(1 - np.abs(y))


def relu6(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """ReLU capped at 6: ``y = min(max(z, 0), 6)``."""
    return np.clip(z, 0, 6, out=out)


def relu6_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # slope 1 strictly between the kinks (0 < y < 6), else 0 (as relu: 0 at the kinks).
    return dy * ((y > 0) & (y < 6))


def hard_sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Piecewise-linear sigmoid, Keras 3's definition: ``y = relu6(z + 3) / 6``
    (0 below -3, 1 above 3, ``z/6 + 1/2`` between).

    tf-keras 2.x (and Keras 2) used ``clip(0.2 z + 0.5, 0, 1)`` (kinks at -2.5 and 2.5); convnet
    follows Keras 3, so a tf-keras model using ``'hard_sigmoid'`` computes slightly different
    values here."""
    return _into(out, np.clip(z + 3.0, 0, 6) / 6)


def hard_sigmoid_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # slope 1/6 strictly between the kinks (0 < y < 1), else 0.
    return dy * ((y > 0) & (y < 1)) / 6


def exponential(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``y = exp(z)``."""
    return np.exp(z, out=out)


def exponential_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d exp(z)/dz = exp(z) = y
    return dy * y


def leaky_relu(z: np.ndarray, out: np.ndarray | None = None, *,
               negative_slope: float = 0.2) -> np.ndarray:
    """Leaky ReLU: ``y = z`` for ``z > 0``, else ``negative_slope * z`` (0.2 by default, as
    Keras 3's ``activations.leaky_relu``; the ``LeakyReLU`` layer's default is 0.3)."""
    return _into(out, np.where(z > 0, z, negative_slope * z))


def leaky_relu_backward(dy: np.ndarray, y: np.ndarray, *,
                        negative_slope: float = 0.2) -> np.ndarray:
    # slope 1 where y > 0 (z > 0; the slope is positive, so y has z's sign), else negative_slope.
    return np.where(y > 0, dy, dy * negative_slope)


# ----- activations whose derivative needs z ----------------------------------------------------
_SQRT_2 = np.sqrt(2.0)
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)
_GELU_CUBIC = 0.044715


def gelu(z: np.ndarray, out: np.ndarray | None = None, *, approximate: bool = False) -> np.ndarray:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016): ``y = z * Phi(z)``, Phi the
    standard normal CDF, ``Phi(z) = (1 + erf(z / sqrt(2))) / 2`` -- Keras 3's default. With
    ``approximate=True`` the tanh form ``y = z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) / 2``
    (as ``keras.activations.gelu(x, approximate=True)``; a layer's ``'gelu'`` is the exact
    one)."""
    if approximate:
        t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z ** 3))
        return _into(out, 0.5 * z * (1 + t))
    return _into(out, 0.5 * z * (1 + erf(z / _SQRT_2)))


def gelu_backward(dy: np.ndarray, z: np.ndarray, *, approximate: bool = False) -> np.ndarray:
    """dL/dz from dL/dy and the input ``z`` (not y: see the module docstring)."""
    if approximate:
        # y = z (1 + t) / 2, t = tanh(u), u = s (z + c z^3): dy/dz = (1 + t) / 2
        #     + z (1 - t^2) s (1 + 3 c z^2) / 2
        t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z ** 3))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * z * z)
        return dy * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du)
    # d(z Phi(z))/dz = Phi(z) + z phi(z), phi(z) = exp(-z^2 / 2) / sqrt(2 pi)
    cdf = 0.5 * (1 + erf(z / _SQRT_2))
    pdf = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return dy * (cdf + z * pdf)


def silu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sigmoid linear unit, also called swish: ``y = z * sigmoid(z)``."""
    return _into(out, z * sigmoid(z))


def silu_backward(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    # d(z s)/dz = s + z s (1 - s) = s (1 + z (1 - s)), s = sigmoid(z)
    s = sigmoid(z)
    return dy * s * (1 + z * (1 - s))


swish, swish_backward = silu, silu_backward


def mish(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Mish (Misra 2019): ``y = z * tanh(softplus(z))``."""
    return _into(out, z * np.tanh(np.logaddexp(0, z)))


def mish_backward(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    # d(z tanh(sp(z)))/dz = tanh(sp) + z (1 - tanh(sp)^2) sigmoid(z), since sp' = sigmoid
    t = np.tanh(np.logaddexp(0, z))
    return dy * (t + z * (1 - t * t) * sigmoid(z))


_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "softmax": (softmax, softmax_backward),
    "elu": (elu, elu_backward),
    "selu": (selu, selu_backward),
    "softplus": (softplus, softplus_backward),
    "softsign": (softsign, softsign_backward),
    "relu6": (relu6, relu6_backward),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward),
    "exponential": (exponential, exponential_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    # these take z, not y, in backward (needs_input)
    "gelu": (gelu, gelu_backward),
    "silu": (silu, silu_backward),
    "mish": (mish, mish_backward),
}

# Activations whose backward takes the input z (see the module docstring).
_NEEDS_INPUT = {"gelu", "silu", "mish"}
# Other spellings: Keras 3 writes 'swish' as 'silu'; tf-keras reads both.
_ALIASES = {"swish": "silu"}
_NOT_SUPPORTED = {"hard_silu", "hard_swish"}


def needs_input(name: str) -> bool:
    """Whether the activation's backward takes the input ``z`` rather than the output ``y``."""
    return name in _NEEDS_INPUT


def lookup(name) -> tuple[str, Callable, Callable]:
    """Return ``(name, forward, backward)`` for an activation (``None`` means linear): what a
    layer runs.

    Takes a name (``'elu'``), one of this module's functions (``activations.elu``) or Keras 3's
    serialised form of a built-in function (``{"class_name": "function", "config": "elu"}``)."""
    if name is None:
        name = "linear"
    if isinstance(name, dict) and name.get("class_name") == "function":
        name = name.get("config")
    if callable(name) and getattr(name, "__name__", None) in (
            _ACTIVATIONS.keys() | _ALIASES.keys() | _NOT_SUPPORTED):
        name = name.__name__
    if isinstance(name, str):
        name = _ALIASES.get(name, name)
    if isinstance(name, str) and name in _NOT_SUPPORTED:
        raise ValueError(f"Unknown activation {name!r}: Keras has it, but convnet does not "
                         f"support it yet. Supported: {sorted(_ACTIVATIONS)}")
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; "
                         f"expected one of {sorted(_ACTIVATIONS)}")
    forward, backward = _ACTIVATIONS[name]
    return name, forward, backward


class ActivationFunction(str):
    """A layer's activation as Keras shows it (``layer.activation``): callable, so
    ``layer.activation(x)`` computes it as Keras's function does, yet equal to its name
    (``layer.activation == "relu"``), and saved as that name."""

    @property
    def __name__(self) -> str:          # as a function's name reads
        return str(self)

    def __call__(self, x) -> np.ndarray:
        return lookup(str(self))[1](np.asarray(x, dtype=float) if not hasattr(x, "dtype") else x)


def get(identifier) -> ActivationFunction:
    """Keras's ``activations.get``: the activation as a function, ``get("relu")(x)``; ``None``
    gives linear. Takes what :func:`lookup` takes; the result is also equal to its name."""
    return ActivationFunction(lookup(identifier)[0])


def serialize(activation) -> str:
    """Keras's ``activations.serialize``: the activation's name (what convnet's files hold)."""
    return lookup(activation)[0]


def deserialize(name, custom_objects=None) -> ActivationFunction:
    """Keras's ``activations.deserialize``: the function for a name (``custom_objects`` is
    accepted for Keras's signature; a user function has no derivative convnet could use, so it
    is refused by :func:`lookup` with the list of known names)."""
    return get(name)


def names() -> list[str]:
    """The activation names convnet knows."""
    return sorted(_ACTIVATIONS)
