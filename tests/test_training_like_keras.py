"""Train like Keras (issue 15): the names Keras logs, callbacks that warn instead of ending a run,
freezing, the tf.keras spellings (``optimizer.lr``, ``on_batch_end``, one-argument schedules)
and clear errors for empty data. The 2017-19 snippets that used to abort finish every epoch."""

import warnings

import numpy as np
import pytest

from convnet import callbacks, metrics, optimizers
from convnet.layers import Dense
from convnet.models import Sequential


def model_and_data(metric_names=("acc",), n=24, optimizer="sgd"):
    model = Sequential([Dense(5, activation="relu", input_shape=(4,)),
                        Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer,
                  metrics=list(metric_names))
    rng = np.random.default_rng(0)
    return model, rng.uniform(0, 1, (n, 4)), np.eye(3)[rng.integers(0, 3, n)]


def fit_quietly(model, x, y, **kwargs):
    """fit, failing on any warning (the run must not even warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return model.fit(x, y, verbose=0, **kwargs)


# ----- 1. the metric's name is the one given --------------------------------------------------
def test_acc_logs_acc_and_val_acc():
    model, x, y = model_and_data(["acc"])
    assert model.metrics_names == ["loss", "acc"]
    h = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y)).history
    assert sorted(h) == ["acc", "loss", "val_acc", "val_loss"]
    assert h["accuracy"] is h["acc"] and h["val_accuracy"] is h["val_acc"]  # either spelling


def test_accuracy_logs_accuracy():
    model, x, y = model_and_data(["accuracy"])
    h = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y)).history
    assert sorted(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_a_bare_metric_string_is_one_metric():
    model, x, y = model_and_data()
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics="accuracy")
    assert model.metrics_names == ["loss", "accuracy"]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0.0 <= acc <= 1.0
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=metrics.accuracy)
    assert model.metrics_names == ["loss", "accuracy"]


# ----- 2. callbacks warn, the run goes on -----------------------------------------------------
def test_2018_snippets_with_acc_run_without_a_warning(tmp_path):
    model, x, y = model_and_data(["acc"])
    h = fit_quietly(model, x, y, epochs=4, validation_data=(x, y), callbacks=[
        callbacks.EarlyStopping(monitor="val_acc", patience=2),
        callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}-{val_acc:.2f}.h5"),
                                  monitor="val_acc", save_best_only=True),
        callbacks.ReduceLROnPlateau(monitor="val_acc")])
    saved = sorted(p.name for p in tmp_path.glob("w-*.h5"))
    assert saved and saved[0] == f"w-01-{h.history['val_acc'][0]:.2f}.h5"


def test_val_acc_finds_val_accuracy(tmp_path):
    # Keras 2.2 logged 'val_acc' for metrics=['accuracy']; the old callbacks still find it
    model, x, y = model_and_data(["accuracy"])
    fit_quietly(model, x, y, epochs=2, validation_data=(x, y), callbacks=[
        callbacks.EarlyStopping(monitor="val_acc", patience=2),
        callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}-{val_acc:.2f}.h5"))])
    assert len(list(tmp_path.glob("w-*.h5"))) == 2


def test_early_stopping_on_val_loss_without_validation_data_warns_and_trains_on():
    model, x, y = model_and_data(["acc"])
    stop = callbacks.EarlyStopping("val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"EarlyStopping: monitor 'val_loss' is not in the logs "
                                         r"\(val_\* keys need validation data\); available "
                                         r"keys: \['acc', 'loss'\]"):
        h = model.fit(x, y, epochs=3, verbose=0, callbacks=[stop])
    assert h.epoch == [0, 1, 2] and not model.stop_training


def test_checkpoint_with_a_missing_filepath_key_warns_and_skips_the_save(tmp_path):
    model, x, y = model_and_data(["acc"])
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}-{val_acc:.2f}.h5"),
                                           monitor="val_acc", save_best_only=True)
    with pytest.warns(UserWarning, match=r"names 'val_acc', which is not in the logs; "
                                         r"available keys: \['acc', 'loss'\]. No checkpoint is "
                                         r"saved while it is missing"):
        h = model.fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint])
    assert h.epoch == [0, 1, 2] and not list(tmp_path.iterdir())   # Keras raises a KeyError


def test_checkpoint_best_only_without_its_monitor_saves_every_epoch(tmp_path):
    model, x, y = model_and_data(["acc"])
    with pytest.warns(UserWarning, match="ModelCheckpoint: monitor 'val_loss' is not in the "
                                         "logs.*Saving every epoch"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[
            callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.h5"), save_best_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.h5", "e2.h5"]   # as Keras


def test_reduce_lr_without_its_monitor_warns_and_keeps_the_rate():
    model, x, y = model_and_data(["acc"])
    with pytest.warns(UserWarning, match="ReduceLROnPlateau: monitor 'val_acc' is not in the "
                                         "logs"):
        h = model.fit(x, y, epochs=3, verbose=0, callbacks=[
            callbacks.ReduceLROnPlateau(monitor="val_acc", patience=0)])
    assert h.epoch == [0, 1, 2] and h.history["lr"] == [0.01] * 3


def test_a_positional_filepath_field_is_refused_before_training():
    with pytest.raises(ValueError, match="positional field"):
        callbacks.ModelCheckpoint("w-{}.h5")


def test_an_exception_in_a_user_callback_propagates_as_in_keras():
    class Broken(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("my bug")

    model, x, y = model_and_data()
    with pytest.raises(RuntimeError, match="my bug"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[Broken()])


# ----- 3. freezing ----------------------------------------------------------------------------
def summary_lines(model):
    lines = []
    model.summary(print_fn=lines.append)
    return [line for line in lines if "params" in line]


def test_model_trainable_false_freezes_every_layer():
    model, x, y = model_and_data()
    before = [w.copy() for w in model.get_weights()]
    model.trainable = False
    assert not model.trainable and not any(layer.trainable for layer in model.layers)
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert summary_lines(model) == ["Total params: 43", "Trainable params: 0",
                                    "Non-trainable params: 43"]
    model.trainable = True
    model.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    assert summary_lines(model)[1] == "Trainable params: 43"


def test_a_frozen_layer_keeps_its_weights_in_fit():
    model, x, y = model_and_data()
    first, last = model.layers
    first.trainable = False
    kept, moved = first.get_weights(), last.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(first.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(last.get_weights()[0], moved[0])
    assert summary_lines(model)[1:] == ["Trainable params: 18", "Non-trainable params: 25"]


# ----- 4. optimizer.lr ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(optimizers._OPTIMIZERS))
def test_lr_is_learning_rate(name):
    opt = optimizers.get(name)
    assert opt.lr == opt.learning_rate
    opt.lr = 0.125
    assert opt.learning_rate == 0.125
    opt.learning_rate = 0.5
    assert opt.lr == 0.5


# ----- 5. Keras 2 hooks and the test/predict hooks --------------------------------------------
def test_on_batch_hooks_and_test_hooks_are_called():
    calls = []

    class Old(callbacks.Callback):          # a 2018 callback: on_batch_end, not on_train_batch_end
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            calls.append(("test_begin",))

        def on_test_end(self, logs=None):
            calls.append(("test_end", sorted(logs)))

    model, x, y = model_and_data(n=20)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, validation_data=(x, y), callbacks=[Old()])
    assert calls == [("begin", 0), ("end", 0, ["acc", "loss"]), ("begin", 1),
                     ("end", 1, ["acc", "loss"]), ("begin", 2), ("end", 2, ["acc", "loss"]),
                     ("test_begin",), ("test_end", ["acc", "loss"])]
    calls.clear()
    model.evaluate(x, y, verbose=0, callbacks=[Old()])
    assert calls == [("test_begin",), ("test_end", ["acc", "loss"])]
    cb = callbacks.Callback()
    for hook in ("on_predict_begin", "on_predict_end", "on_test_begin", "on_test_end"):
        getattr(cb, hook)()
    for hook in ("on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                 "on_predict_batch_end"):
        getattr(cb, hook)(0)


# ----- 6. one-argument schedules --------------------------------------------------------------
def test_learning_rate_scheduler_takes_schedule_of_epoch_alone():
    model, x, y = model_and_data()
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert h.history["lr"] == [0.1, 0.05, 0.1 / 3]

    def halve(epoch, lr):
        return np.float32(lr / 2)                   # NumPy floats are numbers too

    h = model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.LearningRateScheduler(halve)])
    assert h.history["lr"] == pytest.approx([0.1 / 6, 0.1 / 12])


# ----- 7. empty data --------------------------------------------------------------------------
def test_fit_on_no_samples_says_so():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match=r"fit: x has 0 samples \(shape \(0, 4\)\)"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="validation_data has 0 samples"):
        model.fit(x, y, verbose=0, validation_data=(x[:0], y[:0]))
    with pytest.raises(ValueError, match="train_on_batch: x has 0 samples"):
        model.train_on_batch(x[:0], y[:0])
    with pytest.raises(ValueError, match="evaluate: x has 0 samples"):
        model.evaluate(x[:0], y[:0], verbose=0)


def test_validation_split_that_leaves_nothing_says_so():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match=r"validation_split=0.2 of 1 samples leaves 0 for "
                                         r"training and 1 for validation"):
        model.fit(x[:1], y[:1], verbose=0, validation_split=0.2)
    with pytest.raises(ValueError, match="leaves 4 for training and 0 for validation"):
        model.fit(x[:4], y[:4], verbose=0, validation_split=1e-20)
