"""Conv1D and the 1-D poolings: against plain loops, gradient checks, Keras configs, saving, and
the two engines (each layer is its 2-D twin on (N, 1, steps, C), so both engines' paths)."""

import json
from pathlib import Path

import numpy as np
import pytest
from engine_twins import run_on, twin_layers

import error_bounds
from convnet import backend, gradcheck, optimizers, regularizers
from convnet.layers import (
    AveragePooling1D,
    Conv1D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from convnet.models import Sequential, model_from_json
from real_keras import KERAS_PYTHONS, check_convnet_files, needs_keras

TOL = 1e-6


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- plain loop definitions (float64, channels-last) ------------------------------------------

def _same_pads(length, size, stride):
    out = -(-length // stride)
    total = max((out - 1) * stride + size - length, 0)
    return total // 2, total - total // 2


def conv1d_loops(x, kernel, bias, stride, padding):
    """z[n, i, f] = b[f] + sum_{a, c} xpad[n, i*s + a, c] * K[a, c, f], one scalar at a time."""
    n, length, c = x.shape
    k, _, f = kernel.shape
    if padding == "same":
        left, right = _same_pads(length, k, stride)
    elif padding == "causal":
        left, right = k - 1, 0
    else:
        left = right = 0
    xp = np.zeros((n, length + left + right, c))
    xp[:, left:left + length] = x
    out = (xp.shape[1] - k) // stride + 1
    z = np.zeros((n, out, f))
    for b in range(n):
        for i in range(out):
            for ff in range(f):
                total = 0.0 if bias is None else bias[ff]
                for a in range(k):
                    for cc in range(c):
                        total += xp[b, i * stride + a, cc] * kernel[a, cc, ff]
                z[b, i, ff] = total
    return z


def pool1d_loops(x, size, stride, padding, how):
    """Each window's max (padded steps never win) or mean over its real steps."""
    n, length, c = x.shape
    left = _same_pads(length, size, stride)[0] if padding == "same" else 0
    out = -(-length // stride) if padding == "same" else (length - size) // stride + 1
    y = np.zeros((n, out, c))
    for i in range(out):
        lo = i * stride - left
        cells = x[:, max(lo, 0):min(lo + size, length)]
        y[:, i] = cells.max(axis=1) if how == "max" else cells.mean(axis=1)
    return y


CONV_FORWARD = [(1, "valid", 9), (2, "valid", 10), (1, "same", 7), (3, "same", 10)]


@pytest.mark.parametrize("stride,padding,length,data_format", [
    *[case + ("channels_last",) for case in CONV_FORWARD],
    *[case + ("channels_first",) for case in CONV_FORWARD],
    (1, "causal", 8, "channels_last"), (2, "causal", 9, "channels_last")])   # Keras: no causal
def test_conv1d_forward_is_the_loop_definition(stride, padding, length, data_format):  # NCL
    backend.set_floatx("float64")
    layer = Conv1D(4, 3, strides=stride, padding=padding, data_format=data_format,
                   bias_initializer="glorot_uniform")
    x = _x(2, length, 3)
    xin = x.transpose(0, 2, 1) if data_format == "channels_first" else x
    y = layer.forward(xin)
    assert layer.params["kernel"].shape == (3, 3, 4) and layer.params["bias"].shape == (4,)
    want = conv1d_loops(x, layer.params["kernel"], layer.params["bias"], stride, padding)
    if data_format == "channels_first":
        want = want.transpose(0, 2, 1)
    assert y.shape == want.shape == (2,) + layer.output_shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls,how", [(MaxPooling1D, "max"), (AveragePooling1D, "mean")])
@pytest.mark.parametrize("size,stride,padding,length", [(2, None, "valid", 9), (3, 2, "valid", 9),
                                                        (3, 2, "same", 8), (2, 3, "same", 10)])
def test_pool1d_forward_is_the_loop_definition(cls, how, size, stride, padding, length):
    backend.set_floatx("float64")
    x = _x(2, length, 3)
    layer = cls(size, stride, padding)
    want = pool1d_loops(x, size, stride or size, padding, how)
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-12, atol=1e-12)
    cf = cls(size, stride, padding, data_format="channels_first")
    np.testing.assert_allclose(cf.forward(x.transpose(0, 2, 1)), want.transpose(0, 2, 1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pool1d_forward(keepdims, data_format):
    backend.set_floatx("float64")
    x = _x(3, 7, 4)
    steps = 2 if data_format == "channels_first" else 1
    xin = x.transpose(0, 2, 1) if data_format == "channels_first" else x
    for cls, want in ((GlobalAveragePooling1D, x.mean(axis=1)),
                      (GlobalMaxPooling1D, x.max(axis=1))):
        layer = cls(data_format=data_format, keepdims=keepdims)
        y = layer.forward(xin)
        if keepdims:
            want = np.expand_dims(want, steps)
        np.testing.assert_allclose(y, want, rtol=1e-12)
        assert y.shape == (3,) + layer.output_shape


# ----- gradients ------------------------------------------------------------------------------

GRADIENT_CASES = [
    (lambda: Conv1D(3, 3, activation="tanh"), (7, 2)),
    (lambda: Conv1D(2, 4, strides=2, padding="same"), (9, 3)),
    (lambda: Conv1D(3, 2, padding="same", data_format="channels_first", use_bias=False), (2, 6)),
    (lambda: Conv1D(2, 3, strides=3, padding="causal", activation="sigmoid"), (8, 2)),
    (lambda: Conv1D(2, 3, kernel_regularizer=regularizers.l2(0.1),
                    bias_regularizer="l1"), (6, 2)),
    (lambda: MaxPooling1D(3, 2, padding="same"), (7, 2)),
    (lambda: MaxPool1D(2, data_format="channels_first"), (2, 6)),
    (lambda: AveragePooling1D(3, 2, padding="same"), (8, 3)),
    (lambda: GlobalAveragePooling1D(keepdims=True), (5, 3)),
    (lambda: GlobalMaxPooling1D(data_format="channels_first"), (3, 5)),
]


@pytest.mark.parametrize("make,shape", GRADIENT_CASES)
def test_layer_gradients(make, shape):
    result = gradcheck.check_layer(make(), shape, batch_size=2, tolerance=TOL)
    assert result.passed, result.table()


def test_a_float32_layer_checked_in_float64_keeps_its_weights_shared():
    # gradcheck replaces params with float64 copies: the inner Conv2D must follow
    layer = Conv1D(2, 3)
    layer.build((6, 2))
    result = gradcheck.check_layer(layer, (6, 2), tolerance=TOL)
    assert result.passed, result.table()
    assert np.shares_memory(layer.params["kernel"], layer.conv2d.params["kernel"])


def test_weights_are_views_of_the_inner_conv2d():
    layer = Conv1D(4, 3, input_shape=(10, 2))
    layer.build((10, 2))
    inner = layer.conv2d
    assert layer.params["kernel"].shape == (3, 2, 4)
    assert inner.params["kernel"].shape == (1, 3, 2, 4)
    for key in ("kernel", "bias"):
        assert np.shares_memory(layer.params[key], inner.params[key])
        assert np.shares_memory(layer.grads[key], inner.grads[key])
    layer.set_weights([np.ones((3, 2, 4)), np.arange(4.0)])
    np.testing.assert_array_equal(inner.params["kernel"], 1.0)
    y = layer.forward(np.ones((1, 10, 2)))
    np.testing.assert_allclose(y[0, 0], 6.0 + np.arange(4))
    assert layer.count_params() == 3 * 2 * 4 + 4


def test_a_small_model_checks_and_trains():
    with gradcheck.float64():
        model = Sequential([
            Conv1D(3, 3, padding="same", activation="relu", input_shape=(8, 2)),
            MaxPooling1D(2),
            Conv1D(4, 2, strides=2, padding="causal", activation="tanh"),
            AveragePooling1D(2, padding="same"),
            Conv1D(3, 2, padding="same", activation="softmax"),
            GlobalAveragePooling1D(),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x, y = _x(4, 8, 2), np.eye(3)[[0, 1, 2, 0]]
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, result.table()
    model2 = Sequential([Conv1D(4, 3, activation="relu", input_shape=(12, 2)),
                         GlobalMaxPooling1D(), Dense(2, activation="softmax")])
    model2.compile(loss="categorical_crossentropy", optimizer=optimizers.Adam(0.05))
    xs, ys = _x(16, 12, 2, seed=3), np.eye(2)[np.arange(16) % 2]
    xs[ys[:, 0] == 1] += 1.0
    losses = [float(np.ravel(model2.train_on_batch(xs, ys))[0]) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


# ----- Keras names ----------------------------------------------------------------------------

CONFIGS = [
    (Conv1D(8, 5, strides=2, padding="causal", activation="relu", use_bias=False),
     {"filters": 8, "kernel_size": [5], "strides": [2], "padding": "causal",
      "data_format": "channels_last", "dilation_rate": [1], "groups": 1,
      "activation": "relu", "use_bias": False, "kernel_regularizer": None,
      "activity_regularizer": None}),
    (MaxPooling1D(3, padding="same"),
     {"pool_size": [3], "strides": [3], "padding": "same", "data_format": "channels_last"}),
    (AveragePooling1D(2, strides=1, data_format="channels_first"),
     {"pool_size": [2], "strides": [1], "padding": "valid", "data_format": "channels_first"}),
    (GlobalAveragePooling1D(keepdims=True),
     {"data_format": "channels_last", "keepdims": True}),
    (GlobalMaxPooling1D(), {"data_format": "channels_last", "keepdims": False}),
]


@pytest.mark.parametrize("layer,keys", CONFIGS, ids=lambda v: type(v).__name__)
def test_configs_use_keras_names_and_round_trip(layer, keys):
    config = layer.get_config()
    assert {k: config[k] for k in keys} == keys
    assert {"name", "trainable", "dtype"} <= set(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_keras_spellings_and_bad_arguments():
    # Keras 3 writes sizes as 1-lists, tf-keras as 1-tuples; both load
    assert Conv1D(2, (3,), strides=[2]).kernel_size == 3
    assert MaxPooling1D(pool_size=(2,), strides=None).strides == 2
    with pytest.raises(ValueError, match="Conv1D 'c': kernel_size must be a positive"):
        Conv1D(2, (3, 3), name="c")
    with pytest.raises(ValueError, match="Conv1D 'c': padding must be 'valid', 'same' or"):
        Conv1D(2, 3, padding="full", name="c")
    with pytest.raises(ValueError, match="causal.*channels_last"):
        Conv1D(2, 3, padding="causal", data_format="channels_first")
    with pytest.raises(ValueError, match="Conv1D 'c': filters must be a positive integer"):
        Conv1D(0, 3, name="c")
    with pytest.raises(ValueError, match="Conv1D 'c': strides > 1 together with dilation_rate"):
        Conv1D(2, 3, strides=2, dilation_rate=2, name="c")
    with pytest.raises(ValueError, match=r"Conv1D 'c' expects input of shape \(batch, steps"):
        Conv1D(2, 3, name="c").forward(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match="Conv1D 'c': kernel_size 5 does not fit in 4 steps"):
        Conv1D(2, 5, name="c").build((4, 3))
    with pytest.raises(ValueError, match="MaxPooling1D 'p': pool_size 3 does not fit in 2"):
        MaxPooling1D(3, name="p").forward(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="MaxPooling1D 'p': padding"):
        MaxPooling1D(2, padding="full", name="p")


def _model():
    return Sequential([
        Conv1D(4, 3, padding="same", activation="relu", input_shape=(12, 2)),
        MaxPooling1D(2),
        Conv1D(3, 3, strides=2, padding="causal"),
        AveragePooling1D(2, padding="same"),
        GlobalMaxPooling1D(keepdims=True),
        Flatten(),
        Dense(2, activation="softmax"),
    ])


def test_json_and_hdf5_round_trip(tmp_path):
    model = _model()
    text = model.to_json()
    classes = [e["class_name"] for e in json.loads(text)["config"]["layers"]]
    assert "Conv1D" in classes and "MaxPooling1D" in classes and "GlobalMaxPooling1D" in classes
    clone = model_from_json(text)
    for a, b in zip(model.layers, clone.layers):
        config = a.get_config()
        config.pop("batch_input_shape", None)
        assert b.get_config() == config
    model.save_weights(tmp_path / "w.h5")
    clone.load_weights(tmp_path / "w.h5")
    x = _x(3, 12, 2).astype("float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    model.save(tmp_path / "m.h5")
    from convnet.models import load_model
    again = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert again.layers[0].params["kernel"].shape == (3, 2, 4)


# ----- the two engines ---------------------------------------------------------------------------

ENGINE_CASES = [
    (lambda: Conv1D(6, 3, activation="relu"), (12, 4), True),
    (lambda: Conv1D(5, 5, strides=2, padding="same", activation="tanh"), (13, 3), True),
    (lambda: Conv1D(4, 3, padding="causal", use_bias=False), (9, 16), True),
    (lambda: Conv1D(3, 2, padding="same", data_format="channels_first"), (5, 8), False),
]


def _inner_bounds(layer, x, dy=None):
    """error_bounds.layer_bounds of the Conv2D inside ``layer``, on the image one step high
    it is handed (causal: k - 1 zeros first), with dx's bound back on the sequence."""
    axis = 2 if layer.data_format == "channels_first" else 1
    left = layer.kernel_size - 1 if layer.padding == "causal" else 0
    x_image = np.expand_dims(np.pad(x, ((0, 0), (left, 0), (0, 0))), axis)
    bounds = error_bounds.layer_bounds(layer.conv2d, x_image,
                                       None if dy is None else np.expand_dims(dy, axis))
    if "dx" in bounds:
        bounds["dx"] = np.squeeze(bounds["dx"], axis)[:, left:]
    return bounds


@pytest.mark.parametrize("make,shape,input_gradient", ENGINE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv1d_gives_the_same_numbers_on_both_engines(make, shape, input_gradient, dtype):
    backend.set_floatx(dtype)
    fast, plain, rng = twin_layers(make, shape)
    x = rng.standard_normal((11,) + shape).astype(dtype)
    dy = rng.standard_normal((11,) + fast.output_shape).astype(dtype)
    results = [run_on(layer, x, dy, engine, input_gradient)
               for layer, engine in ((fast, "fast"), (plain, "numpy"))]
    # the bounds of the inner Conv2D, on the image one step high the layer hands it
    bounds = _inner_bounds(fast, x, dy)
    (y_f, dx_f, g_f), (y_n, dx_n, g_n) = results
    error_bounds.check_paths(y_f, y_n, bounds["y"].reshape(y_f.shape), "y")
    if input_gradient:
        error_bounds.check_paths(dx_f, dx_n, bounds["dx"], "dx")
    else:
        assert dx_f is None and dx_n is None
    for key in g_f:
        error_bounds.check_paths(g_f[key], g_n[key], bounds[key].reshape(g_f[key].shape), key)


@pytest.mark.parametrize("make", [lambda: MaxPooling1D(3, 2, padding="same"),
                                  lambda: AveragePooling1D(2, data_format="channels_first"),
                                  lambda: GlobalMaxPooling1D(),
                                  lambda: GlobalAveragePooling1D(keepdims=True)])
def test_poolings_give_the_same_numbers_on_both_engines(make):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 9, 4)).astype("float32")
    got = []
    for engine in ("fast", "numpy"):
        layer = make()
        with backend.engine(engine):
            y = layer.forward(x, training=True)
            dx = layer.backward(np.ones_like(y))
            got.append((y, dx, layer.infer_chunk(x)))
    (y_f, dx_f, i_f), (y_n, dx_n, i_n) = got
    u = error_bounds.unit_roundoff("float32")
    # a max is exact; a mean of at most 9 terms is within gamma(10) of the sum of |x| / count
    bound = error_bounds.gamma(10, "float32") * np.abs(x).max() + u
    error_bounds.check_paths(y_f, y_n, bound, "y")
    error_bounds.check_paths(i_f, y_f, bound, "infer_chunk")
    error_bounds.check_paths(i_n, y_n, bound, "infer_chunk")
    error_bounds.check_paths(dx_f, dx_n, bound, "dx")


def test_infer_chunk_is_the_inference_forward():
    layer = Conv1D(3, 3, padding="causal", activation="relu")
    x = _x(4, 7, 2).astype("float32")
    y = layer.forward(x)
    bound = _inner_bounds(layer, x)["y"].reshape(y.shape)
    error_bounds.check_paths(layer.infer_chunk(x), y, bound, "infer_chunk")


# ----- real Keras ---------------------------------------------------------------------------------

CONV1D_FIXTURES = Path(__file__).parent / "fixtures" / "conv1d"


@pytest.mark.parametrize("flavour,weights", [("k2", "weights.h5"), ("k3", "model.weights.h5")])
def test_files_real_keras_wrote_load_and_predict_the_same(flavour, weights):
    # written by tests/keras_interop/write_conv1d_fixtures.py (tf-keras 2.21, Keras 3.15)
    folder = CONV1D_FIXTURES / flavour
    model = model_from_json((folder / "model.json").read_text())
    model.load_weights(folder / weights)
    x = np.load(folder / "input.npy")
    got = model.predict(x)
    # both float32 results against the same model in float64 ("exact"): four linear layers
    # summing at most 15 products each (weights below 0.5, inputs in [0, 1), so the sums of
    # |terms| stay near 1), carried through ReLU, tanh, max, mean and softmax, each adding its
    # gamma(15) ~ 15 u or a few ulps: a budget of 64 u on outputs <= 1 covers the chain
    with gradcheck.float64():
        exact = model_from_json((folder / "model.json").read_text())
        exact.load_weights(folder / weights)
        want = exact.predict(x.astype(np.float64))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv1D", "MaxPooling1D", "Conv1D", "AveragePooling1D", "Conv1D",
        "GlobalMaxPooling1D", "GlobalAveragePooling1D", "Dense"]
    assert model.layers[2].padding == "causal" and model.layers[2].strides == 2
    assert model.layers[0].params["kernel"].shape == (3, 2, 4)
    bound = 64 * error_bounds.unit_roundoff("float32")      # a few dozen ulps of outputs <= 1
    error_bounds.check(got, want, bound, "convnet float32")
    error_bounds.check(np.load(folder / "expected.npy"), want, bound, f"{flavour} float32")


@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_what_convnet_writes(python, tmp_path):
    check_convnet_files(python, "write_conv1d_files.py", tmp_path, reports=3)


def test_conv1d_activation_is_callable_and_assignable_as_conv2d():
    from convnet import activations
    layer = Conv1D(2, 3, activation="relu")
    assert layer.activation == "relu" and callable(layer.activation)
    layer.activation = activations.linear
    assert layer.get_config()["activation"] == "linear"
