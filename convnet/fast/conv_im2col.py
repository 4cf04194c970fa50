"""Conv2D by im2col + GEMM, arranged for the cache: as per-core tasks, or in whole-batch blocks.

The same products as the textbook code in :mod:`convnet.layers.conv` (read that for the math)::

    Z = cols @ K          dK = cols.T @ dZ          dcols = dZ @ K.T,  dx = col2im(dcols)

Per core: each task (:class:`~convnet.fast.tasks.Tasks`) unfolds, multiplies and applies bias and
ReLU a chunk of samples at a time with serial kernels and a single-threaded BLAS, so each small
im2col matrix is used while it is still in that core's cache; backward unfolds each chunk again.
Sums over samples (dL/dK, dL/db) are kept per task and added in task order.

In blocks (no OpenBLAS thread control, or float16): ``block`` samples at a time, every kernel
parallel on its own. Unfolding the whole batch at once leaves the matrix out of the cache before
the GEMM reads it; a block is read back while still cached.

All arrays are channels-last; ``x`` is the padded, C-contiguous input (N, H, W, C), ``kernel``
(KH, KW, C, F), rows of ``z``/``dz`` in im2col's order (N*OH*OW, F).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from convnet import kernels
from convnet.fast.scratch import Scratch
from convnet.fast.tasks import Tasks
from convnet.fast.upstream import Upstream


def output_hw(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int]) -> tuple[int, int]:
    """``(OH, OW)`` of a 'valid' correlation of the padded input ``x`` with ``kernel``."""
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    return (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1


def _task_chunks(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], tasks: Tasks,
                 t: int, scratch: Scratch) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(first, stop, cols)`` for task ``t``: the im2col matrix of samples
    ``first:stop``, a chunk at a time, in the calling thread's scratch."""
    kh, kw, c, _ = kernel.shape
    oh, ow = output_hw(x, kernel, strides)
    rows = oh * ow
    buffer = scratch.mine("cols", (tasks.chunk * rows, kh * kw * c), x.dtype)
    for first, stop in tasks.chunks(t, x.shape[0]):
        cols = buffer[:(stop - first) * rows]
        kernels.im2col_serial(x[first:stop], kh, kw, *strides, cols)
        yield first, stop, cols


def forward_per_core(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                     strides: tuple[int, int], relu: bool, tasks: Tasks, scratch: Scratch,
                     out: np.ndarray) -> None:
    """``out = cols @ K``, then ``max(out + b, 0)`` in each chunk when ``relu`` (and a bias)."""
    rows = int(np.prod(output_hw(x, kernel, strides)))
    flat = kernel.reshape(-1, kernel.shape[3])
    fused = relu and bias is not None

    def task(t: int) -> None:
        for first, stop, cols in _task_chunks(x, kernel, strides, tasks, t, scratch):
            z = out[first * rows:stop * rows]
            np.matmul(cols, flat, out=z)
            if fused:
                kernels.bias_relu_serial(z, bias)

    tasks.run(task, x.shape[0])


def backward_per_core(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int],
                      upstream: Upstream, want_dx: bool, tasks: Tasks,
                      scratch: Scratch) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(dK, dL/db, dx)``: dK (KH, KW, C, F); dL/db summed in the tasks for the ReLU forms of
    ``upstream`` (else None); dx (N, H, W, C) of the padded input, or None without ``want_dx``."""
    kh, kw, c, f = kernel.shape
    n = x.shape[0]
    out_hw = output_hw(x, kernel, strides)
    count = tasks.count(n)
    kernel_t = np.ascontiguousarray(kernel.reshape(-1, f).T)
    dx = np.empty(x.shape, dtype=x.dtype) if want_dx else None
    dk_shares = np.empty((count, kh * kw * c, f), dtype=x.dtype)
    db_shares = np.zeros((count, f), dtype=x.dtype)

    def task(t: int) -> None:
        dk = dk_shares[t]
        dk[...] = 0
        for first, stop, cols in _task_chunks(x, kernel, strides, tasks, t, scratch):
            dz = upstream.chunk(first, stop, out_hw, scratch, db_shares[t])
            dk += cols.T @ dz                                         # dK = cols.T @ dZ
            if dx is not None:
                dcols = np.matmul(dz, kernel_t, out=cols)             # dcols = dZ @ K.T
                kernels.col2im_serial(dcols, kh, kw, *strides, dx[first:stop])

    tasks.run(task, n)
    db = db_shares.sum(axis=0) if upstream.sums_bias else None
    return dk_shares.sum(axis=0).reshape(kernel.shape), db, dx


def _blocks(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], block: int,
            scratch: Scratch) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, cols)``: the im2col matrix of samples ``start:stop``, ``block``
    samples at a time, in one reused array."""
    kh, kw, c, _ = kernel.shape
    rows = int(np.prod(output_hw(x, kernel, strides)))
    for start in range(0, x.shape[0], block):
        stop = min(start + block, x.shape[0])
        cols = scratch.get("cols", ((stop - start) * rows, kh * kw * c), x.dtype)
        yield start, stop, kernels.im2col(x[start:stop], kh, kw, *strides, out=cols)


def forward_blocks(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], block: int,
                   scratch: Scratch, out: np.ndarray) -> None:
    """``out = cols @ K`` (no bias), ``block`` samples at a time."""
    rows = int(np.prod(output_hw(x, kernel, strides)))
    flat = kernel.reshape(-1, kernel.shape[3])
    for start, stop, cols in _blocks(x, kernel, strides, block, scratch):
        np.matmul(cols, flat, out=out[start * rows:stop * rows])


def backward_blocks(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], dz: np.ndarray,
                    want_dx: bool, block: int,
                    scratch: Scratch) -> tuple[np.ndarray, np.ndarray | None]:
    """``(dK, dx)`` from dL/dz, ``block`` samples at a time (dx None without ``want_dx``)."""
    kh, kw, c, f = kernel.shape
    rows = int(np.prod(output_hw(x, kernel, strides)))
    kernel_t = np.ascontiguousarray(kernel.reshape(-1, f).T)
    dx = np.empty(x.shape, dtype=x.dtype) if want_dx else None
    dk = np.zeros((kh * kw * c, f), dtype=x.dtype)
    for start, stop, cols in _blocks(x, kernel, strides, block, scratch):
        dz_block = dz[start * rows:stop * rows]
        dk += cols.T @ dz_block                                       # dK = cols.T @ dZ
        if dx is not None:
            dcols = np.matmul(dz_block, kernel_t, out=cols)           # dcols = dZ @ K.T
            kernels.col2im(dcols, (stop - start,) + x.shape[1:], kh, kw, *strides,
                           out=dx[start:stop])
    return dk.reshape(kernel.shape), dx


def infer(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, strides: tuple[int, int],
          relu: bool, scratch: Scratch, out: np.ndarray) -> None:
    """``out = cols @ K + b`` (then ReLU) for a few samples on the calling thread alone."""
    kh, kw, c, f = kernel.shape
    cols = scratch.mine("cols", (out.shape[0], kh * kw * c), x.dtype)
    kernels.im2col_serial(x, kh, kw, *strides, cols)
    np.matmul(cols, kernel.reshape(-1, f), out=out)
    if relu:
        kernels.bias_relu_serial(out, bias)
    else:
        out += bias
