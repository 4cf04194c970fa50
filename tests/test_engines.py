"""The two engines (``backend.set_engine``): the NumPy engine runs the textbook code and nothing
else (no numba kernel, no worker thread, no fast path); both give the same numbers to float
rounding, layer by layer and for the whole tutorial model."""

import inspect
import math

import numpy as np
import pytest
from engine_twins import run_on, twin_layers

import error_bounds
from convnet import backend, kernels, threads, utils
from convnet.fast import conv_paths
from convnet.kernels import jit, winograd_jit
from convnet.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from convnet.models import Sequential
from convnet.tutorial import tutorial_model


def test_set_engine_and_the_context_manager():
    assert backend.get_engine() == "fast"
    with backend.engine("numpy"):
        assert backend.get_engine() == "numpy"
        with pytest.raises(RuntimeError), backend.engine("fast"):
            assert backend.get_engine() == "fast"
            raise RuntimeError("the block fails")
        assert backend.get_engine() == "numpy"          # restored after the error
    assert backend.get_engine() == "fast"
    with pytest.raises(ValueError, match="unknown engine 'torch'.*'fast', 'numpy'"):
        backend.set_engine("torch")


def _forbid_fast_code(monkeypatch):
    """Every numba kernel, the worker threads and the fast-path chooser raise if called."""
    def forbidden(name):
        def call(*args, **kwargs):
            raise AssertionError(f"the NumPy engine called {name}")
        return call

    for module in (jit, winograd_jit):
        for name, value in vars(module).items():
            if callable(value) and not inspect.isclass(value) and not inspect.ismodule(value) \
                    and getattr(value, "__module__", None) == module.__name__:
                monkeypatch.setattr(module, name, forbidden(f"{module.__name__}.{name}"))
                if hasattr(kernels, name):                  # the package's re-export too
                    monkeypatch.setattr(kernels, name, forbidden(f"kernels.{name}"))
    monkeypatch.setattr(threads, "run_tasks", forbidden("threads.run_tasks"))
    monkeypatch.setattr(conv_paths, "choose", forbidden("conv_paths.choose"))


def test_the_numpy_engine_runs_no_numba_kernel_and_no_worker_thread(monkeypatch):
    model = tutorial_model()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (20, 28, 28, 1)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 20)]
    _forbid_fast_code(monkeypatch)
    with pytest.raises(AssertionError, match="the NumPy engine called"):
        model.train_on_batch(x, y)                    # the fast engine: caught, as it should be
    with backend.engine("numpy"):
        model.train_on_batch(x, y)                    # forward, backward, Adadelta
        model.predict(x)                              # and inference, per-core pass and all
        model.evaluate(x, y, verbose=0)
        assert all(layer.path is None for layer in model.layers if isinstance(layer, Conv2D))


LINEAR_LAYERS = [   # one per fast path: direct, Winograd, im2col per core, a first layer, Dense
    (lambda: Conv2D(6, (3, 3), activation="relu"), (9, 8, 1), True),
    (lambda: Conv2D(5, (3, 3), activation="relu"), (10, 9, 16), True),
    (lambda: Conv2D(4, (3, 2), strides=2, padding="same", activation="tanh"), (7, 8, 3), True),
    (lambda: Conv2D(3, (3, 3), padding="same", use_bias=False,
                    data_format="channels_first"), (2, 6, 5), True),
    (lambda: Conv2D(6, (3, 3), activation="relu"), (9, 8, 1), False),
    (lambda: Dense(7, activation="relu"), (12,), True),
    (lambda: Dense(3, activation="tanh"), (5,), False),
]


@pytest.mark.parametrize("make,shape,input_gradient", LINEAR_LAYERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_dense_give_the_same_numbers_on_both_engines(make, shape, input_gradient,
                                                              dtype):
    backend.set_floatx(dtype)
    fast, plain, rng = twin_layers(make, shape)
    x = rng.standard_normal((11,) + shape).astype(dtype)
    dy = rng.standard_normal((11,) + fast.compute_output_shape(shape)).astype(dtype)
    y_fast, dx_fast, g_fast = run_on(fast, x, dy, "fast", input_gradient)
    y_np, dx_np, g_np = run_on(plain, x, dy, "numpy", input_gradient)
    bounds = error_bounds.layer_bounds(fast, x, dy)        # any path, Winograd included
    error_bounds.check_paths(y_fast, y_np, bounds["y"], "y")
    if input_gradient:
        error_bounds.check_paths(dx_fast, dx_np, bounds["dx"], "dx")
    else:
        assert dx_fast is None and dx_np is None
    for key in g_fast:
        error_bounds.check_paths(g_fast[key], g_np[key], bounds[key], key)


@pytest.mark.parametrize("make,shape", [
    (lambda: MaxPooling2D((2, 2)), (8, 6, 3)),
    (lambda: MaxPooling2D((3, 3), strides=2, padding="same", data_format="channels_first"),
     (2, 7, 7)),
    (lambda: Dropout(0.4), (6, 5, 2)),
    (lambda: Dropout(0.3, seed=11), (13,)),
    (lambda: Flatten(data_format="channels_first"), (2, 3, 4)),
    (lambda: Activation("sigmoid"), (4, 3)),
])
def test_pooling_dropout_flatten_activation_are_identical_on_both_engines(make, shape):
    """No sums (max, masks, moves) or elementwise NumPy on both: the same bits."""
    fast, plain, rng = twin_layers(make, shape)
    x = rng.standard_normal((9,) + shape).astype("float32")
    dy = rng.standard_normal((9,) + fast.compute_output_shape(shape)).astype("float32")
    for a, b in zip(run_on(fast, x, dy, "fast")[:2], run_on(plain, x, dy, "numpy")[:2]):
        np.testing.assert_array_equal(a, b)


def test_average_pooling_is_the_same_sum_on_both_engines():
    fast, plain, rng = twin_layers(lambda: AveragePooling2D((3, 2), strides=(2, 1),
                                                             padding="same"), (7, 6, 2))
    x = rng.standard_normal((5, 7, 6, 2)).astype("float32")
    y_fast, dx_fast, _ = run_on(fast, x, np.ones((5, 4, 6, 2), "float32"), "fast")
    y_np, dx_np, _ = run_on(plain, x, np.ones((5, 4, 6, 2), "float32"), "numpy")
    error_bounds.check_paths(y_fast, y_np,
                             error_bounds.avgpool_bound(x, 3, 2, 2, 1, 4, 6, 1, 0), "y")
    error_bounds.check_paths(dx_fast, dx_np, error_bounds.avgpool_backward_bound(
        np.ones((5, 4, 6, 2), "float32"), x.shape, 3, 2, 2, 1, 1, 0), "dx")


def _tutorial_step(engine: str, dtype: str):
    """Loss and gradients of one training batch of the tutorial model (same weights, data and
    dropout masks whatever the engine)."""
    backend.set_floatx(dtype)
    backend.clear_session()
    utils.set_random_seed(3)
    model = tutorial_model()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 32)]
    utils.set_random_seed(5)
    with backend.engine(engine):
        out = model.forward(x, training=True)
        model.backward(y, out)
    loss = float(np.mean(-np.log(np.clip(out, 1e-7, 1)) * y) * 10)
    return model, loss, {name: g.astype(np.float64) for name, _, g in model.trainable_triples()}


def test_the_tutorial_model_has_the_same_loss_and_gradients_on_both_engines():
    """Both float32 engines against the float64 NumPy engine, normwise per parameter: each layer's
    sums of K terms add at most Higham and Mary's probabilistic ``gamma(K)`` relative error
    (forward, dL/dK and dL/dx), Winograd's transforms up to ``TRANSFORM_DEPTH`` more terms, and
    these add up through the layers."""
    model, loss64, exact = _tutorial_step("numpy", "float64")
    batch = 32
    terms = [9, 26 * 26 * batch, 32 * 9 + error_bounds.TRANSFORM_DEPTH,
             24 * 24 * batch + error_bounds.TRANSFORM_DEPTH, 64 * 9 + error_bounds.TRANSFORM_DEPTH,
             9216, batch, 128, 128, batch, 10]
    with error_bounds.probabilistic():
        tolerance = float(sum(error_bounds.gamma(k, "float32") for k in terms))
    for engine in ("fast", "numpy"):
        _, loss, grads = _tutorial_step(engine, "float32")
        assert math.isclose(loss, loss64, rel_tol=tolerance), (engine, loss, loss64)
        for name, g in grads.items():
            error = np.linalg.norm(g - exact[name]) / np.linalg.norm(exact[name])
            assert error <= tolerance, f"{engine} {name}: {error:.2e} > {tolerance:.2e}"
    _, loss_fast64, fast64 = _tutorial_step("fast", "float64")
    for name, g in fast64.items():                     # float64: the same to ~1e-15
        assert np.linalg.norm(g - exact[name]) <= 1e-12 * np.linalg.norm(exact[name]), name


def test_a_model_trained_on_one_engine_carries_on_on_the_other():
    backend.clear_session()
    model = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adadelta")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with backend.engine("numpy"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        p_numpy = model.predict(x)
    assert model.layers[0].path is not None            # back on the fast path
    error_bounds.check_paths(model.predict(x), p_numpy,
                             error_bounds.model_bound(model, x)[1], "predict")


@pytest.mark.parametrize("axis, shape", [(-1, (5, 4, 3)), (1, (3, 5, 4)), (-1, (6,))])
def test_batch_normalization_gives_the_same_numbers_on_both_engines(axis, shape):
    """The fast engine's kernels (channels-last) against the layer's NumPy, in float64: sums of
    at most 9 * 20 terms, so both are within ~1e-14 of each other relative to the values."""
    from convnet.layers import BatchNormalization

    backend.set_floatx("float64")
    fast, plain, rng = twin_layers(lambda: BatchNormalization(axis=axis), shape)
    variance = np.abs(fast.params["moving_variance"]) + 0.5       # a variance is positive
    for layer in (fast, plain):
        layer.params["moving_variance"][...] = variance
    x = rng.standard_normal((9,) + shape) * 3 + 1
    dy = rng.standard_normal((9,) + shape)
    for training in (True, False):
        results = []
        for layer, engine in ((fast, "fast"), (plain, "numpy")):
            with backend.engine(engine):
                y = layer.forward(x, training=training)
                dx = layer.backward(dy)
            results.append((y, dx, *[layer.grads[k].copy() for k in ("gamma", "beta")],
                            layer.params["moving_mean"].copy()))
        for a, b in zip(*results):
            assert np.isfinite(a).all() and np.isfinite(b).all()
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
