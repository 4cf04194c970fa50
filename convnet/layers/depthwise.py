"""DepthwiseConv2D and SeparableConv2D: convolution one input channel at a time (MobileNet's
building block), cross-correlation as in Keras (the kernel is not flipped).

**Depthwise.** Each input channel ``c`` gets its own ``depth_multiplier`` (``M``) kernels; no
channel mixes with another. Output channel ``c*M + m`` (Keras's order) is, for output pixel
``(i, j)`` (channels-last, stride ``s``)::

    z[n, i, j, c*M + m] = b[c*M + m] + sum_{a, b} x[n, i*s + a, j*s + b, c] * K[a, b, c, m]
    y = activation(z)

with the kernel ``K`` in Keras's layout ``(KH, KW, C, M)``. Conv2D's im2col gives every window
as a row ``(KH*KW*C,)``; viewed as ``win`` of shape ``(N, OH, OW, KH*KW, C)`` it keeps each
channel's window cells apart, and the layer is one einsum (``k`` runs over the KH*KW cells)::

    z[n,i,j,c,m] = sum_k win[n,i,j,k,c] * K[k,c,m]        (+ b, then reshape to C*M channels)

Backward is the same einsum with each operand in turn left out::

    dK[k,c,m]       = sum_{n,i,j} win[n,i,j,k,c] * dz[n,i,j,c,m]
    db[c*M + m]     = sum_{n,i,j} dz[n,i,j,c,m]
    dwin[n,i,j,k,c] = sum_m dz[n,i,j,c,m] * K[k,c,m]
    dx              = col2im(dwin)     -- fold back, *summing* where windows overlap

**Separable.** A depthwise step (no bias, no activation) then a 1x1 convolution that mixes the
``C*M`` channels into ``filters``: with ``u`` the depthwise output as rows ``(N*OH*OW, C*M)`` and
the pointwise kernel ``P`` ``(1, 1, C*M, filters)``::

    z = u @ P.reshape(C*M, filters) + b,   y = activation(z)
    dP = u.T @ dz,   db = dz summed over rows,   du = dz @ P.T   -> the depthwise backward above

The NumPy engine runs this code. The fast engine (float32, float64) runs the depthwise step as
direct numba loops instead (:mod:`convnet.kernels.depthwise_jit`: the same sums without the
window matrix, vectorised along whole output rows, with the bias added and dL/db summed in the
same passes, on convnet's per-core threads, tested equal to this code within rounding) and
the pointwise products as per-core GEMMs
(:func:`convnet.fast.blas.matmul`); float16, which numba does not compute, keeps the einsums.
``_DepthwiseBase._runs_fast`` is where that is chosen. A depthwise step costs ``C*M*KH*KW``
multiply-adds per output pixel, ``C`` times fewer than a Conv2D with as many output channels;
the einsums run them on one core without BLAS. Measured (``benchmarks/bench_depthwise.py``,
best of 10, forward + backward ms, 3x3, float32, input 28x28x32; a 2-core AMD EPYC (AVX-512)
shared with other jobs, so noisy: figures from one run), batch 32 / 128:

    ===========================  ============  ===========  ===============
    layer                        NumPy engine  fast engine  PyTorch 2.13
    ===========================  ============  ===========  ===============
    DepthwiseConv2D              19.0 / 107    1.9 / 6.2    2.5 / 7.8
    SeparableConv2D(32)          22.1 / 112    5.8 / 19.5   4.3 / 23.3
    Conv2D(32), for comparison   22.9 / 119    10.8 / 44    14.0 / 36
    ===========================  ============  ===========  ===============

(PyTorch: ``Conv2d(groups=32)``, and a 1x1 ``Conv2d`` after it, eager, NCHW.) With AVX2 code
only (numba with ``NUMBA_CPU_NAME=haswell`` and ``NUMBA_CPU_FEATURES`` without AVX-512, PyTorch
with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``), another run: DepthwiseConv2D
2.8 / 9.4 against PyTorch's 3.4 / 13.8, SeparableConv2D 5.7 / 24.2 against 7.1 / 27.3. Most of
SeparableConv2D's remaining time is its pointwise products, not the depthwise step.

Kernel/bias regularizers and constraints work as in :mod:`convnet.layers.regularized`, under
Keras's names: ``depthwise_regularizer``/``depthwise_constraint`` (and ``pointwise_*`` for
SeparableConv2D) rule ``depthwise_kernel``/``pointwise_kernel``.
"""

from __future__ import annotations

import numpy as np

from convnet import backend, constraints, initializers, kernels, regularizers
from convnet.kernels import depthwise_jit, reference
from convnet.layers.activated import ActivationMixin
from convnet.layers.base import Layer
from convnet.layers.padding import same_padding, window_output_size
from convnet.layers.regularized import Regularized
from convnet.layers.windowed import WindowArguments


# ----- the math, as functions of arrays --------------------------------------------------------
def depthwise_windows(x_padded: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """Every ``kh x kw`` window of ``x_padded`` (N, H, W, C), per channel: ``(N, OH, OW, KH*KW,
    C)`` with ``win[n, i, j, a*KW + b, c] = x[n, i*sh + a, j*sw + b, c]`` (Conv2D's im2col rows,
    reshaped)."""
    n, h, w, c = x_padded.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    return reference.im2col(x_padded, kh, kw, sh, sw).reshape(n, oh, ow, kh * kw, c)


def depthwise_forward(win: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``z[n,i,j,c*M + m] = sum_k win[n,i,j,k,c] * K[k,c,m]``: windows ``(N, OH, OW, KH*KW, C)``,
    kernel ``(KH, KW, C, M)``; returns ``(N, OH, OW, C*M)`` (no bias)."""
    kh, kw, c, m = kernel.shape
    z = np.einsum("nijkc,kcm->nijcm", win, kernel.reshape(kh * kw, c, m))
    return z.reshape(z.shape[:3] + (c * m,))


def depthwise_backward(win: np.ndarray, kernel: np.ndarray, dz: np.ndarray,
                       x_shape: tuple, strides: tuple[int, int],
                       input_gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(dK, dx)`` from dL/dz ``(N, OH, OW, C*M)``: dK in the kernel's shape, dx of the padded
    input's shape ``x_shape`` (None unless ``input_gradient``)."""
    kh, kw, c, m = kernel.shape
    dz = dz.reshape(dz.shape[:3] + (c, m))
    dk = np.einsum("nijkc,nijcm->kcm", win, dz).reshape(kernel.shape)
    if not input_gradient:
        return dk, None
    dwin = np.einsum("nijcm,kcm->nijkc", dz, kernel.reshape(kh * kw, c, m))
    dx = reference.col2im(dwin.reshape(-1, kh * kw * c), x_shape, kh, kw, *strides)
    return dk, dx


# ----- what the two layers share ---------------------------------------------------------------
class _DepthwiseBase(WindowArguments, Regularized, ActivationMixin, Layer):
    """Arguments, shapes, padding and weight rules of the two layers (see the module docstring).

    Kept by ``forward`` for ``backward``: ``_x_shape`` (the padded channels-last input's shape),
    ``_pad``, ``_z_shape`` (the depthwise output's ``(N, OH, OW, C*M)``), ``_y`` (the output as
    rows ``(N*OH*OW, channels)``, for the activation's derivative) and, as :meth:`_runs_fast`
    chose, either ``_win`` (the per-channel windows, for the einsums) or ``_x_padded`` (the
    padded input, for the numba loops of :mod:`convnet.kernels.depthwise_jit`).
    """

    _win: np.ndarray | None = None
    _x_padded: np.ndarray | None = None
    _kernel_names: tuple[str, ...] = ("depthwise_kernel",)

    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate=(1, 1), activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, groups: int = 1, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        if isinstance(depth_multiplier, bool) or not isinstance(
                depth_multiplier, (int, np.integer)) or depth_multiplier < 1:
            raise ValueError(f"{what}: depth_multiplier must be a positive integer, got "
                             f"{depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self._set_window(what, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias)
        self.depthwise_initializer = initializers.normalize(depthwise_initializer)
        self.bias_initializer = initializers.normalize(bias_initializer)
        self._set_regularizers(None, bias_regularizer, activity_regularizer, None,
                               bias_constraint)
        self.depthwise_regularizer = self._rule(regularizers.get, "depthwise_regularizer",
                                                depthwise_regularizer)
        self.depthwise_constraint = self._rule(constraints.get, "depthwise_constraint",
                                               depthwise_constraint)

    def _rule(self, getter, arg: str, value):
        try:
            return getter(value)
        except ValueError as exc:
            raise ValueError(f"{self.describe()}: {arg}: {exc}") from None

    # ----- weight rules under Keras's names (the Regularized mixin's hooks) ---------------------
    def _weight_rules(self) -> list[tuple[str, regularizers.Regularizer | None,
                                          constraints.Constraint | None]]:
        """(weight name, regularizer, constraint) for every weight."""
        rules = [(name, getattr(self, name.replace("_kernel", "_regularizer")),
                  getattr(self, name.replace("_kernel", "_constraint")))
                 for name in self._kernel_names]
        return rules + [("bias", self.bias_regularizer, self.bias_constraint)]

    def _penalised(self) -> list[tuple[str, regularizers.Regularizer]]:
        if not self.trainable:
            return []
        return [(key, reg) for key, reg, _ in self._weight_rules()
                if reg is not None and key in self.params and key in self.grads]

    def apply_constraints(self) -> None:
        """Project the constrained weights in place (after an optimizer step)."""
        for key, _, constraint in self._weight_rules():
            if constraint is not None and key in self.params:
                self.params[key][...] = constraint(self.params[key])

    def regularizer_config(self) -> dict:
        config = {"activity_regularizer": regularizers.serialize(self.activity_regularizer)}
        for key, reg, constraint in self._weight_rules():
            prefix = key.replace("_kernel", "")
            config[f"{prefix}_regularizer"] = regularizers.serialize(reg)
            config[f"{prefix}_constraint"] = constraints.serialize(constraint)
        return config

    # ----- shapes ---------------------------------------------------------------------------
    def _channels(self, input_shape: tuple) -> tuple[int, int, int]:
        """(H, W, C) of a per-sample input shape, checked."""
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects input of shape (batch, H, W, C) or "
                             f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
        if self.data_format == "channels_first":
            c, h, w = input_shape
        else:
            h, w, c = input_shape
        return h, w, c

    def _output_size(self, input_shape: tuple) -> tuple[int, int]:
        h, w, _ = self._channels(input_shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh = window_output_size(h, kh, sh, self.padding)
        ow = window_output_size(w, kw, sw, self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"{self.describe()}: kernel {self.kernel_size} does not fit in a "
                             f"{h}x{w} input with padding='valid'")
        return oh, ow

    def _layout(self, oh: int, ow: int, channels: int) -> tuple:
        if self.data_format == "channels_first":
            return (channels, oh, ow)
        return (oh, ow, channels)

    def _depthwise_kernel(self, c: int) -> np.ndarray:
        kh, kw = self.kernel_size
        return initializers.initialize(self.depthwise_initializer,
                                       (kh, kw, c, self.depth_multiplier), self.compute_dtype())

    # ----- the depthwise step ---------------------------------------------------------------
    def _runs_fast(self, x: np.ndarray) -> bool:
        """The one place the depthwise step's way of running is chosen: the numba loops
        (:mod:`convnet.kernels.depthwise_jit`) on the fast engine for float32/float64, else
        the einsums of this module (the NumPy engine; float16, which numba does not compute).
        Backward follows what forward chose (it kept the padded input or the windows)."""
        return backend.get_engine() == "fast" and x.dtype in (np.float32, np.float64)

    def _depthwise(self, x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """The depthwise step on ``x`` in the layer's layout, plus ``bias`` if given:
        ``(N, OH, OW, C*M)`` channels-last, keeping the padded shape, the pads and the windows
        (or the padded input). The numba loops start their sums from the bias (no extra pass
        over ``z``)."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)                      # NCHW -> NHWC
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "same":
            (pt, pb), (pl, pr) = same_padding(x.shape[1], kh, sh), same_padding(x.shape[2], kw, sw)
            x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        else:
            pt = pb = pl = pr = 0
        x = np.ascontiguousarray(x)
        self._pad, self._x_shape = (pt, pb, pl, pr), x.shape
        kernel = self.params["depthwise_kernel"]
        if self._runs_fast(x):
            self._x_padded, self._win = x, None
            z = depthwise_jit.depthwise_forward(x, kernel, sh, sw, bias)
        else:
            self._x_padded, self._win = None, depthwise_windows(x, kh, kw, sh, sw)
            z = depthwise_forward(self._win, kernel)
            if bias is not None:
                z += bias                                    # z = depthwise(x) + b
        self._z_shape = z.shape
        return z

    def _depthwise_backward(self, dz: np.ndarray, input_gradient: bool,
                            bias_gradient: np.ndarray | None = None) -> np.ndarray | None:
        """Fill ``grads['depthwise_kernel']`` (and ``bias_gradient``, if given, with dL/db:
        dL/dz summed over samples and pixels) from dL/dz ``(N, OH, OW, C*M)``; dL/dx in the
        layer's layout (None unless ``input_gradient``)."""
        kernel = self.params["depthwise_kernel"]
        if self._x_padded is not None:                       # forward ran the numba loops
            dk, dx = depthwise_jit.depthwise_backward(self._x_padded, kernel, dz, *self.strides,
                                                      input_gradient, bias_gradient)
        else:
            assert self._win is not None, "forward keeps the windows (checked before backward)"
            if bias_gradient is not None:
                bias_gradient[...] = dz.reshape(-1, dz.shape[-1]).sum(axis=0)   # db
            dk, dx = depthwise_backward(self._win, kernel, dz, self._x_shape, self.strides,
                                        input_gradient)
        self.grads["depthwise_kernel"][...] = dk
        if dx is None:
            return None
        pt, pb, pl, pr = self._pad
        dx = dx[:, pt:dx.shape[1] - pb, pl:dx.shape[2] - pr, :]   # drop the padding's gradient
        return dx.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else dx

    def _finish(self, z: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """``bias`` (None: none, or already in ``z``) and the activation on ``z``
        ``(N, OH, OW, F)`` channels-last; the output in the layer's layout (``_y`` keeps the
        rows)."""
        n, oh, ow, f = z.shape
        rows = np.ascontiguousarray(z.reshape(-1, f))
        y = self._bias_and_activate(rows, bias)                         # y = f(z + b)
        y = y.reshape(n, oh, ow, f)
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    def _dz(self, dy: np.ndarray, channels: int) -> np.ndarray:
        """dL/dy (or dL/dz) in the layer's layout -> channels-last rows ``(N*OH*OW, F)``."""
        if self.data_format == "channels_first" and dy.ndim == 4:
            dy = dy.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(dy).reshape(-1, channels)

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        rows = self._dz(dy, self.output_channels)
        if self.use_bias and self.activation == "relu":
            dz, db = self._activation_and_bias_grad(rows)        # dL/dz and dL/db: one pass
        else:   # dL/db left to _backward_linear (DepthwiseConv2D's numba loops sum it free)
            dz, db = self._activation_grad(rows), None           # dL/dz = dL/dy * f'(z)
        return self._backward_linear(dz, db, input_gradient)

    @property
    def output_channels(self) -> int:
        raise NotImplementedError

    @property
    def depthwise_kernel(self) -> np.ndarray:
        """The depthwise kernel ``(KH, KW, C, depth_multiplier)`` (Keras's
        ``layer.depthwise_kernel``)."""
        return self.params["depthwise_kernel"]

    @property
    def bias(self) -> np.ndarray | None:
        """The bias array, or None with ``use_bias=False`` (Keras's ``layer.bias``)."""
        return self.params.get("bias")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "depth_multiplier": self.depth_multiplier, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": [1, 1],
            "activation": self.activation, "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.regularizer_config(),
        })
        return config


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` kernels (no mixing across channels); see the module docstring.

    Input ``(batch, H, W, C)`` (``channels_last``) or ``(batch, C, H, W)`` (``channels_first``,
    transposed to channels-last at the layer's edges). Weights in Keras's order and layout:
    ``depthwise_kernel`` ``(KH, KW, C, depth_multiplier)``, ``bias`` ``(C*depth_multiplier,)``.
    Output channel ``c*depth_multiplier + m`` comes from input channel ``c`` and kernel ``m``.
    """

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        oh, ow = self._output_size(input_shape)
        return self._layout(oh, ow, self._channels(input_shape)[2] * self.depth_multiplier)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        c = self._channels(input_shape)[2]
        self.params = {"depthwise_kernel": self._depthwise_kernel(c)}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (c * self.depth_multiplier,), self.compute_dtype())
        return out

    @property
    def output_channels(self) -> int:
        return int(self.params["depthwise_kernel"].shape[2]) * self.depth_multiplier

    @property
    def kernel(self) -> np.ndarray:
        """The depthwise kernel (Keras 3's ``layer.kernel`` for this layer)."""
        return self.params["depthwise_kernel"]

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        z = self._depthwise(x, self.params.get("bias"))          # z = depthwise(x) + b
        return self._finish(z, None)                             # y = f(z)

    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None,
                         input_gradient: bool) -> np.ndarray | None:
        """From dL/dz (rows, or the output's shape from ``backward_preactivation``)."""
        dz = self._dz(dz, self.output_channels)
        bias_gradient = None                  # dL/db: given, or summed in the depthwise pass
        if self.use_bias and db is not None:
            self.grads["bias"][...] = db
        elif self.use_bias:
            bias_gradient = self.grads["bias"]
        return self._depthwise_backward(dz.reshape(self._z_shape), input_gradient,
                                        bias_gradient)


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2-D convolution: a depthwise step (each channel on its own, times
    ``depth_multiplier``) then a 1x1 convolution to ``filters`` channels; see the module
    docstring.

    Input as :class:`DepthwiseConv2D`. Weights in Keras's order and layout:
    ``depthwise_kernel`` ``(KH, KW, C, depth_multiplier)``, ``pointwise_kernel``
    ``(1, 1, C*depth_multiplier, filters)``, ``bias`` ``(filters,)``. Kept by ``forward``
    besides the depthwise step's: ``_u``, the depthwise output as rows ``(N*OH*OW, C*M)``.

    tf-keras writes ``kernel_initializer``/``kernel_regularizer``/``kernel_constraint`` in this
    layer's config although no weight uses them: they are accepted when unset (None; any
    initializer), as tf-keras reads them; a regularizer or constraint there is refused.
    """

    _kernel_names = ("depthwise_kernel", "pointwise_kernel")
    _u: np.ndarray | None = None

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate=(1, 1), depth_multiplier: int = 1,
                 activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 kernel_initializer=None, kernel_regularizer=None, kernel_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        what = self.describe()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        if kernel_regularizer is not None or kernel_constraint is not None:
            raise ValueError(f"{what} has no 'kernel' weight: use depthwise_regularizer / "
                             "pointwise_regularizer (and *_constraint) instead of "
                             "kernel_regularizer / kernel_constraint")
        self.filters = int(filters)
        self.pointwise_initializer = initializers.normalize(pointwise_initializer)
        self.pointwise_regularizer = self._rule(regularizers.get, "pointwise_regularizer",
                                                pointwise_regularizer)
        self.pointwise_constraint = self._rule(constraints.get, "pointwise_constraint",
                                               pointwise_constraint)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        oh, ow = self._output_size(input_shape)
        return self._layout(oh, ow, self.filters)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        c = self._channels(input_shape)[2]
        self.params = {
            "depthwise_kernel": self._depthwise_kernel(c),
            "pointwise_kernel": initializers.initialize(
                self.pointwise_initializer, (1, 1, c * self.depth_multiplier, self.filters),
                self.compute_dtype())}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (self.filters,), self.compute_dtype())
        return out

    @property
    def output_channels(self) -> int:
        return self.filters

    @property
    def pointwise_kernel(self) -> np.ndarray:
        """The 1x1 kernel ``(1, 1, C*depth_multiplier, filters)`` (Keras's
        ``layer.pointwise_kernel``)."""
        return self.params["pointwise_kernel"]

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        u = self._depthwise(x)                                    # (N, OH, OW, C*M)
        n, oh, ow, cm = u.shape
        self._u = u.reshape(-1, cm)
        matmul = kernels.for_engine().matmul            # a @ b; per-core GEMMs on the fast engine
        z = matmul(self._u, self.params["pointwise_kernel"].reshape(cm, self.filters))  # u @ P
        return self._finish(z.reshape(n, oh, ow, self.filters),  # y = f(z + b)
                            self.params.get("bias"))

    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None,
                         input_gradient: bool) -> np.ndarray | None:
        """From dL/dz (rows, or the output's shape from ``backward_preactivation``)."""
        assert self._u is not None, "forward ran (checked before backward)"
        dz = self._dz(dz, self.filters)
        pointwise = self.params["pointwise_kernel"]
        p = pointwise.reshape(-1, self.filters)                    # (C*M, F)
        matmul = kernels.for_engine().matmul
        dp = matmul(self._u.T, dz)                                 # dP = u.T @ dz
        self.grads["pointwise_kernel"][...] = dp.reshape(pointwise.shape)
        if self.use_bias:
            # db = dz summed over rows; einsum sums (N*OH*OW, F) rows ~3x as fast as .sum(axis=0)
            self.grads["bias"][...] = np.einsum("rf->f", dz) if db is None else db
        du = matmul(dz, p.T)                                       # du = dz @ P.T
        return self._depthwise_backward(du.reshape(self._z_shape), input_gradient)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer)})
        return config
