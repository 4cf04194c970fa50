"""Global pooling: one number per channel, the mean or the maximum over the whole image.

Average, forward: ``y[n, c] = (1 / (H*W)) * sum_{i, j} x[n, i, j, c]``. Backward: every cell
took part with weight ``1 / (H*W)``, so ``dx[n, i, j, c] = dy[n, c] / (H*W)``.

Max, forward: ``y[n, c] = max_{i, j} x[n, i, j, c]``. Backward: the max is locally the identity
on its winner, so ``dy[n, c]`` goes to the winning cell; where several cells tie for the max,
it is shared equally among them (what TensorFlow's and JAX's ``max`` do, and so Keras).
"""

from __future__ import annotations

import numpy as np

from convnet import backend
from convnet.layers.base import Layer


class _GlobalPooling2D(Layer):
    """What both global poolings share: the image axes, the output shape and ``keepdims``.

    Input ``(batch, H, W, C)`` (``channels_last``) or ``(batch, C, H, W)`` (``channels_first``;
    default :func:`convnet.backend.image_data_format`). Output ``(batch, C)``, or with
    ``keepdims=True`` ``(batch, 1, 1, C)`` / ``(batch, C, 1, 1)``.
    """

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = backend.normalize_data_format(data_format)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise ValueError(f"{self.describe()}: keepdims must be True or False, "
                             f"got {keepdims!r}")
        self.keepdims = bool(keepdims)

    @property
    def image_axes(self) -> tuple[int, int]:
        """The batch array's height and width axes."""
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects input of shape (batch, H, W, C) or "
                             f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
        channels = input_shape[0] if self.data_format == "channels_first" else input_shape[2]
        if not self.keepdims:
            return (channels,)
        return (channels, 1, 1) if self.data_format == "channels_first" else (1, 1, channels)

    def _pool(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _with_image_axes(self, dy: np.ndarray) -> np.ndarray:
        """dL/dy with the pooled axes back as size-1 axes, ready to broadcast over the image."""
        return dy if self.keepdims else np.expand_dims(dy, self.image_axes)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._pool(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the image (see the module docstring for the math).

    Kept by ``forward`` for ``backward``: ``_x_shape`` (the input's shape).
    """

    def _pool(self, x):
        # the sum over the image as one einsum ("nhwc->nc"): the same sum as x.mean(axis=(1, 2)),
        # without NumPy's strided reduction over two middle axes (2.5x faster on a conv batch)
        h_axis, w_axis = self.image_axes
        subscripts = "nhwc->nc" if (h_axis, w_axis) == (1, 2) else "nchw->nc"
        y = np.einsum(subscripts, x) / x.dtype.type(x.shape[h_axis] * x.shape[w_axis])
        return np.expand_dims(y, (h_axis, w_axis)) if self.keepdims else y

    def _forward(self, x, training):
        self._x_shape = x.shape
        return self._pool(x)

    def _backward(self, dy, input_gradient):
        h, w = (self._x_shape[a] for a in self.image_axes)
        dx = np.empty(self._x_shape, dtype=dy.dtype)          # every cell: dy / (H * W)
        dx[...] = self._with_image_axes(dy / dy.dtype.type(h * w))
        return dx


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The largest value of each channel over the image (see the module docstring for the math).

    Kept by ``forward`` for ``backward``: ``_share``, the input-shaped array of each cell's share
    of its channel's gradient (1 for a lone winner, ``1/k`` for each of ``k`` tied winners, else
    0).
    """

    def _pool(self, x):
        return x.max(axis=self.image_axes, keepdims=self.keepdims)

    def _forward(self, x, training):
        top = x.max(axis=self.image_axes, keepdims=True)
        winners = (x == top).astype(x.dtype)
        self._share = winners / winners.sum(axis=self.image_axes, keepdims=True)
        return top if self.keepdims else np.squeeze(top, axis=self.image_axes)

    def _backward(self, dy, input_gradient):
        return self._share * self._with_image_axes(dy)


GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
