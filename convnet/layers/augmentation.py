"""Data augmentation layers: random flips, translations, rotations, zooms and contrast changes
of each image, drawn anew for every batch in training (``fit``) and the identity at inference
(``predict``, ``evaluate``), as Keras 3's ``keras.layers.Random*``.

Each image of a batch gets its own draw, from the layer's own generator when made with
``seed=`` (reproducible), else from convnet's (:func:`convnet.utils.set_random_seed`).

Backward: these layers usually come first in a model, where nobody needs dL/dx (the model then
asks for none and they do no work). Elsewhere they pass the gradient back exactly: a flip,
translation, rotation or zoom with nearest or bilinear sampling is a linear map of ``x``
(:mod:`convnet.layers.image_warp`), so dL/dx is its adjoint (the flip undone; the warp's
weights scattered back); contrast is affine per image and channel. Keras treats them as
preprocessing with no gradient; convnet's are gradient-checked.

Geometry and factors are Keras 3's (``factor`` a fraction: of the height/width for
translations, of a full turn for rotations; ``RandomZoom`` with a positive factor zooms *out*)
with two notes: ``RandomContrast(0.2)`` draws its factor from ``[0.8, 1.2]``, as tf-keras and
Keras 3's documentation say (Keras 3.15 itself draws from ``[1.0, 1.2]``; pass ``[lower,
upper]`` to say exactly which); tf-keras's ``rng_type`` is accepted and ignored.
"""

from __future__ import annotations

import math

import numpy as np

from convnet import backend
from convnet.layers import image_warp
from convnet.layers.base import Layer
from convnet.layers.seeded import Seeded


def _factor_pair(owner: str, what: str, factor, low: float, high: float,
                 low_open: bool = False) -> tuple[float, float]:
    """Keras's factor: ``f`` means ``[-|f|, |f|]``, a pair ``[a, b]`` means itself (sorted);
    each number within ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    values = list(factor) if isinstance(factor, (list, tuple)) else [factor]
    try:
        numbers = [float(v) for v in values]
        ok = len(values) in (1, 2) and all(not isinstance(v, bool) for v in values) and all(
            (low < v if low_open else low <= v) and v <= high for v in numbers)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"{owner}: {what} must be a number or a pair [lower, upper] of numbers "
                         f"in {bound}, got {factor!r}")
    if len(numbers) == 1:
        return -abs(numbers[0]), abs(numbers[0])
    lower, upper = sorted(numbers)
    return lower, upper


def _as_written(factor):
    """A factor as the user gave it, in JSON's terms (a pair becomes a list)."""
    return [float(v) for v in factor] if isinstance(factor, (list, tuple)) else factor


class RandomImageLayer(Seeded, Layer):
    """What the augmentation layers share: images ``(batch, H, W, C)`` (or channels-first),
    a draw per image in training, the identity at inference. Subclasses implement
    ``_augment(x)`` (channels-last; keeps what ``_augment_backward(dy)`` needs)."""

    def __init__(self, seed=None, data_format: str | None = None, rng_type=None, **kwargs):
        super().__init__(**kwargs)
        self._set_seed(seed, self.describe())
        self.data_format = backend.normalize_data_format(data_format)
        self._augmented = False        # whether the last forward changed the images

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects images (batch, H, W, C), got "
                             f"per-sample shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, training):
        self._augmented = bool(training)
        if not training:
            return x
        channels_first = self.data_format == "channels_first"
        y = self._augment(x.transpose(0, 2, 3, 1) if channels_first else x)
        return y.transpose(0, 3, 1, 2) if channels_first else y

    def _backward(self, dy, input_gradient):
        if not self._augmented:
            return dy
        if not input_gradient:
            return None                # the model's first layer: nobody needs dL/dx
        channels_first = self.data_format == "channels_first"
        dx = self._augment_backward(dy.transpose(0, 2, 3, 1) if channels_first else dy)
        return dx.transpose(0, 3, 1, 2) if channels_first else dx

    def _augment(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _augment_backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x                               # the identity at inference

    def get_config(self) -> dict:
        config = super().get_config()
        config["seed"] = self.seed
        if self.data_format != "channels_last":
            # only when needed: tf-keras's augmentation layers take no data_format
            config["data_format"] = self.data_format
        return config


class RandomFlip(RandomImageLayer):
    """Flip each image left-right (``mode='horizontal'``), upside down (``'vertical'``) or
    either, independently (``'horizontal_and_vertical'``, the default), each with probability
    1/2. Backward: the same flips of dL/dy. Kept: ``_flips`` (booleans per image and axis)."""

    MODES = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}

    def __init__(self, mode: str = "horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"{self.describe()}: mode must be one of {sorted(self.MODES)}, "
                             f"got {mode!r}")
        self.mode = mode

    def _flip(self, x: np.ndarray) -> np.ndarray:
        y = x.copy()
        for axis, flips in zip(self.MODES[self.mode], self._flips):
            y[flips] = np.flip(y[flips], axis=axis)
        return y

    def _augment(self, x):
        rng = self.generator()
        self._flips = [rng.random(len(x)) < 0.5 for _ in self.MODES[self.mode]]
        return self._flip(x)

    def _augment_backward(self, dy):
        return self._flip(dy)          # a flip is its own inverse and its own transpose

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


class WarpLayer(RandomImageLayer):
    """An affine warp per image (:mod:`convnet.layers.image_warp`; its numba twin
    :mod:`convnet.kernels.warp_jit` on the fast engine): subclasses draw the transforms
    (``_transforms``). Kept: ``_transforms_drawn`` (N, 6), the maps the forward pass used."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 fill_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if fill_mode not in image_warp.FILL_MODES:
            raise ValueError(f"{self.describe()}: fill_mode must be one of "
                             f"{image_warp.FILL_MODES}, got {fill_mode!r}")
        if interpolation not in image_warp.INTERPOLATIONS:
            raise ValueError(f"{self.describe()}: interpolation must be one of "
                             f"{image_warp.INTERPOLATIONS}, got {interpolation!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _transforms(self, n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 6) affine maps ``[a0, a1, a2, b0, b1, b2]``, output pixel -> input point."""
        raise NotImplementedError

    @staticmethod
    def _kernels():
        """The warp's NumPy definition on the NumPy engine, its numba twin on the fast one."""
        if backend.get_engine() == "numpy":
            return image_warp
        from convnet.kernels import warp_jit
        return warp_jit

    def _augment(self, x):
        h, w = x.shape[1:3]
        self._transforms_drawn = self._transforms(len(x), h, w, self.generator())
        return self._kernels().warp(x, self._transforms_drawn, self.interpolation,
                                    self.fill_mode, self.fill_value)

    def _augment_backward(self, dy):
        return self._kernels().warp_adjoint(dy, self._transforms_drawn, self.interpolation,
                                            self.fill_mode)

    def get_config(self):
        config = super().get_config()
        config.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "fill_value": self.fill_value})
        return config


class RandomTranslation(WarpLayer):
    """Shift each image by ``dy = u * H`` rows and ``dx = v * W`` columns, ``u`` drawn from
    ``height_factor``'s range and ``v`` from ``width_factor``'s (a positive shift moves the
    picture down / right); the uncovered band is filled by ``fill_mode``."""

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed=None, fill_value: float = 0.0,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, seed=seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_pair(self.describe(), "height_factor", height_factor, -1, 1)
        self._width = _factor_pair(self.describe(), "width_factor", width_factor, -1, 1)

    def _transforms(self, n, h, w, rng):
        dy = rng.uniform(*self._height, size=n) * h
        dx = rng.uniform(*self._width, size=n) * w
        one, zero = np.ones(n), np.zeros(n)
        return np.stack([one, zero, -dx, zero, one, -dy], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": _as_written(self.height_factor),
                       "width_factor": _as_written(self.width_factor)})
        return config


class RandomRotation(WarpLayer):
    """Rotate each image about its centre by ``a * 360`` degrees (counter-clockwise for
    ``a > 0``, as Keras), ``a`` drawn from ``factor``'s range (a fraction of a full turn:
    ``factor=0.1`` is up to 36 degrees either way)."""

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed=None, fill_value: float = 0.0, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, seed=seed, **kwargs)
        self.factor = factor
        self._range = _factor_pair(self.describe(), "factor", factor, -1, 1)

    def _transforms(self, n, h, w, rng):
        theta = rng.uniform(*self._range, size=n) * 2 * math.pi
        cos, sin = np.cos(theta), np.sin(theta)
        cx, cy = (w - 1) / 2, (h - 1) / 2            # the centre stays where it is
        return np.stack([cos, -sin, cx - cx * cos + cy * sin,
                         sin, cos, cy - cx * sin - cy * cos], axis=1)

    def get_config(self):
        config = super().get_config()
        config["factor"] = _as_written(self.factor)
        return config


class RandomZoom(WarpLayer):
    """Zoom each image about its centre: the output samples a region ``z`` times the image's
    height (``z = 1 + u``, ``u`` from ``height_factor``'s range: ``u > 0`` zooms out, ``u < 0``
    in) and ``1 + v`` times its width (``v`` from ``width_factor``'s range, or the same ``z``
    when ``width_factor`` is None, keeping the aspect ratio)."""

    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed=None, fill_value: float = 0.0,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, seed=seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_pair(self.describe(), "height_factor", height_factor, -1, 1,
                                    low_open=True)
        self._width = None if width_factor is None else _factor_pair(
            self.describe(), "width_factor", width_factor, -1, 1, low_open=True)

    def _transforms(self, n, h, w, rng):
        zy = 1 + rng.uniform(*self._height, size=n)
        zx = zy if self._width is None else 1 + rng.uniform(*self._width, size=n)
        zero = np.zeros(n)
        return np.stack([zx, zero, (w - 1) / 2 * (1 - zx),
                         zero, zy, (h - 1) / 2 * (1 - zy)], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": _as_written(self.height_factor),
                       "width_factor": _as_written(self.width_factor)})
        return config


class RandomContrast(RandomImageLayer):
    """Scale each image's deviations from its mean, per channel, by a factor ``f`` drawn from
    ``[1 - lower, 1 + upper]`` (``factor=0.2``: ``[0.8, 1.2]``; see the module docstring), then
    clip to ``value_range`` (Keras 3; ``(0, 255)`` by default: pass ``(0, 1)`` for images
    scaled to [0, 1])::

        m = mean of x over H and W (per image and channel)
        y = clip((x - m) * f + m, *value_range)

    Backward: with ``g = dy`` where y was not clipped (0 where it was),
    ``dx = f * g + (1 - f) * mean of g over H and W`` (every pixel moves the mean a little)."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        lower, upper = _factor_pair(self.describe(), "factor", factor, 0, 1)
        if not isinstance(factor, (list, tuple)):
            lower = -lower                        # f: [-f, f] above, [1 - f, 1 + f] here
        self._low, self._high = 1 - lower, 1 + upper   # a pair [a, b]: [1 - a, 1 + b]
        try:
            lo, hi = (float(v) for v in value_range)
            ok = lo < hi
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{self.describe()}: value_range must be a pair (low, high) with "
                             f"low < high, got {value_range!r}")
        self.value_range = (lo, hi)

    def _augment(self, x):
        f = self.generator().uniform(self._low, self._high,
                                     size=(len(x), 1, 1, 1)).astype(x.dtype)
        mean = x.mean(axis=(1, 2), keepdims=True)
        z = (x - mean) * f + mean
        self._factors = f
        self._inside = (z >= self.value_range[0]) & (z <= self.value_range[1])
        return np.clip(z, *self.value_range).astype(x.dtype)

    def _augment_backward(self, dy):
        g = dy * self._inside
        f = self._factors
        return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)

    def get_config(self):
        config = super().get_config()
        config["factor"] = _as_written(self.factor)
        if self.value_range != (0.0, 255.0):
            config["value_range"] = list(self.value_range)   # tf-keras has no value_range
        return config
