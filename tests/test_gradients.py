"""One gradient-check harness for every layer, option, loss and a whole model (float64 central
differences, see convnet/gradcheck.py)."""

import numpy as np
import pytest

from convnet import gradcheck, losses
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

TOL = 1e-5  # float64 central differences: round-off alone reaches ~1e-6 on tiny gradients


def winograd(layer):
    """The layer, on the Winograd F(4x4, 3x3) path whatever its channel count."""
    layer.WINOGRAD_MIN_CHANNELS, layer.WINOGRAD_MIN_FILL = 1, 0.0
    return layer


LAYER_CASES = [
    # (id, factory, per-sample input shape)
    ("conv_valid_relu", lambda: Conv2D(4, (3, 3), activation="relu"), (7, 6, 3)),
    ("conv_same_stride2", lambda: Conv2D(3, (3, 3), strides=2, padding="same"), (7, 8, 2)),
    ("conv_same_asym_kernel", lambda: Conv2D(2, (2, 3), strides=(1, 2), padding="same",
                                             activation="tanh"), (5, 6, 2)),
    ("conv_valid_stride_3", lambda: Conv2D(2, (3, 3), strides=3, activation="sigmoid"),
     (9, 10, 1)),
    ("conv_no_bias", lambda: Conv2D(3, (3, 3), use_bias=False, activation="relu"), (6, 6, 2)),
    ("conv_channels_first", lambda: Conv2D(3, (3, 3), padding="same", activation="relu",
                                           data_format="channels_first"), (2, 6, 5)),
    ("conv_softmax", lambda: Conv2D(3, (2, 2), activation="softmax"), (4, 4, 2)),
    # one input channel, at most 9 cells per window: the forward loops over windows directly
    ("conv_direct_relu", lambda: Conv2D(4, (3, 3), activation="relu"), (6, 7, 1)),
    ("conv_direct_same_stride2_tanh", lambda: Conv2D(3, (3, 3), strides=2, padding="same",
                                                     activation="tanh"), (7, 6, 1)),
    ("conv_direct_no_bias", lambda: Conv2D(2, (2, 2), use_bias=False), (5, 5, 2)),
    # 3x3 stride 1: Winograd's transformed tiles (partial tiles at the far edges)
    ("conv_winograd_relu", lambda: winograd(Conv2D(4, (3, 3), activation="relu")), (7, 6, 3)),
    ("conv_winograd_same_tanh", lambda: winograd(Conv2D(3, (3, 3), padding="same",
                                                        activation="tanh")), (5, 7, 2)),
    ("conv_winograd_no_bias", lambda: winograd(Conv2D(2, (3, 3), use_bias=False)), (6, 6, 2)),
    ("pool_valid", lambda: MaxPooling2D((2, 2)), (6, 6, 3)),
    ("pool_same_odd", lambda: MaxPooling2D((2, 2), padding="same"), (5, 7, 2)),
    ("pool_overlap", lambda: MaxPooling2D((3, 3), strides=(2, 2)), (7, 7, 2)),
    ("pool_same_overlap", lambda: MaxPooling2D((3, 3), strides=2, padding="same"), (6, 5, 2)),
    ("pool_channels_first", lambda: MaxPooling2D((2, 2), data_format="channels_first"),
     (3, 4, 6)),
    ("avgpool_valid", lambda: AveragePooling2D((2, 2)), (6, 5, 2)),
    ("avgpool_same_odd", lambda: AveragePooling2D((2, 2), padding="same"), (5, 7, 2)),
    ("avgpool_same_overlap", lambda: AveragePooling2D((3, 3), strides=2, padding="same"),
     (6, 5, 2)),
    ("avgpool_channels_first", lambda: AveragePooling2D(data_format="channels_first"),
     (2, 4, 6)),
    ("dense_linear", lambda: Dense(5), (7,)),
    ("dense_relu", lambda: Dense(4, activation="relu"), (6,)),
    ("dense_tanh_no_bias", lambda: Dense(4, activation="tanh", use_bias=False), (5,)),
    ("dense_sigmoid", lambda: Dense(3, activation="sigmoid"), (4,)),
    ("dense_softmax", lambda: Dense(4, activation="softmax"), (5,)),
    ("dense_on_3d_input", lambda: Dense(3, activation="relu"), (2, 4)),
    ("dropout", lambda: Dropout(0.4), (4, 5)),
    ("dropout_seeded", lambda: Dropout(0.3, seed=7), (3, 3, 2)),
    ("flatten", lambda: Flatten(), (3, 4, 2)),
    ("flatten_channels_first", lambda: Flatten(data_format="channels_first"), (2, 3, 4)),
    ("activation_relu", lambda: Activation("relu"), (6,)),
    ("activation_softmax", lambda: Activation("softmax"), (5,)),
    ("activation_sigmoid", lambda: Activation("sigmoid"), (3, 4)),
    ("activation_tanh", lambda: Activation("tanh"), (6,)),
    ("activation_linear", lambda: Activation("linear"), (6,)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in LAYER_CASES],
                         ids=[c[0] for c in LAYER_CASES])
def test_layer_gradients(factory, shape):
    with gradcheck.float64():
        layer = factory()
    result = gradcheck.check_layer(layer, shape, batch_size=2, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert {c.param for c in result.checks} == {"input", *layer.params}


def test_winograd_cases_take_the_winograd_path():
    from convnet import threads
    if not threads.available():
        pytest.skip("the Winograd path needs NumPy's OpenBLAS thread control")
    for name, factory, shape in LAYER_CASES:
        if name.startswith("conv_winograd"):
            layer = factory()
            layer.build(shape)
            assert layer.path.name == "winograd", name


def _small_model(loss, last_activation="softmax"):
    with gradcheck.float64():
        model = Sequential([
            Conv2D(3, (3, 3), activation="relu", input_shape=(7, 7, 2)),
            MaxPooling2D((2, 2)),
            Dropout(0.25),
            Flatten(),
            Dense(6, activation="tanh"),
            Dense(4, activation=last_activation),
        ])
        model.compile(loss=loss, optimizer="adadelta")
    return model


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("conv_path", ["im2col", "winograd"])
def test_whole_model_gradients(loss, conv_path):
    model = _small_model(loss)
    floor = 1e-6
    if conv_path == "winograd":
        winograd(model.layers[0])
        # Winograd's transforms mix every pixel of a tile into all its outputs, so nudging a
        # pixel whose true gradient is 0 (behind a dead ReLU or a dropped unit) still moves the
        # float64 loss by rounding (~1e-16): a numeric gradient of ~1e-11 against an exact 0.
        floor = 1e-5
    # the conv + max-pool pair backpropagates in one call where it can (fuses_backward_of)
    rng = np.random.default_rng(3)
    x = gradcheck.distinct_values((3, 7, 7, 2), rng)
    labels = np.array([0, 3, 1])
    y = np.eye(4)[labels] if loss == "categorical_crossentropy" else labels
    result = gradcheck.check_model(model, x, y, tolerance=TOL, floor=floor)
    assert result.passed, "\n" + result.table()
    assert len(result.checks) == 1 + 6  # input + conv, dense, dense (kernel and bias each)


def test_model_without_fused_softmax_uses_loss_gradient():
    # sigmoid outputs: the model must chain the cross-entropy gradient through the activation
    model = _small_model("categorical_crossentropy", last_activation="sigmoid")
    x = gradcheck.distinct_values((2, 7, 7, 2), np.random.default_rng(0))
    y = np.array([[0.0, 1, 0, 0], [0.2, 0.3, 0.4, 0.1]])
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_loss_gradients(name):
    _, loss_fn, grad_fn = losses.get(name)
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 1.0, size=(3, 4))
    p /= p.sum(axis=1, keepdims=True)
    p[0] *= 1.7  # not normalised: the loss rescales, and the gradient must follow
    y = np.eye(4)[[1, 0, 3]] if name.startswith("categorical") else np.array([1, 0, 3])
    analytic = grad_fn(y, p)
    h = 1e-6
    numeric = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[idx] += h
        minus[idx] -= h
        numeric[idx] = (loss_fn(y, plus).mean() - loss_fn(y, minus).mean()) / (2 * h)
    # central differences in float64: truncation h^2 |f'''| / 6 ~ 1e-12, round-off
    # eps |L| / h ~ 1e-10, both far below 1e-6 of gradients of order 1
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_fused_softmax_gradient_equals_chain_rule():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 6))
    from convnet.activations import softmax, softmax_backward
    p = softmax(z)
    y = np.eye(6)[[0, 5, 2, 2, 1]]
    chained = softmax_backward(losses.categorical_crossentropy_gradient(y, p), p)
    fused = losses.softmax_crossentropy_gradient(y, p)
    # float64, a dozen roundings of numbers below 6 in size: ~1e-15; 1e-12 leaves room
    np.testing.assert_allclose(fused, chained, atol=1e-12)
    np.testing.assert_allclose(fused, (p - y) / 5, rtol=1e-15)   # the same two operations


class _BrokenDense(Dense):
    """Dense whose kernel gradient forgets to transpose-and-multiply correctly (a classic bug)."""

    def _backward_linear(self, dz, db, input_gradient):
        dx = super()._backward_linear(dz, db, input_gradient)
        self.grads["kernel"][...] *= 1.01
        return dx


def test_broken_layer_fails_the_check():
    with gradcheck.float64():
        layer = _BrokenDense(3)
    result = gradcheck.check_layer(layer, (4,))
    assert not result.passed
    assert [c.param for c in result.failures()] == ["kernel"]
    assert "FAIL" in result.table()
