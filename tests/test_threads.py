"""Per-core tasks (convnet/threads.py): inference (Layer.infer_chunk, convnet/fast/inference.py)
and Conv2D training (convnet/fast/conv_im2col.py, conv_winograd.py) give what the whole-block
paths give."""

import threading

import numba
import numpy as np
import pytest

import error_bounds
from convnet import threads, utils
from convnet.fast import inference
from convnet.kernels import jit, reference
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

needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="NumPy's OpenBLAS thread control not found")


def _models():
    yield "tutorial", (10, 10, 1), [
        Conv2D(6, (3, 3), activation="relu"), Conv2D(8, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)), Dropout(0.25), Flatten(), Dense(5, activation="relu"),
        Dropout(0.5), Dense(3, activation="softmax")]
    yield "same_strides_avgpool", (9, 8, 3), [
        Conv2D(4, (3, 3), strides=2, padding="same", activation="tanh"),
        AveragePooling2D((2, 2), padding="same"), Conv2D(5, (2, 2), use_bias=False),
        Activation("sigmoid"), Flatten(), Dense(2)]
    yield "channels_first", (2, 7, 7), [
        Conv2D(3, (3, 3), padding="same", activation="relu", data_format="channels_first"),
        MaxPooling2D((3, 3), strides=2, padding="same", data_format="channels_first"),
        Conv2D(4, (2, 2), activation="softmax", data_format="channels_first"),
        Flatten(data_format="channels_first"), Dense(3)]
    yield "one_channel_direct_no_bias", (6, 6, 1), [
        Conv2D(3, (3, 3), use_bias=False, activation="relu"),
        Conv2D(2, (2, 2), strides=2, padding="same"), Flatten(), Dense(2)]
    yield "winograd", (9, 8, 16), [           # 16 channels, 3x3, stride 1: F(4x4, 3x3) tiles
        Conv2D(4, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Flatten(), Dense(3)]
    yield "dense_first", (12,), [Dense(4, activation="relu"), Dense(2)]


@needs_openblas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,shape,layers", list(_models()), ids=[m[0] for m in _models()])
def test_per_core_predict_equals_layer_by_layer(name, shape, layers, dtype, monkeypatch):
    model = Sequential([type(layers[0]).from_config({**layers[0].get_config(),
                                                     "input_shape": shape, "dtype": dtype})]
                       + [type(layer).from_config({**layer.get_config(), "dtype": dtype})
                          for layer in layers[1:]])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((45,) + shape).astype(dtype)
    model.build((None,) + shape)
    for layer in model.layers:                # random biases too (they start at zero)
        for value in layer.params.values():
            value[...] = rng.standard_normal(value.shape) * 0.5
    model.INFERENCE_BLOCK, model.CHUNK = 20, 3            # uneven blocks and chunks
    per_core = model.predict(x)
    assert inference.leading_layers(model.layers) == (0 if name == "dense_first" else
                                         [i for i, layer in enumerate(model.layers)
                                          if not layer.runs_per_core][0])
    monkeypatch.setattr(threads, "_OPENBLAS", None)       # as if OpenBLAS were not found
    layer_by_layer = model.predict(x)
    assert per_core.dtype == layer_by_layer.dtype == dtype
    exact, bound = error_bounds.model_bound(model, x)
    error_bounds.check(per_core, exact, bound, "per-core predict")
    error_bounds.check(layer_by_layer, exact, bound, "layer-by-layer predict")


@needs_openblas
def test_per_core_evaluate_equals_layer_by_layer(monkeypatch):
    _, shape, layers = next(_models())
    model = Sequential([Conv2D(6, (3, 3), activation="relu", input_shape=shape)] + layers[1:])
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    rng = np.random.default_rng(2)
    x = rng.random((33,) + shape).astype("float32")
    model.build((None,) + shape)
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 33)]
    for layer in model.layers:
        for value in layer.params.values():
            value[...] = rng.standard_normal(value.shape) * 0.3
    per_core = model.evaluate(x, y, verbose=0)
    monkeypatch.setattr(threads, "_OPENBLAS", None)
    layer_by_layer = model.evaluate(x, y, verbose=0)
    p, e_p = error_bounds.model_bound(model, x)
    loss, bound = error_bounds.crossentropy_bound(y, p, e_p, "float32")
    assert error_bounds.accuracy_is_decided(p, e_p)
    accuracy = np.mean(p.argmax(axis=1) == y.argmax(axis=1))
    for result in (per_core, layer_by_layer):
        error_bounds.check(result[0], loss, bound, "loss")
        assert result[1] == accuracy


def test_run_tasks_runs_each_task_once_on_worker_threads():
    seen, names = [], set()

    def task(i):
        seen.append(i)
        names.add(threading.current_thread().name)

    threads.run_tasks(task, 57)
    assert sorted(seen) == list(range(57))
    if threads.available() and numba.get_num_threads() > 1:
        assert all(name.startswith("convnet-core") for name in names)


def test_run_tasks_raises_a_task_error_and_on_one_thread_runs_inline():
    def task(i):
        if i == 5:
            raise ValueError("task 5 failed")

    with pytest.raises(ValueError, match="task 5 failed"):
        threads.run_tasks(task, 9)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        names = set()
        threads.run_tasks(lambda i: names.add(threading.current_thread().name), 4)
        assert names == {threading.current_thread().name}
    finally:
        numba.set_num_threads(before)


@needs_openblas
def test_single_threaded_blas_restores_the_thread_count():
    get, _ = threads._OPENBLAS
    before = get()
    with threads.single_threaded_blas():
        assert get() == 1
    assert get() == before


def test_per_core_threads_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("CONVNET_PER_CORE_THREADS", "0")
    assert threads._find_openblas() is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serial_kernels_match_reference(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 9, 8, 2)).astype(dtype)
    cols = np.empty((3 * 7 * 3, 18), dtype)
    jit.im2col_serial(x, 3, 3, 1, 2, cols)
    np.testing.assert_array_equal(cols, reference.im2col(x, 3, 3, 1, 2))
    z, bias = rng.standard_normal((10, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    expected = reference.bias_relu(z.copy(), bias)
    jit.bias_relu_serial(z, bias)
    np.testing.assert_array_equal(z, expected)
    kernel = rng.standard_normal((3, 2, 2, 5)).astype(dtype)
    out = np.empty((3 * 4 * 4, 5), dtype)
    jit.conv2d_direct_serial(x, kernel, bias[:1].repeat(5), 2, 2, True, out)
    error_bounds.check_paths(out, reference.conv2d_direct(x, kernel, bias[:1].repeat(5), 2, 2,
                                                          True),
                             error_bounds.conv_bound(x, kernel, 2, 2, bias[:1].repeat(5)),
                             "conv2d_direct_serial")
    for pad in (0, 1):
        oh, ow = 5, 4
        y = np.empty((3, oh, ow, 2), dtype)
        jit.maxpool_forward_serial(x, 3, 3, 2, 2, pad, pad, y)
        np.testing.assert_array_equal(y, reference.maxpool_forward(x, 3, 3, 2, 2, oh, ow,
                                                                   pad, pad)[0])
        jit.avgpool_forward_serial(x, 3, 3, 2, 2, pad, pad, y)
        error_bounds.check_paths(y, reference.avgpool_forward(x, 3, 3, 2, 2, oh, ow, pad, pad),
                                 error_bounds.avgpool_bound(x, 3, 3, 2, 2, oh, ow, pad, pad),
                                 "avgpool_forward_serial")


@needs_openblas
@pytest.mark.parametrize("make,shape", [
    (lambda: Conv2D(5, (3, 3), activation="relu"), (8, 7, 3)),            # fused ReLU mask
    (lambda: Conv2D(4, (3, 2), strides=2, padding="same", activation="tanh"), (7, 8, 2)),
    (lambda: Conv2D(3, (3, 3), use_bias=False, activation="relu"), (6, 6, 2)),
    (lambda: Conv2D(3, (3, 3), padding="same", activation="relu",
                    data_format="channels_first"), (2, 6, 5)),
])
@pytest.mark.parametrize("input_gradient", [True, False])
def test_per_core_training_passes_equal_the_block_path(make, shape, input_gradient, monkeypatch):
    layer = make()
    layer.TASK, layer.CHUNK = 5, 2                  # 13 samples: uneven tasks and chunks
    rng = np.random.default_rng(6)
    x = rng.standard_normal((13,) + shape).astype("float32")
    layer.build(shape)
    for value in layer.params.values():
        value[...] = rng.standard_normal(value.shape)
    y = layer.forward(x, training=True).copy()
    dy = rng.standard_normal(y.shape).astype("float32")
    dx = layer.backward(dy, input_gradient=input_gradient)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    bounds = error_bounds.layer_bounds(layer, x, dy)
    monkeypatch.setattr(threads, "_OPENBLAS", None)     # the whole-block path
    error_bounds.check_paths(layer.forward(x, training=True), y, bounds["y"], "y")
    dx_blocks = layer.backward(dy, input_gradient=input_gradient)
    if input_gradient:
        error_bounds.check_paths(dx, dx_blocks, bounds["dx"], "dx")
    else:
        assert dx is None and dx_blocks is None
    for k in grads:
        error_bounds.check_paths(grads[k], layer.grads[k], bounds[k], k)


@needs_openblas
@pytest.mark.parametrize("conv_channels", [3, 16])            # im2col; Winograd (16 channels in)
@pytest.mark.parametrize("pool", [
    lambda: MaxPooling2D((2, 2)),
    lambda: MaxPooling2D((3, 3), strides=2, padding="same"),  # overlapping windows add up
])
def test_conv_and_max_pool_backward_in_one_pass_give_the_same_weights(conv_channels, pool,
                                                                       monkeypatch):
    def trained(fused: bool):
        utils.set_random_seed(5)
        model = Sequential([Conv2D(conv_channels, (3, 3), activation="relu",
                                   input_shape=(11, 10, 2)),
                            Conv2D(5, (3, 3), activation="relu"), pool(), Dropout(0.3),
                            Flatten(), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adadelta")
        assert model.layers[1].fuses_backward_of(model.layers[2]) is False   # no forward yet
        for layer in model.layers[:2]:
            layer.TASK, layer.CHUNK = 5, 2                   # 13 samples: uneven tasks, chunks
        rng = np.random.default_rng(2)
        x = rng.standard_normal((13, 11, 10, 2)).astype("float32")
        y = np.eye(3)[rng.integers(0, 3, 13)]
        if not fused:
            monkeypatch.setattr(Conv2D, "fuses_backward_of", lambda self, above: False)
        for _ in range(3):
            model.train_on_batch(x, y)
        assert model.layers[1].fuses_backward_of(model.layers[2]) is fused
        assert (model.layers[1].path.name == "winograd") is (conv_channels >= 16)
        return model.get_weights()

    for a, b in zip(trained(True), trained(False)):
        np.testing.assert_array_equal(a, b)


def test_batchnorm_kernels_give_the_same_bits_on_one_and_two_threads():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3000, 7)).astype("float32")
    dy = rng.standard_normal((3000, 7)).astype("float32")
    runs = []
    before = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            mean, var = jit.batchnorm_stats(x)
            xhat, y = jit.batchnorm_forward(x, mean, 1 / np.sqrt(var + 1e-3), 1.5, 0.2)
            runs.append((mean, var, y, *jit.batchnorm_backward(dy, xhat, np.ones(7), True)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
