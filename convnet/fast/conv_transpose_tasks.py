"""Conv2DTranspose as per-core tasks: the textbook lines of :mod:`convnet.layers.conv_transpose`,
a few samples at a time.

The same products as the layer's NumPy code (read that for the math)::

    cols  = rows @ K^T          full = col2im(cols)           z = crop(full) + b
    dcols = im2col(dfull)       dK   = dcols.T @ rows         dx = dcols @ K

Whole-batch, ``cols`` is ``(N*H*W, KH*KW*F)``: 115 MB at batch 128 for a 28x28x32 input and 32
3x3 filters, written by one GEMM and read back by col2im from memory. Here each task
(:class:`~convnet.fast.tasks.Tasks`) takes its samples ``chunk`` at a time and builds only that
chunk's ``cols`` in its thread's scratch (one 28x28 sample: 0.9 MB, in the core's cache), with a
single-threaded GEMM and the serial col2im/im2col kernels; bias (and ReLU) are added in the
same task. Backward unfolds each chunk's dL/dz the same way; dL/dK and dL/db are summed per task
and the task sums added in task order, so 1 and 2 threads give the same bits. Memory beyond the
inputs and outputs is a chunk's, not the batch's.

All arrays are channels-last: ``x`` the input ``(N, H, W, C)`` (C-contiguous), ``kernel``
``(KH, KW, F, C)`` (Keras's layout, that of the Conv2D it transposes), the output and dL/dz
``(N, OH, OW, F)`` (as rows ``(N*OH*OW, F)`` where said). ``crop`` is ``(top, left)``: where the
output window starts in the full, uncropped result ``(N, (H-1)*sh + KH, (W-1)*sw + KW, F)``;
past the full result's end the output is zero (Keras's output sizes, see
:func:`convnet.layers.conv_transpose.transpose_geometry`).
"""

from __future__ import annotations

import numpy as np

from convnet import kernels, threads
from convnet.fast.scratch import Scratch
from convnet.fast.tasks import Tasks
from convnet.fast.upstream import Upstream


def full_shape(x_shape: tuple, kernel_shape: tuple, strides: tuple[int, int]) -> tuple:
    """``(N, (H-1)*sh + KH, (W-1)*sw + KW, F)``: every stamp, before Keras's crop."""
    n, h, w, _ = x_shape
    kh, kw, f, _ = kernel_shape
    return (n, (h - 1) * strides[0] + kh, (w - 1) * strides[1] + kw, f)


def _window(full_hw: tuple[int, int], out_hw: tuple[int, int],
            crop: tuple[int, int]) -> tuple[slice, slice, slice, slice]:
    """``(full rows, full cols, out rows, out cols)``: the cells the output shares with the full
    result (the rest of the output is zero)."""
    (fh, fw), (oh, ow), (top, left) = full_hw, out_hw, crop
    rows, cols = min(oh, fh - top), min(ow, fw - left)
    return slice(top, top + rows), slice(left, left + cols), slice(0, rows), slice(0, cols)


def _run(tasks: Tasks, task, n: int) -> None:
    """``tasks.run(task, n)``, each chunk's GEMM one core's whatever the thread count
    (:func:`convnet.threads.run_tasks_on_one_blas_thread`)."""
    threads.run_tasks_on_one_blas_thread(task, tasks.count(n))


def _direct(full_hw: tuple[int, int], out_hw: tuple[int, int], crop: tuple[int, int]) -> bool:
    """Whether the output is the full result itself (no crop, no zeros): col2im can write it
    and im2col read dL/dz where they are ('valid' with strides up to the kernel size)."""
    return tuple(crop) == (0, 0) and tuple(full_hw) == tuple(out_hw)


def forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
            strides: tuple[int, int], out_hw: tuple[int, int], crop: tuple[int, int],
            relu: bool, tasks: Tasks, scratch: Scratch) -> np.ndarray:
    """``z = crop(col2im(rows @ K^T)) + b`` ``(N, OH, OW, F)``; ``max(z, 0)`` as well when
    ``relu`` (and a bias: the layer's fused bias + ReLU)."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    shape = full_shape(x.shape, kernel.shape, strides)
    direct = _direct(shape[1:3], out_hw, crop)
    full_rows, full_cols, out_rows, out_cols = _window(shape[1:3], out_hw, crop)
    kernel_t = np.ascontiguousarray(kernel.reshape(-1, c).T)           # K^T (C, KH*KW*F)
    rows = x.reshape(-1, c)                                            # (N*H*W, C)
    out = np.empty((n, *out_hw, f), dtype=x.dtype)
    if bias is not None:
        bias = bias.astype(x.dtype, copy=False)
    fused = relu and bias is not None

    def task(t: int) -> None:
        for first, stop in tasks.chunks(t, n):
            cols = scratch.mine("cols", ((stop - first) * h * w, kh * kw * f), x.dtype)
            np.matmul(rows[first * h * w:stop * h * w], kernel_t, out=cols)   # rows @ K^T
            z = out[first:stop]
            if direct:
                kernels.col2im_serial(cols, kh, kw, *strides, z)          # stamps add up
            else:
                full = scratch.mine("full", (stop - first, *shape[1:]), x.dtype)
                kernels.col2im_serial(cols, kh, kw, *strides, full)
                z[...] = 0                                                # zero-extended cells
                z[:, out_rows, out_cols] = full[:, full_rows, full_cols]  # Keras's crop
            z_rows = z.reshape(-1, f)
            if fused:
                kernels.bias_relu_serial(z_rows, bias)
            elif bias is not None:
                z_rows += bias

    _run(tasks, task, n)
    return out


def backward(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int],
             out_hw: tuple[int, int], crop: tuple[int, int], upstream: Upstream,
             want_db: bool, want_dx: bool, tasks: Tasks,
             scratch: Scratch) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(dK, dL/db, dx)`` from dL/dz (``upstream``: rows ``(N*OH*OW, F)``, or dL/dy and y of a
    layer ending in bias + ReLU, masked in the tasks): dK ``(KH, KW, F, C)``; dL/db (dL/dz
    summed over every pixel, in the tasks) with ``want_db`` or for the ReLU form, else None; dx
    ``(N, H, W, C)``, or None without ``want_dx``."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    shape = full_shape(x.shape, kernel.shape, strides)
    direct = _direct(shape[1:3], out_hw, crop)
    full_rows, full_cols, out_rows, out_cols = _window(shape[1:3], out_hw, crop)
    flat = kernel.reshape(-1, c)                                       # K (KH*KW*F, C)
    rows = x.reshape(-1, c)
    count = tasks.count(n)
    sum_db = want_db and not upstream.sums_bias           # the ReLU form sums dL/db itself
    dk_shares = np.empty((count, kh * kw * f, c), dtype=x.dtype)
    db_shares = np.zeros((count, f), dtype=x.dtype)
    dx = np.empty((n * h * w, c), dtype=x.dtype) if want_dx else None

    def task(t: int) -> None:
        dk = dk_shares[t]
        dk[...] = 0
        for first, stop in tasks.chunks(t, n):
            dz = upstream.chunk(first, stop, out_hw, scratch, db_shares[t])
            if sum_db:
                db_shares[t] += dz.sum(axis=0)
            dz = dz.reshape(stop - first, *out_hw, f)
            if direct:
                dfull = dz
            else:                                  # cropped cells get no gradient
                dfull = scratch.mine("dfull", (stop - first, *shape[1:]), x.dtype)
                dfull[...] = 0
                dfull[:, full_rows, full_cols] = dz[:, out_rows, out_cols]
            dcols = scratch.mine("cols", ((stop - first) * h * w, kh * kw * f), x.dtype)
            kernels.im2col_serial(dfull, kh, kw, *strides, dcols)     # a Conv2D's unfolding
            r = slice(first * h * w, stop * h * w)
            dk += dcols.T @ rows[r]                                   # dK = dcols.T @ rows
            if dx is not None:
                np.matmul(dcols, flat, out=dx[r])                     # dx = dcols @ K

    _run(tasks, task, n)
    db = db_shares.sum(axis=0) if want_db or upstream.sums_bias else None
    return (dk_shares.sum(axis=0).reshape(kernel.shape), db,
            None if dx is None else dx.reshape(n, h, w, c))
