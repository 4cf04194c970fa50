"""Rescaling: ``y = x * scale + offset`` (Keras's preprocessing layer, e.g.
``Rescaling(1 / 255)`` to take pixel values to [0, 1])."""

from __future__ import annotations

import math

import numpy as np

from convnet.layers.base import Layer


def _number_or_list(owner: str, what: str, value):
    """A float, or a list of floats (one per channel: broadcast against the last axis)."""
    values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
    try:
        ok = len(values) > 0 and all(not isinstance(v, bool) and math.isfinite(float(v))
                                     for v in values)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{owner}: {what} must be a finite number or a list of them (one per "
                         f"channel), got {value!r}")
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in values]
    return float(value)


class Rescaling(Layer):
    """``y = x * scale + offset``, in training and at inference alike; backward
    ``dx = dy * scale``. ``scale`` and ``offset`` are numbers or per-channel lists."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(self.describe(), "scale", scale)
        self.offset = _number_or_list(self.describe(), "offset", offset)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        for what, value in (("scale", self.scale), ("offset", self.offset)):
            if isinstance(value, list) and len(value) not in (1, input_shape[-1]):
                raise ValueError(f"{self.describe()}: {what} has {len(value)} values but the "
                                 f"input has {input_shape[-1]} channels (last axis)")
        return tuple(input_shape)

    def _forward(self, x, training):
        return self.infer_chunk(x)

    def _backward(self, dy, input_gradient):
        return dy * np.asarray(self.scale, dtype=dy.dtype)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x * np.asarray(self.scale, dtype=x.dtype) + np.asarray(self.offset, dtype=x.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config
