"""One worker thread per core, each with a single-threaded BLAS: how Conv2D runs its GEMMs.

The textbook way to use two cores is to let every piece parallelise itself: the numba kernels
split their loop over the cores, then OpenBLAS splits the matrix product over them. Both then
work on the whole batch, whose im2col matrix (85 MB for the tutorial's conv2) is far larger
than the caches, so it is written to memory by one and read back by the other.

The other way, used here: cut the batch into small tasks (a few samples), and give each core a
thread of its own that takes a task and does *all* of it -- unfold, multiply, bias and ReLU --
with serial kernels and a single-threaded BLAS. A 2-sample im2col matrix (1.3 MB) stays in the
core's own cache between being written and being multiplied, and the cores never wait for each
other between steps (measured in ``benchmarks/bench_paths.py``).

Results do not depend on the number of threads: tasks are cut the same way whatever the thread
count, and sums over tasks (the kernel and bias gradients) are added in task order.

This needs to set OpenBLAS's thread count at run time, which NumPy does not offer: we call
OpenBLAS's own ``openblas_set_num_threads`` in the library NumPy loaded (as ``threadpoolctl``
does). Where that is not found (a NumPy built on another BLAS), :func:`available` is False and
Conv2D uses its other path (whole-batch blocks, every kernel parallel on its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# the names OpenBLAS's thread-count functions have in NumPy's own build (64-bit integers,
# "scipy_" prefix) and in plain OpenBLAS builds
_SYMBOLS = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads")]


def _find_openblas():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS NumPy uses, or None."""
    if os.environ.get("CONVNET_PER_CORE_THREADS", "1") == "0":
        return None
    root = os.path.dirname(np.__file__)
    candidates = sorted(glob.glob(os.path.join(root, "..", "numpy.libs", "*openblas*"))
                        + glob.glob(os.path.join(root, ".dylibs", "*openblas*")))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if getter is not None and setter is not None:
                getter.restype, getter.argtypes = ctypes.c_int, []
                setter.restype, setter.argtypes = None, [ctypes.c_int]
                return getter, setter
    return None


_OPENBLAS = _find_openblas()
_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


_ENABLED = True


def available() -> bool:
    """Whether per-core tasks can run (OpenBLAS found; ``CONVNET_PER_CORE_THREADS=0`` or
    :func:`set_per_core` say no)."""
    return _OPENBLAS is not None and _ENABLED


def set_per_core(enabled: bool) -> None:
    """Switch per-core tasks off (or back on, where OpenBLAS was found) for this process: the
    layers then take their whole-batch paths (the benchmarks compare the two this way)."""
    global _ENABLED
    _ENABLED = bool(enabled)


@contextlib.contextmanager
def single_threaded_blas():
    """OpenBLAS on one thread inside the block (the worker threads are the parallelism)."""
    assert _OPENBLAS is not None, "single_threaded_blas: OpenBLAS's thread control not found"
    get, set_ = _OPENBLAS
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            # numba makes its config settings at run time: mypy cannot see them
            workers = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convnet-core")
        return _POOL


def run_tasks_on_one_blas_thread(task, count: int) -> None:
    """:func:`run_tasks`, with OpenBLAS on one thread also where the tasks run on the calling
    thread (one numba thread, or one task): every task's products are then one core's whatever
    the thread count. A threaded OpenBLAS may cut a product along its inner size, which changes
    its bits. (On a worker thread OpenBLAS is on one thread already.)"""
    if in_worker():
        run_tasks(task, count)
        return
    with single_threaded_blas():
        run_tasks(task, count)


def in_worker() -> bool:
    """Whether the calling thread is one of the per-core workers (which must not wait on
    their own pool: a product asked for inside a task runs there, on its thread)."""
    return threading.current_thread().name.startswith("convnet-core")


def run_tasks(task, count: int) -> None:
    """Call ``task(i)`` for ``i`` in ``range(count)``, spread over ``numba.get_num_threads()``
    worker threads (so ``numba.set_num_threads`` and ``NUMBA_NUM_THREADS`` govern both). Tasks
    must not write to each other's memory. An exception in a task is raised here."""
    workers = min(numba.get_num_threads(), count)
    if workers <= 1 or in_worker():
        for i in range(count):
            task(i)
        return
    tickets = itertools.count()          # next() on it is atomic under the GIL

    def worker():
        for i in iter(lambda: next(tickets), None):
            if i >= count:
                return
            task(i)

    # without OpenBLAS's thread control (another BLAS), the tasks still run on the workers
    with single_threaded_blas() if _OPENBLAS is not None else contextlib.nullcontext():
        futures = [_pool().submit(worker) for _ in range(workers)]
        for future in futures:
            future.result()
