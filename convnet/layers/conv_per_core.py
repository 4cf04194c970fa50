"""Conv2D's training passes as tasks on one worker thread per core (:mod:`convnet.threads`).

The same products as ``Conv2D._forward`` and ``Conv2D._backward_linear`` (read those for the
math), arranged for the cache: each task takes ``layer.TASK`` samples, and unfolds, multiplies
and applies bias and ReLU ``layer.CHUNK`` samples at a time with serial kernels and a
single-threaded BLAS, so each small im2col matrix (8 samples of the tutorial's conv2: 5 MB) is
used while it is still in that core's cache, and the cores never wait for each other between
steps. The backward pass unfolds each chunk again, as the whole-batch path does.

Sums over samples (dL/dK, dL/db) are kept per task and added in task order at the end: tasks are
cut the same way whatever the number of threads, so 1 and 2 threads give the same bits.

Measured on the tutorial's conv2, forward + backward for 128 images (2 cores): 52.8-55.6 ms on
the whole-batch path, 46.6-48.4 ms as per-core tasks (``benchmarks/README.md``). That layer
(3x3, stride 1, 32 channels in) now takes :mod:`.conv_winograd` instead, which cuts the tasks the
same way and shares :func:`chunks`, :func:`dz_chunk` and :func:`task_count` with this
module.
"""

from __future__ import annotations

import numpy as np

from convnet import kernels, threads


def task_count(layer, n: int) -> int:
    return -(-n // layer.TASK)


def chunks(layer, t: int, n: int):
    """Yield ``(first, stop)``: task ``t``'s samples (of ``n``), CHUNK at a time."""
    end = min(n, (t + 1) * layer.TASK)
    for first in range(t * layer.TASK, end, layer.CHUNK):
        yield first, min(first + layer.CHUNK, end)


def task_chunks(layer, t: int, n: int):
    """Yield ``(first, stop, cols)`` for task ``t``: the im2col matrix of samples
    ``first:stop`` of the layer's padded input, CHUNK samples at a time, in the calling thread's
    own buffer."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    x, rows = layer._x_padded, layer._rows_per_sample()
    depth = kh * kw * x.shape[3]
    buffer = layer._thread_buffer("cols", (layer.CHUNK * rows, depth))
    for first, stop in chunks(layer, t, n):
        cols = buffer[:(stop - first) * rows]
        kernels.im2col_serial(x[first:stop], kh, kw, sh, sw, cols)
        yield first, stop, cols


def forward(layer, z: np.ndarray, kernel: np.ndarray, bias) -> np.ndarray:
    """``z = cols @ K``, then ``f(z + b)`` (fused in each chunk for bias + ReLU), into ``z``
    (N*OH*OW, F); returns the layer's output ``y`` (the same array, kept as ``layer._y``)."""
    rows, n = layer._rows_per_sample(), layer._x_padded.shape[0]
    fused = bias is not None and layer.activation == "relu"

    def task(t):
        for first, stop, cols in task_chunks(layer, t, n):
            z_chunk = z[first * rows:stop * rows]
            np.matmul(cols, kernel, out=z_chunk)
            if fused:
                kernels.bias_relu_serial(z_chunk, bias)

    threads.run_tasks(task, task_count(layer, n))
    if not fused:
        return layer._bias_and_activate(z, bias)
    layer._y = z
    return z


def dz_chunk(layer, grad: np.ndarray | None, relu_mask: bool, pooled, first: int, stop: int,
             db_share: np.ndarray) -> np.ndarray:
    """dL/dz of samples ``first:stop``, ``(rows, F)``: without ``relu_mask``, the rows of
    ``grad`` (dL/dz itself). With it, for a layer with bias and ReLU, in this thread's buffer and
    with its rows' sum added into ``db_share``: ``dz = dy * (y > 0)`` from ``grad`` = dL/dy
    (N*OH*OW, F); or, with ``pooled = (dy, argmax)`` of the max-pooling layer above, the pool's
    winners get its dL/dy first (:meth:`Conv2D.backward_fused`)."""
    rows, filters = layer._rows_per_sample(), layer.filters
    r = slice(first * rows, stop * rows)
    if not relu_mask:
        return grad[r]
    dz = layer._thread_buffer("dz", ((stop - first) * rows, filters))
    if pooled is None:
        kernels.relu_bias_backward_serial(grad[r], layer._y[r], dz, db_share)
    else:
        pool_dy, argmax = pooled
        shape = (stop - first, *layer._output_hw(), filters)
        kernels.unpool_relu_bias_backward_serial(pool_dy[first:stop], argmax[first:stop],
                                                 layer._y[r].reshape(shape),
                                                 dz.reshape(shape), db_share)
    return dz


def backward(layer, dz: np.ndarray | None, relu_mask: bool, db: np.ndarray | None = None,
             pooled=None) -> np.ndarray | None:
    """Parameter gradients (written into ``layer.grads``) and dL/dx (None for a first layer)
    from dL/dz (N*OH*OW, F) and, when already summed, dL/db.

    With ``relu_mask`` the argument is dL/dy of a layer with bias and ReLU (or, with
    ``pooled``, the max-pooling layer's, see :func:`dz_chunk`): each chunk first becomes
    dL/dz, with its rows' sum for dL/db, in this thread's buffer, so the whole-batch dL/dz is
    never written to memory.
    """
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    x, filters = layer._x_padded, layer.filters
    n = x.shape[0]
    depth, tasks = kh * kw * x.shape[3], task_count(layer, n)
    want_dx = layer._want_input_gradient
    kernel_t = np.ascontiguousarray(layer.params["kernel"].reshape(-1, filters).T)
    dx = np.empty(x.shape, dtype=layer.dtype) if want_dx else None
    dk_shares = np.empty((tasks, depth, filters), dtype=layer.dtype)
    db_shares = np.zeros((tasks, filters), dtype=layer.dtype)

    def task(t):
        dk = dk_shares[t]
        dk[...] = 0
        for first, stop, cols in task_chunks(layer, t, n):
            dz_rows = dz_chunk(layer, dz, relu_mask, pooled, first, stop, db_shares[t])
            dk += cols.T @ dz_rows                                    # dK = cols.T @ dZ
            if want_dx:
                dcols = np.matmul(dz_rows, kernel_t, out=cols)        # dcols = dZ @ K.T
                kernels.col2im_serial(dcols, kh, kw, sh, sw, dx[first:stop])

    threads.run_tasks(task, tasks)
    layer.grads["kernel"][...] = dk_shares.sum(axis=0).reshape(layer.params["kernel"].shape)
    if relu_mask:
        db = db_shares.sum(axis=0)
    layer._set_bias_grad(dz, db)
    return layer._input_gradient(dx) if want_dx else None
