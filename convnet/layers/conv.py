"""Conv2D: 2-D convolution (cross-correlation, as in Keras and PyTorch: the kernel is not flipped).

Forward, for one output pixel (i, j) and filter f (channels-last, stride s)::

    z[n, i, j, f] = b[f] + sum_{a, b, c} x[n, i*s + a, j*s + b, c] * K[a, b, c, f]
    y = activation(z)

im2col turns every window into a row of ``cols`` (N*OH*OW, KH*KW*C), so the whole layer is one
matrix product ``Z = cols @ K.reshape(KH*KW*C, F) + b``. Backward is then matrix calculus::

    dK = cols.T @ dZ          (KH*KW*C, F)  -- every window's pixels times the gradient it got
    db = dZ.sum over rows     (F,)
    dcols = dZ @ K.T          (N*OH*OW, KH*KW*C)
    dx = col2im(dcols)        -- fold back, *summing* where windows overlap

How the products are run, fastest first (all compute the same numbers; the tests compare them):
windows of at most 9 cells (the tutorial's conv1) skip im2col and loop over windows directly
(``kernels.conv2d_direct``); otherwise, with NumPy's OpenBLAS, tasks on one thread per core:
for 3x3 stride-1 kernels over at least 16 channels (the tutorial's conv2) by Winograd's
F(4x4, 3x3), 4x fewer multiplications and float32 rounding a few 1e-6 of the largest output
(``conv_winograd.py``), for the rest by im2col (``conv_per_core.py``); without OpenBLAS, blocks
of BLOCK samples (``_blocks``, below).
"""

from __future__ import annotations

import numpy as np

from convnet import backend, initializers, kernels, threads
from convnet.kernels import col2im, im2col, winograd
from convnet.layers import conv_per_core, conv_winograd
from convnet.layers.base import ActivationMixin, Layer, pair
from convnet.layers.padding import check_padding, same_padding, window_output_size
from convnet.layers.pooling import MaxPooling2D


class Conv2D(ActivationMixin, Layer):
    """2-D convolution layer: ``filters`` kernels of ``kernel_size`` slid over the image.

    Input ``(batch, H, W, C)`` (``channels_last``) or ``(batch, C, H, W)`` (``channels_first``;
    transposed to channels-last at the layer's edges). Kernel in Keras's layout
    ``(KH, KW, C, filters)``, bias ``(filters,)``.

    Kept by ``forward`` for ``backward``: ``_x_padded`` (the padded input, unfolded again
    block by block in backward) and ``_y`` (output, channels-last).
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate=(1, 1), groups: int = 1,
                 activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        what = f"Conv2D '{self.name}'"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{what}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size", what)
        self.strides = pair(strides, "strides", what)
        if pair(dilation_rate, "dilation_rate", what) != (1, 1) or groups != 1:
            raise ValueError(f"{what}: dilation_rate other than (1, 1) and groups other than 1 "
                             "are not supported")
        for arg, value in (("kernel_regularizer", kernel_regularizer),
                           ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint),
                           ("bias_constraint", bias_constraint)):
            if value is not None:
                raise ValueError(f"{what}: {arg} is not supported (got {value!r})")
        self.padding = check_padding(padding, what)
        self.data_format = backend.normalize_data_format(data_format)
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.normalize(kernel_initializer)
        self.bias_initializer = initializers.normalize(bias_initializer)

    def _pads(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        if self.padding == "valid":
            return (0, 0), (0, 0)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return same_padding(h, kh, sh), same_padding(w, kw, sw)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}' expects input of shape (batch, H, W, C) or "
                             f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
        if self.data_format == "channels_first":
            c, h, w = input_shape
        else:
            h, w, c = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh = window_output_size(h, kh, sh, self.padding)
        ow = window_output_size(w, kw, sw, self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"Conv2D '{self.name}': kernel {self.kernel_size} does not fit in a "
                             f"{h}x{w} input with padding='valid'")
        if self.data_format == "channels_first":
            return (self.filters, oh, ow)
        return (oh, ow, self.filters)

    def _build(self, input_shape: tuple) -> tuple:
        out = self.compute_output_shape(input_shape)
        c = input_shape[0] if self.data_format == "channels_first" else input_shape[2]
        if c is None:
            raise ValueError(f"Conv2D '{self.name}' needs a known number of input channels")
        kh, kw = self.kernel_size
        self.params = {"kernel": initializers.initialize(
            self.kernel_initializer, (kh, kw, c, self.filters), self.dtype)}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (self.filters,), self.dtype)
        return out

    def _padded_input(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """``x`` channels-last, zero-padded ('same') and C-contiguous, with the pads used."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)                      # NCHW -> NHWC
        (pt, pb), (pl, pr) = self._pads(x.shape[1], x.shape[2])
        if pt or pb or pl or pr:
            x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        return np.ascontiguousarray(x), (pt, pb, pl, pr)

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        n = x.shape[0]
        self._x_padded, self._pad = self._padded_input(x)
        bias = self.params.get("bias")
        if self._direct():
            # the same Z = cols @ K + b (and ReLU), looping over windows; see _direct
            relu = self.activation == "relu"
            z = kernels.conv2d_direct(self._x_padded, self.params["kernel"],
                                      bias if bias is not None else self._zero_bias(),
                                      *self.strides, relu=relu)
            y = z if relu else self._activate(z, overwrite=True)
            self._y = y
        else:
            kernel = self.params["kernel"].reshape(-1, self.filters)     # (KH*KW*C, F)
            rows = self._rows_per_sample()
            z = np.empty((n * rows, self.filters), dtype=self.dtype)
            if self._winograd():
                y = conv_winograd.forward(self, z, bias)
            elif self._per_core():
                y = conv_per_core.forward(self, z, kernel, bias)
            else:
                # Z = cols @ K, where cols holds one window per row; see _blocks for the blocking
                for start, stop, cols in self._blocks(n):
                    np.matmul(cols, kernel, out=z[start * rows:stop * rows])
                y = self._bias_and_activate(z, bias)                 # f(z + b), in place
        oh, ow = self._output_hw()
        y = y.reshape(n, oh, ow, self.filters)
        if self.data_format == "channels_first":
            y = y.transpose(0, 3, 1, 2)                      # NHWC -> NCHW
        return y

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, on this thread alone (see Layer):
        the same direct loop, Winograd tiles or im2col + GEMM, then bias + activation, with
        serial kernels, into this thread's buffers."""
        x, _ = self._padded_input(x)
        n, h, w, c = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        oh, ow = kernels.conv_output_size(h, kh, sh), kernels.conv_output_size(w, kw, sw)
        bias = self.params["bias"] if self.use_bias else self._zero_bias()
        relu = self.activation == "relu"
        z = np.empty((n * oh * ow, self.filters), dtype=self.dtype)
        if self._direct():
            kernels.conv2d_direct_serial(x, self.params["kernel"], bias, sh, sw, relu, z)
        elif self._winograd():
            conv_winograd.convolve(self, x, self._winograd_kernel(), bias, relu,
                                   z.reshape(n, oh, ow, self.filters))
        else:
            cols = self._thread_buffer("cols", (n * oh * ow, kh * kw * c))
            kernels.im2col_serial(x, kh, kw, sh, sw, cols)
            np.matmul(cols, self.params["kernel"].reshape(-1, self.filters), out=z)
            if relu:
                kernels.bias_relu_serial(z, bias)
            else:
                z += bias
        if not relu:
            z = self._act_forward(z, out=z)
        y = z.reshape(n, oh, ow, self.filters)
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    TASK = 32    # samples per task of a per-core worker thread (see conv_per_core.py)
    CHUNK = 8    # samples per im2col matrix inside a task

    def _per_core(self) -> bool:
        """Whether the training passes run as per-core tasks (:mod:`.conv_per_core`): with
        NumPy's OpenBLAS found and a dtype numba computes; otherwise the BLOCK path below."""
        return threads.available() and self.dtype != "float16"

    WINOGRAD_MIN_CHANNELS = 16

    def _winograd(self) -> bool:
        """Whether the per-core passes use Winograd's F(4x4, 3x3) (:mod:`.conv_winograd`): 3x3
        kernels at stride 1 whose products are wide enough for BLAS (at least
        WINOGRAD_MIN_CHANNELS input channels; the tutorial's conv2 has 32). Its 36 products
        have only C as inner size: with few channels they run slowly and im2col's wins.
        Forward + backward of 128 26x26 images into 64 filters (2 cores), Winograd against
        im2col: 8 channels 29 / 21 ms, 16 channels 28 / 30 ms, 32 channels 36 / 54 ms,
        64 channels 59 / 95 ms (into 32 filters, 16 channels: 21 / 21 ms)."""
        kh, kw, c, _ = self.params["kernel"].shape
        return ((kh, kw) == (3, 3) and self.strides == (1, 1) and self._per_core()
                and c >= self.WINOGRAD_MIN_CHANNELS)

    def _winograd_kernel(self) -> np.ndarray:
        """The Winograd-transformed kernel (:func:`kernels.winograd.kernel_transform`), kept
        while the kernel stays the same: ``predict`` asks for it every few images."""
        kernel = self.params["kernel"]
        kept = self.__dict__.get("_winograd_kept")
        if kept is None or not np.array_equal(kept[0], kernel):
            kept = self._winograd_kept = (kernel.copy(), winograd.kernel_transform(kernel))
        return kept[1]

    BLOCK = 32   # samples per im2col block (see _blocks)
    DIRECT_MAX_CELLS = 9   # windows of at most this many cells skip im2col (see _direct)

    def _direct(self) -> bool:
        """Whether windows are small enough (KH*KW*C cells, e.g. 3x3 of one channel: the
        tutorial's first layer) that looping over them directly beats unfolding them and calling
        BLAS: a K=9 matrix product is all memory traffic. Measured on 128 MNIST images, 32
        filters: forward 1.7 ms against 2.4 ms, dL/dK 2.4 against 2.5 ms; with 3 channels (27
        cells) im2col + BLAS wins, 2.6 against 3.7 ms."""
        kh, kw, c, _ = self.params["kernel"].shape
        return kh * kw * c <= self.DIRECT_MAX_CELLS

    def _zero_bias(self) -> np.ndarray:
        return np.zeros(self.filters, dtype=self.dtype)

    def _blocks(self, n: int):
        """Yield ``(start, stop, cols)``: the im2col matrix of samples ``start:stop`` of the
        padded input, BLOCK samples at a time, in one reused buffer.

        Unfolding the whole batch at once is the textbook way, but for conv2 that is an 85 MB
        matrix that leaves the cache before the GEMM reads it. A 32-sample block (21 MB) is read
        back while still cached, so unfolding again in backward costs less than keeping the
        big matrix (measured: forward 25 -> 16 ms, backward 38 -> 35 ms per 128 images).
        """
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        x, rows = self._x_padded, self._rows_per_sample()
        depth = kh * kw * x.shape[3]
        for start in range(0, n, self.BLOCK):
            stop = min(start + self.BLOCK, n)
            cols = self._buffer("cols", ((stop - start) * rows, depth))
            yield start, stop, im2col(x[start:stop], kh, kw, sh, sw, out=cols)

    def _output_hw(self) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        _, hp, wp, _ = self._x_padded.shape
        return (hp - kh) // sh + 1, (wp - kw) // sw + 1

    def _rows_per_sample(self) -> int:
        oh, ow = self._output_hw()
        return oh * ow

    def _backward(self, dy: np.ndarray) -> np.ndarray:
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 3, 1)
        dy = dy.reshape(-1, self.filters)
        relu_and_bias = self.use_bias and self.activation == "relu"
        if relu_and_bias and self._direct() and not self._want_input_gradient:
            # a first layer of small windows: dL/dK and dL/db in one pass over dL/dy and y
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            self.grads["kernel"][...], self.grads["bias"][...] = kernels.conv2d_relu_grads(
                self._x_padded, dy, self._y, kh, kw, sh, sw)
            return None
        if relu_and_bias and self._per_core() and not self._direct():
            # dL/dz = dy * (y > 0) and dL/db chunk by chunk, inside the tasks
            path = conv_winograd if self._winograd() else conv_per_core
            return path.backward(self, np.ascontiguousarray(dy), relu_mask=True)
        return self._backward_linear(*self._activation_and_bias_grad(dy))

    def fuses_backward_of(self, above: Layer) -> bool:
        """Whether :meth:`backward_fused` can take the backward pass of ``above``,
        the layer right after this one: a MaxPooling2D that ran forward in training, over a
        layer with bias and ReLU on the per-core paths, both channels-last."""
        return (isinstance(above, MaxPooling2D) and getattr(above, "_argmax", None) is not None
                and self.use_bias and self.activation == "relu" and self._per_core()
                and not self._direct()
                and self.data_format == above.data_format == "channels_last")

    def backward_fused(self, pool: Layer, dy: np.ndarray, input_gradient: bool = True):
        """``self.backward(pool.backward(dy))``, the same numbers in one pass: each chunk of
        samples gets its dL/dz straight from the pool's ``dy`` and winners (the pool's dL/dx,
        19 MB of mostly zeros for the tutorial's batch, is never written and read back).
        Only where :meth:`fuses_backward_of` says so; the model calls it."""
        dy = pool._check_output_grad(dy)
        self._want_input_gradient = bool(input_gradient)
        pooled = (np.ascontiguousarray(dy), pool._argmax)
        path = conv_winograd if self._winograd() else conv_per_core
        return path.backward(self, None, relu_mask=True, pooled=pooled)

    def backward_preactivation(self, dz: np.ndarray, input_gradient: bool = True):
        dz = self._check_output_grad(dz)
        self._want_input_gradient = bool(input_gradient)
        if self.data_format == "channels_first":
            dz = dz.transpose(0, 2, 3, 1)
        return self._backward_linear(dz)

    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None = None) -> np.ndarray:
        dz = np.ascontiguousarray(dz.reshape(-1, self.filters))      # (N*OH*OW, F)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        x = self._x_padded
        n, rows = x.shape[0], self._rows_per_sample()
        want_dx = self._want_input_gradient      # False for a model's first layer: thrown away
        if self._direct() and not want_dx:
            self._set_bias_grad(dz, db)
            self.grads["kernel"][...] = kernels.conv2d_kernel_grad(x, dz, kh, kw, sh, sw)
            return None
        if self._winograd():
            return conv_winograd.backward(self, dz, relu_mask=False, db=db)
        if self._per_core():
            return conv_per_core.backward(self, dz, relu_mask=False, db=db)
        self._set_bias_grad(dz, db)
        if want_dx:
            kernel_t = np.ascontiguousarray(self.params["kernel"].reshape(-1, self.filters).T)
            dx = np.empty(x.shape, dtype=self.dtype)
        dkernel = np.zeros((kh * kw * x.shape[3], self.filters), dtype=self.dtype)
        for start, stop, cols in self._blocks(n):                     # the forward's blocks
            dz_block = dz[start * rows:stop * rows]
            dkernel += cols.T @ dz_block                              # dK = cols.T @ dZ
            if want_dx:
                dcols = np.matmul(dz_block, kernel_t, out=cols)       # dcols = dZ @ K.T
                col2im(dcols, (stop - start,) + x.shape[1:], kh, kw, sh, sw, out=dx[start:stop])
        self.grads["kernel"][...] = dkernel.reshape(self.params["kernel"].shape)
        return self._input_gradient(dx) if want_dx else None

    def _set_bias_grad(self, dz: np.ndarray, db: np.ndarray | None) -> None:
        if self.use_bias:
            self.grads["bias"][...] = dz.sum(axis=0) if db is None else db

    def _input_gradient(self, dx: np.ndarray) -> np.ndarray:
        pt, pb, pl, pr = self._pad
        dx = dx[:, pt:dx.shape[1] - pb, pl:dx.shape[2] - pr, :]   # drop the padding's gradient
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 3, 1, 2)
        return dx

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": [1, 1], "groups": 1,
            "activation": self.activation, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
        })
        return config
