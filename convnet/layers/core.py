"""Dense, Flatten, Dropout and Activation."""

from __future__ import annotations

import numpy as np

from convnet import backend, initializers, kernels, utils
from convnet.kernels import reference
from convnet.layers.activated import ActivationMixin
from convnet.layers.base import Layer


class Dense(ActivationMixin, Layer):
    """Fully connected layer: ``y = activation(x @ W + b)``.

    ``x`` is ``(batch, in)`` (or ``(batch, ..., in)``: applied to the last axis), kernel ``W`` is
    ``(in, units)``, bias ``b`` is ``(units,)``. Backward::

        dW = x.T @ dz      db = dz.sum(axis=0)      dx = dz @ W.T

    The products are ``matmul(a, b)``: ``a @ b`` on the NumPy engine; on the fast engine the same
    product cut into blocks on convnet's per-core threads (:mod:`convnet.fast.blas` says why).

    Kept by ``forward`` for ``backward``: ``_x`` (input, 2-D) and ``_y`` (output).
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense '{self.name}': units must be a positive integer, "
                             f"got {units!r}")
        for arg, value in (("kernel_regularizer", kernel_regularizer),
                           ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint),
                           ("bias_constraint", bias_constraint)):
            if value is not None:
                raise ValueError(f"Dense '{self.name}': {arg} is not supported (got {value!r})")
        self.units = int(units)
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.normalize(kernel_initializer)
        self.bias_initializer = initializers.normalize(bias_initializer)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}' needs a known last input axis, got per-sample "
                             f"shape {tuple(input_shape)}; put a Flatten() before it for images")
        return tuple(input_shape[:-1]) + (self.units,)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        self.params = {"kernel": initializers.initialize(
            self.kernel_initializer, (input_shape[-1], self.units), self.compute_dtype())}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (self.units,), self.compute_dtype())
        return out

    def _forward(self, x, training):
        self._x_shape = x.shape
        self._x = x.reshape(-1, x.shape[-1])
        matmul = kernels.for_engine().matmul
        z = matmul(self._x, self.params["kernel"])             # x @ W: (rows, units)
        y = self._bias_and_activate(z, self.params.get("bias"))   # f(z + b), in place
        return y.reshape(x.shape[:-1] + (self.units,))

    def _backward(self, dy, input_gradient):
        dz, db = self._activation_and_bias_grad(dy.reshape(-1, self.units))
        return self._backward_linear(dz, db, input_gradient)

    def _backward_linear(self, dz, db, input_gradient):
        dz = dz.reshape(-1, self.units)
        matmul = kernels.for_engine().matmul
        self.grads["kernel"][...] = matmul(self._x.T, dz)
        if self.use_bias:
            self.grads["bias"][...] = dz.sum(axis=0) if db is None else db
        if not input_gradient:
            return None    # first layer of a model: dL/dx would be thrown away
        return matmul(dz, self.params["kernel"].T).reshape(self._x_shape)

    @property
    def kernel(self) -> np.ndarray:
        """The kernel array (Keras's ``layer.kernel``)."""
        return self.params["kernel"]

    @property
    def bias(self) -> np.ndarray | None:
        """The bias array, or None with ``use_bias=False`` (Keras's ``layer.bias``)."""
        return self.params.get("bias")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "units": self.units, "activation": self.activation, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
        })
        return config


class Flatten(Layer):
    """Flatten each sample to a vector: ``(batch, ...) -> (batch, prod(...))``.

    With ``data_format='channels_first'`` an image batch ``(batch, C, H, W)`` is first moved to
    ``(batch, H, W, C)``, so the vector has Keras's channels-last order; with ``channels_last`` the
    array is flattened as it is (Keras does the same). The default follows
    :func:`convnet.backend.image_data_format`. Backward is the reshape back.
    """

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = backend.normalize_data_format(data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if any(d is None for d in input_shape):
            raise ValueError(f"Flatten '{self.name}' needs a fully known input shape, "
                             f"got {tuple(input_shape)}")
        return (int(np.prod(input_shape)),)

    def _moves_channels(self, x) -> bool:
        return self.data_format == "channels_first" and x.ndim > 2

    def _forward(self, x, training):
        self._x_shape = x.shape
        self._moved = self._moves_channels(x)
        if self._moved:
            x = np.moveaxis(x, 1, -1)  # (N, C, ...) -> (N, ..., C)
        return x.reshape(x.shape[0], -1)

    def _backward(self, dy, input_gradient):
        n = dy.shape[0]
        if self._moved:
            moved = (n,) + tuple(self._x_shape[2:]) + (self._x_shape[1],)
            return np.moveaxis(dy.reshape(moved), -1, 1)
        return dy.reshape(self._x_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Dropout(Layer):
    """Inverted dropout: during training each value is zeroed with probability ``rate`` and the
    survivors are scaled by ``1 / (1 - rate)``, so inference needs no change (identity).

    Forward (training): ``y = x * mask / (1 - rate)`` with ``mask = (u >= rate)``,
    ``u ~ U[0, 1)`` (32-bit: ``u = k / 2**32`` for a random 32-bit integer ``k`` of a SplitMix64
    stream whose number comes from the seeded generator; see ``kernels/reference.py``).
    Backward: ``dx = dy * mask / (1 - rate)`` (the same mask). Kept by ``forward``: ``_mask``
    (booleans; ``None`` when the last forward was at inference). The fast engine draws the same
    numbers and makes the same mask in one numba pass (``kernels.dropout_forward``).
    """

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        try:
            ok = 0.0 <= float(rate) < 1.0 and not isinstance(rate, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"Dropout '{self.name}': rate is the fraction of units dropped and "
                             f"must be in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported")
        self.rate = float(rate)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        rng = self._rng if self._rng is not None else utils.rng()
        key = int(rng.bit_generator.random_raw())           # which random stream
        self._scale = 1.0 / (1.0 - self.rate)
        if backend.get_engine() == "numpy":
            u = reference.uniform(key, x.size).reshape(x.shape)    # U[0, 1)
            self._mask = u >= self.rate                             # True = kept
            return x * self._mask * x.dtype.type(self._scale)
        # the same u and mask, as integers: keep when k >= rate * 2**32
        threshold = min(int(np.ceil(self.rate * 2.0**32)), 2**32 - 1)
        y, self._mask = kernels.dropout_forward(x, key, threshold, self._scale)
        return y

    def _backward(self, dy, input_gradient):
        if self._mask is None:
            return dy
        return kernels.for_engine().dropout_backward(dy, self._mask, self._scale)

    @property
    def rng_state(self) -> dict | None:
        """The state of this layer's own generator (when made with ``seed=``), else None;
        settable, for checkpoints and gradient checks that replay the same masks."""
        return None if self._rng is None else dict(self._rng.bit_generator.state)

    @rng_state.setter
    def rng_state(self, state: dict) -> None:
        if self._rng is None:
            raise ValueError(f"{self.describe()} has no generator of its own (no seed=)")
        self._rng.bit_generator.state = state

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return x                                        # the identity at inference

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": None, "seed": self.seed})
        return config


class Activation(ActivationMixin, Layer):
    """Apply an activation function on its own: ``y = f(x)``; backward ``dx = f'(x) * dy``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _forward(self, x, training):
        return self._activate(x)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return self._act_forward(x, out=None)

    def _backward_linear(self, dz, db, input_gradient):
        return dz

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        return config
