"""numba kernels of the depthwise convolution (DepthwiseConv2D, SeparableConv2D's first step).

The readable definition is the einsum code of :mod:`convnet.layers.depthwise` (per-channel
windows from im2col, then one einsum per product); this is the same math as direct loops, with
no window matrix::

    z[n, i, j, c*M + m]   = b[c*M + m] + sum_{a, b} x[n, i*s + a, j*s + b, c] * K[a, b, c, m]
    dK[a, b, c, m]        = sum_{n, i, j} x[n, i*s + a, j*s + b, c] * dz[n, i, j, c*M + m]
    db[c*M + m]           = sum_{n, i, j} dz[n, i, j, c*M + m]
    dx[n, i*s + a, j*s + b, c] += sum_m dz[n, i, j, c*M + m] * K[a, b, c, m]

Each output pixel costs ``KH*KW*C*M`` multiply-adds, too few per byte for a matrix product
(the einsum's ``KH*KW``-deep sums leave NumPy and BLAS little to do); what matters is that the
innermost loops are long, contiguous and vectorised. A loop over the ``C`` channels of one pixel
is too short for that (32 channels are one or two trips of an unrolled AVX loop, and the loop's
set-up costs as much as its work), so the loops here run over a whole output row at once,
``t = j*C + ch`` for ``OW*C`` elements: with stride 1, tap ``(a, b)``'s inputs for the row are
the input row ``i + a`` itself from element ``b*C`` on, contiguous, and the kernel is tiled along
the row (``ktile[a, m, b, j*C + ch] = K[a, b, ch, m]``) so that every operand of the inner loop
is one contiguous run::

    zrow[t]     += xrow_a[b*C + t] * ktile[a, m, b, t]      (three taps b a pass: fewer stores)
    dKrow[a,b,t] += xrow_a[b*C + t] * dzrow[t]               (summed over j at the end)
    dxrow_a[b*C + t] += dzrow[t] * ktile[a, m, b, t]         (+= : overlapping windows)

``depth_multiplier`` ``M > 1`` keeps one row per kernel ``m`` and writes output channel
``c*M + m`` (Keras's order) at the end of the row. The bias is where the forward sums start;
dL/db is summed beside dK. Measured against the previous loops (a pixel at a time, channels
innermost) on the benchmark's 3x3 over 28x28x32: about 2x (forward) and 3x (backward) faster.

A width stride ``sw > 1`` breaks the row's runs (tap ``b`` reads every ``sw``-th pixel), and
copying them into runs cost more than the multiply-adds (measured: 2-3x slower than a pixel at a
time); those layers run the pixel loops (``_forward_pixels``, ``_backward_pixels``: the same
sums, the ``C`` channels of one pixel innermost), compiled only when such a layer first runs.

Parallel as the kernels of :mod:`convnet.kernels.jit`: serial loops over a range of samples (or
of fixed blocks of samples), cut into pieces on convnet's worker threads. Samples write only to
their own ``z`` and ``dx``; dK and db are summed per block of samples (a fixed number of blocks,
whatever the thread count) and the blocks' partial sums added in block order, so 1 and 2
threads give the same bits. ``fastmath={"contract"}`` lets LLVM fuse each multiply-add into one
FMA instruction where the CPU has it (one rounding instead of two: within the same error
bound). float32 and float64 only (numba computes no float16: the layer keeps the einsum code
for it). With ``NUMBA_DISABLE_JIT=1`` the loops run as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from convnet.kernels.jit import spread  # (importing jit also sets numba's cache folder up)

GRAD_BLOCKS = 16   # dK's partial sums: fixed, so the summation order never depends on threads


@njit(cache=True, nogil=True, fastmath={"contract"})
def _forward_rows(xf, ktile, btile, sh, z, first, stop):
    """``z[s]`` for samples ``first:stop``, width stride 1: xf (N, H, W*C) the input rows (tap
    ``b``'s inputs of an output row start at ``b*C``); ktile (KH, M, KW, OW*C) the kernel tiled
    along an output row (``ktile[a, m, b, j*C + ch] = K[a, b, ch, m]``), btile (M, OW*C) the
    bias (or zeros) likewise; z (N, OH, OW, C*M)."""
    kh, m, kw, length = ktile.shape
    n, oh, ow = z.shape[0], z.shape[1], z.shape[2]
    c = length // ow
    zf = z.reshape(n, oh, length * m)
    acc = np.empty((m, length), dtype=z.dtype)
    for s in range(first, stop):
        for i in range(oh):
            # M == 1: the output row itself, (OW*C,) in Keras's channel order; else (M, OW*C)
            out = zf[s, i].reshape(1, length) if m == 1 else acc
            for k in range(m):
                for t in range(length):
                    out[k, t] = btile[k, t]          # the sums start from the bias
            for a in range(kh):
                src = xf[s, i * sh + a]
                for k in range(m):
                    row = out[k]
                    kt = ktile[a, k]
                    b = 0
                    while b + 3 <= kw:     # three taps a pass: a third of the row's loads/stores
                        x0 = src[b * c:]
                        x1 = src[(b + 1) * c:]
                        x2 = src[(b + 2) * c:]
                        k0 = kt[b]
                        k1 = kt[b + 1]
                        k2 = kt[b + 2]
                        for t in range(length):   # innermost: one long contiguous run
                            row[t] += x0[t] * k0[t] + x1[t] * k1[t] + x2[t] * k2[t]
                        b += 3
                    while b < kw:
                        x0 = src[b * c:]
                        k0 = kt[b]
                        for t in range(length):
                            row[t] += x0[t] * k0[t]
                        b += 1
            if m > 1:
                for j in range(ow):
                    for ch in range(c):
                        for k in range(m):
                            z[s, i, j, ch * m + k] = acc[k, j * c + ch]   # Keras's order


@njit(cache=True, nogil=True, fastmath={"contract"})
def _backward_rows(xf, ktile, dz, sh, want_dx, want_db, partial, partial_db, dxf, first,
                   stop):
    """Blocks ``first:stop`` of samples: each block's dK into ``partial[block]``
    (KH, KW, M, C) and, when ``want_db``, its dL/db into ``partial_db[block]`` (M, C); when
    ``want_dx``, each sample's dx into ``dxf`` (``xf``'s shape, cleared here). Width stride 1;
    ``xf`` and ``ktile`` as in :func:`_forward_rows`."""
    kh, m, kw, length = ktile.shape
    n, oh, ow = dz.shape[0], dz.shape[1], dz.shape[2]
    c = length // ow
    dzf = dz.reshape(n, oh, length * m)
    step_n = (n + partial.shape[0] - 1) // partial.shape[0]
    g = np.empty((m, length), dtype=dz.dtype)
    # dK and db per output-row position t = j*C + ch, summed over the block's rows; over j
    # at the end
    ptile = np.empty((kh, m, kw, length), dtype=dz.dtype)
    btile = np.empty((m, length), dtype=dz.dtype)
    for blk in range(first, stop):
        ptile[:] = 0
        btile[:] = 0
        for s in range(blk * step_n, min(n, (blk + 1) * step_n)):
            if want_dx:
                dxf[s] = 0               # each block clears its own samples
            for i in range(oh):
                if m == 1:
                    gr = dzf[s, i].reshape(1, length)
                else:                    # (OW, C*M) -> (M, OW*C): channels inner per kernel
                    for j in range(ow):
                        for ch in range(c):
                            for k in range(m):
                                g[k, j * c + ch] = dz[s, i, j, ch * m + k]
                    gr = g
                if want_db:
                    for k in range(m):
                        bt = btile[k]
                        gk = gr[k]
                        for t in range(length):
                            bt[t] += gk[t]
                for a in range(kh):
                    r = i * sh + a
                    src = xf[s, r]
                    for k in range(m):
                        gk = gr[k]
                        for b in range(kw):
                            pt = ptile[a, k, b]
                            x0 = src[b * c:]
                            for t in range(length):
                                pt[t] += x0[t] * gk[t]
                    if not want_dx:
                        continue
                    dst = dxf[s, r]
                    for k in range(m):
                        gk = gr[k]
                        for b in range(kw):
                            # one tap a pass: taps b and b+1 overlap in dst (+= : an input
                            # cell collects every window's share)
                            d = dst[b * c:]
                            kb = ktile[a, k, b]
                            for t in range(length):
                                d[t] += gk[t] * kb[t]
        for a in range(kh):
            for b in range(kw):
                for k in range(m):
                    part = partial[blk, a, b, k]
                    part[:] = 0
                    pt = ptile[a, k, b]
                    for j in range(ow):
                        for ch in range(c):
                            part[ch] += pt[j * c + ch]
        for k in range(m):
            part_db = partial_db[blk, k]
            part_db[:] = 0
            for j in range(ow):
                for ch in range(c):
                    part_db[ch] += btile[k, j * c + ch]


# ----- width strides > 1: a pixel at a time (a row's taps are not one contiguous run) --------
@njit(cache=True, nogil=True)
def _forward_pixels(x, kt, bias, sh, sw, z, first, stop):
    """``z[s]`` for samples ``first:stop``, any strides, a pixel at a time: x (N, H, W, C)
    padded, kt (KH, KW, M, C), bias (C*M,) (or zeros), z (N, OH, OW, C*M)."""
    c = x.shape[3]
    kh, kw, m, _ = kt.shape
    oh, ow = z.shape[1], z.shape[2]
    acc = np.empty((m, c), dtype=z.dtype)
    for s in range(first, stop):
        for i in range(oh):
            for j in range(ow):
                for k in range(m):
                    for ch in range(c):
                        acc[k, ch] = bias[ch * m + k]   # the sums start from the bias
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
def _backward_pixels(x, kt, dz, sh, sw, want_dx, want_db, partial, partial_db, dx, first,
                     stop):
    """As :func:`_backward_rows`, any strides, a pixel at a time: x (N, H, W, C) padded,
    kt (KH, KW, M, C), dx the padded input's shape."""
    n, _, _, c = x.shape
    kh, kw, m, _ = kt.shape
    oh, ow = dz.shape[1], dz.shape[2]
    step = (n + partial.shape[0] - 1) // partial.shape[0]
    g = np.empty((m, c), dtype=dz.dtype)
    for blk in range(first, stop):
        part = partial[blk]
        part[:] = 0
        part_db = partial_db[blk]
        part_db[:] = 0
        for s in range(blk * step, min(n, (blk + 1) * step)):
            if want_dx:
                dx[s] = 0                # each block clears its own samples
            for i in range(oh):
                for j in range(ow):
                    for ch in range(c):                   # (C*M,) -> (M, C): channels inner
                        for k in range(m):
                            g[k, ch] = dz[s, i, j, ch * m + k]
                    if want_db:
                        for k in range(m):
                            for ch in range(c):
                                part_db[k, ch] += g[k, ch]
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


def _checked(x: np.ndarray, kernel: np.ndarray, sh: int, sw: int,
             what: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``x`` C-contiguous, the kernel tiled along an output row as ``(KH, M, KW, OW*C)`` in x's
    dtype, and the output size ``(OH, OW)``; clear errors."""
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: float32 or float64 input expected (numba computes no "
                        f"{x.dtype}; use the einsum code of convnet.layers.depthwise)")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f"{what}: input (N, H, W, C) and kernel (KH, KW, C, M) expected, got "
                         f"{x.shape} and {kernel.shape}")
    if kernel.shape[0] > x.shape[1] or kernel.shape[1] > x.shape[2]:
        raise ValueError(f"{what}: kernel {kernel.shape[:2]} larger than the padded input "
                         f"{x.shape[1:3]}")
    if sh < 1 or sw < 1:
        raise ValueError(f"{what}: strides must be positive, got {(sh, sw)}")
    oh, ow = (x.shape[1] - kernel.shape[0]) // sh + 1, (x.shape[2] - kernel.shape[1]) // sw + 1
    # ktile[a, m, b, j*C + ch] = K[a, b, ch, m]: the loops run over whole output rows (j, ch)
    ktile = np.tile(kernel.astype(x.dtype, copy=False).transpose(0, 3, 1, 2), (1, 1, 1, ow))
    return np.ascontiguousarray(x), ktile, oh, ow


def _pixel_kernel(kernel: np.ndarray, dtype) -> np.ndarray:
    """The kernel as the pixel loops read it: ``(KH, KW, M, C)``, channels inner."""
    return np.ascontiguousarray(kernel.transpose(0, 1, 3, 2), dtype=dtype)


def depthwise_forward(x: np.ndarray, kernel: np.ndarray, sh: int, sw: int,
                      bias: np.ndarray | None = None) -> np.ndarray:
    """``z (N, OH, OW, C*M)`` of the padded channels-last input ``x (N, H, W, C)`` and the
    kernel ``(KH, KW, C, M)``, plus ``bias`` ``(C*M,)`` if given (the sums start from it, so
    it costs nothing): the layer's ``depthwise_forward(depthwise_windows(x), kernel)`` (+ b),
    without the windows."""
    x, ktile, oh, ow = _checked(x, kernel, sh, sw, "depthwise_forward")
    n, h, w, c = x.shape
    kh, m, kw, _ = ktile.shape
    if bias is not None and np.shape(bias) != (c * m,):
        raise ValueError(f"depthwise_forward: bias of shape {(c * m,)} expected for kernel "
                         f"{kernel.shape}, got {np.shape(bias)}")
    bias = np.zeros(c * m, x.dtype) if bias is None else np.asarray(bias, dtype=x.dtype)
    z = np.empty((n, oh, ow, c * m), dtype=x.dtype)
    if sw == 1:        # btile[m, j*C + ch] = bias[ch*M + m], as ktile
        btile = np.tile(bias.reshape(c, m).T, (1, ow))
        spread(_forward_rows, n, z.size * kh * kw, x.reshape(n, h, w * c), ktile, btile, sh, z)
    else:
        spread(_forward_pixels, n, z.size * kh * kw, x, _pixel_kernel(kernel, x.dtype), bias,
               sh, sw, z)
    return z


def depthwise_backward(x: np.ndarray, kernel: np.ndarray, dz: np.ndarray, sh: int, sw: int,
                       input_gradient: bool = True, bias_gradient: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(dK, dx)`` from dL/dz ``(N, OH, OW, C*M)``: dK in the kernel's shape, dx of the padded
    input's shape (None unless ``input_gradient``); the layer's ``depthwise_backward``. Given
    ``bias_gradient`` (a ``(C*M,)`` array), fills it with dL/db, dL/dz summed over samples and
    pixels, in the same pass."""
    x, ktile, oh, ow = _checked(x, kernel, sh, sw, "depthwise_backward")
    n, h, w, c = x.shape
    kh, m, kw, _ = ktile.shape
    if dz.shape != (n, oh, ow, c * m):
        raise ValueError(f"depthwise_backward: dL/dz of shape {(n, oh, ow, c * m)} expected for "
                         f"input {x.shape} and kernel {kernel.shape}, got {dz.shape}")
    if bias_gradient is not None and bias_gradient.shape != (c * m,):
        raise ValueError(f"depthwise_backward: bias_gradient of shape {(c * m,)} expected, got "
                         f"{bias_gradient.shape}")
    dz = np.ascontiguousarray(dz, dtype=x.dtype)
    partial = np.empty((GRAD_BLOCKS, kh, kw, m, c), dtype=x.dtype)
    partial_db = np.empty((GRAD_BLOCKS, m, c), dtype=x.dtype)
    dx = np.empty(x.shape if input_gradient else (1, 1, 1, 1), dtype=x.dtype)
    flags = (bool(input_gradient), bias_gradient is not None)
    size = dz.size * kh * kw * (2 if input_gradient else 1)
    if sw == 1:
        spread(_backward_rows, GRAD_BLOCKS, size, x.reshape(n, h, w * c), ktile, dz, sh, *flags,
               partial, partial_db, dx.reshape(dx.shape[0], dx.shape[1], -1))
    else:
        spread(_backward_pixels, GRAD_BLOCKS, size, x, _pixel_kernel(kernel, x.dtype), dz, sh,
               sw, *flags, partial, partial_db, dx)
    dk = np.ascontiguousarray(partial.sum(axis=0).transpose(0, 1, 3, 2))   # blocks in order
    if bias_gradient is not None:
        bias_gradient[...] = partial_db.sum(axis=0).T.reshape(-1)          # (M, C) -> C*M
    return dk, (dx if input_gradient else None)
