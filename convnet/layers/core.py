"""Dense, Flatten, Dropout and Activation."""

from __future__ import annotations

import numpy as np

from convnet import backend, initializers, kernels, utils
from convnet.kernels import reference
from convnet.layers.activated import ActivationMixin
from convnet.layers.base import Layer, format_shape
from convnet.layers.regularized import Regularized


class Dense(Regularized, ActivationMixin, Layer):
    """Fully connected layer: ``y = activation(x @ W + b)``.

    ``x`` is ``(batch, in)`` (or ``(batch, ..., in)``: applied to the last axis), kernel ``W`` is
    ``(in, units)``, bias ``b`` is ``(units,)``. Backward::

        dW = x.T @ dz      db = dz.sum(axis=0)      dx = dz @ W.T

    The products are ``matmul(a, b)``: ``a @ b`` on the NumPy engine; on the fast engine the same
    product cut into blocks on convnet's per-core threads (:mod:`convnet.fast.blas` says why).

    Kept by ``forward`` for ``backward``: ``_x`` (input, 2-D) and ``_y`` (output).

    Regularizers (added to the loss, their gradients to the weights' and to dL/dy) and
    constraints (applied after each optimizer step) work as in Keras: see
    :mod:`convnet.layers.regularized`. ``input_dim=n`` is tf-keras's spelling of
    ``input_shape=(n,)``.
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, input_dim=None, **kwargs):
        if input_dim is not None:
            if kwargs.get("input_shape") is not None:
                raise ValueError(f"Dense: give input_dim={input_dim!r} or input_shape="
                                 f"{kwargs['input_shape']!r}, not both")
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense '{self.name}': units must be a positive integer, "
                             f"got {units!r}")
        self._set_regularizers(kernel_regularizer, bias_regularizer, activity_regularizer,
                               kernel_constraint, bias_constraint)
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
            **self.regularizer_config(),
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

    ``noise_shape`` (Keras's): the mask's shape, None entries taken from the input, e.g.
    ``(None, 1, 1, C)`` drops whole feature maps (:class:`SpatialDropout2D`); such a mask is
    drawn from the same stream as the NumPy engine draws it, on both engines, and broadcast.
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
        self.noise_shape = _noise_shape(noise_shape, self.describe())
        self.rate = float(rate)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self.mask_shape((None,) + tuple(input_shape))    # a noise_shape that cannot fit: now
        return tuple(input_shape)

    def mask_shape(self, x_shape: tuple) -> tuple | None:
        """The shape of the mask for an input of ``x_shape``: ``noise_shape`` with its None
        entries taken from ``x_shape`` (a 1 shares one draw along that axis: with
        ``(batch, 1, 1, C)`` a whole channel is dropped), or None for one draw per value."""
        if self.noise_shape is None:
            return None
        if len(self.noise_shape) != len(x_shape) or any(
                d is not None and n is not None and d != 1 and d != n
                for d, n in zip(self.noise_shape, x_shape)):
            raise ValueError(f"{self.describe()}: noise_shape {self.noise_shape} does not fit "
                             f"inputs of shape {format_shape(tuple(x_shape))} (each entry None, "
                             "1 or the input's size)")
        return tuple(n if d is None else d for d, n in zip(self.noise_shape, x_shape))

    def _forward(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        rng = self._rng if self._rng is not None else utils.rng()
        key = int(rng.bit_generator.random_raw())           # which random stream
        self._scale = 1.0 / (1.0 - self.rate)
        shape = self.mask_shape(x.shape)
        if shape is not None:
            # a mask shared along some axes (small): drawn as the NumPy engine does, and
            # broadcast against x in the forward and backward passes
            u = reference.uniform(key, int(np.prod(shape))).reshape(shape)
            self._mask = u >= self.rate
            return x * self._mask * x.dtype.type(self._scale)
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
        if self._mask.shape != dy.shape:             # a noise_shape mask, broadcast
            return dy * self._mask * dy.dtype.type(self._scale)
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
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
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


def _noise_shape(noise_shape, owner: str) -> tuple | None:
    """Keras's ``noise_shape``: None, or a sequence of None / positive sizes (batch first)."""
    if noise_shape is None:
        return None
    try:
        shape = tuple(None if d is None else int(d) for d in noise_shape)
        ok = bool(shape) and all(d is None or (d > 0 and not isinstance(d0, bool))
                                 for d, d0 in zip(shape, noise_shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{owner}: noise_shape must be a sequence of None or positive sizes "
                         f"(batch axis first, e.g. (None, 1, 1, channels)), got {noise_shape!r}")
    return shape
