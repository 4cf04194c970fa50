"""Conv2DTranspose's per-core tasks (:mod:`convnet.fast.conv_transpose_tasks`) against the NumPy
engine's whole-batch lines, within the rounding bound of their sums; the same bits on 1 and 2
threads; the fused bias + ReLU against the linear layer; gradient checks; memory bounded by the
chunk; where the tasks do not run (NumPy engine, float16, no per-core threads).

Bounds (``error_bounds``): each result is a sum of ``d`` products (an output cell: ``C`` per
overlapping stamp, plus the bias; dL/dK: one per input pixel; dL/dx: ``KH*KW*F``; dL/db: one per
output pixel), so both engines are within ``gamma(d)`` times the same sum on absolute values
(computed by the NumPy engine in float64 on ``|x|``, ``|weights|``, ``|dL/dy|``) of the exact
value. Small shapes, and ``TASK``/``CHUNK`` small so that batches of a few samples are cut into
several tasks of several chunks (and a last, shorter one).
"""

import tracemalloc

import numba
import numpy as np
import pytest

from convnet import backend, gradcheck, threads
from convnet.fast import conv_transpose_tasks
from convnet.layers import Conv2DTranspose
from error_bounds import check_paths, gamma

TASK, CHUNK = 3, 2          # batch 5: tasks [0, 3) and [3, 5); chunks of 2, 2+1 and 2


@pytest.fixture
def calls(monkeypatch):
    """The names of the task functions that ran (``forward``, ``backward``)."""
    seen: list[str] = []
    for name in ("forward", "backward"):
        real = getattr(conv_transpose_tasks, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            seen.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(conv_transpose_tasks, name, spy)
    return seen


def _layer(shape, seed=0, dtype="float32", **kwargs):
    """A built Conv2DTranspose(3 filters) with random weights and bias, cut into small tasks."""
    kwargs.setdefault("filters", 3)
    layer = Conv2DTranspose(dtype=dtype, **kwargs)
    layer.TASK, layer.CHUNK = TASK, CHUNK
    layer.build(shape)
    rng = np.random.default_rng(seed)
    for value in layer.params.values():
        value[...] = rng.standard_normal(value.shape)
    return layer


def _data(layer, batch, shape, seed=1, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + shape).astype(dtype)
    dy = rng.standard_normal((batch,) + layer.compute_output_shape(shape)).astype(dtype)
    return x, dy


def _step(layer, x, dy, engine="fast", input_gradient=True) -> dict:
    """y, dL/dx and the gradients of one training forward + backward on ``engine``."""
    with backend.engine(engine):
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(dy, input_gradient=input_gradient)
    return {"y": y, "dx": dx, **{k: v.copy() for k, v in layer.grads.items()}}


def _channel_axes(layer):
    return (0, 2, 3) if layer.data_format == "channels_first" else (0, 1, 2)


def _magnitudes(layer, x, dy) -> dict:
    """The same forward + backward on absolute values, in float64, on the NumPy engine."""
    twin = Conv2DTranspose.from_config({**layer.get_config(), "dtype": "float64",
                                        "activation": "linear", "use_bias": False})
    twin.build(x.shape[1:])
    for key, value in twin.params.items():
        value[...] = np.abs(layer.params[key])
    dya = np.abs(dy.astype(np.float64))
    out = _step(twin, np.abs(x.astype(np.float64)), dya, "numpy")
    if layer.use_bias:
        bias = np.abs(layer.params["bias"].astype(np.float64))
        out["y"] = out["y"] + (bias[:, None, None] if layer.data_format == "channels_first"
                               else bias)
        out["bias"] = dya.sum(axis=_channel_axes(layer))
    return out


def _depths(layer, x, dy) -> dict:
    """Terms of the sum behind each result (see the module docstring)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    c = layer.params["kernel"].shape[3]
    overlaps = -(-kh // sh) * -(-kw // sw)        # stamps covering one output cell, at most
    rows = dy.size // layer.filters                 # output pixels N*OH*OW
    return {"y": c * overlaps + 1, "kernel": x.size // c, "dx": kh * kw * layer.filters,
            "bias": rows}


# kernel, strides, padding, output_padding, data_format, use_bias, batch, (H, W), channels
CASES = [
    ((3, 3), (2, 2), "valid", None, "channels_last", True, 5, (4, 5), 3),       # output = full
    ((3, 3), (1, 1), "valid", None, "channels_last", False, 5, (5, 4), 2),
    ((3, 3), (2, 2), "same", None, "channels_last", True, 4, (3, 4), 2),        # cropped
    ((3, 2), (1, 1), "same", None, "channels_first", True, 3, (4, 3), 2),
    ((2, 2), (3, 3), "valid", None, "channels_last", True, 5, (3, 2), 2),       # zero-extended
    ((3, 3), (2, 2), "valid", (1, 1), "channels_first", True, 2, (3, 3), 3),    # extended by 1
    ((4, 3), (2, 2), "same", (1, 1), "channels_last", False, 5, (2, 3), 2),
    ((3, 3), (2, 3), "valid", (1, 2), "channels_last", True, 1, (3, 3), 2),     # batch 1
]


def _case_id(case):
    k, s, pad, op, fmt, bias, n, hw, c = case
    return (f"k{k[0]}x{k[1]}s{s[0]}x{s[1]}{pad}" + (f"op{op[0]}{op[1]}" if op else "")
            + ("cf" if fmt == "channels_first" else "cl") + ("" if bias else "nobias")
            + f"n{n}")


def _make(case, dtype="float32", **extra):
    k, s, pad, op, fmt, bias, n, (h, w), c = case
    shape = (c, h, w) if fmt == "channels_first" else (h, w, c)
    layer = _layer(shape, kernel_size=k, strides=s, padding=pad, output_padding=op,
                   data_format=fmt, use_bias=bias, dtype=dtype, **extra)
    return layer, shape, n


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_tasks_equal_the_numpy_engine_within_the_rounding_bound(case, dtype, calls):
    layer, shape, n = _make(case, dtype)
    x, dy = _data(layer, n, shape, dtype=dtype)
    plain = _step(layer, x, dy, "numpy")
    assert calls == []
    fast = _step(layer, x, dy, "fast")
    assert calls == ["forward", "backward"]
    magnitude, depth = _magnitudes(layer, x, dy), _depths(layer, x, dy)
    assert set(fast) == set(plain) == {"y", "dx", "kernel"} | ({"bias"} if layer.use_bias
                                                                else set())
    for key in plain:
        assert fast[key].dtype == plain[key].dtype == np.dtype(dtype), key
        check_paths(fast[key], plain[key], gamma(depth[key], dtype) * magnitude[key],
                    f"{key}: per-core tasks vs NumPy engine")


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_backward_without_input_gradient_fills_the_same_gradients(activation, calls):
    layer, shape, n = _make(CASES[2], activation=activation)
    x, dy = _data(layer, n, shape)
    with_dx = _step(layer, x, dy)
    without = _step(layer, x, dy, input_gradient=False)
    assert calls == ["forward", "backward"] * 2
    assert without.pop("dx") is None and with_dx.pop("dx") is not None
    for key, value in with_dx.items():
        np.testing.assert_array_equal(without[key], value, err_msg=key)


def _thread_runs(layer, x, dy) -> list[dict]:
    runs = []
    before = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            runs.append(_step(layer, x, dy))
    finally:
        numba.set_num_threads(before)
    return runs


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=["full", "cropped"])
def test_one_and_two_threads_give_the_same_bits(case, activation, calls):
    layer, shape, _ = _make(case, activation=activation)
    layer.TASK, layer.CHUNK = 2, 1                 # 7 samples: 4 tasks, the last one short
    x, dy = _data(layer, 7, shape)
    one, two = _thread_runs(layer, x, dy)
    assert calls == ["forward", "backward"] * 2
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=["full", "cropped"])
def test_fused_bias_relu_is_the_linear_layer_then_relu(case):
    """``y = max(z + b, 0)`` in the tasks is the linear layer's ``z + b`` through ReLU, bit for
    bit; backward, dL/dz = dL/dy where y > 0 (masked in the tasks) gives the linear layer's dK
    and dx for that dL/dz, and dL/db its sum (in another order: within the bound)."""
    relu, shape, n = _make(case, activation="relu")
    linear, _, _ = _make(case)
    x, dy = _data(relu, n, shape)
    fused = _step(relu, x, dy)
    y = _step(linear, x, dy)["y"]
    np.testing.assert_array_equal(fused["y"], np.maximum(y, 0))
    dz = np.where(fused["y"] > 0, dy, 0).astype(dy.dtype)
    plain = _step(linear, x, dz)
    for key in ("dx", "kernel"):
        np.testing.assert_array_equal(fused[key], plain[key], err_msg=key)
    check_paths(fused["bias"], plain["bias"],
                gamma(dz.size // 3, "float32") * np.abs(dz).sum(axis=(0, 1, 2)), "db")


def test_backward_from_dz_runs_the_tasks_too(calls):
    """``backward_preactivation(dz)`` (the fused softmax case) skips the activation: a ReLU
    layer's gradients from dz are the linear layer's from dL/dy = dz, bit for bit."""
    relu, shape, n = _make(CASES[3], activation="relu")      # channels_first, cropped
    linear, _, _ = _make(CASES[3])
    x, dz = _data(relu, n, shape)
    with backend.engine("fast"):
        relu.forward(x, training=True)
        got = relu.backward_preactivation(dz)
        linear.forward(x, training=True)
        want = linear.backward(dz)
    assert calls == ["forward", "backward"] * 2
    np.testing.assert_array_equal(got, want)
    for key, value in linear.grads.items():
        np.testing.assert_array_equal(relu.grads[key], value, err_msg=key)


GRADIENT_CASES = [
    ("relu_same", dict(kernel_size=3, strides=2, padding="same", activation="relu"), (3, 3, 2)),
    ("tanh_valid_cf", dict(kernel_size=(2, 3), strides=(2, 1), activation="tanh",
                           data_format="channels_first"), (2, 3, 3)),
    ("gelu_output_padding", dict(kernel_size=3, strides=2, output_padding=1, activation="gelu",
                                 use_bias=False), (3, 2, 2)),
    ("sigmoid_extended", dict(kernel_size=2, strides=3, activation="sigmoid"), (2, 3, 2)),
    ("relu_no_bias", dict(kernel_size=2, strides=1, activation="relu", use_bias=False),
     (3, 2, 2)),
]


@pytest.mark.parametrize("kwargs,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_check_through_the_tasks(kwargs, shape, calls):
    layer = Conv2DTranspose(2, **kwargs)
    layer.TASK, layer.CHUNK = 2, 1
    with backend.engine("fast"):
        result = gradcheck.check_layer(layer, shape, batch_size=3, tolerance=1e-6)
    assert result.passed, result.table()
    assert {"forward", "backward"} <= set(calls)


def _peak_bytes(layer, x, dy, engine) -> int:
    """Bytes allocated at the peak of one forward + backward, beyond what was allocated
    before."""
    tracemalloc.start()
    try:
        _step(layer, x, dy, engine)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_chunk_not_the_batch():
    shape = (10, 10, 8)
    layer = _layer(shape, filters=16, kernel_size=3)
    layer.TASK, layer.CHUNK = 4, 1
    x, dy = _data(layer, 32, shape)
    _step(layer, x, dy)                   # compiled, scratch grown
    _step(layer, x, dy, "numpy")
    batch_cols = x.shape[0] * 10 * 10 * 3 * 3 * 16 * 4          # whole-batch cols (N*H*W, 144)
    results = 2 * dy.nbytes + 2 * x.nbytes                       # y and its copy, dx, slack
    assert _peak_bytes(layer, x, dy, "numpy") > batch_cols       # the whole-batch lines
    assert _peak_bytes(layer, x, dy, "fast") < results + batch_cols // 4


@pytest.mark.parametrize("how", ["numpy engine", "float16", "no per-core threads"])
def test_elsewhere_the_whole_batch_lines_run(how, calls, monkeypatch):
    case = CASES[2]
    dtype = "float16" if how == "float16" else "float32"
    layer, shape, n = _make(case, dtype)
    x, dy = _data(layer, n, shape, dtype=dtype)
    if how == "no per-core threads":
        monkeypatch.setattr(threads, "available", lambda: False)
    got = _step(layer, x, dy, "numpy" if how == "numpy engine" else "fast")
    assert calls == []
    assert got["y"].dtype == got["dx"].dtype == got["kernel"].dtype == np.dtype(dtype)
