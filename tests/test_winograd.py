"""Winograd F(4x4, 3x3): the definitions equal im2col's convolution and its gradients, the numba
transforms equal the definitions, and Conv2D's Winograd path equals its im2col path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import threads
from convnet.kernels import reference, winograd, winograd_jit
from convnet.layers import Conv2D

SETTINGS = settings(max_examples=30, deadline=None)
needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="NumPy's OpenBLAS thread control not found")


@st.composite
def images(draw, min_side=3):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(min_side, 13)), draw(st.integers(min_side, 13))
    f = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, h, w, c)), rng.standard_normal((3, 3, c, f)), rng


def im2col_conv(x, kernel):
    """The textbook definition: 'valid' stride-1 correlation as one matrix product."""
    n, h, w, _ = x.shape
    z = reference.im2col(x, 3, 3, 1, 1) @ kernel.reshape(-1, kernel.shape[3])
    return z.reshape(n, h - 2, w - 2, kernel.shape[3])


@SETTINGS
@given(images())
def test_winograd_definitions_equal_im2col(case):
    x, kernel, rng = case
    n, h, w, c = x.shape
    f = kernel.shape[3]
    np.testing.assert_allclose(winograd.conv2d(x, kernel), im2col_conv(x, kernel), atol=1e-11)
    dz = rng.standard_normal((n, h - 2, w - 2, f))
    cols = reference.im2col(x, 3, 3, 1, 1)
    dk = (cols.T @ dz.reshape(-1, f)).reshape(kernel.shape)            # dK = cols.T @ dZ
    np.testing.assert_allclose(winograd.kernel_gradient(x, dz), dk, atol=1e-10)
    dx = reference.col2im(dz.reshape(-1, f) @ kernel.reshape(-1, f).T, x.shape, 3, 3, 1, 1)
    np.testing.assert_allclose(winograd.input_gradient(dz, kernel), dx, atol=1e-11)


@SETTINGS
@given(images(min_side=1), st.sampled_from([0, 2]), st.sampled_from([np.float32, np.float64]),
       st.booleans())
def test_numba_transforms_equal_the_definitions(case, pad, dtype, relu):
    x, _, rng = case
    x = x.astype(dtype)
    n, h, w, c = x.shape
    tol = 1e-12 if dtype == np.float64 else 1e-4
    th, tw = winograd.tile_grid(h, w)               # any tile count, including partial tiles
    v = np.full((winograd.CELLS, n * th * tw, c), np.nan, dtype=dtype)
    winograd_jit.input_transform_serial(x, pad, th, tw, v)
    np.testing.assert_allclose(v, winograd.input_transform(x, pad, th, tw), rtol=tol, atol=tol)

    wz = np.full_like(v, np.nan)
    winograd_jit.gradient_transform_serial(x, th, tw, wz)
    np.testing.assert_allclose(wz, winograd.gradient_transform(x, th, tw), rtol=tol, atol=tol)

    m = rng.standard_normal(v.shape).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    y = np.full((n, h, w, c), np.nan, dtype=dtype)
    winograd_jit.output_transform_serial(m, bias, relu, th, tw, y)
    want = winograd.output_transform(m, n, th, tw, h, w) + bias
    np.testing.assert_allclose(y, np.maximum(want, 0) if relu else want, rtol=tol, atol=tol)


def test_kernel_transforms_invert_as_the_products_need():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 4, 5))
    flipped = winograd.flipped_kernel(kernel)
    assert flipped.shape == (3, 3, 5, 4)
    assert flipped[0, 0, 2, 1] == kernel[2, 2, 1, 2]
    u = winograd.kernel_transform(kernel)
    assert u.shape == (winograd.CELLS, 4, 5) and u.dtype == kernel.dtype
    # a one-hot dL/dz on one output pixel gives back the input window around it as dK
    x = rng.standard_normal((1, 6, 6, 4))
    dz = np.zeros((1, 4, 4, 5))
    dz[0, 1, 2, 3] = 1.0
    dk = winograd.kernel_gradient(x, dz)
    np.testing.assert_allclose(dk[..., 3], x[0, 1:4, 2:5, :], atol=1e-12)
    np.testing.assert_allclose(np.delete(dk, 3, axis=3), 0, atol=1e-12)


@pytest.mark.needs_jit
def test_float32_rounding_stays_small_on_the_tutorials_conv2():
    """The documented cost of the 4x fewer multiplications: a few 1e-6 of the largest output
    in float32 (im2col's own rounding: about 2e-7)."""
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal((2, 26, 26, 32)), 0)
    kernel = rng.uniform(-0.1, 0.1, (3, 3, 32, 64))
    exact = im2col_conv(x, kernel)
    layer = Conv2D(64, (3, 3), use_bias=False, input_shape=(26, 26, 32))
    layer.build((26, 26, 32))
    layer.params["kernel"][...] = kernel
    x32 = x.astype(np.float32)
    if not layer._winograd():
        pytest.skip("the Winograd path needs NumPy's OpenBLAS thread control")
    got = layer.forward(x32)
    error = np.abs(got - exact).max() / np.abs(exact).max()
    assert error < 2e-5, error


def _pair(make, shape):
    """Two copies of one layer with equal weights: one takes the Winograd path, one im2col's."""
    rng = np.random.default_rng(4)
    fast, plain = make(), make()
    fast.WINOGRAD_MIN_CHANNELS, plain.WINOGRAD_MIN_CHANNELS = 1, 10**9
    for layer in (fast, plain):
        layer.build(shape)
        layer.TASK, layer.CHUNK = 5, 2                  # 13 samples: uneven tasks and chunks
    for key, value in fast.params.items():
        value[...] = rng.standard_normal(value.shape)
        plain.params[key][...] = value
    assert fast._winograd() and not plain._winograd()
    return fast, plain, rng


WINOGRAD_LAYERS = [
    (lambda: Conv2D(5, (3, 3), activation="relu"), (9, 7, 3)),             # fused ReLU mask
    (lambda: Conv2D(4, (3, 3), padding="same", activation="tanh"), (7, 8, 2)),
    (lambda: Conv2D(3, (3, 3), use_bias=False, activation="relu"), (6, 6, 2)),
    (lambda: Conv2D(3, (3, 3), padding="same", activation="relu",
                    data_format="channels_first"), (2, 6, 5)),
    (lambda: Conv2D(2, (3, 3)), (3, 4, 2)),                                 # one partial tile
]


@needs_openblas
@pytest.mark.parametrize("make,shape", WINOGRAD_LAYERS)
@pytest.mark.parametrize("input_gradient", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_winograd_path_equals_the_im2col_path(make, shape, input_gradient, dtype):
    from convnet import backend
    backend.set_floatx(dtype)
    fast, plain, rng = _pair(make, shape)
    tol = 1e-10 if dtype == "float64" else 2e-5
    x = rng.standard_normal((13,) + shape).astype(dtype)
    y = fast.forward(x, training=True)
    np.testing.assert_allclose(y, plain.forward(x, training=True), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dx_plain = (layer.backward(dy, input_gradient=input_gradient) for layer in (fast, plain))
    if input_gradient:
        np.testing.assert_allclose(dx, dx_plain, rtol=tol, atol=tol)
    else:
        assert dx is None and dx_plain is None
    for key in fast.grads:
        scale = np.abs(plain.grads[key]).max()
        np.testing.assert_allclose(fast.grads[key], plain.grads[key], atol=tol * scale)
    np.testing.assert_allclose(fast.infer_chunk(x[:3]), plain.infer_chunk(x[:3]),   # predict's
                               rtol=tol, atol=tol)


def test_winograd_path_is_for_3x3_stride_1_kernels_with_enough_channels():
    def takes_it(layer, channels):
        layer.build((8, 8, channels))
        return layer._winograd()

    if not threads.available():
        assert not takes_it(Conv2D(4, (3, 3)), 32)
        return
    assert takes_it(Conv2D(4, (3, 3)), 32)
    assert takes_it(Conv2D(4, (3, 3)), Conv2D.WINOGRAD_MIN_CHANNELS)
    assert not takes_it(Conv2D(4, (3, 3)), Conv2D.WINOGRAD_MIN_CHANNELS - 1)
    assert not takes_it(Conv2D(4, (3, 3), strides=2), 32)
    assert not takes_it(Conv2D(4, (5, 5)), 32)
    assert not takes_it(Conv2D(4, (3, 3), dtype="float16"), 32)
