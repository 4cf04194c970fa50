"""Activations as layers of their own, with Keras's options: Softmax (over any axis), ReLU
(capped, leaky, thresholded), LeakyReLU, ELU and PReLU (a learned slope).

Each is elementwise (Softmax: per slice along its axis), so ``dx = f'(x) * dy`` (Softmax: the
Jacobian-vector product). Exactly at a kink (x == 0, the threshold, the cap) the derivative is
one of the two one-sided ones, as each class docstring states; the gradient checks keep their
inputs away from the kinks.
"""

from __future__ import annotations

import numpy as np

from convnet import initializers
from convnet.arguments import real_number
from convnet.layers.base import Layer


class _Elementwise(Layer):
    """``y = f(x)`` cell by cell; subclasses give ``_f(x)`` and ``_slope(x)`` (= ``f'(x)``).

    Kept by ``forward`` for ``backward``: ``_x`` (the input).
    """

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _slope(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, x, training):
        self._x = x
        return self._f(x)

    def _backward(self, dy, input_gradient):
        return self._slope(self._x) * dy

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._f(x)


class ReLU(_Elementwise):
    """Rectified linear unit with Keras's options::

        f(x) = max_value                        x >= max_value
               x                                threshold < x < max_value
               negative_slope * (x - threshold) x <= threshold

    ``max_value=None`` means no cap. Backward: ``f'(x) = 1`` on (threshold, max_value),
    ``negative_slope`` below the threshold, 0 at or above the cap, and 0 at the threshold itself
    (as TensorFlow's relu and relu6 take at their kinks).
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        self.max_value = None if max_value is None else real_number(what, "max_value", max_value,
                                                                    0.0)
        self.negative_slope = real_number(what, "negative_slope", negative_slope, 0.0)
        self.threshold = real_number(what, "threshold", threshold, 0.0)

    def _f(self, x):
        y = np.where(x > self.threshold, x, x.dtype.type(0))
        if self.max_value is not None:
            y = np.minimum(y, x.dtype.type(self.max_value))
        if self.negative_slope:
            below = np.minimum(x - x.dtype.type(self.threshold), 0)
            y = y + x.dtype.type(self.negative_slope) * below
        return y

    def _slope(self, x):
        inside = x > self.threshold
        if self.max_value is not None:
            inside &= x < self.max_value
        slope = inside.astype(x.dtype)
        if self.negative_slope:
            slope[x < self.threshold] = self.negative_slope
        return slope

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(_Elementwise):
    """``f(x) = x`` for ``x > 0``, ``negative_slope * x`` otherwise (default slope 0.3).

    Backward: ``f'(x) = 1`` for ``x > 0``, else ``negative_slope`` (also at 0, as TensorFlow).
    tf-keras's name for the slope, ``alpha=``, is accepted too; the config uses Keras 3's
    ``negative_slope``.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:                              # tf-keras 2.x spelling
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = real_number(self.describe(), "negative_slope", negative_slope, 0.0)

    def _f(self, x):
        return np.where(x > 0, x, x.dtype.type(self.negative_slope) * x)

    def _slope(self, x):
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(_Elementwise):
    """Exponential linear unit: ``f(x) = x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Backward: ``f'(x) = 1`` for ``x > 0``, else ``alpha * exp(x)`` (``= f(x) + alpha``).
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = real_number(self.describe(), "alpha", alpha)

    def _f(self, x):
        # expm1 of min(x, 0): exact near 0, and no overflow warning from the unused branch
        return np.where(x > 0, x, x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0)))

    def _slope(self, x):
        return np.where(x > 0, x.dtype.type(1),
                        x.dtype.type(self.alpha) * np.exp(np.minimum(x, 0)))

    def get_config(self) -> dict:
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class PReLU(_Elementwise):
    """Parametric ReLU: ``f(x) = x`` for ``x > 0``, ``alpha * x`` otherwise, with a learned
    ``alpha`` per input cell (per sample: ``alpha`` has the per-sample input shape).

    ``shared_axes`` (Keras's numbering: 1 is the first axis after the batch) are axes along which
    one ``alpha`` serves all cells: ``alpha``'s size there is 1 and it broadcasts. For a
    ``(batch, H, W, C)`` feature map, ``shared_axes=[1, 2]`` learns one slope per channel.

    Backward::

        dx     = dy * (1 if x > 0 else alpha)              (alpha at x == 0 too)
        dalpha = sum over the batch and the shared axes of dy * min(x, 0)

    ``params["alpha"]`` starts from ``alpha_initializer`` (zeros: a plain ReLU).
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("alpha_regularizer", alpha_regularizer),
                           ("alpha_constraint", alpha_constraint)):
            if value is not None:
                raise ValueError(f"{self.describe()}: {arg} is not supported (got {value!r})")
        try:
            self.alpha_initializer = initializers.normalize(alpha_initializer)
        except ValueError as exc:
            raise ValueError(f"{self.describe()}: alpha_initializer: {exc}") from None
        axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else shared_axes
        if axes is not None and not (
                isinstance(axes, (list, tuple))
                and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1
                        for a in axes)):
            raise ValueError(f"{self.describe()}: shared_axes must be None, an axis or a list of "
                             f"axes >= 1 (1 is the first axis after the batch), "
                             f"got {shared_axes!r}")
        self.shared_axes = None if axes is None else [int(a) for a in axes]

    def _build(self, input_shape: tuple) -> tuple:
        alpha_shape = list(input_shape)
        for axis in self.shared_axes or []:
            if axis > len(input_shape):
                raise ValueError(f"{self.describe()}: shared axis {axis} does not exist in "
                                 f"per-sample input shape {tuple(input_shape)} (axes 1 to "
                                 f"{len(input_shape)})")
            alpha_shape[axis - 1] = 1
        self.params = {"alpha": initializers.initialize(
            self.alpha_initializer, tuple(alpha_shape), self.compute_dtype())}
        return self.compute_output_shape(input_shape)

    def _f(self, x):
        return np.where(x > 0, x, self.params["alpha"] * x)

    def _slope(self, x):
        return np.where(x > 0, x.dtype.type(1), self.params["alpha"])

    def _backward(self, dy, input_gradient):
        alpha = self.params["alpha"]
        # alpha broadcast over the batch axis and its size-1 (shared) axes: sum over those
        summed = (0,) + tuple(i + 1 for i, size in enumerate(alpha.shape) if size == 1)
        dalpha = (dy * np.minimum(self._x, 0)).sum(axis=summed, keepdims=True)
        self.grads["alpha"][...] = dalpha.reshape(alpha.shape)
        return super()._backward(dy, input_gradient)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"alpha_initializer": initializers.serialize(self.alpha_initializer),
                       "alpha_regularizer": None, "alpha_constraint": None,
                       "shared_axes": self.shared_axes})
        return config


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a list of ints; -1, the last axis, by default)::

        y = exp(x - max(x)) / sum(exp(x - max(x)))      (max and sum over ``axis``)

    Backward, the Jacobian-vector product: ``dx = y * (dy - sum(dy * y))`` (sum over ``axis``).
    Axes count the batch axis as 0, as in Keras; softmax over the batch axis itself is refused
    (it would mix the samples). Kept by ``forward`` for ``backward``: ``_y`` (the output).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                               for a in axes):
            raise ValueError(f"{self.describe()}: axis must be an integer or a list of "
                             f"integers, got {axis!r}")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)

    def _axes(self, rank: int) -> tuple[int, ...]:
        """``axis`` as non-negative axes of a batch of ``rank`` dimensions."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-rank <= a < rank for a in axes):
            raise ValueError(f"{self.describe()}: axis {self.axis} is out of range for input of "
                             f"rank {rank} (batch axis included)")
        found = tuple(sorted({a % rank for a in axes}))
        if 0 in found:
            raise ValueError(f"{self.describe()}: axis {self.axis} includes the batch axis; "
                             "softmax over the samples is not supported")
        return found

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._axes(len(input_shape) + 1)
        return tuple(input_shape)

    def _softmax(self, x: np.ndarray) -> np.ndarray:
        axes = self._axes(x.ndim)
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        return e / e.sum(axis=axes, keepdims=True)

    def _forward(self, x, training):
        self._y = self._softmax(x)
        return self._y

    def _backward(self, dy, input_gradient):
        y = self._y
        return y * (dy - (dy * y).sum(axis=self._axes(y.ndim), keepdims=True))

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._softmax(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
