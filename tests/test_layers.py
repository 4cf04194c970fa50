"""The Layer protocol and each layer's shapes, options, configs and error messages."""

import numpy as np
import pytest

import error_bounds
from convnet import backend
from convnet.layers import (
    Activation,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    MaxPooling2D,
)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (Conv2D(32, (3, 3)), (28, 28, 1), (26, 26, 32)),
    (Conv2D(8, 3, strides=2), (28, 28, 3), (13, 13, 8)),
    (Conv2D(8, 3, strides=2, padding="same"), (28, 27, 3), (14, 14, 8)),
    (Conv2D(4, (5, 3), padding="same"), (9, 7, 2), (9, 7, 4)),
    (Conv2D(4, 3, data_format="channels_first"), (2, 9, 8), (4, 7, 6)),
    (MaxPooling2D(), (24, 24, 64), (12, 12, 64)),
    (MaxPooling2D((2, 2)), (5, 5, 1), (2, 2, 1)),
    (MaxPooling2D((2, 2), padding="same"), (5, 5, 1), (3, 3, 1)),
    (MaxPooling2D((3, 3), strides=1), (5, 6, 2), (3, 4, 2)),
    (MaxPooling2D(data_format="channels_first"), (3, 8, 6), (3, 4, 3)),
    (Flatten(), (12, 12, 64), (9216,)),
    (Dense(128), (9216,), (128,)),
    (Dense(7), (3, 5), (3, 7)),
    (Dropout(0.5), (128,), (128,)),
    (Activation("softmax"), (10,), (10,)),
])
def test_shape_inference_matches_forward(layer, in_shape, out_shape):
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.forward(_x(2, *in_shape)).shape == (2, *out_shape)
    assert layer.output_shape == out_shape


def test_same_padding_puts_the_extra_cell_after():
    # a 1x2 kernel of ones over a 1x4 row with stride 2 and 'same': pad total 0 -> no pad;
    # over a 1x5 row: out 3, pad total 1 -> zero added on the right only.
    conv = Conv2D(1, (1, 2), strides=(1, 2), padding="same", use_bias=False)
    conv.build((1, 5, 1))
    conv.set_weights([np.ones((1, 2, 1, 1))])
    y = conv.forward(np.arange(1, 6, dtype="float32").reshape(1, 1, 5, 1))
    np.testing.assert_array_equal(y.ravel(), [1 + 2, 3 + 4, 5 + 0])


def test_conv_is_cross_correlation_not_convolution():
    conv = Conv2D(1, (1, 2), use_bias=False)
    conv.build((1, 2, 1))
    conv.set_weights([np.array([1.0, 10.0]).reshape(1, 2, 1, 1)])
    y = conv.forward(np.array([2.0, 3.0], dtype="float32").reshape(1, 1, 2, 1))
    assert y.item() == 2 * 1 + 3 * 10   # no kernel flip (a convolution would give 2*10 + 3*1)


def test_channels_first_equals_channels_last_transposed():
    x = _x(2, 9, 8, 3)
    last = Conv2D(4, 3, strides=2, padding="same", activation="relu")
    first = Conv2D(4, 3, strides=2, padding="same", activation="relu",
                   data_format="channels_first")
    y_last = last.forward(x)
    first.build((3, 9, 8))
    first.set_weights(last.get_weights())
    y_first = first.forward(x.transpose(0, 3, 1, 2))
    dy = _x(*y_last.shape, seed=1)
    bounds = error_bounds.layer_bounds(last, x, dy)
    error_bounds.check_paths(y_first.transpose(0, 2, 3, 1), y_last, bounds["y"], "y")
    last.forward(x, training=True)
    dx_last = last.backward(dy)
    first.forward(x.transpose(0, 3, 1, 2), training=True)
    dx_first = first.backward(dy.transpose(0, 3, 1, 2))
    error_bounds.check_paths(dx_first.transpose(0, 2, 3, 1), dx_last, bounds["dx"], "dx")
    error_bounds.check_paths(first.grads["kernel"], last.grads["kernel"], bounds["kernel"], "dK")


def test_pooling_channels_first_and_flatten_order():
    x = _x(2, 6, 4, 3)
    pooled = MaxPooling2D().forward(x)
    pooled_cf = MaxPooling2D(data_format="channels_first").forward(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(pooled_cf, pooled.transpose(0, 3, 1, 2))
    # Flatten(channels_first) moves channels last first: same vector as channels-last data
    np.testing.assert_array_equal(Flatten(data_format="channels_first").forward(pooled_cf),
                                  Flatten().forward(pooled))
    # a plain (channels_last) Flatten flattens the (C, H, W) array as it is
    np.testing.assert_array_equal(Flatten().forward(pooled_cf), pooled_cf.reshape(2, -1))


def test_maxpool_forward_and_routing_by_hand():
    x = np.array([[1, 5, 2, 0],
                  [3, 4, 8, 1],
                  [0, 2, 6, 7],
                  [9, 1, 3, 2]], dtype="float32").reshape(1, 4, 4, 1)
    pool = MaxPooling2D((2, 2))
    np.testing.assert_array_equal(pool.forward(x)[0, :, :, 0], [[5, 8], [9, 7]])
    dx = pool.backward(np.array([[10, 20], [30, 40]], dtype="float32").reshape(1, 2, 2, 1))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[2, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_maxpool2d_alias():
    assert MaxPool2D is MaxPooling2D


def test_dropout_is_inverted_and_identity_at_inference():
    layer = Dropout(0.25)
    x = np.ones((200, 500), dtype="float32")
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01                     # rate = fraction *dropped*
    # survivors scaled up: 1 * float32(1 / 0.75), one rounding (3e-8) from the float64 value
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=2 * 2**-24)
    assert abs(y.mean() - 1.0) < 0.02                         # expectation preserved
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)  # same mask


def test_backward_overwrites_gradients_never_accumulates():
    layer = Dense(3, activation="relu")
    x = _x(4, 5)
    layer.forward(x, training=True)
    dy = _x(4, 3, seed=2)
    dx1 = layer.backward(dy)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    for k in g1:
        np.testing.assert_array_equal(layer.grads[k], g1[k])


@pytest.mark.parametrize("layer", [Conv2D(2, 3), Dense(3), MaxPooling2D(), Dropout(0.5),
                                   Flatten(), Activation("relu")])
def test_backward_before_forward_is_a_clear_error(layer):
    with pytest.raises(RuntimeError, match="backward.*before forward"):
        layer.backward(np.zeros((1, 2)))


def test_backward_with_wrong_gradient_shape():
    layer = Dense(3)
    layer.forward(_x(4, 5))
    with pytest.raises(ValueError, match=r"Dense 'dense'.*\(4, 3\).*got \(4, 2\)"):
        layer.backward(np.zeros((4, 2)))


def test_params_and_grads_use_keras_names_and_shapes():
    conv = Conv2D(32, (3, 3), input_shape=(28, 28, 1))
    conv.build((28, 28, 1))
    assert list(conv.params) == ["kernel", "bias"]
    assert conv.params["kernel"].shape == (3, 3, 1, 32) and conv.params["bias"].shape == (32,)
    assert {k: v.shape for k, v in conv.grads.items()} == {k: v.shape
                                                            for k, v in conv.params.items()}
    dense = Dense(10, use_bias=False)
    dense.build((128,))
    assert list(dense.params) == ["kernel"]
    assert [w.shape for w in dense.get_weights()] == [(128, 10)]


def test_layer_builds_itself_on_first_forward_and_checks_later_inputs():
    conv = Conv2D(4, (3, 3), name="conv_a")
    assert not conv.built
    conv.forward(_x(2, 8, 8, 3))
    assert conv.built and conv.input_shape == (8, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2D 'conv_a' expects input of shape "
                                         r"\(batch, 8, 8, 3\), got \(2, 8, 8\)"):
        conv.forward(_x(2, 8, 8))
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 3\), got \(2, 8, 8, 1\)"):
        conv.forward(_x(2, 8, 8, 1))


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError, match="Dense 'dense' expects a numeric array, got dtype <U1"):
        Dense(2).forward(np.array([["a", "b"]]))


def test_automatic_names_follow_keras():
    names = [Conv2D(1, 1).name, Conv2D(1, 1).name, MaxPooling2D().name, Dense(1).name,
             Dense(1).name, Dropout(0.1).name, Flatten().name, Activation("relu").name]
    assert names == ["conv2d", "conv2d_1", "max_pooling2d", "dense", "dense_1", "dropout",
                     "flatten", "activation"]
    backend.clear_session()
    assert Conv2D(1, 1).name == "conv2d"


@pytest.mark.parametrize("layer", [
    Conv2D(8, (3, 2), strides=2, padding="same", activation="relu", use_bias=False,
           data_format="channels_first", kernel_initializer="he_normal"),
    MaxPooling2D((3, 3), strides=(2, 1), padding="same"),
    Dense(5, activation="softmax", bias_initializer="ones"),
    Dropout(0.3), Flatten(data_format="channels_first"), Activation("tanh"),
    Conv2D(4, 3, input_shape=(9, 9, 1)),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_set_weights_checks_count_and_shapes():
    dense = Dense(3, name="d")
    dense.build((4,))
    with pytest.raises(ValueError, match=r"'d' expects 2 weight arrays \(kernel, bias\), got 1"):
        dense.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"weight 'kernel' expects shape \(4, 3\), got \(3, 4\)"):
        dense.set_weights([np.zeros((3, 4)), np.zeros(3)])
    w = [np.full((4, 3), 2.0), np.arange(3.0)]
    dense.set_weights(w)
    for got, want in zip(dense.get_weights(), w):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make,message", [
    (lambda: Conv2D(0, 3), "filters must be a positive integer"),
    (lambda: Conv2D(-4, 3), "filters must be a positive integer"),
    (lambda: Conv2D(4, 0), "kernel_size must be a positive integer"),
    (lambda: Conv2D(4, (3, 3, 3)), "kernel_size must be"),
    (lambda: Conv2D(4, 3, strides=0), "strides must be"),
    (lambda: Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same'"),
    (lambda: Conv2D(4, 3, activation="swishy"), "Unknown activation 'swishy'"),
    (lambda: Conv2D(4, 3, data_format="nhwc"), "data_format must be"),
    (lambda: Conv2D(4, 3, kernel_initializer="magic"), "Unknown initializer 'magic'"),
    (lambda: Dense(0), "units must be a positive integer"),
    (lambda: Dense(3.5), "units must be a positive integer"),
    (lambda: Dropout(1.0), r"rate .* must be in \[0, 1\)"),
    (lambda: Dropout(-0.1), r"must be in \[0, 1\)"),
    (lambda: MaxPooling2D((0, 2)), "pool_size must be"),
    (lambda: MaxPooling2D(2, strides=-1), "strides must be"),
    (lambda: Conv2D(4, 3, input_shape=(28, -1, 1)), "input_shape must hold positive sizes"),
])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_kernel_too_big_for_input():
    with pytest.raises(ValueError, match=r"Conv2D 'c'.*does not fit in a 2x2 input"):
        Conv2D(1, 3, name="c").build((2, 2, 1))


def test_float64_follows_backend_floatx():
    backend.set_floatx("float64")
    dense = Dense(2)
    y = dense.forward(np.ones((1, 3), dtype="float32"))
    assert dense.params["kernel"].dtype == np.float64 and y.dtype == np.float64
    backend.set_floatx("float32")
    assert Dense(2).forward(np.ones((1, 3))).dtype == np.float32


def test_custom_layer_follows_the_protocol():
    class Double(Layer):
        def compute_output_shape(self, input_shape):
            return input_shape

        def _forward(self, x, training):
            return 2 * x

        def _backward(self, dy, input_gradient):
            return 2 * dy

    layer = Double()
    assert layer.name == "double"
    np.testing.assert_array_equal(layer.forward(np.ones((1, 2))), [[2, 2]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[2, 2]])


@pytest.mark.parametrize("make,shape", [(lambda: Conv2D(3, 3), (5, 5, 2)),
                                        (lambda: Dense(3), (4,)),
                                        # 9-cell windows: dL/dK alone comes from the direct
                                        # kernel (the same sums in another order)
                                        (lambda: Conv2D(5, 3, activation="relu"), (7, 6, 1)),
                                        (lambda: Conv2D(2, 3, strides=2, padding="same"),
                                         (6, 7, 1))])
def test_input_gradient_can_be_skipped_without_changing_parameter_gradients(make, shape):
    layer = make()
    x = _x(2, *shape)
    dy = _x(*layer.forward(x, training=True).shape, seed=5)
    dx = layer.backward(dy)
    full = {k: v.copy() for k, v in layer.grads.items()}
    assert dx.shape == x.shape
    assert layer.backward(dy, input_gradient=False) is None
    bounds = error_bounds.layer_bounds(layer, x, dy)
    for k in full:
        error_bounds.check_paths(layer.grads[k], full[k], bounds[k], k)
    assert layer.backward(dy).shape == x.shape   # the next call computes dx again


def test_conv_large_batches_are_done_in_chunks_with_the_same_result():
    x = _x(7, 6, 6, 3)
    whole = Conv2D(4, 3, padding="same", activation="relu")
    y_whole = whole.forward(x, training=True)
    dy = _x(*y_whole.shape, seed=9)
    dx_whole = whole.backward(dy)
    chunked = Conv2D(4, 3, padding="same", activation="relu")
    chunked.BLOCK = 3                        # 7 samples -> blocks of 3, 3, 1
    chunked.build((6, 6, 3))
    chunked.set_weights(whole.get_weights())
    bounds = error_bounds.layer_bounds(whole, x, dy)
    error_bounds.check_paths(chunked.forward(x, training=True), y_whole, bounds["y"], "y")
    error_bounds.check_paths(chunked.backward(dy), dx_whole, bounds["dx"], "dx")
    error_bounds.check_paths(chunked.grads["kernel"], whole.grads["kernel"], bounds["kernel"],
                             "dK")
    y_first = chunked.forward(x[:2]).copy()  # buffers are reused: earlier outputs stay intact
    chunked.forward(x[2:4])
    np.testing.assert_array_equal(y_first, chunked.forward(x[:2]))


def test_float16_layers_train_through_the_reference_kernels():
    from convnet.models import Sequential
    backend.set_floatx("float16")
    try:
        model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
                            MaxPooling2D(), Flatten(), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adadelta")
        x = np.random.default_rng(0).random((4, 6, 6, 1)).astype("float16")
        y = np.eye(3, dtype="float16")[[0, 1, 2, 0]]
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss) and model.predict(x).dtype == np.float16
    finally:
        backend.set_floatx("float32")
