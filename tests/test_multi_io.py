"""fit / evaluate / train_on_batch for models with several inputs and several outputs, as in
Keras 3: x and y as lists or dicts by name, one loss or one per output, loss_weights, metrics per
output, and the history keys Keras 3 writes (checked against a real Keras 3.15 run:
``loss``, ``out1_loss``, ``out1_accuracy``, ``val_...``)."""

import numpy as np
import pytest

import convnet
from convnet import gradcheck
from convnet.layers import Add, Concatenate, Conv2D, Dense, Flatten, Input
from convnet.models import Model
from convnet.optimizers import SGD

TOL = 1e-5  # float64 central differences, as in test_gradients.py


def linear_model():
    """o1 = a W1 and o2 = [a, b] W2, no biases: losses small enough to do by hand."""
    a, b = Input(shape=(1,), name="a"), Input(shape=(1,), name="b")
    o1 = Dense(1, use_bias=False, name="o1")(a)
    o2 = Dense(1, use_bias=False, name="o2")(Concatenate()([a, b]))
    model = Model([a, b], [o1, o2])
    model.get_layer("o1").set_weights([np.array([[2.0]], "float32")])
    model.get_layer("o2").set_weights([np.array([[1.0], [1.0]], "float32")])
    return model


XA, XB = np.array([[1.0], [2.0]], "float32"), np.array([[3.0], [4.0]], "float32")
Y1, Y2 = np.array([[1.0], [1.0]], "float32"), np.array([[4.0], [4.0]], "float32")


def test_the_total_loss_is_the_weighted_sum_and_its_gradient_reaches_each_output():
    model = linear_model()
    model.compile(loss="mse", optimizer=SGD(learning_rate=0.1), loss_weights=[1.0, 0.5])
    # o1 = [2, 4], y1 = [1, 1]: L1 = (1 + 9) / 2 = 5
    # o2 = [4, 6], y2 = [4, 4]: L2 = (0 + 4) / 2 = 2
    logs = model.train_on_batch([XA, XB], [Y1, Y2], return_dict=True)
    assert logs == pytest.approx({"loss": 5 + 0.5 * 2, "o1_loss": 5.0, "o2_loss": 2.0})
    # dL/dW1 = mean(2 (o1 - y1) a) = (2 + 12) / 2 = 7
    # dL/dW2 = 0.5 mean(2 (o2 - y2) [a, b]) = 0.5 * (0 + 4 [2, 4]) / 2 = [2, 4]
    np.testing.assert_allclose(model.get_layer("o1").get_weights()[0], [[2 - 0.7]], rtol=1e-6)
    np.testing.assert_allclose(model.get_layer("o2").get_weights()[0], [[1 - 0.2], [1 - 0.4]],
                               rtol=1e-6)


def test_loss_and_loss_weights_as_dicts_and_x_y_as_dicts_by_name():
    model = linear_model()
    model.compile(loss={"o1": "mse", "o2": "mae"}, optimizer="sgd",
                  loss_weights={"o2": 3.0})                          # o1 keeps weight 1
    logs = model.evaluate({"b": XB, "a": XA}, {"o2": Y2, "o1": Y1}, verbose=0,
                          return_dict=True)
    # L2 = mae = (0 + 2) / 2 = 1
    assert logs == pytest.approx({"loss": 5 + 3 * 1, "o1_loss": 5.0, "o2_loss": 1.0})
    assert model.evaluate([XA, XB], [Y1, Y2], verbose=0) == pytest.approx([8.0, 5.0, 1.0])


def test_sample_weights_weigh_every_output():
    model = linear_model()
    model.compile(loss="mse", optimizer="sgd")
    w = np.array([0.0, 2.0])
    # L1 = (0 * 1 + 2 * 9) / 2 = 9, L2 = (0 + 2 * 4) / 2 = 4
    logs = model.test_on_batch([XA, XB], [Y1, Y2], sample_weight=w, return_dict=True)
    assert logs == pytest.approx({"loss": 13.0, "o1_loss": 9.0, "o2_loss": 4.0})


def two_in_two_out(rng_seed=0):
    """Two inputs, a shared trunk, a softmax head and a regression head."""
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = Dense(4, activation="tanh", name="trunk")(Concatenate()([a, b]))
    out1 = Dense(2, activation="softmax", name="out1")(h)
    out2 = Dense(1, name="out2")(Dense(3, activation="tanh")(h))
    return Model([a, b], [out1, out2])


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, 3)).astype("float32")
    xb = rng.standard_normal((n, 2)).astype("float32")
    y1 = np.eye(2, dtype="float32")[rng.integers(0, 2, n)]
    y2 = rng.standard_normal((n, 1)).astype("float32")
    return xa, xb, y1, y2


def test_a_two_input_two_output_model_passes_the_gradient_check():
    with gradcheck.float64():
        model = two_in_two_out()
    model.compile(loss=["categorical_crossentropy", "mse"], loss_weights=[0.7, 2.0],
                  optimizer="sgd")
    xa, xb, y1, y2 = _data(n=5)
    result = gradcheck.check_model(model, [xa, xb], [y1, y2], tolerance=TOL)
    assert result.passed, "\n" + result.table()
    assert [c.param for c in result.checks[:2]] == ["input 0", "input 1"]


def test_history_keys_are_named_as_keras_3_names_them():
    model = two_in_two_out()
    model.compile(loss=["categorical_crossentropy", "mse"], optimizer="adam",
                  metrics=[["accuracy"], ["mae"]])
    xa, xb, y1, y2 = _data()
    history = model.fit([xa, xb], [y1, y2], epochs=2, batch_size=4, verbose=0,
                        validation_data=([xa, xb], [y1, y2]))
    # what Keras 3.15 (torch backend) writes for the same model and compile arguments
    assert sorted(history.history) == [
        "loss", "out1_accuracy", "out1_loss", "out2_loss", "out2_mae",
        "val_loss", "val_out1_accuracy", "val_out1_loss", "val_out2_loss", "val_out2_mae"]
    assert all(len(v) == 2 for v in history.history.values())
    model.compile(loss="mse", optimizer="adam", metrics={"out2": ["mae", "mse"]})
    history = model.fit({"a": xa, "b": xb}, {"out1": y1, "out2": y2}, epochs=1, verbose=0,
                        validation_split=0.25)
    assert sorted(history.history) == [
        "loss", "out1_loss", "out2_loss", "out2_mae", "out2_mse",
        "val_loss", "val_out1_loss", "val_out2_loss", "val_out2_mae", "val_out2_mse"]
    # the validation loss is over the last quarter only, as an evaluate of those samples
    val = model.evaluate([xa[9:], xb[9:]], [y1[9:], y2[9:]], verbose=0, return_dict=True)
    assert val["out2_mse"] == pytest.approx(val["out2_loss"])


def test_training_lowers_both_losses_and_predict_gives_both_outputs():
    model = two_in_two_out()
    model.compile(loss=["categorical_crossentropy", "mse"], optimizer=SGD(learning_rate=0.2))
    xa, xb, y1, y2 = _data(n=16)
    before = model.evaluate([xa, xb], [y1, y2], verbose=0)
    model.fit([xa, xb], [y1, y2], epochs=30, batch_size=8, verbose=0)
    after = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert after[1] < before[1] and after[2] < before[2]
    p1, p2 = model.predict({"a": xa, "b": xb})
    assert p1.shape == (16, 2) and p2.shape == (16, 1)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-5)


def test_a_generator_of_list_batches_trains():
    model = two_in_two_out()
    model.compile(loss=["categorical_crossentropy", "mse"], optimizer="sgd")
    xa, xb, y1, y2 = _data(n=8)

    def batches():
        while True:
            yield [xa[:4], xb[:4]], [y1[:4], y2[:4]]

    history = model.fit(batches(), steps_per_epoch=2, epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "out1_loss", "out2_loss"]


def test_several_inputs_one_output_trains_with_one_target_array():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    out = Dense(2, activation="softmax")(Concatenate()([a, b]))
    model = Model([a, b], out)
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    xa, xb, y1, _ = _data()
    history = model.fit([xa, xb], y1, epochs=1, verbose=0, validation_split=0.25)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_bad_inputs_get_clear_errors():
    model = two_in_two_out()
    model.compile(loss=["categorical_crossentropy", "mse"], optimizer="sgd")
    xa, xb, y1, y2 = _data()
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\], got a list of 1"):
        model.fit([xa], [y1, y2], verbose=0)
    with pytest.raises(ValueError, match="several inputs"):
        model.fit(xa, [y1, y2], verbose=0)
    with pytest.raises(ValueError, match=r"different numbers of samples \[12, 5\]"):
        model.fit([xa, xb[:5]], [y1, y2], verbose=0)
    with pytest.raises(ValueError, match=r"x and y hold different numbers of samples"):
        model.fit([xa, xb], [y1[:5], y2[:5]], verbose=0)
    with pytest.raises(ValueError, match=r"unknown \['zzz'\]; missing \['out1'\]"):
        model.fit([xa, xb], {"zzz": y1, "out2": y2}, verbose=0)
    with pytest.raises(ValueError, match=r"input 'b' expects shape \(batch, 2\), got \(12, 3\)"):
        model.fit([xa, xa], [y1, y2], verbose=0)
    with pytest.raises(ValueError, match="targets for output 'out2' have shape"):
        model.fit([xa, xb], [y1, y1], verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit([xa, xb], [y1, y2], class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"loss names \['zzz'\], which are not outputs"):
        model.compile(loss={"zzz": "mse"}, optimizer="sgd")
    with pytest.raises(ValueError, match="no loss for output"):
        model.compile(loss={"out1": "mse"}, optimizer="sgd")
    with pytest.raises(ValueError, match="loss has 3 entries"):
        model.compile(loss=["mse"] * 3, optimizer="sgd")
    with pytest.raises(ValueError, match="one entry .* per output"):
        model.compile(loss="mse", optimizer="sgd", metrics=["mae"])
    single = convnet.Sequential([Input(shape=(3,)), Dense(1)])
    with pytest.raises(ValueError, match="loss_weights weigh the losses of several outputs"):
        single.compile(loss="mse", optimizer="sgd", loss_weights=[2.0])


def test_profile_covers_a_graph_with_two_inputs_and_two_outputs():
    a, b = Input(shape=(6, 6, 2), name="a"), Input(shape=(3,), name="b")
    c = Add()([Conv2D(4, 3, padding="same", name="c3")(a), Conv2D(4, 1, name="c1")(a)])
    h = Concatenate()([Flatten()(c), b])
    model = Model([a, b], [Dense(2, activation="softmax", name="out1")(h),
                           Dense(1, name="out2")(h)])
    model.compile(loss=["categorical_crossentropy", "mse"], optimizer="adam")
    weights = model.get_weights()
    profile = convnet.profile(model, batch_size=4, repeats=1, verbose=False)
    rows = {p.name: p for p in profile.layers}
    # multiply-adds per sample: c3 6*6*3*3*2*4 = 2592, c1 6*6*2*4 = 288, out1 147*2, out2 147;
    # 2 FLOPs each forward; backward twice that, except c3 and c1 (on the input: no dL/dx)
    assert (rows["c3"].forward_flops, rows["c3"].backward_flops) == (5184, 5184)
    assert (rows["c1"].forward_flops, rows["c1"].backward_flops) == (576, 576)
    assert (rows["out1"].forward_flops, rows["out1"].backward_flops) == (588, 1176)
    assert (rows["out2"].forward_flops, rows["out2"].backward_flops) == (294, 588)
    assert profile.training_flops == 14166
    assert all(p.forward_ms >= 0 and p.backward_ms >= 0 for p in profile.layers)
    for before, after in zip(weights, model.get_weights()):     # profiling does not train
        np.testing.assert_array_equal(before, after)


def test_the_compile_config_keeps_the_losses_weights_and_metrics_per_output(tmp_path):
    model = linear_model()
    model.compile(loss={"o1": "mse", "o2": "mae"}, optimizer="adam",
                  metrics={"o2": ["mae"]}, loss_weights=[1, 2])
    config = model.get_compile_config()
    # Keras 3's form (real Keras 3.15 loads such a file compiled and evaluates it identically)
    assert config["loss"] == {"o1": "mse", "o2": "mae"}
    assert config["metrics"] == {"o2": ["mae"]} and config["loss_weights"] == [1.0, 2.0]
    model.save(tmp_path / "two.keras")
    loaded = convnet.models.load_model(tmp_path / "two.keras", compile=False)
    assert loaded.output_names == ["o1", "o2"]
    np.testing.assert_allclose(loaded.predict([XA, XB])[1], model.predict([XA, XB])[1])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_two_output_model_loads_compiled_and_evaluates_the_same(tmp_path, suffix):
    model = linear_model()
    model.compile(loss={"o1": "mse", "o2": "mae"}, optimizer="adam",
                  metrics={"o2": ["mae"]}, loss_weights=[1, 2])
    model.fit([XA, XB], [Y1, Y2], epochs=2, batch_size=1, verbose=0)
    model.save(tmp_path / f"two{suffix}")
    loaded = convnet.models.load_model(tmp_path / f"two{suffix}")
    want = model.evaluate([XA, XB], [Y1, Y2], verbose=0, return_dict=True)
    got = loaded.evaluate([XA, XB], [Y1, Y2], verbose=0, return_dict=True)
    assert got.keys() == want.keys() and "o2_mae" in got
    for key in want:                             # loss 1 * mse + 2 * mae, as compiled
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert loaded.optimizer.iterations == model.optimizer.iterations
