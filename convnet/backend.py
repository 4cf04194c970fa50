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

from convnet import not_supported

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


# ----- the helpers Keras tutorials call through ``keras.backend`` (``K``) ----------------------
def backend() -> str:
    """The name of the backend: ``'numpy'``. convnet computes with NumPy (and numba kernels
    that take and return NumPy arrays), like Keras 3's NumPy backend; code that checks
    ``K.backend() == 'tensorflow'`` takes its non-TensorFlow branch."""
    return "numpy"


def get_value(x):
    """The value of a variable as NumPy (``K.get_value``): a copy of an array, or the number
    itself (``K.get_value(model.optimizer.learning_rate)``)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, float):
        return float(x)
    if isinstance(x, (int, np.generic)):
        return x
    raise TypeError(f"get_value: expected a weight array or a number, got {type(x).__name__}")


def set_value(x, value) -> None:
    """Write ``value`` into the array ``x`` in place (``K.set_value(layer.kernel, w)``); the
    shapes must match.

    ``K.set_value(model.optimizer.lr, 0.001)`` (Keras 2 tutorials) sets the learning rate: the
    rate is a float that remembers its optimizer (:class:`convnet.optimizers.LearningRate`).
    Any other number cannot be changed in place: a TypeError says so."""
    from convnet.optimizers import LearningRate
    if isinstance(x, LearningRate):
        x.optimizer.learning_rate = float(value)
        return
    if not isinstance(x, np.ndarray):
        raise TypeError(f"set_value: {x!r} is a {type(x).__name__}, not an array, so it cannot "
                        "be changed in place. A learning rate is a plain number in convnet: "
                        "assign it, model.optimizer.learning_rate = value (tf.keras's "
                        "model.optimizer.lr = value works too)")
    value = np.asarray(value)
    if value.shape != x.shape:
        raise ValueError(f"set_value: the variable has shape {x.shape}, the value {value.shape}")
    x[...] = value


def int_shape(x) -> tuple:
    """The shape as a tuple of ints, ``None`` for an unknown (batch) size (``K.int_shape``):
    of an array, a symbolic tensor (``model.input``, ``layer.output``) or a weight."""
    shape = getattr(x, "shape", None)
    if shape is None:
        raise TypeError(f"int_shape: expected an array or a symbolic tensor, got "
                        f"{type(x).__name__}")
    return tuple(None if d is None else int(d) for d in shape)


class _LearningPhase:
    """The placeholder ``K.learning_phase()`` returns: a :func:`function` input whose value is
    1 (training: dropout on) or 0 (inference)."""

    def __repr__(self) -> str:
        return "<learning_phase>"


_LEARNING_PHASE = _LearningPhase()


def set_learning_phase(value) -> None:
    """tf.keras 2's ``K.set_learning_phase(0)`` (deprecated there): convnet has no global phase,
    and predict and evaluate always run in inference mode, so 0 changes nothing. 1 (dropout and
    batch statistics at prediction time) is refused: call ``model(x, training=True)``."""
    if value not in (0, 1) or isinstance(value, float):
        raise ValueError(f"set_learning_phase: the phase is 0 (inference) or 1 (training), got "
                         f"{value!r}")
    if value == 1:
        raise ValueError("set_learning_phase(1): convnet has no global learning phase; to run "
                         "layers in training mode on one batch (Monte Carlo dropout), call "
                         "model(x, training=True)")


def count_params(x) -> int:
    """``K.count_params(layer.kernel)``: the number of entries of a weight array."""
    return int(np.size(x))


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic tensor of a model's graph (``keras.Input(...)`` and what
    layers made of it), not an array."""
    from convnet.graph import is_symbolic
    return is_symbolic(x)


def learning_phase() -> _LearningPhase:
    """Keras 2's learning-phase input for :func:`function` (``f([x, 0])`` for inference)."""
    return _LEARNING_PHASE


def function(inputs, outputs, **kwargs):
    """``K.function([model.input], [layer.output])``: a function from input arrays to the arrays
    of the given symbolic tensors, as Keras 2 tutorials use it to look at feature maps::

        get_maps = K.function([model.input], [model.layers[0].output])
        maps = get_maps([x])[0]                          # (N, 26, 26, 32)

    It runs the model's layers (shared, not copied) as ``Model(inputs, outputs)`` does, at
    inference; ``K.learning_phase()`` among the inputs takes 1 (training) or 0."""
    from convnet.graph import is_symbolic
    from convnet.models import Model

    if kwargs.get("updates"):
        raise ValueError("function: updates are not supported (convnet has no graph variables "
                         "to update); train with model.fit or train_on_batch")
    ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    tensors = [t for t in ins if t is not _LEARNING_PHASE]
    if not is_symbolic(tensors) or not is_symbolic(outs):
        raise TypeError("function: inputs and outputs must be symbolic tensors, e.g. "
                        "K.function([model.input], [model.layers[0].output])")
    model = Model(tensors, outs)

    def run(values):
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if len(values) != len(ins):
            raise ValueError(f"function: expects {len(ins)} input values (one per input), got "
                             f"{len(values)}")
        training = any(bool(v) for t, v in zip(ins, values) if t is _LEARNING_PHASE)
        arrays = [np.asarray(v, dtype=floatx()) for t, v in zip(ins, values)
                  if t is not _LEARNING_PHASE]
        result = model.forward(arrays, training=training)
        return list(result) if isinstance(result, list) else [result]

    return run


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
