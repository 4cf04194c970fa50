"""GELU, SiLU/swish and mish: activations whose derivative needs the input z (layers keep a copy
of z for them). Values by hand and against Keras 3, derivatives against central differences,
gradient checks in Dense, Conv2D (every fast path) and Activation on both engines, erf's two
twins, and configs."""

import math

import numpy as np
import pytest

from convnet import activations, backend, gradcheck
from convnet.kernels.erf import erf_jit, erf_reference
from convnet.layers import Activation, Conv2D, Dense, Flatten
from convnet.models import Sequential, model_from_json

TOL = 1e-6
Z = np.linspace(-4, 4, 9)


def test_values_by_hand():
    phi_1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))              # Phi(1) = 0.8413447...
    assert activations.gelu(np.array([0.0, 1.0])).tolist() == pytest.approx([0.0, phi_1])
    sig_1 = 1 / (1 + math.exp(-1))
    assert activations.silu(np.array([1.0]))[0] == pytest.approx(sig_1)
    assert activations.swish is activations.silu
    assert activations.mish(np.array([1.0]))[0] == pytest.approx(math.tanh(math.log1p(math.e)))
    t = math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715))
    assert activations.gelu(np.array([1.0]), approximate=True)[0] == pytest.approx(0.5 * (1 + t))


def test_gelu_equals_keras():
    # keras.activations.gelu(np.linspace(-4, 4, 9)) in float32: the exact form with tf-keras
    # 2.21 (Keras 3.15 on torch agrees to 5e-7: it forms 1 + erf(z / sqrt 2) in float32, which
    # cancels for z < 0), the tanh form with Keras 3.15 (tf-keras gives the same numbers)
    exact = [-0.00012668502, -0.0040496965, -0.045500267, -0.15865526, 0.0, 0.84134471,
             1.9544997, 2.9959502, 3.9998734]
    tanh_form = [-7.0214272e-05, -0.0036374331, -0.045402288, -0.15880799, 0.0, 0.84119201,
                 1.9545977, 2.9963627, 3.9999299]
    z = Z.astype("float32")
    np.testing.assert_allclose(activations.gelu(z), exact, rtol=2e-6, atol=1e-8)
    # 1 + tanh(u) cancels for z < 0 in float32 (any implementation): |z| / 2 * ulp(1) at most
    np.testing.assert_allclose(activations.gelu(z, approximate=True), tanh_form, rtol=2e-6,
                               atol=2 * 2.0**-23)


@pytest.mark.parametrize("forward,backward", [
    (activations.gelu, activations.gelu_backward),
    (lambda z, out=None: activations.gelu(z, out, approximate=True),
     lambda dy, z: activations.gelu_backward(dy, z, approximate=True)),
    (activations.silu, activations.silu_backward),
    (activations.mish, activations.mish_backward),
], ids=["gelu", "gelu_tanh", "silu", "mish"])
def test_derivatives_equal_central_differences(forward, backward):
    z, h = np.linspace(-6, 6, 61), 1e-6
    numeric = (forward(z + h) - forward(z - h)) / (2 * h)
    np.testing.assert_allclose(backward(np.ones_like(z), z), numeric, rtol=1e-7, atol=1e-9)


def test_out_argument_writes_in_place():
    for name in ("gelu", "silu", "mish"):
        _, forward, _ = activations.lookup(name)
        z = Z.copy()
        expected = forward(Z.copy())
        assert forward(z, out=z) is z
        np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_twins_are_equal(dtype):
    x = (np.random.default_rng(0).standard_normal((5, 7, 3)) * 3).astype(dtype)
    np.testing.assert_array_equal(erf_jit(x), erf_reference(x))
    assert erf_jit(x).dtype == x.dtype
    assert erf_reference(np.array([0.5]))[0] == math.erf(0.5)


# ----- in layers ----------------------------------------------------------------------------------
def winograd(layer):
    layer.WINOGRAD_MIN_CHANNELS, layer.WINOGRAD_MIN_FILL = 1, 0.0
    return layer


LAYERS = [
    ("dense", lambda a: Dense(4, activation=a), (5,)),
    ("dense_3d", lambda a: Dense(3, activation=a, use_bias=False), (2, 4)),
    ("conv_im2col", lambda a: Conv2D(3, 3, strides=2, padding="same", activation=a), (6, 5, 2)),
    ("conv_direct", lambda a: Conv2D(3, 3, activation=a), (5, 6, 1)),
    ("conv_winograd", lambda a: winograd(Conv2D(2, 3, activation=a)), (6, 6, 2)),
    ("conv_channels_first", lambda a: Conv2D(2, 2, activation=a, data_format="channels_first"),
     (2, 4, 5)),
    ("activation", lambda a: Activation(a), (3, 4)),
]


@pytest.mark.parametrize("engine", ["numpy", "fast"])
@pytest.mark.parametrize("name", ["gelu", "silu", "swish", "mish"])
@pytest.mark.parametrize("make,shape", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_layer_gradients(make, shape, name, engine):
    with backend.engine(engine):
        result = gradcheck.check_layer(make(name), shape, batch_size=3, tolerance=TOL)
    assert result.passed, result.table()


def test_the_layer_keeps_z_only_in_forward():
    layer = Conv2D(3, 3, activation="gelu")
    x, other = np.random.default_rng(0).standard_normal((2, 2, 5, 5, 2)).astype("float32")
    y = layer.forward(x, training=True)
    dy = np.ones_like(y)
    expected = layer.backward(dy)
    np.testing.assert_allclose(layer.infer_chunk(x), y, rtol=1e-6, atol=1e-6)
    layer.infer_chunk(other)                # a per-core worker: must not replace the kept z
    np.testing.assert_array_equal(layer.backward(dy), expected)


def test_names_and_configs():
    assert Dense(2, activation="swish").activation == "silu"      # Keras 3 writes 'silu'
    assert Dense(2, activation=activations.swish).activation == "silu"
    assert Dense(2, activation="gelu").get_config()["activation"] == "gelu"
    assert activations.needs_input("mish") and not activations.needs_input("relu")
    with pytest.raises(ValueError, match="Unknown activation 'hard_swish': Keras has it"):
        Dense(2, activation="hard_swish")


def test_model_trains_and_round_trips():
    model = Sequential([Conv2D(2, 3, activation="gelu", input_shape=(5, 5, 1)), Flatten(),
                        Dense(4, activation="mish"), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5, 5, 1)).astype("float32"), np.eye(2)[[0, 1] * 4]
    first = model.evaluate(x, y, verbose=0)
    for _ in range(20):
        model.train_on_batch(x, y)
    assert model.evaluate(x, y, verbose=0) < first
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    with gradcheck.float64():
        small = Sequential([Conv2D(2, 3, activation="silu", input_shape=(4, 4, 1)), Flatten(),
                            Dense(3, activation="gelu"), Dense(2, activation="softmax")])
        small.compile(loss="categorical_crossentropy", optimizer="sgd")
    result = gradcheck.check_model(small, rng.standard_normal((3, 4, 4, 1)), np.eye(2)[[0, 1, 0]],
                                   tolerance=TOL)
    assert result.passed, result.table()


def test_predict_per_core_equals_the_layers_forward_passes():
    # on the fast engine the leading Conv2D/Activation layers run per core, CHUNK images per
    # task, calling the activation from worker threads (which must keep nothing)
    model = Sequential([Conv2D(4, 3, activation="gelu", input_shape=(8, 8, 2)),
                        Activation("mish"), Conv2D(3, 3, activation="silu"), Flatten(),
                        Dense(2, activation="softmax")])
    x = np.random.default_rng(1).standard_normal((3 * Sequential.CHUNK + 5, 8, 8, 2)).astype(
        "float32")
    expected = x
    for layer in model.layers:
        expected = layer.forward(expected)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6, atol=1e-7)
