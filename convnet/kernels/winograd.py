"""Winograd's minimal filtering F(4x4, 3x3): a 3x3 convolution with 4x fewer multiplications.

Plain NumPy definitions; :mod:`convnet.kernels.winograd_jit` holds the numba twins.

In one dimension, four outputs of a 3-tap correlation, ``y[i] = sum_a d[i + a] g[a]`` for
``i = 0..3``, take 12 multiplications done directly. Winograd (Lavin & Gray, "Fast Algorithms
for Convolutional Neural Networks", 2015) gets them with 6::

    y = AT @ ((G @ g) * (BT @ d))          d: 6 inputs, g: 3 taps, y: 4 outputs

where ``BT`` and ``AT`` only scale and add (the matrices below), and ``G @ g`` is computed once
per kernel. In two dimensions the same sandwich, applied along both axes, gives a 4x4 output
tile from a 6x6 input tile with 36 multiplications instead of 144::

    Y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T

Over channels, the 36 element-wise products become 36 matrix products: with ``V[e]`` the
transformed input tiles (tiles x C) and ``U[e]`` the transformed kernel (C x F), the tile outputs
are ``AT . (V[e] @ U[e]) . AT.T``. The products hold all the multiplications: 36 * C * F per
16 outputs, against 16 * 9 * C * F for im2col. The transforms only add and scale.

Backward is two more correlations of the same kind, so both run through Winograd too:

* dL/dx is the "full" correlation of dL/dz with the kernel turned 180 degrees (and its channel
  axes swapped): :func:`input_gradient` pads dL/dz by 2 and reuses the same three transforms.
* dL/dK[a, b] sums ``x[i + a, j + b] * dz[i, j]``: a correlation with 3 outputs of a 4-tap
  filter, F(3, 4), whose matrices are those of F(4, 3) transposed (``AT.T`` takes the place of
  ``G``, ``G.T`` of ``AT``). :func:`kernel_gradient` transforms the 6x6 input tiles exactly as
  the forward pass does and 4x4 tiles of dL/dz with ``AT.T``.

Tiles: the output (OH, OW) is covered by ``ceil(OH / 4) x ceil(OW / 4)`` tiles; tile ``(ty, tx)``
reads input rows ``4*ty - pad .. 4*ty - pad + 5``; cells outside the image read as zero.
Transformed tiles are kept as ``(36, tiles, channels)``, tiles in order ``(n, ty, tx)``, so
each of the 36 products is one plain matrix product.

Rounding: the transforms scale by up to 8 and 1/24, so float32 results differ from im2col's by
a few 1e-6 of the largest output (im2col's own rounding is about 2e-7; F(2x2, 3x3) would be
5e-7 but saves only 2.25x). Training does not notice; comparisons with im2col need a tolerance.
"""

from __future__ import annotations

import numpy as np

BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], dtype=np.float64)
TILE, STEP = 6, 4      # input tile side, output tile side
CELLS = TILE * TILE    # 36 products


def tile_grid(oh: int, ow: int) -> tuple[int, int]:
    """Number of 4x4 output tiles covering an ``oh x ow`` output, down and across."""
    return -(-oh // STEP), -(-ow // STEP)


def tiles(x: np.ndarray, pad: int, th: int, tw: int, size: int) -> np.ndarray:
    """``(N, th, tw, size, size, C)``: tile ``(ty, tx)`` holds
    ``x[n, 4*ty - pad + a, 4*tx - pad + b, c]``, zero where that falls outside ``x``."""
    n, h, w, c = x.shape
    rows, cols = STEP * (th - 1) + size, STEP * (tw - 1) + size
    canvas = np.zeros((n, rows + pad, cols + pad, c), dtype=x.dtype)
    hh, ww = min(h, rows - pad), min(w, cols - pad)
    canvas[:, pad:pad + hh, pad:pad + ww] = x[:, :hh, :ww]
    out = np.empty((n, th, tw, size, size, c), dtype=x.dtype)
    for ty in range(th):
        for tx in range(tw):
            out[:, ty, tx] = canvas[:, STEP * ty:STEP * ty + size, STEP * tx:STEP * tx + size]
    return out


def _flat(t: np.ndarray) -> np.ndarray:
    """``(N, th, tw, 6, 6, C)`` -> ``(36, N*th*tw, C)``: one matrix per tile element."""
    n, th, tw, _, _, c = t.shape
    return np.ascontiguousarray(t.reshape(n * th * tw, CELLS, c).transpose(1, 0, 2))


def input_transform(x: np.ndarray, pad: int, th: int, tw: int) -> np.ndarray:
    """``V = BT @ d @ BT.T`` for every 6x6 tile ``d`` of ``x`` (N, H, W, C), per channel;
    shape ``(36, N*th*tw, C)``."""
    d = tiles(x, pad, th, tw, TILE)
    return _flat(np.einsum("ai,ntsijc,bj->ntsabc", BT, d, BT).astype(x.dtype))


def kernel_transform(kernel: np.ndarray) -> np.ndarray:
    """``U = G @ g @ G.T`` for every (in, out) channel pair of a ``(3, 3, C, F)`` kernel;
    shape ``(36, C, F)``."""
    c, f = kernel.shape[2:]
    rows = (G @ kernel.reshape(3, 3 * c * f)).reshape(TILE, 3, c * f)     # G @ g
    u = G @ rows                                     # (G @ g) @ G.T, for each row of G @ g
    return u.reshape(CELLS, c, f).astype(kernel.dtype)


def output_transform(m: np.ndarray, n: int, th: int, tw: int, oh: int, ow: int) -> np.ndarray:
    """``Y = AT @ m @ AT.T`` for every tile of ``m`` (36, N*th*tw, F), assembled into the
    ``(N, oh, ow, F)`` output (tiles past the edge are cut)."""
    f = m.shape[2]
    m = m.transpose(1, 0, 2).reshape(n, th, tw, TILE, TILE, f)
    y = np.einsum("ai,ntsijf,bj->ntasbf", AT, m, AT)        # (n, ty, a, tx, b, f)
    y = y.reshape(n, STEP * th, STEP * tw, f)[:, :oh, :ow]
    return np.ascontiguousarray(y.astype(m.dtype))


def conv2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' stride-1 correlation of ``x`` (N, H, W, C) with a ``(3, 3, C, F)`` kernel:
    ``(N, H-2, W-2, F)``, the same numbers as ``im2col(x) @ kernel`` up to rounding."""
    n, h, w, _ = x.shape
    th, tw = tile_grid(h - 2, w - 2)
    m = input_transform(x, 0, th, tw) @ kernel_transform(kernel)
    return output_transform(m, n, th, tw, h - 2, w - 2)


def flipped_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel turned 180 degrees with its channel axes swapped, ``(3, 3, F, C)``: the
    kernel of the correlation that carries dL/dz back to dL/dx."""
    return np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))


def input_gradient(dz: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """dL/dx ``(N, OH+2, OW+2, C)`` of :func:`conv2d` from dL/dz ``(N, OH, OW, F)``: the
    correlation of dL/dz, padded by 2, with :func:`flipped_kernel`."""
    n, oh, ow, _ = dz.shape
    h, w = oh + 2, ow + 2
    th, tw = tile_grid(h, w)
    m = input_transform(dz, 2, th, tw) @ kernel_transform(flipped_kernel(kernel))
    return output_transform(m, n, th, tw, h, w)


def gradient_transform(dz: np.ndarray, th: int, tw: int) -> np.ndarray:
    """``AT.T @ g @ AT`` for every 4x4 tile ``g`` of dL/dz (N, OH, OW, F) (F(3, 4)'s ``G``);
    shape ``(36, N*th*tw, F)``."""
    g = tiles(dz, 0, th, tw, STEP)
    return _flat(np.einsum("ia,ntsijf,jb->ntsabf", AT, g, AT).astype(dz.dtype))


def kernel_gradient(x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """dL/dK ``(3, 3, C, F)`` of :func:`conv2d`: ``G.T @ M @ G`` with
    ``M[e] = V[e].T @ W[e]``, V the forward's input tiles and W dL/dz's 4x4 tiles, both
    transformed; the sum over tiles (and samples) is inside the matrix products."""
    _, oh, ow, _ = dz.shape
    th, tw = tile_grid(oh, ow)
    v, wz = input_transform(x, 0, th, tw), gradient_transform(dz, th, tw)
    return kernel_from_products(np.einsum("etc,etf->ecf", v, wz))


def kernel_from_products(m: np.ndarray) -> np.ndarray:
    """``G.T @ M @ G``: the ``(3, 3, C, F)`` kernel gradient from the summed products
    ``M`` (36, C, F) of :func:`kernel_gradient` (F(3, 4)'s output transform)."""
    c, f = m.shape[1:]
    cols = G.T @ m.reshape(TILE, TILE, c * f)            # M @ G, for each row of M
    return (G.T @ cols.reshape(TILE, 3 * c * f)).reshape(3, 3, c, f).astype(m.dtype)
