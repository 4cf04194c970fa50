"""ZeroPadding2D, Cropping2D, Reshape, Permute, the global poolings and the activation layers:
gradients, shapes, hand-worked values, configs, saving, and a small model that uses them."""

import json
import re

import numpy as np
import pytest

from convnet import backend, gradcheck
from convnet.layers import (
    ELU,
    Conv2D,
    Cropping2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    LeakyReLU,
    Permute,
    PReLU,
    ReLU,
    Reshape,
    Softmax,
    ZeroPadding2D,
)
from convnet.models import Sequential, model_from_json

TOL = 1e-6


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ----- gradients ------------------------------------------------------------------------------
# check_layer feeds distinct values -1 + (2k + 1) / size (size = all cells of the batch): the
# kinks below sit half-way between two of them (-1 + 2k / size), at least 1 / size >> h away.
# Batch 2 of (2, 3, 4) is 48 values: 0.25 = -1 + 2*30/48 and 0.5 = -1 + 2*36/48.
GRADIENT_CASES = [
    ("zero_padding_int", lambda: ZeroPadding2D(1), (3, 4, 2)),
    ("zero_padding_asym", lambda: ZeroPadding2D(((1, 2), (0, 3))), (3, 4, 2)),
    ("zero_padding_channels_first", lambda: ZeroPadding2D((2, 1),
                                                          data_format="channels_first"),
     (2, 3, 4)),
    ("cropping", lambda: Cropping2D(((1, 0), (1, 2))), (4, 5, 2)),
    ("cropping_channels_first", lambda: Cropping2D(1, data_format="channels_first"), (2, 4, 5)),
    ("reshape", lambda: Reshape((4, 6)), (2, 3, 4)),
    ("reshape_infer", lambda: Reshape((-1, 2)), (3, 4)),
    ("permute", lambda: Permute((3, 1, 2)), (2, 3, 4)),
    ("permute_2d", lambda: Permute((2, 1)), (3, 5)),
    ("global_avg", lambda: GlobalAveragePooling2D(), (3, 4, 2)),
    ("global_avg_keepdims_cf", lambda: GlobalAveragePooling2D(keepdims=True,
                                                              data_format="channels_first"),
     (2, 3, 4)),
    ("global_max", lambda: GlobalMaxPooling2D(), (3, 4, 2)),
    ("global_max_keepdims_cf", lambda: GlobalMaxPooling2D(keepdims=True,
                                                          data_format="channels_first"),
     (2, 3, 4)),
    ("softmax", lambda: Softmax(), (5,)),
    ("softmax_axis_1", lambda: Softmax(axis=1), (4, 3)),
    ("softmax_two_axes", lambda: Softmax(axis=[1, 2]), (3, 4, 2)),
    ("relu", lambda: ReLU(), (2, 3, 4)),
    ("relu_all_options", lambda: ReLU(max_value=0.5, negative_slope=0.1, threshold=0.25),
     (2, 3, 4)),
    ("relu6_leaky", lambda: ReLU(max_value=0.5, negative_slope=0.2), (2, 3, 4)),
    ("leaky_relu", lambda: LeakyReLU(), (2, 3, 4)),
    ("leaky_relu_alpha", lambda: LeakyReLU(alpha=0.05), (6,)),
    ("elu", lambda: ELU(), (2, 3, 4)),
    ("elu_alpha", lambda: ELU(alpha=0.7), (6,)),
    ("prelu", lambda: PReLU(), (2, 3, 4)),
    ("prelu_shared", lambda: PReLU(shared_axes=[1, 2]), (3, 4, 2)),
    ("prelu_shared_one", lambda: PReLU(shared_axes=2), (3, 4)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
def test_layer_gradients(factory, shape):
    with gradcheck.float64():
        layer = factory()
        layer.build(shape)
    if "alpha" in layer.params:   # slopes away from the initial zeros, so dx depends on them
        alpha = layer.params["alpha"]
        alpha[...] = np.random.default_rng(5).uniform(0.1, 0.9, alpha.shape)
    result = gradcheck.check_layer(layer, shape, batch_size=2, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert {c.param for c in result.checks} == {"input", *layer.params}


def test_the_kinks_lie_between_the_checkers_inputs():
    x = gradcheck.distinct_values((2, 2, 3, 4), np.random.default_rng(0))
    for kink in (0.0, 0.25, 0.5):
        assert np.abs(x - kink).min() >= 1 / x.size - 1e-12


# ----- shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (ZeroPadding2D(), (5, 6, 3), (7, 8, 3)),
    (ZeroPadding2D((2, 1)), (5, 6, 3), (9, 8, 3)),
    (ZeroPadding2D(((1, 2), (3, 4))), (5, 6, 3), (8, 13, 3)),
    (ZeroPadding2D(((1, 2), 3)), (5, 6, 3), (8, 12, 3)),
    (ZeroPadding2D(1, data_format="channels_first"), (3, 5, 6), (3, 7, 8)),
    (Cropping2D(), (5, 6, 3), (5, 6, 3)),
    (Cropping2D(((2, 2), (4, 4))), (28, 28, 3), (24, 20, 3)),
    (Cropping2D(1, data_format="channels_first"), (3, 5, 6), (3, 3, 4)),
    (Reshape((3, 4)), (12,), (3, 4)),
    (Reshape((-1, 2, 2)), (12,), (3, 2, 2)),
    (Reshape((6, -1)), (3, 4), (6, 2)),
    (Permute((2, 1)), (10, 64), (64, 10)),
    (Permute((3, 1, 2)), (5, 6, 7), (7, 5, 6)),
    (GlobalAveragePooling2D(), (5, 6, 3), (3,)),
    (GlobalAveragePooling2D(keepdims=True), (5, 6, 3), (1, 1, 3)),
    (GlobalMaxPooling2D(data_format="channels_first"), (3, 5, 6), (3,)),
    (GlobalMaxPooling2D(data_format="channels_first", keepdims=True), (3, 5, 6), (3, 1, 1)),
    (Softmax(axis=1), (4, 3), (4, 3)),
    (ReLU(), (4, 3), (4, 3)),
    (LeakyReLU(), (7,), (7,)),
    (ELU(), (2, 2, 2), (2, 2, 2)),
    (PReLU(), (4, 3), (4, 3)),
])
def test_shape_inference_matches_forward(layer, in_shape, out_shape):
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.forward(_x(2, *in_shape)).shape == (2, *out_shape)
    assert layer.output_shape == out_shape


def test_prelu_alpha_shape_follows_shared_axes():
    for shared, alpha_shape in ((None, (4, 5, 3)), ([1, 2], (1, 1, 3)), (3, (4, 5, 1))):
        layer = PReLU(shared_axes=shared)
        layer.build((4, 5, 3))
        assert layer.params["alpha"].shape == alpha_shape
        assert not layer.params["alpha"].any()          # zeros: starts as a plain ReLU


def test_aliases_are_the_same_classes():
    assert GlobalAvgPool2D is GlobalAveragePooling2D
    assert GlobalMaxPool2D is GlobalMaxPooling2D


def test_default_names_follow_keras():
    names = [layer.name for layer in (ReLU(), LeakyReLU(), PReLU(), ELU(), Softmax(),
                                      ZeroPadding2D(), Cropping2D(), GlobalAveragePooling2D())]
    assert names == ["re_lu", "leaky_re_lu", "p_re_lu", "elu", "softmax", "zero_padding2d",
                     "cropping2d", "global_average_pooling2d"]


# ----- values worked by hand ------------------------------------------------------------------
def test_zero_padding_by_hand():
    # Keras's docstring example: (1, 1, 2, 2) padded by 1 gives (1, 3, 4, 2)
    x = np.arange(4, dtype="float32").reshape(1, 1, 2, 2)
    y = ZeroPadding2D(1).forward(x)
    expected = np.zeros((1, 3, 4, 2), dtype="float32")
    expected[0, 1, 1:3] = [[0, 1], [2, 3]]
    np.testing.assert_array_equal(y, expected)
    # one row on top, two columns on the right, of a single-channel 2x2 image
    y = ZeroPadding2D(((1, 0), (0, 2))).forward(np.array([[1, 2], [3, 4]],
                                                         dtype="float32")[None, :, :, None])
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]])


def test_zero_padding_backward_cuts_the_padding_away():
    layer = ZeroPadding2D(((1, 0), (0, 2)))
    layer.forward(np.ones((1, 2, 2, 1), dtype="float32"), training=True)
    dy = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
    np.testing.assert_array_equal(layer.backward(dy)[0, :, :, 0], [[4, 5], [8, 9]])


def test_cropping_by_hand():
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    layer = Cropping2D(((1, 0), (0, 1)))
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y[0, :, :, 0], [[3, 4], [6, 7]])
    dx = layer.backward(np.array([[1, 2], [3, 4]], dtype="float32")[None, :, :, None])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [1, 2, 0], [3, 4, 0]])


def test_reshape_keeps_c_order_and_backward_reshapes_back():
    x = np.arange(24, dtype="float32").reshape(2, 12)
    layer = Reshape((-1, 2, 2))
    y = layer.forward(x, training=True)
    assert y.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(y[1, 2, 1], [22, 23])
    np.testing.assert_array_equal(layer.backward(y), x)


def test_permute_by_hand():
    x = _x(2, 3, 5)
    layer = Permute((2, 1))
    y = layer.forward(x, training=True)
    assert y[1, 4, 2] == x[1, 2, 4]
    dy = _x(2, 5, 3, seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy.transpose(0, 2, 1))
    layer = Permute((3, 1, 2))
    x = _x(2, 3, 4, 5)
    y = layer.forward(x, training=True)
    assert y[1, 4, 2, 3] == x[1, 2, 3, 4]            # output axis i is input axis dims[i-1]
    np.testing.assert_array_equal(layer.backward(y), x)


def test_global_pooling_by_hand():
    x = np.array([[1, 2], [3, 6]], dtype="float32").reshape(1, 2, 2, 1)
    average = GlobalAveragePooling2D()
    np.testing.assert_array_equal(average.forward(x, training=True), [[3.0]])
    np.testing.assert_array_equal(average.backward(np.array([[8.0]]))[0, :, :, 0],
                                  [[2, 2], [2, 2]])
    largest = GlobalMaxPooling2D(keepdims=True)
    np.testing.assert_array_equal(largest.forward(x, training=True), [[[[6.0]]]])
    np.testing.assert_array_equal(largest.backward(np.array([[[[8.0]]]]))[0, :, :, 0],
                                  [[0, 0], [0, 8]])


def test_global_max_shares_the_gradient_among_ties():
    x = np.array([[5, 1], [5, 2]], dtype="float32").reshape(1, 2, 2, 1)
    layer = GlobalMaxPooling2D()
    layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(np.array([[1.0]]))[0, :, :, 0],
                                  [[0.5, 0], [0.5, 0]])


def test_softmax_by_hand():
    # Keras's docstring example
    y = Softmax().forward(np.array([[1.0, 2.0, 1.0]]))
    np.testing.assert_allclose(y, [[0.21194157, 0.5761169, 0.21194157]], rtol=1e-6)
    # over axis 1 of a (1, 2, 2) batch: each column sums to one
    x = np.array([[[0.0, 1.0], [0.0, 3.0]]])
    y = Softmax(axis=1).forward(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0, :, 0], [0.5, 0.5], rtol=1e-6)
    # over axes 1 and 2 together: all four cells sum to one
    y = Softmax(axis=[1, 2]).forward(x)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(), rtol=1e-6)


def test_relu_by_hand():
    x = np.array([[-10, -5, 0.0, 5, 10]], dtype="float32")
    # Keras's docstring example
    y = ReLU(max_value=10, negative_slope=0.5, threshold=0).forward(x)
    np.testing.assert_allclose(y, [[-5, -2.5, 0, 5, 10]])
    np.testing.assert_array_equal(ReLU().forward(x), [[0, 0, 0, 5, 10]])
    np.testing.assert_array_equal(ReLU(max_value=6).forward(x), [[0, 0, 0, 5, 6]])
    # x <= threshold: negative_slope * (x - threshold); above it: x
    y = ReLU(threshold=1.5, negative_slope=0.5).forward(np.array([[-1, 1, 1.5, 2]]))
    np.testing.assert_allclose(y, [[-1.25, -0.25, 0, 2]])


def test_relu_backward_by_hand():
    layer = ReLU(max_value=2, negative_slope=0.5, threshold=1)
    x = np.array([[-1, 0.5, 1, 1.5, 2, 3]], dtype="float32")
    layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(x))
    # below the threshold: the slope; at it: 0; inside: 1; at and over the cap: 0
    np.testing.assert_array_equal(dx, [[0.5, 0.5, 0, 1, 0, 0]])


def test_leaky_relu_by_hand():
    x = np.array([[-3.0, -1.0, 0.0, 2.0]], dtype="float32")
    # tf-keras's docstring examples (its `alpha=` spelling too)
    np.testing.assert_allclose(LeakyReLU().forward(x), [[-0.9, -0.3, 0, 2]], rtol=1e-6)
    layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == pytest.approx(0.1)
    np.testing.assert_allclose(layer.forward(x, training=True), [[-0.3, -0.1, 0, 2]], rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), [[0.1, 0.1, 0.1, 1]], rtol=1e-6)


def test_elu_by_hand():
    layer = ELU(alpha=2.0)
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_allclose(layer.forward(x, training=True),
                               [[2 * (np.exp(-1) - 1), 0, 2]], rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), [[2 * np.exp(-1), 2, 1]],
                               rtol=1e-6)
    # large inputs: no overflow from the branch np.where does not use
    with np.errstate(over="raise"):
        assert ELU().forward(np.array([[1000.0]], dtype="float32"))[0, 0] == 1000


def test_prelu_by_hand():
    layer = PReLU(shared_axes=[1])
    layer.build((2, 2))
    layer.set_weights([np.array([[0.25, 0.5]])])
    x = np.array([[[-1.0, 2.0], [-4.0, -2.0]]], dtype="float32")
    np.testing.assert_allclose(layer.forward(x, training=True), [[[-0.25, 2], [-1, -1]]])
    dy = np.array([[[1.0, 1.0], [2.0, 3.0]]], dtype="float32")
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, [[[0.25, 1], [0.5, 1.5]]])
    # dalpha = sum over the batch and axis 1 of dy * min(x, 0)
    np.testing.assert_allclose(layer.grads["alpha"], [[1 * -1 + 2 * -4, 1 * 0 + 3 * -2]])
    layer.backward(dy)                                 # overwritten, never accumulated
    np.testing.assert_allclose(layer.grads["alpha"], [[-9, -6]])


# ----- channels_first is channels_last transposed ---------------------------------------------
@pytest.mark.parametrize("make", [
    lambda fmt: ZeroPadding2D(((1, 2), (0, 3)), data_format=fmt),
    lambda fmt: Cropping2D(((1, 0), (2, 1)), data_format=fmt),
    lambda fmt: GlobalAveragePooling2D(data_format=fmt, keepdims=True),
    lambda fmt: GlobalMaxPooling2D(data_format=fmt, keepdims=True),
], ids=["zero_padding", "cropping", "global_avg", "global_max"])
def test_channels_first_equals_channels_last_transposed(make):
    x = _x(2, 5, 6, 3)
    last, first = make("channels_last"), make("channels_first")
    y_last = last.forward(x, training=True)
    y_first = first.forward(x.transpose(0, 3, 1, 2), training=True)
    np.testing.assert_array_equal(y_first.transpose(0, 2, 3, 1), y_last)
    dy = _x(*y_last.shape, seed=1)
    dx_last = last.backward(dy)
    dx_first = first.backward(dy.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(dx_first.transpose(0, 2, 3, 1), dx_last)


@pytest.mark.parametrize("cls", [GlobalAveragePooling2D, GlobalMaxPooling2D])
def test_global_pooling_without_keepdims_is_the_same_per_channel(cls):
    x = _x(2, 5, 6, 3)
    y_last = cls().forward(x)
    y_first = cls(data_format="channels_first").forward(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y_first, y_last)


def test_data_format_defaults_to_the_backend_setting():
    backend.set_image_data_format("channels_first")
    for layer in (ZeroPadding2D(), Cropping2D(), GlobalAveragePooling2D(), GlobalMaxPooling2D()):
        assert layer.data_format == "channels_first"


# ----- per-core inference ---------------------------------------------------------------------
def _all_layers_and_shapes():
    return [(factory(), shape) for _, factory, shape in GRADIENT_CASES]


def test_infer_chunk_equals_forward_and_keeps_nothing():
    for layer, shape in _all_layers_and_shapes():
        assert layer.runs_per_core, layer
        x, other = _x(3, *shape), _x(2, *shape, seed=1)
        y = layer.forward(x, training=True)
        dy = _x(*y.shape, seed=2)
        expected = layer.backward(dy)
        np.testing.assert_array_equal(layer.infer_chunk(x), y, err_msg=str(layer))
        layer.infer_chunk(other)         # must not disturb what backward kept from forward
        np.testing.assert_array_equal(layer.backward(dy), expected, err_msg=str(layer))


# ----- configs --------------------------------------------------------------------------------
def test_configs_use_keras_names_and_values():
    expected = [
        (ZeroPadding2D(), {"padding": ((1, 1), (1, 1)), "data_format": "channels_last"}),
        (ZeroPadding2D((1, 2)), {"padding": ((1, 1), (2, 2))}),
        (Cropping2D(), {"cropping": ((0, 0), (0, 0)), "data_format": "channels_last"}),
        (Reshape([-1, 2]), {"target_shape": (-1, 2)}),
        (Permute([2, 1]), {"dims": (2, 1)}),
        (GlobalAveragePooling2D(), {"data_format": "channels_last", "keepdims": False}),
        (GlobalMaxPooling2D(keepdims=True), {"data_format": "channels_last", "keepdims": True}),
        (Softmax(), {"axis": -1}),
        (ReLU(), {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
        (LeakyReLU(), {"negative_slope": 0.3}),
        (ELU(), {"alpha": 1.0}),
        (PReLU(), {"alpha_initializer": {"class_name": "Zeros", "config": {}},
                   "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": None}),
    ]
    for layer, keys in expected:
        config = layer.get_config()
        assert {k: config[k] for k in keys} == keys, type(layer).__name__
        assert {"name", "trainable", "dtype"} <= set(config)


@pytest.mark.parametrize("layer", [
    ZeroPadding2D(((1, 2), (0, 3)), data_format="channels_first"),
    Cropping2D(((1, 0), (2, 1))),
    Reshape((-1, 3)),
    Permute((2, 1)),
    GlobalAveragePooling2D(keepdims=True),
    GlobalMaxPooling2D(data_format="channels_first"),
    Softmax(axis=[1, 2]),
    ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    LeakyReLU(negative_slope=0.2),
    ELU(alpha=0.5),
    PReLU(alpha_initializer="ones", shared_axes=[1, 2]),
], ids=lambda layer: type(layer).__name__)
def test_from_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    shape = (4, 3) if isinstance(layer, (Reshape, Permute)) else (4, 6, 3)
    x = _x(2, *shape)
    np.testing.assert_array_equal(clone.forward(x), layer.forward(x))


# ----- a small model that uses them -----------------------------------------------------------
def _model(head_softmax_layer=True):
    """Input (6, 6, 2) -> pad -> crop -> conv -> ReLU/PReLU/LeakyReLU/ELU -> permute ->
    global average + reshape + dense -> softmax (as its own layer, or the Dense's activation).
    Every activation lets some gradient through below 0, so PReLU's alpha gets one."""
    layers = [
        ZeroPadding2D(1, input_shape=(6, 6, 2)),                # (8, 8, 2)
        Cropping2D(((1, 0), (0, 1))),                           # (7, 7, 2)
        Conv2D(4, (3, 3)),                                      # (5, 5, 4)
        ReLU(max_value=6.0, negative_slope=0.1),
        PReLU(shared_axes=[1, 2]),
        LeakyReLU(0.2),
        ELU(),
        Permute((2, 1, 3)),
        GlobalAveragePooling2D(keepdims=True),                  # (1, 1, 4)
        Reshape((4,)),
        Dense(3, activation=None if head_softmax_layer else "softmax"),
    ]
    if head_softmax_layer:
        layers.append(Softmax())
    return Sequential(layers)


def test_json_round_trip_through_a_model():
    model = _model()
    text = model.to_json()
    classes = [entry["class_name"] for entry in json.loads(text)["config"]["layers"]]
    assert classes[1:4] == ["ZeroPadding2D", "Cropping2D", "Conv2D"]
    clone = model_from_json(text)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    for a, b in zip(model.layers, clone.layers):
        a_config = a.get_config()
        a_config.pop("batch_input_shape", None)       # the InputLayer carries the shape
        assert b.get_config() == a_config
    assert clone.output_shape == model.output_shape


def test_json_reads_keras_aliases_and_tf_keras_spellings():
    entries = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 5, 3]}},
        {"class_name": "PReLU", "config": {  # Keras 3: the initialiser as a serialised object
            "name": "p_re_lu", "shared_axes": [1, 2], "alpha_regularizer": None,
            "alpha_constraint": None, "trainable": True,
            "alpha_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                  "config": {}, "registered_name": None}}},
        {"class_name": "LeakyReLU", "config": {"name": "leaky", "alpha": 0.1}},  # tf-keras
        {"class_name": "GlobalAvgPool2D", "config": {"name": "gap", "data_format":
                                                     "channels_last", "keepdims": False}},
    ]
    model = model_from_json(json.dumps({"class_name": "Sequential",
                                        "config": {"name": "m", "layers": entries}}))
    prelu, leaky, gap = model.layers
    assert prelu.params["alpha"].shape == (1, 1, 3)
    assert leaky.negative_slope == pytest.approx(0.1)
    assert isinstance(gap, GlobalAveragePooling2D) and model.output_shape == (None, 3)


@pytest.mark.parametrize("filename", ["w.h5", "w.weights.h5"])
def test_prelu_weights_round_trip_through_hdf5(tmp_path, filename):
    model = _model()
    prelu = model.layers[4]
    prelu.set_weights([np.random.default_rng(0).uniform(0.1, 0.5, (1, 1, 4))])
    model.save_weights(tmp_path / filename)
    clone = model_from_json(model.to_json())
    clone.load_weights(tmp_path / filename)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clone.layers[4].params["alpha"], prelu.params["alpha"])
    x = _x(4, 6, 6, 2)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_one_training_step_moves_every_weight():
    model = _model()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    before = [w.copy() for w in model.get_weights()]
    x, y = _x(8, 6, 6, 2), np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]]
    loss = model.train_on_batch(x, y)[0]
    assert np.isfinite(loss) and 0 < loss < 10
    for a, b in zip(before, model.get_weights()):
        assert not np.array_equal(a, b)          # PReLU's alpha (zeros at the start) included
    out = model.predict(x)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out, model.forward(x), rtol=1e-6)


@pytest.mark.parametrize("engine", ["fast", "numpy"])
def test_predict_equals_the_layers_forward_passes(engine):
    # 20 samples: on the fast engine the leading layers (all of these run per core) take the
    # per-core path, a few samples per task through infer_chunk
    model = _model()
    x = _x(20, 6, 6, 2)
    with backend.engine(engine):
        out = model.predict(x, batch_size=20)
        expected = x
        for layer in model.layers:
            expected = layer.forward(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("head_softmax_layer", [True, False],
                         ids=["softmax_layer", "dense_softmax_fused"])
def test_model_gradients(head_softmax_layer):
    with gradcheck.float64():
        model = _model(head_softmax_layer=head_softmax_layer)
        model.compile(loss="categorical_crossentropy", optimizer="adadelta")
    prelu = model.layers[4]
    prelu.params["alpha"][...] = np.random.default_rng(1).uniform(0.1, 0.5, (1, 1, 4))
    x = gradcheck.distinct_values((3, 6, 6, 2), np.random.default_rng(3))
    y = np.eye(3)[[0, 2, 1]]
    result = gradcheck.check_model(model, x, y, tolerance=1e-5)
    assert result.passed, "\n" + result.table()
    assert {(c.layer, c.param) for c in result.checks} >= {(prelu.name, "alpha")}


def test_model_with_global_max_pooling_and_flatten():
    with gradcheck.float64():
        model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2)), ELU(),
                            GlobalMaxPooling2D(keepdims=True), Flatten(),
                            Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adadelta")
    x = gradcheck.distinct_values((2, 6, 6, 2), np.random.default_rng(4))
    result = gradcheck.check_model(model, x, np.eye(3)[[1, 2]], tolerance=1e-5)
    assert result.passed, "\n" + result.table()


# ----- bad arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("make,message", [
    (lambda: ZeroPadding2D(-1), "ZeroPadding2D 'zero_padding2d': padding must be"),
    (lambda: ZeroPadding2D((1, 2, 3)), "padding must be an int, a pair"),
    (lambda: ZeroPadding2D("same"), "padding must be"),
    (lambda: ZeroPadding2D(((1, -1), (0, 0))), "padding must be"),
    (lambda: ZeroPadding2D(1.5), "padding must be"),
    (lambda: ZeroPadding2D(data_format="nhwc"), "data_format must be"),
    (lambda: Cropping2D(((1,), (2, 2))), "Cropping2D 'cropping2d': cropping must be"),
    (lambda: Cropping2D(True), "cropping must be"),
    (lambda: Reshape((-1, -1, 2)), "Reshape 'reshape': target_shape must be"),
    (lambda: Reshape((0, 3)), "target_shape must be"),
    (lambda: Reshape(12), "target_shape must be"),
    (lambda: Permute((1, 1)), "Permute 'permute': dims must be a permutation of 1..rank"),
    (lambda: Permute((0, 1)), "dims must be a permutation"),
    (lambda: GlobalAveragePooling2D(keepdims="yes"), "keepdims must be True or False"),
    (lambda: Softmax(axis="last"), "Softmax 'softmax': axis must be an integer"),
    (lambda: Softmax(axis=[]), "axis must be an integer"),
    (lambda: ReLU(max_value=-1), "ReLU 're_lu': max_value must be a number >= 0"),
    (lambda: ReLU(negative_slope=-0.1), "negative_slope must be a number >= 0"),
    (lambda: ReLU(threshold=None), "threshold must be a number >= 0"),
    (lambda: LeakyReLU(None), "LeakyReLU 'leaky_re_lu': negative_slope must be"),
    (lambda: LeakyReLU(alpha=-2), "negative_slope must be a number >= 0"),
    (lambda: ELU(alpha="big"), "ELU 'elu': alpha must be a finite number"),
    (lambda: ELU(alpha=float("nan")), "alpha must be a finite number"),
    (lambda: PReLU(alpha_regularizer="l2"), "PReLU 'p_re_lu': alpha_regularizer is not"),
    (lambda: PReLU(shared_axes=[0]), "shared_axes must be None, an axis or a list"),
    (lambda: PReLU(alpha_initializer="bogus"), "alpha_initializer: Unknown initializer"),
])
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("layer,shape,message", [
    (Cropping2D(((2, 2), (0, 0))), (4, 5, 1), r"cropping \(\(2, 2\), \(0, 0\)\) leaves nothing "
                                              r"of a 4x5 image"),
    (ZeroPadding2D(), (4, 5), r"expects input of shape \(batch, H, W, C\)"),
    (GlobalMaxPooling2D(), (4, 5), r"expects input of shape \(batch, H, W, C\)"),
    (Reshape((5, 3)), (12,), r"cannot reshape per-sample shape \(12,\) \(12 values\) to "
                             r"target_shape \(5, 3\) \(15 values\)"),
    (Reshape((-1, 5)), (12,), "12 is not a multiple of 5"),
    (Permute((2, 1)), (2, 3, 4), r"dims \(2, 1\) permute 2 axes"),
    (Softmax(axis=0), (4,), "includes the batch axis"),
    (Softmax(axis=3), (4,), "out of range for input of rank 2"),
    (PReLU(shared_axes=[4]), (2, 3, 4), "shared axis 4 does not exist"),
])
def test_bad_shapes_are_refused_clearly(layer, shape, message):
    with pytest.raises(ValueError, match=message) as error:
        layer.build(shape)
    assert str(error.value).startswith(layer.describe())      # names the layer first
