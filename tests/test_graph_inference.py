"""predict on a graph model runs its per-core part a few samples at a time on one worker per
core (:func:`convnet.fast.inference.leading_nodes`), the rest on the whole block.

With every convolution on the direct loop (each output summed in one fixed order, whatever the
chunk) and the other per-core layers elementwise, the per-core pass must give the very bits of
the layer-by-layer pass; so the orchestration (chunks, which tensors go on to the rest of the
graph, several inputs and outputs) is tested exactly. The paths' own rounding is tested against
the error bounds in test_threads.py and test_winograd.py.
"""

import numpy as np
import pytest

import convnet as keras
from convnet import layers, threads
from convnet.fast import inference

needs_openblas = pytest.mark.skipif(not threads.available(),
                                    reason="per-core tasks need OpenBLAS's thread control")


def residual(direct: bool = True) -> keras.Model:
    inputs = keras.Input((9, 9, 3))
    x = layers.Conv2D(6, 3, activation="relu")(inputs)                    # 7x7x6
    shortcut = x
    y = layers.Conv2D(6, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Add()([y, shortcut])
    y = layers.Concatenate()([y, layers.MaxPooling2D(1)(x)])             # 7x7x12
    y = layers.MaxPooling2D(2)(y)
    y = layers.GlobalAveragePooling2D()(y)
    outputs = layers.Dense(4, activation="softmax")(y)
    model = keras.Model(inputs, outputs)
    if direct:
        for layer in model.layers:
            if isinstance(layer, layers.Conv2D):
                layer.PATH = "direct"
    return model


def randomise(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for key, value in layer.params.items():
            value[...] = (np.abs(rng.standard_normal(value.shape)) + 0.5 if "variance" in key
                          else rng.standard_normal(value.shape) * 0.5)


def both_ways(model, x, monkeypatch):
    model.INFERENCE_BLOCK, model.CHUNK = 20, 3            # uneven blocks and chunks
    calls = []
    original = inference.graph_forward_per_core
    monkeypatch.setattr(inference, "graph_forward_per_core",
                        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    per_core = model.predict(x, verbose=0)
    n = len(x[0] if isinstance(x, list) else x)
    assert len(calls) == -(-n // 20)                      # once per block (every one > CHUNK)
    monkeypatch.setattr(keras.Model, "_per_core_inference", staticmethod(lambda: False))
    layer_by_layer = model.predict(x, verbose=0)
    return per_core, layer_by_layer


def test_leading_nodes_are_everything_before_the_classifier():
    model = residual()
    leading = inference.leading_nodes(model.nodes, model.inputs)
    kinds = [type(node.layer).__name__ for node in model.nodes if node not in leading]
    assert kinds == ["Dense"]
    half = residual()
    second_conv = [layer for layer in half.layers if isinstance(layer, layers.Conv2D)][1]
    second_conv.dtype = "float16"          # numba does not compute float16: not per core, and
    names = {node.layer.name for node in inference.leading_nodes(half.nodes, half.inputs)}
    assert second_conv.name not in names and "conv2d" in {n.split("_")[0] for n in names}
    assert "batch_normalization" not in {n.rsplit("_", 1)[0] for n in names}   # nor what follows


@needs_openblas
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_per_core_predict_of_a_graph_is_the_layer_by_layer_one(dtype, monkeypatch):
    keras.backend.set_floatx(dtype)
    try:
        model = residual()
    finally:
        keras.backend.set_floatx("float32")
    randomise(model, 1)
    x = np.random.default_rng(2).standard_normal((45, 9, 9, 3)).astype(dtype)
    per_core, layer_by_layer = both_ways(model, x, monkeypatch)
    assert per_core.dtype == dtype
    np.testing.assert_array_equal(per_core, layer_by_layer)


@needs_openblas
def test_several_inputs_and_a_per_core_output(monkeypatch):
    a, b = keras.Input((6, 6, 2), name="a"), keras.Input((6, 6, 2), name="b")
    conv = layers.Conv2D(3, 3, padding="same", activation="relu")
    conv.PATH = "direct"
    merged = layers.Add()([conv(a), conv(b)])                    # a shared layer, two calls
    pooled = layers.MaxPooling2D(2)(merged)
    score = layers.Dense(2)(layers.Flatten()(pooled))
    model = keras.Model([a, b], [pooled, score])
    randomise(model, 3)
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((17, 6, 6, 2)).astype("float32") for _ in range(2)]
    per_core, layer_by_layer = both_ways(model, xs, monkeypatch)
    for got, want in zip(per_core, layer_by_layer):
        np.testing.assert_array_equal(got, want)
