"""DepthwiseConv2D and SeparableConv2D: forward against a plain loop definition, gradient checks
(layer and model), configs in Keras 3's and tf-keras's names, convnet's own JSON/HDF5 round trip,
and files real Keras wrote (``tests/fixtures/depthwise/``) or reads (``CONVNET_KERAS_PYTHONS``).

The NumPy engine runs the einsums of ``convnet/layers/depthwise.py``, the fast engine numba
loops (``convnet/kernels/depthwise_jit.py``); ``test_both_engines_give_the_same_numbers`` holds
them to the rounding bound of their sums (``test_depthwise_conv_transpose_fast.py``: many shapes).
"""

import math
from pathlib import Path

import numpy as np
import pytest

from convnet import backend, constraints, gradcheck, optimizers, regularizers
from convnet.layers import Dense, DepthwiseConv2D, Flatten, Input, SeparableConv2D
from convnet.models import Model, Sequential, load_model, model_from_json
from error_bounds import check_paths, gamma
from real_keras import KERAS_PYTHONS, check_convnet_files, needs_keras

TOL = 1e-6
FIXTURES = Path(__file__).parent / "fixtures" / "depthwise"


# ----- the definition, as loops ---------------------------------------------------------------
def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    # TensorFlow's rule: ceil(size / s) outputs; the odd padding cell goes after
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def loop_depthwise(x, kernel, bias, strides, padding):
    """``z[n, i, j, c*M + m] = b + sum_{a, b} x[n, i*s + a, j*s + b, c] * K[a, b, c, m]``,
    channels-last, one multiply-add at a time."""
    kh, kw, c_in, mult = kernel.shape
    (sh, sw) = strides
    if padding == "same":
        (pt, pb), (pl, pr) = _same_pads(x.shape[1], kh, sh), _same_pads(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    z = np.zeros((n, oh, ow, c_in * mult))
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for c in range(c_in):
                    for m in range(mult):
                        total = 0.0 if bias is None else bias[c * mult + m]
                        for a in range(kh):
                            for b in range(kw):
                                total += x[s, i * sh + a, j * sw + b, c] * kernel[a, b, c, m]
                        z[s, i, j, c * mult + m] = total
    return z


def loop_separable(x, depthwise, pointwise, bias, strides, padding):
    """The depthwise loop (no bias), then ``z[..., f] = b[f] + sum_k u[..., k] * P[0, 0, k, f]``."""
    u = loop_depthwise(x, depthwise, None, strides, padding)
    n, oh, ow, cm = u.shape
    filters = pointwise.shape[-1]
    z = np.zeros((n, oh, ow, filters))
    for s, i, j, f in np.ndindex(n, oh, ow, filters):
        total = 0.0 if bias is None else bias[f]
        for k in range(cm):
            total += u[s, i, j, k] * pointwise[0, 0, k, f]
        z[s, i, j, f] = total
    return z


FORWARD_CASES = [
    ("valid", dict(kernel_size=3)),
    ("same_stride2_mult2", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2)),
    ("rect_kernel_strides", dict(kernel_size=(2, 3), strides=(1, 2), depth_multiplier=3)),
    ("channels_first", dict(kernel_size=3, padding="same", depth_multiplier=2,
                            data_format="channels_first")),
    ("no_bias_tanh", dict(kernel_size=(3, 1), use_bias=False, activation="tanh")),
]


def _input(layer, shape=(2, 6, 7, 3), seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    if layer.data_format == "channels_first":
        return x, x.transpose(0, 3, 1, 2)
    return x, x


def _channels_last(layer, y):
    return y.transpose(0, 2, 3, 1) if layer.data_format == "channels_first" else y


def _with_random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("kwargs", [c[1] for c in FORWARD_CASES], ids=[c[0] for c in FORWARD_CASES])
def test_depthwise_forward_is_the_loop_definition(kwargs):
    with gradcheck.float64():
        layer = DepthwiseConv2D(**kwargs)
        x_last, x = _input(layer)
        layer.build(x.shape[1:])
        _with_random_weights(layer)
        got = _channels_last(layer, layer.forward(x))
    k, b = layer.depthwise_kernel, layer.bias
    z = loop_depthwise(x_last, k, b, layer.strides, layer.padding)
    want = np.tanh(z) if layer.activation == "tanh" else z
    # float64 sums of KH*KW products (+ bias): within gamma(KH*KW + 1) of the exact value
    magnitude = loop_depthwise(np.abs(x_last), np.abs(k), None if b is None else np.abs(b),
                               layer.strides, layer.padding)
    check_paths(got, want, gamma(k.shape[0] * k.shape[1] + 1, "float64") * magnitude
                + 4 * np.finfo(float).eps * np.abs(want), "DepthwiseConv2D vs loops")
    assert got.shape == want.shape
    assert layer.compute_output_shape(x.shape[1:]) == layer.forward(x).shape[1:]


@pytest.mark.parametrize("kwargs", [c[1] for c in FORWARD_CASES], ids=[c[0] for c in FORWARD_CASES])
def test_separable_forward_is_the_loop_definition(kwargs):
    with gradcheck.float64():
        layer = SeparableConv2D(4, **kwargs)
        x_last, x = _input(layer)
        layer.build(x.shape[1:])
        _with_random_weights(layer)
        got = _channels_last(layer, layer.forward(x))
    k, p, b = layer.depthwise_kernel, layer.pointwise_kernel, layer.bias
    z = loop_separable(x_last, k, p, b, layer.strides, layer.padding)
    want = np.tanh(z) if layer.activation == "tanh" else z
    magnitude = loop_separable(np.abs(x_last), np.abs(k), np.abs(p),
                               None if b is None else np.abs(b), layer.strides, layer.padding)
    terms = k.shape[0] * k.shape[1] + p.shape[2] + 1     # the two chained sums, and the bias
    check_paths(got, want, gamma(terms, "float64") * magnitude
                + 4 * np.finfo(float).eps * np.abs(want), "SeparableConv2D vs loops")


def test_output_channel_order_is_keras():
    # output channel c*M + m comes from input channel c and kernel m
    layer = DepthwiseConv2D(1, depth_multiplier=2, use_bias=False)
    layer.build((1, 1, 2))
    layer.set_weights([np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])])
    np.testing.assert_array_equal(layer.forward(np.array([[[[1.0, 2.0]]]]))[0, 0, 0],
                                  [1.0, 10.0, 200.0, 2000.0])


# ----- gradients ------------------------------------------------------------------------------
GRADIENT_CASES = [
    ("dw_valid", lambda: DepthwiseConv2D(3), (5, 6, 2)),
    ("dw_same_stride2_mult2", lambda: DepthwiseConv2D(3, strides=2, padding="same",
                                                      depth_multiplier=2), (5, 6, 3)),
    ("dw_channels_first", lambda: DepthwiseConv2D((2, 3), strides=(2, 1), padding="same",
                                                  depth_multiplier=2,
                                                  data_format="channels_first"), (3, 5, 4)),
    ("dw_relu_no_bias", lambda: DepthwiseConv2D(2, activation="relu", use_bias=False),
     (4, 4, 3)),
    ("dw_regularized", lambda: DepthwiseConv2D(
        3, padding="same", activation="tanh", depthwise_regularizer=regularizers.L2(0.1),
        bias_regularizer="l1", activity_regularizer=regularizers.L2(0.05)), (4, 4, 2)),
    ("sep_valid", lambda: SeparableConv2D(3, 3), (5, 6, 2)),
    ("sep_same_stride2_mult2", lambda: SeparableConv2D(4, 3, strides=2, padding="same",
                                                       depth_multiplier=2,
                                                       activation="relu"), (5, 6, 3)),
    ("sep_channels_first", lambda: SeparableConv2D(2, (3, 2), padding="same",
                                                   depth_multiplier=2,
                                                   data_format="channels_first",
                                                   activation="sigmoid"), (3, 4, 5)),
    ("sep_regularized", lambda: SeparableConv2D(
        3, 2, use_bias=False, depthwise_regularizer="l2",
        pointwise_regularizer=regularizers.L1L2(0.01, 0.1)), (4, 4, 2)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
def test_layer_gradients(factory, shape):
    result = gradcheck.check_layer(factory(), shape, batch_size=2, tolerance=TOL)
    assert result.passed, result.table()


def test_model_gradients_with_fused_softmax():
    with gradcheck.float64():
        model = Sequential([
            DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh",
                            input_shape=(5, 5, 2)),
            SeparableConv2D(3, 2, strides=2, activation="relu",
                            depthwise_regularizer=regularizers.L2(0.01)),
            Flatten(),
            Dense(3, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = np.random.default_rng(0).standard_normal((4, 5, 5, 2))
    result = gradcheck.check_model(model, x, np.eye(3)[[0, 1, 2, 0]], tolerance=TOL)
    assert result.passed, result.table()


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_backward_from_preactivation_is_the_linear_layers_backward(data_format):
    # softmax + cross-entropy hand the last layer dL/dz: the same as a linear twin's backward
    soft = SeparableConv2D(3, 2, activation="softmax", data_format=data_format)
    linear = SeparableConv2D.from_config({**soft.get_config(), "activation": "linear"})
    x = np.random.default_rng(2).standard_normal((2, 4, 4, 4))
    y = soft.forward(x, training=True)
    linear.build(x.shape[1:])
    linear.set_weights(soft.get_weights())
    linear.forward(x, training=True)
    dz = np.random.default_rng(3).standard_normal(y.shape).astype("float32")
    np.testing.assert_array_equal(soft.backward_preactivation(dz), linear.backward(dz))
    for key, value in soft.grads.items():
        np.testing.assert_array_equal(value, linear.grads[key])


def test_backward_overwrites_and_needs_forward():
    layer = SeparableConv2D(2, 3, depth_multiplier=2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.build((5, 5, 2))
        layer.backward(np.zeros((1, 3, 3, 2)))
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 2)).astype("float32")
    dy = np.ones_like(layer.forward(x, training=True))
    layer.backward(dy)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(dy)
    for key, value in layer.grads.items():
        np.testing.assert_array_equal(value, first[key])
    assert layer.backward(dy, input_gradient=False) is None
    np.testing.assert_array_equal(layer.grads["depthwise_kernel"], first["depthwise_kernel"])


def test_both_engines_give_the_same_numbers():
    # the two engines sum in other orders: equal within gamma(terms) times the magnitudes (the
    # same layer on |x| and |weights|, float64); linear, so no ReLU mask can flip at 0
    layer = SeparableConv2D(4, 3, padding="same", depth_multiplier=2)
    x = np.random.default_rng(0).standard_normal((3, 6, 6, 2)).astype("float32")
    got = []
    for engine in ("numpy", "fast"):
        with backend.engine(engine):
            y = layer.forward(x, training=True)
            got.append((y, layer.backward(np.ones_like(y))))
    twin = SeparableConv2D.from_config({**layer.get_config(), "dtype": "float64",
                                        "use_bias": False})
    twin.build(x.shape[1:])
    twin.set_weights([np.abs(w) for w in layer.get_weights()[:2]])
    with backend.engine("numpy"):
        y_mag = twin.forward(np.abs(x), training=True) + np.abs(layer.bias)
        dx_mag = twin.backward(np.ones_like(y_mag))
    # y: 3*3 window cells, then 2*2 depthwise channels, then the bias; dx: 4 filters, then
    # 2 kernels times the 3*3 windows that overlap a cell
    check_paths(got[0][0], got[1][0], gamma(9 + 4 + 1, "float32") * y_mag, "y")
    check_paths(got[0][1], got[1][1], gamma(4 + 2 * 9, "float32") * dx_mag, "dx")


# ----- regularizers, constraints, training ----------------------------------------------------
def test_penalties_and_constraints_rule_keras_weight_names():
    layer = SeparableConv2D(2, 3, depthwise_regularizer=regularizers.L2(0.5),
                            pointwise_regularizer=regularizers.L1(0.25),
                            depthwise_constraint=constraints.MaxNorm(1.0, axis=[0, 1]),
                            pointwise_constraint=constraints.NonNeg())
    layer.build((4, 4, 2))
    k, p = layer.depthwise_kernel, layer.pointwise_kernel
    assert layer.losses == pytest.approx([0.5 * np.sum(k.astype(np.float64) ** 2),
                                          0.25 * np.sum(np.abs(p.astype(np.float64)))],
                                         rel=1e-5)
    k[...] = 3.0
    p[...] = -1.0
    layer.apply_constraints()
    np.testing.assert_allclose(np.sqrt((k.astype(np.float64) ** 2).sum(axis=(0, 1))), 1.0,
                               rtol=1e-6)
    assert (p == 0).all()


def test_a_small_model_trains():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 6, 2)).astype("float32")
    labels = (x[:, :, :, 0].mean(axis=(1, 2)) > 0).astype(int)
    model = Sequential([DepthwiseConv2D(3, depth_multiplier=2, activation="relu",
                                        input_shape=(6, 6, 2)),
                        SeparableConv2D(4, 3, activation="relu"), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizers.Adam(0.01),
                  metrics=["accuracy"])
    history = model.fit(x, labels, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


# ----- configs --------------------------------------------------------------------------------
# the keys Keras 3.15 writes (besides name, trainable, dtype)
KERAS3_DEPTHWISE_KEYS = {
    "depth_multiplier", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
    "activation", "use_bias", "depthwise_initializer", "bias_initializer",
    "depthwise_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_constraint",
    "bias_constraint"}
KERAS3_SEPARABLE_KEYS = KERAS3_DEPTHWISE_KEYS | {
    "filters", "pointwise_initializer", "pointwise_regularizer", "pointwise_constraint"}


@pytest.mark.parametrize("layer,keys", [
    (DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2,
                     activation="relu", depthwise_regularizer="l2",
                     depthwise_constraint=constraints.MaxNorm(2.0), name="dw"),
     KERAS3_DEPTHWISE_KEYS),
    (SeparableConv2D(5, 3, depth_multiplier=3, data_format="channels_first", use_bias=False,
                     pointwise_initializer="he_normal", pointwise_regularizer="l1",
                     bias_constraint="non_neg", name="sep"), KERAS3_SEPARABLE_KEYS),
], ids=["DepthwiseConv2D", "SeparableConv2D"])
def test_config_round_trip_in_keras3_names(layer, keys):
    config = layer.get_config()
    assert set(config) - {"name", "trainable", "dtype"} == keys
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_tf_keras_configs_are_accepted():
    # tf-keras 2.21 writes groups, and on SeparableConv2D its unused kernel_* entries
    dw = DepthwiseConv2D(3, groups=1)
    sep = SeparableConv2D(2, 3, groups=1, kernel_initializer={"class_name": "GlorotUniform",
                                                              "config": {"seed": None}},
                          kernel_regularizer=None, kernel_constraint=None)
    assert dw.get_config()["kernel_size"] == [3, 3] and sep.filters == 2


@pytest.mark.parametrize("make,message", [
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: DepthwiseConv2D(3, dilation_rate=2), "dilation_rate"),
    (lambda: DepthwiseConv2D(3, padding="causal"), "padding"),
    (lambda: DepthwiseConv2D(3, depthwise_regularizer="l3"), "depthwise_regularizer"),
    (lambda: SeparableConv2D(0, 3), "filters"),
    (lambda: SeparableConv2D(2, 3, kernel_regularizer="l2"), "pointwise_regularizer"),
])
def test_bad_arguments_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_shapes_name_the_layer():
    with pytest.raises(ValueError, match="DepthwiseConv2D 'dw'.*does not fit"):
        DepthwiseConv2D(5, name="dw").build((3, 3, 1))
    with pytest.raises(ValueError, match="SeparableConv2D 'sep' expects input of shape"):
        SeparableConv2D(2, 3, name="sep").build((3, 3))


# ----- files ----------------------------------------------------------------------------------
def _model():
    model = Sequential([
        DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                        depthwise_regularizer="l2", input_shape=(7, 7, 3)),
        SeparableConv2D(4, (2, 3), depth_multiplier=2, activation="tanh",
                        pointwise_constraint=constraints.UnitNorm()),
        DepthwiseConv2D(1, data_format="channels_first", use_bias=False),
        Flatten(),
        Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(5)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("name", ["model.h5", "model.keras"])
def test_convnet_files_round_trip(tmp_path, name):
    model = _model()
    x = np.random.default_rng(0).uniform(0, 1, (3, 7, 7, 3)).astype("float32")
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    def configs(m):          # the input shape rides on the file's InputLayer instead
        return [{k: v for k, v in layer.get_config().items() if k != "batch_input_shape"}
                for layer in m.layers]

    assert configs(loaded) == configs(model)
    again = model_from_json(model.to_json())
    model.save_weights(tmp_path / "w.weights.h5")
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_functional_model_round_trip(tmp_path):
    inputs = Input(shape=(6, 6, 2))
    x = DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(inputs)
    outputs = SeparableConv2D(3, 3, strides=2, data_format="channels_last")(x)
    model = Model(inputs, outputs)
    x_in = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype("float32")
    model.save(tmp_path / "f.keras")
    np.testing.assert_array_equal(load_model(tmp_path / "f.keras").predict(x_in),
                                  model.predict(x_in))


@pytest.mark.parametrize("flavour,weights", [("k2", "weights.h5"), ("k3", "model.weights.h5")])
def test_files_real_keras_wrote_load_and_predict_the_same(flavour, weights):
    # written by tests/keras_interop/write_depthwise_fixtures.py (tf-keras 2.21, Keras 3.15)
    folder = FIXTURES / flavour
    x, expected = np.load(folder / "input.npy"), np.load(folder / "expected.npy")
    from_json = model_from_json((folder / "model.json").read_text())
    from_json.load_weights(folder / weights)
    whole = load_model(folder / "model.h5")
    # float32 sums of at most 18 products per output, tanh and softmax: the two libraries'
    # roundings stay far below this (measured: 1.2e-7)
    for model in (from_json, whole):
        np.testing.assert_allclose(model.predict(x), expected, rtol=0, atol=1e-5)
    dw, sep = whole.layers[0], whole.layers[1]
    assert (dw.depth_multiplier, dw.strides, dw.padding) == (2, (2, 2), "same")
    assert dw.depthwise_regularizer.l2 == pytest.approx(0.01)
    assert dw.depthwise_constraint == constraints.MaxNorm(2.0, axis=[0, 1])
    assert sep.pointwise_regularizer.l1 == pytest.approx(0.01)
    assert sep.bias_constraint == constraints.NonNeg()
    assert whole.layers[2].bias is None


@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_what_convnet_writes(python, tmp_path):
    check_convnet_files(python, "write_depthwise_files.py", tmp_path, reports=3)
