"""How Conv2D runs on the fast engine: the one place its way of running is chosen.

:func:`choose` looks at the kernel, the strides, the dtype and whether per-core tasks can run
(:func:`convnet.threads.available`), and returns one of four paths, fastest first:

* :class:`Direct` -- windows of at most ``direct_max_cells`` cells (3x3 of one channel: the
  tutorial's conv1) loop over windows directly (``kernels.conv2d_direct``): a 9-deep matrix
  product is all memory traffic. As a model's first layer with bias and ReLU, dL/dK and dL/db
  come from one pass over dL/dy and y (``kernels.conv2d_relu_grads``).
* :class:`Winograd` -- 3x3 stride-1 kernels over at least ``winograd_min_channels`` input
  channels (the tutorial's conv2), per core (:mod:`.conv_winograd`). With fewer channels its
  36 products are too narrow for BLAS and im2col wins. It computes whole 4x4 output tiles, so
  where they cover the output with mostly padding (:func:`tile_fill` below
  ``winograd_min_fill``: a 5x5 output takes 2x2 tiles, 64 cells for 25) im2col wins too.
* :class:`Im2colPerCore` -- im2col + GEMM as per-core tasks (:mod:`.conv_im2col`).
* :class:`Im2colBlocks` -- im2col + GEMM in whole-batch blocks, where per-core tasks cannot run
  (no OpenBLAS thread control found, or float16, which numba does not compute).

Every path takes the padded channels-last input, the kernel, the bias and the saved output as
arrays and returns arrays: ``forward`` the output ``y`` (N*OH*OW, F), ``backward`` the gradients
``(dK, dL/db, dx)`` (dx of the padded input, or None for a model's first layer), ``infer`` a few
samples' output on the calling thread. The crossovers are measured in ``benchmarks/``
(``bench_paths.py``, ``bench_kernels.py``). Where they differ on another CPU,
:mod:`.autotune` chooses among :func:`candidates` by timing them once per machine; a layer's
``PATH`` attribute forces one (:data:`PATHS` names them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convnet import kernels, threads
from convnet.fast import conv_im2col, conv_winograd
from convnet.fast.scratch import Scratch
from convnet.fast.tasks import Tasks
from convnet.fast.upstream import Upstream
from convnet.kernels import winograd

Activate = Callable[..., np.ndarray]          # activation forward, ``f(z, out=z)``
ActivateBackward = Callable[[np.ndarray, np.ndarray], np.ndarray]   # ``f'(dy, y)``


class ConvPath:
    """A way of running Conv2D's products; see the module docstring."""

    name = ""
    fuses_pool = False      # can take a max-pooling layer's backward pass with its own
    masks_in_tasks = False  # turns dL/dy into dL/dz (ReLU mask, dL/db) inside its tasks

    def __init__(self, strides: tuple[int, int], tasks: Tasks, block: int) -> None:
        self.strides, self.tasks, self.block = strides, tasks, block
        self.scratch = Scratch()

    def __repr__(self) -> str:
        return f"<conv path {self.name!r}>"

    # ----- forward --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, relu: bool,
                activate: Activate, training: bool = False) -> np.ndarray:
        """The layer's output ``y = f(cols @ K + b)`` as ``(N*OH*OW, F)``; in ``training`` a
        path may keep what its backward pass would otherwise compute again."""
        oh, ow = conv_im2col.output_hw(x, kernel, self.strides)
        z = np.empty((x.shape[0] * oh * ow, kernel.shape[3]), dtype=x.dtype)
        if self._linear_forward(x, kernel, bias, relu, z, training):
            return z                                  # bias and ReLU done inside
        if bias is not None and relu:
            return kernels.bias_relu(z, bias)
        if bias is not None:
            z += bias
        return activate(z, out=z)

    def _linear_forward(self, x, kernel, bias, relu, z, training) -> bool:
        """``z = cols @ K`` -- or all of ``f(z + b)``, returning True."""
        raise NotImplementedError

    def infer(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, relu: bool,
              activate: Activate) -> np.ndarray:
        """:meth:`forward` at inference for a few samples, on the calling thread alone."""
        oh, ow = conv_im2col.output_hw(x, kernel, self.strides)
        z = np.empty((x.shape[0] * oh * ow, kernel.shape[3]), dtype=x.dtype)
        self._infer_linear(x, kernel, bias, relu, z)
        return z if relu else activate(z, out=z)

    def _infer_linear(self, x, kernel, bias, relu, z) -> None:
        conv_im2col.infer(x, kernel, bias, self.strides, relu, self.scratch, z)

    # ----- backward -------------------------------------------------------------------------
    def backward(self, x: np.ndarray, kernel: np.ndarray, y: np.ndarray, *,
                 dy: np.ndarray | None = None, dz: np.ndarray | None = None,
                 pool: tuple[np.ndarray, np.ndarray] | None = None, relu_bias: bool,
                 act_backward: ActivateBackward, use_bias: bool,
                 want_dx: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(dK, dL/db, dx)`` from dL/dy (``dy``), from dL/dz (``dz``, the fused softmax case)
        or from the max-pooling layer above (``pool = (its dL/dy, its winners)``, where
        :attr:`fuses_pool`). ``relu_bias``: the layer ends in bias + ReLU."""
        if pool is not None:
            return self._tasks_backward(x, kernel, Upstream(pool_dy=pool[0], argmax=pool[1],
                                                            y=y), want_dx)
        db = None
        if dz is None:
            assert dy is not None
            special = self._special_backward(x, kernel, dy, y, relu_bias, want_dx)
            if special is not None:
                return special
            if relu_bias and self.masks_in_tasks:
                return self._tasks_backward(x, kernel, Upstream(dy=dy, y=y), want_dx)
            if relu_bias:
                dz, db = kernels.relu_bias_backward(dy, y)            # one fused pass
            else:
                dz = act_backward(dy, y)
        dz = np.ascontiguousarray(dz)
        dk, dx = self._linear_backward(x, kernel, dz, want_dx)
        if use_bias and db is None:
            db = dz.sum(axis=0)
        return dk, db, dx

    def _special_backward(self, x, kernel, dy, y, relu_bias, want_dx):
        return None

    def _tasks_backward(self, x, kernel, upstream: Upstream, want_dx: bool):
        return conv_im2col.backward_per_core(x, kernel, self.strides, upstream, want_dx,
                                             self.tasks, self.scratch)

    def _linear_backward(self, x, kernel, dz, want_dx):
        dk, db, dx = self._tasks_backward(x, kernel, Upstream(dz=dz), want_dx)
        return dk, dx


class Im2colPerCore(ConvPath):
    name = "im2col per core"
    fuses_pool = masks_in_tasks = True

    def _linear_forward(self, x, kernel, bias, relu, z, training):
        fused = relu and bias is not None
        conv_im2col.forward_per_core(x, kernel, bias, self.strides, fused, self.tasks,
                                     self.scratch, z)
        return fused


class Im2colBlocks(ConvPath):
    name = "im2col blocks"

    def _linear_forward(self, x, kernel, bias, relu, z, training):
        conv_im2col.forward_blocks(x, kernel, self.strides, self.block, self.scratch, z)
        return False

    def _linear_backward(self, x, kernel, dz, want_dx):
        return conv_im2col.backward_blocks(x, kernel, self.strides, dz, want_dx, self.block,
                                           self.scratch)


class Direct(ConvPath):
    name = "direct"

    def __init__(self, strides: tuple[int, int], tasks: Tasks, block: int,
                 per_core: bool) -> None:
        super().__init__(strides, tasks, block)
        self.per_core = per_core

    def forward(self, x, kernel, bias, relu, activate, training=False):
        if bias is None:
            bias = np.zeros(kernel.shape[3], dtype=x.dtype)
        z = kernels.conv2d_direct(x, kernel, bias, *self.strides, relu=relu)
        return z if relu else activate(z, out=z)

    def _infer_linear(self, x, kernel, bias, relu, z):
        kernels.conv2d_direct_serial(x, kernel, bias, *self.strides, relu, z)

    def _special_backward(self, x, kernel, dy, y, relu_bias, want_dx):
        if relu_bias and not want_dx:        # a first layer: dK and db in one pass over dy, y
            kh, kw = kernel.shape[:2]
            dk, db = kernels.conv2d_relu_grads(x, dy, y, kh, kw, *self.strides)
            return dk, db, None
        return None

    def _linear_backward(self, x, kernel, dz, want_dx):
        if not want_dx:
            kh, kw = kernel.shape[:2]
            return kernels.conv2d_kernel_grad(x, dz, kh, kw, *self.strides), None
        if self.per_core:
            return super()._linear_backward(x, kernel, dz, want_dx)
        return conv_im2col.backward_blocks(x, kernel, self.strides, dz, want_dx, self.block,
                                           self.scratch)


class Winograd(ConvPath):
    name = "winograd"
    fuses_pool = masks_in_tasks = True

    KEEP_TILES = True   # training's forward pass keeps its input tiles for the backward pass

    def __init__(self, strides: tuple[int, int], tasks: Tasks, block: int) -> None:
        super().__init__(strides, tasks, block)
        self._kept: tuple[np.ndarray, np.ndarray] | None = None
        self._tiles: tuple[np.ndarray, dict] | None = None    # (the input, its tiles by chunk)

    def transformed(self, kernel: np.ndarray) -> np.ndarray:
        """The transformed kernel (36, C, F), kept while the kernel stays the same: ``predict``
        asks for it every few images."""
        if self._kept is None or not np.array_equal(self._kept[0], kernel):
            self._kept = (kernel.copy(), winograd.kernel_transform(kernel))
        return self._kept[1]

    def _linear_forward(self, x, kernel, bias, relu, z, training):
        fused = relu and bias is not None
        n, h, w, _ = x.shape
        add = bias if fused else np.zeros(kernel.shape[3], dtype=x.dtype)
        keep: dict | None = {} if training and self.KEEP_TILES else None
        self._tiles = None if keep is None else (x, keep)
        conv_winograd.forward_per_core(x, self.transformed(kernel), add, fused, self.tasks,
                                       self.scratch, z.reshape(n, h - 2, w - 2, -1), keep)
        return fused

    def _infer_linear(self, x, kernel, bias, relu, z):
        n, h, w, _ = x.shape
        conv_winograd.convolve(x, self.transformed(kernel), bias, relu,
                               z.reshape(n, h - 2, w - 2, -1), self.scratch)

    @property
    def holds_tiles(self) -> bool:
        """Whether it holds the input tiles of a training forward pass (for its backward)."""
        return self._tiles is not None

    def _tasks_backward(self, x, kernel, upstream, want_dx):
        kept = self._tiles[1] if self._tiles is not None and self._tiles[0] is x else None
        return conv_winograd.backward_per_core(x, kernel, upstream, want_dx, self.tasks,
                                               self.scratch, kept)


PATHS = {cls.name: cls for cls in (Direct, Winograd, Im2colPerCore, Im2colBlocks)}


DIRECT_CANDIDATE_CELLS = 64   # autotuning tries the direct loop on windows up to this size


def runnable(kernel_shape: tuple, strides: tuple[int, int], dtype: str) -> list[str]:
    """The names of the paths that can run a Conv2D of this kernel, strides and dtype."""
    kh, kw, _, _ = kernel_shape
    if not threads.available() or dtype == "float16":
        return ["direct", "im2col blocks"]
    winograd = ["winograd"] if (kh, kw) == (3, 3) and tuple(strides) == (1, 1) else []
    return ["direct"] + winograd + ["im2col per core", "im2col blocks"]


def candidates(kernel_shape: tuple, strides: tuple[int, int], dtype: str) -> list[str]:
    """The runnable paths worth timing: the direct loop only on small windows (on large ones
    it is far slower than the others)."""
    kh, kw, c, _ = kernel_shape
    names = runnable(kernel_shape, strides, dtype)
    if kh * kw * c > DIRECT_CANDIDATE_CELLS and len(names) > 1:
        names.remove("direct")
    return names


PER_CORE = ("winograd", "im2col per core")
CHUNKS = (2, 4, 8)     # images per step inside a task, tried by autotuning on per-core paths


def with_chunks(names: list[str]) -> list[str]:
    """``names`` with every per-core path also as ``"<path>, chunk N"`` for N in :data:`CHUNKS`:
    how many images a task takes at a time decides whether its scratch stays in the core's
    cache, which depends on the cache's size."""
    out: list[str] = []
    for name in names:
        out += [f"{name}, chunk {n}" for n in CHUNKS] if name in PER_CORE else [name]
    return out


def split_chunk(name: str) -> tuple[str, int | None]:
    """``"winograd, chunk 4"`` -> ``("winograd", 4)``; a plain path name -> ``(name, None)``."""
    path, _, chunk = name.partition(", chunk ")
    return path, (int(chunk) if chunk else None)


def make(name: str, strides: tuple[int, int], dtype: str, tasks: Tasks,
         block: int) -> ConvPath:
    """The path called ``name`` (a key of :data:`PATHS`), for arrays of ``dtype``."""
    if name == "direct":
        return Direct(strides, tasks, block, threads.available() and dtype != "float16")
    if name == "winograd":
        return Winograd(strides, tasks, block)
    if name == "im2col per core":
        return Im2colPerCore(strides, tasks, block)
    if name == "im2col blocks":
        return Im2colBlocks(strides, tasks, block)
    raise ValueError(f"unknown Conv2D path {name!r}; one of {sorted(PATHS)}")


def tile_fill(output_hw: tuple[int, int]) -> float:
    """The share of the cells of Winograd's 4x4 output tiles that are output: 1.0 for 24x24,
    0.66 for 13x13, 0.39 for 5x5 (2x2 tiles, 64 cells for 25)."""
    th, tw = winograd.tile_grid(*output_hw)
    return output_hw[0] * output_hw[1] / (th * tw * winograd.STEP ** 2)


def choose(kernel_shape: tuple, strides: tuple[int, int], dtype: str, *,
           direct_max_cells: int, winograd_min_channels: int, tasks: Tasks,
           block: int, output_hw: tuple[int, int] | None = None,
           winograd_min_fill: float = 0.0) -> ConvPath:
    """The fastest path for a Conv2D of this kernel, strides and dtype, and output size when
    known (module docstring)."""
    kh, kw, c, _ = kernel_shape
    per_core = threads.available() and dtype != "float16"
    if kh * kw * c <= direct_max_cells:
        return Direct(strides, tasks, block, per_core)
    if per_core and (kh, kw) == (3, 3) and tuple(strides) == (1, 1) \
            and c >= winograd_min_channels \
            and (output_hw is None or tile_fill(output_hw) >= winograd_min_fill):
        return Winograd(strides, tasks, block)
    if per_core:
        return Im2colPerCore(strides, tasks, block)
    return Im2colBlocks(strides, tasks, block)
