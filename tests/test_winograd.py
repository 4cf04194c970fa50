"""Winograd F(4x4, 3x3): the definitions equal im2col's convolution and its gradients, the numba
transforms equal the definitions, and Conv2D's Winograd path equals its im2col path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import error_bounds
from convnet import threads
from convnet.fast import conv_paths
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
    # float64 on both sides; each within its own bound of the exact result
    z_bound = (error_bounds.winograd_conv_bound(x, kernel)
               + error_bounds.conv_bound(x, kernel, 1, 1).reshape(n, h - 2, w - 2, f))
    error_bounds.check(winograd.conv2d(x, kernel), im2col_conv(x, kernel), z_bound, "z")
    dz = rng.standard_normal((n, h - 2, w - 2, f))
    cols = reference.im2col(x, 3, 3, 1, 1)
    dk = (cols.T @ dz.reshape(-1, f)).reshape(kernel.shape)            # dK = cols.T @ dZ
    dk_bound = (error_bounds.winograd_kernel_grad_bound(x, dz)
                + error_bounds.kernel_grad_bound(x, dz.reshape(-1, f), 3, 3, 1, 1))
    error_bounds.check(winograd.kernel_gradient(x, dz), dk, dk_bound, "dK")
    dcols = dz.reshape(-1, f) @ kernel.reshape(-1, f).T
    dx = reference.col2im(dcols, x.shape, 3, 3, 1, 1)
    dx_bound = (error_bounds.winograd_input_grad_bound(dz, kernel)
                + error_bounds.gamma(9 * f, x.dtype) * reference.col2im(
                    np.abs(dz.reshape(-1, f)) @ np.abs(kernel.reshape(-1, f)).T,
                    x.shape, 3, 3, 1, 1))
    error_bounds.check(winograd.input_gradient(dz, kernel), dx, dx_bound, "dx")


@SETTINGS
@given(images(min_side=1), st.sampled_from([0, 2]), st.sampled_from([np.float32, np.float64]),
       st.booleans())
def test_numba_transforms_equal_the_definitions(case, pad, dtype, relu):
    x, _, rng = case
    x = x.astype(dtype)
    n, h, w, c = x.shape
    th, tw = winograd.tile_grid(h, w)               # any tile count, including partial tiles
    v_bound, wz_bound = error_bounds.winograd_transform_bounds(x, pad, th, tw)
    v = np.full((winograd.CELLS, n * th * tw, c), np.nan, dtype=dtype)
    winograd_jit.input_transform_serial(x, pad, th, tw, v)
    error_bounds.check_paths(v, winograd.input_transform(x, pad, th, tw), v_bound, "V")

    wz = np.full_like(v, np.nan)
    winograd_jit.gradient_transform_serial(x, th, tw, wz)
    error_bounds.check_paths(wz, winograd.gradient_transform(x, th, tw), wz_bound, "W")

    m = rng.standard_normal(v.shape).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    y = np.full((n, h, w, c), np.nan, dtype=dtype)
    winograd_jit.output_transform_serial(m, bias, relu, th, tw, y)
    want = winograd.output_transform(m, n, th, tw, h, w) + bias
    error_bounds.check_paths(y, np.maximum(want, 0) if relu else want,
                             error_bounds.winograd_output_transform_bound(m, bias, n, th, tw, h, w),
                             "Y")


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
    bound = error_bounds.winograd_kernel_grad_bound(x, dz)
    error_bounds.check(dk[..., 3], x[0, 1:4, 2:5, :], bound[..., 3], "dK of the one-hot filter")
    error_bounds.check(np.delete(dk, 3, axis=3), 0, np.delete(bound, 3, axis=3), "other dK")


@pytest.mark.needs_jit
def test_float32_rounding_stays_small_on_the_tutorials_conv2():
    """The documented cost of the 4x fewer multiplications: a few 1e-6 of the largest output
    in float32 (im2col's own rounding: about 2e-7), inside Winograd's error bound."""
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal((2, 26, 26, 32)), 0)
    kernel = rng.uniform(-0.1, 0.1, (3, 3, 32, 64))
    exact = im2col_conv(x, kernel)
    layer = Conv2D(64, (3, 3), use_bias=False, input_shape=(26, 26, 32))
    layer.build((26, 26, 32))
    layer.params["kernel"][...] = kernel
    x32 = x.astype(np.float32)
    if layer.path.name != "winograd":
        pytest.skip("the Winograd path needs NumPy's OpenBLAS thread control")
    got = layer.forward(x32)
    error_bounds.check(got, exact, error_bounds.winograd_conv_bound(x32, kernel.astype(np.float32)),
                       "Winograd conv2 against the exact result")
    ratio = error_bounds.check(got, exact, error_bounds.winograd_probabilistic_bound(x, kernel,
                                                                                    np.float32),
                               "against the probabilistic bound")
    print(f"largest error {np.abs(got - exact).max() / np.abs(exact).max():.3g} of the largest "
          f"output; {ratio:.3g} of the probabilistic bound")


def _pair(make, shape):
    """Two copies of one layer with equal weights: one takes the Winograd path, one im2col's."""
    rng = np.random.default_rng(4)
    fast, plain = make(), make()
    fast.WINOGRAD_MIN_CHANNELS, plain.WINOGRAD_MIN_CHANNELS = 1, 10**9
    fast.WINOGRAD_MIN_FILL = 0.0                        # whatever the output size
    for layer in (fast, plain):
        layer.build(shape)
        layer.TASK, layer.CHUNK = 5, 2                  # 13 samples: uneven tasks and chunks
    for key, value in fast.params.items():
        value[...] = rng.standard_normal(value.shape)
        plain.params[key][...] = value
    assert fast.path.name == "winograd" and plain.path.name != "winograd"
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
    x = rng.standard_normal((13,) + shape).astype(dtype)
    y = fast.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    bounds = error_bounds.layer_bounds(fast, x, dy)         # covers Winograd and im2col
    error_bounds.check_paths(y, plain.forward(x, training=True), bounds["y"], "y")
    dx, dx_plain = (layer.backward(dy, input_gradient=input_gradient) for layer in (fast, plain))
    if input_gradient:
        error_bounds.check_paths(dx, dx_plain, bounds["dx"], "dx")
    else:
        assert dx is None and dx_plain is None
    for key in fast.grads:
        error_bounds.check_paths(fast.grads[key], plain.grads[key], bounds[key], key)
    error_bounds.check_paths(fast.infer_chunk(x[:3]), plain.infer_chunk(x[:3]),   # predict's
                             bounds["y"][:3], "infer_chunk")


def test_winograd_path_is_for_3x3_stride_1_kernels_with_enough_channels():
    def takes_it(layer, channels):
        layer.build((8, 8, channels))
        return layer.path.name == "winograd"

    if not threads.available():
        assert not takes_it(Conv2D(4, (3, 3)), 32)
        return
    assert takes_it(Conv2D(4, (3, 3)), 32)
    assert takes_it(Conv2D(4, (3, 3)), Conv2D.WINOGRAD_MIN_CHANNELS)
    assert not takes_it(Conv2D(4, (3, 3)), Conv2D.WINOGRAD_MIN_CHANNELS - 1)
    assert not takes_it(Conv2D(4, (3, 3), strides=2), 32)
    assert not takes_it(Conv2D(4, (5, 5)), 32)
    assert not takes_it(Conv2D(4, (3, 3), dtype="float16"), 32)


def test_winograd_leaves_outputs_its_tiles_mostly_miss_to_im2col():
    """A 5x5 output takes 2x2 of Winograd's 4x4 tiles, 64 cells for 25: im2col is faster
    there (benchmarks/README.md); 13x13 (16x16 cells) and 8x8 stay Winograd."""
    assert conv_paths.tile_fill((8, 8)) == 1.0
    assert conv_paths.tile_fill((5, 5)) == 25 / 64
    assert conv_paths.tile_fill((13, 13)) == 169 / 256
    if not threads.available():
        return

    def path(input_hw, padding="same", **attrs):
        layer = Conv2D(8, 3, padding=padding)
        for key, value in attrs.items():
            setattr(layer, key, value)
        layer.build(input_hw + (32,))
        return layer.path.name

    assert path((5, 5)) == "im2col per core"
    assert path((7, 7), padding="valid") == "im2col per core"     # 5x5 output
    assert path((13, 13)) == "winograd"
    assert path((8, 8)) == "winograd"
    assert path((5, 5), WINOGRAD_MIN_FILL=0.0) == "winograd"
    channels_first = Conv2D(8, 3, padding="same", data_format="channels_first")
    channels_first.build((32, 5, 5))
    assert channels_first.path.name == "im2col per core"


@pytest.mark.skipif(not threads.available(), reason="Winograd runs as per-core tasks")
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_backward_from_the_kept_tiles_is_the_recomputed_one(padding, monkeypatch):
    """Training's forward pass keeps its input tiles for dL/dK (Winograd.KEEP_TILES); they are
    the very numbers the backward pass would transform again, so the gradients keep their
    bits. An inference forward keeps nothing."""
    rng = np.random.default_rng(8)
    layer = Conv2D(5, 3, padding=padding, activation="relu")
    layer.build((9, 10, 16))
    layer.TASK, layer.CHUNK = 4, 3                     # 11 samples: uneven tasks and chunks
    layer.params["bias"][...] = rng.standard_normal(5)
    x = rng.standard_normal((11, 9, 10, 16)).astype("float32")
    dy = rng.standard_normal(layer.forward(x, training=True).shape).astype("float32")
    assert layer.path.name == "winograd"
    results = []
    for keep in (True, False):
        monkeypatch.setattr(conv_paths.Winograd, "KEEP_TILES", keep)
        layer.forward(x, training=True)
        dx = layer.backward(dy)
        results.append([dx] + [layer.grads[k].copy() for k in ("kernel", "bias")])
    for kept, again in zip(*results):
        np.testing.assert_array_equal(kept, again)
    monkeypatch.setattr(conv_paths.Winograd, "KEEP_TILES", True)
    layer.forward(x, training=True)
    assert layer.path.holds_tiles
    layer.forward(x, training=False)
    assert not layer.path.holds_tiles
