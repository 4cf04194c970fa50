"""A model used as a layer of another model, as Keras does it: ``Sequential([base, Flatten(),
Dense(10)])``, ``model.add(base)`` or ``y = base(x)`` keep ``base`` as *one* layer of the outer
model, whose forward and backward passes run ``base``'s own graph. Freezing, weights, summary,
gradients (checked numerically), shared calls and the tools that take a model."""

import numpy as np
import pytest

import convnet
from convnet import gradcheck
from convnet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    Subtract,
)
from convnet.models import Model, Sequential

TOL = 1e-5  # float64 central differences, as in test_gradients.py


def conv_base(name="base"):
    return Sequential([Input(shape=(6, 6, 2)), Conv2D(3, 3, activation="relu", name=f"{name}_conv"),
                       MaxPooling2D(name=f"{name}_pool")], name=name)


def encoder(width=3):
    inputs = Input(shape=(width,), name="enc_in")
    return Model(inputs, Dense(4, activation="tanh", name="enc_dense")(inputs), name="encoder")


def images(n=5, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 6, 6, 2)).astype("float32")


def test_the_transfer_learning_idiom_keeps_the_base_as_one_frozen_layer():
    base = conv_base()
    base.trainable = False
    model = Sequential([base, Flatten(), Dense(3, activation="softmax", name="head")])
    assert model.layers[0] is base and [layer.name for layer in model.layers] == \
        ["base", "flatten", "head"]
    assert model.get_layer("base") is base and model.input_shape == (None, 6, 6, 2)
    # Keras's order: the base's weights, then the head's; only the head trains
    assert [w.shape for w in model.weights] == [(3, 3, 2, 3), (3,), (12, 3), (3,)]
    assert [w.shape for w in model.trainable_weights] == [(12, 3), (3,)]
    assert len(model.non_trainable_weights) == 2 and model.count_params() == 57 + 39
    model.compile(loss="categorical_crossentropy", optimizer=convnet.optimizers.SGD(0.5))
    x, y = images(8), np.eye(3)[np.arange(8) % 3]
    frozen, head = base.get_weights(), model.get_layer("head").get_weights()[0]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for before, after in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(head, model.get_layer("head").get_weights()[0])
    base.trainable = True                                   # fine-tuning: the base trains too
    assert all(layer.trainable for layer in base.layers) and len(model.trainable_weights) == 4
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert not np.array_equal(frozen[0], base.get_weights()[0])


@pytest.mark.parametrize("spelling", ["list", "input_first", "add", "functional"])
def test_every_spelling_computes_the_base_then_the_head(spelling):
    base, head = conv_base(), Dense(2, name="head")
    if spelling == "list":
        model = Sequential([base, Flatten(), head])
    elif spelling == "input_first":
        model = Sequential([Input(shape=(6, 6, 2)), base, Flatten(), head])
    elif spelling == "add":
        model = Sequential()
        for layer in (base, Flatten(), head):
            model.add(layer)
    else:
        x = Input(shape=(6, 6, 2))
        model = Model(x, head(Flatten()(base(x))))
    assert base in model.layers and not any(layer.name == "base_conv" for layer in model.layers)
    x = images()
    expected = head(base.predict(x).reshape(len(x), -1))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)


def test_an_unbuilt_sequential_base_is_built_by_the_outer_model():
    base = Sequential([Dense(4, activation="relu", name="inner")], name="base")
    model = Sequential([Input(shape=(3,)), base, Dense(2, name="head")])
    assert base.built and base.input_shape == (None, 3) and model.output_shape == (None, 2)
    lazy = Sequential([Sequential([Dense(4, name="lazy_inner")], name="lazy"), Dense(2)])
    assert lazy.predict(np.ones((2, 5))).shape == (2, 2)          # built on the first batch


def test_the_summary_shows_the_base_as_one_row_and_expands_it_on_request():
    model = Sequential([conv_base(), Flatten(), Dense(3, name="head")], name="outer")
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    rows = [line for line in lines if "(" in line and not line.startswith(("Model:", "Layer"))]
    assert [row.split()[0] for row in rows] == ["base", "flatten", "head"]
    assert "base (Sequential)" in rows[0] and "57" in rows[0]
    expanded: list[str] = []
    model.summary(print_fn=expanded.append, expand_nested=True)
    text = "\n".join(expanded)
    assert "└ base_conv (Conv2D)" in text and "└ base_pool (MaxPooling2D)" in text
    functional: list[str] = []
    x = Input(shape=(3,))
    Model(x, encoder()(x)).summary(print_fn=functional.append)
    assert any("encoder (Functional)" in line for line in functional)


def test_gradients_flow_through_a_nested_model_and_pass_the_gradient_check():
    with gradcheck.float64():
        inner = Sequential([Dense(4, activation="tanh", name="deepest")], name="inner")
        base = Sequential([Input(shape=(6, 6, 2)), Conv2D(3, 3, activation="relu", name="c"),
                           MaxPooling2D(name="p"), Flatten(name="f"), inner], name="base")
        model = Sequential([base, Dropout(0.3, name="drop"),
                            Dense(3, activation="softmax", name="head")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    x = np.random.default_rng(3).uniform(0, 1, (4, 6, 6, 2))
    y = np.eye(3)[[0, 1, 2, 1]]
    result = gradcheck.check_model(model, x, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    # every weight of the nested models was checked, by its path in the outer model
    assert {(c.layer, c.param) for c in result.checks} >= {
        ("base", "c/kernel"), ("base", "inner/deepest/kernel"), ("head", "kernel")}


def test_a_siamese_encoder_shares_its_weights_and_its_gradients_add():
    with gradcheck.float64():
        enc = encoder()
        a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
        distance = Subtract()([enc(a), enc(b)])            # the encoder called twice
        model = Model([a, b], Dense(2, activation="softmax", name="out")(distance))
    assert [layer.name for layer in model.layers] == ["a", "b", "encoder", "subtract", "out"]
    assert len(model.weights) == 4                         # the encoder's two arrays once
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((2, 5, 3))
    y = np.eye(2)[[0, 1, 1, 0, 1]]
    result = gradcheck.check_model(model, [xa, xb], y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    # the sum over the two calls: dL/dW = x_a^T g_a - x_b^T g_b, not either call alone
    model.backward(y, model.forward([xa, xb], training=True))
    total = enc.get_layer("enc_dense").grads["kernel"].copy()
    model.backward(y, model.forward([xa, xa], training=True))   # equal inputs: calls cancel
    np.testing.assert_allclose(enc.get_layer("enc_dense").grads["kernel"], 0, atol=1e-12)
    assert np.abs(total).max() > 1e-3


def test_a_nested_model_with_two_inputs_and_models_nested_three_deep():
    with gradcheck.float64():
        a, b = Input(shape=(3,), name="pa"), Input(shape=(2,), name="pb")
        pair = Model([a, b], Dense(2, name="joined")(convnet.layers.Concatenate()([a, b])),
                     name="pair")
        x, z = Input(shape=(3,), name="x"), Input(shape=(2,), name="z")
        middle = Model([x, z], pair([x, z]), name="middle")
        top = Sequential([Input(shape=(2,)), Dense(2, activation="softmax", name="soft")],
                         name="top")
        p, q = Input(shape=(3,), name="p"), Input(shape=(2,), name="q")
        model = Model([p, q], top(middle([p, q])))
    assert [layer.name for layer in model.layers] == ["p", "q", "middle", "top"]
    assert model.get_layer("middle").get_layer("pair") is pair
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((4, 3)), rng.standard_normal((4, 2))]
    y = np.eye(2)[[0, 1, 1, 0]]
    result = gradcheck.check_model(model, xs, y, tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert ("middle", "pair/joined/kernel") in {(c.layer, c.param) for c in result.checks}


def test_freezing_one_layer_inside_the_base_freezes_only_that_layer():
    base = conv_base()
    base.get_layer("base_conv").trainable = False
    model = Sequential([base, Flatten(), Dense(2, name="head")])
    assert base.trainable and [w.shape for w in model.trainable_weights] == [(12, 2), (2,)]
    x = Input(shape=(3,))
    bn_base = Sequential([Input(shape=(3,)), Dense(4, name="d"), BatchNormalization(name="bn")],
                         name="bn_base")
    outer = Model(x, Dense(1, name="o")(bn_base(x)))
    # the moving statistics never train: 6 trainable arrays, 2 non-trainable
    assert len(outer.trainable_weights) == 6 and len(outer.non_trainable_weights) == 2
    bn_base.trainable = False          # a frozen BatchNormalization runs in inference mode
    outer.compile(loss="mse", optimizer="sgd")
    before = bn_base.get_weights()
    rng = np.random.default_rng(7)
    outer.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), epochs=1, verbose=0)
    for a, b in zip(before, bn_base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_regularization_inside_the_base_counts_in_the_outer_loss():
    base = Sequential([Input(shape=(3,)), Dense(2, kernel_regularizer="l2", name="reg")],
                      name="base")
    model = Sequential([base, Dense(1, name="head")])
    kernel = base.get_layer("reg").params["kernel"]
    assert model.regularization_loss() == pytest.approx(0.01 * float(np.sum(kernel ** 2)),
                                                        rel=1e-6)


def test_bad_nesting_gets_clear_errors():
    enc = encoder()
    with pytest.raises(ValueError, match=r"Functional 'encoder': expects input shape "
                                         r"\(None, 3\), got \(None, 5\)"):
        enc(Input(shape=(5,)))
    with pytest.raises(ValueError, match="expects 1 input tensors, got 2"):
        enc([Input(shape=(3,)), Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"Functional 'encoder' expects input of shape "
                                         r"\(batch, 3\), but the layer before it makes "
                                         r"\(batch, 5\)"):
        Sequential([Input(shape=(5,)), enc])
    a, b = Input(shape=(2,)), Input(shape=(2,))
    pair = Model([a, b], Subtract()([a, b]), name="pair")
    with pytest.raises(ValueError, match="'pair' has 2 inputs and 1 outputs"):
        Sequential([pair])
    x = Input(shape=(2,))
    two = Model(x, [Dense(1)(x), Dense(1)(x)], name="two")
    with pytest.raises(ValueError, match="'two' has 2 outputs"):
        two(Input(shape=(2,)))
    model = Sequential([Dense(2, input_shape=(2,))])
    with pytest.raises(ValueError, match="cannot be a layer of itself"):
        model.add(model)
    with pytest.raises(RuntimeError, match="backward called before a forward pass"):
        encoder().backward_as_layer(np.zeros((1, 4)))
    with pytest.raises(TypeError, match=r"Functional 'encoder': backward\(y, out\) starts from "
                                        r"the targets.*call backward_as_layer\(dy\)"):
        enc.backward(np.zeros((1, 4)))      # code that calls layer.backward(dy) on every layer


def test_profile_shows_the_nested_model_as_one_row():
    enc = encoder()
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    model = Model([a, b], Dense(2, activation="softmax", name="out")(
        Subtract()([enc(a), enc(b)])))
    rows = {p.name: p for p in convnet.profile(model, batch_size=3, repeats=1,
                                               verbose=False).layers}
    assert "enc_dense" not in rows and rows["encoder"].params == 16
    assert (rows["out"].forward_flops, rows["out"].backward_flops) == (16, 32)


def test_plot_model_draws_the_base_as_one_box_and_lists_its_layers_when_expanded(tmp_path):
    from convnet import plot_model as plotting

    model = Sequential([conv_base(), Flatten(), Dense(3, name="head")])
    options = {"show_shapes": False, "show_dtype": False, "show_layer_names": True,
               "show_layer_activations": False, "show_trainable": False, "expand_nested": True}
    boxes = plotting._graph(model, options)
    assert [box.lines[0] for box in boxes][1:] == ["base (Sequential)", "flatten (Flatten)",
                                                   "head (Dense)"]
    assert boxes[1].lines[1:] == ["  └ base_conv (Conv2D)", "  └ base_pool (MaxPooling2D)"]
    plotting.plot_model(model, to_file=tmp_path / "nested.png", expand_nested=True)
    assert (tmp_path / "nested.png").stat().st_size > 1000


def test_onnx_export_of_a_nested_model_is_refused_naming_the_model(tmp_path):
    pytest.importorskip("onnx")
    from convnet.saving import FormatError

    model = Sequential([conv_base(), Flatten(), Dense(3)])
    with pytest.raises(FormatError, match="'base' \\(Sequential\\)"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
