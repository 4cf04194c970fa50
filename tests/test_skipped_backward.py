"""Training's backward pass stops at the lowest layers that learn.

Layers below every trainable weight (augmentation, padding, a frozen pretrained base) get no
backward call, and the lowest learning layer computes no dL/dx. The weight gradients must be
exactly those of a full backward pass (``input_gradient=True``), which runs every layer.
"""

import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import layers


def spy(layer, calls: list, seen: dict | None = None):
    """Record ``(layer name, input_gradient)`` for every backward call of ``layer``, and in
    ``seen[name]`` the last forward input and backward dL/dy."""
    forward, backward = layer.forward, layer.backward

    def spied_forward(x, training=False):
        if seen is not None:
            seen.setdefault(layer.name, {})["x"] = x
        return forward(x, training=training)

    def spied_backward(dy, input_gradient=True):
        calls.append((layer.name, input_gradient))
        if seen is not None:
            seen.setdefault(layer.name, {})["dy"] = dy
        return backward(dy, input_gradient=input_gradient)

    layer.forward, layer.backward = spied_forward, spied_backward


def weight_grads(model) -> list[np.ndarray]:
    return [g.copy() for _, _, g in model.trainable_triples()]


def both_ways(model, x, y) -> tuple[list, list, list, dict]:
    """(the backward calls and weight gradients of training's backward, those of a backward
    with dL/dx of the input, and each layer's input and dL/dy) on the same forward pass."""
    calls: list = []
    seen: dict = {}
    for layer in model.layers:
        spy(layer, calls, seen)
    out = model.forward(x, training=True)
    model.backward(y, out)
    partial = weight_grads(model)
    skipped_calls = list(calls)
    calls.clear()
    out = model.forward(x, training=True)
    dx = model.backward(y, out, input_gradient=True)
    assert dx is not None and calls[-1] == (model.layers[0].name, True)     # every layer ran
    return skipped_calls, partial, weight_grads(model), seen


def assert_same_gradients(model, partial: list, full: list, seen: dict) -> None:
    """Equal, except where the lowest convolution, without dL/dx to make, takes another path
    on the fast engine (dK and db in one pass over dL/dy): there within the rounding bound of
    the two sums (|dL/dz| <= |dL/dy| behind the ReLU, so the bound from dL/dy holds)."""
    i = 0
    for layer in model.layers:
        for name in (k for k in layer.weight_names() if k in layer.grads):
            a, b = partial[i], full[i]
            i += 1
            if not isinstance(layer, layers.Conv2D):
                np.testing.assert_array_equal(a, b)
                continue
            x, dy = seen[layer.name]["x"], seen[layer.name]["dy"]
            rows = dy.reshape(-1, dy.shape[-1])
            bound = (error_bounds.kernel_grad_bound(x, rows, 3, 3, 1, 1) if name == "kernel"
                     else error_bounds.column_sum_bound(rows))
            error_bounds.check_paths(a, b, bound, f"{layer.name}.{name}")
    assert i == len(partial)


def test_layers_below_every_weight_get_no_backward_pass():
    rng = np.random.default_rng(0)
    model = keras.Sequential([
        keras.Input((6, 6, 1)), layers.ZeroPadding2D(1), layers.Rescaling(0.5),
        layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
        layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = rng.random((4, 6, 6, 1), dtype="float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    calls, partial, full, seen = both_ways(model, x, y)
    names = [name for name, _ in calls]
    assert "zero_padding2d" not in names and "rescaling" not in names
    assert calls[-1] == ("conv2d", False)              # the lowest learner: no dL/dx
    assert_same_gradients(model, partial, full, seen)


def test_a_frozen_base_gets_no_backward_pass_and_stays_put():
    rng = np.random.default_rng(1)
    base = layers.Dense(4, activation="relu", name="base")
    model = keras.Sequential([keras.Input((5,)), base, layers.Dense(2, name="top")])
    base.trainable = False
    model.compile(loss="mse", optimizer="sgd")
    x, y = rng.random((8, 5), dtype="float32"), rng.random((8, 2), dtype="float32")
    calls, partial, full, _ = both_ways(model, x, y)
    assert calls == [("top", False)]
    for a, b in zip(partial, full):
        np.testing.assert_array_equal(a, b)
    frozen = base.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unfreezing_brings_the_backward_pass_back():
    base = layers.Dense(4, name="base")
    model = keras.Sequential([keras.Input((5,)), base, layers.Dense(2, name="top")])
    model.compile(loss="mse", optimizer="sgd")
    x, y = np.ones((2, 5), "float32"), np.zeros((2, 2), "float32")
    base.trainable = False
    model.train_on_batch(x, y)
    before = base.get_weights()[0].copy()
    base.trainable = True
    model.train_on_batch(x, y)
    assert not np.allclose(base.get_weights()[0], before)


def test_a_graph_skips_the_branch_that_leads_to_no_weight():
    rng = np.random.default_rng(2)
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    frozen = layers.Dense(4, name="frozen")
    left = layers.Rescaling(2.0, name="scale")(frozen(a))
    right = layers.Dense(4, name="right")(b)
    out = layers.Dense(2, name="out")(layers.Add(name="add")([left, right]))
    model = keras.Model([a, b], out)
    frozen.trainable = False
    model.compile(loss="mse", optimizer="sgd")
    xs = [rng.random((6, 4), dtype="float32"), rng.random((6, 4), dtype="float32")]
    y = rng.random((6, 2), dtype="float32")
    calls: list = []
    for layer in model.layers:
        if layer.name != "a" and layer.name != "b":
            spy(layer, calls)
    model.forward(xs, training=True)
    model.backward(y, model.forward(xs, training=True))
    partial = weight_grads(model)
    assert dict(calls) == {"out": True, "add": True, "right": False}
    model.forward(xs, training=True)
    model.backward(y, model.forward(xs, training=True), input_gradient=True)
    for p, f in zip(partial, weight_grads(model)):
        np.testing.assert_array_equal(p, f)


@pytest.mark.parametrize("engine", ["numpy", "fast"])
def test_augmented_model_trains_the_same_with_the_skipped_passes(engine):
    """An augmentation layer at the bottom: training's gradients equal the full pass's, on both
    engines (the augmentation is random, so each forward is seeded alike)."""
    keras.backend.set_engine(engine)
    try:
        model = keras.Sequential([
            keras.Input((10, 10, 1)), layers.RandomTranslation(0.2, 0.2),
            layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
        rng = np.random.default_rng(3)
        x = rng.random((8, 10, 10, 1), dtype="float32")
        y = np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]
        grads, seen = [], {}
        for layer in model.layers:
            spy(layer, [], seen)
        for full in (False, True):
            keras.utils.set_random_seed(7)
            out = model.forward(x, training=True)
            model.backward(y, out, input_gradient=full)
            grads.append(weight_grads(model))
        assert_same_gradients(model, *grads, seen)
    finally:
        keras.backend.set_engine("fast")


def test_a_frozen_regularized_layer_gathers_no_penalty_gradients():
    """Its backward pass is skipped, so adding its penalty's gradient every step would pile up
    in its ``grads``; Keras applies no gradient to a frozen layer either."""
    base = layers.Dense(4, kernel_regularizer="l2", name="base")
    model = keras.Sequential([keras.Input((5,)), base, layers.Dense(2, name="top")])
    model.compile(loss="mse", optimizer="sgd")
    x, y = np.ones((2, 5), "float32"), np.zeros((2, 2), "float32")
    model.train_on_batch(x, y)
    base.trainable = False
    held = base.grads["kernel"].copy()
    for _ in range(3):
        model.train_on_batch(x, y)
    np.testing.assert_array_equal(base.grads["kernel"], held)
