"""Weight initialisers, with Keras's names and fan conventions.

For a kernel of shape ``(..., fan_in_axis, fan_out_axis)`` the receptive field is the product of
the leading axes: Conv2D kernel ``(kh, kw, in, out)`` has ``fan_in = kh*kw*in`` and
``fan_out = kh*kw*out``; Dense kernel ``(in, out)`` has ``fan_in = in``, ``fan_out = out``.
"""

from __future__ import annotations

import numpy as np

from convnet import utils

_CLASS_NAMES = {
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform",
    "zeros": "Zeros",
    "ones": "Ones",
}
_FROM_CLASS = {v: k for k, v in _CLASS_NAMES.items()}


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        return (shape[0] if shape else 1), (shape[0] if shape else 1)
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def initialize(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Draw an array of ``shape`` from the initialiser ``name`` with convnet's generator."""
    rng = utils.rng()
    fan_in, fan_out = _fans(tuple(shape))
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    if name == "ones":
        return np.ones(shape, dtype=dtype)
    if name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    if name == "glorot_normal":
        return _truncated_normal(rng, np.sqrt(2.0 / (fan_in + fan_out)), shape).astype(dtype)
    if name == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    if name == "he_normal":
        return _truncated_normal(rng, np.sqrt(2.0 / fan_in), shape).astype(dtype)
    if name == "lecun_uniform":
        limit = np.sqrt(3.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    raise ValueError(f"Unknown initializer {name!r}; expected one of {sorted(_CLASS_NAMES)}")


def _truncated_normal(rng: np.random.Generator, stddev: float, shape) -> np.ndarray:
    # Keras's truncated normal: values beyond 2 standard deviations are redrawn; the scale is
    # corrected (0.8796...) so the variance stays stddev**2.
    stddev = stddev / 0.87962566103423978
    out = rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


def normalize(spec) -> str:
    """Accept ``'glorot_uniform'``, ``'GlorotUniform'`` or ``{'class_name': 'GlorotUniform'}``."""
    if isinstance(spec, dict):
        spec = spec.get("class_name")
    if isinstance(spec, str):
        if spec in _CLASS_NAMES:
            return spec
        if spec in _FROM_CLASS:
            return _FROM_CLASS[spec]
    raise ValueError(f"Unknown initializer {spec!r}; expected one of {sorted(_CLASS_NAMES)}")


def serialize(name: str) -> dict:
    """Keras's JSON form of an initialiser name."""
    cls = _CLASS_NAMES[name]
    return {"class_name": cls, "config": {"seed": None} if cls not in ("Zeros", "Ones") else {}}
