"""Conv2D's passes for 3x3 stride-1 kernels by Winograd's F(4x4, 3x3), as per-core tasks.

The math is in :mod:`convnet.kernels.winograd` (read it first): transform 6x6 input tiles and the
kernel, 36 matrix products, transform back. It computes the same numbers as im2col + GEMM (up to
rounding) with 4 times fewer multiplications, for all three products of a training step:

* forward ``z = x * K``: input tiles ``V`` (36, tiles, C) times the transformed kernel
  (36, C, F), then the output transform, with bias and ReLU folded into it;
* dL/dK: ``V[e].T @ W[e]``, W the transformed 4x4 tiles of dL/dz, summed over samples and turned
  back into a 3x3 kernel once at the end;
* dL/dx: dL/dz's own 6x6 tiles (padded by 2) times the transformed 180-degree-turned kernel.

The tasks are cut as in :mod:`.conv_per_core` (``layer.TASK`` samples, ``layer.CHUNK`` at a time
in this thread's buffers, a single-threaded BLAS), and the sums over samples are kept per task and
added in task order, so 1 and 2 threads give the same bits.

The 36 products have only C or F as their inner size, which BLAS runs at 70-95 GFLOPS per core
against about 120 for im2col's KH*KW*C, and the transforms read and write memory too, so the
gain is less than 4x. Measured on the tutorial's conv2, 128 images on 2 cores, forward +
backward: 33-35 ms against 45-50 ms for im2col on the same tasks
(``benchmarks/bench_paths.py``).
"""

from __future__ import annotations

import numpy as np

from convnet import threads
from convnet.kernels import winograd, winograd_jit
from convnet.layers.conv_per_core import chunks, dz_chunk, task_count


def _input_tiles(layer, x: np.ndarray, pad: int, th: int, tw: int, name: str) -> np.ndarray:
    """The transformed 6x6 tiles of ``x`` (a few samples), in this thread's buffer ``name``."""
    v = layer._thread_buffer(name, (winograd.CELLS, x.shape[0] * th * tw, x.shape[3]))
    winograd_jit.input_transform_serial(x, pad, th, tw, v)
    return v


def convolve(layer, x: np.ndarray, u: np.ndarray, bias: np.ndarray, relu: bool,
             y: np.ndarray) -> None:
    """``y = x * K + bias`` (then ReLU if ``relu``) for a few samples on this thread:
    ``x`` (n, H, W, C) padded, ``u`` the transformed kernel, ``y`` (n, H-2, W-2, F)."""
    th, tw = winograd.tile_grid(y.shape[1], y.shape[2])
    v = _input_tiles(layer, x, 0, th, tw, "tiles")
    m = layer._thread_buffer("products", (winograd.CELLS, v.shape[1], y.shape[3]))
    np.matmul(v, u, out=m)
    winograd_jit.output_transform_serial(m, bias, relu, th, tw, y)


def forward(layer, z: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """The layer's output ``f(x * K + b)`` into ``z`` (N*OH*OW, F); returns it (the same array,
    kept as ``layer._y``)."""
    x = layer._x_padded
    n, oh, ow = x.shape[0], *layer._output_hw()
    u = layer._winograd_kernel()                                     # (36, C, F)
    fused = bias is not None and layer.activation == "relu"
    add = bias if fused else layer._zero_bias()
    y = z.reshape(n, oh, ow, layer.filters)

    def task(t):
        for first, stop in chunks(layer, t, n):
            convolve(layer, x[first:stop], u, add, fused, y[first:stop])

    threads.run_tasks(task, task_count(layer, n))
    if not fused:
        return layer._bias_and_activate(z, bias)
    layer._y = z
    return z


def backward(layer, dz: np.ndarray | None, relu_mask: bool, db: np.ndarray | None = None,
             pooled=None) -> np.ndarray | None:
    """Parameter gradients (into ``layer.grads``) and dL/dx (None for a first layer) from dL/dz
    (N*OH*OW, F) -- or, with ``relu_mask``, from dL/dy of a layer with bias and ReLU (or from
    the max-pooling layer above it, ``pooled``), turned into dL/dz (and dL/db) chunk by chunk
    by :func:`.conv_per_core.dz_chunk`, as in :func:`.conv_per_core.backward`."""
    x, filters = layer._x_padded, layer.filters
    n, h, w, c = x.shape
    oh, ow = layer._output_hw()
    tasks = task_count(layer, n)
    th, tw = winograd.tile_grid(oh, ow)
    dth, dtw = winograd.tile_grid(h, w)                               # dL/dx's tiles
    want_dx = layer._want_input_gradient
    u_back = winograd.kernel_transform(winograd.flipped_kernel(layer.params["kernel"]))
    no_bias = np.zeros(c, dtype=layer.dtype)
    dx = np.empty(x.shape, dtype=layer.dtype) if want_dx else None
    m_shares = np.empty((tasks, winograd.CELLS, c, filters), dtype=layer.dtype)
    db_shares = np.zeros((tasks, filters), dtype=layer.dtype)

    def task(t):
        m_dk = m_shares[t]
        m_dk[...] = 0
        for first, stop in chunks(layer, t, n):
            dz_tiles = dz_chunk(layer, dz, relu_mask, pooled, first, stop, db_shares[t])
            dz_tiles = dz_tiles.reshape(stop - first, oh, ow, filters)
            v = _input_tiles(layer, x[first:stop], 0, th, tw, "tiles")   # as in forward
            wz = layer._thread_buffer("dz tiles", (winograd.CELLS, v.shape[1], filters))
            winograd_jit.gradient_transform_serial(dz_tiles, th, tw, wz)
            m_dk += v.transpose(0, 2, 1) @ wz                         # (36, C, F)
            if want_dx:            # the correlation of dL/dz, padded by 2, with the turned kernel
                vd = _input_tiles(layer, dz_tiles, 2, dth, dtw, "dz tiles padded")
                md = layer._thread_buffer("products", (winograd.CELLS, vd.shape[1], c))
                np.matmul(vd, u_back, out=md)
                winograd_jit.output_transform_serial(md, no_bias, False, dth, dtw,
                                                     dx[first:stop])

    threads.run_tasks(task, tasks)
    layer.grads["kernel"][...] = winograd.kernel_from_products(m_shares.sum(axis=0))
    if relu_mask:
        db = db_shares.sum(axis=0)
    layer._set_bias_grad(dz, db)
    return layer._input_gradient(dx) if want_dx else None
