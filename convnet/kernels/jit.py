"""numba twins of :mod:`convnet.kernels.reference`: same signatures, same results, fast.

Every kernel is a serial loop over a range of its outer index (samples, rows, elements or
fixed blocks of them), compiled without the GIL; :func:`spread` cuts the range into pieces and
runs them on convnet's per-core worker threads (:func:`convnet.threads.run_tasks`). Samples never
write to each other's memory, so the pieces cannot race (pieces of output *positions* would: in
col2im and the max-pool backward, neighbouring windows add into the same input cell).

Why not numba's own ``parallel=True`` and ``prange`` (kept only for Adadelta's update, which
says why): a parallel kernel takes about four times as
long to compile (2.6 s against 0.6 s for the max-pool forward), which made a first run wait
12-23 s; and its OpenMP thread pool, next to convnet's workers and OpenBLAS's pool, is one more
pool spinning on the same two cores, whose settings only hold when convnet is imported first.
``cache=True`` stores the compiled code next to this file, so only the first run pays for
compilation. With ``NUMBA_DISABLE_JIT=1`` these run as plain (slow) Python, for debugging.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from convnet import threads
from convnet.fast.blas import matmul  # noqa: F401  (BLAS, not numba: one thread per core)
from convnet.kernels import compile_notice, reference
from convnet.kernels.reference import conv_output_size


def _writable(folder: Path) -> bool:
    probe = folder if folder.exists() else folder.parent
    return os.access(probe, os.W_OK)


def _ensure_cache_dir() -> None:
    """numba caches compiled kernels in ``__pycache__`` next to this file. In a read-only install
    (and no numba cache dir of the user's) fall back to a writable folder, with one warning,
    instead of failing at the first kernel call."""
    if os.environ.get("NUMBA_CACHE_DIR") or _writable(Path(__file__).parent / "__pycache__"):
        return
    for candidate in (Path.home() / ".cache" / "convnet-numba",
                      Path(tempfile.gettempdir()) / f"convnet-numba-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if _writable(candidate):
            # numba.config fills its settings in at run time; mypy cannot see CACHE_DIR
            numba.config.CACHE_DIR = str(candidate)  # type: ignore[attr-defined]
            warnings.warn(f"convnet: {Path(__file__).parent} is read-only; numba caches the "
                          f"compiled kernels in {candidate} instead", RuntimeWarning,
                          stacklevel=2)
            return
    warnings.warn("convnet: no writable folder for numba's cache; kernels are compiled again in "
                  "every process (set NUMBA_CACHE_DIR to a writable folder)", RuntimeWarning,
                  stacklevel=2)


_ensure_cache_dir()
compile_notice.install()     # "compiling kernels (first run only)..." when it takes a while


def float16_via_reference(fast):
    """numba has no float16 arithmetic: for float16 arrays (a Keras file may ask for them), run
    the NumPy reference twin of the same name instead -- slower, but the same results."""
    slow = getattr(reference, fast.__name__)

    @functools.wraps(fast)
    def kernel(first, *args, **kwargs):
        if getattr(first, "dtype", None) == np.float16:
            return slow(first, *args, **kwargs)
        return fast(first, *args, **kwargs)

    return kernel


# ----- the parallelism: convnet's own per-core threads --------------------------------------------
TASKS = 8          # pieces of a loop, whatever the number of threads (so the same bits on any)
INLINE = 1 << 15   # elements touched: below this, a loop runs on the calling thread


def spread(loop, n: int, size: int, *args) -> None:
    """Run ``loop(*args, first, stop)`` over ``range(n)``, cut into up to :data:`TASKS` pieces
    on the per-core worker threads. A loop touching fewer than :data:`INLINE` elements (``size``)
    runs on the calling thread: handing it to a worker would cost more than the work."""
    if n <= 0:
        return
    if size < INLINE or n == 1:
        loop(*args, 0, n)
        return
    step = -(-n // min(TASKS, n))
    threads.run_tasks(lambda t: loop(*args, t * step, min(n, (t + 1) * step)), -(-n // step))


@njit(cache=True, nogil=True, inline="always")
def _im2col_sample(x, kh, kw, sh, sw, cols, s):
    c = x.shape[3]
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    for i in range(oh):
        for j in range(ow):
            row = (s * oh + i) * ow + j
            for a in range(kh):
                for b in range(kw):
                    base = (a * kw + b) * c
                    for ch in range(c):  # innermost: contiguous in x and in cols
                        cols[row, base + ch] = x[s, i * sh + a, j * sw + b, ch]


@njit(cache=True, nogil=True)
def _im2col(x, kh, kw, sh, sw, cols, first, stop):
    for s in range(first, stop):
        _im2col_sample(x, kh, kw, sh, sw, cols, s)


@float16_via_reference
def im2col(x: np.ndarray, kh: int, kw: int, sh: int, sw: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Unfold windows into rows; see :func:`convnet.kernels.reference.im2col`."""
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, kh, sh), conv_output_size(w, kw, sw)
    if out is None:
        out = np.empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
    spread(_im2col, n, out.size, np.ascontiguousarray(x), kh, kw, sh, sw, out)
    return out


@njit(cache=True, nogil=True, inline="always")
def _col2im_sample(cols, kh, kw, sh, sw, dx, s):
    _, h, w, c = dx.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    dx[s] = 0                    # each thread clears its own samples (cheaper than np.zeros)
    for i in range(oh):
        for j in range(ow):
            row = (s * oh + i) * ow + j
            for a in range(kh):
                for b in range(kw):
                    base = (a * kw + b) * c
                    for ch in range(c):
                        # += : windows overlap, each input cell collects every window's share
                        dx[s, i * sh + a, j * sw + b, ch] += cols[row, base + ch]


@njit(cache=True, nogil=True)
def _col2im(cols, kh, kw, sh, sw, dx, first, stop):
    for s in range(first, stop):
        _col2im_sample(cols, kh, kw, sh, sw, dx, s)


@float16_via_reference
def col2im(cols: np.ndarray, x_shape: tuple, kh: int, kw: int, sh: int, sw: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Fold rows back into an image, summing overlaps; see the reference twin."""
    if out is None:
        dx = np.empty(x_shape, dtype=cols.dtype)            # the kernel zeroes it
    elif out.shape != tuple(x_shape) or not out.flags.c_contiguous:
        raise ValueError(f"col2im: out must be a C-contiguous array of shape {tuple(x_shape)}, "
                         f"got {out.shape}")
    else:
        dx = out
    spread(_col2im, dx.shape[0], dx.size, np.ascontiguousarray(cols), kh, kw, sh, sw, dx)
    return dx


@njit(cache=True, nogil=True, inline="always")
def _maxpool_sample(x, ph, pw, sh, sw, pad_top, pad_left, y, argmax, s, record):
    _, h, w, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                y[s, i, j, ch] = -np.inf
                if record:
                    argmax[s, i, j, ch] = -1
            for a in range(ph):
                r = i * sh + a - pad_top
                if r < 0 or r >= h:
                    continue  # padding never wins
                for b in range(pw):
                    q = j * sw + b - pad_left
                    if q < 0 or q >= w:
                        continue
                    for ch in range(c):
                        v = x[s, r, q, ch]
                        if v > y[s, i, j, ch]:  # strict: ties keep the first cell
                            y[s, i, j, ch] = v
                            if record:
                                argmax[s, i, j, ch] = r * w + q


@njit(cache=True, nogil=True)
def _maxpool_forward(x, ph, pw, sh, sw, pad_top, pad_left, y, argmax, record, first, stop):
    for s in range(first, stop):
        _maxpool_sample(x, ph, pw, sh, sw, pad_top, pad_left, y, argmax, s, record)


@float16_via_reference
def maxpool_forward(x: np.ndarray, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                    pad_top: int, pad_left: int) -> tuple[np.ndarray, np.ndarray]:
    """Max over windows with the winner's flat index; see the reference twin."""
    n, _, _, c = x.shape
    y = np.empty((n, oh, ow, c), dtype=x.dtype)
    argmax = np.empty((n, oh, ow, c), dtype=np.int32)   # h*W + w: 4 bytes are plenty
    spread(_maxpool_forward, n, x.size, np.ascontiguousarray(x), ph, pw, sh, sw, pad_top,
            pad_left, y, argmax, True)
    return y, argmax


@njit(cache=True, nogil=True, inline="always")
def _maxpool_backward_sample(dy, argmax, dx, s):
    _, oh, ow, c = dy.shape
    w = dx.shape[2]
    dx[s] = 0                        # each thread clears its own samples (cheaper than np.zeros)
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                k = argmax[s, i, j, ch]
                dx[s, k // w, k % w, ch] += dy[s, i, j, ch]


@njit(cache=True, nogil=True)
def _maxpool_backward(dy, argmax, dx, first, stop):
    for s in range(first, stop):
        _maxpool_backward_sample(dy, argmax, dx, s)


@float16_via_reference
def maxpool_backward(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple) -> np.ndarray:
    """Route gradients to each window's winner; see the reference twin."""
    dx = np.empty(x_shape, dtype=dy.dtype)                  # the kernel zeroes it
    spread(_maxpool_backward, dx.shape[0], dx.size, np.ascontiguousarray(dy),
            np.ascontiguousarray(argmax), dx)
    return dx


@njit(cache=True, nogil=True, inline="always")
def _avgpool_sample(x, ph, pw, sh, sw, pad_top, pad_left, y, s):
    _, h, w, c = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for i in range(oh):
        r0 = max(i * sh - pad_top, 0)
        r1 = min(i * sh - pad_top + ph, h)
        for j in range(ow):
            q0 = max(j * sw - pad_left, 0)
            q1 = min(j * sw - pad_left + pw, w)
            for ch in range(c):
                y[s, i, j, ch] = 0
            for r in range(r0, r1):
                for q in range(q0, q1):
                    for ch in range(c):
                        y[s, i, j, ch] += x[s, r, q, ch]
            count = (r1 - r0) * (q1 - q0)   # real cells only: padding is not averaged in
            for ch in range(c):
                y[s, i, j, ch] /= count


@njit(cache=True, nogil=True)
def _avgpool_forward(x, ph, pw, sh, sw, pad_top, pad_left, y, first, stop):
    for s in range(first, stop):
        _avgpool_sample(x, ph, pw, sh, sw, pad_top, pad_left, y, s)


@float16_via_reference
def avgpool_forward(x: np.ndarray, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                    pad_top: int, pad_left: int) -> np.ndarray:
    """Mean over windows of real cells; see the reference twin."""
    n, _, _, c = x.shape
    y = np.empty((n, oh, ow, c), dtype=x.dtype)
    spread(_avgpool_forward, n, x.size, np.ascontiguousarray(x), ph, pw, sh, sw, pad_top,
            pad_left, y)
    return y


@njit(cache=True, nogil=True)
def _avgpool_backward(dy, ph, pw, sh, sw, pad_top, pad_left, dx, first, stop):
    _, h, w, c = dx.shape
    oh, ow = dy.shape[1], dy.shape[2]
    for s in range(first, stop):
        dx[s] = 0                    # each thread clears its own samples
        for i in range(oh):
            r0 = max(i * sh - pad_top, 0)
            r1 = min(i * sh - pad_top + ph, h)
            for j in range(ow):
                q0 = max(j * sw - pad_left, 0)
                q1 = min(j * sw - pad_left + pw, w)
                count = (r1 - r0) * (q1 - q0)
                for r in range(r0, r1):
                    for q in range(q0, q1):
                        for ch in range(c):
                            # += : overlapping windows share cells
                            dx[s, r, q, ch] += dy[s, i, j, ch] / count


@float16_via_reference
def avgpool_backward(dy: np.ndarray, x_shape: tuple, ph: int, pw: int, sh: int, sw: int,
                     pad_top: int, pad_left: int) -> np.ndarray:
    """Spread each window's gradient evenly over its real cells; see the reference twin."""
    dx = np.empty(x_shape, dtype=dy.dtype)                  # the kernel zeroes it
    spread(_avgpool_backward, dx.shape[0], dx.size, np.ascontiguousarray(dy), ph, pw, sh, sw,
            pad_top, pad_left, dx)
    return dx


@njit(cache=True, parallel=True)
def _adadelta_update(p, g, a, d, lr, rho, eps):
    # one pass over memory instead of NumPy's eight; each element is independent, so the
    # parallel loop cannot race and gives the same result on any number of threads. The one
    # kernel left on numba's own threads (prange): only its parallel loop tells the compiler that
    # p, g, a and d never overlap, and without that it is not vectorised (4.7-6.4 ms instead of
    # 1.2 ms on one thread, for the tutorial's 1.2 M weights)
    for i in prange(p.size):
        gi = g[i]
        ai = rho * a[i] + (1 - rho) * gi * gi
        u = gi * np.sqrt(d[i] + eps) / np.sqrt(ai + eps)
        a[i] = ai
        p[i] -= lr * u
        d[i] = rho * d[i] + (1 - rho) * u * u


@float16_via_reference
def adadelta_update(p: np.ndarray, g: np.ndarray, a: np.ndarray, d: np.ndarray,
                    lr: float, rho: float, eps: float) -> None:
    """One Adadelta step in place; see the reference twin. Arrays must be contiguous."""
    for arr in (p, g, a, d):
        if not arr.flags.c_contiguous:
            raise ValueError("adadelta_update needs C-contiguous arrays")
    t = p.dtype.type
    _adadelta_update(p.reshape(-1), g.reshape(-1), a.reshape(-1), d.reshape(-1),
                     t(lr), t(rho), t(eps))


@njit(cache=True, nogil=True, inline="always")
def _bias_relu_row(z, bias, r):
    for k in range(z.shape[1]):
        v = z[r, k] + bias[k]
        z[r, k] = 0 if v <= 0 else v         # NaN stays NaN, as with np.maximum


@njit(cache=True, nogil=True)
def _bias_relu(z, bias, first, stop):
    for r in range(first, stop):
        _bias_relu_row(z, bias, r)


@float16_via_reference
def bias_relu(z: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``z = max(z + b, 0)`` in place, one pass (on the per-core threads) instead of NumPy's
    two."""
    if z.ndim != 2 or not z.flags.c_contiguous or bias.shape != (z.shape[1],):
        raise ValueError(f"bias_relu needs a C-contiguous (rows, F) array and a (F,) bias, got "
                         f"{z.shape} and {bias.shape}")
    spread(_bias_relu, z.shape[0], z.size, z, bias.astype(z.dtype, copy=False))
    return z


RELU_BIAS_BLOCKS = 64   # fixed, so db's summation order never depends on the thread count


@njit(cache=True, nogil=True, inline="always")
def _through_relu(dy, y):
    """dL/dz of one ReLU output y = max(z, 0) from its dL/dy."""
    return dy if y > 0 else dy - dy      # 0, but NaN/inf in dy give NaN, as dy * False


@njit(cache=True, nogil=True, inline="always")
def _relu_bias_backward_rows(dy, y, dz, db, first, stop):
    # dz = dy * (y > 0) for rows first:stop, and their sum added to db
    for r in range(first, stop):
        for k in range(dy.shape[1]):
            v = _through_relu(dy[r, k], y[r, k])
            dz[r, k] = v
            db[k] += v


@njit(cache=True, nogil=True)
def _relu_bias_backward(dy, y, dz, partial, first, stop):
    rows = dy.shape[0]
    blocks = partial.shape[0]
    step = (rows + blocks - 1) // blocks
    for blk in range(first, stop):
        partial[blk] = 0
        _relu_bias_backward_rows(dy, y, dz, partial[blk], blk * step,
                                 min(rows, (blk + 1) * step))


@float16_via_reference
def relu_bias_backward(dy: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dz = dy * (y > 0)`` and ``db = dz.sum(axis=0)`` in one pass. Each block of rows
    sums into its own partial row, and the partials are added in a fixed order, so the result is
    the same on 1 or 2 threads."""
    if dy.ndim != 2 or dy.shape != y.shape:
        raise ValueError(f"relu_bias_backward needs dy and y of one (rows, F) shape, got "
                         f"{dy.shape} and {y.shape}")
    dy, y = np.ascontiguousarray(dy), np.ascontiguousarray(y, dtype=dy.dtype)
    dz = np.empty_like(dy)
    partial = np.empty((RELU_BIAS_BLOCKS, dy.shape[1]), dtype=dy.dtype)
    spread(_relu_bias_backward, RELU_BIAS_BLOCKS, dy.size, dy, y, dz, partial)
    return dz, partial.sum(axis=0)


@njit(cache=True, nogil=True)
def _relu(z, y, first, stop):
    z, y = z[first:stop], y[first:stop]      # indexed from 0: vectorised (see _dropout_forward)
    for i in range(z.size):
        v = z[i]
        y[i] = 0 if v <= 0 else v            # NaN stays NaN, as with np.maximum


@njit(cache=True, nogil=True)
def _relu_backward(dy, y, dz, first, stop):
    dy, y, dz = dy[first:stop], y[first:stop], dz[first:stop]
    for i in range(dy.size):
        dz[i] = _through_relu(dy[i], y[i])


def _loopable(*arrays) -> bool:
    """Whether the element loops take these arrays: C-contiguous float32/float64 ndarrays of
    one dtype and shape (anything else goes to the NumPy definition)."""
    first = arrays[0]
    return all(isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64)
               and a.flags.c_contiguous and a.dtype == first.dtype and a.shape == first.shape
               for a in arrays)


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`convnet.activations.relu` (``y = max(z, 0)``) in one vectorised pass on the
    per-core threads: 0.24 ms for a (128, 26, 26, 32) float32 batch, NumPy's ``maximum`` 1.0 ms
    (2-core AMD EPYC)."""
    if not _loopable(z) or (out is not None and not _loopable(z, out)):
        from convnet import activations
        return activations.relu(z, out=out)
    y = np.empty_like(z) if out is None else out
    spread(_relu, z.size, z.size, z.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`convnet.activations.relu_backward` (``dz = dy * (y > 0)``) in one pass on the
    per-core threads, without NumPy's boolean temporary: 0.42 ms against 1.4 ms, as above."""
    if not _loopable(dy, y):
        from convnet import activations
        return activations.relu_backward(dy, y)
    dz = np.empty_like(dy)
    spread(_relu_backward, dy.size, dy.size, dy.reshape(-1), y.reshape(-1), dz.reshape(-1))
    return dz


ACTIVATIONS = {"relu": (relu, relu_backward)}   # the activations with a numba twin


@njit(cache=True, nogil=True, inline="always")
def _conv2d_direct_sample(x, kernel, bias, sh, sw, relu, z, acc, s):
    _, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh = (h - kh) // sh + 1
    ow = (w - kw) // sw + 1
    for i in range(oh):
        for j in range(ow):
            for k in range(f):
                acc[k] = bias[k]
            for a in range(kh):
                for b in range(kw):
                    for ch in range(c):
                        v = x[s, i * sh + a, j * sw + b, ch]
                        for k in range(f):       # innermost: contiguous in K and in z
                            acc[k] += v * kernel[a, b, ch, k]
            row = (s * oh + i) * ow + j
            for k in range(f):
                v = acc[k]
                z[row, k] = (0 if v <= 0 else v) if relu else v


@njit(cache=True, nogil=True)
def _conv2d_direct(x, kernel, bias, sh, sw, relu, z, first, stop):
    acc = np.empty(kernel.shape[3], dtype=z.dtype)
    for s in range(first, stop):
        _conv2d_direct_sample(x, kernel, bias, sh, sw, relu, z, acc, s)


@float16_via_reference
def conv2d_direct(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, sh: int, sw: int,
                  relu: bool) -> np.ndarray:
    """A small-window convolution without the im2col matrix; see the reference twin."""
    n, h, w, c = x.shape
    kh, kw, kc, f = kernel.shape
    if x.ndim != 4 or kc != c or bias.shape != (f,):
        raise ValueError(f"conv2d_direct: input {x.shape}, kernel {kernel.shape} and bias "
                         f"{bias.shape} do not fit together")
    oh, ow = conv_output_size(h, kh, sh), conv_output_size(w, kw, sw)
    z = np.empty((n * oh * ow, f), dtype=x.dtype)
    spread(_conv2d_direct, n, z.size * kh * kw * c, np.ascontiguousarray(x),
            np.ascontiguousarray(kernel, dtype=x.dtype), bias.astype(x.dtype, copy=False), sh, sw,
            bool(relu), z)
    return z


KERNEL_GRAD_BLOCKS = 64   # fixed, so dK's summation order never depends on the thread count


@njit(cache=True, nogil=True)
def _conv2d_kernel_grad(x, dz, y, relu_mask, kh, kw, sh, sw, partial, partial_db, first, stop):
    n, h, w, c = x.shape
    f = dz.shape[1]
    oh = (h - kh) // sh + 1
    ow = (w - kw) // sw + 1
    blocks = partial.shape[0]
    step = (n + blocks - 1) // blocks
    for blk in range(first, stop):
        part, part_db = partial[blk], partial_db[blk]
        part[...] = 0
        part_db[...] = 0
        dz_row = np.empty(f, dtype=partial.dtype)
        for s in range(blk * step, min(n, (blk + 1) * step)):
            for i in range(oh):
                for j in range(ow):
                    row = (s * oh + i) * ow + j
                    for k in range(f):
                        v = _through_relu(dz[row, k], y[row, k]) if relu_mask else dz[row, k]
                        dz_row[k] = v
                        part_db[k] += v
                    for a in range(kh):
                        for b in range(kw):
                            for ch in range(c):
                                v = x[s, i * sh + a, j * sw + b, ch]
                                for k in range(f):
                                    part[a, b, ch, k] += v * dz_row[k]


def _kernel_grads(x, dz, y, relu_mask, kh, kw, sh, sw, what):
    n, h, w, c = x.shape
    rows = n * conv_output_size(h, kh, sh) * conv_output_size(w, kw, sw)
    if dz.ndim != 2 or dz.shape[0] != rows or (relu_mask and y.shape != dz.shape):
        raise ValueError(f"{what}: the gradient (and output) must have shape ({rows}, filters) "
                         f"for input {x.shape}, got {dz.shape}"
                         + (f" and {y.shape}" if relu_mask else ""))
    partial = np.empty((KERNEL_GRAD_BLOCKS, kh, kw, c, dz.shape[1]), dtype=x.dtype)
    partial_db = np.empty((KERNEL_GRAD_BLOCKS, dz.shape[1]), dtype=x.dtype)
    dz = np.ascontiguousarray(dz, dtype=x.dtype)
    y = np.ascontiguousarray(y, dtype=x.dtype) if relu_mask else dz
    spread(_conv2d_kernel_grad, KERNEL_GRAD_BLOCKS, dz.size * kh * kw * c,
            np.ascontiguousarray(x), dz, y, relu_mask, kh, kw, sh, sw, partial, partial_db)
    return partial.sum(axis=0), partial_db.sum(axis=0)


@float16_via_reference
def conv2d_kernel_grad(x: np.ndarray, dz: np.ndarray, kh: int, kw: int, sh: int,
                       sw: int) -> np.ndarray:
    """dL/dK without the im2col matrix; see the reference twin. Samples are split into a fixed
    number of blocks, each summing into its own partial kernel, and the partials are added in a
    fixed order: the same result on 1 or 2 threads."""
    return _kernel_grads(x, dz, None, False, kh, kw, sh, sw, "conv2d_kernel_grad")[0]


@float16_via_reference
def conv2d_relu_grads(x: np.ndarray, dy: np.ndarray, y: np.ndarray, kh: int, kw: int, sh: int,
                      sw: int) -> tuple[np.ndarray, np.ndarray]:
    """dL/dK and dL/db of a convolution with bias and ReLU, straight from dL/dy: each row's
    dL/dz = dy * (y > 0) is made where it is used and never stored (one pass over dy and y
    instead of three over dz); see the reference twin."""
    return _kernel_grads(x, dy, y, True, kh, kw, sh, sw, "conv2d_relu_grads")


@njit(cache=True, nogil=True, inline="always")
def _random_word(key, j):
    """Word ``j`` of SplitMix64 stream ``key`` (see :func:`reference.random_words`)."""
    z = key + (np.uint64(j) + np.uint64(1)) * reference.SPLITMIX_GOLDEN
    z = (z ^ (z >> np.uint64(30))) * reference.SPLITMIX_MUL1
    z = (z ^ (z >> np.uint64(27))) * reference.SPLITMIX_MUL2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _dropout_forward(x, key, threshold, scale, y, keep, first, stop):
    # the piece's own views, indexed from 0: an index the compiler knows is never negative
    # needs no wrap-around test, and the loop is vectorised
    x, y, keep = x[first:stop], y[first:stop], keep[first:stop]
    for j in range(x.size):
        # element i takes the low (even i) or high (odd i) 32 bits of word i // 2, made here
        # (twice, for both halves: cheaper than keeping it, the loop stays vectorised)
        i = first + j
        word = _random_word(key, i >> 1)
        u = (word >> np.uint64((i & 1) * 32)) & np.uint64(0xFFFFFFFF)
        k = u >= threshold
        keep[j] = k
        y[j] = x[j] * (1 if k else 0) * scale        # x * 0 keeps NaN, as NumPy does


@float16_via_reference
def dropout_forward(x: np.ndarray, key: int, threshold: int,
                    scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout in one pass that also makes the random words; see the reference
    twin."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    keep = np.empty(x.shape, dtype=np.bool_)
    with np.errstate(over="ignore"):     # uint64 wraps on purpose (NUMBA_DISABLE_JIT=1 warns)
        spread(_dropout_forward, x.size, x.size, x.reshape(-1), np.uint64(key),
                np.uint64(threshold), x.dtype.type(scale), y.reshape(-1), keep.reshape(-1))
    return y, keep


@njit(cache=True, nogil=True)
def _dropout_backward(dy, keep, scale, dx, first, stop):
    dy, keep, dx = dy[first:stop], keep[first:stop], dx[first:stop]   # indexed from 0, as above
    for i in range(dy.size):
        dx[i] = dy[i] * (1 if keep[i] else 0) * scale


@float16_via_reference
def dropout_backward(dy: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
    """dL/dx of inverted dropout in one pass; see the reference twin."""
    if keep.shape != dy.shape:
        raise ValueError(f"dropout_backward: mask shape {keep.shape} differs from dy "
                         f"{dy.shape}")
    dy = np.ascontiguousarray(dy)
    dx = np.empty_like(dy)
    spread(_dropout_backward, dy.size, dy.size, dy.reshape(-1),
            np.ascontiguousarray(keep).reshape(-1), dy.dtype.type(scale), dx.reshape(-1))
    return dx


# ----- serial drivers ---------------------------------------------------------------------------
# The same range kernels as above over the whole batch, run on the calling thread only (without
# the GIL): for convnet.threads' per-core workers, which are the parallelism themselves. They
# reuse the compiled range kernels (nothing more to compile).
# No argument checks: the layers pass exact shapes and dtypes (float32/float64, C-contiguous).


def im2col_serial(x, kh, kw, sh, sw, cols):
    """:func:`im2col` into ``cols``, on the calling thread."""
    _im2col(x, kh, kw, sh, sw, cols, 0, x.shape[0])


def bias_relu_serial(z, bias):
    """:func:`bias_relu` in place, on the calling thread."""
    _bias_relu(z, bias, 0, z.shape[0])


def conv2d_direct_serial(x, kernel, bias, sh, sw, relu, z):
    """:func:`conv2d_direct` into ``z`` (N*OH*OW, F), on the calling thread."""
    _conv2d_direct(x, kernel, bias, sh, sw, relu, z, 0, x.shape[0])


_NO_ARGMAX = np.empty((1, 1, 1, 1), dtype=np.int32)


def maxpool_forward_serial(x, ph, pw, sh, sw, pad_top, pad_left, y):
    """:func:`maxpool_forward` into ``y``, on the calling thread, without the argmax
    (inference has no backward pass)."""
    _maxpool_forward(x, ph, pw, sh, sw, pad_top, pad_left, y, _NO_ARGMAX, False, 0, x.shape[0])


def avgpool_forward_serial(x, ph, pw, sh, sw, pad_top, pad_left, y):
    """:func:`avgpool_forward` into ``y``, on the calling thread."""
    _avgpool_forward(x, ph, pw, sh, sw, pad_top, pad_left, y, 0, x.shape[0])


def col2im_serial(cols, kh, kw, sh, sw, dx):
    """:func:`col2im` into ``dx`` (cleared first), on the calling thread."""
    _col2im(cols, kh, kw, sh, sw, dx, 0, dx.shape[0])


@njit(cache=True, nogil=True)
def relu_bias_backward_serial(dy, y, dz, db):
    """:func:`relu_bias_backward` into ``dz``, on the calling thread, *adding* the rows' sum
    into ``db``."""
    _relu_bias_backward_rows(dy, y, dz, db, 0, dy.shape[0])


@njit(cache=True, nogil=True)
def unpool_relu_bias_backward_serial(dy, argmax, y, dz, db):
    """:func:`unpool_relu_bias_backward` into ``dz`` (N, OH, OW, F), on the calling thread,
    *adding* dL/db into ``db``: the pool's winners get their gradients, then the ReLU mask."""
    for s in range(dy.shape[0]):
        _maxpool_backward_sample(dy, argmax, dz, s)
    rows = dz.reshape(-1, dz.shape[3])
    _relu_bias_backward_rows(rows, y.reshape(-1, y.shape[3]), rows, db, 0, rows.shape[0])


# ----- BatchNormalization over channels-last rows ------------------------------------------------
# Rows are cut into blocks of BN_BLOCK whatever the thread count, and each block's per-channel
# sums (float64) are added in block order: the same bits on 1 and 2 threads.
BN_BLOCK = 512


@njit(cache=True, nogil=True)
def _bn_block_sums(u, v, shift, out, first, stop):
    """For each block b of BN_BLOCK rows and each channel, with ``d = u - shift`` and
    ``e = v - shift``: ``out[b, c] = sum d`` and ``out[b, C + c] = sum d * e``, in float64
    (local accumulators, so the channel loop vectorises). The statistics take ``u = v = x``
    (sums of d and d**2), the backward ``u = dy``, ``v = xhat``, no shift (sums of dy and
    dy * xhat)."""
    m, c = u.shape
    s1, s2 = np.empty(c), np.empty(c)
    for b in range(first, stop):
        s1[:] = 0.0
        s2[:] = 0.0
        for r in range(b * BN_BLOCK, min(m, (b + 1) * BN_BLOCK)):
            for ch in range(c):
                d = np.float64(u[r, ch]) - shift[ch]
                s1[ch] += d
                s2[ch] += d * (np.float64(v[r, ch]) - shift[ch])
        for ch in range(c):
            out[b, ch] = s1[ch]
            out[b, c + ch] = s2[ch]


def batchnorm_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`convnet.kernels.reference.batchnorm_stats`: one pass of float64 sums of
    ``d = x - x[0]`` and ``d**2`` (shifted by the first row, so no large mean cancels:
    ``var = mean(d**2) - mean(d)**2`` is as accurate as the two-pass formula unless a channel's
    spread is below 1e-8 of its offset from the first row), blocks summed in a fixed order so
    1 and 2 threads give the same bits."""
    x = np.ascontiguousarray(x)
    m, c = x.shape
    blocks = -(-m // BN_BLOCK)
    sums = np.empty((blocks, 2 * c))
    shift = x[0].astype(np.float64)
    spread(_bn_block_sums, blocks, x.size, x, x, shift, sums)
    total = sums.sum(axis=0) / m
    mean_d = total[:c]
    var = np.maximum(total[c:] - mean_d * mean_d, 0.0)
    return (shift + mean_d).astype(x.dtype), var.astype(x.dtype)


@njit(cache=True, nogil=True)
def _bn_forward(x, mean, inv_std, gamma, beta, xhat, y, first, stop):
    for r in range(first, stop):
        for ch in range(x.shape[1]):
            h = (x[r, ch] - mean[ch]) * inv_std[ch]
            xhat[r, ch] = h
            y[r, ch] = gamma[ch] * h + beta[ch]


def batchnorm_forward(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray,
                      beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`convnet.kernels.reference.batchnorm_forward`: one pass writes both."""
    x = np.ascontiguousarray(x)
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, inv_std, gamma, beta = (np.ascontiguousarray(np.broadcast_to(v, x.shape[1:]),
                                                       dtype=x.dtype)
                                  for v in (mean, inv_std, gamma, beta))
    spread(_bn_forward, x.shape[0], x.size, x, mean, inv_std, gamma, beta, xhat, y)
    return xhat, y


@njit(cache=True, nogil=True)
def _bn_dx(dy, xhat, g, mean_dy, mean_dy_xhat, dx, first, stop):
    for r in range(first, stop):
        for ch in range(dy.shape[1]):
            dx[r, ch] = g[ch] * (dy[r, ch] - mean_dy[ch] - xhat[r, ch] * mean_dy_xhat[ch])


def batchnorm_backward(dy: np.ndarray, xhat: np.ndarray, g: np.ndarray,
                       batch_stats: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`convnet.kernels.reference.batchnorm_backward`: one pass for the two sums,
    one for dx."""
    dy, xhat = np.ascontiguousarray(dy), np.ascontiguousarray(xhat)
    m, c = dy.shape
    sums = np.empty((-(-m // BN_BLOCK), 2 * c))
    spread(_bn_block_sums, sums.shape[0], dy.size, dy, xhat, np.zeros(c), sums)
    total = sums.sum(axis=0)
    dbeta, dgamma = total[:c].astype(dy.dtype), total[c:].astype(dy.dtype)
    g = np.ascontiguousarray(np.broadcast_to(g, (c,)), dtype=dy.dtype)
    dx = np.empty_like(dy)
    if batch_stats:
        spread(_bn_dx, m, dy.size, dy, xhat, g, (total[:c] / m).astype(dy.dtype),
                (total[c:] / m).astype(dy.dtype), dx)
    else:
        spread(_bn_dx, m, dy.size, dy, xhat, g, np.zeros(c, dy.dtype), np.zeros(c, dy.dtype),
                dx)
    return dx, dgamma, dbeta
