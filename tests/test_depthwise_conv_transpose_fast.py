"""The fast engine's DepthwiseConv2D, SeparableConv2D and Conv2DTranspose against the NumPy
engine's (the readable einsum / im2col code), within the rounding bound of their sums; the same
bits on 1 and 2 threads; gradient checks on the fast engine; the NumPy engine never calls the
numba loops.

Bounds (``error_bounds``): each result is a chain of sums whose total depth is ``d`` terms, so
both engines are within ``gamma(d)`` times the same chain on absolute values (computed here by
the NumPy engine in float64 on ``|x|``, ``|weights|``, ``|dL/dy|``) of the exact value.
"""

import numba
import numpy as np
import pytest

from convnet import backend, gradcheck
from convnet.kernels import depthwise_jit
from convnet.layers import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from convnet.layers.depthwise import depthwise_backward, depthwise_forward, depthwise_windows
from error_bounds import check_paths, gamma


def _overlaps(layer) -> int:
    """How many windows at most cover one input cell (col2im's terms per cell)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    return -(-kh // sh) * -(-kw // sw)


def _random_cases(count: int, seed: int) -> list[dict]:
    """Random but fixed shapes: strides, padding, depth_multiplier 1-3, both layouts, batch
    1-5, odd sizes."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        kh, kw = (int(k) for k in rng.integers(1, 4, 2))
        cases.append(dict(
            kernel_size=(kh, kw), strides=tuple(int(s) for s in rng.integers(1, 4, 2)),
            padding=str(rng.choice(["valid", "same"])),
            depth_multiplier=int(rng.integers(1, 4)),
            data_format=str(rng.choice(["channels_last", "channels_first"])),
            batch=int(rng.integers(1, 6)),
            hw=(int(rng.integers(kh, 10)), int(rng.integers(kw, 10))),
            channels=int(rng.integers(1, 6))))
    return cases


CASES = _random_cases(10, seed=14) + [
    dict(kernel_size=(3, 3), strides=(1, 1), padding="same", depth_multiplier=1,
         data_format="channels_last", batch=5, hw=(7, 9), channels=8),
    dict(kernel_size=(2, 2), strides=(2, 2), padding="same", depth_multiplier=1,
         data_format="channels_first", batch=3, hw=(5, 6), channels=4),
    dict(kernel_size=(3, 3), strides=(1, 1), padding="valid", depth_multiplier=2,
         data_format="channels_last", batch=2, hw=(6, 5), channels=3),
    dict(kernel_size=(3, 2), strides=(2, 3), padding="valid", depth_multiplier=3,
         data_format="channels_first", batch=1, hw=(9, 7), channels=3),
]


def _ids(cases):
    return [f"k{c['kernel_size']}s{c['strides']}{c['padding']}M{c['depth_multiplier']}"
            f"{'cf' if c['data_format'] == 'channels_first' else 'cl'}n{c['batch']}"
            f"{c['hw']}c{c['channels']}".replace(" ", "") for c in cases]


def _make(kind: str, case: dict, **extra):
    args = dict(kernel_size=case["kernel_size"], strides=case["strides"],
                padding=case["padding"], data_format=case["data_format"], **extra)
    if kind == "depthwise":
        return DepthwiseConv2D(depth_multiplier=case["depth_multiplier"], **args)
    if kind == "separable":
        return SeparableConv2D(4, depth_multiplier=case["depth_multiplier"], **args)
    return Conv2DTranspose(3, **args)


def _sample_shape(case: dict) -> tuple:
    h, w = case["hw"]
    c = case["channels"]
    return (c, h, w) if case["data_format"] == "channels_first" else (h, w, c)


def _weighted(layer, shape: tuple, seed: int):
    layer.build(shape)
    rng = np.random.default_rng(seed)
    for value in layer.params.values():
        value[...] = rng.standard_normal(value.shape)
    return layer


def _step(layer, x, dy, engine: str, input_gradient: bool = True) -> dict:
    """y, dL/dx and the gradients of one forward + backward on ``engine``."""
    with backend.engine(engine):
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(dy, input_gradient=input_gradient)
    return {"y": y, "dx": dx, **{k: v.copy() for k, v in layer.grads.items()}}


def _magnitudes(layer, x, dy) -> dict:
    """The same forward + backward on absolute values, in float64, on the NumPy engine."""
    twin = type(layer).from_config({**layer.get_config(), "dtype": "float64",
                                    "activation": "linear", "use_bias": False})
    twin.build(x.shape[1:])
    for key, value in twin.params.items():
        value[...] = np.abs(layer.params[key])
    out = _step(twin, np.abs(x.astype(np.float64)), np.abs(dy.astype(np.float64)), "numpy")
    if layer.use_bias:
        bias = np.abs(layer.params["bias"].astype(np.float64))
        out["y"] = out["y"] + (bias[:, None, None] if layer.data_format == "channels_first"
                               else bias)
        out["bias"] = np.abs(dy.astype(np.float64)).sum(
            axis=(0, 2, 3) if layer.data_format == "channels_first" else (0, 1, 2))
    return out


def _depths(layer, x, dy) -> dict:
    """Terms in the longest chain of sums behind each result (see the module docstring)."""
    kh, kw = layer.kernel_size
    channel_axis = 1 if layer.data_format == "channels_first" else 3
    rows = dy.size // dy.shape[channel_axis]                 # output pixels: N*OH*OW
    if isinstance(layer, Conv2DTranspose):
        c, f = layer.params["kernel"].shape[3], layer.filters
        h, w = x.shape[2:] if layer.data_format == "channels_first" else x.shape[1:3]
        return {"y": c * _overlaps(layer) + 1, "kernel": x.shape[0] * h * w,
                "dx": kh * kw * f, "bias": rows}
    m = layer.depth_multiplier
    if isinstance(layer, SeparableConv2D):
        cm, f = layer.params["pointwise_kernel"].shape[2:]
        return {"y": kh * kw + cm + 1, "depthwise_kernel": rows + f,
                "pointwise_kernel": rows + kh * kw, "dx": f + m * _overlaps(layer), "bias": rows}
    return {"y": kh * kw + 1, "depthwise_kernel": rows, "dx": m * _overlaps(layer),
            "bias": rows}


@pytest.mark.parametrize("kind", ["depthwise", "separable", "transpose"])
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_fast_engine_equals_numpy_engine_within_the_rounding_bound(kind, case):
    shape = _sample_shape(case)
    layer = _weighted(_make(kind, case), shape, seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((case["batch"],) + shape).astype("float32")
    dy = rng.standard_normal((case["batch"],) + layer.compute_output_shape(shape))
    dy = dy.astype("float32")
    plain, fast = _step(layer, x, dy, "numpy"), _step(layer, x, dy, "fast")
    magnitude, depth = _magnitudes(layer, x, dy), _depths(layer, x, dy)
    for key in plain:
        assert fast[key].dtype == plain[key].dtype == np.float32, key
        check_paths(fast[key], plain[key], gamma(depth[key], "float32") * magnitude[key],
                    f"{kind} {key}: fast vs NumPy engine")


@pytest.mark.parametrize("kind", ["depthwise", "separable", "transpose"])
def test_backward_without_input_gradient_fills_the_same_gradients(kind):
    case = CASES[-1]
    shape = _sample_shape(case)
    layer = _weighted(_make(kind, case, activation="tanh"), shape, seed=3)
    x = np.random.default_rng(4).standard_normal((3,) + shape).astype("float32")
    dy = np.ones((3,) + layer.compute_output_shape(shape), dtype="float32")
    with_dx = _step(layer, x, dy, "fast")
    without = _step(layer, x, dy, "fast", input_gradient=False)
    assert without.pop("dx") is None and with_dx.pop("dx") is not None
    for key, value in with_dx.items():
        np.testing.assert_array_equal(without[key], value, err_msg=key)


def test_kernels_equal_the_einsum_definitions_within_the_bound():
    rng = np.random.default_rng(5)
    for n, h, w, c, m, kh, kw, sh, sw in [(3, 7, 6, 5, 2, 3, 2, 2, 1), (1, 4, 4, 1, 1, 4, 4, 1, 1),
                                          (4, 9, 8, 2, 3, 2, 3, 3, 2)]:
        x = rng.standard_normal((n, h, w, c)).astype("float32")
        k = rng.standard_normal((kh, kw, c, m)).astype("float32")
        win = depthwise_windows(x, kh, kw, sh, sw)
        z = depthwise_forward(win, k)
        dz = rng.standard_normal(z.shape).astype("float32")
        dk, dx = depthwise_backward(win, k, dz, x.shape, (sh, sw))
        z_fast = depthwise_jit.depthwise_forward(x, k, sh, sw)
        dk_fast, dx_fast = depthwise_jit.depthwise_backward(x, k, dz, sh, sw)
        # the same definitions on absolute values, in float64: the sums' magnitudes
        xa, ka, dza = (np.abs(a.astype(np.float64)) for a in (x, k, dz))
        wa = depthwise_windows(xa, kh, kw, sh, sw)
        dk_mag, dx_mag = depthwise_backward(wa, ka, dza, x.shape, (sh, sw))
        overlaps = -(-kh // sh) * -(-kw // sw)
        check_paths(z_fast, z, gamma(kh * kw, "float32") * depthwise_forward(wa, ka), "z")
        check_paths(dk_fast, dk, gamma(n * z.shape[1] * z.shape[2], "float32") * dk_mag, "dK")
        check_paths(dx_fast, dx, gamma(m * overlaps, "float32") * dx_mag, "dx")
        assert depthwise_jit.depthwise_backward(x, k, dz, sh, sw, False)[1] is None


def test_kernels_name_bad_arguments():
    x = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(TypeError, match="float32 or float64.*float16"):
        depthwise_jit.depthwise_forward(x.astype(np.float16), np.zeros((3, 3, 3, 1)), 1, 1)
    with pytest.raises(ValueError, match=r"kernel \(KH, KW, C, M\) expected.*\(3, 3, 2, 1\)"):
        depthwise_jit.depthwise_forward(x, np.zeros((3, 3, 2, 1)), 1, 1)
    with pytest.raises(ValueError, match=r"dL/dz of shape \(2, 3, 3, 3\) expected"):
        depthwise_jit.depthwise_backward(x, np.zeros((3, 3, 3, 1)), np.zeros((2, 3, 3, 2)), 1, 1)


def _two_thread_runs(layer, x, dy) -> list[dict]:
    runs = []
    before = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            runs.append(_step(layer, x, dy, "fast"))
    finally:
        numba.set_num_threads(before)
    return runs


@pytest.mark.parametrize("kind", ["depthwise", "separable", "transpose"])
def test_one_and_two_threads_give_the_same_bits(kind):
    # large enough for the kernels to cut their loops into pieces (and the GEMMs into blocks)
    case = dict(kernel_size=(3, 3), strides=(1, 1), padding="same", depth_multiplier=2,
                data_format="channels_last", batch=5, hw=(12, 11), channels=8)
    shape = _sample_shape(case)
    layer = _weighted(_make(kind, case), shape, seed=6)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((case["batch"],) + shape).astype("float32")
    dy = rng.standard_normal((case["batch"],) + layer.compute_output_shape(shape))
    one, two = _two_thread_runs(layer, x, dy.astype("float32"))
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


GRADIENT_CASES = [
    ("dw_same_stride2_mult3", lambda: DepthwiseConv2D(3, strides=2, padding="same",
                                                      depth_multiplier=3), (5, 6, 2)),
    ("dw_channels_first_tanh", lambda: DepthwiseConv2D((2, 3), padding="same",
                                                       data_format="channels_first",
                                                       activation="tanh"), (3, 5, 4)),
    ("sep_mult2", lambda: SeparableConv2D(3, (3, 2), strides=(1, 2), depth_multiplier=2,
                                          activation="sigmoid"), (5, 6, 3)),
    ("transpose_same", lambda: Conv2DTranspose(2, 3, strides=2, padding="same"), (3, 3, 2)),
    ("transpose_output_padding", lambda: Conv2DTranspose(2, (2, 3), strides=(3, 2),
                                                         output_padding=(1, 1),
                                                         data_format="channels_first"),
     (2, 3, 2)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRADIENT_CASES],
                         ids=[c[0] for c in GRADIENT_CASES])
def test_gradients_check_on_the_fast_engine(factory, shape, monkeypatch):
    calls = []

    def spy(name):
        real = getattr(depthwise_jit, name)

        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return call

    for name in ("depthwise_forward", "depthwise_backward"):
        monkeypatch.setattr(depthwise_jit, name, spy(name))
    layer = factory()
    with backend.engine("fast"):
        result = gradcheck.check_layer(layer, shape, batch_size=2, tolerance=1e-6)
    assert result.passed, result.table()
    if not isinstance(layer, Conv2DTranspose):          # float64 ran the numba loops
        assert {"depthwise_forward", "depthwise_backward"} <= set(calls)


def test_the_numpy_engine_and_float16_keep_the_einsums(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the numba depthwise loops ran")

    monkeypatch.setattr(depthwise_jit, "depthwise_forward", forbidden)
    monkeypatch.setattr(depthwise_jit, "depthwise_backward", forbidden)
    x = np.random.default_rng(8).standard_normal((2, 5, 5, 3))
    for engine, dtype in (("numpy", "float32"), ("fast", "float16")):
        layer = SeparableConv2D(2, 3, depth_multiplier=2, dtype=dtype)
        y = _step(layer, x.astype(dtype), np.ones((2, 3, 3, 2), dtype), engine)
        assert y["y"].dtype == y["dx"].dtype == y["depthwise_kernel"].dtype == dtype
