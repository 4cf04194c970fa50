"""Layers that move values without computing new ones: ZeroPadding2D, Cropping2D, Reshape and
Permute.

Each forward pass is a linear map that copies every input value to at most one output cell (or
drops it, or adds constant zeros), so each backward pass is the same map run the other way:
padding's backward crops, cropping's backward pads with zeros, a reshape reshapes back and a
permutation applies the inverse permutation.
"""

from __future__ import annotations

import numpy as np

from convnet import backend
from convnet.layers.base import Layer

Pairs = tuple[tuple[int, int], tuple[int, int]]


def _is_amount(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        and bool(value >= 0)


def _side(value) -> tuple[int, int] | None:
    """``2`` -> ``(2, 2)``; ``(1, 3)`` -> ``(1, 3)``; anything else -> None."""
    if _is_amount(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_amount, value)):
        return int(value[0]), int(value[1])
    return None


def two_pairs(value, what: str, layer: str) -> Pairs:
    """Keras's forms of a 2-D padding or cropping amount, as ``((top, bottom), (left, right))``:
    an int (the same on all four sides), a pair ``(height, width)`` (symmetric on each axis), or
    a pair of pairs; each entry of a pair may itself be an int or a pair (as Keras accepts)."""
    rows = cols = None
    if _is_amount(value):
        rows = cols = _side(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        rows, cols = _side(value[0]), _side(value[1])
    if rows is None or cols is None:
        raise ValueError(f"{layer}: {what} must be an int, a pair of ints (height, width) or a "
                         f"pair of pairs ((top, bottom), (left, right)), all >= 0, got {value!r}")
    return rows, cols


def spatial_window(data_format: str, rows: slice, cols: slice) -> tuple[slice, ...]:
    """The index of the cells ``rows`` x ``cols`` of every image and channel of a 4-D batch."""
    every = slice(None)
    if data_format == "channels_first":
        return every, every, rows, cols
    return every, rows, cols, every


def _image_size(layer: Layer, data_format: str, input_shape: tuple) -> tuple[int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"{layer.describe()} expects input of shape (batch, H, W, C) or "
                         f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
    if data_format == "channels_first":
        return input_shape[1], input_shape[2]
    return input_shape[0], input_shape[1]


def _with_image_size(data_format: str, input_shape: tuple, h: int, w: int) -> tuple:
    if data_format == "channels_first":
        return input_shape[0], h, w
    return h, w, input_shape[2]


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image.

    ``padding`` is ``((top, bottom), (left, right))`` (an int or ``(height, width)`` pair are
    accepted, as in Keras). Input ``(batch, H, W, C)`` (``channels_last``) or
    ``(batch, C, H, W)`` (``channels_first``; default :func:`convnet.backend.image_data_format`).

    Forward: ``y[:, top:top+H, left:left+W, :] = x`` and zeros elsewhere, shape
    ``(batch, top+H+bottom, left+W+right, C)``. Backward: the zeros are constants, so
    ``dx = dy[:, top:top+H, left:left+W, :]`` (the padding cut away again). Keeps nothing.
    """

    def __init__(self, padding=(1, 1), data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.padding = two_pairs(padding, "padding", self.describe())
        self.data_format = backend.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        h, w = _image_size(self, self.data_format, input_shape)
        (top, bottom), (left, right) = self.padding
        return _with_image_size(self.data_format, input_shape, top + h + bottom, left + w + right)

    def _pad(self, x: np.ndarray) -> np.ndarray:
        widths = [(0, 0)] * 4
        rows, cols = (2, 3) if self.data_format == "channels_first" else (1, 2)
        widths[rows], widths[cols] = self.padding
        return np.pad(x, widths)

    def _forward(self, x, training):
        return self._pad(x)

    def _backward(self, dy, input_gradient):
        h, w = _image_size(self, self.data_format, self.built_shapes()[0])
        (top, _), (left, _) = self.padding
        window = spatial_window(self.data_format, slice(top, top + h), slice(left, left + w))
        return np.ascontiguousarray(dy[window])

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._pad(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class Cropping2D(Layer):
    """Cut rows and columns off the edges of each image.

    ``cropping`` is ``((top, bottom), (left, right))`` (an int or ``(height, width)`` pair are
    accepted, as in Keras). Input ``(batch, H, W, C)`` (``channels_last``) or
    ``(batch, C, H, W)`` (``channels_first``; default :func:`convnet.backend.image_data_format`).

    Forward: ``y = x[:, top:H-bottom, left:W-right, :]``. Backward: the cut cells did not reach
    the output, so their gradient is 0: ``dx = 0`` with ``dx[:, top:H-bottom, left:W-right, :] =
    dy``. Keeps nothing.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = two_pairs(cropping, "cropping", self.describe())
        self.data_format = backend.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        h, w = _image_size(self, self.data_format, input_shape)
        (top, bottom), (left, right) = self.cropping
        if top + bottom >= h or left + right >= w:
            raise ValueError(f"{self.describe()}: cropping {self.cropping} leaves nothing of a "
                             f"{h}x{w} image; each axis must keep at least one row/column")
        return _with_image_size(self.data_format, input_shape, h - top - bottom,
                                w - left - right)

    def _window(self, h: int, w: int) -> tuple[slice, ...]:
        (top, bottom), (left, right) = self.cropping
        return spatial_window(self.data_format, slice(top, h - bottom), slice(left, w - right))

    def _crop(self, x: np.ndarray) -> np.ndarray:
        h, w = _image_size(self, self.data_format, x.shape[1:])
        return np.ascontiguousarray(x[self._window(h, w)])

    def _forward(self, x, training):
        return self._crop(x)

    def _backward(self, dy, input_gradient):
        input_shape = self.built_shapes()[0]
        h, w = _image_size(self, self.data_format, input_shape)
        dx = np.zeros((dy.shape[0],) + tuple(input_shape), dtype=dy.dtype)
        dx[self._window(h, w)] = dy
        return dx

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._crop(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


class Reshape(Layer):
    """Give each sample a new shape: ``(batch, *input_shape) -> (batch, *target_shape)``.

    ``target_shape`` leaves out the batch axis; one entry may be ``-1``, meaning "whatever size
    makes the number of values match" (as in NumPy). The values keep their C order, so forward
    and backward are both reshapes: ``y = x.reshape(batch, *target)``,
    ``dx = dy.reshape(batch, *input_shape)``. Keeps nothing.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(target_shape)
        except TypeError:
            target = None
        if target is None or not target or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                and (d > 0 or d == -1) for d in target) or target.count(-1) > 1:
            raise ValueError(f"{self.describe()}: target_shape must be a non-empty tuple of "
                             f"positive integers (without the batch axis), at most one of them "
                             f"-1, got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        size = int(np.prod(input_shape))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"{self.describe()}: cannot reshape per-sample shape "
                                 f"{tuple(input_shape)} ({size} values) to target_shape "
                                 f"{self.target_shape}: {size} is not a multiple of {known}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise ValueError(f"{self.describe()}: cannot reshape per-sample shape "
                             f"{tuple(input_shape)} ({size} values) to target_shape "
                             f"{self.target_shape} ({known} values)")
        return self.target_shape

    def _forward(self, x, training):
        return x.reshape((x.shape[0],) + self.built_shapes()[1])

    def _backward(self, dy, input_gradient):
        return dy.reshape((dy.shape[0],) + self.built_shapes()[0])

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, False)

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


class Permute(Layer):
    """Reorder the axes of each sample: ``dims`` is a permutation of ``1..rank``, counting the
    sample's axes from 1 (the batch axis, 0, never moves), as in Keras.

    Forward: ``y = x.transpose(0, *dims)``, so output axis ``i`` is input axis ``dims[i-1]``
    (``Permute((2, 1))`` turns ``(batch, 10, 64)`` into ``(batch, 64, 10)``). Backward: the
    inverse permutation, ``dx = dy.transpose(argsort((0, *dims)))``. Keeps nothing.
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            order = tuple(dims)
        except TypeError:
            order = None
        if order is None or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                    for d in order) \
                or sorted(order) != list(range(1, len(order) + 1)):
            raise ValueError(f"{self.describe()}: dims must be a permutation of 1..rank (the "
                             f"sample's axes, counted from 1; the batch axis 0 stays first), "
                             f"got {dims!r}")
        self.dims = tuple(int(d) for d in order)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != len(self.dims):
            raise ValueError(f"{self.describe()}: dims {self.dims} permute {len(self.dims)} "
                             f"axes, but the per-sample input shape {tuple(input_shape)} has "
                             f"{len(input_shape)}")
        return tuple(input_shape[d - 1] for d in self.dims)

    def _forward(self, x, training):
        return np.ascontiguousarray(x.transpose((0,) + self.dims))

    def _backward(self, dy, input_gradient):
        inverse = np.argsort((0,) + self.dims)
        return np.ascontiguousarray(dy.transpose(inverse))

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, False)

    def get_config(self) -> dict:
        config = super().get_config()
        config["dims"] = self.dims
        return config
