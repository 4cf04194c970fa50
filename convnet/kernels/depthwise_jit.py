"""numba kernels of the depthwise convolution (DepthwiseConv2D, SeparableConv2D's first step).

The readable definition is the einsum code of :mod:`convnet.layers.depthwise` (per-channel
windows from im2col, then one einsum per product); this is the same math as direct loops, with
no window matrix::

    z[n, i, j, c*M + m]   = sum_{a, b} x[n, i*s + a, j*s + b, c] * K[a, b, c, m]
    dK[a, b, c, m]        = sum_{n, i, j} x[n, i*s + a, j*s + b, c] * dz[n, i, j, c*M + m]
    dx[n, i*s + a, j*s + b, c] += sum_m dz[n, i, j, c*M + m] * K[a, b, c, m]

Each output pixel costs ``KH*KW*C*M`` multiply-adds, too few per byte for a matrix product
(the einsum's ``KH*KW``-deep sums leave NumPy and BLAS little to do); what matters is reading
``x`` once, contiguously. So the innermost loop runs over the channels ``c``, contiguous in
``x``, in the kernel (kept here as ``(KH, KW, M, C)``) and in a per-pixel accumulator
``(M, C)``, and compiles to vector instructions; output channel ``c*M + m`` is written once per
pixel from it.

Parallel as the kernels of :mod:`convnet.kernels.jit`: serial loops over a range of samples (or
of fixed blocks of samples), cut into pieces on convnet's worker threads. Samples write only to
their own ``z`` and ``dx``; dK is summed per block of samples (a fixed number of blocks, whatever
the thread count) and the blocks' partial kernels added in block order, so 1 and 2 threads give
the same bits. float32 and float64 only (numba computes no float16: the layer keeps the einsum
code for it). With ``NUMBA_DISABLE_JIT=1`` the loops run as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from convnet.kernels.jit import spread  # (importing jit also sets numba's cache folder up)

GRAD_BLOCKS = 16   # dK's partial sums: fixed, so the summation order never depends on threads


@njit(cache=True, nogil=True)
def _forward(x, kt, sh, sw, z, first, stop):
    """``z[s]`` for samples ``first:stop``: x (N, H, W, C) padded, kt (KH, KW, M, C),
    z (N, OH, OW, C*M)."""
    c = x.shape[3]
    kh, kw, m, _ = kt.shape
    oh, ow = z.shape[1], z.shape[2]
    acc = np.empty((m, c), dtype=z.dtype)
    for s in range(first, stop):
        for i in range(oh):
            for j in range(ow):
                acc[:] = 0
                for a in range(kh):
                    r = i * sh + a
                    for b in range(kw):
                        q = j * sw + b
                        for k in range(m):
                            for ch in range(c):  # innermost: contiguous in x, K and acc
                                acc[k, ch] += x[s, r, q, ch] * kt[a, b, k, ch]
                for k in range(m):
                    for ch in range(c):
                        z[s, i, j, ch * m + k] = acc[k, ch]       # Keras's channel order


@njit(cache=True, nogil=True)
def _backward(x, kt, dz, sh, sw, want_dx, partial, dx, first, stop):
    """Blocks ``first:stop`` of samples: each block's dK into ``partial[block]``
    (KH, KW, M, C), and each sample's dx (the padded input's shape, cleared here) when
    ``want_dx``."""
    n, _, _, c = x.shape
    kh, kw, m, _ = kt.shape
    oh, ow = dz.shape[1], dz.shape[2]
    step = (n + partial.shape[0] - 1) // partial.shape[0]
    g = np.empty((m, c), dtype=dz.dtype)
    for blk in range(first, stop):
        part = partial[blk]
        part[:] = 0
        for s in range(blk * step, min(n, (blk + 1) * step)):
            if want_dx:
                dx[s] = 0                # each block clears its own samples
            for i in range(oh):
                for j in range(ow):
                    for ch in range(c):                   # (C*M,) -> (M, C): channels inner
                        for k in range(m):
                            g[k, ch] = dz[s, i, j, ch * m + k]
                    for a in range(kh):
                        r = i * sh + a
                        for b in range(kw):
                            q = j * sw + b
                            for k in range(m):
                                for ch in range(c):
                                    part[a, b, k, ch] += x[s, r, q, ch] * g[k, ch]
                    if not want_dx:
                        continue
                    # a loop of its own (not inside the one above): measured 17 % faster
                    for a in range(kh):
                        r = i * sh + a
                        for b in range(kw):
                            q = j * sw + b
                            for k in range(m):
                                for ch in range(c):
                                    # += : overlapping windows share input cells
                                    dx[s, r, q, ch] += g[k, ch] * kt[a, b, k, ch]


def _checked(x: np.ndarray, kernel: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` C-contiguous and the kernel as ``(KH, KW, M, C)`` in x's dtype; clear errors."""
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: float32 or float64 input expected (numba computes no "
                        f"{x.dtype}; use the einsum code of convnet.layers.depthwise)")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f"{what}: input (N, H, W, C) and kernel (KH, KW, C, M) expected, got "
                         f"{x.shape} and {kernel.shape}")
    if kernel.shape[0] > x.shape[1] or kernel.shape[1] > x.shape[2]:
        raise ValueError(f"{what}: kernel {kernel.shape[:2]} larger than the padded input "
                         f"{x.shape[1:3]}")
    kt = np.ascontiguousarray(kernel.transpose(0, 1, 3, 2), dtype=x.dtype)
    return np.ascontiguousarray(x), kt


def depthwise_forward(x: np.ndarray, kernel: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """``z (N, OH, OW, C*M)`` of the padded channels-last input ``x (N, H, W, C)`` and the
    kernel ``(KH, KW, C, M)`` (no bias): the layer's ``depthwise_forward(depthwise_windows(x),
    kernel)``, without the windows."""
    x, kt = _checked(x, kernel, "depthwise_forward")
    n, h, w, c = x.shape
    kh, kw, m, _ = kt.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    z = np.empty((n, oh, ow, c * m), dtype=x.dtype)
    spread(_forward, n, z.size * kh * kw, x, kt, sh, sw, z)
    return z


def depthwise_backward(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray, sh: int, sw: int,
                       input_gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(dK, dx)`` from dL/dz ``(N, OH, OW, C*M)``: dK in the kernel's shape, dx of the padded
    input's shape (None unless ``input_gradient``); the layer's ``depthwise_backward``."""
    x, kt = _checked(x, kernel, "depthwise_backward")
    n, h, w, c = x.shape
    kh, kw, m, _ = kt.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if dz.shape != (n, oh, ow, c * m):
        raise ValueError(f"depthwise_backward: dL/dz of shape {(n, oh, ow, c * m)} expected for "
                         f"input {x.shape} and kernel {kernel.shape}, got {dz.shape}")
    dz = np.ascontiguousarray(dz, dtype=x.dtype)
    partial = np.empty((GRAD_BLOCKS, kh, kw, m, c), dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else np.empty((1, 1, 1, 1), x.dtype)
    spread(_backward, GRAD_BLOCKS, dz.size * kh * kw * (2 if input_gradient else 1), x, kt, dz,
            sh, sw, bool(input_gradient), partial, dx)
    dk = np.ascontiguousarray(partial.sum(axis=0).transpose(0, 1, 3, 2))   # blocks in order
    return dk, (dx if input_gradient else None)
