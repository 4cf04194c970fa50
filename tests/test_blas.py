"""convnet.fast.blas.matmul: large products as single-threaded GEMMs on the per-core workers."""

import numba
import numpy as np
import pytest

from convnet import threads
from convnet.fast import blas
from convnet.kernels import jit, reference
from error_bounds import check, gamma

needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="OpenBLAS's thread control not found")

# (m, k, n) and whether a is a transposed view: Dense(128) on 9,216 inputs at batch 128
SHAPES = [((128, 9216, 128), False),    # forward x @ W: rows of a
          ((9216, 128, 128), True),     # dW = x.T @ dz: rows of a transposed view
          ((128, 128, 9216), False),    # dx = dz @ W.T: columns of b
          ((37, 300, 211), False),      # blocks that do not divide evenly
          ((32, 8001, 24), True),       # dP = u.T @ dz of SeparableConv2D: the inner size cut
          ((5, 7, 3), False)]           # small: one call on the calling thread


def _operands(m, k, n, transposed, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(dtype)
    return (a.T if transposed else a), rng.standard_normal((k, n)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,transposed", SHAPES)
def test_matmul_is_the_product_within_its_rounding_bound(shape, transposed, dtype):
    a, b = _operands(*shape, transposed, dtype)
    got = blas.matmul(a, b)
    assert got.shape == (shape[0], shape[2]) and got.dtype == np.dtype(dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    magnitude = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    check(got, exact, gamma(shape[1], dtype) * magnitude, "blas.matmul")


def test_the_engines_share_one_signature():
    a, b = _operands(3, 4, 5, False, "float64")
    np.testing.assert_array_equal(reference.matmul(a, b), a @ b)
    assert jit.matmul is blas.matmul


@needs_openblas
@pytest.mark.parametrize("shape,transposed", SHAPES)
def test_one_and_two_threads_give_the_same_bits(shape, transposed):
    a, b = _operands(*shape, transposed, "float32", seed=1)
    before = numba.get_num_threads()
    try:
        runs = []
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            runs.append(blas.matmul(a, b))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(runs[0], runs[1])


@needs_openblas
def test_large_products_run_on_the_workers_with_one_blas_thread(monkeypatch):
    seen = []
    real = np.matmul

    def spy(a, b, out=None):
        seen.append((threads.in_worker() or numba.get_num_threads() == 1, a.shape))
        return real(a, b, out=out)

    monkeypatch.setattr(blas.np, "matmul", spy)
    a, b = _operands(512, 2048, 128, False, "float32")
    blas.matmul(a, b)
    assert len(seen) == blas.BLOCKS and all(on_worker for on_worker, _ in seen)
    assert sorted(shape for _, shape in seen) == [(128, 2048)] * blas.BLOCKS
    seen.clear()
    a, b = _operands(32, 8000, 24, True, "float32")     # the inner size cut: (32, 2000) each
    blas.matmul(a, b)
    assert len(seen) == blas.BLOCKS and all(on_worker for on_worker, _ in seen)
    assert sorted(shape for _, shape in seen) == [(32, 2000)] * blas.BLOCKS


def test_mixed_dtypes_and_other_ranks_fall_back_to_numpy():
    a, b = _operands(4, 3, 2, False, "float32")
    np.testing.assert_array_equal(blas.matmul(a, b.astype("float64")), a @ b.astype("float64"))
    v = np.arange(3.0)
    np.testing.assert_array_equal(blas.matmul(v, b.astype("float64")), v @ b)


@needs_openblas
def test_a_product_asked_for_inside_a_task_runs_on_that_worker():
    a, b = _operands(128, 9216, 128, False, "float32")
    results = {}

    def task(t):
        results[t] = blas.matmul(a, b)     # would wait on its own pool if it queued tasks

    threads.run_tasks(task, 2)
    np.testing.assert_array_equal(results[0], results[1])
