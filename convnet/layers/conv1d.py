"""Conv1D: 1-D convolution (cross-correlation, as in Keras: the kernel is not flipped).

Forward, for one output step ``i`` and filter ``f`` (channels-last, stride ``s``)::

    z[n, i, f] = b[f] + sum_{a, c} x[n, i*s + a, c] * K[a, c, f]
    y = activation(z)

That is :class:`~convnet.layers.conv.Conv2D` on an image one pixel high: the sequence
``(N, L, C)`` is the image ``(N, 1, L, C)`` and the kernel ``(k, C, F)`` is the kernel
``(1, k, C, F)``. So this layer *owns* a Conv2D and reshapes at its edges; the math, the NumPy
engine's textbook code and the fast engine's paths are all Conv2D's.

The weights live here, in Keras's 1-D layout (``params["kernel"]`` is ``(k, C, F)``, as Keras
saves it); the inner Conv2D sees the same memory reshaped to ``(1, k, C, F)``, and its gradients
are written straight into this layer's ``grads``. Optimizers, saving and ``set_weights`` see
only Keras's names and shapes; nothing is copied between the two.

``padding='causal'`` (Keras's, for sequences) pads ``k - 1`` zeros on the left only, so output
``i`` sees inputs ``<= i``; then a 'valid' convolution.

``dilation_rate`` ``d`` spaces the taps ``d`` steps apart (the inner Conv2D's ``(1, d)``, see
:mod:`convnet.layers.dilation`): a window then spans ``d * (k - 1) + 1`` steps, and that span
decides the output length, 'same' padding and the ``d * (k - 1)`` zeros 'causal' pads with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convnet import backend
from convnet.layers.base import Layer
from convnet.layers.conv import Conv2D
from convnet.layers.dilation import effective_size


def single(value, what: str, layer: str) -> int:
    """Turn ``3``, ``(3,)`` or ``[3]`` into ``3``, refusing anything else (Keras's 1-D sizes)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive integer (or a 1-tuple of one), "
                         f"got {value!r}")
    return int(value)


class Conv1D(Layer):
    """1-D convolution layer: ``filters`` kernels of ``kernel_size`` steps slid along a sequence.

    Input ``(batch, steps, channels)`` (``channels_last``) or ``(batch, channels, steps)``
    (``channels_first``). Kernel ``(kernel_size, channels, filters)`` (Keras's layout), bias
    ``(filters,)``. ``padding``: 'valid', 'same' or 'causal'. ``dilation_rate``: taps this
    many steps apart (not with ``strides`` > 1, as in Keras).

    Holds ``conv2d``, the Conv2D on ``(batch, 1, steps, channels)`` that does the work (built by
    :meth:`build`, its weights views of this layer's). Kept by ``forward``: ``_causal_pad``
    (the zeros added on the left, 'causal' only), besides what the inner Conv2D keeps.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1,
                 activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        self.kernel_size = single(kernel_size, "kernel_size", what)
        self.strides = single(strides, "strides", what)
        self.dilation_rate = single(dilation_rate, "dilation_rate", what)
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(f"{what}: strides > 1 together with dilation_rate > 1 is not "
                             f"supported (as in Keras); got strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        if groups != 1:
            raise ValueError(f"{what}: groups other than 1 is not supported, got {groups!r}")
        if activity_regularizer is not None:
            raise ValueError(f"{what}: activity_regularizer is not supported on Conv1D (got "
                             f"{activity_regularizer!r}); put an ActivityRegularization layer "
                             "after it")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(f"{what}: padding must be 'valid', 'same' or 'causal', "
                             f"got {padding!r}")
        self.padding = padding.lower()
        self.data_format = backend.normalize_data_format(data_format)
        if self.padding == "causal" and self.data_format == "channels_first":
            raise ValueError(f"{what}: padding='causal' needs data_format='channels_last' "
                             "(as in Keras)")
        try:
            self.conv2d = Conv2D(
                filters, (1, self.kernel_size), strides=(1, self.strides),
                dilation_rate=(1, self.dilation_rate),
                padding="valid" if self.padding == "causal" else self.padding,
                data_format=self.data_format, activation=activation, use_bias=use_bias,
                kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                name=f"{self.name}_as_conv2d", trainable=self.trainable, dtype=self.dtype)
        except ValueError as exc:       # name this layer, not the inner one
            raise ValueError(str(exc).replace(f"Conv2D '{self.name}_as_conv2d'", what)) from None
        self.filters = self.conv2d.filters
        self.use_bias = self.conv2d.use_bias

    # ----- the 1-D <-> 2-D edges ------------------------------------------------------------
    @property
    def window(self) -> int:
        """The steps one window spans: ``dilation_rate * (kernel_size - 1) + 1``."""
        return effective_size(self.kernel_size, self.dilation_rate)

    def _image_axis(self) -> int:
        """Where the height-1 axis goes: (N, 1, L, C) or (N, C, 1, L)."""
        return 2 if self.data_format == "channels_first" else 1

    def _as_image_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 2:
            raise ValueError(f"{self.describe()} expects input of shape (batch, steps, channels) "
                             f"or (batch, channels, steps), got per-sample shape "
                             f"{tuple(input_shape)}")
        steps = input_shape[1] if self.data_format == "channels_first" else input_shape[0]
        if self.padding == "valid" and steps < self.window:
            spans = "" if self.dilation_rate == 1 else \
                f" with dilation_rate {self.dilation_rate} (a window of {self.window} steps)"
            raise ValueError(f"{self.describe()}: kernel_size {self.kernel_size}{spans} does not "
                             f"fit in {steps} steps with padding='valid'")
        shape = list(input_shape)
        if self.padding == "causal":
            shape[0] += self.window - 1
        shape.insert(self._image_axis() - 1, 1)
        return tuple(shape)

    def _to_image(self, x: np.ndarray) -> np.ndarray:
        if self.padding == "causal":      # window - 1 zeros before the first step
            x = np.pad(x, ((0, 0), (self.window - 1, 0), (0, 0)))
        return np.expand_dims(x, self._image_axis())

    def _from_image(self, y: np.ndarray) -> np.ndarray:
        return np.squeeze(y, self._image_axis())

    def _sync(self) -> None:
        """Point the inner Conv2D at this layer's arrays again, should anything have replaced
        them (``gradcheck`` casts them to float64): its weights and gradients are this layer's,
        reshaped, never copies."""
        inner = self.conv2d
        inner.dtype, inner.trainable = self.dtype, self.trainable
        for key, value in self.params.items():
            shape = (1,) + value.shape if key == "kernel" else value.shape
            if not np.shares_memory(inner.params[key], value):
                inner.params[key] = value.reshape(shape)
            if key in self.grads and not np.shares_memory(inner.grads[key], self.grads[key]):
                inner.grads[key] = self.grads[key].reshape(shape)

    # ----- the protocol -----------------------------------------------------------------------
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = self.conv2d.compute_output_shape(self._as_image_shape(tuple(input_shape)))
        return tuple(d for i, d in enumerate(out) if i != self._image_axis() - 1)

    def _build(self, input_shape: tuple) -> tuple:
        self.conv2d.dtype = self.dtype
        out = self.conv2d.build(self._as_image_shape(input_shape))
        inner = self.conv2d.params
        self.params = {"kernel": inner["kernel"].reshape(inner["kernel"].shape[1:])}
        if self.use_bias:
            self.params["bias"] = inner["bias"]
        return tuple(d for i, d in enumerate(out) if i != self._image_axis() - 1)

    def build(self, input_shape: tuple) -> tuple:
        """Build the inner Conv2D, then share its gradient arrays (Keras's 1-D shapes here)."""
        out = super().build(input_shape)
        self.grads = {key: self.conv2d.grads[key].reshape(self.params[key].shape)
                      for key in self.params}
        return out

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._sync()
        return self._from_image(self.conv2d.forward(self._to_image(x), training=training))

    def _input_gradient(self, dx: np.ndarray | None) -> np.ndarray | None:
        if dx is None:
            return None
        dx = self._from_image(dx)
        if self.padding == "causal":     # the left padding's gradient goes nowhere
            dx = dx[:, self.window - 1:, :]
        return dx

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        self._sync()
        dy = np.expand_dims(dy, self._image_axis())
        return self._input_gradient(self.conv2d.backward(dy, input_gradient=input_gradient))

    def backward_preactivation(self, dz: np.ndarray,
                               input_gradient: bool = True) -> np.ndarray | None:
        """Backward from dL/dz (softmax fused with cross-entropy), as Conv2D's."""
        self._sync()
        dz = np.expand_dims(np.asarray(dz), self._image_axis())
        return self._input_gradient(self.conv2d.backward_preactivation(
            dz, input_gradient=input_gradient))

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, on this thread alone (see Layer)."""
        return self._from_image(self.conv2d.infer_chunk(self._to_image(x)))

    # ----- what Conv2D knows, under Keras's 1-D names ------------------------------------------
    @property
    def activation(self) -> str:
        """The activation (Conv2D's): callable, equal to its name, assignable."""
        return self.conv2d.activation

    @activation.setter
    def activation(self, value) -> None:
        self.conv2d.activation = value

    @property
    def kernel(self) -> np.ndarray:
        """The kernel array ``(k, C, F)`` (Keras's ``layer.kernel``)."""
        return self.params["kernel"]

    @property
    def bias(self) -> np.ndarray | None:
        """The bias array, or None with ``use_bias=False``."""
        return self.params.get("bias")

    @property
    def losses(self) -> list[float]:
        """The weight penalties (kernel/bias regularizers), as Conv2D computes them."""
        self._sync()
        return self.conv2d.losses

    def add_regularization_gradients(self) -> None:
        self._sync()
        self.conv2d.add_regularization_gradients()

    def apply_constraints(self) -> None:
        self._sync()
        self.conv2d.apply_constraints()

    def get_config(self) -> dict:
        config = super().get_config()
        inner: dict[str, Any] = self.conv2d.get_config()
        config.update({
            "filters": self.filters, "kernel_size": [self.kernel_size],
            "strides": [self.strides], "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": [self.dilation_rate],
            "groups": 1,
            **{key: inner[key] for key in (
                "activation", "use_bias", "kernel_initializer", "bias_initializer",
                "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                "kernel_constraint", "bias_constraint")},
        })
        return config


Convolution1D = Conv1D
