"""Dilated Conv2D and Conv1D (``dilation_rate``): against plain loops, the kernel with zeros
between its taps on every path, gradient checks, both engines, Keras's rules and files (real
tf-keras 2.21 and Keras 3.15), configs and ONNX."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_twins import run_on, twin_layers

import error_bounds
from convnet import backend, gradcheck, threads
from convnet.fast import conv_paths
from convnet.layers import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Flatten,
    MaxPooling2D,
    SeparableConv2D,
)
from convnet.layers.dilation import dilate_kernel, effective_size, undilate_gradient
from convnet.models import Sequential, load_model, model_from_json
from real_keras import KERAS_PYTHONS, check_convnet_files, needs_keras

sys.path.insert(0, str(Path(__file__).parent / "keras_interop"))
from write_dilation_files import dilation_model  # noqa: E402
from write_dilation_fixtures import CASES  # noqa: E402

TOL = 1e-6
FIXTURES = Path(__file__).parent / "fixtures" / "dilation"


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- the definition, one scalar at a time (float64, channels-last) ---------------------------

def _same_pads(size, window, stride=1):
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def conv2d_dilated_loops(x, kernel, bias, rate, padding):
    """z[n, i, j, f] = b[f] + sum_{a, b, c} xpad[n, i + a*dh, j + b*dw, c] * K[a, b, c, f], with
    'same' padding for the window of ``dh*(KH-1)+1`` by ``dw*(KW-1)+1`` cells (stride 1)."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    dh, dw = rate
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    (pt, pb), (pl, pr) = ((_same_pads(h, eh), _same_pads(w, ew)) if padding == "same"
                          else ((0, 0), (0, 0)))
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh, ow = xp.shape[1] - eh + 1, xp.shape[2] - ew + 1
    z = np.zeros((n, oh, ow, f))
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ff in range(f):
                    total = 0.0 if bias is None else bias[ff]
                    for a in range(kh):
                        for b in range(kw):
                            for cc in range(c):
                                total += xp[s, i + a * dh, j + b * dw, cc] * kernel[a, b, cc, ff]
                    z[s, i, j, ff] = total
    return z


def conv1d_dilated_loops(x, kernel, bias, rate, padding):
    """The same along one axis; 'causal' pads ``rate * (k - 1)`` zeros on the left only."""
    k = kernel.shape[0]
    if padding == "causal":
        x = np.pad(x, ((0, 0), (rate * (k - 1), 0), (0, 0)))
        padding = "valid"
    z = conv2d_dilated_loops(x[:, None], kernel[None], bias, (1, rate), padding)
    return z[:, 0]


def _conv2d_bound(x, kernel, bias, rate, padding):
    """Each output sums KH*KW*C products and the bias: gamma(n) times the sum of |terms|."""
    kh, kw, c, _ = kernel.shape
    mag = conv2d_dilated_loops(np.abs(x), np.abs(kernel.astype(np.float64)),
                               None if bias is None else np.abs(bias.astype(np.float64)),
                               rate, padding)
    return error_bounds.gamma(kh * kw * c + 1, kernel.dtype) * mag


def test_dilate_kernel_puts_zeros_between_the_taps():
    kernel = np.arange(1.0, 7.0).reshape(2, 3, 1, 1)
    wide = dilate_kernel(kernel, (2, 3))
    assert wide.shape == (3, 7, 1, 1) == (effective_size(2, 2), effective_size(3, 3), 1, 1)
    np.testing.assert_array_equal(wide[..., 0, 0], [[1, 0, 0, 2, 0, 0, 3],
                                                    [0, 0, 0, 0, 0, 0, 0],
                                                    [4, 0, 0, 5, 0, 0, 6]])
    np.testing.assert_array_equal(undilate_gradient(wide, (2, 3)), kernel)
    # undilated: the very arrays, so the undilated layer runs exactly as before
    assert dilate_kernel(kernel, (1, 1)) is kernel
    assert undilate_gradient(kernel, (1, 1)) is kernel


FORWARD_CASES = [
    # (kernel_size, dilation_rate, padding, input H, W, C)
    ((3, 3), (2, 2), "valid", (9, 8, 2)),
    ((3, 3), (2, 2), "same", (7, 8, 3)),
    ((2, 3), (3, 1), "same", (8, 6, 2)),
    ((3, 2), (1, 4), "valid", (5, 9, 1)),
    ((2, 2), (4, 4), "same", (5, 6, 1)),          # the 5x5 window is wider than the input
    ((2, 1), (2, 1), "valid", (6, 5, 1)),         # 3x1 window, one channel: the direct loop
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("engine", ["fast", "numpy"])
@pytest.mark.parametrize("kernel_size,rate,padding,shape", FORWARD_CASES)
def test_conv2d_forward_is_the_loop_definition(kernel_size, rate, padding, shape, engine,
                                               data_format):
    backend.set_floatx("float64")
    layer = Conv2D(3, kernel_size, dilation_rate=rate, padding=padding, data_format=data_format,
                   bias_initializer="glorot_uniform")
    x = _x(2, *shape)
    cf = data_format == "channels_first"
    with backend.engine(engine):
        y = layer.forward(x.transpose(0, 3, 1, 2) if cf else x)
        inferred = layer.infer_chunk(x.transpose(0, 3, 1, 2) if cf else x)
    kernel, bias = layer.params["kernel"], layer.params["bias"]
    assert kernel.shape == kernel_size + (shape[2], 3)
    want = conv2d_dilated_loops(x, kernel, bias, rate, padding)
    if cf:
        want = want.transpose(0, 3, 1, 2)
    assert y.shape == want.shape == (2,) + layer.output_shape
    bound = _conv2d_bound(x, kernel, bias, rate, padding)
    bound = bound.transpose(0, 3, 1, 2) if cf else bound
    error_bounds.check(y, want, bound, f"{engine} forward")
    error_bounds.check(inferred, want, bound, f"{engine} infer_chunk")


CONV1D_FORWARD = [(3, 2, "valid", 9), (2, 3, "same", 8), (3, 3, "same", 5)]


@pytest.mark.parametrize("kernel_size,rate,padding,length,data_format", [
    *[case + ("channels_last",) for case in CONV1D_FORWARD],
    *[case + ("channels_first",) for case in CONV1D_FORWARD],
    (3, 2, "causal", 7, "channels_last"), (2, 4, "causal", 6, "channels_last")])  # Keras: no
def test_conv1d_forward_is_the_loop_definition(kernel_size, rate, padding, length,  # causal NCL
                                               data_format):
    backend.set_floatx("float64")
    layer = Conv1D(4, kernel_size, dilation_rate=rate, padding=padding,
                   data_format=data_format, bias_initializer="glorot_uniform")
    x = _x(2, length, 3)
    cf = data_format == "channels_first"
    y = layer.forward(x.transpose(0, 2, 1) if cf else x)
    want = conv1d_dilated_loops(x, layer.params["kernel"], layer.params["bias"], rate, padding)
    if cf:
        want = want.transpose(0, 2, 1)
    assert y.shape == want.shape == (2,) + layer.output_shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)   # <= 10 terms of size ~1


@pytest.mark.parametrize("size,k,rate,padding,out", [
    (10, 3, 2, "valid", 6), (10, 3, 2, "same", 10), (5, 3, 2, "valid", 1),
    (7, 2, 6, "valid", 1), (4, 3, 3, "same", 4), (9, 1, 5, "valid", 9)])
def test_output_sizes_are_those_of_the_dilated_window(size, k, rate, padding, out):
    # Keras: 'valid' keeps size - rate * (k - 1) outputs, 'same' keeps size (stride 1)
    assert Conv2D(2, k, dilation_rate=rate, padding=padding).compute_output_shape(
        (size, size + 1, 2)) == (out, out + 1, 2)
    assert Conv1D(2, k, dilation_rate=rate, padding=padding).compute_output_shape(
        (size, 3)) == (out, 2)
    assert Conv1D(2, k, dilation_rate=rate, padding="causal").compute_output_shape(
        (size, 3)) == (size, 2)


# ----- the same numbers as the kernel with zeros, on every path ----------------------------------

@pytest.mark.parametrize("path", ["numpy"] + conv_paths.runnable((3, 3, 16, 4), (1, 1),
                                                                 "float32"))
def test_a_dilated_layer_is_the_undilated_layer_on_the_kernel_with_zeros(path):
    """A 2x2 kernel at rate 2 over 16 channels (a 3x3 window: the one size Winograd takes), and
    a 3x2 one at rates (1, 2), on each path (forced): the forward, dL/dx and dL/db are the very
    numbers of a plain Conv2D given ``dilate_kernel(K)``, and dL/dK is its gradient's taps."""
    rng = np.random.default_rng(5)
    for kernel_size, rate, padding, relu in (((2, 2), (2, 2), "same", True),
                                             ((3, 2), (1, 2), "valid", False)):
        dilated = Conv2D(4, kernel_size, dilation_rate=rate, padding=padding,
                         activation="relu" if relu else "tanh")
        window = tuple(effective_size(k, d) for k, d in zip(kernel_size, rate))
        plain = Conv2D(4, window, padding=padding, activation="relu" if relu else "tanh")
        dilated.build((9, 8, 16))
        plain.build((9, 8, 16))
        dilated.params["kernel"][...] = rng.standard_normal(dilated.params["kernel"].shape)
        dilated.params["bias"][...] = rng.standard_normal(4) * 0.1
        plain.params["kernel"][...] = dilate_kernel(dilated.params["kernel"], rate)
        plain.params["bias"][...] = dilated.params["bias"]
        x = rng.standard_normal((6, 9, 8, 16)).astype("float32")
        if path != "numpy":
            if path == "winograd" and window != (3, 3):
                continue
            dilated.PATH = plain.PATH = path
        got = []
        with backend.engine("numpy" if path == "numpy" else "fast"):
            for layer in (dilated, plain):
                y = layer.forward(x, training=True).copy()
                dx = layer.backward(np.cos(y), input_gradient=True)
                got.append((y, dx, layer.grads["kernel"].copy(), layer.grads["bias"].copy()))
                if path != "numpy":
                    assert layer.path.name == path
        (y_d, dx_d, dk_d, db_d), (y_p, dx_p, dk_p, db_p) = got
        np.testing.assert_array_equal(y_d, y_p)
        np.testing.assert_array_equal(dx_d, dx_p)
        np.testing.assert_array_equal(db_d, db_p)
        np.testing.assert_array_equal(dk_d, dk_p[::rate[0], ::rate[1]])


def test_the_fast_path_is_chosen_for_the_window_not_the_kernel():
    if not threads.available():
        pytest.skip("per-core paths need NumPy's OpenBLAS thread control")
    cases = [(Conv2D(4, 2, dilation_rate=2), (9, 9, 16), "winograd"),     # a 3x3 window
             (Conv2D(4, 3, dilation_rate=2), (9, 9, 16), "im2col per core"),   # 5x5
             (Conv2D(4, 3, dilation_rate=2), (9, 9, 1), "im2col per core"),    # 25 cells > 9
             (Conv2D(4, (2, 1), dilation_rate=(2, 1)), (9, 9, 1), "direct")]   # 3 cells
    for layer, shape, name in cases:
        layer.build(shape)
        assert layer.window == tuple(effective_size(k, d) for k, d in
                                     zip(layer.kernel_size, layer.dilation_rate))
        assert layer.path.name == name, (layer.kernel_size, layer.dilation_rate, shape)


# ----- gradients --------------------------------------------------------------------------------

GRADIENT_CASES = [
    (lambda: Conv2D(3, 3, dilation_rate=2, activation="tanh"), (7, 8, 2)),
    (lambda: Conv2D(2, (2, 3), dilation_rate=(3, 1), padding="same", activation="relu"),
     (6, 5, 2)),
    (lambda: Conv2D(2, 2, dilation_rate=(1, 3), padding="same", use_bias=False,
                    data_format="channels_first"), (2, 5, 6)),
    (lambda: Conv2D(3, (2, 1), dilation_rate=2, activation="sigmoid"), (6, 4, 1)),   # direct
    (lambda: Conv2D(2, 2, dilation_rate=2, activation="softmax"), (5, 5, 2)),
    (lambda: Conv1D(3, 3, dilation_rate=2, activation="tanh"), (9, 2)),
    (lambda: Conv1D(2, 2, dilation_rate=3, padding="causal"), (7, 2)),
    (lambda: Conv1D(2, 3, dilation_rate=2, padding="same", data_format="channels_first"),
     (2, 7)),
]


@pytest.mark.parametrize("engine", ["fast", "numpy"])
@pytest.mark.parametrize("make,shape", GRADIENT_CASES)
def test_layer_gradients(make, shape, engine):
    with backend.engine(engine):
        result = gradcheck.check_layer(make(), shape, batch_size=2, tolerance=TOL)
    assert result.passed, "\n" + result.table()


@pytest.mark.parametrize("engine", ["fast", "numpy"])
def test_model_gradients(engine):
    # dilated conv + ReLU + max-pool: on the fast engine their backward runs fused
    with gradcheck.float64():
        model = Sequential([
            Conv2D(3, 2, dilation_rate=2, padding="same", activation="relu",
                   input_shape=(7, 7, 2)),
            MaxPooling2D(2),
            Conv2D(2, 2, dilation_rate=(1, 2), activation="tanh"),
            Flatten(),
            Dense(4, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = gradcheck.distinct_values((3, 7, 7, 2), np.random.default_rng(3))
    with backend.engine(engine):
        result = gradcheck.check_model(model, x, np.eye(4)[[0, 3, 1]], tolerance=TOL)
    assert result.passed, "\n" + result.table()


def test_conv1d_model_gradients():
    with gradcheck.float64():
        model = Sequential([
            Conv1D(3, 2, dilation_rate=2, padding="causal", activation="relu",
                   input_shape=(9, 2)),
            Conv1D(2, 2, dilation_rate=4, padding="causal", activation="tanh"),
            Flatten(),
            Dense(3, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = gradcheck.distinct_values((3, 9, 2), np.random.default_rng(4))
    result = gradcheck.check_model(model, x, np.eye(3), tolerance=TOL)
    assert result.passed, "\n" + result.table()


# ----- the two engines ---------------------------------------------------------------------------

ENGINE_CASES = [
    # (layer, input shape, input_gradient); none takes Winograd (error_bounds.layer_bounds
    # adds Winograd's bound by kernel_size), which the test above covers exactly
    (lambda: Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu"), (9, 8, 3), True),
    (lambda: Conv2D(3, (2, 1), dilation_rate=(2, 1), activation="relu"), (8, 7, 1), False),
    (lambda: Conv2D(3, (2, 1), dilation_rate=(2, 1), activation="tanh"), (8, 7, 1), True),
    (lambda: Conv2D(2, 2, dilation_rate=(3, 2), padding="same", use_bias=False,
                    data_format="channels_first"), (3, 7, 6), True),
]


@pytest.mark.parametrize("make,shape,input_gradient", ENGINE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_engines_give_the_same_numbers(make, shape, input_gradient, dtype):
    backend.set_floatx(dtype)
    fast, plain, rng = twin_layers(make, shape)
    x = rng.standard_normal((11,) + shape).astype(dtype)
    dy = rng.standard_normal((11,) + fast.output_shape).astype(dtype)
    results = [run_on(layer, x, dy, engine, input_gradient)
               for layer, engine in ((fast, "fast"), (plain, "numpy"))]
    # the zero taps add exact zeros: the bounds of the real KH*KW*C products hold
    bounds = error_bounds.layer_bounds(fast, x, dy)
    (y_f, dx_f, g_f), (y_n, dx_n, g_n) = results
    error_bounds.check_paths(y_f, y_n, bounds["y"], "y")
    if input_gradient:
        error_bounds.check_paths(dx_f, dx_n, bounds["dx"], "dx")
    else:
        assert dx_f is None and dx_n is None
    for key in g_f:
        error_bounds.check_paths(g_f[key], g_n[key], bounds[key], key)


# ----- Keras's rules, and errors that name the layer ---------------------------------------------

def test_strides_above_one_with_dilation_above_one_are_refused_as_in_keras():
    with pytest.raises(ValueError, match=r"Conv2D 'c': strides > 1 together with "
                                         r"dilation_rate > 1 is not supported .*strides=\(2, 1\) "
                                         r"and dilation_rate=\(1, 2\)"):
        Conv2D(2, 3, strides=(2, 1), dilation_rate=(1, 2), name="c")
    with pytest.raises(ValueError, match="Conv1D 'c': strides > 1 together with dilation_rate > "
                                         "1 is not supported .*strides=2 and dilation_rate=3"):
        Conv1D(2, 3, strides=2, dilation_rate=3, name="c")
    # either alone is fine
    assert Conv2D(2, 3, strides=2).dilation_rate == (1, 1)
    assert Conv2D(2, 3, dilation_rate=[2, 3]).dilation_rate == (2, 3)
    assert Conv1D(2, 3, dilation_rate=(2,)).dilation_rate == 2      # Keras 2's 1-tuple


@pytest.mark.parametrize("bad", [0, -1, (2,), (2, 0), (1, 2, 3), "2", 1.5, True])
def test_bad_dilation_rates_name_the_argument_and_the_layer(bad):
    with pytest.raises(ValueError, match=r"Conv2D 'c': dilation_rate must be a positive integer "
                                         r"or a pair of positive integers, got"):
        Conv2D(2, 3, dilation_rate=bad, name="c")
    if bad != (2,):
        with pytest.raises(ValueError, match=r"Conv1D 'c': dilation_rate must be a positive "
                                             r"integer \(or a 1-tuple of one\), got"):
            Conv1D(2, 3, dilation_rate=bad, name="c")


def test_groups_and_the_other_window_layers_still_refuse():
    with pytest.raises(ValueError, match="Conv2D 'c': groups other than 1 is not supported"):
        Conv2D(4, 3, groups=2, name="c")
    with pytest.raises(ValueError, match="Conv1D 'c': groups other than 1 is not supported"):
        Conv1D(4, 3, groups=2, name="c")
    for make, name in ((lambda: Conv2DTranspose(2, 3, dilation_rate=2, name="t"),
                        "Conv2DTranspose 't'"),
                       (lambda: DepthwiseConv2D(3, dilation_rate=2, name="t"),
                        "DepthwiseConv2D 't'"),
                       (lambda: SeparableConv2D(2, 3, dilation_rate=(1, 2), name="t"),
                        "SeparableConv2D 't'")):
        with pytest.raises(ValueError, match=f"{name}: dilation_rate other than"):
            make()


def test_a_window_that_does_not_fit_is_named_with_its_span():
    with pytest.raises(ValueError, match=r"Conv2D 'c': kernel \(3, 3\) with dilation_rate "
                                         r"\(3, 1\) \(a 7x3 window\) does not fit in a 6x6"):
        Conv2D(2, 3, dilation_rate=(3, 1), name="c").build((6, 6, 1))
    with pytest.raises(ValueError, match=r"Conv1D 'c': kernel_size 3 with dilation_rate 4 \(a "
                                         r"window of 9 steps\) does not fit in 8 steps"):
        Conv1D(2, 3, dilation_rate=4, name="c").build((8, 1))


# ----- configs and files ----------------------------------------------------------------------

def test_configs_write_the_dilation_rate_and_round_trip():
    for layer, rate in ((Conv2D(3, (2, 3), dilation_rate=(2, 1), padding="same"), [2, 1]),
                        (Conv2D(3, 2, dilation_rate=3), [3, 3]),
                        (Conv2D(3, 2), [1, 1]),
                        (Conv1D(3, 2, dilation_rate=4, padding="causal"), [4]),
                        (Conv1D(3, 2), [1])):
        config = layer.get_config()
        assert config["dilation_rate"] == rate
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        assert json.loads(json.dumps(config))["dilation_rate"] == rate


def test_json_and_hdf5_round_trip(tmp_path):
    model = dilation_model()
    clone = model_from_json(model.to_json())
    for a, b in zip(model.layers, clone.layers):
        config = a.get_config()
        config.pop("batch_input_shape", None)
        assert b.get_config() == config
    assert clone.layers[0].dilation_rate == (2, 1) and clone.layers[3].dilation_rate == 2
    model.save_weights(tmp_path / "w.h5")
    clone.load_weights(tmp_path / "w.h5")
    x = _x(3, 8, 8, 2).astype("float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    model.save(tmp_path / "m.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x), model.predict(x))


@pytest.mark.parametrize("flavour", ["k2", "k3"])
def test_layer_outputs_equal_real_keras(flavour):
    # written by tests/keras_interop/write_dilation_fixtures.py (tf-keras 2.21, Keras 3.15)
    with np.load(FIXTURES / flavour / "cases.npz") as arrays:
        for i, (cls, filters, k, rate, padding, data_format, shape) in enumerate(CASES):
            layer = {"Conv2D": Conv2D, "Conv1D": Conv1D}[cls](
                filters, k, dilation_rate=rate, padding=padding, data_format=data_format)
            layer.build(shape)
            layer.set_weights([arrays[f"kernel{i}"], arrays[f"bias{i}"]])
            x, want = arrays[f"x{i}"], arrays[f"y{i}"]
            got = layer.forward(x)
            assert got.shape == want.shape, (i, got.shape, want.shape)
            # both float32 sums of KH*KW*C products and the bias: each within gamma(n) * |terms|
            # of the exact value (computed here in float64 by the loops)
            cf = data_format == "channels_first"
            x_last = np.moveaxis(x, 1, -1) if cf else x
            kernel, bias = arrays[f"kernel{i}"], arrays[f"bias{i}"]
            if cls == "Conv1D":
                x_last, kernel = x_last[:, None], kernel[None]
                rate2, pad = (1, layer.dilation_rate), padding
                if padding == "causal":
                    width = layer.window - 1
                    x_last = np.pad(x_last, ((0, 0), (0, 0), (width, 0), (0, 0)))
                    pad = "valid"
            else:
                rate2, pad = layer.dilation_rate, padding
            x64 = x_last.astype(np.float64)
            exact = conv2d_dilated_loops(x64, kernel.astype(np.float64),
                                         bias.astype(np.float64), rate2, pad)
            bound = _conv2d_bound(x64, kernel, bias, rate2, pad)
            if cls == "Conv1D":
                exact, bound = exact[:, 0], bound[:, 0]
            if cf:
                exact, bound = np.moveaxis(exact, -1, 1), np.moveaxis(bound, -1, 1)
            error_bounds.check(got, exact, bound, f"case {i} convnet")
            error_bounds.check(want, exact, bound, f"case {i} {flavour}")


@pytest.mark.parametrize("flavour,weights", [("k2", "weights.h5"), ("k3", "model.weights.h5")])
def test_files_real_keras_wrote_load_and_predict_the_same(flavour, weights, tmp_path):
    folder = FIXTURES / flavour
    model = model_from_json((folder / "model.json").read_text())
    model.load_weights(folder / weights)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "Conv2D", "Reshape", "Conv1D", "Flatten"]
    assert [model.layers[i].dilation_rate for i in (0, 1, 3)] == [(2, 1), (3, 3), 2]
    x = np.load(folder / "input.npy")
    with gradcheck.float64():                       # the same model in float64: "exact"
        exact = model_from_json((folder / "model.json").read_text())
        exact.load_weights(folder / weights)
        want = exact.predict(x.astype(np.float64))
    # three layers of at most 12 products each (weights below 0.5, inputs in [0, 1)), through
    # ReLU and tanh: float32 outputs of size ~1 within a few dozen u of the exact ones
    bound = 64 * error_bounds.unit_roundoff("float32")
    error_bounds.check(model.predict(x), want, bound, "convnet float32")
    error_bounds.check(np.load(folder / "expected.npy"), want, bound, f"{flavour} float32")
    model.save(tmp_path / "m.h5")                   # and out again through convnet's files
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x), model.predict(x))


@needs_keras
@pytest.mark.parametrize("python", KERAS_PYTHONS)
def test_real_keras_loads_what_convnet_writes(python, tmp_path):
    check_convnet_files(python, "write_dilation_files.py", tmp_path, reports=3)


# ----- ONNX ---------------------------------------------------------------------------------------

def _float64_copy(model, absolute: bool):
    """``model`` in float64 with its weights; ``absolute``: |weights| and no activations (each
    of ReLU and tanh has |f(z)| <= |z| and slope <= 1), whose output on |x| bounds every
    intermediate magnitude."""
    description = json.loads(model.to_json())
    if absolute:
        for entry in description["config"]["layers"]:
            if "activation" in entry["config"]:
                entry["config"]["activation"] = "linear"
    with gradcheck.float64():
        twin = model_from_json(json.dumps(description))
    twin.set_weights([np.abs(w) if absolute else w for w in model.get_weights()])
    return twin


def test_onnxruntime_equals_convnet(tmp_path):
    """Conv's ``dilations`` attribute and the dilated window's pads ('same', 'causal'), both
    data formats, against the same model in float64."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = dilation_model()
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0, 1, w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = rng.uniform(-1, 1, (5, 8, 8, 2)).astype("float32")
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    want = model.predict(x)
    exact = _float64_copy(model, absolute=False).predict(x.astype(np.float64))
    # layer l sums n_l terms: its error is |W_l| (error in) + gamma(n_l) |W_l| |in|, so the
    # output's is within gamma(sum n_l) of the |weights| model on |x| (to first order; the
    # activations' own few ulps and second order are covered by one more term per layer)
    terms = sum(int(np.prod(layer.params["kernel"].shape[:-1])) + 2
                for layer in model.layers if "kernel" in layer.params)
    magnitude = _float64_copy(model, absolute=True).predict(np.abs(x).astype(np.float64))
    bound = error_bounds.gamma(terms, "float32") * magnitude
    assert got.shape == want.shape == exact.shape
    error_bounds.check(got, exact, bound, "onnxruntime")
    error_bounds.check(want, exact, bound, "convnet")
