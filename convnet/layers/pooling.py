"""Pooling: MaxPooling2D keeps the largest value of each window, AveragePooling2D its mean.

Max, forward: ``y[n, i, j, c] = max over the window (i, j) of x[n, ., ., c]``; the position of
each winner is remembered. Backward: the max is locally the identity on its winner and constant
in every other cell, so each ``dy[n, i, j, c]`` goes to the winner of window (i, j) and nowhere
else (summed where overlapping windows share a winner).

Average, forward: ``y = (sum of the window's real cells) / (their count)``. Backward: every cell
of the window receives ``dy / count``.
"""

from __future__ import annotations

import numpy as np

from convnet import backend, kernels
from convnet.kernels import reference
from convnet.layers.base import Layer, pair
from convnet.layers.padding import check_padding, same_padding, window_output_size


class _Pooling2D(Layer):
    """Window geometry shared by the pooling layers (``strides`` default to ``pool_size``;
    ``'same'`` gives ``ceil(H / stride)`` windows, the odd extra row/column at the bottom/right)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid",
                 data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        self.pool_size = pair(pool_size, "pool_size", what)
        self.strides = self.pool_size if strides is None else pair(strides, "strides", what)
        self.padding = check_padding(padding, what)
        self.data_format = backend.normalize_data_format(data_format)

    def _geometry(self, h: int, w: int):
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh = window_output_size(h, ph, sh, self.padding)
        ow = window_output_size(w, pw, sw, self.padding)
        if self.padding == "same":
            pad_top, pad_left = same_padding(h, ph, sh)[0], same_padding(w, pw, sw)[0]
        else:
            pad_top = pad_left = 0
        return oh, ow, pad_top, pad_left

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects input of shape "
                             f"(batch, H, W, C) or (batch, C, H, W), got per-sample shape "
                             f"{tuple(input_shape)}")
        if self.data_format == "channels_first":
            c, h, w = input_shape
        else:
            h, w, c = input_shape
        oh, ow, _, _ = self._geometry(h, w)
        if oh < 1 or ow < 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': pool {self.pool_size} does "
                             f"not fit in a {h}x{w} input with padding='valid'")
        return (c, oh, ow) if self.data_format == "channels_first" else (oh, ow, c)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, on this thread alone (see Layer)."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)
        x = np.ascontiguousarray(x)
        oh, ow, pad_top, pad_left = self._geometry(x.shape[1], x.shape[2])
        if backend.get_engine() == "numpy":
            y = self._pool_numpy(x, oh, ow, pad_top, pad_left)
        else:
            y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)
            self._pool_serial(x, *self.pool_size, *self.strides, pad_top, pad_left, y)
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    def _pool_numpy(self, x, oh, ow, pad_top, pad_left) -> np.ndarray:
        raise NotImplementedError

    def _pool_serial(self, *args) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "padding": self.padding,
                       "strides": list(self.strides), "data_format": self.data_format})
        return config


class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows moved by ``strides`` (default: ``pool_size``).

    With ``'same'`` padding, padded cells never win (Keras's behaviour).
    Kept by ``forward`` for ``backward``: ``_argmax`` (flat index of each window's winner) and
    ``_x_shape`` (channels-last input shape).
    """

    _argmax: np.ndarray | None = None

    def pooled_winners(self) -> np.ndarray | None:
        """The winners of the last forward pass, ``(N, PH, PW, C)`` flat indices into each
        sample's ``H*W`` cells (channels-last): what the backward pass routes dL/dy by. The
        public hook a Conv2D below uses to take this layer's backward pass with its own
        (``Layer.backward_fused``)."""
        return self._argmax

    def _pool_numpy(self, x, oh, ow, pad_top, pad_left):
        return reference.maxpool_forward(x, *self.pool_size, *self.strides, oh, ow, pad_top,
                                         pad_left)[0]

    def _pool_serial(self, *args) -> None:
        kernels.maxpool_forward_serial(*args)

    def _forward(self, x, training):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)
        oh, ow, pad_top, pad_left = self._geometry(x.shape[1], x.shape[2])
        self._x_shape = x.shape
        y, self._argmax = kernels.for_engine().maxpool_forward(
            x, *self.pool_size, *self.strides, oh, ow, pad_top, pad_left)
        if self.data_format == "channels_first":
            y = y.transpose(0, 3, 1, 2)
        return y

    def _backward(self, dy, input_gradient):
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 3, 1)
        dx = kernels.for_engine().maxpool_backward(dy, self._argmax, self._x_shape)
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 3, 1, 2)
        return dx


class AveragePooling2D(_Pooling2D):
    """Average pooling over ``pool_size`` windows moved by ``strides`` (default: ``pool_size``).

    With ``'same'`` padding a window at the edge averages only its real cells (divides by their
    count, not by the window size), as Keras does. Kept by ``forward``: ``_x_shape`` and
    ``_pads_used`` (top and left padding).
    """

    def _pool_numpy(self, x, oh, ow, pad_top, pad_left):
        return reference.avgpool_forward(x, *self.pool_size, *self.strides, oh, ow, pad_top,
                                         pad_left)

    def _pool_serial(self, *args) -> None:
        kernels.avgpool_forward_serial(*args)

    def _forward(self, x, training):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)
        oh, ow, pad_top, pad_left = self._geometry(x.shape[1], x.shape[2])
        self._x_shape = x.shape
        self._pads_used = (pad_top, pad_left)
        y = kernels.for_engine().avgpool_forward(x, *self.pool_size, *self.strides, oh, ow,
                                                 pad_top, pad_left)
        if self.data_format == "channels_first":
            y = y.transpose(0, 3, 1, 2)
        return y

    def _backward(self, dy, input_gradient):
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 3, 1)
        dx = kernels.for_engine().avgpool_backward(dy, self._x_shape, *self.pool_size,
                                                   *self.strides, *self._pads_used)
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 3, 1, 2)
        return dx


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
