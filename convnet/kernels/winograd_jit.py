"""numba twins of :mod:`convnet.kernels.winograd`'s tile transforms, run on the calling thread.

They write into the caller's buffers, for :mod:`convnet.fast.conv_winograd`'s per-core tasks
(which are the parallelism: these loops are serial and release the GIL). The matrix products of
the reference are spelled out as the scalar expressions of :func:`_bt`, :func:`_at` and
:func:`_at_t` (read them beside the matrices ``BT``, ``AT``), applied first along one axis of a
tile and then along the other, with the innermost loop over channels: contiguous in
channels-last images, and vectorised by the compiler.

Each pass over the channels writes (or reads) 6 of the 36 matrices ``v[e]``: they lie a whole
matrix apart in memory, all in the same cache set, and more streams at once than the L1 cache's
associativity thrash it, so the loops touch few of them at a time (the measurement is in
``benchmarks/README.md``, "Why the code is shaped as it is").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from convnet.kernels import jit  # noqa: F401  (sets up numba's cache folder first)

# The matrices' integers as float32: in numba, ``4 * x`` with an integer literal turns a float32
# ``x`` into float64 (NumPy's old promotion rules), which halves the vector width and mixes the
# types of a tile's results. float32 times float64 stays float64, so float64 images are exact too.
ZERO, TWO, FOUR, FIVE, EIGHT = (np.float32(v) for v in (0, 2, 4, 5, 8))


@njit(cache=True, nogil=True, inline="always")
def _bt(d0, d1, d2, d3, d4, d5):
    """``BT @ d`` for 6 numbers."""
    return (FOUR * d0 - FIVE * d2 + d4,
            d3 + d4 - FOUR * (d1 + d2),
            FOUR * (d1 - d2) + d4 - d3,
            TWO * (d3 - d1) + d4 - d2,
            TWO * (d1 - d3) + d4 - d2,
            FOUR * d1 - FIVE * d3 + d5)


@njit(cache=True, nogil=True, inline="always")
def _at(m0, m1, m2, m3, m4, m5):
    """``AT @ m`` for 6 numbers (4 results)."""
    return (m0 + m1 + m2 + m3 + m4,
            m1 - m2 + TWO * (m3 - m4),
            m1 + m2 + FOUR * (m3 + m4),
            m1 - m2 + EIGHT * (m3 - m4) + m5)


@njit(cache=True, nogil=True, inline="always")
def _at_t(g0, g1, g2, g3):
    """``AT.T @ g`` for 4 numbers (6 results)."""
    return (g0,
            g0 + g1 + g2 + g3,
            g0 - g1 + g2 - g3,
            g0 + TWO * g1 + FOUR * g2 + EIGHT * g3,
            g0 - TWO * g1 + FOUR * g2 - EIGHT * g3,
            g3)


@njit(cache=True, nogil=True, inline="always")
def _gather(x, s, y0, x0, size, d):
    """``d[a, b, :] = x[s, y0 + a, x0 + b, :]`` for a 6x6 (or 4x4) tile, zero outside ``x``."""
    h, w = x.shape[1], x.shape[2]
    for a in range(size):
        for b in range(size):
            yy, xx = y0 + a, x0 + b
            if 0 <= yy < h and 0 <= xx < w:
                for k in range(x.shape[3]):
                    d[a, b, k] = x[s, yy, xx, k]
            else:
                for k in range(x.shape[3]):
                    d[a, b, k] = 0


@njit(cache=True, nogil=True)
def input_transform_serial(x, pad, th, tw, v):
    """:func:`~convnet.kernels.winograd.input_transform` of ``x`` (N, H, W, C) into
    ``v`` (36, N*th*tw, C)."""
    n, c = x.shape[0], x.shape[3]
    d = np.empty((6, 6, c), dtype=x.dtype)
    t = 0
    for s in range(n):
        for ty in range(th):
            for tx in range(tw):
                _gather(x, s, 4 * ty - pad, 4 * tx - pad, 6, d)
                for b in range(6):                        # BT @ d, column by column
                    for k in range(c):
                        (d[0, b, k], d[1, b, k], d[2, b, k], d[3, b, k], d[4, b, k],
                         d[5, b, k]) = _bt(d[0, b, k], d[1, b, k], d[2, b, k], d[3, b, k],
                                           d[4, b, k], d[5, b, k])
                for a in range(6):                        # (BT @ d) @ BT.T, row by row
                    e = 6 * a
                    for k in range(c):
                        (v[e, t, k], v[e + 1, t, k], v[e + 2, t, k], v[e + 3, t, k],
                         v[e + 4, t, k], v[e + 5, t, k]) = _bt(d[a, 0, k], d[a, 1, k], d[a, 2, k],
                                                               d[a, 3, k], d[a, 4, k], d[a, 5, k])
                t += 1


@njit(cache=True, nogil=True)
def output_transform_serial(m, bias, relu, th, tw, y):
    """:func:`~convnet.kernels.winograd.output_transform` of ``m`` (36, N*th*tw, F) into
    ``y`` (N, OH, OW, F), adding ``bias`` (F,) and, with ``relu``, applying ReLU on the way."""
    n, oh, ow, f = y.shape
    r = np.empty((6, 4, f), dtype=y.dtype)               # m @ AT.T, row by row
    t = 0
    for s in range(n):
        for ty in range(th):
            for tx in range(tw):
                for a in range(6):
                    e = 6 * a
                    for k in range(f):
                        r[a, 0, k], r[a, 1, k], r[a, 2, k], r[a, 3, k] = _at(
                            m[e, t, k], m[e + 1, t, k], m[e + 2, t, k], m[e + 3, t, k],
                            m[e + 4, t, k], m[e + 5, t, k])
                i0, j0 = 4 * ty, 4 * tx
                rows, cols = min(4, oh - i0), min(4, ow - j0)   # fewer at the far edges
                for j in range(cols):                     # AT @ (m @ AT.T), plus the bias
                    for k in range(f):
                        o0, o1, o2, o3 = _at(r[0, j, k], r[1, j, k], r[2, j, k], r[3, j, k],
                                             r[4, j, k], r[5, j, k])
                        bk = bias[k]
                        if relu:
                            o0, o1 = max(o0 + bk, ZERO), max(o1 + bk, ZERO)
                            o2, o3 = max(o2 + bk, ZERO), max(o3 + bk, ZERO)
                        else:
                            o0, o1, o2, o3 = o0 + bk, o1 + bk, o2 + bk, o3 + bk
                        y[s, i0, j0 + j, k] = o0
                        if rows == 4:
                            y[s, i0 + 1, j0 + j, k] = o1
                            y[s, i0 + 2, j0 + j, k] = o2
                            y[s, i0 + 3, j0 + j, k] = o3
                        else:
                            if rows > 1:
                                y[s, i0 + 1, j0 + j, k] = o1
                            if rows > 2:
                                y[s, i0 + 2, j0 + j, k] = o2
                t += 1


@njit(cache=True, nogil=True)
def gradient_transform_serial(dz, th, tw, wz):
    """:func:`~convnet.kernels.winograd.gradient_transform` of dL/dz (N, OH, OW, F) into
    ``wz`` (36, N*th*tw, F)."""
    n, f = dz.shape[0], dz.shape[3]
    g = np.empty((4, 4, f), dtype=dz.dtype)
    r = np.empty((6, 4, f), dtype=dz.dtype)               # AT.T @ g, column by column
    t = 0
    for s in range(n):
        for ty in range(th):
            for tx in range(tw):
                _gather(dz, s, 4 * ty, 4 * tx, 4, g)
                for b in range(4):
                    for k in range(f):
                        (r[0, b, k], r[1, b, k], r[2, b, k], r[3, b, k], r[4, b, k],
                         r[5, b, k]) = _at_t(g[0, b, k], g[1, b, k], g[2, b, k], g[3, b, k])
                for a in range(6):                        # (AT.T @ g) @ AT, row by row
                    e = 6 * a
                    for k in range(f):
                        (wz[e, t, k], wz[e + 1, t, k], wz[e + 2, t, k], wz[e + 3, t, k],
                         wz[e + 4, t, k], wz[e + 5, t, k]) = _at_t(r[a, 0, k], r[a, 1, k],
                                                                   r[a, 2, k], r[a, 3, k])
                t += 1
