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

That is the code below, and on the NumPy engine (``backend.set_engine("numpy")``) it is the code
that runs. On the fast engine (the default) the same products run another way, chosen once per
engine by :func:`convnet.fast.conv_paths.choose` (a direct loop over small windows, Winograd's
F(4x4, 3x3), or im2col in per-core tasks); :attr:`Conv2D.path` says which.

``dilation_rate`` ``(dh, dw)`` spaces the taps ``dh`` rows and ``dw`` columns apart (as in
Keras): the layer then runs all of the above on the kernel with zeros between its taps and keeps
the taps' cells of that kernel's gradient (:mod:`convnet.layers.dilation`).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from convnet import backend, initializers, threads
from convnet.fast import autotune, conv_paths
from convnet.fast.conv_paths import ConvPath
from convnet.fast.tasks import Tasks
from convnet.kernels import reference
from convnet.layers.activated import ActivationMixin
from convnet.layers.base import Layer
from convnet.layers.dilation import dilate_kernel, effective_size, undilate_gradient
from convnet.layers.padding import same_padding, window_output_size
from convnet.layers.regularized import Regularized
from convnet.layers.windowed import WindowArguments


class Conv2D(WindowArguments, Regularized, ActivationMixin, Layer):
    """2-D convolution layer: ``filters`` kernels of ``kernel_size`` slid over the image.

    Input ``(batch, H, W, C)`` (``channels_last``) or ``(batch, C, H, W)`` (``channels_first``;
    transposed to channels-last at the layer's edges). Kernel in Keras's layout
    ``(KH, KW, C, filters)``, bias ``(filters,)``. With ``dilation_rate`` ``(dh, dw)`` the
    window spans ``dh*(KH-1)+1`` by ``dw*(KW-1)+1`` cells (:attr:`window`), and output sizes,
    'same' padding and the fast path's choice are those of a kernel that size.

    Kept by ``forward`` for ``backward``: ``_x_padded`` (the padded input, channels-last),
    ``_cols`` (its im2col matrix, on the NumPy engine; the fast paths unfold it again in
    backward) and ``_y`` (the output as ``(N*OH*OW, F)`` rows).

    Class attributes the fast engine's choice reads (:func:`conv_paths.choose`): windows of at
    most ``DIRECT_MAX_CELLS`` cells loop directly; 3x3 stride-1 kernels over at least
    ``WINOGRAD_MIN_CHANNELS`` channels take Winograd, unless its 4x4 output tiles would be
    less than ``WINOGRAD_MIN_FILL`` output (:func:`conv_paths.tile_fill`: a 5x5 output runs
    faster by im2col); per-core tasks take ``TASK`` samples,
    ``CHUNK`` at a time; without per-core tasks, ``BLOCK`` samples at a time. ``PATH`` (on the
    class or on one layer) forces a path by name (``conv_paths.PATHS``); with
    :func:`convnet.fast.autotune.enable` the path is chosen by timing the candidates once per
    machine instead of by these rules.
    """

    DIRECT_MAX_CELLS = 9
    WINOGRAD_MIN_CHANNELS = 16
    WINOGRAD_MIN_FILL = 0.5
    TASK, CHUNK, BLOCK = 32, 8, 32
    PATH: str | None = None
    _wants_dx: bool | None = None       # whether the last backward made dL/dx (None: none yet)

    _cols: np.ndarray | None = None

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
        self._set_window(what, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, dilation=True)
        if activity_regularizer is not None:
            # the fused Conv2D + MaxPooling2D backward would skip its gradient
            raise ValueError(f"{what}: activity_regularizer is not supported on Conv2D (got "
                             f"{activity_regularizer!r}); put an ActivityRegularization layer "
                             "after it")
        # kernel/bias regularizers and constraints: convnet.layers.regularized
        self._set_regularizers(kernel_regularizer, bias_regularizer, None, kernel_constraint,
                               bias_constraint)
        self.kernel_initializer = initializers.normalize(kernel_initializer)
        self.bias_initializer = initializers.normalize(bias_initializer)

    @property
    def window(self) -> tuple[int, int]:
        """The cells one window spans, ``(dh*(KH-1)+1, dw*(KW-1)+1)``: ``kernel_size`` unless
        dilated."""
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation_rate
        return effective_size(kh, dh), effective_size(kw, dw)

    def _kernel(self) -> np.ndarray:
        """The kernel the products use: ``params["kernel"]`` itself, or dilated, with zeros
        between its taps (``window``-sized)."""
        return dilate_kernel(self.params["kernel"], self.dilation_rate)

    def _pads(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        if self.padding == "valid":
            return (0, 0), (0, 0)
        (kh, kw), (sh, sw) = self.window, self.strides
        return same_padding(h, kh, sh), same_padding(w, kw, sw)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}' expects input of shape (batch, H, W, C) or "
                             f"(batch, C, H, W), got per-sample shape {tuple(input_shape)}")
        if self.data_format == "channels_first":
            c, h, w = input_shape
        else:
            h, w, c = input_shape
        (kh, kw), (sh, sw) = self.window, self.strides
        oh = window_output_size(h, kh, sh, self.padding)
        ow = window_output_size(w, kw, sw, self.padding)
        if oh < 1 or ow < 1:
            spans = "" if self.dilation_rate == (1, 1) else \
                f" with dilation_rate {self.dilation_rate} (a {kh}x{kw} window)"
            raise ValueError(f"Conv2D '{self.name}': kernel {self.kernel_size}{spans} does not "
                             f"fit in a {h}x{w} input with padding='valid'")
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
            self.kernel_initializer, (kh, kw, c, self.filters), self.compute_dtype())}
        if self.use_bias:
            self.params["bias"] = initializers.initialize(
                self.bias_initializer, (self.filters,), self.compute_dtype())
        return out

    def _padded_input(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """``x`` channels-last, zero-padded ('same') and C-contiguous, with the pads used."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)                      # NCHW -> NHWC
        (pt, pb), (pl, pr) = self._pads(x.shape[1], x.shape[2])
        if pt or pb or pl or pr:
            x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        return np.ascontiguousarray(x), (pt, pb, pl, pr)

    # ----- how it runs ----------------------------------------------------------------------
    @property
    def path(self) -> ConvPath | None:
        """How the products run: None on the NumPy engine (the textbook code of this class),
        otherwise the fast path :func:`conv_paths.choose` picked (or ``PATH`` forced, or
        :mod:`convnet.fast.autotune` measured). Chosen again only when something it depends on
        changes (the engine, the dtype, the kernel's shape, per-core threads, the class
        attributes above, autotuning)."""
        kernel = self.params["kernel"]
        key = (backend.get_engine(), self.dtype, kernel.shape, self.dilation_rate,
               threads.available(),
               self.output_shape,
               self.DIRECT_MAX_CELLS, self.WINOGRAD_MIN_CHANNELS, self.WINOGRAD_MIN_FILL,
               self.TASK, self.CHUNK,
               self.BLOCK, self.PATH,
               autotune.enabled() and (self.input_shape, self._wants_dx))
        chosen = self.__dict__.get("_chosen")
        if chosen is None or chosen[0] != key:
            path = None if key[0] == "numpy" else self._choose_path()
            # one assignment of (key, path): per-core workers may ask at the same moment
            chosen = self._chosen = (key, path)
        return chosen[1]

    def _choose_path(self) -> ConvPath:
        # the paths run the dilated kernel: chosen for its size (a 2x2 kernel at rate 2 is 3x3)
        shape, dtype = self.window + self.params["kernel"].shape[2:], str(self.dtype)
        tasks = Tasks(self.TASK, self.CHUNK)
        if self.PATH is not None:
            names = conv_paths.runnable(shape, self.strides, dtype)
            if self.PATH not in names:
                raise ValueError(
                    f"Conv2D '{self.name}': PATH {self.PATH!r} cannot run this layer (kernel "
                    f"{shape}, strides {self.strides}, {dtype}); it can take one of {names}")
            return conv_paths.make(self.PATH, self.strides, dtype, tasks, self.BLOCK)
        if autotune.enabled() and self.input_shape is not None:
            names = conv_paths.with_chunks(conv_paths.candidates(shape, self.strides, dtype))
            dilated = f"dilation {self.dilation_rate} " if self.dilation_rate != (1, 1) else ""
            layer_key = (f"Conv2D {dtype} input {tuple(self.input_shape)} kernel {shape} "
                         f"strides {tuple(self.strides)} {self.data_format} {dilated}"
                         f"activation {self.activation} bias {self.use_bias} "
                         f"{'no dL/dx' if self._wants_dx is False else 'with dL/dx'}")
            name, chunk = conv_paths.split_chunk(autotune.choose(layer_key, names,
                                                                 self._time_path))
            if chunk is not None:
                tasks = Tasks(self.TASK, chunk)
            return conv_paths.make(name, self.strides, dtype, tasks, self.BLOCK)
        return conv_paths.choose(shape, self.strides, dtype,
                                 direct_max_cells=self.DIRECT_MAX_CELLS,
                                 winograd_min_channels=self.WINOGRAD_MIN_CHANNELS,
                                 tasks=tasks, block=self.BLOCK, output_hw=self._output_hw(),
                                 winograd_min_fill=self.WINOGRAD_MIN_FILL)

    def _output_hw(self) -> tuple[int, int] | None:
        """The built output's ``(OH, OW)`` (None before build)."""
        if self.output_shape is None:
            return None
        shape = self.output_shape
        return (shape[1], shape[2]) if self.data_format == "channels_first" else shape[:2]

    def _time_path(self, name: str) -> float:
        """Milliseconds of one forward + backward of a twin of this layer forced to path ``name``
        (and chunk, ``"winograd, chunk 4"``), on ``4 * TASK`` random samples of this layer's
        input shape (tasks on every core, as in training); the backward makes dL/dx unless
        this layer's last backward did not (a model's first layer: its path is timed again
        after the first step, for that case)."""
        twin = cast(Conv2D, type(self).from_config({**self.get_config(),
                                                    "name": f"{self.name}_autotune"}))
        twin.PATH, chunk = conv_paths.split_chunk(name)
        if chunk is not None:
            twin.CHUNK = chunk
        assert self.input_shape is not None
        twin.build(tuple(self.input_shape))
        for key, value in self.params.items():
            twin.params[key][...] = value
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4 * self.TASK,) + tuple(self.input_shape)).astype(self.dtype)
        dy = rng.standard_normal(twin.forward(x, training=True).shape).astype(self.dtype)

        def step() -> None:
            twin.forward(x, training=True)
            twin.backward(dy, input_gradient=self._wants_dx is not False)

        return autotune.time_candidate(step)

    # ----- forward --------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        n = x.shape[0]
        x, self._pad = self._padded_input(x)                 # channels-last, zero-padded
        self._x_padded = x
        (kh, kw), (sh, sw) = self.window, self.strides         # kernel_size unless dilated
        oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
        kernel, bias = self._kernel(), self.params.get("bias")
        path = self.path
        if path is None:
            self._cols = reference.im2col(x, kh, kw, sh, sw)   # one window per row
            z = self._cols @ kernel.reshape(-1, self.filters)  # Z = cols @ K
            y = self._bias_and_activate(z, bias)               # y = f(Z + b)
        else:
            self._cols = None                                  # the fast paths unfold again
            y = path.forward(x, kernel, bias, self.activation == "relu",
                             self._activation_pair()[0], training)
        self._y = y                                            # (N*OH*OW, F)
        return self._to_layout(y.reshape(n, oh, ow, self.filters))

    runs_per_core = True

    def infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """``forward(x)`` at inference for a few samples, on this thread alone (see Layer)."""
        x, _ = self._padded_input(x)
        (kh, kw), (sh, sw) = self.window, self.strides
        n, oh, ow = x.shape[0], (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
        bias = self.params["bias"] if self.use_bias else np.zeros(self.filters, self.dtype)
        kernel = self._kernel()
        path = self.path
        if path is None:                                        # the NumPy engine
            z = reference.im2col(x, kh, kw, sh, sw) @ kernel.reshape(-1, self.filters) + bias
            y = self._act_forward(z)
        else:
            y = path.infer(x, kernel, bias, self.activation == "relu", self._act_forward)
        return self._to_layout(y.reshape(n, oh, ow, self.filters))

    def _to_layout(self, y: np.ndarray) -> np.ndarray:
        """NHWC -> the layer's data_format."""
        return y.transpose(0, 3, 1, 2) if self.data_format == "channels_first" else y

    # ----- backward -------------------------------------------------------------------------
    def _backward(self, dy: np.ndarray, input_gradient: bool) -> np.ndarray | None:
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 3, 1)
        dy = dy.reshape(-1, self.filters)
        path = self.path
        if path is None:
            dz, db = self._activation_and_bias_grad(dy)        # dL/dz = dL/dy * f'(z)
            return self._backward_linear(dz, db, input_gradient)
        return self._store(*path.backward(
            self._x_padded, self._kernel(), self._saved_output(),
            dy=np.ascontiguousarray(dy), relu_bias=self._relu_bias(),
            act_backward=self._activation_pair()[1], use_bias=self.use_bias,
            want_dx=input_gradient))

    def _backward_linear(self, dz: np.ndarray, db: np.ndarray | None,
                         input_gradient: bool) -> np.ndarray | None:
        """From dL/dz: the textbook matrix calculus on the NumPy engine, the fast path's
        otherwise (the fused softmax case comes here from ``backward_preactivation``)."""
        if self.data_format == "channels_first" and dz.ndim == 4:
            dz = dz.transpose(0, 2, 3, 1)
        dz = dz.reshape(-1, self.filters)
        path = self.path
        if path is not None:
            return self._store(*path.backward(
                self._x_padded, self._kernel(), self._saved_output(), dz=dz,
                relu_bias=False, act_backward=self._activation_pair()[1], use_bias=self.use_bias,
                want_dx=input_gradient))
        (kh, kw), (sh, sw) = self.window, self.strides
        kernel = self._kernel()
        cols = self._cols
        if cols is None:          # the forward ran on the fast engine: unfold now
            cols = reference.im2col(self._x_padded, kh, kw, sh, sw)
        dk = (cols.T @ dz).reshape(kernel.shape)                      # dK = cols.T @ dZ
        self.grads["kernel"][...] = undilate_gradient(dk, self.dilation_rate)   # the taps' cells
        kernel = kernel.reshape(-1, self.filters)                     # (KH*KW*C, F)
        if self.use_bias:
            self.grads["bias"][...] = dz.sum(axis=0) if db is None else db
        if not input_gradient:
            return None          # a model's first layer: nobody needs dL/dx
        dcols = dz @ kernel.T                                         # dcols = dZ @ K.T
        dx = reference.col2im(dcols, self._x_padded.shape, kh, kw, sh, sw)
        return self._input_gradient(dx)

    def _saved_output(self) -> np.ndarray:
        assert self._y is not None, "a forward pass keeps y (checked before backward)"
        return self._y

    def _relu_bias(self) -> bool:
        return self.use_bias and self.activation == "relu"

    def _store(self, dk: np.ndarray, db: np.ndarray | None,
               dx: np.ndarray | None) -> np.ndarray | None:
        """Write a fast path's gradients into ``grads`` (of the dilated kernel's taps, if
        dilated); dL/dx in the layer's layout."""
        self.grads["kernel"][...] = undilate_gradient(dk, self.dilation_rate)
        if self.use_bias:
            assert db is not None
            self.grads["bias"][...] = db
        # a model's first layer is never asked for dL/dx: autotuning then times that case
        self._wants_dx = dx is not None
        return None if dx is None else self._input_gradient(dx)

    def fuses_backward_of(self, above: Layer) -> bool:
        """Whether :meth:`backward_fused` can take the backward pass of ``above``, the layer
        right after this one: a max-pooling layer that ran forward in training and shows its
        winners (``pooled_winners``), over a layer with bias and ReLU on a fast path that
        fuses, both channels-last."""
        winners = getattr(above, "pooled_winners", None)
        path = self.path
        return (winners is not None and winners() is not None and path is not None
                and path.fuses_pool and self._relu_bias()
                and self.data_format == getattr(above, "data_format", None) == "channels_last")

    def backward_fused(self, above: Layer, dy: np.ndarray,
                       input_gradient: bool = True) -> np.ndarray | None:
        """``self.backward(above.backward(dy))``, the same numbers in one pass: each chunk of
        samples gets its dL/dz straight from the pool's ``dy`` and winners (the pool's dL/dx,
        mostly zeros, is never written and read back). Only where :meth:`fuses_backward_of`
        says so; the model calls it."""
        dy = above.check_output_gradient(dy)
        winners = above.pooled_winners()                 # type: ignore[attr-defined]
        assert self.path is not None
        return self._store(*self.path.backward(
            self._x_padded, self._kernel(), self._saved_output(),
            pool=(np.ascontiguousarray(dy), winners), relu_bias=True,
            act_backward=self._activation_pair()[1], use_bias=self.use_bias,
            want_dx=input_gradient))

    def _input_gradient(self, dx: np.ndarray) -> np.ndarray:
        pt, pb, pl, pr = self._pad
        dx = dx[:, pt:dx.shape[1] - pb, pl:dx.shape[2] - pr, :]   # drop the padding's gradient
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 3, 1, 2)
        return dx

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
            "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
            "groups": 1,
            "activation": self.activation, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.regularizer_config(),
        })
        return config
