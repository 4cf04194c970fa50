"""BatchNormalization: normalise each channel by its batch statistics, then scale and shift.

For one channel, over its ``m`` values in the batch (every sample, every position)::

    mean = (1/m) sum x          var = (1/m) sum (x - mean)**2        (biased, as Keras)
    xhat = (x - mean) / sqrt(var + eps)
    y    = gamma * xhat + beta

Backward (training), the chain rule through ``xhat``, ``mean`` and ``var``::

    dgamma = sum dy * xhat      dbeta = sum dy
    dx     = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))

At inference ``mean`` and ``var`` are the moving averages, constants, so the layer is the affine
map ``y = gamma / sqrt(var + eps) * (x - mean) + beta``. Derivation: ``docs/backprop.md``.

The NumPy below is what the NumPy engine runs. On the fast engine, channels-last float32/float64
inputs go through ``kernels.batchnorm_stats`` / ``batchnorm_forward`` / ``batchnorm_backward``
(numba, the same formulas in fewer passes; tested against their NumPy twins).
Reference: Ioffe and Szegedy, "Batch Normalization", 2015 (arXiv:1502.03167).
"""

from __future__ import annotations

import numbers

import numpy as np

from convnet import backend, initializers, kernels
from convnet.arguments import real_number
from convnet.layers.base import Layer, format_shape


class BatchNormalization(Layer):
    """Batch normalisation over every axis but ``axis`` (Keras 3's layer and arguments).

    ``axis`` is the feature axis of the full input, batch axis included: ``-1`` (the default:
    channels-last images, Dense outputs) or a positive axis (``1`` after a ``channels_first``
    Conv2D, ``3`` for NHWC). Weights, in Keras's order, each of shape ``(channels,)``:
    ``gamma`` (only with ``scale=True``), ``beta`` (only with ``center=True``), ``moving_mean``,
    ``moving_variance``. The last two are ``non_trainable_names``: saved and loaded with the
    others, never given to an optimizer.

    Training (``forward(x, training=True)`` on a trainable layer) normalises with the batch's
    mean and biased variance and updates the moving statistics as Keras 3 does::

        moving = moving * momentum + batch_statistic * (1 - momentum)

    (the biased variance here too; tf-keras's fused kernel for 4-D inputs uses the unbiased
    ``m / (m - 1)`` variance in this update). Inference, and training on a layer with
    ``trainable=False`` (Keras's rule: a frozen BatchNormalization runs in inference mode), use
    the moving statistics and change nothing. float16 inputs are normalised in float32, as in
    Keras.

    Kept by ``forward`` for ``backward``: ``_xhat`` (the normalised input), ``_inv_std``
    (``1 / sqrt(var + eps)`` per channel) and ``_batch_stats`` (whether the batch's own
    statistics were used, so that ``mean`` and ``var`` depend on ``x``).

    tf-keras spellings are accepted: ``axis`` as a one-element list (``[3]``), ``fused``
    (ignored: how TensorFlow computes), ``renorm=False``, ``renorm_clipping``,
    ``renorm_momentum`` (ignored without renorm), ``virtual_batch_size=None``,
    ``adjustment=None``, ``synchronized=False``.
    """

    non_trainable_names = ("moving_mean", "moving_variance")

    _xhat: np.ndarray | None = None
    _batch_stats = False

    def __init__(self, axis=-1, momentum: float = 0.99, epsilon: float = 0.001,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized: bool = False, renorm: bool = False, renorm_clipping=None,
                 renorm_momentum: float = 0.99, fused=None, virtual_batch_size=None,
                 adjustment=None, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        self.axis = _check_axis(axis, what)
        self.momentum = real_number(what, "momentum", momentum, 0.0, 1.0, high_open=True)
        self.epsilon = real_number(what, "epsilon", epsilon, 0.0, low_open=True)
        for arg, switch in (("center", center), ("scale", scale)):
            if not isinstance(switch, (bool, np.bool_)):
                raise ValueError(f"{what}: {arg} must be True or False, got {switch!r}")
        self.center, self.scale = bool(center), bool(scale)
        for arg, switch in (("synchronized", synchronized), ("renorm", renorm)):
            if switch:
                raise ValueError(f"{what}: {arg}=True is not supported (got {switch!r})")
        for arg, value in (("beta_regularizer", beta_regularizer),
                           ("gamma_regularizer", gamma_regularizer),
                           ("beta_constraint", beta_constraint),
                           ("gamma_constraint", gamma_constraint),
                           ("virtual_batch_size", virtual_batch_size),
                           ("adjustment", adjustment)):
            if value is not None:
                raise ValueError(f"{what}: {arg} is not supported (got {value!r})")
        self.beta_initializer = initializers.normalize(beta_initializer)
        self.gamma_initializer = initializers.normalize(gamma_initializer)
        self.moving_mean_initializer = initializers.normalize(moving_mean_initializer)
        self.moving_variance_initializer = initializers.normalize(moving_variance_initializer)

    # ----- shapes ---------------------------------------------------------------------------
    def _feature_axis(self, input_shape: tuple) -> int:
        """The index of the normalised axis in the per-sample ``input_shape`` (no batch axis)."""
        rank = len(input_shape) + 1                      # the full input's rank
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"{self.describe()}: axis={self.axis} is not a feature axis of "
                             f"input of shape {format_shape((None,) + tuple(input_shape))}; "
                             f"use -1 (the last axis) or 1 to {rank - 1}")
        return axis - 1

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._feature_axis(input_shape)
        return tuple(input_shape)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        axis = self._feature_axis(input_shape) + 1       # in the batch: after the batch axis
        rank = len(input_shape) + 1
        self._reduce = tuple(a for a in range(rank) if a != axis)   # every other axis
        self._channels_shape = tuple(input_shape[axis - 1] if a == axis else 1
                                     for a in range(rank))          # broadcasts over the batch
        shape, dtype = (input_shape[axis - 1],), self.compute_dtype()
        self.params = {}
        if self.scale:
            self.params["gamma"] = initializers.initialize(self.gamma_initializer, shape, dtype)
        if self.center:
            self.params["beta"] = initializers.initialize(self.beta_initializer, shape, dtype)
        self.params["moving_mean"] = initializers.initialize(
            self.moving_mean_initializer, shape, dtype)
        self.params["moving_variance"] = initializers.initialize(
            self.moving_variance_initializer, shape, dtype)
        return out

    def _per_channel(self, v):
        """A ``(channels,)`` vector shaped to broadcast against the batch (a number as it is)."""
        return np.reshape(v, self._channels_shape) if np.ndim(v) else v

    def _gamma_beta(self) -> tuple:
        """``gamma`` and ``beta``, or the identity's 1 and 0 where the layer has none."""
        return self.params.get("gamma", 1.0), self.params.get("beta", 0.0)

    # ----- forward --------------------------------------------------------------------------
    def _normalize(self, x: np.ndarray, mean, var) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xhat, 1 / sqrt(var + eps), y)`` for per-channel ``mean`` and ``var``."""
        gamma, beta = self._gamma_beta()
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (x - self._per_channel(mean)) * self._per_channel(inv_std)
        y = self._per_channel(gamma) * xhat + self._per_channel(beta)
        return xhat, inv_std, y

    def _rows(self, x: np.ndarray) -> np.ndarray | None:
        """``x`` as ``(rows, channels)`` when the fast engine's kernels apply (channels on the
        last axis, float32/float64), else None: the NumPy below runs."""
        if (backend.get_engine() != "fast" or self._reduce != tuple(range(x.ndim - 1))
                or x.dtype not in (np.float32, np.float64)):
            return None
        return x.reshape(-1, x.shape[-1])

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        x = _compute_precision(x)
        self._batch_stats = training and self.trainable
        rows = self._rows(x)
        if rows is not None:
            return self._forward_fast(x, rows)
        if self._batch_stats:
            mean = x.mean(axis=self._reduce)             # over every axis but the channels
            var = x.var(axis=self._reduce)               # biased: / m, as Keras
            mm, mv = self.params["moving_mean"], self.params["moving_variance"]
            mm[...] = mm * self.momentum + mean * (1.0 - self.momentum)
            mv[...] = mv * self.momentum + var * (1.0 - self.momentum)
        else:
            mean, var = self.params["moving_mean"], self.params["moving_variance"]
        self._xhat, self._inv_std, y = self._normalize(x, mean, var)
        return y.astype(self.dtype, copy=False)

    def _forward_fast(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The same numbers by the fast engine's kernels (``kernels.batchnorm_*``, NumPy twins
        in ``kernels/reference.py``): one pass of shifted float64 sums for the statistics, one for
        xhat and y."""
        if self._batch_stats:
            mean, var = kernels.batchnorm_stats(rows)
            mm, mv = self.params["moving_mean"], self.params["moving_variance"]
            mm[...] = mm * self.momentum + mean * (1.0 - self.momentum)
            mv[...] = mv * self.momentum + var * (1.0 - self.momentum)
        else:
            mean, var = self.params["moving_mean"], self.params["moving_variance"]
        gamma, beta = self._gamma_beta()
        self._inv_std = (1.0 / np.sqrt(var + self.epsilon)).astype(x.dtype)
        xhat, y = kernels.batchnorm_forward(rows, mean, self._inv_std, gamma, beta)
        self._xhat = xhat.reshape(x.shape)
        return y.reshape(x.shape).astype(self.dtype, copy=False)

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, keeping nothing (see Layer)."""
        _, _, y = self._normalize(_compute_precision(x), self.params["moving_mean"],
                                  self.params["moving_variance"])
        return y.astype(self.dtype, copy=False)

    # ----- backward -------------------------------------------------------------------------
    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        xhat = self._xhat
        assert xhat is not None, "a forward pass keeps xhat (checked before backward)"
        dy = dy.astype(xhat.dtype, copy=False)
        rows = self._rows(xhat)
        if rows is not None:                             # the fast engine: two passes
            gamma, _ = self._gamma_beta()
            dx, dgamma, dbeta = kernels.batchnorm_backward(
                dy.reshape(rows.shape), rows, gamma * self._inv_std, self._batch_stats)
            if self.scale:
                self.grads["gamma"][...] = dgamma
            if self.center:
                self.grads["beta"][...] = dbeta
            return dx.reshape(dy.shape).astype(self.dtype, copy=False) if input_gradient \
                else None
        dgamma = (dy * xhat).sum(axis=self._reduce)      # y = gamma * xhat + beta
        dbeta = dy.sum(axis=self._reduce)
        if self.scale:
            self.grads["gamma"][...] = dgamma
        if self.center:
            self.grads["beta"][...] = dbeta
        if not input_gradient:
            return None
        gamma, _ = self._gamma_beta()
        g = self._per_channel(gamma * self._inv_std)     # dy/dx with the statistics held fixed
        if not self._batch_stats:
            dx = g * dy                                  # inference: an affine map
        else:
            m = xhat.size // dbeta.size                      # values per channel
            mean_dy = self._per_channel(dbeta / m)           # mean(dy)
            mean_dy_xhat = self._per_channel(dgamma / m)     # mean(dy * xhat)
            dx = g * (dy - mean_dy - xhat * mean_dy_xhat)    # through mean and var too
        return dx.astype(self.dtype, copy=False)

    # ----- serialisation --------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": None, "gamma_regularizer": None,
            "beta_constraint": None, "gamma_constraint": None, "synchronized": False,
        })
        return config


def _compute_precision(x: np.ndarray) -> np.ndarray:
    # float16 has too little range and precision for a variance (Keras computes it in float32)
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _check_axis(axis, what: str) -> int:
    """Keras 3's int axis; tf-keras writes the axis as a one-element list (``[3]``)."""
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"{what}: axis must be one axis (normalising over several feature "
                             f"axes at once is not supported), got {axis!r}")
        axis = axis[0]
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"{what}: axis must be an integer (-1 for the last axis), got "
                         f"{axis!r}")
    if axis == 0:
        raise ValueError(f"{what}: axis=0 is the batch axis; use the feature axis (-1 for the "
                         "last, 1 for channels_first images)")
    return int(axis)

