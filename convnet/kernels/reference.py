"""Plain NumPy definitions of the hot loops: short, obviously right, and slow.

These are the *definitions*; :mod:`convnet.kernels.jit` holds numba twins with identical
signatures and results, tested equal to these over many shapes.

Layout conventions (shared with the jit twins):

* images are channels-last ``(N, H, W, C)`` and already padded where padding applies;
* an im2col matrix has one row per output pixel ``(n, i, j)`` and one column per kernel cell
  ``(a, b, c)``, i.e. shape ``(N*OH*OW, KH*KW*C)`` -- the same order as a Keras kernel
  ``(KH, KW, C, F)`` reshaped to ``(KH*KW*C, F)``, so a convolution is one matrix product;
* a max-pool "argmax" is the flat index ``h*W + w`` of the winning cell inside the unpadded image.
"""

from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The matrix product ``a @ b`` (Dense's forward and backward)."""
    return a @ b


def conv_output_size(size: int, k: int, stride: int) -> int:
    """Output length of a 'valid' window of length ``k`` sliding by ``stride`` over ``size``."""
    return (size - k) // stride + 1


def im2col(x: np.ndarray, kh: int, kw: int, sh: int, sw: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Unfold every ``kh x kw`` window of ``x`` (N, H, W, C) into a row.

    Returns ``cols`` of shape ``(N*OH*OW, KH*KW*C)`` with
    ``cols[(n*OH + i)*OW + j, (a*KW + b)*C + c] = x[n, i*sh + a, j*sw + b, c]``
    (written into ``out`` when given: a reused buffer saves allocating it every batch).
    """
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, kh, sh), conv_output_size(w, kw, sw)
    if out is None:
        out = np.empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
    cols = out.reshape(n, oh, ow, kh, kw, c)
    for a in range(kh):
        for b in range(kw):
            # every output pixel's (a, b) cell, for all pixels at once
            cols[:, :, :, a, b, :] = x[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :]
    return out


def col2im(cols: np.ndarray, x_shape: tuple, kh: int, kw: int, sh: int, sw: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Fold rows of window cells back into an image: the adjoint (transpose) of :func:`im2col`.

    Overlapping windows share input cells, so each cell receives the *sum* of the gradients of
    every window that saw it -- hence ``+=``, not ``=``. (Written into ``out`` when given.)
    """
    n, h, w, c = x_shape
    oh, ow = conv_output_size(h, kh, sh), conv_output_size(w, kw, sw)
    cols6 = cols.reshape(n, oh, ow, kh, kw, c)
    dx = np.zeros(x_shape, dtype=cols.dtype) if out is None else out
    dx[...] = 0
    for a in range(kh):
        for b in range(kw):
            dx[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :] += cols6[:, :, :, a, b, :]
    return dx


def maxpool_forward(x: np.ndarray, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                    pad_top: int, pad_left: int) -> tuple[np.ndarray, np.ndarray]:
    """Max over each ``ph x pw`` window of ``x`` (N, H, W, C); windows may overhang the edges.

    Window ``(i, j)`` covers rows ``i*sh - pad_top ...`` and columns ``j*sw - pad_left ...``;
    cells outside the image never win ('same' padding ignores the padding, as Keras does).
    Ties go to the first cell in row-major window order.
    Returns ``y`` (N, OH, OW, C) and ``argmax`` (N, OH, OW, C, int32), the flat index
    ``h*W + w`` of the winning cell.
    """
    n, h, w, c = x.shape
    hp = max(h + pad_top, (oh - 1) * sh + ph)
    wp = max(w + pad_left, (ow - 1) * sw + pw)
    padded = np.full((n, hp, wp, c), -np.inf, dtype=x.dtype)
    padded[:, pad_top:pad_top + h, pad_left:pad_left + w, :] = x
    windows = np.stack([padded[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :][:, :oh, :ow, :]
                        for a in range(ph) for b in range(pw)])          # (ph*pw, N, OH, OW, C)
    k = windows.argmax(axis=0)                                           # first max wins
    y = np.take_along_axis(windows, k[None], axis=0)[0]
    a, b = np.divmod(k, pw)
    rows = np.arange(oh)[None, :, None, None] * sh + a - pad_top
    cols = np.arange(ow)[None, None, :, None] * sw + b - pad_left
    return y, (rows * w + cols).astype(np.int32)


def maxpool_backward(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple) -> np.ndarray:
    """Route each output gradient to the cell that won its window (sum where windows overlap)."""
    n, h, w, c = x_shape
    dx = np.zeros((n, h * w, c), dtype=dy.dtype)
    n_idx = np.arange(n)[:, None, None, None]
    c_idx = np.arange(c)[None, None, None, :]
    np.add.at(dx, (n_idx, argmax, c_idx), dy)
    return dx.reshape(x_shape)


def _window_counts(h: int, w: int, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                   pad_top: int, pad_left: int) -> np.ndarray:
    """How many real (unpadded) cells each window covers, shape (OH, OW)."""
    rows = np.arange(oh) * sh - pad_top
    cols = np.arange(ow) * sw - pad_left
    n_rows = np.minimum(rows + ph, h) - np.maximum(rows, 0)
    n_cols = np.minimum(cols + pw, w) - np.maximum(cols, 0)
    return np.outer(n_rows, n_cols)


def avgpool_forward(x: np.ndarray, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                    pad_top: int, pad_left: int) -> np.ndarray:
    """Mean over each window of ``x`` (N, H, W, C), counting only real cells ('same' padding
    divides by the number of cells inside the image, as Keras does)."""
    n, h, w, c = x.shape
    hp = max(h + pad_top, (oh - 1) * sh + ph)
    wp = max(w + pad_left, (ow - 1) * sw + pw)
    padded = np.zeros((n, hp, wp, c), dtype=x.dtype)
    padded[:, pad_top:pad_top + h, pad_left:pad_left + w, :] = x
    total = np.zeros((n, oh, ow, c), dtype=x.dtype)
    for a in range(ph):
        for b in range(pw):
            total += padded[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :][:, :oh, :ow, :]
    counts = _window_counts(h, w, ph, pw, sh, sw, oh, ow, pad_top, pad_left)
    return total / counts[None, :, :, None].astype(x.dtype)


def avgpool_backward(dy: np.ndarray, x_shape: tuple, ph: int, pw: int, sh: int, sw: int,
                     pad_top: int, pad_left: int) -> np.ndarray:
    """Each window hands its gradient out in equal shares to the real cells it averaged."""
    n, h, w, c = x_shape
    _, oh, ow, _ = dy.shape
    counts = _window_counts(h, w, ph, pw, sh, sw, oh, ow, pad_top, pad_left)
    share = dy / counts[None, :, :, None].astype(dy.dtype)
    hp = max(h + pad_top, (oh - 1) * sh + ph)
    wp = max(w + pad_left, (ow - 1) * sw + pw)
    dpadded = np.zeros((n, hp, wp, c), dtype=dy.dtype)
    for a in range(ph):
        for b in range(pw):
            dpadded[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :][:, :oh, :ow, :] += share
    return dpadded[:, pad_top:pad_top + h, pad_left:pad_left + w, :]


def adadelta_update(p: np.ndarray, g: np.ndarray, a: np.ndarray, d: np.ndarray,
                    lr: float, rho: float, eps: float) -> None:
    """One Adadelta step, in place on ``p`` (parameter), ``a`` and ``d`` (accumulators).

    ``a = rho a + (1 - rho) g^2``; ``u = g sqrt(d + eps) / sqrt(a + eps)``; ``p -= lr u``;
    ``d = rho d + (1 - rho) u^2`` (Zeiler 2012, as Keras 2.2 wrote it).
    """
    a *= rho
    a += (1 - rho) * g * g
    update = g * np.sqrt(d + eps) / np.sqrt(a + eps)
    p -= lr * update
    d *= rho
    d += (1 - rho) * update * update


def bias_relu(z: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The epilogue of a layer with bias and ReLU, in place on ``z`` of shape ``(rows, F)``:
    ``z = max(z + b, 0)``. Returns ``z``."""
    z += bias
    return np.maximum(z, 0, out=z)


def relu_bias_backward(dy: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Through that epilogue backwards, for ``dy`` and ``y`` of shape ``(rows, F)``:
    ``dz = dy * (y > 0)`` (ReLU's derivative from its output) and ``db = sum over rows of dz``
    (the bias was added to every row)."""
    dz = dy * (y > 0)
    return dz, dz.sum(axis=0)


def unpool_relu_bias_backward(dy: np.ndarray, argmax: np.ndarray,
                              y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both backward steps between a max-pooling layer and the ReLU layer with bias under it:
    :func:`maxpool_backward` of the pool's ``dy`` (N, PH, PW, F) and ``argmax``, then
    :func:`relu_bias_backward` with that layer's output ``y`` (N, OH, OW, F). Returns
    ``dz`` (N, OH, OW, F) and ``db`` (F,)."""
    dx = maxpool_backward(dy, argmax, y.shape)
    dz, db = relu_bias_backward(dx.reshape(-1, y.shape[3]), y.reshape(-1, y.shape[3]))
    return dz.reshape(y.shape), db


def conv2d_direct(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, sh: int, sw: int,
                  relu: bool) -> np.ndarray:
    """A convolution written straight from its definition, for layers whose windows are small
    (the tutorial's first layer: 3x3 cells of one channel). ``x`` (N, H, W, C), already padded;
    ``kernel`` (KH, KW, C, F); returns ``z`` of shape ``(N*OH*OW, F)`` (rows as in im2col) with
    ``z = im2col(x) @ K + b``, then ``max(z, 0)`` when ``relu``. Here it *is* that product; the
    jit twin loops over windows instead of building the im2col matrix."""
    kh, kw, c, f = kernel.shape
    z = im2col(x, kh, kw, sh, sw) @ kernel.reshape(kh * kw * c, f) + bias
    return np.maximum(z, 0, out=z) if relu else z


def conv2d_kernel_grad(x: np.ndarray, dz: np.ndarray, kh: int, kw: int, sh: int,
                       sw: int) -> np.ndarray:
    """dL/dK of a convolution from ``x`` (N, H, W, C, padded) and ``dz`` (N*OH*OW, F):
    ``dK = im2col(x).T @ dz``, reshaped to the kernel's (KH, KW, C, F)."""
    c, f = x.shape[3], dz.shape[1]
    return (im2col(x, kh, kw, sh, sw).T @ dz).reshape(kh, kw, c, f)


def conv2d_relu_grads(x: np.ndarray, dy: np.ndarray, y: np.ndarray, kh: int, kw: int, sh: int,
                      sw: int) -> tuple[np.ndarray, np.ndarray]:
    """dL/dK and dL/db of a convolution with bias and ReLU from dL/dy and the output ``y``
    (both ``(N*OH*OW, F)``): through the ReLU (:func:`relu_bias_backward`), then
    :func:`conv2d_kernel_grad`."""
    dz, db = relu_bias_backward(dy, y)
    return conv2d_kernel_grad(x, dz, kh, kw, sh, sw), db


# SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014): word
# j of a stream is a fixed mix of ``key + (j + 1) * GOLDEN``, so any word can be made on its own,
# in any order, on any thread. It passes BigCrush; dropout needs far less.
SPLITMIX_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SPLITMIX_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
SPLITMIX_MUL2 = np.uint64(0x94D049BB133111EB)


def random_words(key: int, count: int) -> np.ndarray:
    """``count`` pseudo-random uint64 words of the SplitMix64 stream numbered ``key``."""
    z = np.uint64(key) + np.arange(1, count + 1, dtype=np.uint64) * SPLITMIX_GOLDEN  # wraps
    z = (z ^ (z >> np.uint64(30))) * SPLITMIX_MUL1
    z = (z ^ (z >> np.uint64(27))) * SPLITMIX_MUL2
    return z ^ (z >> np.uint64(31))


def uniform(key: int, count: int) -> np.ndarray:
    """``count`` uniform numbers in [0, 1) from stream ``key``: each 64-bit word of
    :func:`random_words` gives two 32-bit integers ``k`` (low half first), as ``k / 2**32``
    (exact in float64)."""
    words = random_words(key, (count + 1) // 2)
    halves = np.empty(2 * words.size, dtype=np.uint64)
    halves[0::2] = words & np.uint64(0xFFFFFFFF)
    halves[1::2] = words >> np.uint64(32)
    return halves[:count] / 2.0**32


def dropout_forward(x: np.ndarray, key: int, threshold: int,
                    scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout from the random words of stream ``key`` (:func:`random_words`): word
    ``j`` gives two 32-bit uniform integers, low half first, to elements ``2j`` and ``2j + 1`` of
    ``x`` (in C order); an element is kept when its integer ``u >= threshold`` (so with
    probability ``1 - threshold / 2**32``). Returns ``y = x * keep * scale`` and the boolean
    ``keep`` mask, both shaped like ``x``."""
    words = random_words(key, (x.size + 1) // 2)
    halves = np.empty(2 * words.size, dtype=np.uint64)
    halves[0::2] = words & np.uint64(0xFFFFFFFF)
    halves[1::2] = words >> np.uint64(32)
    keep = (halves[:x.size] >= np.uint64(threshold)).reshape(x.shape)
    y = x * keep
    y *= x.dtype.type(scale)
    return y, keep


def dropout_backward(dy: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
    """dL/dx of inverted dropout: ``dy * keep * scale`` (the forward's mask)."""
    dx = dy * keep
    dx *= dy.dtype.type(scale)
    return dx


def batchnorm_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of ``x`` (rows, C): BatchNormalization's batch
    statistics for channels-last inputs (every sample and position is a row)."""
    return x.mean(axis=0), x.var(axis=0)


def batchnorm_forward(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray,
                      beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``xhat = (x - mean) * inv_std`` and ``y = gamma * xhat + beta`` for ``x`` (rows, C)."""
    xhat = (x - mean) * inv_std
    return xhat, gamma * xhat + beta


def batchnorm_backward(dy: np.ndarray, xhat: np.ndarray, g: np.ndarray,
                       batch_stats: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dgamma, dbeta)`` of BatchNormalization for ``dy``, ``xhat`` (rows, C) and
    ``g = gamma * inv_std``: with the batch's own statistics
    ``dx = g * (dy - mean(dy) - xhat * mean(dy * xhat))``, else ``dx = g * dy``."""
    dgamma, dbeta = (dy * xhat).sum(axis=0), dy.sum(axis=0)
    if not batch_stats:
        return g * dy, dgamma, dbeta
    m = dy.shape[0]
    return g * (dy - dbeta / m - xhat * (dgamma / m)), dgamma, dbeta
