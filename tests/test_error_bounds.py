"""The rounding-error bounds behind the suite's tolerances (tests/error_bounds.py) hold: each fast
path, run in float32 on random data, against the exact (float64) result. The observed error must
sit inside the bound on any CPU, since the bound holds for any summation order and any FMA use;
and the bounds are tight enough that a real mistake (one product left out) breaks them.

``pytest -s tests/test_error_bounds.py`` prints each path's largest observed-error-to-bound
ratio."""

import numpy as np
import pytest

import error_bounds
from convnet import threads
from convnet.kernels import jit, reference
from convnet.layers import Conv2D, Dense
from convnet.models import Sequential

needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="NumPy's OpenBLAS thread control not found")


def _exact_layer(layer, x, dy):
    """The layer's exact outputs and gradients: its float64 copy on the same weights."""
    exact = error_bounds.float64_twin(layer, x.shape[1:])
    y = exact.forward(x.astype(np.float64), training=True)
    dx = exact.backward(dy.astype(np.float64))
    return {"y": y, "dx": dx, **exact.grads}


def _run_layer(layer, x, dy):
    y = layer.forward(x, training=True).copy()
    dx = layer.backward(dy)
    return {"y": y, "dx": dx, **{k: v.copy() for k, v in layer.grads.items()}}


def _report(path, ratios):
    print(f"\n{path}: " + ", ".join(f"{k} {v:.3g}" for k, v in ratios.items()))
    return ratios


CONV_PATHS = {
    # name: (layer, input shape, how to force the path)
    "direct (9-cell windows)": (lambda: Conv2D(32, (3, 3), activation="relu"), (28, 28, 1),
                                "any"),
    "im2col per core": (lambda: Conv2D(16, (3, 3), padding="same", activation="relu"),
                        (14, 14, 8), "per_core"),
    "im2col blocks": (lambda: Conv2D(16, (5, 5), strides=2, activation="tanh"), (15, 15, 8),
                      "blocks"),
    "Winograd F(4x4, 3x3)": (lambda: Conv2D(64, (3, 3), activation="relu"), (26, 26, 32),
                             "per_core"),
}


@pytest.mark.needs_jit
@pytest.mark.parametrize("name", list(CONV_PATHS))
def test_each_conv_path_stays_inside_its_bound(name, monkeypatch):
    make, shape, path = CONV_PATHS[name]
    if path == "per_core" and not threads.available():
        pytest.skip("per-core paths need NumPy's OpenBLAS thread control")
    if path == "blocks":
        monkeypatch.setattr(threads, "_OPENBLAS", None)
    rng = np.random.default_rng(7)
    layer = make()
    layer.build(shape)
    layer.params["kernel"][...] = rng.uniform(-0.1, 0.1, layer.params["kernel"].shape)
    layer.params["bias"][...] = rng.uniform(-0.1, 0.1, layer.params["bias"].shape)
    x = np.maximum(rng.standard_normal((16,) + shape), 0).astype(np.float32)  # ReLU-like input
    dy = rng.standard_normal((16,) + layer.compute_output_shape(shape)).astype(np.float32)
    got = _run_layer(layer, x, dy)
    exact = _exact_layer(layer, x, dy)
    bounds = error_bounds.layer_bounds(layer, x, dy)
    ratios = {k: error_bounds.check(got[k], exact[k], bounds[k], f"{name} {k}") for k in got}
    _report(name, ratios)


def test_dense_stays_inside_its_bound():
    rng = np.random.default_rng(8)
    layer = Dense(128, activation="relu")
    layer.build((9216,))                               # the tutorial's first Dense layer
    layer.params["kernel"][...] = rng.uniform(-0.02, 0.02, layer.params["kernel"].shape)
    x = np.maximum(rng.standard_normal((32, 9216)), 0).astype(np.float32)
    dy = rng.standard_normal((32, 128)).astype(np.float32)
    got, exact = _run_layer(layer, x, dy), _exact_layer(layer, x, dy)
    bounds = error_bounds.layer_bounds(layer, x, dy)
    _report("Dense 9216 -> 128", {k: error_bounds.check(got[k], exact[k], bounds[k], k)
                                  for k in got})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_twins_stay_inside_their_bounds(dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 12, 11, 3))
    kernel, bias = rng.standard_normal((3, 3, 3, 6)), rng.standard_normal(6)
    exact = reference.conv2d_direct(x, kernel, bias, 1, 2, False)
    xs, ks, bs = (a.astype(dtype) for a in (x, kernel, bias))
    # float32 against float64 (whose own error is 2**-29 of the bound): one path's bound;
    # float64 against float64 in another order: two paths'
    check = error_bounds.check if dtype == np.float32 else error_bounds.check_paths
    bound = error_bounds.conv_bound(xs, ks, 1, 2, bs)
    dz = rng.standard_normal(exact.shape)
    ratios = {"conv2d_direct": check(jit.conv2d_direct(xs, ks, bs, 1, 2, False),
                                                  exact, bound, "conv2d_direct"),
              "conv2d_kernel_grad": check(
                  jit.conv2d_kernel_grad(xs, dz.astype(dtype), 3, 3, 1, 2),
                  reference.conv2d_kernel_grad(x, dz, 3, 3, 1, 2),
                  error_bounds.kernel_grad_bound(xs, dz.astype(dtype), 3, 3, 1, 2), "dK"),
              # dz @ K.T: 6 products; col2im then adds up to ceil(3/1) * ceil(3/2) = 6 of them
              "col2im": check(
                  jit.col2im(dz.astype(dtype) @ ks.reshape(-1, 6).T, x.shape, 3, 3, 1, 2),
                  reference.col2im(dz @ kernel.reshape(-1, 6).T, x.shape, 3, 3, 1, 2),
                  error_bounds.gamma(6 + 6, dtype) * reference.col2im(
                      np.abs(dz) @ np.abs(kernel.reshape(-1, 6)).T, x.shape, 3, 3, 1, 2),
                  "col2im of dz @ K.T")}
    _report(f"kernels, {np.dtype(dtype).name}", ratios)


@needs_openblas
@pytest.mark.needs_jit
def test_tutorial_predict_stays_inside_its_bound():
    """The whole tutorial model, per-core predict in float32 (direct conv1, Winograd conv2),
    against its float64 twin: inside the worst-case bound, and inside the probabilistic one."""
    dtype = "float32"
    from convnet.layers import Dropout, Flatten, MaxPooling2D
    rng = np.random.default_rng(13)
    from convnet import backend
    backend.set_floatx(dtype)                     # every layer computes in dtype
    model = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                        Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)),
                        Dropout(0.25), Flatten(), Dense(128, activation="relu"), Dropout(0.5),
                        Dense(10, activation="softmax")])
    model.build((None, 28, 28, 1))
    x = rng.uniform(0, 1, (24, 28, 28, 1)).astype(dtype)
    got = model.predict(x)
    assert model.layers[1].path.name == "winograd"
    exact, bound = error_bounds.model_bound(model, x)
    ratios = {"worst case": error_bounds.check(got, exact, bound, "p")}
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    ratios["probabilistic"] = error_bounds.check(got, exact, bound, "p (probabilistic)")
    _report(f"tutorial predict, {dtype}", ratios)


def test_a_dropped_product_breaks_the_bound():
    """The bounds are not so loose that a real mistake passes: leaving out one of the 27
    products of each output (one kernel tap) is caught."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    bias = np.zeros(4, np.float32)
    exact = reference.conv2d_direct(x.astype(np.float64), kernel.astype(np.float64), bias, 1, 1,
                                    False)
    wrong = kernel.copy()
    wrong[2, 2, 2] = 0                                  # the classic off-by-one: last tap lost
    with pytest.raises(AssertionError, match="exceeds the rounding bound"):
        error_bounds.check(jit.conv2d_direct(x, wrong, bias, 1, 1, False), exact,
                           error_bounds.conv_bound(x, kernel, 1, 1, bias), "dropped tap")


def test_a_float16_sized_error_breaks_a_float32_bound():
    """A path that silently computed in half precision would not pass as float32."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    w = rng.standard_normal((300, 10)).astype(np.float32)
    exact = x.astype(np.float64) @ w.astype(np.float64)
    half = (x.astype(np.float16) @ w.astype(np.float16)).astype(np.float32)
    bound = error_bounds.gamma(300, np.float32) * (np.abs(x) @ np.abs(w))
    with pytest.raises(AssertionError, match="exceeds the rounding bound"):
        error_bounds.check(half, exact, bound, "float16 product")


def test_model_bound_covers_a_model_with_every_supported_layer():
    from convnet.layers import Activation, AveragePooling2D, Dropout, Flatten, MaxPooling2D
    rng = np.random.default_rng(12)
    model = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(10, 9, 2)),
                        AveragePooling2D((2, 2), padding="same"), Conv2D(3, (2, 2)),
                        Activation("tanh"), MaxPooling2D((2, 2)), Dropout(0.5), Flatten(),
                        Dense(5, activation="sigmoid"), Dense(3, activation="softmax")])
    model.build((None, 10, 9, 2))
    x = rng.standard_normal((20, 10, 9, 2)).astype(np.float32)
    got = model.predict(x)
    exact, bound = error_bounds.model_bound(model, x)
    _report("small model, worst case", {"p": error_bounds.check(got, exact, bound, "p")})
    with error_bounds.probabilistic():
        _, bound = error_bounds.model_bound(model, x)
    _report("small model, probabilistic", {"p": error_bounds.check(got, exact, bound, "p")})
