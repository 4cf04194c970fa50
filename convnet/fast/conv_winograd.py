"""Conv2D for 3x3 stride-1 kernels by Winograd's F(4x4, 3x3), as per-core tasks.

The math is in :mod:`convnet.kernels.winograd` (read it first): transform 6x6 input tiles and the
kernel, 36 matrix products, transform back. It computes the same numbers as im2col + GEMM (up to
rounding) with 4 times fewer multiplications, for all three products of a training step:

* forward ``z = x * K``: input tiles ``V`` (36, tiles, C) times the transformed kernel
  (36, C, F), then the output transform, with bias and ReLU folded into it;
* dL/dK: ``V[e].T @ W[e]``, W the transformed 4x4 tiles of dL/dz, summed over samples and turned
  back into a 3x3 kernel once at the end;
* dL/dx: dL/dz's own 6x6 tiles (padded by 2) times the transformed 180-degree-turned kernel.

Tasks are cut as in :mod:`.conv_im2col`, and sums over samples are kept per task and added in
task order, so 1 and 2 threads give the same bits. Arrays are channels-last; ``x`` is the padded
input (N, H, W, C).
"""

from __future__ import annotations

import numpy as np

from convnet.fast.scratch import Scratch
from convnet.fast.tasks import Tasks
from convnet.fast.upstream import Upstream
from convnet.kernels import winograd, winograd_jit


def _input_tiles(x: np.ndarray, pad: int, th: int, tw: int, scratch: Scratch,
                 name: str) -> np.ndarray:
    """The transformed 6x6 tiles of ``x`` (a few samples), in this thread's scratch."""
    v = scratch.mine(name, (winograd.CELLS, x.shape[0] * th * tw, x.shape[3]), x.dtype)
    winograd_jit.input_transform_serial(x, pad, th, tw, v)
    return v


def convolve(x: np.ndarray, u: np.ndarray, bias: np.ndarray, relu: bool, y: np.ndarray,
             scratch: Scratch, tiles: np.ndarray | None = None) -> None:
    """``y = x * K + bias`` (then ReLU if ``relu``) for a few samples on this thread:
    ``x`` (n, H, W, C) padded, ``u`` the transformed kernel (36, C, F), ``y`` (n, H-2, W-2, F).
    The input tiles go to ``tiles`` (36, n*th*tw, C) when given (kept for the backward pass),
    else to this thread's scratch."""
    th, tw = winograd.tile_grid(y.shape[1], y.shape[2])
    if tiles is None:
        v = _input_tiles(x, 0, th, tw, scratch, "tiles")
    else:
        v = tiles
        winograd_jit.input_transform_serial(x, 0, th, tw, v)
    m = scratch.mine("products", (winograd.CELLS, v.shape[1], y.shape[3]), x.dtype)
    np.matmul(v, u, out=m)
    winograd_jit.output_transform_serial(m, bias, relu, th, tw, y)


def forward_per_core(x: np.ndarray, u: np.ndarray, bias: np.ndarray, relu: bool, tasks: Tasks,
                     scratch: Scratch, out: np.ndarray, keep: dict | None = None) -> None:
    """``out`` (N, H-2, W-2, F) ``= x * K + bias`` (then ReLU), ``u`` the transformed kernel.
    With ``keep`` (training) each chunk's input tiles are kept in it, by the chunk's first
    sample, for :func:`backward_per_core`: its dL/dK needs the same tiles, and reading them
    back costs less than transforming ``x`` again."""
    th, tw = winograd.tile_grid(out.shape[1], out.shape[2])

    def task(t: int) -> None:
        for first, stop in tasks.chunks(t, x.shape[0]):
            tiles = None
            if keep is not None:
                tiles = keep[first] = np.empty(
                    (winograd.CELLS, (stop - first) * th * tw, x.shape[3]), dtype=x.dtype)
            convolve(x[first:stop], u, bias, relu, out[first:stop], scratch, tiles)

    tasks.run(task, x.shape[0])


def backward_per_core(x: np.ndarray, kernel: np.ndarray, upstream: Upstream, want_dx: bool,
                      tasks: Tasks, scratch: Scratch, kept: dict | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(dK, dL/db, dx)`` as :func:`.conv_im2col.backward_per_core` gives them; ``kept``: the
    input tiles the forward pass kept (:func:`forward_per_core`), else they are made again."""
    n, h, w, c = x.shape
    f = kernel.shape[3]
    oh, ow = h - 2, w - 2
    count = tasks.count(n)
    th, tw = winograd.tile_grid(oh, ow)
    dth, dtw = winograd.tile_grid(h, w)                               # dL/dx's tiles
    u_back = winograd.kernel_transform(winograd.flipped_kernel(kernel))
    no_bias = np.zeros(c, dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype) if want_dx else None
    m_shares = np.empty((count, winograd.CELLS, c, f), dtype=x.dtype)
    db_shares = np.zeros((count, f), dtype=x.dtype)

    def task(t: int) -> None:
        m_dk = m_shares[t]
        m_dk[...] = 0
        for first, stop in tasks.chunks(t, n):
            dz = upstream.chunk(first, stop, (oh, ow), scratch, db_shares[t])
            dz = dz.reshape(stop - first, oh, ow, f)
            v = kept[first] if kept is not None else \
                _input_tiles(x[first:stop], 0, th, tw, scratch, "tiles")    # as in forward
            wz = scratch.mine("dz tiles", (winograd.CELLS, v.shape[1], f), x.dtype)
            winograd_jit.gradient_transform_serial(dz, th, tw, wz)
            m_dk += v.transpose(0, 2, 1) @ wz                         # (36, C, F)
            if dx is not None:     # the correlation of dL/dz, padded by 2, with the turned kernel
                vd = _input_tiles(dz, 2, dth, dtw, scratch, "dz tiles padded")
                md = scratch.mine("products", (winograd.CELLS, vd.shape[1], c), x.dtype)
                np.matmul(vd, u_back, out=md)
                winograd_jit.output_transform_serial(md, no_bias, False, dth, dtw,
                                                     dx[first:stop])

    tasks.run(task, n)
    db = db_shares.sum(axis=0) if upstream.sums_bias else None
    return winograd.kernel_from_products(m_shares.sum(axis=0)), db, dx
