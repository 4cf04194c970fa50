"""A model called on symbolic tensors inside another model (``y = inner(x)``): its layers become
shared layers of the outer graph (convnet inlines them; Keras 3 keeps ``inner`` as one layer),
so forward, backward, freezing and saving work; a model as a layer of a Sequential is refused
with a clear error."""

import numpy as np
import pytest

import convnet
from convnet import gradcheck
from convnet.layers import Dense, Input, Subtract
from convnet.models import Model, Sequential

TOL = 1e-5  # float64 central differences, as in test_gradients.py


def encoder():
    inputs = Input(shape=(3,), name="enc_in")
    return Model(inputs, Dense(4, activation="tanh", name="enc_dense")(inputs), name="encoder")


def test_a_nested_sequential_computes_what_its_parts_compute_and_lists_its_weights_once():
    inner = Sequential([Input(shape=(3,)), Dense(4, activation="relu", name="inner_dense")])
    x = Input(shape=(3,))
    head = Dense(2, name="head")
    outer = Model(x, head(inner(x)))
    assert [layer.name for layer in outer.layers][1:] == ["inner_dense", "head"]
    assert len(outer.weights) == 4 and outer.count_params() == 16 + 10
    data = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(outer.predict(data), head(inner.predict(data)), rtol=1e-6)


def test_a_siamese_model_shares_the_encoder_and_passes_the_gradient_check():
    with gradcheck.float64():
        enc = encoder()
        a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
        distance = Subtract()([enc(a), enc(b)])            # the encoder called twice
        model = Model([a, b], Dense(2, activation="softmax", name="out")(distance))
    assert [layer.name for layer in model.layers].count("enc_dense") == 1
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((2, 5, 3))
    y = np.eye(2)[[0, 1, 1, 0, 1]]
    result = gradcheck.check_model(model, [xa, xb], y, tolerance=TOL)
    assert result.passed, "\n" + result.table()


def test_freezing_the_inner_model_keeps_its_weights_while_the_outer_trains():
    enc = encoder()
    x = Input(shape=(3,))
    model = Model(x, Dense(1, name="out")(enc(x)))
    enc.trainable = False
    model.compile(loss="mse", optimizer=convnet.optimizers.SGD(learning_rate=0.1))
    frozen = [w.copy() for w in enc.get_weights()]
    head = model.get_layer("out").get_weights()[0].copy()
    rng = np.random.default_rng(2)
    model.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), epochs=2, verbose=0)
    for before, after in zip(frozen, enc.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(head, model.get_layer("out").get_weights()[0])
    assert len(model.trainable_weights) == 2


def test_the_outer_model_saves_and_loads_with_the_same_predictions(tmp_path):
    enc = encoder()
    x = Input(shape=(3,))
    model = Model(x, Dense(2, name="out")(enc(x)))
    data = np.random.default_rng(3).standard_normal((4, 3)).astype("float32")
    for name in ("nested.keras", "nested.h5"):
        model.save(tmp_path / name)
        loaded = convnet.models.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded.predict(data), model.predict(data), rtol=1e-6)


def test_bad_nesting_gets_clear_errors():
    enc = encoder()
    with pytest.raises(TypeError, match="cannot be a layer of a Sequential model yet"):
        Sequential([enc, Dense(2)])
    with pytest.raises(ValueError, match=r"encoder: expects input shape \(None, 3\)"):
        enc(Input(shape=(5,)))
    with pytest.raises(ValueError, match="expects 1 input tensors, got 2"):
        enc([Input(shape=(3,)), Input(shape=(3,))])


def test_profile_counts_every_call_of_a_shared_encoder():
    enc = encoder()
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    model = Model([a, b], Dense(2, activation="softmax", name="out")(
        Subtract()([enc(a), enc(b)])))
    rows = {p.name: p for p in convnet.profile(model, batch_size=3, repeats=1,
                                               verbose=False).layers}
    # enc_dense: 3*4 = 12 multiply-adds per call, two calls, both on model inputs (no dL/dx)
    assert (rows["enc_dense"].forward_flops, rows["enc_dense"].backward_flops) == (48, 48)
    assert (rows["out"].forward_flops, rows["out"].backward_flops) == (16, 32)
