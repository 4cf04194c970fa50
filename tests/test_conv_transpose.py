"""Conv2DTranspose: a plain stamping loop, the duality with Conv2D's backward pass, gradient
checks, Keras's output sizes and files (real tf-keras and Keras 3 outputs), saving."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import error_bounds
from convnet import backend, gradcheck
from convnet.layers import Conv2D, Conv2DTranspose, Dense, Flatten
from convnet.layers.conv_transpose import transpose_geometry
from convnet.models import Sequential, load_model, model_from_json
from real_keras import KERAS_PYTHONS, check_convnet_files, needs_keras

sys.path.insert(0, str(Path(__file__).parent / "keras_interop"))
from write_conv_transpose_fixtures import CASES  # noqa: E402

TOL = 1e-6
FIXTURES = Path(__file__).parent / "fixtures" / "conv_transpose"


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def stamp_loops(x, kernel, bias, strides, padding, output_padding):
    """Every input pixel adds its value times the kernel at ``stride`` times its position
    (channels-last, float64), then Keras's crop: one scalar at a time."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    sh, sw = strides
    full = np.zeros((n, (h - 1) * sh + kh, (w - 1) * sw + kw, f))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for bb in range(kw):
                        for ff in range(f):
                            for cc in range(c):
                                full[b, i * sh + a, j * sw + bb, ff] += (
                                    x[b, i, j, cc] * kernel[a, bb, ff, cc])
    op = output_padding or (None, None)
    (oh, top), (ow, left) = (transpose_geometry(size, k, s, padding, p)
                             for size, k, s, p in zip((h, w), (kh, kw), strides, op))
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            if top + i < full.shape[1] and left + j < full.shape[2]:
                y[:, i, j] = full[:, top + i, left + j]
    return y + (0 if bias is None else bias)


LOOP_CASES = [((3, 3), (2, 2), "valid", None), ((3, 3), (2, 2), "same", None),
              ((2, 4), (3, 2), "same", None), ((2, 2), (3, 3), "valid", None),
              ((4, 3), (2, 2), "same", (1, 1)), ((3, 3), (2, 3), "valid", (1, 2)),
              ((1, 1), (2, 2), "same", None), ((3, 2), (1, 1), "same", None)]


@pytest.mark.parametrize("kernel_size,strides,padding,output_padding", LOOP_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_forward_is_the_stamping_loop(kernel_size, strides, padding, output_padding,
                                      data_format):
    backend.set_floatx("float64")
    layer = Conv2DTranspose(3, kernel_size, strides=strides, padding=padding,
                            output_padding=output_padding, data_format=data_format,
                            bias_initializer="glorot_uniform")
    x = _x(2, 3, 4, 2)
    xin = x.transpose(0, 3, 1, 2) if data_format == "channels_first" else x
    y = layer.forward(xin)
    assert layer.params["kernel"].shape == kernel_size + (3, 2)
    want = stamp_loops(x, layer.params["kernel"], layer.params["bias"], strides, padding,
                       output_padding)
    if data_format == "channels_first":
        want = want.transpose(0, 3, 1, 2)
    assert y.shape == want.shape == (2,) + layer.output_shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size,k,s,padding,op,length", [
    (4, 3, 2, "valid", None, 9), (4, 3, 2, "same", None, 8), (4, 2, 3, "valid", None, 12),
    (4, 4, 2, "same", 1, 7), (4, 3, 2, "valid", 1, 10), (5, 3, 1, "same", None, 5)])
def test_output_sizes_are_keras_deconv_output_length(size, k, s, padding, op, length):
    assert transpose_geometry(size, k, s, padding, op)[0] == length


def test_forward_is_conv2d_backward_and_backward_is_conv2d_forward():
    """The duality, with one kernel K (KH, KW, filters, C): Conv2D(C) maps filters -> C
    channels; Conv2DTranspose(filters) maps C -> filters, and is its adjoint."""
    backend.set_floatx("float64")
    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((3, 2, 4, 5))          # filters=4 of the transpose, C=5
    conv = Conv2D(5, (3, 2), strides=(2, 3), use_bias=False)
    trans = Conv2DTranspose(4, (3, 2), strides=(2, 3), use_bias=False)
    big, small = (9, 9, 4), (4, 3, 5)                   # conv: big -> small; trans: small -> big
    conv.build(big)
    trans.build(small)
    assert conv.output_shape == small and trans.output_shape == big
    conv.params["kernel"][...] = kernel
    trans.params["kernel"][...] = kernel
    u, v = rng.standard_normal((2,) + big), rng.standard_normal((2,) + small)
    # forward of the transpose == Conv2D's dL/dx for dL/dy = v
    conv.forward(u, training=True)
    np.testing.assert_allclose(trans.forward(v, training=True), conv.backward(v), rtol=1e-12)
    # backward of the transpose == Conv2D's forward (dL/dx) and its kernel gradient
    np.testing.assert_allclose(trans.backward(u), conv.forward(u), rtol=1e-12)
    conv.forward(u, training=True)
    conv.backward(v)
    np.testing.assert_allclose(trans.grads["kernel"], conv.grads["kernel"], rtol=1e-12)
    # the adjoint identity <conv(u), v> == <u, trans(v)>
    assert np.sum(conv.forward(u) * v) == pytest.approx(np.sum(u * trans.forward(v)), rel=1e-12)


GRADIENT_CASES = [
    (lambda: Conv2DTranspose(2, 3, strides=2, activation="tanh"), (3, 2, 2)),
    (lambda: Conv2DTranspose(3, 3, strides=2, padding="same"), (2, 3, 2)),
    (lambda: Conv2DTranspose(2, (2, 4), strides=(3, 2), padding="same",
                             data_format="channels_first", use_bias=False), (2, 2, 3)),
    (lambda: Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1,
                             activation="sigmoid"), (2, 2, 2)),
    (lambda: Conv2DTranspose(2, 2, strides=3, kernel_regularizer="l2"), (2, 2, 2)),
]


@pytest.mark.parametrize("make,shape", GRADIENT_CASES)
def test_layer_gradients(make, shape):
    result = gradcheck.check_layer(make(), shape, batch_size=2, tolerance=TOL)
    assert result.passed, result.table()


def test_a_small_model_checks():
    with gradcheck.float64():
        model = Sequential([
            Conv2D(3, 3, strides=2, padding="same", activation="relu", input_shape=(6, 6, 2)),
            Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh"),
            Flatten(), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    result = gradcheck.check_model(model, _x(3, 6, 6, 2), np.eye(3), tolerance=TOL)
    assert result.passed, result.table()


def test_both_engines_agree():
    layer = Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")
    x = _x(3, 5, 4, 6).astype("float32")
    got = []
    for engine in ("fast", "numpy"):
        with backend.engine(engine):
            y = layer.forward(x, training=True).copy()
            dx = layer.backward(np.ones_like(y))
            got.append((y, dx, layer.grads["kernel"].copy()))
    # the forward sums at most KH*KW*C products (+ bias); |terms| through the float64 twin
    twin = Conv2DTranspose.from_config({**layer.get_config(), "dtype": "float64",
                                        "activation": "linear", "use_bias": False})
    twin.build(x.shape[1:])
    twin.params["kernel"][...] = np.abs(layer.params["kernel"])
    bound = error_bounds.gamma(3 * 3 * 6 + 1, "float32") * (twin.forward(np.abs(x))
                                                            + np.abs(layer.params["bias"]))
    error_bounds.check_paths(got[0][0], got[1][0], bound, "y")
    # the fast engine's im2col and BLAS blocks (convnet/kernels/jit.py, convnet/fast/blas.py) may
    # sum in another order: dx sums KH*KW*F products, dK one per input pixel (N*H*W); ReLU's
    # mask is the same in both (y agrees to rounding, and no z lies within it of 0 here)
    twin.forward(np.abs(x), training=True)
    dy = (got[1][0] > 0).astype(np.float64)                    # dL/dz of dL/dy = 1 through ReLU
    dx_mag = twin.backward(dy)
    error_bounds.check_paths(got[0][1], got[1][1], error_bounds.gamma(3 * 3 * 4, "float32")
                             * dx_mag, "dx")
    error_bounds.check_paths(got[0][2], got[1][2], error_bounds.gamma(3 * 5 * 4, "float32")
                             * twin.grads["kernel"], "kernel")


# ----- Keras -------------------------------------------------------------------------------

@pytest.mark.parametrize("flavour", ["k2", "k3"])
def test_outputs_equal_real_keras(flavour):
    # written by tests/keras_interop/write_conv_transpose_fixtures.py
    with np.load(FIXTURES / flavour / "cases.npz") as arrays:
        for i, (filters, k, s, padding, op, shape) in enumerate(CASES):
            layer = Conv2DTranspose(filters, k, strides=s, padding=padding, output_padding=op)
            layer.build(shape)
            layer.set_weights([arrays[f"kernel{i}"], arrays[f"bias{i}"]])
            x = arrays[f"x{i}"]
            want = arrays[f"y{i}"]
            got = layer.forward(x)
            assert got.shape == want.shape, (i, got.shape, want.shape)
            # each output: at most KH*KW*C products plus the bias, in float32, in both libraries
            kh, kw = layer.kernel_size
            mag = stamp_loops(np.abs(x).astype(np.float64),
                              np.abs(arrays[f"kernel{i}"]).astype(np.float64), None, layer.strides,
                              padding, layer.output_padding) + np.abs(arrays[f"bias{i}"])
            bound = error_bounds.gamma(kh * kw * shape[2] + 1, "float32") * mag
            error_bounds.check_paths(got, want, bound, f"case {i}")


def test_configs_use_keras_names_and_round_trip():
    layer = Conv2DTranspose(4, (3, 2), strides=2, padding="same", output_padding=(1, 0),
                            activation="relu")
    config = layer.get_config()
    assert {k: config[k] for k in ("filters", "kernel_size", "strides", "padding",
                                   "output_padding", "data_format", "dilation_rate",
                                   "activation", "use_bias")} == {
        "filters": 4, "kernel_size": [3, 2], "strides": [2, 2], "padding": "same",
        "output_padding": [1, 0], "data_format": "channels_last", "dilation_rate": [1, 1],
        "activation": "relu", "use_bias": True}
    assert Conv2DTranspose.from_config(config).get_config() == config
    assert Conv2DTranspose(2, 3).get_config()["output_padding"] is None


def test_bad_arguments_name_the_layer():
    with pytest.raises(ValueError, match="Conv2DTranspose 't': output_padding .* must be "
                                         "smaller than strides"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2, name="t")
    with pytest.raises(ValueError, match="Conv2DTranspose 't': dilation_rate"):
        Conv2DTranspose(2, 3, dilation_rate=2, name="t")
    with pytest.raises(ValueError, match="Conv2DTranspose 't': filters must be"):
        Conv2DTranspose(0, 3, name="t")
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't' expects input of shape"):
        Conv2DTranspose(2, 3, name="t").forward(np.zeros((1, 4, 3)))


@pytest.mark.parametrize("flavour,weights", [("k2", "weights.h5"), ("k3", "model.weights.h5")])
def test_files_real_keras_wrote_load_and_predict_the_same(flavour, weights, tmp_path):
    folder = FIXTURES / flavour
    model = model_from_json((folder / "model.json").read_text())
    model.load_weights(folder / weights)
    assert [type(layer).__name__ for layer in model.layers[:2]] == ["Conv2DTranspose"] * 2
    x = np.load(folder / "input.npy")
    with gradcheck.float64():                   # the same model in float64: "exact"
        exact = model_from_json((folder / "model.json").read_text())
        exact.load_weights(folder / weights)
        want = exact.predict(x.astype(np.float64))
    # two transposed convolutions of at most 9 * 3 products each, a Dense of 162, softmax:
    # float32 outputs <= 1 within a few hundred u of the exact ones (gamma(162) ~ 162 u)
    bound = 512 * error_bounds.unit_roundoff("float32")
    error_bounds.check(model.predict(x), want, bound, "convnet")
    error_bounds.check(np.load(folder / "expected.npy"), want, bound, flavour)
    # and back out through convnet's own files
    text = model.to_json()
    classes = [e["class_name"] for e in json.loads(text)["config"]["layers"]]
    assert classes.count("Conv2DTranspose") == 2
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_what_convnet_writes(python, tmp_path):
    check_convnet_files(python, "write_conv_transpose_files.py", tmp_path, reports=3)
