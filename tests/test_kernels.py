"""The numba kernels equal their plain NumPy definitions over many shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import error_bounds
from convnet import activations
from convnet.kernels import jit, reference

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def conv_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(kh, kh + 7))
    w = draw(st.integers(kw, kw + 7))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**16))
    return n, h, w, c, kh, kw, sh, sw, dtype, seed


@SETTINGS
@given(conv_case())
def test_im2col_matches_reference(case):
    n, h, w, c, kh, kw, sh, sw, dtype, seed = case
    x = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(dtype)
    expected = reference.im2col(x, kh, kw, sh, sw)
    got = jit.im2col(x, kh, kw, sh, sw)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(conv_case())
def test_col2im_matches_reference(case):
    n, h, w, c, kh, kw, sh, sw, dtype, seed = case
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = np.random.default_rng(seed).standard_normal((n * oh * ow, kh * kw * c)).astype(dtype)
    expected = reference.col2im(cols, (n, h, w, c), kh, kw, sh, sw)
    got = jit.col2im(cols, (n, h, w, c), kh, kw, sh, sw)
    # the same sums in a different order
    bound = error_bounds.overlap_sum_bound(cols, (n, h, w, c), kh, kw, sh, sw)
    error_bounds.check_paths(got, expected, bound, "col2im")
    stale = np.full((n, h, w, c), 7.0, dtype=dtype)   # a reused buffer holding old numbers
    for twin in (jit, reference):
        assert twin.col2im(cols, (n, h, w, c), kh, kw, sh, sw, out=stale) is stale
        error_bounds.check_paths(stale, expected, bound, "col2im into a reused buffer")
        stale[...] = 7.0


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), c> == <x, col2im(c)> for all x, c: why col2im must *add* overlapping cells
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3))
    cols = rng.standard_normal(reference.im2col(x, 3, 2, 2, 1).shape)
    lhs = np.sum(reference.im2col(x, 3, 2, 2, 1) * cols)
    rhs = np.sum(x * reference.col2im(cols, x.shape, 3, 2, 2, 1))
    assert np.isclose(lhs, rhs, rtol=1e-12)     # float64 sums of 378 products: ~1e-14


def test_im2col_layout_is_the_keras_kernel_layout():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 5, 2))
    kernel = rng.standard_normal((3, 2, 2, 4))          # (kh, kw, in, out)
    z = reference.im2col(x, 3, 2, 1, 1) @ kernel.reshape(-1, 4)
    # direct cross-correlation for one output pixel (i=1, j=2) and filter 3
    direct = np.sum(x[0, 1:4, 2:4, :] * kernel[:, :, :, 3])
    assert np.isclose(z[(0 * 2 + 1) * 4 + 2, 3], direct, rtol=1e-12)  # 12 float64 products


@st.composite
def pool_case(draw):
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(ph, ph + 6)), draw(st.integers(pw, pw + 6))
    same = draw(st.booleans())
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    ties = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return n, h, w, c, ph, pw, sh, sw, same, ties, dtype, draw(st.integers(0, 2**16))


def _pool_geometry(h, w, ph, pw, sh, sw, same):
    from convnet.layers.padding import same_padding, window_output_size
    padding = "same" if same else "valid"
    oh, ow = window_output_size(h, ph, sh, padding), window_output_size(w, pw, sw, padding)
    top = same_padding(h, ph, sh)[0] if same else 0
    left = same_padding(w, pw, sw)[0] if same else 0
    return oh, ow, top, left


@SETTINGS
@given(pool_case())
def test_maxpool_matches_reference(case):
    n, h, w, c, ph, pw, sh, sw, same, ties, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 3, (n, h, w, c)) if ties else rng.standard_normal((n, h, w, c)))
    x = x.astype(dtype)
    geom = _pool_geometry(h, w, ph, pw, sh, sw, same)
    y_ref, arg_ref = reference.maxpool_forward(x, ph, pw, sh, sw, *geom)
    y_jit, arg_jit = jit.maxpool_forward(x, ph, pw, sh, sw, *geom)
    np.testing.assert_array_equal(y_jit, y_ref)
    np.testing.assert_array_equal(arg_jit, arg_ref)   # ties: the same (first) winner
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    # a cell that wins several overlapping windows sums their dy, at most ceil(ph/sh)*ceil(pw/sw)
    overlaps = -(-ph // sh) * -(-pw // sw)
    bound = error_bounds.gamma(overlaps, dtype) * reference.maxpool_backward(
        np.abs(dy.astype(np.float64)), arg_ref, x.shape)
    error_bounds.check_paths(jit.maxpool_backward(dy, arg_jit, x.shape),
                             reference.maxpool_backward(dy, arg_ref, x.shape), bound,
                             "maxpool_backward")


def test_maxpool_same_padding_never_picks_padding():
    x = -np.ones((1, 3, 3, 1))          # all negative: a zero pad would win if it were used
    y, arg = jit.maxpool_forward(x, 2, 2, 2, 2, 2, 2, 0, 0)
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(y, -1)
    assert arg.min() >= 0 and arg.max() < 9


@SETTINGS
@given(pool_case())
def test_avgpool_matches_reference(case):
    n, h, w, c, ph, pw, sh, sw, same, _, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    oh, ow, top, left = _pool_geometry(h, w, ph, pw, sh, sw, same)
    y_ref = reference.avgpool_forward(x, ph, pw, sh, sw, oh, ow, top, left)
    error_bounds.check_paths(jit.avgpool_forward(x, ph, pw, sh, sw, oh, ow, top, left), y_ref,
                             error_bounds.avgpool_bound(x, ph, pw, sh, sw, oh, ow, top, left),
                             "avgpool_forward")
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    error_bounds.check_paths(
        jit.avgpool_backward(dy, x.shape, ph, pw, sh, sw, top, left),
        reference.avgpool_backward(dy, x.shape, ph, pw, sh, sw, top, left),
        error_bounds.avgpool_backward_bound(dy, x.shape, ph, pw, sh, sw, top, left),
        "avgpool_backward")


def test_avgpool_same_divides_by_real_cells():
    x = np.ones((1, 3, 3, 1))
    y = reference.avgpool_forward(x, 2, 2, 2, 2, 2, 2, 0, 0)   # edge windows hold 2 or 1 cells
    np.testing.assert_array_equal(y, 1.0)                       # a zero pad would give 0.5/0.25


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adadelta_update_matches_reference(dtype):
    rng = np.random.default_rng(4)
    shape = (37, 5)
    p, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    a, d = rng.uniform(0, 1, shape).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)
    ref = [arr.copy() for arr in (p, g, a, d)]
    bounds = error_bounds.adadelta_bounds(p, g, a, d, 1.0, 0.95, 1e-7)
    reference.adadelta_update(*ref, 1.0, 0.95, 1e-7)
    jit.adadelta_update(p, g, a, d, 1.0, 0.95, 1e-7)
    # the same formula, rounded in a different order
    for got, want, bound, name in zip((p, a, d), (ref[0], ref[2], ref[3]), bounds, "pad"):
        error_bounds.check_paths(got, want, bound, f"adadelta {name}")


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 70), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**16))
def test_bias_relu_matches_reference(rows, f, dtype, seed):
    rng = np.random.default_rng(seed)
    z, bias = rng.standard_normal((rows, f)).astype(dtype), rng.standard_normal(f).astype(dtype)
    expected = reference.bias_relu(z.copy(), bias)
    got = jit.bias_relu(z, bias)
    assert got is z                                   # in place, as the layers rely on
    np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 70), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**16))
def test_relu_bias_backward_matches_reference(rows, f, dtype, seed):
    rng = np.random.default_rng(seed)
    dy = rng.standard_normal((rows, f)).astype(dtype)
    y = np.maximum(rng.standard_normal((rows, f)), 0).astype(dtype)   # a ReLU output: many 0s
    dz_ref, db_ref = reference.relu_bias_backward(dy, y)
    dz, db = jit.relu_bias_backward(dy, y)
    np.testing.assert_array_equal(dz, dz_ref)
    # db sums in blocks, NumPy pairwise: the same numbers added in another order
    error_bounds.check_paths(db, db_ref, error_bounds.column_sum_bound(dz_ref), "db")


@SETTINGS
@given(st.lists(st.integers(1, 40), min_size=1, max_size=4),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_relu_twins_match_the_activation(shape, dtype, seed):
    """jit.relu / relu_backward are activations.relu / relu_backward, bit for bit (elementwise:
    no sum, so no rounding to differ), into a new array or in place."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y = activations.relu(z)
    np.testing.assert_array_equal(jit.relu(z), y)
    np.testing.assert_array_equal(jit.relu_backward(dy, y), activations.relu_backward(dy, y))
    inplace = z.copy()
    assert jit.relu(inplace, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, y)


def test_relu_twins_keep_nan_and_inf_and_take_any_array():
    z = np.array([np.nan, -1.0, 0.0, 2.0, np.inf, -np.inf], np.float32)
    np.testing.assert_array_equal(jit.relu(z), activations.relu(z))
    dy = np.array([np.nan, np.inf, 1.0, np.nan, -2.0, 3.0], np.float32)
    y = np.array([0.0, 0.0, 0.0, 1.0, np.nan, 2.0], np.float32)
    with np.errstate(invalid="ignore"):                  # inf * 0 is NaN, as it should be
        np.testing.assert_array_equal(jit.relu_backward(dy, y), activations.relu_backward(dy, y))
    big = np.random.default_rng(1).standard_normal((70, 1000)).astype(np.float32)   # > INLINE:
    np.testing.assert_array_equal(jit.relu(big), activations.relu(big))            # on workers
    # what the loops do not take goes to the NumPy definition: float16, strided, mixed dtypes
    half = z.astype(np.float16)
    np.testing.assert_array_equal(jit.relu(half), activations.relu(half))
    np.testing.assert_array_equal(jit.relu(big[:, ::2]), activations.relu(big[:, ::2]))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(jit.relu_backward(dy, y.astype(np.float64)),
                                      activations.relu_backward(dy, y.astype(np.float64)))


def test_fused_kernels_keep_nan_and_inf_as_numpy_does():
    z = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf]], np.float32)
    np.testing.assert_array_equal(jit.bias_relu(z.copy(), np.zeros(5, np.float32)),
                                  reference.bias_relu(z.copy(), np.zeros(5, np.float32)))
    dy = np.array([[np.nan, np.inf, 1.0, np.nan, -2.0]], np.float32)
    y = np.array([[0.0, 0.0, 0.0, 1.0, np.nan]], np.float32)
    for got, want in zip(jit.relu_bias_backward(dy, y), reference.relu_bias_backward(dy, y)):
        np.testing.assert_array_equal(got, want)


def test_fused_kernels_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="bias_relu"):
        jit.bias_relu(np.zeros((4, 3), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="relu_bias_backward"):
        jit.relu_bias_backward(np.zeros((4, 3)), np.zeros((4, 2)))


def test_float16_runs_the_reference_twins():
    """numba cannot do float16 arithmetic; the jit wrappers hand float16 to the NumPy twins."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float16)
    np.testing.assert_array_equal(jit.im2col(x, 3, 3, 1, 1), reference.im2col(x, 3, 3, 1, 1))
    cols = reference.im2col(x, 3, 3, 1, 1)
    np.testing.assert_array_equal(jit.col2im(cols, x.shape, 3, 3, 1, 1),
                                  reference.col2im(cols, x.shape, 3, 3, 1, 1))
    y, arg = jit.maxpool_forward(x, 2, 2, 2, 2, 2, 2, 0, 0)
    assert y.dtype == np.float16
    z, b = rng.standard_normal((6, 4)).astype(np.float16), np.ones(4, np.float16)
    np.testing.assert_array_equal(jit.bias_relu(z.copy(), b), reference.bias_relu(z.copy(), b))
    dz, db = jit.relu_bias_backward(z, np.maximum(z, 0))
    assert dz.dtype == db.dtype == np.float16


@SETTINGS
@given(conv_case(), st.integers(1, 9), st.booleans())
def test_conv2d_direct_matches_reference(case, filters, relu):
    n, h, w, c, kh, kw, sh, sw, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    expected = reference.conv2d_direct(x, kernel, bias, sh, sw, relu)
    got = jit.conv2d_direct(x, kernel, bias, sh, sw, relu)
    assert got.dtype == dtype and got.shape == expected.shape
    error_bounds.check_paths(got, expected, error_bounds.conv_bound(x, kernel, sh, sw, bias),
                             "conv2d_direct")
    if relu:
        assert (got >= 0).all()


@SETTINGS
@given(conv_case(), st.integers(1, 9))
def test_conv2d_kernel_grads_match_reference(case, filters):
    """conv2d_kernel_grad from dL/dz, and conv2d_relu_grads from dL/dy through a ReLU."""
    n, h, w, c, kh, kw, sh, sw, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    rows = n * ((h - kh) // sh + 1) * ((w - kw) // sw + 1)
    dz = rng.standard_normal((rows, filters)).astype(dtype)
    y = np.maximum(rng.standard_normal((rows, filters)), 0).astype(dtype)   # many zeros
    expected = reference.conv2d_kernel_grad(x, dz, kh, kw, sh, sw)
    got = jit.conv2d_kernel_grad(x, dz, kh, kw, sh, sw)
    assert got.shape == (kh, kw, c, filters) and got.dtype == dtype
    error_bounds.check_paths(got, expected,
                             error_bounds.kernel_grad_bound(x, dz, kh, kw, sh, sw), "dK")
    dk_ref, db_ref = reference.conv2d_relu_grads(x, dz, y, kh, kw, sh, sw)
    dk, db = jit.conv2d_relu_grads(x, dz, y, kh, kw, sh, sw)
    assert dk.shape == (kh, kw, c, filters) and db.shape == (filters,)
    masked = dz * (y > 0)                                  # the mask is exact: y is given
    error_bounds.check_paths(dk, dk_ref,
                             error_bounds.kernel_grad_bound(x, masked, kh, kw, sh, sw),
                             "dK through the ReLU")
    error_bounds.check_paths(db, db_ref, error_bounds.column_sum_bound(masked), "db")


def test_direct_conv_kernels_refuse_mismatched_shapes():
    x = np.zeros((2, 5, 5, 1), np.float32)
    with pytest.raises(ValueError, match="conv2d_direct"):
        jit.conv2d_direct(x, np.zeros((3, 3, 2, 4), np.float32), np.zeros(4, np.float32),
                          1, 1, True)
    with pytest.raises(ValueError, match="conv2d_kernel_grad"):
        jit.conv2d_kernel_grad(x, np.zeros((17, 4), np.float32), 3, 3, 1, 1)


@SETTINGS
@given(st.integers(1, 301), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**64 - 1))
def test_dropout_kernels_match_reference(size, rate, dtype, key):
    rng = np.random.default_rng(key % 2**32)
    x = rng.standard_normal((size, 1)).astype(dtype)
    threshold, scale = int(np.ceil(rate * 2.0**32)), 1 / (1 - rate)
    y_ref, keep_ref = reference.dropout_forward(x, key, threshold, scale)
    y, keep = jit.dropout_forward(x, key, threshold, scale)
    np.testing.assert_array_equal(keep, keep_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert y.dtype == dtype and keep.dtype == bool
    dy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(jit.dropout_backward(dy, keep, scale),
                                  reference.dropout_backward(dy, keep, scale))


def test_random_words_are_splitmix64():
    # the first outputs of SplitMix64 seeded with 0 (the published reference values)
    np.testing.assert_array_equal(reference.random_words(0, 3), np.array(
        [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F], dtype=np.uint64))


def test_dropout_keeps_the_asked_fraction_and_uses_both_halves_of_each_word():
    x = np.ones(1_000_000, np.float32)
    for rate, key in ((0.25, 1), (0.5, 2**63 + 5)):
        threshold = int(np.ceil(rate * 2.0**32))
        y, keep = jit.dropout_forward(x, key, threshold, 1 / (1 - rate))
        assert abs(keep.mean() - (1 - rate)) < 0.002
        assert abs(keep[0::2].mean() - keep[1::2].mean()) < 0.004   # low and high halves
        assert abs(np.mean(keep[1:] == keep[:-1]) - (rate**2 + (1 - rate)**2)) < 0.003
        np.testing.assert_array_equal(y[keep], np.float32(1 / (1 - rate)))
        assert (y[~keep] == 0).all()
    other = jit.dropout_forward(x, key + 1, threshold, 2.0)[1]        # the next stream
    assert abs(np.mean(other == keep) - 0.5) < 0.003


def test_dropout_backward_refuses_another_mask():
    with pytest.raises(ValueError, match="dropout_backward"):
        jit.dropout_backward(np.zeros(5, np.float32), np.ones(4, bool), 1.0)


def test_conv2d_relu_grads_refuse_a_mismatched_output():
    x = np.zeros((2, 5, 5, 1), np.float32)
    with pytest.raises(ValueError, match="conv2d_relu_grads"):
        jit.conv2d_relu_grads(x, np.zeros((18, 4), np.float32), np.zeros((18, 3), np.float32),
                              3, 3, 1, 1)


@SETTINGS
@given(st.integers(1, 3), st.integers(2, 9), st.integers(2, 9), st.integers(1, 4),
       st.sampled_from([(2, 2, 2, 2), (3, 3, 2, 2), (2, 3, 1, 2)]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_unpool_relu_bias_backward_matches_reference(n, h, w, c, pool, dtype, seed):
    ph, pw, sh, sw = pool
    if h < ph or w < pw:
        return
    rng = np.random.default_rng(seed)
    y = np.maximum(rng.standard_normal((n, h, w, c)), 0).astype(dtype)   # a ReLU's output
    oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    _, argmax = reference.maxpool_forward(y, ph, pw, sh, sw, oh, ow, 0, 0)
    dy = rng.standard_normal((n, oh, ow, c)).astype(dtype)
    dz, db = np.full_like(y, np.nan), np.ones(c, dtype=dtype)
    jit.unpool_relu_bias_backward_serial(dy, argmax, y, dz, db)     # db is added into
    dz_ref, db_ref = reference.unpool_relu_bias_backward(dy, argmax, y)
    # dz: a cell that wins overlapping windows sums their dy; db: all rows of dz, plus the 1
    overlaps = -(-ph // sh) * -(-pw // sw)
    dz_mag = reference.unpool_relu_bias_backward(np.abs(dy.astype(np.float64)), argmax, y)[0]
    dz_bound = error_bounds.gamma(overlaps, dtype) * dz_mag
    error_bounds.check_paths(dz, dz_ref, dz_bound, "dz")
    rows = dz_mag.reshape(-1, c)
    db_bound = (error_bounds.gamma(rows.shape[0] + 1, dtype) * (rows.sum(axis=0) + 1)
                + dz_bound.reshape(-1, c).sum(axis=0))
    error_bounds.check_paths(db, db_ref + 1, db_bound, "db")


@SETTINGS
@given(st.integers(1, 1200), st.integers(1, 9), st.sampled_from([np.float32, np.float64]),
       st.booleans(), st.integers(0, 2**16))
def test_batchnorm_kernels_match_reference(rows, c, dtype, batch_stats, seed):
    """BatchNormalization's fast kernels (blocks of rows, float64 sums) against the NumPy
    definitions, each within the rounding bound of its sums of ``rows`` terms."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, c)) * 0.1 + rng.uniform(-1, 1, c)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 2, c).astype(dtype), rng.uniform(-1, 1, c).astype(dtype)
    g = error_bounds.gamma
    mean, var = reference.batchnorm_stats(x)
    mean_j, var_j = jit.batchnorm_stats(x)
    ax = np.abs(x.astype(np.float64))
    error_bounds.check_paths(mean_j, mean, g(rows, dtype) * ax.mean(axis=0), "mean")
    spread = (ax + np.abs(mean.astype(np.float64))) ** 2
    error_bounds.check_paths(var_j, var, g(rows + 4, dtype) * spread.mean(axis=0), "var")
    inv_std = (1 / np.sqrt(var + 1e-3)).astype(dtype)
    xhat, y = reference.batchnorm_forward(x, mean, inv_std, gamma, beta)
    xhat_j, y_j = jit.batchnorm_forward(x, mean, inv_std, gamma, beta)
    scale = (ax + np.abs(mean)) * inv_std                    # |x - mean| * inv_std at most
    error_bounds.check_paths(xhat_j, xhat, g(3, dtype) * scale, "xhat")
    error_bounds.check_paths(y_j, y, g(5, dtype) * (gamma * scale + np.abs(beta)), "y")
    dy = rng.standard_normal((rows, c)).astype(dtype)
    dx, dgamma, dbeta = reference.batchnorm_backward(dy, xhat, gamma * inv_std, batch_stats)
    dx_j, dgamma_j, dbeta_j = jit.batchnorm_backward(dy, xhat, gamma * inv_std, batch_stats)
    ady, axh = np.abs(dy.astype(np.float64)), np.abs(xhat.astype(np.float64))
    error_bounds.check_paths(dgamma_j, dgamma, g(rows, dtype) * (ady * axh).sum(axis=0), "dgamma")
    error_bounds.check_paths(dbeta_j, dbeta, g(rows, dtype) * ady.sum(axis=0), "dbeta")
    terms = ady + ady.mean(axis=0) + axh * (ady * axh).mean(axis=0)
    error_bounds.check_paths(dx_j, dx, g(rows + 6, dtype) * np.abs(gamma * inv_std) * terms, "dx")


def test_batchnorm_stats_keep_a_small_spread_far_from_zero():
    """The fast statistics are one pass of sums shifted by the first row: a channel whose mean
    is 1e7 times its spread still gets its variance to float64 accuracy (an unshifted
    ``mean(x**2) - mean(x)**2`` would lose every digit)."""
    rng = np.random.default_rng(3)
    x = 1e4 + 1e-3 * rng.standard_normal((3000, 4))
    x[0] += 5e-3                                   # the shift itself five spreads off the mean
    mean, var = jit.batchnorm_stats(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=0), rtol=1e-9)
