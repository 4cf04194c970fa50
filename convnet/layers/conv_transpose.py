"""Conv2DTranspose: the transpose (adjoint) of a 2-D convolution, often called "deconvolution".

A Conv2D with kernel ``K`` of shape ``(KH, KW, filters, C)`` maps ``filters`` channels to ``C``
channels; its input gradient is ``dx = col2im(dz @ K^T)`` (see :mod:`convnet.layers.conv`).
Conv2DTranspose *is* that map, run forward on ``x`` with ``C`` channels::

    rows  = x as (N*H*W, C)
    cols  = rows @ K.reshape(KH*KW*filters, C).T      (N*H*W, KH*KW*filters)
    full  = col2im(cols)                               (N, (H-1)*s + KH, (W-1)*s + KW, filters)
    z     = crop (or zero-extend) full to Keras's output size; y = activation(z + b)

Every input pixel stamps the kernel, scaled by its value, onto the output at ``s`` times its
position; where stamps overlap they add (col2im's ``+=``). The kernel is in Keras's layout
``(KH, KW, filters, C)`` (the layout of the Conv2D it transposes), bias ``(filters,)``.

Backward is then the forward convolution, the duality read the other way::

    dfull = dL/dz placed back in the full-size image (zeros where it was cropped)
    dcols = im2col(dfull)                                   -- a Conv2D's unfolding of dfull
    dx    = dcols @ K.reshape(KH*KW*filters, C)             -- a Conv2D's forward: dL/dx
    dK    = dcols.T @ rows                                  -- a Conv2D's kernel gradient
    db    = dL/dz summed over every pixel

Output size per axis (Keras 3's ``deconv_output_length``, ``k`` the kernel size, ``s`` the
stride): without ``output_padding``, ``H*s + max(k - s, 0)`` for 'valid' and ``H*s`` for
'same'; with it, ``(H - 1)*s + k - 2*(k // 2 if same else 0) + output_padding``. Where that is
shorter than the full ``(H - 1)*s + k``, Keras crops ``k - 1 - left_pad`` at the start (its
``left_pad`` rule below, the same cells TensorFlow's 'SAME' gradient keeps).

The NumPy engine runs these lines with :mod:`convnet.kernels.reference`'s im2col, col2im and
``a @ b``, on the whole batch. The fast engine (float32 and float64, where per-core threads run:
:meth:`Conv2DTranspose._runs_fast` chooses) runs the same lines as per-core tasks over chunks of
a few samples (:mod:`convnet.fast.conv_transpose_tasks`): each chunk's ``cols`` is built in its
core's scratch, multiplied by a single-threaded GEMM and folded while still in the cache, bias
(and ReLU) added in the same task, instead of the whole batch's ``cols`` ``(N*H*W, KH*KW*F)``
(115 MB at batch 128 below) going to memory and back. Elsewhere on the fast engine (float16, no
OpenBLAS thread control) these lines call the numba twins (:func:`convnet.kernels.for_engine`).
Measured (best of 10 interleaved rounds in one process, forward + backward ms of
Conv2DTranspose(32, 3, strides=2) on 28x28x32 float32 images; a 2-core AMD EPYC shared with
other jobs, so noisy): batch 32, NumPy engine 40.2, fast engine 18.4 (23.3 on the whole-batch
lines), PyTorch 2.13's ``ConvTranspose2d`` 39.2; batch 128, 213, 74 (119) and 152.
"""

from __future__ import annotations

import numpy as np

from convnet import backend, initializers, kernels, threads
from convnet.fast import conv_transpose_tasks
from convnet.fast.scratch import Scratch
from convnet.fast.tasks import Tasks
from convnet.fast.upstream import Upstream
from convnet.layers.activated import ActivationMixin
from convnet.layers.base import Layer, pair
from convnet.layers.regularized import Regularized
from convnet.layers.windowed import WindowArguments


def transpose_geometry(size: int, k: int, stride: int, padding: str,
                       output_padding: int | None) -> tuple[int, int]:
    """``(output length, cells cropped at the start of the full result)`` for one axis, as
    Keras 3 computes them (``deconv_output_length`` and its 'left_pad' rule)."""
    if padding == "valid":
        extra = max(k - stride, 0) if output_padding is None else output_padding
        left, right = k - 1, k - 1 + (max(k, stride) - k if output_padding is None
                                      else output_padding)
        length = (size * stride + extra if output_padding is None
                  else (size - 1) * stride + k + output_padding)
    else:
        pad_len = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k - 1)
        right = pad_len - left
        length = (size * stride if output_padding is None
                  else (size - 1) * stride + k - 2 * (k // 2) + output_padding)
    assert length == (size - 1) * stride + left + right - k + 2, "Keras's two formulas agree"
    return length, k - 1 - left


class Conv2DTranspose(WindowArguments, Regularized, ActivationMixin, Layer):
    """Transposed 2-D convolution: ``filters`` output channels, kernel ``kernel_size``, the
    output ``strides`` times larger than the input (see the module docstring for the math).

    Input ``(batch, H, W, C)`` (``channels_last``) or ``(batch, C, H, W)`` (``channels_first``;
    transposed to channels-last at the layer's edges). Kernel ``(KH, KW, filters, C)``.

    Kept by ``forward`` for ``backward``: ``_rows`` (the input as ``(N*H*W, C)``),
    ``_full_shape`` (the uncropped output's shape), ``_y`` (the output, channels-last) and
    ``_ran_fast`` (whether :meth:`_runs_fast` chose the per-core tasks, which take ``TASK``
    samples each, ``CHUNK`` at a time).
    """

    _rows: np.ndarray | None = None
    _ran_fast = False
    TASK, CHUNK = 8, 2

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 output_padding=None, data_format: str | None = None, dilation_rate=(1, 1),
                 groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        what = self.describe()
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        # (tf-keras writes groups=1; Keras 3's Conv2DTranspose has no such argument)
        self._set_window(what, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias)
        self.output_padding = (None if output_padding is None
                               else pair(output_padding, "output_padding", what, allow_zero=True))
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{what}: output_padding {self.output_padding} must be smaller than "
                             f"strides {self.strides} on each axis (as in Keras)")
        if activity_regularizer is not None:
            raise ValueError(f"{what}: activity_regularizer is not supported on "
                             f"Conv2DTranspose (got {activity_regularizer!r}); put an "
                             "ActivityRegularization layer after it")
        self._set_regularizers(kernel_regularizer, bias_regularizer, None, kernel_constraint,
                               bias_constraint)
        self.kernel_initializer = initializers.normalize(kernel_initializer)
        self.bias_initializer = initializers.normalize(bias_initializer)

    def _geometry(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((OH, crop top), (OW, crop left))``."""
        op = self.output_padding or (None, None)
        return tuple(transpose_geometry(size, k, s, self.padding, p)  # type: ignore[return-value]
                     for size, k, s, p in zip((h, w), self.kernel_size, self.strides, op))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"{self.describe()} expects input of shape (batch, H, W, C) or "
                             f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
        if self.data_format == "channels_first":
            _, h, w = input_shape
        else:
            h, w, _ = input_shape
        (oh, _), (ow, _) = self._geometry(h, w)
        if self.data_format == "channels_first":
            return (self.filters, oh, ow)
        return (oh, ow, self.filters)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        c = input_shape[0] if self.data_format == "channels_first" else input_shape[2]
        kh, kw = self.kernel_size
        self.params = {"kernel": initializers.initialize(
            self.kernel_initializer, (kh, kw, self.filters, c), self.compute_dtype())}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (self.filters,), self.compute_dtype())
        return out

    def _kernel_matrix(self) -> np.ndarray:
        """K as ``(KH*KW*filters, C)``: row ``(a*KW + b)*filters + f``, im2col's column order."""
        return self.params["kernel"].reshape(-1, self.params["kernel"].shape[-1])

    # ----- forward: a convolution's input gradient ------------------------------------------------
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)                               # NCHW -> NHWC
        n, h, w, c = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        ops = kernels.for_engine()            # NumPy's definitions, or their fast twins
        self._rows = np.ascontiguousarray(x).reshape(-1, c)
        self._ran_fast = self._runs_fast(x)
        if self._ran_fast:                    # the lines below, as per-core tasks
            return self._forward_per_core(self._rows.reshape(n, h, w, c))
        cols = ops.matmul(self._rows, self._kernel_matrix().T)       # (N*H*W, KH*KW*F)
        self._full_shape = (n, (h - 1) * sh + kh, (w - 1) * sw + kw, self.filters)
        full = ops.col2im(cols, self._full_shape, kh, kw, sh, sw)    # stamps add up
        (oh, top), (ow, left) = self._geometry(h, w)
        z = self._window(full, oh, ow, top, left)[0]                 # Keras's output size
        y = self._bias_and_activate(z.reshape(-1, self.filters), self.params.get("bias"))
        y = y.reshape(n, oh, ow, self.filters)
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    # ----- the fast engine: the same lines as per-core tasks ------------------------------------
    def _runs_fast(self, x: np.ndarray) -> bool:
        """The one place the way of running is chosen: per-core tasks over chunks of samples
        (:mod:`convnet.fast.conv_transpose_tasks`) on the fast engine for float32/float64 where
        per-core threads run (:func:`convnet.threads.available`); otherwise this module's
        whole-batch lines (the NumPy engine; float16, which numba does not compute; no OpenBLAS
        thread control). Backward follows what forward chose."""
        return (backend.get_engine() == "fast" and x.dtype in (np.float32, np.float64)
                and threads.available())

    def _per_core(self) -> tuple[Tasks, Scratch]:
        """The tasks' cut (``TASK`` samples, ``CHUNK`` at a time) and this layer's scratch."""
        scratch = self.__dict__.get("_scratch")
        if scratch is None:
            scratch = self._scratch = Scratch()
        return Tasks(self.TASK, self.CHUNK), scratch

    def _forward_per_core(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_forward` for ``x`` channels-last ``(N, H, W, C)``, C-contiguous: bias (and
        ReLU) added in the tasks."""
        n, h, w, _ = x.shape
        (oh, top), (ow, left) = self._geometry(h, w)
        fused = self.activation == "relu" and self.use_bias
        kernel = self.params["kernel"]
        self._full_shape = conv_transpose_tasks.full_shape(x.shape, kernel.shape, self.strides)
        z = conv_transpose_tasks.forward(x, kernel, self.params.get("bias"), self.strides,
                                         (oh, ow), (top, left), fused, *self._per_core())
        rows = z.reshape(-1, self.filters)
        if fused:
            self._y = rows
        else:
            self._activate(rows, overwrite=True)
        assert self._y is not None
        y = self._y.reshape(z.shape)
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    def _backward_per_core(self, upstream: Upstream, input_gradient: bool) -> np.ndarray | None:
        """:meth:`_backward_linear` as per-core tasks, from ``upstream`` (dL/dz rows, or dL/dy
        and y of bias + ReLU, masked in the tasks); dL/db is summed in the tasks."""
        h, w = self._input_hw()
        (oh, top), (ow, left) = self._geometry(h, w)
        assert self._rows is not None
        x = self._rows.reshape(-1, h, w, self._rows.shape[1])
        dk, db, dx = conv_transpose_tasks.backward(
            x, self.params["kernel"], self.strides, (oh, ow), (top, left), upstream,
            self.use_bias, input_gradient, *self._per_core())
        self.grads["kernel"][...] = dk
        if self.use_bias:
            self.grads["bias"][...] = db
        if dx is None:
            return None
        return dx.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else dx

    @staticmethod
    def _window(full: np.ndarray, oh: int, ow: int, top: int,
                left: int) -> tuple[np.ndarray, tuple[slice, slice]]:
        """The output-sized window of ``full`` starting at ``(top, left)`` (zero-extended past
        its end), and the full image's slices it covers."""
        rows = slice(top, min(top + oh, full.shape[1]))
        cols = slice(left, min(left + ow, full.shape[2]))
        out = np.zeros((full.shape[0], oh, ow, full.shape[3]), dtype=full.dtype)
        part = full[:, rows, cols]
        out[:, :part.shape[1], :part.shape[2]] = part
        return out, (rows, cols)

    # ----- backward: a convolution's forward and kernel gradient ----------------------------------
    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None,
                         input_gradient: bool) -> np.ndarray | None:
        if self.data_format == "channels_first" and dz.ndim == 4:
            dz = dz.transpose(0, 2, 3, 1)
        n, _, _, f = self._full_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        h, w = self._input_hw()
        (oh, top), (ow, left) = self._geometry(h, w)
        dz = dz.reshape(n, oh, ow, f)
        if self._ran_fast:                                            # as per-core tasks
            dz_rows = np.ascontiguousarray(dz).reshape(-1, f)
            return self._backward_per_core(Upstream(dz=dz_rows), input_gradient)
        dfull = np.zeros(self._full_shape, dtype=dz.dtype)           # cropped cells: no gradient
        _, (rows, cols) = self._window(dfull, oh, ow, top, left)
        dfull[:, rows, cols] = dz[:, :rows.stop - rows.start, :cols.stop - cols.start]
        ops = kernels.for_engine()
        dcols = ops.im2col(dfull, kh, kw, sh, sw)                    # (N*H*W, KH*KW*F)
        assert self._rows is not None
        dk = ops.matmul(dcols.T, self._rows)                         # dK = dcols.T @ rows
        self.grads["kernel"][...] = dk.reshape(self.grads["kernel"].shape)
        if self.use_bias:
            self.grads["bias"][...] = dz.sum(axis=(0, 1, 2)) if db is None else db
        if not input_gradient:
            return None
        dx = ops.matmul(dcols, self._kernel_matrix()).reshape(n, h, w, -1)   # a Conv2D forward
        return dx.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else dx

    def _input_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the built input."""
        shape = self.built_shapes()[0]
        return (shape[1], shape[2]) if self.data_format == "channels_first" else shape[:2]

    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 3, 1)
        dy = np.ascontiguousarray(dy).reshape(-1, self.filters)
        if self._ran_fast:                   # dL/db (and bias + ReLU's mask) in the tasks
            relu_bias = self.use_bias and self.activation == "relu"
            upstream = (Upstream(dy=dy, y=self._y) if relu_bias
                        else Upstream(dz=np.ascontiguousarray(self._activation_grad(dy))))
            return self._backward_per_core(upstream, input_gradient)
        dz, db = self._activation_and_bias_grad(dy)
        return self._backward_linear(dz, db, input_gradient)

    @property
    def kernel(self) -> np.ndarray:
        """The kernel array ``(KH, KW, filters, C)`` (Keras's ``layer.kernel``)."""
        return self.params["kernel"]

    @property
    def bias(self) -> np.ndarray | None:
        """The bias array, or None with ``use_bias=False``."""
        return self.params.get("bias")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "data_format": self.data_format, "dilation_rate": [1, 1],
            "activation": self.activation, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.regularizer_config(),
        })
        return config


Convolution2DTranspose = Conv2DTranspose
