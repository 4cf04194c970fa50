"""Global numeric settings, mirroring ``keras.backend``.

``floatx()`` is the dtype every layer computes in (float32 by default; the gradient checks switch
to float64), ``epsilon()`` the fuzz factor losses clip with, and ``image_data_format()`` the
default layout of image tensors for layers built with ``data_format=None``.

``set_engine()`` chooses how layers run: ``"numpy"`` is the textbook code of
``docs/backprop.md`` (im2col + matmul for every convolution, NumPy for every kernel, no worker
threads), ``"fast"`` (the default) the numba kernels, per-core tasks and Winograd. Both compute
the same numbers up to float rounding; the NumPy engine is for reading and stepping through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

ENGINES = ("fast", "numpy")
_ENGINE = "fast"
_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def floatx() -> str:
    """Return the default float type as a string, ``'float32'`` or ``'float64'``."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type (``'float16'``, ``'float32'`` or ``'float64'``)."""
    global _FLOATX
    if value not in ("float16", "float32", "float64"):
        raise ValueError(f"set_floatx: unknown float type {value!r}; "
                         "expected 'float16', 'float32' or 'float64'")
    _FLOATX = str(value)


def epsilon() -> float:
    """Return the fuzz factor used to keep logarithms and divisions finite (1e-7, as Keras)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the fuzz factor returned by :func:`epsilon`."""
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    """Return ``'channels_last'`` (NHWC, the default) or ``'channels_first'`` (NCHW)."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Set the layout that image layers use when built with ``data_format=None``."""
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"set_image_data_format: unknown data format {data_format!r}; "
                         "expected 'channels_last' or 'channels_first'")
    _IMAGE_DATA_FORMAT = str(data_format)


def normalize_data_format(data_format: str | None) -> str:
    """Resolve ``None`` to :func:`image_data_format` and validate anything else."""
    if data_format is None:
        return image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return data_format


def cast_to_floatx(x) -> np.ndarray:
    """Return ``x`` as a NumPy array of dtype :func:`floatx`."""
    return np.asarray(x, dtype=_FLOATX)


def clear_session() -> None:
    """Reset the automatic layer names (``conv2d``, ``conv2d_1``, ...), as Keras does."""
    from convnet.layers.base import reset_layer_names

    reset_layer_names()


def get_engine() -> str:
    """The engine layers run on: ``'fast'`` (default) or ``'numpy'`` (see the module docstring)."""
    return _ENGINE


def set_engine(name: str) -> None:
    """Run every layer, loss and optimizer on ``'numpy'`` (the textbook code, no numba, no worker
    threads) or ``'fast'`` (numba kernels, per-core tasks, Winograd). Layers pick their way of
    running again on their next call; weights and optimizer state are untouched."""
    global _ENGINE
    if name not in ENGINES:
        raise ValueError(f"set_engine: unknown engine {name!r}; expected one of {ENGINES}")
    _ENGINE = name


@contextmanager
def engine(name: str) -> Iterator[None]:
    """``with backend.engine("numpy"): ...`` runs the block on that engine, then restores the
    previous one."""
    before = get_engine()
    set_engine(name)
    try:
        yield
    finally:
        set_engine(before)
