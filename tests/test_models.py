"""Sequential: building, compile/fit/evaluate/predict, History, progress output, errors."""

import io

import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import callbacks, utils
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential


def tiny_cnn(input_shape=(8, 8, 1), classes=3):
    model = Sequential()
    model.add(Conv2D(4, (3, 3), activation="relu", input_shape=input_shape))
    model.add(MaxPooling2D((2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(8, activation="relu"))
    model.add(Dense(classes, activation="softmax"))
    return model


def toy_data(n=60, classes=3, seed=0):
    """Three easy classes: a bright row, a bright column, or a bright diagonal."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.uniform(0, 0.2, (n, 8, 8, 1)).astype("float32")
    for i, k in enumerate(labels):
        if k == 0:
            x[i, 3, :, 0] = 1
        elif k == 1:
            x[i, :, 3, 0] = 1
        else:
            x[i, np.arange(8), np.arange(8), 0] = 1
    return x, labels


def compiled(loss="categorical_crossentropy", **kw):
    model = tiny_cnn(**kw)
    model.compile(loss=loss, optimizer=keras.optimizers.Adadelta(), metrics=["accuracy"])
    return model


def test_fit_learns_and_history_has_keras_keys():
    x, labels = toy_data()
    y = utils.to_categorical(labels, 3)
    model = compiled()
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, validation_data=(x, y))
    h = history.history
    assert sorted(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 8 for v in h.values())
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] == 1.0
    # the tutorial's old names read the same lists
    assert h["acc"] is h["accuracy"] and h["val_acc"] is h["val_accuracy"]
    assert "acc" in h and "val_acc" in h
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc == 1.0            # fit's validation split the data into other batches:
    error_bounds.check_paths(loss, h["val_loss"][-1], error_bounds.evaluate_loss_bound(model, x, y),
                             "evaluate against fit's val_loss")


def test_missing_history_key_lists_the_keys():
    x, labels = toy_data(20)
    history = compiled().fit(x, utils.to_categorical(labels, 3), epochs=1, verbose=0)
    with pytest.raises(KeyError, match=r"'val_acc' is not in the training history; available "
                                       r"keys: \['accuracy', 'loss'\]"):
        history.history["val_acc"]


def test_sparse_labels_train_too():
    x, labels = toy_data()
    model = compiled(loss="sparse_categorical_crossentropy")
    h = model.fit(x, labels, batch_size=16, epochs=8, verbose=0).history
    assert h["loss"][-1] < h["loss"][0]
    assert model.evaluate(x, labels, verbose=0)[1] > 0.9


def test_validation_split_uses_the_last_fraction():
    x, labels = toy_data(50)
    h = compiled().fit(x, utils.to_categorical(labels, 3), epochs=1, verbose=0,
                       validation_split=0.2).history
    assert "val_loss" in h and h.get("val_acc") is not None


def test_same_seed_same_weights():
    x, labels = toy_data(40)
    y = utils.to_categorical(labels, 3)
    runs = []
    for _ in range(2):
        keras.backend.clear_session()
        utils.set_random_seed(42)
        model = compiled()
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_predict_is_independent_of_batch_size():
    x, _ = toy_data(37)
    model = compiled()
    full = model.predict(x, batch_size=100)
    assert full.shape == (37, 3) and full.dtype == np.float32
    exact, bound = error_bounds.model_bound(model, x)
    error_bounds.check_paths(model.predict(x, batch_size=5), full, bound, "batches of 5")
    error_bounds.check(full.sum(axis=1), 1, bound.sum(axis=1) + error_bounds.gamma(3, "float32"),
                       "sum of probabilities")
    assert model.predict(x[:0]).shape == (0, 3)


def test_large_batches_run_in_blocks_with_the_same_results():
    x, labels = toy_data(75)
    y = utils.to_categorical(labels, 3)
    model = compiled()
    model.INFERENCE_BLOCK = 32                         # so predict below really splits
    whole = model._forward(x)                          # one pass over all 75 samples
    exact, bound = error_bounds.model_bound(model, x)
    error_bounds.check_paths(model.predict(x, batch_size=1000), whole, bound, "blocks")
    loss, loss_bound = error_bounds.crossentropy_bound(y, exact, bound, "float32")
    assert error_bounds.accuracy_is_decided(exact, bound)
    acc = np.mean(exact.argmax(1) == labels)
    got_loss, got_acc = model.evaluate(x, y, batch_size=1000, verbose=0)
    error_bounds.check(got_loss, loss, loss_bound, "loss")
    assert got_acc == acc


def test_train_on_batch_returns_loss_and_accuracy():
    x, labels = toy_data(16)
    result = compiled().train_on_batch(x, utils.to_categorical(labels, 3))
    assert len(result) == 2 and result[0] > 0 and 0 <= result[1] <= 1


def test_progress_bar_when_not_a_terminal_prints_one_line_per_epoch(capsys):
    x, labels = toy_data(40)
    compiled().fit(x, utils.to_categorical(labels, 3), batch_size=16, epochs=2, verbose=1,
                   validation_data=(x, utils.to_categorical(labels, 3)))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("3/3 [==============================] - ")
    for part in ("ms/step", "- loss: ", "- accuracy: ", "- val_loss: ", "- val_accuracy: "):
        assert part in lines[1]
    assert len(lines) == 4 and "\r" not in "".join(lines)


def test_progress_bar_redraws_live_on_a_terminal():
    from convnet.progress import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(4, stream=stream, interval=0.0)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0 / step})
    bar.finish({"loss": 0.25})
    text = stream.getvalue()
    assert text.count("\r") == 5 and "ETA: " in text
    assert "1/4 [======>.......................]" in text
    assert text.endswith("\n") and "4/4 [==============================]" in text


def test_verbose_2_prints_a_summary_line(capsys):
    x, labels = toy_data(20)
    compiled().fit(x, utils.to_categorical(labels, 3), epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "- loss: " in out and "[" not in out


def test_summary_table(capsys):
    model = tiny_cnn()
    model.summary()
    out = capsys.readouterr().out
    assert "conv2d (Conv2D)" in out and "(None, 6, 6, 4)" in out
    assert f"Total params: {model.count_params():,}" in out
    assert model.count_params() == (9 * 4 + 4) + (36 * 8 + 8) + (8 * 3 + 3)


def test_tutorial_model_shapes_and_parameter_count():
    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax"))
    assert [layer.output_shape for layer in model.layers] == [
        (26, 26, 32), (24, 24, 64), (12, 12, 64), (12, 12, 64), (9216,), (128,), (128,), (10,)]
    assert model.count_params() == 1199882  # as Keras reports for the tutorial model


def test_model_without_input_shape_builds_on_first_batch():
    model = Sequential([Flatten(), Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["acc"])
    assert not model.built
    model.fit(np.ones((4, 3, 3)), np.eye(2)[[0, 1, 0, 1]], epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 3, 3)


def test_callbacks_are_called():
    calls = []

    class Recorder(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            calls.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    x, labels = toy_data(20)
    h = compiled().fit(x, utils.to_categorical(labels, 3), epochs=5, verbose=0,
                       callbacks=[Recorder()])
    assert calls == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
    assert h.epoch == [0, 1]


# ----- errors: each names what is wrong, what was expected and what was received --------------

def test_wrong_input_shape_names_the_layer_and_shapes():
    model = compiled()
    x, labels = toy_data(10)
    with pytest.raises(ValueError, match=r"fit: Conv2D 'conv2d' \(the first layer\) expects "
                                         r"input of shape \(batch, 8, 8, 1\), got \(10, 8\)"):
        model.fit(x[:, 0, :, 0], utils.to_categorical(labels, 3), verbose=0)
    with pytest.raises(ValueError, match=r"predict: .*\(batch, 8, 8, 1\), got \(10, 8, 8, 3\)"):
        model.predict(np.repeat(x, 3, axis=3))


def test_label_errors():
    model = compiled()
    x, labels = toy_data(10)
    with pytest.raises(ValueError, match=r"targets y have shape \(10,\) but the model's output "
                                         r"\(Dense 'dense_1'\) has shape \(batch, 3\); one-hot "
                                         r"encode the labels with to_categorical\(y, 3\)"):
        model.fit(x, labels, verbose=0)
    with pytest.raises(ValueError, match=r"targets y have shape \(10, 10\)"):
        model.fit(x, utils.to_categorical(labels, 10), verbose=0)
    with pytest.raises(ValueError, match=r"x and y hold different numbers of samples "
                                         r"\(10 vs 9\)"):
        model.fit(x, utils.to_categorical(labels, 3)[:9], verbose=0)
    sparse = compiled(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 3\)"):
        sparse.fit(x, labels + 1, verbose=0)


def test_fit_before_compile():
    x, labels = toy_data(10)
    with pytest.raises(RuntimeError, match="fit: the model is not compiled; call model.compile"):
        tiny_cnn().fit(x, utils.to_categorical(labels, 3))


def test_bad_compile_and_fit_arguments():
    model = tiny_cnn()
    with pytest.raises(ValueError, match="Unknown loss 'hinge'"):
        model.compile(loss="hinge", optimizer="adadelta")
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'"):
        model.compile(loss="categorical_crossentropy", optimizer="ftrl")
    model = compiled()
    x, labels = toy_data(10)
    y = utils.to_categorical(labels, 3)
    with pytest.raises(ValueError, match="fit: batch_size must be a positive integer, got 0"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(TypeError, match="x must be a numeric array, got dtype <U"):
        model.predict(np.full((2, 8, 8, 1), "a"))
    with pytest.raises(ValueError, match=r"validation_data must be a tuple"):
        model.fit(x, y, validation_data=x, verbose=0)


def test_add_checks_layers():
    model = Sequential()
    with pytest.raises(TypeError, match="expects a convnet layer"):
        model.add("dense")
    model.add(Dense(3, input_shape=(4,), name="d"))
    with pytest.raises(ValueError, match="a layer named 'd' is already in the model"):
        model.add(Dense(3, name="d"))


def test_set_weights_checks_before_changing_anything():
    model = compiled()
    before = model.get_weights()
    bad = [w.copy() for w in before]
    bad[-1] = np.zeros(7)
    with pytest.raises(ValueError, match=r"layer 'dense_1' weight 'bias' expects shape \(3,\), "
                                         r"got \(7,\)"):
        model.set_weights([w + 1 for w in bad])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_tutorial_branch_for_channels_first_trains():
    keras.backend.set_image_data_format("channels_first")
    x, labels = toy_data(30)
    x = x.transpose(0, 3, 1, 2)                       # (n, 1, 8, 8), as the tutorial reshapes
    model = tiny_cnn(input_shape=(1, 8, 8))
    assert model.layers[0].output_shape == (4, 6, 6)
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    h = model.fit(x, utils.to_categorical(labels, 3), batch_size=10, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.predict(x).shape == (30, 3)


def test_a_sequential_of_layers_built_elsewhere_predicts():
    # calling the model on arrays, or layers built before, leave its own input shape unknown:
    # predict must still work (it once failed on an assertion)
    from convnet import Sequential as KSequential
    from convnet.layers import Dense as KDense
    from convnet.layers import Flatten as KFlatten
    x = np.zeros((2, 4, 4, 1), dtype="float32")
    called = KSequential([KFlatten()])
    called(x)
    assert called.predict(x, verbose=0).shape == (2, 16)
    dense = KDense(3)
    dense.build((5,))
    assert KSequential([dense]).predict(np.ones((2, 5), "float32"), verbose=0).shape == (2, 3)
