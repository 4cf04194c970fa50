"""Keras's regularization layers: SpatialDropout2D, GaussianNoise, GaussianDropout (noise in
training, the identity at inference) and ActivityRegularization (a penalty on the values that
pass through)."""

from __future__ import annotations

import math

import numpy as np

from convnet import backend, regularizers
from convnet.arguments import real_number
from convnet.layers.base import Layer
from convnet.layers.core import Dropout
from convnet.layers.regularized import Regularized
from convnet.layers.seeded import Seeded


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: in training each channel of each sample is zeroed with
    probability ``rate`` (the survivors scaled by ``1 / (1 - rate)``), so neighbouring pixels,
    which are strongly correlated, are dropped together (Tompson et al. 2015).

    It is :class:`Dropout` with ``noise_shape = (batch, 1, 1, C)`` (``(batch, C, 1, 1)`` for
    ``channels_first``); forward and backward are Dropout's. Input ``(batch, H, W, C)``."""

    def __init__(self, rate: float, data_format: str | None = None, seed=None,
                 noise_shape=None, **kwargs):
        # noise_shape: tf-keras writes ``"noise_shape": null`` in its config; it is fixed here
        if noise_shape is not None:
            raise ValueError("SpatialDropout2D: noise_shape is set by data_format; got "
                             f"{noise_shape!r}")
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = backend.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects images (batch, H, W, C), got "
                             f"per-sample shape {tuple(input_shape)}")
        return tuple(input_shape)

    def mask_shape(self, x_shape: tuple) -> tuple | None:
        n = x_shape[0]
        if self.data_format == "channels_first":
            return (n, x_shape[1], 1, 1)
        return (n, 1, 1, x_shape[3])

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("noise_shape")
        config.pop("trainable")          # Keras 3's SpatialDropout2D refuses it (no weights)
        config["data_format"] = self.data_format
        return config


class GaussianNoise(Seeded, Layer):
    """Additive zero-centred Gaussian noise in training: ``y = x + stddev * e``,
    ``e ~ N(0, 1)`` drawn anew for every value; the identity at inference.

    Backward: ``dx = dy`` (the noise does not depend on x)."""

    def __init__(self, stddev: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = real_number(self.describe(), "stddev", stddev, 0.0)
        self._set_seed(seed, self.describe())

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x, training):
        if not training or self.stddev == 0.0:
            return x
        noise = self.generator().standard_normal(x.shape).astype(x.dtype)
        return x + x.dtype.type(self.stddev) * noise

    def _backward(self, dy, input_gradient):
        return dy

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


class GaussianDropout(Seeded, Layer):
    """Multiplicative Gaussian noise in training: ``y = x * e``, ``e ~ N(1, rate / (1 - rate))``
    (mean 1, so inference needs no rescaling: the identity), as Srivastava et al. 2014 sec. 10.

    Backward: ``dx = dy * e`` (the same ``e``). Kept by ``forward``: ``_noise`` (None when the
    last forward was at inference)."""

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = real_number(self.describe(), "rate", rate, 0.0, 1.0, high_open=True)
        self._set_seed(seed, self.describe())
        self._noise: np.ndarray | None = None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x, training):
        if not training or self.rate == 0.0:
            self._noise = None
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        self._noise = (1.0 + stddev * self.generator().standard_normal(x.shape)).astype(x.dtype)
        return x * self._noise

    def _backward(self, dy, input_gradient):
        return dy if self._noise is None else dy * self._noise

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


class ActivityRegularization(Regularized, Layer):
    """The identity, adding ``(l1 * sum(|x|) + l2 * sum(x ** 2)) / batch`` to the loss (Keras's
    activity penalty, divided by the batch size); backward ``dx = dy + (l1 * sign(x) +
    2 * l2 * x) / batch``. See :mod:`convnet.layers.regularized` for how the model adds it."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)
        except ValueError as exc:
            raise ValueError(f"{self.describe()}: {exc}") from None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x, training):
        return x

    def _backward(self, dy, input_gradient):
        return dy                   # the penalty's gradient was added by Regularized.backward

    def get_config(self) -> dict:
        config = super().get_config()
        assert self.activity_regularizer is not None
        config.update(self.activity_regularizer.get_config())
        return config
