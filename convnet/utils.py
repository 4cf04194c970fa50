"""Small helpers the tutorials use: ``to_categorical``, ``normalize``, ``set_random_seed``,
``Sequence``/``PyDataset`` (:mod:`convnet.data_adapters`), and ``np_utils`` (Keras 2's module
of the first two: ``from convnet.utils import np_utils``)."""

from __future__ import annotations

import random as _py_random
import sys
import types

import numpy as np

from convnet import backend, not_supported
from convnet.data_adapters import PyDataset, Sequence

__all__ = ["PyDataset", "Sequence", "get_rng_state", "normalize", "np_utils", "rng",
           "set_random_seed", "set_rng_state", "to_categorical"]

_RNG = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Make weight initialisation, shuffling and dropout reproducible.

    Seeds convnet's own generator (used for everything convnet draws) and, for user code that
    relies on them, Python's ``random`` and NumPy's legacy global generator.
    """
    global _RNG
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer, got {seed!r}")
    _RNG = np.random.default_rng(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))


def rng() -> np.random.Generator:
    """Return convnet's random generator (reseeded by :func:`set_random_seed`)."""
    return _RNG


def get_rng_state() -> dict:
    """The state of convnet's generator (a copy), for :func:`set_rng_state`: checkpoints save
    it, and the gradient checks replay the same dropout masks with it."""
    return dict(_RNG.bit_generator.state)   # NumPy's stubs say Mapping; it is a fresh dict


def set_rng_state(state: dict) -> None:
    """Put convnet's generator back into a state from :func:`get_rng_state` (Python's and
    NumPy's legacy generators are left alone)."""
    global _RNG
    generator = np.random.default_rng()
    generator.bit_generator.state = state
    _RNG = generator


def to_categorical(y, num_classes: int | None = None, dtype: str | None = None) -> np.ndarray:
    """One-hot encode integer class labels.

    ``y`` holds integers in ``[0, num_classes)``; any shape (a trailing axis of size 1 is
    dropped, as in Keras). Returns shape ``y.shape + (num_classes,)`` in ``dtype`` (default
    :func:`convnet.backend.floatx`).
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise ValueError(f"to_categorical expects integer class labels, got dtype {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, found {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    num_classes = int(num_classes)
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} is out of range for "
                         f"num_classes={num_classes} (labels must be < num_classes)")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype or backend.floatx())
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``utils.normalize``): rows of
    norm 1 for the default L2, ``axis=-1``; an all-zero row stays zero (its norm counts as 1).
    (Keras 3's NumPy path turns ``axis=0`` into -1 by ``axis or -1`` and fails to broadcast;
    here ``axis=0`` normalises the columns, as documented.)"""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"normalize: x must be numeric, got dtype {x.dtype}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"normalize: axis must be an integer, got {axis!r}")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


# Keras 2's ``keras.utils.np_utils`` module: ``from convnet.utils import np_utils`` and
# ``from convnet.utils.np_utils import to_categorical`` both work
np_utils = types.ModuleType(f"{__name__}.np_utils",
                            "Keras 2's keras.utils.np_utils: to_categorical and normalize.")
np_utils.to_categorical = to_categorical  # type: ignore[attr-defined]
np_utils.normalize = normalize  # type: ignore[attr-defined]
sys.modules[np_utils.__name__] = np_utils


# Keras's picture helpers and plot_model, loaded on first use (they import Pillow/matplotlib)
_LAZY = {"load_img": "convnet.image_data", "img_to_array": "convnet.image_data",
         "array_to_img": "convnet.image_data", "save_img": "convnet.image_data",
         "image_dataset_from_directory": "convnet.image_data",
         "plot_model": "convnet.plot_model", "Progbar": "convnet.progress",
         "register_keras_serializable": "convnet.saving.registry",
         "custom_object_scope": "convnet.saving.registry",
         "CustomObjectScope": "convnet.saving.registry",
         "get_custom_objects": "convnet.saving.registry"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise not_supported.missing(__name__, name)   # refused with its reason, when known
