"""The numba depthwise loops (``convnet/kernels/depthwise_jit.py``) on each of their paths: whole
output rows with width stride 1 (taps ``C`` apart in the input row; any height stride), the
pixel loops for width strides > 1, three taps a pass plus the leftover taps (kernel widths 1 to
7), ``depth_multiplier`` > 1, the bias the forward sums start from and the dL/db summed beside dK;
against the einsum definitions of ``convnet/layers/depthwise.py`` within the rounding bound of
their sums (``error_bounds``), float32 and float64; the same bits on 1 and 2 threads.
"""

import numba
import numpy as np
import pytest

from convnet.kernels import depthwise_jit
from convnet.layers.depthwise import depthwise_backward, depthwise_forward, depthwise_windows
from error_bounds import check_paths, gamma

# (batch, H, W, C, M, KH, KW, SH, SW): kernel widths 1-7 (3-tap passes and leftovers), strides
# 1-3 (row and pixel loops, columns no window reads), M > 1 on the row loops, one row, one
# column
CASES = [
    (2, 7, 9, 5, 1, 3, 3, 1, 1),
    (2, 7, 8, 3, 2, 2, 4, 1, 1),
    (3, 8, 11, 4, 2, 2, 5, 1, 2),
    (1, 9, 13, 3, 3, 3, 7, 2, 3),
    (4, 5, 6, 2, 1, 1, 1, 1, 2),
    (2, 6, 10, 6, 1, 4, 4, 3, 1),
    (3, 1, 8, 3, 2, 1, 3, 1, 1),
    (2, 6, 1, 4, 1, 3, 1, 2, 1),
]


def _ids():
    return ["n{}h{}w{}c{}m{}k{}x{}s{}x{}".format(*case) for case in CASES]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_kernels_equal_the_einsum_definitions_within_the_bound(case, dtype):
    n, h, w, c, m, kh, kw, sh, sw = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c, m)).astype(dtype)
    bias = rng.standard_normal(c * m).astype(dtype)
    win = depthwise_windows(x, kh, kw, sh, sw)
    z = depthwise_forward(win, k) + bias
    dz = rng.standard_normal(z.shape).astype(dtype)
    dk, dx = depthwise_backward(win, k, dz, x.shape, (sh, sw))
    db_fast = np.full(c * m, np.nan, dtype=dtype)
    z_fast = depthwise_jit.depthwise_forward(x, k, sh, sw, bias)
    dk_fast, dx_fast = depthwise_jit.depthwise_backward(x, k, dz, sh, sw, True, db_fast)
    # magnitudes: the same definitions on absolute values, in float64
    xa, ka, dza = (np.abs(a.astype(np.float64)) for a in (x, k, dz))
    wa = depthwise_windows(xa, kh, kw, sh, sw)
    z_mag = depthwise_forward(wa, ka) + np.abs(bias)
    dk_mag, dx_mag = depthwise_backward(wa, ka, dza, x.shape, (sh, sw))
    rows = n * z.shape[1] * z.shape[2]
    overlaps = -(-kh // sh) * -(-kw // sw)
    for got in (z_fast, dk_fast, dx_fast, db_fast):
        assert got.dtype == np.dtype(dtype)
    check_paths(z_fast, z, gamma(kh * kw + 1, dtype) * z_mag, "z")
    check_paths(dk_fast, dk, gamma(rows, dtype) * dk_mag, "dK")
    check_paths(dx_fast, dx, gamma(m * overlaps, dtype) * dx_mag, "dx")
    check_paths(db_fast, dz.sum(axis=(0, 1, 2)), gamma(rows, dtype) * dza.sum(axis=(0, 1, 2)),
                "db")


def test_without_dx_or_bias_the_same_dk_bits():
    n, h, w, c, m, kh, kw, sh, sw = CASES[1]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, h, w, c)).astype("float32")
    k = rng.standard_normal((kh, kw, c, m)).astype("float32")
    z = depthwise_jit.depthwise_forward(x, k, sh, sw)
    np.testing.assert_array_equal(
        depthwise_jit.depthwise_forward(x, k, sh, sw, np.zeros(c * m, "float32")), z)
    dz = rng.standard_normal(z.shape).astype("float32")
    dk, dx = depthwise_jit.depthwise_backward(x, k, dz, sh, sw)
    db = np.empty(c * m, "float32")
    dk_db, dx_db = depthwise_jit.depthwise_backward(x, k, dz, sh, sw, True, db)
    dk_only, none = depthwise_jit.depthwise_backward(x, k, dz, sh, sw, False)
    assert none is None
    np.testing.assert_array_equal(dk_db, dk)
    np.testing.assert_array_equal(dk_only, dk)
    np.testing.assert_array_equal(dx_db, dx)


@pytest.mark.parametrize("sw", [1, 2])
def test_one_and_two_threads_give_the_same_bits(sw):
    # large enough for spread() to cut the loops into pieces (and dK, db into all 16 blocks)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((21, 12, 13, 8)).astype("float32")
    k = rng.standard_normal((3, 3, 8, 2)).astype("float32")
    bias = rng.standard_normal(16).astype("float32")
    dz = rng.standard_normal(depthwise_jit.depthwise_forward(x, k, 1, sw).shape)
    dz = dz.astype("float32")
    runs = []
    before = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            db = np.empty(16, "float32")
            dk, dx = depthwise_jit.depthwise_backward(x, k, dz, 1, sw, True, db)
            runs.append((depthwise_jit.depthwise_forward(x, k, 1, sw, bias), dk, dx, db))
    finally:
        numba.set_num_threads(before)
    for name, one, two in zip(("z", "dK", "dx", "db"), *runs):
        np.testing.assert_array_equal(one, two, err_msg=name)


def test_bad_bias_shapes_name_the_argument():
    x = np.zeros((2, 5, 5, 3), np.float32)
    k = np.zeros((3, 3, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"bias of shape \(6,\) expected.*\(3,\)"):
        depthwise_jit.depthwise_forward(x, k, 1, 1, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"bias_gradient of shape \(6,\) expected.*\(2, 3\)"):
        depthwise_jit.depthwise_backward(x, k, np.zeros((2, 3, 3, 6), np.float32), 1, 1,
                                         True, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"strides must be positive.*\(0, 1\)"):
        depthwise_jit.depthwise_forward(x, k, 0, 1)
