"""Large matrix products as per-core tasks, OpenBLAS on one thread in each (Dense's GEMMs).

OpenBLAS runs a large product on a thread pool of its own. After the product its threads keep
spinning for a while before they sleep: ``OPENBLAS_THREAD_TIMEOUT``, read once, when NumPy is
first imported (by default 2**28 cycles, about a tenth of a second). Spinning, they take the
cores from the convolution workers that run next. ``import convnet`` sets a short timeout, but
only takes effect when convnet is imported before NumPy; a script that imports NumPy,
matplotlib or pandas first kept the long one and trained 0.87x, predicted 0.64x as fast
(``benchmarks/bench_import_order.py``).

So convnet never hands OpenBLAS a multi-threaded product: the output is cut into :data:`BLOCKS`
blocks along the larger operand (rows of ``a``, or columns of ``b``), and each block is one
single-threaded GEMM on a worker thread (:func:`convnet.threads.run_tasks`). The cut depends
only on the shapes, never on the thread count, so 1 and 2 threads give the same bits. A product
whose inner size dwarfs the output (SeparableConv2D's ``dP = u.T @ dz``, 32 x 86,528 times
86,528 x 32 at batch 128) is cut along the inner size instead: each task multiplies its slice,
and the partial products are added in block order. Measured
on the tutorial's Dense(128) over 9,216 inputs (batch 128): no slower than OpenBLAS's own
threads, and faster when OpenBLAS's timeout is long (``benchmarks/README.md``).

The NumPy engine's twin is plain ``a @ b`` (:func:`convnet.kernels.reference.matmul`).
"""

from __future__ import annotations

import numpy as np

from convnet import threads

BLOCKS = 4           # blocks per product, whatever the number of threads
SMALL = 1 << 21      # m * n * k below this (2 MFLOP): one call on the calling thread
TALL = 8             # k > TALL * max(m, n): cut along k (the output is too small to cut)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D float arrays of one dtype, run as up to :data:`BLOCKS` single-threaded
    GEMMs on the per-core worker threads (plain ``a @ b`` where OpenBLAS's thread control is not
    available, see :func:`convnet.threads.available`)."""
    if not threads.available() or a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype:
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    out = np.empty((m, n), dtype=a.dtype)
    if m * n * k < SMALL:
        with threads.single_threaded_blas():
            np.matmul(a, b, out=out)
        return out
    if k > TALL * max(m, n):                       # blocks of the inner size, summed in order
        step = -(-k // BLOCKS)
        count = -(-k // step)
        parts = np.empty((count, m, n), dtype=a.dtype)

        def task(t: int) -> None:
            inner = slice(t * step, (t + 1) * step)
            np.matmul(a[:, inner], b[inner], out=parts[t])
        threads.run_tasks_on_one_blas_thread(task, count)    # a threaded OpenBLAS cuts k too
        np.sum(parts, axis=0, out=out)
        return out
    if a.nbytes >= b.nbytes:                       # blocks of rows of a (and of out)
        step = -(-m // BLOCKS)

        def task(t: int) -> None:
            rows = slice(t * step, (t + 1) * step)
            np.matmul(a[rows], b, out=out[rows])
        count = -(-m // step)
    else:                                          # blocks of columns of b (and of out)
        step = -(-n // BLOCKS)

        def task(t: int) -> None:
            cols = slice(t * step, (t + 1) * step)
            np.matmul(a, b[:, cols], out=out[:, cols])
        count = -(-n // step)
    threads.run_tasks(task, count)
    return out
