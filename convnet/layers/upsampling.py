"""UpSampling2D: enlarge images by whole factors, repeating pixels (``nearest``) or
interpolating between them (``bilinear``)."""

from __future__ import annotations

import numpy as np

from convnet import backend
from convnet.layers.base import Layer, pair


def bilinear_matrix(n: int, factor: int, dtype) -> np.ndarray:
    """The ``(n * factor, n)`` matrix that resizes one axis bilinearly, as Keras 3 (torch's
    ``interpolate(align_corners=False)``) and TensorFlow (``half_pixel_centers``) do: output
    index ``o`` samples the input at ``s = (o + 0.5) / factor - 0.5`` (clamped to the edge
    cells), between cells ``floor(s)`` and ``floor(s) + 1`` with weights ``1 - t`` and ``t``."""
    a = np.zeros((n * factor, n), dtype=np.float64)
    for o in range(n * factor):
        s = min(max((o + 0.5) / factor - 0.5, 0.0), n - 1.0)
        i0 = int(np.floor(s))
        i1 = min(i0 + 1, n - 1)
        t = s - i0
        a[o, i0] += 1.0 - t
        a[o, i1] += t
    return a.astype(dtype)


class UpSampling2D(Layer):
    """Repeat (``interpolation='nearest'``) or bilinearly interpolate (``'bilinear'``) rows by
    ``size[0]`` and columns by ``size[1]``: ``(batch, H, W, C) -> (batch, H*sh, W*sw, C)``.

    Both are linear in x, one axis at a time: ``y = A_h x A_w^T`` per sample and channel, with
    ``A`` a ``(H*sh, H)`` matrix (:func:`bilinear_matrix`; for ``nearest``, row ``o`` picks
    input ``o // sh``), so backward is the transposed products ``dx = A_h^T dy A_w``: each input
    pixel collects the gradient of every output pixel it contributed to. ``nearest`` is written
    as ``repeat`` forward and a reshape-and-sum backward (the same products, without the
    zeros)."""

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = pair(size, "size", self.describe())
        self.data_format = backend.normalize_data_format(data_format)
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{self.describe()}: interpolation {interpolation!r} is not "
                             f"supported; expected one of {self.INTERPOLATIONS}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects images (batch, H, W, C), got "
                             f"per-sample shape {tuple(input_shape)}")
        (sh, sw) = self.size
        if self.data_format == "channels_first":
            c, h, w = input_shape
            return (c, h * sh, w * sw)
        h, w, c = input_shape
        return (h * sh, w * sw, c)

    def _channels_last(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1) if self.data_format == "channels_first" else x

    def _to_layout(self, y: np.ndarray) -> np.ndarray:
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    def _matrices(self, h: int, w: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        (sh, sw) = self.size
        return bilinear_matrix(h, sh, dtype), bilinear_matrix(w, sw, dtype)

    def _forward(self, x, training):
        return self.infer_chunk(x)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        x = self._channels_last(x)
        (sh, sw) = self.size
        if self.interpolation == "nearest":
            y = x.repeat(sh, axis=1).repeat(sw, axis=2)
        else:
            ah, aw = self._matrices(x.shape[1], x.shape[2], x.dtype)
            y = np.einsum("oh,nhwc,pw->nopc", ah, x, aw, optimize=True)     # A_h x A_w^T
        return self._to_layout(np.ascontiguousarray(y))

    def _backward(self, dy, input_gradient):
        dy = self._channels_last(dy)
        (sh, sw) = self.size
        n, oh, ow, c = dy.shape
        h, w = oh // sh, ow // sw
        if self.interpolation == "nearest":
            # every input pixel was copied into an sh x sw block: sum the block's gradients
            dx = dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))
        else:
            ah, aw = self._matrices(h, w, dy.dtype)
            dx = np.einsum("oh,nopc,pw->nhwc", ah, dy, aw, optimize=True)   # A_h^T dy A_w
        return self._to_layout(dx)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"size": list(self.size), "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config
