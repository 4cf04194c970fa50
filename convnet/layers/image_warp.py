"""Warping images by an affine map, and the adjoint of that warp (for backward): what
RandomTranslation, RandomRotation and RandomZoom share.

Keras's convention (``keras.ops.image.affine_transform``): a transform ``[a0, a1, a2, b0, b1,
b2]`` sends the output pixel at column ``c``, row ``r`` to the input point::

    column  u = a0 * c + a1 * r + a2
    row     v = b0 * c + b1 * r + b2

and the output pixel takes the input's value there: the nearest pixel (``round``, half to even)
or the bilinear mix of the four around it. A neighbour outside the image is replaced according
to ``fill_mode`` (as Keras's ``map_coordinates``; ``abcd`` is one row of the image)::

    reflect   (d c b a | a b c d | d c b a)     the edge pixel repeated, then backwards
    wrap      (a b c d | a b c d | a b c d)
    nearest   (a a a a | a b c d | d d d d)
    constant  (k k k k | a b c d | k k k k)     k = fill_value

So every output pixel is a fixed weighted sum of input pixels (plus ``fill_value`` times the
weight of the outside neighbours, a constant): the warp is linear in ``x``, ``y = A x + k``,
and its backward pass is the adjoint ``dx = A^T dy``: every tap's weight times dy is *added*
to the input pixel it read (``np.add.at``; two output pixels may read the same input pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("nearest", "bilinear")


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """Keras's triangular wave: ``... 2 1 0 1 2 ... size-1 size-2 ...``."""
    s = size - 1
    if s == 0:
        return np.zeros_like(index)
    return np.abs((index + s) % (2 * s) - s)


def fix_index(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    """Where an integer index (possibly outside ``[0, size)``) reads, by ``fill_mode``."""
    if fill_mode == "reflect":
        return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2
    if fill_mode == "wrap":
        return index % size
    return np.clip(index, 0, size - 1)        # nearest; constant (outside reads are masked)


@dataclass
class Taps:
    """For every output pixel, the input pixels it reads: per tap, the sample ``n``, row and
    column index (each ``(N, OH, OW)``) and the weight (zero where ``constant`` fill replaced
    the pixel), plus ``outside``: the summed weight of replaced neighbours (times fill_value)."""

    n: np.ndarray
    taps: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    outside: np.ndarray


def taps_for(transforms: np.ndarray, out_hw: tuple[int, int], in_hw: tuple[int, int],
             interpolation: str, fill_mode: str) -> Taps:
    """The taps of ``transforms`` (N, 6), one affine map per sample (module docstring)."""
    oh, ow = out_hw
    h, w = in_hw
    r, c = np.meshgrid(np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64),
                       indexing="ij")
    t = transforms[:, :, None, None]
    u = t[:, 0] * c + t[:, 1] * r + t[:, 2]                 # input column, (N, OH, OW)
    v = t[:, 3] * c + t[:, 4] * r + t[:, 5]                 # input row
    if interpolation == "nearest":
        rows = [(np.round(v).astype(np.int64), np.ones_like(v))]
        cols = [(np.round(u).astype(np.int64), np.ones_like(u))]
    else:
        v0, u0 = np.floor(v), np.floor(u)
        rows = [(v0.astype(np.int64), 1 - (v - v0)), (v0.astype(np.int64) + 1, v - v0)]
        cols = [(u0.astype(np.int64), 1 - (u - u0)), (u0.astype(np.int64) + 1, u - u0)]
    taps, outside = [], np.zeros_like(u)
    for ri, rw in rows:
        for ci, cw in cols:
            weight = rw * cw
            if fill_mode == "constant":
                inside = (ri >= 0) & (ri < h) & (ci >= 0) & (ci < w)
                outside += np.where(inside, 0.0, weight)
                weight = np.where(inside, weight, 0.0)
            taps.append((fix_index(ri, h, fill_mode), fix_index(ci, w, fill_mode), weight))
    n = np.broadcast_to(np.arange(len(transforms))[:, None, None], u.shape)
    return Taps(n, taps, outside)


def warp(x: np.ndarray, transforms: np.ndarray, interpolation: str, fill_mode: str,
         fill_value: float = 0.0) -> np.ndarray:
    """``y = A x + k``: each output pixel the weighted sum of the input pixels it reads
    (``x`` channels-last ``(N, H, W, C)``, ``transforms`` ``(N, 6)``; same-size output)."""
    h, w = x.shape[1:3]
    taps = taps_for(transforms, (h, w), (h, w), interpolation, fill_mode)
    y = np.zeros(taps.n.shape + (x.shape[3],), dtype=x.dtype)
    for ri, ci, weight in taps.taps:
        y += weight[..., None].astype(x.dtype) * x[taps.n, ri, ci]
    if fill_value:
        y += (fill_value * taps.outside[..., None]).astype(x.dtype)
    return y


def warp_adjoint(dy: np.ndarray, transforms: np.ndarray, interpolation: str,
                 fill_mode: str) -> np.ndarray:
    """``dx = A^T dy``: every tap's weight times dL/dy added to the pixel it read (``add.at``,
    since several output pixels may read the same input pixel)."""
    h, w = dy.shape[1:3]
    taps = taps_for(transforms, (h, w), (h, w), interpolation, fill_mode)
    dx = np.zeros_like(dy)
    for ri, ci, weight in taps.taps:
        np.add.at(dx, (taps.n, ri, ci), weight[..., None].astype(dy.dtype) * dy)
    return dx
