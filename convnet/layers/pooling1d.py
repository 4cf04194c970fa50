"""1-D pooling: MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D.

Each is its 2-D twin on a sequence seen as an image one pixel high: ``(N, steps, C)`` is
``(N, 1, steps, C)`` (``(N, C, steps)`` is ``(N, C, 1, steps)`` channels-first), a pool of
``p`` steps is a ``(1, p)`` window. So each layer owns the 2-D layer and reshapes at its
edges; the math (and its NumPy and fast kernels) is in :mod:`convnet.layers.pooling` and
:mod:`convnet.layers.global_pooling`. None of them has weights.
"""

from __future__ import annotations

import numpy as np

from convnet import backend
from convnet.layers.base import Layer
from convnet.layers.conv1d import single
from convnet.layers.global_pooling import GlobalAveragePooling2D, GlobalMaxPooling2D
from convnet.layers.pooling import AveragePooling2D, MaxPooling2D


class _As2D(Layer):
    """A 1-D layer that runs the 2-D layer ``inner`` on ``(N, 1, steps, C)`` (subclasses make
    ``inner`` in ``__init__``; ``data_format`` says where the height-1 axis goes)."""

    inner: Layer
    data_format: str
    _image_output_shape: tuple | None = None      # the inner layer's last output shape

    def _image_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def _image_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 2:
            raise ValueError(f"{self.describe()} expects input of shape (batch, steps, channels) "
                             f"or (batch, channels, steps), got per-sample shape "
                             f"{tuple(input_shape)}")
        shape = list(input_shape)
        shape.insert(self._image_axis() - 1, 1)
        return tuple(shape)

    def _squeezed(self, shape: tuple) -> tuple:
        """A 2-D per-sample output shape without the height-1 axis (if the output has it)."""
        if len(shape) < 3:
            return tuple(shape)
        return tuple(d for i, d in enumerate(shape) if i != self._image_axis() - 1)

    def _from_image(self, y: np.ndarray) -> np.ndarray:
        return np.squeeze(y, self._image_axis()) if y.ndim == 4 else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._squeezed(self.inner.compute_output_shape(self._image_shape(input_shape)))

    def _build(self, input_shape: tuple) -> tuple:
        self.inner.dtype = self.dtype
        return self._squeezed(self.inner.build(self._image_shape(input_shape)))

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self.inner.dtype = self.dtype
        self._image_output_shape = None
        y = self.inner.forward(np.expand_dims(x, self._image_axis()), training=training)
        self._image_output_shape = y.shape
        return self._from_image(y)

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        assert self._image_output_shape is not None, "forward ran (checked before backward)"
        dx = self.inner.backward(dy.reshape(self._image_output_shape))
        return None if dx is None else np.squeeze(dx, self._image_axis())

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, on this thread alone (see Layer)."""
        return self._from_image(self.inner.infer_chunk(np.expand_dims(x, self._image_axis())))


class _Pooling1D(_As2D):
    """Window pooling along the steps: ``pool_size`` steps moved by ``strides`` (default:
    ``pool_size``), 'valid' or 'same' padding, as the 2-D layer does it."""

    pool_2d: type

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        self.pool_size = single(pool_size, "pool_size", what)
        self.strides = self.pool_size if strides is None else single(strides, "strides", what)
        self.data_format = backend.normalize_data_format(data_format)
        try:
            self.inner = self.pool_2d((1, self.pool_size), (1, self.strides), padding,
                                      self.data_format, name=f"{self.name}_as_2d")
        except ValueError as exc:
            raise ValueError(str(exc).replace(
                f"{self.pool_2d.__name__} '{self.name}_as_2d'", what)) from None
        self.padding = self.inner.padding          # type: ignore[attr-defined]

    def _image_shape(self, input_shape: tuple) -> tuple:
        shape = super()._image_shape(input_shape)
        steps = input_shape[1] if self.data_format == "channels_first" else input_shape[0]
        if self.padding == "valid" and steps < self.pool_size:
            raise ValueError(f"{self.describe()}: pool_size {self.pool_size} does not fit in "
                             f"{steps} steps with padding='valid'")
        return shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": [self.pool_size], "padding": self.padding,
                       "strides": [self.strides], "data_format": self.data_format})
        return config


class MaxPooling1D(_Pooling1D):
    """The largest value of each window of ``pool_size`` steps (MaxPooling2D's math)."""

    pool_2d = MaxPooling2D


class AveragePooling1D(_Pooling1D):
    """The mean of each window of ``pool_size`` steps; with 'same' padding an edge window
    averages only its real steps (AveragePooling2D's math, as Keras)."""

    pool_2d = AveragePooling2D


class _GlobalPooling1D(_As2D):
    """One number per channel over all steps; ``keepdims=True`` keeps a steps axis of 1
    (``(batch, 1, C)`` or ``(batch, C, 1)``)."""

    pool_2d: type

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = backend.normalize_data_format(data_format)
        try:
            self.inner = self.pool_2d(self.data_format, keepdims, name=f"{self.name}_as_2d")
        except ValueError as exc:
            raise ValueError(str(exc).replace(
                f"{self.pool_2d.__name__} '{self.name}_as_2d'", self.describe())) from None
        self.keepdims = bool(keepdims)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each channel over the steps (GlobalAveragePooling2D's math)."""

    pool_2d = GlobalAveragePooling2D


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The largest value of each channel over the steps; ties share the gradient equally
    (GlobalMaxPooling2D's math)."""

    pool_2d = GlobalMaxPooling2D


MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
